//! The committer: the one task that writes. Writers hand it jobs through a bounded queue;
//! it applies whatever is waiting as one batch (see `writes`), flushes once and answers.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::writes::apply_batch;
use super::{Result, Store, StoreError, keys, record};
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::Action;

/// Writers waiting for the committer at most; more wait for room (backpressure).
const COMMIT_QUEUE: usize = 4096;

impl Store {
    /// Starts the committer task on the current tokio runtime. Writes go through the returned
    /// [`Committer`]; [`CommitterTask::stop`] (or dropping the [`CommitterTask`]) ends the
    /// task after answering every writer already queued.
    pub fn start_committer(&self, batch_limit: usize) -> (Committer, CommitterTask) {
        let (jobs, queue) = mpsc::channel(COMMIT_QUEUE);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run_committer(
            self.clone(),
            queue,
            batch_limit.max(1),
            stopped,
        ));
        (Committer { jobs }, CommitterTask { task, stop })
    }
}

/// A new comment ready to store, with its keys computed by the writer so the committer's
/// critical section is only the transaction and the flush.
#[derive(Debug)]
pub(super) struct InsertJob {
    pub(super) id: CommentId,
    pub(super) status: Status,
    pub(super) record: Vec<u8>,
    pub(super) post_key: Vec<u8>,
    pub(super) duplicate_key: [u8; 32],
    pub(super) email_hash: [u8; 32],
    pub(super) reply: oneshot::Sender<Result<()>>,
}

/// A moderator's decision to apply.
#[derive(Debug)]
pub(super) struct ModerateJob {
    pub(super) id: CommentId,
    pub(super) action: Action,
    pub(super) moderator: String,
    pub(super) note: String,
    pub(super) at_ms: u64,
    pub(super) reply: oneshot::Sender<Result<(StoredComment, Status)>>,
}

/// Which comments a removal deletes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Removal {
    /// Every comment of the author with this email hash, and the author's stats.
    Author([u8; 32]),
    /// SPAM and TRASH comments last changed before this time (ms since the epoch).
    ExpiredBefore(u64),
}

/// Work for the committer.
#[derive(Debug)]
pub(super) enum Job {
    Insert(InsertJob),
    Moderate(ModerateJob),
    Remove(Removal, oneshot::Sender<Result<u64>>),
    PutMeta(Vec<(Vec<u8>, Vec<u8>)>, oneshot::Sender<Result<()>>),
}

/// Sends writes to the committer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Stores a new comment with its indexes and returns once it is on disk.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the same comment is already stored (nothing is
    /// written); [`StoreError::Closed`] during shutdown; storage failures.
    pub async fn insert(&self, comment: &StoredComment) -> Result<()> {
        let s = &comment.submission;
        let (reply, answer) = oneshot::channel();
        let job = InsertJob {
            id: comment.id,
            status: comment.verdict.status,
            record: record::encode(comment),
            post_key: keys::post_key(&s.post_id, comment.verdict.status, comment.id),
            duplicate_key: keys::duplicate_key(&s.post_id, &comment.email_hash, &s.content),
            email_hash: comment.email_hash,
            reply,
        };
        self.send(Job::Insert(job), answer).await
    }

    /// Applies a moderator's action: the record, both indexes, the author's stats, the label
    /// and the audit entry change in one transaction, on disk before this returns. Returns the
    /// comment as it is now and the status it had.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::IllegalTransition`] (nothing is written),
    /// [`StoreError::Closed`] during shutdown; storage failures.
    pub async fn moderate(
        &self,
        id: CommentId,
        action: Action,
        moderator: &str,
        note: &str,
    ) -> Result<(StoredComment, Status)> {
        let (reply, answer) = oneshot::channel();
        let job = ModerateJob {
            id,
            action,
            moderator: moderator.to_owned(),
            note: note.to_owned(),
            at_ms: crate::comment::now_ms(),
            reply,
        };
        self.send(Job::Moderate(job), answer).await
    }

    /// Deletes every comment, label and statistic of the author with this email hash, and
    /// returns how many comments went.
    ///
    /// # Errors
    /// [`StoreError::Closed`] during shutdown; storage failures.
    pub async fn erase_author(&self, email_hash: [u8; 32]) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Remove(Removal::Author(email_hash), reply), answer)
            .await
    }

    /// Deletes SPAM and TRASH comments whose last change (decision, or submission when none)
    /// is older than `cutoff_ms`, and returns how many went.
    ///
    /// # Errors
    /// [`StoreError::Closed`] during shutdown; storage failures.
    pub async fn purge_expired(&self, cutoff_ms: u64) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.send(
            Job::Remove(Removal::ExpiredBefore(cutoff_ms), reply),
            answer,
        )
        .await
    }

    /// Writes these `meta` entries atomically; on disk when this returns.
    ///
    /// # Errors
    /// [`StoreError::Closed`] during shutdown; storage failures.
    pub async fn put_meta(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::PutMeta(entries, reply), answer).await
    }

    async fn send<T>(&self, job: Job, answer: oneshot::Receiver<Result<T>>) -> Result<T> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The running committer, to stop it at shutdown.
#[derive(Debug)]
pub struct CommitterTask {
    task: tokio::task::JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl CommitterTask {
    /// Refuses new writes (they get [`StoreError::Closed`]), commits and answers every write
    /// already queued, and returns when the task has ended.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(cause = %e, "committer task failed");
        }
    }
}

/// Takes batches of up to `batch_limit` jobs until stopped and the queue is drained; each
/// batch is applied on a blocking thread so sled's I/O does not stall the runtime.
async fn run_committer(
    store: Store,
    mut queue: mpsc::Receiver<Job>,
    batch_limit: usize,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(batch_limit);
    let mut stopping = false;
    loop {
        let received = tokio::select! {
            received = queue.recv_many(&mut batch, batch_limit) => received,
            _ = &mut stop, if !stopping => {
                // Close the queue; what is already in it is still received below.
                stopping = true;
                queue.close();
                continue;
            }
        };
        if received == 0 {
            break;
        }
        let jobs = std::mem::take(&mut batch);
        let trees = Arc::clone(&store.inner);
        let outcome = tokio::task::spawn_blocking(move || apply_batch(&trees, jobs)).await;
        match outcome {
            Ok(replies) => {
                for reply in replies {
                    reply.send();
                }
            }
            Err(join_error) => {
                // The jobs were moved into the failed task; their writers see `Closed`.
                tracing::error!(cause = %join_error, "commit batch task failed");
            }
        }
    }
    tracing::debug!("committer stopped");
}

/// A job's answer, held until the batch is flushed.
pub(super) enum Reply {
    Insert(oneshot::Sender<Result<()>>, Result<()>),
    Moderate(
        oneshot::Sender<Result<(StoredComment, Status)>>,
        Box<Result<(StoredComment, Status)>>,
    ),
    Remove(oneshot::Sender<Result<u64>>, Result<u64>),
}

impl Reply {
    pub(super) fn fail(&mut self, error: &sled::Error) {
        let failed = || StoreError::Sled(error.clone());
        match self {
            Self::Insert(_, r) => *r = Err(failed()),
            Self::Moderate(_, r) => **r = Err(failed()),
            Self::Remove(_, r) => *r = Err(failed()),
        }
    }

    fn send(self) {
        // A writer that gave up (its request was cancelled) no longer listens.
        match self {
            Self::Insert(tx, r) => drop(tx.send(r)),
            Self::Moderate(tx, r) => drop(tx.send(*r)),
            Self::Remove(tx, r) => drop(tx.send(r)),
        }
    }
}

//! The committer: the one task that writes. Writers hand it jobs through a bounded queue; it
//! takes whatever is waiting as one batch, plans it (see `writes`), writes it with one
//! `apply_batch`, flushes once and answers.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::Inner;
use super::writes::commit;
use crate::comment::{CommentId, StoredComment};
use crate::store::{Decided, DecisionRequest, Result, StoreError};

/// Writers waiting for the committer at most; more wait for room (backpressure).
const COMMIT_QUEUE: usize = 4096;

/// A new comment ready to store, with its record encoded by the writer so the committer's
/// critical section is only the checks, the batch and the flush.
#[derive(Debug)]
pub(super) struct InsertJob {
    pub(super) comment: StoredComment,
    pub(super) record: Vec<u8>,
    pub(super) digest: [u8; 32],
    pub(super) reply: oneshot::Sender<Result<()>>,
}

/// Which comments a removal may delete; the committer checks each again before deleting.
#[derive(Debug, Clone, Copy)]
pub(super) enum Removal {
    /// Comments of the author with this email hash.
    Author([u8; 32]),
    /// SPAM and TRASH comments last changed before this time (ms since the epoch).
    ExpiredBefore(u64),
}

/// One bounded step of a removal: these comments (and these author-range keys, which go
/// whatever they name), then optionally the author's stats.
#[derive(Debug)]
pub(super) struct RemoveJob {
    pub(super) removal: Removal,
    pub(super) ids: Vec<CommentId>,
    pub(super) author_keys: Vec<sled::IVec>,
    pub(super) drop_author_stats: bool,
    pub(super) reply: oneshot::Sender<Result<u64>>,
}

/// Work for the committer.
#[derive(Debug)]
pub(super) enum Job {
    Insert(Box<InsertJob>),
    Moderate(DecisionRequest, oneshot::Sender<Result<Decided>>),
    Remove(RemoveJob),
    PutSettings(Vec<(String, Vec<u8>)>, oneshot::Sender<Result<()>>),
}

/// Sends writes to the committer task; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Queues a job (waiting for room) and returns its answer.
    pub(super) async fn send<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T>>,
    ) -> Result<T> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The running committer, to stop it at shutdown.
#[derive(Debug)]
pub(super) struct CommitterTask {
    task: tokio::task::JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl CommitterTask {
    /// Refuses new writes (they get [`StoreError::Closed`]), commits and answers every write
    /// already queued, and returns when the task has ended.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(cause = %e, "committer task failed");
        }
    }
}

/// Starts the committer task on the current tokio runtime.
pub(super) fn start(inner: Arc<Inner>, batch_limit: usize) -> (Committer, CommitterTask) {
    let (jobs, queue) = mpsc::channel(COMMIT_QUEUE);
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(inner, queue, batch_limit.max(1), stopped));
    (Committer { jobs }, CommitterTask { task, stop })
}

/// Takes batches of up to `batch_limit` jobs until stopped and the queue is drained; each
/// batch is committed on a blocking thread so sled's I/O does not stall the runtime.
async fn run(
    inner: Arc<Inner>,
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
        let inner = Arc::clone(&inner);
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || commit(&inner, jobs)).await;
        crate::telemetry::metrics().record_batch(received, started.elapsed());
        match outcome {
            Ok(replies) => replies.into_iter().for_each(Reply::send),
            // The jobs were moved into the failed task; their writers see `Closed`.
            Err(join_error) => tracing::error!(cause = %join_error, "commit batch task failed"),
        }
    }
    tracing::debug!("committer stopped");
}

/// A job's answer, held until the batch is flushed.
pub(super) enum Reply {
    Insert(oneshot::Sender<Result<()>>, Result<()>),
    Moderate(oneshot::Sender<Result<Decided>>, Box<Result<Decided>>),
    Remove(oneshot::Sender<Result<u64>>, Result<u64>),
}

impl Reply {
    /// Turns a success into the batch's failure (nothing of the batch was written).
    pub(super) fn fail(&mut self, error: &StoreError) {
        let failed = || match error {
            StoreError::Backend(e) => StoreError::Backend(Arc::clone(e)),
            other => StoreError::Corrupt(other.to_string()),
        };
        match self {
            Self::Insert(_, r @ Ok(_)) => *r = Err(failed()),
            Self::Moderate(_, r) if r.is_ok() => **r = Err(failed()),
            Self::Remove(_, r @ Ok(_)) => *r = Err(failed()),
            _ => {}
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

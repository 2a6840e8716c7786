//! Durable storage in sled 0.34: comment records plus the indexes that answer the service's
//! questions, written atomically and flushed before a submission is acknowledged.
//!
//! # Trees
//! | tree | key | value |
//! |---|---|---|
//! | `comments` | id (16 bytes, UUIDv7) | versioned record ([`record`]) |
//! | `post_index` | post, status, id ([`keys::post_key`]) | empty |
//! | `status_index` | status, id ([`keys::status_key`]) | empty |
//! | `authors` | HMAC of the normalized email | author stats |
//! | `duplicates` | digest of post, author, content ([`keys::duplicate_key`]) | id |
//! | `meta` | name | schema version |
//!
//! # Writes
//! All writes go through one [`Committer`] task: it takes every submission waiting, applies
//! them as one sled transaction, flushes once, then answers each writer (group commit). One
//! flush serves a whole batch, and only one task ever flushes, which avoids the hangs that
//! concurrent `flush_async` calls cause in sled 0.34.

mod check;
pub mod keys;
pub mod record;

pub use check::Consistency;

use std::path::Path;
use std::sync::Arc;

use prost::Message as _;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional as _};
use tokio::sync::{mpsc, oneshot};

use crate::comment::{CommentId, Status, StoredComment};

/// Layout version of the whole database; bumped when trees or keys change meaning.
pub const SCHEMA_VERSION: u8 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";
const RECORD_VERSION_KEY: &[u8] = b"record_version";

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, or a damaged file it detected).
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// Bytes in the database that do not decode.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Data written by a newer commentguard than this one.
    #[error(
        "data written in format version {0}, newer than this build understands; run a newer commentguard on this data directory"
    )]
    UnsupportedVersion(u8),
    /// The same comment (post, author, content) was stored before, under this id.
    #[error("duplicate of comment {0}")]
    Duplicate(CommentId),
    /// The committer is gone (the server is shutting down).
    #[error("storage is shutting down")]
    Closed,
}

/// Result of a storage operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Tuning for the database.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// sled's page cache size in bytes; it bounds most of the server's memory.
    pub cache_bytes: u64,
}

impl StoreOptions {
    /// Default page cache: 64 MiB, ample for the hot part of a comment store.
    pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_bytes: Self::DEFAULT_CACHE_BYTES,
        }
    }
}

/// Per-author counters, keyed by the email's HMAC so the address itself is not an index key.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct AuthorStats {
    /// Comments stored from this author.
    #[prost(uint64, tag = "1")]
    pub submitted: u64,
    /// Of those, approved when submitted.
    #[prost(uint64, tag = "2")]
    pub approved: u64,
    /// Held for review when submitted.
    #[prost(uint64, tag = "3")]
    pub pending: u64,
    /// Marked spam when submitted.
    #[prost(uint64, tag = "4")]
    pub spam: u64,
}

/// Handle on the database for reads; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Trees>,
}

#[derive(Debug)]
struct Trees {
    db: sled::Db,
    comments: sled::Tree,
    post_index: sled::Tree,
    status_index: sled::Tree,
    authors: sled::Tree,
    duplicates: sled::Tree,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    ///
    /// # Errors
    /// When sled cannot open the directory, or it holds data of a newer schema.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .open()?;
        let meta = db.open_tree("meta")?;
        // Refuse data a newer build wrote (a newer layout, or records in a newer format)
        // rather than misread it; record what this build writes.
        for (key, ours) in [
            (SCHEMA_KEY, SCHEMA_VERSION),
            (RECORD_VERSION_KEY, record::RECORD_VERSION),
        ] {
            match meta.get(key)?.and_then(|v| v.first().copied()) {
                Some(theirs) if theirs > ours => {
                    return Err(StoreError::UnsupportedVersion(theirs));
                }
                Some(theirs) if theirs == ours => {}
                _ => {
                    meta.insert(key, &[ours])?;
                }
            }
        }
        db.flush()?;
        let inner = Trees {
            comments: db.open_tree("comments")?,
            post_index: db.open_tree("post_index")?,
            status_index: db.open_tree("status_index")?,
            authors: db.open_tree("authors")?,
            duplicates: db.open_tree("duplicates")?,
            db,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

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

    /// One comment by id.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn get(&self, id: CommentId) -> Result<Option<StoredComment>> {
        self.inner
            .comments
            .get(id.as_bytes())?
            .map(|bytes| record::decode(&bytes))
            .transpose()
    }

    /// Up to `limit` comments of one post in one status, oldest first, starting after
    /// `after` (exclusive). Also says whether more follow.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn list_post(
        &self,
        post_id: &str,
        status: Status,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<(Vec<StoredComment>, bool)> {
        let prefix = keys::post_status_prefix(post_id, status);
        let start = match after {
            Some(id) => {
                let mut key = keys::post_key(post_id, status, id);
                key.push(0); // the smallest key after `after`
                key
            }
            None => prefix.clone(),
        };
        let mut comments = Vec::with_capacity(limit.min(512));
        for entry in self.inner.post_index.range(start..) {
            let (key, _) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            if comments.len() == limit {
                return Ok((comments, true));
            }
            let id = record::id_from(&key[prefix.len()..])
                .ok_or_else(|| StoreError::Corrupt("post_index key".into()))?;
            match self.get(id)? {
                Some(comment) => comments.push(comment),
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "post_index names missing {id}"
                    )));
                }
            }
        }
        Ok((comments, false))
    }

    /// The comment already stored under a duplicate key, if any.
    ///
    /// # Errors
    /// On storage failure.
    pub fn find_duplicate(&self, key: &[u8; 32]) -> Result<Option<CommentId>> {
        Ok(self
            .inner
            .duplicates
            .get(key)?
            .and_then(|v| record::id_from(&v)))
    }

    /// The stats of the author with this email hash.
    ///
    /// # Errors
    /// On storage failure or undecodable stats.
    pub fn author_stats(&self, email_hash: &[u8; 32]) -> Result<AuthorStats> {
        match self.inner.authors.get(email_hash)? {
            None => Ok(AuthorStats::default()),
            Some(bytes) => AuthorStats::decode(bytes.as_ref())
                .map_err(|_| StoreError::Corrupt("author stats".into())),
        }
    }

    /// How many comments each status holds (a scan of the status index).
    ///
    /// # Errors
    /// On storage failure.
    pub fn count_by_status(&self, status: Status) -> Result<usize> {
        let mut n = 0;
        for entry in self.inner.status_index.scan_prefix([status as u8]) {
            entry?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes everything sled holds in memory to disk.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn flush(&self) -> Result<()> {
        self.inner.db.flush()?;
        Ok(())
    }
}

/// Writers waiting for the committer at most; more wait for room (backpressure).
const COMMIT_QUEUE: usize = 4096;

/// A comment ready to store, with its keys computed by the writer so the committer's
/// critical section is only the transaction and the flush.
#[derive(Debug)]
struct Job {
    id: CommentId,
    status: Status,
    record: Vec<u8>,
    post_key: Vec<u8>,
    duplicate_key: [u8; 32],
    email_hash: [u8; 32],
    reply: oneshot::Sender<Result<()>>,
}

/// Sends comments to the committer task; cheap to clone.
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
        let job = Job {
            id: comment.id,
            status: comment.verdict.status,
            record: record::encode(comment),
            post_key: keys::post_key(&s.post_id, comment.verdict.status, comment.id),
            duplicate_key: keys::duplicate_key(&s.post_id, &comment.email_hash, &s.content),
            email_hash: comment.email_hash,
            reply,
        };
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
        let outcome = tokio::task::spawn_blocking(move || {
            let results = apply_batch(&trees, &jobs);
            (jobs, results)
        })
        .await;
        match outcome {
            Ok((jobs, results)) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    // A writer that gave up (its request was cancelled) no longer listens.
                    let _ = job.reply.send(result);
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

/// Applies a batch in one transaction and flushes it. Returns one result per job.
fn apply_batch(trees: &Trees, jobs: &[Job]) -> Vec<Result<()>> {
    let started = std::time::Instant::now();
    let tx_trees = (
        &trees.comments,
        &trees.post_index,
        &trees.status_index,
        &trees.authors,
        &trees.duplicates,
    );
    let applied = tx_trees.transaction(
        |(comments, post_index, status_index, authors, duplicates)| {
            let mut results = Vec::with_capacity(jobs.len());
            for job in jobs {
                if let Some(existing) = duplicates.get(job.duplicate_key)? {
                    let existing = record::id_from(&existing).unwrap_or(job.id);
                    results.push(Err(existing));
                    continue;
                }
                comments.insert(job.id.as_bytes(), job.record.as_slice())?;
                post_index.insert(job.post_key.as_slice(), &[])?;
                status_index.insert(&keys::status_key(job.status, job.id), &[])?;
                duplicates.insert(&job.duplicate_key, job.id.as_bytes())?;
                let mut stats = match authors.get(job.email_hash)? {
                    Some(bytes) => AuthorStats::decode(bytes.as_ref())
                        .map_err(|_| ConflictableTransactionError::Abort(()))?,
                    None => AuthorStats::default(),
                };
                stats.submitted += 1;
                match job.status {
                    Status::Approved => stats.approved += 1,
                    Status::Pending => stats.pending += 1,
                    Status::Spam | Status::Trash => stats.spam += 1,
                }
                authors.insert(&job.email_hash, stats.encode_to_vec())?;
                results.push(Ok(()));
            }
            Ok(results)
        },
    );
    let results = match applied {
        Ok(results) => results,
        Err(TransactionError::Abort(())) => {
            let error = || Err(StoreError::Corrupt("author stats".into()));
            return jobs.iter().map(|_| error()).collect();
        }
        Err(TransactionError::Storage(e)) => {
            tracing::error!(cause = %e, "commit transaction failed");
            return jobs
                .iter()
                .map(|_| Err(StoreError::Sled(e.clone())))
                .collect();
        }
    };
    if let Err(e) = trees.db.flush() {
        tracing::error!(cause = %e, "flush failed");
        return jobs
            .iter()
            .map(|_| Err(StoreError::Sled(e.clone())))
            .collect();
    }
    tracing::trace!(
        batch = jobs.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "batch committed"
    );
    results
        .into_iter()
        .map(|r| r.map_err(StoreError::Duplicate))
        .collect()
}

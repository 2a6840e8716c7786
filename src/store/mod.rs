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
//! | `audit` | time, sequence ([`audit::key`]) | moderator action ([`audit`]) |
//! | `labels` | comment id | moderator label with the text ([`labels`]) |
//! | `meta` | name | schema version |
//!
//! # Writes
//! All writes go through one [`Committer`] task: it takes every submission waiting, applies
//! them as one sled transaction, flushes once, then answers each writer (group commit). One
//! flush serves a whole batch, and only one task ever flushes, which avoids the hangs that
//! concurrent `flush_async` calls cause in sled 0.34. Moderator decisions, erasures and
//! retention purges go through the same task, so they too are on disk before anyone is told.

pub mod audit;
mod check;
pub mod keys;
pub mod labels;
pub mod record;

pub use check::Consistency;

use std::path::Path;
use std::sync::Arc;

use prost::Message as _;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional as _};
use tokio::sync::{mpsc, oneshot};

use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::{Action, AuditEntry, Decision};

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
    /// No comment has this id.
    #[error("no comment {0}")]
    NotFound(CommentId),
    /// The action does not apply to a comment in this status.
    #[error("cannot {action} a comment that is {from}")]
    IllegalTransition {
        /// The action asked for.
        action: Action,
        /// The comment's status.
        from: Status,
    },
}

/// sled's segment size for new databases: 8 MiB instead of sled's 512 KiB. Larger segments
/// hold more pages each, so sled reclaims the space of rewritten pages sooner; at 100,000
/// comments the file shrank by about a fifth. A database keeps the size it was created with
/// (sled refuses to open it with another), so an existing `conf` file decides.
const SEGMENT_SIZE: usize = 8 << 20;

fn segment_size(dir: &Path) -> usize {
    // The file is text lines followed by a binary checksum.
    std::fs::read(dir.join("conf"))
        .ok()
        .and_then(|conf| {
            String::from_utf8_lossy(&conf)
                .lines()
                .find_map(|line| line.strip_prefix("segment_size: "))
                .and_then(|size| size.trim().parse().ok())
        })
        .unwrap_or(SEGMENT_SIZE)
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
    /// Default page cache: 64 MiB (see `Config::DEFAULT_STORAGE_CACHE_MB`).
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
    audit: sled::Tree,
    labels: sled::Tree,
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
            .segment_size(segment_size(dir))
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
            audit: db.open_tree("audit")?,
            labels: db.open_tree("labels")?,
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

    /// Up to `limit` comments in one status, newest first, starting before `before`
    /// (exclusive), optionally of one post only. Also says whether more follow.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn list_status_newest(
        &self,
        status: Status,
        post_id: Option<&str>,
        before: Option<CommentId>,
        limit: usize,
    ) -> Result<(Vec<StoredComment>, bool)> {
        let (tree, prefix) = match post_id {
            Some(post) => (
                &self.inner.post_index,
                keys::post_status_prefix(post, status),
            ),
            None => (&self.inner.status_index, vec![status as u8]),
        };
        // Both prefixes end in the status byte, so the next status's prefix bounds this one.
        let end = match before {
            Some(id) => [prefix.as_slice(), id.as_bytes()].concat(),
            None => {
                let mut next = prefix.clone();
                if let Some(last) = next.last_mut() {
                    *last += 1;
                }
                next
            }
        };
        let mut comments = Vec::with_capacity(limit.min(512));
        for entry in tree.range(prefix.clone()..end).rev() {
            let (key, _) = entry?;
            if comments.len() == limit {
                return Ok((comments, true));
            }
            let id = record::id_from(&key[prefix.len()..])
                .ok_or_else(|| StoreError::Corrupt("index key".into()))?;
            let comment = self
                .get(id)?
                .ok_or_else(|| StoreError::Corrupt(format!("index names missing {id}")))?;
            comments.push(comment);
        }
        Ok((comments, false))
    }

    /// Up to `limit` audit entries, newest first, starting before the key `before`
    /// (exclusive), optionally about one comment only. Also returns the key to continue from.
    ///
    /// # Errors
    /// On storage failure or an undecodable entry.
    pub fn list_audit(
        &self,
        comment: Option<CommentId>,
        before: Option<[u8; 16]>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<[u8; 16]>)> {
        let end = before.unwrap_or([0xff; 16]);
        let mut entries = Vec::with_capacity(limit.min(512));
        let mut last_key = None;
        for entry in self.inner.audit.range(..end).rev() {
            let (key, value) = entry?;
            let decoded = audit::decode(&value)?;
            if comment.is_some_and(|id| id != decoded.comment_id) {
                continue;
            }
            if entries.len() == limit {
                return Ok((entries, last_key));
            }
            last_key = key.as_ref().try_into().ok();
            entries.push(decoded);
        }
        Ok((entries, None))
    }

    /// Every audit entry made at or after `since_ms`, oldest first.
    ///
    /// # Errors
    /// On storage failure or an undecodable entry.
    pub fn audit_since(&self, since_ms: u64) -> Result<Vec<AuditEntry>> {
        let start = audit::key(since_ms, 0);
        self.inner
            .audit
            .range(start..)
            .map(|entry| audit::decode(&entry?.1))
            .collect()
    }

    /// Every moderator label, for retraining.
    ///
    /// # Errors
    /// On storage failure or an undecodable label.
    pub fn labels(&self) -> Result<Vec<labels::LabelledText>> {
        self.inner
            .labels
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                labels::decode(&key, &value)
            })
            .collect()
    }

    /// Ids of every stored comment, oldest first (keys only, no records read).
    ///
    /// # Errors
    /// On storage failure or a malformed key.
    pub fn comment_ids(&self) -> Result<Vec<CommentId>> {
        self.inner
            .status_index
            .iter()
            .keys()
            .map(|key| {
                let key = key?;
                record::id_from(&key[1..]).ok_or_else(|| StoreError::Corrupt("status key".into()))
            })
            .collect()
    }

    /// When the post's first stored comment (any status) was created, if it has any.
    ///
    /// # Errors
    /// On storage failure or a malformed key.
    pub fn first_comment_ms(&self, post_id: &str) -> Result<Option<u64>> {
        let mut first: Option<u64> = None;
        for status in Status::ALL {
            let prefix = keys::post_status_prefix(post_id, status);
            if let Some(entry) = self.inner.post_index.scan_prefix(&prefix).keys().next() {
                let key = entry?;
                let id = record::id_from(&key[prefix.len()..])
                    .ok_or_else(|| StoreError::Corrupt("post_index key".into()))?;
                let at = id.created_ms();
                first = Some(first.map_or(at, |f| f.min(at)));
            }
        }
        Ok(first)
    }

    /// Writes everything sled holds in memory to disk.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn flush(&self) -> Result<()> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// Closes the database and opens it once more, so that the next start is fast. sled 0.34
    /// writes its recovery snapshot only when it opens a database, so a start otherwise
    /// replays everything logged since the previous start (seconds at a million comments);
    /// reopening at shutdown moves that work out of the next start. Returns whether it was
    /// done: not while another handle on the database is alive.
    ///
    /// # Errors
    /// When the database cannot be reopened.
    pub fn close_with_snapshot(self, dir: &Path, options: StoreOptions) -> Result<bool> {
        let Ok(trees) = Arc::try_unwrap(self.inner) else {
            return Ok(false);
        };
        trees.db.flush()?;
        drop(trees);
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .segment_size(segment_size(dir))
            .open()?;
        db.flush()?;
        Ok(true)
    }
}

/// Writers waiting for the committer at most; more wait for room (backpressure).
const COMMIT_QUEUE: usize = 4096;

/// A new comment ready to store, with its keys computed by the writer so the committer's
/// critical section is only the transaction and the flush.
#[derive(Debug)]
struct InsertJob {
    id: CommentId,
    status: Status,
    record: Vec<u8>,
    post_key: Vec<u8>,
    duplicate_key: [u8; 32],
    email_hash: [u8; 32],
    reply: oneshot::Sender<Result<()>>,
}

/// A moderator's decision to apply.
#[derive(Debug)]
struct ModerateJob {
    id: CommentId,
    action: Action,
    moderator: String,
    note: String,
    at_ms: u64,
    reply: oneshot::Sender<Result<(StoredComment, Status)>>,
}

/// Which comments a removal deletes.
#[derive(Debug, Clone, Copy)]
enum Removal {
    /// Every comment of the author with this email hash, and the author's stats.
    Author([u8; 32]),
    /// SPAM and TRASH comments last changed before this time (ms since the epoch).
    ExpiredBefore(u64),
}

/// Work for the committer.
#[derive(Debug)]
enum Job {
    Insert(InsertJob),
    Moderate(ModerateJob),
    Remove(Removal, oneshot::Sender<Result<u64>>),
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
enum Reply {
    Insert(oneshot::Sender<Result<()>>, Result<()>),
    Moderate(
        oneshot::Sender<Result<(StoredComment, Status)>>,
        Box<Result<(StoredComment, Status)>>,
    ),
    Remove(oneshot::Sender<Result<u64>>, Result<u64>),
}

impl Reply {
    fn fail(&mut self, error: &sled::Error) {
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

/// Applies a batch — new comments in one transaction, each moderator job in its own — and
/// flushes once. Returns one answer per job.
fn apply_batch(trees: &Trees, jobs: Vec<Job>) -> Vec<Reply> {
    let started = std::time::Instant::now();
    let count = jobs.len();
    let mut inserts = Vec::new();
    let mut replies = Vec::with_capacity(count);
    for job in jobs {
        match job {
            Job::Insert(job) => inserts.push(job),
            Job::Moderate(job) => {
                let result = apply_moderation(trees, &job);
                replies.push(Reply::Moderate(job.reply, Box::new(result)));
            }
            Job::Remove(removal, reply) => {
                replies.push(Reply::Remove(reply, apply_removal(trees, removal)));
            }
        }
    }
    if !inserts.is_empty() {
        let results = apply_inserts(trees, &inserts);
        for (job, result) in inserts.into_iter().zip(results) {
            replies.push(Reply::Insert(job.reply, result));
        }
    }
    if let Err(e) = trees.db.flush() {
        tracing::error!(cause = %e, "flush failed");
        replies.iter_mut().for_each(|r| r.fail(&e));
    }
    tracing::trace!(
        batch = count,
        elapsed_us = started.elapsed().as_micros() as u64,
        "batch committed"
    );
    replies
}

/// Applies new comments in one transaction. Returns one result per job.
fn apply_inserts(trees: &Trees, jobs: &[InsertJob]) -> Vec<Result<()>> {
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
    match applied {
        Ok(results) => results
            .into_iter()
            .map(|r| r.map_err(StoreError::Duplicate))
            .collect(),
        Err(TransactionError::Abort(())) => jobs
            .iter()
            .map(|_| Err(StoreError::Corrupt("author stats".into())))
            .collect(),
        Err(TransactionError::Storage(e)) => {
            tracing::error!(cause = %e, "commit transaction failed");
            jobs.iter()
                .map(|_| Err(StoreError::Sled(e.clone())))
                .collect()
        }
    }
}

/// Applies one moderator decision in one transaction.
fn apply_moderation(trees: &Trees, job: &ModerateJob) -> Result<(StoredComment, Status)> {
    let sequence = trees.db.generate_id()?;
    let tx_trees = (
        &trees.comments,
        &trees.post_index,
        &trees.status_index,
        &trees.authors,
        &trees.audit,
        &trees.labels,
    );
    let applied = tx_trees.transaction(
        |(comments, post_index, status_index, authors, audit_log, label_tree)| {
            let abort = ConflictableTransactionError::Abort;
            let bytes = comments
                .get(job.id.as_bytes())?
                .ok_or(abort(StoreError::NotFound(job.id)))?;
            let mut comment = record::decode(&bytes).map_err(abort)?;
            let from = comment.verdict.status;
            let before_trash = comment.decision.as_ref().and_then(|d| d.before_trash);
            let to = job.action.target(from, before_trash).ok_or(abort(
                StoreError::IllegalTransition {
                    action: job.action,
                    from,
                },
            ))?;
            comment.verdict.status = to;
            comment.decision = Some(Decision {
                by: job.moderator.clone(),
                at_ms: job.at_ms,
                before_trash: (to == Status::Trash).then_some(from),
            });
            let post = &comment.submission.post_id;
            comments.insert(job.id.as_bytes(), record::encode(&comment))?;
            post_index.remove(keys::post_key(post, from, job.id))?;
            post_index.insert(keys::post_key(post, to, job.id), &[])?;
            status_index.remove(&keys::status_key(from, job.id))?;
            status_index.insert(&keys::status_key(to, job.id), &[])?;
            if to == Status::Approved {
                // Approval counts toward the author's record (first-time author rule).
                let mut stats = match authors.get(comment.email_hash)? {
                    Some(bytes) => AuthorStats::decode(bytes.as_ref())
                        .map_err(|_| abort(StoreError::Corrupt("author stats".into())))?,
                    None => AuthorStats::default(),
                };
                stats.approved += 1;
                authors.insert(&comment.email_hash, stats.encode_to_vec())?;
            }
            match job.action.label() {
                Some(label) => {
                    label_tree.insert(job.id.as_bytes(), labels::encode(&comment, label))?;
                }
                // Trashing withdraws a label: the comment is no longer an example of either.
                None if to == Status::Trash => {
                    label_tree.remove(job.id.as_bytes())?;
                }
                None => {}
            }
            let entry = AuditEntry {
                at_ms: job.at_ms,
                moderator: job.moderator.clone(),
                comment_id: job.id,
                action: job.action,
                from,
                to,
                note: job.note.clone(),
                spam_score: comment.verdict.spam_score,
            };
            audit_log.insert(&audit::key(job.at_ms, sequence), audit::encode(&entry))?;
            Ok((comment, from))
        },
    );
    applied.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    })
}

/// Deletes the comments a removal names, each with every index entry and label, in one
/// transaction. Only the committer writes, so the scan that finds them cannot race a write.
fn apply_removal(trees: &Trees, removal: Removal) -> Result<u64> {
    let mut doomed = Vec::new();
    let mut consider = |bytes: &[u8]| -> Result<()> {
        let comment = record::decode(bytes)?;
        let hit = match removal {
            Removal::Author(hash) => comment.email_hash == hash,
            Removal::ExpiredBefore(cutoff) => {
                let changed = comment
                    .decision
                    .as_ref()
                    .map_or(comment.created_at_ms, |d| d.at_ms);
                changed < cutoff
            }
        };
        if hit {
            doomed.push(comment);
        }
        Ok(())
    };
    match removal {
        Removal::Author(_) => {
            for entry in trees.comments.iter() {
                consider(&entry?.1)?;
            }
        }
        Removal::ExpiredBefore(_) => {
            for status in [Status::Spam, Status::Trash] {
                for key in trees.status_index.scan_prefix([status as u8]).keys() {
                    if let Some(bytes) = trees.comments.get(&key?[1..])? {
                        consider(&bytes)?;
                    }
                }
            }
        }
    }
    let tx_trees = (
        &trees.comments,
        &trees.post_index,
        &trees.status_index,
        &trees.authors,
        &trees.duplicates,
        &trees.labels,
    );
    tx_trees
        .transaction(
            |(comments, post_index, status_index, authors, duplicates, label_tree)| {
                for c in &doomed {
                    let s = &c.submission;
                    let status = c.verdict.status;
                    comments.remove(c.id.as_bytes())?;
                    post_index.remove(keys::post_key(&s.post_id, status, c.id))?;
                    status_index.remove(&keys::status_key(status, c.id))?;
                    label_tree.remove(c.id.as_bytes())?;
                    let duplicate = keys::duplicate_key(&s.post_id, &c.email_hash, &s.content);
                    // Only the entry pointing at this comment: another may own the digest.
                    if duplicates.get(duplicate)?.as_deref() == Some(c.id.as_bytes().as_slice()) {
                        duplicates.remove(&duplicate)?;
                    }
                }
                if let Removal::Author(hash) = removal {
                    authors.remove(&hash)?;
                }
                Ok(())
            },
        )
        .map_err(|e: TransactionError<()>| match e {
            TransactionError::Abort(()) => StoreError::Corrupt("removal".into()),
            TransactionError::Storage(e) => StoreError::Sled(e),
        })?;
    Ok(doomed.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshots(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("snap."))
            .collect()
    }

    #[tokio::test]
    async fn closing_writes_a_snapshot_of_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let (committer, task) = store.start_committer(16);
        let comment = record::tests::sample();
        committer.insert(&comment).await.unwrap();
        task.stop().await;
        drop(committer);
        let before = snapshots(dir.path());

        // Not while another handle is alive.
        let other = store.clone();
        assert!(
            !other
                .close_with_snapshot(dir.path(), StoreOptions::default())
                .unwrap()
        );
        assert!(
            store
                .close_with_snapshot(dir.path(), StoreOptions::default())
                .unwrap()
        );
        let after = snapshots(dir.path());
        assert_eq!(after.len(), 1, "{after:?}");
        assert_ne!(before, after, "a snapshot up to the stored comment");

        let reopened = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(reopened.get(comment.id).unwrap(), Some(comment));
    }
}

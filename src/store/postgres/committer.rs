//! Group commit: a few committer tasks per frontend each take every submission waiting as one
//! batch and store it in one transaction (one multi-row insert), answering each writer with
//! its own outcome once the transaction has committed. Throughput then costs one commit per
//! batch, not one per comment, and while one batch waits for its commit (the WAL flush, the
//! synchronous standby) the next is being written. Rows are locked in one order (duplicate
//! digests, then authors, each sorted), so concurrent batches never deadlock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::columns::ms_param;
use super::errors::{db_error, pool_error};
use super::listener::CHANNEL;
use crate::comment::{CommentId, Status, StoredComment};
use crate::store::decide::last_change_ms;
use crate::store::events::Change;
use crate::store::{AuthorStats, QueueChange, Result, StoreError, duplicate_digest, record};

/// Writers waiting for the committers at most; more wait for room (backpressure).
const COMMIT_QUEUE: usize = 4096;
/// Batches in flight at once per frontend.
const COMMITTERS: usize = 3;

struct Job {
    comment: StoredComment,
    reply: oneshot::Sender<Result<()>>,
}

/// Hands submissions to the committer task.
pub(super) struct Committer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the task, storing at most `batch_limit` comments per transaction.
    pub(super) fn start(pool: Pool, batch_limit: usize, frontend: String) -> Self {
        let (jobs, queue) = mpsc::channel(COMMIT_QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let tasks = (0..COMMITTERS)
            .map(|_| {
                let queue = Arc::clone(&queue);
                tokio::spawn(run(
                    pool.clone(),
                    queue,
                    batch_limit.max(1),
                    frontend.clone(),
                ))
            })
            .collect();
        Self {
            jobs: Mutex::new(Some(jobs)),
            tasks: Mutex::new(tasks),
        }
    }

    /// Stores `comments`, one outcome each, once their transaction has committed.
    pub(super) async fn insert_batch(&self, comments: Vec<StoredComment>) -> Vec<Result<()>> {
        let Some(jobs) = self.jobs.lock().await.clone() else {
            return comments.iter().map(|_| Err(StoreError::Closed)).collect();
        };
        let mut replies = Vec::with_capacity(comments.len());
        for comment in comments {
            let (reply, answer) = oneshot::channel();
            if jobs.send(Job { comment, reply }).await.is_err() {
                replies.push(None);
            } else {
                replies.push(Some(answer));
            }
        }
        let mut outcomes = Vec::with_capacity(replies.len());
        for answer in replies {
            outcomes.push(match answer {
                Some(answer) => answer.await.unwrap_or(Err(StoreError::Closed)),
                None => Err(StoreError::Closed),
            });
        }
        outcomes
    }

    /// Refuses further submissions and waits until those queued are committed.
    pub(super) async fn close(&self) {
        self.jobs.lock().await.take();
        for task in std::mem::take(&mut *self.tasks.lock().await) {
            let _ = task.await;
        }
    }
}

/// One committer: takes what is waiting (the queue is shared, one taker at a time) and
/// commits it, until the queue is closed and empty.
async fn run(pool: Pool, queue: Arc<Mutex<mpsc::Receiver<Job>>>, limit: usize, frontend: String) {
    loop {
        let jobs = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < limit {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        let comments: Vec<&StoredComment> = jobs.iter().map(|j| &j.comment).collect();
        let outcomes = match commit(&pool, &comments, &frontend).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(cause = %crate::error::Chain(&e), batch = jobs.len(), "commit failed");
                jobs.iter().map(|_| Err(e.duplicate())).collect()
            }
        };
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let _ = job.reply.send(outcome);
        }
    }
}

/// A row that conflicts on its duplicate digest or its idempotency key stores nothing; the
/// committer then finds which (the key first).
const INSERT: &str = "INSERT INTO comments \
     (id, post_id, status, email_hash, duplicate_digest, created_at_ms, changed_at_ms, record, \
      idempotency_key, policy_version) \
     SELECT * FROM unnest($1::bytea[], $2::text[], $3::int2[], $4::bytea[], $5::bytea[], \
                          $6::int8[], $7::int8[], $8::bytea[], $9::text[], $10::text[]) \
     ON CONFLICT DO NOTHING RETURNING id";

const ADD_AUTHOR_STATS: &str = "INSERT INTO author_stats \
     (email_hash, submitted, approved, pending, spam) \
     SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) \
     ON CONFLICT (email_hash) DO UPDATE SET \
       submitted = author_stats.submitted + EXCLUDED.submitted, \
       approved = author_stats.approved + EXCLUDED.approved, \
       pending = author_stats.pending + EXCLUDED.pending, \
       spam = author_stats.spam + EXCLUDED.spam";

/// Stores one batch in one transaction; the error, if any, is the whole batch's.
async fn commit(
    pool: &Pool,
    comments: &[&StoredComment],
    frontend: &str,
) -> Result<Vec<Result<()>>> {
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client.transaction().await.map_err(db_error)?;
    let orphans = orphaned_replies(&tx, comments).await?;
    let candidates: Vec<&StoredComment> = comments
        .iter()
        .copied()
        .filter(|c| !orphans.contains(&c.id))
        .collect();
    let digests: Vec<Vec<u8>> = candidates
        .iter()
        .map(|c| {
            duplicate_digest(&c.submission.post_id, &c.email_hash, &c.submission.content).to_vec()
        })
        .collect();
    let inserted = insert(&tx, &candidates, &digests).await?;
    let mut existing = HashMap::new();
    let lost: Vec<Vec<u8>> = candidates
        .iter()
        .zip(&digests)
        .filter(|(c, _)| !inserted.contains(&c.id))
        .map(|(_, d)| d.clone())
        .collect();
    if !lost.is_empty() {
        for row in tx
            .query(
                "SELECT duplicate_digest, id FROM comments WHERE duplicate_digest = ANY($1)",
                &[&lost],
            )
            .await
            .map_err(db_error)?
        {
            let digest: Vec<u8> = row.get(0);
            existing.insert(digest, super::columns::id_column(row.get(1))?);
        }
    }
    let refused: Vec<&StoredComment> = candidates
        .iter()
        .copied()
        .filter(|c| !inserted.contains(&c.id))
        .collect();
    let holders = key_holders(&tx, &refused).await?;
    let stored: Vec<&StoredComment> = candidates
        .iter()
        .copied()
        .filter(|c| inserted.contains(&c.id))
        .collect();
    count_submissions(&tx, &stored).await?;
    super::events::append(&tx, &submitted_events(&stored)).await?;
    notify_submitted(&tx, &stored, frontend).await?;
    tx.commit().await.map_err(db_error)?;
    let digest_of: HashMap<CommentId, &Vec<u8>> =
        candidates.iter().map(|c| c.id).zip(&digests).collect();
    Ok(comments
        .iter()
        .map(|c| {
            if orphans.contains(&c.id) {
                Err(StoreError::ParentGone)
            } else if inserted.contains(&c.id) {
                Ok(())
            } else if let Some(holder) = idempotency_key(c).and_then(|k| holders.get(k)) {
                // The key is checked before the duplicate digest, as on every backend.
                Err(StoreError::KeyTaken(*holder))
            } else {
                let other = digest_of.get(&c.id).and_then(|d| existing.get(*d)).copied();
                // Gone again between the insert and the lookup: still not stored.
                Err(StoreError::Duplicate(other.unwrap_or(c.id)))
            }
        })
        .collect())
}

/// The queue events of the comments stored held or as spam.
fn submitted_events(stored: &[&StoredComment]) -> Vec<QueueChange> {
    stored
        .iter()
        .filter(|c| c.verdict.status != Status::Approved)
        .map(|c| QueueChange {
            comment_id: c.id,
            at_ms: c.created_at_ms,
            change: Change::Submitted,
            to: c.verdict.status,
        })
        .collect()
}

/// Replies whose parent is not (or no longer) an approved comment of their post.
async fn orphaned_replies(
    tx: &deadpool_postgres::Transaction<'_>,
    comments: &[&StoredComment],
) -> Result<HashSet<CommentId>> {
    let parents: Vec<Vec<u8>> = comments
        .iter()
        .filter_map(|c| c.submission.parent_id)
        .map(super::columns::id_param)
        .collect();
    if parents.is_empty() {
        return Ok(HashSet::new());
    }
    let mut approved = HashMap::new();
    for row in tx
        .query(
            "SELECT id, post_id FROM comments WHERE id = ANY($1) AND status = $2 FOR SHARE",
            &[&parents, &(Status::Approved as i16)],
        )
        .await
        .map_err(db_error)?
    {
        let post: String = row.get(1);
        approved.insert(super::columns::id_column(row.get(0))?, post);
    }
    Ok(comments
        .iter()
        .filter(|c| {
            c.submission
                .parent_id
                .is_some_and(|p| approved.get(&p) != Some(&c.submission.post_id))
        })
        .map(|c| c.id)
        .collect())
}

/// The multi-row insert; returns the ids it stored (a duplicate digest stores nothing).
async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    comments: &[&StoredComment],
    digests: &[Vec<u8>],
) -> Result<HashSet<CommentId>> {
    if comments.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<Vec<u8>> = comments
        .iter()
        .map(|c| super::columns::id_param(c.id))
        .collect();
    let posts: Vec<&str> = comments
        .iter()
        .map(|c| c.submission.post_id.as_str())
        .collect();
    let statuses: Vec<i16> = comments.iter().map(|c| c.verdict.status as i16).collect();
    let hashes: Vec<&[u8]> = comments.iter().map(|c| &c.email_hash[..]).collect();
    let created: Vec<i64> = comments.iter().map(|c| ms_param(c.created_at_ms)).collect();
    let changed: Vec<i64> = comments
        .iter()
        .map(|c| ms_param(last_change_ms(c)))
        .collect();
    let records: Vec<Vec<u8>> = comments.iter().map(|c| record::encode(c)).collect();
    let keys: Vec<Option<&str>> = comments.iter().map(|c| idempotency_key(c)).collect();
    let versions: Vec<&str> = comments.iter().map(|c| c.policy_version.as_str()).collect();
    let statement = tx.prepare_cached(INSERT).await.map_err(db_error)?;
    let rows = tx
        .query(
            &statement,
            &[
                &ids, &posts, &statuses, &hashes, &digests, &created, &changed, &records, &keys,
                &versions,
            ],
        )
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| super::columns::id_column(row.get(0)))
        .collect()
}

/// The comment's idempotency key, if it has one.
fn idempotency_key(comment: &StoredComment) -> Option<&str> {
    comment.receipt.idempotency.as_ref().map(|i| i.key.as_str())
}

/// The holders of the idempotency keys of comments the insert did not store.
async fn key_holders(
    tx: &deadpool_postgres::Transaction<'_>,
    lost: &[&StoredComment],
) -> Result<HashMap<String, CommentId>> {
    let keys: Vec<&str> = lost.iter().filter_map(|c| idempotency_key(c)).collect();
    let mut holders = HashMap::new();
    if keys.is_empty() {
        return Ok(holders);
    }
    for row in tx
        .query(
            "SELECT idempotency_key, id FROM comments WHERE idempotency_key = ANY($1)",
            &[&keys],
        )
        .await
        .map_err(db_error)?
    {
        holders.insert(row.get(0), super::columns::id_column(row.get(1))?);
    }
    Ok(holders)
}

/// Adds the stored comments to their authors' stats.
async fn count_submissions(
    tx: &deadpool_postgres::Transaction<'_>,
    stored: &[&StoredComment],
) -> Result<()> {
    let mut stats: BTreeMap<[u8; 32], AuthorStats> = BTreeMap::new();
    for comment in stored {
        stats
            .entry(comment.email_hash)
            .or_default()
            .count_submission(comment.verdict.status);
    }
    add_author_stats(tx, &stats).await
}

/// Adds `stats` to the stored authors' stats, in key order so that two frontends'
/// transactions lock the rows in the same order (no deadlock).
pub(super) async fn add_author_stats(
    tx: &deadpool_postgres::Transaction<'_>,
    stats: &BTreeMap<[u8; 32], AuthorStats>,
) -> Result<()> {
    if stats.is_empty() {
        return Ok(());
    }
    let hashes: Vec<&[u8]> = stats.keys().map(|h| &h[..]).collect();
    let column = |f: fn(&AuthorStats) -> u64| -> Vec<i64> {
        stats.values().map(|s| ms_param(f(s))).collect()
    };
    let statement = tx
        .prepare_cached(ADD_AUTHOR_STATS)
        .await
        .map_err(db_error)?;
    tx.execute(
        &statement,
        &[
            &hashes,
            &column(|s| s.submitted),
            &column(|s| s.approved),
            &column(|s| s.pending),
            &column(|s| s.spam),
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Tells the other frontends' watchers about comments stored held or as spam; delivered
/// when the transaction commits, never if it does not.
async fn notify_submitted(
    tx: &deadpool_postgres::Transaction<'_>,
    stored: &[&StoredComment],
    frontend: &str,
) -> Result<()> {
    let payloads: Vec<String> = stored
        .iter()
        .filter(|c| c.verdict.status != Status::Approved)
        .map(|c| super::listener::submitted_payload(frontend, c.id))
        .collect();
    if payloads.is_empty() {
        return Ok(());
    }
    tx.execute(
        "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
        &[&CHANNEL, &payloads],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

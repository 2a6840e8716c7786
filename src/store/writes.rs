//! The write transactions the committer runs: a batch of new comments, a moderator's
//! decision, and removals (erasure of an author, retention purge).

use prost::Message as _;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional as _};

use super::committer::{InsertJob, Job, ModerateJob, Removal, Reply};
use super::{AuthorStats, Result, StoreError, Trees, audit, keys, labels, record};
use crate::comment::{Status, StoredComment};
use crate::moderation::{AuditEntry, Decision};

/// Applies a batch — new comments in one transaction, each moderator job in its own — and
/// flushes once. Returns one answer per job.
pub(super) fn apply_batch(trees: &Trees, jobs: Vec<Job>) -> Vec<Reply> {
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
            Job::PutMeta(entries, reply) => {
                let mut batch = sled::Batch::default();
                for (key, value) in entries {
                    batch.insert(key, value);
                }
                let result = trees.meta.apply_batch(batch).map_err(StoreError::from);
                replies.push(Reply::Insert(reply, result));
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
    let doomed = removal_targets(trees, removal)?;
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

/// The comments a removal names, read outside the transaction.
fn removal_targets(trees: &Trees, removal: Removal) -> Result<Vec<StoredComment>> {
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
    Ok(doomed)
}

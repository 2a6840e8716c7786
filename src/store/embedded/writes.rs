//! One batch of writes: read what the jobs must check (duplicates, parents, current status),
//! collect every change into one batch of [`Writes`], apply it atomically, flush once. The committer
//! is the only writer, so nothing changes between the reads and the batch: no transaction is
//! needed. Changes made earlier in the same batch are seen through small overlays.

use std::collections::HashMap;

use prost::Message as _;

use super::engine::{Tree, Writes};
use super::handles::{Inner, backend};
use super::jobs::{InsertJob, Job, Removal, RemoveJob, Reply};
use super::keys::{self, Kind};
use crate::comment::{CommentId, Status, StoredComment, now_ms};
use crate::store::{
    AuthorStats, Decided, DecisionRequest, ImportOutcome, ImportedComment, NO_AUTHOR, QueueChange,
    Result, StoreError, audit, decide, events, labels, record,
};
use events::Change;

/// The batch being planned and what it has changed so far.
struct Plan<'a> {
    inner: &'a Inner,
    batch: Writes,
    /// Records changed in this batch (`None`: deleted).
    records: HashMap<CommentId, Option<StoredComment>>,
    /// Author stats changed in this batch (`None`: deleted).
    stats: HashMap<[u8; 32], Option<AuthorStats>>,
    /// Duplicate prefixes taken by this batch's inserts.
    taken: HashMap<[u8; keys::DUPLICATE_PREFIX], CommentId>,
    /// Idempotency keys taken by this batch's inserts.
    keys_taken: HashMap<Vec<u8>, CommentId>,
    /// Change of each policy version's count.
    versions: HashMap<String, i64>,
    /// Change of each status's count.
    counts: [i64; 4],
    /// Activity added per (kind, second).
    activity: HashMap<(Kind, u64), u64>,
}

/// Commits a batch of jobs and returns one answer per job.
pub(super) fn commit(inner: &Inner, jobs: Vec<Job>) -> Vec<Reply> {
    let started = std::time::Instant::now();
    let count = jobs.len();
    let mut plan = Plan {
        inner,
        batch: Writes::default(),
        records: HashMap::new(),
        stats: HashMap::new(),
        taken: HashMap::new(),
        keys_taken: HashMap::new(),
        versions: HashMap::new(),
        counts: [0; 4],
        activity: HashMap::new(),
    };
    let mut replies = Vec::with_capacity(count);
    for job in jobs {
        replies.push(match job {
            Job::Insert(job) => {
                let InsertJob {
                    comment,
                    record,
                    digest,
                    reply,
                } = *job;
                Reply::Insert(reply, plan.insert(comment, record, digest))
            }
            Job::Moderate(request, reply) => {
                Reply::Moderate(reply, Box::new(plan.moderate(&request)))
            }
            Job::Remove(job) => {
                let result = plan.remove(&job);
                Reply::Remove(job.reply, result)
            }
            Job::PutSettings(settings, reply) => {
                for (name, value) in settings {
                    plan.batch.insert(keys::setting(&name), value);
                }
                Reply::Insert(reply, Ok(()))
            }
            Job::Import(imported, reply) => Reply::Import(reply, plan.import(*imported)),
            Job::PutLabel(key, value, reply) => {
                plan.batch.insert(key, value);
                Reply::Insert(reply, Ok(()))
            }
            Job::PruneEvents(doomed, newest, reply) => {
                let count = doomed.len() as u64;
                for key in doomed {
                    plan.batch.remove(key);
                }
                plan.batch.insert(
                    keys::setting(keys::EVENTS_PRUNED_THROUGH),
                    newest.to_be_bytes(),
                );
                Reply::Remove(reply, Ok(count))
            }
        });
    }
    if let Err(e) = plan.finish() {
        tracing::error!(cause = %e, "commit failed");
        replies.iter_mut().for_each(|r| r.fail(&e));
    }
    tracing::trace!(
        batch = count,
        elapsed_us = started.elapsed().as_micros() as u64,
        "batch committed"
    );
    replies
}

impl Plan<'_> {
    fn tree(&self) -> &Tree {
        &self.inner.tree
    }

    /// The comment as this batch leaves it so far.
    fn record(&self, id: CommentId) -> Result<Option<StoredComment>> {
        if let Some(changed) = self.records.get(&id) {
            return Ok(changed.clone());
        }
        self.tree()
            .get(keys::comment(id))
            .map_err(backend)?
            .map(|bytes| record::decode(&bytes))
            .transpose()
    }

    fn author_stats(&mut self, email_hash: &[u8; 32]) -> Result<&mut AuthorStats> {
        if !matches!(self.stats.get(email_hash), Some(Some(_))) {
            let stored = match self
                .tree()
                .get(keys::author_stats(email_hash))
                .map_err(backend)?
            {
                Some(bytes) => AuthorStats::decode(bytes.as_ref())
                    .map_err(|_| StoreError::Corrupt("author stats".into()))?,
                None => AuthorStats::default(),
            };
            self.stats.insert(*email_hash, Some(stored));
        }
        match self.stats.get_mut(email_hash) {
            Some(Some(stats)) => Ok(stats),
            _ => Err(StoreError::Corrupt("author stats".into())),
        }
    }

    /// The next queue event's sequence. The committer is the only writer and `generate_id`
    /// increases across restarts, so sequences follow commit order.
    fn sequence(&self) -> Result<u64> {
        self.tree().generate_id().map_err(backend)
    }

    /// Appends a queue event to the batch.
    fn log(&mut self, sequence: u64, event: QueueChange) {
        self.batch
            .insert(keys::event(sequence), events::encode(&event));
    }

    fn count(&mut self, status: Status, by: i64) {
        self.counts[status as usize - 1] += by;
    }

    /// The comment stored (or inserted earlier in this batch) with this idempotency key.
    fn key_holder(&self, entry: &[u8]) -> Result<Option<CommentId>> {
        if let Some(holder) = self.keys_taken.get(entry) {
            return Ok(Some(*holder));
        }
        match self.tree().get(entry).map_err(backend)? {
            Some(id) => record::id_from(&id)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("idempotency entry".into())),
            None => Ok(None),
        }
    }

    fn insert(&mut self, comment: StoredComment, record: Vec<u8>, digest: [u8; 32]) -> Result<()> {
        let id = comment.id;
        let hash = comment.email_hash;
        // A retry carrying a stored key is answered from that comment, before it could be
        // taken for a duplicate.
        let key_entry = comment
            .receipt
            .idempotency
            .as_ref()
            .map(|i| keys::idempotency(&i.key));
        if let Some(entry) = &key_entry
            && let Some(holder) = self.key_holder(entry)?
        {
            return Err(StoreError::KeyTaken(holder));
        }
        let prefix = keys::duplicate_prefix(&hash, &digest);
        if let Some(existing) = self.taken.get(&prefix) {
            return Err(StoreError::Duplicate(*existing));
        }
        if let Some(entry) = self.tree().scan_prefix(prefix).keys().next() {
            let key = entry.map_err(backend)?;
            let existing = keys::trailing_id(&key).unwrap_or(id);
            return Err(StoreError::Duplicate(existing));
        }
        let s = &comment.submission;
        if let Some(parent) = s.parent_id {
            let ok = self.record(parent)?.is_some_and(|p| {
                p.verdict.status == Status::Approved && p.submission.post_id == s.post_id
            });
            if !ok {
                return Err(StoreError::ParentGone);
            }
        }
        let status = comment.verdict.status;
        let event = match status {
            Status::Approved => None,
            _ => Some(self.sequence()?),
        };
        if let Some(sequence) = event {
            self.log(
                sequence,
                QueueChange {
                    comment_id: id,
                    at_ms: comment.created_at_ms,
                    change: Change::Submitted,
                    to: status,
                },
            );
        }
        self.batch.insert(keys::comment(id), record);
        self.batch
            .insert(keys::post(&s.post_id, status, id), &[] as &[u8]);
        self.batch
            .insert(keys::status(status, id), keys::status_since(&comment));
        self.batch.insert(
            &keys::author_comment(&hash, &digest, id)[..],
            keys::author_entry(status),
        );
        self.taken.insert(prefix, id);
        if let Some(entry) = key_entry {
            self.batch.insert(entry.as_slice(), id.as_bytes());
            self.keys_taken.insert(entry, id);
        }
        *self
            .versions
            .entry(comment.policy_version.clone())
            .or_default() += 1;
        self.count(status, 1);
        *self
            .activity
            .entry((Kind::Submission, comment.created_at_ms / 1000))
            .or_default() += 1;
        Ok(())
    }

    /// Stores a comment of an imported history unless its id is taken (see
    /// `Storage::import_batch`).
    fn import(&mut self, imported: ImportedComment) -> Result<ImportOutcome> {
        let ImportedComment { comment, label } = imported;
        let id = comment.id;
        if self.record(id)?.is_some() {
            return Ok(ImportOutcome::AlreadyPresent);
        }
        let s = &comment.submission;
        let status = comment.verdict.status;
        let hash = comment.email_hash;
        if hash != NO_AUTHOR {
            let digest = crate::store::duplicate_digest(&s.post_id, &hash, &s.content);
            self.batch.insert(
                &keys::author_comment(&hash, &digest, id)[..],
                keys::author_entry(status),
            );
        }
        self.batch
            .insert(keys::comment(id), record::encode(&comment));
        self.batch
            .insert(keys::post(&s.post_id, status, id), &[] as &[u8]);
        self.batch
            .insert(keys::status(status, id), keys::status_since(&comment));
        if let Some(label) = label {
            self.batch
                .insert(keys::label(id), labels::encode(&comment, label, now_ms()));
        }
        *self
            .versions
            .entry(comment.policy_version.clone())
            .or_default() += 1;
        self.count(status, 1);
        *self
            .activity
            .entry((Kind::Submission, comment.created_at_ms / 1000))
            .or_default() += 1;
        self.records.insert(id, Some(comment));
        Ok(ImportOutcome::Imported)
    }

    /// Approval counts toward the author's record (first-time author rule): the bit of the
    /// comment's author entry, or the stats entry for an entry an earlier build wrote (or
    /// one this batch wrote, which the tree does not show yet).
    fn count_approval(&mut self, comment: &StoredComment) -> Result<()> {
        let hash = &comment.email_hash;
        let s = &comment.submission;
        let digest = crate::store::duplicate_digest(&s.post_id, hash, &s.content);
        let key = keys::author_comment(hash, &digest, comment.id);
        match self.tree().get(key).map_err(backend)?.as_deref() {
            Some([entry]) => {
                self.batch.insert(&key[..], [entry | keys::EVER_APPROVED]);
            }
            _ => self.author_stats(hash)?.approved += 1,
        }
        Ok(())
    }

    fn moderate(&mut self, request: &DecisionRequest) -> Result<Decided> {
        let id = request.id;
        let mut comment = self.record(id)?.ok_or(StoreError::NotFound(id))?;
        let (from, entry) = decide::apply(&mut comment, request)?;
        let to = comment.verdict.status;
        let sequence = self.tree().generate_id().map_err(backend)?;
        let event = self.sequence()?;
        if to == Status::Approved && comment.email_hash != NO_AUTHOR {
            self.count_approval(&comment)?;
        }
        let post = &comment.submission.post_id;
        self.batch
            .insert(keys::comment(id), record::encode(&comment));
        self.batch.remove(keys::post(post, from, id));
        self.batch.insert(keys::post(post, to, id), &[] as &[u8]);
        self.batch.remove(keys::status(from, id));
        self.batch
            .insert(keys::status(to, id), keys::status_since(&comment));
        self.count(from, -1);
        self.count(to, 1);
        match request.action.label() {
            Some(label) => self.batch.insert(
                keys::label(id),
                labels::encode(&comment, label, request.at_ms),
            ),
            None if request.action.withdraws_label(to) => self.batch.remove(keys::label(id)),
            None => {}
        }
        self.batch
            .insert(keys::audit(request.at_ms, sequence), audit::encode(&entry));
        self.batch.insert(
            &keys::audit_by_comment(id, request.at_ms, sequence)[..],
            &[] as &[u8],
        );
        self.log(
            event,
            QueueChange {
                comment_id: id,
                at_ms: request.at_ms,
                change: Change::Decided {
                    action: request.action,
                    from,
                },
                to,
            },
        );
        *self
            .activity
            .entry((Kind::Decision, request.at_ms / 1000))
            .or_default() += 1;
        self.records.insert(id, Some(comment.clone()));
        Ok(Decided { comment, from })
    }

    fn remove(&mut self, job: &RemoveJob) -> Result<u64> {
        let mut removed = 0;
        for key in &job.author_keys {
            self.batch.remove(key.as_ref());
        }
        for &id in &job.ids {
            let Some(comment) = self.record(id)? else {
                continue;
            };
            let doomed = match job.removal {
                Removal::Author(hash) => comment.email_hash == hash,
                Removal::ExpiredBefore(cutoff) => {
                    matches!(comment.verdict.status, Status::Spam | Status::Trash)
                        && decide::last_change_ms(&comment) < cutoff
                }
            };
            if doomed {
                self.delete(&comment);
                removed += 1;
            }
        }
        if let (true, Removal::Author(hash)) = (job.drop_author_stats, job.removal) {
            self.batch.remove(keys::author_stats(&hash));
            self.stats.insert(hash, None);
        }
        Ok(removed)
    }

    /// Deletes a comment with every entry that names it, except its audit entries: those
    /// record what moderators did and hold no personal data.
    fn delete(&mut self, comment: &StoredComment) {
        let id = comment.id;
        let s = &comment.submission;
        let status = comment.verdict.status;
        let digest = crate::store::duplicate_digest(&s.post_id, &comment.email_hash, &s.content);
        self.batch.remove(keys::comment(id));
        self.batch.remove(keys::post(&s.post_id, status, id));
        self.batch.remove(keys::status(status, id));
        self.batch.remove(keys::label(id));
        self.batch
            .remove(&keys::author_comment(&comment.email_hash, &digest, id)[..]);
        if let Some(idempotency) = &comment.receipt.idempotency {
            self.batch.remove(keys::idempotency(&idempotency.key));
        }
        *self
            .versions
            .entry(comment.policy_version.clone())
            .or_default() -= 1;
        self.count(status, -1);
        self.records.insert(id, None);
    }

    /// Adds the counters and stats, applies the batch and flushes.
    fn finish(mut self) -> Result<()> {
        for (hash, stats) in std::mem::take(&mut self.stats) {
            match stats {
                Some(stats) => self
                    .batch
                    .insert(keys::author_stats(&hash), stats.encode_to_vec()),
                None => self.batch.remove(keys::author_stats(&hash)),
            }
        }
        for status in Status::ALL {
            let change = self.counts[status as usize - 1];
            if change != 0 {
                let key = keys::count(status);
                let now = keys::read_u64(self.tree().get(key).map_err(backend)?.as_deref());
                let next = now.saturating_add_signed(change);
                self.batch.insert(key, next.to_be_bytes());
            }
        }
        for (version, change) in std::mem::take(&mut self.versions) {
            let key = keys::policy_count(&version);
            let now = keys::read_u64(self.tree().get(&key).map_err(backend)?.as_deref());
            match now.saturating_add_signed(change) {
                0 => self.batch.remove(key),
                next => self.batch.insert(key, next.to_be_bytes()),
            }
        }
        for ((kind, second), added) in std::mem::take(&mut self.activity) {
            let key = keys::activity(kind, second);
            let now = keys::read_u64(self.tree().get(key).map_err(backend)?.as_deref());
            self.batch.insert(key, (now + added).to_be_bytes());
        }
        self.inner.tree.apply(self.batch).map_err(backend)?;
        Ok(())
    }
}

//! A full consistency check: every comment sits in exactly the index entries its record
//! implies, no index entry names nothing, and the maintained counters match the records.

use std::collections::HashMap;

use super::handles::{Inner, backend};
use super::keys;
use crate::comment::{Status, StoredComment};
use crate::store::{Consistency, Result, duplicate_digest, record};

impl Inner {
    pub(super) fn check_consistency(&self) -> Result<Consistency> {
        let mut report = Consistency::default();
        let mut counts: HashMap<Status, u64> = HashMap::new();
        let mut versions: HashMap<String, u64> = HashMap::new();
        for entry in self.tree.scan_prefix([keys::COMMENT]) {
            let (_, bytes) = entry.map_err(backend)?;
            let comment = record::decode(&bytes)?;
            report.comments += 1;
            *counts.entry(comment.verdict.status).or_default() += 1;
            self.check_status_entries(&comment, &mut report)?;
            self.check_lookups(&comment, &mut report)?;
            *versions.entry(comment.policy_version).or_default() += 1;
        }
        for (space, name) in [
            (keys::POST, "post"),
            (keys::STATUS, "status"),
            (keys::AUTHOR, "author"),
        ] {
            self.check_index(space, name, &mut report)?;
        }
        self.check_idempotency_entries(&mut report)?;
        self.check_counters(&counts, versions, &mut report)?;
        Ok(report)
    }

    /// A comment is in the post and status indexes under its own status and no other, and
    /// its status entry's time (which decides expiry) is its last change.
    fn check_status_entries(
        &self,
        comment: &StoredComment,
        report: &mut Consistency,
    ) -> Result<()> {
        let id = comment.id;
        let status = comment.verdict.status;
        for other in Status::ALL {
            let post = keys::post(&comment.submission.post_id, other, id);
            let in_post = self.tree.contains_key(post).map_err(backend)?;
            let in_status = self
                .tree
                .contains_key(keys::status(other, id))
                .map_err(backend)?;
            let expected = other == status;
            for (index, present) in [("post", in_post), ("status", in_status)] {
                if present != expected {
                    let what = if expected { "missing" } else { "extra" };
                    report
                        .problems
                        .push(format!("{id}: {index} index {what} under {other}"));
                }
            }
        }
        // The status entry's time (empty when an earlier build wrote it) decides expiry.
        let since = self
            .tree
            .get(keys::status(status, id))
            .map_err(backend)?
            .and_then(|value| keys::since_of_status(&value));
        if since.is_some_and(|t| t != crate::store::decide::last_change_ms(comment)) {
            report
                .problems
                .push(format!("{id}: status entry's time is not its last change"));
        }
        Ok(())
    }

    /// A comment can be found by its author (for duplicates and erasure) and by its
    /// idempotency key, when it has them.
    fn check_lookups(&self, comment: &StoredComment, report: &mut Consistency) -> Result<()> {
        let id = comment.id;
        let s = &comment.submission;
        let digest = duplicate_digest(&s.post_id, &comment.email_hash, &s.content);
        let author = keys::author_comment(&comment.email_hash, &digest, id);
        // Comments without an author (imported without an email) have no author entry.
        if comment.email_hash != crate::store::NO_AUTHOR
            && !self.tree.contains_key(author).map_err(backend)?
        {
            report.problems.push(format!("{id}: author entry missing"));
        }
        if let Some(idempotency) = &comment.receipt.idempotency {
            let entry = self.tree.get(keys::idempotency(&idempotency.key));
            if entry.map_err(backend)?.as_deref() != Some(id.as_bytes().as_slice()) {
                report
                    .problems
                    .push(format!("{id}: idempotency entry missing"));
            }
        }
        Ok(())
    }

    /// The maintained counters (comments per policy version, per status) match the counts
    /// taken over the records.
    fn check_counters(
        &self,
        counts: &HashMap<Status, u64>,
        versions: HashMap<String, u64>,
        report: &mut Consistency,
    ) -> Result<()> {
        let mut counted = self.policy_version_counts()?;
        counted.sort();
        let mut actual: Vec<(String, u64)> = versions.into_iter().collect();
        actual.sort();
        if counted != actual {
            report.problems.push(format!(
                "policy version counts say {counted:?}, records say {actual:?}"
            ));
        }
        for status in Status::ALL {
            let counted = self.status_count(status)?;
            let actual = counts.get(&status).copied().unwrap_or(0);
            if counted != actual {
                report.problems.push(format!(
                    "{status} count says {counted}, records say {actual}"
                ));
            }
        }
        Ok(())
    }

    /// Every idempotency entry names a stored comment that holds its key.
    fn check_idempotency_entries(&self, report: &mut Consistency) -> Result<()> {
        for entry in self.tree.scan_prefix([keys::IDEMPOTENCY]) {
            let (key, value) = entry.map_err(backend)?;
            let holds = match record::id_from(&value) {
                Some(id) => self.get(id)?.is_some_and(|c| {
                    c.receipt
                        .idempotency
                        .is_some_and(|i| i.key.as_bytes() == &key[1..])
                }),
                None => false,
            };
            if !holds {
                report.problems.push(format!(
                    "idempotency entry {key:?} names no comment holding it"
                ));
            }
        }
        Ok(())
    }

    /// Every entry of an index space names a stored comment.
    fn check_index(&self, space: u8, name: &str, report: &mut Consistency) -> Result<()> {
        for key in self.tree.scan_prefix([space]).keys() {
            let key = key.map_err(backend)?;
            if space == keys::AUTHOR && key.len() != keys::DUPLICATE_PREFIX + 16 {
                continue; // the author's stats
            }
            let named = keys::trailing_id(&key);
            let present = match named {
                Some(id) => self.tree.contains_key(keys::comment(id)).map_err(backend)?,
                None => false,
            };
            if !present {
                report
                    .problems
                    .push(format!("{name} index entry {key:?} names no comment"));
            }
        }
        Ok(())
    }
}

//! Reads: point lookups and index scans, answered straight from sled on the caller's thread.
//! Only writes go through the committer.

use prost::Message as _;

use super::{AuthorStats, Result, Store, StoreError, audit, keys, labels, record};
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::AuditEntry;

impl Store {
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

    /// The `meta` entry under `key`, if any.
    pub fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.meta.get(key)?.map(|v| v.to_vec()))
    }
}

//! Reads: point lookups and prefix scans of the one tree, answered on the caller's thread.
//! Only writes go through the committer.

use prost::Message as _;

use super::Scans;
use super::engine::{Entry, Value};
use super::handles::{Inner, backend};
use super::keys::{self, Kind};
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::AuditEntry;
use crate::store::{
    Activity, AuditCursor, AuditPage, AuthorStats, EventPage, EventWindow, LabelledText,
    LoggedEvent, Page, Result, StoreError, audit, events, labels, record,
};

impl Inner {
    pub(super) fn get(&self, id: CommentId) -> Result<Option<StoredComment>> {
        self.tree
            .get(keys::comment(id))
            .map_err(backend)?
            .map(|bytes| record::decode(&bytes))
            .transpose()
    }

    /// The comment an index key names; a missing one means the indexes are damaged.
    fn named(&self, key: &[u8]) -> Result<StoredComment> {
        let id = keys::trailing_id(key).ok_or_else(|| StoreError::Corrupt("index key".into()))?;
        self.get(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("an index names missing {id}")))
    }

    pub(super) fn find_duplicate(
        &self,
        email_hash: &[u8; 32],
        digest: &[u8; 32],
    ) -> Result<Option<CommentId>> {
        let prefix = keys::duplicate_prefix(email_hash, digest);
        match self.tree.scan_prefix(prefix).keys().next() {
            Some(key) => Ok(keys::trailing_id(&key.map_err(backend)?)),
            None => Ok(None),
        }
    }

    pub(super) fn first_comment_ms(&self, post_id: &str) -> Result<Option<u64>> {
        let mut first: Option<u64> = None;
        for status in Status::ALL {
            let prefix = keys::post_status_prefix(post_id, status);
            if let Some(key) = self.tree.scan_prefix(&prefix).keys().next() {
                let id = keys::trailing_id(&key.map_err(backend)?)
                    .ok_or_else(|| StoreError::Corrupt("post key".into()))?;
                let at = id.created_ms();
                first = Some(first.map_or(at, |f| f.min(at)));
            }
        }
        Ok(first)
    }

    pub(super) fn list_thread(
        &self,
        post_id: &str,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        let prefix = keys::post_status_prefix(post_id, Status::Approved);
        let start = match after {
            Some(id) => {
                let mut key = keys::post(post_id, Status::Approved, id);
                key.push(0); // the smallest key after `after`
                key
            }
            None => prefix.clone(),
        };
        let mut page = Page::default();
        for entry in self.tree.range(start..) {
            let (key, _) = entry.map_err(backend)?;
            if !key.starts_with(&prefix) {
                break;
            }
            if page.comments.len() == limit {
                page.more = true;
                break;
            }
            page.comments.push(self.named(&key)?);
        }
        Ok(page)
    }

    /// The author's newest comments. The author index is ordered by text digest, not time:
    /// every entry is read (an author's comments, bounded by flood control), then sorted.
    pub(super) fn list_by_author(
        &self,
        email_hash: &[u8; 32],
        limit: usize,
    ) -> Result<Vec<StoredComment>> {
        let mut comments = Vec::new();
        for key in self
            .tree
            .scan_prefix(keys::author_comments(email_hash))
            .keys()
        {
            let key = key.map_err(backend)?;
            comments.push(self.named(&key)?);
        }
        comments.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then(b.id.cmp(&a.id)));
        comments.truncate(limit);
        Ok(comments)
    }

    pub(super) fn list_queue(
        &self,
        status: Status,
        post_id: Option<&str>,
        before: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        let prefix = queue_prefix(status, post_id);
        let end = match before {
            Some(id) => [prefix.as_slice(), id.as_bytes()].concat(),
            None => keys::prefix_end(&prefix).unwrap_or_else(|| vec![u8::MAX; 64]),
        };
        self.page(self.tree.range(prefix..end).rev(), limit)
    }

    pub(super) fn list_queue_oldest(
        &self,
        status: Status,
        post_id: Option<&str>,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        let prefix = queue_prefix(status, post_id);
        let end = keys::prefix_end(&prefix).unwrap_or_else(|| vec![u8::MAX; 64]);
        // Just past `after`'s key: keys end with the id, so a trailing zero byte is next.
        let start = match after {
            Some(id) => [prefix.as_slice(), id.as_bytes(), &[0]].concat(),
            None => prefix,
        };
        self.page(self.tree.range(start..end), limit)
    }

    /// Up to `limit` comments named by the index `entries`, in their order, and whether more
    /// follow.
    fn page(&self, entries: impl Iterator<Item = Entry>, limit: usize) -> Result<Page> {
        let mut page = Page::default();
        for entry in entries {
            let (key, _) = entry.map_err(backend)?;
            if page.comments.len() == limit {
                page.more = true;
                break;
            }
            page.comments.push(self.named(&key)?);
        }
        Ok(page)
    }

    pub(super) fn list_audit(
        &self,
        comment: Option<CommentId>,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<AuditPage> {
        let before = before.unwrap_or(AuditCursor {
            at_ms: u64::MAX,
            sequence: u64::MAX,
        });
        let mut page = AuditPage::default();
        let mut last = None;
        let mut take = |at_ms: u64, sequence: u64, value: &[u8]| -> Result<bool> {
            if page.entries.len() == limit {
                page.next = last;
                return Ok(false);
            }
            page.entries.push(audit::decode(value)?);
            last = Some(AuditCursor { at_ms, sequence });
            Ok(true)
        };
        match comment {
            None => {
                let range = keys::audit(0, 0)..keys::audit(before.at_ms, before.sequence);
                for entry in self.tree.range(range).rev() {
                    let (key, value) = entry.map_err(backend)?;
                    let (at_ms, sequence) = audit_time(&key[1..])?;
                    if !take(at_ms, sequence, &value)? {
                        break;
                    }
                }
            }
            Some(id) => {
                let range = keys::audit_by_comment(id, 0, 0)
                    ..keys::audit_by_comment(id, before.at_ms, before.sequence);
                for entry in self.tree.range(range).rev() {
                    let (key, _) = entry.map_err(backend)?;
                    let (at_ms, sequence) = audit_time(&key[17..])?;
                    let value = self
                        .tree
                        .get(keys::audit(at_ms, sequence))
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::Corrupt("audit index".into()))?;
                    if !take(at_ms, sequence, &value)? {
                        break;
                    }
                }
            }
        }
        Ok(page)
    }

    pub(super) fn audit_since(&self, since_ms: u64) -> Result<Vec<AuditEntry>> {
        let end = keys::prefix_end(&[keys::AUDIT]).unwrap_or_default();
        self.tree
            .range(keys::audit(since_ms, 0).to_vec()..end)
            .map(|entry| audit::decode(&entry.map_err(backend)?.1))
            .collect()
    }

    pub(super) fn labels(&self) -> Result<Vec<LabelledText>> {
        self.tree
            .scan_prefix([keys::LABEL])
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                labels::decode(&key[1..], &value)
            })
            .collect()
    }

    pub(super) fn label(&self, id: CommentId) -> Result<Option<LabelledText>> {
        let key = keys::label(id);
        let value = self.tree.get(key).map_err(backend)?;
        value
            .map(|bytes| labels::decode(&key[1..], &bytes))
            .transpose()
    }

    /// The stats entry (comments stored by earlier builds) plus what the author's entries
    /// say (see [`keys::author_entry`]). Reads every entry of the author's.
    pub(super) fn author_stats(&self, email_hash: &[u8; 32]) -> Result<AuthorStats> {
        let mut stats = match self
            .tree
            .get(keys::author_stats(email_hash))
            .map_err(backend)?
        {
            None => AuthorStats::default(),
            Some(bytes) => AuthorStats::decode(bytes.as_ref())
                .map_err(|_| StoreError::Corrupt("author stats".into()))?,
        };
        for entry in self.tree.scan_prefix(keys::author_comments(email_hash)) {
            let (_, value) = entry.map_err(backend)?;
            if let [entry] = value.as_ref() {
                count_author_entry(&mut stats, *entry)?;
            }
        }
        Ok(stats)
    }

    pub(super) fn status_count(&self, status: Status) -> Result<u64> {
        let value = self.tree.get(keys::count(status)).map_err(backend)?;
        Ok(keys::read_u64(value.as_deref()))
    }

    /// The comment stored with this idempotency key, if any.
    pub(super) fn find_by_idempotency_key(&self, key: &str) -> Result<Option<StoredComment>> {
        let Some(id) = self.tree.get(keys::idempotency(key)).map_err(backend)? else {
            return Ok(None);
        };
        let id =
            record::id_from(&id).ok_or_else(|| StoreError::Corrupt("idempotency entry".into()))?;
        self.get(id)
    }

    /// Every policy version's count of stored comments, most first.
    pub(super) fn policy_version_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut counts = Vec::new();
        for entry in self.tree.scan_prefix([keys::POLICY_COUNT]) {
            let (key, value) = entry.map_err(backend)?;
            let version = String::from_utf8_lossy(&key[1..]).into_owned();
            counts.push((version, keys::read_u64(Some(&value))));
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(counts)
    }

    pub(super) fn activity(
        &self,
        start_ms: u64,
        interval_ms: u64,
        intervals: usize,
    ) -> Result<Vec<Activity>> {
        let interval_ms = interval_ms.max(1);
        let end_ms = start_ms.saturating_add(interval_ms.saturating_mul(intervals as u64));
        let mut buckets = vec![Activity::default(); intervals];
        for kind in [Kind::Submission, Kind::Decision] {
            let range =
                keys::activity(kind, start_ms / 1000)..keys::activity(kind, end_ms.div_ceil(1000));
            for entry in self.tree.range(range) {
                let (key, value) = entry.map_err(backend)?;
                let second = keys::read_u64(key.get(2..));
                let at = (second * 1000).max(start_ms);
                let Some(bucket) = buckets.get_mut(((at - start_ms) / interval_ms) as usize) else {
                    continue;
                };
                let n = keys::read_u64(Some(&value));
                match kind {
                    Kind::Submission => bucket.submissions += n,
                    Kind::Decision => bucket.decisions += n,
                }
            }
        }
        Ok(buckets)
    }
}

fn audit_time(bytes: &[u8]) -> Result<(u64, u64)> {
    let corrupt = || StoreError::Corrupt("audit key".into());
    let at: [u8; 8] = bytes
        .get(..8)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let seq: [u8; 8] = bytes
        .get(8..16)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    Ok((u64::from_be_bytes(at), u64::from_be_bytes(seq)))
}

impl Inner {
    /// See [`crate::store::Storage::events_after`].
    pub(super) fn events_after(&self, after: Option<u64>, limit: usize) -> Result<EventPage> {
        let start = match after {
            // Nothing follows the last sequence there is.
            Some(u64::MAX) => [keys::EVENT + 1].to_vec(),
            Some(after) => keys::event(after + 1).to_vec(),
            None => vec![keys::EVENT],
        };
        let end = vec![keys::EVENT + 1];
        let mut events = Vec::new();
        for entry in self.tree.range(start..end).take(limit) {
            let (key, value) = entry.map_err(backend)?;
            let sequence = keys::event_sequence(&key)
                .ok_or_else(|| StoreError::Corrupt("queue event key".into()))?;
            events.push(LoggedEvent {
                sequence,
                event: events::decode(&value)?,
            });
        }
        let newest = match self.tree.scan_prefix([keys::EVENT]).keys().next_back() {
            Some(key) => keys::event_sequence(&key.map_err(backend)?),
            None => None,
        };
        Ok(EventPage {
            events,
            newest,
            pruned_through: self.pruned_through()?,
        })
    }

    /// The newest pruned event sequence, if any was pruned.
    pub(super) fn pruned_through(&self) -> Result<Option<u64>> {
        let value = self
            .tree
            .get(keys::setting(keys::EVENTS_PRUNED_THROUGH))
            .map_err(backend)?;
        Ok(value.map(|v| keys::read_u64(Some(&v))))
    }

    /// The keys of events outside `window` as of `now_ms`, oldest first.
    pub(super) fn events_outside(
        &self,
        window: EventWindow,
        now_ms: u64,
        scans: &Scans,
    ) -> Result<Vec<Value>> {
        let mut total = 0u64;
        for key in self.tree.scan_prefix([keys::EVENT]).keys() {
            key.map_err(backend)?;
            scans.go_on()?;
            total += 1;
        }
        let cutoff = now_ms.saturating_sub(window.keep_ms);
        let mut doomed = Vec::new();
        for entry in self
            .tree
            .scan_prefix([keys::EVENT])
            .take(total.saturating_sub(window.keep_count) as usize)
        {
            let (key, value) = entry.map_err(backend)?;
            scans.go_on()?;
            if events::decode(&value)?.at_ms >= cutoff {
                break;
            }
            doomed.push(key);
        }
        Ok(doomed)
    }

    /// SPAM and TRASH comments that were last changed before `cutoff_ms`.
    pub(super) fn expired(&self, cutoff_ms: u64, scans: &Scans) -> Result<Vec<CommentId>> {
        let mut ids = Vec::new();
        for status in [Status::Spam, Status::Trash] {
            for entry in self.tree.scan_prefix(keys::status_prefix(status)) {
                let (key, since) = entry.map_err(backend)?;
                scans.go_on()?;
                let Some(id) = keys::trailing_id(&key) else {
                    continue;
                };
                let since = match keys::since_of_status(&since) {
                    Some(since) => since,
                    // Written before the index held the time: the record tells.
                    None => match self.get(id)? {
                        Some(comment) => crate::store::decide::last_change_ms(&comment),
                        None => continue,
                    },
                };
                if since < cutoff_ms {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }
}

/// The index prefix of one status's queue, of one post or of all.
fn queue_prefix(status: Status, post_id: Option<&str>) -> Vec<u8> {
    match post_id {
        Some(post) => keys::post_status_prefix(post, status),
        None => keys::status_prefix(status).to_vec(),
    }
}

/// Counts one author entry of this layout into `stats`.
fn count_author_entry(stats: &mut AuthorStats, entry: u8) -> Result<()> {
    let submitted = Status::from_byte(entry & !keys::EVER_APPROVED)
        .ok_or_else(|| StoreError::Corrupt("author entry".into()))?;
    // As `AuthorStats::count_submission`, except that approval is the entry's own bit.
    stats.submitted += 1;
    match submitted {
        Status::Approved => {}
        Status::Pending => stats.pending += 1,
        Status::Spam | Status::Trash => stats.spam += 1,
    }
    if entry & keys::EVER_APPROVED != 0 {
        stats.approved += 1;
    }
    Ok(())
}

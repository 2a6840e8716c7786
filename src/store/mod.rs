//! Durable storage behind one seam: the [`Storage`] trait names, in domain types, everything the
//! service asks of its database. The pipeline, the gRPC services, retention, the learner's
//! rebuild and `train --from-store` use only the trait, so a backend can be swapped without
//! touching them.
//!
//! # Backends
//! - [`embedded`]: the embedded default (sled) (one committer task, one atomic batch and one flush per
//!   group of writes).
//!
//! # Promises every backend keeps
//! - A write that returned `Ok` is on disk (see docs/reliability.md, Durability, for what that
//!   means per backend).
//! - A submission's duplicate check and its insert are one atomic step: two identical
//!   submissions racing store one comment.
//! - A moderation decision changes the record, the indexes, the author's stats, the label and
//!   the audit log together or not at all.

pub mod audit;
pub mod decide;
pub mod embedded;
mod error;
pub mod events;
pub mod labels;
pub mod postgres;
pub mod record;
mod submission_history;

pub use error::{Result, StoreError};
pub use events::{EventPage, EventWindow, LoggedEvent, QueueChange};
pub use labels::LabelledText;
pub use submission_history::{HistorySettings, SubmissionHistory};

use sha2::{Digest as _, Sha256};

use crate::comment::{CommentId, Label, Status, StoredComment};
use crate::moderation::{Action, AuditEntry};

/// The `email_hash` of a comment whose author gave no email address (imported history, such
/// as a Disqus export without emails): such a comment has no author, so no author index entry
/// and no author stats. The keyed hash of a real address is never all zeros.
pub const NO_AUTHOR: [u8; 32] = [0; 32];

/// A comment from another system's history (a WordPress or Disqus export, or a commentguard
/// export) to store as it was, without judging it again.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedComment {
    /// The comment with its original status, times and thread. Its id is derived from where it
    /// came from (see `crate::import`), so importing the same history again finds it.
    pub comment: StoredComment,
    /// The label its history teaches the classifier (spam for SPAM, ham for APPROVED), if any.
    pub label: Option<Label>,
}

/// What [`Storage::import_batch`] did with one comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Stored now.
    Imported,
    /// A comment with this id was already stored; nothing was written.
    AlreadyPresent,
}

/// Per-author counters, keyed by the email's HMAC so the address itself is not an index key.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct AuthorStats {
    /// Comments stored from this author.
    #[prost(uint64, tag = "1")]
    pub submitted: u64,
    /// Of those, approved when submitted or by a moderator since. (A comment approved again
    /// after being held counts once on sled, twice on PostgreSQL; the first-time author rule
    /// only asks whether it is 0.)
    #[prost(uint64, tag = "2")]
    pub approved: u64,
    /// Held for review when submitted.
    #[prost(uint64, tag = "3")]
    pub pending: u64,
    /// Marked spam when submitted.
    #[prost(uint64, tag = "4")]
    pub spam: u64,
}

impl AuthorStats {
    /// Counts one new comment stored with `status`.
    pub fn count_submission(&mut self, status: Status) {
        self.submitted += 1;
        match status {
            Status::Approved => self.approved += 1,
            Status::Pending => self.pending += 1,
            Status::Spam | Status::Trash => self.spam += 1,
        }
    }
}

/// One page of a listing, and whether more follow it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The comments of this page, in the listing's order.
    pub comments: Vec<StoredComment>,
    /// True when a further page exists (continue after the last comment of this one).
    pub more: bool,
}

/// Where a page of the audit log ends: the next page starts at the entry before it. The time
/// and a sequence number unique within the database order entries of the same millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditCursor {
    /// When the entry was made, in milliseconds since the epoch.
    pub at_ms: u64,
    /// The entry's sequence number.
    pub sequence: u64,
}

impl AuditCursor {
    /// The cursor as the opaque page token clients get (hex).
    pub fn to_token(self) -> String {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.at_ms.to_be_bytes());
        bytes[8..].copy_from_slice(&self.sequence.to_be_bytes());
        hex::encode(bytes)
    }

    /// The cursor a page token stands for, if it is one.
    pub fn from_token(token: &str) -> Option<Self> {
        let bytes: [u8; 16] = hex::decode(token).ok()?.try_into().ok()?;
        let (at, sequence) = bytes.split_at(8);
        Some(Self {
            at_ms: u64::from_be_bytes(at.try_into().ok()?),
            sequence: u64::from_be_bytes(sequence.try_into().ok()?),
        })
    }
}

/// One page of the audit log, newest first, and the cursor to continue from when more follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts, when there is one.
    pub next: Option<AuditCursor>,
}

/// A moderator's decision to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRequest {
    /// The comment decided on.
    pub id: CommentId,
    /// What the moderator does.
    pub action: Action,
    /// Who decided (the token's name).
    pub moderator: String,
    /// The moderator's note for the audit log.
    pub note: String,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
}

/// What a moderation decision did: the comment as it is now and the status it had.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The comment after the decision.
    pub comment: StoredComment,
    /// Its status before.
    pub from: Status,
}

/// Submissions and decisions in one interval of [`Storage::activity`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Comments received (stored) in the interval.
    pub submissions: u64,
    /// Moderator decisions made in the interval.
    pub decisions: u64,
}

/// What a consistency check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consistency {
    /// Comment records checked.
    pub comments: usize,
    /// Human-readable descriptions of every inconsistency; empty when all is well.
    pub problems: Vec<String>,
}

/// A change committed by another frontend of a shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteChange {
    /// A comment was stored held or as spam (approved ones are not queue events).
    Submitted(CommentId),
    /// A moderator decided on a comment.
    Decided {
        /// The comment.
        id: CommentId,
        /// What the moderator did.
        action: Action,
        /// The comment's status before.
        from: Status,
    },
    /// A label was stored without a decision (Akismet feedback, an imported status).
    Labelled(CommentId),
    /// Settings (such as the editable rules) changed.
    Settings,
    /// Changes may have been missed (the notification connection was lost and restored).
    Gap,
}

/// Everything the service asks of its database, in domain types. Implementations are shared
/// (`Arc<dyn Storage>`) by every handler and background task.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The layout version of the data this backend serves.
    fn schema_version(&self) -> u32;

    /// Whether the store can write now, following device failures and recoveries. The health
    /// service watches it (`server::report_health`): NOT_SERVING while it is false. A backend
    /// that never recovers in place keeps the default, always writable.
    fn writable(&self) -> tokio::sync::watch::Receiver<bool> {
        tokio::sync::watch::channel(true).1
    }

    /// Whether the store has paused every write and read for a moment (the embedded store's
    /// checkpoint). Admission lets requests wait through it (`admission::Slots`). A backend
    /// that never pauses keeps the default, never paused.
    fn paused(&self) -> tokio::sync::watch::Receiver<bool> {
        tokio::sync::watch::channel(false).1
    }

    /// Flood timers and campaign sightings kept where every frontend of this store sees them;
    /// `None` for a store only one process opens (the pipeline then keeps them in memory).
    fn shared_history(
        &self,
        _settings: HistorySettings,
    ) -> Option<std::sync::Arc<dyn SubmissionHistory>> {
        None
    }

    /// Changes other frontends made to this store, as they commit; `None` for a store only
    /// one process opens. Watchers, the learner and the rules follow them.
    fn remote_changes(&self) -> Option<tokio::sync::broadcast::Receiver<RemoteChange>> {
        None
    }

    /// Stores new comments, each with its indexes, and returns once they are on disk: one
    /// outcome per comment, in order. A comment with the same post, author and content as a
    /// stored one (or an earlier one of the same batch) gets [`StoreError::Duplicate`] and is
    /// not stored; the others are.
    ///
    /// A comment with an idempotency key (`receipt.idempotency`) that a stored comment (or an
    /// earlier one of the same batch) already holds gets [`StoreError::KeyTaken`] naming that
    /// comment, and is not stored; this check comes before the duplicate check and is part of
    /// the same atomic step, so two submissions racing with one key store one comment. The
    /// key is stored with the comment (findable by [`Storage::find_by_idempotency_key`]) and
    /// goes when the comment goes (erasure, purge). Each insert also counts one comment for
    /// its `policy_version` (see [`Storage::policy_version_counts`]).
    async fn insert_batch(&self, comments: Vec<StoredComment>) -> Vec<Result<()>>;

    /// Stores one new comment (see [`Storage::insert_batch`]).
    ///
    /// # Errors
    /// [`StoreError::Duplicate`], [`StoreError::Closed`] during shutdown, storage failures.
    async fn insert(&self, comment: StoredComment) -> Result<()> {
        self.insert_batch(vec![comment])
            .await
            .pop()
            .unwrap_or(Err(StoreError::Closed))
    }

    /// Applies a moderator's decision atomically: status compare-and-set, index moves, author
    /// stats, label and audit entry; on disk before this returns.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::IllegalTransition`] (nothing is written),
    /// [`StoreError::Closed`] during shutdown; storage failures.
    async fn moderate(&self, decision: DecisionRequest) -> Result<Decided>;

    /// One comment by id.
    async fn get(&self, id: CommentId) -> Result<Option<StoredComment>>;

    /// The stored comment with the same post, author and content, if any.
    async fn find_duplicate(
        &self,
        post_id: &str,
        email_hash: &[u8; 32],
        content: &str,
    ) -> Result<Option<CommentId>>;

    /// The stored comment that holds this idempotency key (exact bytes; keys are one
    /// namespace for the whole store), if any: whatever its status now, with the `receipt`
    /// it was stored with.
    async fn find_by_idempotency_key(&self, key: &str) -> Result<Option<StoredComment>>;

    /// How many stored comments each policy version judged, most first (ties by version).
    /// Comments stored before policy versions count under `""`. Deleting a comment (erasure,
    /// purge) uncounts it; a moderator's decision does not change it. Versions with no
    /// stored comment left are not listed.
    async fn policy_version_counts(&self) -> Result<Vec<(String, u64)>>;

    /// When the post's first stored comment (any status) was created, if it has any.
    async fn first_comment_ms(&self, post_id: &str) -> Result<Option<u64>>;

    /// Up to `limit` approved comments of one post, oldest first, after `after` (exclusive).
    async fn list_thread(
        &self,
        post_id: &str,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page>;

    /// Up to `limit` comments in one status, oldest first, after `after` (exclusive),
    /// optionally of one post only (the console's oldest-first queue).
    async fn list_queue_oldest(
        &self,
        status: Status,
        post_id: Option<&str>,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page>;

    /// Up to `limit` comments in one status, newest first, before `before` (exclusive),
    /// optionally of one post only.
    async fn list_queue(
        &self,
        status: Status,
        post_id: Option<&str>,
        before: Option<CommentId>,
        limit: usize,
    ) -> Result<Page>;

    /// The newest comments of one author (by email hash), newest first, at most `limit` (the
    /// console's author panel).
    async fn list_by_author(
        &self,
        email_hash: [u8; 32],
        limit: usize,
    ) -> Result<Vec<StoredComment>>;

    /// Deletes every comment, label and statistic of the author with this email hash and
    /// returns how many comments went. Runs in bounded steps; other writes go on meanwhile.
    async fn erase_author(&self, email_hash: [u8; 32]) -> Result<u64>;

    /// Deletes SPAM and TRASH comments whose last change (decision, or submission when none)
    /// is older than `cutoff_ms`; returns how many went.
    async fn purge_expired(&self, cutoff_ms: u64) -> Result<u64>;

    /// Up to `limit` audit entries, newest first, before `before`, optionally about one
    /// comment only.
    async fn list_audit(
        &self,
        comment: Option<CommentId>,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<AuditPage>;

    /// Every audit entry made at or after `since_ms`, oldest first.
    async fn audit_since(&self, since_ms: u64) -> Result<Vec<AuditEntry>>;

    /// Every moderator label, for retraining.
    async fn labels(&self) -> Result<Vec<LabelledText>>;

    /// The label kept under `id`, if any.
    async fn label(&self, id: CommentId) -> Result<Option<LabelledText>>;

    /// The stats of the author with this email hash (zero for an unknown author).
    async fn author_stats(&self, email_hash: &[u8; 32]) -> Result<AuthorStats>;

    /// How many comments each status holds, in [`Status::ALL`] order.
    async fn status_counts(&self) -> Result<[(Status, u64); 4]>;

    /// Submissions and decisions in `intervals` consecutive intervals of `interval_ms`, the
    /// first starting at `start_ms`.
    async fn activity(
        &self,
        start_ms: u64,
        interval_ms: u64,
        intervals: usize,
    ) -> Result<Vec<Activity>>;

    /// Checks that every index agrees with the records (after crashes, in tests).
    async fn check_consistency(&self) -> Result<Consistency>;

    /// The value of a named setting (such as the editable rules), if one was stored.
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Stores named settings together, durably, before returning.
    async fn put_settings(&self, settings: Vec<(String, Vec<u8>)>) -> Result<()>;

    /// Stores comments of an imported history as they were, one outcome per comment, in
    /// order, on disk before returning. Unlike [`Storage::insert_batch`] nothing is checked
    /// against other comments (no duplicate check, no parent check: history is not judged
    /// again). Per comment:
    /// - an id already stored (or earlier in the batch) gives [`ImportOutcome::AlreadyPresent`]
    ///   and writes nothing, so importing the same file twice adds nothing;
    /// - otherwise the record, its post and status indexes, the status count, one submission
    ///   in the activity counters at `created_at_ms`, and the label when given (as a
    ///   moderator decision's label would be) are written together; when `email_hash` is not
    ///   [`NO_AUTHOR`], also the author index entry and the author's stats
    ///   ([`AuthorStats::count_submission`] with the comment's status).
    ///
    /// No audit entry is written: nobody decided anything here.
    async fn import_batch(&self, comments: Vec<ImportedComment>) -> Vec<Result<ImportOutcome>>;

    /// Stores a label for a comment that is not stored here (feedback through the Akismet
    /// endpoint), replacing any label with the same `comment_id`; durable before returning.
    /// [`Storage::labels`] returns it like a moderator's label. It names no author, so
    /// [`Storage::erase_author`] does not find it.
    async fn put_label(&self, label: LabelledText) -> Result<()>;

    /// Up to `limit` queue events with a sequence above `after` (all kept events when
    /// `None`), oldest first, with the newest sequence and the newest pruned one. A reader
    /// that continues from the last sequence it saw never misses an event committed after it,
    /// unless `pruned_through` is at or past its position.
    async fn events_after(&self, after: Option<u64>, limit: usize) -> Result<EventPage>;

    /// Deletes queue events outside `window` as of `now_ms` (older than its age and not among
    /// its newest count) and remembers the newest pruned sequence; returns how many went.
    async fn prune_events(&self, window: EventWindow, now_ms: u64) -> Result<u64>;

    /// Refuses further writes and commits those already queued (sled: flushes, and reads
    /// still work; PostgreSQL: closes its connections).
    async fn close(&self) -> Result<()>;
}

/// Digest of post, author (email hash) and normalized content, so the same comment sent twice
/// is recognised without keeping a second copy of its text.
pub fn duplicate_digest(post_id: &str, email_hash: &[u8; 32], content: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update((post_id.len() as u64).to_be_bytes());
    digest.update(post_id.as_bytes());
    digest.update(email_hash);
    for word in content.split_whitespace() {
        digest.update(word.to_lowercase().as_bytes());
        digest.update(b" ");
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_digest_ignores_case_and_spacing_only() {
        let h = [1; 32];
        assert_eq!(
            duplicate_digest("p", &h, "Great  post!\n"),
            duplicate_digest("p", &h, "great post!")
        );
        assert_ne!(
            duplicate_digest("p", &h, "great post!"),
            duplicate_digest("q", &h, "great post!")
        );
        assert_ne!(
            duplicate_digest("p", &h, "great post!"),
            duplicate_digest("p", &[2; 32], "great post!")
        );
    }

    #[test]
    fn audit_cursors_round_trip_as_tokens() {
        let cursor = AuditCursor {
            at_ms: 1_700_000_000_000,
            sequence: 42,
        };
        assert_eq!(AuditCursor::from_token(&cursor.to_token()), Some(cursor));
        assert_eq!(AuditCursor::from_token("zz"), None);
        assert_eq!(AuditCursor::from_token("00"), None);
    }
}

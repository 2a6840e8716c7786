//! The key spaces of the one tree. Each key starts with a byte naming its space; within a
//! space, keys are built so that one prefix scan answers one question, and UUIDv7 ids (which
//! sort by creation time) make new comments' keys land at the end of their range.
//!
//! | space | key | value |
//! |---|---|---|
//! | comment | `c` id | record ([`crate::store::record`]) |
//! | post | `p` len(post) post status id | empty |
//! | status | `s` status id | when it last changed: u64 ms (empty when an earlier build wrote it) |
//! | author stats | `a` author `s` | [`crate::store::AuthorStats`] of the comments whose author entry is empty |
//! | author's comments | `a` author `d` digest id | [`author_entry`]: the status it was stored with, and whether it was ever approved (empty when an earlier build wrote it: counted in the stats entry) |
//! | label | `l` id | label ([`crate::store::labels`]) |
//! | audit | `u` time sequence | entry ([`crate::store::audit`]) |
//! | audit by comment | `v` id time sequence | empty |
//! | status count | `n` status | u64 |
//! | activity | `t` kind second | u64 |
//! | migration | `m` name | progress |
//! | setting | `g` name | value (e.g. the editable rules and their changes) |
//! | idempotency key | `k` key | id of the comment stored with it |
//! | policy count | `w` policy version | u64: stored comments it judged |
//! | queue event | `e` sequence | event ([`crate::store::events`]) |
//!
//! The author is the first 16 bytes of the email's keyed hash and the digest the first 8 of
//! the duplicate digest: one entry per comment serves both the duplicate check (a point
//! prefix) and erasure (the author's range), next to the author's stats.

use crate::comment::{CommentId, Status, StoredComment};

pub(super) const COMMENT: u8 = b'c';
pub(super) const POST: u8 = b'p';
pub(super) const STATUS: u8 = b's';
pub(super) const AUTHOR: u8 = b'a';
pub(super) const LABEL: u8 = b'l';
pub(super) const AUDIT: u8 = b'u';
pub(super) const AUDIT_BY_COMMENT: u8 = b'v';
pub(super) const COUNT: u8 = b'n';
pub(super) const ACTIVITY: u8 = b't';
pub(super) const MIGRATION: u8 = b'm';
pub(super) const SETTING: u8 = b'g';
pub(super) const IDEMPOTENCY: u8 = b'k';
pub(super) const POLICY_COUNT: u8 = b'w';
pub(super) const EVENT: u8 = b'e';

/// The setting holding the newest pruned event sequence.
pub(super) const EVENTS_PRUNED_THROUGH: &str = "queue_events.pruned_through";

const AUTHOR_STATS: u8 = b's';
const AUTHOR_COMMENT: u8 = b'd';

/// Bytes of the email hash that name an author in keys.
pub(super) const AUTHOR_BYTES: usize = 16;
/// Bytes of the duplicate digest kept per comment.
pub(super) const DIGEST_BYTES: usize = 8;

/// What an activity counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(super) enum Kind {
    Submission = 1,
    Decision = 2,
}

/// A setting's key: its name in the setting space.
pub(super) fn setting(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + name.len());
    key.push(SETTING);
    key.extend_from_slice(name.as_bytes());
    key
}

/// An idempotency key's entry: the key (at most 128 bytes, validated) in its space.
pub(super) fn idempotency(key: &str) -> Vec<u8> {
    let mut entry = Vec::with_capacity(1 + key.len());
    entry.push(IDEMPOTENCY);
    entry.extend_from_slice(key.as_bytes());
    entry
}

/// A policy version's counter of stored comments.
pub(super) fn policy_count(version: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + version.len());
    key.push(POLICY_COUNT);
    key.extend_from_slice(version.as_bytes());
    key
}

/// The migration entry that says policy counters were filled in for the comments stored
/// before they existed.
pub(super) const POLICY_COUNTS_DONE: &[u8] = b"mpolicy_counts";
/// A queue event's key: sequences are big-endian, so the space is in commit order.
pub(super) fn event(sequence: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&sequence.to_be_bytes());
    key
}

/// The sequence of an event key.
pub(super) fn event_sequence(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

pub(super) fn comment(id: CommentId) -> [u8; 17] {
    let mut key = [COMMENT; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// The post space's prefix of one post's comments in one status.
pub(super) fn post_status_prefix(post_id: &str, status: Status) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 2 + post_id.len() + 1 + 16);
    key.push(POST);
    // Post ids are at most 200 bytes (validated), so the length fits in a u16.
    let len = u16::try_from(post_id.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(post_id.as_bytes());
    key.push(status as u8);
    key
}

pub(super) fn post(post_id: &str, status: Status, id: CommentId) -> Vec<u8> {
    let mut key = post_status_prefix(post_id, status);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The range of one status's entries (the queue of that status).
pub(super) fn status_prefix(status: Status) -> [u8; 2] {
    [STATUS, status as u8]
}

pub(super) fn status(status: Status, id: CommentId) -> [u8; 18] {
    let mut key = [STATUS; 18];
    key[1] = status as u8;
    key[2..].copy_from_slice(id.as_bytes());
    key
}

/// A status entry's value: when the comment last changed, so the retention purge finds
/// expired SPAM and TRASH by reading the index alone, without decoding every record.
pub(super) fn status_since(comment: &StoredComment) -> [u8; 8] {
    crate::store::decide::last_change_ms(comment).to_be_bytes()
}

/// The time a status entry's value holds; `None` for the empty values earlier builds wrote.
pub(super) fn since_of_status(value: &[u8]) -> Option<u64> {
    value.try_into().ok().map(u64::from_be_bytes)
}

pub(super) fn author_prefix(email_hash: &[u8; 32]) -> [u8; 1 + AUTHOR_BYTES] {
    let mut key = [AUTHOR; 1 + AUTHOR_BYTES];
    key[1..].copy_from_slice(&email_hash[..AUTHOR_BYTES]);
    key
}

pub(super) fn author_stats(email_hash: &[u8; 32]) -> [u8; 2 + AUTHOR_BYTES] {
    let mut key = [AUTHOR_STATS; 2 + AUTHOR_BYTES];
    key[..1 + AUTHOR_BYTES].copy_from_slice(&author_prefix(email_hash));
    key
}

/// The prefix of the author's comments (for erasure).
pub(super) fn author_comments(email_hash: &[u8; 32]) -> [u8; 2 + AUTHOR_BYTES] {
    let mut key = author_stats(email_hash);
    key[1 + AUTHOR_BYTES] = AUTHOR_COMMENT;
    key
}

/// The bit of an author entry set once its comment was approved (when stored or later).
pub(super) const EVER_APPROVED: u8 = 0x80;

/// An author entry's value. The author's stats are counted from these entries, so a new
/// comment writes no stats entry (a read and a rewrite under a random key, per comment).
pub(super) fn author_entry(submitted: Status) -> [u8; 1] {
    let approved = if submitted == Status::Approved {
        EVER_APPROVED
    } else {
        0
    };
    [submitted as u8 | approved]
}

/// Length of a duplicate prefix: the author's comments with one digest.
pub(super) const DUPLICATE_PREFIX: usize = 2 + AUTHOR_BYTES + DIGEST_BYTES;

pub(super) fn duplicate_prefix(email_hash: &[u8; 32], digest: &[u8; 32]) -> [u8; DUPLICATE_PREFIX] {
    let mut key = [0; DUPLICATE_PREFIX];
    key[..2 + AUTHOR_BYTES].copy_from_slice(&author_comments(email_hash));
    key[2 + AUTHOR_BYTES..].copy_from_slice(&digest[..DIGEST_BYTES]);
    key
}

pub(super) fn author_comment(
    email_hash: &[u8; 32],
    digest: &[u8; 32],
    id: CommentId,
) -> [u8; DUPLICATE_PREFIX + 16] {
    let mut key = [0; DUPLICATE_PREFIX + 16];
    key[..DUPLICATE_PREFIX].copy_from_slice(&duplicate_prefix(email_hash, digest));
    key[DUPLICATE_PREFIX..].copy_from_slice(id.as_bytes());
    key
}

pub(super) fn label(id: CommentId) -> [u8; 17] {
    let mut key = [LABEL; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

pub(super) fn audit(at_ms: u64, sequence: u64) -> [u8; 17] {
    let mut key = [AUDIT; 17];
    key[1..9].copy_from_slice(&at_ms.to_be_bytes());
    key[9..].copy_from_slice(&sequence.to_be_bytes());
    key
}

pub(super) fn audit_by_comment(id: CommentId, at_ms: u64, sequence: u64) -> [u8; 33] {
    let mut key = [AUDIT_BY_COMMENT; 33];
    key[1..17].copy_from_slice(id.as_bytes());
    key[17..25].copy_from_slice(&at_ms.to_be_bytes());
    key[25..].copy_from_slice(&sequence.to_be_bytes());
    key
}

pub(super) fn count(status: Status) -> [u8; 2] {
    [COUNT, status as u8]
}

pub(super) fn activity(kind: Kind, second: u64) -> [u8; 10] {
    let mut key = [ACTIVITY; 10];
    key[1] = kind as u8;
    key[2..].copy_from_slice(&second.to_be_bytes());
    key
}

/// The last 16 bytes of a key as a comment id.
pub(super) fn trailing_id(key: &[u8]) -> Option<CommentId> {
    let start = key.len().checked_sub(16)?;
    crate::store::record::id_from(&key[start..])
}

/// A stored big-endian u64 (counters); zero when absent or malformed.
pub(super) fn read_u64(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The smallest key greater than every key starting with `prefix`, if any.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_prefixes_do_not_overlap() {
        // "ab" + status must never be a prefix of post "ab\x01..." keys: the length prefix
        // keeps posts apart.
        let a = post_status_prefix("ab", Status::Approved);
        let b = post("ab\u{1}", Status::Approved, CommentId::generate());
        assert!(!b.starts_with(&a));
    }

    #[test]
    fn an_authors_keys_share_its_prefix_and_new_comments_append() {
        let hash = [7; 32];
        let first = CommentId::generate();
        let second = CommentId::generate();
        let digest = [1; 32];
        let a = author_comment(&hash, &digest, first);
        assert!(a.starts_with(&author_comments(&hash)));
        assert!(a.starts_with(&duplicate_prefix(&hash, &digest)));
        assert!(author_stats(&hash).starts_with(&author_prefix(&hash)));
        assert_eq!(trailing_id(&a), Some(first));
        assert!(comment(first) < comment(second));
        assert!(status(Status::Pending, first) < status(Status::Pending, second));
        assert!(audit(1, 9) < audit(2, 0));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
    }
}

//! The queue's event log: every held or spam submission and every moderator decision, kept
//! durably for a window so that a watcher can resume where it stopped (`WatchQueue` with
//! `after_cursor`). Each backend writes an event in the same atomic step as the change it
//! records, and numbers events so that their order is the order the changes committed.

use prost::Message as _;

use super::StoreError;
use super::record::id_from;
use crate::comment::{CommentId, Status};
use crate::moderation::Action;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A comment was stored held or as spam (approved submissions are not queue events).
    Submitted,
    /// A moderator decided on a comment.
    Decided {
        /// What the moderator did.
        action: Action,
        /// The status before.
        from: Status,
    },
}

/// One change of the queue, as kept in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueChange {
    /// The comment it is about.
    pub comment_id: CommentId,
    /// When, in milliseconds since the epoch.
    pub at_ms: u64,
    /// What happened.
    pub change: Change,
    /// The status the change left the comment in (watchers filter on it).
    pub to: Status,
}

/// A logged change with its place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Increasing in commit order; not necessarily consecutive.
    pub sequence: u64,
    /// The change.
    pub event: QueueChange,
}

/// Events after a sequence number, and where the log stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPage {
    /// Oldest first.
    pub events: Vec<LoggedEvent>,
    /// The newest sequence in the log, if it holds any event.
    pub newest: Option<u64>,
    /// The newest sequence ever pruned, if any was: a reader whose position is before it may
    /// have missed events.
    pub pruned_through: Option<u64>,
}

/// How much of the log is kept: an event goes only once it is both older than `keep_ms`
/// and not among the newest `keep_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    /// Newest events always kept.
    pub keep_count: u64,
    /// Events younger than this always kept.
    pub keep_ms: u64,
}

impl EventWindow {
    /// The documented window: the last 24 hours or the last 100,000 events, whichever keeps
    /// more.
    pub const DEFAULT: Self = Self {
        keep_count: 100_000,
        keep_ms: 24 * 60 * 60 * 1000,
    };
}

impl QueueChange {
    /// The `action` column: 0 for a submission, the action's byte for a decision.
    pub fn action_byte(&self) -> u8 {
        match self.change {
            Change::Submitted => 0,
            Change::Decided { action, .. } => action as u8,
        }
    }

    /// The `from` column: 0 for a submission.
    pub fn from_byte(&self) -> u8 {
        match self.change {
            Change::Submitted => 0,
            Change::Decided { from, .. } => from as u8,
        }
    }

    /// The change its columns describe.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for values no change has.
    pub fn from_columns(
        comment_id: &[u8],
        at_ms: u64,
        action: u8,
        from: u8,
        to: u8,
    ) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("queue event".into());
        let change = match action {
            0 => Change::Submitted,
            a => Change::Decided {
                action: Action::from_byte(a).ok_or_else(corrupt)?,
                from: Status::from_byte(from).ok_or_else(corrupt)?,
            },
        };
        Ok(Self {
            comment_id: id_from(comment_id).ok_or_else(corrupt)?,
            at_ms,
            change,
            to: Status::from_byte(to).ok_or_else(corrupt)?,
        })
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct EventV1 {
    #[prost(uint64, tag = "1")]
    at_ms: u64,
    #[prost(bytes = "vec", tag = "2")]
    comment_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    action: u32,
    #[prost(uint32, tag = "4")]
    from: u32,
    #[prost(uint32, tag = "5")]
    to: u32,
}

/// Encodes an event for a key-value store.
pub fn encode(event: &QueueChange) -> Vec<u8> {
    EventV1 {
        at_ms: event.at_ms,
        comment_id: event.comment_id.as_bytes().to_vec(),
        action: u32::from(event.action_byte()),
        from: u32::from(event.from_byte()),
        to: u32::from(event.to as u8),
    }
    .encode_to_vec()
}

/// Decodes an event [`encode`] wrote.
///
/// # Errors
/// [`StoreError::Corrupt`] for bytes that do not decode.
pub fn decode(bytes: &[u8]) -> Result<QueueChange, StoreError> {
    let corrupt = || StoreError::Corrupt("queue event".into());
    let r = EventV1::decode(bytes).map_err(|_| corrupt())?;
    let byte = |v: u32| u8::try_from(v).map_err(|_| corrupt());
    QueueChange::from_columns(
        &r.comment_id,
        r.at_ms,
        byte(r.action)?,
        byte(r.from)?,
        byte(r.to)?,
    )
}

/// A cursor as clients see it: the sequence as 16 hex digits.
pub fn cursor(sequence: u64) -> String {
    format!("{sequence:016x}")
}

/// The sequence a cursor stands for, if it is one.
pub fn parse_cursor(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_cursors_round_trip() {
        let decided = QueueChange {
            comment_id: CommentId::generate(),
            at_ms: 1_700_000_000_000,
            change: Change::Decided {
                action: Action::MarkSpam,
                from: Status::Pending,
            },
            to: Status::Spam,
        };
        let submitted = QueueChange {
            change: Change::Submitted,
            to: Status::Pending,
            ..decided
        };
        for event in [decided, submitted] {
            assert_eq!(decode(&encode(&event)).unwrap(), event);
        }
        assert_eq!(parse_cursor(&cursor(42)), Some(42));
        assert_eq!(parse_cursor(&cursor(u64::MAX)), Some(u64::MAX));
        for garbage in [
            "",
            "42",
            "zz00000000000000",
            "+000000000000001",
            "00000000000000001",
        ] {
            assert_eq!(parse_cursor(garbage), None, "{garbage}");
        }
    }
}

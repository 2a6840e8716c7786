//! The moderator's side of a comment's life: the actions, which status each one leads to from
//! which, and the records a decision leaves (the decision on the comment, the audit entry, the
//! label the classifier learns from, the event watchers see).

pub use crate::comment::Decision;
use crate::comment::Label;
use crate::comment::{CommentId, Status, StoredComment};

/// Queue events a watcher may fall behind by before it lags (and catches up from the
/// durable log): bounded, so a slow watcher never blocks the service.
pub const WATCH_BUFFER: usize = 1024;

/// What a moderator can do to a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Action {
    /// Publish (from PENDING or SPAM).
    Approve = 1,
    /// Back into the queue (from APPROVED or SPAM).
    Hold = 2,
    /// Mark as spam (from APPROVED or PENDING).
    MarkSpam = 3,
    /// Move to the trash (from APPROVED, PENDING or SPAM).
    Trash = 4,
    /// Out of the trash, back to the status it had before (PENDING when that was SPAM).
    Restore = 5,
}

impl Action {
    /// Every action, in discriminant order.
    pub const ALL: [Action; 5] = [
        Self::Approve,
        Self::Hold,
        Self::MarkSpam,
        Self::Trash,
        Self::Restore,
    ];

    /// The action stored as `byte`, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u8 == byte)
    }

    /// The action's name as the proto enum spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "APPROVE",
            Self::Hold => "HOLD",
            Self::MarkSpam => "MARK_SPAM",
            Self::Trash => "TRASH",
            Self::Restore => "RESTORE",
        }
    }

    /// The status this action leads to from `from`, or `None` when it does not apply there.
    /// `before_trash` is the status a trashed comment had before it was trashed.
    pub fn target(self, from: Status, before_trash: Option<Status>) -> Option<Status> {
        use Status::{Approved, Pending, Spam, Trash};
        match (self, from) {
            (Self::Approve, Pending | Spam) => Some(Approved),
            (Self::Hold, Approved | Spam) => Some(Pending),
            (Self::MarkSpam, Approved | Pending) => Some(Spam),
            (Self::Trash, Approved | Pending | Spam) => Some(Trash),
            (Self::Restore, Trash) => Some(match before_trash {
                Some(Approved) => Approved,
                _ => Pending,
            }),
            _ => None,
        }
    }

    /// Whether this decision, ending at `to`, withdraws the comment's label: a trashed comment
    /// is no longer an example of either, and one put back in the queue (held again, or an
    /// undone decision) is undecided.
    pub fn withdraws_label(self, to: Status) -> bool {
        self.label().is_none() && matches!(to, Status::Trash | Status::Pending)
    }

    /// The classifier label this decision gives, if any: approving is a ham label, marking
    /// spam a spam label.
    pub fn label(self) -> Option<Label> {
        match self {
            Self::Approve => Some(Label::Ham),
            Self::MarkSpam => Some(Label::Spam),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the audit log: who did what to which comment, when, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The moderator's configured name.
    pub moderator: String,
    /// The comment decided on.
    pub comment_id: CommentId,
    /// What was done.
    pub action: Action,
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// The moderator's note (may be empty).
    pub note: String,
    /// The comment's spam score at submission, to measure agreement with the classifier.
    pub spam_score: f32,
}

/// How often moderators agreed with the classifier: of the labelling decisions (approve, mark
/// spam), those where the score at submission was on the same side of the pending threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Labelling decisions.
    pub labels: u64,
    /// Of those, the ones the classifier agreed with.
    pub agreed: u64,
}

impl Agreement {
    /// Counts over `entries`, with comments scoring at least `pending` counted as flagged.
    pub fn of(entries: &[AuditEntry], pending: f64) -> Self {
        let mut counts = Self::default();
        for entry in entries {
            let flagged = f64::from(entry.spam_score) >= pending;
            let agreed = match entry.action {
                Action::MarkSpam => flagged,
                Action::Approve => !flagged,
                _ => continue,
            };
            counts.labels += 1;
            counts.agreed += u64::from(agreed);
        }
        counts
    }

    /// The share agreed with, 0 when there were no labels.
    pub fn rate(&self) -> f64 {
        if self.labels == 0 {
            0.0
        } else {
            self.agreed as f64 / self.labels as f64
        }
    }
}

/// A change in the review queue, for watchers.
#[derive(Debug, Clone)]
pub enum QueueEvent {
    /// A new comment was held or marked spam on submission.
    Submitted(Box<StoredComment>),
    /// A moderator decided on a comment.
    Decided {
        /// The comment after the decision.
        comment: Box<StoredComment>,
        /// The action taken.
        action: Action,
        /// The status before.
        from: Status,
    },
}

impl QueueEvent {
    /// The comment the event is about.
    pub fn comment(&self) -> &StoredComment {
        match self {
            Self::Submitted(comment) | Self::Decided { comment, .. } => comment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_table() {
        use Status::*;
        assert_eq!(Action::Approve.target(Pending, None), Some(Approved));
        assert_eq!(Action::Approve.target(Spam, None), Some(Approved));
        assert_eq!(Action::Approve.target(Approved, None), None);
        assert_eq!(Action::Approve.target(Trash, None), None);
        assert_eq!(Action::Hold.target(Pending, None), None);
        assert_eq!(Action::MarkSpam.target(Spam, None), None);
        assert_eq!(Action::Trash.target(Trash, None), None);
        assert_eq!(Action::Restore.target(Pending, None), None);
        assert_eq!(
            Action::Restore.target(Trash, Some(Approved)),
            Some(Approved)
        );
        assert_eq!(Action::Restore.target(Trash, Some(Spam)), Some(Pending));
        assert_eq!(Action::Restore.target(Trash, None), Some(Pending));
    }

    #[test]
    fn actions_round_trip_through_bytes() {
        for action in Action::ALL {
            assert_eq!(Action::from_byte(action as u8), Some(action));
        }
        assert_eq!(Action::from_byte(0), None);
    }
}

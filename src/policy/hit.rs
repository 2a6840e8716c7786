//! A rule that fired: the status it asks for and the reason shown for it.

use crate::comment::{Reason, ReasonCode, Status};

/// Weight of a reason that decides SPAM on its own.
pub const DECISIVE: f32 = 1.0;
/// Weight of a reason that holds a comment for review.
pub const HOLD: f32 = 0.5;

/// A rule that fired: the status it asks for and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The status the rule asks for (the verdict may end up stricter, never milder).
    pub status: Status,
    /// Why, as shown to the site and the moderators.
    pub reason: Reason,
}

impl Hit {
    /// A rule that decides SPAM on its own.
    pub fn spam(code: ReasonCode, detail: impl Into<String>) -> Self {
        Self {
            status: Status::Spam,
            reason: Reason::new(code, detail, DECISIVE),
        }
    }

    /// A rule that holds the comment for a moderator.
    pub fn hold(code: ReasonCode, detail: impl Into<String>) -> Self {
        Self {
            status: Status::Pending,
            reason: Reason::new(code, detail, HOLD),
        }
    }
}

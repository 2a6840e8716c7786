//! Site rules and score thresholds: from a submission's facts and its spam score to a status
//! with the reasons that decided it.

/// Score thresholds that turn a spam probability into a status.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// At or above this probability a comment is SPAM.
    pub spam: f64,
    /// At or above this probability (and below `spam`) a comment is held as PENDING.
    pub pending: f64,
}

impl Thresholds {
    /// Default probability at or above which a comment is SPAM.
    pub const DEFAULT_SPAM: f64 = 0.90;
    /// Default probability at or above which a comment is held for a moderator.
    pub const DEFAULT_PENDING: f64 = 0.50;
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            spam: Self::DEFAULT_SPAM,
            pending: Self::DEFAULT_PENDING,
        }
    }
}

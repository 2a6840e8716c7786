//! Score thresholds: where a spam probability turns into a held or a spam verdict.

use crate::classifier::Scored;
use crate::comment::{Reason, ReasonCode, Status};
use crate::toxicity::Toxicity;

/// Score thresholds that turn a spam probability into a status.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// At or above this probability a comment is SPAM.
    pub spam: f64,
    /// At or above this probability (and below `spam`) a comment is held as PENDING.
    pub pending: f64,
    /// At or above this toxicity a comment is held as PENDING (never SPAM: abuse is a
    /// moderator's call); 0 turns the toxicity hold off. Absent in rules stored before it
    /// existed, which read the default.
    pub toxicity: f64,
}

impl Thresholds {
    /// Default probability at or above which a comment is SPAM.
    pub const DEFAULT_SPAM: f64 = 0.90;
    /// Default probability at or above which a comment is held for a moderator.
    pub const DEFAULT_PENDING: f64 = 0.50;
    /// Default toxicity at or above which a comment is held for a moderator (see
    /// docs/toxicity.md for the measurements it was chosen from).
    pub const DEFAULT_TOXICITY: f64 = 0.90;

    /// The status the score alone asks for, with its reason, when it reaches a threshold.
    pub fn judge(&self, scored: &Scored) -> Option<(Status, Reason)> {
        let probability = scored.probability;
        let (status, name, threshold) = if probability >= self.spam {
            (Status::Spam, "spam", self.spam)
        } else if probability >= self.pending {
            (Status::Pending, "review", self.pending)
        } else {
            return None;
        };
        let detail = format!(
            "spam score {probability:.3} is at or above the {name} threshold {threshold:.2}"
        );
        Some((
            status,
            Reason::new(ReasonCode::SpamScore, detail, probability as f32),
        ))
    }
}

impl Thresholds {
    /// The hold that `toxicity` asks for, with its reason (naming the terms that weighed
    /// most): PENDING at or above the toxicity threshold, nothing under it or when the
    /// threshold is 0.
    pub fn judge_toxicity(&self, toxicity: &Toxicity) -> Option<(Status, Reason)> {
        let p = toxicity.probability;
        if self.toxicity <= 0.0 || p < self.toxicity {
            return None;
        }
        let mut detail = format!(
            "toxicity {p:.3} is at or above the toxicity threshold {:.2}",
            self.toxicity
        );
        let terms: Vec<&str> = toxicity
            .toward_toxic
            .iter()
            .map(|c| c.feature.as_str())
            .collect();
        if !terms.is_empty() {
            detail.push_str(&format!(" ({})", terms.join(", ")));
        }
        Some((
            Status::Pending,
            Reason::new(ReasonCode::Toxic, detail, p as f32),
        ))
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            spam: Self::DEFAULT_SPAM,
            pending: Self::DEFAULT_PENDING,
            toxicity: Self::DEFAULT_TOXICITY,
        }
    }
}

//! Binary classification metrics with spam as the positive class: a confusion matrix and the
//! figures derived from it (accuracy, precision, recall, F1, MCC, ham false-positive rate).

use serde::{Deserialize, Serialize};

/// Counts of a binary decision against ground truth. Spam is positive; a comment counts as
/// predicted spam when it is flagged (score at or above the pending threshold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Spam that was flagged.
    pub true_positive: u64,
    /// Ham that was flagged: the costly mistake, a legitimate comment held back.
    pub false_positive: u64,
    /// Ham that was let through.
    pub true_negative: u64,
    /// Spam that was let through.
    pub false_negative: u64,
}

impl Confusion {
    /// Records one decision.
    pub fn add(&mut self, actual_spam: bool, flagged: bool) {
        match (actual_spam, flagged) {
            (true, true) => self.true_positive += 1,
            (true, false) => self.false_negative += 1,
            (false, true) => self.false_positive += 1,
            (false, false) => self.true_negative += 1,
        }
    }

    /// Adds another matrix's counts (pooling folds).
    pub fn merge(&mut self, other: &Confusion) {
        self.true_positive += other.true_positive;
        self.false_positive += other.false_positive;
        self.true_negative += other.true_negative;
        self.false_negative += other.false_negative;
    }

    /// Number of decisions.
    pub fn total(&self) -> u64 {
        self.true_positive + self.false_positive + self.true_negative + self.false_negative
    }

    /// Derives the summary figures.
    pub fn metrics(&self) -> Metrics {
        let (tp, fp, tn, fneg) = (
            self.true_positive as f64,
            self.false_positive as f64,
            self.true_negative as f64,
            self.false_negative as f64,
        );
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fneg);
        let denom = ((tp + fp) * (tp + fneg) * (tn + fp) * (tn + fneg)).sqrt();
        Metrics {
            total: self.total(),
            true_positive: self.true_positive,
            false_positive: self.false_positive,
            true_negative: self.true_negative,
            false_negative: self.false_negative,
            accuracy: ratio(tp + tn, tp + tn + fp + fneg),
            precision,
            recall,
            f1: ratio(2.0 * precision * recall, precision + recall),
            mcc: ratio(tp * tn - fp * fneg, denom),
            ham_false_positive_rate: ratio(fp, fp + tn),
        }
    }
}

/// The figures reported by `eval --json` and stored in model files.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of comments scored.
    pub total: u64,
    /// Spam flagged.
    pub true_positive: u64,
    /// Ham flagged.
    pub false_positive: u64,
    /// Ham let through.
    pub true_negative: u64,
    /// Spam let through.
    pub false_negative: u64,
    /// Share of correct decisions.
    pub accuracy: f64,
    /// Share of flagged comments that are spam.
    pub precision: f64,
    /// Share of spam that is flagged.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Matthews correlation coefficient: balanced even when classes are not (0 when undefined).
    pub mcc: f64,
    /// Share of ham that is flagged ("ham flagged"): what legitimate authors suffer.
    pub ham_false_positive_rate: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_matrix() {
        let c = Confusion {
            true_positive: 90,
            false_positive: 10,
            true_negative: 880,
            false_negative: 20,
        };
        let m = c.metrics();
        assert_eq!(m.total, 1000);
        assert!((m.accuracy - 0.97).abs() < 1e-12);
        assert!((m.precision - 0.9).abs() < 1e-12);
        assert!((m.recall - 90.0 / 110.0).abs() < 1e-12);
        let mcc = (90.0 * 880.0 - 10.0 * 20.0) / (100.0f64 * 110.0 * 890.0 * 900.0).sqrt();
        assert!((m.mcc - mcc).abs() < 1e-12);
        assert!((m.ham_false_positive_rate - 10.0 / 890.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_matrix_is_zero_not_nan() {
        let mut c = Confusion::default();
        c.add(false, false);
        let m = c.metrics();
        assert_eq!(m.mcc, 0.0);
        assert_eq!(m.precision, 0.0);
        assert_eq!(m.accuracy, 1.0);
    }
}

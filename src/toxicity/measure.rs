//! How well a toxicity model does on labelled rows: ranking (ROC AUC), the verdicts at the
//! hold threshold (MCC, recall, clean comments flagged) and, where raters marked spans, how
//! well its spans agree with theirs.

use serde::Serialize;

use super::ToxicityModel;
use super::dataset::ToxicRow;
use super::spans::span_f1;
use crate::confusion::Confusion;

/// `eval --toxicity` figures for one set of rows.
#[derive(Debug, Clone, Serialize)]
pub struct ToxicityReport {
    /// Rows scored.
    pub rows: usize,
    /// Toxic rows among them.
    pub toxic: usize,
    /// Area under the ROC curve; `None` when the rows hold one class only.
    pub roc_auc: Option<f64>,
    /// Matthews correlation at the threshold (0 when undefined).
    pub mcc: f64,
    /// Share of toxic rows at or above the threshold.
    pub recall: f64,
    /// Share of clean rows at or above the threshold: civil comments that would be held.
    pub clean_flagged_rate: f64,
    /// SemEval-2021 task 5 span F1, averaged over the rows with marked spans; `None` when no
    /// row has them.
    pub span_f1: Option<f64>,
    /// The threshold the verdict figures are taken at.
    pub threshold: f64,
}

/// Scores `rows` with `model` and measures at `threshold`.
pub fn measure(model: &ToxicityModel, rows: &[ToxicRow], threshold: f64) -> ToxicityReport {
    let mut scores = Vec::with_capacity(rows.len());
    let mut confusion = Confusion::default();
    let mut span_scores = Vec::new();
    for row in rows {
        let p = model.probability(&row.content);
        scores.push((p, row.is_toxic()));
        confusion.add(row.is_toxic(), p >= threshold);
        if let Some(marked) = &row.spans {
            let predicted: Vec<(usize, usize)> = model
                .spans(&row.content)
                .iter()
                .map(|s| (s.start, s.end))
                .collect();
            let marked: Vec<(usize, usize)> = marked.iter().map(|s| (s.start, s.end)).collect();
            span_scores.push(span_f1(&predicted, &marked));
        }
    }
    let metrics = confusion.metrics();
    let clean = metrics.false_positive + metrics.true_negative;
    ToxicityReport {
        rows: rows.len(),
        toxic: scores.iter().filter(|(_, t)| *t).count(),
        roc_auc: roc_auc(&scores),
        mcc: metrics.mcc,
        recall: metrics.recall,
        clean_flagged_rate: if clean == 0 {
            0.0
        } else {
            metrics.false_positive as f64 / clean as f64
        },
        span_f1: (!span_scores.is_empty())
            .then(|| span_scores.iter().sum::<f64>() / span_scores.len() as f64),
        threshold,
    }
}

/// The area under the ROC curve of `(score, positive)` pairs: the chance a random positive
/// outscores a random negative, ties counting half; `None` without both classes.
pub fn roc_auc(scores: &[(f64, bool)]) -> Option<f64> {
    let mut sorted: Vec<(f64, bool)> = scores.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = sorted.iter().filter(|(_, p)| *p).count() as f64;
    let negatives = sorted.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Sum of the positives' ranks (1-based, ties averaged), then Mann–Whitney U.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let rank = (i + j + 1) as f64 / 2.0;
        rank_sum += rank * sorted[i..j].iter().filter(|(_, p)| *p).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_auc_ranks_with_ties_and_needs_both_classes() {
        assert_eq!(roc_auc(&[(0.9, true), (0.1, false)]), Some(1.0));
        assert_eq!(roc_auc(&[(0.1, true), (0.9, false)]), Some(0.0));
        assert_eq!(roc_auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.5, true), (0.7, true)]), None);
        let auc = roc_auc(&[(0.8, true), (0.4, true), (0.6, false), (0.2, false)]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
    }
}

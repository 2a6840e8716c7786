//! Serve-time scoring: the fitted [`SpamFilter`] evaluates its logistic model as a sparse dot
//! product over the features a comment actually has, and explains the result.

use std::cell::RefCell;

use linfa_logistic::FittedLogisticRegression;
use ndarray::Array2;

use super::CommentText;
use super::explain::{describe, is_explanatory};
use super::features::{
    Extractor, FeatureConfig, META_NAMES, Scratch, SparseRow, Vocabulary, n_features,
};

/// One feature's push on a score.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// A human-readable feature, such as a word, bigram or `link_count`.
    pub feature: String,
    /// Its contribution to the log-odds of spam (positive pushes toward spam).
    pub weight: f64,
}

/// A score with its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Probability of spam in [0, 1].
    pub probability: f64,
    /// The strongest pushes toward spam, strongest first.
    pub toward_spam: Vec<Contribution>,
    /// The strongest pushes toward ham, strongest first.
    pub toward_ham: Vec<Contribution>,
}

/// How many features each explanation lists per direction (of those it may show, see
/// [`super::explain`]).
pub const EXPLAIN_TOP: usize = 3;

/// A fitted spam filter: the feature recipe, the learned vocabulary and the logistic model's
/// parameters. Produced by [`SpamFilterValidParams::fit`](super::train::SpamFilterValidParams::fit).
#[derive(Debug, Clone)]
pub struct SpamFilter {
    /// The feature recipe used in training.
    pub features: FeatureConfig,
    /// The learned terms.
    pub vocab: Vocabulary,
    /// One weight per column: the vocabulary, then [`META_NAMES`].
    pub weights: Vec<f64>,
    /// The log-odds of spam for an empty feature vector.
    pub intercept: f64,
    /// Which vocabulary columns an explanation may show ([`super::explain`]), worked out at
    /// the first score so requests only look it up.
    pub explainable: std::sync::OnceLock<Vec<bool>>,
}

thread_local! {
    static SCRATCH: RefCell<(Scratch, SparseRow)> = RefCell::new(Default::default());
}

/// The probability of log-odds `z`.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The log-odds of probability `p` (callers clamp `p` away from 0 and 1).
pub fn log_odds(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

impl SpamFilter {
    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        n_features(&self.vocab)
    }

    fn extractor(&self) -> Extractor<'_> {
        Extractor {
            cfg: &self.features,
            vocab: &self.vocab,
        }
    }

    /// The sparse feature vector of a comment.
    pub fn features_of(&self, text: &CommentText<'_>) -> SparseRow {
        let mut row = SparseRow::default();
        self.extractor()
            .extract(text, &mut Scratch::default(), &mut row);
        row
    }

    fn with_row<R>(&self, text: &CommentText<'_>, f: impl FnOnce(&SparseRow) -> R) -> R {
        let mut f = Some(f);
        let warm = SCRATCH.try_with(|cell| {
            let mut guard = cell.try_borrow_mut().ok()?;
            let (scratch, row) = &mut *guard;
            self.extractor().extract(text, scratch, row);
            f.take().map(|f| f(row))
        });
        if let Ok(Some(r)) = warm {
            return r;
        }
        // Thread-local storage unavailable (thread teardown) or re-entered: allocate instead.
        let row = self.features_of(text);
        match f.take() {
            Some(f) => f(&row),
            None => f_unreachable(),
        }
    }

    /// The log-odds of spam for a feature vector.
    pub fn logit(&self, row: &SparseRow) -> f64 {
        let mut z = self.intercept;
        for (&c, &v) in row.cols.iter().zip(&row.vals) {
            z += self.weights.get(c as usize).copied().unwrap_or(0.0) * v;
        }
        z
    }

    /// Probability of spam for one comment.
    pub fn probability(&self, text: &CommentText<'_>) -> f64 {
        self.with_row(text, |row| sigmoid(self.logit(row)))
    }

    /// Probability of spam with the strongest features each way.
    pub fn score(&self, text: &CommentText<'_>) -> Scored {
        self.with_row(text, |row| {
            // One pass: the log-odds accumulate in the same order as in `logit`.
            let mut z = self.intercept;
            let (mut spam, mut ham) = (Top::default(), Top::default());
            let explainable = self.explainable();
            for (&c, &v) in row.cols.iter().zip(&row.vals) {
                let w = self.weights.get(c as usize).copied().unwrap_or(0.0) * v;
                z += w;
                // Metadata columns lie past the vocabulary and are always shown.
                if !explainable.get(c as usize).copied().unwrap_or(true) {
                    continue;
                }
                if w > 0.0 {
                    spam.keep((w, c));
                } else if w < 0.0 {
                    ham.keep((-w, c));
                }
            }
            let name = |c: u32| -> String {
                match self.vocab.keys.get(c as usize) {
                    Some(k) => describe(k),
                    None => META_NAMES
                        .get((c as usize).saturating_sub(self.vocab.len()))
                        .map_or_else(|| format!("feature {c}"), |s| (*s).to_owned()),
                }
            };
            let explain = |top: &Top, sign: f64| -> Vec<Contribution> {
                top.items()
                    .iter()
                    .map(|&(w, c)| Contribution {
                        feature: name(c),
                        weight: sign * w,
                    })
                    .collect()
            };
            Scored {
                probability: sigmoid(z),
                toward_spam: explain(&spam, 1.0),
                toward_ham: explain(&ham, -1.0),
            }
        })
    }

    /// Which vocabulary columns an explanation may show.
    fn explainable(&self) -> &[bool] {
        self.explainable
            .get_or_init(|| self.vocab.keys.iter().map(|k| is_explanatory(k)).collect())
    }

    /// Dense feature matrix of comments, one row each: the input linfa's models take.
    pub fn dense_rows(&self, texts: &[CommentText<'_>]) -> Array2<f64> {
        let mut x = Array2::zeros((texts.len(), self.n_features()));
        let mut scratch = Scratch::default();
        let mut row = SparseRow::default();
        for (i, t) in texts.iter().enumerate() {
            self.extractor().extract(t, &mut scratch, &mut row);
            for (&c, &v) in row.cols.iter().zip(&row.vals) {
                x[[i, c as usize]] = v;
            }
        }
        x
    }

    /// The same model as a linfa [`FittedLogisticRegression`] (labels: 1 = spam, 0 = ham), so
    /// its own `predict_probabilities` can be compared with [`SpamFilter::probability`].
    ///
    /// # Errors
    /// When linfa rejects the parameters (it cannot for a model this crate produced).
    pub fn to_linfa(&self) -> Result<FittedLogisticRegression<f64, usize>, serde_json::Error> {
        let value = serde_json::json!({
            "threshold": 0.5,
            "intercept": self.intercept,
            "params": { "v": 1, "dim": [self.weights.len()], "data": self.weights },
            "labels": {
                "pos": { "class": 1, "label": 1.0 },
                "neg": { "class": 0, "label": -1.0 },
            },
        });
        serde_json::from_value(value)
    }
}

#[cold]
fn f_unreachable<R>() -> R {
    unreachable!("the closure is only taken when the scratch path succeeds")
}

/// The `EXPLAIN_TOP` largest pushes one way, largest first. A fixed array rather than a
/// `Vec`: every score builds two of these, and they would be two allocations per call.
#[derive(Debug, Clone, Copy, Default)]
struct Top {
    items: [(f64, u32); EXPLAIN_TOP],
    len: usize,
}

impl Top {
    /// Keeps `item` if it is among the largest so far; an equal earlier item stays first.
    fn keep(&mut self, item: (f64, u32)) {
        let kept = &self.items[..self.len];
        if self.len == EXPLAIN_TOP && kept.last().is_some_and(|l| l.0 >= item.0) {
            return;
        }
        let pos = kept.iter().position(|t| t.0 < item.0).unwrap_or(self.len);
        let end = (self.len + 1).min(EXPLAIN_TOP);
        if pos < end {
            self.items.copy_within(pos..end - 1, pos + 1);
            self.items[pos] = item;
        }
        self.len = end;
    }

    fn items(&self) -> &[(f64, u32)] {
        &self.items[..self.len]
    }
}

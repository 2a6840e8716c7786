//! Training: hyperparameters in linfa's checked/unchecked style, fitting a
//! [`SpamFilter`] with linfa's logistic regression, and grouped stratified cross-validation.

use std::collections::HashMap;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::CommentText;
use super::features::{
    Block, FeatureConfig, PremixedHasher, SparseRow, build_vocabulary, for_each_gram,
};
use super::ftrl::{self, FtrlSettings};
use super::normalize::normalize_with;
use super::score::SpamFilter;
use super::signals::{self, Signals};
use super::solver;
use crate::confusion::Confusion;
use crate::dataset::LabelledComment;

/// The warm start aims this much below linfa's tolerance, so linfa only confirms.
const WARM_START_TOLERANCE_FACTOR: f64 = 0.1;
/// Iteration cap of the warm start (each iteration is one sparse pass).
const WARM_START_MAX_ITERATIONS: usize = 5000;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// `alpha` is negative or not finite.
    #[error("alpha must be a finite non-negative number, got {0}")]
    InvalidAlpha(f64),
    /// The gradient tolerance is not positive and finite.
    #[error("gradient tolerance must be finite and positive, got {0}")]
    InvalidGradientTolerance(f64),
    /// Fewer than two folds, or more folds than comments.
    #[error("cross-validation needs 2 to {max} folds, got {folds}")]
    InvalidFolds {
        /// Requested folds.
        folds: usize,
        /// Most folds the data allows.
        max: usize,
    },
    /// The n-gram range is empty or the caps are zero.
    #[error("invalid feature configuration: {0}")]
    InvalidFeatures(String),
    /// The training data lacks spam or ham.
    #[error("training data needs both spam and ham (got {spam} spam, {ham} ham)")]
    OneClass {
        /// Spam examples.
        spam: usize,
        /// Ham examples.
        ham: usize,
    },
    /// The solver failed.
    #[error(transparent)]
    Logistic(#[from] linfa_logistic::error::Error),
    /// linfa rejected the data.
    #[error(transparent)]
    Linfa(#[from] linfa::Error),
    /// linfa-ftrl refused its settings.
    #[error(transparent)]
    Ftrl(#[from] super::ftrl::FtrlError),
}

/// Checked hyperparameters of the spam filter.
///
/// # Parameters
/// | Name | Default | Purpose | Range |
/// |---|---|---|---|
/// | `features` | [`FeatureConfig::default`] | n-gram ranges and vocabulary caps | char min ≤ max |
/// | `alpha` | `0.1` | L2 penalty of the logistic regression (sum loss) | ≥ 0, finite |
/// | `max_iterations` | `150` | L-BFGS iteration cap | ≥ 1 |
/// | `gradient_tolerance` | `1e-4` | L-BFGS stops when the gradient norm is below this | > 0 |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamFilterValidParams {
    /// How text becomes features.
    pub features: FeatureConfig,
    /// L2 penalty weight; larger means smoother, less confident probabilities.
    pub alpha: f64,
    /// Cap on solver iterations, bounding training time.
    pub max_iterations: u64,
    /// Convergence criterion of the solver.
    pub gradient_tolerance: f64,
    /// Fit one model on the word terms and one on the character n-grams (each with the
    /// metadata) and average their log-odds, instead of one model over both. Absent in older
    /// model files.
    #[serde(default, skip_serializing_if = "super::features::is_false")]
    pub average_word_char: bool,
    /// With `k ≥ 2`, the log-odds are recalibrated (Platt scaling) on out-of-fold scores of
    /// `k` folds of the training data; 0 leaves them as fitted. Absent in older model files.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calibration_folds: usize,
    /// Training comments without a thread (empty `post_id`: SMS) also feed a copy of every
    /// feature and an intercept of their own, dropped after fitting: what is peculiar to text
    /// messages is learned apart, and only what they share with thread comments shapes the
    /// served weights. No effect when the training data is all of one kind. Only training
    /// reads it. Absent in older model files.
    #[serde(default, skip_serializing_if = "super::features::is_false")]
    pub auxiliary_domain: bool,
    /// Fit with linfa's FTRL-Proximal in batches instead of L-BFGS plus linfa's logistic
    /// regression (whose dense matrix does not fit a large corpus). Absent in older model
    /// files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ftrl: Option<FtrlSettings>,
    /// Calibrate on leave-one-source-out scores instead of `calibration_folds` folds: Platt
    /// scaling, then the intercept lowered until the review threshold (0.5) flags at most
    /// `ham_flagged_target` of each source's ham, so 0.5 means the same on a community the
    /// model never saw. Needs at least two sources. Only training reads it. Absent in older
    /// model files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrate_by_source: Option<SourceCalibration>,
}

/// How [`SpamFilterValidParams::calibrate_by_source`] calibrates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCalibration {
    /// Largest share of a source's ham allowed at or above 0.5.
    pub ham_flagged_target: f64,
    /// Sources trained on but not held to the target: auxiliary domains such as e-mail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<String>,
}

/// A source needs this much ham before its ham-flagged rate constrains the calibration.
const MIN_CALIBRATION_HAM: usize = 50;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Unchecked hyperparameters; setters consume and return `self`, [`ParamGuard::check`]
/// validates.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamFilterParams(SpamFilterValidParams);

impl Default for SpamFilterParams {
    fn default() -> Self {
        Self(SpamFilterValidParams {
            features: FeatureConfig::default(),
            alpha: 0.1,
            max_iterations: 150,
            gradient_tolerance: 1e-4,
            average_word_char: false,
            calibration_folds: 0,
            auxiliary_domain: false,
            ftrl: Some(FtrlSettings::default()),
            calibrate_by_source: None,
        })
    }
}

impl SpamFilterParams {
    /// The default recipe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the feature recipe; defaults to [`FeatureConfig::default`].
    pub fn features(mut self, features: FeatureConfig) -> Self {
        self.0.features = features;
        self
    }

    /// Sets the L2 penalty; defaults to `0.1`.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.0.alpha = alpha;
        self
    }

    /// Sets the iteration cap; defaults to `150`.
    pub fn max_iterations(mut self, n: u64) -> Self {
        self.0.max_iterations = n;
        self
    }

    /// Sets whether a word model and a character model are averaged; defaults to `false`.
    pub fn average_word_char(mut self, on: bool) -> Self {
        self.0.average_word_char = on;
        self
    }

    /// Sets the folds of out-of-fold calibration (0: none); defaults to `0`.
    pub fn calibration_folds(mut self, k: usize) -> Self {
        self.0.calibration_folds = k;
        self
    }

    /// Sets whether threadless comments (SMS) get weights of their own; defaults to `false`.
    pub fn auxiliary_domain(mut self, on: bool) -> Self {
        self.0.auxiliary_domain = on;
        self
    }

    /// Fits with FTRL-Proximal and these settings (`None`: L-BFGS); defaults to
    /// [`FtrlSettings::default`].
    pub fn ftrl(mut self, settings: Option<FtrlSettings>) -> Self {
        self.0.ftrl = settings;
        self
    }

    /// Calibrates on leave-one-source-out scores (`None`: as `calibration_folds` says);
    /// defaults to `None`.
    pub fn calibrate_by_source(mut self, how: Option<SourceCalibration>) -> Self {
        self.0.calibrate_by_source = how;
        self
    }

    /// Sets the gradient tolerance; defaults to `1e-4`.
    pub fn gradient_tolerance(mut self, tol: f64) -> Self {
        self.0.gradient_tolerance = tol;
        self
    }
}

impl ParamGuard for SpamFilterParams {
    type Checked = SpamFilterValidParams;
    type Error = TrainError;

    fn check_ref(&self) -> Result<&SpamFilterValidParams, TrainError> {
        let p = &self.0;
        if !p.alpha.is_finite() || p.alpha < 0.0 {
            return Err(TrainError::InvalidAlpha(p.alpha));
        }
        if !p.gradient_tolerance.is_finite() || p.gradient_tolerance <= 0.0 {
            return Err(TrainError::InvalidGradientTolerance(p.gradient_tolerance));
        }
        let f = &p.features;
        if f.char_ngram_max > 0 && (f.char_ngram_min == 0 || f.char_ngram_min > f.char_ngram_max) {
            return Err(TrainError::InvalidFeatures(format!(
                "character n-grams {}..={}",
                f.char_ngram_min, f.char_ngram_max
            )));
        }
        if p.calibration_folds == 1 {
            return Err(TrainError::InvalidFeatures(
                "calibration needs 0 (off) or at least 2 folds".into(),
            ));
        }
        if let Some(how) = &p.calibrate_by_source
            && !(0.0..1.0).contains(&how.ham_flagged_target)
        {
            return Err(TrainError::InvalidFeatures(format!(
                "the ham-flagged share of source calibration must lie in [0, 1), got {}",
                how.ham_flagged_target
            )));
        }
        if f.max_word_features + f.max_char_features == 0 {
            return Err(TrainError::InvalidFeatures("no features allowed".into()));
        }
        Ok(p)
    }

    fn check(self) -> Result<SpamFilterValidParams, TrainError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A comment prepared for training: its text, label and the distinct term hashes it contains.
#[derive(Debug)]
struct Prepared<'a> {
    text: CommentText<'a>,
    spam: bool,
    /// From the auxiliary domain: no thread (SMS).
    aux: bool,
    terms: Vec<u64>,
    group: String,
    source: &'a str,
}

/// Term hashes of every comment plus the readable key of each hash.
struct Corpus<'a> {
    docs: Vec<Prepared<'a>>,
    keys: HashMap<u64, String, PremixedHasher>,
}

fn prepare<'a>(cfg: &FeatureConfig, data: &'a [LabelledComment]) -> Corpus<'a> {
    let mut keys = HashMap::with_hasher(PremixedHasher::default());
    let (mut padded, mut bounds) = (String::new(), Vec::new());
    let mut found = Signals::default();
    let docs = data
        .iter()
        .map(|c| {
            let text = CommentText {
                content: &c.content,
                author_name: &c.author_name,
                author_url: &c.author_url,
            };
            let norm = normalize_with(&c.content, cfg.counts);
            let author = super::features::author_domain(&c.author_url);
            signals::read(&cfg.signals, &text, &mut found);
            let mut terms = Vec::new();
            for_each_gram(
                cfg,
                &norm,
                (&author, &found),
                &mut padded,
                &mut bounds,
                |g, h| {
                    terms.push(h);
                    keys.entry(h).or_insert_with(|| g.key());
                },
            );
            terms.sort_unstable();
            terms.dedup();
            let group = format!("{}\u{1}{}", norm.text, norm.domains);
            Prepared {
                text,
                spam: c.label.is_spam(),
                aux: c.post_id.is_empty(),
                terms,
                group,
                source: &c.source,
            }
        })
        .collect();
    Corpus { docs, keys }
}

impl SpamFilterValidParams {
    /// Fits the filter on labelled comments.
    ///
    /// # Errors
    /// When the data lacks a class or the solver fails.
    pub fn fit(&self, data: &[LabelledComment]) -> Result<SpamFilter, TrainError> {
        let corpus = prepare(&self.features, data);
        let all: Vec<usize> = (0..corpus.docs.len()).collect();
        self.fit_indices(&corpus, &all)
    }

    fn fit_indices(&self, corpus: &Corpus<'_>, rows: &[usize]) -> Result<SpamFilter, TrainError> {
        let mut filter = self.fit_uncalibrated(corpus, rows)?;
        let (a, b) = match &self.calibrate_by_source {
            Some(how) => self.calibrate_on_sources(corpus, rows, how)?,
            None if self.calibration_folds >= 2 => self.platt_out_of_fold(corpus, rows)?,
            None => return Ok(filter),
        };
        filter.weights.iter_mut().for_each(|w| *w *= a);
        filter.intercept = a * filter.intercept + b;
        Ok(filter)
    }

    /// Platt scaling `(a, b)` on leave-one-source-out log-odds, with `b` then lowered until
    /// at most `how.ham_flagged_target` of each non-exempt source's ham reaches 0.5.
    fn calibrate_on_sources(
        &self,
        corpus: &Corpus<'_>,
        rows: &[usize],
        how: &SourceCalibration,
    ) -> Result<(f64, f64), TrainError> {
        let mut sources: Vec<&str> = rows.iter().map(|&i| corpus.docs[i].source).collect();
        sources.sort_unstable();
        sources.dedup();
        let mut scored: Vec<SourceScores<'_>> = Vec::new();
        for source in sources {
            let (held, train): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|&&i| corpus.docs[i].source == source);
            let model = match self.fit_uncalibrated(corpus, &train) {
                Ok(model) => model,
                // The others hold one class only: this source cannot be held out.
                Err(TrainError::OneClass { .. }) => continue,
                Err(e) => return Err(e),
            };
            let logits = held
                .iter()
                .map(|&i| {
                    let doc = &corpus.docs[i];
                    (model.logit(&model.features_of(&doc.text)), doc.spam)
                })
                .collect();
            scored.push((source, logits));
        }
        Ok(fit_source_calibration(&scored, how))
    }

    /// Platt scaling `(a, b)` fitted on the out-of-fold log-odds of `rows`, folds keeping
    /// identical texts together.
    fn platt_out_of_fold(
        &self,
        corpus: &Corpus<'_>,
        rows: &[usize],
    ) -> Result<(f64, f64), TrainError> {
        let k = self.calibration_folds as u64;
        let fold_of = |i: usize| super::features::Gram::Chars(&corpus.docs[i].group).hash() % k;
        let mut scored = Vec::with_capacity(rows.len());
        for fold in 0..k {
            let (held, train): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|&&i| fold_of(i) == fold);
            if held.is_empty() {
                continue;
            }
            let model = self.fit_uncalibrated(corpus, &train)?;
            for i in held {
                let doc = &corpus.docs[i];
                scored.push((model.logit(&model.features_of(&doc.text)), doc.spam));
            }
        }
        Ok(platt(&scored))
    }

    fn fit_uncalibrated(
        &self,
        corpus: &Corpus<'_>,
        rows: &[usize],
    ) -> Result<SpamFilter, TrainError> {
        let spam = rows.iter().filter(|&&i| corpus.docs[i].spam).count();
        if spam == 0 || spam == rows.len() {
            return Err(TrainError::OneClass {
                spam,
                ham: rows.len() - spam,
            });
        }
        let term_lists: Vec<(&[u64], bool)> = rows
            .iter()
            .map(|&i| (corpus.docs[i].terms.as_slice(), corpus.docs[i].spam))
            .collect();
        let vocab = build_vocabulary(&self.features, &term_lists, &corpus.keys);
        let mut filter = SpamFilter {
            features: self.features.clone(),
            vocab,
            weights: Vec::new(),
            intercept: 0.0,
            explainable: Default::default(),
        };
        let sparse: Vec<SparseRow> = rows
            .iter()
            .map(|&i| filter.features_of(&corpus.docs[i].text))
            .collect();
        let labels: Vec<bool> = rows.iter().map(|&i| corpus.docs[i].spam).collect();
        let aux: Vec<bool> = rows.iter().map(|&i| corpus.docs[i].aux).collect();
        let split = self.auxiliary_domain && aux.contains(&true) && aux.contains(&false);
        let aux = if split { aux } else { Vec::new() };
        let n_cols = filter.n_features();
        if !self.average_word_char {
            (filter.weights, filter.intercept) = self.fit_split(&sparse, &labels, &aux, n_cols)?;
            return Ok(filter);
        }
        // Two models over the same columns, each seeing one block plus the metadata; the
        // average of their log-odds is again one linear model.
        filter.weights = vec![0.0; n_cols];
        for keep in [Block::Words, Block::Chars] {
            let blocks = &filter.vocab.blocks;
            let masked: Vec<SparseRow> =
                sparse.iter().map(|r| only_block(r, blocks, keep)).collect();
            let (w, b) = self.fit_split(&masked, &labels, &aux, n_cols)?;
            filter
                .weights
                .iter_mut()
                .zip(&w)
                .for_each(|(s, w)| *s += 0.5 * w);
            filter.intercept += 0.5 * b;
        }
        Ok(filter)
    }

    /// [`fit_linfa`](Self::fit_linfa), where each row marked in `aux` (empty: none) also
    /// carries a copy of its features in columns of its own and an intercept of its own;
    /// those are dropped from the result.
    fn fit_split(
        &self,
        sparse: &[SparseRow],
        labels: &[bool],
        aux: &[bool],
        n_cols: usize,
    ) -> Result<(Vec<f64>, f64), TrainError> {
        if aux.is_empty() {
            return self.fit_solver(sparse, labels, n_cols);
        }
        let own = n_cols as u32;
        let widened: Vec<SparseRow> = sparse
            .iter()
            .zip(aux)
            .map(|(row, &a)| {
                let mut row = row.clone();
                if a {
                    let copy: Vec<u32> = row.cols.iter().map(|&c| c + own).collect();
                    row.cols.extend(copy);
                    row.vals.extend_from_within(..);
                    row.cols.push(2 * own);
                    row.vals.push(1.0);
                }
                row
            })
            .collect();
        let (mut w, b) = self.fit_solver(&widened, labels, 2 * n_cols + 1)?;
        w.truncate(n_cols);
        Ok((w, b))
    }

    /// Fits with the recipe's solver: weights (positive means spam) and intercept.
    fn fit_solver(
        &self,
        sparse: &[SparseRow],
        labels: &[bool],
        n_cols: usize,
    ) -> Result<(Vec<f64>, f64), TrainError> {
        match &self.ftrl {
            Some(settings) => Ok(ftrl::fit(settings, sparse, labels, n_cols)?),
            None => self.fit_linfa(sparse, labels, n_cols),
        }
    }

    /// Fits linfa's logistic regression (warm-started by the sparse solver) and returns the
    /// weights and intercept oriented so that positive means spam.
    fn fit_linfa(
        &self,
        sparse: &[SparseRow],
        labels: &[bool],
        n_cols: usize,
    ) -> Result<(Vec<f64>, f64), TrainError> {
        let mut x = Array2::zeros((sparse.len(), n_cols));
        for (r, row) in sparse.iter().enumerate() {
            for (&c, &v) in row.cols.iter().zip(&row.vals) {
                x[[r, c as usize]] = v;
            }
        }
        let spam = labels.iter().filter(|&&s| s).count();
        // linfa labels the more frequent class +1 (the first seen on a tie); the warm start
        // must solve the same orientation.
        let spam_positive = match (2 * spam).cmp(&labels.len()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => labels.first().copied().unwrap_or(false),
        };
        let signs: Vec<f64> = labels
            .iter()
            .map(|&s| if s == spam_positive { 1.0 } else { -1.0 })
            .collect();
        let start = solver::minimize(
            &solver::Csr::from_rows(sparse, n_cols),
            &signs,
            self.alpha,
            self.gradient_tolerance * WARM_START_TOLERANCE_FACTOR,
            WARM_START_MAX_ITERATIONS,
        );
        let y: Array1<usize> = labels.iter().map(|&s| usize::from(s)).collect();
        let dataset = Dataset::new(x, y);
        let model = LogisticRegression::default()
            .alpha(self.alpha)
            .max_iterations(self.max_iterations)
            .gradient_tolerance(self.gradient_tolerance)
            .initial_params(Array1::from(start))
            .fit(&dataset)?;
        let sign = if model.labels().pos.class == 1 {
            1.0
        } else {
            -1.0
        };
        Ok((
            model.params().iter().map(|w| sign * w).collect(),
            sign * model.intercept(),
        ))
    }

    /// Stratified K-fold cross-validation with comments of identical normalized text kept in
    /// the same fold, so repeated texts cannot appear on both sides. Each fold learns its own
    /// vocabulary. Folds run in parallel on the available cores; `progress` receives each
    /// fold number, in order, once its result is collected.
    ///
    /// # Errors
    /// When `folds` is out of range or a fold fails to fit.
    pub fn cross_validate(
        &self,
        data: &[LabelledComment],
        folds: usize,
        threshold: f64,
        progress: impl FnMut(usize),
    ) -> Result<CvReport, TrainError> {
        self.cross_validate_with(data, folds, threshold, true, progress)
    }

    /// [`cross_validate`](Self::cross_validate), optionally without grouping: with
    /// `grouped == false` every comment is its own group (plain stratified folds), the usual
    /// protocol of published SMS figures, which lets repeated texts sit on both sides and so
    /// reads higher than the grouped figure.
    ///
    /// # Errors
    /// When `folds` is out of range or a fold fails to fit.
    pub fn cross_validate_with(
        &self,
        data: &[LabelledComment],
        folds: usize,
        threshold: f64,
        grouped: bool,
        mut progress: impl FnMut(usize),
    ) -> Result<CvReport, TrainError> {
        let mut corpus = prepare(&self.features, data);
        if !grouped {
            for (i, d) in corpus.docs.iter_mut().enumerate() {
                d.group = format!("{i}\u{1}{}", d.group);
            }
        }
        let assignment = assign_folds(&corpus.docs, folds)?;
        let mut report = CvReport {
            folds,
            pooled: Confusion::default(),
            per_fold: Vec::new(),
            log_loss: 0.0,
            brier: 0.0,
        };
        let evaluate = |k: usize| -> Result<(Confusion, f64, f64), TrainError> {
            let train: Vec<usize> = (0..data.len()).filter(|&i| assignment[i] != k).collect();
            let model = self.fit_indices(&corpus, &train)?;
            let (mut c, mut brier, mut log_loss) = (Confusion::default(), 0.0, 0.0);
            for i in (0..data.len()).filter(|&i| assignment[i] == k) {
                let doc = &corpus.docs[i];
                let p = model.probability(&doc.text);
                c.add(doc.spam, p >= threshold);
                let y = if doc.spam { 1.0 } else { 0.0 };
                brier += (p - y) * (p - y);
                let pc = p.clamp(1e-15, 1.0 - 1e-15);
                log_loss -= y * pc.ln() + (1.0 - y) * (1.0 - pc).ln();
            }
            Ok((c, brier, log_loss))
        };
        // Folds are independent: run them on the available cores, results in fold order.
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, folds);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if k >= folds {
                            break;
                        }
                        let r = evaluate(k);
                        if let Ok(mut d) = done.lock() {
                            d.push((k, r));
                        }
                    }
                });
            }
        });
        let mut results = done.into_inner().unwrap_or_default();
        results.sort_by_key(|r| r.0);
        for (k, r) in results {
            let (c, brier, log_loss) = r?;
            report.pooled.merge(&c);
            report.per_fold.push(c);
            report.brier += brier;
            report.log_loss += log_loss;
            progress(k + 1);
        }
        if report.per_fold.len() != folds {
            return Err(TrainError::InvalidFolds {
                folds,
                max: report.per_fold.len(),
            });
        }
        let n = data.len().max(1) as f64;
        report.brier /= n;
        report.log_loss /= n;
        Ok(report)
    }
}

/// The row restricted to the vocabulary columns of one block, metadata columns kept.
fn only_block(row: &SparseRow, blocks: &[Block], keep: Block) -> SparseRow {
    let mut out = SparseRow::default();
    for (&c, &v) in row.cols.iter().zip(&row.vals) {
        if blocks.get(c as usize).is_none_or(|&b| b == keep) {
            out.cols.push(c);
            out.vals.push(v);
        }
    }
    out
}

/// Platt scaling: `(a, b)` minimizing the log-loss of `sigmoid(a·z + b)` over `(z, spam)`
/// pairs, by Newton's method with targets smoothed as Platt proposed. `(1, 0)` (no change)
/// when the pairs cannot support a fit.
/// Out-of-source log-odds of one source's comments, each with whether it is spam.
pub type SourceScores<'a> = (&'a str, Vec<(f64, bool)>);

/// The calibration `(a, b)` (probability `sigmoid(a * logit + b)`) of
/// [`SourceCalibration`] from each source's out-of-source log-odds: Platt scaling on all of
/// them, then `b` lowered until at most `how.ham_flagged_target` of each non-exempt source's
/// ham (with at least 50 ham) reaches 0.5. `(1, 0)` with fewer than two sources.
pub fn fit_source_calibration(scored: &[SourceScores<'_>], how: &SourceCalibration) -> (f64, f64) {
    if scored.len() < 2 {
        return (1.0, 0.0);
    }
    let pooled: Vec<(f64, bool)> = scored.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    let (a, b) = platt(&pooled);
    let worst = scored
        .iter()
        .filter(|(source, _)| !how.exempt.iter().any(|e| e == source))
        .map(|(_, s)| {
            s.iter()
                .filter(|(_, spam)| !spam)
                .map(|(l, _)| *l)
                .collect::<Vec<_>>()
        })
        .filter(|ham| ham.len() >= MIN_CALIBRATION_HAM)
        .map(|ham| upper_quantile(&ham, how.ham_flagged_target))
        .fold(f64::NEG_INFINITY, f64::max);
    // The worst source's quantile must land just below log-odds 0 (p = 0.5).
    let shift = (a * worst + b).max(0.0);
    if shift > 0.0 {
        (a, b - shift - 1e-9)
    } else {
        (a, b)
    }
}

/// The value that `share` of `values` are strictly above (the largest when `share` is 0).
fn upper_quantile(values: &[f64], share: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let allowed = (share * sorted.len() as f64).floor() as usize;
    sorted
        .get(allowed.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NEG_INFINITY)
}

fn platt(scored: &[(f64, bool)]) -> (f64, f64) {
    let n_pos = scored.iter().filter(|s| s.1).count() as f64;
    let n_neg = scored.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return (1.0, 0.0);
    }
    let (t_pos, t_neg) = ((n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0));
    let (mut a, mut b) = (1.0, 0.0);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for &(z, spam) in scored {
            let t = if spam { t_pos } else { t_neg };
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let (d, w) = (p - t, p * (1.0 - p));
            ga += d * z;
            gb += d;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-9 {
            break;
        }
    }
    if a.is_finite() && b.is_finite() && a > 0.0 {
        (a, b)
    } else {
        (1.0, 0.0)
    }
}

/// Result of [`SpamFilterValidParams::cross_validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// Number of folds.
    pub folds: usize,
    /// Confusion matrix pooled over all held-out folds.
    pub pooled: Confusion,
    /// Confusion matrix of each fold.
    pub per_fold: Vec<Confusion>,
    /// Mean held-out log-loss: how well calibrated the probabilities are.
    pub log_loss: f64,
    /// Mean held-out Brier score (squared error of the probability).
    pub brier: f64,
}

/// Assigns each comment a fold: groups of identical normalized text stay together, and
/// each class's groups go, largest first, to the fold holding the fewest of that class.
fn assign_folds(docs: &[Prepared<'_>], folds: usize) -> Result<Vec<usize>, TrainError> {
    if folds < 2 || folds > docs.len() {
        return Err(TrainError::InvalidFolds {
            folds,
            max: docs.len(),
        });
    }
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        groups.entry(d.group.as_str()).or_default().push(i);
    }
    let mut groups: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
    // Deterministic order: size descending, then a hash of the text so similar texts scatter.
    let key = |s: &str| super::features::Gram::Chars(s).hash();
    groups.sort_by(|a, b| {
        b.1.len()
            .cmp(&a.1.len())
            .then_with(|| key(a.0).cmp(&key(b.0)))
            .then_with(|| a.0.cmp(b.0))
    });
    let mut load = vec![[0usize; 2]; folds];
    let mut out = vec![0; docs.len()];
    for (_, members) in groups {
        let class = usize::from(docs[members[0]].spam);
        let fold = (0..folds)
            .min_by_key(|&f| (load[f][class], load[f][0] + load[f][1], f))
            .unwrap_or(0);
        load[fold][class] += members.len();
        for i in members {
            out[i] = fold;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::Label;

    fn c(content: &str, label: Label) -> LabelledComment {
        LabelledComment {
            post_id: String::new(),
            author_name: String::new(),
            author_email: String::new(),
            author_url: String::new(),
            content: content.into(),
            label,
            source: String::new(),
        }
    }

    #[test]
    fn params_are_checked() {
        assert!(matches!(
            SpamFilterParams::new().alpha(-1.0).check(),
            Err(TrainError::InvalidAlpha(_))
        ));
        assert!(matches!(
            SpamFilterParams::new().gradient_tolerance(f64::NAN).check(),
            Err(TrainError::InvalidGradientTolerance(_))
        ));
        assert!(SpamFilterParams::new().check().is_ok());
    }

    #[test]
    fn one_class_is_rejected() {
        let p = SpamFilterParams::new().check().unwrap();
        let data = vec![c("a b", Label::Ham), c("c d", Label::Ham)];
        assert!(matches!(
            p.fit(&data),
            Err(TrainError::OneClass { spam: 0, ham: 2 })
        ));
    }

    #[test]
    fn duplicates_share_a_fold() {
        let cfg = FeatureConfig::default();
        let mut data = Vec::new();
        for i in 0..20 {
            data.push(c(&format!("ham text {i}"), Label::Ham));
            data.push(c("Check out my channel\u{FEFF}", Label::Spam));
            data.push(c(&format!("spam text {i}"), Label::Spam));
        }
        let corpus = prepare(&cfg, &data);
        let folds = assign_folds(&corpus.docs, 5).unwrap();
        let dup: Vec<usize> = (0..data.len())
            .filter(|&i| data[i].content.starts_with("Check"))
            .map(|i| folds[i])
            .collect();
        assert!(dup.iter().all(|&f| f == dup[0]));
        for k in 0..5 {
            assert!(folds.iter().filter(|&&f| f == k).count() > 0);
        }
    }

    fn sourced(content: String, label: Label, source: &str) -> LabelledComment {
        LabelledComment {
            source: source.into(),
            ..c(&content, label)
        }
    }

    /// Three communities; in "shouty" the ham uses the spam's words, so a model trained on
    /// the others flags it.
    fn three_sources() -> Vec<LabelledComment> {
        let mut data = Vec::new();
        for i in 0..60 {
            for source in ["calm", "quiet"] {
                data.push(sourced(
                    format!("nice talk {source} {i}"),
                    Label::Ham,
                    source,
                ));
                data.push(sourced(
                    format!("win cash now prize {i}"),
                    Label::Spam,
                    source,
                ));
            }
            data.push(sourced(
                format!("win the cash prize {i} lol"),
                Label::Ham,
                "shouty",
            ));
            data.push(sourced(
                format!("buy cash prize now {i}"),
                Label::Spam,
                "shouty",
            ));
        }
        data
    }

    fn calibrated(exempt: &[&str]) -> SpamFilter {
        SpamFilterParams::new()
            .ftrl(Some(FtrlSettings::default()))
            .calibrate_by_source(Some(SourceCalibration {
                ham_flagged_target: 0.0,
                exempt: exempt.iter().map(|s| s.to_string()).collect(),
            }))
            .check()
            .unwrap()
            .fit(&three_sources())
            .unwrap()
    }

    #[test]
    fn source_calibration_holds_unseen_ham_below_review_and_spares_exempt_sources() {
        let held = calibrated(&[]);
        let exempt = calibrated(&["shouty"]);
        assert!(
            held.intercept < exempt.intercept - 0.1,
            "holding 'shouty' to the target lowers the intercept: {} vs {}",
            held.intercept,
            exempt.intercept
        );
        let text = CommentText {
            content: "win the cash prize 7 lol",
            author_name: "",
            author_url: "",
        };
        let logit = |f: &SpamFilter| f.logit(&f.features_of(&text));
        assert!(logit(&held) < logit(&exempt));
    }

    #[test]
    fn upper_quantile_leaves_the_share_above() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        assert_eq!(upper_quantile(&v, 0.0), 9.0);
        assert_eq!(upper_quantile(&v, 0.2), 7.0);
        assert_eq!(upper_quantile(&[], 0.2), f64::NEG_INFINITY);
    }
}

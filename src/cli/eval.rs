//! `commentguard eval`: measure a model, or the training recipe, on labelled datasets.
//!
//! Modes: score the datasets with a model file (default); `--cv K` grouped stratified K-fold
//! cross-validation of the recipe (`--cv-ungrouped` for plain stratified folds); `--holdout FILE` trains the recipe on the datasets and
//! tests on FILE; `--leave-one-out` holds out each YouTube dataset in turn, training on all
//! the other datasets.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::train::RecipeArgs;
use anyhow::Context as _;
use serde::Serialize;

use crate::classifier::score::sigmoid;
use crate::classifier::train::{SourceScores, fit_source_calibration};
use crate::classifier::{CommentText, SpamFilterValidParams, SpamModel};
use crate::confusion::{Confusion, Metrics};
use crate::dataset::{self, Format, LabelledComment, LoadedDataset};
use crate::policy::Thresholds;

/// Arguments of `commentguard eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file to score with [default: the shipped model, built into the binary].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A labelled dataset; repeat for several.
    #[arg(long = "dataset", required = true)]
    pub datasets: Vec<PathBuf>,
    /// Format of every dataset, when detection is not wanted.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Cross-validate the training recipe with K grouped stratified folds instead.
    #[arg(long, value_name = "K", conflicts_with_all = ["holdout", "leave_one_out"])]
    pub cv: Option<usize>,
    /// With --cv: plain stratified folds, letting identical texts fall on both sides (the
    /// protocol of most published figures, for comparison; the grouped figure is the honest one).
    #[arg(long, requires = "cv")]
    pub cv_ungrouped: bool,
    /// Train the recipe on the datasets and test on this file instead.
    #[arg(long, value_name = "FILE", conflicts_with = "leave_one_out")]
    pub holdout: Option<PathBuf>,
    /// Hold out each YouTube dataset in turn, training on all the other datasets.
    #[arg(long, conflicts_with = "leave_one_source_out")]
    pub leave_one_out: bool,
    /// Hold out each source in turn (a row's `source`, or its file's name), training the
    /// recipe on all the others: how it does on a community it has never seen.
    #[arg(long, conflicts_with_all = ["cv", "holdout"])]
    pub leave_one_source_out: bool,
    /// Score at or above which a comment counts as flagged [default: the pending threshold,
    /// 0.5; with --toxicity, the toxicity hold threshold].
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Measure the toxicity model on toxicity datasets (`content`, `toxic`, optional
    /// `spans`) instead: `roc_auc`, `mcc`, `recall`, `clean_flagged_rate`, `span_f1`.
    #[arg(long, conflicts_with_all = ["cv", "holdout", "leave_one_out", "plot", "show_errors"])]
    pub toxicity: bool,
    /// With a model: also print each misclassified comment with its score (to stderr).
    #[arg(long)]
    pub show_errors: bool,
    /// With a model: also draw the spam and ham score distributions and the ROC curve, with
    /// the default thresholds marked, into this PNG file.
    #[arg(long, value_name = "FILE.png", conflicts_with_all = ["cv", "holdout", "leave_one_out"])]
    pub plot: Option<PathBuf>,
    /// Training recipe overrides (modes that train).
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

/// One evaluated part (a holdout file or a fold).
#[derive(Debug, Serialize)]
struct Part {
    name: String,
    #[serde(flatten)]
    metrics: Metrics,
}

/// The single JSON object `--json` prints: pooled figures plus the parts.
#[derive(Debug, Serialize)]
struct Report {
    mode: &'static str,
    model: Option<String>,
    threshold: f64,
    #[serde(flatten)]
    metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_mcc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_ham_false_positive_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean_accuracy: Option<f64>,
    /// The lowest MCC of a part holding both spam and ham.
    #[serde(skip_serializing_if = "Option::is_none")]
    worst_mcc: Option<f64>,
    /// The highest share of ham flagged of a part.
    #[serde(skip_serializing_if = "Option::is_none")]
    worst_ham_false_positive_rate: Option<f64>,
    parts: Vec<Part>,
}

fn text_of(c: &LabelledComment) -> CommentText<'_> {
    CommentText {
        content: &c.content,
        author_name: &c.author_name,
        author_url: &c.author_url,
    }
}

fn score_all(model: &SpamModel, data: &[LabelledComment], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for d in data {
        let p = model.filter().probability(&text_of(d));
        c.add(d.label.is_spam(), p >= threshold);
    }
    c
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn train_and_test(
    params: &SpamFilterValidParams,
    train: &[LabelledComment],
    test: &[LabelledComment],
    threshold: f64,
) -> anyhow::Result<Confusion> {
    let filter = params.fit(train)?;
    let mut c = Confusion::default();
    for d in test {
        c.add(
            d.label.is_spam(),
            filter.probability(&text_of(d)) >= threshold,
        );
    }
    Ok(c)
}

/// What one mode measured, before the means over its parts are taken.
struct Outcome {
    /// The mode's name in the report.
    mode: &'static str,
    /// The version of the model file scored, in the model mode.
    model: Option<String>,
    /// The figures over all parts together.
    pooled: Confusion,
    /// One entry per holdout file, fold or dataset.
    parts: Vec<Part>,
}

/// Runs `commentguard eval`.
///
/// # Errors
/// Any failure, with context for the user.
pub fn run(args: Args) -> anyhow::Result<()> {
    let loaded: Vec<LoadedDataset> = args
        .datasets
        .iter()
        .map(|p| dataset::load(p, args.format))
        .collect::<Result<_, _>>()?;
    let params = args.recipe.params()?;
    let all: Vec<LabelledComment> = loaded.iter().flat_map(|d| d.comments.clone()).collect();
    let threshold = args.threshold.unwrap_or(Thresholds::DEFAULT_PENDING);
    let outcome = if let Some(k) = args.cv {
        cross_validate(&params, &all, k, threshold, !args.cv_ungrouped)?
    } else if let Some(holdout) = &args.holdout {
        let test = dataset::read(holdout, args.format)?;
        let c = train_and_test(&params, &all, &test, threshold)?;
        let parts = vec![Part {
            name: file_name(holdout),
            metrics: c.metrics(),
        }];
        Outcome {
            mode: "holdout",
            model: None,
            pooled: c,
            parts,
        }
    } else if args.leave_one_out {
        leave_one_out(&params, &loaded, threshold)?
    } else if args.leave_one_source_out {
        leave_one_source_out(&params, &all, threshold)?
    } else {
        score_model(&args, &loaded)?
    };
    let report = Report::new(outcome, threshold);
    print_report(&mut std::io::stdout().lock(), &report, args.json)?;
    Ok(())
}

impl Report {
    /// The report of a mode's outcome, with the means over its parts. MCC means and worsts
    /// count only parts holding both spam and ham (MCC says nothing of a one-class part;
    /// its recall or ham flagged still shows in its row).
    fn new(outcome: Outcome, threshold: f64) -> Self {
        let parts = outcome.parts;
        let mean_of = |values: Vec<f64>| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let all = |f: fn(&Metrics) -> f64| parts.iter().map(|p| f(&p.metrics)).collect::<Vec<_>>();
        let two_class_mcc: Vec<f64> = parts
            .iter()
            .map(|p| &p.metrics)
            .filter(|m| m.true_positive + m.false_negative > 0)
            .filter(|m| m.false_positive + m.true_negative > 0)
            .map(|m| m.mcc)
            .collect();
        let with_ham: Vec<f64> = parts
            .iter()
            .map(|p| &p.metrics)
            .filter(|m| m.false_positive + m.true_negative > 0)
            .map(|m| m.ham_false_positive_rate)
            .collect();
        Self {
            mode: outcome.mode,
            model: outcome.model,
            threshold,
            metrics: outcome.pooled.metrics(),
            mean_mcc: mean_of(two_class_mcc.clone()),
            mean_ham_false_positive_rate: mean_of(with_ham.clone()),
            mean_accuracy: mean_of(all(|m| m.accuracy)),
            worst_mcc: two_class_mcc.into_iter().reduce(f64::min),
            worst_ham_false_positive_rate: with_ham.into_iter().reduce(f64::max),
            parts,
        }
    }
}

/// `--cv K`: cross-validates the recipe on all datasets together, one part per fold.
fn cross_validate(
    params: &SpamFilterValidParams,
    all: &[LabelledComment],
    k: usize,
    threshold: f64,
    grouped: bool,
) -> anyhow::Result<Outcome> {
    let report = params.cross_validate_with(all, k, threshold, grouped, |_| {})?;
    let parts = report
        .per_fold
        .iter()
        .enumerate()
        .map(|(i, c)| Part {
            name: format!("fold {}", i + 1),
            metrics: c.metrics(),
        })
        .collect();
    Ok(Outcome {
        mode: "cv",
        model: None,
        pooled: report.pooled,
        parts,
    })
}

/// `--leave-one-out`: trains on all other datasets and tests on each YouTube one in turn.
fn leave_one_out(
    params: &SpamFilterValidParams,
    loaded: &[LoadedDataset],
    threshold: f64,
) -> anyhow::Result<Outcome> {
    let mut pooled = Confusion::default();
    let mut parts = Vec::new();
    for (i, held) in loaded.iter().enumerate() {
        if held.info.format != Format::Youtube {
            continue;
        }
        let train: Vec<LabelledComment> = loaded
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .flat_map(|(_, d)| d.comments.iter().cloned())
            .collect();
        let c = train_and_test(params, &train, &held.comments, threshold)?;
        pooled.merge(&c);
        parts.push(Part {
            name: held.info.file.clone(),
            metrics: c.metrics(),
        });
    }
    anyhow::ensure!(
        !parts.is_empty(),
        "--leave-one-out needs at least one YouTube dataset"
    );
    Ok(Outcome {
        mode: "leave-one-out",
        model: None,
        pooled,
        parts,
    })
}

/// `--leave-one-source-out`: for each source, trains on every other source and tests on it.
/// Training rows whose text (case and spacing aside) also appears in the held-out source are
/// left out, so no comment is on both sides.
///
/// A recipe calibrated by source would nest a leave-one-source-out inside each fold; instead
/// the folds fit uncalibrated, and each held-out source is then scored with the calibration
/// fitted on the other sources' held-out scores (never its own).
fn leave_one_source_out(
    params: &SpamFilterValidParams,
    all: &[LabelledComment],
    threshold: f64,
) -> anyhow::Result<Outcome> {
    let mut sources: Vec<&str> = Vec::new();
    for c in all {
        if !sources.contains(&c.source.as_str()) {
            sources.push(&c.source);
        }
    }
    anyhow::ensure!(
        sources.len() >= 2,
        "--leave-one-source-out needs at least two sources (a `source` field, or one file each)"
    );
    let uncalibrated = SpamFilterValidParams {
        calibrate_by_source: None,
        ..params.clone()
    };
    let texts: Vec<String> = all.iter().map(|c| same_text(&c.content)).collect();
    let mut scored: Vec<SourceScores<'_>> = Vec::new();
    for held in sources {
        let seen: std::collections::HashSet<&str> = all
            .iter()
            .zip(&texts)
            .filter(|(c, _)| c.source == held)
            .map(|(_, t)| t.as_str())
            .collect();
        let train: Vec<LabelledComment> = all
            .iter()
            .zip(&texts)
            .filter(|(c, t)| c.source != held && !seen.contains(t.as_str()))
            .map(|(c, _)| c.clone())
            .collect();
        let filter = uncalibrated.fit(&train)?;
        let logits = all
            .iter()
            .filter(|c| c.source == held)
            .map(|c| {
                (
                    filter.logit(&filter.features_of(&text_of(c))),
                    c.label.is_spam(),
                )
            })
            .collect();
        scored.push((held, logits));
    }
    let mut pooled = Confusion::default();
    let mut parts = Vec::new();
    for (i, (held, logits)) in scored.iter().enumerate() {
        let (a, b) = match &params.calibrate_by_source {
            Some(how) => {
                let others: Vec<SourceScores<'_>> = (scored.iter().enumerate())
                    .filter(|&(j, _)| j != i)
                    .map(|(_, s)| s.clone())
                    .collect();
                fit_source_calibration(&others, how)
            }
            None => (1.0, 0.0),
        };
        let mut c = Confusion::default();
        for &(logit, spam) in logits {
            c.add(spam, sigmoid(a * logit + b) >= threshold);
        }
        pooled.merge(&c);
        parts.push(Part {
            name: (*held).to_owned(),
            metrics: c.metrics(),
        });
    }
    Ok(Outcome {
        mode: "leave-one-source-out",
        model: None,
        pooled,
        parts,
    })
}

/// A text as duplicates are recognised across sources: lowercase, spacing collapsed.
pub(super) fn same_text(content: &str) -> String {
    content
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The default mode: scores each dataset with the model file, one part per dataset, with
/// the misclassified comments and the plot when asked for.
fn score_model(args: &Args, loaded: &[LoadedDataset]) -> anyhow::Result<Outcome> {
    let threshold = args.threshold.unwrap_or(Thresholds::DEFAULT_PENDING);
    let model = SpamModel::load_or_shipped(args.model.as_deref()).with_context(|| {
        let shown = args.model.as_ref().map(|p| p.display().to_string());
        format!(
            "loading model {}",
            shown
                .as_deref()
                .unwrap_or(crate::classifier::SHIPPED_MODEL_NAME)
        )
    })?;
    let mut pooled = Confusion::default();
    let mut parts = Vec::new();
    for d in loaded {
        if args.show_errors {
            print_errors(&model, &d.comments, threshold);
        }
        let c = score_all(&model, &d.comments, threshold);
        pooled.merge(&c);
        parts.push(Part {
            name: d.info.file.clone(),
            metrics: c.metrics(),
        });
    }
    if let Some(path) = &args.plot {
        let scores: Vec<(f64, bool)> = loaded
            .iter()
            .flat_map(|d| &d.comments)
            .map(|c| (model.score(&text_of(c)).probability, c.label.is_spam()))
            .collect();
        crate::replay::plot::draw(path, &scores, Thresholds::default())?;
    }
    Ok(Outcome {
        mode: "model",
        model: Some(model.version().to_owned()),
        pooled,
        parts,
    })
}

/// `--show-errors`: prints each comment the model gets wrong, with its score and the
/// features that pushed it toward spam, to stderr.
fn print_errors(model: &SpamModel, comments: &[LabelledComment], threshold: f64) {
    for c in comments {
        let s = model.score(&text_of(c));
        if (s.probability >= threshold) != c.label.is_spam() {
            let why: Vec<&str> = s.toward_spam.iter().map(|c| c.feature.as_str()).collect();
            eprintln!(
                "{:.3} {:?} {:?} spam-features {:?}",
                s.probability, c.label, c.content, why
            );
        }
    }
}

/// Prints the report as text, or as one JSON object.
fn print_report(out: &mut impl Write, report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    if let Some(v) = &report.model {
        writeln!(out, "model {v}")?;
    }
    writeln!(
        out,
        "{:<28} {:>6} {:>9} {:>9} {:>7} {:>7} {:>11}",
        "part", "total", "accuracy", "precision", "recall", "mcc", "ham flagged"
    )?;
    let mut line = |name: &str, m: &Metrics| {
        writeln!(
            out,
            "{:<28} {:>6} {:>9.4} {:>9.4} {:>7.4} {:>7.4} {:>11.4}",
            name, m.total, m.accuracy, m.precision, m.recall, m.mcc, m.ham_false_positive_rate
        )
    };
    for p in &report.parts {
        line(&p.name, &p.metrics)?;
    }
    line("pooled", &report.metrics)?;
    writeln!(
        out,
        "mean over parts: accuracy {:.4} mcc {:.4} ham flagged {:.4}",
        report.mean_accuracy.unwrap_or(0.0),
        report.mean_mcc.unwrap_or(0.0),
        report.mean_ham_false_positive_rate.unwrap_or(0.0)
    )?;
    if report.parts.len() > 1 {
        writeln!(
            out,
            "worst part: mcc {:.4} ham flagged {:.4} (mcc over parts with spam and ham)",
            report.worst_mcc.unwrap_or(0.0),
            report.worst_ham_false_positive_rate.unwrap_or(0.0)
        )?;
    }
    Ok(())
}

//! `commentguard train`: fit a spam model on labelled datasets, cross-validate the recipe on
//! the same data, and write a model file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use linfa::ParamGuard as _;

use crate::classifier::features::FeatureConfig;
use crate::classifier::ftrl::FtrlSettings;
use crate::classifier::model_file::CvMetrics;
use crate::classifier::signals::SignalGroup;
use crate::classifier::{
    ModelFile, SourceCalibration, SpamFilter, SpamFilterParams, SpamFilterValidParams, SpamModel,
};
use crate::dataset::{self, Format};
use crate::policy::Thresholds;

/// Arguments of `commentguard train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A labelled dataset; repeat for several. The format is detected unless --format is given.
    #[arg(long = "dataset", required_unless_present = "from_store")]
    pub datasets: Vec<PathBuf>,
    /// Also train on the moderator labels stored in this data directory (the server using
    /// it must be stopped: sled allows one process at a time), or in the PostgreSQL database
    /// at this `postgres://` URL (which may stay in use).
    #[arg(long)]
    pub from_store: Option<PathBuf>,
    /// Format of every dataset, when detection is not wanted.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Where to write the model; its file stem becomes the model name.
    #[arg(long)]
    pub out: PathBuf,
    /// Folds of the cross-validation stored with the model (0 skips it).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Train the toxicity model on toxicity datasets (JSON Lines rows with `content`,
    /// `toxic` and optional `spans`) with its own recipe; the recipe flags adjust it.
    #[arg(long, conflicts_with_all = ["from_store", "format"])]
    pub toxicity: bool,
    /// Training recipe overrides.
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

/// How the logistic model is fitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Solver {
    /// linfa's FTRL-Proximal, in batches.
    #[default]
    Ftrl,
    /// A sparse L-BFGS start confirmed by linfa's logistic regression.
    Lbfgs,
}

/// Overrides of the training recipe, shared by `train` and the training modes of `eval`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RecipeArgs {
    /// L2 penalty of the logistic regression.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Cap on word, bigram and domain terms.
    #[arg(long)]
    pub max_word_features: Option<usize>,
    /// Cap on character n-grams.
    #[arg(long)]
    pub max_char_features: Option<usize>,
    /// Cap on solver iterations.
    #[arg(long)]
    pub max_iterations: Option<u64>,
    /// Shortest character n-gram.
    #[arg(long)]
    pub char_ngram_min: Option<usize>,
    /// Longest character n-gram (0 disables character n-grams).
    #[arg(long)]
    pub char_ngram_max: Option<usize>,
    /// Leave out the intent terms ("check out my", "my channel", "his channel").
    #[arg(long)]
    pub no_intent: bool,
    /// Scale each term by its naive-Bayes log-count ratio (NB-LR).
    #[arg(long)]
    pub nb_weighting: bool,
    /// Give long counts ("1000000000 views") the phone-number placeholder, as models before
    /// counts were told apart did.
    #[arg(long)]
    pub no_counts: bool,
    /// Leave out the sentence-opening words as terms of their own ("^check").
    #[arg(long)]
    pub no_lead_words: bool,
    /// Give threadless training comments (SMS) feature weights of their own, dropped after
    /// fitting.
    #[arg(long)]
    pub auxiliary_domain: bool,
    /// Average a word model and a character model instead of fitting one over both.
    #[arg(long)]
    pub average_word_char: bool,
    /// Recalibrate probabilities (Platt) on out-of-fold scores of K folds.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub calibration_folds: usize,
    /// The signal groups to use, comma-separated (default: none; leave-one-source-out did
    /// not keep them, see docs/classifier.md).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "GROUPS",
        conflicts_with = "no_signals"
    )]
    pub signals: Option<Vec<SignalGroup>>,
    /// Use none of the signal groups.
    #[arg(long)]
    pub no_signals: bool,
    /// Calibrate on leave-one-source-out scores so that 0.5 flags at most this share of
    /// each source's ham (for example 0.02); replaces --calibration-folds.
    #[arg(long, value_name = "SHARE", conflicts_with = "calibration_folds")]
    pub calibrate_by_source: Option<f64>,
    /// With --calibrate-by-source: a source trained on but not held to the share (an
    /// auxiliary domain such as e-mail); repeat for several.
    #[arg(long, value_name = "SOURCE", requires = "calibrate_by_source")]
    pub calibration_exempt: Vec<String>,
    /// The solver: linfa's FTRL-Proximal in batches (scales to the whole corpus), or L-BFGS
    /// plus linfa's logistic regression (the recipe of earlier models; memory grows with
    /// rows × terms).
    #[arg(long, value_enum, default_value_t = Solver::Ftrl)]
    pub solver: Solver,
    /// With FTRL: passes over the data.
    #[arg(long, value_name = "N")]
    pub ftrl_epochs: Option<usize>,
    /// With FTRL: the learning rate.
    #[arg(long)]
    pub ftrl_learning_rate: Option<f64>,
    /// With FTRL: the L1 penalty (0 to 1).
    #[arg(long)]
    pub ftrl_l1: Option<f64>,
    /// With FTRL: the L2 penalty (0 to 1).
    #[arg(long)]
    pub ftrl_l2: Option<f64>,
    /// With FTRL: rows per update.
    #[arg(long)]
    pub ftrl_batch: Option<usize>,
}

impl RecipeArgs {
    /// The default recipe with these overrides, checked.
    ///
    /// # Errors
    /// When an override is out of range.
    pub fn params(&self) -> anyhow::Result<SpamFilterValidParams> {
        self.params_over(FeatureConfig::default())
    }

    /// The recipe with `features` as its base and these overrides, checked.
    ///
    /// # Errors
    /// When an override is out of range.
    pub fn params_over(
        &self,
        mut features: FeatureConfig,
    ) -> anyhow::Result<SpamFilterValidParams> {
        let mut p = SpamFilterParams::new();
        if let Some(a) = self.alpha {
            p = p.alpha(a);
        }
        if let Some(n) = self.max_word_features {
            features.max_word_features = n;
        }
        if let Some(n) = self.max_char_features {
            features.max_char_features = n;
        }
        if let Some(n) = self.char_ngram_min {
            features.char_ngram_min = n;
        }
        if let Some(n) = self.char_ngram_max {
            features.char_ngram_max = n;
        }
        if let Some(n) = self.max_iterations {
            p = p.max_iterations(n);
        }
        features.intent &= !self.no_intent;
        features.nb_weighting |= self.nb_weighting;
        features.counts &= !self.no_counts;
        features.lead_words &= !self.no_lead_words;
        if let Some(groups) = &self.signals {
            features.signals.clone_from(groups);
        }
        if self.no_signals {
            features.signals.clear();
        }
        p = p
            .average_word_char(self.average_word_char)
            .auxiliary_domain(self.auxiliary_domain)
            .calibration_folds(self.calibration_folds)
            .ftrl(self.ftrl())
            .calibrate_by_source(self.calibrate_by_source.map(|share| SourceCalibration {
                ham_flagged_target: share,
                exempt: self.calibration_exempt.clone(),
            }));
        Ok(p.features(features).check()?)
    }

    fn ftrl(&self) -> Option<FtrlSettings> {
        if self.solver == Solver::Lbfgs {
            return None;
        }
        let mut s = FtrlSettings::default();
        s.epochs = self.ftrl_epochs.unwrap_or(s.epochs);
        s.learning_rate = self.ftrl_learning_rate.unwrap_or(s.learning_rate);
        s.l1 = self.ftrl_l1.unwrap_or(s.l1);
        s.l2 = self.ftrl_l2.unwrap_or(s.l2);
        s.batch = self.ftrl_batch.unwrap_or(s.batch);
        Some(s)
    }
}

/// The PostgreSQL URL `--from-store` was given instead of a directory, if it was.
fn database_url(source: &std::path::Path) -> Option<&str> {
    source
        .to_str()
        .filter(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// The moderator labels of a data directory (or PostgreSQL URL) as a dataset, fingerprinted
/// like a file.
///
/// # Errors
/// When the database cannot be opened (for instance while a server uses it) or read.
pub fn store_labels(dir: &std::path::Path) -> anyhow::Result<dataset::LoadedDataset> {
    use sha2::{Digest as _, Sha256};
    // A runtime of its own, on a thread of its own: callers may be inside another runtime.
    let read = || -> anyhow::Result<Vec<crate::store::LabelledText>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let store: std::sync::Arc<dyn crate::store::Storage> = match database_url(dir) {
                Some(url) => {
                    let options = crate::store::postgres::PgOptions {
                        pool_size: 2,
                        batch_limit: 1,
                    };
                    crate::store::postgres::PgStore::open(url, options)
                        .await
                        .context("cannot open the PostgreSQL database")?
                }
                None => crate::store::embedded::EmbeddedStore::open(dir, Default::default(), 1)
                    .with_context(|| format!("cannot open the database in {}", dir.display()))?,
            };
            let labels = store.labels().await?;
            store.close().await?;
            Ok(labels)
        })
    };
    let labels = std::thread::scope(|scope| scope.spawn(read).join())
        .map_err(|_| anyhow::anyhow!("reading the labels failed"))??;
    let mut digest = Sha256::new();
    let comments: Vec<dataset::LabelledComment> = labels
        .into_iter()
        .map(|l| {
            digest.update([u8::from(l.label.is_spam())]);
            digest.update(l.content.as_bytes());
            dataset::LabelledComment {
                post_id: String::new(),
                author_name: l.author_name,
                author_email: String::new(),
                author_url: l.author_url,
                content: l.content,
                label: l.label,
                source: "store".to_owned(),
            }
        })
        .collect();
    let spam = comments.iter().filter(|c| c.label.is_spam()).count();
    Ok(dataset::LoadedDataset {
        info: dataset::DatasetInfo {
            file: "moderator-labels".to_owned(),
            format: Format::Jsonl,
            records: comments.len(),
            spam,
            ham: comments.len() - spam,
            sha256: hex::encode(digest.finalize()),
        },
        comments,
    })
}

/// Runs `commentguard train`.
///
/// # Errors
/// Any failure, with context for the user.
pub fn run(args: Args) -> anyhow::Result<()> {
    let params = args.recipe.params()?;
    let (infos, data) = read_training_data(&args)?;
    anyhow::ensure!(!data.is_empty(), "no labelled comments to train on");
    let (cv, filter) = cross_validate_and_fit(&params, &data, args.folds)?;

    let name = args
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned());
    let command = std::iter::once("commentguard".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let file = ModelFile::new(&name, command, params, infos, cv.clone(), &filter);
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    file.save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let model = SpamModel::from_parts(&file, filter);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} ({} terms, version {})",
        args.out.display(),
        model.filter().vocab.len(),
        model.version()
    )?;
    if let Some(cv) = cv {
        print_cv(&mut out, &cv)?;
    }
    Ok(())
}

/// Reads the datasets and the stored moderator labels to train on, saying on stderr how
/// many comments of each kind every source held.
fn read_training_data(
    args: &Args,
) -> anyhow::Result<(Vec<dataset::DatasetInfo>, Vec<dataset::LabelledComment>)> {
    let mut infos = Vec::new();
    let mut data = Vec::new();
    for path in &args.datasets {
        let d = dataset::load(path, args.format)?;
        eprintln!(
            "read {}: {} comments ({} spam, {} ham)",
            path.display(),
            d.info.records,
            d.info.spam,
            d.info.ham
        );
        infos.push(d.info);
        data.extend(d.comments);
    }
    if let Some(dir) = &args.from_store {
        let d = store_labels(dir)?;
        eprintln!(
            "read moderator labels in {}: {} comments ({} spam, {} ham)",
            dir.display(),
            d.info.records,
            d.info.spam,
            d.info.ham
        );
        infos.push(d.info);
        data.extend(d.comments);
    }
    Ok((infos, data))
}

/// Cross-validates the recipe with `folds` folds (none for 0), then fits the final model on
/// all the data, under a progress bar on stderr.
fn cross_validate_and_fit(
    params: &SpamFilterValidParams,
    data: &[dataset::LabelledComment],
    folds: usize,
) -> anyhow::Result<(Option<CvMetrics>, SpamFilter)> {
    let threshold = Thresholds::default().pending;
    let bar = ProgressBar::new(folds as u64 + 1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let cv = if folds > 0 {
        bar.set_message(format!("cross-validating ({folds} folds)"));
        let report =
            params.cross_validate(data, folds, threshold, |k| bar.set_position(k as u64))?;
        eprintln!(
            "cross-validation took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Some(CvMetrics::from_report(&report, threshold))
    } else {
        None
    };
    bar.set_message("fitting the final model");
    let filter = params.fit(data)?;
    bar.inc(1);
    bar.finish_with_message("done");
    eprintln!(
        "training took {:.1} s in total",
        started.elapsed().as_secs_f64()
    );
    Ok((cv, filter))
}

/// Prints the cross-validation figures stored with the model, on one line.
fn print_cv(out: &mut impl Write, cv: &CvMetrics) -> std::io::Result<()> {
    let m = &cv.metrics;
    writeln!(
        out,
        "{}-fold grouped CV at threshold {}: accuracy {:.4} precision {:.4} recall {:.4} f1 {:.4} mcc {:.4} ham flagged {:.4} (tp {} fp {} tn {} fn {}), log-loss {:.4}, brier {:.4}",
        cv.folds,
        cv.threshold,
        m.accuracy,
        m.precision,
        m.recall,
        m.f1,
        m.mcc,
        m.ham_false_positive_rate,
        m.true_positive,
        m.false_positive,
        m.true_negative,
        m.false_negative,
        cv.log_loss,
        cv.brier
    )
}

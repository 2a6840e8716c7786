//! The model file: versioned JSON holding the feature recipe, the learned parameters, what
//! the model was trained on and how it measured, sealed by a SHA-256 checksum.
//!
//! The checksum covers the compact JSON serialization of the file's content with the
//! `checksum` field set to the empty string.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ModelError;
use super::features::{META_NAMES, Vocabulary};
use super::score::SpamFilter;
use super::train::{CvReport, SpamFilterValidParams};
use crate::confusion::Metrics;
use crate::dataset::DatasetInfo;

/// The model file layout this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The whole model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Layout version; files of another version are refused rather than misread.
    pub format_version: u32,
    /// Model name (the file stem it was written as), the first part of the version string.
    pub name: String,
    /// The program that wrote it.
    pub created_by: String,
    /// The command line that trained it, so it can be reproduced.
    pub training_command: String,
    /// The training recipe, including the feature configuration scoring must repeat.
    pub params: SpamFilterValidParams,
    /// The datasets it was trained on.
    pub training_data: Vec<DatasetInfo>,
    /// Cross-validated figures of the recipe on the same data, if measured.
    pub cv_metrics: Option<CvMetrics>,
    /// The learned parameters.
    pub parameters: Parameters,
    /// How a model that marks spans (the toxicity model) finds them. Absent in spam models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans: Option<SpanSettings>,
    /// SHA-256 (hex) of the content with this field empty; detects damage.
    pub checksum: String,
}

/// How a model that marks spans finds them (see `crate::toxicity::spans`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanSettings {
    /// A word is marked when, alone, it moves the model's log-odds up by at least this.
    pub threshold: f64,
    /// The type raters most often gave each word (lowercase) they marked.
    pub kinds: BTreeMap<String, String>,
}

impl Default for SpanSettings {
    fn default() -> Self {
        Self {
            threshold: 2.0,
            kinds: BTreeMap::new(),
        }
    }
}

/// Cross-validation figures stored with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvMetrics {
    /// Number of folds.
    pub folds: usize,
    /// How folds were formed, in words.
    pub grouping: String,
    /// The probability at or above which a comment counted as flagged.
    pub threshold: f64,
    /// Figures pooled over the held-out folds.
    pub metrics: Metrics,
    /// Mean held-out log-loss.
    pub log_loss: f64,
    /// Mean held-out Brier score.
    pub brier: f64,
}

impl CvMetrics {
    /// Summarizes a cross-validation report.
    pub fn from_report(report: &CvReport, threshold: f64) -> Self {
        Self {
            folds: report.folds,
            grouping: "stratified; comments with identical normalized text share a fold".into(),
            threshold,
            metrics: report.pooled.metrics(),
            log_loss: report.log_loss,
            brier: report.brier,
        }
    }
}

/// The learned logistic model over the vocabulary and metadata features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// Log-odds of spam for an empty feature vector.
    pub intercept: f64,
    /// Term keys (`w:word`, `b:two words`, `c:chars`, `d:domain`, `a:author domain`,
    /// `i:intent`, `s:sentence-opening word`).
    pub vocabulary: Vec<String>,
    /// Inverse document frequency of each term.
    pub idf: Vec<f64>,
    /// Weight of each term.
    pub weights: Vec<f64>,
    /// Metadata feature names, in column order after the vocabulary.
    pub meta_names: Vec<String>,
    /// Weight of each metadata feature.
    pub meta_weights: Vec<f64>,
}

impl ModelFile {
    /// Packs a fitted filter with its provenance and seals it with the checksum.
    pub fn new(
        name: &str,
        training_command: String,
        params: SpamFilterValidParams,
        training_data: Vec<DatasetInfo>,
        cv_metrics: Option<CvMetrics>,
        filter: &SpamFilter,
    ) -> Self {
        let n = filter.vocab.len();
        let mut file = Self {
            format_version: FORMAT_VERSION,
            name: name.to_owned(),
            created_by: format!("commentguard {}", env!("CARGO_PKG_VERSION")),
            training_command,
            params,
            training_data,
            cv_metrics,
            parameters: Parameters {
                intercept: filter.intercept,
                vocabulary: filter.vocab.keys.clone(),
                idf: filter.vocab.idf.clone(),
                weights: filter.weights[..n].to_vec(),
                meta_names: META_NAMES.iter().map(|s| (*s).to_owned()).collect(),
                meta_weights: filter.weights[n..].to_vec(),
            },
            spans: None,
            checksum: String::new(),
        };
        file.checksum = file.compute_checksum();
        file
    }

    /// SHA-256 of the canonical content (compact JSON with an empty checksum).
    pub fn compute_checksum(&self) -> String {
        let mut unsealed = self.clone();
        unsealed.checksum.clear();
        let bytes = serde_json::to_vec(&unsealed).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Writes the file as pretty JSON.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Reads and verifies a model file.
    ///
    /// # Errors
    /// [`ModelError`] naming the file when it is unreadable, damaged, of another format
    /// version or internally inconsistent.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_bytes(&bytes, &shown)
    }

    /// Verifies a model held in memory (the shipped one, compiled into the binary); `shown`
    /// names it in errors.
    ///
    /// # Errors
    /// As [`ModelFile::load`], but for reading.
    pub fn from_bytes(bytes: &[u8], shown: &str) -> Result<Self, ModelError> {
        let shown = shown.to_owned();
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Damaged {
                path: shown.clone(),
                reason: format!("not valid JSON ({e})"),
            })?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(ModelError::Incompatible {
                path: shown,
                found: version.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                supported: FORMAT_VERSION,
            });
        }
        let file: ModelFile = serde_json::from_value(value).map_err(|e| ModelError::Damaged {
            path: shown.clone(),
            reason: format!("unexpected content ({e})"),
        })?;
        let actual = file.compute_checksum();
        if actual != file.checksum {
            return Err(ModelError::Checksum {
                path: shown,
                expected: file.checksum,
                actual,
            });
        }
        Ok(file)
    }

    /// The file at `path`, or else the built-in `shipped` bytes (with the name logs and errors
    /// give them), verified, with its scoring filter.
    ///
    /// # Errors
    /// When the file is missing, damaged or of an incompatible version.
    pub fn load_with_filter(
        path: Option<&Path>,
        (shipped, shipped_name): (&[u8], &str),
    ) -> Result<(Self, SpamFilter), ModelError> {
        let (file, shown) = match path {
            Some(path) => (Self::load(path)?, path),
            None => (
                Self::from_bytes(shipped, shipped_name)?,
                Path::new(shipped_name),
            ),
        };
        let filter = file.filter(shown)?;
        Ok((file, filter))
    }

    /// Rebuilds the scoring filter from the stored parameters.
    ///
    /// # Errors
    /// [`ModelError::Damaged`] when lengths disagree or the vocabulary is invalid.
    pub fn filter(&self, path: &Path) -> Result<SpamFilter, ModelError> {
        let damaged = |reason: String| ModelError::Damaged {
            path: path.display().to_string(),
            reason,
        };
        let p = &self.parameters;
        if p.weights.len() != p.vocabulary.len() {
            return Err(damaged(format!(
                "{} weights for {} vocabulary terms",
                p.weights.len(),
                p.vocabulary.len()
            )));
        }
        if p.meta_names != META_NAMES || p.meta_weights.len() != META_NAMES.len() {
            return Err(damaged(format!(
                "metadata features {:?} differ from this build's {:?}",
                p.meta_names, META_NAMES
            )));
        }
        if !p.intercept.is_finite()
            || p.weights
                .iter()
                .chain(&p.meta_weights)
                .any(|w| !w.is_finite())
        {
            return Err(damaged("non-finite parameter".into()));
        }
        let vocab = Vocabulary::from_parts(p.vocabulary.clone(), p.idf.clone())
            .map_err(|e| damaged(e.to_string()))?;
        let mut weights = p.weights.clone();
        weights.extend_from_slice(&p.meta_weights);
        Ok(SpamFilter {
            features: self.params.features.clone(),
            vocab,
            weights,
            intercept: p.intercept,
            explainable: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file written before intent terms, NB weighting, averaging, calibration, counts and
    /// lead words existed has none of their fields; it loads as a model without them and
    /// scores as before.
    #[test]
    fn files_without_the_newer_recipe_fields_still_load() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.json");
        let mut value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&shipped).unwrap()).unwrap();
        let params = value["params"].as_object_mut().unwrap();
        params.remove("average_word_char");
        params.remove("calibration_folds");
        let features = params["features"].as_object_mut().unwrap();
        features.remove("intent");
        features.remove("nb_weighting");
        features.remove("counts");
        features.remove("lead_words");
        let mut older: ModelFile = serde_json::from_value(value).unwrap();
        older.checksum = older.compute_checksum();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("older.json");
        older.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"intent\""), "off fields are not written");
        let loaded = ModelFile::load(&path).unwrap();
        assert!(!loaded.params.features.intent);
        assert!(!loaded.params.average_word_char);
        assert!(!loaded.params.features.counts);
        assert!(!loaded.params.features.lead_words);
        // Normalized as before counts were told apart: a count reads as a long number.
        let filter = loaded.filter(&path).unwrap();
        let longnum = filter.vocab.keys.iter().position(|k| k == "w:_longnum_");
        let longnum = longnum.expect("the shipped vocabulary has the long-number token") as u32;
        let text = super::super::CommentText {
            content: "1000000000 views",
            ..Default::default()
        };
        assert!(filter.features_of(&text).cols.contains(&longnum));
    }
}

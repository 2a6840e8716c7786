//! The spam classifier: comment text and metadata in, a spam probability and the features
//! that drove it out. A pure library: no I/O but loading the model file.
//!
//! # Layout
//! - [`normalize`]: raw text to canonical lowercase text plus surface statistics.
//! - [`features`]: n-gram and metadata features, the vocabulary, sparse vectors.
//! - [`signals`]: contact channels, money claims, disguised words, the form's other fields.
//! - [`intent`]: does a comment ask the reader to act for the writer (intent terms).
//! - [`train`]: hyperparameters (linfa style), fitting with linfa's logistic regression,
//!   grouped cross-validation.
//! - [`score`]: the fitted [`SpamFilter`]: sparse scoring and explanations.
//! - [`explain`]: which features an explanation shows (no function words), and how.
//! - [`ftrl`]: batch training with linfa's FTRL-Proximal, for large corpora.
//! - [`solver`]: sparse warm start for linfa's logistic regression.
//! - [`model_file`]: the versioned, checksummed JSON model file.

use std::path::Path;

pub mod explain;
pub mod features;
pub mod ftrl;
pub mod intent;
pub mod model_file;
pub mod normalize;
pub mod score;
pub mod signals;
pub mod solver;
pub mod train;

pub use model_file::ModelFile;
pub use score::{Contribution, Scored, SpamFilter};
pub use train::{SourceCalibration, SpamFilterParams, SpamFilterValidParams, TrainError};

pub use crate::comment::CommentText;

/// Why a model file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// The model file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is truncated, not JSON, or its content is inconsistent.
    #[error(
        "model file {path} is damaged: {reason}; restore it or retrain with `commentguard train`"
    )]
    Damaged {
        /// The model file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The content does not match its checksum.
    #[error(
        "model file {path} fails its checksum (recorded {expected}, computed {actual}); it was altered or corrupted: restore it or retrain with `commentguard train`"
    )]
    Checksum {
        /// The model file.
        path: String,
        /// The checksum recorded in the file.
        expected: String,
        /// The checksum of the content as read.
        actual: String,
    },
    /// The file has a format version this build does not read.
    #[error(
        "model file {path} has format version {found}, this build reads version {supported}; retrain it with this build's `commentguard train`"
    )]
    Incompatible {
        /// The model file.
        path: String,
        /// The version found (or `none`).
        found: String,
        /// The version this build reads.
        supported: u32,
    },
}

/// The shipped model (`models/default.json`), compiled into the binary so the service starts
/// from any directory and after `cargo install`.
pub const SHIPPED_MODEL: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.json"));

/// What [`SHIPPED_MODEL`] is called in logs and errors.
pub const SHIPPED_MODEL_NAME: &str = "the shipped model (models/default.json, built in)";

/// A trained spam model, cheap to share between request handlers (`Send + Sync`).
#[derive(Debug, Clone)]
pub struct SpamModel {
    version: String,
    filter: SpamFilter,
}

impl SpamModel {
    /// Loads and verifies a model file.
    ///
    /// # Errors
    /// When the file is missing, damaged or of an incompatible version.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::load_or_shipped(Some(path))
    }

    /// The shipped model, as compiled into the binary.
    ///
    /// # Errors
    /// Only if the build embedded a damaged file (a test loads it).
    pub fn shipped() -> Result<Self, ModelError> {
        Self::load_or_shipped(None)
    }

    /// Loads the model file at `path`, or the shipped model when `path` is `None`.
    ///
    /// # Errors
    /// As [`SpamModel::load`] and [`SpamModel::shipped`].
    pub fn load_or_shipped(path: Option<&Path>) -> Result<Self, ModelError> {
        let (file, filter) =
            ModelFile::load_with_filter(path, (SHIPPED_MODEL, SHIPPED_MODEL_NAME))?;
        Ok(Self::from_parts(&file, filter))
    }

    /// Wraps a filter with the identity of the file it came from.
    pub fn from_parts(file: &ModelFile, filter: SpamFilter) -> Self {
        let short = file.checksum.get(..12).unwrap_or(&file.checksum);
        Self {
            version: format!("{}@{}", file.name, short),
            filter,
        }
    }

    /// Identifies the model (name and checksum prefix) so a stored verdict can be reproduced.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The fitted filter, for evaluation and comparison with linfa.
    pub fn filter(&self) -> &SpamFilter {
        &self.filter
    }

    /// Scores one comment. Never panics, whatever the input.
    pub fn score(&self, text: &CommentText<'_>) -> Scored {
        self.filter.score(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_autotraits<T: Send + Sync + Sized + Unpin>() {}

    #[test]
    fn the_shipped_model_is_built_in_and_equals_the_file() {
        let built_in = SpamModel::shipped().unwrap();
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.json");
        assert_eq!(
            built_in.version(),
            SpamModel::load(&file).unwrap().version()
        );
    }

    #[test]
    fn autotraits() {
        has_autotraits::<SpamModel>();
        has_autotraits::<SpamFilter>();
        has_autotraits::<ModelError>();
    }
}

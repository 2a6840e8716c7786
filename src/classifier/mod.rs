//! The spam classifier: comment text and metadata in, a spam probability and the features
//! that drove it out. A pure library: no I/O but loading the model file.

use std::path::Path;

/// The parts of a submission the classifier looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommentText<'a> {
    /// The comment body as submitted.
    pub content: &'a str,
    /// The display name.
    pub author_name: &'a str,
    /// The author's website; empty when none was given.
    pub author_url: &'a str,
}

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

/// Why a model file could not be used.
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
}

/// A trained spam model, cheap to share between request handlers.
#[derive(Debug)]
pub struct SpamModel {
    version: String,
}

impl SpamModel {
    /// Loads a model file.
    ///
    /// # Errors
    /// When the file is missing, damaged or of an incompatible version.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        std::fs::metadata(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            version: "placeholder".to_owned(),
        })
    }

    /// Identifies the model (name and checksum prefix) so a stored verdict can be reproduced.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Scores one comment. Never panics, whatever the input.
    pub fn score(&self, text: &CommentText<'_>) -> Scored {
        let links = text.content.matches("http").count();
        let logit = -2.0 + 1.5 * links as f64;
        Scored {
            probability: 1.0 / (1.0 + (-logit).exp()),
            toward_spam: vec![Contribution {
                feature: "link_count".to_owned(),
                weight: 1.5 * links as f64,
            }],
            toward_ham: Vec::new(),
        }
    }
}

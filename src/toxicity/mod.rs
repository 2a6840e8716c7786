//! The abuse score beside the spam score: a second small model, embedded and private, that
//! says how likely a comment is to be toxic (insults, identity attacks, profanity, threats)
//! and where. Trained with linfa like the spam model (same file format, same features after
//! [`prepare::prepare`]); it never sees identity words, so naming a group is not toxic.

pub mod dataset;
pub mod measure;
pub mod prepare;
pub mod spans;
pub mod train;

use std::path::Path;

use crate::classifier::model_file::SpanSettings;
use crate::classifier::{CommentText, Contribution, ModelError, ModelFile, SpamFilter};

pub use spans::ToxicSpan;

/// The toxicity model shipped in the binary (`models/toxicity.json`).
pub const SHIPPED_TOXICITY_MODEL: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/toxicity.json"));

/// What [`SHIPPED_TOXICITY_MODEL`] is called in logs and errors.
pub const SHIPPED_TOXICITY_MODEL_NAME: &str =
    "the shipped toxicity model (models/toxicity.json, built in)";

/// Below this probability a verdict lists no spans: nothing is underlined in a comment the
/// model finds more likely civil than not.
pub const SPAN_MIN_PROBABILITY: f64 = 0.5;

/// A comment's toxicity with its explanation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Toxicity {
    /// Probability that raters would call it toxic, in [0, 1].
    pub probability: f64,
    /// The strongest pushes toward toxic, strongest first.
    pub toward_toxic: Vec<Contribution>,
    /// The toxic ranges of the comment (none under [`SPAN_MIN_PROBABILITY`]).
    pub spans: Vec<ToxicSpan>,
}

/// A trained toxicity model, cheap to share between request handlers.
#[derive(Debug, Clone)]
pub struct ToxicityModel {
    version: String,
    filter: SpamFilter,
    spans: SpanSettings,
}

impl ToxicityModel {
    /// Loads the file at `path`, or the shipped model when `path` is `None`.
    ///
    /// # Errors
    /// When the file is missing, damaged or of an incompatible version.
    pub fn load_or_shipped(path: Option<&Path>) -> Result<Self, ModelError> {
        let shipped = (SHIPPED_TOXICITY_MODEL, SHIPPED_TOXICITY_MODEL_NAME);
        let (file, filter) = ModelFile::load_with_filter(path, shipped)?;
        Ok(Self::from_parts(&file, filter))
    }

    /// The shipped toxicity model, as compiled into the binary.
    ///
    /// # Errors
    /// Only if the build embedded a damaged file (a test loads it).
    pub fn shipped() -> Result<Self, ModelError> {
        Self::load_or_shipped(None)
    }

    /// Wraps a filter with the identity and span settings of the file it came from.
    pub fn from_parts(file: &ModelFile, filter: SpamFilter) -> Self {
        let short = file.checksum.get(..12).unwrap_or(&file.checksum);
        Self {
            version: format!("{}@{}", file.name, short),
            filter,
            spans: file.spans.clone().unwrap_or_default(),
        }
    }

    /// Identifies the model (name and checksum prefix).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The probability alone: what ranking and thresholds need.
    pub fn probability(&self, content: &str) -> f64 {
        let prepared = prepare::prepare(content);
        self.filter.probability(&text(&prepared))
    }

    /// The toxic ranges of `content`, whatever its probability.
    pub fn spans(&self, content: &str) -> Vec<ToxicSpan> {
        spans::find(&self.filter, &self.spans, &prepare::prepare(content))
    }

    /// The probability, the terms that pushed it up and, from [`SPAN_MIN_PROBABILITY`],
    /// the toxic spans. Never panics, whatever the input.
    pub fn score(&self, content: &str) -> Toxicity {
        let prepared = prepare::prepare(content);
        let scored = self.filter.score(&text(&prepared));
        let spans = if scored.probability >= SPAN_MIN_PROBABILITY {
            spans::find(&self.filter, &self.spans, &prepared)
        } else {
            Vec::new()
        };
        Toxicity {
            probability: scored.probability,
            toward_toxic: scored.toward_spam,
            spans,
        }
    }
}

/// The classifier's view of a prepared comment: its text only (names and websites are not
/// read for toxicity).
fn text(prepared: &str) -> CommentText<'_> {
    CommentText {
        content: prepared,
        author_name: "",
        author_url: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_is_built_in_equals_its_file_and_finds_spans() {
        let built_in = ToxicityModel::shipped().unwrap();
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/toxicity.json");
        let loaded = ToxicityModel::load_or_shipped(Some(&file)).unwrap();
        assert_eq!(built_in.version(), loaded.version());
        assert!(built_in.version().starts_with("toxicity@"));
        let abuse = built_in.score("You absolute idiot, shut up.");
        assert!(
            abuse.probability > 0.9 && !abuse.spans.is_empty(),
            "{abuse:?}"
        );
        let civil = built_in.score("Thanks for the careful summary of the summit.");
        assert!(
            civil.probability < 0.5 && civil.spans.is_empty(),
            "{civil:?}"
        );
    }
}

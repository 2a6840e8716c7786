//! Scoring while serving, behind one door: the trained model (swapped whole on `SIGHUP`) and
//! the online layer that learns from moderators' labels between trainings.

pub mod learner;
pub mod live_model;

pub use learner::Learner;
pub use live_model::LiveModel;

use std::path::PathBuf;
use std::sync::Arc;

use crate::classifier::{CommentText, ModelError, Scored, SpamModel};
use crate::comment::{CommentId, Label};

/// A comment's score with the version of the model that gave it.
#[derive(Debug, Clone)]
pub struct Scoring {
    /// The probability (labels' shift included) and its explanation.
    pub scored: Scored,
    /// `name@checksum-prefix` of the model, recorded with the comment.
    pub model_version: String,
    /// Which state of the online layer shifted the score (see [`Learner::generation`]).
    pub learner_generation: u64,
}

/// The live model plus what moderators' labels taught it.
#[derive(Debug)]
pub struct Scorer {
    model: LiveModel,
    learner: Learner,
}

impl Scorer {
    /// Loads the model file, or the shipped model when `model` is `None`; the learner starts
    /// empty (see [`Scorer::rebuild`]).
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn load(model: Option<PathBuf>) -> Result<Self, ModelError> {
        Ok(Self {
            model: LiveModel::load(model)?,
            learner: Learner::default(),
        })
    }

    /// The score of `text`: the model's, shifted by moderators' labels on similar comments.
    pub fn score(&self, text: &CommentText<'_>) -> Scoring {
        let model = self.model.get();
        let learner_generation = self.learner.generation();
        Scoring {
            scored: self.learner.adjust(text, model.score(text)),
            model_version: model.version().to_owned(),
            learner_generation,
        }
    }

    /// The score `model` gives `text`, shifted by moderators' labels as the live model's is
    /// (for the shadow policy's own model).
    pub fn score_with(&self, model: &SpamModel, text: &CommentText<'_>) -> Scoring {
        let learner_generation = self.learner.generation();
        Scoring {
            scored: self.learner.adjust(text, model.score(text)),
            model_version: model.version().to_owned(),
            learner_generation,
        }
    }

    /// The learner's generation now (see [`Learner::generation`]).
    pub fn learner_generation(&self) -> u64 {
        self.learner.generation()
    }

    /// The version of the model in service now.
    pub fn model_version(&self) -> String {
        self.model.get().version().to_owned()
    }

    /// Counts a moderator's label, replacing the comment's earlier one.
    pub fn learn(&self, id: CommentId, label: Label, text: &CommentText<'_>) {
        self.learner.learn(id, label, text);
    }

    /// Withdraws the comment's label.
    pub fn forget(&self, id: CommentId, text: &CommentText<'_>) {
        self.learner.forget(id, text);
    }

    /// Replaces everything learned with these labels (at start, from the store).
    pub fn rebuild<'a>(
        &self,
        labels: impl IntoIterator<Item = (CommentId, Label, CommentText<'a>)>,
    ) {
        self.learner.rebuild(labels);
    }

    /// Where the model comes from: its file, or the shipped model.
    pub fn model_source(&self) -> String {
        self.model.source()
    }

    /// Loads the model file again and swaps it in whole; on failure the current model stays.
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn reload_model(&self) -> Result<Arc<SpamModel>, ModelError> {
        self.model.reload()
    }
}

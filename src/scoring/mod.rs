//! Scoring while serving, behind one door: the trained model (swapped whole on `SIGHUP`) and
//! the online layer that learns from moderators' labels between trainings.

pub mod learner;
pub mod live_model;
pub mod reset;
pub mod site_model;
pub mod versioned;

pub use learner::Learner;
pub use live_model::{Live, LiveModel};
pub use reset::SiteModelReset;
pub use site_model::SiteModel;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::classifier::score::{log_odds, sigmoid};
use crate::classifier::{CommentText, Contribution, ModelError, Scored, SpamModel};
use crate::comment::{CommentId, Label};
use crate::toxicity::{Toxicity, ToxicityModel};

/// A comment's score with the version of the model that gave it.
#[derive(Debug, Clone)]
pub struct Scoring {
    /// The probability (labels' shift included) and its explanation.
    pub scored: Scored,
    /// `name@checksum-prefix` of the model, recorded with the comment.
    pub model_version: String,
    /// Which state of the online layer shifted the score (see [`Learner::generation`]).
    pub learner_generation: u64,
    /// The toxicity model's score and spans.
    pub toxicity: Toxicity,
    /// `name@checksum-prefix` of the toxicity model.
    pub toxicity_version: String,
}

/// The live model plus what moderators' labels taught it: the site model (this site's
/// spam, learned from its labels) and the near-duplicate layer (variants of labelled
/// comments).
#[derive(Debug)]
pub struct Scorer {
    model: LiveModel,
    toxicity: Live<ToxicityModel>,
    site: SiteModel,
    learner: Learner,
    /// The site model learns only labels given after this (a reset's time, 0 before any).
    site_reset_ms: AtomicU64,
}

impl Scorer {
    /// Loads the spam model file, or the shipped model when `model` is `None`, beside the
    /// toxicity model; the learner starts empty (see [`Scorer::rebuild`]).
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn load(model: Option<PathBuf>, toxicity: Live<ToxicityModel>) -> Result<Self, ModelError> {
        Ok(Self {
            model: LiveModel::load(model)?,
            toxicity,
            site: SiteModel::default(),
            learner: Learner::default(),
            site_reset_ms: AtomicU64::new(0),
        })
    }

    /// The score of `text`: the model's, plus the site model's push, shifted by moderators'
    /// labels on similar comments; and its toxicity.
    pub fn score(&self, text: &CommentText<'_>) -> Scoring {
        let model = self.model.get();
        let learner_generation = self.learner_generation();
        let toxicity = self.toxicity.get();
        Scoring {
            scored: self.score_with(&model, text),
            model_version: model.version().to_owned(),
            learner_generation,
            toxicity: toxicity.score(text.content),
            toxicity_version: toxicity.version().to_owned(),
        }
    }

    /// The spam score `model` gives `text`, shifted by moderators' labels as the live
    /// model's is (for the shadow policy's own model; toxicity is the live verdict's).
    pub fn score_with(&self, model: &SpamModel, text: &CommentText<'_>) -> Scored {
        let push = self.site.push(text);
        let scored = shifted(model.score(text), push.shift, push.contributions);
        self.learner.adjust(text, scored)
    }

    /// The state of what labels taught, now: changes whenever the site model or the
    /// near-duplicate layer does (both only count up).
    pub fn learner_generation(&self) -> u64 {
        self.learner.generation() + self.site.generation()
    }

    /// The site model, for its figures.
    pub fn site_model(&self) -> &SiteModel {
        &self.site
    }

    /// The version of the model in service now.
    pub fn model_version(&self) -> String {
        self.model.get().version().to_owned()
    }

    /// Counts a moderator's label, replacing the comment's earlier one.
    pub fn learn(&self, id: CommentId, label: Label, text: &CommentText<'_>) {
        let prior = self.prior(text);
        self.site.learn(id, label, text, prior);
        self.learner.learn(id, label, text);
    }

    /// Withdraws the comment's label.
    pub fn forget(&self, id: CommentId, text: &CommentText<'_>) {
        self.site.forget(id);
        self.learner.forget(id, text);
    }

    /// Replaces everything learned with these labels, each with the time it was given (at
    /// start, from the store): the near-duplicate layer takes them all, the site model those
    /// given after `site_reset_ms` (see [`Scorer::site_reset_ms`]).
    pub fn rebuild<'a>(
        &self,
        labels: impl IntoIterator<Item = (CommentId, Label, CommentText<'a>, u64)>,
        site_reset_ms: u64,
    ) {
        let labels: Vec<_> = labels.into_iter().collect();
        // Without a reset every label counts, those of earlier releases (time 0) included.
        let counts = |decided_ms: u64| site_reset_ms == 0 || decided_ms > site_reset_ms;
        if self.already_holds(&labels, site_reset_ms, counts) {
            return;
        }
        self.site.rebuild(
            labels
                .iter()
                .filter(|(.., decided_ms)| counts(*decided_ms))
                .map(|(id, label, text, _)| (*id, *label, *text, self.prior(text))),
        );
        self.site_reset_ms.store(site_reset_ms, Ordering::Release);
        self.learner.rebuild(
            labels
                .into_iter()
                .map(|(id, label, text, _)| (id, label, text)),
        );
    }

    /// Whether both layers already hold exactly `labels` (the site model those `counts`
    /// keeps) under the same reset: a catch-up that finds nothing new changes nothing, not
    /// even the version verdicts name.
    fn already_holds(
        &self,
        labels: &[(CommentId, Label, CommentText<'_>, u64)],
        site_reset_ms: u64,
        counts: impl Fn(u64) -> bool,
    ) -> bool {
        let all: Vec<(CommentId, Label)> = labels.iter().map(|(id, l, ..)| (*id, *l)).collect();
        let site: Vec<(CommentId, Label)> = labels
            .iter()
            .filter(|(.., decided_ms)| counts(*decided_ms))
            .map(|(id, l, ..)| (*id, *l))
            .collect();
        self.site_reset_ms() == site_reset_ms
            && self.site.holds_exactly(&site)
            && self.learner.holds_exactly(&all)
    }

    /// When the site model was last reset (milliseconds since the epoch; 0 if never): it
    /// holds only labels given since.
    pub fn site_reset_ms(&self) -> u64 {
        self.site_reset_ms.load(Ordering::Acquire)
    }

    /// The live model's log-odds for `text`: what the site model corrects.
    fn prior(&self, text: &CommentText<'_>) -> f64 {
        let p = self
            .model
            .get()
            .score(text)
            .probability
            .clamp(1e-9, 1.0 - 1e-9);
        log_odds(p)
    }

    /// Where the model comes from: its file, or the shipped model.
    pub fn model_source(&self) -> String {
        self.model.source()
    }

    /// The version of the toxicity model in service now.
    pub fn toxicity_version(&self) -> String {
        self.toxicity.get().version().to_owned()
    }

    /// Where the toxicity model comes from: its file, or the shipped model.
    pub fn toxicity_source(&self) -> String {
        self.toxicity.source()
    }

    /// Loads the toxicity model file again and swaps it in whole; on failure the current
    /// model stays.
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn reload_toxicity(&self) -> Result<Arc<ToxicityModel>, ModelError> {
        self.toxicity.reload()
    }

    /// Loads the model file again and swaps it in whole; on failure the current model stays.
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn reload_model(&self) -> Result<Arc<SpamModel>, ModelError> {
        self.model.reload()
    }
}

/// `scored` with `shift` added to its log-odds and `contributions` listed first (each on
/// its side), so the verdict says what moved it: the site model's terms, or the labels on
/// near variants. No change for a shift under 0.001.
pub fn shifted(mut scored: Scored, shift: f64, contributions: Vec<Contribution>) -> Scored {
    if shift.abs() < 1e-3 {
        return scored;
    }
    let p = scored.probability.clamp(1e-12, 1.0 - 1e-12);
    scored.probability = sigmoid(log_odds(p) + shift);
    for c in contributions.into_iter().rev() {
        if c.weight > 0.0 {
            scored.toward_spam.insert(0, c);
        } else {
            scored.toward_ham.insert(0, c);
        }
    }
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_earlier_releases_count_until_a_reset_and_later_ones_after_it() {
        let scorer = Scorer::load(None, Live::load(None).unwrap()).unwrap();
        let text = |content| CommentText {
            content,
            author_name: "",
            author_url: "",
        };
        let (old, new) = (CommentId::generate(), CommentId::generate());
        let labels = || {
            [
                (old, Label::Spam, text("buy cheap watches now"), 0),
                (new, Label::Ham, text("lovely write-up, thanks"), 10),
            ]
        };
        scorer.rebuild(labels(), 0);
        assert_eq!(scorer.site_model().labelled(), 2, "never reset: all count");
        scorer.rebuild(labels(), 5);
        assert_eq!(
            scorer.site_model().labelled(),
            1,
            "only the label after the reset"
        );
        assert_eq!(scorer.site_reset_ms(), 5);
    }
}

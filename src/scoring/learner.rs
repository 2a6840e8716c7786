//! Learning from moderators while serving. The shipped model is a logistic regression, which
//! is retrained offline (`commentguard train --from-store`); between trainings, this layer
//! remembers each labelled comment as a MinHash signature of its character shingles (see
//! [`crate::near_duplicate`]) and shifts the score of a new comment by the labels of its near
//! variants: the same text give or take a word, a number or a link.
//!
//! For a comment whose labelled neighbours (estimated Jaccard similarity ≥ [`MIN_SIMILARITY`])
//! are `N`, the shift in log-odds is
//! `clamp(GAIN · Σ_{n ∈ N} ±(1 + (sim_n − MIN_SIMILARITY) / (1 − MIN_SIMILARITY)) / 2, ±MAX_ADJUSTMENT)`,
//! `+` for spam labels and `−` for ham, over the [`MAX_NEIGHBOURS`] most similar: a neighbour
//! counts from half (at the similarity floor) to fully (identical).
//! - It generalizes: a near variant of a labelled comment moves, not only its exact words.
//! - It is bounded: a label moves only comments similar to the labelled one, so a burst of
//!   wrong labels cannot flip unrelated verdicts, and no number of labels moves a score by
//!   more than [`MAX_ADJUSTMENT`].
//! - A later label of a comment replaces its earlier one; a trashed comment's label is
//!   withdrawn.

use std::collections::HashMap;

use super::versioned::Versioned;

use crate::classifier::{CommentText, Contribution, Scored};
use crate::comment::CommentId;
use crate::comment::Label;
use crate::near_duplicate::{Signature, band_keys, signature, similarity};
use crate::policy::trackers::matching_text;

/// Largest shift, in log-odds, that labels can give a score.
pub const MAX_ADJUSTMENT: f64 = 4.0;
/// Shift given by one labelled neighbour identical to the comment.
pub const GAIN: f64 = 3.0;
/// Estimated similarity below which a labelled comment is not a neighbour.
pub const MIN_SIMILARITY: f64 = 0.4;
/// Most neighbours counted (the most similar).
pub const MAX_NEIGHBOURS: usize = 5;
/// Characters per shingle: short, so short comments still have a few.
const SHINGLE: usize = 4;
/// Most comments looked at per band, the latest labelled first: bounds the work per score.
const MAX_PER_BAND: usize = 64;

/// Moderators' labels as signatures, updated in place as moderators decide.
#[derive(Debug, Default)]
pub struct Learner {
    /// Bumped by every change, so a verdict can name the state that scored it.
    state: Versioned<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The label each comment currently counts with, and its signature.
    labels: HashMap<CommentId, (Label, Signature)>,
    /// `(band, digest)` → labelled comments with that band, in labelling order.
    bands: HashMap<(u8, u64), Vec<CommentId>>,
}

fn signature_of(text: &CommentText<'_>) -> Signature {
    signature(&matching_text(text.content).0, SHINGLE)
}

impl State {
    fn insert(&mut self, id: CommentId, label: Label, sig: Signature) {
        if let Some(previous) = self.labels.insert(id, (label, sig)) {
            if previous.1 == sig {
                return;
            }
            self.unindex(id, &previous.1);
        }
        for key in band_keys(&sig) {
            self.bands.entry(key).or_default().push(id);
        }
    }

    fn unindex(&mut self, id: CommentId, sig: &Signature) {
        for key in band_keys(sig) {
            if let Some(ids) = self.bands.get_mut(&key) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.bands.remove(&key);
                }
            }
        }
    }

    fn remove(&mut self, id: CommentId) {
        if let Some((_, sig)) = self.labels.remove(&id) {
            self.unindex(id, &sig);
        }
    }

    fn shift(&self, sig: &Signature) -> f64 {
        let mut neighbours: Vec<(f64, Label, CommentId)> = Vec::new();
        for key in band_keys(sig) {
            let Some(ids) = self.bands.get(&key) else {
                continue;
            };
            for id in ids.iter().rev().take(MAX_PER_BAND) {
                if neighbours.iter().any(|n| n.2 == *id) {
                    continue;
                }
                if let Some((label, other)) = self.labels.get(id) {
                    let sim = similarity(sig, other);
                    if sim >= MIN_SIMILARITY {
                        neighbours.push((sim, *label, *id));
                    }
                }
            }
        }
        neighbours.sort_by(|a, b| b.0.total_cmp(&a.0));
        let sum: f64 = neighbours
            .iter()
            .take(MAX_NEIGHBOURS)
            .map(|&(sim, label, _)| {
                let strength = (sim - MIN_SIMILARITY) / (1.0 - MIN_SIMILARITY) * 0.5 + 0.5;
                if label.is_spam() { strength } else { -strength }
            })
            .sum();
        (GAIN * sum).clamp(-MAX_ADJUSTMENT, MAX_ADJUSTMENT)
    }
}

impl Learner {
    /// Counts a moderator's label on a comment; a comment labelled before counts only with
    /// its latest label.
    pub fn learn(&self, id: CommentId, label: Label, text: &CommentText<'_>) {
        let sig = signature_of(text);
        self.state.write().insert(id, label, sig);
    }

    /// Withdraws a comment's label (it was trashed).
    pub fn forget(&self, id: CommentId, _text: &CommentText<'_>) {
        self.state.write().remove(id);
    }

    /// Replaces all labels with these (at start, and after an erasure).
    pub fn rebuild<'a>(
        &self,
        labels: impl IntoIterator<Item = (CommentId, Label, CommentText<'a>)>,
    ) {
        let mut fresh = State::default();
        for (id, label, text) in labels {
            fresh.insert(id, label, signature_of(&text));
        }
        *self.state.write() = fresh;
    }

    /// How many times the counts changed since start: learning, forgetting and rebuilding
    /// each make a new generation.
    pub fn generation(&self) -> u64 {
        self.state.generation()
    }

    /// How many comments carry a label.
    pub fn labelled(&self) -> usize {
        self.state.read().labels.len()
    }

    /// Whether it holds exactly these labels (no more, none other): a rebuild from them would
    /// change nothing.
    pub fn holds_exactly(&self, labels: &[(CommentId, Label)]) -> bool {
        let state = self.state.read();
        state.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(id, label)| state.labels.get(id).is_some_and(|held| held.0 == *label))
    }

    /// The shift in log-odds the labels give this comment (0 when no labelled comment is
    /// similar).
    pub fn adjustment(&self, text: &CommentText<'_>) -> f64 {
        if self.state.read().labels.is_empty() {
            return 0.0;
        }
        let sig = signature_of(text);
        self.state.read().shift(&sig)
    }

    /// `scored` with the labels' adjustment added to its log-odds and listed as one more
    /// contribution, so the verdict says how much moderators' labels moved it.
    pub fn adjust(&self, text: &CommentText<'_>, scored: Scored) -> Scored {
        let shift = self.adjustment(text);
        let contribution = Contribution {
            feature: "moderator labels on similar comments".to_owned(),
            weight: shift,
        };
        super::shifted(scored, shift, vec![contribution])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(content: &str) -> CommentText<'_> {
        CommentText {
            content,
            author_name: "",
            author_url: "",
        }
    }

    #[test]
    fn spam_labels_raise_and_changed_minds_move_counts() {
        let learner = Learner::default();
        let campaign = text("cheap watches at shiny-deals dot example buy now");
        assert_eq!(learner.adjustment(&campaign), 0.0);
        let id = CommentId::generate();
        learner.learn(id, Label::Spam, &campaign);
        let once = learner.adjustment(&campaign);
        assert!(once > 0.0);
        learner.learn(id, Label::Spam, &campaign);
        assert_eq!(learner.adjustment(&campaign), once);
        learner.learn(id, Label::Ham, &campaign);
        assert!(learner.adjustment(&campaign) < 0.0);
        learner.forget(id, &campaign);
        assert_eq!(learner.adjustment(&campaign), 0.0);
        assert_eq!(learner.labelled(), 0);
    }

    #[test]
    fn labels_reach_near_variants_but_not_unrelated_comments() {
        let learner = Learner::default();
        for n in 0..50 {
            let spam = format!("check out my channel for free gift cards {n} http://x{n}.example");
            learner.learn(CommentId::generate(), Label::Spam, &text(&spam));
        }
        let variant = text("Check out my channel for free gift codes https://y.example");
        assert!(learner.adjustment(&variant) > 1.0);
        let adjustment = learner.adjustment(&variant);
        assert!(adjustment <= MAX_ADJUSTMENT, "{adjustment}");
        let unrelated = text("The chorus at the end always gives me chills, what a song");
        assert_eq!(
            learner.adjustment(&unrelated),
            0.0,
            "a burst of labels stays local"
        );
    }
}

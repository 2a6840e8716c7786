//! Learning from moderators while serving. The shipped model is a logistic regression, which
//! is retrained offline (`commentguard train --from-store`); between trainings, this layer
//! keeps per-word counts of moderator labels and adds their log-odds to the model's logit, so
//! a campaign moderators have marked spam scores higher on its very next comment.
//!
//! For a comment with distinct words `T`, the adjustment is
//! `clamp(0.5 · Σ_{t ∈ T, labelled} ln((spam_t + 1) / (ham_t + 1)) / √|T|, ±4)`, where
//! `spam_t`/`ham_t` count the labelled comments containing `t`. Words no moderator has seen
//! add nothing; dividing by `√|T|` keeps one shared common word from moving a long comment
//! much; the clamp bounds what labels alone can do.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::classifier::normalize::normalize;
use crate::classifier::{CommentText, Contribution, Scored};
use crate::comment::CommentId;
use crate::comment::Label;

/// Largest shift, in log-odds, that labels can give a score.
pub const MAX_ADJUSTMENT: f64 = 4.0;
/// Scale of the summed word log-odds.
const SCALE: f64 = 0.5;

/// Label counts per word, updated in place as moderators decide.
#[derive(Debug, Default)]
pub struct Learner {
    state: RwLock<State>,
    /// Bumped by every change of the counts, so a verdict can name the state that shifted it.
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// word → (spam, ham) labelled comments containing it.
    words: HashMap<String, (u32, u32)>,
    /// The label each comment currently counts with, so a changed mind moves counts instead
    /// of adding to them.
    labels: HashMap<CommentId, Label>,
}

/// The distinct words of a comment's text, as the classifier normalizes them, with the
/// domains of its links.
fn words(text: &CommentText<'_>) -> HashSet<String> {
    let content = normalize(text.content);
    content
        .text
        .split_whitespace()
        .chain(content.domains.split_whitespace())
        .map(str::to_owned)
        .collect()
}

impl State {
    fn count(&mut self, words: &HashSet<String>, label: Label, delta: i64) {
        for word in words {
            let entry = self.words.entry(word.clone()).or_default();
            let slot = match label {
                Label::Spam => &mut entry.0,
                Label::Ham => &mut entry.1,
            };
            *slot = u32::try_from((i64::from(*slot) + delta).max(0)).unwrap_or(u32::MAX);
            if *entry == (0, 0) {
                self.words.remove(word);
            }
        }
    }
}

impl Learner {
    /// Counts a moderator's label on a comment; a comment labelled before counts only with
    /// its latest label.
    pub fn learn(&self, id: CommentId, label: Label, text: &CommentText<'_>) {
        let words = words(text);
        let mut state = self.write();
        match state.labels.insert(id, label) {
            Some(previous) if previous == label => {}
            Some(previous) => {
                state.count(&words, previous, -1);
                state.count(&words, label, 1);
            }
            None => state.count(&words, label, 1),
        }
    }

    /// Withdraws a comment's label (it was trashed).
    pub fn forget(&self, id: CommentId, text: &CommentText<'_>) {
        let mut state = self.write();
        if let Some(previous) = state.labels.remove(&id) {
            state.count(&words(text), previous, -1);
        }
    }

    /// Replaces all counts with these labels (at start, and after an erasure).
    pub fn rebuild<'a>(
        &self,
        labels: impl IntoIterator<Item = (CommentId, Label, CommentText<'a>)>,
    ) {
        let mut fresh = State::default();
        for (id, label, text) in labels {
            fresh.labels.insert(id, label);
            fresh.count(&words(&text), label, 1);
        }
        *self.write() = fresh;
    }

    /// How many times the counts changed since start: learning, forgetting and rebuilding
    /// each make a new generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How many comments carry a label.
    pub fn labelled(&self) -> usize {
        self.read().labels.len()
    }

    /// The shift in log-odds the labels give this comment (0 when no word of it is labelled).
    pub fn adjustment(&self, text: &CommentText<'_>) -> f64 {
        let state = self.read();
        if state.words.is_empty() {
            return 0.0;
        }
        let words = words(text);
        if words.is_empty() {
            return 0.0;
        }
        let sum: f64 = words
            .iter()
            .filter_map(|w| state.words.get(w))
            .map(|&(spam, ham)| (f64::from(spam) + 1.0).ln() - (f64::from(ham) + 1.0).ln())
            .sum();
        (SCALE * sum / (words.len() as f64).sqrt()).clamp(-MAX_ADJUSTMENT, MAX_ADJUSTMENT)
    }

    /// `scored` with the labels' adjustment added to its log-odds and listed as one more
    /// contribution, so the verdict says how much moderators' labels moved it.
    pub fn adjust(&self, text: &CommentText<'_>, mut scored: Scored) -> Scored {
        let shift = self.adjustment(text);
        if shift.abs() < 1e-3 {
            return scored;
        }
        let p = scored.probability.clamp(1e-12, 1.0 - 1e-12);
        let logit = (p / (1.0 - p)).ln() + shift;
        scored.probability = 1.0 / (1.0 + (-logit).exp());
        let contribution = Contribution {
            feature: "moderator labels on similar comments".to_owned(),
            weight: shift,
        };
        if shift > 0.0 {
            scored.toward_spam.insert(0, contribution);
        } else {
            scored.toward_ham.insert(0, contribution);
        }
        scored
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The counts for changing; the change is a new generation.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        let guard = self.state.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        guard
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
}

//! A site's own model: a logistic model learned from this site's labels alone (moderator
//! decisions, Akismet feedback, imported history), whose log-odds are added to the shipped
//! model's. The shipped model knows spam in general; this one learns what the site's
//! moderators call spam, including kinds the shipped model never saw.
//!
//! It learns with linfa's FTRL-Proximal (`linfa-ftrl`), one update per label, against the
//! combined score (the shipped log-odds are the prior it corrects); a relabelled or withdrawn
//! comment refits it from the labels it holds, in a few passes; at 64 labels and each
//! doubling, a refit of all of them runs on a thread of its own and is swapped in at the next
//! label or score. Terms are hashed into [`BUCKETS`] columns, so no vocabulary is needed: the words,
//! phrases, links, signals and intents of the shipped recipe, but no character n-grams.
//! Function words count (a community's ordinary register is in them) but an explanation
//! never names them.
//!
//! Bounded: each term's weight is clamped to ±[`MAX_WEIGHT`] and the model's whole push on a
//! comment to ±[`MAX_SHIFT`], and there is no intercept, so labels on one topic move the
//! comments sharing its terms; function words are shared by every topic, but a term weighs by
//! its share of a comment's terms, so a burst of wrong labels moves unrelated comments little
//! (`tests/moderation.rs`: 200 wrong labels leave six other topics' verdicts unchanged).

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::versioned::Versioned;

use linfa::prelude::*;
use linfa_ftrl::Ftrl;
use ndarray::{Array1, Array2};

use crate::classifier::explain::{describe, shows};
use crate::classifier::features::{FeatureConfig, for_each_term};
use crate::classifier::ftrl::{FtrlSettings, zero_start};
use crate::classifier::score::sigmoid;
use crate::classifier::signals::ALL_GROUPS;
use crate::classifier::{CommentText, Contribution};
use crate::comment::{CommentId, Label};

/// Hashed term columns.
pub const BUCKETS: usize = 1 << 16;
/// Largest weight one term can carry, in log-odds per unit of feature value.
pub const MAX_WEIGHT: f64 = 4.0;
/// Largest push, in log-odds, the site model gives a comment either way.
pub const MAX_SHIFT: f64 = 10.0;
/// Labels whose agreement with the verdict before learning make the running accuracy.
pub const ACCURACY_WINDOW: usize = 500;
/// How many terms an explanation names.
const EXPLAIN_TOP: usize = 2;
/// Passes over the labels when refitting.
const REFIT_EPOCHS: usize = 3;
/// What an explanation calls a push learned from this site's labels.
pub const LEARNED_HERE: &str = "learned here";

/// FTRL settings of the site model: the shipped recipe's learning rate, and an L1 floor so
/// a term needs consistent evidence from a few labels before it carries weight.
const SETTINGS: FtrlSettings = FtrlSettings {
    epochs: REFIT_EPOCHS,
    batch: 32,
    learning_rate: 4.0,
    beta: 1.0,
    l1: 0.2,
    l2: 0.1,
};

/// One labelled comment as the site model keeps it, for refits.
#[derive(Debug, Clone)]
struct Labelled {
    spam: bool,
    /// Hashed columns, ascending, each with its value (unit-length row).
    row: Vec<(u32, f64)>,
    /// The shipped model's log-odds for the comment when it was labelled.
    prior: f64,
}

#[derive(Debug)]
struct State {
    /// `None` only if linfa-ftrl refused [`SETTINGS`] (a test shows it does not): the
    /// site model then learns nothing rather than failing a request.
    ftrl: Option<Ftrl<f64>>,
    /// The clamped weights, refreshed after every update.
    weights: Vec<f64>,
    /// A readable name for each column seen in a label (the first term hashed there).
    names: HashMap<u32, String>,
    labels: HashMap<CommentId, Labelled>,
    /// Whether each of the latest labels agreed with the combined score before it was
    /// learned (oldest first).
    agreement: VecDeque<bool>,
    /// Refits made in place (a changed or withdrawn label): a background refit started
    /// before one is stale.
    restarts: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            ftrl: fresh(),
            weights: vec![0.0; BUCKETS],
            names: HashMap::new(),
            labels: HashMap::new(),
            agreement: VecDeque::new(),
            restarts: 0,
        }
    }
}

/// A model with zero weights.
fn fresh() -> Option<Ftrl<f64>> {
    let params = zero_start(&SETTINGS).check().ok()?;
    Some(Ftrl::new(params, BUCKETS))
}

/// The site model, updated in place as labels arrive.
#[derive(Debug, Default)]
pub struct SiteModel {
    /// Bumped by every change, so a verdict can name the state that scored it.
    state: Versioned<State>,
    /// The refit running in the background, if any; swapped in at the next label.
    background: std::sync::Mutex<Option<std::thread::JoinHandle<Fitted>>>,
    /// Background refits swapped in since start.
    refits: AtomicU64,
    /// Set by a background refit when it finishes, so the next score swaps it in.
    ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The site model's figures, for moderators and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SiteFigures {
    /// See [`SiteModel::generation`].
    pub version: u64,
    /// Comments whose label it holds.
    pub labels: u64,
    /// See [`SiteModel::running_accuracy`]; 0 before any label.
    pub running_accuracy: f64,
    /// How many labels the running accuracy counts.
    pub accuracy_labels: u64,
}

/// The site model's push on one comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SitePush {
    /// Log-odds added to the shipped model's.
    pub shift: f64,
    /// The terms that pushed most, strongest first, as `learned here: TERM`.
    pub contributions: Vec<Contribution>,
}

/// The recipe whose terms the site model hashes: the shipped recipe's words and phrases,
/// with every signal group (a site's own labels weigh them), without character n-grams.
/// Built once: every score reads it.
static RECIPE: LazyLock<FeatureConfig> = LazyLock::new(|| FeatureConfig {
    char_ngram_max: 0,
    signals: ALL_GROUPS.to_vec(),
    ..FeatureConfig::default()
});

/// The hashed, unit-length row of a comment; with `names`, also the readable key of each
/// column an explanation may show (only learning needs them: scoring builds no strings).
fn row_of(text: &CommentText<'_>, mut names: Option<&mut Vec<(u32, String)>>) -> Vec<(u32, f64)> {
    let mut cols: Vec<u32> = Vec::new();
    for_each_term(&RECIPE, text, |gram, hash| {
        let col = (hash % BUCKETS as u64) as u32;
        cols.push(col);
        if let Some(names) = names.as_deref_mut().filter(|_| shows(&gram)) {
            names.push((col, gram.key()));
        }
    });
    cols.sort_unstable();
    cols.dedup();
    let value = 1.0 / (cols.len().max(1) as f64).sqrt();
    cols.into_iter().map(|c| (c, value)).collect()
}

fn dot(weights: &[f64], row: &[(u32, f64)]) -> f64 {
    let z: f64 = row
        .iter()
        .map(|&(c, v)| weights.get(c as usize).copied().unwrap_or(0.0) * v)
        .sum();
    z.clamp(-MAX_SHIFT, MAX_SHIFT)
}

impl State {
    /// One FTRL step on `rows`, against the combined score of each.
    fn step(&mut self, rows: &[&Labelled]) {
        let mut x = Array2::zeros((rows.len(), BUCKETS));
        for (r, l) in rows.iter().enumerate() {
            for &(c, v) in &l.row {
                x[[r, c as usize]] = v;
            }
        }
        let p: Array1<Pr> = rows
            .iter()
            .map(|l| Pr::new(sigmoid(l.prior + dot(&self.weights, &l.row)) as f32))
            .collect();
        let y: Array1<bool> = rows.iter().map(|l| l.spam).collect();
        if let Some(ftrl) = &mut self.ftrl {
            ftrl.update(&Dataset::new(x, y), p.view());
            self.weights = ftrl
                .get_weights()
                .iter()
                .map(|w| w.clamp(-MAX_WEIGHT, MAX_WEIGHT))
                .collect();
        }
    }

    /// Starts over from the labels held, in a few passes in a fixed order.
    fn refit(&mut self) {
        let fitted = fit(self.labels.iter().map(|(id, l)| (*id, l.clone())).collect());
        self.ftrl = fitted.ftrl;
        self.weights = fitted.weights;
        self.restarts += 1;
    }
}

/// A model fitted away from the live one, from a snapshot of its labels.
struct Fitted {
    ftrl: Option<Ftrl<f64>>,
    weights: Vec<f64>,
    /// The labels it was fitted on.
    ids: std::collections::HashSet<CommentId>,
    /// The live state's `restarts` when the snapshot was taken.
    restarts: u64,
}

/// Fits a fresh model on `labels` in [`REFIT_EPOCHS`] passes, in comment-id order.
fn fit(mut labels: Vec<(CommentId, Labelled)>) -> Fitted {
    labels.sort_unstable_by_key(|(id, _)| *id);
    let mut state = State::default();
    for _ in 0..REFIT_EPOCHS {
        for chunk in labels.chunks(SETTINGS.batch) {
            let batch: Vec<&Labelled> = chunk.iter().map(|(_, l)| l).collect();
            state.step(&batch);
        }
    }
    Fitted {
        ftrl: state.ftrl,
        weights: state.weights,
        ids: labels.iter().map(|(id, _)| *id).collect(),
        restarts: 0,
    }
}

/// Most labels a rebuild fits before returning (about a second); more are fitted in the
/// background.
const SYNC_REBUILD_LIMIT: usize = 2_000;

/// Most labels refitted in place after a label changed (about a quarter of a second, with
/// scores waiting); more are refitted in the background.
const SYNC_RELEARN_LIMIT: usize = 500;

/// The first label count refitted in the background; then each doubling. A single online
/// pass learns less than a few passes over the same labels (measured with
/// `replay --feedback`).
const FIRST_BACKGROUND_REFIT: usize = 64;

fn refit_due(labels: usize) -> bool {
    labels >= FIRST_BACKGROUND_REFIT && labels.is_power_of_two()
}

impl SiteModel {
    /// Learns a label on a comment whose shipped log-odds are `prior`; a comment labelled
    /// before counts only with its latest label (a changed label refits the model).
    pub fn learn(&self, id: CommentId, label: Label, text: &CommentText<'_>, prior: f64) {
        let mut names = Vec::new();
        let row = row_of(text, Some(&mut names));
        let labelled = Labelled {
            spam: label == Label::Spam,
            row,
            prior,
        };
        let mut state = self.state.write();
        for (c, name) in names {
            state.names.entry(c).or_insert(name);
        }
        let agreed = (sigmoid(prior + dot(&state.weights, &labelled.row)) >= 0.5) == labelled.spam;
        match state.labels.insert(id, labelled.clone()) {
            Some(before) if before.spam == labelled.spam => {}
            Some(_) => self.relearn(&mut state),
            None => {
                state.step(&[&labelled]);
                state.agreement.push_back(agreed);
                if state.agreement.len() > ACCURACY_WINDOW {
                    state.agreement.pop_front();
                }
            }
        }
        self.swap_in_finished_refit(&mut state);
        if refit_due(state.labels.len()) {
            self.start_refit(&state);
        }
    }

    /// Starts refitting a snapshot of the labels on a thread of its own, unless one runs.
    fn start_refit(&self, state: &State) {
        let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
        if background.is_some() {
            return;
        }
        let snapshot: Vec<(CommentId, Labelled)> = state
            .labels
            .iter()
            .map(|(id, l)| (*id, l.clone()))
            .collect();
        let restarts = state.restarts;
        let ready = std::sync::Arc::clone(&self.ready);
        let spawned = std::thread::Builder::new()
            .name("site-model-refit".into())
            .spawn(move || {
                let fitted = Fitted {
                    restarts,
                    ..fit(snapshot)
                };
                ready.store(true, Ordering::Release);
                fitted
            });
        // Without a thread the model keeps learning online: only the refit is lost.
        *background = spawned.ok();
    }

    /// Swaps in the background refit if it has finished; a stale one (a label changed
    /// since its snapshot) is dropped and a fresh one started.
    fn swap_in_finished_refit(&self, state: &mut State) {
        let finished = {
            let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
            // `ready` is set just before the thread ends: until it has, leave it be.
            if !background.as_ref().is_some_and(|h| h.is_finished()) {
                return;
            }
            self.ready.store(false, Ordering::Release);
            background.take()
        };
        if let Some(Ok(fitted)) = finished.map(std::thread::JoinHandle::join)
            && !self.apply(state, fitted)
        {
            self.start_refit(state);
        }
    }

    /// Unlearns after a label changed or was withdrawn: a refit from the labels held, in
    /// place when they are few (a quarter of a second at most), else in the background (the
    /// old label keeps its pull until the refit is swapped in).
    fn relearn(&self, state: &mut State) {
        if state.labels.len() <= SYNC_RELEARN_LIMIT {
            state.refit();
        } else {
            state.restarts += 1;
            self.start_refit(state);
        }
    }

    /// Swaps in a refit, then learns online the labels that arrived since its snapshot.
    /// Dropped when a label changed or was withdrawn meanwhile (the model was refitted in
    /// place from the newer labels); true when swapped in.
    fn apply(&self, state: &mut State, fitted: Fitted) -> bool {
        if fitted.restarts != state.restarts {
            return false;
        }
        state.ftrl = fitted.ftrl;
        state.weights = fitted.weights;
        let mut newer: Vec<(CommentId, Labelled)> = (state.labels.iter())
            .filter(|(id, _)| !fitted.ids.contains(id))
            .map(|(id, l)| (*id, l.clone()))
            .collect();
        newer.sort_unstable_by_key(|(id, _)| *id);
        for (_, l) in &newer {
            state.step(&[l]);
        }
        self.refits.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Waits for the background refit, if one runs, and swaps it in; true when one was
    /// swapped in. For tests: serving never waits.
    pub fn settle(&self) -> bool {
        loop {
            let handle = self
                .background
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            self.ready.store(false, Ordering::Release);
            let Some(Ok(fitted)) = handle.map(std::thread::JoinHandle::join) else {
                return false;
            };
            let mut state = self.state.write();
            if self.apply(&mut state, fitted) {
                return true;
            }
            // Stale: a label changed since its snapshot; wait for a fresh one.
            self.start_refit(&state);
        }
    }

    /// Background refits swapped in since start.
    pub fn refits(&self) -> u64 {
        self.refits.load(Ordering::Acquire)
    }

    /// Withdraws a comment's label (it was trashed or erased) and refits.
    pub fn forget(&self, id: CommentId) {
        let mut state = self.state.write();
        if state.labels.remove(&id).is_some() {
            self.relearn(&mut state);
        }
    }

    /// Replaces everything learned with these labels, each with its shipped log-odds (at
    /// start, from the store). Up to [`SYNC_REBUILD_LIMIT`] labels are fitted before it
    /// returns; more are fitted in the background (about half a millisecond each), the model
    /// pushing nothing until then, so a large history does not hold up the start.
    pub fn rebuild<'a>(
        &self,
        labels: impl IntoIterator<Item = (CommentId, Label, CommentText<'a>, f64)>,
    ) {
        let mut fresh = State::default();
        for (id, label, text, prior) in labels {
            let mut names = Vec::new();
            let row = row_of(&text, Some(&mut names));
            for (c, name) in names {
                fresh.names.entry(c).or_insert(name);
            }
            let spam = label == Label::Spam;
            fresh.labels.insert(id, Labelled { spam, row, prior });
        }
        let in_background = fresh.labels.len() > SYNC_REBUILD_LIMIT;
        if !in_background {
            fresh.refit();
        }
        let mut state = self.state.write();
        // Past every earlier state's count, so a refit of the labels before (still running
        // in the background) is stale when it finishes and never swapped in.
        fresh.restarts += state.restarts + 1;
        *state = fresh;
        if in_background {
            self.start_refit(&state);
        }
    }

    /// The site model's push on a comment, with the terms that gave it.
    pub fn push(&self, text: &CommentText<'_>) -> SitePush {
        if self.ready.load(Ordering::Acquire) {
            self.swap_in_finished_refit(&mut self.state.write());
        }
        let state = self.state.read();
        if state.labels.is_empty() {
            return SitePush::default();
        }
        let row = row_of(text, None);
        let shift = dot(&state.weights, &row);
        let mut terms: Vec<(f64, u32)> = row
            .iter()
            .map(|&(c, v)| (state.weights[c as usize] * v, c))
            .filter(|&(w, c)| w.abs() >= 1e-3 && state.names.contains_key(&c))
            .collect();
        terms.sort_unstable_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
        let contributions = terms
            .iter()
            .take(EXPLAIN_TOP)
            .map(|&(weight, c)| Contribution {
                feature: format!(
                    "{LEARNED_HERE}: {}",
                    state
                        .names
                        .get(&c)
                        .map_or_else(|| "a term".to_owned(), |k| describe(k))
                ),
                weight,
            })
            .collect();
        SitePush {
            shift,
            contributions,
        }
    }

    /// Whether it holds exactly these labels (no more, none other): a rebuild from them would
    /// change nothing.
    pub fn holds_exactly(&self, labels: &[(CommentId, Label)]) -> bool {
        let state = self.state.read();
        state.labels.len() == labels.len()
            && labels.iter().all(|(id, label)| {
                state
                    .labels
                    .get(id)
                    .is_some_and(|held| held.spam == (*label == Label::Spam))
            })
    }

    /// How many comments carry a label.
    pub fn labelled(&self) -> usize {
        self.state.read().labels.len()
    }

    /// The share of the latest labels (at most [`ACCURACY_WINDOW`]) that the combined score
    /// already got right before learning them; `None` before any label.
    pub fn running_accuracy(&self) -> Option<f64> {
        let state = self.state.read();
        let n = state.agreement.len();
        (n > 0).then(|| state.agreement.iter().filter(|&&a| a).count() as f64 / n as f64)
    }

    /// Its figures now.
    pub fn figures(&self) -> SiteFigures {
        let state = self.state.read();
        let n = state.agreement.len();
        let agreed = state.agreement.iter().filter(|&&a| a).count();
        SiteFigures {
            version: self.generation(),
            labels: state.labels.len() as u64,
            running_accuracy: if n == 0 {
                0.0
            } else {
                agreed as f64 / n as f64
            },
            accuracy_labels: n as u64,
        }
    }

    /// How many times the model changed since start.
    pub fn generation(&self) -> u64 {
        self.state.generation()
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
    fn the_settings_are_accepted() {
        assert!(fresh().is_some());
    }

    #[test]
    fn learns_a_new_kind_of_spam_from_labels() {
        let site = SiteModel::default();
        let probe = text("Thanks to Mrs Carter I earned 30000 pounds with her bitcoin plan");
        assert_eq!(site.push(&probe).shift, 0.0);
        for n in 0..30 {
            let spam = format!("All thanks to Mrs Carter, her bitcoin plan paid me {n} thousand");
            site.learn(CommentId::generate(), Label::Spam, &text(&spam), -2.0);
            let ham = format!("The summit communique mentions grain exports and tariffs {n}");
            site.learn(CommentId::generate(), Label::Ham, &text(&ham), -2.0);
        }
        let push = site.push(&probe);
        assert!(push.shift > 2.0, "{push:?}");
        assert!(
            push.contributions[0].feature.starts_with(LEARNED_HERE),
            "{push:?}"
        );
        assert!(site.running_accuracy().is_some());
        assert_eq!(site.labelled(), 60);
    }

    #[test]
    fn a_burst_of_wrong_labels_stays_on_its_topic() {
        let site = SiteModel::default();
        for n in 0..200 {
            let spam = format!("cheap replica watches shipped free, order {n} today");
            site.learn(CommentId::generate(), Label::Ham, &text(&spam), 3.0);
        }
        let push = site.push(&text("cheap replica watches shipped free, order now"));
        assert!(push.shift < -1.0, "{push:?}");
        assert!(push.shift >= -MAX_SHIFT);
        let other = site.push(&text("Subscribe to my channel for daily crypto signals"));
        assert_eq!(other.shift, 0.0, "{other:?}");
    }

    #[test]
    fn refits_in_the_background_at_doublings_and_keeps_later_labels() {
        let site = SiteModel::default();
        for n in 0..64 {
            let spam = format!("grab the zorblax token airdrop {n} before it ends");
            site.learn(CommentId::generate(), Label::Spam, &text(&spam), 0.0);
        }
        let late = CommentId::generate();
        site.learn(late, Label::Ham, &text("a quiet note on tariffs"), 0.0);
        assert!(site.settle(), "the refit started at 64 labels swaps in");
        assert_eq!(site.refits(), 1);
        assert_eq!(site.labelled(), 65);
        assert!(site.push(&text("zorblax token airdrop")).shift > 0.0);
        assert!(!site.settle(), "no refit runs");
    }

    #[test]
    fn a_large_history_is_rebuilt_in_the_background() {
        let site = SiteModel::default();
        let texts: Vec<String> = (0..=SYNC_REBUILD_LIMIT)
            .map(|n| format!("grab the zorblax token airdrop {n} before it ends"))
            .collect();
        site.rebuild(
            texts
                .iter()
                .map(|t| (CommentId::generate(), Label::Spam, text(t), 0.0)),
        );
        assert_eq!(site.labelled(), SYNC_REBUILD_LIMIT + 1);
        assert!(
            site.settle(),
            "the rebuild's fit runs in the background and swaps in"
        );
        assert!(site.push(&text("zorblax token airdrop")).shift > 0.0);
    }

    #[test]
    fn a_changed_label_in_a_long_history_is_unlearned_in_the_background() {
        let site = SiteModel::default();
        let spam = "join the zorblax pyramid scheme now";
        let ids: Vec<CommentId> = (0..=SYNC_RELEARN_LIMIT)
            .map(|_| CommentId::generate())
            .collect();
        for id in &ids {
            site.learn(*id, Label::Spam, &text(spam), 0.0);
        }
        site.settle();
        assert!(site.push(&text(spam)).shift > 0.0);
        for id in &ids {
            site.learn(*id, Label::Ham, &text(spam), 0.0);
        }
        assert!(site.settle(), "the relabels are refitted in the background");
        assert!(site.push(&text(spam)).shift < 0.0);
    }

    #[test]
    fn relabelled_and_withdrawn_labels_are_unlearned() {
        let site = SiteModel::default();
        let ids: Vec<CommentId> = (0..20).map(|_| CommentId::generate()).collect();
        let spam = "join the zorblax pyramid scheme now";
        for id in &ids {
            site.learn(*id, Label::Spam, &text(spam), 0.0);
        }
        assert!(site.push(&text(spam)).shift > 0.0);
        for id in &ids {
            site.learn(*id, Label::Ham, &text(spam), 0.0);
        }
        assert!(site.push(&text(spam)).shift < 0.0);
        for id in &ids {
            site.forget(*id);
        }
        assert_eq!(site.push(&text(spam)).shift, 0.0);
        assert_eq!(site.labelled(), 0);
    }
}

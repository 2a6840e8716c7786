//! The shadow policy: a second opinion on every stored submission that never changes the live
//! verdict. It is the live editable rules with the `[shadow]` values put in, optionally
//! scored by another model; its verdict is stored with the comment (`receipt.shadow_status`)
//! so that moderators' labels can later be compared with both. The counts live in memory and
//! start from zero at every start.
//!
//! Cost: without a model of its own the shadow reuses the live score, so it adds one pass of
//! the site lists and the built-in rules; with one, it also scores the text once more.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use crate::classifier::{CommentText, ModelError, SpamModel};
use crate::comment::{Label, Status, StoredComment, Submission};
use crate::config::ShadowConfig;
use crate::policy::{EditableRules, Hit, RuleError, RuleSet};
use crate::privacy::EmailHasher;
use crate::scoring::{Scorer, Scoring};
pub use crate::telemetry::ShadowSnapshot;

/// Why the shadow policy cannot be used; the server refuses to start then.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    /// `shadow.model` does not load.
    #[error("cannot load the shadow model {path}")]
    Model {
        /// The configured file.
        path: PathBuf,
        /// Why.
        source: ModelError,
    },
    /// The shadow's lists do not compile.
    #[error("invalid shadow rules")]
    Rules(#[source] RuleError),
}

/// The shadow policy with its counts.
#[derive(Debug)]
pub struct Shadow {
    overrides: ShadowConfig,
    model: Option<SpamModel>,
    /// The shadow rules compiled for the live rules of this version (they follow changes).
    compiled: RwLock<Option<(String, Arc<RuleSet>)>>,
    counts: Counts,
}

/// What a submission needs for the shadow's verdict, all computed for the live one already.
#[derive(Debug)]
pub struct ShadowInput<'a> {
    /// The validated submission.
    pub submission: &'a Submission,
    /// Its author's keyed email hash.
    pub email_hash: &'a [u8; 32],
    /// The text the classifier reads.
    pub text: &'a CommentText<'a>,
    /// The live score (reused when the shadow has no model of its own).
    pub scoring: &'a Scoring,
    /// Hits of rules the shadow does not change (first-time author, campaign).
    pub shared_hits: &'a [Hit],
}

/// In-memory counters: [`Shadow::snapshot`] reads them.
#[derive(Debug, Default)]
struct Counts {
    evaluated: AtomicU64,
    would_change: AtomicU64,
    /// Indexed by (live status, shadow status) discriminants minus one.
    changes: [[AtomicU64; 4]; 4],
    labels: AtomicU64,
    live_agreed: AtomicU64,
    shadow_agreed: AtomicU64,
}

impl Shadow {
    /// Loads the shadow's model (if it has one) and checks its rules compile over `live`.
    ///
    /// # Errors
    /// When the model does not load or the lists do not compile.
    pub fn load(
        overrides: ShadowConfig,
        live: &EditableRules,
        hasher: &EmailHasher,
    ) -> Result<Self, ShadowError> {
        let model = match &overrides.model {
            Some(path) => Some(SpamModel::load(path).map_err(|source| ShadowError::Model {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        apply(&overrides, live)
            .compile(hasher)
            .map_err(ShadowError::Rules)?;
        Ok(Self {
            overrides,
            model,
            compiled: RwLock::new(None),
            counts: Counts::default(),
        })
    }

    /// The shadow rules for the live rules `live`, compiled once per live version.
    pub fn rules(&self, live: &RuleSet, hasher: &EmailHasher) -> Option<Arc<RuleSet>> {
        if let Some((version, rules)) = &*self.compiled.read().unwrap_or_else(|p| p.into_inner())
            && *version == live.version
        {
            return Some(Arc::clone(rules));
        }
        match apply(&self.overrides, &live.editable).compile(hasher) {
            Ok(rules) => {
                let rules = Arc::new(rules);
                let mut slot = self.compiled.write().unwrap_or_else(|p| p.into_inner());
                *slot = Some((live.version.clone(), Arc::clone(&rules)));
                Some(rules)
            }
            Err(e) => {
                tracing::error!(cause = %e, "shadow rules do not compile; shadow skipped");
                None
            }
        }
    }

    /// The status the shadow (with its `rules`, from [`Shadow::rules`]) gives a submission
    /// the live policy judged.
    pub fn judge(&self, rules: &RuleSet, scorer: &Scorer, input: &ShadowInput<'_>) -> Status {
        let own_score;
        let scored = match &self.model {
            Some(model) => {
                own_score = scorer.score_with(model, input.text);
                &own_score
            }
            None => &input.scoring.scored,
        };
        let mut hits = rules.compiled.check(input.submission, input.email_hash);
        hits.extend_from_slice(input.shared_hits);
        hits.extend(rules.policy.toxicity_hit(&input.scoring.toxicity));
        rules.policy.status_with(input.submission, scored, &hits)
    }

    /// The model version the shadow scores with, given the live one.
    pub fn model_version<'a>(&'a self, live: &'a str) -> &'a str {
        self.model.as_ref().map_or(live, |m| m.version())
    }

    /// Counts one stored submission: the live verdict and the shadow's.
    pub fn count(&self, live: Status, shadow: Status) {
        let c = &self.counts;
        c.evaluated.fetch_add(1, Relaxed);
        if live != shadow {
            c.would_change.fetch_add(1, Relaxed);
            c.changes[live as usize - 1][shadow as usize - 1].fetch_add(1, Relaxed);
        }
    }

    /// Counts a moderator's label on a comment that carries a shadow verdict: whether the live
    /// verdict and the shadow's agreed with it (APPROVED with a ham label, PENDING or SPAM
    /// with a spam label).
    pub fn count_label(&self, comment: &StoredComment, label: Label) {
        let receipt = &comment.receipt;
        let (Some(live), Some(shadow)) = (receipt.submitted_status, receipt.shadow_status) else {
            return;
        };
        let agrees = |status: Status| (status != Status::Approved) == label.is_spam();
        let c = &self.counts;
        c.labels.fetch_add(1, Relaxed);
        if agrees(live) {
            c.live_agreed.fetch_add(1, Relaxed);
        }
        if agrees(shadow) {
            c.shadow_agreed.fetch_add(1, Relaxed);
        }
    }

    /// The counts now, with the shadow's policy version.
    pub fn snapshot(&self, policy_version: String) -> ShadowSnapshot {
        let c = &self.counts;
        let mut changes = Vec::new();
        for from in Status::ALL {
            for to in Status::ALL {
                let n = c.changes[from as usize - 1][to as usize - 1].load(Relaxed);
                if n > 0 {
                    changes.push((from, to, n));
                }
            }
        }
        ShadowSnapshot {
            evaluated: c.evaluated.load(Relaxed),
            would_change: c.would_change.load(Relaxed),
            changes,
            labels: c.labels.load(Relaxed),
            live_agreed: c.live_agreed.load(Relaxed),
            shadow_agreed: c.shadow_agreed.load(Relaxed),
            policy_version,
        }
    }
}

/// The live rules with the shadow's values put in.
fn apply(overrides: &ShadowConfig, live: &EditableRules) -> EditableRules {
    let mut rules = live.clone();
    if let Some(keys) = &overrides.moderation_keys {
        rules.lists.moderation_keys = keys.clone();
    }
    if let Some(keys) = &overrides.disallowed_keys {
        rules.lists.disallowed_keys = keys.clone();
    }
    if let Some(max) = overrides.max_links {
        rules.max_links = max;
    }
    if let Some(spam) = overrides.spam_threshold {
        rules.thresholds.spam = spam;
    }
    if let Some(pending) = overrides.pending_threshold {
        rules.thresholds.pending = pending;
    }
    rules.thresholds.pending = rules.thresholds.pending.min(rules.thresholds.spam);
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{RuleLists, Thresholds};

    fn live() -> EditableRules {
        EditableRules {
            lists: RuleLists {
                moderation_keys: vec!["casino".into()],
                banned_ips: vec!["10.0.0.0/8".into()],
                ..RuleLists::default()
            },
            max_links: 2,
            thresholds: Thresholds {
                spam: 0.9,
                pending: 0.6,
                ..Thresholds::default()
            },
        }
    }

    #[test]
    fn the_shadow_replaces_only_what_it_names() {
        let overrides = ShadowConfig {
            spam_threshold: Some(0.4),
            moderation_keys: Some(vec!["poker".into()]),
            ..ShadowConfig::default()
        };
        let rules = apply(&overrides, &live());
        assert_eq!(rules.lists.moderation_keys, ["poker"]);
        assert_eq!(rules.lists.banned_ips, ["10.0.0.0/8"]);
        assert_eq!(rules.max_links, 2);
        // The live pending threshold (0.6) is above the shadow's spam threshold: capped.
        assert_eq!(
            rules.thresholds,
            Thresholds {
                spam: 0.4,
                pending: 0.4,
                ..Thresholds::default()
            }
        );
    }

    #[test]
    fn counts_changes_and_label_agreement() {
        let hasher = EmailHasher::from_hex(&"ab".repeat(32)).unwrap();
        let shadow = Shadow::load(ShadowConfig::default(), &live(), &hasher).unwrap();
        shadow.count(Status::Approved, Status::Approved);
        shadow.count(Status::Approved, Status::Pending);
        shadow.count(Status::Approved, Status::Pending);
        let mut comment = crate::store::record::tests::sample();
        comment.receipt.submitted_status = Some(Status::Approved);
        comment.receipt.shadow_status = Some(Status::Pending);
        shadow.count_label(&comment, Label::Spam);
        comment.receipt.shadow_status = None;
        shadow.count_label(&comment, Label::Spam); // no shadow verdict: not counted
        let snapshot = shadow.snapshot("v".into());
        assert_eq!(
            snapshot,
            ShadowSnapshot {
                evaluated: 3,
                would_change: 2,
                changes: vec![(Status::Approved, Status::Pending, 2)],
                labels: 1,
                live_agreed: 0,
                shadow_agreed: 1,
                policy_version: "v".into(),
            }
        );
    }
}

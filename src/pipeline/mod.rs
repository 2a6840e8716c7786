//! Submission in, verdict out: the one place that decides what happens to a comment.
//!
//! validate (fields, privacy) → parent and closed-post checks → score (model + what moderators
//! taught it) → site lists, first-time authors, flood control, campaigns → thresholds → a
//! status with its reasons. Storing adds the commit, whose duplicate check is race-free.
//! The gRPC handlers, the benches and the fuzz target all go through here.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::classifier::CommentText;
use crate::comment::{
    CommentId, Idempotency, Label, Receipt, Status, StoredComment, Submission, Verdict, now_ms,
};
use crate::config::{Config, ShadowConfig};
use crate::policy::trackers::{campaign_hit, campaign_signature};
use crate::policy::{HistorySettings, Hit, LocalHistory, RuleSet, SubmissionHistory, builtin};
use crate::privacy::EmailHasher;
use crate::scoring::{Scorer, Scoring};
use crate::store::{Storage, StoreError};
use crate::validate::{FieldViolation, SubmissionInput, validate};
use sha2::{Digest as _, Sha256};

mod idempotency;
mod rule_updates;
mod shadow;

pub use idempotency::{check_key, key_violation, request_digest};
pub use rule_updates::{RULES_KEY, RulesRejection, stored_rules};
pub use shadow::{Shadow, ShadowError, ShadowInput, ShadowSnapshot};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Why a submission gets no verdict (and nothing is stored).
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Bad fields, one violation each.
    #[error("invalid fields")]
    Invalid(Vec<FieldViolation>),
    /// The post takes no more comments.
    #[error("the post is closed")]
    PostClosed,
    /// The same email or IP commented less than the flood interval ago; retry after this.
    #[error("too frequent")]
    Flooded(Duration),
    /// Storage refused (a duplicate) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn parent_violation() -> FieldViolation {
    FieldViolation::new("parent_id", "names no approved comment of this post")
}

/// Whether the submission is to be stored or only judged (`CheckComment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A dry run: nothing stored, no tracker touched.
    Check,
    /// Judged for storing: flood timers start and campaigns count it.
    Store,
}

/// A judged submission, not yet stored.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The submission as validated.
    pub submission: Submission,
    /// The decision and its reasons.
    pub verdict: Verdict,
    /// The model that scored it.
    pub model_version: String,
    /// The keyed hash of the author's email.
    pub email_hash: [u8; 32],
    /// The digest of everything that decided ([`Pipeline`] explains what it covers).
    pub policy_version: String,
    /// The shadow policy's status, when one is configured and the submission is to be stored.
    pub shadow_status: Option<Status>,
}

/// A stored submission's answer: a new comment, or the one a retry's idempotency key names.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The comment, as stored (a replayed one as it is now).
    pub comment: StoredComment,
    /// True when this was a retry answered from the comment its key names; nothing new was
    /// stored or counted.
    pub replayed: bool,
}

impl Submitted {
    /// The status the submission was answered with the first time (a moderator may have
    /// changed the comment's status since).
    pub fn answered_status(&self) -> Status {
        let c = &self.comment;
        c.receipt.submitted_status.unwrap_or(c.verdict.status)
    }
}

/// What the pipeline is built from.
#[derive(Debug)]
pub struct Parts {
    /// Storage: parents, post ages, duplicates, author statistics, and the commit.
    pub store: Arc<dyn Storage>,
    /// The model and the online layer.
    pub scorer: Arc<Scorer>,
    /// Keyed hash for emails.
    pub hasher: EmailHasher,
    /// The editable rules in force at start.
    pub rules: RuleSet,
}

/// The verdict pipeline with everything it depends on.
///
/// Every verdict carries a policy version: a digest of the model version, the online layer's
/// generation (it changes with every moderator label), the editable rules' version and the
/// fixed settings (first-time authors, flood, campaigns, closing posts).
#[derive(Debug)]
pub struct Pipeline {
    store: Arc<dyn Storage>,
    scorer: Arc<Scorer>,
    hasher: EmailHasher,
    rules: RwLock<Arc<RuleSet>>,
    /// Held while an update of the rules is checked, stored and put in force, so two
    /// moderators' updates never interleave.
    rules_update: tokio::sync::Mutex<()>,
    /// Flood timers and campaign sightings: the store's shared ones when it has them.
    history: Arc<dyn SubmissionHistory>,
    /// The settings the history was made with (a campaign's reason names them).
    history_settings: HistorySettings,
    require_prior_approval: bool,
    close_after: Option<Duration>,
    /// Digest of the settings that only a restart changes.
    settings_digest: [u8; 32],
    /// The policy judged beside the live one, if configured.
    shadow: Option<Shadow>,
    /// Submissions with an idempotency key hold the stripe of their key from lookup to
    /// commit, so a retry racing its original on this server waits and gets its answer.
    key_stripes: [tokio::sync::Mutex<()>; KEY_STRIPES],
}

/// Stripes of idempotency keys: unrelated keys rarely wait for each other.
const KEY_STRIPES: usize = 64;

impl Pipeline {
    /// A pipeline over `parts` with the rule settings of `config`.
    pub fn new(parts: Parts, config: &Config) -> Self {
        let settings = HistorySettings {
            flood_interval: Duration::from_secs(config.flood_interval),
            campaign_window: Duration::from_secs(config.campaign_window),
            campaign_min_authors: config.campaign_min_authors,
        };
        let history = parts
            .store
            .shared_history(settings)
            .unwrap_or_else(|| Arc::new(LocalHistory::new(settings)));
        Self {
            history,
            history_settings: settings,
            store: parts.store,
            scorer: parts.scorer,
            hasher: parts.hasher,
            rules: RwLock::new(Arc::new(parts.rules)),
            rules_update: tokio::sync::Mutex::new(()),
            settings_digest: settings_digest(config),
            require_prior_approval: config.require_prior_approval,
            close_after: (config.close_after_days > 0)
                .then(|| DAY * config.close_after_days as u32),
            shadow: None,
            key_stripes: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
        }
    }

    /// Adds the shadow policy of `config` (none when `None`), over the live rules in force.
    ///
    /// # Errors
    /// When its model does not load or its lists do not compile.
    pub fn with_shadow(mut self, config: Option<&ShadowConfig>) -> Result<Self, ShadowError> {
        self.shadow = match config {
            Some(config) => Some(Shadow::load(
                config.clone(),
                &self.rules().editable,
                &self.hasher,
            )?),
            None => None,
        };
        Ok(self)
    }

    /// The verdict a submission would get; nothing is stored and no tracker changes. A key,
    /// when given, is checked as [`Pipeline::submit`] checks it.
    ///
    /// # Errors
    /// As [`Pipeline::judge`], a malformed key, and a duplicate of a stored comment.
    pub async fn check(&self, input: &SubmissionInput<'_>, key: &str) -> Result<Judged, Rejection> {
        check_key(input, key)?;
        self.judge(input, Mode::Check).await
    }

    /// Spam so blatant that a site may drop it unseen: marked SPAM with a score at or above
    /// the spam threshold (rather than by a rule alone).
    pub fn is_blatant_spam(&self, verdict: &Verdict) -> bool {
        verdict.status == Status::Spam
            && f64::from(verdict.spam_score) >= self.rules().policy.thresholds.spam
    }

    /// Judges and stores a submission; returns once it is on disk. With an idempotency key
    /// (`key` not empty) a retry of a stored submission gets that comment back instead (see
    /// the `idempotency` module).
    ///
    /// # Errors
    /// As [`Pipeline::judge`], a duplicate, a key reused with another request (invalid), or a
    /// storage failure.
    pub async fn submit(
        &self,
        input: &SubmissionInput<'_>,
        key: &str,
    ) -> Result<Submitted, Rejection> {
        if key.is_empty() {
            return self.store_new(input, None).await;
        }
        self.submit_keyed(input, key).await
    }

    /// Judges and stores a new comment, with its idempotency key if it has one.
    async fn store_new(
        &self,
        input: &SubmissionInput<'_>,
        idempotency: Option<Idempotency>,
    ) -> Result<Submitted, Rejection> {
        let judged = self.judge(input, Mode::Store).await?;
        let receipt = Receipt {
            idempotency,
            submitted_status: Some(judged.verdict.status),
            shadow_status: judged.shadow_status,
        };
        let comment = StoredComment {
            id: CommentId::generate(),
            created_at_ms: now_ms(),
            email_hash: judged.email_hash,
            submission: judged.submission,
            verdict: judged.verdict,
            model_version: judged.model_version,
            policy_version: judged.policy_version,
            decision: None,
            receipt,
        };
        if let Err(e) = self.store.insert(comment.clone()).await {
            // Not stored, so it does not count against the author's flood interval.
            self.history
                .cancel_flood_timer(comment.email_hash, comment.submission.context.ip)
                .await;
            return Err(match e {
                // The parent was moderated away while the reply was judged.
                StoreError::ParentGone => Rejection::Invalid(vec![parent_violation()]),
                e => e.into(),
            });
        }
        if let (Some(shadow), Some(status)) = (&self.shadow, comment.receipt.shadow_status) {
            shadow.count(comment.verdict.status, status);
        }
        Ok(Submitted {
            comment,
            replayed: false,
        })
    }

    /// Validation, parent and closed-post checks, scoring and every rule.
    ///
    /// # Errors
    /// Invalid fields, a closed post, a flood (when storing), or a failed read.
    pub async fn judge(
        &self,
        input: &SubmissionInput<'_>,
        mode: Mode,
    ) -> Result<Judged, Rejection> {
        let submission = self.validated(input).await?;
        let rules = self.rules();
        if rules.compiled.is_closed(&submission.post_id)
            || self.too_old(&submission.post_id).await?
        {
            return Err(Rejection::PostClosed);
        }
        let email_hash = self.hasher.hash(&submission.author_email);
        if mode == Mode::Check {
            // When storing, the commit finds duplicates (race-free); a dry run looks them up.
            self.refuse_duplicate(&submission, &email_hash).await?;
        }
        let text = CommentText {
            content: &submission.content,
            author_name: &submission.author_name,
            author_url: submission.author_url.as_deref().unwrap_or(""),
        };
        let scoring = self.scorer.score(&text);
        // Rules the shadow policy does not change: both policies count their hits.
        let mut shared_hits = Vec::new();
        if self.require_prior_approval && self.store.author_stats(&email_hash).await?.approved == 0
        {
            shared_hits.push(builtin::first_time_author());
        }
        if mode == Mode::Store {
            shared_hits.extend(self.track(&submission, email_hash).await?);
        }
        let shadow_status = match mode {
            Mode::Store => self.shadow_status(
                &rules,
                &ShadowInput {
                    submission: &submission,
                    email_hash: &email_hash,
                    text: &text,
                    scoring: &scoring,
                    shared_hits: &shared_hits,
                },
            ),
            Mode::Check => None,
        };
        let mut hits = rules.compiled.check(&submission, &email_hash);
        hits.extend(shared_hits);
        hits.extend(rules.policy.toxicity_hit(&scoring.toxicity));
        let mut verdict = rules.policy.decide_with(&submission, &scoring.scored, hits);
        verdict.toxicity = scoring.toxicity.probability as f32;
        verdict.toxic_spans.clone_from(&scoring.toxicity.spans);
        let policy_version = self.policy_version(&scoring, &rules);
        Ok(Judged {
            submission,
            verdict,
            model_version: scoring.model_version,
            email_hash,
            policy_version,
            shadow_status,
        })
    }

    /// The shadow policy's status for a submission, when one is configured.
    fn shadow_status(&self, live: &RuleSet, input: &ShadowInput<'_>) -> Option<Status> {
        let shadow = self.shadow.as_ref()?;
        let rules = shadow.rules(live, &self.hasher)?;
        Some(shadow.judge(&rules, &self.scorer, input))
    }

    /// The shadow policy's figures since start, when one is configured.
    pub fn shadow_snapshot(&self) -> Option<ShadowSnapshot> {
        let shadow = self.shadow.as_ref()?;
        let live = self.rules();
        let rules = shadow.rules(&live, &self.hasher)?;
        let live_model = self.scorer.model_version();
        let version = self.version_of(
            &format!(
                "{}+{}",
                shadow.model_version(&live_model),
                self.scorer.toxicity_version()
            ),
            self.scorer.learner_generation(),
            &rules.version,
        );
        Some(shadow.snapshot(version))
    }

    /// Tells the shadow policy about a moderator's label on `comment`.
    pub fn count_label(&self, comment: &StoredComment, label: Label) {
        if let Some(shadow) = &self.shadow {
            shadow.count_label(comment, label);
        }
    }

    /// Flood control (starting the author's timer) and campaign counting, for a submission
    /// about to be stored.
    async fn track(
        &self,
        submission: &Submission,
        email_hash: [u8; 32],
    ) -> Result<Option<Hit>, Rejection> {
        let started = self
            .history
            .start_flood_timer(email_hash, submission.context.ip)
            .await?;
        if let Err(wait) = started {
            // A double-click within the interval is a duplicate, not a flood.
            self.refuse_duplicate(submission, &email_hash).await?;
            return Err(Rejection::Flooded(wait));
        }
        let settings = &self.history_settings;
        // With campaigns off, the text is not even normalized for a signature.
        if settings.campaign_min_authors == 0 {
            return Ok(None);
        }
        let Some(signature) = campaign_signature(&submission.content) else {
            return Ok(None);
        };
        let campaign = self
            .history
            .observe_campaign(&signature, email_hash)
            .await?;
        Ok(campaign
            .map(|id| campaign_hit(id, settings.campaign_min_authors, settings.campaign_window)))
    }

    /// The submission validated, with a parent that is an approved comment of its post.
    async fn validated(&self, input: &SubmissionInput<'_>) -> Result<Submission, Rejection> {
        let parent_problem = match CommentId::parse(input.parent_id.trim()) {
            Some(parent) => self.parent_problem(input.post_id.trim(), parent).await?,
            None => None,
        };
        match (validate(input), parent_problem) {
            (Ok(submission), None) => Ok(submission),
            (Ok(_), Some(problem)) => Err(Rejection::Invalid(vec![problem])),
            (Err(mut violations), problem) => {
                violations.extend(problem);
                Err(Rejection::Invalid(violations))
            }
        }
    }

    /// Why `parent` cannot be replied to in `post_id`, if it cannot.
    async fn parent_problem(
        &self,
        post_id: &str,
        parent: CommentId,
    ) -> Result<Option<FieldViolation>, StoreError> {
        let ok = self.store.get(parent).await?.is_some_and(|p| {
            p.verdict.status == Status::Approved && p.submission.post_id == post_id
        });
        Ok((!ok).then(parent_violation))
    }

    /// Whether the post's first comment is older than `close_after_days`.
    async fn too_old(&self, post_id: &str) -> Result<bool, StoreError> {
        let Some(limit) = self.close_after else {
            return Ok(false);
        };
        Ok(match self.store.first_comment_ms(post_id).await? {
            Some(first) => now_ms().saturating_sub(first) > limit.as_millis() as u64,
            None => false,
        })
    }

    /// A duplicate of a stored comment is refused as such.
    async fn refuse_duplicate(
        &self,
        submission: &Submission,
        email_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        let found = self
            .store
            .find_duplicate(&submission.post_id, email_hash, &submission.content)
            .await?;
        match found {
            Some(existing) => Err(StoreError::Duplicate(existing)),
            None => Ok(()),
        }
    }

    /// The digest of everything that decided a verdict scored by `scoring` under `rules`.
    fn policy_version(&self, scoring: &Scoring, rules: &RuleSet) -> String {
        self.version_of(
            &format!("{}+{}", scoring.model_version, scoring.toxicity_version),
            scoring.learner_generation,
            &rules.version,
        )
    }

    /// The policy version of a model, a state of the online layer and a version of the rules.
    fn version_of(&self, model_version: &str, learner_generation: u64, rules: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(model_version.as_bytes());
        digest.update([0]);
        digest.update(learner_generation.to_le_bytes());
        digest.update(rules.as_bytes());
        digest.update(self.settings_digest);
        hex::encode(&digest.finalize()[..8])
    }

    /// The storage behind the pipeline.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// The scorer, for moderators' labels and model reloads.
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// The keyed hash that stands for emails.
    pub fn hasher(&self) -> &EmailHasher {
        &self.hasher
    }
}

/// A digest of the settings only a restart changes, for the policy version.
fn settings_digest(config: &Config) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update([u8::from(config.require_prior_approval)]);
    for value in [
        config.flood_interval,
        config.campaign_min_authors as u64,
        config.campaign_window,
        config.close_after_days,
    ] {
        digest.update(value.to_le_bytes());
    }
    digest.finalize().into()
}

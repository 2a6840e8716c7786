//! `CommentService`: thin handlers that validate, call the domain and map errors.

use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use futures_util::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument};

use super::convert;
use super::errors::Refusal;
use super::pb;
use crate::auth::ModeratorTokens;
use crate::classifier::CommentText;
use crate::comment::{
    CommentId, Status as CommentStatus, StoredComment, Submission, Verdict, now_ms,
};
use crate::learner::Learner;
use crate::live_model::LiveModel;
use crate::moderation::QueueEvent;
use crate::policy::Policy;
use crate::privacy::EmailHasher;
use crate::rules::{Campaigns, Flood, SiteRules};
use crate::store::{self, Committer, Store};
use crate::validate::{FieldViolation, validate};

/// Default and largest page of `ListComments`.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;
/// Submissions of one `SubmitComments` stream in progress at once; their answers still leave
/// in request order.
const STREAM_CONCURRENCY: usize = 64;

/// What every handler needs, shared by all of them.
#[derive(Debug)]
pub struct Shared {
    /// Reads.
    pub store: Store,
    /// Durable writes.
    pub committer: Committer,
    /// The spam model, reloadable while serving.
    pub model: Arc<LiveModel>,
    /// Keyed hash for emails.
    pub hasher: EmailHasher,
    /// Thresholds and the built-in rules.
    pub policy: Policy,
    /// The configured site rule lists, swapped whole on reload.
    pub rules: RwLock<Arc<SiteRules>>,
    /// Flood control timers.
    pub flood: Flood,
    /// Near-duplicate campaign detection.
    pub campaigns: Campaigns,
    /// Hold authors' comments until one of theirs has been approved.
    pub require_prior_approval: bool,
    /// Posts whose first comment is older than this are closed.
    pub close_after: Option<Duration>,
    /// What moderators' labels have taught the live model.
    pub learner: Learner,
    /// Queue changes for watchers; bounded, so a slow watcher lags instead of blocking.
    pub events: broadcast::Sender<QueueEvent>,
    /// Who may call the moderation API.
    pub moderators: ModeratorTokens,
    /// Turns true when the server starts shutting down, so open watch streams end and the
    /// graceful shutdown does not wait on them forever.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    /// The site rules in force now.
    pub fn rules(&self) -> Arc<SiteRules> {
        match self.rules.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts new site rules in force; requests already running finish on the old ones.
    pub fn replace_rules(&self, rules: SiteRules) {
        let mut slot = self.rules.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(rules);
    }

    /// Tells watchers about a change; never waits (a full buffer makes slow watchers lag).
    pub fn publish(&self, event: impl FnOnce() -> QueueEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event());
        }
    }
}

/// What judging a submission yields: the valid submission, its verdict, the model version and
/// the author's email hash.
type Judged = (Submission, Verdict, String, [u8; 32]);

/// The `CommentService` implementation.
#[derive(Debug, Clone)]
pub struct CommentApi {
    shared: Arc<Shared>,
}

impl CommentApi {
    /// A service over shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Validation, parent check, closed posts, scoring and rules: everything but storing.
    /// When `storing`, also flood control (which starts the author's timer) and campaign
    /// tracking; the duplicate check then happens in the commit, which cancels the timer.
    fn judge(&self, request: &pb::SubmitCommentRequest, storing: bool) -> Result<Judged, Refusal> {
        let checked = validate(&convert::submission_input(request));
        let parent = CommentId::parse(request.parent_id.trim());
        let parent_problem = match parent {
            Some(parent) => self.parent_problem(request.post_id.trim(), parent)?,
            None => None,
        };
        let submission = match (checked, parent_problem) {
            (Ok(submission), None) => submission,
            (Ok(_), Some(problem)) => return Err(Refusal::Invalid(vec![problem])),
            (Err(mut violations), problem) => {
                violations.extend(problem);
                return Err(Refusal::Invalid(violations));
            }
        };
        let shared = &self.shared;
        let rules = shared.rules();
        if rules.is_closed(&submission.post_id) || self.too_old(&submission.post_id)? {
            return Err(Refusal::PostClosed);
        }
        let email_hash = shared.hasher.hash(&submission.author_email);
        // A duplicate is refused as such, not as a flood. When storing, the commit transaction
        // finds duplicates anyway, so the lookup here is only made when flood control refuses
        // (a double-click within the interval) or nothing will be stored.
        let find_duplicate = || -> Result<(), Refusal> {
            let key =
                store::keys::duplicate_key(&submission.post_id, &email_hash, &submission.content);
            match shared.store.find_duplicate(&key)? {
                Some(existing) => Err(Refusal::Store(store::StoreError::Duplicate(existing))),
                None => Ok(()),
            }
        };
        if !storing {
            find_duplicate()?;
        }
        let model = shared.model.get();
        let text = CommentText {
            content: &submission.content,
            author_name: &submission.author_name,
            author_url: submission.author_url.as_deref().unwrap_or(""),
        };
        let scored = shared.learner.adjust(&text, model.score(&text));
        let mut hits = rules.check(&submission, &email_hash);
        if shared.require_prior_approval && shared.store.author_stats(&email_hash)?.approved == 0 {
            hits.push((
                CommentStatus::Pending,
                crate::comment::Reason::new(
                    "first_time_author",
                    "the author has no approved comment yet",
                    0.5,
                ),
            ));
        }
        if storing {
            shared
                .flood
                .try_start(email_hash, submission.context.ip)
                .or_else(|wait| {
                    find_duplicate()?;
                    Err(Refusal::Flooded(wait))
                })?;
            if let Some(reason) = shared.campaigns.observe(&submission.content, email_hash) {
                hits.push((CommentStatus::Pending, reason));
            }
        }
        let verdict = shared.policy.decide_with(&submission, &scored, hits);
        Ok((submission, verdict, model.version().to_owned(), email_hash))
    }

    /// Whether the post's first comment is older than `close_after_days`.
    fn too_old(&self, post_id: &str) -> Result<bool, Refusal> {
        let Some(limit) = self.shared.close_after else {
            return Ok(false);
        };
        Ok(match self.shared.store.first_comment_ms(post_id)? {
            Some(first) => now_ms().saturating_sub(first) > limit.as_millis() as u64,
            None => false,
        })
    }

    /// Judges and stores one submission; answers once it is on disk.
    #[instrument(skip_all, fields(comment_id, status))]
    async fn submit(
        &self,
        request: &pb::SubmitCommentRequest,
    ) -> Result<pb::SubmitCommentResponse, Refusal> {
        let started = Instant::now();
        let (submission, verdict, model_version, email_hash) = self.judge(request, true)?;
        let comment = StoredComment {
            id: CommentId::generate(),
            created_at_ms: now_ms(),
            email_hash,
            submission,
            verdict,
            model_version,
            decision: None,
        };
        let span = tracing::Span::current();
        span.record("comment_id", tracing::field::display(comment.id));
        span.record("status", comment.verdict.status.as_str());
        if let Err(e) = self.shared.committer.insert(&comment).await {
            // Not stored, so it does not count against the author's flood interval.
            self.shared
                .flood
                .cancel(email_hash, comment.submission.context.ip);
            return Err(e.into());
        }
        info!(
            spam_score = comment.verdict.spam_score,
            elapsed_us = started.elapsed().as_micros() as u64,
            "comment stored"
        );
        if comment.verdict.status != CommentStatus::Approved {
            self.shared
                .publish(|| QueueEvent::Submitted(Box::new(comment.clone())));
        }
        Ok(convert::verdict_response(
            comment.id.to_string(),
            &comment.verdict,
        ))
    }

    /// Why `parent` cannot be replied to in `post_id`, if it cannot.
    fn parent_problem(
        &self,
        post_id: &str,
        parent: CommentId,
    ) -> Result<Option<FieldViolation>, Refusal> {
        let ok = self.shared.store.get(parent)?.is_some_and(|p| {
            p.verdict.status == CommentStatus::Approved && p.submission.post_id == post_id
        });
        Ok((!ok)
            .then(|| FieldViolation::new("parent_id", "names no approved comment of this post")))
    }
}

#[tonic::async_trait]
impl pb::comment_service_server::CommentService for CommentApi {
    async fn submit_comment(
        &self,
        request: Request<pb::SubmitCommentRequest>,
    ) -> Result<Response<pb::SubmitCommentResponse>, Status> {
        Ok(Response::new(self.submit(request.get_ref()).await?))
    }

    type SubmitCommentsStream =
        Pin<Box<dyn Stream<Item = Result<pb::SubmitCommentResponse, Status>> + Send + 'static>>;

    async fn submit_comments(
        &self,
        request: Request<Streaming<pb::SubmitCommentRequest>>,
    ) -> Result<Response<Self::SubmitCommentsStream>, Status> {
        let api = self.clone();
        let answers = request
            .into_inner()
            .map(move |item| {
                let api = api.clone();
                async move {
                    let request = item?;
                    Ok(match api.submit(&request).await {
                        Ok(answer) => answer,
                        Err(refusal) => pb::SubmitCommentResponse {
                            error: Some(refusal.into_item_error()),
                            ..Default::default()
                        },
                    })
                }
            })
            .buffered(STREAM_CONCURRENCY);
        Ok(Response::new(Box::pin(answers)))
    }

    #[instrument(skip_all, fields(status))]
    async fn check_comment(
        &self,
        request: Request<pb::SubmitCommentRequest>,
    ) -> Result<Response<pb::SubmitCommentResponse>, Status> {
        let (_, verdict, _, _) = self.judge(request.get_ref(), false)?;
        tracing::Span::current().record("status", verdict.status.as_str());
        Ok(Response::new(convert::verdict_response(
            String::new(),
            &verdict,
        )))
    }

    #[instrument(skip_all, fields(returned))]
    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Vec::new();
        let post_id = request.post_id.trim();
        if post_id.is_empty() {
            violations.push(FieldViolation::new("post_id", "is required"));
        }
        let after = convert::page_token(&request.page_token, &mut violations);
        if !violations.is_empty() {
            return Err(Refusal::Invalid(violations).into());
        }
        let page_size = match request.page_size as usize {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let (comments, more) =
            self.shared
                .store
                .list_post(post_id, CommentStatus::Approved, after, page_size)?;
        let next_page_token = match comments.last() {
            Some(last) if more => last.id.to_string(),
            _ => String::new(),
        };
        tracing::Span::current().record("returned", comments.len());
        Ok(Response::new(pb::ListCommentsResponse {
            comments: comments.iter().map(convert::public_comment).collect(),
            next_page_token,
        }))
    }
}

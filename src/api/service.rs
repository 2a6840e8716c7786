//! `CommentService`: thin handlers that validate, call the domain and map errors.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument};

use super::convert;
use super::errors::Refusal;
use super::pb;
use crate::classifier::CommentText;
use crate::comment::{
    CommentId, Status as CommentStatus, StoredComment, Submission, Verdict, now_ms,
};
use crate::live_model::LiveModel;
use crate::policy::Policy;
use crate::privacy::EmailHasher;
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
    /// Site rules and thresholds.
    pub policy: Policy,
}

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

    /// Validation, parent check, scoring and rules: everything but storing.
    fn judge(
        &self,
        request: &pb::SubmitCommentRequest,
    ) -> Result<(Submission, Verdict, String), Refusal> {
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
        let model = self.shared.model.get();
        let scored = model.score(&CommentText {
            content: &submission.content,
            author_name: &submission.author_name,
            author_url: submission.author_url.as_deref().unwrap_or(""),
        });
        let verdict = self.shared.policy.decide(&submission, &scored);
        Ok((submission, verdict, model.version().to_owned()))
    }

    /// Judges and stores one submission; answers once it is on disk.
    #[instrument(skip_all, fields(comment_id, status))]
    async fn submit(
        &self,
        request: &pb::SubmitCommentRequest,
    ) -> Result<pb::SubmitCommentResponse, Refusal> {
        let started = Instant::now();
        let (submission, verdict, model_version) = self.judge(request)?;
        let comment = StoredComment {
            id: CommentId::generate(),
            created_at_ms: now_ms(),
            email_hash: self.shared.hasher.hash(&submission.author_email),
            submission,
            verdict,
            model_version,
        };
        let span = tracing::Span::current();
        span.record("comment_id", tracing::field::display(comment.id));
        span.record("status", comment.verdict.status.as_str());
        self.shared.committer.insert(&comment).await?;
        info!(
            spam_score = comment.verdict.spam_score,
            elapsed_us = started.elapsed().as_micros() as u64,
            "comment stored"
        );
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
        let (submission, verdict, _) = self.judge(request.get_ref())?;
        let email_hash = self.shared.hasher.hash(&submission.author_email);
        let duplicate =
            store::keys::duplicate_key(&submission.post_id, &email_hash, &submission.content);
        if let Some(existing) = self.shared.store.find_duplicate(&duplicate)? {
            return Err(Refusal::Store(store::StoreError::Duplicate(existing)).into());
        }
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
        let after = match request.page_token.as_str() {
            "" => None,
            token => {
                let parsed = CommentId::parse(token);
                if parsed.is_none() {
                    violations.push(FieldViolation::new(
                        "page_token",
                        "is not a token from a previous page",
                    ));
                }
                parsed
            }
        };
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

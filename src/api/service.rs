//! `CommentService`: thin handlers that validate, call the domain and map errors.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt as _};
use tokio::sync::broadcast;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument};

use super::convert;
use super::errors::Refusal;
use super::pb;
use crate::admission::Slots;
use crate::auth::ModeratorTokens;
use crate::comment::{Status as CommentStatus, Verdict};
use crate::moderation::QueueEvent;
use crate::pipeline::{Pipeline, key_violation};
use crate::store::Storage;
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
    /// Durable storage: reads, moderation, erasure.
    pub store: Arc<dyn Storage>,
    /// Submission in, verdict out.
    pub pipeline: Arc<Pipeline>,
    /// Queue changes as this process learns of them: the console's live page reads them, and
    /// they wake `WatchQueue` streams (which read the durable log). Bounded, so a slow reader
    /// lags instead of blocking.
    pub events: broadcast::Sender<QueueEvent>,
    /// In-flight slots: each item of a `SubmitComments` stream holds one while it is handled.
    pub admission: Slots,
    /// Who may call the moderation API.
    pub moderators: ModeratorTokens,
    /// Who may call the Akismet-compatible endpoint.
    pub akismet_keys: crate::akismet::AkismetKeys,
    /// Turns true when the server starts shutting down, so open watch streams end and the
    /// graceful shutdown does not wait on them forever.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    /// Tells watchers about a change; never waits (a full buffer makes slow watchers lag).
    pub fn publish(&self, event: impl FnOnce() -> QueueEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event());
        }
    }
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

    /// Judges and stores one submission; answers once it is on disk. A retry with the key of
    /// a stored submission gets that submission's answer.
    #[instrument(skip_all, fields(comment_id, status, replayed))]
    async fn submit(
        &self,
        request: &pb::SubmitCommentRequest,
    ) -> Result<pb::SubmitCommentResponse, Refusal> {
        let started = Instant::now();
        let input = convert::submission_input(request);
        let submitted = self
            .shared
            .pipeline
            .submit(&input, &request.idempotency_key)
            .await?;
        let status = submitted.answered_status();
        let comment = submitted.comment;
        let span = tracing::Span::current();
        span.record("comment_id", tracing::field::display(comment.id));
        span.record("status", status.as_str());
        span.record("replayed", submitted.replayed);
        let verdict = Verdict {
            status,
            ..comment.verdict.clone()
        };
        let answer =
            convert::verdict_response(comment.id.to_string(), &verdict, &comment.policy_version);
        if submitted.replayed {
            info!("retry answered from the stored comment");
            return Ok(answer);
        }
        info!(
            spam_score = comment.verdict.spam_score,
            elapsed_us = started.elapsed().as_micros() as u64,
            "comment stored"
        );
        crate::telemetry::metrics().record_verdict(&comment.verdict);
        if comment.verdict.status != CommentStatus::Approved {
            self.shared
                .publish(|| QueueEvent::Submitted(Box::new(comment)));
        }
        Ok(answer)
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
                    // Each item counts against the server's in-flight limit like a request.
                    let Some(_slot) = api.shared.admission.acquire().await else {
                        return Ok(pb::SubmitCommentResponse {
                            error: Some(Refusal::AtCapacity.into_item_error()),
                            ..Default::default()
                        });
                    };
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
        let request = request.get_ref();
        let input = convert::submission_input(request);
        if let Some(violation) = key_violation(&request.idempotency_key) {
            let mut violations = validate(&input).err().unwrap_or_default();
            violations.insert(0, violation);
            return Err(Refusal::Invalid(violations).into());
        }
        let judged = self
            .shared
            .pipeline
            .check(&input)
            .await
            .map_err(Refusal::from)?;
        tracing::Span::current().record("status", judged.verdict.status.as_str());
        Ok(Response::new(convert::verdict_response(
            String::new(),
            &judged.verdict,
            &judged.policy_version,
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
        let page = self
            .shared
            .store
            .list_thread(post_id, after, page_size)
            .await?;
        let comments = page.comments;
        let next_page_token = match comments.last() {
            Some(last) if page.more => last.id.to_string(),
            _ => String::new(),
        };
        tracing::Span::current().record("returned", comments.len());
        Ok(Response::new(pb::ListCommentsResponse {
            comments: comments.iter().map(convert::public_comment).collect(),
            next_page_token,
        }))
    }
}

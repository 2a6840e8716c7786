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
use crate::app::App;
use crate::validate::FieldViolation;

/// Default and largest page of `ListComments`.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;
/// Submissions of one `SubmitComments` stream in progress at once; their answers still leave
/// in request order.
const STREAM_CONCURRENCY: usize = 64;

/// The `CommentService` implementation.
#[derive(Debug, Clone)]
pub struct CommentApi {
    app: Arc<App>,
}

impl CommentApi {
    /// A service over the application.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
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
        let answered = self.app.submit(&input, &request.idempotency_key).await?;
        let comment = &answered.comment;
        let span = tracing::Span::current();
        span.record("comment_id", tracing::field::display(comment.id));
        span.record("status", answered.verdict.status.as_str());
        span.record("replayed", answered.replayed);
        if answered.replayed {
            info!("retry answered from the stored comment");
        } else {
            info!(
                spam_score = comment.verdict.spam_score,
                elapsed_us = started.elapsed().as_micros() as u64,
                "comment stored"
            );
        }
        Ok(convert::verdict_response(
            comment.id.to_string(),
            &answered.verdict,
            &comment.policy_version,
        ))
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
                    let Some(_slot) = api.app.admission.acquire().await else {
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
        let judged = self
            .app
            .check(&input, &request.idempotency_key)
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
            .app
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

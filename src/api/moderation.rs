//! `ModerationService`: the moderators' API. Every call is authenticated first; handlers are
//! thin — check the token and fields, call the store, tell the learner and the watchers.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};
use tracing::{info, instrument};

use super::convert;
use super::errors::Refusal;
use super::pb;
use crate::app::{App, StatsWindow};
use crate::comment::{CommentId, Status as CommentStatus};
use crate::store::AuditCursor;
use crate::validate::FieldViolation;

/// Default and largest page of `ListQueue` and `ListAudit`.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;
/// Longest moderator note kept in the audit log.
const MAX_NOTE_BYTES: usize = 1000;
/// Defaults and limit of `GetStats` intervals.
const DEFAULT_INTERVAL_SECONDS: u64 = 3600;
const DEFAULT_INTERVALS: u64 = 24;
const MAX_INTERVALS: u64 = 1000;

/// The `ModerationService` implementation.
#[derive(Debug, Clone)]
pub struct ModerationApi {
    app: Arc<App>,
}

fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// The comment id in `field`, or a violation naming it.
fn comment_id(field: &'static str, text: &str) -> Result<CommentId, Refusal> {
    CommentId::parse(text.trim())
        .ok_or_else(|| Refusal::Invalid(vec![FieldViolation::new(field, "is not a comment id")]))
}

impl ModerationApi {
    /// A service over the application.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// The name of the moderator whose bearer token the request carries.
    fn moderator<T>(&self, request: &Request<T>) -> Result<String, Refusal> {
        if self.app.moderators.is_empty() {
            return Err(Refusal::Unauthenticated(
                "no moderator tokens are configured on this server",
            ));
        }
        let header = request
            .metadata()
            .get("authorization")
            .ok_or(Refusal::Unauthenticated(
                "missing `authorization: Bearer <token>` metadata",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Refusal::Unauthenticated(
                "authorization must be `Bearer <token>`",
            ))?;
        self.app
            .moderators
            .authenticate(token.trim())
            .map(str::to_owned)
            .ok_or(Refusal::PermissionDenied)
    }
}

#[tonic::async_trait]
impl pb::moderation_service_server::ModerationService for ModerationApi {
    #[instrument(skip_all, fields(moderator, returned))]
    async fn list_queue(
        &self,
        request: Request<pb::ListQueueRequest>,
    ) -> Result<Response<pb::ListQueueResponse>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let request = request.into_inner();
        let mut violations = Vec::new();
        let status = match request.status {
            0 => Some(CommentStatus::Pending),
            n => convert::status_from(n),
        };
        if status.is_none() {
            violations.push(FieldViolation::new("status", "is not a comment status"));
        }
        let before = convert::page_token(&request.page_token, &mut violations);
        let (Some(status), true) = (status, violations.is_empty()) else {
            return Err(Refusal::Invalid(violations).into());
        };
        let post = Some(request.post_id.trim()).filter(|p| !p.is_empty());
        let page = self
            .app
            .store
            .list_queue(status, post, before, page_size(request.page_size))
            .await?;
        let comments = page.comments;
        let next_page_token = match comments.last() {
            Some(last) if page.more => last.id.to_string(),
            _ => String::new(),
        };
        tracing::Span::current().record("returned", comments.len());
        Ok(Response::new(pb::ListQueueResponse {
            comments: comments.iter().map(convert::moderated_comment).collect(),
            next_page_token,
        }))
    }

    #[instrument(skip_all, fields(moderator))]
    async fn get_comment(
        &self,
        request: Request<pb::GetCommentRequest>,
    ) -> Result<Response<pb::ModeratedComment>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let id = comment_id("comment_id", &request.get_ref().comment_id)?;
        let comment = self
            .app
            .store
            .get(id)
            .await?
            .ok_or(Refusal::Store(crate::store::StoreError::NotFound(id)))?;
        Ok(Response::new(convert::moderated_comment(&comment)))
    }

    #[instrument(skip_all, fields(moderator, comment_id, action))]
    async fn moderate_comment(
        &self,
        request: Request<pb::ModerateCommentRequest>,
    ) -> Result<Response<pb::ModeratedComment>, Status> {
        let moderator = self.moderator(&request)?;
        let request = request.into_inner();
        let mut violations = Vec::new();
        let id = CommentId::parse(request.comment_id.trim());
        if id.is_none() {
            violations.push(FieldViolation::new("comment_id", "is not a comment id"));
        }
        let action = convert::action_from(request.action);
        if action.is_none() {
            violations.push(FieldViolation::new(
                "action",
                "must be APPROVE, HOLD, MARK_SPAM, TRASH or RESTORE",
            ));
        }
        if request.note.len() > MAX_NOTE_BYTES {
            violations.push(FieldViolation::new("note", "is longer than 1000 bytes"));
        }
        let (Some(id), Some(action), true) = (id, action, violations.is_empty()) else {
            return Err(Refusal::Invalid(violations).into());
        };
        let span = tracing::Span::current();
        span.record("moderator", moderator.as_str());
        span.record("comment_id", tracing::field::display(id));
        span.record("action", action.as_str());
        let comment = self
            .app
            .decide(id, action, &moderator, request.note.trim())
            .await
            .map_err(Refusal::from)?;
        Ok(Response::new(convert::moderated_comment(&comment)))
    }

    #[instrument(skip_all, fields(moderator, erased))]
    async fn erase_author(
        &self,
        request: Request<pb::EraseAuthorRequest>,
    ) -> Result<Response<pb::EraseAuthorResponse>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let email = request.get_ref().author_email.trim();
        if email.is_empty() {
            return Err(
                Refusal::Invalid(vec![FieldViolation::new("author_email", "is required")]).into(),
            );
        }
        let erased = self.app.erase_author(email).await?;
        tracing::Span::current().record("erased", erased);
        Ok(Response::new(pb::EraseAuthorResponse {
            erased_comments: erased,
        }))
    }

    type WatchQueueStream =
        Pin<Box<dyn Stream<Item = Result<pb::QueueEvent, Status>> + Send + 'static>>;

    #[instrument(skip_all, fields(moderator))]
    async fn watch_queue(
        &self,
        request: Request<pb::WatchQueueRequest>,
    ) -> Result<Response<Self::WatchQueueStream>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let request = request.into_inner();
        let mut statuses = Vec::new();
        for &value in &request.statuses {
            match convert::status_from(value) {
                Some(status) => statuses.push(status),
                None => {
                    return Err(Refusal::Invalid(vec![FieldViolation::new(
                        "statuses",
                        "holds something that is not a comment status",
                    )])
                    .into());
                }
            }
        }
        let filter = super::watch::Filter {
            statuses,
            post: request.post_id.trim().to_owned(),
        };
        let events =
            super::watch::start(Arc::clone(&self.app), filter, &request.after_cursor).await?;
        let mut closing = self.app.closing.clone();
        let events = events.take_until(async move {
            let _ = closing.wait_for(|closing| *closing).await;
        });
        Ok(Response::new(Box::pin(events)))
    }

    #[instrument(skip_all, fields(moderator))]
    async fn get_stats(
        &self,
        request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let request = request.into_inner();
        let interval_ms = match u64::from(request.interval_seconds) {
            0 => DEFAULT_INTERVAL_SECONDS,
            n => n,
        } * 1000;
        let intervals = match u64::from(request.intervals) {
            0 => DEFAULT_INTERVALS,
            n => n.min(MAX_INTERVALS),
        };
        let stats = self
            .app
            .stats(StatsWindow {
                interval_ms,
                intervals,
            })
            .await?;
        Ok(Response::new(convert::stats(&stats, interval_ms)))
    }

    #[instrument(skip_all, fields(moderator))]
    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let request = request.into_inner();
        let comment = match request.comment_id.trim() {
            "" => None,
            text => Some(comment_id("comment_id", text)?),
        };
        let before = match request.page_token.trim() {
            "" => None,
            token => Some(AuditCursor::from_token(token).ok_or_else(|| {
                Refusal::Invalid(vec![FieldViolation::new(
                    "page_token",
                    "is not a token from a previous page",
                )])
            })?),
        };
        let page = self
            .app
            .store
            .list_audit(comment, before, page_size(request.page_size))
            .await?;
        Ok(Response::new(pb::ListAuditResponse {
            entries: page.entries.iter().map(convert::audit_entry).collect(),
            next_page_token: page.next.map(AuditCursor::to_token).unwrap_or_default(),
        }))
    }

    #[instrument(skip_all, fields(moderator))]
    async fn get_rules(
        &self,
        request: Request<pb::GetRulesRequest>,
    ) -> Result<Response<pb::Rules>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        Ok(Response::new(convert::rules(&self.app.pipeline.rules())))
    }

    #[instrument(skip_all, fields(moderator, version))]
    async fn update_rules(
        &self,
        request: Request<pb::UpdateRulesRequest>,
    ) -> Result<Response<pb::Rules>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let request = request.into_inner();
        let Some(rules) = request.rules else {
            let missing = FieldViolation::new("rules", "is required");
            return Err(Refusal::Invalid(vec![missing]).into());
        };
        let expected = request.expected_version.trim();
        if expected.is_empty() {
            let missing = FieldViolation::new(
                "expected_version",
                "is required: the version the change was made from (see GetRules)",
            );
            return Err(Refusal::Invalid(vec![missing]).into());
        }
        let toxicity_now = self.app.pipeline.rules().editable.thresholds.toxicity;
        let updated = self
            .app
            .pipeline
            .update_rules(
                convert::editable_rules(rules, toxicity_now),
                Some(expected),
                &moderator,
            )
            .await
            .map_err(Refusal::from)?;
        tracing::Span::current().record("version", updated.version.as_str());
        info!("rules updated");
        Ok(Response::new(convert::rules(&updated)))
    }

    #[instrument(skip_all, fields(moderator))]
    async fn reset_site_model(
        &self,
        request: Request<pb::ResetSiteModelRequest>,
    ) -> Result<Response<pb::SiteModelStats>, Status> {
        let moderator = self.moderator(&request)?;
        tracing::Span::current().record("moderator", moderator.as_str());
        let note = request.into_inner().note;
        if note.len() > MAX_NOTE_BYTES {
            let long = FieldViolation::new("note", "is longer than 1000 bytes");
            return Err(Refusal::Invalid(vec![long]).into());
        }
        let reset = self
            .app
            .reset_site_model(&moderator, note.trim())
            .await
            .map_err(Refusal::from)?;
        let figures = self.app.pipeline.scorer().site_model().figures();
        Ok(Response::new(convert::site_model_stats(
            &figures,
            Some(&reset),
        )))
    }

    #[instrument(skip_all, fields(moderator, comments))]
    async fn import_comments(
        &self,
        request: Request<pb::ImportCommentsRequest>,
    ) -> Result<Response<pb::ImportCommentsResponse>, Status> {
        let moderator = self.moderator(&request)?;
        let span = tracing::Span::current();
        span.record("moderator", moderator.as_str());
        span.record("comments", request.get_ref().comments.len());
        let answer =
            super::import::import(&self.app, &moderator, &request.get_ref().comments).await?;
        Ok(Response::new(answer))
    }
}

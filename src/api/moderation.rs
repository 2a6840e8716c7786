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
use super::service::Shared;
use crate::classifier::CommentText;
use crate::comment::{CommentId, Status as CommentStatus, StoredComment, now_ms};
use crate::moderation::{Action, Agreement, QueueEvent};
use crate::store::{AuditCursor, Decided, DecisionRequest};
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
    shared: Arc<Shared>,
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

pub(super) fn text_of(comment: &StoredComment) -> CommentText<'_> {
    let s = &comment.submission;
    CommentText {
        content: &s.content,
        author_name: &s.author_name,
        author_url: s.author_url.as_deref().unwrap_or(""),
    }
}

impl Shared {
    /// A moderator's decision, the same from every door (gRPC `ModerateComment`, the console):
    /// the durable change with its audit entry under `moderator`'s name, the label the
    /// classifier learns (or forgets, when trashed), and the event watchers see. Returns the
    /// comment as it is now.
    ///
    /// # Errors
    /// Those of [`crate::store::Storage::moderate`]; nothing changes then.
    pub async fn decide(
        &self,
        id: CommentId,
        action: Action,
        moderator: &str,
        note: &str,
    ) -> Result<StoredComment, crate::store::StoreError> {
        let decision = DecisionRequest {
            id,
            action,
            moderator: moderator.to_owned(),
            note: note.to_owned(),
            at_ms: now_ms(),
        };
        let Decided { comment, from } = self.store.moderate(decision).await?;
        let to = comment.verdict.status;
        self.learn_from(action, &comment);
        if let Some(label) = action.label() {
            self.pipeline.count_label(&comment, label);
        }
        info!(from = from.as_str(), to = to.as_str(), "moderated");
        let event = comment.clone();
        self.publish(|| QueueEvent::Decided {
            comment: Box::new(event),
            action,
            from,
        });
        Ok(comment)
    }
}

impl Shared {
    /// What the classifier's online layer takes from a decision on `comment`: the label a
    /// moderator gave, or forgetting it when trashed.
    pub fn learn_from(&self, action: Action, comment: &StoredComment) {
        let scorer = self.pipeline.scorer();
        match action.label() {
            Some(label) => scorer.learn(comment.id, label, &text_of(comment)),
            None if comment.verdict.status == CommentStatus::Trash => {
                scorer.forget(comment.id, &text_of(comment));
            }
            None => {}
        }
    }
}

impl ModerationApi {
    /// A service over shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The name of the moderator whose bearer token the request carries.
    fn moderator<T>(&self, request: &Request<T>) -> Result<String, Refusal> {
        if self.shared.moderators.is_empty() {
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
        self.shared
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
            .shared
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
            .shared
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
            .shared
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
        let hash = self.shared.pipeline.hasher().hash(email);
        let erased = self.shared.store.erase_author(hash).await?;
        // The erased comments' labels are gone from the store; count from what remains.
        let labels = self.shared.store.labels().await?;
        self.shared
            .pipeline
            .scorer()
            .rebuild(labels.iter().map(|l| (l.comment_id, l.label, l.text())));
        tracing::Span::current().record("erased", erased);
        info!("author erased");
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
            super::watch::start(Arc::clone(&self.shared), filter, &request.after_cursor).await?;
        let mut closing = self.shared.closing.clone();
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
        let store = &self.shared.store;
        let by_status = store
            .status_counts()
            .await?
            .into_iter()
            .map(|(status, count)| pb::StatusCount {
                status: convert::status(status).into(),
                count,
            })
            .collect();
        // Intervals end now; the oldest starts `intervals` lengths back.
        let start = now_ms().saturating_sub(interval_ms * intervals);
        let activity = store
            .activity(start, interval_ms, intervals as usize)
            .await?;
        let buckets = activity
            .iter()
            .zip(0..)
            .map(|(a, i)| pb::IntervalCount {
                start: Some(convert::timestamp(start + i * interval_ms)),
                submissions: a.submissions,
                decisions: a.decisions,
            })
            .collect();
        let pending = self.shared.pipeline.rules().policy.thresholds.pending;
        let agreement = Agreement::of(&store.audit_since(0).await?, pending);
        let policy_versions = store
            .policy_version_counts()
            .await?
            .into_iter()
            .map(|(policy_version, count)| pb::PolicyVersionCount {
                policy_version,
                count,
            })
            .collect();
        Ok(Response::new(pb::GetStatsResponse {
            by_status,
            intervals: buckets,
            model_version: self.shared.pipeline.scorer().model_version(),
            agreement_rate: agreement.rate(),
            labels: agreement.labels,
            policy_versions,
            shadow: self
                .shared
                .pipeline
                .shadow_snapshot()
                .map(convert::shadow_stats),
        }))
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
            .shared
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
        Ok(Response::new(convert::rules(&self.shared.pipeline.rules())))
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
        let updated = self
            .shared
            .pipeline
            .update_rules(convert::editable_rules(rules), Some(expected), &moderator)
            .await
            .map_err(Refusal::from)?;
        tracing::Span::current().record("version", updated.version.as_str());
        info!("rules updated");
        Ok(Response::new(convert::rules(&updated)))
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
            super::import::import(&self.shared, &moderator, &request.get_ref().comments).await?;
        Ok(Response::new(answer))
    }
}

//! Protobuf ⇄ domain conversions, in one place.

use prost_types::Timestamp;

use super::pb;
use crate::app::Stats;
use crate::comment::{CommentId, Reason, Status, StoredComment, ToxicSpan, Verdict};
use crate::moderation::{Action, AuditEntry, QueueEvent};
use crate::pipeline::ShadowSnapshot;
use crate::policy::{EditableRules, RuleLists, RuleSet, Thresholds};
use crate::privacy::mask_emails;
use crate::scoring::SiteModelReset;
use crate::scoring::site_model::SiteFigures;
use crate::validate::{FieldViolation, SubmissionInput};

/// Borrows the request's strings for validation. Public so the fuzz target drives the same
/// conversion as the service.
pub fn submission_input(request: &pb::SubmitCommentRequest) -> SubmissionInput<'_> {
    let context = request.context.as_ref();
    let field = |f: fn(&pb::ClientContext) -> &str| context.map_or("", f);
    SubmissionInput {
        post_id: &request.post_id,
        post_title: &request.post_title,
        parent_id: &request.parent_id,
        author_name: &request.author_name,
        author_email: &request.author_email,
        author_url: &request.author_url,
        content: &request.content,
        ip: field(|c| &c.ip),
        user_agent: field(|c| &c.user_agent),
        referrer: field(|c| &c.referrer),
        honeypot: field(|c| &c.honeypot),
    }
}

pub(super) fn status(status: Status) -> pb::CommentStatus {
    match status {
        Status::Approved => pb::CommentStatus::Approved,
        Status::Pending => pb::CommentStatus::Pending,
        Status::Spam => pb::CommentStatus::Spam,
        Status::Trash => pb::CommentStatus::Trash,
    }
}

fn reason(reason: &Reason) -> pb::Reason {
    pb::Reason {
        code: reason.code.as_str().to_owned(),
        detail: reason.detail.clone(),
        weight: reason.weight,
    }
}

/// The reply to a submission; `comment_id` is empty for a dry run.
pub(super) fn verdict_response(
    comment_id: String,
    verdict: &Verdict,
    policy_version: &str,
) -> pb::SubmitCommentResponse {
    pb::SubmitCommentResponse {
        comment_id,
        status: status(verdict.status).into(),
        spam_score: verdict.spam_score,
        reasons: verdict.reasons.iter().map(reason).collect(),
        error: None,
        policy_version: policy_version.to_owned(),
        toxicity: verdict.toxicity,
        toxic_spans: toxic_spans(&verdict.toxic_spans),
    }
}

/// Toxic spans as the contract spells them.
fn toxic_spans(spans: &[ToxicSpan]) -> Vec<pb::ToxicSpan> {
    spans
        .iter()
        .map(|t| pb::ToxicSpan {
            start: u32::try_from(t.start).unwrap_or(u32::MAX),
            end: u32::try_from(t.end).unwrap_or(u32::MAX),
            kind: t.kind.clone(),
        })
        .collect()
}

/// The figures of `GetStats`, with activity in intervals of `interval_ms`.
pub(super) fn stats(stats: &Stats, interval_ms: u64) -> pb::GetStatsResponse {
    let by_status = stats
        .by_status
        .iter()
        .map(|&(s, count)| pb::StatusCount {
            status: status(s).into(),
            count,
        })
        .collect();
    let intervals = stats
        .activity
        .iter()
        .zip(0..)
        .map(|(a, i)| pb::IntervalCount {
            start: Some(timestamp(stats.start_ms + i * interval_ms)),
            submissions: a.submissions,
            decisions: a.decisions,
        })
        .collect();
    let policy_versions = stats
        .policy_versions
        .iter()
        .map(|(policy_version, count)| pb::PolicyVersionCount {
            policy_version: policy_version.clone(),
            count: *count,
        })
        .collect();
    pb::GetStatsResponse {
        by_status,
        intervals,
        model_version: stats.model_version.clone(),
        agreement_rate: stats.agreement.rate(),
        labels: stats.agreement.labels,
        policy_versions,
        shadow: stats.shadow.clone().map(shadow_stats),
        site_model: Some(site_model_stats(
            &stats.site_model,
            stats.site_model_reset.as_ref(),
        )),
    }
}

/// The site model's figures and latest reset, for `GetStats` and `ResetSiteModel`.
pub(super) fn site_model_stats(
    figures: &SiteFigures,
    reset: Option<&SiteModelReset>,
) -> pb::SiteModelStats {
    let reset = reset.cloned().unwrap_or_default();
    pb::SiteModelStats {
        version: figures.version,
        labels: figures.labels,
        running_accuracy: figures.running_accuracy,
        accuracy_labels: figures.accuracy_labels,
        reset_time: (reset.at_ms > 0).then(|| timestamp(reset.at_ms)),
        reset_by: reset.by,
        reset_note: reset.note,
        labels_dropped: reset.labels_dropped,
    }
}

/// The shadow policy's figures for `GetStats`.
fn shadow_stats(s: ShadowSnapshot) -> pb::ShadowStats {
    let rate = |agreed: u64| {
        if s.labels == 0 {
            0.0
        } else {
            agreed as f64 / s.labels as f64
        }
    };
    pb::ShadowStats {
        evaluated: s.evaluated,
        would_change: s.would_change,
        changes: s
            .changes
            .iter()
            .map(|&(from, to, count)| pb::ShadowChange {
                from: status(from).into(),
                to: status(to).into(),
                count,
            })
            .collect(),
        labels: s.labels,
        live_agreed: s.live_agreed,
        shadow_agreed: s.shadow_agreed,
        live_agreement_rate: rate(s.live_agreed),
        shadow_agreement_rate: rate(s.shadow_agreed),
        policy_version: s.policy_version,
    }
}

/// The editable rules in force, as moderators read them.
pub(super) fn rules(rules: &RuleSet) -> pb::Rules {
    let e = &rules.editable;
    pb::Rules {
        version: rules.version.clone(),
        moderation_keys: e.lists.moderation_keys.clone(),
        disallowed_keys: e.lists.disallowed_keys.clone(),
        banned_emails: e.lists.banned_emails.clone(),
        banned_ips: e.lists.banned_ips.clone(),
        closed_posts: e.lists.closed_posts.clone(),
        max_links: e.max_links,
        spam_threshold: e.thresholds.spam as f32,
        pending_threshold: e.thresholds.pending as f32,
        toxicity_threshold: Some(e.thresholds.toxicity as f32),
    }
}

/// The rules a moderator sent: entries trimmed, empty ones dropped. Thresholds arrive as
/// `float`; they are kept to the precision a moderator typed (6 digits), so `0.9` stays 0.9.
/// A request without `toxicity_threshold` (a client older than it) keeps `toxicity_now`.
pub(super) fn editable_rules(rules: pb::Rules, toxicity_now: f64) -> EditableRules {
    let list = |entries: Vec<String>| -> Vec<String> {
        entries
            .into_iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let threshold = |t: f32| (f64::from(t) * 1e6).round() / 1e6;
    EditableRules {
        lists: RuleLists {
            moderation_keys: list(rules.moderation_keys),
            disallowed_keys: list(rules.disallowed_keys),
            banned_emails: list(rules.banned_emails),
            banned_ips: list(rules.banned_ips),
            closed_posts: list(rules.closed_posts),
        },
        max_links: rules.max_links,
        thresholds: Thresholds {
            spam: threshold(rules.spam_threshold),
            pending: threshold(rules.pending_threshold),
            toxicity: rules.toxicity_threshold.map_or(toxicity_now, threshold),
        },
    }
}

/// Milliseconds since the epoch as a protobuf timestamp.
pub(super) fn timestamp(ms: u64) -> Timestamp {
    Timestamp {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        // Below 1e9, so it fits.
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// The public view of a stored comment: no email, no IP, and addresses in the text masked.
pub(super) fn public_comment(comment: &StoredComment) -> pb::Comment {
    let s = &comment.submission;
    pb::Comment {
        comment_id: comment.id.to_string(),
        post_id: s.post_id.clone(),
        parent_id: s.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        author_name: s.author_name.clone(),
        author_url: s.author_url.clone().unwrap_or_default(),
        content: mask_emails(&s.content).into_owned(),
        created_at: Some(timestamp(comment.created_at_ms)),
    }
}

/// The moderator's view of a stored comment: private fields included, content unmasked.
pub(super) fn moderated_comment(comment: &StoredComment) -> pb::ModeratedComment {
    let s = &comment.submission;
    let mut public = public_comment(comment);
    public.content.clone_from(&s.content);
    pb::ModeratedComment {
        comment: Some(public),
        author_email: s.author_email.clone(),
        ip: s.context.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        user_agent: s.context.user_agent.clone(),
        status: status(comment.verdict.status).into(),
        spam_score: comment.verdict.spam_score,
        reasons: comment.verdict.reasons.iter().map(reason).collect(),
        decided_by: comment
            .decision
            .as_ref()
            .map(|d| d.by.clone())
            .unwrap_or_default(),
        decided_at: comment.decision.as_ref().map(|d| timestamp(d.at_ms)),
        policy_version: comment.policy_version.clone(),
        post_title: s.post_title.clone().unwrap_or_default(),
        toxicity: comment.verdict.toxicity,
        toxic_spans: toxic_spans(&comment.verdict.toxic_spans),
    }
}

/// The domain status a request names; `None` for UNSPECIFIED or an unknown number.
/// The position a `page_token` names: the id of the last comment of the previous page.
/// An empty token means the first page; a token that is not an id adds a violation.
pub(super) fn page_token(token: &str, violations: &mut Vec<FieldViolation>) -> Option<CommentId> {
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    let parsed = CommentId::parse(token);
    if parsed.is_none() {
        violations.push(FieldViolation::new(
            "page_token",
            "is not a token from a previous page",
        ));
    }
    parsed
}

pub(super) fn status_from(value: i32) -> Option<Status> {
    match pb::CommentStatus::try_from(value).ok()? {
        pb::CommentStatus::Unspecified => None,
        pb::CommentStatus::Approved => Some(Status::Approved),
        pb::CommentStatus::Pending => Some(Status::Pending),
        pb::CommentStatus::Spam => Some(Status::Spam),
        pb::CommentStatus::Trash => Some(Status::Trash),
    }
}

pub(super) fn action(action: Action) -> pb::moderate_comment_request::Action {
    match action {
        Action::Approve => pb::moderate_comment_request::Action::Approve,
        Action::Hold => pb::moderate_comment_request::Action::Hold,
        Action::MarkSpam => pb::moderate_comment_request::Action::MarkSpam,
        Action::Trash => pb::moderate_comment_request::Action::Trash,
        Action::Restore => pb::moderate_comment_request::Action::Restore,
    }
}

/// The domain action a request names; `None` for UNSPECIFIED or an unknown number.
pub(super) fn action_from(value: i32) -> Option<Action> {
    match pb::moderate_comment_request::Action::try_from(value).ok()? {
        pb::moderate_comment_request::Action::Unspecified => None,
        pb::moderate_comment_request::Action::Approve => Some(Action::Approve),
        pb::moderate_comment_request::Action::Hold => Some(Action::Hold),
        pb::moderate_comment_request::Action::MarkSpam => Some(Action::MarkSpam),
        pb::moderate_comment_request::Action::Trash => Some(Action::Trash),
        pb::moderate_comment_request::Action::Restore => Some(Action::Restore),
    }
}

/// A queue event for a watcher.
pub(super) fn queue_event(event: &QueueEvent) -> pb::QueueEvent {
    let (kind, act, from) = match event {
        QueueEvent::Submitted(_) => (pb::QueueEventKind::Submitted, None, None),
        QueueEvent::Decided {
            action: a, from, ..
        } => (
            pb::QueueEventKind::Decided,
            Some(action(*a)),
            Some(status(*from)),
        ),
    };
    pb::QueueEvent {
        kind: kind.into(),
        comment: Some(moderated_comment(event.comment())),
        action: act
            .unwrap_or(pb::moderate_comment_request::Action::Unspecified)
            .into(),
        from_status: from.unwrap_or(pb::CommentStatus::Unspecified).into(),
        lagged: 0,
        cursor: String::new(),
    }
}

/// An audit log entry.
pub(super) fn audit_entry(entry: &AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        at: Some(timestamp(entry.at_ms)),
        moderator: entry.moderator.clone(),
        comment_id: entry.comment_id.to_string(),
        action: action(entry.action).into(),
        from_status: status(entry.from).into(),
        to_status: status(entry.to).into(),
        note: entry.note.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_comment_masks_addresses_and_has_no_private_fields() {
        use crate::comment::{ClientContext, CommentId, Submission};
        let comment = StoredComment {
            id: CommentId::generate(),
            created_at_ms: 0,
            submission: Submission {
                post_id: "p".into(),
                post_title: None,
                parent_id: None,
                author_name: "Ada".into(),
                author_email: "ada@example.com".into(),
                author_url: None,
                content: "reach me at other@example.org please".into(),
                context: ClientContext {
                    ip: "192.0.2.1".parse().ok(),
                    ..ClientContext::default()
                },
            },
            verdict: Verdict {
                status: Status::Approved,
                spam_score: 0.0,
                reasons: Vec::new(),
                toxicity: 0.0,
                toxic_spans: Vec::new(),
            },
            model_version: String::new(),
            policy_version: String::new(),
            email_hash: [0; 32],
            decision: None,
            receipt: Default::default(),
        };
        let public = public_comment(&comment);
        assert_eq!(public.content, "reach me at [email hidden] please");
        let debug = format!("{public:?}");
        assert!(!debug.contains("ada@example.com") && !debug.contains("192.0.2.1"));
    }

    #[test]
    fn timestamps_split_milliseconds() {
        let t = timestamp(1_700_000_000_123);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
    }
}

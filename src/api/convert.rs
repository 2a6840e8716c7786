//! Protobuf ⇄ domain conversions, in one place.

use prost_types::Timestamp;

use super::pb;
use crate::comment::{Reason, Status, StoredComment, Verdict};
use crate::privacy::mask_emails;
use crate::validate::SubmissionInput;

/// Borrows the request's strings for validation.
pub(super) fn submission_input(request: &pb::SubmitCommentRequest) -> SubmissionInput<'_> {
    let context = request.context.as_ref();
    let field = |f: fn(&pb::ClientContext) -> &str| context.map_or("", f);
    SubmissionInput {
        post_id: &request.post_id,
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
        code: reason.code.clone(),
        detail: reason.detail.clone(),
        weight: reason.weight,
    }
}

/// The reply to a submission; `comment_id` is empty for a dry run.
pub(super) fn verdict_response(comment_id: String, verdict: &Verdict) -> pb::SubmitCommentResponse {
    pb::SubmitCommentResponse {
        comment_id,
        status: status(verdict.status).into(),
        spam_score: verdict.spam_score,
        reasons: verdict.reasons.iter().map(reason).collect(),
    }
}

fn timestamp(ms: u64) -> Timestamp {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_split_milliseconds() {
        let t = timestamp(1_700_000_000_123);
        assert_eq!((t.seconds, t.nanos), (1_700_000_000, 123_000_000));
    }
}

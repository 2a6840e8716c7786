//! What a moderator's decision does to a comment, the same on every backend: the status it
//! moves to, the decision kept in the record and the audit entry.

use crate::comment::{Status, StoredComment};
use crate::moderation::{AuditEntry, Decision};
use crate::store::{DecisionRequest, Result, StoreError};

/// Applies `request` to `comment` (its status and decision) and returns the status it had
/// and the audit entry to keep.
///
/// # Errors
/// [`StoreError::IllegalTransition`] when the action does not apply to the comment's status;
/// the comment is then unchanged.
pub fn apply(
    comment: &mut StoredComment,
    request: &DecisionRequest,
) -> Result<(Status, AuditEntry)> {
    let from = comment.verdict.status;
    let before_trash = comment.decision.as_ref().and_then(|d| d.before_trash);
    let to = request
        .action
        .target(from, before_trash)
        .ok_or(StoreError::IllegalTransition {
            action: request.action,
            from,
        })?;
    comment.verdict.status = to;
    comment.decision = Some(Decision {
        by: request.moderator.clone(),
        at_ms: request.at_ms,
        before_trash: (to == Status::Trash).then_some(from),
    });
    let entry = AuditEntry {
        at_ms: request.at_ms,
        moderator: request.moderator.clone(),
        comment_id: comment.id,
        action: request.action,
        from,
        to,
        note: request.note.clone(),
        spam_score: comment.verdict.spam_score,
    };
    Ok((from, entry))
}

/// When a comment last changed: its decision, or its submission when none. Retention counts
/// from it.
pub fn last_change_ms(comment: &StoredComment) -> u64 {
    comment
        .decision
        .as_ref()
        .map_or(comment.created_at_ms, |d| d.at_ms)
}

//! `ImportComments`: another system's history stored as it was. Each comment is checked on
//! its own (a bad one fails alone); the good ones go to the store in one `import_batch`, and
//! the labelled ones teach the classifier once stored.

use tracing::info;

use super::errors::Refusal;
use super::pb;
use crate::app::App;
use crate::comment::{
    ClientContext, CommentId, Label, Status, StoredComment, Submission, Verdict, now_ms,
};
use crate::moderation::Decision;
use crate::store::{ImportOutcome, ImportedComment, NO_AUTHOR};
use crate::validate::{
    FieldViolation, MAX_CONTENT_BYTES, MAX_EMAIL_BYTES, MAX_ID_BYTES, MAX_NAME_BYTES,
    MAX_URL_BYTES, MAX_USER_AGENT_BYTES,
};

/// Most comments in one `ImportComments` call.
pub(super) const MAX_IMPORT_BATCH: usize = 500;

/// The policy version recorded on imported comments: they were judged elsewhere.
const IMPORTED_POLICY: &str = "imported";

/// Imports one batch for `moderator`.
///
/// # Errors
/// A batch over [`MAX_IMPORT_BATCH`] (nothing is stored).
pub(super) async fn import(
    app: &App,
    moderator: &str,
    comments: &[pb::ImportedComment],
) -> Result<pb::ImportCommentsResponse, Refusal> {
    if comments.len() > MAX_IMPORT_BATCH {
        let violation = FieldViolation::new("comments", "holds more than 500 comments");
        return Err(Refusal::Invalid(vec![violation]));
    }
    let now = now_ms();
    let mut results =
        vec![outcome(pb::import_result::Outcome::Failed, String::new()); comments.len()];
    let mut positions = Vec::new();
    let mut batch = Vec::new();
    for (position, comment) in comments.iter().enumerate() {
        match imported(app, comment, moderator, now) {
            Ok(comment) => {
                positions.push(position);
                batch.push(comment);
            }
            Err(why) => results[position].error = why,
        }
    }
    let imported = app.import(batch).await;
    for (position, stored) in positions.into_iter().zip(imported.outcomes) {
        results[position] = match stored {
            Ok(ImportOutcome::Imported) => {
                outcome(pb::import_result::Outcome::Imported, String::new())
            }
            Ok(ImportOutcome::AlreadyPresent) => {
                outcome(pb::import_result::Outcome::AlreadyPresent, String::new())
            }
            Err(e) => outcome(pb::import_result::Outcome::Failed, e.to_string()),
        };
    }
    let count = |wanted: pb::import_result::Outcome| {
        results
            .iter()
            .filter(|r| r.outcome == wanted as i32)
            .count()
    };
    info!(
        imported = count(pb::import_result::Outcome::Imported),
        already_present = count(pb::import_result::Outcome::AlreadyPresent),
        failed = count(pb::import_result::Outcome::Failed),
        "history imported"
    );
    Ok(pb::ImportCommentsResponse {
        results,
        agreed: imported.agreed,
        labels: imported.labels,
    })
}

fn outcome(outcome: pb::import_result::Outcome, error: String) -> pb::ImportResult {
    pb::ImportResult {
        outcome: outcome.into(),
        error,
    }
}

/// What is wrong with the fields of `c` (names, never values); empty when nothing is.
fn problems(c: &pb::ImportedComment) -> Vec<String> {
    let mut problems = Vec::new();
    let lines = [
        ("post_id", &c.post_id, 1, MAX_ID_BYTES),
        ("author_name", &c.author_name, 1, MAX_NAME_BYTES),
        ("author_email", &c.author_email, 0, MAX_EMAIL_BYTES),
        ("author_url", &c.author_url, 0, MAX_URL_BYTES),
        ("user_agent", &c.user_agent, 0, MAX_USER_AGENT_BYTES),
    ];
    for (field, value, min, max) in lines {
        if !line(value.trim(), min, max) {
            problems.push(format!("{field} must be {min} to {max} bytes on one line"));
        }
    }
    let content = c.content.trim().len();
    if content == 0 || content > MAX_CONTENT_BYTES {
        problems.push(format!("content must be 1 to {MAX_CONTENT_BYTES} bytes"));
    }
    let parent = c.parent_id.trim();
    for (field, value, required) in [
        ("comment_id", c.comment_id.trim(), true),
        ("parent_id", parent, false),
    ] {
        if (required || !value.is_empty()) && CommentId::parse(value).is_none() {
            problems.push(format!("{field} is not a UUID"));
        }
    }
    if created_ms(c.created_at.as_ref()).is_none() {
        problems.push("created_at is required".to_owned());
    }
    if super::convert::status_from(c.status).is_none() {
        problems.push("status must be APPROVED, PENDING, SPAM or TRASH".to_owned());
    }
    problems
}

/// A timestamp in ms since the epoch; `None` when missing or before 1970.
fn created_ms(t: Option<&prost_types::Timestamp>) -> Option<u64> {
    let t = t?;
    let seconds = u64::try_from(t.seconds).ok()?;
    let millis = u64::try_from(t.nanos.clamp(0, 999_999_999)).ok()? / 1_000_000;
    Some(seconds.saturating_mul(1000).saturating_add(millis))
}

/// The comment to store, or why it cannot be (fields named, values never quoted).
fn imported(
    app: &App,
    c: &pb::ImportedComment,
    moderator: &str,
    now: u64,
) -> Result<ImportedComment, String> {
    let problems = problems(c);
    let id = CommentId::parse(c.comment_id.trim());
    let created_at_ms = created_ms(c.created_at.as_ref());
    let status = super::convert::status_from(c.status);
    let (Some(id), Some(created_at_ms), Some(status), true) =
        (id, created_at_ms, status, problems.is_empty())
    else {
        return Err(problems.join("; "));
    };
    let email = c.author_email.trim();
    let url = c.author_url.trim();
    let comment = StoredComment {
        id,
        created_at_ms,
        submission: Submission {
            post_id: c.post_id.trim().to_owned(),
            post_title: None,
            parent_id: CommentId::parse(c.parent_id.trim()),
            author_name: c.author_name.trim().to_owned(),
            author_email: email.to_owned(),
            author_url: (!url.is_empty()).then(|| url.to_owned()),
            content: c.content.trim().replace("\r\n", "\n"),
            context: ClientContext {
                ip: c.ip.trim().parse().ok(),
                user_agent: c.user_agent.trim().to_owned(),
                ..ClientContext::default()
            },
        },
        verdict: Verdict {
            status,
            spam_score: 0.0,
            reasons: Vec::new(),
            toxicity: 0.0,
            toxic_spans: Vec::new(),
        },
        model_version: String::new(),
        policy_version: IMPORTED_POLICY.to_owned(),
        email_hash: if email.is_empty() {
            NO_AUTHOR
        } else {
            app.pipeline.hasher().hash(email)
        },
        // A status other than PENDING was someone's decision; it is recorded as the importer's.
        decision: (status != Status::Pending).then(|| Decision {
            by: moderator.to_owned(),
            at_ms: now,
            before_trash: (status == Status::Trash).then_some(Status::Pending),
        }),
        // Imported as it was: no idempotency key, no verdict of ours, no shadow verdict.
        receipt: Default::default(),
    };
    let label = match status {
        Status::Approved => Some(Label::Ham),
        Status::Spam => Some(Label::Spam),
        Status::Pending | Status::Trash => None,
    };
    Ok(ImportedComment { comment, label })
}

/// A single-line field of `min..=max` bytes.
fn line(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len()) && !value.chars().any(char::is_control)
}

//! `POST /moderate` and `POST /bulk`: a moderator's decisions, through the same
//! [`crate::app::App::decide`] as the gRPC `ModerateComment`. Forms work without script
//! (answered with a redirect back to the queue); the page's script asks for JSON instead.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use tracing::Instrument as _;

use super::Console;
use super::error::HttpError;
use super::queue::status_param;
use super::session::{Form, Session};
use super::views::parse_action;
use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::Action;

/// Longest note kept, as on the gRPC API.
const MAX_NOTE_BYTES: usize = 1000;
/// Most comments one bulk request may act on.
const MAX_BULK: usize = 500;

/// The span of one console decision, as the gRPC handler's: who, which comment, what.
fn decision_span(session: &Session, id: CommentId, action: Action) -> tracing::Span {
    tracing::info_span!(
        "console_decision",
        moderator = session.moderator.as_str(),
        comment_id = %id,
        action = action.as_str()
    )
}

/// Whether the page's script sent the request (and wants JSON back).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch")
}

fn action_field(form: &Form) -> Result<Action, HttpError> {
    form.first("action").and_then(parse_action).ok_or_else(|| {
        HttpError::BadRequest("action must be approve, hold, spam, trash or restore".into())
    })
}

fn note_field(form: &Form) -> Result<&str, HttpError> {
    let note = form.first("note").unwrap_or("").trim();
    if note.len() > MAX_NOTE_BYTES {
        return Err(HttpError::BadRequest(
            "note is longer than 1000 bytes".into(),
        ));
    }
    Ok(note)
}

fn id_field(text: &str) -> Result<CommentId, HttpError> {
    CommentId::parse(text.trim())
        .ok_or_else(|| HttpError::BadRequest("comment_id is not a comment id".into()))
}

/// Back to the tab the form was on.
fn back(form: &Form) -> Redirect {
    let status = status_param(form.first("back")).unwrap_or(crate::comment::Status::Pending);
    Redirect::to(&format!("/queue?status={}", status.as_str()))
}

/// A JSON answer for the page's script.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn json_error(error: &HttpError) -> Response {
    let (status, message) = error.parts();
    json_response(status, &json!({ "error": message }))
}

/// `POST /moderate`: `csrf`, `comment_id`, `action`, optional `note`.
pub async fn moderate(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let json = wants_json(&headers);
    let outcome = async {
        session.check_csrf(&form)?;
        let id = id_field(form.first("comment_id").unwrap_or(""))?;
        let action = action_field(&form)?;
        let note = note_field(&form)?;
        Ok::<_, HttpError>(
            console
                .app
                .decide(id, action, &session.moderator, note)
                .instrument(decision_span(&session, id, action))
                .await?,
        )
    }
    .await;
    answer(outcome, json, &form)
}

/// A decision's answer: JSON for the page's script, else a redirect back to the tab (or the
/// error page).
fn answer(outcome: Result<StoredComment, HttpError>, json: bool, form: &Form) -> Response {
    match (outcome, json) {
        (Ok(comment), true) => json_response(StatusCode::OK, &decided_json(&comment)),
        (Ok(_), false) => back(form).into_response(),
        (Err(e), true) => json_error(&e),
        (Err(e), false) => e.into_response(),
    }
}

/// What the page's script learns of a decision: the comment's new status, and its author's
/// name for the message.
fn decided_json(comment: &StoredComment) -> serde_json::Value {
    json!({
        "comment_id": comment.id.to_string(),
        "status": comment.verdict.status.as_str(),
        "author": comment.submission.author_name,
    })
}

/// The decisions that take a comment from `now` back to `before`: one, or for a trashed
/// comment that was spam, restoring then marking spam (restoring gives back only approved or
/// pending).
fn path_back(now: Status, before_trash: Option<Status>, before: Status) -> Option<Vec<Action>> {
    let direct = |from: Status, trash: Option<Status>| {
        Action::ALL
            .into_iter()
            .find(|a| a.target(from, trash) == Some(before))
    };
    if let Some(action) = direct(now, before_trash) {
        return Some(vec![action]);
    }
    let restored = Action::Restore.target(now, before_trash)?;
    Some(vec![Action::Restore, direct(restored, None)?])
}

/// `POST /undo`: `csrf`, `comment_id`, `status` (the status the comment had before the
/// decision being undone) and, optionally, `decided` (the status that decision gave it: when
/// the comment is no longer there, someone decided since and nothing is undone). The comment
/// goes back by ordinary decisions, each audited with the note "undo", so the log shows both
/// the decision and its undoing.
pub async fn undo(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let json = wants_json(&headers);
    let outcome = async {
        session.check_csrf(&form)?;
        let id = id_field(form.first("comment_id").unwrap_or(""))?;
        let before = status_param(form.first("status"))?;
        let comment = console
            .app
            .store
            .get(id)
            .await?
            .ok_or(HttpError::NotFound)?;
        let now = comment.verdict.status;
        let decided = form.first("decided").filter(|d| !d.is_empty());
        if decided.is_some() && status_param(decided)? != now {
            return Err(HttpError::Conflict(format!(
                "not undone: the comment was decided again since (it is {} now)",
                now.as_str()
            )));
        }
        let before_trash = comment.decision.as_ref().and_then(|d| d.before_trash);
        let steps = path_back(now, before_trash, before).ok_or_else(|| {
            HttpError::Conflict(format!(
                "cannot undo: the comment is {} and cannot go back to {}",
                now.as_str(),
                before.as_str()
            ))
        })?;
        let mut comment = comment;
        for action in steps {
            comment = console
                .app
                .decide(id, action, &session.moderator, "undo")
                .instrument(decision_span(&session, id, action))
                .await?;
        }
        Ok::<_, HttpError>(comment)
    }
    .await;
    answer(outcome, json, &form)
}

/// `POST /bulk`: `csrf`, `action`, `comment_id` repeated. Each comment is decided on its own;
/// the answer lists what was done and what could not be.
pub async fn bulk(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let json = wants_json(&headers);
    let checked = (|| {
        session.check_csrf(&form)?;
        let action = action_field(&form)?;
        let ids = form
            .all("comment_id")
            .map(id_field)
            .collect::<Result<Vec<_>, _>>()?;
        if ids.len() > MAX_BULK {
            return Err(HttpError::BadRequest(format!(
                "at most {MAX_BULK} comments at once"
            )));
        }
        Ok((action, ids))
    })();
    let (action, ids) = match checked {
        Ok(checked) => checked,
        Err(e) if json => return json_error(&e),
        Err(e) => return e.into_response(),
    };
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for id in ids {
        match console
            .app
            .decide(id, action, &session.moderator, "")
            .instrument(decision_span(&session, id, action))
            .await
        {
            Ok(c) => done
                .push(json!({ "comment_id": id.to_string(), "status": c.verdict.status.as_str() })),
            Err(e) => failed.push(
                json!({ "comment_id": id.to_string(), "error": HttpError::from(e).parts().1 }),
            ),
        }
    }
    if json {
        let status = if failed.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::MULTI_STATUS
        };
        return json_response(status, &json!({ "done": done, "failed": failed }));
    }
    back(&form).into_response()
}

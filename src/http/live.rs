//! `GET /events`: the queue's changes as server-sent events, fed by the same broadcast as the
//! gRPC `WatchQueue`. Each event carries the comment's markup, rendered by the same function
//! as the page, so the page shows new comments without a reload.

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::Console;
use super::error::HttpError;
use super::queue::{QueueQuery, parents_of, status_param};
use super::session::Session;
use super::views;
use crate::comment::Status;
use crate::moderation::QueueEvent;
use crate::store::Storage;

/// `GET /events?status=…&post=…`: every submission held or decided, as `comment` events whose
/// data is JSON `{kind, comment_id, status, html}`; `html` is present when the comment now
/// belongs on the watched tab. A watcher that fell behind gets one `resync` event.
pub async fn events(
    State(console): State<Console>,
    session: Session,
    Query(query): Query<QueueQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, HttpError> {
    let status = status_param(query.status.as_deref())?;
    let post = query.post.unwrap_or_default().trim().to_owned();
    let csrf = session.csrf;
    let store = console.app.store.clone();
    let events = BroadcastStream::new(console.app.events.subscribe())
        .filter_map(move |item| {
            let wanted = match item {
                Ok(event) => {
                    let comment = event.comment();
                    (post.is_empty() || comment.submission.post_id == post).then_some(Ok(event))
                }
                Err(BroadcastStreamRecvError::Lagged(_)) => Some(Err(())),
            };
            std::future::ready(wanted)
        })
        .then(move |item| {
            let (store, csrf) = (store.clone(), csrf.clone());
            async move {
                let Ok(event) = item else {
                    return Ok(Event::default().event("resync").data("{}"));
                };
                Ok(Event::default().event("comment").data(
                    change_json(&event, status, store.as_ref(), &csrf)
                        .await
                        .to_string(),
                ))
            }
        });
    // Graceful shutdown waits for open responses: end the stream when the service closes.
    let mut closing = console.app.closing.clone();
    let events = events.take_until(async move {
        let _ = closing.wait_for(|closing| *closing).await;
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// One change as the page's script reads it: `{kind, comment_id, status, from, html}`; `html`
/// (with the comment it replies to) when the comment now belongs on the `watched` tab, `from`
/// the status a decision moved it from.
async fn change_json(
    event: &QueueEvent,
    watched: Status,
    store: &dyn Storage,
    csrf: &str,
) -> serde_json::Value {
    let comment = event.comment();
    let (kind, from) = match event {
        QueueEvent::Submitted(_) => ("submitted", None),
        QueueEvent::Decided { from, .. } => ("decided", Some(from.as_str())),
    };
    let html = if comment.verdict.status == watched {
        // A parent that cannot be read now is shown as not stored, not as an error.
        let parents = parents_of(store, std::slice::from_ref(comment))
            .await
            .unwrap_or_default();
        let parent = comment.submission.parent_id.and_then(|p| parents.get(&p));
        Some(views::comment(comment, csrf, parent).into_string())
    } else {
        None
    };
    json!({
        "kind": kind,
        "comment_id": comment.id.to_string(),
        "status": comment.verdict.status.as_str(),
        "from": from,
        "html": html,
    })
}

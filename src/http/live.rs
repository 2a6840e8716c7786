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
use super::queue::{QueueQuery, status_param};
use super::session::Session;
use super::views;
use crate::moderation::QueueEvent;

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
    let events = BroadcastStream::new(console.app.events.subscribe()).filter_map(move |item| {
        let event = match item {
            Ok(event) => {
                let comment = event.comment();
                let wanted = post.is_empty() || comment.submission.post_id == post;
                wanted.then(|| {
                    let shown = comment.verdict.status == status;
                    let kind = match event {
                        QueueEvent::Submitted(_) => "submitted",
                        QueueEvent::Decided { .. } => "decided",
                    };
                    let html = shown.then(|| views::comment(comment, &csrf).into_string());
                    let data = json!({
                        "kind": kind,
                        "comment_id": comment.id.to_string(),
                        "status": comment.verdict.status.as_str(),
                        "html": html,
                    });
                    Ok(Event::default().event("comment").data(data.to_string()))
                })
            }
            Err(BroadcastStreamRecvError::Lagged(_)) => {
                Some(Ok(Event::default().event("resync").data("{}")))
            }
        };
        std::future::ready(event)
    });
    // Graceful shutdown waits for open responses: end the stream when the service closes.
    let mut closing = console.app.closing.clone();
    let events = events.take_until(async move {
        let _ = closing.wait_for(|closing| *closing).await;
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

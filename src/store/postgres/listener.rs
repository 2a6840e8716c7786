//! Other frontends' commits, as they happen: a dedicated connection `LISTEN`s on
//! [`CHANNEL`], and each notification (sent inside the committing transaction, so only
//! committed changes are told) becomes a [`RemoteChange`]. Payloads name their frontend, so
//! one ignores its own; they carry ids, never comment text or emails.
//!
//! Payload forms: `<frontend> s <id>` (stored held or as spam), `<frontend> d <id> <action>
//! <from>` (decided), `<frontend> l <id>` (labelled without a decision: Akismet feedback, an
//! imported status), `<frontend> r` (settings changed).

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::comment::{CommentId, Status};
use crate::moderation::Action;
use crate::store::RemoteChange;

/// The notification channel of every commit another frontend must know about.
pub const CHANNEL: &str = "commentguard";

/// Wait before reconnecting after the listening connection failed.
const RECONNECT_AFTER: Duration = Duration::from_millis(250);

pub(super) fn submitted_payload(frontend: &str, id: CommentId) -> String {
    format!("{frontend} s {id}")
}

pub(super) fn decided_payload(
    frontend: &str,
    id: CommentId,
    action: Action,
    from: Status,
) -> String {
    format!("{frontend} d {id} {} {}", action as u8, from as u8)
}

pub(super) fn labelled_payload(frontend: &str, id: CommentId) -> String {
    format!("{frontend} l {id}")
}

pub(super) fn settings_payload(frontend: &str) -> String {
    format!("{frontend} r")
}

/// The change a payload tells, unless it is this frontend's own (or not understood).
fn parse(payload: &str, own: &str) -> Option<RemoteChange> {
    let mut parts = payload.split(' ');
    if parts.next()? == own {
        return None;
    }
    let kind = parts.next()?;
    if kind == "r" {
        return Some(RemoteChange::Settings);
    }
    let id = CommentId::parse(parts.next()?)?;
    match kind {
        "s" => Some(RemoteChange::Submitted(id)),
        "l" => Some(RemoteChange::Labelled(id)),
        "d" => Some(RemoteChange::Decided {
            id,
            action: Action::from_byte(parts.next()?.parse().ok()?)?,
            from: Status::from_byte(parts.next()?.parse().ok()?)?,
        }),
        _ => None,
    }
}

/// Listens until aborted, reconnecting (to whichever host is the primary now) when the
/// connection fails. Each time it starts listening — the first time too — it sends
/// [`RemoteChange::Gap`]: notifications sent before (while the connection was down, or
/// between the frontend's start-up reads and its first `LISTEN`) were not received.
pub(super) async fn run(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    frontend: String,
    changes: broadcast::Sender<RemoteChange>,
) {
    loop {
        if let Err(e) = listen(&config, tls.clone(), &frontend, &changes).await {
            tracing::warn!(cause = %e, "cannot listen for other frontends' changes");
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One connection's life: `LISTEN`, then forward notifications until it ends.
async fn listen(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    frontend: &str,
    changes: &broadcast::Sender<RemoteChange>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls).await?;
    let (messages, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = stream.next().await {
            if let AsyncMessage::Notification(n) = message
                && messages.send(n.payload().to_owned()).is_err()
            {
                break;
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let _ = changes.send(RemoteChange::Gap);
    while let Some(payload) = received.recv().await {
        if let Some(change) = parse(&payload, frontend) {
            let _ = changes.send(change);
        }
    }
    driver.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_own_ones_are_ignored() {
        let id = CommentId::generate();
        assert_eq!(
            parse(&submitted_payload("a", id), "b"),
            Some(RemoteChange::Submitted(id))
        );
        assert_eq!(parse(&submitted_payload("a", id), "a"), None);
        assert_eq!(
            parse(
                &decided_payload("a", id, Action::MarkSpam, Status::Pending),
                "b"
            ),
            Some(RemoteChange::Decided {
                id,
                action: Action::MarkSpam,
                from: Status::Pending
            })
        );
        assert_eq!(
            parse(&settings_payload("a"), "b"),
            Some(RemoteChange::Settings)
        );
        assert_eq!(
            parse(&labelled_payload("a", id), "b"),
            Some(RemoteChange::Labelled(id))
        );
        assert_eq!(parse("a x", "b"), None);
        assert_eq!(parse("", "b"), None);
    }
}

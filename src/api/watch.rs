//! `WatchQueue` driven by the durable event log ([`crate::store::events`]): a watch reads the
//! log after its position, so a watcher that reconnects with the last cursor it saw misses
//! nothing, and a slow one only falls behind, never loses events, while they are kept. The
//! in-process broadcast (local commits, and other frontends' commits through the cluster
//! follower) only wakes watches up; a periodic poll is the safety net for a missed wake-up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::broadcast::{self, error::TryRecvError};

use super::convert;
use super::errors::Refusal;
use super::pb;
use crate::app::App;
use crate::comment::Status;
use crate::moderation::QueueEvent;
use crate::store::events::{self, Change};
use crate::store::{LoggedEvent, StoreError};
use crate::validate::FieldViolation;

/// Events read from the log at once.
const READ_BATCH: usize = 256;
/// Longest wait for new events without a wake-up (a missed one, or a store error).
const POLL: Duration = Duration::from_secs(1);

/// Which events a watcher wants: by the status the event left the comment in, and by post.
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    /// Empty for every status.
    pub statuses: Vec<Status>,
    /// Empty for every post.
    pub post: String,
}

/// One watch's position in the log and what it has read but not sent yet.
struct Follower {
    app: Arc<App>,
    filter: Filter,
    /// The last sequence read; `None` before the first event of the log.
    position: Option<u64>,
    ready: VecDeque<pb::QueueEvent>,
    wake: broadcast::Receiver<QueueEvent>,
}

/// The stream of a new watch, starting after `after_cursor` or, when it is empty, after the
/// newest event now in the log.
///
/// # Errors
/// A violation on `after_cursor` when it is not a cursor of this log; store failures.
pub(super) async fn start(
    app: Arc<App>,
    filter: Filter,
    after_cursor: &str,
) -> Result<impl Stream<Item = Result<pb::QueueEvent, tonic::Status>> + Send + 'static, Refusal> {
    // Subscribed before the log is read: a commit after that read wakes this watch.
    let wake = app.events.subscribe();
    let now = app.store.events_after(None, 0).await?;
    let last_issued = now.newest.max(now.pruned_through);
    let position = match after_cursor.trim() {
        "" => last_issued,
        text => match events::parse_cursor(text) {
            Some(cursor) if Some(cursor) <= last_issued => Some(cursor),
            _ => {
                return Err(Refusal::Invalid(vec![FieldViolation::new(
                    "after_cursor",
                    "is not a cursor of this server's queue events",
                )]));
            }
        },
    };
    let follower = Follower {
        app,
        filter,
        position,
        ready: VecDeque::new(),
        wake,
    };
    Ok(futures_util::stream::unfold(
        follower,
        |mut follower| async move {
            let event = follower.next().await;
            Some((Ok(event), follower))
        },
    ))
}

impl Follower {
    /// The next event to send, waiting for one as long as it takes.
    async fn next(&mut self) -> pb::QueueEvent {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return event;
            }
            self.drain_wake_ups();
            match self.read().await {
                Ok(true) => {}
                Ok(false) => self.wait().await,
                Err(e) => {
                    tracing::warn!(cause = %crate::error::Chain(&e), "cannot read queue events");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Reads the log after the position into `ready`; false when nothing new was there.
    async fn read(&mut self) -> Result<bool, StoreError> {
        let page = self
            .app
            .store
            .events_after(self.position, READ_BATCH)
            .await?;
        if let Some(pruned) = page.pruned_through
            && self.position.is_none_or(|p| p < pruned)
        {
            // Events after the position are gone: say so, continue with the oldest kept.
            self.position = Some(pruned);
            self.ready.push_back(pb::QueueEvent {
                kind: pb::QueueEventKind::Lagged.into(),
                lagged: 1,
                ..Default::default()
            });
            return Ok(true);
        }
        let read_any = !page.events.is_empty();
        for logged in page.events {
            self.position = Some(logged.sequence);
            if let Some(event) = self.shown(logged).await? {
                self.ready.push_back(event);
            }
        }
        Ok(read_any)
    }

    /// The event as sent: the comment as it is now with the status this event left it in;
    /// `None` when it is filtered out or the comment was erased since.
    async fn shown(&self, logged: LoggedEvent) -> Result<Option<pb::QueueEvent>, StoreError> {
        let event = logged.event;
        if !self.filter.statuses.is_empty() && !self.filter.statuses.contains(&event.to) {
            return Ok(None);
        }
        let Some(mut comment) = self.app.store.get(event.comment_id).await? else {
            return Ok(None);
        };
        // Replayed events tell the statuses as they went, not today's status each time.
        comment.verdict.status = event.to;
        if !self.filter.post.is_empty() && comment.submission.post_id != self.filter.post {
            return Ok(None);
        }
        let comment = Box::new(comment);
        let event = match event.change {
            Change::Submitted => QueueEvent::Submitted(comment),
            Change::Decided { action, from } => QueueEvent::Decided {
                comment,
                action,
                from,
            },
        };
        let mut shown = convert::queue_event(&event);
        shown.cursor = events::cursor(logged.sequence);
        Ok(Some(shown))
    }

    /// Forgets wake-ups already pending: the read that follows covers them.
    fn drain_wake_ups(&mut self) {
        loop {
            match self.wake.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    /// Until a commit is announced, or the poll period passes.
    async fn wait(&mut self) {
        tokio::select! {
            woke = self.wake.recv() => {
                if matches!(woke, Err(broadcast::error::RecvError::Closed)) {
                    tokio::time::sleep(POLL).await;
                }
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

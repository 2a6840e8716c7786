//! The application: the state every edge shares, and each domain operation once — submit,
//! check, decide, learn, import, erase, gather stats, publish an event. The gRPC services, the
//! HTTP console and Akismet endpoint, and the follower of other frontends call these and only
//! convert and map errors themselves.

mod decide;
mod import;
mod site_model;
mod stats;
mod submit;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::admission::Slots;
use crate::akismet::AkismetKeys;
use crate::auth::ModeratorTokens;
use crate::classifier::CommentText;
use crate::comment::StoredComment;
use crate::moderation::QueueEvent;
use crate::pipeline::Pipeline;
use crate::store::Storage;

pub use import::Imported;
pub use stats::{Stats, StatsWindow};
pub use submit::{Answered, Checked};

/// What every edge needs, built once by the server and shared by all of them.
#[derive(Debug)]
pub struct App {
    /// Durable storage: reads, moderation, erasure.
    pub store: Arc<dyn Storage>,
    /// Submission in, verdict out.
    pub pipeline: Arc<Pipeline>,
    /// Queue changes as this process learns of them: the console's live page reads them, and
    /// they wake `WatchQueue` streams (which read the durable log). Bounded, so a slow reader
    /// lags instead of blocking.
    pub events: broadcast::Sender<QueueEvent>,
    /// In-flight slots: each item of a `SubmitComments` stream holds one while it is handled.
    pub admission: Slots,
    /// Who may call the moderation API.
    pub moderators: ModeratorTokens,
    /// Who may call the Akismet-compatible endpoint.
    pub akismet_keys: AkismetKeys,
    /// Turns true when the server starts shutting down, so open watch streams end and the
    /// graceful shutdown does not wait on them forever.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Held while the online layer is rebuilt from the stored labels (at start, after an
    /// erasure or a reset, when following another frontend), so two rebuilds never
    /// interleave and leave one's labels under the other's reset.
    pub relearning: tokio::sync::Mutex<()>,
}

impl App {
    /// Tells watchers about a change; never waits (a full buffer makes slow watchers lag).
    pub fn publish(&self, event: impl FnOnce() -> QueueEvent) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(event());
        }
    }
}

/// The text the classifier reads of a stored comment.
pub fn text_of(comment: &StoredComment) -> CommentText<'_> {
    let s = &comment.submission;
    CommentText {
        content: &s.content,
        author_name: &s.author_name,
        author_url: s.author_url.as_deref().unwrap_or(""),
    }
}

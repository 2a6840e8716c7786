//! Following the other frontends of a shared store: comments they hold reach this
//! frontend's watchers, their moderators' decisions its watchers and its learner, their rule
//! changes its pipeline. Fed by [`Storage::remote_changes`](crate::store::Storage); a store
//! only one process opens has none, and this task is not started.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::api::Shared;
use crate::moderation::QueueEvent;
use crate::store::RemoteChange;

/// Applies other frontends' changes until the store stops sending them.
pub async fn follow(shared: Arc<Shared>, mut changes: broadcast::Receiver<RemoteChange>) {
    loop {
        match changes.recv().await {
            Ok(change) => apply(&shared, change).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "fell behind other frontends' changes; catching up");
                catch_up(&shared).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn apply(shared: &Shared, change: RemoteChange) {
    match change {
        RemoteChange::Submitted(id) => {
            if let Some(comment) = fetch(shared, id).await {
                shared.publish(|| QueueEvent::Submitted(Box::new(comment)));
            }
        }
        RemoteChange::Decided { id, action, from } => {
            if let Some(comment) = fetch(shared, id).await {
                shared.learn_from(action, &comment);
                shared.publish(|| QueueEvent::Decided {
                    comment: Box::new(comment),
                    action,
                    from,
                });
            }
        }
        RemoteChange::Settings => reload_rules(shared).await,
        RemoteChange::Gap => catch_up(shared).await,
    }
}

/// The comment as stored now; `None` when it is gone (erased since) or cannot be read.
async fn fetch(
    shared: &Shared,
    id: crate::comment::CommentId,
) -> Option<crate::comment::StoredComment> {
    match shared.store.get(id).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(cause = %crate::error::Chain(&e), "cannot read a comment another frontend changed");
            None
        }
    }
}

async fn reload_rules(shared: &Shared) {
    if let Err(e) = shared.pipeline.reload_stored_rules().await {
        tracing::warn!(cause = %crate::error::Chain(&e), "cannot read the site rules another frontend changed");
    }
}

/// After missed notifications: rebuild the learner from every label and reload the rules,
/// so nothing another frontend taught or changed meanwhile is lost.
async fn catch_up(shared: &Shared) {
    match shared.store.labels().await {
        Ok(labels) => shared
            .pipeline
            .scorer()
            .rebuild(labels.iter().map(|l| (l.comment_id, l.label, l.text()))),
        Err(e) => {
            tracing::warn!(cause = %crate::error::Chain(&e), "cannot read labels to catch up")
        }
    }
    reload_rules(shared).await;
}

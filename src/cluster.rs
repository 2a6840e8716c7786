//! Following the other frontends of a shared store: comments they hold reach this
//! frontend's watchers, their moderators' decisions (and other labels) its watchers and its
//! learner, their rule changes and site model resets its pipeline. Fed by [`Storage::remote_changes`](crate::store::Storage); a store
//! only one process opens has none, and this task is not started.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::app::App;
use crate::comment::{CommentId, StoredComment};
use crate::error::Chain;
use crate::moderation::QueueEvent;
use crate::store::RemoteChange;

/// Applies other frontends' changes until the store stops sending them. Starts by catching
/// up: changes committed between the start-up reads and this subscription were told to no
/// one here (those before the listener's first `LISTEN` come as a gap too).
pub async fn follow(app: Arc<App>, mut changes: broadcast::Receiver<RemoteChange>) {
    catch_up(&app).await;
    loop {
        match changes.recv().await {
            Ok(change) => apply(&app, change).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "fell behind other frontends' changes; catching up");
                catch_up(&app).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn apply(app: &App, change: RemoteChange) {
    match change {
        RemoteChange::Submitted(id) => {
            if let Some(comment) = fetch(app, id).await {
                app.publish(|| QueueEvent::Submitted(Box::new(comment)));
            }
        }
        RemoteChange::Decided { id, action, from } => {
            if let Some(comment) = fetch(app, id).await {
                app.learn_from(action, &comment);
                app.publish_decision(comment, action, from);
            }
        }
        RemoteChange::Labelled(id) => learn_label(app, id).await,
        RemoteChange::Settings => {
            reload_rules(app).await;
            follow_site_model_reset(app).await;
        }
        RemoteChange::Gap => catch_up(app).await,
    }
}

/// The comment as stored now; `None` when it is gone (erased since) or cannot be read.
async fn fetch(app: &App, id: CommentId) -> Option<StoredComment> {
    match app.store.get(id).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(cause = %Chain(&e), "cannot read a comment another frontend changed");
            None
        }
    }
}

/// A label another frontend stored without a decision (Akismet feedback, an import).
async fn learn_label(app: &App, id: CommentId) {
    match app.store.label(id).await {
        Ok(Some(labelled)) => app.learn_stored_label(&labelled),
        Ok(None) => {}
        Err(e) => tracing::warn!(cause = %Chain(&e), "cannot read a label another frontend stored"),
    }
}

async fn reload_rules(app: &App) {
    if let Err(e) = app.pipeline.reload_stored_rules().await {
        tracing::warn!(cause = %Chain(&e), "cannot read the site rules another frontend changed");
    }
}

async fn follow_site_model_reset(app: &App) {
    if let Err(e) = app.follow_site_model_reset().await {
        tracing::warn!(cause = %Chain(&e), "cannot read the site model's reset another frontend made");
    }
}

/// After missed notifications: rebuild the learner from every label and reload the rules,
/// so nothing another frontend taught or changed meanwhile is lost.
async fn catch_up(app: &App) {
    if let Err(e) = app.relearn_all().await {
        tracing::warn!(cause = %Chain(&e), "cannot read labels to catch up");
    }
    reload_rules(app).await;
}

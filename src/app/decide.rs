//! Moderators' decisions and every other label: the durable change, what the classifier
//! learns from it, and the event watchers see — the same from every door (gRPC, the console,
//! the Akismet endpoint's feedback, another frontend's decision).

use tracing::info;

use crate::comment::{CommentId, Status, StoredComment, now_ms};
use crate::moderation::{Action, QueueEvent};
use crate::store::{Decided, DecisionRequest, LabelledText, StoreError};

use super::{App, text_of};

impl App {
    /// A moderator's decision: the durable change with its audit entry under `moderator`'s
    /// name, the label the classifier learns (or forgets, when trashed), and the event
    /// watchers see. Returns the comment as it is now.
    ///
    /// # Errors
    /// Those of [`crate::store::Storage::moderate`]; nothing changes then.
    pub async fn decide(
        &self,
        id: CommentId,
        action: Action,
        moderator: &str,
        note: &str,
    ) -> Result<StoredComment, StoreError> {
        let decision = DecisionRequest {
            id,
            action,
            moderator: moderator.to_owned(),
            note: note.to_owned(),
            at_ms: now_ms(),
        };
        let Decided { comment, from } = self.store.moderate(decision).await?;
        let to = comment.verdict.status;
        self.learn_from(action, &comment);
        if let Some(label) = action.label() {
            self.pipeline.count_label(&comment, label);
        }
        info!(from = from.as_str(), to = to.as_str(), "moderated");
        self.publish_decision(comment.clone(), action, from);
        Ok(comment)
    }

    /// Tells watchers that `comment` moved from `from` by `action` (here or on another
    /// frontend).
    pub fn publish_decision(&self, comment: StoredComment, action: Action, from: Status) {
        self.publish(|| QueueEvent::Decided {
            comment: Box::new(comment),
            action,
            from,
        });
    }

    /// What the classifier's online layer takes from a decision on `comment`: the label a
    /// moderator gave, or forgetting it when trashed or held again.
    pub fn learn_from(&self, action: Action, comment: &StoredComment) {
        let scorer = self.pipeline.scorer();
        match action.label() {
            Some(label) => scorer.learn(comment.id, label, &text_of(comment)),
            None if action.withdraws_label(comment.verdict.status) => {
                scorer.forget(comment.id, &text_of(comment));
            }
            None => {}
        }
    }

    /// A label given without a stored comment (the Akismet endpoint's feedback): stored, then
    /// learned.
    ///
    /// # Errors
    /// The store could not keep it; nothing is learned then.
    pub async fn learn_label(&self, labelled: LabelledText) -> Result<(), StoreError> {
        self.store.put_label(labelled.clone()).await?;
        self.learn_stored_label(&labelled);
        Ok(())
    }

    /// What the classifier's online layer takes from a stored label (here or on another
    /// frontend).
    pub fn learn_stored_label(&self, labelled: &LabelledText) {
        self.pipeline
            .scorer()
            .learn(labelled.comment_id, labelled.label, &labelled.text());
    }

    /// Erases everything held about one email address, and forgets what its comments taught.
    /// Returns how many comments were erased.
    ///
    /// # Errors
    /// The store failed; what was erased before the failure stays erased.
    pub async fn erase_author(&self, email: &str) -> Result<u64, StoreError> {
        let hash = self.pipeline.hasher().hash(email);
        let erased = self.store.erase_author(hash).await?;
        // The erased comments' labels are gone from the store; count from what remains.
        self.relearn_all().await?;
        info!(erased, "author erased");
        Ok(erased)
    }

    /// Rebuilds the online layer from every stored label, the site model from those given
    /// since its last reset (at start, after an erasure or a reset, or after missing another
    /// frontend's notifications).
    ///
    /// # Errors
    /// The labels could not be read; the layer is unchanged then.
    pub async fn relearn_all(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.relearning.lock().await;
        let reset_ms = self.site_model_reset().await?.map_or(0, |r| r.at_ms);
        let labels = self.store.labels().await?;
        self.pipeline.scorer().rebuild(
            labels
                .iter()
                .map(|l| (l.comment_id, l.label, l.text(), l.decided_ms)),
            reset_ms,
        );
        Ok(())
    }
}

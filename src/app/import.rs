//! Importing another system's history: comments stored as they were, and the labelled ones
//! (approved, spam) teach the classifier once stored.

use crate::store::{ImportOutcome, ImportedComment, StoreError};

use super::{App, text_of};

/// What became of one batch.
#[derive(Debug)]
pub struct Imported {
    /// One outcome per comment of the batch, in its order.
    pub outcomes: Vec<Result<ImportOutcome, StoreError>>,
    /// Labelled comments learned from.
    pub labels: u64,
    /// Of those, the ones the classifier's own call (before learning) agreed with.
    pub agreed: u64,
}

impl App {
    /// Stores a batch of checked comments in one write, then learns from the labelled ones
    /// that were new.
    pub async fn import(&self, batch: Vec<ImportedComment>) -> Imported {
        let scorer = self.pipeline.scorer();
        let pending = self.pipeline.rules().policy.thresholds.pending;
        // The classifier's own call on each comment, before it learns from the batch.
        let calls: Vec<bool> = batch
            .iter()
            .map(|c| scorer.score(&text_of(&c.comment)).scored.probability >= pending)
            .collect();
        let outcomes = self.store.import_batch(batch.clone()).await;
        let (mut agreed, mut labels) = (0, 0);
        for ((comment, outcome), calls_spam) in batch.iter().zip(&outcomes).zip(calls) {
            if let (Ok(ImportOutcome::Imported), Some(label)) = (outcome, comment.label) {
                scorer.learn(comment.comment.id, label, &text_of(&comment.comment));
                labels += 1;
                agreed += u64::from(calls_spam == label.is_spam());
            }
        }
        Imported {
            outcomes,
            labels,
            agreed,
        }
    }
}

//! Submitting and checking a comment: the pipeline's verdict, finished the same way for every
//! door (gRPC, a `SubmitComments` item, the Akismet endpoint).

use crate::comment::{StoredComment, Verdict};
use crate::moderation::QueueEvent;
use crate::pipeline::Rejection;
use crate::validate::SubmissionInput;

use super::App;

/// A stored submission's answer.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The comment as stored (a replayed one as it is now).
    pub comment: StoredComment,
    /// The verdict the submitter is told: on a retry, the status the first answer gave, even
    /// when a moderator has changed it since.
    pub verdict: Verdict,
    /// True when this was a retry answered from the comment its key names.
    pub replayed: bool,
}

/// A verdict given without storing anything.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The decision and its reasons.
    pub verdict: Verdict,
    /// The digest of everything that decided.
    pub policy_version: String,
    /// Spam so blatant that a site may drop it unseen (Akismet's `discard` tip).
    pub discard: bool,
}

impl App {
    /// Judges and stores one submission; answers once it is on disk. A retry with the key of
    /// a stored submission gets that submission's answer. A held comment is published to
    /// watchers, and every new verdict is counted in the metrics.
    ///
    /// # Errors
    /// As [`crate::pipeline::Pipeline::submit`]; nothing is stored then.
    pub async fn submit(
        &self,
        input: &SubmissionInput<'_>,
        idempotency_key: &str,
    ) -> Result<Answered, Rejection> {
        let submitted = self.pipeline.submit(input, idempotency_key).await?;
        let verdict = Verdict {
            status: submitted.answered_status(),
            ..submitted.comment.verdict.clone()
        };
        let comment = submitted.comment;
        if !submitted.replayed {
            crate::telemetry::metrics().record_verdict(&comment.verdict);
            if comment.verdict.status != crate::comment::Status::Approved {
                self.publish(|| QueueEvent::Submitted(Box::new(comment.clone())));
            }
        }
        Ok(Answered {
            comment,
            verdict,
            replayed: submitted.replayed,
        })
    }

    /// The verdict a submission would get; nothing is stored and no tracker changes. A key,
    /// when given, is checked as a submission would check it.
    ///
    /// # Errors
    /// As [`crate::pipeline::Pipeline::check`].
    pub async fn check(
        &self,
        input: &SubmissionInput<'_>,
        idempotency_key: &str,
    ) -> Result<Checked, Rejection> {
        let judged = self.pipeline.check(input, idempotency_key).await?;
        let discard = self.pipeline.is_blatant_spam(&judged.verdict);
        Ok(Checked {
            verdict: judged.verdict,
            policy_version: judged.policy_version,
            discard,
        })
    }
}

//! The work the committer takes (one job per write) and the answers it holds until the
//! batch is on disk.

use tokio::sync::oneshot;

use super::engine::Value;

use crate::comment::{CommentId, StoredComment};
use crate::store::{Decided, DecisionRequest, ImportOutcome, ImportedComment, Result, StoreError};

/// A new comment ready to store, with its record encoded by the writer so the committer's
/// critical section is only the checks, the batch and the flush.
#[derive(Debug)]
pub(super) struct InsertJob {
    pub(super) comment: StoredComment,
    pub(super) record: Vec<u8>,
    pub(super) digest: [u8; 32],
    pub(super) reply: oneshot::Sender<Result<()>>,
}

/// Which comments a removal may delete; the committer checks each again before deleting.
#[derive(Debug, Clone, Copy)]
pub(super) enum Removal {
    /// Comments of the author with this email hash.
    Author([u8; 32]),
    /// SPAM and TRASH comments last changed before this time (ms since the epoch).
    ExpiredBefore(u64),
}

/// One bounded step of a removal: these comments (and these author-range keys, which go
/// whatever they name), then optionally the author's stats.
#[derive(Debug)]
pub(super) struct RemoveJob {
    pub(super) removal: Removal,
    pub(super) ids: Vec<CommentId>,
    pub(super) author_keys: Vec<Value>,
    pub(super) drop_author_stats: bool,
    pub(super) reply: oneshot::Sender<Result<u64>>,
}

/// Work for the committer.
#[derive(Debug)]
pub(super) enum Job {
    Insert(Box<InsertJob>),
    Moderate(DecisionRequest, oneshot::Sender<Result<Decided>>),
    Remove(RemoveJob),
    PutSettings(Vec<(String, Vec<u8>)>, oneshot::Sender<Result<()>>),
    Import(Box<ImportedComment>, oneshot::Sender<Result<ImportOutcome>>),
    /// A label's key and encoded value.
    PutLabel([u8; 17], Vec<u8>, oneshot::Sender<Result<()>>),
    /// Queue event keys to delete and the newest of them.
    PruneEvents(Vec<Value>, u64, oneshot::Sender<Result<u64>>),
}

impl Job {
    /// Answers the job with `failure` without applying it.
    pub(super) fn refuse(self, failure: &StoreError) {
        let error = || failure.duplicate();
        match self {
            Self::Insert(job) => drop(job.reply.send(Err(error()))),
            Self::Moderate(_, reply) => drop(reply.send(Err(error()))),
            Self::Remove(job) => drop(job.reply.send(Err(error()))),
            Self::PutSettings(_, reply) | Self::PutLabel(_, _, reply) => {
                drop(reply.send(Err(error())));
            }
            Self::Import(_, reply) => drop(reply.send(Err(error()))),
            Self::PruneEvents(_, _, reply) => drop(reply.send(Err(error()))),
        }
    }
}

/// A job's answer, held until the batch is flushed.
pub(super) enum Reply {
    Insert(oneshot::Sender<Result<()>>, Result<()>),
    Moderate(oneshot::Sender<Result<Decided>>, Box<Result<Decided>>),
    Remove(oneshot::Sender<Result<u64>>, Result<u64>),
    Import(
        oneshot::Sender<Result<ImportOutcome>>,
        Result<ImportOutcome>,
    ),
}

impl Reply {
    /// Turns a success into the batch's failure (nothing of the batch was written).
    pub(super) fn fail(&mut self, error: &StoreError) {
        let failed = || error.duplicate();
        match self {
            Self::Insert(_, r @ Ok(_)) => *r = Err(failed()),
            Self::Moderate(_, r) if r.is_ok() => **r = Err(failed()),
            Self::Remove(_, r @ Ok(_)) => *r = Err(failed()),
            Self::Import(_, r @ Ok(_)) => *r = Err(failed()),
            _ => {}
        }
    }

    /// The device failure this answer carries, if any: the store must then recover.
    pub(super) fn device_failure(&self) -> Option<StoreError> {
        let error = match self {
            Self::Insert(_, Err(e)) | Self::Remove(_, Err(e)) | Self::Import(_, Err(e)) => e,
            Self::Moderate(_, r) => r.as_ref().as_ref().err()?,
            _ => return None,
        };
        error.is_device().then(|| error.duplicate())
    }

    pub(super) fn send(self) {
        // A writer that gave up (its request was cancelled) no longer listens.
        match self {
            Self::Insert(tx, r) => drop(tx.send(r)),
            Self::Moderate(tx, r) => drop(tx.send(*r)),
            Self::Remove(tx, r) => drop(tx.send(r)),
            Self::Import(tx, r) => drop(tx.send(r)),
        }
    }
}

//! Storage errors and the `Result` alias every storage call returns.

use crate::comment::{CommentId, Status};
use crate::moderation::Action;

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed in a way that is not the device's (a damaged file it detected, a
    /// bug it reports). Shared, so one failure can answer every write of a batch.
    #[error("storage error: {0}")]
    Backend(Shared),
    /// The storage device is full: nothing more can be written until space is freed.
    #[error("the storage device is full; writes resume once space is freed")]
    NoSpace(#[source] Shared),
    /// Another I/O failure of the storage device.
    #[error("the storage device failed; writes resume once it can write again")]
    Unavailable(#[source] Shared),
    /// The store is being reopened after a write failure.
    #[error("storage is recovering from a write failure; retry shortly")]
    Recovering,
    /// Bytes in the database that do not decode.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Data written by a newer commentguard than this one.
    #[error(
        "data written in format version {0}, newer than this build understands; run a newer commentguard on this data directory"
    )]
    UnsupportedVersion(u8),
    /// The same comment (post, author, content) was stored before, under this id.
    #[error("duplicate of comment {0}")]
    Duplicate(CommentId),
    /// A stored comment (this one) already holds the submission's idempotency key; nothing
    /// was stored. The pipeline answers a retry from that comment.
    #[error("the idempotency key is held by comment {0}")]
    KeyTaken(CommentId),
    /// The committer is gone (the server is shutting down).
    #[error("storage is shutting down")]
    Closed,
    /// The comment replied to is no longer an approved comment of the post (it was moderated
    /// while the reply was being judged); nothing was stored.
    #[error("the parent comment is not an approved comment of this post")]
    ParentGone,
    /// No comment has this id.
    #[error("no comment {0}")]
    NotFound(CommentId),
    /// The action does not apply to a comment in this status.
    #[error("cannot {action} a comment that is {from}")]
    IllegalTransition {
        /// The action asked for.
        action: Action,
        /// The comment's status.
        from: Status,
    },
}

/// A backend's error, shared so that one failure can answer many writers.
pub type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// A backend failure that is not the device's.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(std::sync::Arc::new(error))
    }

    /// A failed read or write of the device: a full one ([`StoreError::NoSpace`]) asks the
    /// client to come back later, any other ([`StoreError::Unavailable`]) to go elsewhere.
    pub fn device(error: std::io::Error) -> Self {
        if is_no_space(&error) {
            Self::NoSpace(std::sync::Arc::new(error))
        } else {
            Self::Unavailable(std::sync::Arc::new(error))
        }
    }

    /// Whether the device failed (full or failing): the store must recover before writing.
    pub fn is_device(&self) -> bool {
        matches!(
            self,
            Self::NoSpace(_) | Self::Unavailable(_) | Self::Recovering
        )
    }

    /// The same failure again, to answer another writer of the batch it failed.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Backend(e) => Self::Backend(std::sync::Arc::clone(e)),
            Self::NoSpace(e) => Self::NoSpace(std::sync::Arc::clone(e)),
            Self::Unavailable(e) => Self::Unavailable(std::sync::Arc::clone(e)),
            Self::Recovering => Self::Recovering,
            other => Self::Corrupt(other.to_string()),
        }
    }
}

/// ENOSPC, also after a backend has copied the error (which may keep only its kind).
fn is_no_space(error: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(ENOSPC)
}

/// Result of a storage operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

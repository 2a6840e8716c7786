//! Storage errors and the `Result` alias every storage call returns.

use crate::comment::{CommentId, Status};
use crate::moderation::Action;

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, or a damaged file it detected). Shared, so one failure can
    /// answer every write of a batch.
    #[error("storage error: {0}")]
    Backend(std::sync::Arc<dyn std::error::Error + Send + Sync>),
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

impl StoreError {
    /// A backend failure.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(std::sync::Arc::new(error))
    }
}

/// Result of a storage operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

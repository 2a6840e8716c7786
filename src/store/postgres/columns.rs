//! How values are stored in PostgreSQL columns: comment ids as their 16 bytes, times as
//! BIGINT milliseconds.

use crate::comment::CommentId;
use crate::store::{Result, StoreError};

/// A comment id as stored (its 16 bytes).
pub(super) fn id_param(id: CommentId) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// A stored id column.
pub(super) fn id_column(bytes: &[u8]) -> Result<CommentId> {
    crate::store::record::id_from(bytes).ok_or_else(|| StoreError::Corrupt("comment id".into()))
}

/// Milliseconds as PostgreSQL's BIGINT (saturating far beyond any real time).
pub(super) fn ms_param(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A BIGINT column read back as milliseconds (negatives, which are never written, as 0).
pub(super) fn ms_column(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

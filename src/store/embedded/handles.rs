//! The open database as readers and the committer share it, and how sled's errors become
//! storage errors.

use crate::store::StoreError;

/// A sled error as a storage error: I/O is the device's ([`StoreError::device`]: full, or
/// failing), anything else the backend's.
pub(super) fn backend(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(io) => StoreError::device(io),
        other => StoreError::backend(other),
    }
}

/// The database handles shared by readers and the committer.
#[derive(Debug)]
pub(super) struct Inner {
    /// The database: flushes, snapshots and the `meta` tree.
    pub(super) db: sled::Db,
    /// The one tree of layout 3, with its prefixed key spaces.
    pub(super) tree: sled::Tree,
}

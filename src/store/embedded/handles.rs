//! The open database as readers and the committer share it.

use super::engine::Tree;
pub(super) use super::engine::backend;

/// The database handles shared by readers and the committer.
#[derive(Debug)]
pub(super) struct Inner {
    /// The one key space of layout 3, with its prefixed key spaces, in either engine.
    pub(super) tree: Tree,
}

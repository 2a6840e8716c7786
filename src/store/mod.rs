//! Durable storage in sled 0.34: comment records plus the indexes that answer the service's
//! questions, written atomically and flushed before a submission is acknowledged.
//!
//! # Trees
//! | tree | key | value |
//! |---|---|---|
//! | `comments` | id (16 bytes, UUIDv7) | versioned record ([`record`]) |
//! | `post_index` | post, status, id ([`keys::post_key`]) | empty |
//! | `status_index` | status, id ([`keys::status_key`]) | empty |
//! | `authors` | HMAC of the normalized email | author stats |
//! | `duplicates` | digest of post, author, content ([`keys::duplicate_key`]) | id |
//! | `audit` | time, sequence ([`audit::key`]) | moderator action ([`audit`]) |
//! | `labels` | comment id | moderator label with the text ([`labels`]) |
//! | `meta` | name | schema and record versions; the editable rules (`rules`) and their changes (`rules_change/` + time) |
//!
//! # Writes
//! All writes go through one [`Committer`] task: it takes every submission waiting, applies
//! them as one sled transaction, flushes once, then answers each writer (group commit). One
//! flush serves a whole batch, and only one task ever flushes, which avoids the hangs that
//! concurrent `flush_async` calls cause in sled 0.34. Moderator decisions, erasures and
//! retention purges go through the same task, so they too are on disk before anyone is told.

pub mod audit;
mod check;
mod committer;
mod error;
pub mod keys;
pub mod labels;
mod options;
mod reads;
pub mod record;
mod writes;

pub use check::Consistency;
pub use committer::{Committer, CommitterTask};
pub use error::{Result, StoreError};
pub use options::StoreOptions;

use std::path::Path;
use std::sync::Arc;

use options::segment_size;

/// Layout version of the whole database; bumped when trees or keys change meaning.
pub const SCHEMA_VERSION: u8 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";
const RECORD_VERSION_KEY: &[u8] = b"record_version";

/// Per-author counters, keyed by the email's HMAC so the address itself is not an index key.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct AuthorStats {
    /// Comments stored from this author.
    #[prost(uint64, tag = "1")]
    pub submitted: u64,
    /// Of those, approved when submitted.
    #[prost(uint64, tag = "2")]
    pub approved: u64,
    /// Held for review when submitted.
    #[prost(uint64, tag = "3")]
    pub pending: u64,
    /// Marked spam when submitted.
    #[prost(uint64, tag = "4")]
    pub spam: u64,
}

/// Handle on the database for reads; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Trees>,
}

#[derive(Debug)]
struct Trees {
    db: sled::Db,
    comments: sled::Tree,
    post_index: sled::Tree,
    status_index: sled::Tree,
    authors: sled::Tree,
    duplicates: sled::Tree,
    audit: sled::Tree,
    labels: sled::Tree,
    meta: sled::Tree,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    ///
    /// # Errors
    /// When sled cannot open the directory, or it holds data of a newer schema.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .segment_size(segment_size(dir))
            .open()?;
        let meta = db.open_tree("meta")?;
        // Refuse data a newer build wrote (a newer layout, or records in a newer format)
        // rather than misread it; record what this build writes.
        for (key, ours) in [
            (SCHEMA_KEY, SCHEMA_VERSION),
            (RECORD_VERSION_KEY, record::RECORD_VERSION),
        ] {
            match meta.get(key)?.and_then(|v| v.first().copied()) {
                Some(theirs) if theirs > ours => {
                    return Err(StoreError::UnsupportedVersion(theirs));
                }
                Some(theirs) if theirs == ours => {}
                _ => {
                    meta.insert(key, &[ours])?;
                }
            }
        }
        db.flush()?;
        let inner = Trees {
            comments: db.open_tree("comments")?,
            post_index: db.open_tree("post_index")?,
            status_index: db.open_tree("status_index")?,
            authors: db.open_tree("authors")?,
            duplicates: db.open_tree("duplicates")?,
            audit: db.open_tree("audit")?,
            labels: db.open_tree("labels")?,
            meta,
            db,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Writes everything sled holds in memory to disk.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn flush(&self) -> Result<()> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// Closes the database and opens it once more, so that the next start is fast. sled 0.34
    /// writes its recovery snapshot only when it opens a database, so a start otherwise
    /// replays everything logged since the previous start (seconds at a million comments);
    /// reopening at shutdown moves that work out of the next start. Returns whether it was
    /// done: not while another handle on the database is alive.
    ///
    /// # Errors
    /// When the database cannot be reopened.
    pub fn close_with_snapshot(self, dir: &Path, options: StoreOptions) -> Result<bool> {
        let Ok(trees) = Arc::try_unwrap(self.inner) else {
            return Ok(false);
        };
        trees.db.flush()?;
        drop(trees);
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .segment_size(segment_size(dir))
            .open()?;
        db.flush()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshots(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("snap."))
            .collect()
    }

    #[tokio::test]
    async fn closing_writes_a_snapshot_of_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let (committer, task) = store.start_committer(16);
        let comment = record::tests::sample();
        committer.insert(&comment).await.unwrap();
        task.stop().await;
        drop(committer);
        let before = snapshots(dir.path());

        // Not while another handle is alive.
        let other = store.clone();
        assert!(
            !other
                .close_with_snapshot(dir.path(), StoreOptions::default())
                .unwrap()
        );
        assert!(
            store
                .close_with_snapshot(dir.path(), StoreOptions::default())
                .unwrap()
        );
        let after = snapshots(dir.path());
        assert_eq!(after.len(), 1, "{after:?}");
        assert_ne!(before, after, "a snapshot up to the stored comment");

        let reopened = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(reopened.get(comment.id).unwrap(), Some(comment));
    }
}

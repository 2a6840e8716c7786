//! The two key-value engines the embedded store can keep its one ordered key space in, behind
//! the few calls the store makes: point reads, prefix and range scans in either direction, one
//! atomic and durable batch of writes, and a counter for sequence numbers.
//!
//! - **fjall** 3 (an LSM tree) for new data directories: a write appends to a journal and a
//!   memtable whatever its key, so the entries under an author's random hash cost what the
//!   appended ones do; memory is the memtables and the block cache, not a page per node.
//! - **sled** 0.34 for directories it already holds (every earlier release wrote sled), and
//!   on request.
//!
//! Which one a directory holds is decided by what is in it, never by configuration, so data is
//! never read with the wrong engine.

use std::collections::BTreeMap;
use std::ops::{Deref, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::{Result, StoreError};

/// The engine a data directory holds (or, for a new directory, should hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// fjall 3, an LSM tree: the default for new data directories.
    #[default]
    Fjall,
    /// sled 0.34: what every earlier release wrote.
    Sled,
}

impl EngineKind {
    /// The engine already in `dir`, if it holds one.
    pub fn found_in(dir: &Path) -> Option<Self> {
        if dir.join(FJALL_DIR).exists() {
            Some(Self::Fjall)
        } else if dir.join("conf").exists() || dir.join(SLED_FILE).is_file() {
            Some(Self::Sled)
        } else {
            None
        }
    }

    /// The engine's name, as configured.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fjall => "fjall",
            Self::Sled => "sled",
        }
    }
}

/// The fjall database's directory inside the data directory.
pub(super) const FJALL_DIR: &str = "fjall";
/// sled's main file. Beside a fjall store a directory of that name stands in its way, so a
/// release from before fjall fails to open the data directory instead of starting an empty
/// sled store beside the real one.
pub(super) const SLED_FILE: &str = "db";
/// What the directory in sled's way says to whoever looks.
const GUARD_NOTE: &str = "This data directory holds a fjall store (the `fjall` directory).\n\
    Releases of commentguard from before fjall cannot read it; this directory keeps them from\n\
    starting an empty store beside it. Do not remove it.\n";
/// The store's key space in fjall, and the keyspace for the layout and format versions.
const FJALL_TREE: &str = "v3";
const FJALL_META: &str = "meta";
/// The meta entry holding the next sequence number [`Tree::generate_id`] gives.
const NEXT_ID: &[u8] = b"next_id";
/// fjall memtable size: a keyspace's writes are flushed to a sorted file at this size.
const MEMTABLE_BYTES: u64 = 8 << 20;
/// Journals kept at most: what a start after a crash replays (fjall's least is 64 MiB).
const JOURNAL_BYTES: u64 = 64 << 20;
/// How long opening waits for the directory's lock to be let go by this process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An engine error, before it becomes a [`StoreError`] (see [`backend`]).
#[derive(Debug)]
pub(super) enum EngineError {
    Sled(sled::Error),
    Fjall(fjall::Error),
}

impl From<sled::Error> for EngineError {
    fn from(error: sled::Error) -> Self {
        Self::Sled(error)
    }
}

impl From<fjall::Error> for EngineError {
    fn from(error: fjall::Error) -> Self {
        Self::Fjall(error)
    }
}

/// An engine error as a storage error: I/O is the device's ([`StoreError::device`]: full, or
/// failing; fjall refuses every write after a failed journal write or sync, as poisoned),
/// anything else the backend's.
pub(super) fn backend(error: impl Into<EngineError>) -> StoreError {
    match error.into() {
        EngineError::Sled(sled::Error::Io(io)) | EngineError::Fjall(fjall::Error::Io(io)) => {
            StoreError::device(io)
        }
        EngineError::Fjall(fjall::Error::Poisoned) => StoreError::device(std::io::Error::other(
            "an earlier write could not be synced to the device",
        )),
        EngineError::Fjall(fjall::Error::Storage(fjall::LsmError::Io(io))) => {
            StoreError::device(io)
        }
        EngineError::Fjall(fjall::Error::Locked) => in_use(),
        EngineError::Sled(other) => StoreError::backend(other),
        EngineError::Fjall(other) => StoreError::backend(other),
    }
}

/// The error for a data directory another process holds open (both engines lock it).
pub(super) fn in_use() -> StoreError {
    StoreError::backend(std::io::Error::new(
        std::io::ErrorKind::WouldBlock,
        "the data directory is in use by another process (stop it first)",
    ))
}

/// A key or value read from either engine.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Sled(sled::IVec),
    Fjall(fjall::Slice),
}

impl Deref for Value {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Sled(bytes) => bytes,
            Self::Fjall(bytes) => bytes,
        }
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Entries of a scan, in key order or (reversed) against it.
pub(super) type Entry = std::result::Result<(Value, Value), EngineError>;

/// A scan of either engine.
pub(super) struct Entries<'a>(Box<dyn DoubleEndedIterator<Item = Entry> + 'a>);

impl Iterator for Entries<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        self.0.next()
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Entry> {
        self.0.next_back()
    }
}

impl<'a> Entries<'a> {
    /// Only the keys.
    pub(super) fn keys(
        self,
    ) -> impl DoubleEndedIterator<Item = std::result::Result<Value, EngineError>> + 'a {
        self.map(|entry| entry.map(|(key, _)| key))
    }
}

/// Writes to apply together, as sled's `Batch`: a later write of a key replaces an earlier one.
#[derive(Debug, Default)]
pub(super) struct Writes(BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl Writes {
    pub(super) fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.0
            .insert(key.as_ref().to_vec(), Some(value.as_ref().to_vec()));
    }

    pub(super) fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.0.insert(key.as_ref().to_vec(), None);
    }
}

/// sled's handles: the database (flushes, ids, the `meta` tree, layout 1's trees) and the one
/// tree of layout 3.
#[derive(Debug)]
pub(super) struct SledHandles {
    pub(super) db: sled::Db,
    pub(super) tree: sled::Tree,
}

/// fjall's handles. Fields drop in order: the keyspaces before the database, whose drop waits
/// for its background threads and lets go of the directory's lock.
pub(super) struct FjallHandles {
    tree: fjall::Keyspace,
    meta: fjall::Keyspace,
    db: fjall::Database,
    /// The next sequence number to give, written with every batch that used one.
    next_id: AtomicU64,
}

impl std::fmt::Debug for FjallHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallHandles").finish_non_exhaustive()
    }
}

/// The store's one ordered key space, in whichever engine holds it.
#[derive(Debug)]
pub(super) enum Tree {
    Sled(SledHandles),
    Fjall(FjallHandles),
}

impl Tree {
    pub(super) fn get(
        &self,
        key: impl AsRef<[u8]>,
    ) -> std::result::Result<Option<Value>, EngineError> {
        Ok(match self {
            Self::Sled(sled) => sled.tree.get(key)?.map(Value::Sled),
            Self::Fjall(fjall) => fjall.tree.get(key)?.map(Value::Fjall),
        })
    }

    pub(super) fn contains_key(
        &self,
        key: impl AsRef<[u8]>,
    ) -> std::result::Result<bool, EngineError> {
        Ok(match self {
            Self::Sled(sled) => sled.tree.contains_key(key)?,
            Self::Fjall(fjall) => fjall.tree.contains_key(key)?,
        })
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(super) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Entries<'_> {
        match self {
            Self::Sled(sled) => Entries(Box::new(sled.tree.scan_prefix(prefix).map(from_sled))),
            Self::Fjall(fjall) => Entries(Box::new(fjall.tree.prefix(prefix).map(from_fjall))),
        }
    }

    /// Every entry whose key is in `range`, in key order.
    pub(super) fn range<K, R>(&self, range: R) -> Entries<'_>
    where
        K: AsRef<[u8]> + 'static,
        R: RangeBounds<K> + 'static,
    {
        match self {
            Self::Sled(sled) => Entries(Box::new(sled.tree.range(range).map(from_sled))),
            Self::Fjall(fjall) => Entries(Box::new(fjall.tree.range(range).map(from_fjall))),
        }
    }

    /// A number never given before in this database (for audit and queue event sequences).
    /// Only the committer asks, and the batch it plans carries the counter.
    pub(super) fn generate_id(&self) -> std::result::Result<u64, EngineError> {
        match self {
            Self::Sled(sled) => Ok(sled.db.generate_id()?),
            Self::Fjall(fjall) => Ok(fjall.next_id.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Makes [`Tree::generate_id`] give only numbers above `last` from now on (fjall; sled
    /// keeps its own counter).
    pub(super) fn continue_ids_after(&self, last: u64) {
        if let Self::Fjall(fjall) = self {
            fjall
                .next_id
                .fetch_max(last.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Writes `writes` atomically (after a crash all of them or none are there) and makes
    /// them durable before returning.
    pub(super) fn apply(&self, writes: Writes) -> std::result::Result<(), EngineError> {
        match self {
            Self::Sled(sled) => {
                let mut batch = sled::Batch::default();
                for (key, value) in writes.0 {
                    match value {
                        Some(value) => batch.insert(key, value),
                        None => batch.remove(key),
                    }
                }
                sled.tree.apply_batch(batch)?;
                sled.db.flush()?;
            }
            Self::Fjall(fjall) => {
                let mut batch = fjall.db.batch();
                for (key, value) in writes.0 {
                    match value {
                        Some(value) => batch.insert(&fjall.tree, key, value),
                        None => batch.remove(&fjall.tree, key),
                    }
                }
                let next_id = fjall.next_id.load(Ordering::Relaxed);
                batch.insert(&fjall.meta, NEXT_ID, next_id.to_be_bytes());
                batch.commit()?;
                fjall.db.persist(fjall::PersistMode::SyncAll)?;
            }
        }
        Ok(())
    }

    /// Makes every write so far durable.
    pub(super) fn flush(&self) -> std::result::Result<(), EngineError> {
        match self {
            Self::Sled(sled) => {
                sled.db.flush()?;
            }
            Self::Fjall(fjall) => fjall.db.persist(fjall::PersistMode::SyncAll)?,
        }
        Ok(())
    }

    /// A layout or format version from the meta entries.
    pub(super) fn meta(&self, key: &[u8]) -> Result<Option<u8>> {
        let value = match self {
            Self::Sled(sled) => sled
                .db
                .open_tree("meta")
                .and_then(|meta| meta.get(key))
                .map_err(backend)?
                .map(Value::Sled),
            Self::Fjall(fjall) => fjall.meta.get(key).map_err(backend)?.map(Value::Fjall),
        };
        Ok(value.and_then(|v| v.first().copied()))
    }

    /// Records layout and format versions in the meta entries, durably.
    pub(super) fn set_meta(&self, entries: &[(&[u8], u8)]) -> Result<()> {
        match self {
            Self::Sled(sled) => {
                let meta = sled.db.open_tree("meta").map_err(backend)?;
                for (key, version) in entries {
                    meta.insert(key, &[*version]).map_err(backend)?;
                }
            }
            Self::Fjall(fjall) => {
                let mut batch = fjall.db.batch();
                for (key, version) in entries {
                    batch.insert(&fjall.meta, *key, [*version]);
                }
                batch.commit().map_err(backend)?;
            }
        }
        self.flush().map_err(backend)
    }

    /// sled's handles, for what only sled's directories need (migrating layout 1, snapshots).
    pub(super) fn sled(&self) -> Option<&SledHandles> {
        match self {
            Self::Sled(sled) => Some(sled),
            Self::Fjall(_) => None,
        }
    }
}

fn from_sled(entry: sled::Result<(sled::IVec, sled::IVec)>) -> Entry {
    let (key, value) = entry?;
    Ok((Value::Sled(key), Value::Sled(value)))
}

fn from_fjall(entry: fjall::Guard) -> Entry {
    let (key, value) = entry.into_inner()?;
    Ok((Value::Fjall(key), Value::Fjall(value)))
}

/// Opens (or creates) the fjall database of the data directory `dir`, with a block cache of
/// `cache_bytes`.
///
/// # Errors
/// When another process has it open, or fjall cannot open it.
pub(super) fn open_fjall(dir: &Path, cache_bytes: u64) -> Result<FjallHandles> {
    let handles = open_fjall_at(&dir.join(FJALL_DIR), cache_bytes)?;
    guard_against_earlier_releases(dir)?;
    Ok(handles)
}

/// Puts a directory where sled's main file would be (see [`SLED_FILE`]).
pub(super) fn guard_against_earlier_releases(dir: &Path) -> Result<()> {
    let guard = dir.join(SLED_FILE);
    if !guard.is_dir() {
        std::fs::create_dir_all(&guard).map_err(StoreError::device)?;
        std::fs::write(guard.join("README"), GUARD_NOTE).map_err(StoreError::device)?;
    }
    Ok(())
}

/// Opens (or creates) a fjall database at `path`. fjall lets go of the directory's lock once
/// its background threads end, so reopening within the process retries for up to
/// [`LOCK_WAIT`] while the lock is held.
///
/// # Errors
/// When another process has it open, or fjall cannot open it.
pub(super) fn open_fjall_at(path: &Path, cache_bytes: u64) -> Result<FjallHandles> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let db = loop {
        let opened = fjall::Database::builder(path)
            .cache_size(cache_bytes)
            .max_journaling_size(JOURNAL_BYTES)
            .manual_journal_persist(true)
            .open();
        match opened {
            Err(fjall::Error::Locked) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            opened => break opened.map_err(backend)?,
        }
    };
    let options = || fjall::KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
    let tree = db.keyspace(FJALL_TREE, options).map_err(backend)?;
    let meta = db.keyspace(FJALL_META, options).map_err(backend)?;
    let next_id = meta
        .get(NEXT_ID)
        .map_err(backend)?
        .and_then(|v| Some(u64::from_be_bytes(v.as_ref().try_into().ok()?)))
        .unwrap_or(0);
    Ok(FjallHandles {
        tree,
        meta,
        db,
        next_id: AtomicU64::new(next_id),
    })
}

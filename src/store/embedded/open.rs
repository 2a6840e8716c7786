//! Opening the database: choosing the engine, refusing data a newer build wrote, migrating an older layout, and
//! recording the layout and record format this build writes.

use std::path::Path;
use std::time::{Duration, Instant};

use super::engine::{EngineKind, SledHandles, Tree, in_use, open_fjall};
use super::handles::{Inner, backend};
use super::migrate;
use super::options::{StoreOptions, segment_size};
use crate::store::{Result, StoreError, record};

/// Layout version this build writes: one tree, prefixed key spaces.
pub const SCHEMA_VERSION: u8 = 3;

pub(super) const SCHEMA_KEY: &[u8] = b"schema_version";
pub(super) const RECORD_VERSION_KEY: &[u8] = b"record_version";
/// Name of the tree holding layout 3.
pub(super) const TREE: &str = "v3";

/// How long opening waits for the directory's lock to be let go by this process.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens sled in `dir`. sled's background threads let go of the directory's lock a moment
/// after the last handle in this process is dropped, so reopening at once (a restart within
/// one process, a tool reading the store after the server closed it) can find it still
/// held: opening retries for up to [`LOCK_WAIT`] while the lock is held, then says the
/// directory is in use (another process holding it gets the same error, a little later).
pub(super) fn open_db(dir: &Path, options: StoreOptions) -> Result<sled::Db> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(options.cache_bytes)
        .segment_size(segment_size(dir));
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(e) if lock_held(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if lock_held(&e) => return Err(in_use()),
            opened => return opened.map_err(backend),
        }
    }
}

/// Whether sled refused because the directory's lock is held.
fn lock_held(error: &sled::Error) -> bool {
    match error {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// Opens (or creates) the database in `dir`: with the engine the directory holds, or, for a
/// new one, the configured engine. Refuses data of a newer layout or record format and
/// migrates an older layout (only sled directories have older layouts).
pub(super) fn open_inner(dir: &Path, options: StoreOptions) -> Result<Inner> {
    let found = EngineKind::found_in(dir);
    match found {
        Some(EngineKind::Sled) if options.engine == EngineKind::Fjall => tracing::info!(
            "the data directory holds a sled store (an earlier release's); opening it with sled. \
             With the server stopped, `commentguard convert-store` moves it to fjall"
        ),
        Some(found) if found != options.engine => tracing::info!(
            holds = found.name(),
            configured = options.engine.name(),
            "the data directory was written with another storage engine; opening it with that one"
        ),
        _ => {}
    }
    let tree = match found.unwrap_or(options.engine) {
        EngineKind::Sled => {
            let db = open_db(dir, options)?;
            let tree = db.open_tree(TREE).map_err(backend)?;
            Tree::Sled(SledHandles { db, tree })
        }
        EngineKind::Fjall => Tree::Fjall(open_fjall(dir, options.cache_bytes)?),
    };
    // Refuse data a newer build wrote rather than misread it.
    if let Some(theirs) = tree
        .meta(RECORD_VERSION_KEY)?
        .filter(|v| *v > record::RECORD_VERSION)
    {
        return Err(StoreError::UnsupportedVersion(theirs));
    }
    let schema = tree.meta(SCHEMA_KEY)?;
    if let Some(theirs) = schema.filter(|v| *v > SCHEMA_VERSION) {
        return Err(StoreError::UnsupportedVersion(theirs));
    }
    if let Some(sled) = tree.sled() {
        match schema {
            Some(SCHEMA_VERSION) => {}
            Some(_) => migrate::run(sled)?,
            None if migrate::has_layout_1(&sled.db) => migrate::run(sled)?,
            None => {}
        }
    }
    let inner = Inner { tree };
    migrate::count_policy_versions(&inner)?;
    inner.tree.set_meta(&[
        (SCHEMA_KEY, SCHEMA_VERSION),
        (RECORD_VERSION_KEY, record::RECORD_VERSION),
    ])?;
    // Only once layout 3 is recorded as complete do the old trees go.
    if let Some(sled) = inner.tree.sled() {
        migrate::drop_layout_1(&sled.db)?;
    }
    Ok(inner)
}

//! Moving a stopped sled store to fjall, in place: every entry of layout 3 is copied, unchanged,
//! into a fjall database built beside the sled files, which becomes the store only once it is
//! complete and counted; the sled files go last.
//!
//! A crash at any step leaves a directory that opens: before the rename the sled files are the
//! store and the partial copy is ignored (and started again by the next run); after it fjall is
//! the store and the next run removes the sled files left behind.

use std::path::Path;
use std::time::Instant;

use super::engine::{
    EngineKind, FJALL_DIR, SLED_FILE, Tree, Writes, backend, guard_against_earlier_releases,
    open_fjall_at,
};
use super::open::{RECORD_VERSION_KEY, SCHEMA_KEY, SCHEMA_VERSION, open_inner};
use super::options::StoreOptions;
use crate::store::{Result, StoreError, record};

/// Where the copy is built before it becomes the store.
const PARTIAL_DIR: &str = "fjall.partial";
/// Entries copied per atomic batch.
const CHUNK: usize = 10_000;

/// What a conversion did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Converted {
    /// Entries copied (records, indexes, counters, audit, labels, events, settings).
    pub entries: u64,
    /// Seconds the copy took.
    pub seconds: f64,
}

/// Converts the sled store in `dir` to fjall. The store must not be open (sled's lock refuses
/// a directory a server holds). A directory already on fjall is left as it is, apart from
/// sled files a conversion cut short left behind.
///
/// # Errors
/// When `dir` holds no store, sled cannot open it (in use, newer format), or a write fails; the
/// sled store is then still the store.
pub fn convert_to_fjall(dir: &Path) -> Result<Converted> {
    let started = Instant::now();
    match EngineKind::found_in(dir) {
        None => {
            return Err(StoreError::Corrupt(format!(
                "no store in {}",
                dir.display()
            )));
        }
        Some(EngineKind::Fjall) => {
            remove_sled_files(dir)?;
            guard_against_earlier_releases(dir)?;
            return Ok(Converted {
                entries: 0,
                seconds: 0.0,
            });
        }
        Some(EngineKind::Sled) => {}
    }
    let options = StoreOptions {
        engine: EngineKind::Sled,
        ..StoreOptions::default()
    };
    let sled = open_inner(dir, options)?;
    let partial = dir.join(PARTIAL_DIR);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(StoreError::device)?;
    }
    let fjall = Tree::Fjall(open_fjall_at(&partial, options.cache_bytes)?);
    let entries = copy_entries(&sled.tree, &fjall)?;
    // Sequence numbers go on from the last one sled gave.
    fjall.continue_ids_after(sled.tree.generate_id().map_err(backend)?);
    fjall.apply(Writes::default()).map_err(backend)?;
    fjall.set_meta(&[
        (SCHEMA_KEY, SCHEMA_VERSION),
        (RECORD_VERSION_KEY, record::RECORD_VERSION),
    ])?;
    drop(fjall);
    drop(sled);
    std::fs::rename(&partial, dir.join(FJALL_DIR)).map_err(StoreError::device)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::device)?;
    remove_sled_files(dir)?;
    guard_against_earlier_releases(dir)?;
    Ok(Converted {
        entries,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Copies every entry of `from` into `to` in key order, in atomic chunks, then checks that `to`
/// holds as many.
fn copy_entries(from: &Tree, to: &Tree) -> Result<u64> {
    let mut copied = 0u64;
    let mut chunk = Writes::default();
    let mut in_chunk = 0;
    for entry in from.scan_prefix([]) {
        let (key, value) = entry.map_err(backend)?;
        chunk.insert(key, value);
        in_chunk += 1;
        if in_chunk == CHUNK {
            to.apply(std::mem::take(&mut chunk)).map_err(backend)?;
            copied += in_chunk as u64;
            in_chunk = 0;
        }
    }
    to.apply(chunk).map_err(backend)?;
    copied += in_chunk as u64;
    let mut counted = 0u64;
    for entry in to.scan_prefix([]) {
        entry.map_err(backend)?;
        counted += 1;
    }
    if counted != copied {
        return Err(StoreError::Corrupt(format!(
            "the copy holds {counted} entries of {copied}"
        )));
    }
    Ok(copied)
}

/// Removes sled's files (never the key file, the directory in sled's way, or anything else).
fn remove_sled_files(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(StoreError::device)?;
    for entry in entries {
        let entry = entry.map_err(StoreError::device)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let removed = match name.as_ref() {
            "blobs" => std::fs::remove_dir_all(&path),
            "conf" => std::fs::remove_file(&path),
            SLED_FILE if path.is_file() => std::fs::remove_file(&path),
            snapshot if snapshot.starts_with("snap.") => std::fs::remove_file(&path),
            _ => Ok(()),
        };
        removed.map_err(StoreError::device)?;
    }
    Ok(())
}

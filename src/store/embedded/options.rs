//! Tuning for the database and the sled configuration derived from it.

use std::path::Path;

use super::engine::EngineKind;

/// sled's segment size for new databases: 8 MiB instead of sled's 512 KiB. Larger segments
/// hold more pages each, so sled reclaims the space of rewritten pages sooner; at 100,000
/// comments the file shrank by about a fifth. A database keeps the size it was created with
/// (sled refuses to open it with another), so an existing `conf` file decides.
const SEGMENT_SIZE: usize = 8 << 20;

pub(super) fn segment_size(dir: &Path) -> usize {
    // The file is text lines followed by a binary checksum.
    std::fs::read(dir.join("conf"))
        .ok()
        .and_then(|conf| {
            String::from_utf8_lossy(&conf)
                .lines()
                .find_map(|line| line.strip_prefix("segment_size: "))
                .and_then(|size| size.trim().parse().ok())
        })
        .unwrap_or(SEGMENT_SIZE)
}

/// Tuning for the database.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// The engine for a new data directory; an existing one keeps the engine it holds.
    pub engine: EngineKind,
    /// The engine's cache in bytes (sled's page cache, fjall's block cache); it bounds most of
    /// the server's memory.
    pub cache_bytes: u64,
    /// sled only: writes (comments stored, decisions, erasure steps) after which the database is
    /// reopened in place, so that sled writes its recovery snapshot; 0 never does. sled 0.34
    /// snapshots only when it opens, so after a crash a start replays everything logged since
    /// the previous open: this bounds that replay, and each reopen pauses the store for about
    /// as long as such a replay (see [`super::recovery::Slot::checkpoint`]).
    pub checkpoint_every: u64,
}

impl StoreOptions {
    /// Default page cache: 16 MiB (see `Config::DEFAULT_STORAGE_CACHE_MB`).
    pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;
    /// Default writes between checkpoints (see `Config::DEFAULT_STORAGE_CHECKPOINT_WRITES`).
    pub const DEFAULT_CHECKPOINT_EVERY: u64 = 50_000;
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            engine: EngineKind::default(),
            cache_bytes: Self::DEFAULT_CACHE_BYTES,
            checkpoint_every: Self::DEFAULT_CHECKPOINT_EVERY,
        }
    }
}

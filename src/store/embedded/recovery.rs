//! Recovery from a device failure. sled 0.34 keeps failing after an I/O error (a full disk),
//! and fjall refuses writes after a failed journal write or sync, so once the device can write
//! again the database is reopened in place: every handle goes through the [`Slot`], which is
//! emptied, the old database dropped (releasing its lock), the directory opened again, checked,
//! and put back. Reads during the swap get [`StoreError::Recovering`]; the committer refuses
//! writes until it is done.
//!
//! The same swap serves as a checkpoint of a sled store ([`Slot::checkpoint`]): sled 0.34
//! writes its recovery snapshot only when it opens a database, so the committer reopens it
//! after a set number of writes, and a start after a crash replays no more than that.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::handles::Inner;
use super::open::open_inner;
use super::options::StoreOptions;
use super::options::segment_size;
use crate::store::{Result, StoreError};

/// Name of the file written to test whether the device has room again.
const PROBE_FILE: &str = "space-probe.tmp";
/// How long the swap waits for reads in progress on the old database to finish.
const DRAIN_READS: Duration = Duration::from_secs(2);
/// How long a checkpoint waits for them: new reads wait for the checkpoint, so a long scan
/// in progress postpones it (to after a later batch) rather than stall every read.
const CHECKPOINT_DRAIN: Duration = Duration::from_millis(100);

/// The open database, replaceable in place, and whether it can write.
#[derive(Debug)]
pub(super) struct Slot {
    /// `None` only while the database is being reopened (or a reopen failed).
    inner: RwLock<Option<Arc<Inner>>>,
    dir: PathBuf,
    options: StoreOptions,
    writable: watch::Sender<bool>,
    /// True while a checkpoint has the database closed.
    paused: watch::Sender<bool>,
    /// Checkpoints taken since the store was opened.
    checkpoints: AtomicU64,
}

impl Slot {
    pub(super) fn new(inner: Inner, dir: &Path, options: StoreOptions) -> Self {
        Self {
            inner: RwLock::new(Some(Arc::new(inner))),
            dir: dir.to_path_buf(),
            options,
            writable: watch::channel(true).0,
            paused: watch::channel(false).0,
            checkpoints: AtomicU64::new(0),
        }
    }

    /// The open database, for one read or one batch of writes.
    ///
    /// # Errors
    /// [`StoreError::Recovering`] while it is being reopened.
    pub(super) fn inner(&self) -> Result<Arc<Inner>> {
        let inner = match self.inner.read() {
            Ok(inner) => inner.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        inner.ok_or(StoreError::Recovering)
    }

    /// Checkpoints taken since the store was opened.
    pub(super) fn checkpoints(&self) -> u64 {
        self.checkpoints.load(Ordering::Relaxed)
    }

    /// True while a checkpoint has the database closed.
    pub(super) fn paused(&self) -> watch::Receiver<bool> {
        self.paused.subscribe()
    }

    /// Returns once no checkpoint has the database closed, so a read on the runtime waits for
    /// one without blocking its worker on the slot's lock.
    pub(super) async fn unpaused(&self) {
        if *self.paused.borrow() {
            let _ = self.paused.subscribe().wait_for(|paused| !paused).await;
        }
    }

    /// Follows [`Slot::set_writable`]: what the health service reports.
    pub(super) fn writable(&self) -> watch::Receiver<bool> {
        self.writable.subscribe()
    }

    pub(super) fn set_writable(&self, writable: bool) {
        self.writable.send_if_modified(|now| {
            let changed = *now != writable;
            *now = writable;
            changed
        });
    }

    /// Tries to make the store writable again: when the device takes a test write of two
    /// segments, reopens the database in place and checks its consistency. Returns whether
    /// the store can write again. Blocks: run it off the runtime.
    ///
    /// # Errors
    /// When the database cannot be reopened (the slot stays empty until a later try).
    pub(super) fn try_reopen(&self) -> Result<bool> {
        if !self.device_has_room() {
            return Ok(false);
        }
        let started = Instant::now();
        match self.take() {
            Taken::Busy => return Ok(false),
            // Dropping the old database releases its lock on the directory.
            Taken::Inner(old) => drop(old),
            Taken::Empty => {}
        }
        let inner = Arc::new(open_inner(&self.dir, self.options)?);
        let check = inner.check_consistency();
        self.put(inner);
        let check = check?;
        if check.problems.is_empty() {
            tracing::info!(
                comments = check.comments,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "storage reopened after a device failure; consistency checked"
            );
        } else {
            tracing::error!(
                comments = check.comments,
                problems = check.problems.len(),
                first = %check.problems[0],
                "storage reopened after a device failure, with inconsistent indexes"
            );
        }
        self.set_writable(true);
        Ok(true)
    }

    /// Reopens the database in place (a checkpoint): reads wait on the slot's lock meanwhile
    /// instead of failing; the committer calls it between batches, so no write is in flight.
    /// Returns how long the store paused, or `None` when a read held the database too long
    /// (nothing changed; the committer tries again later). Blocks: run it off the runtime.
    ///
    /// # Errors
    /// When the directory cannot be opened again; the slot is then empty and the committer
    /// recovers as after a device failure.
    pub(super) fn checkpoint(&self) -> Result<Option<Duration>> {
        self.paused.send_replace(true);
        let taken = self.reopen_for_checkpoint();
        self.paused.send_replace(false);
        taken
    }

    fn reopen_for_checkpoint(&self) -> Result<Option<Duration>> {
        let started = Instant::now();
        let mut slot = match self.inner.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(mut old) = slot.take() else {
            return Ok(None);
        };
        let deadline = started + CHECKPOINT_DRAIN;
        let unshared = loop {
            match Arc::try_unwrap(old) {
                Ok(inner) => break inner,
                Err(shared) if Instant::now() < deadline => {
                    old = shared;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(shared) => {
                    *slot = Some(shared);
                    return Ok(None);
                }
            }
        };
        // Dropping the old database releases its lock on the directory.
        drop(unshared);
        *slot = Some(Arc::new(open_inner(&self.dir, self.options)?));
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(Some(started.elapsed()))
    }

    /// Writes and syncs a probe file as large as two segments, and removes it.
    fn device_has_room(&self) -> bool {
        let path = self.dir.join(PROBE_FILE);
        let size = 2 * segment_size(&self.dir);
        let written = std::fs::File::create(&path).and_then(|mut file| {
            file.write_all(&vec![0u8; size])?;
            file.sync_all()
        });
        let _ = std::fs::remove_file(&path);
        written.is_ok()
    }

    /// Empties the slot and returns the old database once no read holds it any more; puts it
    /// back when reads do not finish in time.
    fn take(&self) -> Taken {
        let taken = match self.inner.write() {
            Ok(mut inner) => inner.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(mut old) = taken else {
            return Taken::Empty;
        };
        let deadline = Instant::now() + DRAIN_READS;
        loop {
            match Arc::try_unwrap(old) {
                Ok(inner) => return Taken::Inner(inner),
                Err(shared) if Instant::now() < deadline => {
                    old = shared;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(shared) => {
                    self.put(shared);
                    return Taken::Busy;
                }
            }
        }
    }

    fn put(&self, inner: Arc<Inner>) {
        match self.inner.write() {
            Ok(mut slot) => *slot = Some(inner),
            Err(poisoned) => *poisoned.into_inner() = Some(inner),
        }
    }
}

/// What emptying the slot gave.
enum Taken {
    /// The slot was already empty (an earlier reopen failed).
    Empty,
    /// The old database, no longer shared.
    Inner(Inner),
    /// Reads still hold the old database; it is back in the slot.
    Busy,
}

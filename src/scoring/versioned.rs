//! State that many requests read and labels change, with a version that counts the changes
//! (verdicts name the version that scored them, in their policy version).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `T` behind a read-write lock, with a count of the times it was taken for writing.
#[derive(Debug, Default)]
pub struct Versioned<T> {
    state: RwLock<T>,
    generation: AtomicU64,
}

impl<T> Versioned<T> {
    /// The state for reading. A writer that panicked left it as it was: it is still read.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The state for changing; taking it makes a new generation.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let guard = self.state.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        guard
    }

    /// How many times the state was taken for writing.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

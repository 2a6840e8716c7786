//! The committer: the one task that writes. Writers hand it jobs through a bounded queue; it
//! takes whatever is waiting as one batch, plans it (see `writes`), writes it with one
//! `apply_batch`, flushes once and answers.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::jobs::{Job, Reply};
use super::recovery::Slot;
use super::writes::commit;
use crate::store::{Result, StoreError};

/// Writers waiting for the committer at most; more wait for room (backpressure).
const COMMIT_QUEUE: usize = 4096;
/// While the device cannot write, how often the committer tries to reopen the store.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Sends writes to the committer task; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Queues a job (waiting for room) and returns its answer.
    pub(super) async fn send<T>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T>>,
    ) -> Result<T> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The running committer, to stop it at shutdown.
#[derive(Debug)]
pub(super) struct CommitterTask {
    task: tokio::task::JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl CommitterTask {
    /// Refuses new writes (they get [`StoreError::Closed`]), commits and answers every write
    /// already queued, and returns when the task has ended.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(cause = %e, "committer task failed");
        }
    }
}

/// Starts the committer task on the current tokio runtime.
pub(super) fn start(
    slot: Arc<Slot>,
    batch_limit: usize,
    checkpoint_every: u64,
) -> (Committer, CommitterTask) {
    let (jobs, queue) = mpsc::channel(COMMIT_QUEUE);
    let (stop, stopped) = oneshot::channel();
    let writes = Checkpoints {
        every: checkpoint_every,
        since: 0,
        retry_at: 0,
    };
    let task = tokio::spawn(run(slot, queue, batch_limit.max(1), writes, stopped));
    (Committer { jobs }, CommitterTask { task, stop })
}

/// Takes batches of up to `batch_limit` jobs until stopped and the queue is drained; each
/// batch is committed on a blocking thread so sled's I/O does not stall the runtime. After a
/// device failure it recovers (see [`recover`]) before taking the next batch.
async fn run(
    slot: Arc<Slot>,
    mut queue: mpsc::Receiver<Job>,
    batch_limit: usize,
    mut checkpoints: Checkpoints,
    mut stop: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(batch_limit);
    let mut stopping = false;
    loop {
        let received = tokio::select! {
            received = queue.recv_many(&mut batch, batch_limit) => received,
            _ = &mut stop, if !stopping => {
                // Close the queue; what is already in it is still received below.
                stopping = true;
                queue.close();
                continue;
            }
        };
        if received == 0 {
            break;
        }
        let jobs = std::mem::take(&mut batch);
        let inner = match slot.inner() {
            Ok(inner) => inner,
            Err(failure) => {
                jobs.into_iter().for_each(|job| job.refuse(&failure));
                recover(&slot, &mut queue, &mut stop, &mut stopping, failure).await;
                continue;
            }
        };
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || commit(&inner, jobs)).await;
        crate::telemetry::metrics().record_batch(received, started.elapsed());
        match outcome {
            Ok(replies) => {
                let failure = replies.iter().find_map(Reply::device_failure);
                replies.into_iter().for_each(Reply::send);
                if let Some(failure) = failure {
                    recover(&slot, &mut queue, &mut stop, &mut stopping, failure).await;
                } else if checkpoints.due(received)
                    && !stopping
                    && let Err(failure) = checkpoint(&slot, &mut checkpoints).await
                {
                    recover(&slot, &mut queue, &mut stop, &mut stopping, failure).await;
                }
            }
            // The jobs were moved into the failed task; their writers see `Closed`.
            Err(join_error) => tracing::error!(cause = %join_error, "commit batch task failed"),
        }
    }
    tracing::debug!("committer stopped");
}

/// When the next checkpoint is due: writes counted since the last open.
struct Checkpoints {
    /// Writes between checkpoints; 0: never.
    every: u64,
    since: u64,
    /// After a checkpoint was put off by a long read, the count at which to try again.
    retry_at: u64,
}

/// Writes after which a checkpoint put off by a long read is tried again: each try can hold
/// new reads for up to the drain time, so it is not repeated after every batch.
const CHECKPOINT_RETRY_WRITES: u64 = 1_000;

impl Checkpoints {
    /// Counts a batch of `writes`; true once a checkpoint is due.
    fn due(&mut self, writes: usize) -> bool {
        self.since = self.since.saturating_add(writes as u64);
        self.every > 0 && self.since >= self.every && self.since >= self.retry_at
    }

    /// Notes a checkpoint taken (`true`) or put off.
    fn taken(&mut self, taken: bool) {
        if taken {
            self.since = 0;
            self.retry_at = 0;
        } else {
            self.retry_at = self.since.saturating_add(CHECKPOINT_RETRY_WRITES);
        }
    }
}

/// Reopens the store in place (see [`Slot::checkpoint`]) on a blocking thread; a checkpoint
/// put off by a long read is tried again [`CHECKPOINT_RETRY_WRITES`] writes later.
async fn checkpoint(slot: &Arc<Slot>, checkpoints: &mut Checkpoints) -> Result<()> {
    let reopening = Arc::clone(slot);
    let paused = tokio::task::spawn_blocking(move || reopening.checkpoint())
        .await
        .map_err(StoreError::backend)??;
    if let Some(paused) = paused {
        tracing::info!(
            checkpoint = slot.checkpoints(),
            writes = checkpoints.since,
            paused_ms = paused.as_millis() as u64,
            "storage checkpoint: reopened so that a start replays less"
        );
        crate::telemetry::metrics().record_checkpoint(paused);
    }
    checkpoints.taken(paused.is_some());
    Ok(())
}

/// After the device failed a write: marks the store unwritable (health NOT_SERVING), refuses
/// every write with that failure without touching the database, and tries every
/// [`RETRY_EVERY`] to reopen it; returns once it can write again, or the queue is closed.
async fn recover(
    slot: &Arc<Slot>,
    queue: &mut mpsc::Receiver<Job>,
    stop: &mut oneshot::Receiver<()>,
    stopping: &mut bool,
    failure: StoreError,
) {
    slot.set_writable(false);
    tracing::error!(
        cause = %crate::error::Chain(&failure),
        "storage cannot write; refusing writes until it recovers"
    );
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.tick().await;
    loop {
        tokio::select! {
            _ = retry.tick() => {
                let reopening = Arc::clone(slot);
                match tokio::task::spawn_blocking(move || reopening.try_reopen()).await {
                    Ok(Ok(true)) => return,
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::error!(
                        cause = %crate::error::Chain(&e),
                        "reopening the storage failed; retrying"
                    ),
                    Err(e) => tracing::error!(cause = %e, "storage reopen task failed"),
                }
            }
            job = queue.recv() => match job {
                Some(job) => job.refuse(&failure),
                None => return,
            },
            _ = &mut *stop, if !*stopping => {
                *stopping = true;
                queue.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_due_every_so_many_writes_and_one_put_off_is_retried_later() {
        let mut checkpoints = Checkpoints {
            every: 10,
            since: 0,
            retry_at: 0,
        };
        assert!(!checkpoints.due(9));
        assert!(checkpoints.due(1));
        checkpoints.taken(false);
        assert!(!checkpoints.due(999), "not after every batch");
        assert!(checkpoints.due(1));
        checkpoints.taken(true);
        assert!(!checkpoints.due(9));
        let mut never = Checkpoints {
            every: 0,
            since: 0,
            retry_at: 0,
        };
        assert!(!never.due(usize::MAX));
    }
}

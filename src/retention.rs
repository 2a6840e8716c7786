//! The retention task: SPAM and TRASH are deleted once their last change is older than the
//! configured retention, and the queue's event log is pruned to its window, checked
//! periodically while the service runs.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{EventWindow, Storage};

/// How often the retention task looks for expired SPAM and TRASH.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How long after start the first pass waits (or `every`, when shorter). A pass scans the
/// SPAM and TRASH indexes and the event log; right after a start, answering comments comes
/// first: at 1,000,000 stored comments a pass at once delayed the first answer by seconds.
pub const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

/// Deletes SPAM and TRASH whose last change is older than `keep` (none when `keep` is
/// `None`: retention is off) and prunes queue events outside `events`, [`FIRST_PASS_AFTER`]
/// after the start and then every `every`, until the task is aborted. Each purge is on disk
/// before the next one starts; a failed purge is logged and retried at the next period.
///
/// # Panics
/// When `every` is zero.
pub async fn run(
    store: Arc<dyn Storage>,
    keep: Option<Duration>,
    events: EventWindow,
    every: Duration,
) {
    let first = tokio::time::Instant::now() + FIRST_PASS_AFTER.min(every);
    let mut ticks = tokio::time::interval_at(first, every);
    loop {
        ticks.tick().await;
        let now = crate::comment::now_ms();
        if let Some(keep) = keep {
            let cutoff = now.saturating_sub(keep.as_millis() as u64);
            match store.purge_expired(cutoff).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired spam and trash purged"),
                Err(e) => tracing::error!(cause = %e, "retention purge failed"),
            }
        }
        match store.prune_events(events, now).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "old queue events pruned"),
            Err(e) => tracing::error!(cause = %e, "queue event pruning failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::{
        ClientContext, CommentId, Status, StoredComment, Submission, Verdict, now_ms,
    };
    use crate::store::embedded::{EmbeddedStore, StoreOptions};

    const DAY_MS: u64 = 24 * 60 * 60 * 1000;
    const KEEP: Duration = Duration::from_secs(15 * 24 * 60 * 60);
    const EVERY: Duration = super::PURGE_EVERY;

    /// A comment `n` in `status`, submitted `age_days` ago and never decided on.
    fn comment(n: u8, status: Status, age_days: u64) -> StoredComment {
        StoredComment {
            id: CommentId::generate(),
            created_at_ms: now_ms() - age_days * DAY_MS,
            submission: Submission {
                post_id: "p".into(),
                post_title: None,
                parent_id: None,
                author_name: "n".into(),
                author_email: format!("a{n}@example.com"),
                author_url: None,
                content: format!("comment {n}"),
                context: ClientContext::default(),
            },
            verdict: Verdict {
                status,
                spam_score: 0.9,
                reasons: Vec::new(),
                toxicity: 0.0,
                toxic_spans: Vec::new(),
            },
            model_version: "m".into(),
            policy_version: String::new(),
            email_hash: [n; 32],
            decision: None,
            receipt: Default::default(),
        }
    }

    /// Lets the runtime's other tasks run (tokio time stays where it is) until `id` is gone
    /// from `store`.
    ///
    /// # Panics
    /// When it is still there after 10 s of real time.
    #[track_caller]
    fn gone(store: &Arc<dyn Storage>, id: CommentId) -> impl Future<Output = ()> {
        let caller = std::panic::Location::caller();
        let store = Arc::clone(store);
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while store.get(id).await.unwrap().is_some() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{caller}: comment {id} was not purged within 10 s"
                );
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Lets a pass that is due run to its end: its scans run on blocking threads in real
    /// time, the rest on this runtime. 100 ms of real time for a store of a few comments.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn purges_expired_spam_and_trash_soon_after_start_and_then_every_period() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Storage> =
            EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
        let old_spam = comment(1, Status::Spam, 20);
        let fresh_spam = comment(2, Status::Spam, 1);
        let old_approved = comment(3, Status::Approved, 20);
        let old_pending = comment(4, Status::Pending, 20);
        for c in [&old_spam, &fresh_spam, &old_approved, &old_pending] {
            store.insert(c.clone()).await.unwrap();
        }

        let retention = tokio::spawn(run(
            Arc::clone(&store),
            Some(KEEP),
            EventWindow::DEFAULT,
            EVERY,
        ));
        // Not at once: the first pass waits a little after the start.
        settle().await;
        tokio::time::advance(FIRST_PASS_AFTER - Duration::from_secs(1)).await;
        settle().await;
        assert!(
            store.get(old_spam.id).await.unwrap().is_some(),
            "purged before the first pass was due"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        gone(&store, old_spam.id).await;

        // An expired comment stored now waits for the next period.
        let old_trash = comment(5, Status::Trash, 20);
        store.insert(old_trash.clone()).await.unwrap();
        tokio::time::advance(EVERY - Duration::from_secs(1)).await;
        settle().await;
        // Writes are answered in order: a purge queued by an early tick (its scan has had
        // time to finish) would have been applied by the time this write is answered.
        let marker = comment(6, Status::Approved, 0);
        store.insert(marker.clone()).await.unwrap();
        assert!(
            store.get(old_trash.id).await.unwrap().is_some(),
            "purged before the period was over"
        );

        tokio::time::advance(Duration::from_secs(1)).await;
        gone(&store, old_trash.id).await;
        for kept in [&fresh_spam, &old_approved, &old_pending, &marker] {
            assert!(
                store.get(kept.id).await.unwrap().is_some(),
                "{:?}",
                kept.verdict
            );
        }
        let counts = store.status_counts().await.unwrap();
        assert!(counts.contains(&(Status::Spam, 1)), "{counts:?}");
        assert!(counts.contains(&(Status::Trash, 0)), "{counts:?}");

        retention.abort();
        assert!(retention.await.unwrap_err().is_cancelled());
        store.close().await.unwrap();
    }
}

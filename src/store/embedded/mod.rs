//! The embedded backend: one ordered key space with prefixed key spaces (see [`keys`]) in fjall
//! (new data directories) or sled 0.34 (directories earlier releases wrote; see [`engine`]),
//! and one committer task that is the only writer.
//!
//! # Writes
//! The committer takes every write waiting (submissions, decisions, steps of an erasure or
//! purge), reads what they must check, writes the whole batch atomically (after a crash all of
//! it or none is there), syncs once, then answers each writer (group commit). One sync serves a
//! whole batch, and only one task ever syncs, which avoids the hangs that concurrent
//! `flush_async` calls cause in sled 0.34.
//!
//! # Layout version
//! The `meta` entries hold the layout (`schema_version`) and record format (`record_version`).
//! Layout 1 (a sled tree per index) is migrated to layout 3 on first start (see `migrate`);
//! `convert` moves a sled directory to fjall.
//!
//! # Device failures
//! sled 0.34 keeps failing after an I/O error (a full disk), and fjall refuses writes after a
//! failed journal write, so the open database sits in a [`Slot`] that `recovery` empties and
//! fills again with the directory reopened once the device can write; the committer refuses
//! writes meanwhile and [`Storage::writable`] says so.

mod check;
mod committer;
mod convert;
mod engine;
mod handles;
mod jobs;
mod keys;
mod migrate;
mod open;
mod options;
#[cfg(test)]
mod previous_release;
mod reads;
mod recovery;
mod writes;

pub use convert::{Converted, convert_to_fjall};
pub use engine::EngineKind;
pub use options::StoreOptions;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::Value;
use handles::{Inner, backend};
pub use open::SCHEMA_VERSION;
use open::{open_db, open_inner};
use recovery::Slot;

use committer::{Committer, CommitterTask};
use jobs::{InsertJob, Job, Removal, RemoveJob};
use tokio::sync::{oneshot, watch};

use crate::comment::{CommentId, Status, StoredComment};
use crate::moderation::AuditEntry;
use crate::store::{
    Activity, AuditCursor, AuditPage, AuthorStats, Consistency, Decided, DecisionRequest,
    EventPage, EventWindow, ImportOutcome, ImportedComment, LabelledText, Page, Result, Storage,
    StoreError, duplicate_digest, labels, record,
};

/// sled behind the [`Storage`] seam.
#[derive(Debug)]
pub struct EmbeddedStore {
    slot: Arc<Slot>,
    committer: Committer,
    task: Mutex<Option<CommitterTask>>,
    /// Shared with every scan running on a blocking thread: they stop early once closing
    /// begins, and closing waits for them (they hold the database open).
    scans: Arc<Scans>,
}

/// What long scans on blocking threads share with [`EmbeddedStore::close`].
#[derive(Debug, Default)]
pub(super) struct Scans {
    closing: AtomicBool,
}

impl Scans {
    /// [`StoreError::Closed`] once the store is closing, so a scan ends at its next entry.
    pub(super) fn go_on(&self) -> Result<()> {
        if self.closing.load(Ordering::Relaxed) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

/// Comments a removal deletes per committer batch, so that submissions keep flowing.
const REMOVAL_CHUNK: usize = 256;

/// How long closing waits for scans on blocking threads to notice and end.
const SCANS_END_WITHIN: Duration = Duration::from_secs(5);

impl EmbeddedStore {
    /// Opens (or creates) the database in `dir`, migrating an older layout first, and starts
    /// the committer (batches of at most `batch_limit` writes) on the current tokio runtime.
    ///
    /// # Errors
    /// When sled cannot open the directory, it holds data of a newer layout or record
    /// format, or a migration fails (it resumes at the next start).
    pub fn open(dir: &Path, options: StoreOptions, batch_limit: usize) -> Result<Arc<Self>> {
        let inner = open_inner(dir, options)?;
        // Only sled needs reopening to bound what a start replays.
        let checkpoint_every = match inner.tree.sled() {
            Some(_) => options.checkpoint_every,
            None => 0,
        };
        let slot = Arc::new(Slot::new(inner, dir, options));
        let (committer, task) = committer::start(Arc::clone(&slot), batch_limit, checkpoint_every);
        Ok(Arc::new(Self {
            slot,
            committer,
            task: Mutex::new(Some(task)),
            scans: Arc::default(),
        }))
    }

    /// The open database, for one read; waits out a checkpoint first.
    ///
    /// # Errors
    /// [`StoreError::Recovering`] while it is being reopened after a device failure.
    async fn inner(&self) -> Result<Arc<Inner>> {
        self.slot.unpaused().await;
        self.slot.inner()
    }

    /// Runs a long read (a scan of a whole key space) on a blocking thread, so it does not
    /// hold up the runtime's workers and the requests they serve. The read gets [`Scans`] to
    /// check between entries, so closing need not wait for all of it.
    async fn off_the_runtime<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Inner, &Scans) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.scans.go_on()?;
        let inner = self.inner().await?;
        let scans = Arc::clone(&self.scans);
        tokio::task::spawn_blocking(move || read(&inner, &scans))
            .await
            .map_err(StoreError::backend)?
    }

    /// Tells running scans to stop and waits (a bounded time) until none holds the database.
    async fn end_scans(&self) {
        self.scans.closing.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + SCANS_END_WITHIN;
        while Arc::strong_count(&self.scans) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// For a sled directory, opens the database once more after every handle on it is gone,
    /// so that the next start is fast: sled 0.34 writes its recovery snapshot only when it
    /// opens a database, so a start otherwise replays everything logged since the previous
    /// start. fjall needs nothing: its start replays at most the journals it keeps.
    ///
    /// # Errors
    /// When the database cannot be opened (for instance while a handle is still alive).
    pub fn write_snapshot(dir: &Path, options: StoreOptions) -> Result<()> {
        if EngineKind::found_in(dir) == Some(EngineKind::Sled) {
            open_db(dir, options)?.flush().map_err(backend)?;
        }
        Ok(())
    }

    /// Every comment of the closed store at `dir`, in id order: for tools that study what is
    /// stored, such as the one that trains the record dictionary.
    ///
    /// # Errors
    /// When the database cannot be opened or a record does not decode.
    pub fn stored_comments(dir: &Path) -> Result<Vec<StoredComment>> {
        let inner = open_inner(dir, StoreOptions::default())?;
        inner
            .tree
            .scan_prefix([keys::COMMENT])
            .map(|entry| record::decode(&entry.map_err(backend)?.1))
            .collect()
    }

    async fn remove(
        &self,
        removal: Removal,
        ids: Vec<CommentId>,
        author_keys: Vec<Value>,
    ) -> Result<u64> {
        let drop_author_stats = matches!(removal, Removal::Author(_)) && ids.is_empty();
        let (reply, answer) = oneshot::channel();
        let job = RemoveJob {
            removal,
            ids,
            author_keys,
            drop_author_stats,
            reply,
        };
        self.committer.send(Job::Remove(job), answer).await
    }

    /// The next chunk of the author's comment keys (read outside the committer).
    fn author_chunk(&self, email_hash: &[u8; 32]) -> Result<(Vec<CommentId>, Vec<Value>)> {
        let mut ids = Vec::new();
        let mut author_keys = Vec::new();
        for key in self
            .slot
            .inner()?
            .tree
            .scan_prefix(keys::author_comments(email_hash))
            .keys()
            .take(REMOVAL_CHUNK)
        {
            let key = key.map_err(backend)?;
            ids.extend(keys::trailing_id(&key));
            author_keys.push(key);
        }
        Ok((ids, author_keys))
    }
}

#[async_trait::async_trait]
impl Storage for EmbeddedStore {
    fn schema_version(&self) -> u32 {
        u32::from(SCHEMA_VERSION)
    }

    fn paused(&self) -> watch::Receiver<bool> {
        self.slot.paused()
    }

    fn writable(&self) -> watch::Receiver<bool> {
        self.slot.writable()
    }

    async fn insert_batch(&self, comments: Vec<StoredComment>) -> Vec<Result<()>> {
        let mut answers = Vec::with_capacity(comments.len());
        for comment in comments {
            let s = &comment.submission;
            let digest = duplicate_digest(&s.post_id, &comment.email_hash, &s.content);
            let (reply, answer) = oneshot::channel();
            let job = InsertJob {
                record: record::encode(&comment),
                comment,
                digest,
                reply,
            };
            answers.push(self.committer.send(Job::Insert(Box::new(job)), answer));
        }
        futures_util::future::join_all(answers).await
    }

    async fn moderate(&self, decision: DecisionRequest) -> Result<Decided> {
        let (reply, answer) = oneshot::channel();
        self.committer
            .send(Job::Moderate(decision, reply), answer)
            .await
    }

    async fn get(&self, id: CommentId) -> Result<Option<StoredComment>> {
        self.inner().await?.get(id)
    }

    async fn find_duplicate(
        &self,
        post_id: &str,
        email_hash: &[u8; 32],
        content: &str,
    ) -> Result<Option<CommentId>> {
        let digest = duplicate_digest(post_id, email_hash, content);
        self.inner().await?.find_duplicate(email_hash, &digest)
    }

    async fn first_comment_ms(&self, post_id: &str) -> Result<Option<u64>> {
        self.inner().await?.first_comment_ms(post_id)
    }

    async fn find_by_idempotency_key(&self, key: &str) -> Result<Option<StoredComment>> {
        self.inner().await?.find_by_idempotency_key(key)
    }

    async fn policy_version_counts(&self) -> Result<Vec<(String, u64)>> {
        self.inner().await?.policy_version_counts()
    }

    async fn list_thread(
        &self,
        post_id: &str,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        self.inner().await?.list_thread(post_id, after, limit)
    }

    async fn list_queue(
        &self,
        status: Status,
        post_id: Option<&str>,
        before: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        self.inner()
            .await?
            .list_queue(status, post_id, before, limit)
    }

    async fn list_queue_oldest(
        &self,
        status: Status,
        post_id: Option<&str>,
        after: Option<CommentId>,
        limit: usize,
    ) -> Result<Page> {
        self.inner()
            .await?
            .list_queue_oldest(status, post_id, after, limit)
    }

    async fn list_by_author(
        &self,
        email_hash: [u8; 32],
        limit: usize,
    ) -> Result<Vec<StoredComment>> {
        self.inner().await?.list_by_author(&email_hash, limit)
    }

    async fn erase_author(&self, email_hash: [u8; 32]) -> Result<u64> {
        let mut erased = 0;
        loop {
            // Each step deletes the keys it read, so the next read starts after them.
            let (ids, author_keys) = self.author_chunk(&email_hash)?;
            if author_keys.is_empty() {
                break;
            }
            erased += self
                .remove(Removal::Author(email_hash), ids, author_keys)
                .await?;
        }
        self.remove(Removal::Author(email_hash), Vec::new(), Vec::new())
            .await?;
        Ok(erased)
    }

    async fn purge_expired(&self, cutoff_ms: u64) -> Result<u64> {
        let mut purged = 0;
        let expired = self
            .off_the_runtime(move |inner, scans| inner.expired(cutoff_ms, scans))
            .await?;
        for chunk in expired.chunks(REMOVAL_CHUNK) {
            purged += self
                .remove(
                    Removal::ExpiredBefore(cutoff_ms),
                    chunk.to_vec(),
                    Vec::new(),
                )
                .await?;
        }
        Ok(purged)
    }

    async fn list_audit(
        &self,
        comment: Option<CommentId>,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<AuditPage> {
        self.inner().await?.list_audit(comment, before, limit)
    }

    async fn audit_since(&self, since_ms: u64) -> Result<Vec<AuditEntry>> {
        self.inner().await?.audit_since(since_ms)
    }

    async fn labels(&self) -> Result<Vec<LabelledText>> {
        self.inner().await?.labels()
    }

    async fn label(&self, id: CommentId) -> Result<Option<LabelledText>> {
        self.inner().await?.label(id)
    }

    async fn author_stats(&self, email_hash: &[u8; 32]) -> Result<AuthorStats> {
        self.inner().await?.author_stats(email_hash)
    }

    async fn status_counts(&self) -> Result<[(Status, u64); 4]> {
        let mut counts = Status::ALL.map(|s| (s, 0));
        for (status, count) in &mut counts {
            *count = self.inner().await?.status_count(*status)?;
        }
        Ok(counts)
    }

    async fn activity(
        &self,
        start_ms: u64,
        interval_ms: u64,
        intervals: usize,
    ) -> Result<Vec<Activity>> {
        self.inner()
            .await?
            .activity(start_ms, interval_ms, intervals)
    }

    async fn check_consistency(&self) -> Result<Consistency> {
        self.inner().await?.check_consistency()
    }

    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let value = self
            .inner()
            .await?
            .tree
            .get(keys::setting(name))
            .map_err(backend)?;
        Ok(value.map(|v| v.to_vec()))
    }

    async fn put_settings(&self, settings: Vec<(String, Vec<u8>)>) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.committer
            .send(Job::PutSettings(settings, reply), answer)
            .await
    }

    async fn import_batch(&self, comments: Vec<ImportedComment>) -> Vec<Result<ImportOutcome>> {
        let answers = comments.into_iter().map(|comment| {
            let (reply, answer) = oneshot::channel();
            self.committer
                .send(Job::Import(Box::new(comment), reply), answer)
        });
        futures_util::future::join_all(answers).await
    }

    async fn put_label(&self, label: LabelledText) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let job = Job::PutLabel(
            keys::label(label.comment_id),
            labels::encode_text(&label),
            reply,
        );
        self.committer.send(job, answer).await
    }

    async fn events_after(&self, after: Option<u64>, limit: usize) -> Result<EventPage> {
        self.inner().await?.events_after(after, limit)
    }

    async fn prune_events(&self, window: EventWindow, now_ms: u64) -> Result<u64> {
        let doomed = self
            .off_the_runtime(move |inner, scans| inner.events_outside(window, now_ms, scans))
            .await?;
        let mut pruned = 0;
        for chunk in doomed.chunks(REMOVAL_CHUNK * 4) {
            let Some(newest) = chunk.last().and_then(|k| keys::event_sequence(k)) else {
                continue;
            };
            let (reply, answer) = oneshot::channel();
            let job = Job::PruneEvents(chunk.to_vec(), newest, reply);
            pruned += self.committer.send(job, answer).await?;
        }
        Ok(pruned)
    }

    async fn close(&self) -> Result<()> {
        self.end_scans().await;
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.stop().await;
        }
        self.inner().await?.tree.flush().map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::open::TREE;
    use super::*;
    use engine::Writes;

    /// Options for a sled directory, as every earlier release wrote.
    const SLED: StoreOptions = StoreOptions {
        engine: EngineKind::Sled,
        cache_bytes: StoreOptions::DEFAULT_CACHE_BYTES,
        checkpoint_every: StoreOptions::DEFAULT_CHECKPOINT_EVERY,
    };

    /// Runs a store test on each engine, as `NAME::fjall` and `NAME::sled`.
    macro_rules! on_both_engines {
        ($($name:ident),* $(,)?) => {$(
            mod $name {
                #[tokio::test]
                async fn fjall() {
                    super::$name(super::FJALL).await;
                }

                #[tokio::test]
                async fn sled() {
                    super::$name(super::SLED).await;
                }
            }
        )*};
    }

    on_both_engines!(
        an_idempotency_key_names_one_comment_and_goes_with_it,
        a_batch_refuses_duplicates_within_itself_and_of_stored_comments,
        decisions_move_indexes_and_are_audited_by_comment,
        author_stats_count_the_authors_entries_and_what_earlier_builds_kept,
        erasure_takes_only_the_author_in_bounded_steps,
        held_submissions_and_decisions_are_logged_in_order_and_imports_are_not,
        imports_keep_history_once_and_without_authors_when_there_is_no_email,
        labels_without_comments_replace_each_other_and_survive_reopening,
        a_reply_to_a_comment_moderated_away_is_refused,
        expiry_reads_the_status_index_and_entries_of_older_releases_still_expire,
    );

    const FJALL: StoreOptions = StoreOptions {
        engine: EngineKind::Fjall,
        ..SLED
    };
    use crate::moderation::Action;
    use crate::store::record::tests::sample;

    fn fresh(post: &str, hash: u8, content: &str) -> StoredComment {
        let mut c = sample();
        c.id = CommentId::generate();
        c.submission.post_id = post.into();
        c.submission.parent_id = None;
        c.submission.content = content.into();
        c.email_hash = [hash; 32];
        c.decision = None;
        c.receipt = Default::default();
        c
    }

    fn keyed(post: &str, hash: u8, content: &str, key: &str) -> StoredComment {
        let mut c = fresh(post, hash, content);
        c.receipt.idempotency = Some(crate::comment::Idempotency {
            key: key.into(),
            request_digest: [hash; 32],
        });
        c
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_reopen_the_store_while_reads_wait_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            checkpoint_every: 10,
            ..SLED
        };
        let store = EmbeddedStore::open(dir.path(), options, 4).unwrap();
        let paused = store.paused();
        let first = fresh("p", 1, "the first comment");
        assert!(store.insert_batch(vec![first.clone()]).await[0].is_ok());
        let reading = Arc::clone(&store);
        let reader = tokio::spawn(async move {
            let mut reads = 0u32;
            while reading.slot.checkpoints() < 3 {
                let found = reading
                    .get(first.id)
                    .await
                    .expect("a read during a checkpoint");
                assert_eq!(found.map(|c| c.id), Some(first.id));
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        });
        let mut written = vec![];
        for n in 0..40u8 {
            let comment = fresh("p", n.wrapping_add(2), &format!("comment {n}"));
            assert!(store.insert_batch(vec![comment.clone()]).await[0].is_ok());
            written.push(comment.id);
        }
        assert!(
            store.slot.checkpoints() >= 3,
            "a checkpoint every 10 writes"
        );
        assert!(
            paused.has_changed().unwrap(),
            "admission was told of the pauses"
        );
        assert!(!*store.paused().borrow(), "and that they ended");
        assert!(reader.await.unwrap() > 0);
        for id in written {
            assert!(store.get(id).await.unwrap().is_some());
        }
        assert!(store.check_consistency().await.unwrap().problems.is_empty());
    }

    async fn an_idempotency_key_names_one_comment_and_goes_with_it(options: StoreOptions) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let first = keyed("p", 1, "hello", "k");
        // The same key in one batch (two frontends racing) and in a later one: one stored.
        let outcomes = store
            .insert_batch(vec![first.clone(), keyed("q", 2, "other", "k")])
            .await;
        assert!(outcomes[0].is_ok());
        assert!(matches!(outcomes[1], Err(StoreError::KeyTaken(id)) if id == first.id));
        // The key is checked before the duplicate digest.
        assert!(matches!(
            store.insert(keyed("p", 1, "hello", "k")).await,
            Err(StoreError::KeyTaken(id)) if id == first.id
        ));
        let found = store.find_by_idempotency_key("k").await.unwrap().unwrap();
        assert_eq!(found, first);
        assert!(store.find_by_idempotency_key("K").await.unwrap().is_none());
        assert_eq!(
            store.policy_version_counts().await.unwrap(),
            [(first.policy_version.clone(), 1)]
        );
        assert!(store.check_consistency().await.unwrap().problems.is_empty());

        assert_eq!(store.erase_author([1; 32]).await.unwrap(), 1);
        assert!(store.find_by_idempotency_key("k").await.unwrap().is_none());
        assert!(store.policy_version_counts().await.unwrap().is_empty());
        store.insert(keyed("r", 3, "again", "k")).await.unwrap();
        assert!(store.check_consistency().await.unwrap().problems.is_empty());
    }

    #[tokio::test]
    async fn policy_counts_are_filled_in_for_data_stored_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), SLED, 16).unwrap();
        let mut old = fresh("p", 1, "older");
        old.policy_version = String::new();
        store
            .insert_batch(vec![old, fresh("p", 1, "newer"), fresh("p", 2, "newest")])
            .await;
        store.close().await.unwrap();
        drop(store);
        {
            // What the previous release left: records, no counters and no note of them.
            let db = open_db(dir.path(), SLED).unwrap();
            let tree = db.open_tree(TREE).unwrap();
            for key in tree.scan_prefix([keys::POLICY_COUNT]).keys() {
                tree.remove(key.unwrap()).unwrap();
            }
            tree.remove(keys::POLICY_COUNTS_DONE).unwrap();
            db.flush().unwrap();
        }
        let store = EmbeddedStore::open(dir.path(), SLED, 16).unwrap();
        assert_eq!(
            store.policy_version_counts().await.unwrap(),
            [("0123456789abcdef".to_owned(), 2), (String::new(), 1)]
        );
        assert!(store.check_consistency().await.unwrap().problems.is_empty());
    }

    fn decide(id: CommentId, action: Action) -> DecisionRequest {
        DecisionRequest {
            id,
            action,
            moderator: "alice".into(),
            note: String::new(),
            at_ms: crate::comment::now_ms(),
        }
    }

    async fn a_batch_refuses_duplicates_within_itself_and_of_stored_comments(
        options: StoreOptions,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let first = fresh("p", 1, "hello there");
        store.insert(first.clone()).await.unwrap();
        let again = fresh("p", 1, "Hello  there");
        let other = fresh("p", 2, "hello there");
        let twin = fresh("p", 2, "hello there");
        let outcomes = store.insert_batch(vec![again, other.clone(), twin]).await;
        assert!(matches!(outcomes[0], Err(StoreError::Duplicate(id)) if id == first.id));
        assert!(outcomes[1].is_ok());
        assert!(matches!(outcomes[2], Err(StoreError::Duplicate(id)) if id == other.id));
        let counts = store.status_counts().await.unwrap();
        assert_eq!(counts[1], (Status::Pending, 2));
        assert_eq!(store.author_stats(&[2; 32]).await.unwrap().submitted, 1);
        let report = store.check_consistency().await.unwrap();
        assert_eq!((report.comments, report.problems), (2, vec![]));
    }

    async fn decisions_move_indexes_and_are_audited_by_comment(options: StoreOptions) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let a = fresh("p", 1, "one");
        let b = fresh("p", 1, "two");
        store.insert_batch(vec![a.clone(), b.clone()]).await;
        let decided = store.moderate(decide(a.id, Action::Approve)).await.unwrap();
        assert_eq!(
            (decided.from, decided.comment.verdict.status),
            (Status::Pending, Status::Approved)
        );
        store
            .moderate(decide(b.id, Action::MarkSpam))
            .await
            .unwrap();
        store.moderate(decide(a.id, Action::Trash)).await.unwrap();
        assert!(matches!(
            store.moderate(decide(a.id, Action::Trash)).await,
            Err(StoreError::IllegalTransition { .. })
        ));
        let thread = store.list_thread("p", None, 10).await.unwrap();
        assert!(thread.comments.is_empty());
        let queue = store
            .list_queue(Status::Trash, Some("p"), None, 10)
            .await
            .unwrap();
        assert_eq!(queue.comments.len(), 1);
        let audit = store.list_audit(Some(a.id), None, 1).await.unwrap();
        assert_eq!(audit.entries[0].action, Action::Trash);
        let rest = store.list_audit(Some(a.id), audit.next, 10).await.unwrap();
        assert_eq!(rest.entries.len(), 1);
        assert_eq!(rest.entries[0].action, Action::Approve);
        assert_eq!(
            store
                .list_audit(None, None, 10)
                .await
                .unwrap()
                .entries
                .len(),
            3
        );
        // Trashing withdrew the label; the spam label stays.
        assert_eq!(store.labels().await.unwrap().len(), 1);
        let activity = store.activity(0, u64::MAX / 4, 1).await.unwrap();
        assert_eq!(
            activity[0],
            Activity {
                submissions: 2,
                decisions: 3
            }
        );
        assert!(store.check_consistency().await.unwrap().problems.is_empty());
    }

    async fn author_stats_count_the_authors_entries_and_what_earlier_builds_kept(
        options: StoreOptions,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let held = fresh("p", 1, "held");
        let mut spam = fresh("p", 1, "spam");
        spam.verdict.status = Status::Spam;
        let mut approved = fresh("p", 1, "approved");
        approved.verdict.status = Status::Approved;
        store
            .insert_batch(vec![held.clone(), spam, approved])
            .await
            .into_iter()
            .for_each(|r| r.unwrap());
        let stats = |submitted, approved, pending, spam| AuthorStats {
            submitted,
            approved,
            pending,
            spam,
        };
        assert_eq!(
            store.author_stats(&[1; 32]).await.unwrap(),
            stats(3, 1, 1, 1)
        );
        // Approval marks the entry: the comment counts once however often it is approved.
        for action in [Action::Approve, Action::Hold, Action::Approve] {
            store.moderate(decide(held.id, action)).await.unwrap();
        }
        assert_eq!(
            store.author_stats(&[1; 32]).await.unwrap(),
            stats(3, 2, 1, 1)
        );
        // What an earlier build wrote: an empty entry, counted in the stats entry.
        let old = fresh("p", 1, "old");
        store.insert_batch(vec![old.clone()]).await[0]
            .as_ref()
            .unwrap();
        let digest = duplicate_digest("p", &[1; 32], "old");
        let mut writes = Writes::default();
        writes.insert(keys::author_comment(&[1; 32], &digest, old.id), []);
        writes.insert(
            keys::author_stats(&[1; 32]),
            prost::Message::encode_to_vec(&stats(1, 0, 1, 0)),
        );
        store.inner().await.unwrap().tree.apply(writes).unwrap();
        assert_eq!(
            store.author_stats(&[1; 32]).await.unwrap(),
            stats(4, 2, 2, 1)
        );
        store
            .moderate(decide(old.id, Action::Approve))
            .await
            .unwrap();
        assert_eq!(
            store.author_stats(&[1; 32]).await.unwrap(),
            stats(4, 3, 2, 1)
        );
        assert_eq!(
            store.author_stats(&[2; 32]).await.unwrap(),
            stats(0, 0, 0, 0)
        );
        assert!(store.check_consistency().await.unwrap().problems.is_empty());
    }

    async fn erasure_takes_only_the_author_in_bounded_steps(options: StoreOptions) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 64).unwrap();
        let theirs: Vec<_> = (0..REMOVAL_CHUNK + 10)
            .map(|n| fresh("p", 1, &format!("mine {n}")))
            .collect();
        let kept = fresh("p", 2, "someone else");
        store.insert_batch(theirs.clone()).await;
        store.insert(kept.clone()).await.unwrap();
        store
            .moderate(decide(theirs[0].id, Action::MarkSpam))
            .await
            .unwrap();
        assert_eq!(
            store.erase_author([1; 32]).await.unwrap(),
            theirs.len() as u64
        );
        assert!(store.get(theirs[5].id).await.unwrap().is_none());
        assert!(store.get(kept.id).await.unwrap().is_some());
        assert_eq!(
            store.author_stats(&[1; 32]).await.unwrap(),
            AuthorStats::default()
        );
        assert!(store.labels().await.unwrap().is_empty());
        let report = store.check_consistency().await.unwrap();
        assert_eq!((report.comments, report.problems), (1, vec![]));
    }

    async fn held_submissions_and_decisions_are_logged_in_order_and_imports_are_not(
        options: StoreOptions,
    ) {
        use crate::store::events::Change;
        use crate::store::{EventWindow, ImportedComment};
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let mut held = fresh("p", 1, "held");
        held.verdict.status = Status::Pending;
        let mut approved = fresh("p", 2, "approved");
        approved.verdict.status = Status::Approved;
        let mut imported = fresh("p", 3, "imported");
        imported.verdict.status = Status::Spam;
        store.insert(held.clone()).await.unwrap();
        store.insert(approved).await.unwrap();
        store
            .import_batch(vec![ImportedComment {
                comment: imported,
                label: None,
            }])
            .await
            .pop()
            .unwrap()
            .unwrap();
        store
            .moderate(decide(held.id, Action::MarkSpam))
            .await
            .unwrap();
        let page = store.events_after(None, 10).await.unwrap();
        let changes: Vec<_> = page
            .events
            .iter()
            .map(|e| (e.event.comment_id, e.event.change, e.event.to))
            .collect();
        let decided = Change::Decided {
            action: Action::MarkSpam,
            from: Status::Pending,
        };
        assert_eq!(
            changes,
            [
                (held.id, Change::Submitted, Status::Pending),
                (held.id, decided, Status::Spam)
            ]
        );
        assert_eq!(page.newest, Some(page.events[1].sequence));
        let rest = store.events_after(Some(page.events[0].sequence), 10).await;
        assert_eq!(rest.unwrap().events, page.events[1..]);
        assert_eq!(
            store.prune_events(EventWindow::DEFAULT, 0).await.unwrap(),
            0
        );
        store.close().await.unwrap();
        drop(store);
        // Sequences keep increasing across a restart.
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        store
            .moderate(decide(held.id, Action::Trash))
            .await
            .unwrap();
        let after = store.events_after(page.newest, 10).await.unwrap();
        assert_eq!(after.events.len(), 1);
        assert!(after.events[0].sequence > page.events[1].sequence);
    }

    async fn imports_keep_history_once_and_without_authors_when_there_is_no_email(
        options: StoreOptions,
    ) {
        use crate::comment::Label;
        use crate::store::{ImportOutcome, ImportedComment, NO_AUTHOR};
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let mut spam = fresh("p", 1, "buy pills");
        spam.verdict.status = Status::Spam;
        let mut anonymous = fresh("p", 0, "no email here");
        anonymous.email_hash = NO_AUTHOR;
        anonymous.verdict.status = Status::Approved;
        // A reply to a comment that is not approved: history is not judged again.
        let mut reply = fresh("p", 2, "reply to spam");
        reply.submission.parent_id = Some(spam.id);
        let batch = vec![
            ImportedComment {
                comment: spam.clone(),
                label: Some(Label::Spam),
            },
            ImportedComment {
                comment: anonymous.clone(),
                label: Some(Label::Ham),
            },
            ImportedComment {
                comment: reply.clone(),
                label: None,
            },
            ImportedComment {
                comment: spam.clone(),
                label: Some(Label::Spam),
            },
        ];
        let outcomes: Vec<_> = store
            .import_batch(batch.clone())
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        use ImportOutcome::{AlreadyPresent, Imported};
        assert_eq!(outcomes, [Imported, Imported, Imported, AlreadyPresent]);
        let again = store.import_batch(batch).await;
        assert!(again.iter().all(|o| matches!(o, Ok(AlreadyPresent))));
        assert_eq!(store.get(reply.id).await.unwrap().unwrap(), reply);
        assert_eq!(store.labels().await.unwrap().len(), 2);
        assert_eq!(store.author_stats(&[1; 32]).await.unwrap().spam, 1);
        assert_eq!(
            store.author_stats(&NO_AUTHOR).await.unwrap(),
            AuthorStats::default()
        );
        let thread = store.list_thread("p", None, 10).await.unwrap();
        assert_eq!(thread.comments, vec![anonymous.clone()]);
        // A moderator's decision on an author-less comment works and keeps it author-less.
        store
            .moderate(decide(anonymous.id, Action::Hold))
            .await
            .unwrap();
        store
            .moderate(decide(anonymous.id, Action::Approve))
            .await
            .unwrap();
        assert_eq!(
            store.author_stats(&NO_AUTHOR).await.unwrap(),
            AuthorStats::default()
        );
        let report = store.check_consistency().await.unwrap();
        assert_eq!((report.comments, report.problems), (3, vec![]));
    }

    async fn labels_without_comments_replace_each_other_and_survive_reopening(
        options: StoreOptions,
    ) {
        use crate::comment::Label;
        let dir = tempfile::tempdir().unwrap();
        let id = CommentId::generate();
        let label = |label| LabelledText {
            comment_id: id,
            label,
            content: "free money".into(),
            author_name: "x".into(),
            author_url: String::new(),
            decided_ms: 7,
        };
        {
            let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
            store.put_label(label(Label::Spam)).await.unwrap();
            store.put_label(label(Label::Ham)).await.unwrap();
            store.close().await.unwrap();
        }
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        assert_eq!(store.labels().await.unwrap(), vec![label(Label::Ham)]);
    }

    async fn a_reply_to_a_comment_moderated_away_is_refused(options: StoreOptions) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let parent = fresh("p", 1, "parent");
        store.insert(parent.clone()).await.unwrap();
        let mut reply = fresh("p", 2, "reply");
        reply.submission.parent_id = Some(parent.id);
        assert!(matches!(
            store.insert(reply.clone()).await,
            Err(StoreError::ParentGone)
        ));
        store
            .moderate(decide(parent.id, Action::Approve))
            .await
            .unwrap();
        store.insert(reply).await.unwrap();
    }

    async fn expiry_reads_the_status_index_and_entries_of_older_releases_still_expire(
        options: StoreOptions,
    ) {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), options, 16).unwrap();
        let now = crate::comment::now_ms();
        let spam = |n: u8, age_days: u64| {
            let mut c = fresh("p", n, &format!("spam {n}"));
            c.verdict.status = Status::Spam;
            c.created_at_ms = now - age_days * DAY_MS;
            c
        };
        let (old, recent, older_release) = (spam(1, 20), spam(2, 1), spam(4, 20));
        let mut decided_now = spam(3, 20);
        decided_now.verdict.status = Status::Pending;
        for c in [&old, &recent, &decided_now, &older_release] {
            store.insert(c.clone()).await.unwrap();
        }
        // Held long ago, marked spam just now: retention counts from the decision.
        store
            .moderate(DecisionRequest {
                id: decided_now.id,
                action: Action::MarkSpam,
                moderator: "m".into(),
                note: String::new(),
                at_ms: now,
            })
            .await
            .unwrap();
        // A status entry as releases before the time was kept wrote it.
        let mut writes = Writes::default();
        writes.insert(keys::status(Status::Spam, older_release.id), []);
        store.inner().await.unwrap().tree.apply(writes).unwrap();

        let scans = Scans::default();
        let mut expired = store
            .inner()
            .await
            .unwrap()
            .expired(now - 15 * DAY_MS, &scans)
            .unwrap();
        expired.sort();
        let mut want = vec![old.id, older_release.id];
        want.sort();
        assert_eq!(expired, want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_ends_scans_on_blocking_threads_so_the_snapshot_can_open_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
        // As at shutdown: a retention pass is scanning when its task is aborted and the store
        // closed. This scan goes on until told to stop (at most 10 s).
        let (started, scanning) = std::sync::mpsc::channel();
        let pass = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .off_the_runtime(move |_inner, scans| {
                        let _ = started.send(());
                        let deadline = std::time::Instant::now() + Duration::from_secs(10);
                        while std::time::Instant::now() < deadline {
                            scans.go_on()?;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Ok(())
                    })
                    .await
            })
        };
        scanning.recv_timeout(Duration::from_secs(10)).unwrap();
        pass.abort();
        let _ = pass.await;
        store.close().await.unwrap();
        drop(store);
        // The next open of the directory finds it free.
        EmbeddedStore::write_snapshot(dir.path(), StoreOptions::default()).unwrap();
    }

    #[tokio::test]
    async fn a_directory_keeps_the_engine_that_wrote_it_and_one_process_holds_it() {
        for (written, configured) in [(SLED, FJALL), (FJALL, SLED)] {
            let dir = tempfile::tempdir().unwrap();
            let store = EmbeddedStore::open(dir.path(), written, 16).unwrap();
            let comment = fresh("p", 1, "kept");
            store.insert_batch(vec![comment.clone()]).await[0]
                .as_ref()
                .unwrap();
            let refused = EmbeddedStore::open(dir.path(), written, 16).unwrap_err();
            assert!(
                crate::error::Chain(&refused).to_string().contains("in use"),
                "a second open of a directory in use is refused as such: {refused}"
            );
            store.close().await.unwrap();
            drop(store);

            if written.engine == EngineKind::Fjall {
                assert!(
                    open_db(dir.path(), SLED).is_err(),
                    "a release from before fjall refuses the directory"
                );
            }
            let store = EmbeddedStore::open(dir.path(), configured, 16).unwrap();
            assert_eq!(
                EngineKind::found_in(dir.path()),
                Some(written.engine),
                "nothing of the configured engine was created"
            );
            let inner = store.inner().await.unwrap();
            assert_eq!(
                inner.tree.sled().is_some(),
                written.engine == EngineKind::Sled
            );
            drop(inner);
            assert_eq!(store.get(comment.id).await.unwrap(), Some(comment));
            store.close().await.unwrap();
        }
    }
}

//! Upgrade in place from layout 1 (one sled tree per index, records of version 1 or 2) to
//! layout 3 (one tree, prefixed key spaces).
//!
//! The old trees are only read. Each chunk of migrated data is written to the new tree with
//! one `apply_batch` together with the position it reached, so a crash mid-migration leaves
//! whole chunks and a position to resume from: the next start carries on. The service reads
//! the new tree only once `schema_version` says 3, which is written after the last chunk is
//! flushed; the old trees are dropped after that.

use prost::Message as _;

use super::engine::{SledHandles, Writes};
use super::handles::{Inner, backend};
use super::keys::{self, Kind};
use crate::comment::Status;
use crate::store::{AuthorStats, Result, StoreError, audit, duplicate_digest, record};

/// The trees of layout 1.
const LAYOUT_1: [&str; 7] = [
    "comments",
    "post_index",
    "status_index",
    "authors",
    "duplicates",
    "audit",
    "labels",
];
/// Old entries migrated per batch.
const CHUNK: usize = 2_000;

/// Whether the database holds layout-1 trees.
pub(super) fn has_layout_1(db: &sled::Db) -> bool {
    db.tree_names()
        .iter()
        .any(|name| name.as_ref() == b"comments")
}

/// Drops whatever layout-1 trees are left (after a completed migration).
pub(super) fn drop_layout_1(db: &sled::Db) -> Result<()> {
    let names = db.tree_names();
    for name in LAYOUT_1 {
        if names.iter().any(|n| n.as_ref() == name.as_bytes()) {
            db.drop_tree(name).map_err(backend)?;
        }
    }
    Ok(())
}

/// Fills in the per-policy-version counters for comments stored before they were kept (once,
/// at the first start of this build on older data): one scan of the records, written with
/// the entry saying it is done in one atomic batch, so a crash only makes the next start
/// count again.
pub(super) fn count_policy_versions(inner: &Inner) -> Result<()> {
    if inner
        .tree
        .contains_key(keys::POLICY_COUNTS_DONE)
        .map_err(backend)?
    {
        return Ok(());
    }
    let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for entry in inner.tree.scan_prefix([keys::COMMENT]) {
        let (_, bytes) = entry.map_err(backend)?;
        *counts
            .entry(record::decode(&bytes)?.policy_version)
            .or_default() += 1;
    }
    let mut writes = Writes::default();
    for (version, count) in &counts {
        writes.insert(keys::policy_count(version), count.to_be_bytes());
    }
    writes.insert(keys::POLICY_COUNTS_DONE, [1u8]);
    inner.tree.apply(writes).map_err(backend)?;
    if !counts.is_empty() {
        tracing::info!(versions = counts.len(), "policy version counters filled in");
    }
    Ok(())
}

/// Migrates every layout-1 tree into the new tree, resuming where a previous run stopped.
pub(super) fn run(inner: &SledHandles) -> Result<()> {
    run_with(inner, CHUNK, usize::MAX)
}

/// [`run`] in chunks of `chunk` entries, stopping after `max_chunks` of them (to test what a
/// crash mid-migration leaves).
fn run_with(inner: &SledHandles, chunk: usize, max_chunks: usize) -> Result<()> {
    let mut budget = Budget {
        chunk,
        left: max_chunks,
    };
    let started = std::time::Instant::now();
    tracing::info!("migrating the data directory to storage layout 3");
    let db = &inner.db;
    let labels = db.open_tree("labels").map_err(backend)?;
    let comments = migrate_tree(
        inner,
        &mut budget,
        &db.open_tree("comments").map_err(backend)?,
        "comments",
        |plan, _, value| comment(&labels, plan, value),
    )?;
    let authors = migrate_tree(
        inner,
        &mut budget,
        &db.open_tree("authors").map_err(backend)?,
        "authors",
        |plan, key, value| {
            let hash: [u8; 32] = key
                .try_into()
                .map_err(|_| StoreError::Corrupt("author key".into()))?;
            AuthorStats::decode(value).map_err(|_| StoreError::Corrupt("author stats".into()))?;
            plan.batch.insert(&keys::author_stats(&hash), value);
            Ok(())
        },
    )?;
    let entries = migrate_tree(
        inner,
        &mut budget,
        &db.open_tree("audit").map_err(backend)?,
        "audit",
        audit_entry,
    )?;
    inner.db.flush().map_err(backend)?;
    tracing::info!(
        comments,
        authors,
        audit_entries = entries,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "migration to storage layout 3 complete"
    );
    Ok(())
}

/// How much one run may migrate.
struct Budget {
    chunk: usize,
    left: usize,
}

/// One chunk's writes and counter changes.
struct Plan {
    batch: sled::Batch,
    counts: [u64; 4],
    activity: std::collections::HashMap<(Kind, u64), u64>,
}

/// Migrates one old tree in chunks, each written with the position it reached; returns how
/// many entries this run migrated.
fn migrate_tree(
    inner: &SledHandles,
    budget: &mut Budget,
    old: &sled::Tree,
    name: &str,
    mut each: impl FnMut(&mut Plan, &[u8], &[u8]) -> Result<()>,
) -> Result<u64> {
    let cursor_key = [&[keys::MIGRATION][..], name.as_bytes()].concat();
    let mut position = inner.tree.get(&cursor_key).map_err(backend)?;
    let mut migrated = 0;
    loop {
        if budget.left == 0 {
            return Err(StoreError::Corrupt("migration stopped early".into()));
        }
        budget.left -= 1;
        let range = match &position {
            Some(after) => old.range::<&[u8], _>((
                std::ops::Bound::Excluded(after.as_ref()),
                std::ops::Bound::Unbounded,
            )),
            None => old.iter(),
        };
        let mut plan = Plan {
            batch: sled::Batch::default(),
            counts: [0; 4],
            activity: Default::default(),
        };
        let mut last = None;
        for entry in range.take(budget.chunk) {
            let (key, value) = entry.map_err(backend)?;
            each(&mut plan, &key, &value)?;
            last = Some(key);
            migrated += 1;
        }
        let Some(last) = last else {
            return Ok(migrated);
        };
        plan.batch.insert(cursor_key.as_slice(), last.as_ref());
        add_counters(inner, &mut plan)?;
        inner.tree.apply_batch(plan.batch).map_err(backend)?;
        inner.db.flush().map_err(backend)?;
        tracing::info!(tree = name, migrated, "migration progress");
        position = Some(last);
    }
}

fn add_counters(inner: &SledHandles, plan: &mut Plan) -> Result<()> {
    for status in Status::ALL {
        let added = plan.counts[status as usize - 1];
        if added > 0 {
            let key = keys::count(status);
            let now = keys::read_u64(inner.tree.get(key).map_err(backend)?.as_deref());
            plan.batch.insert(&key, &(now + added).to_be_bytes());
        }
    }
    for ((kind, second), added) in std::mem::take(&mut plan.activity) {
        let key = keys::activity(kind, second);
        let now = keys::read_u64(inner.tree.get(key).map_err(backend)?.as_deref());
        plan.batch.insert(&key, &(now + added).to_be_bytes());
    }
    Ok(())
}

/// A comment with its indexes and label, the record rewritten in the current format.
fn comment(labels: &sled::Tree, plan: &mut Plan, value: &[u8]) -> Result<()> {
    let comment = record::decode(value)?;
    let id = comment.id;
    let s = &comment.submission;
    let status = comment.verdict.status;
    let digest = duplicate_digest(&s.post_id, &comment.email_hash, &s.content);
    plan.batch
        .insert(&keys::comment(id), record::encode(&comment));
    plan.batch
        .insert(keys::post(&s.post_id, status, id), &[] as &[u8]);
    plan.batch
        .insert(&keys::status(status, id), &keys::status_since(&comment));
    plan.batch.insert(
        &keys::author_comment(&comment.email_hash, &digest, id)[..],
        &[] as &[u8],
    );
    if let Some(label) = labels.get(id.as_bytes()).map_err(backend)? {
        plan.batch.insert(&keys::label(id), label);
    }
    plan.counts[status as usize - 1] += 1;
    *plan
        .activity
        .entry((Kind::Submission, comment.created_at_ms / 1000))
        .or_default() += 1;
    Ok(())
}

/// An audit entry, under its old time and sequence, with its entry in the by-comment index.
fn audit_entry(plan: &mut Plan, key: &[u8], value: &[u8]) -> Result<()> {
    let corrupt = || StoreError::Corrupt("audit key".into());
    let key: [u8; 16] = key.try_into().map_err(|_| corrupt())?;
    let (at, sequence) = key.split_at(8);
    let at_ms = u64::from_be_bytes(at.try_into().map_err(|_| corrupt())?);
    let sequence = u64::from_be_bytes(sequence.try_into().map_err(|_| corrupt())?);
    let entry = audit::decode(value)?;
    plan.batch.insert(&keys::audit(at_ms, sequence), value);
    plan.batch.insert(
        &keys::audit_by_comment(entry.comment_id, at_ms, sequence)[..],
        &[] as &[u8],
    );
    *plan
        .activity
        .entry((Kind::Decision, at_ms / 1000))
        .or_default() += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::super::open::{TREE, open_db};
    use super::super::{EmbeddedStore, StoreOptions};
    use super::*;
    use crate::comment::{CommentId, StoredComment};
    use crate::moderation::AuditEntry;
    use crate::store::{LabelledText, Storage as _, labels};

    /// What layout 1 holds, read straight from its trees.
    struct Old {
        comments: HashMap<CommentId, StoredComment>,
        labels: Vec<LabelledText>,
        audit: Vec<AuditEntry>,
        authors: HashMap<[u8; 32], AuthorStats>,
    }

    fn copy_fixture(to: &Path) {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout1");
        std::fs::create_dir_all(to.join("blobs")).unwrap();
        for name in ["conf", "db", "snap.00000000000129C0"] {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    }

    fn read_layout_1(dir: &Path) -> Old {
        let db = open_db(dir, StoreOptions::default()).unwrap();
        let tree = |name: &str| db.open_tree(name).unwrap();
        let comments = tree("comments")
            .iter()
            .map(|e| record::decode(&e.unwrap().1).unwrap())
            .map(|c| (c.id, c))
            .collect();
        let labels = tree("labels")
            .iter()
            .map(|e| {
                let (k, v) = e.unwrap();
                labels::decode(&k, &v).unwrap()
            })
            .collect();
        let audit = tree("audit")
            .iter()
            .map(|e| audit::decode(&e.unwrap().1).unwrap())
            .collect();
        let authors = tree("authors")
            .iter()
            .map(|e| {
                let (k, v) = e.unwrap();
                let hash: [u8; 32] = k.as_ref().try_into().unwrap();
                (hash, AuthorStats::decode(v.as_ref()).unwrap())
            })
            .collect();
        Old {
            comments,
            labels,
            audit,
            authors,
        }
    }

    async fn assert_migrated(store: &EmbeddedStore, old: &Old) {
        // The figures the release that wrote the fixture reported for it.
        assert_eq!(old.comments.len(), 40);
        assert_eq!(old.audit.len(), 10);
        let counts = store.status_counts().await.unwrap();
        assert_eq!(
            counts,
            [
                (Status::Approved, 9),
                (Status::Pending, 2),
                (Status::Spam, 28),
                (Status::Trash, 1)
            ]
        );
        for (id, comment) in &old.comments {
            assert_eq!(store.get(*id).await.unwrap().as_ref(), Some(comment));
            let s = &comment.submission;
            let found = store
                .find_duplicate(&s.post_id, &comment.email_hash, &s.content)
                .await
                .unwrap();
            assert_eq!(found, Some(*id));
        }
        // Labels list in id order in both layouts.
        assert!(!old.labels.is_empty());
        assert_eq!(store.labels().await.unwrap(), old.labels);
        let mut audit = store.list_audit(None, None, 100).await.unwrap().entries;
        audit.reverse();
        assert_eq!(audit, old.audit);
        for entry in &old.audit {
            let page = store
                .list_audit(Some(entry.comment_id), None, 100)
                .await
                .unwrap();
            assert!(page.entries.contains(entry));
            assert!(
                page.entries
                    .iter()
                    .all(|e| e.comment_id == entry.comment_id)
            );
        }
        for (hash, stats) in &old.authors {
            assert_eq!(&store.author_stats(hash).await.unwrap(), stats);
        }
        let report = store.check_consistency().await.unwrap();
        assert_eq!((report.comments, report.problems), (40, vec![]));
    }

    #[tokio::test]
    async fn layout_1_written_by_the_previous_release_migrates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        copy_fixture(dir.path());
        let old = read_layout_1(dir.path());
        let store = EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
        assert!(
            !has_layout_1(&store.inner().await.unwrap().tree.sled().unwrap().db),
            "old trees dropped"
        );
        assert_migrated(&store, &old).await;
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_migration_cut_short_is_finished_by_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        copy_fixture(dir.path());
        let old = read_layout_1(dir.path());
        {
            let db = open_db(dir.path(), StoreOptions::default()).unwrap();
            let inner = SledHandles {
                tree: db.open_tree(TREE).unwrap(),
                db,
            };
            // Three chunks of 7 comments, then the "crash".
            assert!(run_with(&inner, 7, 3).is_err());
            inner.db.flush().unwrap();
            assert!(has_layout_1(&inner.db));
        }
        let store = EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
        assert_migrated(&store, &old).await;
    }
}

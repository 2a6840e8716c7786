//! A data directory written by the release before compressed records (layout 3, record
//! version 2, `tests/fixtures/layout3-record2`): this build opens it in place, reads every
//! comment as that release wrote it, and writes new ones compressed beside them.

use std::collections::HashMap;
use std::path::Path;

use super::open::{RECORD_VERSION_KEY, TREE, open_db};
use super::{EmbeddedStore, StoreOptions, keys};
use crate::comment::{CommentId, Status, StoredComment};
use crate::store::record::{self, RECORD_VERSION};
use crate::store::{Storage as _, StoreError, record::tests::sample};

fn copy_fixture(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout3-record2");
    std::fs::create_dir_all(to.join("blobs")).unwrap();
    for name in ["conf", "db", "snap.000000000000E1B8"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

/// Each record's version byte and comment, read straight from the tree.
fn raw_records(dir: &Path) -> HashMap<CommentId, (u8, StoredComment)> {
    let db = open_db(dir, StoreOptions::default()).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    tree.scan_prefix([keys::COMMENT])
        .map(|entry| {
            let (_, bytes) = entry.unwrap();
            let comment = record::decode(&bytes).unwrap();
            (comment.id, (bytes[0], comment))
        })
        .collect()
}

#[tokio::test]
async fn a_store_of_the_previous_release_reads_as_written_and_takes_compressed_records() {
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    let old = raw_records(dir.path());
    assert_eq!(old.len(), 32);
    assert!(old.values().all(|(version, _)| *version == 2));

    let store = EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
    // The counts the release that wrote the fixture reported for it.
    assert_eq!(
        store.status_counts().await.unwrap(),
        [
            (Status::Approved, 7),
            (Status::Pending, 3),
            (Status::Spam, 21),
            (Status::Trash, 1)
        ]
    );
    for (id, (_, comment)) in &old {
        assert_eq!(store.get(*id).await.unwrap().as_ref(), Some(comment));
    }
    // Its author with two comments: one approved when sent, one sent as spam and approved by
    // a moderator.
    let (ada_comment, ada) = old
        .values()
        .find(|(_, c)| c.submission.author_name == "Ada Lovelace")
        .map(|(_, c)| (c.id, c.email_hash))
        .unwrap();
    let stats = store.author_stats(&ada).await.unwrap();
    assert_eq!((stats.submitted, stats.approved, stats.spam), (2, 2, 1));

    let mut new = sample();
    new.email_hash = ada;
    new.submission.post_id = old[&ada_comment].1.submission.post_id.clone();
    new.decision = None;
    // The fixture's comment sent with idempotency key `retry-1` still holds the key.
    assert!(matches!(
        store.insert(new.clone()).await,
        Err(StoreError::KeyTaken(id)) if old[&id].1.submission.author_name == "Ada Lovelace"
    ));
    new.receipt.idempotency.as_mut().unwrap().key = "retry-2".into();
    new.submission.parent_id = Some(ada_comment);
    store.insert(new.clone()).await.unwrap();
    assert_eq!(store.author_stats(&ada).await.unwrap().submitted, 3);
    assert!(store.check_consistency().await.unwrap().problems.is_empty());
    store.close().await.unwrap();
    drop(store);

    // The directory now says it holds version 3 records, so the previous release refuses it.
    let meta = open_db(dir.path(), StoreOptions::default())
        .unwrap()
        .open_tree("meta")
        .unwrap();
    assert_eq!(
        meta.get(RECORD_VERSION_KEY).unwrap().as_deref(),
        Some(&[RECORD_VERSION][..])
    );
    drop(meta);
    let now = raw_records(dir.path());
    assert_eq!(now[&new.id], (RECORD_VERSION, new));
    for (id, written) in &old {
        assert_eq!(
            &now[id], written,
            "records already stored are left as they were"
        );
    }
}

#[tokio::test]
async fn a_store_of_the_previous_release_converts_to_fjall_with_nothing_lost() {
    use super::{EngineKind, convert_to_fjall};
    use crate::moderation::Action;
    use crate::store::DecisionRequest;

    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    std::fs::write(dir.path().join("hmac.key"), "kept").unwrap();
    let old = raw_records(dir.path());
    let store = EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
    let audit = store.list_audit(None, None, 1000).await.unwrap();
    let labels = store.labels().await.unwrap();
    let counts = store.status_counts().await.unwrap();
    let events = store.events_after(None, 1000).await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let converted = convert_to_fjall(dir.path()).unwrap();
    assert!(converted.entries > 32 * 4, "{converted:?}");
    assert_eq!(EngineKind::found_in(dir.path()), Some(EngineKind::Fjall));
    for sled_file in ["conf", "blobs", "snap.000000000000E1B8"] {
        assert!(!dir.path().join(sled_file).exists(), "{sled_file} removed");
    }
    assert!(dir.path().join("db").is_dir(), "sled's main file replaced");
    assert!(
        open_db(dir.path(), StoreOptions::default()).is_err(),
        "a release from before fjall refuses the directory instead of starting an empty store"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hmac.key")).unwrap(),
        "kept"
    );
    assert_eq!(
        convert_to_fjall(dir.path()).unwrap().entries,
        0,
        "done once"
    );

    let store = EmbeddedStore::open(dir.path(), StoreOptions::default(), 16).unwrap();
    for (id, (_, comment)) in &old {
        assert_eq!(store.get(*id).await.unwrap().as_ref(), Some(comment));
    }
    assert_eq!(store.status_counts().await.unwrap(), counts);
    assert_eq!(store.list_audit(None, None, 1000).await.unwrap(), audit);
    assert_eq!(store.labels().await.unwrap(), labels);
    assert_eq!(store.events_after(None, 1000).await.unwrap(), events);
    assert!(store.check_consistency().await.unwrap().problems.is_empty());
    // A held comment decided now is logged after everything logged before.
    let held = old
        .values()
        .map(|(_, c)| c)
        .find(|c| c.verdict.status == Status::Pending)
        .unwrap();
    store
        .moderate(DecisionRequest {
            id: held.id,
            action: Action::Approve,
            moderator: "m".into(),
            note: String::new(),
            at_ms: crate::comment::now_ms(),
        })
        .await
        .unwrap();
    let after = store.events_after(None, 1000).await.unwrap();
    assert_eq!(after.events.len(), events.events.len() + 1);
    assert!(after.newest > events.newest);
    let audit_now = store.list_audit(None, None, 1000).await.unwrap();
    assert_eq!(audit_now.entries.len(), audit.entries.len() + 1);
    assert_eq!(
        audit_now.entries[1..],
        audit.entries[..],
        "the newest first"
    );
    store.close().await.unwrap();
}

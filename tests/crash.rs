//! No acknowledged comment is lost: the real binary is killed with SIGKILL at random moments
//! while clients submit concurrently, restarted on the same data directory, and every comment
//! whose submission returned OK must be there with consistent indexes.
//!
//! `COMMENTGUARD_CRASH_CYCLES` sets the number of kill/restart cycles (default 10). It runs on
//! each engine of the embedded store.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::comment::CommentId;
use commentguard::store::Storage as _;
use commentguard::store::embedded::{EmbeddedStore, EngineKind, StoreOptions};
use support::{start_binary, submission, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_comments_survive_sigkill_with_fjall() {
    acknowledged_comments_survive_sigkill(EngineKind::Fjall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_comments_survive_sigkill_with_sled() {
    acknowledged_comments_survive_sigkill(EngineKind::Sled).await;
}

/// The server keeps the engine the directory holds, so a sled store is made before the first
/// start, as an earlier release would have left it.
async fn acknowledged_comments_survive_sigkill(engine: EngineKind) {
    let cycles: usize = std::env::var("COMMENTGUARD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        engine,
        ..StoreOptions::default()
    };
    let store = EmbeddedStore::open(dir.path(), options, 1).unwrap();
    store.close().await.unwrap();
    drop(store);
    assert_eq!(EngineKind::found_in(dir.path()), Some(engine));
    let acknowledged: Arc<Mutex<Vec<CommentId>>> = Arc::default();

    for cycle in 0..cycles {
        let (mut child, url) = start_binary(dir.path());
        let client = CommentServiceClient::connect(url).await.unwrap();
        let writers: Vec<_> = (0..16)
            .map(|writer| {
                let mut client = client.clone();
                let acknowledged = Arc::clone(&acknowledged);
                tokio::spawn(async move {
                    for n in 0.. {
                        let mut request = submission(
                            &format!("crash-{cycle}-{}", n % 7),
                            &format!("Cycle {cycle}, writer {writer}, comment {n}."),
                        );
                        request.author_email = format!("w{writer}@example.com");
                        match client.submit_comment(request).await {
                            Ok(answer) => {
                                let id = CommentId::parse(&answer.into_inner().comment_id).unwrap();
                                acknowledged.lock().unwrap().push(id);
                            }
                            Err(_) => return, // the server is gone
                        }
                    }
                })
            })
            .collect();
        // Kill at a different moment in each cycle, from early to well into the load.
        let delay = 30 + (cycle as u64 * 97 + 13) % 250;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for writer in writers {
            within("a writer's end", writer).await.unwrap();
        }
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= cycles * 10,
        "too few acknowledged writes to mean anything: {}",
        acknowledged.len()
    );
    let store = EmbeddedStore::open(dir.path(), Default::default(), 1).unwrap();
    let mut missing = Vec::new();
    for id in &acknowledged {
        if store.get(*id).await.unwrap().is_none() {
            missing.push(*id);
        }
    }
    assert!(
        missing.is_empty(),
        "lost {} acknowledged comments",
        missing.len()
    );
    let consistency = store.check_consistency().await.unwrap();
    assert!(
        consistency.problems.is_empty(),
        "{:?}",
        consistency.problems
    );
    assert!(consistency.comments >= acknowledged.len());
    assert_eq!(
        EngineKind::found_in(dir.path()),
        Some(engine),
        "still {engine:?}"
    );
    eprintln!(
        "{cycles} kill -9 cycles: {} acknowledged comments all present, {} stored in all",
        acknowledged.len(),
        consistency.comments
    );
}

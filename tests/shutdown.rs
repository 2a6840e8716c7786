//! Shutdown loses nothing: SIGTERM while clients submit concurrently. The server exits 0, and
//! each submission in flight either completed (and is stored) or failed (and is not).

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::comment::CommentId;
use commentguard::privacy::EmailHasher;
use commentguard::store::Storage as _;
use commentguard::store::embedded::EmbeddedStore;
use support::{Deadline, start_binary, submission, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start_binary(dir.path());
    let client = CommentServiceClient::connect(url).await.unwrap();

    let stored: Arc<Mutex<Vec<CommentId>>> = Arc::default();
    let failed: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let mut client = client.clone();
            let (stored, failed) = (Arc::clone(&stored), Arc::clone(&failed));
            tokio::spawn(async move {
                for n in 0..100_000 {
                    let mut request = submission("shutdown", &format!("Writer {writer} says {n}."));
                    request.author_email = format!("w{writer}@example.com");
                    let key = (
                        request.post_id.clone(),
                        request.author_email.clone(),
                        request.content.clone(),
                    );
                    match client.submit_comment(request).await {
                        Ok(answer) => stored
                            .lock()
                            .unwrap()
                            .push(CommentId::parse(&answer.into_inner().comment_id).unwrap()),
                        Err(_) => {
                            failed.lock().unwrap().push(key);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // SIGTERM lands while writes are in flight: once the first 200 were acknowledged.
    let deadline = Deadline::start("200 acknowledged submissions before SIGTERM");
    while stored.lock().unwrap().len() < 200 {
        deadline.check();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Deadline::start("the server's exit after SIGTERM");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if deadline.passed() {
            child.kill().unwrap();
            child.wait().unwrap();
            deadline.check();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    for writer in writers {
        within("a writer's end", writer).await.unwrap();
    }

    let stored = stored.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    assert!(!stored.is_empty());
    assert_eq!(failed.len(), 16, "every writer ends on a refused request");
    let store = EmbeddedStore::open(dir.path(), Default::default(), 1).unwrap();
    for id in &stored {
        assert!(
            store.get(*id).await.unwrap().is_some(),
            "acknowledged {id} lost"
        );
    }
    let hasher = EmailHasher::load_or_create(&dir.path().join("hmac.key")).unwrap();
    for (post, email, content) in &failed {
        assert_eq!(
            store
                .find_duplicate(post, &hasher.hash(email), content)
                .await
                .unwrap(),
            None,
            "refused but stored"
        );
    }
    let consistency = store.check_consistency().await.unwrap();
    assert!(
        consistency.problems.is_empty(),
        "{:?}",
        consistency.problems
    );
    assert_eq!(consistency.comments, stored.len());
}

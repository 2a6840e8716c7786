//! A full disk: the data directory on a small tmpfs, filled by concurrent writers. Refused
//! writes are RESOURCE_EXHAUSTED or UNAVAILABLE (never INTERNAL), health says NOT_SERVING,
//! and once the filesystem is grown the server reopens its store by itself, says SERVING,
//! takes comments again, and holds every comment it acknowledged.
//!
//! Needs root (to mount); outside CI it says so and returns, under CI=true it fails.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::store::Storage as _;
use commentguard::store::embedded::{EmbeddedStore, EngineKind};
use support::{Deadline, TestServer, within};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const WRITERS: usize = 8;

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mount<'a>(&'a Path);

impl Drop for Mount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str, remount: bool) -> bool {
    let options = if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size}")
    };
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success())
}

async fn health(channel: Channel) -> ServingStatus {
    let mut client = HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest {
        service: "commentguard.v1.CommentService".to_owned(),
    };
    let reply = within("a health check", client.check(request))
        .await
        .unwrap();
    reply.into_inner().status()
}

/// Submits distinct comments until refused `refusals` times; returns the acknowledged ids
/// and the codes of the refusals.
async fn fill(
    mut client: CommentServiceClient<Channel>,
    writer: usize,
) -> (Vec<String>, Vec<Code>) {
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let deadline = Deadline::start("the disk to fill");
    for n in 0.. {
        let content = format!(
            "Comment {n} of writer {writer}. {}",
            incompressible(writer * 1_000_000 + n)
        );
        let request = support::submission(&format!("post-{writer}"), &content);
        match client.submit_comment(request).await {
            Ok(reply) => acknowledged.push(reply.into_inner().comment_id),
            Err(status) => refused.push(status.code()),
        }
        if refused.len() >= 20 {
            break;
        }
        deadline.check();
    }
    (acknowledged, refused)
}

/// 16 KiB of letters that neither the record compression nor the engine's shrinks much, so
/// the disk fills after a few thousand comments.
fn incompressible(seed: usize) -> String {
    let mut state = seed as u64 ^ 0x9E37_79B9_7F4A_7C15;
    (0..16 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_refused_honestly_and_recovered_from_with_fjall() {
    // fjall's journal files are sparse until written, so a small filesystem fills soonest.
    full_disk(EngineKind::Fjall, "6m").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_refused_honestly_and_recovered_from_with_sled() {
    // sled needs room for its 8 MiB segments to start at all.
    full_disk(EngineKind::Sled, "24m").await;
}

async fn full_disk(engine: EngineKind, size: &str) {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("db");
    std::fs::create_dir(&data).unwrap();
    if !mount_tmpfs(&data, size, false) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot mount a tmpfs (needs root); CI must run this test"
        );
        println!("disk_full: not run: mounting a tmpfs needs root (run as root to test it)");
        return;
    }
    let _mount = Mount(&data);
    let mut config = support::config(&data);
    config.storage_engine = engine;
    let server = TestServer::start(config).await;
    let client = server.client().await;
    let channel = Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(health(channel.clone()).await, ServingStatus::Serving);

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(fill(client.clone(), w)))
        .collect();
    let mut acknowledged = Vec::new();
    let mut codes = BTreeMap::new();
    for writer in writers {
        let (ids, refused) = within("a writer", writer).await.unwrap();
        acknowledged.extend(ids);
        for code in refused {
            *codes.entry(format!("{code:?}")).or_insert(0) += 1;
        }
    }
    println!(
        "disk_full: {} acknowledged; refusals {codes:?}",
        acknowledged.len()
    );
    assert!(!acknowledged.is_empty());
    for code in codes.keys() {
        assert!(
            code == "ResourceExhausted" || code == "Unavailable",
            "a refusal was {code}: {codes:?}"
        );
    }
    assert_eq!(health(channel.clone()).await, ServingStatus::NotServing);

    // Room again: the server reopens its store by itself.
    assert!(mount_tmpfs(&data, "256m", true), "cannot grow the tmpfs");
    let grown = Instant::now();
    let deadline = Deadline::start("health to say SERVING after the disk grew");
    while health(channel.clone()).await != ServingStatus::Serving {
        deadline.check();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "disk_full: SERVING again {:?} after the filesystem grew",
        grown.elapsed()
    );
    let mut client = client;
    let reply = within(
        "a submission after recovery",
        client.submit_comment(support::submission(
            "after",
            "Back to normal after the disk grew.",
        )),
    )
    .await
    .unwrap();
    acknowledged.push(reply.into_inner().comment_id);

    server.stop().await;
    let store = EmbeddedStore::open(&data, Default::default(), 1).unwrap();
    let mut missing = Vec::new();
    for id in &acknowledged {
        let parsed = commentguard::comment::CommentId::parse(id).unwrap();
        if store.get(parsed).await.unwrap().is_none() {
            missing.push(id);
        }
    }
    println!(
        "disk_full: {} acknowledged, {} missing",
        acknowledged.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
    let check = store.check_consistency().await.unwrap();
    store.close().await.unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

//! Durable inserts through the group-commit committer under 1, 16 and 64 concurrent writers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use commentguard::comment::{
    ClientContext, CommentId, Reason, Status, StoredComment, Submission, Verdict, now_ms,
};
use commentguard::store::Storage as _;
use commentguard::store::embedded::{EmbeddedStore, StoreOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn comment(n: u64) -> StoredComment {
    StoredComment {
        id: CommentId::generate(),
        created_at_ms: now_ms(),
        submission: Submission {
            post_id: format!("post-{}", n % 100),
            post_title: None,
            parent_id: None,
            author_name: "Ada Lovelace".into(),
            author_email: format!("writer{n}@example.com"),
            author_url: None,
            content: format!(
                "Comment {n}: a typical remark of about two hundred bytes about the article, \
                 with enough words to look like what people actually write under a post."
            ),
            context: ClientContext::default(),
        },
        verdict: Verdict {
            status: Status::Approved,
            spam_score: 0.02,
            reasons: vec![Reason::classifier("\"thanks\"", -1.2)],
            toxicity: 0.0,
            toxic_spans: Vec::new(),
        },
        model_version: "bench".into(),
        policy_version: "bench".into(),
        email_hash: {
            let mut h = [0; 32];
            h[..8].copy_from_slice(&n.to_be_bytes());
            h
        },
        decision: None,
        receipt: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(async { EmbeddedStore::open(dir.path(), StoreOptions::default(), 256) })
        .unwrap();
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let mut group = c.benchmark_group("store/durable_insert");
    group.measurement_time(Duration::from_secs(5));
    for writers in [1usize, 16, 64] {
        const PER_WRITER: u64 = 32;
        group.throughput(Throughput::Elements(writers as u64 * PER_WRITER));
        group.bench_function(format!("{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let tasks: Vec<_> = (0..writers)
                            .map(|_| {
                                let store = std::sync::Arc::clone(&store);
                                let counter = Arc::clone(&counter);
                                tokio::spawn(async move {
                                    for _ in 0..PER_WRITER {
                                        let n = counter
                                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                        store.insert(comment(n)).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

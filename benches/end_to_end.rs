//! The full service against a no-op twin: the same proto and the same client at the same
//! concurrency, but a handler that answers a fixed verdict without validating, scoring or
//! storing. The ratio of their throughputs says how close the whole pipeline (validation,
//! classifier, rules, durable group-committed storage) comes to the ceiling of tonic here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use commentguard::api::pb;
use commentguard::api::pb::comment_service_client::CommentServiceClient;
use commentguard::api::pb::comment_service_server::CommentServiceServer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tonic::transport::{Channel, Server};

#[path = "common/twin.rs"]
mod twin;
use twin::NoOp;

const CONCURRENCY: usize = 64;
const CONNECTIONS: usize = 2;
const PER_TASK: u64 = 16;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn request() -> pb::SubmitCommentRequest {
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    pb::SubmitCommentRequest {
        post_id: format!("bench-post-{}", n % 100),
        parent_id: String::new(),
        author_name: "Ada Lovelace".into(),
        author_email: format!("bench{n}@example.com"),
        author_url: String::new(),
        content: "Thanks for writing this up. The section on ownership finally made the borrow \
                  checker click for me; I would love a follow-up on async lifetimes."
            .into(),
        context: Some(pb::ClientContext {
            ip: "203.0.113.9".into(),
            user_agent: "Mozilla/5.0".into(),
            referrer: String::new(),
            honeypot: String::new(),
        }),
        idempotency_key: String::new(),
        post_title: String::new(),
    }
}

async fn drive(channels: &[Channel], iters: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|t| {
                let mut client = CommentServiceClient::new(channels[t % channels.len()].clone());
                tokio::spawn(async move {
                    for _ in 0..PER_TASK {
                        client.submit_comment(request()).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
    started.elapsed()
}

async fn connect(url: &str) -> Vec<Channel> {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap();
        channels.push(endpoint.connect().await.unwrap());
    }
    channels
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (real_url, twin_url) = runtime.block_on(async {
        let config = commentguard::Config {
            data_dir: dir.path().to_path_buf(),
            model: None,
            // One IP sends everything, and the same text from many authors: measure the
            // pipeline, not flood refusals and campaign holds.
            flood_interval: 0,
            campaign_min_authors: 0,
            // No console: the bench measures gRPC, and must not need a free port 8080.
            http_listen: commentguard::config::HttpListen::Off,
            ..Default::default()
        };
        let real = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real_url = format!("http://{}", real.local_addr().unwrap());
        tokio::spawn(async move {
            commentguard::server::run(&config, real, std::future::pending()).await
        });
        let twin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let twin_url = format!("http://{}", twin.local_addr().unwrap());
        tokio::spawn(
            Server::builder()
                .add_service(CommentServiceServer::new(NoOp))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(twin)),
        );
        (real_url, twin_url)
    });
    let (real, twin) = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        (connect(&real_url).await, connect(&twin_url).await)
    });

    let measured: Arc<[(AtomicU64, AtomicU64); 2]> = Arc::default();
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(CONCURRENCY as u64 * PER_TASK));
    group.measurement_time(Duration::from_secs(10));
    for (slot, (name, channels)) in [("submit/real", &real), ("submit/no_op_twin", &twin)]
        .into_iter()
        .enumerate()
    {
        let measured = Arc::clone(&measured);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let elapsed = runtime.block_on(drive(channels, iters));
                let (requests, nanos) = &measured[slot];
                requests.fetch_add(iters * CONCURRENCY as u64 * PER_TASK, Ordering::Relaxed);
                nanos.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
                elapsed
            })
        });
    }
    group.finish();
    let rate = |slot: usize| {
        let (requests, nanos) = &measured[slot];
        requests.load(Ordering::Relaxed) as f64 / (nanos.load(Ordering::Relaxed) as f64 / 1e9)
    };
    let (real_rate, twin_rate) = (rate(0), rate(1));
    println!(
        "end_to_end: real {real_rate:.0}/s, no-op twin {twin_rate:.0}/s, ratio {:.1}% \
         (concurrency {CONCURRENCY}, {CONNECTIONS} connections)",
        100.0 * real_rate / twin_rate
    );

    // Latency at a fixed rate of half the real service's throughput, for both servers.
    let rate = (real_rate / 2.0).floor();
    let templates = Arc::new((0..256).map(|_| request()).collect::<Vec<_>>());
    for (name, channels) in [("real", &real), ("no-op twin", &twin)] {
        let report = runtime
            .block_on(commentguard::replay::load::run(
                channels,
                Arc::clone(&templates),
                commentguard::replay::load::LoadOptions {
                    duration: Duration::from_secs(10),
                    concurrency: 1024,
                    rate: Some(rate),
                    max_requests: None,
                    run_id: commentguard::replay::run_id(),
                },
            ))
            .unwrap();
        let l = report.latency_ms;
        println!(
            "fixed rate {rate:.0}/s, {name}: {:.0}/s answered, {} errors, latency ms p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
            report.throughput_per_s, report.errors, l.p50, l.p90, l.p99, l.max
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

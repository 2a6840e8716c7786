//! One client submitting comments back to back to a running server: submissions per second
//! and latency percentiles of a single closed loop.
//!
//! `cargo run --release --example submit_loop -- [ADDR] [COUNT]`

use std::time::Instant;

use commentguard::api::pb;
use commentguard::api::pb::comment_service_client::CommentServiceClient;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let count: usize = args.next().map_or(Ok(5000), |n| n.parse())?;
    let mut client = CommentServiceClient::connect(addr).await?;
    let run = std::process::id();
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..count {
        let request = pb::SubmitCommentRequest {
            post_id: format!("loop-{run}-{}", i % 50),
            author_name: "Loop Tester".into(),
            author_email: format!("tester{run}-{i}@example.com"),
            content: format!(
                "Comment {i}: a typical remark about the article, long enough to look like a real comment."
            ),
            ..Default::default()
        };
        let sent = Instant::now();
        client.submit_comment(request).await?;
        latencies.push(sent.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{count} submissions in {:.2?}: {:.0}/s; latency p50 {:?} p99 {:?} max {:?}",
        elapsed,
        count as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1]
    );
    Ok(())
}

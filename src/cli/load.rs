//! `commentguard load`: bounded load of valid submissions against a running service.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::dataset::Format;
use crate::replay::{self, load};

/// Arguments of `commentguard load`. Only loopback addresses are meant: this is a tool for
/// measuring your own server.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server address.
    #[arg(long, default_value = super::client::DEFAULT_ADDR, env = "COMMENTGUARD_ADDR")]
    pub addr: String,
    /// PEM CA certificate(s) to verify the server's TLS certificate with; `https://`
    /// addresses without it use the system's roots.
    #[arg(long, env = "COMMENTGUARD_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// How long to send, e.g. `10s`, `1m`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Fixed rate in requests per second (open loop); without it, closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many requests, even before the duration is up.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Dataset whose comments are sent (cycled).
    #[arg(long, default_value = "tests/data/youtube-spam/Youtube01-Psy.csv")]
    pub dataset: PathBuf,
    /// Format of the dataset [default: detected].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// The run's id, which names its authors and posts [default: random, so clients started
    /// together against several frontends never send the same authors].
    #[arg(long)]
    pub run_id: Option<u64>,
}

/// Runs `commentguard load`.
///
/// # Errors
/// An unreadable dataset or an unreachable server.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let records = super::replay::read_all(std::slice::from_ref(&args.dataset), args.format)?;
    let templates: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, r)| replay::to_request(r, 0, i))
        .collect();
    let channels =
        super::replay::connect_with(&args.addr, args.tls_ca.as_deref(), args.connections).await?;
    let report = load::run(
        &channels,
        Arc::new(templates),
        load::LoadOptions {
            duration: args.duration,
            concurrency: args.concurrency,
            rate: args.rate,
            max_requests: args.requests,
            run_id: args.run_id.unwrap_or_else(replay::run_id),
        },
    )
    .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        let l = report.latency_ms;
        writeln!(
            out,
            "{} requests, {} errors{} in {:.2}s: {:.0}/s\nlatency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            report.requests,
            report.errors,
            by_code(&report.errors_by_code),
            report.elapsed_s,
            report.throughput_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max
        )?;
    }
    Ok(())
}

/// ` (AlreadyExists 3, Unavailable 1)`, or nothing without errors.
fn by_code(codes: &std::collections::BTreeMap<String, u64>) -> String {
    if codes.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
    format!(" ({})", parts.join(", "))
}

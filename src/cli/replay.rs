//! `commentguard replay`: send labelled datasets through a running service and report its
//! accuracy and speed.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use tonic::transport::Channel;

use crate::dataset::{self, Format, LabelledComment};
use crate::replay::{self, Mode};

/// Arguments of `commentguard replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server address.
    #[arg(long, default_value = super::client::DEFAULT_ADDR, env = "COMMENTGUARD_ADDR")]
    pub addr: String,
    /// PEM CA certificate(s) to verify the server's TLS certificate with; `https://`
    /// addresses without it use the system's roots.
    #[arg(long, env = "COMMENTGUARD_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// A labelled dataset file; repeat for several.
    #[arg(long = "dataset", required = true)]
    pub datasets: Vec<PathBuf>,
    /// Format of every dataset [default: detected from the content].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Submissions in flight at most.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// HTTP/2 connections to spread them over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Use CheckComment: verdicts only, nothing stored.
    #[arg(long, conflicts_with = "unary")]
    pub check_only: bool,
    /// One SubmitComment call per record instead of SubmitComments streams.
    #[arg(long)]
    pub unary: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also draw the spam and ham score distributions and the ROC curve, with the default
    /// thresholds marked, into this PNG file (with --feedback: the learning curve).
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Replay one record at a time in file order and play the moderator after each verdict
    /// (APPROVE held or spammed ham, MARK_SPAM published or held spam); needs --token.
    #[arg(long, requires = "token", conflicts_with_all = ["check_only", "unary"])]
    pub feedback: bool,
    /// The moderator token for --feedback.
    #[arg(long, env = "COMMENTGUARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// With --feedback: records per window of the report's `windows`.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,
}

/// Opens `count` separate HTTP/2 connections to `addr`.
///
/// # Errors
/// When the address is invalid or the server cannot be reached.
pub async fn connect(addr: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    connect_with(addr, None, count).await
}

/// As [`connect`], over TLS as [`super::client::endpoint`] says.
///
/// # Errors
/// When the address is invalid, the CA file unreadable or the server cannot be reached.
pub async fn connect_with(
    addr: &str,
    tls_ca: Option<&std::path::Path>,
    count: usize,
) -> anyhow::Result<Vec<Channel>> {
    let endpoint = super::client::endpoint(addr, tls_ca)?;
    let mut channels = Vec::with_capacity(count.max(1));
    for _ in 0..count.max(1) {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to {addr}: {e}"))?,
        );
    }
    Ok(channels)
}

/// Reads every dataset, in order.
///
/// # Errors
/// The first unreadable file or bad row, named.
pub fn read_all(paths: &[PathBuf], format: Option<Format>) -> anyhow::Result<Vec<LabelledComment>> {
    let mut records = Vec::new();
    for path in paths {
        records.extend(dataset::read(path, format)?);
    }
    Ok(records)
}

/// Runs `commentguard replay`.
///
/// # Errors
/// Unreadable datasets, an unreachable server, or a broken stream.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let records = read_all(&args.datasets, args.format)?;
    let channels = connect_with(&args.addr, args.tls_ca.as_deref(), args.connections).await?;
    let mode = if args.check_only {
        Mode::CheckOnly
    } else if args.unary {
        Mode::Unary
    } else {
        Mode::Stream
    };
    let bar = if !args.json && std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(records.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let tick = || bar.inc(1);
    if args.feedback {
        let token = args.token.as_deref().unwrap_or_default();
        let window = usize::try_from(args.window).unwrap_or(usize::MAX);
        let channel = channels
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("no connection"))?;
        let report =
            replay::feedback::replay_with_feedback(channel, &records, token, window, &tick).await?;
        bar.finish_and_clear();
        if let Some(path) = &args.plot {
            crate::replay::plot::draw_learning_curve(path, &report.windows)?;
        }
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print!("{}", report.render());
        }
        return Ok(());
    }
    let report = replay::replay(&channels, &records, mode, args.concurrency, &tick).await?;
    bar.finish_and_clear();
    if let Some(path) = &args.plot {
        crate::replay::plot::draw(path, &report.scores, crate::policy::Thresholds::default())?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(out, "{}", report.render())?;
    }
    Ok(())
}

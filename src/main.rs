//! The `commentguard` binary: a thin shell over the library.

use std::io::Write as _;

use clap::{Parser, Subcommand};
use commentguard::cli;

/// mimalloc rather than glibc's malloc: see BENCHMARKS.md, "Allocator".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its number in mimalloc 3's `mi_option_t`) and its default
/// there, milliseconds: the option is set only when it reads as that, so a mimalloc that
/// numbers its options otherwise is left alone.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MIMALLOC_3_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Keeps the resident set close to what is in use: no transparent huge pages (a 2 MiB page
/// for every touched corner of mimalloc's arenas: an idle server held 80 MB instead of 33 MB)
/// and freed memory given back at once rather than when its thread next allocates (25 MB
/// more after 300,000 submissions). Throughput did not change (BENCHMARKS.md, "Storage v4").
fn return_memory_promptly() {
    // SAFETY: `prctl(PR_SET_THP_DISABLE)` only sets a flag of this process; `mi_option_set`
    // only stores an option value. Neither touches memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == MIMALLOC_3_PURGE_DELAY_MS {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

/// A comment moderation and spam-filtering gRPC service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC service.
    Serve(cli::serve::Args),
    /// Submit one comment and print the verdict.
    Submit(cli::client::SubmitArgs),
    /// Print the approved comments of a post.
    Thread(cli::client::ThreadArgs),
    /// Replay labelled datasets through a running service and report accuracy and speed.
    Replay(cli::replay::Args),
    /// Load a running service with valid submissions and report throughput and latency.
    Load(cli::load::Args),
    /// Work the moderation queue of a running service (needs a moderator token).
    Queue(cli::queue::Args),
    /// Load a WordPress (WXR) or Disqus export into a running service (needs a moderator token).
    Import(cli::import_export::ImportArgs),
    /// Write every stored comment out as JSON lines or WXR (needs a moderator token).
    Export(cli::import_export::ExportArgs),
    /// Train a spam model from labelled datasets.
    Train(cli::train::Args),
    /// Measure a model (or the training recipe, with --cv) on labelled datasets.
    Eval(cli::eval::Args),
    /// Move a stopped server's sled store (earlier releases) to fjall, in place.
    ConvertStore(cli::convert_store::Args),
}

/// Exit status 0 on success and when the reader of stdout went away (`| head`): the output
/// was not wanted any more, which is not a failure. Any other error is one line on stderr,
/// `error: what: why: …`, and exit status 1.
fn main() -> std::process::ExitCode {
    return_memory_promptly();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Nothing more can be done if stderr is gone too.
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Submit(args) => client_runtime()?.block_on(cli::client::submit(args)),
        Command::Thread(args) => client_runtime()?.block_on(cli::client::thread(args)),
        Command::Replay(args) => client_runtime()?.block_on(cli::replay::run(args)),
        Command::Load(args) => multi_thread_runtime()?.block_on(cli::load::run(args)),
        Command::Queue(args) => client_runtime()?.block_on(cli::queue::run(args)),
        Command::Import(args) => client_runtime()?.block_on(cli::import_export::import(args)),
        Command::Export(args) => client_runtime()?.block_on(cli::import_export::export(args)),
        Command::Train(args) if args.toxicity => cli::toxicity::train(&args),
        Command::Train(args) => cli::train::run(args),
        Command::Eval(args) if args.toxicity => cli::toxicity::eval(&args),
        Command::Eval(args) => cli::eval::run(args),
        Command::ConvertStore(args) => cli::convert_store::run(&args),
    }
}

/// Whether writing the output failed because its reader closed the pipe.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line: some causes (TOML parse errors) span several lines
/// with a source excerpt, which would read as several errors.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn multi_thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

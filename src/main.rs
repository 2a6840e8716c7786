//! The `commentguard` binary: a thin shell over the library.

use clap::{Parser, Subcommand};
use commentguard::cli;

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
    /// Train a spam model from labelled datasets.
    Train(cli::train::Args),
    /// Measure a model (or the training recipe, with --cv) on labelled datasets.
    Eval(cli::eval::Args),
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Submit(args) => client_runtime()?.block_on(cli::client::submit(args)),
        Command::Thread(args) => client_runtime()?.block_on(cli::client::thread(args)),
        Command::Train(args) => cli::train::run(args),
        Command::Eval(args) => cli::eval::run(args),
    }
}

fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

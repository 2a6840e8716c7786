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
    /// Train a spam model from labelled datasets.
    Train(cli::train::Args),
    /// Measure a model (or the training recipe, with --cv) on labelled datasets.
    Eval(cli::eval::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Train(args) => cli::train::run(args),
        Command::Eval(args) => cli::eval::run(args),
    }
}

//! Command-line subcommands; each module owns its clap arguments and its run.

pub mod client;
pub mod eval;
mod export;
pub mod import_export;
pub mod load;
pub mod queue;
pub mod replay;
pub mod serve;
pub mod toxicity;
pub mod train;

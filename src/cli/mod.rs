//! Command-line subcommands beyond `serve`; each module owns its clap arguments and its run.

pub mod client;
pub mod eval;
pub mod train;

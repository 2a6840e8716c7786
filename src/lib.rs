//! commentguard: a comment moderation and spam-filtering gRPC service.
//!
//! # Layout
//! - [`classifier`]: text in, spam probability and its explanation out (pure library).
//! - [`policy`]: site rules and thresholds turn a score into a status with reasons.
//! - [`cli`]: the subcommands of the `commentguard` binary.
//! - [`dataset`]: readers for labelled comment datasets (YouTube CSV, SMS, JSON Lines).
//! - [`metrics`]: confusion matrix and the figures derived from it.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod classifier;
pub mod cli;
pub mod dataset;
pub mod metrics;
pub mod policy;

//! commentguard: a comment moderation and spam-filtering gRPC service.
//!
//! # Layout
//! - [`api`]: the tonic services; the only place protobuf meets domain types.
//! - [`admission`]: the concurrency limit over all connections, with a short wait for a slot.
//! - [`validate`]: field rules and email privacy checks on a submission.
//! - [`classifier`]: text in, spam probability and its explanation out (pure library).
//! - [`scoring`]: the model in service (reloaded on `SIGHUP`) and the online layer learning
//!   from moderators' labels, behind one scorer.
//! - [`pipeline`]: submission in, verdict out — validation, checks, scoring, every rule.
//! - [`plot`]: score distribution and ROC plots.
//! - [`policy`]: every rule and threshold: built-in rules, configured lists, trackers (flood,
//!   campaigns), thresholds; the strictest wins.
//! - [`moderation`]: moderator actions, status transitions, audit entries, queue events.
//! - [`auth`]: moderator tokens, compared in constant time.
//! - [`store`]: the storage seam and its backends (sled embedded, PostgreSQL shared), records,
//!   group commit.
//! - [`backend`]: which store the configuration names, opened with the email key.
//! - [`cluster`]: following the other frontends of a shared store.
//! - [`privacy`]: finding and masking emails; the keyed hash that replaces them in indexes.
//! - [`comment`]: the domain types.
//! - [`config`]: settings from defaults, file, environment and flags.
//! - [`dataset`]: readers for labelled comment datasets (YouTube CSV, SMS, JSON Lines).
//! - [`metrics`]: confusion matrix and the figures derived from it.
//! - [`replay`]: replaying labelled datasets and generating load against a live service.
//! - [`server`]: starts and stops the service.
//! - [`connections`]: accepting connections within bounds (count, first request, idle).
//! - [`tls`]: the listeners' rustls configuration, re-read on `SIGHUP`.
//! - [`retention`]: the periodic purge of expired SPAM and TRASH.
//! - [`error`]: why the service could not start or stopped.
//! - [`cli`]: the subcommands of the `commentguard` binary.
//!
//! # Features
//! - `tools` (default): the command-line tools — [`cli`], [`replay`], [`plot`] and the
//!   dataset readers — with the crates only they need (clap, plotters, indicatif,
//!   hdrhistogram, csv, anyhow, tracing-subscriber). Without it the library is the service
//!   alone.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod admission;
pub mod akismet;
pub mod api;
pub mod app;
pub mod auth;
pub mod classifier;
#[cfg(feature = "tools")]
pub mod cli;
pub mod cluster;
pub mod comment;
pub mod config;
pub mod confusion;
pub mod connections;
pub mod dataset;
pub mod error;
pub mod http;
pub mod import;
pub mod moderation;
pub mod near_duplicate;
pub mod pipeline;
pub mod policy;
pub mod privacy;
pub mod proto;
#[cfg(feature = "tools")]
pub mod replay;
pub mod retention;
pub mod scoring;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod validate;

pub use config::Config;

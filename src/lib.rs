//! commentguard: a comment moderation and spam-filtering gRPC service.
//!
//! # Layout
//! Seven layers; a module imports only its own layer and those below, edges never import each
//! other, and no files import each other in a circle (`tests/architecture.rs` checks all three;
//! `docs/architecture.md` walks a request through them).
//! 1. The command line: [`cli`] (tools) and the binary.
//! 2. The composition root: [`server`] opens the store, builds the application, starts the
//!    listeners and background tasks and stops them.
//! 3. Edges: [`api`] (gRPC: the only place the server converts protobuf to domain types),
//!    [`http`] (console, Akismet-compatible API, metrics and health), [`cluster`] (following
//!    the other frontends of a shared store), [`replay`] (tools: datasets replayed against a
//!    live service, load, plots).
//! 4. The application: [`app`], the state every edge shares and each domain operation once.
//! 5. Domain services: [`pipeline`] (submission in, verdict out), [`policy`] (rules,
//!    thresholds, trackers; the strictest wins), [`classifier`] (text in, spam probability and
//!    explanation out), [`toxicity`] (the abuse score and its spans beside it), [`scoring`] (the model in service and the online layer learning from
//!    moderators), [`import`] (WordPress and Disqus exports), [`retention`] (the purge of
//!    expired SPAM and TRASH), [`admission`] (the in-flight limit), [`config`] (settings from
//!    defaults, file, environment and flags).
//! 6. Storage: [`store`], the seam and its backends (sled embedded, PostgreSQL shared).
//! 7. Domain types and leaf helpers: [`comment`], [`moderation`] (actions, transitions, audit,
//!    queue events), [`validate`], [`privacy`], [`near_duplicate`], [`telemetry`], [`auth`],
//!    [`akismet`] (the endpoint's keys), [`tls`], [`connections`], [`error`], [`dataset`],
//!    [`confusion`] (the confusion matrix), [`proto`] (the generated contract).
//!
//! # Features
//! - `tools` (default): the command-line tools — [`cli`], [`replay`] and the
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
pub mod toxicity;
pub mod validate;

pub use config::Config;

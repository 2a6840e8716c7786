//! One configuration type for the service: built-in defaults, then a TOML file, then
//! `COMMENTGUARD_*` environment variables, then command-line flags — each layer overriding the
//! one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{ModeratorTokens, TokenError};
use crate::policy::Thresholds;
use crate::policy::{EditableRules, RuleLists};
use crate::store::embedded::EngineKind;

/// Everything `commentguard serve` can be told. Every field has a documented default, so an
/// empty file (or none) gives a working service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    /// Address of the HTTP listener (moderator console, `/metrics`, `/healthz`, `/readyz`),
    /// or `off`.
    pub http_listen: HttpListen,
    /// Directory of the embedded database (created when missing); unused with `database_url`.
    pub data_dir: PathBuf,
    /// PostgreSQL connection URL (libpq style, several hosts allowed, e.g.
    /// `postgres://cg@db1:5432,db2:5432/commentguard?target_session_attrs=read-write`).
    /// When set, comments live in that database, so several frontends can share them;
    /// when absent, in the sled database in `data_dir`.
    pub database_url: Option<String>,
    /// Connections each frontend keeps to PostgreSQL at most.
    pub database_pool_size: usize,
    /// The spam model file loaded at start; `None` (the default) serves the shipped model,
    /// built into the binary.
    pub model: Option<PathBuf>,
    /// The toxicity model file loaded at start (`commentguard train --toxicity`); `None` (the
    /// default) serves the shipped one. Reloaded with the spam model on `SIGHUP`.
    pub toxicity_model: Option<PathBuf>,
    /// Hex-encoded key (at least 32 bytes) for the keyed hash of emails. When absent, a key is
    /// generated on first start and kept in `<data_dir>/hmac.key` (mode 0600).
    pub hmac_secret: Option<String>,
    /// Log line format on stderr.
    pub log_format: LogFormat,
    /// Spam-probability thresholds.
    pub thresholds: Thresholds,
    /// A comment with at least this many links is held for a moderator (WordPress's
    /// `comment_max_links`); 0 turns the rule off.
    pub max_links: u32,
    /// Largest accepted request message in bytes; larger ones get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// Most comments the committer writes and flushes as one batch.
    pub commit_batch: usize,
    /// The engine a new data directory is created with (`fjall`, the default, or `sled`). A
    /// directory that already holds data keeps the engine that wrote it.
    pub storage_engine: EngineKind,
    /// The embedded engine's cache in MiB (fjall's block cache, sled's page cache). It bounds
    /// the part of the server's memory that holds stored comments.
    pub storage_cache_mb: u64,
    /// sled only: writes after which the embedded store is reopened in place so that a start
    /// after a crash replays at most that much (0: never). Each reopen pauses the store briefly.
    pub storage_checkpoint_writes: u64,
    /// Deadline for one request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Requests being handled at once, over all connections. One more waits up to
    /// `admission_wait_ms` for a slot, then is refused with RESOURCE_EXHAUSTED instead of
    /// queueing without bound.
    pub max_concurrent_requests: usize,
    /// How long a request may wait for a slot when `max_concurrent_requests` are being
    /// handled, in milliseconds: bursts wait this long, sustained overload is refused.
    pub admission_wait_ms: u64,
    /// Whether the in-flight limit shrinks under a standing queue to what the service completes
    /// within a latency target (`max_concurrent_requests` is then its ceiling), so accepted
    /// requests keep near their normal latency under overload; `false` keeps it fixed.
    pub adaptive_admission: bool,
    /// Requests being handled at once on one connection (same refusal past it).
    pub max_concurrent_per_connection: usize,
    /// HTTP/2 streams one connection may have open at once (announced to the client, which
    /// queues past it).
    pub max_concurrent_streams: u32,
    /// Connections open at once; past it new connections are refused (closed at once).
    pub max_connections: usize,
    /// A new connection must start its first request (TLS handshake included) within this
    /// many milliseconds, or it is closed.
    pub first_request_timeout_ms: u64,
    /// A connection with no request in flight for this many milliseconds is closed.
    pub idle_timeout_ms: u64,
    /// Interval of HTTP/2 keepalive pings, in milliseconds; 0 sends none.
    pub keepalive_interval_ms: u64,
    /// A connection whose peer does not answer a keepalive ping within this many milliseconds
    /// is closed.
    pub keepalive_timeout_ms: u64,
    /// PEM certificate chain to serve TLS with (with `tls_key`); none serves plaintext.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: when set, clients must present a certificate signed by one of
    /// them (mutual TLS).
    pub tls_client_ca: Option<PathBuf>,
    /// After SIGTERM/SIGINT, how long in-flight requests may take to finish, in milliseconds,
    /// before the remaining connections are closed.
    pub shutdown_grace_ms: u64,
    /// Moderators allowed on the moderation API: name → bearer token (at least 16 bytes).
    /// With none, the moderation API refuses every call.
    pub moderator_tokens: ModeratorTokens,
    /// Keys of the Akismet-compatible endpoint: site name → key, or → `{ key, blogs }` to bind
    /// the key to those blog URLs (see [`crate::akismet`]). With none, it answers `invalid`.
    pub akismet_keys: crate::akismet::AkismetKeys,
    /// Fragments (words, names, URLs, emails, IPs) that hold a comment for review.
    pub moderation_keys: Vec<String>,
    /// Fragments that make a comment SPAM.
    pub disallowed_keys: Vec<String>,
    /// Email addresses whose comments are SPAM (kept in memory only as keyed hashes).
    pub banned_emails: Vec<String>,
    /// IP addresses or CIDR ranges whose comments are SPAM.
    pub banned_ips: Vec<String>,
    /// Seconds an email or IP must wait between comments; 0 turns flood control off.
    pub flood_interval: u64,
    /// Hold an author's comments until a moderator has approved one of theirs.
    pub require_prior_approval: bool,
    /// Distinct authors sending the same text within `campaign_window` that make it a
    /// campaign (held with reason `campaign`); 0 turns detection off.
    pub campaign_min_authors: usize,
    /// Seconds within which copies count toward one campaign.
    pub campaign_window: u64,
    /// Posts that take no more comments.
    pub closed_posts: Vec<String>,
    /// Posts whose first comment is older than this many days take no more; 0 never closes.
    pub close_after_days: u64,
    /// Days SPAM and TRASH comments are kept after their last change; 0 keeps them forever.
    pub retention_days: u64,
    /// A policy to try beside the live one (the `[shadow]` section): every stored submission is
    /// also judged by it and `GetStats` compares the two; live verdicts never change. Read at
    /// start only.
    pub shadow: Option<ShadowConfig>,
    /// The file these settings were read from, if any: `SIGHUP` reloads the site rules
    /// from it.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// The shadow policy: the live editable rules with these values replaced (each one left out
/// follows the live rules, including changes made over RPC), and optionally another model.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowConfig {
    /// Spam probability at or above which the shadow calls a comment SPAM.
    pub spam_threshold: Option<f64>,
    /// Spam probability at or above which the shadow holds a comment (a value above the
    /// effective spam threshold acts as that threshold).
    pub pending_threshold: Option<f64>,
    /// The shadow's link limit; 0 turns the rule off.
    pub max_links: Option<u32>,
    /// The shadow's `moderation_keys`, replacing the live list.
    pub moderation_keys: Option<Vec<String>>,
    /// The shadow's `disallowed_keys`, replacing the live list.
    pub disallowed_keys: Option<Vec<String>>,
    /// A model file the shadow scores with instead of the live model (moderators' labels
    /// shift its scores as they shift the live model's).
    pub model: Option<PathBuf>,
}

impl ShadowConfig {
    /// Checks the thresholds given: each in `[0, 1]`, and pending at most spam when both are.
    ///
    /// # Errors
    /// The first value found unusable, named as in the file.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field| ConfigError::InvalidValue {
            field,
            reason: "must be in [0, 1]".to_owned(),
        };
        for (field, value) in [
            ("shadow.spam_threshold", self.spam_threshold),
            ("shadow.pending_threshold", self.pending_threshold),
        ] {
            if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                return Err(invalid(field));
            }
        }
        if let (Some(pending), Some(spam)) = (self.pending_threshold, self.spam_threshold)
            && pending > spam
        {
            return Err(ConfigError::InvalidValue {
                field: "shadow.pending_threshold",
                reason: format!("{pending} is above shadow.spam_threshold ({spam})"),
            });
        }
        Ok(())
    }
}

/// Where the HTTP listener listens: an address, or `off` for no listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum HttpListen {
    /// No HTTP listener.
    Off,
    /// Listen on this address.
    On(SocketAddr),
}

impl std::str::FromStr for HttpListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "off" => Ok(Self::Off),
            addr => addr
                .parse()
                .map(Self::On)
                .map_err(|_| format!("{addr:?} is neither an address (HOST:PORT) nor `off`")),
        }
    }
}

impl TryFrom<String> for HttpListen {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl std::fmt::Display for HttpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::On(addr) => addr.fmt(f),
        }
    }
}

/// Why a configuration cannot be used; `serve` and the `SIGHUP` reload report the same
/// errors for the same mistakes.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Io {
        /// The configuration file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`] (unknown keys included).
    #[error("invalid config file {path}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// What the TOML reader found wrong.
        source: Box<toml::de::Error>,
    },
    /// The spam-probability thresholds are out of range or out of order.
    #[error("thresholds must satisfy 0 <= pending ({pending}) <= spam ({spam}) <= 1")]
    InvalidThresholds {
        /// The configured pending threshold.
        pending: f64,
        /// The configured spam threshold.
        spam: f64,
    },
    /// A moderator token is unusable.
    #[error("invalid moderator tokens")]
    InvalidTokens(#[source] TokenError),
    /// One setting has a value that cannot be used.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The setting: a file key, a flag or an environment variable.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "tools", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// Default listen address: loopback only, so a fresh install is not exposed by accident.
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:50051";
    /// Default HTTP listener: loopback only, like the gRPC one.
    pub const DEFAULT_HTTP_LISTEN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
    /// Default database directory, relative to the working directory.
    pub const DEFAULT_DATA_DIR: &'static str = "./data";
    /// Default for `database_pool_size`: the committer's connection, readers and the
    /// trackers of a busy frontend.
    pub const DEFAULT_DATABASE_POOL_SIZE: usize = 32;
    /// Default link limit, as WordPress's default `comment_max_links`.
    pub const DEFAULT_MAX_LINKS: u32 = crate::policy::DEFAULT_MAX_LINKS;
    /// Default request size limit: far above the 64 KiB comment limit, far below memory trouble.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
    /// Default committer batch size.
    pub const DEFAULT_COMMIT_BATCH: usize = 256;
    /// Default engine cache, sized for a small host: with fjall the server held 88.6 MB after
    /// 1,000,000 comments. (On sled, whose author entries are hit at random, 64 MiB filled
    /// 5 % faster for 100 MB more; BENCHMARKS.md, "Storage v4".)
    pub const DEFAULT_STORAGE_CACHE_MB: u64 = 16;
    /// Default writes between checkpoints of a sled store: at 1,000,000 comments a
    /// start after `kill -9` replayed the whole log since the previous start (1.36 s); with a
    /// reopen every 100,000 writes it took 0.83–1.03 s, every 50,000 0.71 s, for pauses of
    /// 0.3–0.9 s twice as often at full load (BENCHMARKS.md, "Storage v4").
    pub const DEFAULT_STORAGE_CHECKPOINT_WRITES: u64 = 50_000;
    /// Default request deadline.
    pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
    /// Default global concurrency limit. Requests in flight wait for each other (Little's
    /// law: at ~6,000 durable submissions/s under overload on 2 cores, 256 in flight is
    /// ~40 ms), but storage has stalls of tens of milliseconds at normal load: with 64, a
    /// 10-minute soak at half capacity refused up to a few percent of comments once the store
    /// passed ~600,000 of them. Refusing a comment at normal load is worse than waiting under
    /// overload, so the limit stays high. Scale it with the machine.
    pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;
    /// Default wait for a slot once the limit is reached: absorbs a burst, bounds overload.
    pub const DEFAULT_ADMISSION_WAIT_MS: u64 = 10;
    /// Default per-connection concurrency limit.
    pub const DEFAULT_MAX_CONCURRENT_PER_CONNECTION: usize = 256;
    /// Default HTTP/2 streams per connection, as the per-connection request limit.
    pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 256;
    /// Default connection limit. An HTTP/2 connection that has sent its preface holds ~16 KB,
    /// so 4,096 of them hold ~64 MB at most; well under the usual file-descriptor limits of a
    /// service, well above what a few site backends and moderators need.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
    /// Default first-request deadline: a real client sends its first call at once; a flood
    /// of connections that send nothing frees its slots after this.
    pub const DEFAULT_FIRST_REQUEST_TIMEOUT_MS: u64 = 10_000;
    /// Default idle timeout: five minutes, longer than the gaps of a steady client.
    pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 300_000;
    /// Default keepalive ping interval: finds dead peers within about a minute and a half.
    pub const DEFAULT_KEEPALIVE_INTERVAL_MS: u64 = 60_000;
    /// Default keepalive ping timeout.
    pub const DEFAULT_KEEPALIVE_TIMEOUT_MS: u64 = 20_000;
    /// Default drain deadline at shutdown: longer than a request may take.
    pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 15_000;
    /// Default flood interval in seconds, as WordPress's comment flood check.
    pub const DEFAULT_FLOOD_INTERVAL: u64 = 15;
    /// Default campaign size: three different authors with the same text.
    pub const DEFAULT_CAMPAIGN_MIN_AUTHORS: usize = 3;
    /// Default campaign window: one hour.
    pub const DEFAULT_CAMPAIGN_WINDOW: u64 = 3600;
    /// Default retention of SPAM and TRASH, in days.
    pub const DEFAULT_RETENTION_DAYS: u64 = 15;

    /// Reads a TOML file; missing keys keep their defaults. The result is not validated yet,
    /// since later layers (environment, flags) may still change it: see [`Config::load`].
    ///
    /// # Errors
    /// When the file cannot be read or is not valid configuration (unknown keys included).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// Reads a TOML file and validates it, for when the file alone is the configuration
    /// (the `SIGHUP` reload).
    ///
    /// # Errors
    /// As [`Config::from_file`] and [`Config::validate`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config = Self::from_file(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that no type can: thresholds in `[0, 1]` with pending at most
    /// spam, and moderator tokens long enough. One check, so a setting refused at start is
    /// also refused on reload.
    ///
    /// # Errors
    /// The first setting found unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Thresholds {
            pending,
            spam,
            toxicity,
        } = self.thresholds;
        if !((0.0..=1.0).contains(&pending) && (0.0..=1.0).contains(&spam) && pending <= spam) {
            return Err(ConfigError::InvalidThresholds { pending, spam });
        }
        if !(0.0..=1.0).contains(&toxicity) {
            return Err(ConfigError::InvalidValue {
                field: "thresholds.toxicity",
                reason: format!("{toxicity} is not in [0, 1] (0 turns the toxicity hold off)"),
            });
        }
        self.moderator_tokens
            .validate()
            .map_err(ConfigError::InvalidTokens)?;
        if let Some(shadow) = &self.shadow {
            shadow.validate()?;
        }
        if let Some(url) = &self.database_url {
            crate::store::postgres::parse_url(url).map_err(|e| ConfigError::InvalidValue {
                field: "database_url",
                reason: e.to_string(),
            })?;
        }
        if self.database_pool_size < 2 {
            return Err(ConfigError::InvalidValue {
                field: "database_pool_size",
                reason: "at least 2 (one for the committer, one for reads)".into(),
            });
        }
        self.akismet_keys
            .validate()
            .map_err(|e| ConfigError::InvalidValue {
                field: "akismet_keys",
                reason: e.to_string(),
            })?;
        self.tls_files().map(|_| ())
    }

    /// The TLS files, when TLS is configured.
    ///
    /// # Errors
    /// When only one of `tls_cert` and `tls_key` is set, or `tls_client_ca` is set without
    /// them.
    pub fn tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
        let invalid = |field, reason: &str| ConfigError::InvalidValue {
            field,
            reason: reason.to_owned(),
        };
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            })),
            (None, None) if self.tls_client_ca.is_some() => Err(invalid(
                "tls_client_ca",
                "client certificates need TLS: set tls_cert and tls_key too",
            )),
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid("tls_key", "tls_cert is set without its key")),
            (None, Some(_)) => Err(invalid("tls_cert", "tls_key is set without a certificate")),
        }
    }

    /// The bounds on connections.
    pub fn connection_limits(&self) -> crate::connections::ConnectionLimits {
        crate::connections::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            first_request: Duration::from_millis(self.first_request_timeout_ms),
            idle: Duration::from_millis(self.idle_timeout_ms),
        }
    }

    /// The rules a moderator can also change while the service runs, as configured.
    pub fn editable_rules(&self) -> EditableRules {
        EditableRules {
            lists: self.rule_lists(),
            max_links: self.max_links,
            thresholds: self.thresholds,
        }
    }

    /// The rule lists to compile into [`crate::policy::SiteRules`].
    pub fn rule_lists(&self) -> RuleLists {
        RuleLists {
            moderation_keys: self.moderation_keys.clone(),
            disallowed_keys: self.disallowed_keys.clone(),
            banned_emails: self.banned_emails.clone(),
            banned_ips: self.banned_ips.clone(),
            closed_posts: self.closed_posts.clone(),
        }
    }

    /// The request deadline as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The drain deadline at shutdown as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: Self::DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 50051))),
            http_listen: HttpListen::On(Self::DEFAULT_HTTP_LISTEN),
            data_dir: PathBuf::from(Self::DEFAULT_DATA_DIR),
            database_url: None,
            database_pool_size: Self::DEFAULT_DATABASE_POOL_SIZE,
            model: None,
            toxicity_model: None,
            hmac_secret: None,
            log_format: LogFormat::Text,
            thresholds: Thresholds::default(),
            max_links: Self::DEFAULT_MAX_LINKS,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            commit_batch: Self::DEFAULT_COMMIT_BATCH,
            storage_engine: EngineKind::default(),
            storage_cache_mb: Self::DEFAULT_STORAGE_CACHE_MB,
            storage_checkpoint_writes: Self::DEFAULT_STORAGE_CHECKPOINT_WRITES,
            request_timeout_ms: Self::DEFAULT_REQUEST_TIMEOUT_MS,
            max_concurrent_requests: Self::DEFAULT_MAX_CONCURRENT_REQUESTS,
            admission_wait_ms: Self::DEFAULT_ADMISSION_WAIT_MS,
            adaptive_admission: true,
            max_concurrent_per_connection: Self::DEFAULT_MAX_CONCURRENT_PER_CONNECTION,
            max_concurrent_streams: Self::DEFAULT_MAX_CONCURRENT_STREAMS,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            first_request_timeout_ms: Self::DEFAULT_FIRST_REQUEST_TIMEOUT_MS,
            idle_timeout_ms: Self::DEFAULT_IDLE_TIMEOUT_MS,
            keepalive_interval_ms: Self::DEFAULT_KEEPALIVE_INTERVAL_MS,
            keepalive_timeout_ms: Self::DEFAULT_KEEPALIVE_TIMEOUT_MS,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            shutdown_grace_ms: Self::DEFAULT_SHUTDOWN_GRACE_MS,
            moderator_tokens: ModeratorTokens::default(),
            akismet_keys: crate::akismet::AkismetKeys::default(),
            moderation_keys: Vec::new(),
            disallowed_keys: Vec::new(),
            banned_emails: Vec::new(),
            banned_ips: Vec::new(),
            flood_interval: Self::DEFAULT_FLOOD_INTERVAL,
            require_prior_approval: false,
            campaign_min_authors: Self::DEFAULT_CAMPAIGN_MIN_AUTHORS,
            campaign_window: Self::DEFAULT_CAMPAIGN_WINDOW,
            closed_posts: Vec::new(),
            close_after_days: 0,
            retention_days: Self::DEFAULT_RETENTION_DAYS,
            shadow: None,
            file: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config: Config = toml::from_str("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), Config::DEFAULT_LISTEN);
    }

    #[test]
    fn file_overrides_and_rejects_unknown_keys() {
        let config: Config = toml::from_str("max_links = 5\n[thresholds]\nspam = 0.8\n").unwrap();
        assert_eq!(config.max_links, 5);
        assert_eq!(config.thresholds.spam, 0.8);
        assert_eq!(config.thresholds.pending, Thresholds::DEFAULT_PENDING);
        assert!(toml::from_str::<Config>("max_link = 5").is_err());
        let config: Config = toml::from_str("http_listen = \"off\"").unwrap();
        assert_eq!(config.http_listen, HttpListen::Off);
        let config: Config = toml::from_str("http_listen = \"0.0.0.0:9090\"").unwrap();
        assert_eq!(config.http_listen.to_string(), "0.0.0.0:9090");
        assert!(toml::from_str::<Config>("http_listen = \"nowhere\"").is_err());
        assert_eq!(Config::default().http_listen.to_string(), "127.0.0.1:8080");
        let config: Config = toml::from_str(
            "flood_interval = 0\nmoderation_keys = [\"casino\"]\n[moderator_tokens]\nalice = \"0123456789abcdef\"\n",
        )
        .unwrap();
        assert_eq!(config.flood_interval, 0);
        assert_eq!(config.moderation_keys, ["casino"]);
        assert_eq!(
            config.moderator_tokens.authenticate("0123456789abcdef"),
            Some("alice")
        );
    }

    #[test]
    fn validate_refuses_thresholds_out_of_range_or_order() {
        assert!(Config::default().validate().is_ok());
        for (pending, spam) in [(0.9, 0.5), (-0.1, 0.5), (0.5, 1.1), (f64::NAN, 0.9)] {
            let config = Config {
                thresholds: Thresholds {
                    spam,
                    pending,
                    ..Thresholds::default()
                },
                ..Config::default()
            };
            assert!(
                matches!(
                    config.validate(),
                    Err(ConfigError::InvalidThresholds { .. })
                ),
                "{pending} {spam}"
            );
        }
    }

    #[test]
    fn a_shadow_section_is_read_and_checked() {
        let config: Config = toml::from_str(
            "[shadow]\nspam_threshold = 0.5\nmoderation_keys = [\"poker\"]\nmodel = \"m.json\"\n",
        )
        .unwrap();
        let shadow = config.shadow.clone().unwrap();
        assert_eq!(shadow.spam_threshold, Some(0.5));
        assert_eq!(shadow.pending_threshold, None);
        assert_eq!(
            shadow.moderation_keys.as_deref(),
            Some(&["poker".to_owned()][..])
        );
        assert_eq!(shadow.model.as_deref(), Some(Path::new("m.json")));
        assert!(config.validate().is_ok());
        assert_eq!(Config::default().shadow, None);
        assert!(toml::from_str::<Config>("[shadow]\nbanned_ips = []\n").is_err());
        for bad in [
            "[shadow]\nspam_threshold = 1.5\n",
            "[shadow]\nspam_threshold = 0.3\npending_threshold = 0.4\n",
        ] {
            let config: Config = toml::from_str(bad).unwrap();
            assert!(
                matches!(config.validate(), Err(ConfigError::InvalidValue { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_needs_both_files() {
        let config: Config = toml::from_str("tls_cert = \"c.pem\"\n").unwrap();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::InvalidValue {
                field: "tls_key",
                ..
            })
        ));
        let config: Config = toml::from_str("tls_client_ca = \"ca.pem\"\n").unwrap();
        assert!(config.validate().is_err());
        let config: Config = toml::from_str(
            "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ntls_client_ca = \"ca.pem\"\n",
        )
        .unwrap();
        let files = config.tls_files().unwrap().unwrap();
        assert_eq!(files.client_ca.as_deref(), Some(Path::new("ca.pem")));
    }

    #[test]
    fn validate_refuses_short_tokens() {
        let config: Config = toml::from_str("[moderator_tokens]\nalice = \"short\"\n").unwrap();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::InvalidTokens(_))
        ));
    }

    #[test]
    fn load_names_the_file_and_checks_the_values() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = Config::load(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }), "{err}");
        assert!(err.to_string().contains("missing.toml"), "{err}");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "max_link = 5\n").unwrap();
        assert!(matches!(Config::load(&bad), Err(ConfigError::Parse { .. })));
        std::fs::write(&bad, "[thresholds]\nspam = 0.2\npending = 0.5\n").unwrap();
        assert!(matches!(
            Config::load(&bad),
            Err(ConfigError::InvalidThresholds { .. })
        ));
        std::fs::write(&bad, "max_links = 5\n").unwrap();
        assert_eq!(
            Config::load(&bad).unwrap().file.as_deref(),
            Some(bad.as_path())
        );
    }
}

//! `commentguard serve`: settings from file, environment and flags, logging, signals.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::auth::ModeratorTokens;
use crate::config::{Config, ConfigError, HttpListen, LogFormat};

/// Arguments of `commentguard serve`. Each flag can also come from the environment variable
/// named in its help; flags win over the environment, which wins over the file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TOML configuration file; keys as in docs/operations.md (Configuration).
    #[arg(long, env = "COMMENTGUARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, env = "COMMENTGUARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the moderator console, /metrics and health endpoints, or `off`
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "COMMENTGUARD_HTTP_LISTEN", value_name = "ADDR|off")]
    pub http_listen: Option<HttpListen>,
    /// Database directory [default: ./data].
    #[arg(long, env = "COMMENTGUARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (several hosts allowed): store comments there instead of DATA_DIR, so
    /// several frontends can share them.
    #[arg(
        long,
        env = "COMMENTGUARD_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Spam model file [default: the shipped model, built into the binary].
    #[arg(long, env = "COMMENTGUARD_MODEL")]
    pub model: Option<PathBuf>,
    /// Toxicity model file [default: the shipped toxicity model, built into the binary].
    #[arg(long, env = "COMMENTGUARD_TOXICITY_MODEL")]
    pub toxicity_model: Option<PathBuf>,
    /// Hex key (≥ 32 bytes) for hashing emails [default: generated into DATA_DIR/hmac.key].
    #[arg(long, env = "COMMENTGUARD_HMAC_SECRET", hide_env_values = true)]
    pub hmac_secret: Option<String>,
    /// Log format on stderr [default: text].
    #[arg(long, value_enum, env = "COMMENTGUARD_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Hold comments with at least this many links; 0 disables [default: 2].
    #[arg(long, env = "COMMENTGUARD_MAX_LINKS")]
    pub max_links: Option<u32>,
    /// Spam probability at or above which a comment is SPAM [default: 0.90].
    #[arg(long, env = "COMMENTGUARD_SPAM_THRESHOLD")]
    pub spam_threshold: Option<f64>,
    /// Spam probability at or above which a comment is held [default: 0.50].
    #[arg(long, env = "COMMENTGUARD_PENDING_THRESHOLD")]
    pub pending_threshold: Option<f64>,
    /// A moderator allowed on the moderation API, as NAME=TOKEN; repeatable. Adds to the
    /// file's and the environment's moderators.
    #[arg(long = "moderator-token", value_name = "NAME=TOKEN")]
    pub moderator_tokens: Vec<String>,
    /// Moderators as `alice=TOKEN1,bob=TOKEN2`.
    #[arg(
        long,
        env = "COMMENTGUARD_MODERATOR_TOKENS",
        hide = true,
        hide_env_values = true
    )]
    pub moderator_token_list: Option<String>,
    /// A key of the Akismet-compatible endpoint, as SITE=KEY; repeatable. Adds to the file's
    /// `[akismet_keys]`; such a key accepts any blog URL.
    #[arg(long = "akismet-key", value_name = "NAME=KEY")]
    pub akismet_keys: Vec<String>,
    /// Seconds between comments from one email or IP; 0 disables [default: 15].
    #[arg(long, env = "COMMENTGUARD_FLOOD_INTERVAL")]
    pub flood_interval: Option<u64>,
    /// Days SPAM and TRASH are kept; 0 keeps them [default: 15].
    #[arg(long, env = "COMMENTGUARD_RETENTION_DAYS")]
    pub retention_days: Option<u64>,
    /// PEM certificate chain: serve over TLS (with --tls-key).
    #[arg(long, env = "COMMENTGUARD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "COMMENTGUARD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: require client certificates signed by one (mutual TLS).
    #[arg(long, env = "COMMENTGUARD_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Connections open at once; more are refused [default: 4096].
    #[arg(long, env = "COMMENTGUARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
}

impl Args {
    /// The effective configuration: defaults, then the file, then these values, validated
    /// once all layers are applied (a flag may correct the file).
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or a setting is unusable.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        self.override_locations(&mut config);
        self.override_tuning(&mut config);
        self.add_credentials(&mut config)?;
        config.validate()?;
        Ok(config)
    }

    /// Applies the flags saying where the service listens and where it finds its data, its
    /// model and its TLS files.
    fn override_locations(&self, config: &mut Config) {
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(http_listen) = self.http_listen {
            config.http_listen = http_listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        if let Some(model) = &self.model {
            config.model = Some(model.clone());
        }
        if let Some(model) = &self.toxicity_model {
            config.toxicity_model = Some(model.clone());
        }
        for (flag, field) in [
            (&self.tls_cert, &mut config.tls_cert),
            (&self.tls_key, &mut config.tls_key),
            (&self.tls_client_ca, &mut config.tls_client_ca),
        ] {
            if flag.is_some() {
                field.clone_from(flag);
            }
        }
    }

    /// Applies the flags tuning how the service logs, judges and limits.
    fn override_tuning(&self, config: &mut Config) {
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        if let Some(max_links) = self.max_links {
            config.max_links = max_links;
        }
        if let Some(spam) = self.spam_threshold {
            config.thresholds.spam = spam;
        }
        if let Some(pending) = self.pending_threshold {
            config.thresholds.pending = pending;
        }
        if let Some(seconds) = self.flood_interval {
            config.flood_interval = seconds;
        }
        if let Some(days) = self.retention_days {
            config.retention_days = days;
        }
        if let Some(max) = self.max_connections {
            config.max_connections = max;
        }
    }

    /// Applies the HMAC secret and adds the moderators' tokens and the Akismet keys, naming
    /// the flag or variable of an entry that does not parse.
    fn add_credentials(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(secret) = &self.hmac_secret {
            config.hmac_secret = Some(secret.clone());
        }
        if let Some(list) = &self.moderator_token_list {
            let from_env =
                ModeratorTokens::parse_list(list).map_err(|e| ConfigError::InvalidValue {
                    field: "COMMENTGUARD_MODERATOR_TOKENS",
                    reason: e.to_string(),
                })?;
            config.moderator_tokens.extend(from_env);
        }
        for entry in &self.moderator_tokens {
            config
                .moderator_tokens
                .add_entry(entry)
                .map_err(|e| ConfigError::InvalidValue {
                    field: "--moderator-token",
                    reason: e.to_string(),
                })?;
        }
        for entry in &self.akismet_keys {
            config
                .akismet_keys
                .add_entry(entry)
                .map_err(|e| ConfigError::InvalidValue {
                    field: "--akismet-key",
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }
}

/// Sends logs to stderr with a `RUST_LOG`-style filter (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the server until SIGINT or SIGTERM.
///
/// # Errors
/// Configuration, startup or serving failures.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.resolve()?;
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        crate::server::run(&config, listener, shutdown_signal())
            .await
            .map_err(anyhow::Error::from)
    })
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM. The SIGTERM handler is installed at
/// once, not when the server first polls this, so a SIGTERM during startup is not fatal.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        match terminate {
            Some(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            None => {
                let _ = interrupt.await;
            }
        }
        #[cfg(not(unix))]
        let _ = interrupt.await;
        tracing::info!("shutdown requested; draining");
    }
}

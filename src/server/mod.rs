//! Starting and stopping the service: one entry point shared by `main` and the tests.
//!
//! [`run`] goes through named steps: [`open`] the state (model, key, store, rules, learner),
//! start the background tasks, [`serve`] until the shutdown signal and the drain deadline,
//! then [`close`] (stop the tasks, commit and flush what is queued, snapshot the store).

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::admission::AdmissionLayer;
use crate::api::pb::comment_service_server::CommentServiceServer;
use crate::api::pb::moderation_service_server::ModerationServiceServer;
use crate::api::{CommentApi, ModerationApi, oversize_as_resource_exhausted, pb};
use crate::app::App;
use crate::config::Config;
use crate::connections::{self, ActivityService};
use crate::pipeline::{Parts, Pipeline, stored_rules};
use crate::scoring::{Live, Scorer};
use crate::telemetry::RpcMetricsService;
use crate::tls::{Protocol, ServerTls};

mod backend;
mod error;

use backend::Backend;
pub use backend::HMAC_KEY_FILE;
pub use error::ServeError;

use crate::moderation::WATCH_BUFFER;
use crate::retention::PURGE_EVERY;
const DAY_SECONDS: u64 = 24 * 60 * 60;
/// Who the audit names for rule changes made by reloading the configuration file.
pub const CONFIG_FILE_EDITOR: &str = "config-file";

/// Serves the gRPC API on `listener` until `shutdown` resolves, then drains in-flight
/// requests, waits for every pending write to be flushed, and closes the database.
///
/// # Errors
/// When the configuration is invalid, the data directory, key or model cannot be opened, or
/// the server fails.
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    config.validate()?;
    let (tls, http_tls) = match config.tls_files()? {
        Some(files) => (
            Some(Arc::new(ServerTls::load(files.clone(), Protocol::Grpc)?)),
            Some(Arc::new(ServerTls::load(files, Protocol::Http1)?)),
        ),
        None => (None, None),
    };
    let admission = AdmissionLayer::new(
        config.max_concurrent_requests,
        Duration::from_millis(config.admission_wait_ms),
        config.adaptive_admission,
    );
    let (opened, closing) = open(config, &admission).await?;
    // The console, metrics and health listener stops taking requests when `closing` is set.
    // It is bound before the listening line, so a taken HTTP port fails the start instead.
    let http = match crate::http::start(
        config.http_listen,
        config.connection_limits(),
        Arc::clone(&opened.app),
        http_tls.clone(),
    )
    .await
    {
        Ok(http) => http,
        Err(e) => {
            close(config, opened).await?;
            return Err(e.into());
        }
    };
    let reloadable = [tls.clone(), http_tls].into_iter().flatten().collect();
    let tasks = Background::start(config, &opened.app, reloadable);
    let address = listener.local_addr()?;
    warn_if_exposed("moderation API", address, tls.is_some());
    if let Some(http) = &http {
        warn_if_exposed("console", http.address, http.tls);
    }
    tracing::info!(
        %address,
        model = opened.app.pipeline.scorer().model_version(),
        "listening"
    );
    // Scripts wait for this line; a closed stdout must not stop the service.
    let _ = writeln!(std::io::stdout(), "commentguard listening on {address}");
    if let Some(http) = &http {
        http.announce();
    }
    let served = serve(
        config,
        connections::incoming(listener, config.connection_limits(), tls),
        Arc::clone(&opened.app),
        Limits { admission, closing },
        shutdown,
    )
    .await;
    if let Some(http) = http {
        http.stopped(config.shutdown_grace()).await;
    }
    tasks.stop().await;
    close(config, opened).await?;
    served
}

/// What [`open`] makes and [`close`] takes apart.
struct Opened {
    app: Arc<App>,
    backend: Backend,
}

/// Loads the model and key, opens the store, compiles the rules and rebuilds the learner.
/// Also returns the switch that tells open watch streams the server is closing.
async fn open(
    config: &Config,
    admission: &AdmissionLayer,
) -> Result<(Opened, watch::Sender<bool>), ServeError> {
    let named = |path: &Option<std::path::PathBuf>, shipped: &str| {
        path.as_ref()
            .map_or_else(|| shipped.to_owned(), |p| p.display().to_string())
    };
    let toxicity =
        Live::load(config.toxicity_model.clone()).map_err(|source| ServeError::Model {
            model: named(
                &config.toxicity_model,
                crate::toxicity::SHIPPED_TOXICITY_MODEL_NAME,
            ),
            source,
        })?;
    let scorer =
        Scorer::load(config.model.clone(), toxicity).map_err(|source| ServeError::Model {
            model: named(&config.model, crate::classifier::SHIPPED_MODEL_NAME),
            source,
        })?;
    tracing::info!(
        model = scorer.model_version(),
        from = scorer.model_source(),
        toxicity = scorer.toxicity_version(),
        toxicity_from = scorer.toxicity_source(),
        "spam and toxicity models loaded"
    );
    let backend = Backend::open(config).await?;
    let store = Arc::clone(&backend.store);
    admission.slots().follow_store_pauses(store.paused());
    // Rules changed while serving (over RPC or by a reload) were stored and win over the file.
    let editable = match stored_rules(store.as_ref(), config.thresholds.toxicity)
        .await
        .map_err(ServeError::StoredRules)?
    {
        Some(stored) => stored,
        None => config.editable_rules(),
    };
    let rules = editable
        .compile(&backend.hasher)
        .map_err(ServeError::Rules)?;
    let parts = Parts {
        store: Arc::clone(&store),
        scorer: Arc::new(scorer),
        hasher: backend.hasher.clone(),
        rules,
    };
    let (closing, closing_rx) = watch::channel(false);
    let app = Arc::new(App {
        admission: admission.slots(),
        store: Arc::clone(&store),
        pipeline: Arc::new(
            Pipeline::new(parts, config)
                .with_shadow(config.shadow.as_ref())
                .map_err(ServeError::Shadow)?,
        ),
        events: broadcast::channel(WATCH_BUFFER).0,
        moderators: config.moderator_tokens.clone(),
        akismet_keys: config.akismet_keys.clone(),
        closing: closing_rx,
        relearning: tokio::sync::Mutex::new(()),
    });
    app.relearn_all().await.map_err(ServeError::Labels)?;
    if app.moderators.is_empty() {
        tracing::warn!(
            "no moderator tokens configured: the moderation API refuses every call \
             (set COMMENTGUARD_MODERATOR_TOKENS or --moderator-token NAME=TOKEN)"
        );
    }
    let opened = Opened { app, backend };
    Ok((opened, closing))
}

/// The tasks that run beside the server: reloading on `SIGHUP`, the retention purge and the
/// pruning of the queue's event log.
struct Background {
    reloader: JoinHandle<()>,
    retention: JoinHandle<()>,
    /// Follows the other frontends of a shared store.
    follower: Option<JoinHandle<()>>,
}

impl Background {
    fn start(config: &Config, app: &Arc<App>, tls: Vec<Arc<ServerTls>>) -> Self {
        let pipeline = Arc::clone(&app.pipeline);
        let reloader = tokio::spawn(reload_on_sighup(pipeline, config.file.clone(), tls));
        // Always running: even without retention, the queue's event log is pruned.
        let retention = tokio::spawn(crate::retention::run(
            Arc::clone(&app.store),
            (config.retention_days > 0)
                .then(|| Duration::from_secs(config.retention_days * DAY_SECONDS)),
            crate::store::EventWindow::DEFAULT,
            PURGE_EVERY,
        ));
        let follower = app
            .store
            .remote_changes()
            .map(|changes| tokio::spawn(crate::cluster::follow(Arc::clone(app), changes)));
        Self {
            reloader,
            retention,
            follower,
        }
    }

    async fn stop(self) {
        let tasks = [self.reloader, self.retention]
            .into_iter()
            .chain(self.follower);
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// What bounds the server while it runs and stops it.
struct Limits {
    /// The in-flight limit over all connections (stream items take their slots from it too).
    admission: AdmissionLayer,
    /// Tells open watch streams the server is closing.
    closing: watch::Sender<bool>,
}

/// Serves every gRPC service until `shutdown`, then drains in-flight requests for at most
/// the configured grace period.
async fn serve(
    config: &Config,
    incoming: tokio_stream::wrappers::ReceiverStream<std::io::Result<connections::Conn>>,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let Limits { admission, closing } = limits;
    let comments = CommentServiceServer::new(CommentApi::new(Arc::clone(&app)))
        .max_decoding_message_size(config.max_message_bytes);
    let moderation = ModerationServiceServer::new(ModerationApi::new(Arc::clone(&app)))
        .max_decoding_message_size(config.max_message_bytes);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    // Set before serving, so the first health check already has an answer.
    let writable = app.store.writable();
    let writable_now = *writable.borrow();
    set_health(&health_reporter, writable_now).await;
    let health_task = tokio::spawn(report_health(health_reporter, writable));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    drop(app);

    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    // Past the limits, requests are refused (RESOURCE_EXHAUSTED) rather than queued without
    // bound: per connection at once (load shedding), over all connections after a short wait
    // for a slot. Latency and memory stay bounded under overload. Connections themselves are
    // bounded by `connections::incoming` (count, first request, idle) and keepalive pings.
    let keepalive = (config.keepalive_interval_ms > 0)
        .then(|| Duration::from_millis(config.keepalive_interval_ms));
    let server = Server::builder()
        .timeout(config.request_timeout())
        .load_shed(true)
        .concurrency_limit_per_connection(config.max_concurrent_per_connection.max(1))
        .max_concurrent_streams(config.max_concurrent_streams.max(1))
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(Duration::from_millis(config.keepalive_timeout_ms)))
        .layer(tower::layer::layer_fn(ActivityService::new))
        .layer(tower::layer::layer_fn(RpcMetricsService::new))
        .layer(tower::util::MapResponseLayer::new(
            oversize_as_resource_exhausted,
        ))
        .layer(admission)
        .add_service(health)
        .add_service(reflection)
        .add_service(comments)
        .add_service(moderation)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            // Watch streams never end by themselves: end them so draining can finish.
            let _ = closing.send(true);
            let _ = signalled.send(());
        });
    let grace = config.shutdown_grace();
    let drain_deadline = async move {
        match on_signal.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    let served = tokio::select! {
        served = server => served,
        () = drain_deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; closing the remaining connections");
            Ok(())
        }
    };
    health_task.abort();
    Ok(served?)
}

/// Keeps the health service saying what the store can do: `SERVING` while it can write,
/// `NOT_SERVING` while it cannot (a full disk), so load balancers send comments elsewhere.
/// The store's [`Storage::writable`] is the one link between where failures are detected
/// (the committer) and what health reports.
async fn report_health(
    reporter: tonic_health::server::HealthReporter,
    mut writable: tokio::sync::watch::Receiver<bool>,
) {
    while writable.changed().await.is_ok() {
        let now = *writable.borrow_and_update();
        set_health(&reporter, now).await;
    }
}

/// `SERVING` for the server and the comment service when the store can write, else
/// `NOT_SERVING`.
async fn set_health(reporter: &tonic_health::server::HealthReporter, writable: bool) {
    use tonic::server::NamedService as _;
    use tonic_health::ServingStatus;
    let status = if writable {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for service in ["", CommentServiceServer::<CommentApi>::NAME] {
        reporter.set_service_status(service, status).await;
    }
    tracing::info!(?status, "health");
}

/// Commits and flushes what is queued, then closes the store (see [`Backend::close`]).
async fn close(config: &Config, opened: Opened) -> Result<(), ServeError> {
    released(opened.app).await;
    // No new request reaches the handlers any more: commit what is queued, then flush.
    opened.backend.close(config).await?;
    tracing::info!("stopped");
    Ok(())
}

/// How long the last connection tasks may take to let go of the application at shutdown.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Drops this handle on the application and waits (at most [`RELEASE_WAIT`]) until the
/// connection tasks that still hold one have dropped theirs: a served connection's task ends
/// a moment after the server stops waiting for it. Once `run` returns, a sled data directory
/// is free for the next process to open.
async fn released(app: Arc<App>) {
    let held = Arc::downgrade(&app);
    drop(app);
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    while held.strong_count() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if held.strong_count() > 0 {
        tracing::warn!("the application is still in use at shutdown; closing the store anyway");
    }
}

/// On every `SIGHUP`, until aborted: reloads the model file and, when the service was started
/// with a configuration file, recompiles the site lists from it; re-reads the TLS certificates
/// of both listeners. Whatever does not load leaves what is in force in place.
async fn reload_on_sighup(
    pipeline: Arc<Pipeline>,
    file: Option<std::path::PathBuf>,
    tls: Vec<Arc<ServerTls>>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reloading by signal is off");
            return;
        };
        while hangups.recv().await.is_some() {
            match pipeline.scorer().reload_model() {
                Ok(model) => tracing::info!(model = model.version(), "model reloaded"),
                Err(e) => {
                    let cause = crate::error::Chain(&e);
                    tracing::error!(%cause, "model reload failed; keeping the current model")
                }
            }
            match pipeline.scorer().reload_toxicity() {
                Ok(model) => tracing::info!(model = model.version(), "toxicity model reloaded"),
                Err(e) => {
                    let cause = crate::error::Chain(&e);
                    tracing::error!(%cause, "toxicity model reload failed; keeping the current one")
                }
            }
            if let Some(file) = &file {
                reload_rules(&pipeline, file).await;
            }
            for tls in &tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificates reloaded"),
                    Err(e) => {
                        let cause = crate::error::Chain(&e);
                        tracing::error!(%cause, "TLS reload failed; keeping the current certificates")
                    }
                }
            }
        }
    }
}

/// Reads the editable rules (lists, link limit, thresholds) from the configuration file
/// (checked as at start) and puts them in force as a change by `config-file`, stored and
/// audited like one made over RPC: the latest change wins.
async fn reload_rules(pipeline: &Pipeline, file: &std::path::Path) {
    let config = match Config::load(file) {
        Ok(config) => config,
        Err(e) => {
            let cause = crate::error::Chain(&e);
            tracing::error!(%cause, "site rules reload failed; keeping the current rules");
            return;
        }
    };
    match pipeline
        .update_rules(config.editable_rules(), None, CONFIG_FILE_EDITOR)
        .await
    {
        Ok(rules) => tracing::info!(version = %rules.version, "site rules reloaded"),
        Err(e) => {
            let cause = crate::error::Chain(&e);
            tracing::error!(%cause, "site rules reload failed; keeping the current rules")
        }
    }
}

/// Logs a loud warning when moderator tokens (and comments' emails) would cross a network
/// in plaintext: the moderation API or the console on an address other than loopback,
/// without TLS.
fn warn_if_exposed(what: &str, address: std::net::SocketAddr, tls: bool) {
    if !tls && !address.ip().is_loopback() {
        tracing::warn!(
            %address,
            listener = what,
            "!!! SERVING WITHOUT TLS ON A NON-LOOPBACK ADDRESS: moderator tokens and authors' \
             emails travel in plaintext; pass --tls-cert and --tls-key (or listen on 127.0.0.1 \
             behind a TLS proxy) !!!"
        );
        eprintln!(
            "WARNING: commentguard serves the {what} on {address} WITHOUT TLS; \
             moderator tokens travel in plaintext. Pass --tls-cert FILE --tls-key FILE."
        );
    }
}

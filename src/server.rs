//! Starting and stopping the service: one entry point shared by `main` and the tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::admission::AdmissionLayer;
use crate::api::pb::comment_service_server::CommentServiceServer;
use crate::api::pb::moderation_service_server::ModerationServiceServer;
use crate::api::{CommentApi, ModerationApi, OversizeAsResourceExhausted, Shared, pb};
use crate::config::Config;
use crate::pipeline::{Parts, Pipeline};
use crate::policy::SiteRules;
use crate::privacy::EmailHasher;
use crate::scoring::Scorer;
use crate::store::Committer;
use crate::store::{Store, StoreOptions};

/// Name of the generated HMAC key file inside the data directory.
pub const HMAC_KEY_FILE: &str = "hmac.key";

/// Queue events buffered for watchers; one further behind than this lags (and is told).
pub const WATCH_BUFFER: usize = 1024;
/// How often the retention task looks for expired SPAM and TRASH.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
const DAY_SECONDS: u64 = 24 * 60 * 60;

/// On every `SIGHUP`, until aborted: reloads the model file and, when the service was started
/// with a configuration file, recompiles the site lists from it. Whatever does not load leaves
/// what is in force in place.
async fn reload_on_sighup(pipeline: Arc<Pipeline>, file: Option<std::path::PathBuf>) {
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
                    tracing::error!(cause = %e, "model reload failed; keeping the current model")
                }
            }
            if let Some(file) = &file {
                reload_lists(&pipeline, file);
            }
        }
    }
}

/// Recompiles the site lists from the configuration file and puts them in force.
fn reload_lists(pipeline: &Pipeline, file: &std::path::Path) {
    let compiled = Config::from_file(file).and_then(|c| {
        SiteRules::compile(&c.rule_lists(), pipeline.hasher()).map_err(anyhow::Error::from)
    });
    match compiled {
        Ok(lists) => {
            pipeline.replace_lists(lists);
            tracing::info!("site rules reloaded");
        }
        Err(e) => {
            tracing::error!(cause = %e, "site rules reload failed; keeping the current rules")
        }
    }
}

/// Deletes SPAM and TRASH older than `keep` now and every [`PURGE_EVERY`], until aborted.
async fn purge_expired(committer: Committer, keep: Duration) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    loop {
        ticks.tick().await;
        let cutoff = crate::comment::now_ms().saturating_sub(keep.as_millis() as u64);
        match committer.purge_expired(cutoff).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired spam and trash purged"),
            Err(e) => tracing::error!(cause = %e, "retention purge failed"),
        }
    }
}

/// Serves the gRPC API on `listener` until `shutdown` resolves, then drains in-flight
/// requests, waits for every pending write to be flushed, and closes the database.
///
/// # Errors
/// When the data directory, key or model cannot be opened, or the server fails.
pub async fn run(
    config: &Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let scorer = Scorer::load(config.model.clone()).with_context(|| {
        format!(
            "cannot load the spam model {}; pass --model FILE or train one with `commentguard train`",
            config.model.display()
        )
    })?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let hasher = match &config.hmac_secret {
        Some(hex_key) => EmailHasher::from_hex(hex_key)?,
        None => EmailHasher::load_or_create(&config.data_dir.join(HMAC_KEY_FILE))?,
    };
    let options = StoreOptions {
        cache_bytes: config.storage_cache_mb.saturating_mul(1024 * 1024),
    };
    let store = Store::open(&config.data_dir, options)
        .with_context(|| format!("cannot open the database in {}", config.data_dir.display()))?;
    let (committer, committer_task) = store.start_committer(config.commit_batch);

    let rules = SiteRules::compile(&config.rule_lists(), &hasher).context("invalid site rules")?;
    config
        .moderator_tokens
        .validate()
        .context("invalid moderator tokens")?;
    let labels = store.labels().context("cannot read moderator labels")?;
    scorer.rebuild(labels.iter().map(|l| (l.comment_id, l.label, l.text())));
    let (events, _) = broadcast::channel(WATCH_BUFFER);
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let retention = (config.retention_days > 0).then(|| {
        tokio::spawn(purge_expired(
            committer.clone(),
            Duration::from_secs(config.retention_days * DAY_SECONDS),
        ))
    });
    let pipeline = Arc::new(Pipeline::new(
        Parts {
            store: store.clone(),
            committer: committer.clone(),
            scorer: Arc::new(scorer),
            hasher,
            lists: rules,
        },
        config,
    ));
    let reloader = tokio::spawn(reload_on_sighup(Arc::clone(&pipeline), config.file.clone()));
    let shared = Arc::new(Shared {
        store: store.clone(),
        committer,
        pipeline,
        events,
        moderators: config.moderator_tokens.clone(),
        closing: closing_rx,
    });
    if shared.moderators.is_empty() {
        tracing::warn!(
            "no moderator tokens configured: the moderation API refuses every call \
             (set COMMENTGUARD_MODERATOR_TOKENS or --moderator-token NAME=TOKEN)"
        );
    }
    let comments = CommentServiceServer::new(CommentApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(config.max_message_bytes);
    let moderation = ModerationServiceServer::new(ModerationApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(config.max_message_bytes);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<CommentServiceServer<CommentApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        model = shared.pipeline.scorer().model_version(),
        "listening"
    );
    // Bound before the listening line, so a taken HTTP port fails the start instead.
    let http = crate::http::start(config.http_listen, Arc::clone(&shared)).await?;
    println!("commentguard listening on {address}");
    if let Some(http) = &http {
        http.announce();
    }
    drop(shared);

    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    // Past the limits, requests are refused (RESOURCE_EXHAUSTED) rather than queued without
    // bound: per connection at once (load shedding), over all connections after a short wait
    // for a slot. Latency and memory stay bounded under overload.
    let serve = Server::builder()
        .timeout(config.request_timeout())
        .load_shed(true)
        .concurrency_limit_per_connection(config.max_concurrent_per_connection.max(1))
        .layer(crate::telemetry::RpcMetricsLayer)
        .layer(OversizeAsResourceExhausted)
        .layer(AdmissionLayer::new(
            config.max_concurrent_requests,
            Duration::from_millis(config.admission_wait_ms),
        ))
        .add_service(health)
        .add_service(reflection)
        .add_service(comments)
        .add_service(moderation)
        // No Nagle: a gRPC answer leaves as several small writes, and waiting for ACKs between
        // them adds the peer's delayed-ACK time (~40 ms) to every request.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                shutdown.await;
                // Watch streams never end by themselves: end them so draining can finish.
                let _ = closing.send(true);
                let _ = signalled.send(());
            },
        );
    let grace = config.shutdown_grace();
    let drain_deadline = async move {
        match on_signal.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = serve => served?,
        () = drain_deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "drain deadline passed; closing the remaining connections");
        }
    }

    if let Some(http) = http {
        http.stopped(grace).await;
    }
    reloader.abort();
    if let Some(retention) = retention {
        retention.abort();
        let _ = retention.await;
    }
    // No new request reaches the handlers any more: commit what is queued, then flush.
    committer_task.stop().await;
    store.flush()?;
    reloader.await.ok();
    let started = std::time::Instant::now();
    match store.close_with_snapshot(&config.data_dir, options) {
        Ok(true) => tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "storage snapshot written for a fast next start"
        ),
        Ok(false) => tracing::debug!("storage still in use; no snapshot at shutdown"),
        Err(e) => tracing::warn!(cause = %e, "no storage snapshot at shutdown"),
    }
    tracing::info!("stopped");
    Ok(())
}

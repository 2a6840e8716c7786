//! Starting and stopping the service: one entry point shared by `main` and the tests.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::api::pb::comment_service_server::CommentServiceServer;
use crate::api::{CommentApi, OversizeAsResourceExhausted, Shared, pb};
use crate::config::Config;
use crate::live_model::LiveModel;
use crate::policy::Policy;
use crate::privacy::EmailHasher;
use crate::store::{Store, StoreOptions};

/// Name of the generated HMAC key file inside the data directory.
pub const HMAC_KEY_FILE: &str = "hmac.key";

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
    let model = LiveModel::load(config.model.clone()).with_context(|| {
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
    let store = Store::open(&config.data_dir, StoreOptions::default())
        .with_context(|| format!("cannot open the database in {}", config.data_dir.display()))?;
    let (committer, committer_task) = store.start_committer(config.commit_batch);

    let model = Arc::new(model);
    let reloader = tokio::spawn(Arc::clone(&model).reload_on_sighup());
    let shared = Arc::new(Shared {
        store: store.clone(),
        committer,
        model: Arc::clone(&model),
        hasher,
        policy: Policy {
            thresholds: config.thresholds,
            max_links: config.max_links,
        },
    });
    let comments = CommentServiceServer::new(CommentApi::new(Arc::clone(&shared)))
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
        model = model.get().version(),
        "listening"
    );
    println!("commentguard listening on {address}");
    drop(shared);

    let (signalled, on_signal) = tokio::sync::oneshot::channel();
    // Past the limits, requests are refused at once (RESOURCE_EXHAUSTED) rather than queued:
    // load shedding keeps latency and memory bounded under overload.
    let serve = Server::builder()
        .timeout(config.request_timeout())
        .load_shed(true)
        .concurrency_limit_per_connection(config.max_concurrent_per_connection.max(1))
        .layer(OversizeAsResourceExhausted)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.max_concurrent_requests.max(1),
        ))
        .add_service(health)
        .add_service(reflection)
        .add_service(comments)
        // No Nagle: a gRPC answer leaves as several small writes, and waiting for ACKs between
        // them adds the peer's delayed-ACK time (~40 ms) to every request.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                shutdown.await;
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

    reloader.abort();
    // No new request reaches the handlers any more: commit what is queued, then flush.
    committer_task.stop().await;
    store.flush()?;
    tracing::info!("stopped");
    Ok(())
}

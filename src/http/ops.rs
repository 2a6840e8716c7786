//! What operators and orchestrators read: `/metrics`, `/healthz`, `/readyz`, and the embedded
//! script and stylesheet.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::Console;
use crate::telemetry::{self, StatusLabel};

/// The console's script, embedded in the binary.
const SCRIPT: &str = include_str!("assets/console.js");
/// The console's stylesheet, embedded in the binary.
const STYLESHEET: &str = include_str!("assets/console.css");

/// `GET /metrics`: every series, current-state gauges refreshed first. No login, and nothing
/// private in it: labels come from fixed sets.
pub async fn metrics(State(console): State<Console>) -> impl IntoResponse {
    let m = telemetry::metrics();
    let app = &console.app;
    if let Ok(counts) = app.store.status_counts().await {
        for (status, count) in counts {
            m.queue_depth
                .get_or_create(&StatusLabel {
                    status: status.as_str(),
                })
                .set(count as i64);
        }
    }
    m.watchers.set(app.events.receiver_count() as i64);
    m.set_model(app.pipeline.scorer().model_version());
    m.set_shadow(app.pipeline.shadow_snapshot());
    let site = app.pipeline.scorer().site_model().figures();
    m.set_site_model(site.labels, site.version, site.running_accuracy);
    (
        [(header::CONTENT_TYPE, telemetry::CONTENT_TYPE)],
        m.encode(),
    )
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the store answers reads and can write, a model is loaded, and the service is
/// not closing.
pub async fn readyz(State(console): State<Console>) -> (StatusCode, &'static str) {
    let app = &console.app;
    if *app.closing.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "closing\n");
    }
    let probe = crate::comment::CommentId::from_bytes([0; 16]);
    if app.store.get(probe).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n");
    }
    // Like the gRPC health service: not ready while the store cannot write (full disk,
    // failed device), until it recovers.
    if !*app.store.writable().borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "store not writable\n");
    }
    if app.pipeline.scorer().model_version().is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no model\n");
    }
    (StatusCode::OK, "ready\n")
}

/// `GET /assets/console.js`.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        SCRIPT,
    )
}

/// `GET /assets/console.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLESHEET,
    )
}

//! The HTTP listener: the moderator console (server-rendered pages, one embedded script and
//! stylesheet), `/metrics` for Prometheus and `/healthz` + `/readyz` for orchestrators. It runs
//! on the gRPC server's runtime over the same [`App`] and stops with it.

mod actions;
mod akismet;
mod audit;
mod authors;
mod error;
mod listener;
mod live;
mod ops;
mod queue;
mod session;
mod stats;
mod views;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

use crate::app::App;
use crate::config::HttpListen;
use crate::connections::{self, ActivityService, ConnInfo, ConnectionLimits};
use crate::tls::ServerTls;
pub use session::Sessions;

/// Nothing but this origin: no inline script, no third-party anything.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Why the HTTP listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configured address could not be bound.
    #[error("cannot listen for HTTP on {address}")]
    Listen {
        /// The configured `http_listen` address.
        address: SocketAddr,
        /// Why it could not be bound.
        source: std::io::Error,
    },
    /// The bound socket could not be used.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What every handler of the console gets.
#[derive(Debug, Clone)]
pub struct Console {
    /// The service's state, shared with the gRPC handlers.
    pub app: Arc<App>,
    /// Logged-in moderators and failed login attempts.
    pub sessions: Arc<Sessions>,
    /// Whether the listener speaks TLS itself (session cookies are then `Secure`).
    pub tls: bool,
}

/// The running HTTP listener.
#[derive(Debug)]
pub struct HttpServer {
    /// The address it is bound to.
    pub address: SocketAddr,
    /// Whether it speaks TLS.
    pub tls: bool,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Says where the console is, in the log and on stdout (after the gRPC listening line).
    pub fn announce(&self) {
        let scheme = if self.tls { "https" } else { "http" };
        tracing::info!(address = %self.address, scheme, "console listening");
        // Scripts and tests wait for this line; a closed stdout must not stop the service.
        let _ = writeln!(
            std::io::stdout(),
            "commentguard console on {scheme}://{}",
            self.address
        );
    }

    /// Waits for the listener to finish its requests (it stops taking new ones once the
    /// service is closing), at most `grace`; then closes what is left.
    pub async fn stopped(self, grace: Duration) {
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!("HTTP connections still open at the drain deadline; closing them");
            task.abort();
            // Wait for the serving task to be dropped; connection tasks it spawned may hold the
            // application a moment longer (the server waits for them before closing the store).
            let _ = task.await;
        }
    }
}

/// Binds `listen` and serves the console there (over TLS when `tls` is given, each connection
/// within `limits`) until the service starts closing; `None` when the listener is off.
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(
    listen: HttpListen,
    limits: ConnectionLimits,
    app: Arc<App>,
    tls: Option<Arc<ServerTls>>,
) -> Result<Option<HttpServer>, StartError> {
    let HttpListen::On(addr) = listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            address: addr,
            source,
        })?;
    let address = listener.local_addr()?;
    let closing = app.closing.clone();
    let console = Console {
        app,
        sessions: Arc::new(Sessions::default()),
        tls: tls.is_some(),
    };
    let app = router(console)
        .layer(tower::layer::layer_fn(ActivityService::new))
        .layer(middleware::from_fn(listener::connection_extensions));
    let incoming = connections::incoming(listener, limits, tls.clone());
    let listener = listener::BoundedListener::new(incoming, address);
    let task = tokio::spawn(serve_until_closing(listener, app, closing));
    Ok(Some(HttpServer {
        address,
        tls: tls.is_some(),
        task,
    }))
}

/// Serves `app` on `listener`, each request knowing its connection, until `closing`.
async fn serve_until_closing(
    listener: listener::BoundedListener,
    app: Router,
    mut closing: watch::Receiver<bool>,
) {
    let app = app.into_make_service_with_connect_info::<ConnInfo>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = closing.wait_for(|closing| *closing).await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(cause = %e, "HTTP listener failed");
    }
}

/// Every route of the listener.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/queue", get(queue::queue_page))
        .route("/moderate", post(actions::moderate))
        .route("/bulk", post(actions::bulk))
        .route("/undo", post(actions::undo))
        .route("/comment/{id}", get(authors::comment_page))
        .route("/author/{id}", get(authors::author_page))
        .route("/block", post(authors::block))
        .route("/search", post(authors::search))
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route("/events", get(live::events))
        .route("/stats", get(stats::stats_page))
        .route("/audit", get(audit::audit_page))
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/1.1/verify-key", post(akismet::verify_key))
        .route("/1.1/get-subscription", post(akismet::get_subscription))
        .route("/1.1/test", get(akismet::test))
        .route("/1.1/comment-check", post(akismet::comment_check))
        .route("/1.1/submit-spam", post(akismet::submit_spam))
        .route("/1.1/submit-ham", post(akismet::submit_ham))
        .route("/1.1/usage-limit", post(akismet::usage_limit))
        .route(
            "/1.2/usage-limit",
            get(akismet::usage_limit).post(akismet::usage_limit),
        )
        .route("/assets/console.js", get(ops::script))
        .route("/assets/console.css", get(ops::stylesheet))
        .fallback(|| async { error::HttpError::NotFound })
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// Headers on every answer: the CSP, no sniffing, no framing, no referrer, and no caching of
/// anything but the static assets.
async fn security_headers(request: Request, next: Next) -> Response {
    let asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The console's state, for extractors.
impl axum::extract::FromRef<Console> for Arc<App> {
    fn from_ref(console: &Console) -> Self {
        Arc::clone(&console.app)
    }
}

//! Accepting connections with bounds: at most `max_connections` open at once, a deadline for
//! the TLS handshake and the first request, and an idle timeout.
//!
//! # Policy
//! - Past `max_connections`, a new connection is accepted and closed at once (refused); open
//!   connections are never closed to make room. Refusing new ones keeps every answer in flight
//!   intact, and the deadlines below reclaim the slots of clients that hold connections
//!   without using them, so a flood of idle connections holds slots for seconds, not forever.
//! - A connection that has not started a request `first_request` after it was accepted (TLS
//!   handshake included) is closed.
//! - A connection with no request in flight for `idle` is closed. gRPC clients reconnect on
//!   their next call.
//!
//! - A plain connection is handed to the server only once its client has started a request:
//!   said something past the HTTP/2 preface, or sent a whole HTTP/1.1 request head (any real
//!   client does at once). Until then it waits in a small task, so a flood of connections
//!   that send the preface, or half a request head, and nothing more costs sockets and the
//!   bytes sent, not the server's per-connection buffers (~24 KB each in HTTP/2's codec,
//!   ~28 KB in HTTP/1.1's).
//!
//! The memory an attacker can hold is thus about `max_connections` × a few KB for connections
//! that say nothing, or × the server's buffers for ones that start a request and stall.
//!
//! Requests are counted by [`ActivityLayer`], which finds the connection's [`Activity`] in the
//! request extensions (put there through [`tonic::transport::server::Connected`]) and holds it
//! busy until the response body has been sent in full, so long streams are not idle.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http;

use crate::tls::ServerTls;

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; more are refused.
    pub max_connections: usize,
    /// Time from accept to the first request (TLS handshake included).
    pub first_request: Duration,
    /// Time without a request in flight after which a connection is closed.
    pub idle: Duration,
}

/// Connections accepted but not yet handed to the server (handshakes in progress are not
/// counted here; they hold a connection slot).
const READY_QUEUE: usize = 64;

/// Accepts on `listener` until the returned stream is dropped, yielding connections within
/// `limits`, over TLS when `tls` is given.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: Option<Arc<ServerTls>>,
) -> ReceiverStream<io::Result<Conn>> {
    let (ready, stream) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(listener, limits, tls, ready));
    ReceiverStream::new(stream)
}

async fn accept_loop(
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: Option<Arc<ServerTls>>,
    ready: mpsc::Sender<io::Result<Conn>>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refused = AtomicU64::new(0);
    loop {
        let (tcp, remote) = tokio::select! {
            () = ready.closed() => return,
            accepted = accept_backing_off(&listener) => accepted,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            let count = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if count.is_power_of_two() {
                tracing::warn!(
                    refused = count,
                    max_connections = limits.max_connections,
                    "connection limit reached; refusing new connections"
                );
            }
            drop(tcp);
            continue;
        };
        // No Nagle: a gRPC answer leaves as several small writes, and waiting for ACKs
        // between them adds the peer's delayed-ACK time (~40 ms) to every request.
        let _ = tcp.set_nodelay(true);
        let opened = Instant::now();
        let pending = Pending {
            remote,
            slot,
            opened,
            limits,
        };
        match &tls {
            None => {
                // Waiting for a first request happens here, in a small task, so a client that
                // connects and sends only the HTTP/2 preface or half a request head costs a
                // socket and what it sent, not the server's per-connection buffers.
                let ready = ready.clone();
                tokio::spawn(async move {
                    let deadline = opened + limits.first_request;
                    if let Some(said) = until_request_starts(&tcp, deadline).await {
                        let _ = ready
                            .send(Ok(pending.into_conn(Stream::Plain(tcp), said)))
                            .await;
                    }
                });
            }
            Some(tls) => {
                // Handshakes run beside the accept loop, so a slow one delays no one else.
                let acceptor = tls.acceptor();
                let ready = ready.clone();
                tokio::spawn(async move {
                    let deadline = opened + limits.first_request;
                    match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let conn = pending.into_conn(Stream::Tls(Box::new(stream)), Vec::new());
                            let _ = ready.send(Ok(conn)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(cause = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// The next connection on `listener`. A failed accept (out of file descriptors and the like)
/// is logged and retried after a pause instead of spinning.
pub(crate) async fn accept_backing_off(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(pair) => return pair,
            Err(e) => {
                tracing::warn!(cause = %e, address = ?listener.local_addr().ok(), "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A connection between accept and the end of its handshake.
struct Pending {
    remote: SocketAddr,
    slot: OwnedSemaphorePermit,
    opened: Instant,
    limits: ConnectionLimits,
}

/// The HTTP/2 connection preface: a client sends it before anything else, and an idle-flood
/// client sends nothing more.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Most bytes of an HTTP/1.1 request head read here; a longer one goes to the server, which
/// refuses it.
const HEAD_LIMIT: usize = 16 * 1024;

/// Whether `said` holds the start of a request the server must see now: something past the
/// HTTP/2 preface, or a whole HTTP/1.1 request head (a half-sent head waits here).
fn request_started(said: &[u8]) -> bool {
    if PREFACE.starts_with(said) {
        return false;
    }
    if said.starts_with(PREFACE) {
        return true;
    }
    // A bare `\n\n` ends a head too for lenient servers; the server decides what it accepts.
    said.len() >= HEAD_LIMIT
        || said.windows(4).any(|w| w == b"\r\n\r\n")
        || said.windows(2).any(|w| w == b"\n\n")
}

/// Reads from `tcp` until its client has started a request ([`request_started`]); returns
/// what was read, for the server to read first. `None` when the client closed, failed, or
/// started nothing by `deadline`.
async fn until_request_starts(tcp: &TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut said = Vec::new();
    loop {
        tokio::time::timeout_at(deadline, tcp.readable())
            .await
            .ok()?
            .ok()?;
        let mut chunk = [0u8; 1024];
        match tcp.try_read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => said.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
        if request_started(&said) {
            return Some(said);
        }
    }
}

impl Pending {
    /// The connection, with `said` (bytes already read from it) to be read first.
    fn into_conn(self, stream: Stream, said: Vec<u8>) -> Conn {
        let activity = Arc::new(Activity::new(self.opened));
        let first_check = self.opened + self.limits.first_request;
        Conn {
            stream,
            said,
            info: ConnInfo {
                remote: self.remote,
                activity,
            },
            limits: self.limits,
            check: Box::pin(tokio::time::sleep_until(first_check)),
            _slot: self.slot,
        }
    }
}

/// The byte stream of a connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection: holds its slot until dropped and ends itself (as a read error)
/// when it misses its first-request deadline or stays idle too long.
pub struct Conn {
    stream: Stream,
    /// Bytes read while waiting for the first request, not yet read by the server.
    said: Vec<u8>,
    info: ConnInfo,
    limits: ConnectionLimits,
    check: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("tls", &matches!(self.stream, Stream::Tls(_)))
            .finish_non_exhaustive()
    }
}

/// What the server knows of a connection, in every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    activity: Arc<Activity>,
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl Conn {
    /// What the server knows of this connection (for servers that put it in requests
    /// themselves, as the HTTP listener does).
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// Whether the connection has outlived its deadlines; otherwise arms the timer for the
    /// next check, so an idle connection is woken to close.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        while self.check.as_mut().poll(cx).is_ready() {
            match self.info.activity.deadline(&self.limits) {
                Some(at) if at > Instant::now() => self.check.as_mut().reset(at),
                Some(_) => return true,
                // Requests in flight: look again one idle period from now.
                None => self.check.as_mut().reset(Instant::now() + self.limits.idle),
            }
        }
        false
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle past its deadline",
            )));
        }
        if !self.said.is_empty() && buf.remaining() > 0 {
            let n = self.said.len().min(buf.remaining());
            buf.put_slice(&self.said[..n]);
            self.said.drain(..n);
            if self.said.is_empty() {
                self.said = Vec::new();
            }
            return Poll::Ready(Ok(()));
        }
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Requests of one connection: how many started, how many are in flight, when the last ended.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    started: AtomicU64,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last request ended.
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new(opened: Instant) -> Self {
        Self {
            opened,
            started: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    /// When the connection expires as things stand; `None` while requests are in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.started.load(Ordering::Acquire) == 0 {
            return Some(self.opened + limits.first_request);
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last_end = Duration::from_millis(self.last_end_ms.load(Ordering::Acquire));
        Some(self.opened + last_end + limits.idle)
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.started.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }
}

/// A request in flight on a connection; ends it when dropped.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let since_open = self.0.opened.elapsed().as_millis() as u64;
        self.0.last_end_ms.fetch_max(since_open, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks each request busy on its connection until its response body is done (put around
/// the services with `tower::layer::layer_fn(ActivityService::new)`).
#[derive(Debug, Clone)]
pub struct ActivityService<S> {
    inner: S,
}

impl<S> ActivityService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for ActivityService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<BusyBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let busy = request
            .extensions()
            .get::<ConnInfo>()
            .map(|info| info.activity.begin());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|inner| BusyBody { inner, _busy: busy }))
        })
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
#[derive(Debug)]
pub struct BusyBody<B> {
    inner: B,
    _busy: Option<Busy>,
}

impl<B> http_body::Body for BusyBody<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Default> Default for BusyBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
            _busy: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_starts_past_the_preface_or_with_a_whole_head() {
        assert!(!request_started(b""));
        assert!(!request_started(&PREFACE[..10]));
        assert!(!request_started(PREFACE));
        assert!(request_started(&[PREFACE, &[0, 0, 0, 4]].concat()));
        assert!(!request_started(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(request_started(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(request_started(&vec![b'a'; HEAD_LIMIT]));
    }

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_connections: 4,
        first_request: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_requests() {
        let opened = Instant::now();
        let activity = Arc::new(Activity::new(opened));
        assert_eq!(
            activity.deadline(&LIMITS),
            Some(opened + LIMITS.first_request)
        );
        let busy = activity.begin();
        assert_eq!(activity.deadline(&LIMITS), None, "in flight: never idle");
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(busy);
        let idle_at = activity.deadline(&LIMITS).unwrap();
        assert_eq!(idle_at, opened + Duration::from_secs(100) + LIMITS.idle);
    }
}

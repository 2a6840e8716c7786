//! The HTTP listener's connections, under the same bounds as the gRPC listener's
//! ([`crate::connections`]): a cap on connections open at once, a deadline for the first
//! request (TLS handshake included, request headers included: a request counts once its headers
//! are in), and an idle timeout. A client that opens connections and sends half a request holds
//! each for seconds, not forever; long responses (the console's live events) are in flight, not
//! idle.

use std::io;
use std::net::SocketAddr;

use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use futures_util::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use crate::connections::{Conn, ConnInfo};

/// Accepted connections, as axum's server takes them.
#[derive(Debug)]
pub struct BoundedListener {
    incoming: ReceiverStream<io::Result<Conn>>,
    local: SocketAddr,
}

impl BoundedListener {
    /// Serves the connections `incoming` yields; `local` is the bound address.
    pub fn new(incoming: ReceiverStream<io::Result<Conn>>, local: SocketAddr) -> Self {
        Self { incoming, local }
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.incoming.next().await {
                Some(Ok(conn)) => {
                    let remote = conn.info().remote;
                    return (conn, remote);
                }
                Some(Err(e)) => tracing::debug!(cause = %e, "HTTP connection not accepted"),
                // The accept loop ended (the service is closing): accept nothing more.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl Connected<IncomingStream<'_, BoundedListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, BoundedListener>) -> Self {
        stream.io().info().clone()
    }
}

/// Puts the connection's [`ConnInfo`] where the activity layer finds it, and its peer address
/// where handlers read it (`ConnectInfo<SocketAddr>`).
pub async fn connection_extensions(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(info)) = request.extensions().get::<ConnectInfo<ConnInfo>>().cloned() {
        request.extensions_mut().insert(ConnectInfo(info.remote));
        request.extensions_mut().insert(info);
    }
    next.run(request).await
}

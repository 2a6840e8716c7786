//! The no-op twin of `benches/end_to_end.rs` as its own server process, so the real service
//! and the twin can be loaded the same way, one after the other, by `commentguard load`
//! (see `scripts/latency.sh`). Prints `listening on ADDR` like `commentguard serve`.
//!
//! `cargo run --release --example noop_twin -- [ADDR (default 127.0.0.1:0)]`

use commentguard::api::pb::comment_service_server::CommentServiceServer;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

#[path = "../benches/common/twin.rs"]
mod twin;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    // The same socket setting as the real server: no Nagle delay on answers.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .add_service(CommentServiceServer::new(twin::NoOp))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

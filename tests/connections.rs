//! Connection bounds under a flood of idle connections: the limit holds, idle connections are
//! closed at their first-request deadline, and clients keep getting answers.

mod support;

use std::time::Duration;

use support::{Deadline, TestServer, closed_by_server, within};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Opens a connection that sends the HTTP/2 preface and nothing more.
async fn idle_connection(addr: &str) -> TcpStream {
    let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    stream
}

/// Whether the server answers an HTTP/2 PING on `stream` (after the preface): sends the
/// client's empty SETTINGS and a PING, then reads frames until the PING's acknowledgement;
/// false when the server closes the connection first.
async fn answers_ping(stream: &mut TcpStream) -> bool {
    const PING: u8 = 0x6;
    const ACK: u8 = 0x1;
    let payload = *b"stillhere";
    let payload = &payload[..8];
    let mut frames = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    frames.extend_from_slice(&[0, 0, 8, PING, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(payload);
    if stream.write_all(&frames).await.is_err() {
        return false;
    }
    loop {
        let mut header = [0u8; 9];
        if stream.read_exact(&mut header).await.is_err() {
            return false;
        }
        let length =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return false;
        }
        if header[3] == PING && header[4] & ACK != 0 && body == payload {
            return true;
        }
    }
}

#[tokio::test]
async fn an_idle_flood_is_bounded_and_clients_keep_their_answers() {
    let data = tempfile::tempdir().unwrap();
    let mut config = support::config(data.path());
    config.max_connections = 8;
    config.first_request_timeout_ms = 400;
    let server = TestServer::start(config).await;
    let addr = server.url.trim_start_matches("http://").to_owned();

    // A client connected before the flood keeps its connection and its answers.
    let mut client = server.client().await;
    within(
        "a first submission",
        client.submit_comment(support::submission("p", "Before.")),
    )
    .await
    .unwrap();

    let mut flood = Vec::new();
    for _ in 0..30 {
        flood.push(idle_connection(&addr).await);
    }
    within(
        "a submission during the flood",
        client.submit_comment(support::submission("p", "During.")),
    )
    .await
    .unwrap();

    // Every idle connection is closed: past the limit at once, the rest at their deadline.
    for stream in &mut flood {
        assert!(
            within(
                "the server to close an idle connection",
                closed_by_server(stream)
            )
            .await
        );
    }

    // New clients get answers once the flood's slots are free.
    let deadline = Deadline::start("a new client to be served after the flood");
    loop {
        let fresh = tonic::transport::Endpoint::from_shared(server.url.clone())
            .unwrap()
            .connect()
            .await;
        if let Ok(channel) = fresh {
            let mut fresh =
                commentguard::api::pb::comment_service_client::CommentServiceClient::new(channel);
            if fresh
                .submit_comment(support::submission("p", "After."))
                .await
                .is_ok()
            {
                break;
            }
        }
        deadline.check();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    within(
        "a submission after the flood",
        client.submit_comment(support::submission("p", "Still here.")),
    )
    .await
    .unwrap();
    server.stop().await;
    assert_eq!(support::stored_count(data.path()).await, 4);
}

#[tokio::test]
async fn past_the_limit_new_connections_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let mut config = support::config(data.path());
    config.max_connections = 3;
    config.first_request_timeout_ms = 60_000;
    // The held connections never answer the shutdown's ping: do not wait long for them.
    config.shutdown_grace_ms = 300;
    let server = TestServer::start(config).await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let _client = server.client().await;

    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(idle_connection(&addr).await);
    }
    // The limit is reached: the next connection is closed at once, long before its deadline.
    let mut refused = idle_connection(&addr).await;
    assert!(
        within(
            "the refused connection to close",
            closed_by_server(&mut refused)
        )
        .await
    );
    // The held ones stay open (their deadline is a minute away): one still answers a ping.
    assert!(
        within(
            "a held connection to answer a ping",
            answers_ping(&mut held[0])
        )
        .await,
        "a held connection was closed"
    );
    server.stop().await;
}

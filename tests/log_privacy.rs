//! The logs of a full submit/check/list round, at every level, hold no email, IP or comment
//! text. This file installs a global log subscriber, so it runs in its own test binary.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{TestServer, config, submission};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_no_email_ip_or_content() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let mut client = server.client().await;

    let email = "secret.commenter@private.example";
    let ip = "198.51.100.23";
    let content = "Zanzibar marmalade thoughts";
    let mut request = submission("log-post", content);
    request.author_email = email.into();
    request.context.as_mut().unwrap().ip = ip.into();
    client.check_comment(request.clone()).await.unwrap();
    let stored = client.submit_comment(request.clone()).await.unwrap();
    client.submit_comment(request.clone()).await.unwrap_err(); // duplicate
    let mut invalid = request.clone();
    invalid.author_name = format!("name {email}");
    client.submit_comment(invalid).await.unwrap_err();
    client
        .list_comments(commentguard::api::pb::ListCommentsRequest {
            post_id: "log-post".into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap();
    server.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The round was logged (so the check below is not vacuous)...
    assert!(logs.contains(&stored.into_inner().comment_id));
    // ...and nothing private was.
    for secret in [email, "secret.commenter", ip, content, "Zanzibar"] {
        assert!(!logs.contains(secret), "logs contain {secret:?}");
    }
}

//! The logs of a full submit/check/list/moderate/erase round, at every level, hold no email,
//! IP, comment text or moderator token. This file installs a global log subscriber, so it runs in its own test binary.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use commentguard::api::pb;
use support::{ALICE, TestServer, config, submission};

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
    let stored = client
        .submit_comment(request.clone())
        .await
        .unwrap()
        .into_inner();
    client.submit_comment(request.clone()).await.unwrap_err(); // duplicate
    let mut invalid = request.clone();
    invalid.author_name = format!("name {email}");
    client.submit_comment(invalid).await.unwrap_err();
    client
        .list_comments(pb::ListCommentsRequest {
            post_id: "log-post".into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap();
    let mut alice = server.moderator(Some(ALICE)).await;
    let id = stored.comment_id.clone();
    alice
        .get_comment(pb::GetCommentRequest {
            comment_id: id.clone(),
        })
        .await
        .unwrap();
    alice
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: id,
            action: pb::moderate_comment_request::Action::MarkSpam.into(),
            note: String::new(),
        })
        .await
        .unwrap();
    alice
        .list_queue(pb::ListQueueRequest::default())
        .await
        .unwrap();
    alice
        .erase_author(pb::EraseAuthorRequest {
            author_email: email.into(),
        })
        .await
        .unwrap();
    server.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The round was logged (so the check below is not vacuous)...
    assert!(logs.contains(&stored.comment_id));
    assert!(logs.contains("alice"));
    // ...and nothing private was.
    for secret in [email, "secret.commenter", ip, content, "Zanzibar", ALICE] {
        assert!(!logs.contains(secret), "logs contain {secret:?}");
    }
}

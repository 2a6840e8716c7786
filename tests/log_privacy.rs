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
    let mut config = config(dir.path());
    // The console with the Akismet endpoint, on a port free a moment ago.
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    config.http_listen = commentguard::config::HttpListen::On(http);
    config.akismet_keys.add_entry("blog=0123456789ab").unwrap();
    let server = TestServer::start(config).await;
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
        .import_comments(pb::ImportCommentsRequest {
            comments: vec![pb::ImportedComment {
                comment_id: "0190f0c1-7e55-7000-8000-000000000001".into(),
                post_id: "log-post".into(),
                author_name: "Importer".into(),
                author_email: email.into(),
                content: format!("{content} imported"),
                created_at: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                status: pb::CommentStatus::Approved.into(),
                ip: ip.into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let akismet = format!(
        "api_key=0123456789ab&blog=https%3A%2F%2Fblog.example&user_ip={ip}&comment_author=A\
         &comment_author_email={}&comment_content={}",
        email.replace('@', "%40"),
        content.replace(' ', "+")
    );
    for path in ["/1.1/comment-check", "/1.1/submit-spam"] {
        let url = format!("http://{http}");
        let (status, _, _) = support::http_request(&url, "POST", path, &[], &akismet).await;
        assert_eq!(status, 200);
    }
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
    assert!(logs.contains("history imported") && logs.contains("akismet: feedback learned"));
    // ...and nothing private was.
    for secret in [email, "secret.commenter", ip, content, "Zanzibar", ALICE] {
        assert!(!logs.contains(secret), "logs contain {secret:?}");
    }
}

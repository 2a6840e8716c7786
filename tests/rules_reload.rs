//! `SIGHUP` reloads the site rules from the configuration file. Signals reach the whole test
//! process, so this test has a binary of its own.

mod support;

use commentguard::api::pb::CommentStatus;
use support::{TestServer, config, submission, within};

#[tokio::test]
async fn sighup_reloads_site_rules_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("commentguard.toml");
    std::fs::write(&file, "moderation_keys = [\"alpha\"]\n").unwrap();
    let mut config = config(&dir.path().join("data"));
    config.moderation_keys = vec!["alpha".into()];
    config.file = Some(file.clone());
    // Installed before any signal is sent, so SIGHUP never takes its default action here.
    let mut hangups =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let server = TestServer::start(config).await;
    let mut client = server.client().await;

    let status = |text: &str| submission("reload", text);
    let held = client
        .submit_comment(status("alpha particles are fun"))
        .await
        .unwrap();
    assert_eq!(held.into_inner().status(), CommentStatus::Pending);

    std::fs::write(&file, "moderation_keys = [\"beta\"]\n").unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    within("the SIGHUP", hangups.recv()).await.unwrap();
    // The server's reload runs on its own task: ask until the new rules answer.
    let mut n = 0;
    let reloaded = loop {
        n += 1;
        let text = format!("beta testing round {n}");
        let verdict = client
            .submit_comment(status(&text))
            .await
            .unwrap()
            .into_inner();
        if verdict.status() == CommentStatus::Pending {
            break true;
        }
        if n == 200 {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert!(reloaded, "the new moderation key never took effect");
    let free = client
        .submit_comment(status("alpha again, now allowed"))
        .await
        .unwrap();
    assert_eq!(free.into_inner().status(), CommentStatus::Approved);
    server.stop().await;
}

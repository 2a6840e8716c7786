//! The shadow policy and the per-version counts of `GetStats`, against a real server and
//! store: the shadow judges every stored submission without changing a verdict, and its
//! figures reach `GetStats`, `/metrics` and `commentguard queue stats`.

mod support;

use commentguard::api::pb::{self, CommentStatus, moderate_comment_request::Action};
use commentguard::config::ShadowConfig;
use support::{
    ALICE, Backend, Moderator, Site, TestServer, config, http_request, output_within,
    parse_exposition, start_console, submission, submit_as, write_console_config,
};

async fn stats(alice: &mut Moderator) -> pb::GetStatsResponse {
    alice
        .get_stats(pb::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner()
}

async fn decide(alice: &mut Moderator, id: &str, action: Action) {
    alice
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: id.to_owned(),
            action: action.into(),
            note: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_shadow_counts_what_it_would_change_without_changing_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let shadow = ShadowConfig {
        moderation_keys: Some(vec!["zeppelin".into()]),
        ..ShadowConfig::default()
    };
    let server = TestServer::start(commentguard::Config {
        shadow: Some(shadow),
        ..config(dir.path())
    })
    .await;
    let mut client = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;

    let zeppelin = client
        .submit_comment(submission("p", "the zeppelin tour was lovely"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(zeppelin.status(), CommentStatus::Approved, "live decides");
    let calm = client
        .submit_comment(submission("p", "a calm remark about the weather"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calm.status(), CommentStatus::Approved);
    // A dry run is not a stored submission: the shadow does not count it.
    client
        .check_comment(submission("p", "another zeppelin"))
        .await
        .unwrap();

    let shadow = stats(&mut alice).await.shadow.expect("shadow figures");
    assert_eq!((shadow.evaluated, shadow.would_change), (2, 1));
    assert_eq!(
        shadow.changes,
        [pb::ShadowChange {
            from: CommentStatus::Approved.into(),
            to: CommentStatus::Pending.into(),
            count: 1,
        }]
    );
    assert_eq!(shadow.policy_version.len(), 16);
    assert_ne!(shadow.policy_version, zeppelin.policy_version);
    assert_eq!(shadow.labels, 0);

    // Moderators' labels: the shadow held the zeppelin comment, which a moderator marks
    // spam (the live APPROVED disagrees); both approved the calm one, which is approved.
    decide(&mut alice, &zeppelin.comment_id, Action::MarkSpam).await;
    decide(&mut alice, &calm.comment_id, Action::Hold).await;
    decide(&mut alice, &calm.comment_id, Action::Approve).await;
    let shadow = stats(&mut alice).await.shadow.expect("shadow figures");
    assert_eq!(
        (shadow.labels, shadow.live_agreed, shadow.shadow_agreed),
        (2, 1, 2)
    );
    assert!((shadow.live_agreement_rate - 0.5).abs() < 1e-9);
    assert!((shadow.shadow_agreement_rate - 1.0).abs() < 1e-9);
    server.stop().await;

    // Without a [shadow] section there are no shadow figures.
    let server = TestServer::start(config(dir.path())).await;
    let mut alice = server.moderator(Some(ALICE)).await;
    assert_eq!(stats(&mut alice).await.shadow, None);
    server.stop().await;
}

on_both_backends!(get_stats_counts_stored_comments_per_policy_version);

async fn get_stats_counts_stored_comments_per_policy_version(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let mut versions = Vec::new();
    for text in ["first calm remark", "second calm remark"] {
        let answer = client
            .submit_comment(submission("p", text))
            .await
            .unwrap()
            .into_inner();
        versions.push(answer.policy_version);
    }
    assert_eq!(versions[0], versions[1]);
    let rules = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut stricter = rules.clone();
    stricter.pending_threshold = 0.4;
    alice
        .update_rules(pb::UpdateRulesRequest {
            rules: Some(stricter),
            expected_version: rules.version,
        })
        .await
        .unwrap();
    let third = client
        .submit_comment(submission("p", "third calm remark"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(third.policy_version, versions[0]);
    let counts = |s: pb::GetStatsResponse| {
        s.policy_versions
            .into_iter()
            .map(|v| (v.policy_version, v.count))
            .collect::<Vec<_>>()
    };
    let expected = vec![(versions[0].clone(), 2), (third.policy_version.clone(), 1)];
    assert_eq!(counts(stats(&mut alice).await), expected);
    server.stop().await;

    // Counted in the store: a restart keeps them.
    let server = TestServer::start(site.config()).await;
    let mut alice = server.moderator(Some(ALICE)).await;
    assert_eq!(counts(stats(&mut alice).await), expected);
    server.stop().await;
}

#[tokio::test]
async fn shadow_figures_reach_metrics_and_the_queue_stats_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_console_config(dir.path());
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("[shadow]\npending_threshold = 0.0\n");
    std::fs::write(&path, text).unwrap();
    let data = dir.path().join("data");
    let server = start_console(&data, &path);

    let (_, status) = submit_as(&server.grpc, "p", "Ada", "a calm remark").await;
    assert_eq!(status, "APPROVED");
    let (code, _, metrics) = http_request(&server.http, "GET", "/metrics", &[], "").await;
    assert_eq!(code, 200);
    let families = parse_exposition(&metrics);
    assert_eq!(
        families
            .get("commentguard_shadow_evaluated")
            .map(String::as_str),
        Some("counter")
    );
    assert!(
        metrics.contains("commentguard_shadow_evaluated_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("commentguard_shadow_would_change_total 1"));
    assert!(
        metrics.contains("commentguard_shadow_changes_total{from=\"APPROVED\",to=\"PENDING\"} 1")
    );

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_commentguard"));
    command
        .args(["queue", "stats", "--json", "--addr", &server.grpc])
        .env("COMMENTGUARD_TOKEN", ALICE);
    let output = tokio::task::spawn_blocking(move || output_within(command, support::WAIT))
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["shadow"]["evaluated"], 1);
    assert_eq!(stats["shadow"]["changes"][0]["to"], "PENDING");
}

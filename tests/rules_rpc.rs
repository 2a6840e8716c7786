//! Rules over RPC: `GetRules` / `UpdateRules` against a real server and store, and the policy
//! version every verdict carries.

mod support;

use commentguard::api::pb::{self, CommentStatus};
use support::{ALICE, BOB, Backend, Site, TestServer, submission};
use tonic::Code;
use tonic_types::StatusExt as _;

fn update(rules: pb::Rules, expected: &str) -> pb::UpdateRulesRequest {
    pb::UpdateRulesRequest {
        rules: Some(rules),
        expected_version: expected.to_owned(),
    }
}

async fn an_added_word_holds_the_next_comment_and_survives_a_restart(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;

    let text = "the zeppelin tour was lovely";
    let before = client
        .check_comment(submission("p", text))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.status(), CommentStatus::Approved);
    assert_eq!(before.policy_version.len(), 16, "{before:?}");

    let rules = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rules.max_links, 2);
    assert!((rules.spam_threshold - 0.9).abs() < 1e-6);
    let mut stricter = rules.clone();
    stricter.moderation_keys.push("  Zeppelin ".into());
    let updated = alice
        .update_rules(update(stricter, &rules.version))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(updated.version, rules.version);
    assert_eq!(updated.moderation_keys, ["Zeppelin"]);

    let after = client
        .submit_comment(submission("p", text))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.status(), CommentStatus::Pending);
    assert_eq!(after.reasons[0].code, "moderation_key");
    assert_ne!(after.policy_version, before.policy_version);
    let seen = alice
        .get_comment(pb::GetCommentRequest {
            comment_id: after.comment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.policy_version, after.policy_version);

    server.stop().await;
    let server = TestServer::start(site.config()).await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let kept = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        kept, updated,
        "stored rules win over the configuration at start"
    );
    let mut client = server.client().await;
    let again = client
        .check_comment(submission("p2", text))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.status(), CommentStatus::Pending);
    server.stop().await;
}

async fn a_stale_version_is_aborted_and_bad_values_are_named(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let mut bob = server.moderator(Some(BOB)).await;

    let read = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut first = read.clone();
    first.disallowed_keys.push("casino".into());
    bob.update_rules(update(first, &read.version))
        .await
        .unwrap();

    // Alice still edits the version she read: her change would silently drop Bob's.
    let mut second = read.clone();
    second.moderation_keys.push("poker".into());
    let stale = alice
        .update_rules(update(second, &read.version))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    let now = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.disallowed_keys, ["casino"]);
    assert!(now.moderation_keys.is_empty());

    let mut bad = now.clone();
    bad.banned_ips.push("not-an-ip".into());
    bad.pending_threshold = 0.95;
    let refused = alice
        .update_rules(update(bad, &now.version))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<String> = refused
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["rules.banned_ips", "rules.pending_threshold"]);
    let unchanged = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged, now);

    let anonymous = server
        .moderator(None)
        .await
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    server.stop().await;
}

async fn the_policy_version_changes_exactly_when_something_that_decides_does(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let version = |answer: pb::SubmitCommentResponse| answer.policy_version;

    let first = version(
        client
            .check_comment(submission("p", "a calm remark"))
            .await
            .unwrap()
            .into_inner(),
    );
    let stored = client
        .submit_comment(submission("p", "another calm remark"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.policy_version, first, "nothing that decides changed");

    // The same rules sent back: same version, nothing changes.
    let rules = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    let same = alice
        .update_rules(update(rules.clone(), &rules.version))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same.version, rules.version);
    let unchanged = version(
        client
            .check_comment(submission("p", "a calm remark"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(unchanged, first);

    // A moderator's label changes what the online layer adds: a new policy state.
    alice
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: stored.comment_id,
            action: pb::moderate_comment_request::Action::MarkSpam.into(),
            note: String::new(),
        })
        .await
        .unwrap();
    let after_label = version(
        client
            .check_comment(submission("p", "a calm remark"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_ne!(after_label, first);

    // A threshold change does too.
    let mut lower = rules.clone();
    lower.pending_threshold = 0.4;
    alice
        .update_rules(update(lower, &rules.version))
        .await
        .unwrap();
    let after_threshold = version(
        client
            .check_comment(submission("p", "a calm remark"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_ne!(after_threshold, after_label);
    assert_ne!(after_threshold, first);
    server.stop().await;
}

on_both_backends!(
    an_added_word_holds_the_next_comment_and_survives_a_restart,
    a_stale_version_is_aborted_and_bad_values_are_named,
    the_policy_version_changes_exactly_when_something_that_decides_does,
);

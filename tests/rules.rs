//! Site rules against a real server: each rule with its reason code, flood control with its
//! retry delay, first-time authors, campaigns, closed posts and the retention purge.

mod support;

use std::time::Duration;

use commentguard::api::pb::moderate_comment_request::Action as ModerationAction;
use commentguard::api::pb::{self, CommentStatus};
use support::{ALICE, Backend, Site, TestServer, submission};
use tonic::Code;

const BENIGN: &str = "Thanks, the part about borrowing finally made sense to me.";

fn codes(verdict: &pb::SubmitCommentResponse) -> Vec<&str> {
    verdict.reasons.iter().map(|r| r.code.as_str()).collect()
}

async fn list_rules_give_their_reason_codes(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let mut config = site.config();
    config.moderation_keys = vec!["Sponsored".into(), "198.51.100.".into()];
    config.disallowed_keys = vec!["casino-royale.example".into()];
    config.banned_emails = vec!["Banned@Example.org".into()];
    config.banned_ips = vec!["203.0.113.0/24".into()];
    let server = TestServer::start(config).await;
    let mut client = server.client().await;

    let mut cases = Vec::new();
    cases.push((
        submission("r", "this post is SPONSORED content?"),
        CommentStatus::Pending,
        "moderation_key",
    ));
    let mut by_ip = submission("r", "a plain remark about the article");
    by_ip.context.as_mut().unwrap().ip = "198.51.100.7".into();
    cases.push((by_ip, CommentStatus::Pending, "moderation_key"));
    let mut by_url = submission("r", "another plain remark");
    by_url.author_url = "https://CASINO-royale.example/win".into();
    cases.push((by_url, CommentStatus::Spam, "disallowed_key"));
    let mut banned = submission("r", "yet another plain remark");
    banned.author_email = "banned@example.org".into();
    cases.push((banned, CommentStatus::Spam, "banned_email"));
    let mut banned_ip = submission("r", "one more plain remark");
    banned_ip.context.as_mut().unwrap().ip = "203.0.113.200".into();
    cases.push((banned_ip, CommentStatus::Spam, "banned_ip"));

    for (request, status, code) in cases {
        let verdict = client.submit_comment(request).await.unwrap().into_inner();
        assert_eq!(verdict.status(), status, "{code}");
        assert_eq!(codes(&verdict)[0], code);
    }
    let clean = client
        .submit_comment(submission("r", BENIGN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clean.status(), CommentStatus::Approved);
    server.stop().await;
}

async fn flood_control_answers_with_a_retry_delay_after_the_duplicate_check(backend: Backend) {
    use tonic_types::StatusExt as _;
    let Some(site) = Site::new(backend) else {
        return;
    };
    let mut config = site.config();
    config.flood_interval = 600;
    let server = TestServer::start(config).await;
    let mut client = server.client().await;

    // A refused submission does not start the timer.
    let mut invalid = submission("f", BENIGN);
    invalid.author_name = String::new();
    assert_eq!(
        client.submit_comment(invalid).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    client
        .submit_comment(submission("f", BENIGN))
        .await
        .unwrap();

    // The very same comment again is a duplicate, not a flood.
    let again = client
        .submit_comment(submission("f", BENIGN))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    let flood = client
        .submit_comment(submission("f", "a different comment right away"))
        .await
        .unwrap_err();
    assert_eq!(flood.code(), Code::ResourceExhausted);
    let delay = flood.get_details_retry_info().unwrap().retry_delay.unwrap();
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(600),
        "{delay:?}"
    );

    // Same IP, another email: still the same commenter.
    let mut same_ip = submission("f", "and yet another one");
    same_ip.author_email = "someone.else@example.com".into();
    assert_eq!(
        client.submit_comment(same_ip).await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    // Another IP and email: free to comment.
    let mut stranger = submission("f", "a stranger's first comment");
    stranger.author_email = "stranger@example.com".into();
    stranger.context.as_mut().unwrap().ip = "192.0.2.99".into();
    client.submit_comment(stranger).await.unwrap();
    server.stop().await;
}

async fn first_time_authors_are_held_until_one_comment_is_approved(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let mut config = site.config();
    config.require_prior_approval = true;
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;

    let first = client
        .submit_comment(submission("t", BENIGN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.status(), CommentStatus::Pending);
    assert_eq!(codes(&first)[0], "first_time_author");
    let second = client
        .submit_comment(submission("t", "a second remark, also kind"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.status(), CommentStatus::Pending);
    alice
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: first.comment_id,
            action: ModerationAction::Approve.into(),
            note: "known reader".into(),
        })
        .await
        .unwrap();
    let third = client
        .submit_comment(submission("t", "a third remark after approval"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        third.status(),
        CommentStatus::Approved,
        "{:?}",
        third.reasons
    );
    server.stop().await;
}

async fn the_same_text_from_several_authors_is_held_as_a_campaign(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let mut config = site.config();
    config.campaign_min_authors = 3;
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    // Copies with substance (8 distinct words; see `Campaigns`), varied by a number.
    let text = |n: u32| {
        format!(
            "What a great article!!! Really   helpful, everyone should read this whole series. {n}"
        )
    };
    let mut statuses = Vec::new();
    for n in 0..4 {
        let mut request = submission(&format!("c{n}"), &text(n));
        request.author_email = format!("fan{n}@example.com");
        let verdict = client.submit_comment(request).await.unwrap().into_inner();
        statuses.push((verdict.status(), codes(&verdict).contains(&"campaign")));
    }
    assert_eq!(statuses[0], (CommentStatus::Approved, false));
    assert_eq!(statuses[1], (CommentStatus::Approved, false));
    assert_eq!(statuses[2], (CommentStatus::Pending, true));
    assert_eq!(statuses[3], (CommentStatus::Pending, true));
    server.stop().await;
}

async fn closed_posts_refuse_new_comments(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let mut config = site.config();
    config.closed_posts = vec!["archived".into()];
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let refused = client
        .submit_comment(submission("archived", BENIGN))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    client
        .submit_comment(submission("open", BENIGN))
        .await
        .unwrap();
    server.stop().await;
    assert_eq!(site.stored_count().await, 1);
}

async fn retention_purges_old_spam_and_trash_only(backend: Backend) {
    use commentguard::comment::{
        ClientContext, CommentId, Status, StoredComment, Submission, Verdict,
    };
    use commentguard::store::DecisionRequest;
    let Some(site) = Site::new(backend) else {
        return;
    };
    let store = site.open_store().await;
    let day_ms = 24 * 3600 * 1000;
    let now = commentguard::comment::now_ms();
    let comment = |n: u64, status: Status, age_days: u64| StoredComment {
        id: CommentId::generate(),
        created_at_ms: now - age_days * day_ms,
        submission: Submission {
            post_id: "p".into(),
            post_title: None,
            parent_id: None,
            author_name: "n".into(),
            author_email: format!("a{n}@example.com"),
            author_url: None,
            content: format!("comment {n}"),
            context: ClientContext::default(),
        },
        verdict: Verdict {
            status,
            spam_score: 0.5,
            reasons: Vec::new(),
            toxicity: 0.0,
            toxic_spans: Vec::new(),
        },
        model_version: "m".into(),
        policy_version: String::new(),
        email_hash: [n as u8; 32],
        decision: None,
        receipt: Default::default(),
    };
    let old_spam = comment(1, Status::Spam, 20);
    let new_spam = comment(2, Status::Spam, 1);
    let old_pending = comment(3, Status::Pending, 20);
    let old_approved = comment(4, Status::Approved, 20);
    for c in [&old_spam, &new_spam, &old_pending, &old_approved] {
        store.insert(c.clone()).await.unwrap();
    }
    // Trashed long ago (the decision time counts, not the submission time).
    let old_trash = comment(5, Status::Approved, 30);
    store.insert(old_trash.clone()).await.unwrap();
    store
        .moderate(DecisionRequest {
            id: old_trash.id,
            action: commentguard::moderation::Action::Trash,
            moderator: "alice".into(),
            note: String::new(),
            at_ms: now,
        })
        .await
        .unwrap();

    let purged = store.purge_expired(now - 15 * day_ms).await.unwrap();
    // The trash decision is fresh, so only the old spam goes.
    assert_eq!(purged, 1);
    assert!(store.get(old_spam.id).await.unwrap().is_none());
    for kept in [&new_spam, &old_pending, &old_approved, &old_trash] {
        assert!(store.get(kept.id).await.unwrap().is_some());
    }
    let purged = store.purge_expired(now + day_ms).await.unwrap();
    assert_eq!(purged, 2); // the new spam and the trash
    let counts = store.status_counts().await.unwrap();
    assert_eq!(
        counts,
        [
            (Status::Approved, 1),
            (Status::Pending, 1),
            (Status::Spam, 0),
            (Status::Trash, 0)
        ]
    );
    assert!(store.check_consistency().await.unwrap().problems.is_empty());
    store.close().await.unwrap();
}

on_both_backends!(
    retention_purges_old_spam_and_trash_only,
    flood_control_answers_with_a_retry_delay_after_the_duplicate_check,
    list_rules_give_their_reason_codes,
    first_time_authors_are_held_until_one_comment_is_approved,
    the_same_text_from_several_authors_is_held_as_a_campaign,
    closed_posts_refuse_new_comments,
);

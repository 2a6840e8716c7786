//! Two frontends on one PostgreSQL database: what one stores, decides, learns or refuses,
//! the other sees. Real servers on real ports over the test binary's PostgreSQL cluster.

mod support;

use std::time::Duration;

use commentguard::api::pb::moderate_comment_request::Action as ModerationAction;
use commentguard::api::pb::{self, CommentStatus, QueueEventKind};
use support::{ALICE, Backend, Deadline, Moderator, Site, TestServer, submission, within};
use tonic::Code;

/// Held for review whatever the score: an address in the text.
const HELD: &str = "Happy to help with the translation, write to me at ada.helper@example.org";

/// Two frontends over one fresh database with `adjust` applied to both configurations;
/// `None` when PostgreSQL is not installed (outside CI).
async fn two_frontends(
    adjust: impl Fn(&mut commentguard::Config),
) -> Option<(Site, TestServer, TestServer)> {
    let site = Site::new(Backend::Postgres)?;
    let mut config = site.config();
    adjust(&mut config);
    let a = TestServer::start(config.clone()).await;
    // The second starts once the first has migrated the schema and stored the key: the
    // listener is bound before that, so only an answered call says it is done.
    a.client().await.list_comments(list("-")).await.unwrap();
    let b = TestServer::start(config).await;
    b.client().await;
    Some((site, a, b))
}

fn list(post: &str) -> pb::ListCommentsRequest {
    pb::ListCommentsRequest {
        post_id: post.to_owned(),
        page_size: 0,
        page_token: String::new(),
    }
}

#[tokio::test]
async fn a_comment_stored_on_one_frontend_is_listed_and_a_duplicate_on_the_other() {
    let Some((site, a, b)) = two_frontends(|_| {}).await else {
        return;
    };
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    let request = submission(
        "shared",
        "Both frontends read the same thread, which is the point.",
    );
    let stored = on_a
        .submit_comment(request.clone())
        .await
        .unwrap()
        .into_inner();
    let listed = on_b
        .list_comments(list("shared"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.comments.len(), 1);
    assert_eq!(listed.comments[0].comment_id, stored.comment_id);
    // The email key is the database's: B recognises A's author, so this is a duplicate.
    let again = on_b.submit_comment(request).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // Identical submissions raced on both frontends: one is stored.
    for round in 0..10 {
        let request = submission(
            "race",
            &format!("Round {round}: whoever comes first wins this one."),
        );
        let (mut first, mut second) = (on_a.clone(), on_b.clone());
        let (x, y) = tokio::join!(
            first.submit_comment(request.clone()),
            second.submit_comment(request)
        );
        let codes = [x.map(|_| Code::Ok), y.map(|_| Code::Ok)]
            .map(|r| r.unwrap_or_else(|status| status.code()));
        assert!(
            codes.contains(&Code::Ok) && codes.contains(&Code::AlreadyExists),
            "round {round}: {codes:?}"
        );
    }
    a.stop().await;
    b.stop().await;
    assert_eq!(site.stored_count().await, 11);
}

#[tokio::test]
async fn flood_control_holds_across_frontends() {
    let Some((_site, a, b)) = two_frontends(|c| c.flood_interval = 60).await else {
        return;
    };
    let first = submission("flood", "A first thought on this post, worth sharing.");
    a.client().await.submit_comment(first).await.unwrap();
    let mut second = submission("flood", "And a second thought, a moment later elsewhere.");
    second.context.as_mut().unwrap().ip = "198.51.100.7".into();
    let refused = b.client().await.submit_comment(second).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Another author on another address is not held back.
    let mut other = submission("flood", "Someone else entirely, with their own view.");
    other.author_email = "grace@example.com".into();
    other.context.as_mut().unwrap().ip = "198.51.100.8".into();
    b.client().await.submit_comment(other).await.unwrap();
    // One author's burst, sent at once to both frontends: flood timers start in groups, and
    // within a group as across frontends, exactly one of the burst is stored.
    let mut burst = Vec::new();
    for n in 0..16 {
        let mut copy = submission("flood", &format!("Burst comment number {n}, all at once."));
        copy.author_email = "burst@example.com".into();
        copy.context.as_mut().unwrap().ip = format!("198.51.100.{}", 20 + n);
        let mut client = if n % 2 == 0 {
            a.client().await
        } else {
            b.client().await
        };
        burst.push(tokio::spawn(
            async move { client.submit_comment(copy).await },
        ));
    }
    let mut stored = 0;
    for answer in burst {
        match answer.await.unwrap() {
            Ok(_) => stored += 1,
            Err(refused) => assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}"),
        }
    }
    assert_eq!(stored, 1, "one of the burst is stored");
    a.stop().await;
    b.stop().await;
}

/// Watches the queue on `moderator`'s frontend, forwarding events. The server answers the
/// call once the watch is subscribed, so every event committed after this returns is seen.
async fn watch(mut moderator: Moderator) -> tokio::sync::mpsc::Receiver<pb::QueueEvent> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let request = pb::WatchQueueRequest::default();
    let mut events = within("the watch to be subscribed", moderator.watch_queue(request))
        .await
        .unwrap()
        .into_inner();
    tokio::spawn(async move {
        while let Ok(Some(event)) = events.message().await {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn a_watcher_on_one_frontend_sees_the_other_frontends_queue() {
    let Some((_site, a, b)) = two_frontends(|_| {}).await else {
        return;
    };
    let mut events = watch(a.moderator(Some(ALICE)).await).await;
    let held = b
        .client()
        .await
        .submit_comment(submission("elsewhere", HELD))
        .await
        .unwrap()
        .into_inner();
    let event = next_event(&mut events).await;
    assert_eq!(event.kind(), QueueEventKind::Submitted);
    assert_eq!(comment_id(&event), held.comment_id);

    b.moderator(Some(ALICE))
        .await
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: held.comment_id.clone(),
            action: ModerationAction::Approve.into(),
            note: String::new(),
        })
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert_eq!(event.kind(), QueueEventKind::Decided);
    assert_eq!(comment_id(&event), held.comment_id);
    assert_eq!(event.from_status(), CommentStatus::Pending);
    a.stop().await;
    b.stop().await;
}

fn comment_id(event: &pb::QueueEvent) -> String {
    let moderated = event.comment.as_ref().unwrap();
    moderated.comment.as_ref().unwrap().comment_id.clone()
}

/// The next event the watch forwards.
async fn next_event(events: &mut tokio::sync::mpsc::Receiver<pb::QueueEvent>) -> pb::QueueEvent {
    within("a queue event from the other frontend", events.recv())
        .await
        .expect("the watch ended")
}

#[tokio::test]
async fn a_decision_on_one_frontend_teaches_the_other_and_rules_follow() {
    let Some((_site, a, b)) = two_frontends(|_| {}).await else {
        return;
    };
    let campaign = |n: usize| {
        let mut request = submission(
            &format!("post-{n}"),
            &format!(
                "Honest review {n}: the Lumora herbal sleep drops changed my life, order at lumora-drops dot shop today"
            ),
        );
        request.author_email = format!("buyer{n}@example.net");
        request
    };
    let mut on_a = a.client().await;
    let before = on_a.check_comment(campaign(99)).await.unwrap().into_inner();
    let mut on_b = b.client().await;
    let mut bob = b.moderator(Some(ALICE)).await;
    for n in 0..10 {
        let stored = on_b.submit_comment(campaign(n)).await.unwrap().into_inner();
        // B's own learning may already call the campaign spam: nothing left to mark.
        if stored.status() == pb::CommentStatus::Spam {
            continue;
        }
        bob.moderate_comment(pb::ModerateCommentRequest {
            comment_id: stored.comment_id,
            action: ModerationAction::MarkSpam.into(),
            note: String::new(),
        })
        .await
        .unwrap();
    }
    // A learns from B's labels through notifications, within a second or so.
    let deadline = Deadline::start("A's score to rise after B's labels");
    loop {
        let after = on_a.check_comment(campaign(99)).await.unwrap().into_inner();
        if after.spam_score > before.spam_score {
            eprintln!(
                "score on A: {:.4} → {:.4}",
                before.spam_score, after.spam_score
            );
            break;
        }
        deadline.check();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A rule added on B holds comments on A.
    let rules = bob
        .get_rules(pb::GetRulesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut changed = rules.clone();
    changed.moderation_keys.push("zeppelin".into());
    bob.update_rules(pb::UpdateRulesRequest {
        rules: Some(changed),
        expected_version: rules.version,
    })
    .await
    .unwrap();
    let deadline = Deadline::start("B's rule to reach A");
    loop {
        let verdict = on_a
            .check_comment(submission(
                "rules",
                "A zeppelin flew over the venue during the encore.",
            ))
            .await
            .unwrap()
            .into_inner();
        if verdict.status() == CommentStatus::Pending {
            break;
        }
        deadline.check();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}

/// The site model's figures on one frontend.
async fn site_model(moderator: &mut Moderator) -> pb::SiteModelStats {
    let stats = moderator.get_stats(pb::GetStatsRequest::default()).await;
    stats.unwrap().into_inner().site_model.unwrap()
}

/// Waits until `moderator`'s frontend's site model holds `labels` labels, and says how long
/// that took.
async fn site_model_labels(moderator: &mut Moderator, labels: u64, what: &str) -> Duration {
    let started = std::time::Instant::now();
    let deadline = Deadline::start(what);
    while site_model(moderator).await.labels != labels {
        deadline.check();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn both_frontends_site_models_learn_each_label_and_a_reset() {
    let Some((_site, a, b)) = two_frontends(|_| {}).await else {
        return;
    };
    let mut on_a = a.client().await;
    let mut alice_on_a = a.moderator(Some(ALICE)).await;
    let mut alice_on_b = b.moderator(Some(ALICE)).await;
    for n in 0..5 {
        let stored = on_a
            .submit_comment(submission(
                &format!("gardening-{n}"),
                &format!("{HELD} ({n})"),
            ))
            .await
            .unwrap()
            .into_inner();
        alice_on_a
            .moderate_comment(pb::ModerateCommentRequest {
                comment_id: stored.comment_id,
                action: ModerationAction::Approve.into(),
                note: String::new(),
            })
            .await
            .unwrap();
        let n = n + 1;
        let took = site_model_labels(&mut alice_on_b, n, "B's site model to learn A's label").await;
        eprintln!(
            "label {n} learned on B {} ms after A answered",
            took.as_millis()
        );
    }
    assert_eq!(site_model(&mut alice_on_a).await.labels, 5);

    let reset = alice_on_b
        .reset_site_model(pb::ResetSiteModelRequest {
            note: "start over".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reset.labels, reset.labels_dropped), (0, 5));
    let took = site_model_labels(&mut alice_on_a, 0, "A's site model to follow B's reset").await;
    eprintln!(
        "reset followed on A {} ms after B answered",
        took.as_millis()
    );
    let on_a = site_model(&mut alice_on_a).await;
    assert_eq!(
        (on_a.reset_by.as_str(), on_a.reset_note.as_str()),
        ("alice", "start over")
    );

    // Labels stored without a decision (here imported statuses; Akismet feedback the same
    // way) reach the other frontend too.
    let imported = |n: u128, status: CommentStatus| pb::ImportedComment {
        comment_id: format!("0190f0c1-7e55-7000-8000-{n:012x}"),
        post_id: "imported".into(),
        author_name: "Ada".into(),
        content: format!("An imported comment from the old system, number {n}"),
        created_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        status: status.into(),
        ..Default::default()
    };
    alice_on_a
        .import_comments(pb::ImportCommentsRequest {
            comments: vec![
                imported(1, CommentStatus::Approved),
                imported(2, CommentStatus::Spam),
            ],
        })
        .await
        .unwrap();
    site_model_labels(
        &mut alice_on_b,
        2,
        "B's site model to learn A's imported labels",
    )
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_frontend_with_another_email_key_refuses_to_start() {
    let Some(site) = Site::new(Backend::Postgres) else {
        return;
    };
    let mut config = site.config();
    config.hmac_secret = Some("11".repeat(32));
    let a = TestServer::start(config.clone()).await;
    a.client().await.list_comments(list("-")).await.unwrap();
    config.hmac_secret = Some("22".repeat(32));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = within(
        "the second frontend to refuse",
        commentguard::server::run(&config, listener, std::future::pending()),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("hmac_secret"), "{refused}");
    // No configured key at all: the database's is used, and it is the first one.
    config.hmac_secret = None;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Never told to stop: it must refuse to start by itself.
    let started = tokio::spawn(async move {
        commentguard::server::run(&config, listener, std::future::pending()).await
    });
    let outcome = within("the keyless frontend to refuse", started)
        .await
        .unwrap();
    assert!(
        matches!(outcome, Err(commentguard::server::ServeError::EmailKey(_))),
        "a frontend without a key cannot know a key configured on the others: {outcome:?}"
    );
    a.stop().await;
}

#[tokio::test]
async fn one_frontend_at_a_time_purges() {
    use commentguard::store::Storage as _;
    use commentguard::store::postgres::{PURGE_LOCK, PgOptions, PgStore};
    let Some(site) = Site::new(Backend::Postgres) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let held = server
        .client()
        .await
        .submit_comment(submission("old", HELD))
        .await
        .unwrap()
        .into_inner();
    server.stop().await;
    let url = site.database_url.clone().unwrap();
    let store = PgStore::open(
        &url,
        PgOptions {
            pool_size: 2,
            batch_limit: 1,
        },
    )
    .await
    .unwrap();
    let id = commentguard::comment::CommentId::parse(&held.comment_id).unwrap();
    // Marked spam long ago: expired for any retention.
    store
        .moderate(commentguard::store::DecisionRequest {
            id,
            action: commentguard::moderation::Action::MarkSpam,
            moderator: "alice".into(),
            note: String::new(),
            at_ms: 1,
        })
        .await
        .unwrap();
    let now = commentguard::comment::now_ms();

    // Another frontend is purging: this one leaves it to it.
    let (other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    other
        .execute("SELECT pg_advisory_lock($1)", &[&PURGE_LOCK])
        .await
        .unwrap();
    assert_eq!(store.purge_expired(now).await.unwrap(), 0);
    assert!(store.get(id).await.unwrap().is_some());
    other
        .execute("SELECT pg_advisory_unlock($1)", &[&PURGE_LOCK])
        .await
        .unwrap();
    assert_eq!(store.purge_expired(now).await.unwrap(), 1);
    assert!(store.get(id).await.unwrap().is_none());
    drop(other);
    let _ = driver.await;
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_campaign_spread_over_frontends_is_held() {
    let Some((_site, a, b)) = two_frontends(|c| c.campaign_min_authors = 3).await else {
        return;
    };
    let copy = |n: usize| {
        let mut request = submission(
            &format!("campaign-{n}"),
            &format!(
                "Check out my new channel for free gift cards every day {n} http://gifts.example/{n}"
            ),
        );
        request.author_email = format!("sender{n}@example.net");
        request
    };
    let frontends = [&a, &b, &a];
    let mut statuses = Vec::new();
    for (n, frontend) in frontends.iter().enumerate() {
        let verdict = frontend
            .client()
            .await
            .submit_comment(copy(n))
            .await
            .unwrap()
            .into_inner();
        let campaign = verdict.reasons.iter().any(|r| r.code == "campaign");
        statuses.push(campaign);
    }
    assert_eq!(
        statuses,
        [false, false, true],
        "the third copy, on either frontend, is a campaign"
    );
    // A burst of copies sent at once to one frontend, recorded in groups: taken in order
    // as if one after another, every copy from the third author on is a campaign.
    let client = a.client().await;
    let burst: Vec<_> = (10..16)
        .map(|n| {
            let mut client = client.clone();
            let mut request = submission(
                &format!("burst-{n}"),
                "Please vote early in the referendum and tell everyone the polling station hours",
            );
            request.author_email = format!("voter{n}@example.net");
            tokio::spawn(async move {
                let verdict = client.submit_comment(request).await.unwrap().into_inner();
                verdict.reasons.iter().any(|r| r.code == "campaign")
            })
        })
        .collect();
    let mut held = 0;
    for answer in burst {
        held += usize::from(answer.await.unwrap());
    }
    // A new text: its first two authors start the campaign, the four after them are held.
    assert_eq!(held, 4, "copies held as a campaign");
    a.stop().await;
    b.stop().await;
}

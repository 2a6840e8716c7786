//! Idempotent retries against a real server and store: a retry carrying the first
//! submission's `idempotency_key` gets the first answer (also as a stream item and after a
//! restart), a key reused with another request is refused, and racing retries store one
//! comment.

mod support;

use commentguard::api::pb::{self, CommentStatus};
use futures_util::StreamExt as _;
use support::{ALICE, Backend, Site, TestServer, submission, violated_fields, within};
use tonic::Code;

on_both_backends!(
    a_retry_gets_the_first_answer_also_in_a_stream_and_after_a_restart,
    a_key_reused_with_another_request_is_refused_and_stores_nothing,
    racing_submissions_with_one_key_store_one_comment,
    a_refused_submission_keeps_its_key_free_and_its_retry_is_judged_afresh,
);

fn keyed(post: &str, content: &str, key: &str) -> pb::SubmitCommentRequest {
    pb::SubmitCommentRequest {
        idempotency_key: key.to_owned(),
        ..submission(post, content)
    }
}

/// Sends `requests` over one `SubmitComments` stream and returns the answers.
async fn stream(
    client: &mut pb::comment_service_client::CommentServiceClient<tonic::transport::Channel>,
    requests: Vec<pb::SubmitCommentRequest>,
) -> Vec<pb::SubmitCommentResponse> {
    let answers = client
        .submit_comments(futures_util::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    within(
        "the stream's answers",
        answers.map(|a| a.unwrap()).collect(),
    )
    .await
}

async fn a_retry_gets_the_first_answer_also_in_a_stream_and_after_a_restart(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;

    let request = keyed(
        "p",
        "Such a helpful write-up, thank you",
        "order-17-comment",
    );
    let first = client
        .submit_comment(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.status(), CommentStatus::Approved);
    assert!(!first.reasons.is_empty());
    let retry = client
        .submit_comment(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first, "the same answer, not ALREADY_EXISTS");

    // Without a key, the same comment is still a duplicate.
    let unkeyed = client
        .submit_comment(submission("p", "Such a helpful write-up, thank you"))
        .await
        .unwrap_err();
    assert_eq!(unkeyed.code(), Code::AlreadyExists);

    // Stream items: a new keyed submission, its retry in the same stream, and a retry of
    // the unary one.
    let held = keyed(
        "p",
        "write to me at ada.helper@example.org",
        "stream-item-1",
    );
    let answers = stream(&mut client, vec![held.clone(), held, request.clone()]).await;
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| a.error.is_none()), "{answers:?}");
    assert_eq!(answers[0].status(), CommentStatus::Pending);
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[2], first);

    // A moderator's decision later does not change the answer a retry gets.
    let mut alice = server.moderator(Some(ALICE)).await;
    alice
        .moderate_comment(pb::ModerateCommentRequest {
            comment_id: first.comment_id.clone(),
            action: pb::moderate_comment_request::Action::MarkSpam.into(),
            note: String::new(),
        })
        .await
        .unwrap();
    server.stop().await;
    assert_eq!(site.stored_count().await, 2);

    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;
    let after_restart = client.submit_comment(request).await.unwrap().into_inner();
    assert_eq!(after_restart, first);
    let again = stream(
        &mut client,
        vec![keyed(
            "p",
            "write to me at ada.helper@example.org",
            "stream-item-1",
        )],
    )
    .await;
    assert_eq!(again[0], answers[0]);
    server.stop().await;
    assert_eq!(site.stored_count().await, 2, "retries stored nothing");
}

async fn a_key_reused_with_another_request_is_refused_and_stores_nothing(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;

    client
        .submit_comment(keyed("p", "first words", "k-1"))
        .await
        .unwrap();
    let other = client
        .submit_comment(keyed("p", "other words", "k-1"))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::InvalidArgument, "{other:?}");
    assert_eq!(violated_fields(&other), ["idempotency_key"]);
    // Any field counts, not only the text.
    let mut moved = keyed("p", "first words", "k-1");
    moved.context.as_mut().unwrap().ip = "192.0.2.99".into();
    let moved = client.submit_comment(moved).await.unwrap_err();
    assert_eq!(violated_fields(&moved), ["idempotency_key"]);

    let answers = stream(&mut client, vec![keyed("p2", "other words", "k-1")]).await;
    let error = answers[0].error.as_ref().expect("an item error");
    assert_eq!(error.code, Code::InvalidArgument as i32);
    assert_eq!(error.field_violations[0].field, "idempotency_key");

    let long = client
        .submit_comment(keyed("p", "more words", &"k".repeat(129)))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&long), ["idempotency_key"]);
    let checked = client
        .check_comment(keyed("p", "more words", &"k".repeat(129)))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&checked), ["idempotency_key"]);
    server.stop().await;
    assert_eq!(site.stored_count().await, 1);
}

async fn racing_submissions_with_one_key_store_one_comment(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    // Flood control on: a retry is answered from the stored comment, never refused as a flood.
    let server = TestServer::start(commentguard::Config {
        flood_interval: 60,
        ..site.config()
    })
    .await;
    let request = keyed("p", "A retry storm should store this once", "race-key");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = server.client().await;
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            client.submit_comment(request).await.map(|r| r.into_inner())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(within("a racing submission", task).await.unwrap().unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    server.stop().await;
    assert_eq!(site.stored_count().await, 1);
}

async fn a_refused_submission_keeps_its_key_free_and_its_retry_is_judged_afresh(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;
    let mut alice = server.moderator(Some(ALICE)).await;
    let rules = alice
        .get_rules(pb::GetRulesRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut closed = rules.clone();
    closed.closed_posts.push("p".into());
    let closed = alice
        .update_rules(pb::UpdateRulesRequest {
            rules: Some(closed),
            expected_version: rules.version,
        })
        .await
        .unwrap()
        .into_inner();

    let request = keyed("p", "Is this still open?", "refused-first");
    let refused = client.submit_comment(request.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    // Nothing was stored, so the retry is judged again: once the post reopens, it is stored.
    let mut open = closed.clone();
    open.closed_posts.clear();
    alice
        .update_rules(pb::UpdateRulesRequest {
            rules: Some(open),
            expected_version: closed.version,
        })
        .await
        .unwrap();
    let stored = client
        .submit_comment(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!stored.comment_id.is_empty());
    let retry = client.submit_comment(request).await.unwrap().into_inner();
    assert_eq!(retry, stored);
    server.stop().await;
    assert_eq!(site.stored_count().await, 1);
}

/// Two frontends on one PostgreSQL database, retries of one submission racing on both: the
/// database's unique key stores one comment and every retry gets its answer.
#[tokio::test]
async fn retries_racing_on_two_frontends_store_one_comment() {
    let Some(site) = Site::new(Backend::Postgres) else {
        return;
    };
    let a = TestServer::start(site.config()).await;
    // Only an answered call says the first has migrated the schema and stored the key.
    a.client()
        .await
        .list_comments(pb::ListCommentsRequest {
            post_id: "-".into(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap();
    let b = TestServer::start(site.config()).await;
    let request = keyed("p", "Sent twice through two doors", "two-doors");
    let mut tasks = Vec::new();
    for server in [&a, &b, &a, &b, &a, &b] {
        let mut client = server.client().await;
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            client.submit_comment(request).await.map(|r| r.into_inner())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(within("a racing submission", task).await.unwrap().unwrap());
    }
    assert!(answers.iter().all(|x| *x == answers[0]), "{answers:?}");
    a.stop().await;
    b.stop().await;
    assert_eq!(site.stored_count().await, 1);
}

//! CommentService against a real server on an ephemeral port, each test once over a temporary
//! sled directory and once over a fresh PostgreSQL database.

mod support;

use commentguard::api::pb::{self, CommentStatus};
use prost::Message as _;
use support::{Backend, Site, TestServer, submission, violated_fields, within};
use tonic::Code;

/// Thresholds that no score reaches, for tests about storage and threading rather than
/// about the classifier.
///
/// # Panics
/// When the configuration of [`config`] cannot be built.
#[track_caller]
fn config_ignoring_scores(site: &Site) -> commentguard::Config {
    let mut config = site.config();
    // Only a certain spam score (1.0) could flag a comment; the test texts are far from it.
    config.thresholds.spam = 1.0;
    config.thresholds.pending = 1.0;
    config
}

fn list(post: &str, page_size: u32, page_token: &str) -> pb::ListCommentsRequest {
    pb::ListCommentsRequest {
        post_id: post.to_owned(),
        page_size,
        page_token: page_token.to_owned(),
    }
}

async fn valid_submission_is_approved_and_listed(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;

    let mut request = submission(
        "rust-ownership",
        "Thanks, the part about borrowing finally made sense to me.",
    );
    request.author_url = "https://ada.example/".to_owned();
    let verdict = client.submit_comment(request).await.unwrap().into_inner();
    assert_eq!(verdict.status(), CommentStatus::Approved);
    assert!((0.0..0.5).contains(&verdict.spam_score));
    assert!(!verdict.comment_id.is_empty());

    let thread = client
        .list_comments(list("rust-ownership", 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(thread.comments.len(), 1);
    let comment = &thread.comments[0];
    assert_eq!(comment.comment_id, verdict.comment_id);
    assert_eq!(comment.author_name, "Ada Lovelace");
    assert_eq!(comment.author_url, "https://ada.example/");
    assert!(comment.created_at.is_some());
    assert!(thread.next_page_token.is_empty());
    server.stop().await;
}

async fn each_validation_rule_names_its_field_and_stores_nothing(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;

    let long_name = "n".repeat(246);
    let long_email = format!("{}@example.com", "e".repeat(90));
    let long_url = format!("https://example.com/{}", "u".repeat(190));
    let long_content = "c".repeat(65_526);
    let long_post = "p".repeat(201);
    type Edit = Box<dyn Fn(&mut pb::SubmitCommentRequest)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("post_id", Box::new(|r| r.post_id = "  ".into())),
        ("post_id", Box::new(move |r| r.post_id = long_post.clone())),
        ("author_name", Box::new(|r| r.author_name = String::new())),
        (
            "author_name",
            Box::new(move |r| r.author_name = long_name.clone()),
        ),
        (
            "author_name",
            Box::new(|r| r.author_name = "me@example.com".into()),
        ),
        (
            "author_name",
            Box::new(|r| r.author_name = "tab\u{1b}[31m".into()),
        ),
        ("author_email", Box::new(|r| r.author_email = " ".into())),
        (
            "author_email",
            Box::new(|r| r.author_email = "not-an-address".into()),
        ),
        (
            "author_email",
            Box::new(|r| r.author_email = "a@localhost".into()),
        ),
        (
            "author_email",
            Box::new(move |r| r.author_email = long_email.clone()),
        ),
        (
            "author_url",
            Box::new(|r| r.author_url = "ftp://example.com".into()),
        ),
        (
            "author_url",
            Box::new(|r| r.author_url = "example.com".into()),
        ),
        (
            "author_url",
            Box::new(move |r| r.author_url = long_url.clone()),
        ),
        (
            "author_url",
            Box::new(|r| r.author_url = "https://x.example/?m=a@b.com".into()),
        ),
        ("content", Box::new(|r| r.content = "\n\t ".into())),
        (
            "content",
            Box::new(move |r| r.content = long_content.clone()),
        ),
        ("content", Box::new(|r| r.content = "null\u{0}byte".into())),
        ("parent_id", Box::new(|r| r.parent_id = "not-an-id".into())),
        (
            "parent_id",
            Box::new(|r| r.parent_id = "01890a5d-ac96-774b-bcce-b302099a8057".into()),
        ),
        (
            "context.ip",
            Box::new(|r| r.context.as_mut().unwrap().ip = "300.1.1.1".into()),
        ),
    ];
    for (field, edit) in &cases {
        let mut request = submission("post", "A perfectly fine comment.");
        edit(&mut request);
        for check_only in [false, true] {
            let result = if check_only {
                client.check_comment(request.clone()).await
            } else {
                client.submit_comment(request.clone()).await
            };
            let status = result.expect_err(field);
            assert_eq!(status.code(), Code::InvalidArgument, "{field}");
            assert_eq!(violated_fields(&status), [*field], "{field}");
        }
    }

    // Several bad fields at once: one violation each.
    let mut request = submission("", "");
    request.author_email = "nope".into();
    let status = client.submit_comment(request).await.unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["post_id", "author_email", "content"]
    );

    server.stop().await;
    assert_eq!(site.stored_count().await, 0);
}

async fn no_public_response_carries_the_email_or_ip(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;
    let email = "private.person@example.org";
    let ip = "203.0.113.77";

    let mut request = submission("privacy", "What a well written piece.");
    request.author_email = email.into();
    request.context.as_mut().unwrap().ip = ip.into();
    let submitted = client
        .submit_comment(request.clone())
        .await
        .unwrap()
        .into_inner();
    let checked = client
        .check_comment(pb::SubmitCommentRequest {
            content: "Another thought entirely.".into(),
            ..request.clone()
        })
        .await
        .unwrap()
        .into_inner();
    let mut streamed_request = request.clone();
    streamed_request.content = "Said over the stream.".into();
    let mut refused_request = request.clone();
    refused_request.author_name = format!("Name {email}");
    let mut streamed = client
        .submit_comments(tokio_stream::iter([
            streamed_request,
            refused_request.clone(),
        ]))
        .await
        .unwrap()
        .into_inner();
    let mut stream_answers = Vec::new();
    while let Some(answer) = within("a stream answer", streamed.message()).await.unwrap() {
        stream_answers.extend(answer.encode_to_vec());
    }
    // A refused request's error describes the problem without echoing the value.
    let refused = client.submit_comment(refused_request).await.unwrap_err();
    let listed = client
        .list_comments(list("privacy", 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.comments.len(), 2);

    for bytes in [
        submitted.encode_to_vec(),
        checked.encode_to_vec(),
        listed.encode_to_vec(),
        stream_answers,
        refused.details().to_vec(),
        refused.message().as_bytes().to_vec(),
    ] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(email) && !text.contains("private.person"));
        assert!(!text.contains(ip));
    }
    server.stop().await;
}

async fn email_in_content_is_held_and_rules_give_reasons(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;

    let reply = client
        .submit_comment(submission(
            "p",
            "Contact me at someone@example.net for details",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status(), CommentStatus::Pending);
    assert_eq!(reply.reasons[0].code, "email_in_content");

    let reply = client
        .submit_comment(submission(
            "p",
            "two links http://a.example/x and https://b.example/y",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status(), CommentStatus::Pending);
    assert_eq!(reply.reasons[0].code, "too_many_links");

    let mut bot = submission("p", "an innocent looking comment");
    bot.context.as_mut().unwrap().honeypot = "filled".into();
    let reply = client.submit_comment(bot).await.unwrap().into_inner();
    assert_eq!(reply.status(), CommentStatus::Spam);
    assert_eq!(reply.reasons[0].code, "honeypot");

    // None of these is public.
    let listed = client.list_comments(list("p", 0, "")).await.unwrap();
    assert!(listed.into_inner().comments.is_empty());
    server.stop().await;
    assert_eq!(site.stored_count().await, 3);
}

async fn duplicates_are_refused_and_check_stores_nothing(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;

    let checked = client
        .check_comment(submission("dup", "Same words twice."))
        .await
        .unwrap()
        .into_inner();
    assert!(checked.comment_id.is_empty());
    assert_eq!(checked.status(), CommentStatus::Approved);

    client
        .submit_comment(submission("dup", "Same words twice."))
        .await
        .unwrap();
    let mut again = submission("dup", "  same WORDS\ntwice. ");
    again.author_email = "ADA@example.com".into();
    let status = client.submit_comment(again.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let status = client.check_comment(again).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    // Another author, or another post, may say the same thing.
    let mut other_author = submission("dup", "Same words twice.");
    other_author.author_email = "grace@example.com".into();
    client.submit_comment(other_author).await.unwrap();
    client
        .submit_comment(submission("other-post", "Same words twice."))
        .await
        .unwrap();
    server.stop().await;
    assert_eq!(site.stored_count().await, 3);
}

async fn concurrent_identical_submissions_store_one(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let client = server.client().await;
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                client
                    .submit_comment(submission("race", "Posted by a double click."))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists),
        }
    }
    assert_eq!(ok, 1);
    server.stop().await;
    assert_eq!(site.stored_count().await, 1);
}

async fn replies_thread_under_approved_comments_of_the_same_post(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;

    let parent = client
        .submit_comment(submission("thread", "First!"))
        .await
        .unwrap()
        .into_inner()
        .comment_id;
    let mut reply = submission("thread", "Replying to the first comment.");
    reply.parent_id = parent.clone();
    let child = client
        .submit_comment(reply.clone())
        .await
        .unwrap()
        .into_inner();

    let listed = client
        .list_comments(list("thread", 0, ""))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed
        .comments
        .iter()
        .map(|c| c.comment_id.clone())
        .collect();
    assert_eq!(ids, [parent.clone(), child.comment_id.clone()]);
    assert_eq!(listed.comments[1].parent_id, parent);

    // The parent must belong to the same post...
    let mut elsewhere = reply.clone();
    elsewhere.post_id = "another-thread".into();
    let status = client.submit_comment(elsewhere).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["parent_id"]);

    // ...and be approved: a held comment cannot be replied to.
    let held = client
        .submit_comment(submission(
            "thread",
            "see http://x.example and http://y.example",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.status(), CommentStatus::Pending);
    let mut to_held = submission("thread", "Replying to a held comment.");
    to_held.parent_id = held.comment_id;
    let status = client.submit_comment(to_held).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["parent_id"]);
    server.stop().await;
}

async fn pagination_walks_the_thread_oldest_first(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;

    let mut submitted = Vec::new();
    for i in 0..7 {
        let id = client
            .submit_comment(submission("paged", &format!("Thought number {i} on this.")))
            .await
            .unwrap()
            .into_inner()
            .comment_id;
        submitted.push(id);
    }
    client
        .submit_comment(submission("unrelated", "Not in the paged thread."))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_comments(list("paged", 3, &token))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(pages <= 7, "the pages do not end");
        assert!(page.comments.len() <= 3);
        seen.extend(page.comments.into_iter().map(|c| c.comment_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, submitted);

    let status = client
        .list_comments(list("paged", 3, "garbage"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["page_token"]);
    let status = client.list_comments(list(" ", 0, "")).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["post_id"]);
    server.stop().await;
}

async fn comments_survive_a_restart(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;
    let id = client
        .submit_comment(submission("durable", "Still here after a restart?"))
        .await
        .unwrap()
        .into_inner()
        .comment_id;
    server.stop().await;

    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;
    let listed = client
        .list_comments(list("durable", 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.comments.len(), 1);
    assert_eq!(listed.comments[0].comment_id, id);
    assert_eq!(listed.comments[0].content, "Still here after a restart?");
    // The email hash key persisted too: the same comment is still a duplicate.
    let status = client
        .submit_comment(submission("durable", "Still here after a restart?"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    server.stop().await;
}

async fn oversize_requests_are_resource_exhausted(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(site.config()).await;
    let mut client = server.client().await;
    let huge = "x".repeat(300 * 1024);
    let status = client
        .submit_comment(submission("big", &huge))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // The server keeps serving.
    client
        .check_comment(submission("big", "small again"))
        .await
        .unwrap();
    server.stop().await;
    assert_eq!(site.stored_count().await, 0);
}

#[tokio::test]
async fn health_and_reflection_answer() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(support::config(dir.path())).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let health = HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "commentguard.v1.CommentService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = within("the reflection answer", responses.message())
        .await
        .unwrap()
        .unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"commentguard.v1.CommentService".to_owned()));
    assert!(names.contains(&"grpc.health.v1.Health".to_owned()));
    server.stop().await;
}

async fn stream_answers_in_order_with_per_item_errors(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let server = TestServer::start(config_ignoring_scores(&site)).await;
    let mut client = server.client().await;

    let mut requests = Vec::new();
    for i in 0..40 {
        let mut request = submission("bulk", &format!("Bulk comment number {i}."));
        match i % 10 {
            3 => request.author_email = "broken".into(),
            7 => request.content = "Bulk comment number 0.".into(), // duplicate of the first
            _ => {}
        }
        requests.push(request);
    }
    let mut answers = client
        .submit_comments(tokio_stream::iter(requests.clone()))
        .await
        .unwrap()
        .into_inner();
    let mut results = Vec::new();
    while let Some(answer) = within("a stream answer", answers.message()).await.unwrap() {
        results.push(answer);
    }
    assert_eq!(results.len(), requests.len());
    for (i, answer) in results.iter().enumerate() {
        match (i % 10, &answer.error) {
            (3, Some(error)) => {
                assert_eq!(error.code, Code::InvalidArgument as i32);
                assert_eq!(error.field_violations[0].field, "author_email");
                assert!(answer.comment_id.is_empty());
            }
            (7, Some(error)) => assert_eq!(error.code, Code::AlreadyExists as i32),
            (_, None) => assert_eq!(answer.status(), CommentStatus::Approved),
            (_, Some(error)) => panic!("item {i} failed: {error:?}"),
        }
    }
    // Answers are in request order: the comment stored under the i-th answer's id is the
    // i-th request's (each stored request has content of its own).
    let listed = client
        .list_comments(list("bulk", 100, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.comments.len(), 32);
    let content_of: std::collections::HashMap<_, _> = listed
        .comments
        .iter()
        .map(|c| (c.comment_id.as_str(), c.content.as_str()))
        .collect();
    let mut answered = 0;
    for (i, (request, answer)) in requests.iter().zip(&results).enumerate() {
        if answer.error.is_none() {
            answered += 1;
            assert_eq!(
                content_of.get(answer.comment_id.as_str()).copied(),
                Some(request.content.as_str()),
                "answer {i} is not about request {i}"
            );
        }
    }
    assert_eq!(answered, 32);
    server.stop().await;
}

on_both_backends!(
    valid_submission_is_approved_and_listed,
    each_validation_rule_names_its_field_and_stores_nothing,
    no_public_response_carries_the_email_or_ip,
    email_in_content_is_held_and_rules_give_reasons,
    duplicates_are_refused_and_check_stores_nothing,
    concurrent_identical_submissions_store_one,
    replies_thread_under_approved_comments_of_the_same_post,
    pagination_walks_the_thread_oldest_first,
    comments_survive_a_restart,
    oversize_requests_are_resource_exhausted,
    stream_answers_in_order_with_per_item_errors,
);

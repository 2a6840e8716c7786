//! Admission counts each item of a `SubmitComments` stream against `max_concurrent_requests`,
//! not only the call that opened the stream.

mod support;

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use support::{TestServer, config, submission, within};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_items_are_admitted_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // One slot, no wait: items handled at once beyond the first are refused.
    config.max_concurrent_requests = 1;
    config.admission_wait_ms = 0;
    let server = TestServer::start(config).await;
    let mut client = CommentServiceClient::connect(server.url.clone())
        .await
        .unwrap();
    let requests: Vec<_> = (0..200)
        .map(|n| submission("admission", &format!("Streamed comment number {n}.")))
        .collect();
    let mut answers = client
        .submit_comments(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let (mut stored, mut refused) = (0, 0);
    while let Some(answer) = within("the next streamed answer", answers.message())
        .await
        .unwrap()
    {
        match answer.error {
            None => stored += 1,
            Some(error) => {
                assert_eq!(error.code, Code::ResourceExhausted as i32, "{error:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(stored + refused, 200);
    assert!(stored > 0, "some items got the slot");
    assert!(refused > 0, "items beyond the one slot were refused");
    server.stop().await;
    assert_eq!(support::stored_count(dir.path()).await, stored);
}

/// Streams and single calls at once, far past the limit: every answer is a stored comment or
/// RESOURCE_EXHAUSTED, nothing refused is stored, and the server serves again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_calls_past_the_limit_share_it_and_refusals_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.max_concurrent_requests = 4;
    config.admission_wait_ms = 0;
    let server = TestServer::start(config).await;
    let client = CommentServiceClient::connect(server.url.clone())
        .await
        .unwrap();
    let request = |kind: &str, n: usize| {
        let mut request = submission("overload", &format!("A {kind} comment, number {n}."));
        request.author_email = format!("{kind}-{n}@example.com");
        request
    };
    let streams: Vec<_> = (0..4)
        .map(|s| {
            let mut client = client.clone();
            let items: Vec<_> = (0..100)
                .map(|n| request(&format!("stream{s}"), n))
                .collect();
            tokio::spawn(async move {
                let mut answers = client
                    .submit_comments(tokio_stream::iter(items))
                    .await?
                    .into_inner();
                let mut codes = Vec::new();
                while let Some(answer) = answers.message().await? {
                    codes.push(answer.error.map_or(Code::Ok, |e| Code::from(e.code)));
                }
                Ok::<_, tonic::Status>(codes)
            })
        })
        .collect();
    let calls: Vec<_> = (0..100)
        .map(|n| {
            let mut client = client.clone();
            let request = request("unary", n);
            tokio::spawn(async move {
                match client.submit_comment(request).await {
                    Ok(_) => Code::Ok,
                    Err(status) => status.code(),
                }
            })
        })
        .collect();
    let mut codes = Vec::new();
    let mut refused_streams = 0;
    for stream in streams {
        match within("a stream's answers", stream).await.unwrap() {
            Ok(answers) => {
                assert_eq!(answers.len(), 100, "one answer per item");
                codes.extend(answers);
            }
            // The call that opens a stream takes a slot too: refused, none of its items is.
            Err(refused) => {
                refused_streams += 1;
                codes.extend([refused.code(); 100]);
            }
        }
    }
    for call in calls {
        codes.push(within("a call's answer", call).await.unwrap());
    }
    let stored = codes.iter().filter(|code| **code == Code::Ok).count();
    let refused = codes.len() - stored;
    assert!(
        codes
            .iter()
            .all(|code| matches!(code, Code::Ok | Code::ResourceExhausted)),
        "{codes:?}"
    );
    assert!(
        stored > 0 && refused > 0,
        "stored {stored}, refused {refused}"
    );
    // /metrics counts refused calls and items: a refused stream is one refusal.
    let refusals = refused - 99 * refused_streams;
    let counted = commentguard::telemetry::metrics().admission_refused.get();
    assert!(
        counted >= refusals as u64,
        "/metrics counts {counted} of {refusals} refusals"
    );

    // The load is over: the server serves again.
    let mut client = client.clone();
    client.submit_comment(request("after", 0)).await.unwrap();
    server.stop().await;
    assert_eq!(support::stored_count(dir.path()).await, stored + 1);
}

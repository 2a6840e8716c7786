//! Admission counts each item of a `SubmitComments` stream against `max_concurrent_requests`,
//! not only the call that opened the stream.

mod support;

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use support::{TestServer, config, submission};
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
    while let Some(answer) = answers.message().await.unwrap() {
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

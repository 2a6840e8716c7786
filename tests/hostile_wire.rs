//! Garbage on the wire and more load than allowed: each gets a clean gRPC error, nothing is
//! stored, and the server keeps serving.

mod support;

use bytes::{Buf as _, BufMut as _};
use commentguard::api::pb;
use prost::Message as _;
use support::{TestServer, config, stored_count, submission};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// Sends and receives raw message bytes, so a test can put anything on the wire.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

async fn send_raw(channel: &Channel, bytes: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/commentguard.v1.CommentService/SubmitComment",
    );
    grpc.unary(tonic::Request::new(bytes), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn malformed_messages_get_clean_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(dir.path())).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let valid = submission("wire", "A perfectly ordinary comment.").encode_to_vec();
    let mut invalid_utf8 = valid.clone();
    // The content field (6) holds text; make one of its bytes an invalid UTF-8 lead byte.
    let at = invalid_utf8
        .windows(9)
        .position(|w| w == b"perfectly")
        .unwrap();
    invalid_utf8[at] = 0xff;
    let mut wrong_type = Vec::new();
    wrong_type.put_u8(1 << 3); // field 1 (post_id, a string) sent as a varint
    wrong_type.put_u8(42);
    let truncated = valid[..valid.len() / 2].to_vec();
    let garbage = vec![0xff; 64];

    for (name, bytes) in [
        ("invalid utf-8", invalid_utf8),
        ("wrong wire type", wrong_type),
        ("truncated", truncated),
        ("garbage", garbage),
    ] {
        let status = send_raw(&channel, bytes).await.unwrap_err();
        // gRPC's status code guide: a request that does not parse is INTERNAL.
        assert_eq!(status.code(), Code::Internal, "{name}: {status:?}");
    }
    // An empty message decodes to all-empty fields: a validation error, not a crash.
    let status = send_raw(&channel, Vec::new()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // The server still serves, and only the one valid submission was stored.
    let answer = send_raw(&channel, valid).await.unwrap();
    let answer = pb::SubmitCommentResponse::decode(answer.as_slice()).unwrap();
    assert!(!answer.comment_id.is_empty());
    server.stop().await;
    assert_eq!(stored_count(dir.path()).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_limit_requests_are_refused_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.max_concurrent_requests = 2;
    // No wait for a slot: the burst meets the limit head on.
    config.admission_wait_ms = 0;
    let server = TestServer::start(config).await;
    let client = server.client().await;

    let burst: Vec<_> = (0..64)
        .map(|i| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut request = submission("burst", &format!("Burst comment {i}."));
                request.author_email = format!("b{i}@example.com");
                client.submit_comment(request).await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for task in burst {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                refused += 1;
            }
        }
    }
    assert!(ok >= 1 && refused >= 1, "ok {ok}, refused {refused}");

    // Once the burst is over, the server serves again.
    let mut client = client.clone();
    client
        .submit_comment(submission("burst", "After the storm."))
        .await
        .unwrap();
    server.stop().await;
    assert_eq!(stored_count(dir.path()).await, ok + 1);
}

//! A tower layer around the gRPC server that counts every request by method and final status
//! code and measures its latency. The status of a normal answer travels in the trailers, after
//! the body, so the body is wrapped to see them.

use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use prost::Message as _;
use tonic::codegen::http;

use super::{RpcLabels, RpcName, metrics};

/// The methods counted by name, read from the descriptors of every service the server offers
/// (ours, health, reflection), so a new RPC is counted without a list to keep up to date. Any
/// other path counts as `other`: the label set stays bounded whatever a client sends.
static RPCS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ]
    .into_iter()
    .filter_map(|encoded| prost_types::FileDescriptorSet::decode(encoded).ok())
    .flat_map(|set| set.file)
    .flat_map(|file| file.service)
    .flat_map(|service| service.method)
    .filter_map(|method| method.name)
    // Leaked once: a few dozen bytes for the life of the process, as metric labels need.
    .map(|name| &*Box::leak(name.into_boxed_str()))
    .collect()
});

/// gRPC status codes by number, as the specification names them.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

fn rpc_of(path: &str) -> &'static str {
    let method = path.rsplit('/').next().unwrap_or("");
    RPCS.iter()
        .copied()
        .find(|r| *r == method)
        .unwrap_or("other")
}

fn code_of(headers: &http::HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?;
    let number: usize = value.to_str().ok()?.parse().ok()?;
    Some(CODES.get(number).copied().unwrap_or("UNKNOWN"))
}

/// One request not yet counted.
#[derive(Debug)]
struct InFlight {
    rpc: &'static str,
    started: Instant,
}

impl InFlight {
    fn finish(self, code: &'static str) {
        let m = metrics();
        m.rpc_requests
            .get_or_create(&RpcLabels {
                rpc: self.rpc,
                code,
            })
            .inc();
        m.rpc_duration
            .get_or_create(&RpcName { rpc: self.rpc })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Counts a gRPC service's requests by method and final status code and measures their
/// latency (put around the services with `tower::layer::layer_fn(RpcMetricsService::new)`).
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
}

impl<S> RpcMetricsService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, ReqBody, B> tower::Service<http::Request<ReqBody>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<RecordedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let in_flight = InFlight {
            rpc: rpc_of(request.uri().path()),
            started: Instant::now(),
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            // A trailers-only answer (most errors) has its status in the headers already.
            let pending = match code_of(response.headers()) {
                Some(code) => {
                    in_flight.finish(code);
                    None
                }
                None => Some(in_flight),
            };
            Ok(response.map(|inner| RecordedBody {
                inner: Box::pin(inner),
                pending,
            }))
        })
    }
}

/// A response body that counts its request once the status arrives in the trailers (or the
/// body ends without one, or is dropped unfinished: the client went away).
#[derive(Debug)]
pub struct RecordedBody<B> {
    inner: Pin<Box<B>>,
    pending: Option<InFlight>,
}

impl<B> RecordedBody<B> {
    fn finish(&mut self, code: &'static str) {
        if let Some(in_flight) = self.pending.take() {
            in_flight.finish(code);
        }
    }
}

impl<B: Body> Body for RecordedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(code_of) {
                    self.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish("UNKNOWN"),
            Poll::Ready(None) => self.finish("OK"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for RecordedBody<B> {
    fn drop(&mut self) {
        self.finish("CANCELLED");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_served_contracts() {
        for (path, name) in [
            (
                "/commentguard.v1.CommentService/SubmitComment",
                "SubmitComment",
            ),
            ("/commentguard.v1.ModerationService/GetRules", "GetRules"),
            (
                "/commentguard.v1.ModerationService/UpdateRules",
                "UpdateRules",
            ),
            (
                "/commentguard.v1.ModerationService/ImportComments",
                "ImportComments",
            ),
            ("/grpc.health.v1.Health/Check", "Check"),
            (
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                "ServerReflectionInfo",
            ),
        ] {
            assert_eq!(rpc_of(path), name);
        }
        assert_eq!(rpc_of("/x/../../etc/passwd"), "other");
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        assert_eq!(code_of(&headers), Some("INVALID_ARGUMENT"));
        headers.insert("grpc-status", http::HeaderValue::from_static("99"));
        assert_eq!(code_of(&headers), Some("UNKNOWN"));
    }
}

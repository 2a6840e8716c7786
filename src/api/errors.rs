//! Mapping failures to gRPC statuses, at the boundary only.

use std::task::{Context, Poll};

use tonic::codegen::http;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::store::StoreError;
use crate::validate::FieldViolation;

/// INVALID_ARGUMENT with one `google.rpc.BadRequest` field violation per bad field.
pub(super) fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field, &v.description);
    }
    let fields: Vec<&str> = violations.iter().map(|v| v.field).collect();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid fields: {}", fields.join(", ")),
        details,
    )
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(_) => {
                Status::already_exists("this comment was already submitted")
            }
            StoreError::Closed => Status::unavailable("the server is shutting down"),
            other => {
                tracing::error!(cause = %other, "storage failure");
                Status::internal("storage failure")
            }
        }
    }
}

/// tonic answers a request message over the size limit with OUT_OF_RANGE; the contract (like
/// grpc-go and grpc-java) says RESOURCE_EXHAUSTED, so this layer rewrites that one answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OversizeAsResourceExhausted;

impl<S> tower::Layer<S> for OversizeAsResourceExhausted {
    type Service = OversizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OversizeService { inner }
    }
}

/// The service [`OversizeAsResourceExhausted`] wraps around.
#[derive(Debug, Clone)]
pub struct OversizeService<S> {
    inner: S,
}

/// The start of tonic's message for an oversize request, as it travels in the percent-encoded
/// `grpc-message` header.
const OVERSIZE_MESSAGE: &str = "Error,%20decoded%20message%20length%20too%20large";

impl<S, Req, B> tower::Service<Req> for OversizeService<S>
where
    S: tower::Service<Req, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            let headers = response.headers_mut();
            let out_of_range = headers
                .get("grpc-status")
                .is_some_and(|v| v.as_bytes() == b"11");
            let oversize = headers
                .get("grpc-message")
                .is_some_and(|v| v.as_bytes().starts_with(OVERSIZE_MESSAGE.as_bytes()));
            if out_of_range && oversize {
                headers.insert(
                    "grpc-status",
                    http::HeaderValue::from(Code::ResourceExhausted as i32),
                );
            }
            Ok(response)
        })
    }
}

//! Mapping failures to gRPC statuses, at the boundary only.

use std::time::Duration;

use tonic::codegen::http;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::pb;
use crate::pipeline::{Rejection, RulesRejection};
use crate::store::StoreError;
use crate::validate::FieldViolation;

/// Why a request was not carried out, before it becomes a gRPC status (unary calls) or an
/// item error (streams).
#[derive(Debug)]
pub(super) enum Refusal {
    /// Bad fields; nothing was stored.
    Invalid(Vec<FieldViolation>),
    /// Storage said no (a duplicate, an unknown id, an illegal transition) or failed.
    Store(StoreError),
    /// The same email or IP commented less than the flood interval ago; retry after this.
    Flooded(Duration),
    /// The post takes no more comments.
    PostClosed,
    /// Every in-flight slot stayed busy for the admission wait (a stream item).
    AtCapacity,
    /// No moderator token was presented, or none is configured.
    Unauthenticated(&'static str),
    /// The presented token is not a moderator's.
    PermissionDenied,
    /// What the request was based on changed meanwhile (a stale version); retry from a fresh read.
    Stale(String),
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Invalid(violations) => Self::Invalid(violations),
            Rejection::PostClosed => Self::PostClosed,
            Rejection::Flooded(wait) => Self::Flooded(wait),
            Rejection::Store(e) => Self::Store(e),
        }
    }
}

impl From<RulesRejection> for Refusal {
    fn from(rejection: RulesRejection) -> Self {
        match rejection {
            RulesRejection::Invalid(violations) => Self::Invalid(violations),
            RulesRejection::Stale { expected, current } => Self::Stale(format!(
                "the rules changed since version {expected} (now {current}); read them again with GetRules"
            )),
            RulesRejection::Store(e) => Self::Store(e),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl Refusal {
    fn code_and_message(&self) -> (Code, String) {
        match self {
            Self::Invalid(violations) => {
                let fields: Vec<&str> = violations.iter().map(|v| v.field).collect();
                (
                    Code::InvalidArgument,
                    format!("invalid fields: {}", fields.join(", ")),
                )
            }
            Self::Store(StoreError::Duplicate(_)) => (
                Code::AlreadyExists,
                "this comment was already submitted".to_owned(),
            ),
            // Only when the comment holding the key went between the insert and the read.
            Self::Store(StoreError::KeyTaken(_)) => (
                Code::Aborted,
                "a submission with this idempotency key changed meanwhile; retry".to_owned(),
            ),
            Self::Store(StoreError::Closed) => {
                (Code::Unavailable, "the server is shutting down".to_owned())
            }
            Self::Store(StoreError::NotFound(id)) => (Code::NotFound, format!("no comment {id}")),
            Self::Store(e @ StoreError::IllegalTransition { .. }) => {
                (Code::FailedPrecondition, e.to_string())
            }
            Self::Flooded(wait) => (
                Code::ResourceExhausted,
                format!(
                    "comments from this author are too frequent; retry in {}s",
                    wait.as_secs_f64().ceil()
                ),
            ),
            Self::PostClosed => (
                Code::FailedPrecondition,
                "the post is closed to new comments".to_owned(),
            ),
            Self::AtCapacity => (
                Code::ResourceExhausted,
                crate::admission::at_capacity().message().to_owned(),
            ),
            Self::Unauthenticated(why) => (Code::Unauthenticated, (*why).to_owned()),
            Self::Stale(message) => (Code::Aborted, message.clone()),
            Self::PermissionDenied => (
                Code::PermissionDenied,
                "the token is not a moderator's".to_owned(),
            ),
            Self::Store(StoreError::NoSpace(_)) => (
                Code::ResourceExhausted,
                "the server's storage is full; retry later".to_owned(),
            ),
            Self::Store(e @ (StoreError::Unavailable(_) | StoreError::Recovering)) => {
                tracing::error!(cause = %crate::error::Chain(e), "storage cannot write");
                (
                    Code::Unavailable,
                    "the server's storage is unavailable; retry later".to_owned(),
                )
            }
            Self::Store(other) => {
                tracing::error!(cause = %other, "storage failure");
                (Code::Internal, "storage failure".to_owned())
            }
        }
    }

    /// The refusal as an item of a `SubmitComments` stream.
    pub(super) fn into_item_error(self) -> pb::SubmitError {
        let (code, message) = self.code_and_message();
        let field_violations = match self {
            Self::Invalid(violations) => violations
                .into_iter()
                .map(|v| pb::FieldViolation {
                    field: v.field.to_owned(),
                    description: v.description,
                })
                .collect(),
            _ => Vec::new(),
        };
        pb::SubmitError {
            code: code as i32,
            message,
            field_violations,
        }
    }
}

impl From<Refusal> for Status {
    /// INVALID_ARGUMENT carries one `google.rpc.BadRequest` field violation per bad field.
    fn from(refusal: Refusal) -> Self {
        let (code, message) = refusal.code_and_message();
        match refusal {
            Refusal::Invalid(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field, &v.description);
                }
                Status::with_error_details(code, message, details)
            }
            Refusal::Flooded(wait) => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(wait));
                Status::with_error_details(code, message, details)
            }
            _ => Status::new(code, message),
        }
    }
}

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        Refusal::Store(error).into()
    }
}

/// The start of tonic's message for an oversize request, as it travels in the percent-encoded
/// `grpc-message` header.
const OVERSIZE_MESSAGE: &str = "Error,%20decoded%20message%20length%20too%20large";

/// tonic answers a request message over the size limit with OUT_OF_RANGE; the contract (like
/// grpc-go and grpc-java) says RESOURCE_EXHAUSTED, so this rewrites that one answer (a
/// `tower::util::MapResponseLayer` around the services applies it).
pub fn oversize_as_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
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
    response
}

//! The gRPC edge: tonic services and the only place where protobuf types meet domain types.

mod convert;
mod errors;
mod import;
mod moderation;
mod service;
mod watch;

pub use convert::submission_input;
pub use errors::oversize_as_resource_exhausted;
pub use moderation::ModerationApi;
pub use service::CommentApi;

/// The generated contract, under the name the handlers and outside clients use.
pub use crate::proto as pb;

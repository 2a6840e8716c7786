//! The gRPC edge: tonic services and the only place where protobuf types meet domain types.

mod convert;
mod errors;
mod import;
mod moderation;
mod service;
mod watch;

pub use convert::submission_input;
pub use errors::OversizeAsResourceExhausted;
pub use moderation::ModerationApi;
pub use service::{CommentApi, Shared};

/// Code generated from `proto/commentguard/v1/*.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("commentguard.v1");

    /// The encoded descriptors of the contract, served through gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("commentguard_descriptor");
}

//! The wire contract: code generated from `proto/commentguard/v1/*.proto`. The gRPC edge
//! serves it and the command-line clients speak it; below the edges only the metrics layer
//! reads its descriptors (for RPC names).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("commentguard.v1");

/// The encoded descriptors of the contract, served through gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("commentguard_descriptor");

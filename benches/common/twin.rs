//! The no-op twin: the service's proto with a handler that answers every submission with a
//! fixed verdict, without validating, scoring or storing. Whatever the twin costs is the floor
//! of tonic, HTTP/2 and the client on this machine; the real service is measured against it.

use std::pin::Pin;

use commentguard::api::pb::comment_service_server::CommentService;
use commentguard::api::pb::{self, CommentStatus};
use futures_util::Stream;
use tonic::{Request, Response, Status, Streaming};

/// The twin: answers every submission with a fixed verdict.
#[derive(Debug, Clone, Copy)]
pub struct NoOp;

#[tonic::async_trait]
impl CommentService for NoOp {
    async fn submit_comment(
        &self,
        _: Request<pb::SubmitCommentRequest>,
    ) -> Result<Response<pb::SubmitCommentResponse>, Status> {
        Ok(Response::new(pb::SubmitCommentResponse {
            comment_id: "01890a5d-ac96-774b-bcce-b302099a8057".into(),
            status: CommentStatus::Approved.into(),
            spam_score: 0.01,
            reasons: Vec::new(),
            error: None,
            policy_version: "0123456789abcdef".into(),
            toxicity: 0.0,
            toxic_spans: Vec::new(),
        }))
    }

    async fn check_comment(
        &self,
        request: Request<pb::SubmitCommentRequest>,
    ) -> Result<Response<pb::SubmitCommentResponse>, Status> {
        self.submit_comment(request).await
    }

    type SubmitCommentsStream =
        Pin<Box<dyn Stream<Item = Result<pb::SubmitCommentResponse, Status>> + Send + 'static>>;

    async fn submit_comments(
        &self,
        _: Request<Streaming<pb::SubmitCommentRequest>>,
    ) -> Result<Response<Self::SubmitCommentsStream>, Status> {
        Err(Status::unimplemented("not part of the comparison"))
    }

    async fn list_comments(
        &self,
        _: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        Ok(Response::new(pb::ListCommentsResponse::default()))
    }
}

//! One error type for the console's handlers: a status and a message fit to show, never an
//! internal detail (those are logged here, once).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::store::StoreError;

/// Why a request to the console failed.
#[derive(Debug)]
pub enum HttpError {
    /// Input that makes no sense; the message says which.
    BadRequest(String),
    /// No session, or a POST without the session's CSRF token.
    Forbidden,
    /// No such page or comment.
    NotFound,
    /// The action does not apply to the comment as it is now.
    Conflict(String),
    /// Too many failed logins from this address.
    TooManyAttempts,
    /// The service is shutting down.
    Unavailable,
    /// The store cannot write now (full disk, failed device, recovering); a retry may work.
    StorageUnavailable,
    /// Something failed inside; logged, not shown.
    Internal,
}

impl HttpError {
    /// The status and message.
    pub fn parts(&self) -> (StatusCode, String) {
        match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            Self::Forbidden => (StatusCode::FORBIDDEN, "Forbidden".into()),
            Self::NotFound => (StatusCode::NOT_FOUND, "Not found".into()),
            Self::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            Self::TooManyAttempts => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed logins; wait a few minutes".into(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The service is shutting down".into(),
            ),
            Self::StorageUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Storage cannot write right now; try again shortly".into(),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong".into(),
            ),
        }
    }
}

impl From<StoreError> for HttpError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::IllegalTransition { .. } => Self::Conflict(error.to_string()),
            StoreError::Closed => Self::Unavailable,
            StoreError::NoSpace(_) | StoreError::Unavailable(_) | StoreError::Recovering => {
                tracing::warn!(cause = %error, "console request refused: storage cannot write");
                Self::StorageUnavailable
            }
            other => {
                tracing::error!(cause = %other, "console request failed in storage");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, message) = self.parts();
        let page = super::views::error_page(status, &message);
        (status, Html(page.into_string())).into_response()
    }
}

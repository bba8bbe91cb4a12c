//! API errors: a kind (mapped to an HTTP status in exactly one place) and Docker's
//! `{"message": ...}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine_types::{ErrorBody, ErrorKind, HasKind};

/// An error answered to an API client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }
    pub fn not_modified() -> Self {
        Self::new(ErrorKind::NotModified, "")
    }

    /// Converts any classified library error, keeping its whole source chain in the
    /// message.
    pub fn from_err<E: HasKind + std::error::Error>(err: E) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            let s_msg = s.to_string();
            if !message.contains(&s_msg) {
                message.push_str(": ");
                message.push_str(&s_msg);
            }
            source = s.source();
        }
        Self::new(err.kind(), message)
    }
}

/// The one place where an error kind becomes an HTTP status.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.kind);
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), message = %self.message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), message = %self.message, "request refused");
        }
        (
            status,
            axum::Json(ErrorBody {
                message: self.message,
            }),
        )
            .into_response()
    }
}

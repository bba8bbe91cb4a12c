//! API errors: a kind (mapped to an HTTP status in exactly one place) and Docker's
//! `{"message": ...}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine_types::ErrorBody;
use errdefs::{ErrorKind, HasKind};

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

/// The most of a non-JSON error body that [`json_errors`] reads into the message.
const REJECTION_BODY_LIMIT: usize = 64 * 1024;

/// Every error answer carries Docker's `{"message": ...}` body: axum's own
/// rejections (a path that is not UTF-8, a body over the buffering limit) are
/// text/plain, and are rewritten here with their status kept.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_BODY_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let json = axum::Json(ErrorBody { message }).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn answer(err: ApiError) -> (u16, Vec<u8>) {
        let resp = err.into_response();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await;
        (
            status,
            body.map(|b| b.to_bytes().to_vec()).unwrap_or_default(),
        )
    }

    /// The status is errdefs' (whose own tests pin the numbers) and the body Docker's.
    #[tokio::test]
    async fn errors_answer_their_kinds_status_and_message() {
        let kinds = [
            ErrorKind::InvalidArgument,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::NotImplemented,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
        ];
        for kind in kinds {
            let (status, body) = answer(ApiError::new(kind, "no such thing")).await;
            assert_eq!(status, kind.http_status(), "{kind:?}");
            assert_eq!(body, br#"{"message":"no such thing"}"#, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn not_modified_has_no_body() {
        let (status, body) = answer(ApiError::not_modified()).await;
        assert_eq!(status, 304);
        assert!(body.is_empty());
    }
}

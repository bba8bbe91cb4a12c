//! Registry errors and their mapping to OCI Distribution error codes and HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Every failure the registry can report. `status_and_code` is the single place
/// where an error becomes an HTTP status and a spec error code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob unknown to registry: {digest}")]
    BlobUnknown { digest: String },
    #[error("blob upload unknown to registry: {uuid}")]
    BlobUploadUnknown { uuid: String },
    #[error("blob upload invalid: {reason}")]
    BlobUploadInvalid { reason: String },
    #[error("upload offset mismatch: expected {expected}, got {got}")]
    RangeInvalid { expected: u64, got: u64 },
    #[error("requested range not satisfiable for blob of size {size}")]
    RangeNotSatisfiable { size: u64 },
    #[error(
        "provided digest did not match uploaded content: expected {expected}, computed {computed}"
    )]
    DigestMismatch { expected: String, computed: String },
    #[error("invalid digest: {digest}")]
    DigestInvalid { digest: String },
    #[error("manifest references unknown blob {digest}")]
    ManifestBlobUnknown { digest: String },
    #[error("manifest invalid: {reason}")]
    ManifestInvalid { reason: String },
    #[error("manifest unknown: {reference}")]
    ManifestUnknown { reference: String },
    #[error("manifest larger than {limit} bytes")]
    ManifestTooLarge { limit: usize },
    #[error("invalid repository name: {name}")]
    NameInvalid { name: String },
    #[error("repository name not known to registry: {name}")]
    NameUnknown { name: String },
    #[error("invalid tag: {tag}")]
    TagInvalid { tag: String },
    #[error("invalid pagination parameter: {reason}")]
    PaginationInvalid { reason: String },
    #[error("the operation is unsupported: {what}")]
    Unsupported { what: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading request body: {reason}")]
    Body { reason: String },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The one mapping from error kind to HTTP status and spec error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use Error::*;
        match self {
            BlobUnknown { .. } => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
            BlobUploadUnknown { .. } => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            BlobUploadInvalid { .. } => (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
            RangeInvalid { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID"),
            RangeNotSatisfiable { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UNKNOWN"),
            DigestMismatch { .. } | DigestInvalid { .. } => {
                (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
            }
            ManifestBlobUnknown { .. } => (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
            ManifestInvalid { .. } => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
            ManifestUnknown { .. } => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
            ManifestTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
            NameInvalid { .. } => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            NameUnknown { .. } => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
            TagInvalid { .. } => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
            PaginationInvalid { .. } => (StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID"),
            Unsupported { .. } => (StatusCode::NOT_IMPLEMENTED, "UNSUPPORTED"),
            Body { .. } => (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
            Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let body = serde_json::json!({
            "errors": [{ "code": code, "message": self.to_string(), "detail": serde_json::Value::Null }]
        });
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

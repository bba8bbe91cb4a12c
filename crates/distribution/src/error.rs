//! The crate's error type, with Docker-like messages and an [`ErrorKind`] mapping.

use errdefs::{ErrorKind, HasKind};
use serde::Deserialize;

/// Everything the registry client can fail with.
///
/// Display messages are what a Docker user sees after `Error response from daemon:`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest, blob or repository does not exist
    /// (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `BLOB_UNKNOWN`, or a bare 404).
    #[error("{what} not found: {message}")]
    NotFound {
        /// e.g. "manifest for localhost:5000/x:latest"
        what: String,
        /// The registry's message, e.g. "manifest unknown".
        message: String,
    },
    /// The registry (or its token server) refused the credentials, or asked for
    /// credentials that were not given.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The registry as the user wrote it ("localhost:5000", "docker.io").
        registry: String,
        /// What happened and what to do, e.g. "authentication required; run `docker login localhost:5000`".
        message: String,
    },
    /// Authenticated, but not allowed (`DENIED`, HTTP 403).
    #[error("denied: {message}")]
    Denied {
        /// The registry as the user wrote it.
        registry: String,
        /// The registry's message.
        message: String,
    },
    /// A malformed argument: reference, repository path, digest, registry name.
    #[error("invalid argument: {what}: {reason}")]
    InvalidArgument {
        /// The offending value.
        what: String,
        /// Why it is refused.
        reason: String,
    },
    /// The content does not hash to the digest it was asked for.
    #[error("digest mismatch for {what}: expected {expected}, got {got}")]
    DigestMismatch {
        /// What was fetched (a blob or manifest reference).
        what: String,
        /// The digest that was asked for or announced.
        expected: String,
        /// The digest of what was received.
        got: String,
    },
    /// The content is not as long as its descriptor says.
    #[error("size mismatch for {what}: expected {expected} bytes, got {got}")]
    SizeMismatch {
        /// What was fetched.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// What arrived.
        got: u64,
    },
    /// The content is larger than the caller's limit.
    #[error("{what} is too large: more than {limit} bytes")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The registry answered something the client cannot use (schema1 manifests,
    /// an unknown digest algorithm, a missing header).
    #[error("{what}: {reason}")]
    Unsupported {
        /// What was not understood.
        what: String,
        /// Why.
        reason: String,
    },
    /// Any other error response of the registry, with its spec error body if any.
    #[error("error from registry {registry}: {status}{}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(), if message.is_empty() { String::new() } else { format!(": {message}") })]
    Registry {
        /// The registry as the user wrote it.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// The spec error code (`SIZE_INVALID`, `TOOMANYREQUESTS`, ...).
        code: Option<String>,
        /// The message (and detail) of the error body, or the body itself.
        message: String,
    },
    /// The registry could not be reached or the connection failed.
    #[error(
        "error reaching registry {registry} ({url}): {}",
        transport_message(registry, source)
    )]
    Http {
        /// The registry as the user wrote it.
        registry: String,
        /// The URL of the failed request (without query).
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The client could not be set up (bad certs.d files, TLS configuration).
    #[error("registry client setup: {context}: {source}")]
    Setup {
        /// What was being set up.
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A local file error while downloading or uploading.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The registry's answer could not be parsed.
    #[error("invalid response from registry {registry}: {what}: {reason}")]
    InvalidResponse {
        /// The registry as the user wrote it.
        registry: String,
        /// What was being parsed ("token response", "manifest", "Location header").
        what: String,
        /// Why it is invalid.
        reason: String,
    },
}

impl HasKind for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Denied { .. } => ErrorKind::Forbidden,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::Unsupported { .. } => ErrorKind::NotImplemented,
            Error::Http { .. } => ErrorKind::Unavailable,
            Error::Registry { status, .. } if *status == 429 || *status >= 500 => {
                ErrorKind::Unavailable
            }
            Error::Registry { code, .. }
                if matches!(
                    code.as_deref(),
                    Some("NAME_INVALID" | "TAG_INVALID" | "DIGEST_INVALID" | "MANIFEST_INVALID")
                ) =>
            {
                ErrorKind::InvalidArgument
            }
            Error::Registry { code, status, .. }
                if *status == 405 || code.as_deref() == Some("UNSUPPORTED") =>
            {
                ErrorKind::NotImplemented
            }
            Error::DigestMismatch { .. }
            | Error::SizeMismatch { .. }
            | Error::TooLarge { .. }
            | Error::Registry { .. }
            | Error::Setup { .. }
            | Error::Io { .. }
            | Error::InvalidResponse { .. } => ErrorKind::Internal,
        }
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// True for failures worth retrying: transport errors, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            Error::Registry { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// The transport error with its causes ("error sending request: ...: invalid peer
/// certificate: UnknownIssuer"), plus what to do about certificate errors.
fn transport_message(registry: &str, e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        let m = c.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        cur = c.source();
    }
    let lower = msg.to_ascii_lowercase();
    if lower.contains("badcertificate") || lower.contains("certificaterequired") {
        msg.push_str(&format!(
            "; {registry} may require a client certificate: put client.cert and client.key in the certs.d directory under {registry}/"
        ));
    } else if lower.contains("certificate") {
        msg.push_str(&format!(
            "; if {registry} uses a private CA, put it in the certs.d directory as {registry}/ca.crt, or list {registry} in insecure-registries"
        ));
    } else if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
        msg.push_str(&format!(
            "; {registry} may serve plain HTTP: list it in insecure-registries to allow that"
        ));
    }
    msg
}

/// One entry of a spec error body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SpecError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct SpecErrors {
    #[serde(default)]
    errors: Vec<SpecError>,
}

/// Parse `{"errors":[{"code","message","detail"}]}`; empty when the body is something else.
pub(crate) fn parse_spec_errors(body: &[u8]) -> Vec<SpecError> {
    serde_json::from_slice::<SpecErrors>(body)
        .map(|e| e.errors)
        .unwrap_or_default()
}

/// The message of an error body: the spec errors' messages, or the body text itself.
pub(crate) fn body_message(errors: &[SpecError], body: &[u8]) -> String {
    if !errors.is_empty() {
        return errors
            .iter()
            .map(|e| {
                let mut m = if e.message.is_empty() {
                    e.code.to_lowercase().replace('_', " ")
                } else {
                    e.message.clone()
                };
                if let Some(d) = &e.detail {
                    if let Some(s) = d.as_str() {
                        if !s.is_empty() && s != m {
                            m = format!("{m}: {s}");
                        }
                    }
                }
                m
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_error_bodies() {
        let b = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        let e = parse_spec_errors(b);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].code, "MANIFEST_UNKNOWN");
        assert_eq!(body_message(&e, b), "manifest unknown");
        assert_eq!(body_message(&[], b"  plain text\n"), "plain text");
        assert!(parse_spec_errors(b"<html>").is_empty());
    }

    #[test]
    fn kinds_and_messages() {
        let e = Error::NotFound {
            what: "manifest for localhost:5000/x:latest".into(),
            message: "manifest unknown".into(),
        };
        assert_eq!(
            e.to_string(),
            "manifest for localhost:5000/x:latest not found: manifest unknown"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = Error::Registry {
            registry: "r".into(),
            status: 503,
            code: None,
            message: String::new(),
        };
        assert_eq!(e.to_string(), "error from registry r: 503");
        assert!(e.is_transient());
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }
}

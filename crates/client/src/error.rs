//! The client's error type.

use std::fmt;

/// An error status from the daemon with its message (the `message` of
/// Docker's `{"message": ...}` error body, or the body's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonError {
    /// HTTP status code, e.g. 404.
    pub status: u16,
    /// The daemon's message.
    pub message: String,
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The docker CLI's wording.
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for DaemonError {}

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host string is not `unix://`, `tcp://` or an absolute path.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: &'static str },
    /// The daemon's socket could not be reached.
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")]
    Connect {
        host: String,
        /// Why (kept for debugging; not part of the message, like docker's).
        cause: std::io::Error,
    },
    /// The daemon answered with an error status.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// The HTTP/1.1 handshake on a fresh connection failed.
    #[error("HTTP handshake with the daemon")]
    Handshake(#[source] hyper::Error),
    /// Sending the request or reading the response head failed.
    #[error("sending request to the daemon")]
    Send(#[source] hyper::Error),
    /// Reading the response body failed.
    #[error("reading the daemon's response")]
    Body(#[source] hyper::Error),
    /// The daemon did not switch protocols for a hijacked request.
    #[error("the daemon did not upgrade the connection")]
    Upgrade(#[source] hyper::Error),
    /// The request could not be built (e.g. a header value with a newline).
    #[error("building the request")]
    Request(#[from] hyper::http::Error),
    /// A request body could not be serialized.
    #[error("encoding the request body")]
    Encode(#[source] serde_json::Error),
    /// A response body is not the JSON we expected.
    #[error("decoding daemon response")]
    Decode(#[source] serde_json::Error),
}

impl Error {
    /// The daemon's error status and message, when this is one.
    pub fn as_daemon(&self) -> Option<&DaemonError> {
        match self {
            Error::Daemon(d) => Some(d),
            _ => None,
        }
    }

    /// The HTTP status of a daemon error.
    pub fn status(&self) -> Option<u16> {
        self.as_daemon().map(|d| d.status)
    }
}

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The CLI's view of the daemon connection: the `client` crate, with its
//! errors seen through anyhow.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use hyper::body::Incoming;
use hyper::Response;

pub use ::client::{
    check, empty, enc, full, models, query, stream_body, Body, Client, ContainerListOptions,
    CreateOptions, DaemonError, EventsOptions, Host, ImageListOptions, LogsOptions,
    NetworkInspectOptions, RemoveOptions, ReqOpts, DEFAULT_HOST, MAX_API_VERSION,
};

/// An error that may be the daemon's.
pub trait MaybeDaemonError {
    /// The daemon's status and message, if this is a daemon error.
    fn daemon(&self) -> Option<&DaemonError>;
}

impl MaybeDaemonError for ::client::Error {
    fn daemon(&self) -> Option<&DaemonError> {
        self.as_daemon()
    }
}

impl MaybeDaemonError for anyhow::Error {
    fn daemon(&self) -> Option<&DaemonError> {
        self.downcast_ref::<::client::Error>()
            .and_then(::client::Error::as_daemon)
    }
}

/// Returns the daemon error inside `e`, if it is one.
pub fn daemon_error(e: &impl MaybeDaemonError) -> Option<&DaemonError> {
    e.daemon()
}

/// Streams a response body as byte chunks.
pub fn body_stream(resp: Response<Incoming>) -> impl Stream<Item = anyhow::Result<Bytes>> {
    ::client::body_stream(resp).map(|r| r.map_err(anyhow::Error::from))
}

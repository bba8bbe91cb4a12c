use std::path::PathBuf;

/// Errors of starting a [`crate::Listener`]. Serving itself never fails: bad queries
/// are dropped and upstream failures answered `SERVFAIL`.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A socket operation failed.
    #[error("{context}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Opening or entering the network namespace failed.
    #[error("{context} {}", path.display())]
    Netns {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The thread that binds the sockets inside the namespace died.
    #[error("the thread binding the DNS sockets in {} died", path.display())]
    Thread { path: PathBuf },
    /// `serve` was called outside a tokio runtime.
    #[error("the DNS server must be started from within a tokio runtime")]
    NoRuntime,
}

impl DnsError {
    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        Self::Io { context, source }
    }
}

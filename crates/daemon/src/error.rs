//! The daemon's error type: every failure carries its kind, so the API layer maps
//! it to Docker's status code in one place.

use errdefs::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// Docker's message for a missing volume (moby's `OpErr` with op `get`).
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// A path missing in a container (Docker's message, with the container).
    #[error("{0}")]
    NoSuchPath(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("container already in the requested state")]
    NotModified,
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(transparent)]
    Archive(archive::ArchiveError),
    #[error(transparent)]
    Network(#[from] network::NetworkError),
    #[error(transparent)]
    Shim(#[from] runtime::shim::ShimError),
    #[error(transparent)]
    Spec(#[from] runtime::spec::SpecError),
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Registry(#[from] distribution::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl DaemonError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DaemonError::Io {
            context: context.into(),
            source,
        }
    }
}

impl HasKind for DaemonError {
    fn kind(&self) -> ErrorKind {
        match self {
            DaemonError::NoSuchContainer(_)
            | DaemonError::NoSuchExec(_)
            | DaemonError::NoSuchNetwork(_)
            | DaemonError::NoSuchVolume(_)
            | DaemonError::NoSuchPath(_) => ErrorKind::NotFound,
            DaemonError::Invalid(_) => ErrorKind::InvalidArgument,
            DaemonError::Conflict(_) => ErrorKind::Conflict,
            DaemonError::Forbidden(_) => ErrorKind::Forbidden,
            DaemonError::NotImplemented(_) => ErrorKind::NotImplemented,
            DaemonError::NotModified => ErrorKind::NotModified,
            DaemonError::Internal(_) | DaemonError::Io { .. } | DaemonError::Store(_) => {
                ErrorKind::Internal
            }
            DaemonError::Image(e) => e.kind(),
            DaemonError::Archive(e) => e.kind(),
            DaemonError::Network(e) => e.kind(),
            DaemonError::Shim(e) => e.kind(),
            DaemonError::Spec(e) => e.kind(),
            DaemonError::Runtime(e) => e.kind(),
            DaemonError::Registry(e) => e.kind(),
        }
    }
}

impl From<DaemonError> for api_server::ApiError {
    fn from(e: DaemonError) -> Self {
        api_server::ApiError::from_err(e)
    }
}

pub type Result<T, E = DaemonError> = std::result::Result<T, E>;

//! Errors of the archive operations, each with its kind (the HTTP status Docker
//! answers for it).

use errdefs::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The path does not exist inside the root.
    #[error("Could not find the file {path} in container")]
    NotFound { path: String },
    /// The destination of an extraction is not a directory.
    #[error("extraction point is not a directory: {path}")]
    NotADirectory { path: String },
    /// A tar entry Berth does not write (escapes, devices, links to outside).
    #[error("refusing to extract {entry:?}: {reason}")]
    Refused { entry: String, reason: String },
    /// `noOverwriteDirNonDir`: a directory would replace a non-directory or the
    /// other way round.
    #[error("cannot overwrite {existing} {path:?} with {new} {entry:?}")]
    Overwrite {
        existing: &'static str,
        path: String,
        new: &'static str,
        entry: String,
    },
    /// The file system is full.
    #[error("no space left on device while {context}")]
    NoSpace { context: String },
    /// The file system is mounted read-only.
    #[error("container rootfs is marked read-only ({context})")]
    ReadOnly { context: String },
    /// The input is not a readable tar.
    #[error("invalid tar archive ({context}): {source}")]
    BadTar {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ArchiveError {
    /// An IO failure, classified: ENOSPC and EROFS get their own variants.
    pub(crate) fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        let source = source.into();
        let context = context.into();
        match source.raw_os_error() {
            Some(c) if c == rustix::io::Errno::NOSPC.raw_os_error() => {
                ArchiveError::NoSpace { context }
            }
            Some(c) if c == rustix::io::Errno::DQUOT.raw_os_error() => {
                ArchiveError::NoSpace { context }
            }
            Some(c) if c == rustix::io::Errno::ROFS.raw_os_error() => {
                ArchiveError::ReadOnly { context }
            }
            _ => ArchiveError::Io { context, source },
        }
    }

    pub(crate) fn refused(entry: &str, reason: impl Into<String>) -> Self {
        ArchiveError::Refused {
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }
}

impl HasKind for ArchiveError {
    fn kind(&self) -> ErrorKind {
        match self {
            ArchiveError::NotFound { .. } => ErrorKind::NotFound,
            ArchiveError::NotADirectory { .. }
            | ArchiveError::Refused { .. }
            | ArchiveError::Overwrite { .. }
            | ArchiveError::BadTar { .. } => ErrorKind::InvalidArgument,
            ArchiveError::ReadOnly { .. } => ErrorKind::Forbidden,
            ArchiveError::NoSpace { .. } | ArchiveError::Io { .. } => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

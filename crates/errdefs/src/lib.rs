#![forbid(unsafe_code)]
//! Error kinds, in the manner of moby's `errdefs`.
//!
//! Library crates classify their errors with [`ErrorKind`] by implementing [`HasKind`];
//! the API server turns the kind into an HTTP status with [`ErrorKind::http_status`],
//! the only place where that mapping is written. The crate has no dependencies, so a
//! parser can classify its errors without pulling in the API models.

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request or its input is malformed (400).
    InvalidArgument,
    /// Credentials are missing or wrong (401).
    Unauthorized,
    /// The caller may not do this (403).
    Forbidden,
    /// The object does not exist (404).
    NotFound,
    /// The object's state does not allow this, or the name is taken (409).
    Conflict,
    /// Nothing to do, e.g. starting a running container (304).
    NotModified,
    /// The feature is not implemented (501).
    NotImplemented,
    /// A service the request needs cannot be reached now (503).
    Unavailable,
    /// Anything else: a failure of the engine itself (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code Docker answers for this kind (moby's `httpstatus`).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::NotModified => 304,
            ErrorKind::NotImplemented => 501,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// Implemented by every library error that can reach the API.
pub trait HasKind {
    /// The kind of this error, which decides the HTTP status it is answered with.
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::{ErrorKind, HasKind};

    /// Every kind with the status Docker answers for it.
    const STATUSES: [(ErrorKind, u16); 9] = [
        (ErrorKind::InvalidArgument, 400),
        (ErrorKind::Unauthorized, 401),
        (ErrorKind::Forbidden, 403),
        (ErrorKind::NotFound, 404),
        (ErrorKind::Conflict, 409),
        (ErrorKind::NotModified, 304),
        (ErrorKind::NotImplemented, 501),
        (ErrorKind::Unavailable, 503),
        (ErrorKind::Internal, 500),
    ];

    #[test]
    fn every_kind_has_dockers_status() {
        for (kind, status) in STATUSES {
            assert_eq!(kind.http_status(), status, "{kind:?}");
        }
    }

    #[test]
    fn only_not_modified_is_not_an_error_status() {
        for (kind, _) in STATUSES {
            let status = kind.http_status();
            assert_eq!(status < 400, kind == ErrorKind::NotModified, "{kind:?}");
        }
    }

    #[test]
    fn errors_report_their_kind() {
        struct Missing;
        impl HasKind for Missing {
            fn kind(&self) -> ErrorKind {
                ErrorKind::NotFound
            }
        }
        let err: &dyn HasKind = &Missing;
        assert_eq!(err.kind().http_status(), 404);
    }
}

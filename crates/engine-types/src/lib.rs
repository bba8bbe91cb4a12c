#![forbid(unsafe_code)]
//! Docker Engine API wire types (no IO).
//!
//! The models are bollard's generated stubs of moby's swagger: they tolerate unknown
//! fields (clients send fields from newer API versions) and skip `None` on output.

pub use bollard_stubs::models;

/// Highest Engine API version we serve (docker 28.3–28.5 send 1.51).
pub const API_VERSION: &str = "1.51";
/// Lowest Engine API version we accept (moby's hard floor).
pub const MIN_API_VERSION: &str = "1.24";
/// The product version reported in `/version`.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses "1.41" into (1, 41).
pub fn parse_api_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// What kind of failure an error is; mapped to an HTTP status in one place
/// (`api-server`), as moby's `httpstatus` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400
    InvalidArgument,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 409
    Conflict,
    /// 304 (e.g. starting a running container)
    NotModified,
    /// 501
    NotImplemented,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

impl ErrorKind {
    /// The HTTP status code Docker answers for this kind.
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
    fn kind(&self) -> ErrorKind;
}

/// Docker's error body: `{"message": "..."}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(super::parse_api_version("1.41"), Some((1, 41)));
        assert_eq!(super::parse_api_version("x"), None);
    }
}

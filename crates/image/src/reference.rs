//! Docker image reference parsing (distribution/reference `ParseNormalizedNamed`).

use crate::ImageError;

/// Parsed, normalized image reference: "busybox" -> domain "docker.io", path
/// "library/busybox", tag "latest".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Docker's rules (ParseNormalizedNamed + default tag "latest" when no tag and no digest).
    pub fn parse(s: &str) -> Result<Self, ImageError> {
        let _ = s;
        todo!()
    }

    /// "docker.io/library/busybox:latest" (with @digest when present)
    pub fn full(&self) -> String {
        todo!()
    }

    /// Familiar form shown by docker: "busybox:latest", "myreg:5000/x/y:tag"
    pub fn familiar(&self) -> String {
        todo!()
    }

    /// Repository only, familiar: "busybox"
    pub fn familiar_repo(&self) -> String {
        todo!()
    }
}

//! Image references and digests as Docker parses them
//! (`github.com/distribution/reference`), shared by the CLI, the image store,
//! the registry client and the registry server. No IO.
#![forbid(unsafe_code)]

pub mod reference;

pub use reference::{Reference, ReferenceError, DEFAULT_DOMAIN};

//! Registry client (OCI Distribution / Docker Registry HTTP API v2): scheme and
//! TLS per host, Basic and Bearer (token server) auth with a token cache, manifests,
//! blob download with resume and verification, blob upload (monolithic, chunked,
//! cross-repository mount) and tag listing.
//!
//! ```no_run
//! # async fn f() -> Result<(), distribution::Error> {
//! use distribution::{Client, ClientConfig, Credentials};
//! let client = Client::new(ClientConfig::default())?;
//! let repo = client.repository("localhost:5000", "library/busybox", Credentials::Anonymous, false);
//! let m = repo.get_manifest("latest").await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod auth;
mod client;
pub mod digest;
mod error;
pub mod oci;
mod repository;

pub use auth::{parse_challenges, Challenge, Credentials};
pub use client::{registry_host, Client, ClientConfig, MAX_RETRIES};
pub use error::Error;
pub use oci::{
    is_index, is_manifest, select_platform, Descriptor, ImageIndex, ImageManifest, Platform,
};
pub use repository::{Manifest, Repository, CHUNK_SIZE, MAX_MANIFEST_SIZE, MONOLITHIC_MAX};

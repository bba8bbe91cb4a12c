//! Registry client (OCI Distribution / Docker Registry HTTP API v2): scheme and
//! TLS per host, Basic and Bearer (token server) auth with a token cache, manifests,
//! blob download with resume and verification, blob upload (monolithic, chunked,
//! cross-repository mount) and tag listing.
//!
//! One [`Client`] per daemon (it caches, per host, the scheme found by pinging `/v2/`,
//! the auth challenge, and bearer tokens per scope and credentials); one
//! [`Repository`] per pull or push. Repository paths are used as given: the caller
//! normalizes references (`busybox` -> `docker.io` + `library/busybox`).
//!
//! Pull: `get_manifest(tag)`; if [`is_index`], [`select_platform`] then
//! `get_manifest(digest)`; `get_blob(config, cap)`; `download_blob` per layer.
//! Push: per layer `blob_exists` / `mount_blob` / `upload_blob`, then the config,
//! then `put_manifest`.
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

#[cfg(test)]
mod send_tests {
    //! The daemon spawns these futures on a multi-threaded runtime: they must be Send.
    use super::*;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn types_and_futures_are_send() {
        assert_send_sync::<Client>();
        assert_send_sync::<Repository>();
        fn err<T: std::error::Error + Send + Sync + 'static>() {}
        err::<Error>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _g = rt.enter();
        let c = Client::new(ClientConfig::default()).unwrap();
        let r = c.repository("localhost:1", "a/b", Credentials::Anonymous, true);
        let d = Descriptor::default();
        let p = |_: u64| {};
        let path = std::path::Path::new("/nonexistent");
        assert_send(&c.login("localhost:1", &Credentials::Anonymous));
        assert_send(&r.get_manifest("latest"));
        assert_send(&r.head_manifest("latest"));
        assert_send(&r.get_blob(&d, 1));
        assert_send(&r.blob_exists("sha256:00"));
        assert_send(&r.mount_blob("sha256:00", "x"));
        assert_send(&r.upload_blob(path, "sha256:00", 0, &p));
        assert_send(&r.put_manifest("latest", "x", bytes::Bytes::new()));
        assert_send(&r.list_tags());
        let f = async {
            let mut file = tokio::fs::File::from_std(tempfile_file());
            r.download_blob(&d, &mut file, &p).await
        };
        assert_send(&f);
    }

    fn tempfile_file() -> std::fs::File {
        std::fs::File::open("/dev/null").unwrap()
    }
}

//! The Dockerfile builder: build graph, cache keys, executor (through a
//! backend trait).
//!
//! The builder is engine-independent: it parses the Dockerfile (with the
//! `dockerfile` crate), resolves stages, args and env like Docker's classic
//! builder (`DOCKER_BUILDKIT=0`), computes cache keys, makes the tar streams of
//! COPY/ADD layers and the image configs, and asks a [`BuildBackend`] (the
//! daemon) to run containers, commit layers, store images and keep the cache.
//!
//! Entry point: [`build`]. Messages go to an [`Output`] as Docker JSON
//! messages (`{"stream":"Step 1/4 : FROM busybox\n"}`...).

#![forbid(unsafe_code)]

pub mod backend;
pub mod error;
pub mod output;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use backend::{
    BackendError, BaseImage, BoxedRead, BuildBackend, CacheSharing, MountSource, RunMount,
    RunNetwork, RunRequest,
};
pub use error::BuildError;
pub use output::Output;

/// The build context.
pub enum BuildContext {
    /// A directory on disk (read only; never modified). The builder reads
    /// `.dockerignore` / `<Dockerfile>.dockerignore` from it and never sees
    /// excluded files.
    Dir(PathBuf),
    /// A tar stream of the context (plain or gzip-compressed, as `POST /build`
    /// receives it). The builder indexes it in memory, refusing entries
    /// that would escape it (`..`, absolute names are made relative); nothing
    /// is written to disk. `.dockerignore` applies as for `Dir`.
    Tar(BoxedRead),
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildContext::Dir(p) => f.debug_tuple("Dir").field(p).finish(),
            BuildContext::Tar(_) => f.write_str("Tar(..)"),
        }
    }
}

/// Options of a build (the query parameters of `POST /build`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Dockerfile path inside the context (`dockerfile=`); `None`: `Dockerfile`.
    pub dockerfile_path: Option<String>,
    /// The Dockerfile's content when it does not come from the context (e.g.
    /// `docker build -f - .`); overrides `dockerfile_path` for reading.
    pub dockerfile_content: Option<String>,
    /// References to tag the final image with (`t=`, repeatable).
    pub tags: Vec<String>,
    /// `--build-arg`s (`buildargs=`): a `None` value means "take it from the
    /// client's environment" and was resolved by the CLI; it counts as unset.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`: the stage to build (and stop after).
    pub target: Option<String>,
    /// `--no-cache`: do not look up the cache (results are still recorded).
    pub no_cache: bool,
    /// `--pull`: always pull base images.
    pub pull: bool,
    /// `--label`s, applied to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--cache-from` images. The classic builder uses them as cache sources;
    /// this builder accepts the option and relies on its own cache.
    pub cache_from: Vec<String>,
    /// `-q`: print only the final image id.
    pub quiet: bool,
}

/// The result of a successful build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The final image id, `sha256:<hex>`.
    pub image_id: String,
}

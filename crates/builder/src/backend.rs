//! The interface between the builder and the engine: [`BuildBackend`] and the
//! types it exchanges.
//!
//! Images are referred to by id (`sha256:<hex>`). Configs are the Docker image
//! config JSON (the whole config blob: `architecture`, `os`, `config{Env, Cmd,
//! Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels, Healthcheck,
//! StopSignal, Shell, OnBuild}`, `rootfs`, `history`). The builder always passes
//! the complete config the new image must have, including its new `history`
//! entry; the backend only fills in `rootfs.diff_ids` (and may set `created`).

use std::path::PathBuf;

use errdefs::{ErrorKind, HasKind};

use crate::output::Output;

/// A synchronous byte stream (tar archives). Backends consume it in
/// `tokio::task::spawn_blocking`; the builder's readers may block while the
/// builder produces the data on another thread.
pub type BoxedRead = Box<dyn std::io::Read + Send>;

/// A base image as resolved by [`BuildBackend::image`].
#[derive(Debug, Clone, PartialEq)]
pub struct BaseImage {
    /// The image id, `sha256:<hex>`.
    pub id: String,
    /// The image's full config JSON.
    pub config: serde_json::Value,
}

/// What [`BuildBackend::stat`] reports about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStat {
    /// The path is a directory.
    pub is_dir: bool,
}

/// Network of a `RUN` container (`RUN --network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunNetwork {
    /// The engine's default build network.
    #[default]
    Default,
    /// No network (loopback only).
    None,
    /// The host's network namespace.
    Host,
}

/// Sharing mode of a cache mount (`RUN --mount=type=cache,sharing=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    /// Concurrent builds use the same directory (default).
    #[default]
    Shared,
    /// Each concurrent user gets its own directory.
    Private,
    /// Users wait for each other.
    Locked,
}

/// What a `RUN --mount` mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// `type=bind` from the build context: a host path inside the context
    /// directory (already checked to stay inside it).
    Context {
        /// Host path of the file or directory to bind.
        path: PathBuf,
    },
    /// `type=bind,from=<stage|image>`: a path inside an image's rootfs.
    Image {
        /// Image id.
        image: String,
        /// Absolute path inside the image.
        path: String,
    },
    /// `type=cache`: a persistent directory kept by the engine across builds.
    Cache {
        /// Cache id (`id=`, default: the target path).
        id: String,
        /// Sharing mode.
        sharing: CacheSharing,
        /// `from=`/`source=`: seed the cache from this image path when empty
        /// (image id, path), if given.
        seed: Option<(String, String)>,
    },
    /// `type=tmpfs`.
    Tmpfs {
        /// Size limit in bytes, if given.
        size: Option<i64>,
    },
    /// `type=secret`: a secret the engine knows by id, as a file at the
    /// target (or as an environment variable when `env` is set).
    Secret {
        /// Secret id.
        id: String,
        /// Fail when the secret is missing (`required=true`).
        required: bool,
        /// Expose as this environment variable instead of (or besides) a file.
        env: Option<String>,
    },
    /// `type=ssh`: an SSH agent socket.
    Ssh {
        /// Socket id (`id=`, default `default`).
        id: String,
        /// Fail when no agent is available.
        required: bool,
    },
}

/// One `RUN --mount`, resolved by the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// What to mount.
    pub source: MountSource,
    /// Absolute mount point in the container (for secrets without a target:
    /// `/run/secrets/<id>`, or empty when the secret is only an environment
    /// variable (`env=`); for ssh: `/run/buildkit/ssh_agent.N`).
    pub target: String,
    /// Read-only mount.
    pub readonly: bool,
    /// `mode=` (cache, secret, ssh), if given.
    pub mode: Option<u32>,
    /// `uid=`, if given.
    pub uid: Option<u32>,
    /// `gid=`, if given.
    pub gid: Option<u32>,
}

/// Where the files of a new COPY/ADD layer probably exist already
/// ([`BuildBackend::add_layer`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerHints {
    /// The image the same step made on the same parent in an earlier build:
    /// usually most of its files are unchanged.
    pub sibling: Option<String>,
    /// `COPY --from`: the source image id and, per copied regular file,
    /// (destination path relative to `/`, absolute path in the source image).
    pub source: Option<(String, Vec<(String, String)>)>,
}

/// How to run one `RUN` step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunRequest {
    /// The full argv: for the shell form already wrapped with the stage's
    /// `SHELL` (`["/bin/sh", "-c", "echo hi"]`); heredocs are inlined into the
    /// shell script.
    pub cmd: Vec<String>,
    /// The environment: the image's `Env` plus the build args in scope
    /// (`KEY=value`, image env first; build args do not override ENV).
    pub env: Vec<String>,
    /// `USER` in effect (`""`: root), unresolved (`name[:group]` or numeric);
    /// the backend resolves it inside the container, as for `docker run -u`.
    pub user: String,
    /// Working directory (`""`: `/`).
    pub workdir: String,
    /// `--network`.
    pub network: RunNetwork,
    /// `--security=insecure`: run privileged.
    pub privileged: bool,
    /// `--mount`s.
    pub mounts: Vec<RunMount>,
    /// The platform of the stage (`linux/amd64`), if one was requested.
    pub platform: Option<String>,
}

/// Errors a backend reports. The builder wraps them with the step they
/// belong to.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A `RUN` command exited with a non-zero code. The builder turns it into
    /// moby's `The command '<cmd>' returned a non-zero code: <code>`.
    #[error("command returned a non-zero code: {code}")]
    RunFailed {
        /// Exit code.
        code: i64,
        /// The last lines of the command's output, if the backend kept them
        /// (the output itself was already streamed).
        tail: Option<String>,
    },
    /// An image, cache entry or path does not exist.
    #[error("{what}: not found")]
    NotFound {
        /// What was looked for (`image busybox:latest`, `/etc/passwd in sha256:...`).
        what: String,
    },
    /// The backend cannot do what was asked (e.g. a mount type it lacks).
    #[error("not implemented: {what}")]
    NotImplemented {
        /// What is missing.
        what: String,
    },
    /// Anything else, with a kind for the HTTP status.
    #[error("{message}")]
    Other {
        /// HTTP-level classification.
        kind: ErrorKind,
        /// Human-readable description (shown to the user).
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl BackendError {
    /// An [`BackendError::Other`] with this kind and message and no source.
    pub fn other(kind: ErrorKind, message: impl Into<String>) -> Self {
        BackendError::Other {
            kind,
            message: message.into(),
            source: None,
        }
    }
}

impl HasKind for BackendError {
    fn kind(&self) -> ErrorKind {
        match self {
            BackendError::RunFailed { .. } => ErrorKind::InvalidArgument,
            BackendError::NotFound { .. } => ErrorKind::NotFound,
            BackendError::NotImplemented { .. } => ErrorKind::NotImplemented,
            BackendError::Other { kind, .. } => *kind,
        }
    }
}

/// What the builder needs from the engine.
///
/// Every method may be called concurrently (independent stages build in
/// parallel).
#[async_trait::async_trait]
pub trait BuildBackend: Send + Sync {
    /// A base image by reference (`FROM`, `COPY --from=<image>`, `RUN
    /// --mount=from=<image>`): pulls it when missing, or always when `pull` is
    /// set (pull progress goes to `out` as Docker JSON messages). `platform` is
    /// the requested `os/arch[/variant]`, if any. Returns the id and full
    /// config.
    async fn image(
        &self,
        reference: &str,
        platform: Option<&str>,
        pull: bool,
        out: &Output,
    ) -> Result<BaseImage, BackendError>;

    /// Runs `run.cmd` in a new container from image `parent`, streams its
    /// stdout/stderr to `out` (as `{"stream": ...}` messages, e.g. with
    /// [`Output::stream`]), waits; exit code != 0 gives
    /// [`BackendError::RunFailed`]. On success commits the container's
    /// filesystem changes (whiteouts for deletions) as a new layer on top of
    /// `parent` and returns the id of the new image, whose config is `config`
    /// (plus the new diff id). The container is removed in all cases.
    async fn run(
        &self,
        parent: &str,
        run: RunRequest,
        config: serde_json::Value,
        out: &Output,
    ) -> Result<String, BackendError>;

    /// Adds files as a new layer on top of `parent` (`None`: scratch) for
    /// COPY/ADD/WORKDIR. `tar` is an uncompressed tar stream made by the
    /// builder with final paths (relative, no leading `/`), ownership and
    /// modes applied, to unpack at `/`; it holds no whiteouts. Parent
    /// directories of its entries that exist in neither `parent` nor the tar
    /// must be created as `0755 root:root` (and recorded in the layer). An
    /// entry replacing an existing directory by a file (or the reverse) replaces
    /// it, as `docker cp` does. Returns the new image id with `config`.
    ///
    /// `hints` name earlier layers whose files are likely the same (see
    /// [`LayerHints`]); a backend may share them instead of writing them again
    /// (invisibly: the layer's content is the tar's either way).
    async fn add_layer(
        &self,
        parent: Option<&str>,
        tar: BoxedRead,
        config: serde_json::Value,
        hints: &LayerHints,
    ) -> Result<String, BackendError>;

    /// An image with exactly `config`, whose `rootfs.diff_ids` the engine has
    /// (as a chain, from another image): a `--cache-from` hit reuses a layer of
    /// a cache source on the step's parent. The default cannot.
    async fn commit_image(&self, config: serde_json::Value) -> Result<String, BackendError> {
        let _ = config;
        Err(BackendError::NotImplemented {
            what: "images from --cache-from layers".into(),
        })
    }

    /// A local image by reference, never pulled (`--cache-from` sources): its
    /// id and config, or `None` when it is not here. The default finds none.
    async fn local_image(&self, reference: &str) -> Result<Option<BaseImage>, BackendError> {
        let _ = reference;
        Ok(None)
    }

    /// An image with the same layers as `parent` (`None`: no layers) and this
    /// config, for steps that change only the config (ENV, LABEL, CMD, ...).
    async fn commit_config(
        &self,
        parent: Option<&str>,
        config: serde_json::Value,
    ) -> Result<String, BackendError>;

    /// Reads files out of an image (COPY --from, /etc/passwd for --chown): an
    /// uncompressed tar stream of `path` (absolute) in the image's merged
    /// rootfs, with entries named from `path`'s parent directory, as `tar -C
    /// dirname(path) -c basename(path)` names them: `/app` gives `app`,
    /// `app/x`, ... A `path` whose last component is a symlink is followed
    /// (inside the rootfs); the entry may then be named after the target
    /// (`/bin/sh` -> `busybox`): the builder takes the single top-level entry
    /// whatever its name. `/` gives the image's top-level entries (`.`, `./etc`
    /// or `etc` are all accepted). Symlinks below `path` stay symlinks. A
    /// missing path gives [`BackendError::NotFound`].
    async fn export_path(&self, image: &str, path: &str) -> Result<BoxedRead, BackendError>;

    /// Whether `path` (absolute) exists in `image`'s rootfs and is a
    /// directory (a final symlink is followed within the rootfs). Used for
    /// WORKDIR (create the directory only when missing) and COPY's "is the
    /// destination an existing directory" rule.
    ///
    /// The default implementation reads the first tar header of
    /// [`BuildBackend::export_path`]; backends should override it with a cheap
    /// lookup.
    async fn stat(&self, image: &str, path: &str) -> Result<Option<PathStat>, BackendError> {
        let reader = match self.export_path(image, path).await {
            Ok(r) => r,
            Err(BackendError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        tokio::task::spawn_blocking(move || -> Result<Option<PathStat>, BackendError> {
            let mut ar = tar::Archive::new(reader);
            let io = |e: std::io::Error| BackendError::Other {
                kind: ErrorKind::Internal,
                message: format!("reading exported path: {e}"),
                source: Some(Box::new(e)),
            };
            let mut entries = ar.entries().map_err(io)?;
            match entries.next() {
                None => Ok(None),
                Some(e) => {
                    let e = e.map_err(io)?;
                    Ok(Some(PathStat {
                        is_dir: e.header().entry_type().is_dir(),
                    }))
                }
            }
        })
        .await
        .map_err(|e| BackendError::other(ErrorKind::Internal, format!("stat task failed: {e}")))?
    }

    /// Tags `image` as `reference` (`name[:tag]`, already validated by the
    /// caller; a missing tag means `latest`).
    async fn tag(&self, image: &str, reference: &str) -> Result<(), BackendError>;

    /// Build cache lookup: the image id stored for `key`, or `None` when there
    /// is none or the image no longer exists. Keys are `sha256:<hex>`.
    async fn cache_get(&self, key: &str) -> Result<Option<String>, BackendError>;

    /// Records `key -> image` in the build cache (persisted; survives a
    /// daemon restart).
    async fn cache_put(&self, key: &str, image: &str) -> Result<(), BackendError>;

    /// A directory where the builder may keep its file-hash cache between
    /// builds of [`crate::BuildContext::Dir`] contexts (files whose device,
    /// inode, size, mtime and ctime are unchanged are not re-read). `None`
    /// (the default) disables it. Tar contexts are always hashed.
    fn hash_cache_dir(&self) -> Option<PathBuf> {
        None
    }
}

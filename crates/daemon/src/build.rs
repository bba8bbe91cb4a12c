//! The daemon's side of `docker build`: [`builder::BuildBackend`] over the image
//! store and the container lifecycle. RUN steps are ordinary containers of this
//! daemon (same isolation as `docker run`); their read-write layer becomes the
//! step's layer. The build cache maps step keys to image ids in the metadata
//! database, so it survives a restart.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use api_server::backend::{LogsOptions, PullOptions, RegistryAuth, WaitCondition};
use builder::{BackendError, BaseImage, BoxedRead, BuildBackend, Output, RunNetwork, RunRequest};
use engine_types::models::{ContainerCreateBody, HostConfig};
use errdefs::{ErrorKind, HasKind};
use futures::StreamExt;
use serde_json::Value;

use crate::error::DaemonError;
use crate::Daemon;

/// Lines of a failed RUN's output kept for the error message.
const TAIL_LINES: usize = 10;

fn backend_err(e: DaemonError) -> BackendError {
    match e {
        DaemonError::Image(image::ImageError::NotFound(m)) => BackendError::NotFound { what: m },
        e => BackendError::Other {
            kind: e.kind(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}

/// The daemon as a build backend, with the credentials of one build.
pub(crate) struct DaemonBuild {
    pub(crate) daemon: Arc<Daemon>,
    pub(crate) auth: std::collections::HashMap<String, RegistryAuth>,
    /// `RUN --mount=type=secret` values of this build, by id.
    pub(crate) secrets: std::collections::BTreeMap<String, api_server::backend::SecretValue>,
    /// `RUN --mount=type=ssh` agent sockets of this build, by id.
    pub(crate) ssh: std::collections::BTreeMap<String, PathBuf>,
}

impl DaemonBuild {
    /// Runs `f` on the merged rootfs of `image`, mounted through a throwaway
    /// read-write layer that is removed afterwards.
    async fn with_image_mounted<T: Send + 'static>(
        &self,
        image: &str,
        f: impl FnOnce(&Path) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let d = self.daemon.clone();
        let image = image.to_string();
        tokio::task::spawn_blocking(move || {
            let m = MountedImage::new(d, &image)?;
            f(&m.root)
        })
        .await
        .map_err(|e| BackendError::other(ErrorKind::Internal, format!("build mount task: {e}")))?
    }

    /// The host directory of a `RUN --mount=type=cache` (made on first use with
    /// the mount's `uid`, `gid` and `mode`).
    /// The directory and whether it was just made.
    fn cache_mount_dir(
        &self,
        id: &str,
        m: &builder::RunMount,
    ) -> Result<(PathBuf, bool), DaemonError> {
        use sha2::Digest as _;
        let name = hex::encode(sha2::Sha256::digest(id.as_bytes()));
        let dir = self
            .daemon
            .cfg
            .data_root
            .join("builder")
            .join("cache-mounts")
            .join(&name[..32]);
        let fresh = !dir.exists();
        if fresh {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
            let mode = m.mode.unwrap_or(0o755);
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .map_err(|e| DaemonError::io(format!("chmod {}", dir.display()), e))?;
            std::os::unix::fs::chown(&dir, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
                .map_err(|e| DaemonError::io(format!("chown {}", dir.display()), e))?;
        }
        Ok((dir, fresh))
    }

    /// Mounts `image` and resolves `path` in it (symlinks followed inside it).
    async fn mount_image_path(
        &self,
        image: &str,
        path: &str,
    ) -> Result<(MountedImage, PathBuf), DaemonError> {
        let d = self.daemon.clone();
        let (image, path) = (image.to_string(), path.to_string());
        tokio::task::spawn_blocking(move || {
            let as_daemon = |e: BackendError| match e {
                BackendError::NotFound { what } => {
                    DaemonError::Image(image::ImageError::NotFound(what))
                }
                e => DaemonError::Invalid(e.to_string()),
            };
            let m = MountedImage::new(d, &image).map_err(as_daemon)?;
            let full = resolve_in_root(&m.root, &path)
                .map_err(as_daemon)?
                .ok_or_else(|| {
                    DaemonError::Image(image::ImageError::NotFound(format!(
                        "{path} in the image of the mount's from="
                    )))
                })?;
            Ok((m, full))
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("mount task: {e}")))?
    }

    /// The parent image's rootfs (or an empty one) put into `config`.
    async fn with_parent_rootfs(
        &self,
        parent: Option<&str>,
        mut config: Value,
    ) -> Result<Value, BackendError> {
        let rootfs = match parent {
            Some(p) => {
                let p = p.to_string();
                let raw = self
                    .daemon
                    .blocking(move |s| s.raw_config(&p))
                    .await
                    .map_err(backend_err)?;
                let v: Value = serde_json::from_slice(&raw).map_err(|e| {
                    BackendError::other(ErrorKind::Internal, format!("stored image config: {e}"))
                })?;
                v["rootfs"].clone()
            }
            None => serde_json::json!({"type": "layers", "diff_ids": []}),
        };
        config["rootfs"] = rootfs;
        if config.get("created").is_none_or(Value::is_null) {
            config["created"] = Value::String(
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            );
        }
        Ok(config)
    }

    fn registry_auth(&self, reference: &str) -> RegistryAuth {
        let host = image::Reference::parse_normalized(reference)
            .map(|r| r.domain)
            .unwrap_or_default();
        self.auth
            .iter()
            .find(|(k, _)| crate::registry::registry_of_server(k) == host)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Creates, starts and waits for a RUN container; returns its id and exit code.
    async fn run_container(
        &self,
        parent: &str,
        run: &RunRequest,
        out: &Output,
    ) -> Result<(BuildContainer, i64, String), DaemonError> {
        let d = &self.daemon;
        let mut env = run.env.clone();
        // Secret files live outside the container and the image, removed after the run.
        let mut secret_dir: Option<SecretDir> = None;
        // Images bound with `from=`, mounted until the run ends.
        let mut image_mounts: Vec<MountedImage> = Vec::new();
        // Cache mounts held by this run (`sharing=locked|private`).
        let mut cache_guards: Vec<tokio::sync::OwnedMutexGuard<()>> = Vec::new();
        let mut locked_here = std::collections::HashSet::new();
        let network_mode = match run.network {
            RunNetwork::None => Some("none".to_string()),
            RunNetwork::Host => Some("host".to_string()),
            RunNetwork::Default => None,
        };
        let mut tmpfs = std::collections::HashMap::new();
        let mut binds = Vec::new();
        let ro = |readonly: bool| if readonly { "ro" } else { "rw" };
        for m in &run.mounts {
            match &m.source {
                builder::MountSource::Tmpfs { size } => {
                    let opt = size.map(|s| format!("size={s}")).unwrap_or_default();
                    tmpfs.insert(m.target.clone(), opt);
                }
                builder::MountSource::Context { path } => {
                    binds.push(format!(
                        "{}:{}:{}",
                        path.display(),
                        m.target,
                        ro(m.readonly)
                    ));
                }
                builder::MountSource::Cache { id, seed, sharing } => {
                    // Shared by every build of this daemon. `locked`: one RUN at a
                    // time; `private`: a RUN that finds it in use gets its own
                    // instance (`<id>`, `<id>#1`, ...), kept for later builds.
                    let id = &match sharing {
                        builder::CacheSharing::Shared => id.clone(),
                        builder::CacheSharing::Locked => {
                            // (Mounted twice in this RUN: locked once.)
                            if locked_here.insert(id.clone()) {
                                cache_guards.push(d.cache_mount_lock(id).lock_owned().await);
                            }
                            id.clone()
                        }
                        builder::CacheSharing::Private => {
                            let mut k = 0;
                            loop {
                                let inst = if k == 0 {
                                    id.clone()
                                } else {
                                    format!("{id}#{k}")
                                };
                                if let Ok(g) = d.cache_mount_lock(&inst).try_lock_owned() {
                                    cache_guards.push(g);
                                    break inst;
                                }
                                k += 1;
                            }
                        }
                    };
                    let (dir, fresh) = self.cache_mount_dir(id, m)?;
                    if let (true, Some((image, path))) = (fresh, seed) {
                        // A new cache starts as a copy of `from`'s path.
                        let src = self.mount_image_path(image, path).await?;
                        let dst = dir.clone();
                        tokio::task::spawn_blocking(move || copy_tree(&src.1, &dst))
                            .await
                            .map_err(|e| DaemonError::Internal(format!("cache seed task: {e}")))?
                            .map_err(|e| {
                                DaemonError::io(format!("seeding cache {id} from {path}"), e)
                            })?;
                    }
                    binds.push(format!("{}:{}:{}", dir.display(), m.target, ro(m.readonly)));
                }
                builder::MountSource::Ssh { id, required } => {
                    let Some(sock) = self.ssh.get(id) else {
                        if *required {
                            return Err(DaemonError::Invalid(format!(
                                "no SSH agent {id:?} for RUN --mount=type=ssh: pass it with `berth build --ssh {id}` (the docker CLI's classic builder cannot forward one)"
                            )));
                        }
                        continue;
                    };
                    use std::os::unix::fs::FileTypeExt as _;
                    let is_socket =
                        std::fs::metadata(sock).is_ok_and(|m| m.file_type().is_socket());
                    if !is_socket {
                        return Err(DaemonError::Invalid(format!(
                            "SSH agent {id:?}: {} is not a socket on the daemon's machine (--ssh forwards an agent socket of a local daemon)",
                            sock.display()
                        )));
                    }
                    binds.push(format!("{}:{}:rw", sock.display(), m.target));
                    if !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                        env.push(format!("SSH_AUTH_SOCK={}", m.target));
                    }
                }
                builder::MountSource::Image { image, path } => {
                    // Writes to a read-write bind go to the mount's throwaway layer.
                    let (mounted, full) = self.mount_image_path(image, path).await?;
                    binds.push(format!(
                        "{}:{}:{}",
                        full.display(),
                        m.target,
                        ro(m.readonly)
                    ));
                    image_mounts.push(mounted);
                }
                builder::MountSource::Secret {
                    id,
                    required,
                    env: var,
                } => {
                    let Some(value) = self.secrets.get(id) else {
                        if *required {
                            return Err(DaemonError::Invalid(format!(
                                "secret {id} not found: pass it with `berth build --secret id={id},src=<file>` (the docker CLI's classic builder cannot send secrets)"
                            )));
                        }
                        continue;
                    };
                    if let Some(var) = var {
                        env.push(format!("{var}={}", String::from_utf8_lossy(&value.0)));
                    }
                    if m.target.is_empty() {
                        continue;
                    }
                    let dir = match &mut secret_dir {
                        Some(d) => d,
                        None => secret_dir.insert(SecretDir::new(&d.cfg.exec_root)?),
                    };
                    let file = dir.write(id, &value.0, m)?;
                    binds.push(format!("{}:{}:ro", file.display(), m.target));
                }
            }
        }
        let body = ContainerCreateBody {
            image: Some(parent.to_string()),
            cmd: Some(run.cmd.clone()),
            entrypoint: Some(Vec::new()),
            env: Some(env),
            user: (!run.user.is_empty()).then(|| run.user.clone()),
            working_dir: (!run.workdir.is_empty()).then(|| run.workdir.clone()),
            labels: Some([("io.berth.build".to_string(), "run".to_string())].into()),
            host_config: Some(HostConfig {
                network_mode,
                binds: (!binds.is_empty()).then_some(binds),
                privileged: Some(run.privileged),
                tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (id, _) = d.create(None, body).await?;
        let guard = BuildContainer {
            daemon: d.clone(),
            id: id.clone(),
        };
        out.stream(format!(" ---> Running in {}\n", image::short_id(&id)));
        let res = async {
            let c = d.find(&id)?;
            let wait = d.wait_container(&c, WaitCondition::NextExit);
            d.start_container(&c).await?;
            let mut logs = d
                .container_logs(
                    &id,
                    LogsOptions {
                        follow: true,
                        stdout: true,
                        stderr: true,
                        ..Default::default()
                    },
                )
                .await?;
            let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
            while let Some(chunk) = logs.chunks.next().await {
                let Ok(chunk) = chunk else { break };
                let text = String::from_utf8_lossy(&chunk.data).into_owned();
                for line in text.lines() {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line.to_string());
                }
                out.stream(text);
            }
            let code = wait
                .await
                .map_err(|e| {
                    DaemonError::Internal(format!("waiting for the build container: {e:?}"))
                })?
                .status_code;
            Ok::<_, DaemonError>((code, tail.into_iter().collect::<Vec<_>>().join("\n")))
        }
        .await;
        drop(secret_dir);
        drop(image_mounts);
        drop(cache_guards);
        let (code, tail) = res?;
        Ok((guard, code, tail))
    }
}

/// Copies the tree at `src` into the directory `dst` (files, directories and
/// symlinks with their mode, owner and times; other types are skipped).
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(src)?;
    if !meta.is_dir() {
        let name = src.file_name().unwrap_or_default();
        return copy_entry(src, &dst.join(name), &meta);
    }
    for ent in std::fs::read_dir(src)? {
        let ent = ent?;
        let from = ent.path();
        let to = dst.join(ent.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        if m.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
            std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(m.mode()))?;
        } else {
            copy_entry(&from, &to, &m)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, m: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if m.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if m.is_file() {
        std::fs::copy(from, to)?;
    } else {
        return Ok(());
    }
    std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()))
}

/// An image's merged rootfs mounted through a throwaway read-write layer;
/// unmounted and removed when dropped.
struct MountedImage {
    daemon: Arc<Daemon>,
    layer: String,
    root: PathBuf,
}

impl MountedImage {
    /// Mounts `image` (blocking).
    fn new(daemon: Arc<Daemon>, image: &str) -> Result<Self, BackendError> {
        let layer = format!("build-mount-{}", hex::encode(rand::random::<[u8; 8]>()));
        let root = daemon.cfg.exec_root.join("build").join(&layer);
        let err = |e: image::ImageError| backend_err(e.into());
        daemon.images.create_rw_layer(&layer, image).map_err(err)?;
        let m = MountedImage {
            daemon,
            layer,
            root,
        };
        m.daemon
            .images
            .mount_rw_layer(&m.layer, &m.root)
            .map_err(err)?;
        Ok(m)
    }
}

impl Drop for MountedImage {
    fn drop(&mut self) {
        let s = &self.daemon.images;
        if self.root.exists() {
            if let Err(e) = s.unmount(&self.root) {
                tracing::warn!(mount = %self.root.display(), error = %e, "could not unmount a build mount");
            }
            let _ = std::fs::remove_dir(&self.root);
        }
        if let Err(e) = s.remove_rw_layer(&self.layer) {
            tracing::warn!(layer = %self.layer, error = %e, "could not remove a build mount layer");
        }
    }
}

/// The files of a RUN step's secrets (in the exec root, normally a tmpfs), bound
/// read-only into the container; removed when dropped.
struct SecretDir(PathBuf);

impl SecretDir {
    fn new(exec_root: &Path) -> Result<Self, DaemonError> {
        let dir = exec_root.join("build").join(format!(
            "secrets-{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| DaemonError::io(format!("chmod {}", dir.display()), e))?;
        Ok(Self(dir))
    }

    /// Writes secret `id` with the mount's mode (default 0400) and owner.
    fn write(&self, id: &str, value: &[u8], m: &builder::RunMount) -> Result<PathBuf, DaemonError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = self
            .0
            .join(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                id.as_bytes(),
            )));
        let mode = m.mode.unwrap_or(0o400);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut f| f.write_all(value).map(|()| f))
            .map_err(|e| DaemonError::io(format!("writing secret {id}"), e))?;
        f.flush()
            .map_err(|e| DaemonError::io(format!("writing secret {id}"), e))?;
        std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
            .and_then(|()| {
                std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(mode))
            })
            .map_err(|e| DaemonError::io(format!("setting the owner of secret {id}"), e))?;
        Ok(file)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove build secrets");
        }
    }
}

/// A RUN step's container: removed when dropped, also when the build is cancelled.
struct BuildContainer {
    daemon: Arc<Daemon>,
    id: String,
}

impl Drop for BuildContainer {
    fn drop(&mut self) {
        let (d, id) = (self.daemon.clone(), self.id.clone());
        let remove = async move {
            if let Ok(c) = d.find(&id) {
                if let Err(e) = d.remove_container(&c, true).await {
                    tracing::warn!(container = %id, error = %e, "could not remove a build container");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(remove);
            }
            Err(_) => {
                tracing::warn!(container = %self.id, "no runtime to remove a build container")
            }
        }
    }
}

/// Removes from `upper` (a RUN container's overlay upper dir) what the runtime
/// made only to mount `target`: the empty file or directory at the target and the
/// empty directories above it, when the image (`image_stat` of a path relative
/// to `/`) has no such entry or one with the same mode and owner (then the upper
/// copy only differs in its times). Anything the command changed stays.
fn remove_mount_stubs(
    upper: &Path,
    target: &str,
    image_stat: impl Fn(&str) -> Option<std::fs::Metadata>,
) {
    use std::os::unix::fs::MetadataExt;
    let comps: Vec<&str> = target
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.contains(&"..") {
        return;
    }
    for depth in (1..=comps.len()).rev() {
        let rel = comps[..depth].join("/");
        let p = upper.join(&rel);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue; // not made in this layer (an existing directory)
        };
        let lower = image_stat(&rel);
        let removable = if meta.is_dir() {
            let empty = std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_none());
            let mut opq = [0u8; 1];
            let opaque = rustix::fs::lgetxattr(&p, "trusted.overlay.opaque", &mut opq).is_ok();
            empty
                && !opaque
                && lower.as_ref().is_none_or(|l| {
                    l.is_dir()
                        && l.mode() == meta.mode()
                        && l.uid() == meta.uid()
                        && l.gid() == meta.gid()
                })
        } else {
            depth == comps.len() && meta.is_file() && meta.len() == 0 && lower.is_none()
        };
        if !removable {
            break;
        }
        let res = if meta.is_dir() {
            std::fs::remove_dir(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if let Err(e) = res {
            tracing::debug!(path = %p.display(), error = %e, "mount point kept in the layer");
            break;
        }
    }
}

/// The request body, shared between the builder and the task that drains it.
#[derive(Clone)]
struct SharedBody(
    Arc<std::sync::Mutex<tokio_util::io::SyncIoBridge<api_server::backend::BodyReader>>>,
);

impl Read for SharedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut r) => r.read(buf),
            Err(p) => p.into_inner().read(buf),
        }
    }
}

/// Key of the build cache entries in the kv table.
fn cache_key(key: &str) -> String {
    format!("build-cache/{key}")
}

#[async_trait::async_trait]
impl BuildBackend for DaemonBuild {
    async fn image(
        &self,
        reference: &str,
        platform: Option<&str>,
        pull: bool,
        out: &Output,
    ) -> Result<BaseImage, BackendError> {
        let d = &self.daemon;
        let name = reference.to_string();
        let local = d.blocking(move |s| s.get(&name)).await;
        let is_id = reference.starts_with("sha256:");
        if !is_id && (pull || local.is_err()) {
            let mut stream = d
                .image_pull(PullOptions {
                    from_image: reference.to_string(),
                    tag: None,
                    platform: platform.map(str::to_string),
                    auth: self.registry_auth(reference),
                })
                .await
                .map_err(|e| match (local.is_err(), e) {
                    (true, DaemonError::Image(image::ImageError::NotFound(m)))
                    | (true, DaemonError::Registry(distribution::Error::NotFound { message: m, .. })) => {
                        BackendError::NotFound { what: format!("pull access denied for {reference}, repository does not exist or may require 'docker login': {m}") }
                    }
                    (_, e) => backend_err(e),
                })?;
            let mut failed = None;
            while let Some(msg) = stream.next().await {
                if let Some(e) = msg.get("error").and_then(Value::as_str) {
                    failed = Some(e.to_string());
                }
                out.send(msg);
            }
            if let Some(e) = failed {
                return Err(BackendError::other(ErrorKind::Internal, e));
            }
        }
        self.local_image(reference)
            .await?
            .ok_or_else(|| BackendError::NotFound {
                what: format!("image {reference}"),
            })
    }

    async fn run(
        &self,
        parent: &str,
        run: RunRequest,
        config: Value,
        out: &Output,
    ) -> Result<String, BackendError> {
        let config = self.with_parent_rootfs(Some(parent), config).await?;
        let (container, code, tail) = self
            .run_container(parent, &run, out)
            .await
            .map_err(backend_err)?;
        if code != 0 {
            return Err(BackendError::RunFailed {
                code,
                tail: (!tail.is_empty()).then_some(tail),
            });
        }
        let cid = container.id.clone();
        let targets: Vec<String> = run.mounts.iter().map(|m| m.target.clone()).collect();
        let parent_id = parent.to_string();
        let res = self
            .daemon
            .blocking(move |s| {
                // Mount points the runtime made are not part of the step's result.
                let upper = s.rw_layer_upper_dir(&cid)?;
                for t in targets.iter().filter(|t| !t.is_empty()) {
                    remove_mount_stubs(&upper, t, |rel| s.image_path_stat(&parent_id, rel));
                }
                // The container has exited (its rootfs is unmounted) and is removed
                // next: its files become the layer without a copy.
                s.commit_stopped_rw_layer(&cid, config)
            })
            .await
            .map_err(backend_err);
        out.stream(format!(
            "Removing intermediate container {}\n",
            image::short_id(&container.id)
        ));
        res
    }

    async fn add_layer(
        &self,
        parent: Option<&str>,
        mut tar: BoxedRead,
        config: Value,
        hints: &builder::LayerHints,
    ) -> Result<String, BackendError> {
        let config = self.with_parent_rootfs(parent, config).await?;
        let reuse = image::LayerReuse {
            sibling: hints.sibling.clone(),
            source: hints.source.clone(),
        };
        self.daemon
            .blocking(move |s| s.add_layer_tar(&mut tar, config, &reuse))
            .await
            .map_err(backend_err)
    }

    async fn commit_image(&self, config: Value) -> Result<String, BackendError> {
        let bytes = serde_json::to_vec(&config).map_err(|e| {
            BackendError::other(ErrorKind::Internal, format!("encoding the config: {e}"))
        })?;
        self.daemon
            .blocking(move |s| s.put_config(&bytes))
            .await
            .map_err(backend_err)
    }

    async fn local_image(&self, reference: &str) -> Result<Option<BaseImage>, BackendError> {
        let name = reference.to_string();
        let Ok(img) = self.daemon.blocking(move |s| s.get(&name)).await else {
            return Ok(None);
        };
        let id = img.id.clone();
        let raw = self
            .daemon
            .blocking(move |s| s.raw_config(&id))
            .await
            .map_err(backend_err)?;
        let config = serde_json::from_slice(&raw).map_err(|e| {
            BackendError::other(ErrorKind::Internal, format!("stored image config: {e}"))
        })?;
        Ok(Some(BaseImage { id: img.id, config }))
    }

    async fn commit_config(
        &self,
        parent: Option<&str>,
        config: Value,
    ) -> Result<String, BackendError> {
        let config = self.with_parent_rootfs(parent, config).await?;
        self.commit_image(config).await
    }

    async fn export_path(&self, image: &str, path: &str) -> Result<BoxedRead, BackendError> {
        let d = self.daemon.clone();
        let (image, path) = (image.to_string(), path.to_string());
        tokio::task::spawn_blocking(move || {
            let m = MountedImage::new(d, &image)?;
            let full = resolve_in_root(&m.root, &path)?.ok_or_else(|| BackendError::NotFound {
                what: format!("{path} in the image"),
            })?;
            tar_path(m, full, path)
        })
        .await
        .map_err(|e| BackendError::other(ErrorKind::Internal, format!("export task: {e}")))?
    }

    async fn stat(
        &self,
        image: &str,
        path: &str,
    ) -> Result<Option<builder::PathStat>, BackendError> {
        let path = path.to_string();
        self.with_image_mounted(image, move |root| {
            Ok(resolve_in_root(root, &path)?.and_then(|full| {
                std::fs::metadata(&full)
                    .ok()
                    .map(|m| builder::PathStat { is_dir: m.is_dir() })
            }))
        })
        .await
    }

    async fn tag(&self, image: &str, reference: &str) -> Result<(), BackendError> {
        let (image, reference) = (image.to_string(), reference.to_string());
        self.daemon
            .blocking(move |s| s.tag(&image, &reference))
            .await
            .map_err(backend_err)
    }

    async fn cache_get(&self, key: &str) -> Result<Option<String>, BackendError> {
        let Some(v) = self
            .daemon
            .db
            .kv_get(&cache_key(key))
            .map_err(|e| backend_err(e.into()))?
        else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&v).into_owned();
        let check = id.clone();
        let exists = self.daemon.blocking(move |s| s.get(&check)).await.is_ok();
        Ok(exists.then_some(id))
    }

    async fn cache_put(&self, key: &str, image: &str) -> Result<(), BackendError> {
        self.daemon
            .db
            .kv_put(&cache_key(key), image.as_bytes())
            .map_err(|e| backend_err(e.into()))
    }

    fn hash_cache_dir(&self) -> Option<PathBuf> {
        Some(self.daemon.cfg.data_root.join("builder"))
    }
}

/// Resolves `path` inside `root` without leaving it (symlinks are followed as if
/// `root` were `/`). None when it does not exist.
fn resolve_in_root(root: &Path, path: &str) -> Result<Option<PathBuf>, BackendError> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .rev()
        .collect();
    let mut hops = 0;
    while let Some(p) = todo.pop() {
        match p.as_str() {
            "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let cur = root.join(parts.join("/")).join(&p);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(BackendError::other(
                        ErrorKind::InvalidArgument,
                        format!("too many symlinks resolving {path}"),
                    ));
                }
                let target = std::fs::read_link(&cur).map_err(|e| {
                    BackendError::other(ErrorKind::Internal, format!("readlink {path}: {e}"))
                })?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    parts.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .rev(),
                );
            }
            Ok(_) => parts.push(p),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(root.join(parts.join("/"))))
}

/// Streams a tar of `full` (a resolved path inside the mounted image `m`), its
/// entries named from its parent directory, through a pipe from a thread that
/// keeps the image mounted until the tar is written or the reader is dropped.
fn tar_path(m: MountedImage, full: PathBuf, path: String) -> Result<BoxedRead, BackendError> {
    let internal = |what: &str, e: std::io::Error| {
        BackendError::other(ErrorKind::Internal, format!("{what}: {e}"))
    };
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into());
    let meta =
        std::fs::symlink_metadata(&full).map_err(|e| internal(&format!("stat {path}"), e))?;
    let (reader, writer) = std::io::pipe().map_err(|e| internal("creating a pipe", e))?;
    let writer = std::io::BufWriter::with_capacity(1 << 20, writer);
    let done = std::thread::Builder::new()
        .name("build-export".into())
        .spawn(move || -> std::io::Result<()> {
            let _mounted = m;
            let mut b = tar::Builder::new(writer);
            b.follow_symlinks(false);
            if meta.is_dir() {
                b.append_dir_all(&name, &full)?;
            } else {
                b.append_path_with_name(&full, &name)?;
            }
            b.into_inner()?.flush()
        })
        .map_err(|e| internal("starting the export thread", e))?;
    Ok(Box::new(ExportReader {
        pipe: reader,
        done: Some(done),
        path,
    }))
}

/// The reading end of [`tar_path`]: at the end of the stream, a failure of the
/// writing thread is an error (not a short tar).
struct ExportReader {
    pipe: std::io::PipeReader,
    done: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    path: String,
}

impl Read for ExportReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(done) = self.done.take() {
                let res = done
                    .join()
                    .map_err(|_| std::io::Error::other("the export thread panicked"))?;
                res.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("archiving {}: {e}", self.path))
                })?;
            }
        }
        Ok(n)
    }
}

impl Daemon {
    /// The lock of the build cache mount `id` (made on first use).
    fn cache_mount_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.cache_mount_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// `POST /build`: runs the builder on the context tar and streams its messages.
    /// The build goes on while the client reads; when the client goes away the
    /// messages are dropped and the build still finishes (as with the classic
    /// builder, its result and cache entries are recorded).
    pub async fn build_image(
        self: &Arc<Self>,
        context: api_server::backend::BodyReader,
        req: api_server::backend::BuildRequest,
    ) -> crate::error::Result<api_server::backend::JsonStream> {
        // Bad names fail the request before anything is built, as in moby.
        for t in &req.tags {
            let r = image::Reference::parse(t)
                .map_err(|e| DaemonError::Invalid(format!("invalid tag {t:?}: {e}")))?;
            if r.digest.is_some() {
                return Err(DaemonError::Invalid(format!(
                    "invalid tag {t:?}: a build result cannot be tagged with a digest"
                )));
            }
        }
        let opts = builder::BuildOptions {
            dockerfile_path: req.dockerfile.clone(),
            dockerfile_content: None,
            tags: req.tags.clone(),
            build_args: req.build_args.clone(),
            target: req.target.clone(),
            no_cache: req.no_cache,
            pull: req.pull,
            labels: req.labels.clone(),
            platform: req.platform.clone(),
            cache_from: req.cache_from.clone(),
            quiet: req.quiet,
        };
        let backend = DaemonBuild {
            daemon: self.clone(),
            auth: req.auth_configs.clone(),
            secrets: req.secrets.clone(),
            ssh: req.ssh.clone(),
        };
        let mut body: Option<SharedBody> = None;
        let ctx = match &req.local_context {
            Some(l) => {
                use std::os::unix::fs::MetadataExt;
                let same = std::fs::metadata(&l.dir)
                    .is_ok_and(|m| m.is_dir() && m.dev() == l.dev && m.ino() == l.ino);
                if !same {
                    return Err(DaemonError::Image(image::ImageError::NotFound(format!(
                        "build context {} is not visible to the daemon as the client sees it: send the context as a tar",
                        l.dir.display()
                    ))));
                }
                builder::BuildContext::Dir(l.dir.clone())
            }
            None => {
                let shared = SharedBody(Arc::new(std::sync::Mutex::new(
                    tokio_util::io::SyncIoBridge::new(context),
                )));
                body = Some(shared.clone());
                builder::BuildContext::Tar(Box::new(shared))
            }
        };
        let (out, mut rx) = Output::channel();
        tokio::spawn(async move {
            // builder::build sends its own error message to `out`.
            match builder::build(&backend, ctx, opts, &out).await {
                Ok(res) => tracing::info!(image = %res.image_id, "build finished"),
                Err(e) => tracing::info!(error = %e, "build failed"),
            }
            // Read the rest of the request body before the answer ends (a build
            // that failed early left it unread): a client still writing it would
            // see its connection closed under it.
            if let Some(mut b) = body {
                let drained = tokio::task::spawn_blocking(move || {
                    std::io::copy(&mut b, &mut std::io::sink())
                })
                .await;
                if let Ok(Err(e)) = drained {
                    tracing::debug!(error = %e, "draining the build context");
                }
            }
            drop(out);
        });
        Ok(Box::pin(futures::stream::poll_fn(move |cx| {
            rx.poll_recv(cx)
        })))
    }
}

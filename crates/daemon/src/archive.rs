//! A container's filesystem through the `archive` crate: `docker cp` (stat,
//! copy out, extract in), `diff`, `export` and `commit`.
//!
//! A running container's files are reached through `/proc/<pid>/root` (volumes
//! and bind mounts as the container sees them), without pausing it; a stopped
//! one's rootfs is mounted at a private mount point for the request and
//! unmounted after it, also on error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use api_server::backend::{ArchivePutOptions, BodyReader, ByteStream, CommitOptions};
use archive::{ArchiveError, ExtractOptions, Root};
use engine_types::models::{ChangeType, FilesystemChange, IdResponse};
use engine_types::ContainerPathStat;
use image::ImageStore;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use crate::container::Container;
use crate::error::{DaemonError, Result};
use crate::Daemon;

static MOUNT_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A stopped container's rootfs mounted for one request; unmounted on drop.
struct MountGuard {
    images: Arc<ImageStore>,
    target: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if let Err(e) = self.images.unmount(&self.target) {
            tracing::warn!(mount = %self.target.display(), error = %e, "unmounting a container rootfs");
        }
        let _ = std::fs::remove_dir(&self.target);
    }
}

/// Where one request reads or writes a container's files.
struct Access {
    root: PathBuf,
    /// Set when the request mounted the rootfs itself.
    _mount: Option<MountGuard>,
}

/// Kinds of access: through the container's own view or its rootfs only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// `/proc/<pid>/root` while running: mounts inside the container included.
    Container,
    /// The merged rootfs (export: no /proc, /sys or volumes).
    Rootfs,
}

fn archive_err(c: &Container, e: ArchiveError) -> DaemonError {
    match e {
        ArchiveError::NotFound { path } => DaemonError::NoSuchPath(format!(
            "Could not find the file {path} in container {}",
            c.name()
        )),
        e => DaemonError::Archive(e),
    }
}

fn stat_wire(s: archive::PathStat) -> ContainerPathStat {
    ContainerPathStat {
        name: s.name,
        size: s.size,
        mode: s.mode,
        mtime: s.mtime,
        link_target: s.link_target,
    }
}

impl Daemon {
    /// Opens the way to `c`'s files for one request (blocking: may mount).
    fn access(&self, c: &Container, view: View) -> Result<Access> {
        let rec = c.get();
        if c.is_running() && rec.state.pid != 0 {
            let root = match view {
                View::Container => PathBuf::from(format!("/proc/{}/root", rec.state.pid)),
                View::Rootfs => self.state_dir(&rec.id).join("rootfs"),
            };
            return Ok(Access { root, _mount: None });
        }
        let n = MOUNT_COUNTER.fetch_add(1, Ordering::Relaxed);
        let target = self
            .cfg
            .exec_root
            .join("fs-access")
            .join(format!("{}-{n}", rec.id));
        let guard = MountGuard {
            images: self.images.clone(),
            target: target.clone(),
        };
        self.images.mount_rw_layer(&rec.id, &target)?;
        Ok(Access {
            root: target,
            _mount: Some(guard),
        })
    }

    /// Runs `f` on the root of `c`'s files on a blocking thread.
    async fn with_root<T: Send + 'static>(
        self: &Arc<Self>,
        c: &Arc<Container>,
        view: View,
        f: impl FnOnce(&Root) -> std::result::Result<T, ArchiveError> + Send + 'static,
    ) -> Result<T> {
        let (d, c) = (self.clone(), c.clone());
        tokio::task::spawn_blocking(move || {
            let access = d.access(&c, view)?;
            let root = Root::open(&access.root).map_err(|e| archive_err(&c, e))?;
            f(&root).map_err(|e| archive_err(&c, e))
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("archive task: {e}")))?
    }

    /// `HEAD /containers/{id}/archive`.
    pub async fn path_stat(
        self: &Arc<Self>,
        c: &Arc<Container>,
        path: &str,
    ) -> Result<ContainerPathStat> {
        let path = path.to_string();
        let s = self
            .with_root(c, View::Container, move |root| archive::stat(root, &path))
            .await?;
        Ok(stat_wire(s))
    }

    /// `GET /containers/{id}/archive`: the stat first (a missing path is a 404
    /// before any byte is sent), then the tar, streamed.
    pub async fn archive_get(
        self: &Arc<Self>,
        c: &Arc<Container>,
        path: &str,
    ) -> Result<(ContainerPathStat, ByteStream)> {
        let stat = self.path_stat(c, path).await?;
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let (d, c2, path) = (self.clone(), c.clone(), path.to_string());
        tokio::task::spawn_blocking(move || {
            let mut w = SyncIoBridge::new(writer);
            let res = d.access(&c2, View::Container).and_then(|a| {
                let root = Root::open(&a.root).map_err(|e| archive_err(&c2, e))?;
                archive::write_tar(&root, &path, false, &mut w).map_err(|e| archive_err(&c2, e))
            });
            if let Err(e) = res {
                tracing::error!(container = %c2.id, error = %e, "copy from the container failed mid-stream");
            }
            let _ = w.shutdown();
        });
        Ok((stat, Box::pin(ReaderStream::new(reader))))
    }

    /// `PUT /containers/{id}/archive`.
    pub async fn archive_put(
        self: &Arc<Self>,
        c: &Arc<Container>,
        path: &str,
        opts: ArchivePutOptions,
        tar: BodyReader,
    ) -> Result<()> {
        let rec = c.get();
        if rec.host_config.readonly_rootfs == Some(true) && !c.is_running() {
            return Err(DaemonError::Archive(ArchiveError::ReadOnly {
                context: format!("extracting to {path}"),
            }));
        }
        let user = rec.config.user.clone().filter(|u| !u.is_empty());
        let path = path.to_string();
        let mut src = SyncIoBridge::new(tar);
        let res = self
            .with_root(c, View::Container, move |root| {
                let copy_uid_gid = match (opts.copy_uid_gid, user) {
                    (true, Some(u)) => Some(resolve_user(root, &u)?),
                    _ => None,
                };
                let o = ExtractOptions {
                    no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                    copy_uid_gid,
                };
                let r = archive::extract_tar(root, &path, &mut src, &o);
                // Read the rest of the body so the client gets the answer.
                let _ = std::io::copy(&mut src, &mut std::io::sink());
                r
            })
            .await?;
        tracing::info!(container = %rec.id, entries = res.entries, bytes = res.bytes, "archive extracted");
        Ok(())
    }

    /// `GET /containers/{id}/changes`.
    pub async fn changes(&self, c: &Arc<Container>) -> Result<Vec<FilesystemChange>> {
        let id = c.id.clone();
        let images = self.images.clone();
        let list = tokio::task::spawn_blocking(move || {
            let upper = images.rw_layer_upper_dir(&id)?;
            let lowers = images.rw_layer_lowers(&id)?;
            archive::changes(&lowers, &upper).map_err(DaemonError::Archive)
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("changes task: {e}")))??;
        Ok(list
            .into_iter()
            .map(|ch| FilesystemChange {
                path: ch.path,
                kind: match ch.kind {
                    archive::ChangeKind::Modified => ChangeType::_0,
                    archive::ChangeKind::Added => ChangeType::_1,
                    archive::ChangeKind::Deleted => ChangeType::_2,
                },
            })
            .collect())
    }

    /// `GET /containers/{id}/export`: the merged rootfs, streamed.
    pub async fn export(self: &Arc<Self>, c: &Arc<Container>) -> Result<ByteStream> {
        // Mount (or find) the rootfs before answering, so errors are statuses.
        let (d, c2) = (self.clone(), c.clone());
        let access = tokio::task::spawn_blocking(move || d.access(&c2, View::Rootfs))
            .await
            .map_err(|e| DaemonError::Internal(format!("export task: {e}")))??;
        let root = Root::open(&access.root).map_err(|e| archive_err(c, e))?;
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let _access = access;
            let mut w = SyncIoBridge::new(writer);
            if let Err(e) = archive::export(&root, &mut w) {
                tracing::error!(container = %id, error = %e, "export failed mid-stream");
            }
            let _ = w.shutdown();
        });
        Ok(Box::pin(ReaderStream::new(reader)))
    }

    /// `POST /commit`: the container's changes as a new layer over its image,
    /// with its config (and `changes` applied); the container is frozen while
    /// its layer is read when `pause` is set and it runs.
    pub async fn commit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        opts: CommitOptions,
    ) -> Result<IdResponse> {
        let rec = c.get();
        let mut base: serde_json::Value = {
            let img = rec.image_id.clone();
            let bytes = self.blocking(move |s| s.raw_config(&img)).await?;
            serde_json::from_slice(&bytes).map_err(|e| {
                DaemonError::Internal(format!("the image config of {}: {e}", rec.image_id))
            })?
        };
        let mut cfg = serde_json::to_value(&rec.config)
            .map_err(|e| DaemonError::Internal(format!("encoding the container config: {e}")))?;
        if let Some(given) = &opts.config {
            let given = serde_json::to_value(given)
                .map_err(|e| DaemonError::Internal(format!("encoding the given config: {e}")))?;
            if let (Some(dst), Some(src)) = (cfg.as_object_mut(), given.as_object()) {
                for (k, v) in src.iter().filter(|(_, v)| !v.is_null()) {
                    dst.insert(k.clone(), v.clone());
                }
            }
        }
        let mut run: image::RunConfig = serde_json::from_value(cfg)
            .map_err(|e| DaemonError::Invalid(format!("invalid config: {e}")))?;
        image::apply_changes(&mut run, &opts.changes)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let created_by = std::iter::once(rec.path.clone())
            .chain(rec.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(obj) = base.as_object_mut() {
            obj.insert(
                "config".into(),
                serde_json::to_value(&run).unwrap_or_default(),
            );
            obj.insert("created".into(), now.clone().into());
            obj.insert("container".into(), rec.id.clone().into());
            match &opts.author {
                Some(a) => obj.insert("author".into(), a.clone().into()),
                None => obj.remove("author"),
            };
            let mut h = serde_json::json!({ "created": now, "created_by": created_by });
            if let Some(m) = &opts.comment {
                h["comment"] = m.clone().into();
            }
            if let Some(a) = &opts.author {
                h["author"] = a.clone().into();
            }
            match obj.get_mut("history").and_then(|v| v.as_array_mut()) {
                Some(list) => list.push(h),
                None => {
                    obj.insert("history".into(), serde_json::json!([h]));
                }
            }
        }
        let plan_cgroup = rec.plan.as_ref().map(|p| p.cgroup_path.clone());
        let freeze = match (opts.pause && c.is_running(), plan_cgroup) {
            (true, Some(cg)) => Some(cg),
            _ => None,
        };
        let id = rec.id.clone();
        let images = self.images.clone();
        let image_id = tokio::task::spawn_blocking(move || -> Result<String> {
            if let Some(cg) = &freeze {
                runtime::cgroups::set_frozen(cg, true)
                    .map_err(|e| DaemonError::Conflict(format!("pausing the container: {e}")))?;
            }
            let r = images.commit_rw_layer(&id, base).map_err(DaemonError::from);
            if let Some(cg) = &freeze {
                if let Err(e) = runtime::cgroups::set_frozen(cg, false) {
                    tracing::error!(container = %id, error = %e, "thawing the container after commit");
                }
            }
            r
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("commit task: {e}")))??;
        if let Some(repo) = &opts.repo {
            self.image_tag(&image_id, repo, opts.tag.as_deref()).await?;
        }
        tracing::info!(container = %rec.id, image = %image_id, "committed");
        Ok(IdResponse { id: image_id })
    }
}

/// `copyUIDGID`: the container user's uid and gid, from its `/etc/passwd` and
/// `/etc/group` (numeric ids are taken as they are).
fn resolve_user(root: &Root, user: &str) -> std::result::Result<(u32, u32), ArchiveError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = archive::read_file(root, "/etc/passwd", 1 << 20).unwrap_or_default();
    let passwd = String::from_utf8_lossy(&passwd);
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == u || f[2] == u));
    let uid = match (u.parse::<u32>(), &entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f[2].parse().unwrap_or(0),
        (Err(_), None) => {
            return Err(ArchiveError::NotFound {
                path: format!("/etc/passwd (user {u})"),
            })
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let group = archive::read_file(root, "/etc/group", 1 << 20).unwrap_or_default();
                let group = String::from_utf8_lossy(&group);
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() > 2 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| ArchiveError::NotFound {
                        path: format!("/etc/group (group {g})"),
                    })?
            }
        },
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    Ok((uid, gid))
}

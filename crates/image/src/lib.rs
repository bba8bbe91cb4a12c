//! The image store of Berth: content-addressed blobs, image configs, tags, layers
//! unpacked once into overlay snapshot dirs, container read-write layers mounted with
//! overlayfs, `docker import`, `docker load` and `docker save`.
//!
//! The API is synchronous (the daemon calls it from `spawn_blocking`).
//!
//! On disk, under the data root:
//! - `content/blobs/sha256/<hex>`: configs and layer blobs as received (compressed or
//!   not), so `save` re-emits them under the same digests; `content/ingest/`: temporary
//!   files (blob writes, `load` staging), emptied at `open`.
//! - `overlay/<12 hex of chain id>/diff`: each layer unpacked once (overlay whiteouts);
//!   `overlay/rw-<container id>/{diff,work}`: container rw layers; `overlay/empty`: the
//!   lower dir of zero-layer images. Unrecorded dirs are removed at `open`.
//!
//! In the metadata database: the shared `images`, `tags` (full normalized names),
//! `digests` and `layers` tables, plus this crate's `image_layer_blobs` (diff id ->
//! stored blob) and `image_rw_layers` (container -> image, dir). The `store` crate's
//! migrations create all of them.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, OptionalExtension};

use content::{digest_of, io_err, temp_name};

use errdefs::{ErrorKind, HasKind};

mod archive;
mod changes;
mod commit;
mod content;
mod mount;
pub mod reference;
mod split;
#[cfg(test)]
mod tests;
mod transfer;
mod unpack;
pub use changes::apply_changes;
pub use commit::LayerReuse;
pub use mount::is_mount_point;
pub use reference::Reference;
pub use transfer::{PulledImage, PushImage, PushLayer, MEDIA_OCI_CONFIG, MEDIA_OCI_MANIFEST};

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Unknown image, reference or layer; the message is Docker's wording.
    #[error("{0}")]
    NotFound(String),
    /// Bad reference, bad or hostile archive, bad option.
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation conflicts with the current state (tags, containers).
    #[error("{0}")]
    Conflict(String),
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("image metadata: {0}")]
    Store(#[from] store::StoreError),
    /// A stored JSON document could not be encoded or decoded.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// Any other internal failure.
    #[error("{0}")]
    Internal(String),
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Io { .. }
            | ImageError::Store(_)
            | ImageError::Json { .. }
            | ImageError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// An image as listed/inspected.
#[derive(Debug, Clone)]
pub struct Image {
    /// "sha256:<hex of config blob>"
    pub id: String,
    /// Parsed config.
    pub config: ImageConfig,
    /// Familiar, e.g. ["busybox:latest"].
    pub repo_tags: Vec<String>,
    /// Familiar repo@sha256:...
    pub repo_digests: Vec<String>,
    /// Total unpacked size of all layers in bytes.
    pub size: u64,
    /// Diff ids, bottom to top.
    pub layers: Vec<String>,
}

/// Docker/OCI image config JSON. Round-trips unknown fields; the image id is the
/// sha256 of the stored bytes, never of a re-serialization.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The "config" object of an image config (Docker's capitalized keys).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One `history` entry of an image config.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// Options of `docker import`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// "repo[:tag]" to tag the result with.
    pub reference: Option<String>,
    /// --change: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD.
    pub changes: Vec<String>,
    /// History comment.
    pub message: Option<String>,
    /// "linux/amd64"; default is the host's.
    pub platform: Option<String>,
}

/// One image of a `docker load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: String,
    /// Familiar name:tag, None when untagged.
    pub reference: Option<String>,
}

/// One line of `docker rmi` / prune output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum DeleteItem {
    #[serde(rename = "Untagged")]
    Untagged(String),
    #[serde(rename = "Deleted")]
    Deleted(String),
}

/// One line of `docker history`.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// Image id for the top entry, "<missing>" for others.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// Name of the empty directory used as the lower layer of zero-layer images.
const EMPTY_LOWER: &str = "empty";

/// Name of the init layer (beside `overlay/` in the data root) every container's
/// rootfs has on top of its image's layers (see [`make_init_layer`]); one
/// directory, read-only, for all.
const INIT_LOWER: &str = "init-layer";

/// A recorded layer snapshot.
#[derive(Debug, Clone)]
struct LayerRow {
    chain_id: String,
    diff_id: String,
    dir: String,
    size: u64,
}

/// The image store. `Send + Sync`; every method is synchronous.
pub struct ImageStore {
    overlay: PathBuf,
    content: content::ContentStore,
    db: Arc<store::Store>,
    /// Serializes multi-step metadata changes (recording layers, deleting images).
    lock: Mutex<()>,
}

/// OCI chain ids of a stack of diff ids, bottom to top.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => digest_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Docker's short id: 12 hex chars without the algorithm.
pub fn short_id(id: &str) -> String {
    let h = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    h.chars().take(12).collect()
}

/// The mount points every container gets (as moby's init layer): a read-only
/// layer between the image and every container's read-write layer, so that the
/// runtime never creates them in the read-write layer and they never show up in
/// `docker diff`, `docker commit` or a build's RUN layers.
fn make_init_layer(init: &Path) -> Result<(), ImageError> {
    let dirs = ["proc", "sys", "dev", "dev/pts", "dev/shm", "etc"];
    let files = [
        "etc/resolv.conf",
        "etc/hosts",
        "etc/hostname",
        "dev/console",
    ];
    for d in dirs {
        let p = init.join(d);
        fs::create_dir_all(&p).map_err(io_err(format!("creating {}", p.display())))?;
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io_err(format!("chmod {}", p.display())))?;
    }
    for f in files {
        let p = init.join(f);
        fs::File::create(&p).map_err(io_err(format!("creating {}", p.display())))?;
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(io_err(format!("chmod {}", p.display())))?;
    }
    let mtab = init.join("etc/mtab");
    std::os::unix::fs::symlink("/proc/mounts", &mtab)
        .map_err(io_err(format!("creating {}", mtab.display())))?;
    Ok(())
}

/// Removes a temporary layer directory, logging (not failing) when it cannot.
fn remove_temp_layer(tmp: &Path) {
    if let Err(err) = fs::remove_dir_all(tmp) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(dir = %tmp.display(), error = %err, "could not remove temporary layer directory");
        }
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// GOARCH of the host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// "os/arch[/variant]" -> (os, arch, variant). Empty arch means the host's.
fn parse_platform(p: Option<&str>) -> Result<(String, String, Option<String>), ImageError> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), host_arch().into(), None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if parts.is_empty() || parts.len() > 3 || !parts.iter().all(|s| ok(s)) {
        return Err(ImageError::InvalidArgument(format!(
            "\"{p}\": unknown operating system or architecture: invalid argument"
        )));
    }
    let os = parts[0].to_ascii_lowercase();
    if os != "linux" {
        return Err(ImageError::InvalidArgument(format!(
            "image operating system \"{os}\" cannot be used on this platform"
        )));
    }
    let arch = parts
        .get(1)
        .map(|a| a.to_ascii_lowercase())
        .unwrap_or_else(|| host_arch().into());
    let arch = match arch.as_str() {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        _ => arch,
    };
    Ok((os, arch, parts.get(2).map(|v| v.to_ascii_lowercase())))
}

fn parse_config(bytes: &[u8]) -> Result<ImageConfig, ImageError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ImageError::InvalidArgument(format!("invalid image config JSON: {e}")))
}

fn familiar_of(full: &str) -> String {
    Reference::parse_normalized(full)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| full.to_string())
}

/// A reference held by an image (a tag or a digest reference), by full name.
#[derive(Debug, Clone)]
struct RepoRef {
    full: String,
    reference: Reference,
    canonical: bool,
}

/// An `imageDeleteConflict` of moby.
struct DeleteConflict {
    hard: bool,
    used: bool,
    message: String,
}

impl ImageStore {
    /// Opens the store under data_root (creates content/, overlay/ ...). Cleans
    /// half-finished ingests/unpacks left by a crash (temp names).
    pub fn open(data_root: &Path, db: Arc<store::Store>) -> Result<Self, ImageError> {
        let content = content::ContentStore::open(data_root)?;
        let overlay = data_root.join("overlay");
        fs::create_dir_all(&overlay).map_err(io_err(format!("creating {}", overlay.display())))?;
        let store = ImageStore {
            overlay,
            content,
            db,
            lock: Mutex::new(()),
        };
        let empty = store.overlay.join(EMPTY_LOWER);
        fs::create_dir_all(&empty).map_err(io_err(format!("creating {}", empty.display())))?;
        let init = store.init_layer_dir();
        if !init.is_dir() {
            // Made aside and renamed: a crash leaves no half layer (clean_overlay
            // removes the temporary one).
            let tmp = store.overlay.join(temp_name("init"));
            make_init_layer(&tmp)?;
            fs::rename(&tmp, &init).map_err(io_err(format!("creating {}", init.display())))?;
        }
        store.clean_overlay()?;
        Ok(store)
    }

    fn init_layer_dir(&self) -> PathBuf {
        self.overlay.with_file_name(INIT_LOWER)
    }

    /// Removes directories under overlay/ that no layer or rw layer record owns
    /// (temporary unpacks, layers whose record was never written or was deleted).
    fn clean_overlay(&self) -> Result<(), ImageError> {
        let (layer_dirs, rw_dirs) = self.db.with(|c| {
            let mut s = c.prepare("SELECT dir FROM layers")?;
            let a = s
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<HashSet<_>, _>>()?;
            let mut s = c.prepare("SELECT dir FROM image_rw_layers")?;
            let b = s
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<HashSet<_>, _>>()?;
            Ok((a, b))
        })?;
        let rd = fs::read_dir(&self.overlay)
            .map_err(io_err(format!("reading {}", self.overlay.display())))?;
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if name == EMPTY_LOWER || layer_dirs.contains(&name) || rw_dirs.contains(&name) {
                continue;
            }
            tracing::info!(dir = %ent.path().display(), "removing unreferenced overlay directory (left by a crash or a failed unpack)");
            if let Err(e) = fs::remove_dir_all(ent.path()) {
                tracing::warn!(dir = %ent.path().display(), error = %e, "could not remove unreferenced overlay directory");
            }
        }
        Ok(())
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    // ---------------------------------------------------------------- layers

    fn layer(&self, chain_id: &str) -> Result<Option<LayerRow>, ImageError> {
        Ok(self.db.with(|c| {
            c.query_row(
                "SELECT chain_id, diff_id, dir, size FROM layers WHERE chain_id = ?1",
                [chain_id],
                |r| {
                    Ok(LayerRow {
                        chain_id: r.get(0)?,
                        diff_id: r.get(1)?,
                        dir: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
        })?)
    }

    /// The directory of a layer with this diff id (on any parent), if one is unpacked.
    fn layer_dir_of_diff(&self, diff_id: &str) -> Result<Option<PathBuf>, ImageError> {
        let dir: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT dir FROM layers WHERE diff_id = ?1 LIMIT 1",
                [diff_id],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(dir.map(|d| self.overlay.join(d).join("diff")))
    }

    fn layer_diff_dir(&self, row: &LayerRow) -> PathBuf {
        self.overlay.join(&row.dir).join("diff")
    }

    /// Unpacks the uncompressed layer stream `r` on top of `parent` (a chain id) into
    /// a temporary directory, verifies its diff id against `expected`, then renames it
    /// into place and records it. An already recorded chain is reused.
    fn unpack_and_record(
        &self,
        r: &mut dyn Read,
        parent: Option<&str>,
        expected: Option<&str>,
    ) -> Result<LayerRow, ImageError> {
        let tmp = self.overlay.join(temp_name("tmp"));
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).map_err(io_err(format!("creating {}", diff.display())))?;
        let unpacked = match unpack::unpack_layer(r, &diff, Default::default()) {
            Ok(u) => u,
            Err(e) => {
                remove_temp_layer(&tmp);
                return Err(e);
            }
        };
        if let Some(exp) = expected {
            if exp != unpacked.diff_id {
                remove_temp_layer(&tmp);
                return Err(ImageError::InvalidArgument(format!(
                    "layer content does not match the image config: config says diff id {exp}, the layer hashes to {}; the archive is corrupt or was modified",
                    unpacked.diff_id
                )));
            }
        }
        self.record_layer_dir(&tmp, parent, &unpacked.diff_id, unpacked.size)
    }

    /// Records the layer whose files are in `tmp/diff` (a temporary directory
    /// under the overlay root) with diff id `diff_id` on top of `parent`: syncs
    /// it, renames `tmp` into place and inserts its row. `tmp` is consumed: it is
    /// removed on error and when the chain is already recorded (that row is
    /// returned).
    fn record_layer_dir(
        &self,
        tmp: &Path,
        parent: Option<&str>,
        diff_id: &str,
        size: u64,
    ) -> Result<LayerRow, ImageError> {
        let diff = tmp.join("diff");
        let remove_tmp = || remove_temp_layer(tmp);
        let cleanup = |e: ImageError| {
            remove_tmp();
            e
        };
        let chain_id = match parent {
            None => diff_id.to_string(),
            Some(p) => digest_of(format!("{p} {diff_id}").as_bytes()),
        };
        // Persist the files before the record that makes them visible.
        let synced = fs::File::open(&diff)
            .and_then(|f| rustix::fs::syncfs(&f).map_err(io::Error::from))
            .map_err(io_err(format!("syncing {}", diff.display())));
        synced.map_err(cleanup)?;

        let _g = self.guard();
        if let Some(row) = self.layer(&chain_id).map_err(cleanup)? {
            // Unpacked concurrently or earlier: keep the recorded one.
            remove_tmp();
            return Ok(row);
        }
        let hex = chain_id
            .strip_prefix("sha256:")
            .unwrap_or(&chain_id)
            .to_string();
        let mut len = 12.min(hex.len());
        let dir = loop {
            let cand = hex[..len].to_string();
            let taken: bool = self
                .db
                .with(|c| {
                    c.query_row("SELECT 1 FROM layers WHERE dir = ?1", [&cand], |_| Ok(()))
                        .optional()
                })
                .map_err(ImageError::from)
                .map_err(cleanup)?
                .is_some();
            if !taken && cand != EMPTY_LOWER {
                break cand;
            }
            if len >= hex.len() {
                return Err(cleanup(ImageError::Internal(format!(
                    "no free snapshot directory name for layer {chain_id}"
                ))));
            }
            len += 4;
            len = len.min(hex.len());
        };
        let dst = self.overlay.join(&dir);
        if dst.exists() {
            // Left by a crash between rename and record.
            fs::remove_dir_all(&dst)
                .map_err(io_err(format!("removing stale {}", dst.display())))
                .map_err(cleanup)?;
        }
        fs::rename(tmp, &dst)
            .map_err(io_err(format!("renaming layer into {}", dst.display())))
            .map_err(cleanup)?;
        let row = LayerRow {
            chain_id: chain_id.clone(),
            diff_id: diff_id.to_string(),
            dir: dir.clone(),
            size,
        };
        let res = self.db.with(|c| {
            c.execute(
                "INSERT INTO layers(chain_id, diff_id, parent, dir, size) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.chain_id, row.diff_id, parent, row.dir, row.size as i64],
            )
        });
        if let Err(e) = res {
            let _ = fs::remove_dir_all(&dst);
            return Err(e.into());
        }
        tracing::debug!(chain_id = %row.chain_id, dir = %row.dir, size = row.size, "layer unpacked");
        Ok(row)
    }

    fn record_layer_blob(
        &self,
        diff_id: &str,
        digest: &str,
        media_type: &str,
        size: u64,
    ) -> Result<(), ImageError> {
        self.db.with(|c| {
            c.execute(
                "INSERT INTO image_layer_blobs(diff_id, digest, media_type, size) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(diff_id) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type, size = excluded.size",
                params![diff_id, digest, media_type, size as i64],
            )
        })?;
        Ok(())
    }

    /// (blob digest, media type, size) of the stored blob of a diff id.
    fn layer_blob(&self, diff_id: &str) -> Result<Option<(String, String, u64)>, ImageError> {
        Ok(self.db.with(|c| {
            c.query_row(
                "SELECT digest, media_type, size FROM image_layer_blobs WHERE diff_id = ?1",
                [diff_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)),
            )
            .optional()
        })?)
    }

    // ---------------------------------------------------------------- images

    /// Stores config bytes as an image whose layers are all recorded. Returns the id.
    fn put_image(&self, bytes: &[u8], manifest_digest: Option<&str>) -> Result<String, ImageError> {
        let cfg = parse_config(bytes)?;
        let mut size = 0u64;
        for chain in chain_ids(&cfg.rootfs.diff_ids) {
            let row = self.layer(&chain)?.ok_or_else(|| {
                ImageError::Internal(format!("layer {chain} of the image is not unpacked"))
            })?;
            size += row.size;
        }
        let id = self.content.put(bytes)?;
        self.db.with(|c| {
            c.execute(
                "INSERT INTO images(id, config, manifest_digest, created_at, size) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO NOTHING",
                params![id, bytes, manifest_digest, now_rfc3339(), size as i64],
            )
        })?;
        Ok(id)
    }

    fn image_row(&self, id: &str) -> Result<Option<(Vec<u8>, u64)>, ImageError> {
        Ok(self.db.with(|c| {
            c.query_row("SELECT config, size FROM images WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .optional()
        })?)
    }

    fn build_image(&self, id: &str, bytes: &[u8], size: u64) -> Result<Image, ImageError> {
        let config = parse_config(bytes)?;
        let (tags, digests) = self.db.with(|c| {
            let mut s = c.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
            let t = s
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut s = c.prepare("SELECT name FROM digests WHERE image_id = ?1 ORDER BY name")?;
            let d = s
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((t, d))
        })?;
        Ok(Image {
            id: id.to_string(),
            layers: config.rootfs.diff_ids.clone(),
            config,
            repo_tags: tags.iter().map(|t| familiar_of(t)).collect(),
            repo_digests: digests.iter().map(|t| familiar_of(t)).collect(),
            size,
        })
    }

    fn search_prefix(&self, hex: &str) -> Result<Option<String>, ImageError> {
        if !is_hex(hex) {
            return Ok(None);
        }
        let pattern = format!("sha256:{hex}%");
        let ids: Vec<String> = self.db.with(|c| {
            let mut s = c.prepare("SELECT id FROM images WHERE id LIKE ?1 LIMIT 2")?;
            let v = s
                .query_map([&pattern], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })?;
        Ok(if ids.len() == 1 {
            ids.into_iter().next()
        } else {
            None
        })
    }

    fn image_exists(&self, id: &str) -> Result<bool, ImageError> {
        Ok(self
            .db
            .with(|c| {
                c.query_row("SELECT 1 FROM images WHERE id = ?1", [id], |_| Ok(()))
                    .optional()
            })?
            .is_some())
    }

    /// Resolves a reference, full id, bare hex id or unique id prefix to an image id.
    fn resolve(&self, s: &str) -> Result<String, ImageError> {
        let no_such = |what: &str| ImageError::NotFound(format!("No such image: {what}"));
        if let Some(hex) = s.strip_prefix("sha256:") {
            if reference::is_full_hex_id(hex) {
                return if self.image_exists(s)? {
                    Ok(s.to_string())
                } else {
                    Err(no_such(s))
                };
            }
            if is_hex(hex) {
                return self.search_prefix(hex)?.ok_or_else(|| no_such(s));
            }
        }
        if reference::is_full_hex_id(s) {
            let id = format!("sha256:{s}");
            return if self.image_exists(&id)? {
                Ok(id)
            } else {
                Err(no_such(s))
            };
        }
        let r = match Reference::parse(s) {
            Ok(r) => r,
            Err(e) => {
                return match self.search_prefix(s)? {
                    Some(id) => Ok(id),
                    None => Err(e.into()),
                }
            }
        };
        let found: Option<String> = if let Some(d) = &r.digest {
            let name = format!("{}@{}", r.name(), d);
            self.db.with(|c| {
                c.query_row(
                    "SELECT image_id FROM digests WHERE name = ?1",
                    [&name],
                    |row| row.get(0),
                )
                .optional()
            })?
        } else {
            let name = r.full();
            self.db.with(|c| {
                c.query_row(
                    "SELECT image_id FROM tags WHERE name = ?1",
                    [&name],
                    |row| row.get(0),
                )
                .optional()
            })?
        };
        if let Some(id) = found {
            return Ok(id);
        }
        if let Some(id) = self.search_prefix(s)? {
            return Ok(id);
        }
        Err(no_such(&r.familiar_string()))
    }

    fn set_tag(&self, r: &Reference, id: &str) -> Result<(), ImageError> {
        if r.digest.is_some() {
            return Err(ImageError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let name = r.full();
        self.db.with(|c| {
            c.execute(
                "INSERT INTO tags(name, image_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                params![name, id],
            )
        })?;
        Ok(())
    }

    /// Records a digest reference (repo@sha256:...) for an image.
    pub fn add_digest_reference(
        &self,
        name_or_id: &str,
        canonical: &str,
    ) -> Result<(), ImageError> {
        let id = self.resolve(name_or_id)?;
        let r = Reference::parse_normalized(canonical)?;
        let Some(d) = &r.digest else {
            return Err(ImageError::InvalidArgument(format!(
                "{canonical} is not a digest reference"
            )));
        };
        let name = format!("{}@{}", r.name(), d);
        self.db.with(|c| {
            c.execute(
                "INSERT INTO digests(name, image_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                params![name, id],
            )
        })?;
        Ok(())
    }

    /// docker import: `src` is a rootfs tar, plain, gzip or zstd (detected by magic
    /// bytes; bzip2/xz are refused). Makes a one-layer image.
    pub fn import(&self, src: &mut dyn Read, opts: ImportOptions) -> Result<Image, ImageError> {
        let reference = match opts.reference.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => {
                let r = Reference::parse(s)?;
                if r.digest.is_some() {
                    return Err(ImageError::InvalidArgument(
                        "refusing to create a tag with a digest reference".into(),
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let (os, arch, variant) = parse_platform(opts.platform.as_deref())?;
        let mut run = RunConfig::default();
        changes::apply_changes(&mut run, &opts.changes)?;

        let (_compression, decompressed) = unpack::decompress(Box::new(src))?;
        let ingest = self.content.begin()?;
        let mut tee = content::TeeReader {
            inner: decompressed,
            out: ingest,
        };
        let layer = self.unpack_and_record(&mut tee, None, None)?;
        let (blob, blob_size) = self.content.commit(tee.out, Some(&layer.diff_id))?;
        self.record_layer_blob(
            &layer.diff_id,
            &blob,
            unpack::Compression::None.oci_media_type(),
            blob_size,
        )?;

        let created = now_rfc3339();
        let mut other = serde_json::Map::new();
        if let Some(v) = variant {
            other.insert("variant".into(), serde_json::Value::String(v));
        }
        let cfg = ImageConfig {
            architecture: arch,
            os,
            created: Some(created.clone()),
            author: None,
            config: Some(run),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: Some(created),
                comment: Some(
                    opts.message
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "Imported from -".to_string()),
                ),
                ..Default::default()
            }],
            other,
        };
        let bytes = serde_json::to_vec(&cfg).map_err(|source| ImageError::Json {
            context: "encoding image config".into(),
            source,
        })?;
        let id = self.put_image(&bytes, None)?;
        if let Some(r) = &reference {
            self.set_tag(r, &id)?;
        }
        tracing::info!(id = %id, reference = ?reference.as_ref().map(|r| r.familiar_string()), "image imported");
        self.get(&id)
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let rows: Vec<(String, Vec<u8>, u64)> = self.db.with(|c| {
            let mut s =
                c.prepare("SELECT id, config, size FROM images ORDER BY created_at DESC, id")?;
            let v = s
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })?;
        rows.iter()
            .map(|(id, b, size)| self.build_image(id, b, *size))
            .collect()
    }

    /// By reference (normalized), full id "sha256:..", bare hex id, or unique id
    /// prefix. NotFound message is Docker's: "No such image: busybox:latest".
    pub fn get(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let id = self.resolve(name_or_id)?;
        let (bytes, size) = self
            .image_row(&id)?
            .ok_or_else(|| ImageError::NotFound(format!("No such image: {name_or_id}")))?;
        self.build_image(&id, &bytes, size)
    }

    /// The stored config bytes (for inspect/save/push).
    pub fn raw_config(&self, id: &str) -> Result<Vec<u8>, ImageError> {
        let id = self.resolve(id)?;
        self.image_row(&id)?
            .map(|(b, _)| b)
            .ok_or_else(|| ImageError::NotFound(format!("No such image: {id}")))
    }

    /// Tags an image (`docker tag SOURCE TARGET`).
    pub fn tag(&self, name_or_id: &str, new_ref: &str) -> Result<(), ImageError> {
        let id = self.resolve(name_or_id)?;
        let r = Reference::parse(new_ref)?;
        self.set_tag(&r, &id)
    }

    // ---------------------------------------------------------------- delete

    fn refs_of(&self, id: &str) -> Result<Vec<RepoRef>, ImageError> {
        let (tags, digests) = self.db.with(|c| {
            let mut s = c.prepare("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")?;
            let t = s
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut s = c.prepare("SELECT name FROM digests WHERE image_id = ?1 ORDER BY name")?;
            let d = s
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((t, d))
        })?;
        let mut out = Vec::new();
        for (full, canonical) in tags
            .into_iter()
            .map(|t| (t, false))
            .chain(digests.into_iter().map(|d| (d, true)))
        {
            match Reference::parse_normalized(&full) {
                Ok(reference) => out.push(RepoRef {
                    full,
                    reference,
                    canonical,
                }),
                Err(e) => {
                    tracing::warn!(name = %full, error = %e, "ignoring unparsable stored reference")
                }
            }
        }
        Ok(out)
    }

    fn remove_ref(&self, r: &RepoRef) -> Result<(), ImageError> {
        let table = if r.canonical { "digests" } else { "tags" };
        self.db
            .with(|c| c.execute(&format!("DELETE FROM {table} WHERE name = ?1"), [&r.full]))?;
        Ok(())
    }

    /// moby's isSingleReference: at most one tag, and every digest reference in the
    /// same repository as it.
    fn is_single_reference(refs: &[RepoRef]) -> bool {
        if refs.len() <= 1 {
            return refs.len() == 1;
        }
        let mut single: Option<&RepoRef> = None;
        let mut canonical_names = HashSet::new();
        for r in refs {
            if r.canonical {
                canonical_names.insert(r.reference.name());
            } else if single.is_none() {
                single = Some(r);
            } else {
                return false;
            }
        }
        let single = single.unwrap_or(&refs[0]);
        canonical_names.len() == 1 && canonical_names.contains(&single.reference.name())
    }

    fn check_delete_conflict(
        &self,
        id: &str,
        check_soft: bool,
        check_refs: bool,
        used_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<DeleteConflict>, ImageError> {
        // Berth cannot tell a running from a stopped container here: every use is a
        // hard conflict (the daemon refuses to leave a container without its image).
        if let Some(ctr) = used_by(id) {
            return Ok(Some(DeleteConflict {
                hard: true,
                used: true,
                message: format!(
                    "image is being used by running container {}",
                    short_id(&ctr)
                ),
            }));
        }
        if check_soft && check_refs && !self.refs_of(id)?.is_empty() {
            return Ok(Some(DeleteConflict {
                hard: false,
                used: false,
                message: "image is referenced in multiple repositories".into(),
            }));
        }
        Ok(None)
    }

    fn conflict_error(id: &str, c: &DeleteConflict) -> ImageError {
        ImageError::Conflict(format!(
            "conflict: unable to delete {} ({}) - {}",
            short_id(id),
            if c.hard {
                "cannot be forced"
            } else {
                "must be forced"
            },
            c.message
        ))
    }

    /// docker rmi semantics (moby daemon/images/image_delete.go): by name -> untag;
    /// when the last reference goes and no container uses the image -> delete the
    /// image and its now-unused layers.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        used_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let id = self.resolve(name_or_id)?;
        let _g = self.guard();
        let mut records = Vec::new();
        let mut refs = self.refs_of(&id)?;
        let by_id = id.starts_with(name_or_id)
            || id
                .strip_prefix("sha256:")
                .is_some_and(|h| h.starts_with(name_or_id));
        let mut removed_repository_ref = false;
        if !by_id {
            if !force && Self::is_single_reference(&refs) {
                if let Some(ctr) = used_by(&id) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {}",
                        short_id(&ctr),
                        short_id(&id)
                    )));
                }
            }
            let parsed = Reference::parse(name_or_id)?;
            let canonical = parsed.digest.is_some();
            let full = if canonical {
                format!(
                    "{}@{}",
                    parsed.name(),
                    parsed.digest.as_deref().unwrap_or_default()
                )
            } else {
                parsed.full()
            };
            let r = RepoRef {
                full,
                reference: parsed.clone(),
                canonical,
            };
            self.remove_ref(&r)?;
            records.push(DeleteItem::Untagged(parsed.familiar_string()));
            refs = self.refs_of(&id)?;
            if !canonical {
                let name = parsed.name();
                let tag_left = refs
                    .iter()
                    .any(|x| !x.canonical && x.reference.name() == name);
                if !tag_left {
                    let mut remaining = Vec::new();
                    for x in refs {
                        if x.canonical && x.reference.name() == name {
                            self.remove_ref(&x)?;
                            records.push(DeleteItem::Untagged(x.reference.familiar_string()));
                        } else {
                            remaining.push(x);
                        }
                    }
                    refs = remaining;
                }
            }
            if !refs.is_empty() {
                return Ok(records);
            }
            removed_repository_ref = true;
        } else if Self::is_single_reference(&refs) {
            if let Some(c) = self.check_delete_conflict(&id, !force, false, used_by)? {
                return Err(Self::conflict_error(&id, &c));
            }
            for r in &refs {
                self.remove_ref(r)?;
                records.push(DeleteItem::Untagged(r.reference.familiar_string()));
            }
        }
        if let Some(c) = self.check_delete_conflict(&id, !force, true, used_by)? {
            if removed_repository_ref && (!self.refs_of(&id)?.is_empty() || c.used) {
                // The untag was the job; the image stays (dangling) for its container.
                return Ok(records);
            }
            return Err(Self::conflict_error(&id, &c));
        }
        self.delete_image_locked(&id, &mut records)?;
        Ok(records)
    }

    /// Removes every reference, the image and its unused layers and blobs. Returns
    /// the bytes of the layers removed. Caller holds the lock.
    fn delete_image_locked(
        &self,
        id: &str,
        records: &mut Vec<DeleteItem>,
    ) -> Result<u64, ImageError> {
        for r in self.refs_of(id)? {
            self.remove_ref(&r)?;
            records.push(DeleteItem::Untagged(r.reference.familiar_string()));
        }
        let Some((bytes, _)) = self.image_row(id)? else {
            return Ok(0);
        };
        let cfg = parse_config(&bytes)?;
        self.db
            .with(|c| c.execute("DELETE FROM images WHERE id = ?1", [id]))?;
        records.push(DeleteItem::Deleted(id.to_string()));

        // What the remaining images still use.
        let others: Vec<Vec<u8>> = self.db.with(|c| {
            let mut s = c.prepare("SELECT config FROM images")?;
            let v = s
                .query_map([], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })?;
        let mut used_chains = HashSet::new();
        let mut used_diffs = HashSet::new();
        let mut other_configs = HashSet::new();
        for b in &others {
            other_configs.insert(digest_of(b));
            if let Ok(c) = parse_config(b) {
                used_chains.extend(chain_ids(&c.rootfs.diff_ids));
                used_diffs.extend(c.rootfs.diff_ids);
            }
        }
        let mut reclaimed = 0u64;
        for chain in chain_ids(&cfg.rootfs.diff_ids).iter().rev() {
            if used_chains.contains(chain) {
                continue;
            }
            if let Some(row) = self.layer(chain)? {
                self.db
                    .with(|c| c.execute("DELETE FROM layers WHERE chain_id = ?1", [chain]))?;
                let dir = self.overlay.join(&row.dir);
                if let Err(e) = fs::remove_dir_all(&dir) {
                    // The record is gone: `open` removes the orphan dir next time.
                    tracing::warn!(dir = %dir.display(), error = %e, "could not remove layer directory");
                }
                reclaimed += row.size;
                records.push(DeleteItem::Deleted(row.chain_id.clone()));
            }
        }
        for diff in &cfg.rootfs.diff_ids {
            if used_diffs.contains(diff) {
                continue;
            }
            if let Some((blob, _, _)) = self.layer_blob(diff)? {
                self.db.with(|c| {
                    c.execute("DELETE FROM image_layer_blobs WHERE diff_id = ?1", [diff])
                })?;
                self.content.delete(&blob)?;
            }
        }
        if !other_configs.contains(id) {
            self.content.delete(id)?;
        }
        tracing::info!(id, reclaimed, "image deleted");
        Ok(reclaimed)
    }

    /// docker image prune: dangling (untagged) images not used by containers;
    /// all=true: every image not used. Returns deleted items and reclaimed bytes.
    pub fn prune(
        &self,
        all: bool,
        used_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Vec<DeleteItem>, u64), ImageError> {
        let _g = self.guard();
        let ids: Vec<String> = self.db.with(|c| {
            let mut s = c.prepare("SELECT id FROM images ORDER BY created_at")?;
            let v = s
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(v)
        })?;
        let mut records = Vec::new();
        let mut reclaimed = 0u64;
        for id in ids {
            if used_by(&id).is_some() {
                continue;
            }
            let tagged = self.refs_of(&id)?.iter().any(|r| !r.canonical);
            if tagged && !all {
                continue;
            }
            reclaimed += self.delete_image_locked(&id, &mut records)?;
        }
        Ok((records, reclaimed))
    }

    /// docker history: newest entry first.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let img = self.get(name_or_id)?;
        let chains = chain_ids(&img.config.rootfs.diff_ids);
        let mut layer_idx = 0usize;
        let mut out = Vec::new();
        for h in &img.config.history {
            let mut size = 0;
            if !h.empty_layer.unwrap_or(false) {
                if let Some(chain) = chains.get(layer_idx) {
                    size = self.layer(chain)?.map(|r| r.size).unwrap_or(0);
                }
                layer_idx += 1;
            }
            let created = h
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp())
                .unwrap_or(0);
            out.push(HistoryEntry {
                id: "<missing>".into(),
                created,
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
                tags: Vec::new(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = img.id.clone();
            top.tags = img.repo_tags.clone();
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- rw layers

    fn rw_dir_name(container_id: &str) -> Result<String, ImageError> {
        if container_id.is_empty()
            || container_id.len() > 128
            || !container_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ImageError::InvalidArgument(format!(
                "invalid container id {container_id:?} for a read-write layer"
            )));
        }
        Ok(format!("rw-{container_id}"))
    }

    /// Creates the rw layer dirs (upper + work) for a container over `image_id`'s layers.
    pub fn create_rw_layer(&self, container_id: &str, image_id: &str) -> Result<(), ImageError> {
        let dir = Self::rw_dir_name(container_id)?;
        let id = self.resolve(image_id)?;
        let _g = self.guard();
        let existing: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT image_id FROM image_rw_layers WHERE container_id = ?1",
                [container_id],
                |r| r.get(0),
            )
            .optional()
        })?;
        if let Some(img) = existing {
            if img == id {
                return Ok(());
            }
            return Err(ImageError::Conflict(format!(
                "container {container_id} already has a read-write layer over image {img}"
            )));
        }
        let path = self.overlay.join(&dir);
        for sub in ["diff", "work"] {
            let p = path.join(sub);
            fs::create_dir_all(&p).map_err(io_err(format!("creating {}", p.display())))?;
        }
        self.db.with(|c| {
            c.execute(
                "INSERT INTO image_rw_layers(container_id, image_id, dir) VALUES (?1, ?2, ?3)",
                params![container_id, id, dir],
            )
        })?;
        Ok(())
    }

    /// The overlay lower directories of a container's image, top first.
    fn lower_dirs(&self, image_id: &str) -> Result<Vec<PathBuf>, ImageError> {
        let (bytes, _) = self
            .image_row(image_id)?
            .ok_or_else(|| ImageError::NotFound(format!("No such image: {image_id}")))?;
        let cfg = parse_config(&bytes)?;
        let mut dirs = Vec::new();
        for chain in chain_ids(&cfg.rootfs.diff_ids).iter().rev() {
            let row = self.layer(chain)?.ok_or_else(|| {
                ImageError::Internal(format!("layer {chain} of image {image_id} is missing"))
            })?;
            dirs.push(self.layer_diff_dir(&row));
        }
        if dirs.is_empty() {
            dirs.push(self.overlay.join(EMPTY_LOWER));
        }
        Ok(dirs)
    }

    /// Mounts overlayfs (lower = image layers, top first; upper/work = the rw layer)
    /// at `target` (created if missing).
    pub fn mount_rw_layer(&self, container_id: &str, target: &Path) -> Result<(), ImageError> {
        let row: Option<(String, String)> = self.db.with(|c| {
            c.query_row(
                "SELECT image_id, dir FROM image_rw_layers WHERE container_id = ?1",
                [container_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        let (image_id, dir) = row.ok_or_else(|| {
            ImageError::NotFound(format!("no read-write layer for container {container_id}"))
        })?;
        let mut lowers = self.lower_dirs(&image_id)?;
        lowers.insert(0, self.init_layer_dir());
        let upper = self.overlay.join(&dir).join("diff");
        let work = self.overlay.join(&dir).join("work");
        fs::create_dir_all(target).map_err(io_err(format!("creating {}", target.display())))?;
        if mount::is_mount_point(target) {
            // Already mounted (e.g. the daemon restarted): mounting again would stack.
            tracing::debug!(target = %target.display(), "rootfs already mounted");
            return Ok(());
        }
        mount::mount_overlay(&lowers, &upper, &work, target)
    }

    /// Unmounts `target` if mounted (not mounted is OK; EBUSY -> lazy detach).
    pub fn unmount(&self, target: &Path) -> Result<(), ImageError> {
        mount::unmount(target)
    }

    /// The metadata of `rel` (a path relative to `/`, not followed if a symlink)
    /// in the topmost layer of `image_id` that has it; None when no layer has it
    /// or the topmost entry is a whiteout. (Opaque directories above it are not
    /// considered: a hint, not the merged view.)
    pub fn image_path_stat(&self, image_id: &str, rel: &str) -> Option<fs::Metadata> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let rel = rel.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        for dir in self.lower_dirs(image_id).ok()? {
            if let Ok(m) = fs::symlink_metadata(dir.join(rel)) {
                let whiteout = m.file_type().is_char_device() && m.rdev() == 0;
                return (!whiteout).then_some(m);
            }
        }
        None
    }

    /// The lower directories of a container's rw layer as it is mounted (the
    /// init layer, then the image's layers, top first), for `docker diff`.
    pub fn rw_layer_lowers(&self, container_id: &str) -> Result<Vec<PathBuf>, ImageError> {
        let image_id: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT image_id FROM image_rw_layers WHERE container_id = ?1",
                [container_id],
                |r| r.get(0),
            )
            .optional()
        })?;
        let image_id = image_id.ok_or_else(|| {
            ImageError::NotFound(format!("no read-write layer for container {container_id}"))
        })?;
        let mut lowers = self.lower_dirs(&image_id)?;
        lowers.insert(0, self.init_layer_dir());
        Ok(lowers)
    }

    /// Unpacked size of every layer, by chain id (for `system df`).
    pub fn layer_sizes(&self) -> Result<HashMap<String, u64>, ImageError> {
        Ok(self.db.with(|c| {
            let mut s = c.prepare("SELECT chain_id, size FROM layers")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })?)
    }

    /// The upper directory (the container's changes, in overlay format: whiteouts are
    /// 0/0 character devices) of a container's rw layer, for `docker diff`/`commit`.
    pub fn rw_layer_upper_dir(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        let dir: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT dir FROM image_rw_layers WHERE container_id = ?1",
                [container_id],
                |r| r.get(0),
            )
            .optional()
        })?;
        let dir = dir.ok_or_else(|| {
            ImageError::NotFound(format!("no read-write layer for container {container_id}"))
        })?;
        Ok(self.overlay.join(dir).join("diff"))
    }

    /// Deletes the rw layer (must be unmounted). Unknown id is OK.
    pub fn remove_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        let dir = Self::rw_dir_name(container_id)?;
        let _g = self.guard();
        let path = self.overlay.join(&dir);
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ImageError::Io {
                    context: format!("removing read-write layer {}", path.display()),
                    source: e,
                })
            }
        }
        self.db.with(|c| {
            c.execute(
                "DELETE FROM image_rw_layers WHERE container_id = ?1",
                [container_id],
            )
        })?;
        Ok(())
    }

    /// docker load of a `docker save` archive (legacy and OCI layouts).
    pub fn load(&self, src: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
        archive::load(self, src)
    }

    /// docker save of one or more names/ids into one archive (Docker 25+ combined
    /// format). Streams: never holds a layer in memory.
    pub fn save(&self, names: &[String], dst: &mut dyn Write) -> Result<(), ImageError> {
        archive::save(self, names, dst)
    }
}

// The daemon shares one store across `spawn_blocking` tasks.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ImageStore>();
};

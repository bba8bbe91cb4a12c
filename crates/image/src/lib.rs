//! The image store of Berth: content-addressed blobs, image configs, tags, layers
//! unpacked once into overlay snapshot dirs, container read-write layers mounted with
//! overlayfs, `docker import`, `docker load` and `docker save`.
//!
//! The API is synchronous (the daemon calls it from `spawn_blocking`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine_types::{ErrorKind, HasKind};

pub mod reference;
pub use reference::Reference;

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

/// The image store.
pub struct ImageStore {
    root: PathBuf,
    db: Arc<store::Store>,
}

impl ImageStore {
    /// Opens the store under data_root (creates content/, overlay/ ...). Cleans
    /// half-finished ingests/unpacks left by a crash.
    pub fn open(data_root: &Path, db: Arc<store::Store>) -> Result<Self, ImageError> {
        let _ = (data_root, db);
        todo!()
    }

    /// docker import: `src` is a rootfs tar, plain, gzip or zstd. Makes a one-layer image.
    pub fn import(&self, src: &mut dyn Read, opts: ImportOptions) -> Result<Image, ImageError> {
        let _ = (src, opts, &self.root, &self.db);
        todo!()
    }

    /// docker load of a `docker save` archive (legacy and OCI layouts).
    pub fn load(&self, src: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
        let _ = src;
        todo!()
    }

    /// docker save of one or more names/ids into one archive (Docker 25+ combined format).
    pub fn save(&self, names: &[String], dst: &mut dyn Write) -> Result<(), ImageError> {
        let _ = (names, dst);
        todo!()
    }

    /// All images.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        todo!()
    }

    /// By reference, full id, bare hex id, or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let _ = name_or_id;
        todo!()
    }

    /// The stored config bytes (for inspect/save/push).
    pub fn raw_config(&self, id: &str) -> Result<Vec<u8>, ImageError> {
        let _ = id;
        todo!()
    }

    /// Tags an image with `new_ref`.
    pub fn tag(&self, name_or_id: &str, new_ref: &str) -> Result<(), ImageError> {
        let _ = (name_or_id, new_ref);
        todo!()
    }

    /// docker rmi semantics.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        used_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let _ = (name_or_id, force, used_by);
        todo!()
    }

    /// docker image prune.
    pub fn prune(
        &self,
        all: bool,
        used_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Vec<DeleteItem>, u64), ImageError> {
        let _ = (all, used_by);
        todo!()
    }

    /// docker history.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let _ = name_or_id;
        todo!()
    }

    /// Creates the rw layer dirs (upper + work) for a container over `image_id`'s layers.
    pub fn create_rw_layer(&self, container_id: &str, image_id: &str) -> Result<(), ImageError> {
        let _ = (container_id, image_id);
        todo!()
    }

    /// Mounts overlayfs (lower = image layers, top first; upper/work = the rw layer) at `target`.
    pub fn mount_rw_layer(&self, container_id: &str, target: &Path) -> Result<(), ImageError> {
        let _ = (container_id, target);
        todo!()
    }

    /// Unmounts `target` if mounted (not mounted is OK; EBUSY -> lazy detach).
    pub fn unmount(&self, target: &Path) -> Result<(), ImageError> {
        let _ = target;
        todo!()
    }

    /// Deletes the rw layer (must be unmounted). Unknown id is OK.
    pub fn remove_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        let _ = container_id;
        todo!()
    }
}

// The daemon shares one store across `spawn_blocking` tasks.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ImageStore>();
};

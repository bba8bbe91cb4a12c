//! Filesystem storage: content-addressed blobs, upload sessions and per-repository links.
//!
//! Layout under `root`:
//! - `blobs/sha256/<hex>`: blob bytes, only ever created by renaming a verified upload.
//! - `uploads/<uuid>`: in-progress uploads (hashed while streaming); also temp files.
//! - `repos/<name>/_blobs/<hex>`: the blob is part of the repository (empty link file).
//! - `repos/<name>/_manifests/<hex>`: manifest link; contains the manifest media type.
//! - `repos/<name>/_tags/<tag>`: contains the tagged manifest digest.
//! - `repos/<name>/_uploads/<uuid>`: binds an upload session to its repository.
//!
//! The `_` prefix keeps the link directories apart from nested repository names,
//! whose components can never start with `_`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::names::Digest;

struct UploadState {
    hasher: Sha256,
    size: u64,
}

type UploadHandle = Arc<tokio::sync::Mutex<UploadState>>;

pub struct Storage {
    root: PathBuf,
    uploads: std::sync::Mutex<HashMap<String, UploadHandle>>,
}

fn io_ctx(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::io(context, source)
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl Storage {
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in ["blobs/sha256", "uploads", "repos"] {
            let p = root.join(dir);
            tokio::fs::create_dir_all(&p)
                .await
                .map_err(io_ctx(format!("creating {}", p.display())))?;
        }
        Ok(Storage {
            root,
            uploads: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repos").join(name)
    }

    fn upload_path(&self, uuid: &str) -> PathBuf {
        self.root.join("uploads").join(uuid)
    }

    /// Write `data` to `path` atomically: temp file under uploads/, then rename.
    async fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io_ctx(format!("creating {}", parent.display())))?;
        }
        let tmp = self.upload_path(&format!("tmp-{:032x}", rand::random::<u128>()));
        tokio::fs::write(&tmp, data)
            .await
            .map_err(io_ctx(format!("writing {}", tmp.display())))?;
        if let Err(e) = tokio::fs::rename(&tmp, path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(Error::io(format!("renaming into {}", path.display()), e));
        }
        Ok(())
    }

    // ---- blobs ----

    /// Size of a blob if the repository links it.
    pub async fn blob_size(&self, name: &str, d: &Digest) -> Result<u64> {
        let link = self.repo_dir(name).join("_blobs").join(d.hex());
        let unknown = || Error::BlobUnknown {
            digest: d.to_string(),
        };
        if !tokio::fs::try_exists(&link).await.unwrap_or(false) {
            return Err(unknown());
        }
        match tokio::fs::metadata(self.blob_path(d)).await {
            Ok(m) => Ok(m.len()),
            Err(e) if not_found(&e) => Err(unknown()),
            Err(e) => Err(Error::io(format!("stat blob {d}"), e)),
        }
    }

    pub async fn open_blob(&self, name: &str, d: &Digest) -> Result<(tokio::fs::File, u64)> {
        let size = self.blob_size(name, d).await?;
        let f = tokio::fs::File::open(self.blob_path(d))
            .await
            .map_err(io_ctx(format!("opening blob {d}")))?;
        Ok((f, size))
    }

    pub async fn link_blob(&self, name: &str, d: &Digest) -> Result<()> {
        let link = self.repo_dir(name).join("_blobs").join(d.hex());
        self.write_atomic(&link, b"").await
    }

    pub async fn delete_blob_link(&self, name: &str, d: &Digest) -> Result<()> {
        let link = self.repo_dir(name).join("_blobs").join(d.hex());
        match tokio::fs::remove_file(&link).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Err(Error::BlobUnknown {
                digest: d.to_string(),
            }),
            Err(e) => Err(Error::io(format!("removing {}", link.display()), e)),
        }
    }

    /// Whether a blob exists in the global store (any repository).
    pub async fn blob_exists(&self, d: &Digest) -> bool {
        tokio::fs::try_exists(self.blob_path(d))
            .await
            .unwrap_or(false)
    }

    // ---- uploads ----

    /// Start a session for repository `name`; the session is bound to it by a link
    /// file `repos/<name>/_uploads/<uuid>`, so it survives restarts.
    pub async fn start_upload(&self, name: &str) -> Result<String> {
        let uuid = format!("{:032x}", rand::random::<u128>());
        self.write_atomic(&self.upload_link(name, &uuid), b"")
            .await?;
        let p = self.upload_path(&uuid);
        tokio::fs::File::create(&p)
            .await
            .map_err(io_ctx(format!("creating upload {}", p.display())))?;
        let state = Arc::new(tokio::sync::Mutex::new(UploadState {
            hasher: Sha256::new(),
            size: 0,
        }));
        self.lock_uploads().insert(uuid.clone(), state);
        Ok(uuid)
    }

    fn lock_uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, UploadHandle>> {
        // A poisoned map only means another request panicked; the data is still valid.
        self.uploads.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn upload_link(&self, name: &str, uuid: &str) -> PathBuf {
        self.repo_dir(name).join("_uploads").join(uuid)
    }

    fn valid_uuid(uuid: &str) -> bool {
        uuid.len() == 32 && uuid.bytes().all(|c| c.is_ascii_hexdigit())
    }

    /// Find the session; after a restart, rebuild its hash state from the partial file.
    async fn upload_handle(&self, name: &str, uuid: &str) -> Result<UploadHandle> {
        let unknown = || Error::BlobUploadUnknown {
            uuid: uuid.to_string(),
        };
        if !Self::valid_uuid(uuid)
            || !tokio::fs::try_exists(self.upload_link(name, uuid))
                .await
                .unwrap_or(false)
        {
            return Err(unknown());
        }
        if let Some(h) = self.lock_uploads().get(uuid) {
            return Ok(h.clone());
        }
        let p = self.upload_path(uuid);
        let data = match tokio::fs::read(&p).await {
            Ok(d) => d,
            Err(e) if not_found(&e) => return Err(unknown()),
            Err(e) => return Err(Error::io(format!("reading {}", p.display()), e)),
        };
        let mut hasher = Sha256::new();
        hasher.update(&data);
        let h = Arc::new(tokio::sync::Mutex::new(UploadState {
            hasher,
            size: data.len() as u64,
        }));
        Ok(self
            .lock_uploads()
            .entry(uuid.to_string())
            .or_insert(h)
            .clone())
    }

    pub async fn upload_size(&self, name: &str, uuid: &str) -> Result<u64> {
        let h = self.upload_handle(name, uuid).await?;
        let st = h.lock().await;
        Ok(st.size)
    }

    /// Append a body stream to the upload; `expected_offset` checks `Content-Range`.
    pub async fn append_upload<S, E>(
        &self,
        name: &str,
        uuid: &str,
        expected_offset: Option<u64>,
        mut body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let h = self.upload_handle(name, uuid).await?;
        let mut st = h.lock().await;
        if let Some(off) = expected_offset {
            if off != st.size {
                return Err(Error::RangeInvalid {
                    expected: st.size,
                    got: off,
                });
            }
        }
        let p = self.upload_path(uuid);
        let mut f = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .await
            .map_err(io_ctx(format!("opening upload {}", p.display())))?;
        // Hash into a copy so a failed chunk leaves the state as it was; the file is
        // truncated back to the old size on failure.
        let mut hasher = st.hasher.clone();
        let mut size = st.size;
        let res: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::Body {
                    reason: e.to_string(),
                })?;
                f.write_all(&chunk)
                    .await
                    .map_err(io_ctx(format!("writing upload {}", p.display())))?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
            }
            f.flush()
                .await
                .map_err(io_ctx(format!("flushing upload {}", p.display())))
        }
        .await;
        if let Err(e) = res {
            if let Err(te) = f.set_len(st.size).await {
                tracing::error!(error = %te, upload = uuid, "truncating failed upload chunk");
                self.lock_uploads().remove(uuid);
            }
            return Err(e);
        }
        st.hasher = hasher;
        st.size = size;
        Ok(size)
    }

    /// Verify the digest and move the upload into the blob store.
    pub async fn finish_upload(&self, name: &str, uuid: &str, expected: &Digest) -> Result<u64> {
        let h = self.upload_handle(name, uuid).await?;
        let st = h.lock().await;
        let computed = hex::encode(st.hasher.clone().finalize());
        let p = self.upload_path(uuid);
        if computed != expected.hex() {
            self.remove_upload_locked(name, uuid).await?;
            return Err(Error::DigestMismatch {
                expected: expected.to_string(),
                computed: format!("sha256:{computed}"),
            });
        }
        let f = tokio::fs::File::open(&p)
            .await
            .map_err(io_ctx(format!("opening upload {}", p.display())))?;
        f.sync_all()
            .await
            .map_err(io_ctx(format!("syncing upload {}", p.display())))?;
        let dest = self.blob_path(expected);
        tokio::fs::rename(&p, &dest)
            .await
            .map_err(io_ctx(format!("moving upload into {}", dest.display())))?;
        self.lock_uploads().remove(uuid);
        self.link_blob(name, expected).await?;
        self.remove_upload_link(name, uuid).await?;
        Ok(st.size)
    }

    async fn remove_upload_link(&self, name: &str, uuid: &str) -> Result<()> {
        let link = self.upload_link(name, uuid);
        match tokio::fs::remove_file(&link).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", link.display()), e)),
        }
    }

    async fn remove_upload_locked(&self, name: &str, uuid: &str) -> Result<()> {
        self.lock_uploads().remove(uuid);
        let p = self.upload_path(uuid);
        match tokio::fs::remove_file(&p).await {
            Ok(()) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(Error::io(format!("removing upload {}", p.display()), e)),
        }
        self.remove_upload_link(name, uuid).await
    }

    pub async fn cancel_upload(&self, name: &str, uuid: &str) -> Result<()> {
        let h = self.upload_handle(name, uuid).await?;
        let _st = h.lock().await;
        self.remove_upload_locked(name, uuid).await
    }

    /// Remove upload sessions (and stray temp files) not written to for longer than
    /// `max_age`, with their repository links; returns how many were removed.
    /// Sessions busy with a request are skipped.
    pub async fn expire_uploads(&self, max_age: std::time::Duration) -> Result<usize> {
        let now = std::time::SystemTime::now();
        let dir = self.root.join("uploads");
        let mut removed = 0;
        for name in self.list_dir(&dir).await?.unwrap_or_default() {
            let p = dir.join(&name);
            let Ok(meta) = tokio::fs::metadata(&p).await else {
                continue;
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if age <= max_age {
                continue;
            }
            let handle = self.lock_uploads().get(&name).cloned();
            let _guard = match &handle {
                Some(h) => match h.try_lock() {
                    Ok(g) => Some(g),
                    Err(_) => continue,
                },
                None => None,
            };
            match tokio::fs::remove_file(&p).await {
                Ok(()) => removed += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(Error::io(format!("removing upload {}", p.display()), e)),
            }
            self.lock_uploads().remove(&name);
            tracing::info!(upload = %name, age_secs = age.as_secs(), "expired upload session");
        }
        // Links whose upload file is gone (expired above, or removed by hand).
        let mut stack = vec![self.root.join("repos")];
        while let Some(d) = stack.pop() {
            for ent in self.list_dir(&d).await?.unwrap_or_default() {
                let p = d.join(&ent);
                if ent == "_uploads" {
                    for uuid in self.list_dir(&p).await?.unwrap_or_default() {
                        let link = p.join(&uuid);
                        // A new session writes its link just before its file: only
                        // links older than the grace period count as stray.
                        let link_age = tokio::fs::metadata(&link)
                            .await
                            .ok()
                            .and_then(|m| m.modified().ok())
                            .and_then(|m| now.duration_since(m).ok())
                            .unwrap_or_default();
                        if link_age > max_age.min(std::time::Duration::from_secs(60))
                            && !tokio::fs::try_exists(dir.join(&uuid)).await.unwrap_or(true)
                        {
                            match tokio::fs::remove_file(&link).await {
                                Ok(()) => {}
                                Err(e) if not_found(&e) => {}
                                Err(e) => {
                                    return Err(Error::io(
                                        format!("removing {}", link.display()),
                                        e,
                                    ))
                                }
                            }
                        }
                    }
                } else if !ent.starts_with('_') {
                    stack.push(p);
                }
            }
        }
        Ok(removed)
    }

    /// Store a small blob (a manifest) from memory.
    pub async fn put_small_blob(&self, name: &str, data: &[u8]) -> Result<Digest> {
        let d = Digest::from_hex(hex::encode(Sha256::digest(data)));
        if !self.blob_exists(&d).await {
            self.write_atomic(&self.blob_path(&d), data).await?;
        }
        self.link_blob(name, &d).await?;
        Ok(d)
    }

    // ---- manifests and tags ----

    pub async fn put_manifest(
        &self,
        name: &str,
        data: &[u8],
        media_type: &str,
        tag: Option<&str>,
    ) -> Result<Digest> {
        let d = self.put_small_blob(name, data).await?;
        let link = self.repo_dir(name).join("_manifests").join(d.hex());
        self.write_atomic(&link, media_type.as_bytes()).await?;
        if let Some(tag) = tag {
            let t = self.repo_dir(name).join("_tags").join(tag);
            self.write_atomic(&t, d.to_string().as_bytes()).await?;
        }
        Ok(d)
    }

    pub async fn resolve_tag(&self, name: &str, tag: &str) -> Result<Digest> {
        let t = self.repo_dir(name).join("_tags").join(tag);
        match tokio::fs::read_to_string(&t).await {
            Ok(s) => Digest::parse(s.trim()),
            Err(e) if not_found(&e) => Err(Error::ManifestUnknown {
                reference: tag.to_string(),
            }),
            Err(e) => Err(Error::io(format!("reading {}", t.display()), e)),
        }
    }

    /// Manifest bytes and media type by digest.
    pub async fn get_manifest(&self, name: &str, d: &Digest) -> Result<(Vec<u8>, String)> {
        let link = self.repo_dir(name).join("_manifests").join(d.hex());
        let media_type = match tokio::fs::read_to_string(&link).await {
            Ok(s) => s,
            Err(e) if not_found(&e) => {
                return Err(Error::ManifestUnknown {
                    reference: d.to_string(),
                })
            }
            Err(e) => return Err(Error::io(format!("reading {}", link.display()), e)),
        };
        let data = tokio::fs::read(self.blob_path(d))
            .await
            .map_err(io_ctx(format!("reading manifest blob {d}")))?;
        Ok((data, media_type))
    }

    pub async fn delete_tag(&self, name: &str, tag: &str) -> Result<()> {
        let t = self.repo_dir(name).join("_tags").join(tag);
        match tokio::fs::remove_file(&t).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Err(Error::ManifestUnknown {
                reference: tag.to_string(),
            }),
            Err(e) => Err(Error::io(format!("removing {}", t.display()), e)),
        }
    }

    /// Delete a manifest link and every tag pointing at it.
    pub async fn delete_manifest(&self, name: &str, d: &Digest) -> Result<()> {
        let link = self.repo_dir(name).join("_manifests").join(d.hex());
        match tokio::fs::remove_file(&link).await {
            Ok(()) => {}
            Err(e) if not_found(&e) => {
                return Err(Error::ManifestUnknown {
                    reference: d.to_string(),
                })
            }
            Err(e) => return Err(Error::io(format!("removing {}", link.display()), e)),
        }
        let want = d.to_string();
        for tag in self.list_tags(name).await? {
            if self
                .resolve_tag(name, &tag)
                .await
                .ok()
                .map(|t| t.to_string())
                == Some(want.clone())
            {
                self.delete_tag(name, &tag).await?;
            }
        }
        Ok(())
    }

    async fn list_dir(&self, dir: &Path) -> Result<Option<Vec<String>>> {
        let mut rd = match tokio::fs::read_dir(dir).await {
            Ok(rd) => rd,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        let mut out = Vec::new();
        while let Some(ent) = rd
            .next_entry()
            .await
            .map_err(io_ctx(format!("listing {}", dir.display())))?
        {
            if let Some(s) = ent.file_name().to_str() {
                out.push(s.to_string());
            }
        }
        out.sort();
        Ok(Some(out))
    }

    pub async fn repo_exists(&self, name: &str) -> bool {
        let dir = self.repo_dir(name);
        tokio::fs::try_exists(dir.join("_manifests"))
            .await
            .unwrap_or(false)
            || tokio::fs::try_exists(dir.join("_blobs"))
                .await
                .unwrap_or(false)
    }

    /// Sorted tags; `NameUnknown` when the repository does not exist.
    pub async fn list_tags(&self, name: &str) -> Result<Vec<String>> {
        if !self.repo_exists(name).await {
            return Err(Error::NameUnknown {
                name: name.to_string(),
            });
        }
        Ok(self
            .list_dir(&self.repo_dir(name).join("_tags"))
            .await?
            .unwrap_or_default())
    }

    /// Digests of every manifest in the repository.
    pub async fn list_manifests(&self, name: &str) -> Result<Vec<Digest>> {
        Ok(self
            .list_dir(&self.repo_dir(name).join("_manifests"))
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter_map(|h| Digest::parse(&format!("sha256:{h}")).ok())
            .collect())
    }

    /// Sorted names of all repositories.
    pub async fn catalog(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let dir = self.root.join("repos").join(&prefix);
            for ent in self.list_dir(&dir).await?.unwrap_or_default() {
                if ent.starts_with('_') {
                    continue;
                }
                let name = if prefix.is_empty() {
                    ent
                } else {
                    format!("{prefix}/{ent}")
                };
                if self.repo_exists(&name).await {
                    out.push(name.clone());
                }
                stack.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove blobs that no manifest references (the manifests themselves count as
    /// referenced), and the repository links to them. Run it with the server stopped:
    /// a blob uploaded but not yet referenced by a manifest is garbage to it.
    pub async fn gc(&self, dry_run: bool) -> Result<GcReport> {
        let mut keep = std::collections::HashSet::new();
        let repos = self.catalog().await?;
        for name in &repos {
            for d in self.list_manifests(name).await? {
                keep.insert(d.hex().to_string());
                let Ok((data, _)) = self.get_manifest(name, &d).await else {
                    continue;
                };
                let v: serde_json::Value = match serde_json::from_slice(&data) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                let config = v.get("config").into_iter();
                let layers = v
                    .get("layers")
                    .and_then(|l| l.as_array())
                    .into_iter()
                    .flatten();
                for desc in config.chain(layers) {
                    if let Some(d) = desc
                        .get("digest")
                        .and_then(|d| d.as_str())
                        .and_then(|d| Digest::parse(d).ok())
                    {
                        keep.insert(d.hex().to_string());
                    }
                }
            }
        }
        let mut report = GcReport::default();
        let all = self
            .list_dir(&self.root.join("blobs/sha256"))
            .await?
            .unwrap_or_default();
        for hex in all {
            if keep.contains(&hex) {
                continue;
            }
            let p = self.root.join("blobs/sha256").join(&hex);
            let size = tokio::fs::metadata(&p).await.map(|m| m.len()).unwrap_or(0);
            report.bytes += size;
            report.blobs.push(format!("sha256:{hex}"));
            if dry_run {
                continue;
            }
            tokio::fs::remove_file(&p)
                .await
                .map_err(io_ctx(format!("removing {}", p.display())))?;
            for name in &repos {
                let link = self.repo_dir(name).join("_blobs").join(&hex);
                match tokio::fs::remove_file(&link).await {
                    Ok(()) => {}
                    Err(e) if not_found(&e) => {}
                    Err(e) => return Err(Error::io(format!("removing {}", link.display()), e)),
                }
            }
        }
        Ok(report)
    }
}

/// What `gc` removed (or would remove, in a dry run).
#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs: Vec<String>,
    pub bytes: u64,
}

//! Blobs entering the store from outside (`docker load` staging, `docker pull`
//! downloads) and leaving it (`docker push`).
//!
//! Pull: the daemon downloads each layer blob into a staging file from
//! [`ImageStore::staging_file`] (inside `content/ingest`, emptied at open, so a crash
//! leaves nothing visible), then hands it to [`ImageStore::add_layer_file`], which
//! unpacks it once (verifying the diff id of the uncompressed stream against the
//! image config), links the blob into the content store under its verified digest
//! and records it. Layers of one image may be added in any order and in parallel:
//! a layer record names its parent chain id but does not need the parent present.
//! [`ImageStore::add_pulled_image`] then stores config and manifest and moves the
//! tag; it fails if a layer of the config is missing, so an image is only visible
//! when all its layers are.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::content::{digest_of, io_err, temp_name, HashingReader};
use crate::reference::Reference;
use crate::unpack::{self, Compression};
use crate::{chain_ids, parse_config, ImageError, ImageStore};

/// OCI media types of what push writes.
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config media type.
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// (digest, media type, size) of a stored layer blob.
type StoredBlob = (String, String, u64);

/// Outcome of [`ImageStore::add_pulled_image`].
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// Image id (config digest).
    pub id: String,
    /// False when the tag already pointed at this image ("Image is up to date").
    pub changed: bool,
}

/// One layer of an image as push uploads it.
#[derive(Debug, Clone)]
pub struct PushLayer {
    /// Digest of the (compressed) blob.
    pub digest: String,
    /// OCI layer media type of the blob.
    pub media_type: String,
    /// Blob size in bytes.
    pub size: u64,
    /// The blob file in the content store.
    pub path: PathBuf,
}

/// An image ready to push: config, layers and a manifest that references them.
#[derive(Debug, Clone)]
pub struct PushImage {
    /// Image id = config digest.
    pub config_digest: String,
    /// The config JSON.
    pub config: Vec<u8>,
    /// Layers bottom to top.
    pub layers: Vec<PushLayer>,
    /// Manifest media type.
    pub manifest_media_type: String,
    /// Manifest bytes (the stored manifest when the image was pulled, else a new
    /// OCI manifest).
    pub manifest: Vec<u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciDescriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: OciDescriptor<'a>,
    layers: Vec<OciDescriptor<'a>>,
}

impl ImageStore {
    /// A new empty staging file for a blob download (inside the content store's
    /// ingest directory: same filesystem, removed at the next open after a crash).
    pub fn staging_file(&self) -> Result<PathBuf, ImageError> {
        let path = self.content.ingest_dir().join(temp_name("pull"));
        File::create(&path).map_err(io_err(format!("creating {}", path.display())))?;
        Ok(path)
    }

    /// True when the layer `chain_id` is unpacked and the blob `digest` is stored:
    /// a pull can skip its download ("Already exists").
    pub fn has_layer_blob(&self, chain_id: &str, digest: &str) -> Result<bool, ImageError> {
        Ok(self.layer(chain_id)?.is_some() && self.content.exists(digest))
    }

    /// Path of the stored blob `digest` (NotFound if absent).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        if !self.content.exists(digest) {
            return Err(ImageError::NotFound(format!(
                "blob {digest} is not in the store"
            )));
        }
        self.content.path(digest)
    }

    /// True when the layer `chain_id` is unpacked (whatever blob it came from).
    pub fn has_layer(&self, chain_id: &str) -> Result<bool, ImageError> {
        Ok(self.layer(chain_id)?.is_some())
    }

    /// Adds a downloaded layer blob: unpacks it on `parent` (a chain id) unless that
    /// chain is unpacked already, verifies the uncompressed stream against `diff_id`
    /// and the blob against `digest`, and stores the blob. The staging file is
    /// removed whatever happens.
    pub fn add_layer_file(
        &self,
        path: &Path,
        digest: &str,
        parent: Option<&str>,
        diff_id: &str,
    ) -> Result<(), ImageError> {
        let have_layer = self.layer(&chain_of(parent, diff_id))?.is_some();
        let res = File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(format!("syncing {}", path.display())))
            .and_then(|()| {
                self.store_layer_file(path, digest, parent, diff_id, Some(digest), have_layer)
            });
        if let Err(e) = fs::remove_file(path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "could not remove staging file");
            }
        }
        res
    }

    /// Stores one layer blob file (unpacking it if its chain is new, else checking
    /// its diff id) and links it into the content store. `label` names the layer in
    /// errors; `expected` is the blob digest it must have.
    pub(crate) fn store_layer_file(
        &self,
        path: &Path,
        label: &str,
        parent: Option<&str>,
        diff_id: &str,
        expected: Option<&str>,
        have_layer: bool,
    ) -> Result<(), ImageError> {
        let bad = |m: String| ImageError::InvalidArgument(m);
        // The stored blob keeps the bytes as received; its digest is hashed here.
        let mut hr = HashingReader::new(
            File::open(path).map_err(io_err(format!("opening staged layer {label}")))?,
        );
        let compression = {
            let (compression, mut dec) = unpack::decompress(Box::new(&mut hr))?;
            if have_layer {
                let mut dh = HashingReader::new(&mut dec);
                dh.drain().map_err(|e| bad(format!("layer {label}: {e}")))?;
                let (got, _) = dh.finish();
                if got != diff_id {
                    return Err(bad(format!(
                        "layer {label} hashes to {got}, but the image config says {diff_id}"
                    )));
                }
            } else {
                self.unpack_and_record(&mut dec, parent, Some(diff_id))
                    .map_err(|e| match e {
                        ImageError::InvalidArgument(m) => bad(format!("layer {label}: {m}")),
                        e => e,
                    })?;
            }
            compression
        };
        hr.drain()
            .map_err(io_err(format!("reading staged layer {label}")))?;
        let (digest, size) = hr.finish();
        if let Some(exp) = expected {
            if digest != exp {
                return Err(bad(format!(
                    "layer blob {label} does not match its digest: expected {exp}, got {digest}"
                )));
            }
        }
        if !self.content.exists(&digest) {
            let dst = self.content.path(&digest)?;
            // Same filesystem (staging lives in content/ingest) and already fsynced.
            if let Err(e) = fs::hard_link(path, &dst) {
                if e.kind() != io::ErrorKind::AlreadyExists {
                    let mut f = File::open(path)
                        .map_err(io_err(format!("opening staged layer {label}")))?;
                    let mut ing = self.content.begin()?;
                    io::copy(&mut f, &mut ing).map_err(io_err("copying layer blob"))?;
                    self.content.commit(ing, Some(&digest))?;
                }
            }
        }
        self.record_layer_blob(diff_id, &digest, compression.oci_media_type(), size)
    }

    /// Stores a pulled image: its config (whose layers must all be added), the
    /// manifest it came from (kept so a push re-sends the same digest), the digest
    /// reference `repo@manifest_digest`, and the tag `tag` if given.
    pub fn add_pulled_image(
        &self,
        config: &[u8],
        manifest_digest: &str,
        manifest: &[u8],
        repo: &str,
        tag: Option<&str>,
    ) -> Result<PulledImage, ImageError> {
        if digest_of(manifest) != manifest_digest {
            return Err(ImageError::InvalidArgument(format!(
                "manifest does not match its digest {manifest_digest}"
            )));
        }
        self.content.put(manifest)?;
        let id = self.put_image(config, Some(manifest_digest))?;
        // put_image keeps the first manifest digest of an id; a re-pull from another
        // registry or repository moves it to the newest.
        self.db.with(|c| {
            c.execute(
                "UPDATE images SET manifest_digest = ?2 WHERE id = ?1",
                rusqlite::params![id, manifest_digest],
            )
        })?;
        self.add_digest_reference(&id, &format!("{repo}@{manifest_digest}"))?;
        let mut changed = true;
        if let Some(t) = tag {
            let r = Reference::parse_normalized(&format!("{repo}:{t}"))?;
            let old: Option<String> = self.db.with(|c| {
                c.query_row(
                    "SELECT image_id FROM tags WHERE name = ?1",
                    [r.full()],
                    |row| row.get(0),
                )
                .optional()
            })?;
            changed = old.as_deref() != Some(id.as_str());
            self.set_tag(&r, &id)?;
        }
        Ok(PulledImage { id, changed })
    }

    /// The image `name_or_id` as push sends it. Layers stored uncompressed are
    /// gzip-compressed once (the compressed blob is kept for the next push). The
    /// manifest is the one the image was pulled with when it still describes the
    /// stored blobs, else a new OCI manifest.
    pub fn push_image(&self, name_or_id: &str) -> Result<PushImage, ImageError> {
        let id = self.resolve(name_or_id)?;
        let config = self.raw_config(&id)?;
        let cfg = parse_config(&config)?;
        let blobs = cfg
            .rootfs
            .diff_ids
            .iter()
            .map(|diff| self.ensure_layer_blob(diff))
            .collect::<Result<Vec<_>, _>>()?;
        // Plain layers are gzipped once, on all cores (a layer per thread).
        // (Once per blob: an image may list the same layer twice.)
        let mut plain: Vec<usize> = (0..blobs.len())
            .filter(|&i| blobs[i].1.ends_with(".tar"))
            .collect();
        let mut seen = HashSet::new();
        plain.retain(|i| seen.insert(blobs[*i].0.clone()));
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(plain.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let compressed: Vec<(usize, Result<Option<StoredBlob>, ImageError>)> =
            std::thread::scope(|sc| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        sc.spawn(|| {
                            let mut done = Vec::new();
                            loop {
                                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(&i) = plain.get(k) else { break };
                                let diff = &cfg.rootfs.diff_ids[i];
                                done.push((i, self.compress_layer(diff, &blobs[i].0)));
                            }
                            done
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap_or_default())
                    .collect()
            });
        let mut blobs = blobs;
        for (i, res) in compressed {
            if let Some(b) = res? {
                let old = blobs[i].0.clone();
                for slot in blobs.iter_mut().filter(|x| x.0 == old) {
                    *slot = b.clone();
                }
            }
        }
        let mut layers = Vec::with_capacity(blobs.len());
        for (digest, media_type, size) in blobs {
            let path = self.content.path(&digest)?;
            layers.push(PushLayer {
                digest,
                media_type,
                size,
                path,
            });
        }
        let stored: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT manifest_digest FROM images WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
        })?;
        if let Some(md) = stored {
            if let Some((mt, bytes)) = self.stored_manifest_matching(&md, &id, &layers)? {
                return Ok(PushImage {
                    config_digest: id,
                    config,
                    layers,
                    manifest_media_type: mt,
                    manifest: bytes,
                });
            }
        }
        let m = OciManifest {
            schema_version: 2,
            media_type: MEDIA_OCI_MANIFEST,
            config: OciDescriptor {
                media_type: MEDIA_OCI_CONFIG,
                digest: &id,
                size: config.len() as u64,
            },
            layers: layers
                .iter()
                .map(|l| OciDescriptor {
                    media_type: &l.media_type,
                    digest: &l.digest,
                    size: l.size,
                })
                .collect(),
        };
        let manifest = serde_json::to_vec(&m).map_err(|source| ImageError::Json {
            context: "encoding the manifest".into(),
            source,
        })?;
        Ok(PushImage {
            config_digest: id,
            config,
            layers,
            manifest_media_type: MEDIA_OCI_MANIFEST.into(),
            manifest,
        })
    }

    /// The stored manifest `digest` if it names config `id` and exactly `layers`.
    fn stored_manifest_matching(
        &self,
        digest: &str,
        id: &str,
        layers: &[PushLayer],
    ) -> Result<Option<(String, Vec<u8>)>, ImageError> {
        if !self.content.exists(digest) {
            return Ok(None);
        }
        let bytes = fs::read(self.content.path(digest)?)
            .map_err(io_err(format!("reading manifest {digest}")))?;
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Ok(None);
        };
        let same_config = v["config"]["digest"].as_str() == Some(id);
        let digests: Vec<&str> = v["layers"]
            .as_array()
            .map(|a| a.iter().filter_map(|l| l["digest"].as_str()).collect())
            .unwrap_or_default();
        let same_layers = digests.len() == layers.len()
            && digests.iter().zip(layers).all(|(d, l)| *d == l.digest);
        let mt = v["mediaType"]
            .as_str()
            .unwrap_or(MEDIA_OCI_MANIFEST)
            .to_string();
        Ok((same_config && same_layers).then_some((mt, bytes)))
    }

    /// Gzips the uncompressed blob `digest` of layer `diff_id` into a new blob and
    /// records it as the layer's blob. None if the blob is not plain tar after all.
    fn compress_layer(
        &self,
        diff_id: &str,
        digest: &str,
    ) -> Result<Option<StoredBlob>, ImageError> {
        let src = self.content.open_blob(digest)?;
        let (compression, mut dec) = unpack::decompress(Box::new(io::BufReader::new(src)))?;
        if compression != Compression::None {
            return Ok(None);
        }
        let mut ing = self.content.begin()?;
        {
            let mut gz = flate2::write::GzEncoder::new(&mut ing, flate2::Compression::fast());
            let mut hr = HashingReader::new(&mut dec);
            io::copy(&mut hr, &mut gz).map_err(io_err(format!("compressing layer {diff_id}")))?;
            if hr.finish().0 != diff_id {
                return Err(ImageError::Internal(format!(
                    "the stored blob {digest} of layer {diff_id} is corrupt"
                )));
            }
            gz.finish()
                .and_then(|w| w.flush())
                .map_err(io_err(format!("compressing layer {diff_id}")))?;
        }
        let (new, size) = self.content.commit(ing, None)?;
        let mt = Compression::Gzip.oci_media_type().to_string();
        self.record_layer_blob(diff_id, &new, &mt, size)?;
        // The uncompressed blob is no longer referenced: the record names the new one.
        if let Err(e) = self.content.delete(digest) {
            tracing::warn!(%digest, error = %e, "could not remove the uncompressed layer blob");
        }
        Ok(Some((new, mt, size)))
    }
}

/// Chain id of `diff_id` on top of `parent`.
pub(crate) fn chain_of(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => chain_ids(&[p.to_string(), diff_id.to_string()])
            .pop()
            .unwrap_or_default(),
    }
}

//! `docker load` and `docker save`.
//!
//! Load reads both layouts of a `docker save` archive: the legacy one (manifest.json,
//! `<id>/layer.tar` and repositories) and the OCI image layout (oci-layout,
//! index.json, blobs/sha256/...); Docker 25+ writes both in one tar, with
//! manifest.json pointing into blobs/. The outer archive is hostile input like any
//! layer: it is staged as flat files (names never used as paths), symlinks are
//! resolved lexically inside the archive, and every digest is verified.
//!
//! Save writes Docker 25+'s combined format, streaming each blob from the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::content::{digest_hex, digest_of, io_err, temp_name};
use crate::reference::{self, Reference};
use crate::unpack;
use crate::{chain_ids, host_arch, parse_config, ImageError, ImageStore, LoadedImage};

const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// JSON documents of an archive are read into memory: bound them.
const MAX_JSON: u64 = 64 << 20;

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArgument(format!("invalid docker save archive: {}", msg.into()))
}

#[derive(Debug, Serialize, Deserialize)]
struct LegacyManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: i64,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: i64,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    media_type: String,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The archive's regular files staged as flat files, plus its links.
struct Staged {
    dir: PathBuf,
    files: HashMap<String, PathBuf>,
    links: HashMap<String, String>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove load staging directory");
        }
    }
}

fn clean_key(p: &[u8]) -> Option<String> {
    let comps = unpack::clean_components(p)?;
    let parts: Vec<String> = comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

impl Staged {
    fn stage(dir: PathBuf, src: &mut dyn Read) -> Result<Self, ImageError> {
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let mut st = Staged {
            dir,
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let mut ar = tar::Archive::new(src);
        let entries = ar
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for (n, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| bad(format!("corrupt tar: {e}")))?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let key = clean_key(&raw).ok_or_else(|| {
                bad(format!(
                    "entry {shown:?} escapes the archive root with '..'"
                ))
            })?;
            use tar::EntryType as T;
            match entry.header().entry_type() {
                T::Regular | T::Continuous | T::GNUSparse => {
                    let path = st.dir.join(format!("f{n}"));
                    let mut f = File::create(&path)
                        .map_err(io_err(format!("creating {}", path.display())))?;
                    io::copy(&mut entry, &mut f)
                        .map_err(io_err(format!("staging archive entry {shown:?}")))?;
                    f.sync_all()
                        .map_err(io_err(format!("syncing {}", path.display())))?;
                    st.links.remove(&key);
                    st.files.insert(key, path);
                }
                T::Symlink | T::Link => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| bad(format!("link {shown:?} has no target")))?
                        .into_owned();
                    let joined =
                        if entry.header().entry_type() == T::Symlink && !target.starts_with(b"/") {
                            let parent = key.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                            let mut j = parent.as_bytes().to_vec();
                            j.push(b'/');
                            j.extend_from_slice(&target);
                            j
                        } else {
                            target
                        };
                    let tkey = clean_key(&joined)
                        .ok_or_else(|| bad(format!("link {shown:?} points outside the archive")))?;
                    st.files.remove(&key);
                    st.links.insert(key, tkey);
                }
                _ => {}
            }
        }
        Ok(st)
    }

    fn resolve(&self, name: &str) -> Option<&PathBuf> {
        let mut key = clean_key(name.as_bytes())?;
        for _ in 0..32 {
            if let Some(p) = self.files.get(&key) {
                return Some(p);
            }
            key = self.links.get(&key)?.clone();
        }
        None
    }

    fn open(&self, name: &str) -> Result<File, ImageError> {
        let p = self
            .resolve(name)
            .ok_or_else(|| bad(format!("{name} is missing from the archive")))?;
        File::open(p).map_err(io_err(format!("opening staged {name}")))
    }

    fn read_json_bytes(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let f = self.open(name)?;
        let mut v = Vec::new();
        f.take(MAX_JSON + 1)
            .read_to_end(&mut v)
            .map_err(io_err(format!("reading {name}")))?;
        if v.len() as u64 > MAX_JSON {
            return Err(bad(format!("{name} is larger than {MAX_JSON} bytes")));
        }
        Ok(v)
    }

    fn has(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    fn blob_name(digest: &str) -> Result<String, ImageError> {
        let hex = digest_hex(digest).map_err(|_| bad(format!("unsupported digest {digest:?}")))?;
        Ok(format!("blobs/sha256/{hex}"))
    }

    /// Reads a blob of the OCI layout, verifying its digest.
    fn read_blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let v = self.read_json_bytes(&Self::blob_name(digest)?)?;
        if digest_of(&v) != digest {
            return Err(bad(format!("blob {digest} does not match its digest")));
        }
        Ok(v)
    }
}

/// One image found in the archive.
struct Found {
    config: Vec<u8>,
    /// Archive paths of the layer blobs, bottom to top.
    layers: Vec<String>,
    tags: Vec<Reference>,
    manifest_digest: Option<String>,
}

fn parse_tag(s: &str) -> Result<Reference, ImageError> {
    let r = Reference::parse(s)?;
    if r.digest.is_some() {
        return Err(bad(format!("RepoTag {s:?} is a digest reference")));
    }
    Ok(r)
}

fn from_legacy(st: &Staged) -> Result<Vec<Found>, ImageError> {
    let bytes = st.read_json_bytes("manifest.json")?;
    let manifests: Vec<LegacyManifest> =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let mut out = Vec::new();
    for m in manifests {
        let config = st.read_json_bytes(&m.config)?;
        // blobs/sha256/<hex> names are digests: verify them.
        if let Some(hex) = clean_key(m.config.as_bytes())
            .and_then(|k| k.strip_prefix("blobs/sha256/").map(str::to_string))
        {
            if digest_of(&config) != format!("sha256:{hex}") {
                return Err(bad(format!(
                    "config {} does not match its digest",
                    m.config
                )));
            }
        }
        let tags = m
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| parse_tag(t))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Found {
            config,
            layers: m.layers,
            tags,
            manifest_digest: None,
        });
    }
    Ok(out)
}

fn platform_matches(p: &Option<serde_json::Value>) -> bool {
    match p {
        None => false,
        Some(v) => {
            v.get("os").and_then(|o| o.as_str()) == Some("linux")
                && v.get("architecture").and_then(|a| a.as_str()) == Some(host_arch())
        }
    }
}

fn from_oci(st: &Staged) -> Result<Vec<Found>, ImageError> {
    let bytes = st.read_json_bytes("index.json")?;
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("index.json: {e}")))?;
    let mut out = Vec::new();
    for desc in &index.manifests {
        let mut tags = Vec::new();
        if let Some(a) = &desc.annotations {
            if let Some(n) = a.get(ANNOTATION_CONTAINERD_NAME) {
                tags.push(parse_tag(n)?);
            } else if let Some(n) = a.get(ANNOTATION_REF_NAME) {
                // A bare tag ("latest") names no repository: nothing to tag with.
                if n.contains(['/', ':']) || !reference::valid_tag(n) {
                    tags.push(parse_tag(n)?);
                } else {
                    tracing::warn!(ref_name = %n, "index.json ref.name is a bare tag without a repository; loading untagged");
                }
            }
        }
        let mut d = desc.clone();
        // Follow nested indexes to the host's platform (or the first manifest).
        for _ in 0..4 {
            if d.media_type != MEDIA_OCI_INDEX && d.media_type != MEDIA_DOCKER_LIST {
                break;
            }
            let nested: Index = serde_json::from_slice(&st.read_blob(&d.digest)?)
                .map_err(|e| bad(format!("index {}: {e}", d.digest)))?;
            let pick = nested
                .manifests
                .iter()
                .find(|m| platform_matches(&m.platform))
                .or_else(|| nested.manifests.first())
                .ok_or_else(|| bad(format!("index {} lists no manifest", d.digest)))?;
            d = pick.clone();
        }
        let mbytes = st.read_blob(&d.digest)?;
        let m: Manifest = serde_json::from_slice(&mbytes)
            .map_err(|e| bad(format!("manifest {}: {e}", d.digest)))?;
        let config = st.read_blob(&m.config.digest)?;
        let layers = m
            .layers
            .iter()
            .map(|l| Staged::blob_name(&l.digest))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Found {
            config,
            layers,
            tags,
            manifest_digest: Some(d.digest.clone()),
        });
    }
    Ok(out)
}

impl ImageStore {
    /// Stores one layer blob from the archive (unpacking it if its chain is new).
    fn load_layer(
        &self,
        st: &Staged,
        name: &str,
        parent: Option<&str>,
        diff_id: &str,
        chain_id: &str,
    ) -> Result<(), ImageError> {
        let have_layer = self.layer(chain_id)?.is_some();
        let have_blob = match self.layer_blob(diff_id)? {
            Some((d, _, _)) => self.content.exists(&d),
            None => false,
        };
        if have_layer && have_blob {
            return Ok(());
        }
        let path = st
            .resolve(name)
            .ok_or_else(|| bad(format!("layer {name} is missing from the archive")))?
            .clone();
        let expected = name
            .strip_prefix("blobs/sha256/")
            .map(|hex| format!("sha256:{hex}"));
        self.store_layer_file(
            &path,
            name,
            parent,
            diff_id,
            expected.as_deref(),
            have_layer,
        )
    }

    fn load_found(&self, st: &Staged, f: &Found) -> Result<Vec<LoadedImage>, ImageError> {
        let cfg = parse_config(&f.config)?;
        let diffs = &cfg.rootfs.diff_ids;
        if diffs.len() != f.layers.len() {
            return Err(bad(format!(
                "the image config lists {} layers but the manifest has {}",
                diffs.len(),
                f.layers.len()
            )));
        }
        for d in diffs {
            digest_hex(d).map_err(|_| bad(format!("unsupported diff id {d:?}")))?;
        }
        let chains = chain_ids(diffs);
        for (i, name) in f.layers.iter().enumerate() {
            let parent = if i == 0 {
                None
            } else {
                Some(chains[i - 1].as_str())
            };
            self.load_layer(st, name, parent, &diffs[i], &chains[i])?;
        }
        let id = self.put_image(&f.config, f.manifest_digest.as_deref())?;
        if f.tags.is_empty() {
            return Ok(vec![LoadedImage {
                id,
                reference: None,
            }]);
        }
        let mut out = Vec::new();
        for t in &f.tags {
            self.set_tag(t, &id)?;
            out.push(LoadedImage {
                id: id.clone(),
                reference: Some(t.familiar_string()),
            });
        }
        Ok(out)
    }
}

pub(crate) fn load(s: &ImageStore, src: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
    // An uncompressed tar is the norm; docker also accepts a compressed one.
    let (_, mut dec) = unpack::decompress(Box::new(src))?;
    let st = Staged::stage(s.content.ingest_dir().join(temp_name("load")), &mut dec)?;
    let found = if st.has("manifest.json") {
        from_legacy(&st)?
    } else if st.has("index.json") {
        from_oci(&st)?
    } else {
        return Err(bad(
            "neither manifest.json nor index.json found; expected the output of docker save",
        ));
    };
    let mut out = Vec::new();
    for f in &found {
        out.extend(s.load_found(&st, f)?);
    }
    tracing::info!(images = found.len(), "images loaded");
    Ok(out)
}

// ------------------------------------------------------------------------ save

struct SaveImage {
    id: String,
    tags: Vec<Reference>,
}

fn tar_header(name: &str, size: u64, dir: bool) -> Result<tar::Header, ImageError> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| ImageError::Internal(format!("tar name {name}: {e}")))?;
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    Ok(h)
}

fn write_bytes(
    b: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    data: &[u8],
) -> Result<(), ImageError> {
    let h = tar_header(name, data.len() as u64, false)?;
    b.append(&h, data)
        .map_err(io_err(format!("writing {name} to the archive")))
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(v).map_err(|source| ImageError::Json {
        context: "encoding docker save metadata".into(),
        source,
    })
}

pub(crate) fn save(
    s: &ImageStore,
    names: &[String],
    dst: &mut dyn Write,
) -> Result<(), ImageError> {
    // Resolve names: a repository without tag saves every tag of it (as docker does).
    let mut images: Vec<SaveImage> = Vec::new();
    let mut add = |id: String, tag: Option<Reference>| {
        let pos = match images.iter().position(|i| i.id == id) {
            Some(p) => p,
            None => {
                images.push(SaveImage {
                    id,
                    tags: Vec::new(),
                });
                images.len() - 1
            }
        };
        if let Some(t) = tag {
            if !images[pos].tags.contains(&t) {
                images[pos].tags.push(t);
            }
        }
    };
    for name in names {
        let id = s.resolve(name);
        let by_id = id.as_ref().is_ok_and(|id| {
            id.starts_with(name.as_str())
                || id
                    .strip_prefix("sha256:")
                    .is_some_and(|h| h.starts_with(name.as_str()))
        });
        if by_id {
            add(id?, None);
            continue;
        }
        let r = Reference::parse_normalized(name)?;
        if r.tag.is_none() && r.digest.is_none() {
            let prefix = format!("{}:", r.name());
            let all: Vec<(String, String)> = s.db.with(|c| {
                let mut q = c.prepare("SELECT name, image_id FROM tags ORDER BY name")?;
                let v = q
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(v)
            })?;
            let mut any = false;
            for (tname, iid) in all {
                if tname.starts_with(&prefix) {
                    if let Ok(tr) = Reference::parse_normalized(&tname) {
                        add(iid, Some(tr));
                        any = true;
                    }
                }
            }
            if any {
                continue;
            }
        }
        let id = id?;
        let tag = if r.digest.is_some() {
            None
        } else {
            Some(Reference::parse(name)?)
        };
        add(id, tag);
    }

    let mut b = tar::Builder::new(dst);
    b.mode(tar::HeaderMode::Deterministic);
    for d in ["blobs", "blobs/sha256"] {
        let h = tar_header(d, 0, true)?;
        b.append(&h, io::empty())
            .map_err(io_err("writing the archive"))?;
    }
    let mut written: HashSet<String> = HashSet::new();
    let mut index = Index {
        schema_version: 2,
        media_type: MEDIA_OCI_INDEX.into(),
        manifests: Vec::new(),
    };
    let mut legacy: Vec<LegacyManifest> = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for img in &images {
        let config = s.raw_config(&img.id)?;
        let cfg = parse_config(&config)?;
        let mut layer_descs = Vec::new();
        for diff in &cfg.rootfs.diff_ids {
            let (digest, media_type, size) = s.ensure_layer_blob(diff)?;
            let name = Staged::blob_name(&digest)?;
            if written.insert(digest.clone()) {
                let f = s.content.open_blob(&digest)?;
                let real = f
                    .metadata()
                    .map_err(io_err(format!("stat blob {digest}")))?
                    .len();
                let h = tar_header(&name, real, false)?;
                b.append(&h, f)
                    .map_err(io_err(format!("writing layer {digest} to the archive")))?;
                if real != size {
                    tracing::warn!(digest = %digest, recorded = size, real, "layer blob size differs from its record");
                }
            }
            layer_descs.push(Descriptor {
                media_type,
                digest,
                size: size as i64,
                annotations: None,
                platform: None,
            });
        }
        let config_name = Staged::blob_name(&img.id)?;
        if written.insert(img.id.clone()) {
            write_bytes(&mut b, &config_name, &config)?;
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: MEDIA_OCI_MANIFEST.into(),
            config: Descriptor {
                media_type: MEDIA_OCI_CONFIG.into(),
                digest: img.id.clone(),
                size: config.len() as i64,
                annotations: None,
                platform: None,
            },
            layers: layer_descs.clone(),
        };
        let mbytes = to_json(&manifest)?;
        let mdigest = digest_of(&mbytes);
        if written.insert(mdigest.clone()) {
            write_bytes(&mut b, &Staged::blob_name(&mdigest)?, &mbytes)?;
        }
        let desc = |annotations: Option<BTreeMap<String, String>>| Descriptor {
            media_type: MEDIA_OCI_MANIFEST.into(),
            digest: mdigest.clone(),
            size: mbytes.len() as i64,
            annotations,
            platform: None,
        };
        if img.tags.is_empty() {
            index.manifests.push(desc(None));
        }
        for t in &img.tags {
            let mut a = BTreeMap::new();
            a.insert(ANNOTATION_CONTAINERD_NAME.to_string(), t.full());
            a.insert(
                ANNOTATION_REF_NAME.to_string(),
                t.tag.clone().unwrap_or_else(|| "latest".into()),
            );
            index.manifests.push(desc(Some(a)));
            if let (Some(top), Some(tag)) = (layer_descs.last(), &t.tag) {
                repositories.entry(t.familiar_name()).or_default().insert(
                    tag.clone(),
                    top.digest.trim_start_matches("sha256:").to_string(),
                );
            }
        }
        legacy.push(LegacyManifest {
            config: config_name,
            repo_tags: if img.tags.is_empty() {
                None
            } else {
                Some(img.tags.iter().map(|t| t.familiar_string()).collect())
            },
            layers: layer_descs
                .iter()
                .map(|d| Staged::blob_name(&d.digest))
                .collect::<Result<Vec<_>, _>>()?,
        });
    }
    write_bytes(&mut b, "index.json", &to_json(&index)?)?;
    write_bytes(&mut b, "manifest.json", &to_json(&legacy)?)?;
    write_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !repositories.is_empty() {
        write_bytes(&mut b, "repositories", &to_json(&repositories)?)?;
    }
    b.finish().map_err(io_err("finishing the archive"))?;
    let out = b.into_inner().map_err(io_err("finishing the archive"))?;
    out.flush().map_err(io_err("flushing the archive"))?;
    Ok(())
}

//! New layers made on this machine: a container's read-write layer turned into a
//! layer (`docker commit`, a build's RUN step), a tar stream added as a layer (a
//! build's COPY/ADD), and images made from a config over existing layers.
//!
//! A read-write layer is in overlay format: a deleted path is a 0/0 character
//! device, a directory whose lower contents are hidden carries the
//! `trusted.overlay.opaque=y` xattr. The diff tar turns those into OCI whiteouts
//! (`.wh.<name>`, `.wh..wh..opq`), keeps hard links within the layer as links, and
//! carries `security.capability` (the one xattr moby keeps) as a PAX record.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rusqlite::OptionalExtension;

use crate::content::{io_err, temp_name, Digester};
use crate::split::{self, SplitLog};
use crate::transfer::chain_of;
use crate::{chain_ids, parse_config, ImageError, ImageStore};

/// Layers whose files a new layer may share instead of writing them again
/// ([`ImageStore::add_layer_tar`]). Only files that are equal in every respect
/// are shared, so a wrong hint costs time, never correctness.
#[derive(Debug, Clone, Default)]
pub struct LayerReuse {
    /// An image whose top layer the same step made on the same parent in an
    /// earlier build: files at the same path.
    pub sibling: Option<String>,
    /// `COPY --from`: the source image and, per copied file, (destination path,
    /// absolute path in the source image). Files are taken from the source
    /// image's top layer when it has them.
    pub source: Option<(String, Vec<(String, String)>)>,
}

/// The diff id of a layer without changes: a tar of no entries (two zero blocks).
pub(crate) const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// A writer that only hashes.
struct HashWriter(Digester);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const CAP_XATTR: &str = "security.capability";

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::lgetxattr(path, name, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

/// Writes the overlay upper dir `upper` as an OCI layer tar; returns the sum of
/// its regular file sizes.
pub(crate) fn diff_to_tar(upper: &Path, w: &mut dyn Write) -> Result<u64, ImageError> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut size = 0;
    walk(upper, "", &mut b, &mut links, &mut size)?;
    b.finish().map_err(io_err("finishing the layer tar"))?;
    Ok(size)
}

/// Sets the mtime (and atime) of everything below `dir` to its whole second, the
/// precision layer tars keep: a layer made from a container's files then looks
/// the same here as where it is pulled or loaded (and as moby makes it).
fn whole_second_mtimes(dir: &Path) -> Result<(), ImageError> {
    let rd = fs::read_dir(dir).map_err(io_err(format!("reading {}", dir.display())))?;
    for ent in rd {
        let ent = ent.map_err(io_err(format!("reading {}", dir.display())))?;
        let path = ent.path();
        let meta =
            fs::symlink_metadata(&path).map_err(io_err(format!("stat {}", path.display())))?;
        if meta.is_dir() {
            whole_second_mtimes(&path)?;
        }
        if meta.mtime_nsec() != 0 {
            let t = rustix::fs::Timespec {
                tv_sec: meta.mtime(),
                tv_nsec: 0,
            };
            let times = rustix::fs::Timestamps {
                last_access: t,
                last_modification: t,
            };
            rustix::fs::utimensat(
                rustix::fs::CWD,
                &path,
                &times,
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ImageError::Io {
                context: format!("setting the times of {}", path.display()),
                source: e.into(),
            })?;
        }
    }
    Ok(())
}

fn header_for(meta: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn walk(
    dir: &Path,
    rel: &str,
    b: &mut tar::Builder<&mut dyn Write>,
    links: &mut HashMap<(u64, u64), String>,
    size: &mut u64,
) -> Result<(), ImageError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io_err(format!("reading {}", dir.display())))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io_err(format!("reading {}", dir.display())))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let name = String::from_utf8_lossy(name.as_bytes()).into_owned();
        let entry = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let meta =
            fs::symlink_metadata(&path).map_err(io_err(format!("stat {}", path.display())))?;
        let ft = meta.file_type();
        let io_ctx = || format!("adding {entry} to the layer");
        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: the path was deleted.
            let wh = match entry.rsplit_once('/') {
                Some((parent, n)) => format!("{parent}/.wh.{n}"),
                None => format!(".wh.{name}"),
            };
            let mut h = header_for(&meta, tar::EntryType::Regular);
            h.set_mode(0o644);
            b.append_data(&mut h, &wh, io::empty())
                .map_err(io_err(io_ctx()))?;
            continue;
        }
        if let Some(cap) = xattr(&path, CAP_XATTR) {
            b.append_pax_extensions([("SCHILY.xattr.security.capability", cap.as_slice())])
                .map_err(io_err(io_ctx()))?;
        }
        if ft.is_dir() {
            let mut h = header_for(&meta, tar::EntryType::Directory);
            b.append_data(&mut h, format!("{entry}/"), io::empty())
                .map_err(io_err(io_ctx()))?;
            if xattr(&path, OPAQUE_XATTR).as_deref() == Some(b"y") {
                let mut h = header_for(&meta, tar::EntryType::Regular);
                h.set_mode(0o644);
                b.append_data(&mut h, format!("{entry}/.wh..wh..opq"), io::empty())
                    .map_err(io_err(io_ctx()))?;
            }
            walk(&path, &entry, b, links, size)?;
        } else if ft.is_symlink() {
            let target =
                fs::read_link(&path).map_err(io_err(format!("readlink {}", path.display())))?;
            let mut h = header_for(&meta, tar::EntryType::Symlink);
            b.append_link(&mut h, &entry, &target)
                .map_err(io_err(io_ctx()))?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    let mut h = header_for(&meta, tar::EntryType::Link);
                    b.append_link(&mut h, &entry, first)
                        .map_err(io_err(io_ctx()))?;
                    continue;
                }
                links.insert(key, entry.clone());
            }
            let mut h = header_for(&meta, tar::EntryType::Regular);
            h.set_size(meta.len());
            *size += meta.len();
            let f = File::open(&path).map_err(io_err(format!("opening {}", path.display())))?;
            b.append_data(&mut h, &entry, f).map_err(io_err(io_ctx()))?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                // Sockets are not carried in layers (as in moby).
                continue;
            };
            let mut h = header_for(&meta, kind);
            let rdev = meta.rdev();
            let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
            h.set_device_major(major).map_err(io_err(io_ctx()))?;
            h.set_device_minor(minor).map_err(io_err(io_ctx()))?;
            b.append_data(&mut h, &entry, io::empty())
                .map_err(io_err(io_ctx()))?;
        }
    }
    Ok(())
}

impl ImageStore {
    /// Turns the read-write layer of `container_id` into a new layer on top of the
    /// layers `config` lists, appends its diff id to `config.rootfs.diff_ids`, and
    /// stores the image. Returns the new image id. The read-write layer is copied;
    /// the container may be running.
    pub fn commit_rw_layer(
        &self,
        container_id: &str,
        config: serde_json::Value,
    ) -> Result<String, ImageError> {
        let upper = self.rw_layer_upper_dir(container_id)?;
        self.add_layer_with(config, |parent| {
            let mut ingest = BufWriter::with_capacity(1 << 20, self.content.begin()?);
            diff_to_tar(&upper, &mut ingest)?;
            let (diff_id, _) = self.commit_plain_blob(ingest)?;
            let have = self.layer(&chain_of(parent, &diff_id))?.is_some();
            if !have {
                let blob = self.content.open_blob(&diff_id)?;
                let mut r = io::BufReader::with_capacity(1 << 20, blob);
                self.unpack_and_record(&mut r, parent, Some(&diff_id))?;
            }
            Ok(diff_id)
        })
    }

    /// [`Self::commit_rw_layer`] for a container that has stopped and is removed
    /// next (a build's RUN step): the read-write layer's files become the new
    /// layer by a rename instead of a copy, leaving the container an empty one.
    /// Like every layer made by [`Self::add_built_layer_dir`], its tar is made
    /// when a push or save needs it.
    pub fn commit_stopped_rw_layer(
        &self,
        container_id: &str,
        config: serde_json::Value,
    ) -> Result<String, ImageError> {
        let upper = self.rw_layer_upper_dir(container_id)?;
        self.add_layer_with(config, |parent| {
            let tmp = self.overlay.join(temp_name("tmp"));
            fs::create_dir(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
            let moved = fs::rename(&upper, tmp.join("diff"))
                .and_then(|()| fs::create_dir(&upper))
                .map_err(io_err(format!("moving {} into a layer", upper.display())));
            // As the layer's tar carries them (and a pull elsewhere makes them).
            let moved = moved.and_then(|()| whole_second_mtimes(&tmp.join("diff")));
            if let Err(e) = moved {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
            self.add_built_layer_dir(&tmp, parent)
        })
    }

    /// Stores the layer tar `tar` on top of the layers `config` lists, appends its
    /// diff id to `config.rootfs.diff_ids`, and stores the image. Returns its id.
    /// The tar is not kept: its layout without file contents is (a tar-split), and
    /// [`Self::ensure_layer_blob`] makes the same bytes again when a push or save
    /// needs them.
    ///
    /// `reuse` names layers whose unchanged files are hard-linked instead of
    /// written again (see [`LayerReuse`]); hints that do not apply are ignored.
    pub fn add_layer_tar(
        &self,
        tar: &mut dyn Read,
        config: serde_json::Value,
        reuse: &LayerReuse,
    ) -> Result<String, ImageError> {
        self.add_layer_with(config, |parent| {
            let sibling = match &reuse.sibling {
                Some(img) => self
                    .top_layer_of(img)?
                    .filter(|(_, _, p)| p.as_deref() == parent)
                    .map(|(dir, _, _)| dir),
                None => None,
            };
            let source = match &reuse.source {
                Some((img, pairs)) => match self.top_layer_of(img)? {
                    // Never from a layer the new one sits on.
                    Some((dir, chain, _)) if !self.chain_contains(parent, &chain)? => {
                        let pairs: Vec<(String, String)> = pairs.clone();
                        Some((dir, pairs))
                    }
                    _ => None,
                },
                None => None,
            };
            let tmp = self.overlay.join(temp_name("tmp"));
            let diff = tmp.join("diff");
            fs::create_dir_all(&diff).map_err(io_err(format!("creating {}", diff.display())))?;
            let log = std::rc::Rc::new(std::cell::RefCell::new(SplitLog::default()));
            let opts = crate::unpack::UnpackOptions {
                link: crate::unpack::LinkSources {
                    sibling: sibling.as_deref(),
                    source: source.as_ref().map(|(d, p)| (d.as_path(), p.as_slice())),
                },
                split: Some(log.clone()),
            };
            let unpacked = crate::unpack::unpack_layer(tar, &diff, opts).and_then(|u| {
                log.borrow().write_to(&tmp.join(split::FILE_NAME))?;
                Ok(u)
            });
            let unpacked = match unpacked {
                Ok(u) => u,
                Err(e) => {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(e);
                }
            };
            if unpacked.diff_id == EMPTY_LAYER_DIFF_ID {
                let _ = fs::remove_dir_all(&tmp);
                return Ok(unpacked.diff_id);
            }
            self.record_layer_dir(&tmp, parent, &unpacked.diff_id, unpacked.size)?;
            Ok(unpacked.diff_id)
        })
    }

    /// Records the layer made on this machine in `tmp/diff` (overlay format) on
    /// top of `parent`; returns its diff id. No tar is stored: the diff id is the
    /// sha256 of [`diff_to_tar`] of the directory, which is deterministic (sorted
    /// names, only the metadata layers carry), and [`Self::ensure_layer_blob`]
    /// makes the same tar again when a push or save needs it. Layer directories
    /// are never modified once recorded. `tmp` is consumed.
    fn add_built_layer_dir(&self, tmp: &Path, parent: Option<&str>) -> Result<String, ImageError> {
        let mut hw = HashWriter(Digester::background());
        let size = {
            let mut w = BufWriter::with_capacity(1 << 20, &mut hw);
            let size = diff_to_tar(&tmp.join("diff"), &mut w);
            let flushed = w.flush().map_err(io_err("hashing the layer"));
            match size.and_then(|s| flushed.map(|()| s)) {
                Ok(s) => s,
                Err(e) => {
                    let _ = fs::remove_dir_all(tmp);
                    return Err(e);
                }
            }
        };
        let diff_id = hw.0.finish();
        if diff_id == EMPTY_LAYER_DIFF_ID {
            // No changes: no layer (see add_layer_with).
            let _ = fs::remove_dir_all(tmp);
            return Ok(diff_id);
        }
        self.record_layer_dir(tmp, parent, &diff_id, size)?;
        Ok(diff_id)
    }

    /// The stored blob of layer `diff_id`: (digest, media type, size). A layer
    /// made on this machine has none until it is needed; it is then made from
    /// the layer directory, checked against the diff id, and kept.
    pub(crate) fn ensure_layer_blob(
        &self,
        diff_id: &str,
    ) -> Result<(String, String, u64), ImageError> {
        if let Some(b) = self.layer_blob(diff_id)? {
            if self.content.exists(&b.0) {
                return Ok(b);
            }
        }
        let dir = self.layer_dir_of_diff(diff_id)?.ok_or_else(|| {
            ImageError::Internal(format!(
                "the stored blob of layer {diff_id} is missing; the image cannot be exported (pull or load it again)"
            ))
        })?;
        let mut ingest = BufWriter::with_capacity(1 << 20, self.content.begin()?);
        let split_file = dir
            .parent()
            .map(|p| p.join(split::FILE_NAME))
            .filter(|p| p.exists());
        match &split_file {
            Some(f) => split::reassemble(f, &dir, &mut ingest).map_err(|e| match e {
                ImageError::InvalidArgument(m) => ImageError::Internal(format!(
                    "layer {diff_id} cannot be exported: {m}; remove the images that use it and build or pull them again"
                )),
                e => e,
            })?,
            None => {
                diff_to_tar(&dir, &mut ingest)?;
            }
        }
        let ingest = ingest.into_inner().map_err(|e| ImageError::Io {
            context: "writing the layer tar".into(),
            source: e.into_error(),
        })?;
        let (digest, size) = self.content.commit(ingest, Some(diff_id)).map_err(|e| match e {
            ImageError::InvalidArgument(m) => ImageError::Internal(format!(
                "the files of layer {diff_id} in {} changed on disk ({m}); remove the images that use it and build or pull them again",
                dir.display()
            )),
            e => e,
        })?;
        let mt = crate::unpack::Compression::None.oci_media_type();
        self.record_layer_blob(diff_id, &digest, mt, size)?;
        Ok((digest, mt.to_string(), size))
    }

    /// Stores an image whose layers (`rootfs.diff_ids` of `config`) are all present;
    /// returns its id.
    pub fn put_config(&self, config: &[u8]) -> Result<String, ImageError> {
        self.put_image(config, None)
    }

    /// Commits an uncompressed layer tar written to the content store and records
    /// it as the blob of its diff id. Returns (diff id, size).
    fn commit_plain_blob(
        &self,
        ingest: BufWriter<crate::content::Ingest>,
    ) -> Result<(String, u64), ImageError> {
        let ingest = ingest.into_inner().map_err(|e| ImageError::Io {
            context: "writing the layer tar".into(),
            source: e.into_error(),
        })?;
        let (digest, size) = self.content.commit(ingest, None)?;
        self.record_layer_blob(
            &digest,
            &digest,
            crate::unpack::Compression::None.oci_media_type(),
            size,
        )?;
        Ok((digest, size))
    }

    /// `image`'s top layer: (directory, chain id, parent chain id). None for an
    /// unknown image or one without layers.
    pub(crate) fn top_layer_of(
        &self,
        image: &str,
    ) -> Result<Option<(std::path::PathBuf, String, Option<String>)>, ImageError> {
        let Ok(id) = self.resolve(image) else {
            return Ok(None);
        };
        let cfg = parse_config(&self.raw_config(&id)?)?;
        let mut chains = chain_ids(&cfg.rootfs.diff_ids);
        let Some(top) = chains.pop() else {
            return Ok(None);
        };
        Ok(self
            .layer(&top)?
            .map(|row| (self.layer_diff_dir(&row), top, chains.pop())))
    }

    /// Whether `chain` is `top` or one of the layers under it.
    fn chain_contains(&self, top: Option<&str>, chain: &str) -> Result<bool, ImageError> {
        let mut cur = top.map(str::to_string);
        while let Some(c) = cur {
            if c == chain {
                return Ok(true);
            }
            cur = self
                .db
                .with(|db| {
                    db.query_row("SELECT parent FROM layers WHERE chain_id = ?1", [&c], |r| {
                        r.get::<_, Option<String>>(0)
                    })
                    .optional()
                })?
                .flatten();
        }
        Ok(false)
    }

    /// Appends the diff id `make` stores (given the parent chain id of the new
    /// layer) to `config`'s layers and stores the image; returns its id. A layer
    /// with no changes (the empty tar) is not appended: as moby does, the image
    /// keeps its parent's layers and the step's history entry is marked
    /// `empty_layer`.
    fn add_layer_with(
        &self,
        mut config: serde_json::Value,
        make: impl FnOnce(Option<&str>) -> Result<String, ImageError>,
    ) -> Result<String, ImageError> {
        let cfg =
            parse_config(
                &serde_json::to_vec(&config).map_err(|source| ImageError::Json {
                    context: "encoding the image config".into(),
                    source,
                })?,
            )?;
        let parent = chain_ids(&cfg.rootfs.diff_ids).pop();
        let diff_id = make(parent.as_deref())?;
        if diff_id == EMPTY_LAYER_DIFF_ID {
            if let Some(last) = config
                .get_mut("history")
                .and_then(|h| h.as_array_mut())
                .and_then(|h| h.last_mut())
                .and_then(|h| h.as_object_mut())
            {
                last.insert("empty_layer".into(), serde_json::Value::Bool(true));
            }
        } else {
            match config
                .get_mut("rootfs")
                .and_then(|r| r.get_mut("diff_ids"))
                .and_then(|d| d.as_array_mut())
            {
                Some(a) => a.push(serde_json::Value::String(diff_id)),
                None => {
                    config["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": [diff_id]});
                }
            }
        }
        let bytes = serde_json::to_vec(&config).map_err(|source| ImageError::Json {
            context: "encoding the image config".into(),
            source,
        })?;
        self.put_image(&bytes, None)
    }
}

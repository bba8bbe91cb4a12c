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

use sha2::{Digest, Sha256};

use crate::content::{io_err, temp_name};
use crate::transfer::chain_of;
use crate::{chain_ids, parse_config, ImageError, ImageStore};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const CAP_XATTR: &str = "security.capability";

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

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

/// Writes the overlay upper dir `upper` as an OCI layer tar.
pub(crate) fn diff_to_tar(upper: &Path, w: &mut dyn Write) -> Result<(), ImageError> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk(upper, "", &mut b, &mut links)?;
    b.finish().map_err(io_err("finishing the layer tar"))?;
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
            walk(&path, &entry, b, links)?;
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
    /// stores the image. Returns the new image id.
    pub fn commit_rw_layer(
        &self,
        container_id: &str,
        config: serde_json::Value,
    ) -> Result<String, ImageError> {
        let upper = self.rw_layer_upper_dir(container_id)?;
        self.add_layer_with(config, |w| diff_to_tar(&upper, w))
    }

    /// Stores the layer tar `tar` on top of the layers `config` lists, appends its
    /// diff id to `config.rootfs.diff_ids`, and stores the image. Returns its id.
    pub fn add_layer_tar(
        &self,
        tar: &mut dyn Read,
        config: serde_json::Value,
    ) -> Result<String, ImageError> {
        self.add_layer_with(config, |w| {
            io::copy(tar, w)
                .map(|_| ())
                .map_err(io_err("reading the layer tar"))
        })
    }

    /// Stores an image whose layers (`rootfs.diff_ids` of `config`) are all present;
    /// returns its id.
    pub fn put_config(&self, config: &[u8]) -> Result<String, ImageError> {
        self.put_image(config, None)
    }

    fn add_layer_with(
        &self,
        mut config: serde_json::Value,
        write: impl FnOnce(&mut dyn Write) -> Result<(), ImageError>,
    ) -> Result<String, ImageError> {
        let cfg =
            parse_config(
                &serde_json::to_vec(&config).map_err(|source| ImageError::Json {
                    context: "encoding the image config".into(),
                    source,
                })?,
            )?;
        let parent = chain_ids(&cfg.rootfs.diff_ids).pop();
        let path = self.content.ingest_dir().join(temp_name("layer"));
        let diff_id = (|| -> Result<String, ImageError> {
            let f = File::create(&path).map_err(io_err(format!("creating {}", path.display())))?;
            let mut hw = HashingWriter {
                inner: BufWriter::with_capacity(1 << 20, f),
                hasher: Sha256::new(),
            };
            write(&mut hw)?;
            hw.flush().map_err(io_err("writing the layer tar"))?;
            let diff_id = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
            hw.inner
                .into_inner()
                .map_err(|e| ImageError::Io {
                    context: "writing the layer tar".into(),
                    source: e.into_error(),
                })?
                .sync_all()
                .map_err(io_err("syncing the layer tar"))?;
            let have = self
                .layer(&chain_of(parent.as_deref(), &diff_id))?
                .is_some();
            self.store_layer_file(&path, "new layer", parent.as_deref(), &diff_id, None, have)?;
            Ok(diff_id)
        })();
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), error = %e, "could not remove the layer tar");
            }
        }
        let diff_id = diff_id?;
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
        let bytes = serde_json::to_vec(&config).map_err(|source| ImageError::Json {
            context: "encoding the image config".into(),
            source,
        })?;
        self.put_image(&bytes, None)
    }
}

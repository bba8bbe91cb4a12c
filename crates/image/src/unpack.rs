//! Safe layer unpacking into overlay format.
//!
//! The layer tar is hostile input. Every path is cleaned lexically (an entry whose
//! path escapes with `..` rejects the layer), and every parent directory is resolved
//! with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` relative to the layer
//! root, so no symlink (absolute or relative) can take a write outside the layer
//! directory. The final component is always created with `*at` calls that do not
//! follow it (`O_NOFOLLOW | O_EXCL`, `symlinkat`, `mknodat`, `linkat` without
//! `AT_SYMLINK_FOLLOW`). OCI whiteouts become overlay whiteouts.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use std::cell::RefCell;
use std::rc::Rc;

use crate::content::HashingReader;
use crate::split::{SplitLog, SplitReader};
use crate::ImageError;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// Compression of a layer stream, detected by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub(crate) fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Reads the first bytes of `r` and returns the detected compression and a reader of
/// the decompressed stream. bzip2 and xz are refused with a clear error.
pub(crate) fn decompress<'a>(
    mut r: Box<dyn Read + 'a>,
) -> Result<(Compression, Box<dyn Read + 'a>), ImageError> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match r.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(ImageError::Io {
                    context: "reading layer stream".into(),
                    source,
                })
            }
        }
    }
    let head = magic[..n].to_vec();
    let chained: Box<dyn Read + 'a> = Box::new(io::Cursor::new(head.clone()).chain(r));
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok((
            Compression::Gzip,
            Box::new(flate2::read::MultiGzDecoder::new(chained)),
        ));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::new(chained).map_err(|source| ImageError::Io {
            context: "starting zstd decoder".into(),
            source,
        })?;
        return Ok((Compression::Zstd, Box::new(d)));
    }
    if head.starts_with(b"BZh") {
        return Err(ImageError::InvalidArgument(
            "unsupported compression: bzip2; decompress the archive or recompress it with gzip or zstd"
                .into(),
        ));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Err(ImageError::InvalidArgument(
            "unsupported compression: xz; decompress the archive or recompress it with gzip or zstd"
                .into(),
        ));
    }
    Ok((Compression::None, chained))
}

/// Result of unpacking one layer.
#[derive(Debug, Clone)]
pub(crate) struct Unpacked {
    /// sha256 of the uncompressed tar stream.
    pub(crate) diff_id: String,
    /// Sum of regular file sizes.
    pub(crate) size: u64,
}

fn reject(entry: &str, why: impl std::fmt::Display) -> ImageError {
    ImageError::InvalidArgument(format!(
        "unsafe or invalid layer: entry {entry:?}: {why}; the layer was rejected and nothing was stored \
         (rebuild the image or archive from a trusted source)"
    ))
}

fn entry_io(entry: &str, what: &str, e: impl Into<io::Error>) -> ImageError {
    ImageError::Io {
        context: format!("unpacking layer entry {entry:?}: {what}"),
        source: e.into(),
    }
}

/// Cleans a tar path lexically into components relative to the layer root: strips
/// leading `/`, drops `.` and empty components, resolves `..`; `None` if it escapes.
pub(crate) fn clean_components(p: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    Some(out)
}

fn join(comps: &[OsString]) -> OsString {
    if comps.is_empty() {
        return OsString::from(".");
    }
    let mut s = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push("/");
        }
        s.push(c);
    }
    s
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Opens `comps` (a directory) under `root` without ever leaving `root`.
fn open_in_root(root: &OwnedFd, comps: &[OsString], flags: OFlags) -> Result<OwnedFd, Errno> {
    loop {
        match rustix::fs::openat2(
            root,
            join(comps).as_os_str(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        ) {
            Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Opens the parent directory `comps` (O_PATH), creating missing directories.
fn open_parent(root: &OwnedFd, comps: &[OsString]) -> Result<OwnedFd, Errno> {
    let flags = OFlags::PATH | OFlags::DIRECTORY;
    match open_in_root(root, comps, flags) {
        Err(Errno::NOENT) => {}
        other => return other,
    }
    let mut cur = open_in_root(root, &[], flags)?;
    for i in 0..comps.len() {
        match open_in_root(root, &comps[..=i], flags) {
            Ok(fd) => cur = fd,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&cur, comps[i].as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                cur = open_in_root(root, &comps[..=i], flags)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// Removes `name` under `dir` (recursively for directories), never following symlinks.
pub(crate) fn remove_all_at(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e),
        };
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    {
        let d = Dir::read_from(&sub)?;
        for ent in d {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsString::from_vec(n.to_vec()));
            }
        }
    }
    for n in names {
        remove_all_at(&sub, &n)?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn ids(entry: &str, h: &tar::Header) -> Result<(Uid, Gid), ImageError> {
    let uid = h
        .uid()
        .map_err(|e| reject(entry, format!("bad uid: {e}")))?;
    let gid = h
        .gid()
        .map_err(|e| reject(entry, format!("bad gid: {e}")))?;
    let uid = u32::try_from(uid)
        .ok()
        .filter(|u| *u != u32::MAX)
        .ok_or_else(|| reject(entry, format!("uid {uid} out of range")))?;
    let gid = u32::try_from(gid)
        .ok()
        .filter(|g| *g != u32::MAX)
        .ok_or_else(|| reject(entry, format!("gid {gid} out of range")))?;
    Ok((Uid::from_raw(uid), Gid::from_raw(gid)))
}

fn set_xattrs(entry: &str, fd: &OwnedFd, xattrs: &[(String, Vec<u8>)]) {
    for (name, value) in xattrs {
        if let Err(e) = rustix::fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
            tracing::warn!(entry, xattr = %name, error = %e, "could not set xattr while unpacking layer");
        }
    }
}

/// Files up to this size are compared with their counterpart in the `link_from`
/// layer (and linked when equal); larger ones are always written.
const LINK_MAX: u64 = 4 << 20;

/// Hard links unchanged files from a sibling layer (a layer on the same parent,
/// typically the previous build of the same step) instead of writing them again.
///
/// A linked file shares its inode with the sibling, so it is only done when
/// everything the file shows is equal: type, size, mode, owner, mtime, no
/// xattrs on either side, and the bytes. Layer directories are never modified
/// in place (containers write to their own upper layer; overlay copies a file
/// up before changing it), so sharing is invisible. Siblings are never in the
/// same image (they have the same parent), and an inode is linked at most once
/// per layer, so no container ever sees one inode at two paths.
struct Linker {
    root: OwnedFd,
    used: std::collections::HashSet<(u64, u64)>,
    linked: u64,
}

impl Linker {
    /// Links `comps` from the sibling layer into `pdir/name` when the sibling's file
    /// has exactly `data` and this metadata. False when it does not (nothing done).
    #[allow(clippy::too_many_arguments)]
    fn try_link(
        &mut self,
        comps: &[OsString],
        data: &[u8],
        mode: u32,
        uid: Uid,
        gid: Gid,
        mtime: u64,
        pdir: &OwnedFd,
        name: &OsStr,
    ) -> bool {
        let Ok(fd) = rustix::fs::openat2(
            &self.root,
            join(comps).as_os_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) else {
            return false;
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            return false;
        };
        let same_meta = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
            && st.st_size as u64 == data.len() as u64
            && st.st_mode & 0o7777 == mode
            && st.st_uid == uid.as_raw()
            && st.st_gid == gid.as_raw()
            && st.st_mtime as u64 == mtime
            && st.st_mtime_nsec == 0
            && st.st_nlink < 32_000
            && !self.used.contains(&(st.st_dev, st.st_ino));
        if !same_meta {
            return false;
        }
        let mut names = [0u8; 1];
        match rustix::fs::flistxattr(&fd, &mut names) {
            Ok(0) => {}
            _ => return false,
        }
        let mut file = File::from(fd);
        let mut have = Vec::with_capacity(data.len());
        if (&mut file)
            .take(data.len() as u64 + 1)
            .read_to_end(&mut have)
            .is_err()
            || have != data
        {
            return false;
        }
        let fd = OwnedFd::from(file);
        if rustix::fs::linkat(&fd, "", pdir, name, AtFlags::EMPTY_PATH).is_err() {
            return false;
        }
        self.used.insert((st.st_dev, st.st_ino));
        self.linked += 1;
        true
    }
}

/// Unpacks the uncompressed layer tar `r` into the directory `dest` (which must exist
/// and be empty), converting OCI whiteouts to overlay whiteouts. Returns the diff id
/// (sha256 of the whole stream, trailing padding included) and the size.
///
/// What else [`unpack_layer`] does.
#[derive(Default)]
pub(crate) struct UnpackOptions<'a> {
    /// The directory of a sibling layer: regular files equal to the sibling's
    /// file at the same path are hard-linked from it (see [`Linker`]).
    pub(crate) link_from: Option<&'a Path>,
    /// Records the stream's layout without file contents (see [`crate::split`]).
    pub(crate) split: Option<Rc<RefCell<SplitLog>>>,
}

/// Unpacks the uncompressed layer tar `r` into the directory `dest` (which must exist
/// and be empty), converting OCI whiteouts to overlay whiteouts. Returns the diff id
/// (sha256 of the whole stream, trailing padding included) and the size.
pub(crate) fn unpack_layer(
    r: &mut dyn Read,
    dest: &Path,
    opts: UnpackOptions<'_>,
) -> Result<Unpacked, ImageError> {
    let root = rustix::fs::open(
        dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::Io {
        context: format!("opening layer directory {}", dest.display()),
        source: e.into(),
    })?;
    let mut linker = opts.link_from.and_then(|p| {
        match rustix::fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(root) => Some(Linker {
                root,
                used: Default::default(),
                linked: 0,
            }),
            Err(e) => {
                tracing::debug!(dir = %p.display(), error = %e, "not linking from the sibling layer");
                None
            }
        }
    });
    // The split log sees every byte, the end-of-archive padding drained below too.
    let split = opts.split;
    let base: Box<dyn Read + '_> = match &split {
        Some(log) => Box::new(SplitReader {
            inner: r,
            log: log.clone(),
        }),
        None => Box::new(r),
    };
    let mut hr = HashingReader::new(base);
    let mut size = 0u64;
    let mut dirs: Vec<(Vec<OsString>, u64)> = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hr);
        let entries = archive.entries().map_err(|e| reject("<archive>", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| reject("<archive>", format!("corrupt tar: {e}")))?;
            let raw_path = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw_path).into_owned();
            size += unpack_entry(
                &root,
                &mut entry,
                &raw_path,
                &shown,
                &mut dirs,
                linker.as_mut(),
                split.as_deref(),
            )?;
        }
    }
    // Directory mtimes last: creating children changed them.
    for (comps, mtime) in dirs.iter().rev() {
        if let Ok(fd) = open_in_root(
            &root,
            comps,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
        ) {
            let _ = rustix::fs::futimens(&fd, &timestamps(*mtime));
        }
    }
    hr.drain().map_err(|e| ImageError::Io {
        context: "reading layer stream".into(),
        source: e,
    })?;
    let (diff_id, _) = hr.finish();
    if let Some(l) = &linker {
        tracing::debug!(linked = l.linked, "files linked from the sibling layer");
    }
    Ok(Unpacked { diff_id, size })
}

fn unpack_entry<R: Read>(
    root: &OwnedFd,
    entry: &mut tar::Entry<'_, R>,
    raw_path: &[u8],
    shown: &str,
    dirs: &mut Vec<(Vec<OsString>, u64)>,
    linker: Option<&mut Linker>,
    split: Option<&RefCell<SplitLog>>,
) -> Result<u64, ImageError> {
    let kind = entry.header().entry_type();
    let comps = clean_components(raw_path)
        .ok_or_else(|| reject(shown, "path escapes the layer root with '..'"))?;
    let mode = entry
        .header()
        .mode()
        .map_err(|e| reject(shown, format!("bad mode: {e}")))?
        & 0o7777;
    let mtime = entry.header().mtime().unwrap_or(0);
    let (uid, gid) = ids(shown, entry.header())?;
    let mut xattrs = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    // Overlay's own attributes are never taken from a layer.
                    if name.starts_with("trusted.overlay.") {
                        continue;
                    }
                    xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }

    let Some((name, parent)) = comps.split_last() else {
        // The layer root itself ("./"): take its metadata.
        if kind.is_dir() {
            let fd = open_in_root(root, &[], OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|e| entry_io(shown, "opening layer root", e))?;
            rustix::fs::fchown(&fd, Some(uid), Some(gid))
                .map_err(|e| entry_io(shown, "chown", e))?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| entry_io(shown, "chmod", e))?;
            set_xattrs(shown, &fd, &xattrs);
            dirs.push((Vec::new(), mtime));
        }
        return Ok(0);
    };
    let name_bytes = name.as_bytes();

    let is_whiteout_name = name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes());
    let pdir = open_parent(root, parent).map_err(|e| match e {
        Errno::NOTDIR | Errno::LOOP | Errno::NOENT | Errno::EXIST => reject(
            shown,
            format!(
                "its parent path does not resolve to a directory inside the layer \
                 (a component is a file, or a symlink pointing outside the layer or nowhere): {e}"
            ),
        ),
        e => entry_io(shown, "opening parent directory", e),
    })?;

    if is_whiteout_name {
        if name_bytes == WHITEOUT_OPAQUE.as_bytes() {
            let fd = rustix::fs::openat(
                &pdir,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| entry_io(shown, "opening opaque directory", e))?;
            rustix::fs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(|e| entry_io(shown, "setting trusted.overlay.opaque", e))?;
            return Ok(0);
        }
        if name_bytes.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            tracing::debug!(entry = shown, "skipping whiteout metadata entry");
            return Ok(0);
        }
        let target = OsStr::from_bytes(&name_bytes[WHITEOUT_PREFIX.len()..]);
        if target.is_empty() || target == "." || target == ".." {
            return Err(reject(shown, "whiteout of an invalid name"));
        }
        remove_all_at(&pdir, target)
            .map_err(|e| entry_io(shown, "removing whited-out entry", e))?;
        make_whiteout(&pdir, target, uid, gid)
            .map_err(|e| entry_io(shown, "creating overlay whiteout", e))?;
        return Ok(0);
    }

    // Whatever exists at the final name is replaced, except dir over dir.
    let existing = match rustix::fs::statat(&pdir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
        Err(Errno::NOENT) => None,
        Err(e) => return Err(entry_io(shown, "stat", e)),
    };
    let keep_dir = kind.is_dir() && existing == Some(FileType::Directory);
    if existing.is_some() && !keep_dir {
        remove_all_at(&pdir, name).map_err(|e| entry_io(shown, "replacing existing entry", e))?;
    }

    use tar::EntryType as T;
    match kind {
        T::Regular | T::Continuous | T::GNUSparse => {
            if let (Some(log), T::Regular) = (split, kind) {
                // The stream is at this entry's data: its contents are the file's.
                let len = entry.size();
                log.borrow_mut().mark_data(join(&comps).into_vec(), len);
            }
            // A file the sibling layer has unchanged is linked from it.
            let mut data = None;
            if let Some(l) = linker {
                let len = entry.header().size().unwrap_or(u64::MAX);
                if xattrs.is_empty() && len <= LINK_MAX && kind == T::Regular {
                    let mut buf = Vec::with_capacity(len as usize);
                    entry
                        .read_to_end(&mut buf)
                        .map_err(|e| entry_io(shown, "reading file", e))?;
                    if l.try_link(&comps, &buf, mode, uid, gid, mtime, &pdir, name) {
                        return Ok(buf.len() as u64);
                    }
                    data = Some(buf);
                }
            }
            let fd = rustix::fs::openat(
                &pdir,
                name.as_os_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| entry_io(shown, "creating file", e))?;
            let mut file = File::from(fd);
            let n = match data {
                Some(buf) => {
                    io::Write::write_all(&mut file, &buf)
                        .map_err(|e| entry_io(shown, "writing file", e))?;
                    buf.len() as u64
                }
                None => {
                    io::copy(entry, &mut file).map_err(|e| entry_io(shown, "writing file", e))?
                }
            };
            let fd = OwnedFd::from(file);
            rustix::fs::fchown(&fd, Some(uid), Some(gid))
                .map_err(|e| entry_io(shown, "chown", e))?;
            // After chown, which clears setuid/setgid.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| entry_io(shown, "chmod", e))?;
            set_xattrs(shown, &fd, &xattrs);
            rustix::fs::futimens(&fd, &timestamps(mtime))
                .map_err(|e| entry_io(shown, "set times", e))?;
            Ok(n)
        }
        T::Directory => {
            if !keep_dir {
                rustix::fs::mkdirat(&pdir, name.as_os_str(), Mode::from_raw_mode(0o700))
                    .map_err(|e| entry_io(shown, "creating directory", e))?;
            }
            let fd = rustix::fs::openat(
                &pdir,
                name.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| entry_io(shown, "opening directory", e))?;
            rustix::fs::fchown(&fd, Some(uid), Some(gid))
                .map_err(|e| entry_io(shown, "chown", e))?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| entry_io(shown, "chmod", e))?;
            set_xattrs(shown, &fd, &xattrs);
            dirs.push((comps.clone(), mtime));
            Ok(0)
        }
        T::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| reject(shown, "symlink without a target"))?
                .into_owned();
            rustix::fs::symlinkat(OsStr::from_bytes(&target), &pdir, name.as_os_str())
                .map_err(|e| entry_io(shown, "creating symlink", e))?;
            rustix::fs::chownat(
                &pdir,
                name.as_os_str(),
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| entry_io(shown, "chown symlink", e))?;
            let _ = rustix::fs::utimensat(
                &pdir,
                name.as_os_str(),
                &timestamps(mtime),
                AtFlags::SYMLINK_NOFOLLOW,
            );
            Ok(0)
        }
        T::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| reject(shown, "hardlink without a target"))?
                .into_owned();
            let tcomps = clean_components(&target)
                .ok_or_else(|| reject(shown, "hardlink target escapes the layer root with '..'"))?;
            let Some((tname, tparent)) = tcomps.split_last() else {
                return Err(reject(shown, "hardlink to the layer root"));
            };
            let tdir =
                open_in_root(root, tparent, OFlags::PATH | OFlags::DIRECTORY).map_err(|e| {
                    reject(
                        shown,
                        format!("hardlink target's directory not in this layer: {e}"),
                    )
                })?;
            rustix::fs::linkat(
                &tdir,
                tname.as_os_str(),
                &pdir,
                name.as_os_str(),
                AtFlags::empty(),
            )
            .map_err(|e| match e {
                Errno::NOENT => reject(shown, "hardlink target is not in this layer"),
                Errno::PERM | Errno::XDEV | Errno::MLINK => {
                    reject(shown, format!("cannot hardlink to that target: {e}"))
                }
                e => entry_io(shown, "creating hardlink", e),
            })?;
            Ok(0)
        }
        T::Char => {
            let major = entry.header().device_major().ok().flatten().unwrap_or(0);
            let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
            if major == 0 && minor == 0 {
                // Already an overlay whiteout.
                make_whiteout(&pdir, name, uid, gid)
                    .map_err(|e| entry_io(shown, "creating overlay whiteout", e))?;
            } else {
                tracing::warn!(
                    entry = shown,
                    major,
                    minor,
                    "skipping character device in layer (containers get their own /dev)"
                );
            }
            Ok(0)
        }
        T::Block | T::Fifo => {
            tracing::warn!(entry = shown, kind = ?kind, "skipping device node in layer (containers get their own /dev)");
            Ok(0)
        }
        other => {
            tracing::warn!(entry = shown, kind = ?other, "skipping unsupported tar entry type");
            Ok(0)
        }
    }
}

fn make_whiteout(pdir: &OwnedFd, name: &OsStr, uid: Uid, gid: Gid) -> Result<(), Errno> {
    rustix::fs::mknodat(
        pdir,
        name,
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    )?;
    rustix::fs::chownat(pdir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

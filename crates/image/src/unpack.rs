//! Safe layer unpacking into overlay format.
//!
//! The layer tar is hostile input. Every path is cleaned lexically (an entry whose
//! path escapes with `..` rejects the layer), and every parent directory is resolved
//! with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` relative to the layer
//! root, so no symlink (absolute or relative) can take a write outside the layer
//! directory. The final component is always created with `*at` calls that do not
//! follow it (`O_NOFOLLOW | O_EXCL`, `symlinkat`, `mknodat`, `linkat` without
//! `AT_SYMLINK_FOLLOW`). OCI whiteouts become overlay whiteouts.

use std::collections::HashMap;
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

use crate::content::{Digester, HashingReader};
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

pub(crate) use archive::clean_components;

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

/// Destination path -> path in the source layer (both relative, cleaned).
type PathMap = HashMap<Vec<u8>, Vec<u8>>;

/// Hard links unchanged files from other layers instead of writing them again:
/// from a sibling layer (a layer on the same parent, typically the previous
/// build of the same step) at the same path, and for a `COPY --from` from the
/// layer of the source image that holds the copied file.
///
/// A linked file shares its inode, so it is only done when everything the file
/// shows is equal: type, size, mode, owner, mtime, no xattrs on either side,
/// and the bytes. Layer directories are never modified in place (containers
/// write to their own upper layer; overlay copies a file up before changing
/// it), so sharing is invisible as long as no container sees one inode at two
/// paths: an inode is linked at most once per layer; siblings are never in the
/// same image (they have the same parent); a source layer's file is linked only
/// while no other layer has it (`nlink` 1) and when that layer is not below the
/// new one (the caller checks).
struct Linker {
    sibling: Option<OwnedFd>,
    /// The source layer's root and, by destination path, the file's path there.
    source: Option<(OwnedFd, PathMap)>,
    used: std::collections::HashSet<(u64, u64)>,
    linked: u64,
}

/// Where [`unpack_layer`] may link files from (see [`Linker`]).
#[derive(Default)]
pub(crate) struct LinkSources<'a> {
    /// A sibling layer's directory: files at the same path.
    pub(crate) sibling: Option<&'a Path>,
    /// A source layer's directory and (destination path, path in that layer)
    /// pairs, both relative.
    pub(crate) source: Option<(&'a Path, &'a [(String, String)])>,
}

fn open_dir_path(p: &Path) -> Option<OwnedFd> {
    match rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::debug!(dir = %p.display(), error = %e, "not linking from that layer");
            None
        }
    }
}

fn rel_key(p: &str) -> Option<Vec<u8>> {
    clean_components(p.as_bytes()).map(|c| join(&c).into_vec())
}

impl Linker {
    fn new(from: &LinkSources<'_>) -> Option<Self> {
        let sibling = from.sibling.and_then(open_dir_path);
        let source = from.source.and_then(|(dir, pairs)| {
            let map = pairs
                .iter()
                .filter_map(|(dest, src)| Some((rel_key(dest)?, rel_key(src)?)))
                .collect();
            Some((open_dir_path(dir)?, map))
        });
        if sibling.is_none() && source.is_none() {
            return None;
        }
        Some(Linker {
            sibling,
            source,
            used: Default::default(),
            linked: 0,
        })
    }

    /// A file in a linkable layer that has exactly the metadata `want` (contents
    /// not yet compared): the source layer's file for this destination, else
    /// the sibling's at the same path. With its (dev, ino).
    fn candidate(&self, comps: &[OsString], want: &Wanted) -> Option<(File, (u64, u64))> {
        let dest = join(comps);
        if let Some((root, map)) = &self.source {
            if let Some(src) = map.get(dest.as_bytes()) {
                let path = OsString::from_vec(src.clone());
                if let Some(c) = open_if_same(root, &path, true, &self.used, want) {
                    return Some(c);
                }
            }
        }
        let root = self.sibling.as_ref()?;
        open_if_same(root, &dest, false, &self.used, want)
    }
}

/// The metadata of the file a tar entry makes.
struct Wanted {
    size: u64,
    mode: u32,
    uid: Uid,
    gid: Gid,
    mtime: u64,
}

/// Opens `root/path` when it is a regular file with exactly the metadata `want`,
/// no xattrs, not in `used`, and (with `sole`) in no other directory.
fn open_if_same(
    root: &OwnedFd,
    path: &OsStr,
    sole: bool,
    used: &std::collections::HashSet<(u64, u64)>,
    want: &Wanted,
) -> Option<(File, (u64, u64))> {
    let fd = rustix::fs::openat2(
        root,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let key = (st.st_dev, st.st_ino);
    let links_ok = if sole {
        st.st_nlink == 1
    } else {
        st.st_nlink < 32_000
    };
    let same = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
        && st.st_size as u64 == want.size
        && st.st_mode & 0o7777 == want.mode
        && st.st_uid == want.uid.as_raw()
        && st.st_gid == want.gid.as_raw()
        && st.st_mtime as u64 == want.mtime
        && st.st_mtime_nsec == 0
        && links_ok
        && !used.contains(&key);
    if !same {
        return None;
    }
    let mut names = [0u8; 1];
    if rustix::fs::flistxattr(&fd, &mut names).ok()? != 0 {
        return None;
    }
    Some((File::from(fd), key))
}

/// How much of an entry's data matched its candidate file.
enum Compared {
    /// All of it: the candidate can be linked.
    Same,
    /// The first `equal` bytes matched; `pending` (read from the entry, not
    /// yet written) did not.
    Differs { equal: u64, pending: Vec<u8> },
}

/// Reads the entry's data and `cand` side by side.
fn compare_stream(entry: &mut dyn Read, cand: &mut File) -> io::Result<Compared> {
    let mut a = vec![0u8; 64 * 1024];
    let mut b = vec![0u8; 64 * 1024];
    let mut equal = 0u64;
    loop {
        let n = read_full(entry, &mut a)?;
        if n == 0 {
            // The candidate has the same size (checked): nothing more there.
            return Ok(Compared::Same);
        }
        let m = read_full(cand, &mut b[..n])?;
        if m != n || a[..n] != b[..n] {
            a.truncate(n);
            return Ok(Compared::Differs { equal, pending: a });
        }
        equal += n as u64;
    }
}

/// Reads until `buf` is full or the stream ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What else [`unpack_layer`] does.
#[derive(Default)]
pub(crate) struct UnpackOptions<'a> {
    /// Layers to hard-link unchanged files from (see [`Linker`]).
    pub(crate) link: LinkSources<'a>,
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
    let mut linker = Linker::new(&opts.link);
    // The split log sees every byte, the end-of-archive padding drained below too.
    let split = opts.split;
    let base: Box<dyn Read + '_> = match &split {
        Some(log) => Box::new(SplitReader {
            inner: r,
            log: log.clone(),
        }),
        None => Box::new(r),
    };
    let mut hr = HashingReader::with(base, Digester::background());
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
        tracing::debug!(linked = l.linked, "files linked from other layers");
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
            // A file another layer has unchanged is linked from it.
            let mut head: Option<(File, u64, Vec<u8>)> = None;
            if let Some(l) = linker {
                let want = Wanted {
                    size: entry.size(),
                    mode,
                    uid,
                    gid,
                    mtime,
                };
                let cand = if xattrs.is_empty() && kind == T::Regular {
                    l.candidate(&comps, &want)
                } else {
                    None
                };
                if let Some((mut cand, key)) = cand {
                    let cmp = compare_stream(entry, &mut cand)
                        .map_err(|e| entry_io(shown, "reading file", e))?;
                    match cmp {
                        Compared::Same => {
                            if rustix::fs::linkat(&cand, "", &pdir, name, AtFlags::EMPTY_PATH)
                                .is_ok()
                            {
                                l.used.insert(key);
                                l.linked += 1;
                                return Ok(want.size);
                            }
                            head = Some((cand, want.size, Vec::new()));
                        }
                        Compared::Differs { equal, pending } => {
                            head = Some((cand, equal, pending));
                        }
                    }
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
            let mut n = 0;
            if let Some((mut cand, equal, pending)) = head {
                // What was compared already: the equal part from the candidate,
                // then the differing chunk.
                use std::io::{Seek, Write};
                cand.rewind()
                    .and_then(|_| io::copy(&mut (&mut cand).take(equal), &mut file))
                    .and_then(|_| file.write_all(&pending))
                    .map_err(|e| entry_io(shown, "writing file", e))?;
                n = equal + pending.len() as u64;
            }
            n += io::copy(entry, &mut file).map_err(|e| entry_io(shown, "writing file", e))?;
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

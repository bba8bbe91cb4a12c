//! Copying out: the tar `docker cp CONTAINER:path -` and `docker export` write.
//!
//! The start is located through the root ([`crate::root::locate`]); below it
//! the walk opens every child relative to its directory's fd with `O_NOFOLLOW`,
//! and checks that what it opened is what it listed. A symlink swapped in
//! during the walk is read as a symlink (its target is data) or makes that
//! entry be skipped; it is never followed.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{ArchiveError, Result};
use crate::root::{locate, show, RequestPath, Root};

/// The one xattr a copy carries (as moby's archive does).
const CAP_XATTR: &str = "security.capability";

/// Writes the tar `GET /containers/{id}/archive?path=` answers: entries named
/// after the last component of `path` (`/etc/foo` gives `foo`, `foo/...`), or
/// `.`-relative for a path ending in `/.` (the directory's contents). With
/// `follow_link` a final symlink is followed (its target's content is written
/// under the link's name). Streams; no temporary files.
pub fn write_tar(root: &Root, path: &str, follow_link: bool, out: impl Write) -> Result<()> {
    let req = RequestPath::parse(path);
    let loc = locate(root, &req, follow_link)?;
    let prefix = if req.contents_only || loc.name.is_none() {
        OsString::from(".")
    } else {
        OsString::from(req.base())
    };
    let mut w = Walker::new(out);
    match &loc.name {
        Some(name) => {
            let st = rustix::fs::statat(&loc.dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| match e {
                    Errno::NOENT | Errno::NOTDIR => ArchiveError::NotFound {
                        path: show(&req.comps),
                    },
                    e => ArchiveError::io(format!("stat {}", show(&loc.comps)), e),
                })?;
            w.entry(&loc.dir, name, &st, PathBuf::from(&prefix))?;
        }
        None => {
            let dir = open_child_dir(&loc.dir, OsStr::new("."))
                .map_err(|e| ArchiveError::io("opening the root", e))?;
            let st = rustix::fs::fstat(&dir).map_err(|e| ArchiveError::io("stat /", e))?;
            w.dir(&dir, &st, PathBuf::from(&prefix))?;
        }
    }
    w.finish()
}

/// Writes the whole root as `docker export` does: names relative to `/`
/// (`bin/`, `etc/passwd`, ...), no entry for the root itself.
pub fn export(root: &Root, out: impl Write) -> Result<()> {
    let base = root
        .open_dir(&[])
        .map_err(|e| ArchiveError::io("opening the root", e))?;
    let dir = open_child_dir(&base, OsStr::new("."))
        .map_err(|e| ArchiveError::io("opening the root", e))?;
    let mut w = Walker::new(out);
    w.children(&dir, &PathBuf::new())?;
    w.finish()
}

pub(crate) fn open_child_dir(dir: &impl AsFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The sorted names in a directory (without `.` and `..`).
pub(crate) fn read_names(dir: &impl AsFd) -> rustix::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for ent in rustix::fs::Dir::read_from(dir)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        names.push(OsStr::from_bytes(n).to_os_string());
    }
    names.sort();
    Ok(names)
}

/// Whether two stats are the same file.
fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

struct Walker<W: Write> {
    b: tar::Builder<W>,
    /// First entry name of each multiply linked file, by (dev, inode).
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Walker<W> {
    fn new(out: W) -> Self {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        Self {
            b,
            links: HashMap::new(),
        }
    }

    fn finish(self) -> Result<()> {
        let mut out = self
            .b
            .into_inner()
            .map_err(|e| ArchiveError::io("finishing the tar", e))?;
        out.flush()
            .map_err(|e| ArchiveError::io("writing the tar", e))
    }

    fn header(st: &Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn io_err(name: &std::path::Path) -> impl Fn(io::Error) -> ArchiveError + '_ {
        move |e| ArchiveError::io(format!("writing {} to the tar", name.display()), e)
    }

    /// One entry `name` of `dir` whose lstat is `st`, written as `entry`.
    fn entry(&mut self, dir: &OwnedFd, name: &OsStr, st: &Stat, entry: PathBuf) -> Result<()> {
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let sub = match open_child_dir(dir, name) {
                    Ok(fd) => fd,
                    Err(e) => return self.vanished(&entry, e),
                };
                let now = rustix::fs::fstat(&sub).map_err(|e| ArchiveError::io("stat", e))?;
                if !same_file(st, &now) {
                    return self.vanished(&entry, Errno::STALE);
                }
                self.dir(&sub, &now, entry)
            }
            FileType::RegularFile => self.file(dir, name, st, entry),
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, name, Vec::new()) {
                    Ok(t) => t,
                    Err(e) => return self.vanished(&entry, e),
                };
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                let mut h = Self::header(st, tar::EntryType::Symlink);
                self.b
                    .append_link(&mut h, &entry, &target)
                    .map_err(Self::io_err(&entry))
            }
            kind @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = Self::header(st, kind);
                let rdev = st.st_rdev;
                h.set_device_major(rustix::fs::major(rdev))
                    .and_then(|()| h.set_device_minor(rustix::fs::minor(rdev)))
                    .map_err(Self::io_err(&entry))?;
                self.b
                    .append_data(&mut h, &entry, io::empty())
                    .map_err(Self::io_err(&entry))
            }
            // Sockets are not archived (as in Docker).
            _ => Ok(()),
        }
    }

    /// An entry that disappeared or changed type between listing and opening:
    /// skipped (the copy of a live tree), never followed.
    fn vanished(&mut self, entry: &std::path::Path, e: Errno) -> Result<()> {
        match e {
            Errno::NOENT | Errno::LOOP | Errno::NOTDIR | Errno::STALE | Errno::NXIO => {
                tracing::debug!(entry = %entry.display(), error = %e, "entry changed during the copy; skipped");
                Ok(())
            }
            e => Err(ArchiveError::io(format!("reading {}", entry.display()), e)),
        }
    }

    fn dir(&mut self, dir: &OwnedFd, st: &Stat, entry: PathBuf) -> Result<()> {
        let mut h = Self::header(st, tar::EntryType::Directory);
        let mut name = entry.clone().into_os_string();
        if !name.as_bytes().ends_with(b"/") {
            name.push("/");
        }
        self.b
            .append_data(&mut h, &name, io::empty())
            .map_err(Self::io_err(&entry))?;
        // The contents of `/.` are named `a`, `sub/b` below the `./` entry.
        let base = if entry == std::path::Path::new(".") {
            PathBuf::new()
        } else {
            entry
        };
        self.children(dir, &base)
    }

    fn children(&mut self, dir: &OwnedFd, entry: &std::path::Path) -> Result<()> {
        let names = read_names(dir)
            .map_err(|e| ArchiveError::io(format!("listing {}", entry.display()), e))?;
        for n in names {
            let st = match rustix::fs::statat(dir, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(e) => {
                    self.vanished(&entry.join(&n), e)?;
                    continue;
                }
            };
            self.entry(dir, &n, &st, entry.join(&n))?;
        }
        Ok(())
    }

    fn file(&mut self, dir: &OwnedFd, name: &OsStr, st: &Stat, entry: PathBuf) -> Result<()> {
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                let first = first.clone();
                let mut h = Self::header(st, tar::EntryType::Link);
                return self
                    .b
                    .append_link(&mut h, &entry, &first)
                    .map_err(Self::io_err(&entry));
            }
        }
        // O_NONBLOCK: a fifo swapped in must not hang the copy.
        let fd = match rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => return self.vanished(&entry, e),
        };
        let now = rustix::fs::fstat(&fd).map_err(|e| ArchiveError::io("stat", e))?;
        if !same_file(st, &now) || FileType::from_raw_mode(now.st_mode) != FileType::RegularFile {
            return self.vanished(&entry, Errno::STALE);
        }
        let mut cap = vec![0u8; 256];
        if let Ok(n) = rustix::fs::fgetxattr(&fd, CAP_XATTR, &mut cap) {
            cap.truncate(n);
            self.b
                .append_pax_extensions([("SCHILY.xattr.security.capability", cap.as_slice())])
                .map_err(Self::io_err(&entry))?;
        }
        if st.st_nlink > 1 {
            self.links.insert(key, entry.clone());
        }
        let mut h = Self::header(&now, tar::EntryType::Regular);
        let size = u64::try_from(now.st_size).unwrap_or(0);
        h.set_size(size);
        // A file that shrinks while read is padded; one that grows is cut at
        // the size in the header, so the tar stays well formed.
        let reader = Padded {
            inner: io::Read::take(File::from(fd), size),
            left: size,
        };
        self.b
            .append_data(&mut h, &entry, reader)
            .map_err(Self::io_err(&entry))
    }
}

/// Reads `inner`, then zeros up to `left` bytes in all.
struct Padded<R> {
    inner: R,
    left: u64,
}

impl<R: io::Read> io::Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..max])? {
            0 => {
                buf[..max].fill(0);
                max
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads the regular file `path` inside the root (at most `max` bytes), e.g. a
/// container's `/etc/passwd`.
pub fn read_file(root: &Root, path: &str, max: u64) -> Result<Vec<u8>> {
    let req = RequestPath::parse(path);
    let loc = locate(root, &req, true)?;
    let not_found = || ArchiveError::NotFound {
        path: show(&req.comps),
    };
    let name = loc.name.ok_or_else(not_found)?;
    let fd = rustix::fs::openat(
        &loc.dir,
        name.as_os_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT | Errno::LOOP | Errno::NOTDIR => not_found(),
        e => ArchiveError::io(format!("opening {}", show(&loc.comps)), e),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| ArchiveError::io("stat", e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(not_found());
    }
    let mut out = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(File::from(fd), max), &mut out)
        .map_err(|e| ArchiveError::io(format!("reading {}", show(&loc.comps)), e))?;
    Ok(out)
}

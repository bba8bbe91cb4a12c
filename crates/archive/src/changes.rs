//! `docker diff`: the changes of a container, read from its overlay upper
//! directory against the image's layers.
//!
//! In the upper directory a deleted path is a 0/0 character device (or a file
//! with the `trusted.overlay.whiteout` xattr) and a directory whose lower
//! contents are hidden carries `trusted.overlay.opaque=y`. A path that is in a
//! lower layer is Modified (if its metadata differs, or, for a directory, if
//! anything below it changed, as Docker reports parents of changes); otherwise
//! Added. The result is sorted by path.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use serde::Serialize;

use crate::error::{ArchiveError, Result};
use crate::write::{open_child_dir, read_names};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_XATTR: &str = "trusted.overlay.whiteout";

/// Docker's change kinds (the numbers its JSON carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl ChangeKind {
    /// `C`, `A` or `D`, as `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

impl Serialize for ChangeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

/// One change, as `GET /containers/{id}/changes` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    /// Absolute, e.g. `/etc/passwd`.
    pub path: String,
    pub kind: ChangeKind,
}

/// The changes in overlay upper directory `upper` over `layers_lower` (top
/// layer first).
pub fn changes(layers_lower: &[PathBuf], upper: &Path) -> Result<Vec<Change>> {
    let mut lowers = Vec::new();
    for l in layers_lower {
        let fd = rustix::fs::open(
            l,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ArchiveError::io(format!("opening layer {}", l.display()), e))?;
        lowers.push(fd);
    }
    let top = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ArchiveError::io(format!("opening {}", upper.display()), e))?;
    let mut w = Walk {
        lowers,
        out: Vec::new(),
    };
    w.dir(&top, &mut Vec::new(), false)?;
    let mut out = w.out;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

struct Walk {
    lowers: Vec<OwnedFd>,
    out: Vec<Change>,
}

fn is_whiteout(dir: &impl AsFd, name: &OsStr, st: &Stat) -> bool {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::CharacterDevice => st.st_rdev == 0,
        FileType::RegularFile if st.st_size == 0 => {
            match rustix::fs::openat(
                dir,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                // O_PATH fds cannot read xattrs; go through the fd's magic link.
                Ok(fd) => has_xattr(&fd, WHITEOUT_XATTR),
                Err(_) => false,
            }
        }
        _ => false,
    }
}

fn has_xattr(fd: &OwnedFd, name: &str) -> bool {
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
    let mut buf = [0u8; 8];
    rustix::fs::getxattr(path.as_str(), name, &mut buf).is_ok()
}

fn show(rel: &[OsString]) -> String {
    let mut s = String::new();
    for c in rel {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Whether the file itself differs (Docker's overlay comparison: type and
/// permission bits, owner, device, size of non-directories, mtime).
fn differs(a: &Stat, b: &Stat) -> bool {
    let dir = FileType::from_raw_mode(a.st_mode) == FileType::Directory;
    a.st_mode != b.st_mode
        || a.st_uid != b.st_uid
        || a.st_gid != b.st_gid
        || a.st_rdev != b.st_rdev
        || (!dir && a.st_size != b.st_size)
        || a.st_mtime != b.st_mtime
        || a.st_mtime_nsec != b.st_mtime_nsec
}

impl Walk {
    /// The lstat of `rel` in the topmost lower layer that has it (never
    /// following a symlink on the way); None when absent or whited out.
    fn lower(&self, rel: &[OsString]) -> Option<Stat> {
        let (last, parent) = rel.split_last()?;
        for l in &self.lowers {
            let dir = if parent.is_empty() {
                rustix::fs::openat(l, ".", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            } else {
                let p = crate::root::join(parent);
                rustix::fs::openat2(
                    l,
                    p.as_os_str(),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                )
            };
            let dir = match dir {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            match rustix::fs::statat(&dir, last.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if is_whiteout(&dir, last, &st) => return None,
                Ok(st) => return Some(st),
                Err(_) => continue,
            }
        }
        None
    }

    /// Names under `rel` in the lower layers (union, whiteouts removed).
    fn lower_names(&self, rel: &[OsString]) -> BTreeSet<OsString> {
        let mut names = BTreeSet::new();
        let p = crate::root::join(rel);
        let p: &OsStr = if p.is_empty() { OsStr::new(".") } else { &p };
        for l in &self.lowers {
            let Ok(fd) = rustix::fs::openat2(
                l,
                p,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            ) else {
                continue;
            };
            for n in read_names(&fd).unwrap_or_default() {
                let Ok(st) = rustix::fs::statat(&fd, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                else {
                    continue;
                };
                if !is_whiteout(&fd, &n, &st) {
                    names.insert(n);
                }
            }
        }
        names
    }

    /// Walks upper directory `dir` (at `rel`); returns whether anything below
    /// it changed.
    fn dir(&mut self, dir: &OwnedFd, rel: &mut Vec<OsString>, hidden: bool) -> Result<bool> {
        let names =
            read_names(dir).map_err(|e| ArchiveError::io(format!("listing {}", show(rel)), e))?;
        let mut any = false;
        for n in &names {
            let st = match rustix::fs::statat(dir, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(ArchiveError::io(format!("stat {}", show(rel)), e)),
            };
            rel.push(n.clone());
            any = true;
            if is_whiteout(dir, n, &st) {
                self.push(rel, ChangeKind::Deleted);
                rel.pop();
                continue;
            }
            let lower = if hidden { None } else { self.lower(rel) };
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let sub = match open_child_dir(dir, n) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) | Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                        rel.pop();
                        continue;
                    }
                    Err(e) => return Err(ArchiveError::io(format!("opening {}", show(rel)), e)),
                };
                let opaque = {
                    let mut buf = [0u8; 4];
                    matches!(rustix::fs::fgetxattr(&sub, OPAQUE_XATTR, &mut buf), Ok(1) if buf[0] == b'y')
                };
                let lower_is_dir = lower
                    .as_ref()
                    .is_some_and(|l| FileType::from_raw_mode(l.st_mode) == FileType::Directory);
                let below = self.dir(&sub, rel, hidden || opaque || !lower_is_dir)?;
                if opaque && lower_is_dir {
                    let upper_names: BTreeSet<OsString> =
                        read_names(&sub).unwrap_or_default().into_iter().collect();
                    for gone in self.lower_names(rel).difference(&upper_names) {
                        rel.push(gone.clone());
                        self.push(rel, ChangeKind::Deleted);
                        rel.pop();
                    }
                }
                match &lower {
                    None => self.push(rel, ChangeKind::Added),
                    Some(l) if !lower_is_dir || below || opaque || differs(&st, l) => {
                        self.push(rel, ChangeKind::Modified)
                    }
                    Some(_) => {}
                }
            } else {
                match &lower {
                    None => self.push(rel, ChangeKind::Added),
                    Some(l) if differs(&st, l) => self.push(rel, ChangeKind::Modified),
                    Some(_) => {}
                }
            }
            rel.pop();
        }
        Ok(any)
    }

    fn push(&mut self, rel: &[OsString], kind: ChangeKind) {
        self.out.push(Change {
            path: show(rel),
            kind,
        });
    }
}

//! A root directory and path resolution confined to it.
//!
//! Every lookup of a path the caller gives goes through `openat2` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` relative to the root's fd: `..` at the
//! root stays at the root, an absolute symlink is taken relative to the root, and
//! `/proc/self/...`-style magic links are refused. Below the located path, walks
//! use `*at` calls on directory fds with `O_NOFOLLOW`, so a symlink swapped in
//! while a copy runs can make the copy fail but never lead it outside the root.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{ArchiveError, Result};

/// Symlinks followed in one resolution before giving up (Linux's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// A directory every path is resolved in. It may be a mounted rootfs or
/// `/proc/<pid>/root` of a running container; in the latter case mounts inside
/// the container (volumes, bind mounts) are seen as the container sees them.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` (following symlinks, so `/proc/<pid>/root` works) as a root.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ArchiveError::io(format!("opening the root {}", path.display()), e))?;
        Ok(Self { fd, path })
    }

    /// The path the root was opened from (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (components relative to the root) with `flags`, confined.
    pub(crate) fn open_in(&self, rel: &[OsString], flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let joined = join(rel);
        let path: &OsStr = if joined.is_empty() {
            OsStr::new(".")
        } else {
            &joined
        };
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        // EAGAIN: a rename elsewhere raced the lookup; the kernel asks to retry.
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(
                &self.fd,
                path,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                resolve,
            ) {
                Err(Errno::AGAIN) if tries < 32 => tries += 1,
                r => return r,
            }
        }
    }

    /// Opens directory `rel` for `O_PATH` use (a base for `*at` calls).
    pub(crate) fn open_dir(&self, rel: &[OsString]) -> rustix::io::Result<OwnedFd> {
        self.open_in(rel, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// Resolves `path` inside the root as the container would, following every
    /// symlink (confined to the root): the clean components of the result. A
    /// missing component ends symlink resolution; the rest is kept as given.
    pub(crate) fn resolve(&self, path: &[OsString]) -> Result<Vec<OsString>> {
        let mut todo: VecDeque<OsString> = path.iter().cloned().collect();
        let mut done: Vec<OsString> = Vec::new();
        let mut links = 0;
        let mut missing = false;
        while let Some(c) = todo.pop_front() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                done.pop();
                continue;
            }
            if missing {
                done.push(c);
                continue;
            }
            let dir = match self.open_dir(&done) {
                Ok(fd) => fd,
                Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
                    missing = true;
                    done.push(c);
                    continue;
                }
                Err(e) => return Err(ArchiveError::io(format!("resolving {}", show(&done)), e)),
            };
            match rustix::fs::readlinkat(&dir, c.as_os_str(), Vec::new()) {
                Ok(target) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(ArchiveError::io(
                            format!("resolving {}", show(path)),
                            Errno::LOOP,
                        ));
                    }
                    let target = OsString::from_vec(target.into_bytes());
                    if target.as_bytes().starts_with(b"/") {
                        done.clear();
                    }
                    for t in components(&target).into_iter().rev() {
                        todo.push_front(t);
                    }
                }
                Err(Errno::INVAL) => done.push(c),
                Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
                    missing = true;
                    done.push(c);
                }
                Err(e) => return Err(ArchiveError::io(format!("resolving {}", show(path)), e)),
            }
        }
        Ok(done)
    }
}

/// The components of a path (`/`-separated; empty and `.` dropped, `..` kept).
pub(crate) fn components(path: &OsStr) -> Vec<OsString> {
    path.as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsString::from_vec(c.to_vec()))
        .collect()
}

/// Components joined with `/` (no leading slash).
pub(crate) fn join(comps: &[OsString]) -> OsString {
    let mut out = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c.as_bytes());
    }
    OsString::from_vec(out)
}

/// `/a/b` for messages.
pub(crate) fn show(comps: &[OsString]) -> String {
    format!("/{}", join(comps).to_string_lossy())
}

/// A path as the API names it, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct RequestPath {
    /// The components as given (`..` kept: the resolution decides).
    pub comps: Vec<OsString>,
    /// Ends in `/` or `/.`: the last symlink is followed (as Docker does).
    pub follow_last: bool,
    /// Ends in `/.`: a copy takes the directory's contents.
    pub contents_only: bool,
}

impl RequestPath {
    pub fn parse(path: &str) -> Self {
        Self {
            comps: components(OsStr::new(path)),
            follow_last: path.ends_with('/') || path.ends_with("/.") || path == ".",
            contents_only: path.ends_with("/.") || path == ".",
        }
    }

    /// The last component of the cleaned absolute path (Docker's
    /// `filepath.Base`), `/` for the root.
    pub fn base(&self) -> String {
        let mut clean: Vec<&OsString> = Vec::new();
        for c in &self.comps {
            if c == ".." {
                clean.pop();
            } else {
                clean.push(c);
            }
        }
        match clean.last() {
            Some(c) => c.to_string_lossy().into_owned(),
            None => "/".to_string(),
        }
    }
}

/// A located path: an `O_PATH` fd of its directory and its name there (None:
/// the root itself).
pub(crate) struct Located {
    pub dir: OwnedFd,
    pub name: Option<OsString>,
    /// The resolved path, for messages and the stat's link target.
    pub comps: Vec<OsString>,
}

/// Finds `req` in `root`: every component but the last resolved (symlinks
/// followed, confined); the last followed only when `follow` says so.
pub(crate) fn locate(root: &Root, req: &RequestPath, follow: bool) -> Result<Located> {
    let comps = if follow || req.follow_last {
        root.resolve(&req.comps)?
    } else {
        match req.comps.split_last() {
            Some((last, parent)) if last != ".." => {
                let mut c = root.resolve(parent)?;
                c.push(last.clone());
                c
            }
            _ => root.resolve(&req.comps)?,
        }
    };
    let not_found = || ArchiveError::NotFound {
        path: show(&req.comps),
    };
    let (dir_comps, name) = match comps.split_last() {
        Some((last, parent)) => (parent.to_vec(), Some(last.clone())),
        None => (Vec::new(), None),
    };
    let dir = match root.open_dir(&dir_comps) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Err(not_found()),
        Err(e) => return Err(ArchiveError::io(format!("opening {}", show(&dir_comps)), e)),
    };
    Ok(Located { dir, name, comps })
}

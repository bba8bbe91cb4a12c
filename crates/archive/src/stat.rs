//! `stat` of a path as Docker's `X-Docker-Container-Path-Stat` header carries it.

use rustix::fs::{AtFlags, FileType, Stat};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::root::{locate, show, RequestPath, Root};

/// Go's `os.FileMode` type bits (the mode Docker's path stat carries).
pub mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
}

/// What Docker's path stat reports (JSON field names as Docker writes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go `os.FileMode` bits: permissions plus the type and special bits above.
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink, the absolute path it resolves to inside the root; empty
    /// otherwise.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & go_mode::DIR != 0
    }
}

/// The Go `os.FileMode` of a Unix `st_mode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match FileType::from_raw_mode(st_mode) {
        FileType::Directory => m |= go_mode::DIR,
        FileType::Symlink => m |= go_mode::SYMLINK,
        FileType::BlockDevice => m |= go_mode::DEVICE,
        FileType::CharacterDevice => m |= go_mode::DEVICE | go_mode::CHAR_DEVICE,
        FileType::Fifo => m |= go_mode::NAMED_PIPE,
        FileType::Socket => m |= go_mode::SOCKET,
        _ => {}
    }
    if st_mode & 0o4000 != 0 {
        m |= go_mode::SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= go_mode::SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= go_mode::STICKY;
    }
    m
}

pub(crate) fn rfc3339(sec: i64, nsec: i64) -> String {
    chrono::DateTime::from_timestamp(sec, u32::try_from(nsec).unwrap_or(0))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Stats `path` inside `root` without following a final symlink (unless the
/// path ends in `/` or `/.`), as `HEAD /containers/{id}/archive` does.
pub fn stat(root: &Root, path: &str) -> Result<PathStat> {
    let req = RequestPath::parse(path);
    let loc = locate(root, &req, false)?;
    let st: Stat = match &loc.name {
        Some(n) => rustix::fs::statat(&loc.dir, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW),
        None => rustix::fs::fstat(&loc.dir),
    }
    .map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR => ArchiveError::NotFound {
            path: show(&req.comps),
        },
        e => ArchiveError::io(format!("stat {}", show(&loc.comps)), e),
    })?;
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        show(&root.resolve(&loc.comps)?)
    } else {
        String::new()
    };
    Ok(PathStat {
        name: req.base(),
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
        mtime: rfc3339(st.st_mtime, st.st_mtime_nsec as i64),
        link_target,
    })
}

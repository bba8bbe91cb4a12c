//! Copy-up: a new (empty) volume mounted over a directory of the image is first
//! filled with that directory's content, with ownership, modes, times, symlinks,
//! hard links and special files kept, as Docker does unless `nocopy` is given.
//!
//! The source directory is located inside the container's rootfs with `openat2`
//! and `RESOLVE_IN_ROOT`, so a symlink in the image (`/data -> /etc` or
//! `-> ../../..`) is resolved as the container would see it and never leads to
//! the host. The walk below it does not follow symlinks; it runs before the
//! container starts, while nothing else writes to the rootfs.

use std::collections::HashMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

use crate::error::{DaemonError, Result};

/// What a copy-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyUp {
    /// The image has a directory there and the volume was empty: copied.
    Copied,
    /// The volume already has content: left alone.
    NotEmpty,
    /// The image has no directory at that path.
    NoSource,
}

/// Fills `dest` (the volume's directory) from `path` (absolute, in the
/// container) under `rootfs` if `dest` is empty.
pub fn copy_up(rootfs: &Path, path: &str, dest: &Path) -> Result<CopyUp> {
    let io = |what: String| move |e: std::io::Error| DaemonError::io(what, e);
    let mut entries = fs::read_dir(dest).map_err(io(format!("reading {}", dest.display())))?;
    if entries.next().is_some() {
        return Ok(CopyUp::NotEmpty);
    }
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| DaemonError::io(format!("opening {}", rootfs.display()), e.into()))?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let src = match rustix::fs::openat2(
        &root,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => {
            return Ok(CopyUp::NoSource)
        }
        Err(e) => {
            return Err(DaemonError::io(
                format!("opening {path} in the container's image for copy-up"),
                e.into(),
            ))
        }
    };
    // The located directory, by its fd: no path lookup can leave it again.
    let base = PathBuf::from(format!("/proc/self/fd/{}", src.as_raw_fd()));
    let mut links = HashMap::new();
    copy_tree(&base, dest, &mut links)?;
    let meta = fs::metadata(&base).map_err(io(format!("reading {path} in the image")))?;
    copy_owner_mode_times(&meta, dest, false)?;
    Ok(CopyUp::Copied)
}

/// Copies the entries of directory `src` into existing directory `dst`.
fn copy_tree(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> Result<()> {
    let rd =
        fs::read_dir(src).map_err(|e| DaemonError::io(format!("reading {}", src.display()), e))?;
    for entry in rd {
        let entry = entry.map_err(|e| DaemonError::io(format!("reading {}", src.display()), e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from)
            .map_err(|e| DaemonError::io(format!("reading {}", from.display()), e))?;
        let ft = meta.file_type();
        let wrap = |e: std::io::Error| DaemonError::io(format!("copying to {}", to.display()), e);
        if !ft.is_dir() && meta.nlink() > 1 {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &to).map_err(wrap)?;
                continue;
            }
            links.insert((meta.dev(), meta.ino()), to.clone());
        }
        if ft.is_dir() {
            fs::create_dir(&to).map_err(wrap)?;
            copy_tree(&from, &to, links)?;
            copy_owner_mode_times(&meta, &to, false)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&from)
                .map_err(|e| DaemonError::io(format!("reading {}", from.display()), e))?;
            std::os::unix::fs::symlink(&target, &to).map_err(wrap)?;
            copy_owner_mode_times(&meta, &to, true)?;
        } else if ft.is_file() {
            // copy_file_range/sendfile under the hood; sparse holes are filled.
            fs::copy(&from, &to).map_err(wrap)?;
            copy_owner_mode_times(&meta, &to, false)?;
        } else {
            // FIFOs, sockets, device nodes.
            let kind = rustix::fs::FileType::from_raw_mode(meta.mode());
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &to,
                kind,
                Mode::from_raw_mode(meta.mode() & 0o7777),
                meta.rdev(),
            )
            .map_err(|e| wrap(e.into()))?;
            copy_owner_mode_times(&meta, &to, false)?;
        }
    }
    Ok(())
}

/// Gives `to` the owner, mode (setuid/setgid/sticky included) and times of `meta`.
fn copy_owner_mode_times(meta: &fs::Metadata, to: &Path, symlink: bool) -> Result<()> {
    let wrap = |e: std::io::Error| DaemonError::io(format!("setting owner of {}", to.display()), e);
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).map_err(wrap)?;
    if !symlink {
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(wrap)?;
    }
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(rustix::fs::CWD, to, &ts, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| wrap(e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn copies_tree_with_modes_links_and_owner() {
        let t = tempfile::tempdir().unwrap();
        let rootfs = t.path().join("rootfs");
        let src = rootfs.join("srv/data");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.txt"), b"hello").unwrap();
        fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(src.join("a.txt"), src.join("hard")).unwrap();
        fs::write(src.join("sub/b"), b"b").unwrap();
        fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o1750)).unwrap();
        symlink("../a.txt", src.join("sub/link")).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o711)).unwrap();
        let am_root = nix::unistd::geteuid().is_root();
        if am_root {
            std::os::unix::fs::lchown(src.join("sub/b"), Some(1234), Some(4321)).unwrap();
        }
        let dest = t.path().join("vol");
        fs::create_dir(&dest).unwrap();

        assert_eq!(
            copy_up(&rootfs, "/srv/data", &dest).unwrap(),
            CopyUp::Copied
        );
        assert_eq!(fs::read(dest.join("a.txt")).unwrap(), b"hello");
        assert_eq!(mode(&dest.join("a.txt")), 0o640);
        assert_eq!(mode(&dest.join("sub")), 0o1750);
        assert_eq!(mode(&dest), 0o711);
        assert_eq!(
            fs::read_link(dest.join("sub/link")).unwrap(),
            PathBuf::from("../a.txt")
        );
        let a = fs::metadata(dest.join("a.txt")).unwrap();
        let h = fs::metadata(dest.join("hard")).unwrap();
        assert_eq!(a.ino(), h.ino(), "hard links stay linked");
        assert_eq!(
            fs::metadata(dest.join("sub/b")).unwrap().mtime(),
            fs::metadata(src.join("sub/b")).unwrap().mtime()
        );
        if am_root {
            let m = fs::metadata(dest.join("sub/b")).unwrap();
            assert_eq!((m.uid(), m.gid()), (1234, 4321));
        } else {
            println!("SKIPPED: ownership part needs root");
        }

        // A volume with content is left alone.
        assert_eq!(
            copy_up(&rootfs, "/srv/data", &dest).unwrap(),
            CopyUp::NotEmpty
        );
        // Nothing in the image at the path.
        let empty = t.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert_eq!(copy_up(&rootfs, "/nope", &empty).unwrap(), CopyUp::NoSource);
    }

    #[test]
    fn symlinks_in_the_image_resolve_inside_the_rootfs() {
        let t = tempfile::tempdir().unwrap();
        let rootfs = t.path().join("rootfs");
        fs::create_dir_all(rootfs.join("inside")).unwrap();
        fs::write(rootfs.join("inside/mine"), b"in").unwrap();
        // A host directory the image's symlink names by absolute path and by `..`.
        let host = t.path().join("host");
        fs::create_dir(&host).unwrap();
        fs::write(host.join("secret"), b"host").unwrap();
        symlink(&host, rootfs.join("abs")).unwrap();
        symlink("../../../../../../host", rootfs.join("up")).unwrap();
        for p in ["/abs", "/up"] {
            let dest = t.path().join(format!("vol{}", p.replace('/', "_")));
            fs::create_dir(&dest).unwrap();
            let r = copy_up(&rootfs, p, &dest).unwrap();
            assert_eq!(r, CopyUp::NoSource, "{p}");
            assert!(!dest.join("secret").exists(), "{p} escaped the rootfs");
        }
        // A symlink to a directory inside the rootfs is followed, inside.
        symlink("/inside", rootfs.join("rel")).unwrap();
        let dest = t.path().join("vol_rel");
        fs::create_dir(&dest).unwrap();
        assert_eq!(copy_up(&rootfs, "/rel", &dest).unwrap(), CopyUp::Copied);
        assert_eq!(fs::read(dest.join("mine")).unwrap(), b"in");
    }
}

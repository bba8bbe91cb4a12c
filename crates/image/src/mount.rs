//! overlayfs mounting of container read-write layers.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

use crate::ImageError;

fn mount_err(target: &Path, what: &str, e: Errno) -> ImageError {
    ImageError::Io {
        context: format!("mounting overlay at {}: {what}", target.display()),
        source: e.into(),
    }
}

fn check_path(p: &Path) -> Result<&str, ImageError> {
    let s = p.to_str().ok_or_else(|| {
        ImageError::InvalidArgument(format!("overlay path {} is not UTF-8", p.display()))
    })?;
    if s.contains([',', ':', '\\']) {
        return Err(ImageError::InvalidArgument(format!(
            "overlay path {s} contains ',', ':' or '\\', which overlayfs options cannot express; use a data root without them"
        )));
    }
    Ok(s)
}

/// The mount(2) data string for an overlay mount.
pub(crate) fn overlay_options(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
) -> Result<String, ImageError> {
    let lower: Vec<&str> = lowers
        .iter()
        .map(|p| check_path(p))
        .collect::<Result<_, _>>()?;
    let mut s = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        check_path(upper)?,
        check_path(work)?
    );
    if index_off_supported() {
        s.push_str(",index=off");
    }
    Ok(s)
}

/// Like moby's overlay2: turn the inode index off where the kernel knows the option,
/// so layers shared by several containers never trip its consistency checks.
fn index_off_supported() -> bool {
    Path::new("/sys/module/overlay/parameters/index").exists()
}

/// Whether `target` is a mount point (per /proc/self/mountinfo).
pub fn is_mount_point(target: &Path) -> bool {
    let Ok(canon) = target.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(want.as_ref()))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b[i] == b'\\'
            && b.len() >= i + 4
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
        if octal {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts an overlay at `target`. When the option string does not fit in one page
/// (mount(2) truncates at the page size, moby #26380) the new mount API is used,
/// which takes each lower dir separately (`lowerdir+`, Linux 6.8+).
pub(crate) fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    let data = overlay_options(lowers, upper, work)?;
    let page = rustix::param::page_size();
    if data.len() < page {
        let c = CString::new(data)
            .map_err(|_| ImageError::InvalidArgument("overlay options contain NUL".into()))?;
        return rustix::mount::mount(
            "overlay",
            target,
            "overlay",
            MountFlags::empty(),
            Some(c.as_c_str()),
        )
        .map_err(|e| mount_err(target, "mount(2)", e));
    }
    tracing::debug!(
        len = data.len(),
        page,
        layers = lowers.len(),
        "overlay options exceed a page; using fsconfig lowerdir+"
    );
    mount_overlay_fsconfig(lowers, upper, work, target).map_err(|e| match e {
        ImageError::Io { source, .. } if source.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {
            ImageError::InvalidArgument(format!(
                "image has too many layers ({}) for one overlay mount on this kernel: the options are {} bytes, over the {page}-byte page limit, and the kernel does not support lowerdir+ (Linux 6.8+)",
                lowers.len(), data.len()
            ))
        }
        e => e,
    })
}

fn mount_overlay_fsconfig(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    use rustix::mount::{
        fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags,
        FsOpenFlags, MountAttrFlags, MoveMountFlags,
    };
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| mount_err(target, "fsopen", e))?;
    for l in lowers {
        fsconfig_set_string(&fs, "lowerdir+", check_path(l)?)
            .map_err(|e| mount_err(target, "lowerdir+", e))?;
    }
    fsconfig_set_string(&fs, "upperdir", check_path(upper)?)
        .map_err(|e| mount_err(target, "upperdir", e))?;
    fsconfig_set_string(&fs, "workdir", check_path(work)?)
        .map_err(|e| mount_err(target, "workdir", e))?;
    if index_off_supported() {
        fsconfig_set_string(&fs, "index", "off").map_err(|e| mount_err(target, "index=off", e))?;
    }
    fsconfig_create(&fs).map_err(|e| mount_err(target, "fsconfig create", e))?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| mount_err(target, "fsmount", e))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| mount_err(target, "move_mount", e))
}

/// Unmounts `target`; not mounted (or missing) is fine; busy -> lazy detach.
pub(crate) fn unmount(target: &Path) -> Result<(), ImageError> {
    match rustix::mount::unmount(target, UnmountFlags::NOFOLLOW) {
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::BUSY) => {
            tracing::warn!(target = %target.display(), "mount busy; detaching lazily");
            rustix::mount::unmount(target, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW).map_err(
                |e| ImageError::Io {
                    context: format!("unmounting {} (lazy)", target.display()),
                    source: e.into(),
                },
            )
        }
        Err(e) => Err(ImageError::Io {
            context: format!("unmounting {}", target.display()),
            source: e.into(),
        }),
    }
}

#[cfg(test)]
pub(crate) fn unescape_mountinfo_for_test(s: &str) -> String {
    unescape_mountinfo(s)
}

//! The mount table of a created container, checked against its spec.
//!
//! libcontainer 0.7 does not honour every mount option of the spec: on cgroup v1 it
//! mounts the `/sys/fs/cgroup` tmpfs and every controller read-write although the
//! spec asks for `ro` (a container could then lift its own `pids.max` or memory
//! limit), and it never applies the propagation options of bind mounts. runc does.
//!
//! So, once libcontainer has created a container (its init has pivoted into the
//! rootfs and waits to be started), the shim enters the container's mount namespace
//! from a thread of its own and, for every mount of the spec, its read-only paths,
//! its masked paths and the root:
//!
//! 1. applies what is missing with `mount_setattr(2)`: the `ro`, `nosuid`, `nodev`
//!    and `noexec` attributes (recursively for the cgroup mount and for the `r*`
//!    variants) and the propagation;
//! 2. reads the mount table again and verifies that each mount carries what the spec
//!    asked for; any difference is an error and the container is not started.
//!
//! Paths are resolved inside the container's root (the thread `chroot`s into it),
//! so a symlinked destination is checked where the runtime mounted it, and nothing
//! outside the container can be reached. The mount table comes from
//! `/proc/<init>/mountinfo`, whose paths are relative to the container's root.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

/// Mount attributes (`MOUNT_ATTR_*` of `mount_setattr(2)`).
const RDONLY: u64 = libc::MOUNT_ATTR_RDONLY;
const NOSUID: u64 = libc::MOUNT_ATTR_NOSUID;
const NODEV: u64 = libc::MOUNT_ATTR_NODEV;
const NOEXEC: u64 = libc::MOUNT_ATTR_NOEXEC;

/// Mount propagation, as the spec's options name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Slave,
    Shared,
    Unbindable,
}

impl Propagation {
    fn ms_flag(self) -> u64 {
        match self {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::Slave => libc::MS_SLAVE,
            Propagation::Shared => libc::MS_SHARED,
            Propagation::Unbindable => libc::MS_UNBINDABLE,
        }
    }

    /// Whether a mount with these mountinfo optional fields has this propagation.
    fn matches(self, fields: &[String]) -> bool {
        let has = |prefix: &str| fields.iter().any(|f| f.starts_with(prefix));
        match self {
            Propagation::Private => !has("shared:") && !has("master:") && !has("unbindable"),
            Propagation::Slave => has("master:") && !has("shared:"),
            Propagation::Shared => has("shared:"),
            Propagation::Unbindable => has("unbindable"),
        }
    }
}

/// Why a path is checked (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An entry of `mounts`.
    Mount,
    /// An entry of `linux.readonlyPaths`.
    ReadonlyPath,
    /// An entry of `linux.maskedPaths`.
    MaskedPath,
    /// `root.readonly`.
    Root,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Mount => "mount",
            Source::ReadonlyPath => "read-only path",
            Source::MaskedPath => "masked path",
            Source::Root => "root filesystem",
        })
    }
}

/// What the spec asks of one path of the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub path: PathBuf,
    pub source: Source,
    /// `MOUNT_ATTR_*` bits the mount must have.
    pub attrs: u64,
    /// The attributes also hold for every mount below this one.
    pub recursive: bool,
    pub propagation: Option<(Propagation, bool)>,
    /// The path must be a mount point of its own (not a directory of its parent's
    /// mount).
    pub mount_point: bool,
    /// A path that does not exist in the container is not an error (masked and
    /// read-only paths: runc skips missing ones too).
    pub optional: bool,
}

/// The attributes, recursion and propagation that mount `options` ask for; the last
/// of contradicting options wins, as in runc.
fn parse_options(options: &[String]) -> (u64, u64, Option<(Propagation, bool)>) {
    let (mut attrs, mut recursive_attrs, mut propagation) = (0u64, 0u64, None);
    for option in options {
        let (set, clear, recursive) = match option.as_str() {
            "ro" => (RDONLY, 0, false),
            "rw" => (0, RDONLY, false),
            "nosuid" => (NOSUID, 0, false),
            "suid" => (0, NOSUID, false),
            "nodev" => (NODEV, 0, false),
            "dev" => (0, NODEV, false),
            "noexec" => (NOEXEC, 0, false),
            "exec" => (0, NOEXEC, false),
            "rro" => (RDONLY, 0, true),
            "rrw" => (0, RDONLY, true),
            "rnosuid" => (NOSUID, 0, true),
            "rsuid" => (0, NOSUID, true),
            "rnodev" => (NODEV, 0, true),
            "rdev" => (0, NODEV, true),
            "rnoexec" => (NOEXEC, 0, true),
            "rexec" => (0, NOEXEC, true),
            other => {
                let p = match other {
                    "private" => Some((Propagation::Private, false)),
                    "rprivate" => Some((Propagation::Private, true)),
                    "slave" => Some((Propagation::Slave, false)),
                    "rslave" => Some((Propagation::Slave, true)),
                    "shared" => Some((Propagation::Shared, false)),
                    "rshared" => Some((Propagation::Shared, true)),
                    "unbindable" => Some((Propagation::Unbindable, false)),
                    "runbindable" => Some((Propagation::Unbindable, true)),
                    _ => None,
                };
                if p.is_some() {
                    propagation = p;
                }
                continue;
            }
        };
        if recursive {
            recursive_attrs = (recursive_attrs | set) & !clear;
        } else {
            attrs = (attrs | set) & !clear;
        }
    }
    (attrs, recursive_attrs, propagation)
}

/// Everything the spec asks of the container's mount table: one expectation per
/// mount (split in two when some attributes are recursive), read-only path, masked
/// path, and the root when it is read-only. Mounts whose destination a later mount
/// replaces are left out.
pub fn expectations(spec: &Spec) -> Vec<Expectation> {
    let mut out: Vec<Expectation> = Vec::new();
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    for (i, mount) in mounts.iter().enumerate() {
        let dest = mount.destination();
        if mounts[i + 1..].iter().any(|m| m.destination() == dest) {
            continue;
        }
        let options = mount.options().as_deref().unwrap_or_default();
        let (mut attrs, recursive_attrs, propagation) = parse_options(options);
        let is_cgroup = matches!(mount.typ().as_deref(), Some("cgroup" | "cgroup2"));
        let is_bind = mount.typ().as_deref() == Some("bind")
            || options.iter().any(|o| o == "bind" || o == "rbind");
        // libcontainer and runc clear `ro` on /dev (it must stay writable to
        // create device nodes); the spec's `ro` there has never meant anything.
        if dest == Path::new("/dev") {
            attrs &= !RDONLY;
        }
        let propagation = propagation.filter(|_| is_bind);
        if attrs != 0 || propagation.is_some() {
            out.push(Expectation {
                path: dest.clone(),
                source: Source::Mount,
                attrs,
                // A cgroup v1 mount is a tmpfs with one mount per controller below
                // it: all of them carry the cgroup mount's attributes (runc).
                recursive: is_cgroup,
                propagation,
                mount_point: true,
                optional: false,
            });
        }
        if recursive_attrs != 0 {
            out.push(Expectation {
                path: dest.clone(),
                source: Source::Mount,
                attrs: recursive_attrs,
                recursive: true,
                propagation: None,
                mount_point: true,
                optional: false,
            });
        }
    }
    if let Some(linux) = spec.linux() {
        for path in linux.readonly_paths().iter().flatten() {
            out.push(Expectation {
                path: PathBuf::from(path),
                source: Source::ReadonlyPath,
                attrs: RDONLY,
                recursive: false,
                propagation: None,
                mount_point: true,
                optional: true,
            });
        }
        for path in linux.masked_paths().iter().flatten() {
            out.push(Expectation {
                path: PathBuf::from(path),
                source: Source::MaskedPath,
                attrs: 0,
                recursive: false,
                propagation: None,
                mount_point: true,
                optional: true,
            });
        }
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        out.push(Expectation {
            path: PathBuf::from("/"),
            source: Source::Root,
            attrs: RDONLY,
            recursive: false,
            propagation: None,
            mount_point: false,
            optional: false,
        });
    }
    out
}

/// Errors of the mount check.
#[derive(Debug, thiserror::Error)]
pub enum MountCheckError {
    /// The container's mount table does not give what the spec asks for.
    #[error("the container's mounts differ from its spec: {}", .0.join("; "))]
    Mismatch(Vec<String>),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MountCheckError {
    let context = context.into();
    move |source| MountCheckError::Io { context, source }
}

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub parent: u64,
    pub mount_point: PathBuf,
    /// The per-mount options (`rw,nosuid,...`).
    pub options: Vec<String>,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub fields: Vec<String>,
    pub fs_type: String,
}

impl MountInfo {
    /// The `MOUNT_ATTR_*` bits among [`RDONLY`], [`NOSUID`], [`NODEV`], [`NOEXEC`]
    /// this mount has.
    pub fn attrs(&self) -> u64 {
        self.options.iter().fold(0, |acc, o| {
            acc | match o.as_str() {
                "ro" => RDONLY,
                "nosuid" => NOSUID,
                "nodev" => NODEV,
                "noexec" => NOEXEC,
                _ => 0,
            }
        })
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |acc, d| acc.wrapping_mul(8).wrapping_add(d - b'0')),
                );
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsStr::from_bytes(&out))
}

/// Parses the text of a mountinfo file; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut it = before.split(' ');
            let id = it.next()?.parse().ok()?;
            let parent = it.next()?.parse().ok()?;
            let _devno = it.next()?;
            let _root = it.next()?;
            let mount_point = unescape(it.next()?);
            let options = it.next()?.split(',').map(str::to_owned).collect();
            let fields = it.map(str::to_owned).collect();
            let fs_type = after.split(' ').next()?.to_owned();
            Some(MountInfo {
                id,
                parent,
                mount_point,
                options,
                fields,
                fs_type,
            })
        })
        .collect()
}

/// The mounts below `id` (children, grandchildren, ...), not `id` itself.
fn descendants(table: &[MountInfo], id: u64) -> Vec<&MountInfo> {
    let mut out = Vec::new();
    let mut frontier = vec![id];
    while let Some(parent) = frontier.pop() {
        for m in table
            .iter()
            .filter(|m| m.parent == parent && m.id != parent)
        {
            out.push(m);
            frontier.push(m.id);
        }
    }
    out
}

const ATTR_NAMES: [(u64, &str); 4] = [
    (RDONLY, "ro"),
    (NOSUID, "nosuid"),
    (NODEV, "nodev"),
    (NOEXEC, "noexec"),
];

fn attr_names(attrs: u64) -> String {
    ATTR_NAMES
        .iter()
        .filter(|(bit, _)| attrs & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// A path of the container opened inside its root: the mount it is on, and whether
/// it is that mount's root.
struct Resolved {
    fd: OwnedFd,
    mount_id: u64,
    is_mount_point: bool,
}

/// What [`check`] does with mounts that lack an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Apply what is missing with `mount_setattr`.
    Enforce,
    /// Report what is missing.
    Verify,
}

/// Applies the attributes and propagation that `expected` asks for and the mounts
/// of the container whose init is `pid` lack, then verifies the result. Runs in a
/// thread of its own that enters the container's mount namespace and root; the
/// calling thread is not affected.
pub fn enforce_and_verify(pid: u32, expected: &[Expectation]) -> Result<(), MountCheckError> {
    if expected.is_empty() {
        return Ok(());
    }
    let open_dir = |path: String| -> Result<OwnedFd, MountCheckError> {
        let fd = nix::fcntl::open(
            path.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| MountCheckError::Io {
            context: format!("opening {path}"),
            source: e.into(),
        })?;
        Ok(fd)
    };
    let mntns = open_dir(format!("/proc/{pid}/ns/mnt"))?;
    let root = open_dir(format!("/proc/{pid}/root"))?;
    // The mount table is read through the host's /proc, which the checking thread
    // no longer sees once it is in the container's root: keep a directory fd.
    let proc_dir = open_dir(format!("/proc/{pid}"))?;
    let read_table = || -> Result<Vec<MountInfo>, MountCheckError> {
        let context = || format!("reading /proc/{pid}/mountinfo");
        let fd = nix::fcntl::openat(
            proc_dir.as_fd(),
            "mountinfo",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| MountCheckError::Io {
            context: context(),
            source: e.into(),
        })?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text)
            .map_err(io_error(context()))?;
        Ok(parse_mountinfo(&text))
    };
    let first = read_table()?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<(), MountCheckError> {
                enter(&mntns, &root)?;
                let problems = check(expected, &first, Mode::Enforce)?;
                if problems.is_empty() {
                    // Nothing was missing: the table read is still current.
                    return Ok(());
                }
                tracing::debug!(?problems, "applied mount attributes libcontainer left out");
                let table = read_table()?;
                let problems = check(expected, &table, Mode::Verify)?;
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(MountCheckError::Mismatch(problems))
                }
            })
            .join()
            .unwrap_or_else(|_| {
                Err(MountCheckError::Mismatch(vec![
                    "the mount check panicked".to_owned()
                ]))
            })
    })
}

/// Moves the calling thread into the mount namespace `mntns` and the root `root`
/// (a directory fd of the container's root). The thread first stops sharing its
/// filesystem attributes with the rest of the process.
fn enter(mntns: &OwnedFd, root: &OwnedFd) -> Result<(), MountCheckError> {
    use nix::sched::CloneFlags;
    let errno = |context: &'static str| {
        move |e: nix::Error| MountCheckError::Io {
            context: context.to_owned(),
            source: e.into(),
        }
    };
    nix::sched::unshare(CloneFlags::CLONE_FS).map_err(errno("unshare(CLONE_FS)"))?;
    nix::sched::setns(mntns.as_fd(), CloneFlags::CLONE_NEWNS)
        .map_err(errno("entering the container's mount namespace"))?;
    nix::unistd::fchdir(root.as_fd()).map_err(errno("entering the container's root"))?;
    nix::unistd::chroot(".").map_err(errno("chroot into the container's root"))?;
    Ok(())
}

/// Opens `path` inside the current root (the container's), following symlinks
/// there as the runtime did when it mounted on it.
fn resolve(path: &Path) -> std::io::Result<Resolved> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let (mount_id, is_mount_point) = mount_of(&fd)?;
    Ok(Resolved {
        fd,
        mount_id,
        is_mount_point,
    })
}

/// The id of the mount `fd` is on, and whether `fd` is that mount's root
/// (`statx`: `STATX_MNT_ID` and `STATX_ATTR_MOUNT_ROOT`, Linux 5.8).
fn mount_of(fd: &OwnedFd) -> std::io::Result<(u64, bool)> {
    let mut buf = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `fd` is an open fd, the path an empty NUL-terminated string and
    // `buf` a writable statx struct; the kernel writes at most its size.
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            buf.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statx succeeded and filled the struct (zeroed before).
    let stx = unsafe { buf.assume_init() };
    let mount_root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_mask & libc::STATX_MNT_ID == 0 || stx.stx_attributes_mask & mount_root == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the kernel does not report mount ids (statx, Linux 5.8)",
        ));
    }
    Ok((stx.stx_mnt_id, stx.stx_attributes & mount_root != 0))
}

/// `mount_setattr(2)` on the mount `fd` is the root of.
fn set_attrs(fd: &OwnedFd, attrs: u64, propagation: u64, recursive: bool) -> std::io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: attrs,
        attr_clr: 0,
        propagation,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is an empty NUL-terminated string, `attr` a valid
    // mount_attr of the size passed; the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Compares every expectation with `table`; in [`Mode::Enforce`] applies what is
/// missing. Returns a description of each difference found (before enforcing).
fn check(
    expected: &[Expectation],
    table: &[MountInfo],
    mode: Mode,
) -> Result<Vec<String>, MountCheckError> {
    let by_id: HashMap<u64, &MountInfo> = table.iter().map(|m| (m.id, m)).collect();
    let mut problems = Vec::new();
    for e in expected {
        let what = format!("{} {}", e.source, e.path.display());
        let resolved = match resolve(&e.path) {
            Ok(r) => r,
            Err(err) if e.optional && err.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(err) => {
                problems.push(format!("{what}: cannot be opened in the container: {err}"));
                continue;
            }
        };
        if e.mount_point && !resolved.is_mount_point {
            problems.push(format!("{what} is not mounted"));
            continue;
        }
        let Some(mount) = by_id.get(&resolved.mount_id) else {
            problems.push(format!(
                "{what}: mount {} is not in the mount table",
                resolved.mount_id
            ));
            continue;
        };
        let mut targets = vec![*mount];
        if e.recursive {
            targets.extend(descendants(table, mount.id));
        }
        let mut missing_any = 0;
        for m in &targets {
            let missing = e.attrs & !m.attrs();
            if missing != 0 {
                missing_any |= missing;
                problems.push(format!(
                    "{what}: {} lacks {} ({})",
                    m.mount_point.display(),
                    attr_names(missing),
                    m.options.join(",")
                ));
            }
        }
        let propagation_wrong = e.propagation.is_some_and(|(p, recursive)| {
            let mut mounts = vec![*mount];
            if recursive {
                mounts.extend(descendants(table, mount.id));
            }
            mounts.iter().any(|m| !p.matches(&m.fields))
        });
        if let Some((p, _)) = e.propagation.filter(|_| propagation_wrong) {
            problems.push(format!(
                "{what}: propagation is not {p:?} ({})",
                mount.fields.join(" ")
            ));
        }
        if mode == Mode::Enforce && (missing_any != 0 || propagation_wrong) {
            if missing_any != 0 {
                set_attrs(&resolved.fd, missing_any, 0, e.recursive)
                    .map_err(io_error(format!("mount_setattr on {what}")))?;
            }
            if let Some((p, recursive)) = e.propagation.filter(|_| propagation_wrong) {
                set_attrs(&resolved.fd, 0, p.ms_flag(), recursive)
                    .map_err(io_error(format!("setting the propagation of {what}")))?;
            }
        }
    }
    Ok(problems)
}

/// Opens a path of the host for tests.
#[cfg(test)]
fn open_path(path: &Path) -> OwnedFd {
    use std::os::fd::FromRawFd;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string; the returned fd is checked and owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    assert!(fd >= 0, "open {}", path.display());
    // SAFETY: `fd` was just opened and is owned by nothing else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> Spec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn options_last_wins_and_recursive_variants() {
        let o = |s: &[&str]| parse_options(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(o(&["ro", "nosuid"]), (RDONLY | NOSUID, 0, None));
        assert_eq!(o(&["ro", "rw"]), (0, 0, None));
        assert_eq!(
            o(&["rro", "rprivate"]),
            (0, RDONLY, Some((Propagation::Private, true)))
        );
        assert_eq!(
            o(&["bind", "shared", "noexec", "slave"]),
            (NOEXEC, 0, Some((Propagation::Slave, false)))
        );
    }

    #[test]
    fn expectations_of_a_docker_like_spec() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
                {"destination": "/data", "type": "bind", "source": "/x", "options": ["rbind", "rprivate"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["noexec"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]}
            ],
            "linux": {"readonlyPaths": ["/proc/sys"], "maskedPaths": ["/proc/kcore"]}
        }));
        let e = expectations(&s);
        let find = |p: &str| {
            e.iter()
                .filter(|x| x.path == Path::new(p))
                .collect::<Vec<_>>()
        };
        assert_eq!(find("/proc")[0].attrs, NOSUID | NOEXEC | NODEV);
        assert_eq!(find("/dev")[0].attrs, NOSUID, "ro on /dev is ignored");
        let cg = find("/sys/fs/cgroup")[0];
        assert!(cg.recursive && cg.attrs & RDONLY != 0);
        assert_eq!(
            find("/data")[0].propagation,
            Some((Propagation::Private, true))
        );
        let shm = find("/dev/shm");
        assert_eq!(shm.len(), 1, "a replaced mount is not checked");
        assert_eq!(shm[0].attrs, NOEXEC);
        assert!(find("/tmp").is_empty(), "nothing asked of /tmp");
        assert!(find("/proc/sys")[0].optional && find("/proc/sys")[0].attrs == RDONLY);
        assert_eq!(find("/proc/kcore")[0].source, Source::MaskedPath);
        assert_eq!(find("/")[0].source, Source::Root);
    }

    #[test]
    fn mountinfo_is_parsed_with_escapes_and_fields() {
        let text = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime master:5 - cgroup cgroup rw,pids
40 22 0:30 / /with\\040space rw - tmpfs tmpfs rw
garbage line
";
        let t = parse_mountinfo(text);
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].fields, vec!["shared:1"]);
        assert_eq!(t[1].attrs(), RDONLY | NOSUID | NODEV | NOEXEC);
        assert_eq!(t[2].attrs(), NOSUID | NODEV | NOEXEC);
        assert_eq!(t[3].mount_point, Path::new("/with space"));
        let below: Vec<u64> = descendants(&t, 22).iter().map(|m| m.id).collect();
        assert_eq!(below.len(), 3);
        assert!(Propagation::Slave.matches(&t[2].fields));
        assert!(!Propagation::Private.matches(&t[2].fields));
        assert!(Propagation::Private.matches(&t[1].fields));
    }

    #[test]
    fn a_host_path_resolves_to_its_mount() {
        // "/" is always a mount point; /proc is a mount of its own on any host
        // these tests run on.
        let root = resolve(Path::new("/")).unwrap();
        assert!(root.is_mount_point);
        let proc_ = resolve(Path::new("/proc")).unwrap();
        assert!(proc_.is_mount_point);
        assert_ne!(proc_.mount_id, root.mount_id);
        let fd = open_path(Path::new("/proc/self"));
        assert_eq!(mount_of(&fd).unwrap(), (proc_.mount_id, false));
        let file = resolve(Path::new("/proc/self/status")).unwrap();
        assert_eq!(
            (file.mount_id, file.is_mount_point),
            (proc_.mount_id, false)
        );
    }
}

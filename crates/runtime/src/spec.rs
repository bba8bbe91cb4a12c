//! OCI runtime spec generation with Docker's defaults (moby `daemon/pkg/oci/defaults.go`,
//! `daemon/oci_linux.go`, `profiles/seccomp`): capabilities, namespaces, masked and
//! read-only paths, `/dev` mounts and devices, device cgroup rules, rlimits, seccomp,
//! user resolution against the image's `/etc/passwd` and `/etc/group`.
//!
//! The spec is assembled as JSON and then parsed into `oci_spec` types, which keeps the
//! shape next to what runc's `config.json` looks like and validates it on the way.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Everything the daemon decided about a container, turned into an OCI spec by
/// [`generate_spec`].
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub id: String,
    /// The mounted root filesystem (the daemon mounts it).
    pub rootfs: PathBuf,
    /// Entrypoint + cmd, resolved by the daemon.
    pub args: Vec<String>,
    /// `KEY=VALUE`; PATH (if missing), HOSTNAME, TERM (tty) and HOME are added here.
    pub env: Vec<String>,
    /// "/" if empty.
    pub cwd: String,
    /// docker `-u`: "", "name", "uid", "uid:gid", "name:group".
    pub user: String,
    pub hostname: String,
    /// `--domainname` (the UTS namespace's NIS domain name); empty = none.
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub read_only: bool,
    /// Extra mounts (hosts/hostname/resolv.conf binds, volumes, `--tmpfs`), after the
    /// default ones: a mount on `/dev/shm` etc. replaces the default.
    pub mounts: Vec<MountSpec>,
    pub netns: NetNs,
    pub resources: Resources,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    pub ulimits: Vec<Ulimit>,
    /// `linux.cgroupsPath`, decided by the caller (the daemon's plan); empty:
    /// `/berth/<id>`.
    pub cgroups_path: String,
    /// `--init`: host path of an init binary, bind-mounted at /sbin/docker-init and
    /// prepended to args (`/sbin/docker-init -- args...`).
    pub init: Option<PathBuf>,
    pub sysctls: BTreeMap<String, String>,
    /// None = Docker's defaults.
    pub masked_paths: Option<Vec<String>>,
    /// None = Docker's defaults.
    pub readonly_paths: Option<Vec<String>>,
}

/// An extra mount.
#[derive(Debug, Clone, Default)]
pub struct MountSpec {
    pub destination: String,
    pub source: String,
    /// "bind" | "tmpfs" (any other filesystem type is passed through).
    pub kind: String,
    pub options: Vec<String>,
}

/// The container's network namespace.
#[derive(Debug, Clone, Default)]
pub enum NetNs {
    /// Share the host's.
    Host,
    /// An existing netns file prepared by the network crate.
    Path(PathBuf),
    /// A fresh, empty one.
    #[default]
    New,
}

/// Resource limits (Docker's HostConfig fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub memory: Option<i64>,
    /// Memory + swap; unset with a memory limit = twice the memory (Docker); -1 = unlimited.
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub pids_limit: Option<i64>,
    pub cpuset_cpus: Option<String>,
}

/// `--ulimit name=soft:hard`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// `docker exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub args: Vec<String>,
    /// Extra env, merged over the container's.
    pub env: Vec<String>,
    /// "" = the container's user.
    pub user: String,
    /// "" = the container's working directory.
    pub cwd: String,
    pub tty: bool,
    pub privileged: bool,
}

/// Errors of spec generation.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Docker's wording: "unable to find user X: no matching entries in passwd file".
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UserNotFound { user: String },
    #[error("unable to find group {group}: no matching entries in group file")]
    GroupNotFound { group: String },
    #[error("invalid container config: {0}")]
    Invalid(String),
    #[error("building the OCI spec: {source}")]
    Build {
        #[source]
        source: serde_json::Error,
    },
    #[error("writing bundle {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl errdefs::HasKind for SpecError {
    fn kind(&self) -> errdefs::ErrorKind {
        match self {
            SpecError::Build { .. } | SpecError::Io { .. } => errdefs::ErrorKind::Internal,
            _ => errdefs::ErrorKind::InvalidArgument,
        }
    }
}

/// Docker's default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability, by number (index = capability number).
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities available here: known to this kernel
/// (`/proc/sys/kernel/cap_last_cap`) and in our bounding set (a daemon in a
/// restricted environment may lack some; asking for them would make every
/// `--privileged` start fail with EPERM). Moby filters the same way.
/// `ALL_CAPS` is in capability-number order.
fn host_caps() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPS.len() - 1)
        .min(ALL_CAPS.len() - 1);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS[..=last]
        .iter()
        .enumerate()
        .filter(|(i, _)| bounding & (1u64 << i) != 0)
        .map(|(_, s)| s.to_string())
        .collect()
}

fn normalize_cap(c: &str) -> Result<String, SpecError> {
    let up = c.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if !ALL_CAPS.contains(&name.as_str()) {
        return Err(SpecError::Invalid(format!("unknown capability: {c:?}")));
    }
    Ok(name)
}

/// Docker's capability arithmetic (moby `caps.TweakCapabilities`).
pub fn effective_caps(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(host_caps());
    }
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_, _>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_, _>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        host_caps()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    for c in add {
        if c != "ALL" && !caps.contains(&c) && !drop.contains(&c) {
            caps.push(c);
        }
    }
    // With drop ALL, explicitly added caps still apply.
    Ok(caps)
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default masked paths.
pub fn default_masked_paths() -> Vec<String> {
    let mut v: Vec<String> = [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Ok(rd) = std::fs::read_dir("/sys/devices/system/cpu") {
        let mut thermal: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with("cpu") && n[3..].chars().all(|c| c.is_ascii_digit()) && n.len() > 3
            })
            .map(|e| e.path().join("thermal_throttle"))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        thermal.sort();
        v.extend(thermal);
    }
    v
}

/// Docker's default read-only paths.
pub fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    let Ok(text) = std::fs::read_to_string(rootfs.join("etc/passwd")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

fn read_group(rootfs: &Path) -> Vec<GroupEntry> {
    let Ok(text) = std::fs::read_to_string(rootfs.join("etc/group")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves docker's `-u` against the image's `/etc/passwd` and `/etc/group`
/// (runc's `user.GetExecUser` rules: a numeric uid need not exist; supplementary
/// groups only when no group is given).
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ExecUser, SpecError> {
    let (uspec, gspec) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uspec = if uspec.is_empty() { "0" } else { uspec };
    let passwd = read_passwd(rootfs);
    let entry = match uspec.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) => passwd.iter().find(|p| p.name == uspec),
    };
    let (uid, mut gid, name, home) = match (entry, uspec.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, Some(p.name.clone()), p.home.clone()),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(SpecError::UserNotFound {
                user: uspec.to_string(),
            })
        }
    };
    let groups = read_group(rootfs);
    let mut additional = Vec::new();
    match gspec.filter(|g| !g.is_empty()) {
        Some(g) => {
            gid = match groups.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None => match g.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => {
                        return Err(SpecError::GroupNotFound {
                            group: g.to_string(),
                        })
                    }
                },
            };
            additional.push(gid);
        }
        None => {
            additional.push(gid);
            if let Some(name) = &name {
                for e in &groups {
                    if e.members.iter().any(|m| m == name) && !additional.contains(&e.gid) {
                        additional.push(e.gid);
                    }
                }
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

fn env_key(kv: &str) -> &str {
    kv.split_once('=').map(|(k, _)| k).unwrap_or(kv)
}

/// moby's `ReplaceOrAppendEnvValues`.
fn replace_or_append(base: &mut Vec<String>, over: &[String]) {
    for kv in over {
        let key = env_key(kv);
        if !kv.contains('=') {
            // "KEY" alone: docker drops it from the environment? It keeps it only
            // when set in the daemon's env; here: remove.
            base.retain(|b| env_key(b) != key);
            continue;
        }
        match base.iter_mut().find(|b| env_key(b) == key) {
            Some(slot) => *slot = kv.clone(),
            None => base.push(kv.clone()),
        }
    }
}

/// The rlimit name for `--ulimit` names (`nofile` -> `RLIMIT_NOFILE`).
fn rlimit_name(name: &str) -> Result<String, SpecError> {
    const KNOWN: [&str; 16] = [
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let n = name.to_ascii_lowercase();
    if !KNOWN.contains(&n.as_str()) {
        return Err(SpecError::Invalid(format!("invalid ulimit type: {name}")));
    }
    Ok(format!("RLIMIT_{}", n.to_ascii_uppercase()))
}

fn device(path: &str, major: i64, minor: i64) -> Value {
    json!({"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0})
}

fn dev_rule(
    allow: bool,
    kind: &str,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Value {
    let mut v = json!({"allow": allow, "access": access});
    if kind != "a" {
        v["type"] = json!(kind);
    }
    if let Some(m) = major {
        v["major"] = json!(m);
    }
    if let Some(m) = minor {
        v["minor"] = json!(m);
    }
    v
}

/// The host's devices for `--privileged` (moby `devices.HostDevices`).
fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = md.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                let skip = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
                if !skip.iter().any(|s| name == *s) {
                    stack.push(p);
                }
                continue;
            }
            if p == Path::new("/dev/console") || p == Path::new("/dev/ptmx") {
                continue;
            }
            let kind = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            let rdev = md.rdev();
            out.push(json!({
                "path": p.display().to_string(),
                "type": kind,
                "major": nix::sys::stat::major(rdev) as i64,
                "minor": nix::sys::stat::minor(rdev) as i64,
                "fileMode": md.mode() & 0o7777,
                "uid": md.uid(),
                "gid": md.gid(),
            }));
        }
    }
    out
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": kind, "source": source, "options": options})
}

fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

const SECCOMP_PROFILE: &str = include_str!("../resources/seccomp-default.json");

/// Converts Docker's default seccomp profile to the OCI form for this architecture and
/// the container's capabilities (moby `profiles/seccomp.setupSeccomp`).
pub fn default_seccomp(caps: &[String]) -> Result<Value, SpecError> {
    static PROFILE: std::sync::OnceLock<Result<Value, String>> = std::sync::OnceLock::new();
    let profile = match PROFILE
        .get_or_init(|| serde_json::from_str::<Value>(SECCOMP_PROFILE).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            return Err(SpecError::Invalid(format!(
                "built-in seccomp profile does not parse: {e}"
            )))
        }
    };
    let (native_scmp, native_go) = match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        "powerpc64" => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        other => {
            return Err(SpecError::Invalid(format!(
                "no seccomp profile for architecture {other}"
            )))
        }
    };
    let mut arches = Vec::new();
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == native_scmp {
            arches.push(m["architecture"].clone());
            for s in m["subArchitectures"].as_array().into_iter().flatten() {
                arches.push(s.clone());
            }
        }
    }
    let kernel = kernel_version();
    let has = |list: &Value, item: &str| {
        list.as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(item)))
    };
    let mut syscalls = Vec::new();
    for call in profile["syscalls"].as_array().into_iter().flatten() {
        let inc = &call["includes"];
        let exc = &call["excludes"];
        if inc["arches"].as_array().is_some_and(|a| !a.is_empty())
            && !has(&inc["arches"], native_go)
        {
            continue;
        }
        if has(&exc["arches"], native_go) {
            continue;
        }
        if let Some(req) = inc["caps"].as_array() {
            if !req
                .iter()
                .all(|c| c.as_str().is_some_and(|c| caps.iter().any(|x| x == c)))
            {
                continue;
            }
        }
        if let Some(ex) = exc["caps"].as_array() {
            if ex
                .iter()
                .any(|c| c.as_str().is_some_and(|c| caps.iter().any(|x| x == c)))
            {
                continue;
            }
        }
        if let Some(min) = inc["minKernel"].as_str() {
            let mut it = min.split('.').map(|s| s.parse::<u32>().unwrap_or(0));
            let want = (it.next().unwrap_or(0), it.next().unwrap_or(0));
            if kernel < want {
                continue;
            }
        }
        let mut out = json!({"names": call["names"], "action": call["action"]});
        if let Some(e) = call.get("errnoRet") {
            out["errnoRet"] = e.clone();
        }
        if let Some(a) = call
            .get("args")
            .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
        {
            out["args"] = a.clone();
        }
        syscalls.push(out);
    }
    let mut seccomp = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = profile.get("defaultErrnoRet") {
        seccomp["defaultErrnoRet"] = e.clone();
    }
    Ok(seccomp)
}

fn build_env(spec: &ContainerSpec, home: &str) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", spec.hostname),
    ];
    if spec.tty {
        env.push("TERM=xterm".into());
    }
    replace_or_append(&mut env, &spec.env);
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Generates the OCI runtime spec for a container.
pub fn generate_spec(spec: &ContainerSpec) -> Result<oci_spec::runtime::Spec, SpecError> {
    if spec.id.is_empty() {
        return Err(SpecError::Invalid("empty container id".into()));
    }
    if spec.args.is_empty() {
        return Err(SpecError::Invalid("no command specified".into()));
    }
    let user = resolve_user(&spec.rootfs, &spec.user)?;
    let caps = effective_caps(spec.privileged, &spec.cap_add, &spec.cap_drop)?;
    let mut args = spec.args.clone();
    let mut extra_mounts = Vec::new();
    if let Some(init) = &spec.init {
        if !init.is_file() {
            return Err(SpecError::Invalid(format!(
                "init binary {} not found",
                init.display()
            )));
        }
        extra_mounts.push(mount(
            "/sbin/docker-init",
            "bind",
            &init.display().to_string(),
            &["bind", "ro"],
        ));
        args.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
    }
    let cwd = if spec.cwd.is_empty() { "/" } else { &spec.cwd };
    if !cwd.starts_with('/') {
        return Err(SpecError::Invalid(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }

    // Like Docker without --default-ulimit: no rlimits in the spec, the container
    // inherits the daemon's (raising a hard limit would fail after caps are dropped).
    let mut rlimits: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for u in &spec.ulimits {
        rlimits.insert(rlimit_name(&u.name)?, (u.soft, u.hard));
    }
    let rlimits: Vec<Value> = rlimits
        .into_iter()
        .map(|(t, (s, h))| json!({"type": t, "soft": s, "hard": h}))
        .collect();

    let mut process = json!({
        "terminal": spec.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": build_env(spec, &user.home),
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "oomScoreAdj": 0,
    });
    // Only when set: libcontainer 0.7 tests the field's presence, not its value, to
    // decide whether seccomp is loaded before dropping capabilities (it must be,
    // without no_new_privs).
    if spec.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if spec.tty {
        process["consoleSize"] = json!({"height": 24, "width": 80});
    }

    let sys_opts: &[&str] = if spec.privileged {
        &["nosuid", "noexec", "nodev", "rw"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cg_opts: &[&str] = if spec.privileged {
        &["nosuid", "noexec", "nodev", "relatime", "rw"]
    } else {
        &["nosuid", "noexec", "nodev", "relatime", "ro"]
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", cg_opts),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
        ),
    ];
    mounts.extend(extra_mounts);
    for m in &spec.mounts {
        if m.destination.is_empty() || !m.destination.starts_with('/') {
            return Err(SpecError::Invalid(format!(
                "invalid mount destination {:?}: must be an absolute path",
                m.destination
            )));
        }
        // A user mount on a default destination replaces it (e.g. --tmpfs /dev/shm).
        mounts.retain(|d| d["destination"] != m.destination.as_str());
        let mut options = m.options.clone();
        let (kind, source) = match m.kind.as_str() {
            "bind" | "" => {
                if !options.iter().any(|o| o == "bind" || o == "rbind") {
                    options.insert(0, "rbind".into());
                }
                // Docker's default propagation for binds.
                const PROPAGATION: [&str; 6] = [
                    "shared", "rshared", "slave", "rslave", "private", "rprivate",
                ];
                if !options.iter().any(|o| PROPAGATION.contains(&o.as_str())) {
                    options.push("rprivate".into());
                }
                ("bind", m.source.clone())
            }
            "tmpfs" => {
                // Docker's --tmpfs defaults (moby MergeTmpfsOptions), unless overridden.
                for (flag, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
                    if !options.iter().any(|o| o == flag || o == opposite) {
                        options.push(flag.into());
                    }
                }
                ("tmpfs", "tmpfs".to_string())
            }
            other => (other, m.source.clone()),
        };
        mounts.push(json!({"destination": m.destination, "type": kind, "source": source, "options": options}));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match &spec.netns {
        NetNs::Host => {}
        NetNs::New => namespaces.push(json!({"type": "network"})),
        NetNs::Path(p) => {
            namespaces.push(json!({"type": "network", "path": p.display().to_string()}))
        }
    }

    let (devices, dev_rules) = if spec.privileged {
        (host_devices(), vec![dev_rule(true, "a", None, None, "rwm")])
    } else {
        let devices = vec![
            device("/dev/null", 1, 3),
            device("/dev/zero", 1, 5),
            device("/dev/full", 1, 7),
            device("/dev/random", 1, 8),
            device("/dev/urandom", 1, 9),
            device("/dev/tty", 5, 0),
        ];
        // Deny all, then runc's/moby's default allow list.
        let rules = vec![
            dev_rule(false, "a", None, None, "rwm"),
            dev_rule(true, "c", None, None, "m"),
            dev_rule(true, "b", None, None, "m"),
            dev_rule(true, "c", Some(1), Some(3), "rwm"),
            dev_rule(true, "c", Some(1), Some(5), "rwm"),
            dev_rule(true, "c", Some(1), Some(7), "rwm"),
            dev_rule(true, "c", Some(1), Some(8), "rwm"),
            dev_rule(true, "c", Some(1), Some(9), "rwm"),
            dev_rule(true, "c", Some(5), Some(0), "rwm"),
            dev_rule(true, "c", Some(5), Some(1), "rwm"),
            dev_rule(true, "c", Some(5), Some(2), "rwm"),
            dev_rule(true, "c", Some(136), None, "rwm"),
            dev_rule(true, "c", Some(10), Some(200), "rwm"),
        ];
        (devices, rules)
    };

    let mut resources = json!({"devices": dev_rules});
    let r = &spec.resources;
    let mut memory = serde_json::Map::new();
    if let Some(m) = r.memory.filter(|m| *m > 0) {
        memory.insert("limit".into(), json!(m));
        let swap = match r.memory_swap {
            None | Some(0) => m * 2,
            Some(s) => s,
        };
        if swap != -1 && swap < m {
            return Err(SpecError::Invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        memory.insert("swap".into(), json!(swap));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(q) = r.cpu_quota.filter(|q| *q != 0) {
        cpu.insert("quota".into(), json!(q));
    }
    if let Some(p) = r.cpu_period.filter(|p| *p > 0) {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(c) = r.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit.filter(|p| *p != 0) {
        resources["pids"] = json!({"limit": p});
    }

    let cgroups_path = if spec.cgroups_path.is_empty() {
        format!("/berth/{}", spec.id)
    } else {
        spec.cgroups_path.clone()
    };

    let mut linux = json!({
        "namespaces": namespaces,
        "devices": devices,
        "resources": resources,
        "cgroupsPath": cgroups_path,
        "sysctl": spec.sysctls,
    });
    if !spec.privileged {
        linux["maskedPaths"] = json!(spec
            .masked_paths
            .clone()
            .unwrap_or_else(default_masked_paths));
        linux["readonlyPaths"] = json!(spec
            .readonly_paths
            .clone()
            .unwrap_or_else(default_readonly_paths));
        if !spec.seccomp_unconfined {
            linux["seccomp"] = default_seccomp(&caps)?;
        }
    }

    let doc = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": spec.rootfs.display().to_string(), "readonly": spec.read_only},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    let mut doc = doc;
    if !spec.domainname.is_empty() {
        doc["domainname"] = json!(spec.domainname);
    }
    serde_json::from_value(doc).map_err(|source| SpecError::Build { source })
}

/// Writes `config.json` into `bundle_dir` atomically (temporary file, fsync, rename).
pub fn write_bundle(bundle_dir: &Path, spec: &oci_spec::runtime::Spec) -> Result<(), SpecError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SpecError::Io { path, source }
    };
    std::fs::create_dir_all(bundle_dir).map_err(io(bundle_dir))?;
    let data = serde_json::to_vec(spec).map_err(|source| SpecError::Build { source })?;
    let tmp = bundle_dir.join(".config.json.tmp");
    let dst = bundle_dir.join("config.json");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&data).map_err(io(&tmp))?;
    // Rename for atomicity; no fsync: the bundle is per-boot state in the exec
    // root, rewritten at every start.
    std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
    Ok(())
}

/// The process of a `docker exec` in a container whose spec is `base`.
pub fn exec_process(
    base: &oci_spec::runtime::Spec,
    rootfs: &Path,
    exec: &ExecConfig,
) -> Result<oci_spec::runtime::Process, SpecError> {
    if exec.args.is_empty() {
        return Err(SpecError::Invalid("No exec command specified".into()));
    }
    let base_proc = base
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::Invalid("container spec has no process".into()))?;
    let mut p = serde_json::to_value(base_proc).map_err(|source| SpecError::Build { source })?;
    p["args"] = json!(exec.args);
    p["terminal"] = json!(exec.tty);
    if exec.tty {
        p["consoleSize"] = json!({"height": 24, "width": 80});
    } else if let Some(o) = p.as_object_mut() {
        o.remove("consoleSize");
    }
    let mut env: Vec<String> = base_proc.env().clone().unwrap_or_default();
    if exec.tty && !env.iter().any(|e| env_key(e) == "TERM") {
        env.push("TERM=xterm".into());
    }
    replace_or_append(&mut env, &exec.env);
    if !exec.user.is_empty() {
        let u = resolve_user(rootfs, &exec.user)?;
        p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        // HOME follows the exec user unless set explicitly for the exec.
        if !exec.env.iter().any(|e| env_key(e) == "HOME") {
            replace_or_append(&mut env, &[format!("HOME={}", u.home)]);
        }
    }
    p["env"] = json!(env);
    if !exec.cwd.is_empty() {
        p["cwd"] = json!(exec.cwd);
    }
    if exec.privileged {
        let caps = host_caps();
        p["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    }
    serde_json::from_value(p).map_err(|source| SpecError::Build { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1000::/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root\nstaff:x:50:app,nobody\napp:x:1000:\nnogroup:x:65534:\n",
        )
        .unwrap();
        d
    }

    fn spec(root: &Path) -> ContainerSpec {
        ContainerSpec {
            id: "abc".into(),
            rootfs: root.to_path_buf(),
            args: vec!["sh".into()],
            hostname: "h1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn users() {
        let d = rootfs();
        let r = d.path();
        let u = resolve_user(r, "").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (0, 0, vec![0, 10])
        );
        assert_eq!(u.home, "/root");
        let u = resolve_user(r, "app").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids),
            (1000, 1000, vec![1000, 50])
        );
        let u = resolve_user(r, "1000:nogroup").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids),
            (1000, 65534, vec![65534])
        );
        let u = resolve_user(r, "4242:77").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 77));
        let u = resolve_user(r, "4242").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert_eq!(
            resolve_user(r, "ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_user(r, "app:ghosts").unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
    }

    #[test]
    fn capabilities() {
        let none: Vec<String> = vec![];
        assert_eq!(effective_caps(false, &none, &none).unwrap().len(), 14);
        let c = effective_caps(false, &["net_admin".into()], &["CAP_CHOWN".into()]).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let c = effective_caps(false, &["NET_RAW".into()], &["ALL".into()]).unwrap();
        assert_eq!(c, vec!["CAP_NET_RAW".to_string()]);
        assert!(effective_caps(false, &["ALL".into()], &none).unwrap().len() > 30);
        assert!(effective_caps(true, &none, &none)
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".into()));
        assert!(effective_caps(false, &["BOGUS".into()], &none).is_err());
    }

    #[test]
    fn default_spec_matches_docker() {
        let d = rootfs();
        let mut s = spec(d.path());
        s.tty = true;
        s.env = vec!["PATH=/custom".into(), "FOO=bar".into()];
        s.resources.memory = Some(64 << 20);
        s.resources.pids_limit = Some(100);
        let oci = generate_spec(&s).unwrap();
        let v = serde_json::to_value(&oci).unwrap();
        assert_eq!(
            v["process"]["env"],
            json!([
                "PATH=/custom",
                "HOSTNAME=h1",
                "TERM=xterm",
                "FOO=bar",
                "HOME=/root"
            ])
        );
        assert_eq!(v["process"]["cwd"], "/");
        assert_eq!(v["hostname"], "h1");
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/abc");
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        for want in ["pid", "ipc", "uts", "mount", "network", "cgroup"] {
            assert!(ns.contains(&want), "{ns:?}");
        }
        assert!(v["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(v["linux"]["readonlyPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/sys")));
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["memory"]["swap"], 128 << 20);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 100);
        let mounts: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            mounts,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let sec = &v["linux"]["seccomp"];
        assert_eq!(sec["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(
            sec["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let names = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
            sec["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| pred(c))
                .flat_map(|c| c["names"].as_array().unwrap().clone())
                .map(|n| n.as_str().unwrap().to_string())
                .collect()
        };
        let all = names(&|_| true);
        assert!(all.contains(&"arch_prctl".to_string()));
        assert!(all.contains(&"ptrace".to_string()));
        assert!(!all.contains(&"mount".to_string()));
        assert!(!all.contains(&"sync_file_range2".to_string()));
        // clone only with flag mask, clone3 -> ENOSYS without CAP_SYS_ADMIN.
        assert!(names(&|c| c["args"].is_array()).contains(&"clone".to_string()));
        assert!(names(&|c| c["errnoRet"] == 38).contains(&"clone3".to_string()));

        // --cap-add SYS_ADMIN opens mount & unconditional clone.
        s.cap_add = vec!["SYS_ADMIN".into()];
        let v = serde_json::to_value(generate_spec(&s).unwrap()).unwrap();
        let calls = v["linux"]["seccomp"]["syscalls"]
            .as_array()
            .unwrap()
            .clone();
        assert!(calls
            .iter()
            .any(|c| c["names"].as_array().unwrap().contains(&json!("mount"))));
        assert!(!calls.iter().any(|c| c["errnoRet"] == 38));
    }

    #[test]
    fn privileged_and_options() {
        let d = rootfs();
        let mut s = spec(d.path());
        s.privileged = true;
        s.read_only = true;
        s.netns = NetNs::Path("/run/netns/x".into());
        s.cgroups_path = "/custom/abc".into();
        s.ulimits = vec![Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        }];
        s.mounts = vec![MountSpec {
            destination: "/dev/shm".into(),
            source: String::new(),
            kind: "tmpfs".into(),
            options: vec!["size=1m".into()],
        }];
        let v = serde_json::to_value(generate_spec(&s).unwrap()).unwrap();
        assert!(v["linux"]["seccomp"].is_null());
        assert!(v["linux"]["maskedPaths"].is_null());
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["linux"]["cgroupsPath"], "/custom/abc");
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap()
            .clone();
        assert!(sys["options"].as_array().unwrap().contains(&json!("rw")));
        let shm: Vec<&Value> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(
            shm[0]["options"],
            json!(["size=1m", "noexec", "nosuid", "nodev"])
        );
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network", "path": "/run/netns/x"})));
        assert_eq!(
            v["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
        );
        assert!(v["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_SYS_ADMIN")));
        s.netns = NetNs::Host;
        let v = serde_json::to_value(generate_spec(&s).unwrap()).unwrap();
        assert!(!v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
        s.user = "ghost".into();
        assert!(matches!(
            generate_spec(&s),
            Err(SpecError::UserNotFound { .. })
        ));
    }

    #[test]
    fn generation_is_fast() {
        let d = rootfs();
        let s = spec(d.path());
        generate_spec(&s).unwrap();
        let t0 = std::time::Instant::now();
        for _ in 0..20 {
            generate_spec(&s).unwrap();
        }
        eprintln!("MEASURE generate_spec: {:?} each", t0.elapsed() / 20);
    }

    #[test]
    fn bundle_and_exec() {
        let d = rootfs();
        let s = spec(d.path());
        let oci = generate_spec(&s).unwrap();
        let b = d.path().join("bundle");
        write_bundle(&b, &oci).unwrap();
        let back: oci_spec::runtime::Spec =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(back.hostname().as_deref(), Some("h1"));
        let p = exec_process(
            &oci,
            d.path(),
            &ExecConfig {
                args: vec!["id".into()],
                env: vec!["HOSTNAME=other".into(), "X=1".into()],
                user: "app".into(),
                cwd: "/tmp".into(),
                tty: true,
                privileged: false,
            },
        )
        .unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["args"], json!(["id"]));
        assert_eq!(v["user"]["uid"], 1000);
        assert_eq!(v["cwd"], "/tmp");
        assert_eq!(v["terminal"], true);
        let env: Vec<String> = serde_json::from_value(v["env"].clone()).unwrap();
        assert!(env.contains(&"HOSTNAME=other".to_string()));
        assert!(env.contains(&"X=1".to_string()));
        assert!(env.contains(&"TERM=xterm".to_string()));
        assert!(env.contains(&"HOME=/app".to_string()));
    }
}

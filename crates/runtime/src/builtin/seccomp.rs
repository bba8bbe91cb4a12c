//! A cache of compiled seccomp filters.
//!
//! libseccomp needs about 10 ms to compile Docker's default profile, and
//! libcontainer does that in the container's init process on every start (and
//! every exec). This module compiles each distinct profile once, as
//! libcontainer 0.7 would except for `SCMP_CMP_MASKED_EQ` conditions, which follow
//! the runtime spec and runc (see [`comparator`]) (`libcontainer::seccomp::initialize_seccomp`: same
//! default action, errno values, architectures, rules and the same skipped
//! syscall names), exports the BPF program with `seccomp_export_bpf` into
//! `<cache dir>/<key>.bpf` (written to a temporary file, synced, then renamed), and
//! installs the cached program with `seccomp(SECCOMP_SET_MODE_FILTER)` and the
//! flags libseccomp's `seccomp_load` would pass.
//!
//! The key is a sha256 over a format tag, the profile's canonical JSON (the typed
//! OCI `LinuxSeccomp` serialized by serde: fixed field order), the native
//! architecture and the libseccomp version; the load flags are derived from the
//! profile at install time and are not part of the program.
//!
//! Profiles that use `SCMP_ACT_NOTIFY` (the listener fd must reach the runtime)
//! or `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` are not [`cacheable`]: the caller
//! leaves them to libcontainer.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

/// Tag of the cache format and of the compilation rules below: bump it when either
/// changes, so that old files are no longer found.
const FORMAT: &str = "berth-seccomp-bpf-2";
/// First bytes of a cache file.
const MAGIC: &[u8; 8] = b"BERTHBPF";
/// The kernel's limit on the length of a classic BPF program.
const BPF_MAXINSNS: usize = 4096;
/// Size of one `struct sock_filter` as exported by libseccomp.
const INSN_SIZE: usize = 8;

// Flags of seccomp(SECCOMP_SET_MODE_FILTER), from <linux/seccomp.h>.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1 << 0;
const SECCOMP_FILTER_FLAG_LOG: libc::c_ulong = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: libc::c_ulong = 1 << 2;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: libc::c_ulong = 1 << 4;

/// Number of profiles compiled by this process (cache misses), for tests and
/// diagnostics.
static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

/// Errors of the seccomp cache.
#[derive(Debug, thiserror::Error)]
pub enum SeccompCacheError {
    /// libseccomp rejected the profile (or is unusable).
    #[error("compiling the seccomp profile: {context}")]
    Compile {
        context: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The profile cannot be expressed (e.g. an errno out of range).
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
    /// Reading or writing the cache.
    #[error("seccomp cache {}: {context}", path.display())]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl errdefs::HasKind for SeccompCacheError {
    fn kind(&self) -> errdefs::ErrorKind {
        match self {
            Self::Invalid(_) | Self::Compile { .. } => errdefs::ErrorKind::InvalidArgument,
            Self::Io { .. } => errdefs::ErrorKind::Internal,
        }
    }
}

/// A compiled filter ready to be installed, with the flags for `seccomp(2)`.
#[derive(Clone, Debug)]
pub struct Program {
    filter: Arc<Vec<libc::sock_filter>>,
    flags: libc::c_ulong,
    key: String,
}

impl Program {
    /// The cache key (hex sha256) of the profile this program was compiled from.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.filter.len()
    }

    /// Whether the program is empty (never true for a loaded program).
    pub fn is_empty(&self) -> bool {
        self.filter.is_empty()
    }

    /// Installs the filter in the calling thread (the process is single-threaded
    /// where this is used: the container's init or exec'd process right before
    /// exec). Needs no_new_privs or CAP_SYS_ADMIN, like `seccomp_load`.
    pub fn install(&self) -> std::io::Result<()> {
        let len = u16::try_from(self.filter.len())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        let prog = libc::sock_fprog {
            len,
            filter: self.filter.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `len` initialized sock_filter structs owned by
        // `self.filter`, alive for the duration of the call; the kernel copies the
        // program and keeps no pointer to it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            rc if rc < 0 => Err(std::io::Error::last_os_error()),
            // TSYNC without TSYNC_ESRCH returns the id of a thread it could not
            // synchronize; libseccomp reports that as ESRCH.
            _ => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
        }
    }
}

/// Whether `seccomp` can be compiled ahead of time and loaded from the cache:
/// no notify action (libcontainer must pass the listener fd to the runtime) and no
/// wait-killable-recv flag (only meaningful with a listener).
pub fn cacheable(seccomp: &LinuxSeccomp) -> bool {
    let notify = seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    let waitkill = seccomp
        .flags()
        .iter()
        .flatten()
        .any(|f| *f == LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv);
    !notify && !waitkill
}

/// How many profiles this process has compiled (cache misses) so far.
pub fn compilations() -> u64 {
    COMPILATIONS.load(Ordering::Relaxed)
}

/// The cache key of `seccomp` on this machine: hex sha256 of the format tag, the
/// profile's canonical JSON, the native architecture and libseccomp's version.
pub fn cache_key(seccomp: &LinuxSeccomp) -> Result<String, SeccompCacheError> {
    Ok(key_and_json(seccomp)?.0)
}

/// The cache key and the canonical JSON it was computed from.
fn key_and_json(seccomp: &LinuxSeccomp) -> Result<(String, Vec<u8>), SeccompCacheError> {
    let json = serde_json::to_vec(seccomp)
        .map_err(|e| SeccompCacheError::Invalid(format!("serializing the profile: {e}")))?;
    let version = ScmpVersion::current().map_err(|source| SeccompCacheError::Compile {
        context: "reading libseccomp's version".to_owned(),
        source,
    })?;
    let arch = ScmpArch::native();
    let mut hasher = Sha256::new();
    hasher.update(FORMAT.as_bytes());
    hasher.update([0]);
    hasher.update(&json);
    hasher.update([0]);
    hasher.update(format!("{arch:?}").as_bytes());
    hasher.update([0]);
    hasher.update(format!("{}.{}.{}", version.major, version.minor, version.micro).as_bytes());
    let key = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((key, json))
}

fn valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The path of `key`'s program in `dir`.
pub fn cache_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.bpf"))
}

/// The path of `key`'s profile (canonical JSON) in `dir`.
fn profile_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.json"))
}

/// A reference to a cached program: its key and load flags, as one line
/// (`<key> <flags>`), for [`load_reference`].
pub fn reference(program: &Program) -> String {
    format!("{} {}", program.key, program.flags)
}

/// The program a [`reference()`] names, read from `dir` without parsing or hashing
/// the profile; if the program file is gone or damaged, it is compiled again from
/// the profile stored next to it.
pub fn load_reference(dir: &Path, reference: &str) -> Result<Program, SeccompCacheError> {
    let invalid = || SeccompCacheError::Invalid(format!("bad program reference {reference:?}"));
    let (key, flags) = reference.trim().split_once(' ').ok_or_else(invalid)?;
    let flags: libc::c_ulong = flags.parse().map_err(|_| invalid())?;
    if !valid_key(key) {
        return Err(invalid());
    }
    let path = cache_path(dir, key);
    match read_program(&path) {
        Ok(Some(filter)) => {
            return Ok(Program {
                filter: Arc::new(filter),
                flags,
                key: key.to_owned(),
            })
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "invalid seccomp cache file; recompiling");
        }
    }
    let profile_path = profile_path(dir, key);
    let text = std::fs::read(&profile_path).map_err(|source| SeccompCacheError::Io {
        path: profile_path.clone(),
        context: "reading the profile",
        source,
    })?;
    let profile: LinuxSeccomp = serde_json::from_slice(&text)
        .map_err(|e| SeccompCacheError::Invalid(format!("{}: {e}", profile_path.display())))?;
    load_or_compile(dir, &profile)
}

/// The program for `seccomp`: read from `dir` when it was compiled before,
/// otherwise compiled now and stored there (`dir` is created, mode 0700). The
/// profile must be [`cacheable`].
pub fn load_or_compile(dir: &Path, seccomp: &LinuxSeccomp) -> Result<Program, SeccompCacheError> {
    if !cacheable(seccomp) {
        return Err(SeccompCacheError::Invalid(
            "profiles with notify actions cannot be precompiled".to_owned(),
        ));
    }
    let (key, json) = key_and_json(seccomp)?;
    let flags = load_flags(seccomp);
    let path = cache_path(dir, &key);
    match read_program(&path) {
        Ok(Some(filter)) => {
            return Ok(Program {
                filter: Arc::new(filter),
                flags,
                key,
            })
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "invalid seccomp cache file; recompiling");
        }
    }

    let ctx = compile(seccomp)?;
    COMPILATIONS.fetch_add(1, Ordering::Relaxed);
    let io = |context: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| SeccompCacheError::Io {
            path,
            context,
            source,
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("creating the cache directory", dir))?;
    // Export to a unique temporary file, then rename: readers never see a
    // partial program, and concurrent writers (several shims) just race to the same
    // content.
    static TMP_SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{key}.{}.{}.tmp",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // The profile first (for load_reference), then the program.
        write_atomically(&profile_path(dir, &key), &tmp, &json)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("creating a temporary file", &tmp))?;
        file.write_all(MAGIC)
            .map_err(io("writing the header", &tmp))?;
        ctx.export_bpf(&file)
            .map_err(|source| SeccompCacheError::Compile {
                context: "exporting the BPF program".to_owned(),
                source,
            })?;
        file.sync_all().map_err(io("syncing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("renaming into place", &path))
    })();
    if let Err(err) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    let filter = read_program(&path)
        .map_err(io("reading back", &path))?
        .ok_or_else(|| SeccompCacheError::Io {
            path: path.clone(),
            context: "reading back",
            source: std::io::ErrorKind::NotFound.into(),
        })?;
    tracing::debug!(
        key,
        insns = filter.len(),
        "compiled and cached a seccomp profile"
    );
    Ok(Program {
        filter: Arc::new(filter),
        flags,
        key,
    })
}

/// Writes `bytes` to `path` through the temporary file `tmp` (synced, renamed).
fn write_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), SeccompCacheError> {
    let io = |context: &'static str| {
        move |source| SeccompCacheError::Io {
            path: tmp.to_owned(),
            context,
            source,
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io("creating a temporary file"))?;
    file.write_all(bytes).map_err(io("writing"))?;
    file.sync_all().map_err(io("syncing"))?;
    std::fs::rename(tmp, path).map_err(io("renaming into place"))
}

/// Reads a cache file: `None` if there is none, an error if it is malformed.
fn read_program(path: &Path) -> std::io::Result<Option<Vec<libc::sock_filter>>> {
    let mut bytes = Vec::with_capacity(16 * 1024);
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut bytes)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| invalid("bad header"))?;
    if body.is_empty() || body.len() % INSN_SIZE != 0 || body.len() / INSN_SIZE > BPF_MAXINSNS {
        return Err(invalid("bad program length"));
    }
    Ok(Some(
        body.chunks_exact(INSN_SIZE)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    ))
}

/// The flags libseccomp 2.5's `seccomp_load` passes to seccomp(2) for this profile
/// (no listener: notify profiles are not cacheable).
fn load_flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    let mut flags = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // Not cacheable (checked by the caller).
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    flags
}

fn translate_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// libcontainer's translation (an absent errno is EPERM).
fn translate_action(
    action: LinuxSeccompAction,
    errno: Option<u32>,
) -> Result<ScmpAction, SeccompCacheError> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.try_into().map_err(|_| {
            SeccompCacheError::Invalid(format!("trace errno {errno} out of range"))
        })?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
    })
}

/// The comparison of one argument condition. For `SCMP_CMP_MASKED_EQ` the runtime
/// spec's `value` is the mask and `valueTwo` the datum (runc; moby's profile:
/// `clone` is allowed when `flags & 0x7E020000 == 0`); [`ScmpArgCompare::new`]
/// takes the mask in the operator and the datum as its last argument.
/// libcontainer 0.7 swaps the two, which libseccomp turns into "always true".
fn comparator(arg: &oci_spec::runtime::LinuxSeccompArg) -> ScmpArgCompare {
    let index = arg.index() as u32;
    match arg.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
            index,
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
        op => ScmpArgCompare::new(index, translate_op(op), arg.value()),
    }
}

fn translate_op(op: LinuxSeccompOperator) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // Built by `comparator`, which has both operands.
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(0),
    }
}

/// Builds the libseccomp filter exactly like libcontainer 0.7's
/// `initialize_seccomp`, without loading it. Load-time flags (log, tsync, ssb) do
/// not change the program and are applied by [`Program::install`].
fn compile(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompCacheError> {
    let failed = |context: String| {
        move |source: libseccomp::error::SeccompError| SeccompCacheError::Compile {
            context,
            source,
        }
    };
    let default_action = translate_action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(failed(format!(
        "default action {:?}",
        seccomp.default_action()
    )))?;
    for &arch in seccomp.architectures().iter().flatten() {
        ctx.add_arch(translate_arch(arch))
            .map_err(failed(format!("adding architecture {arch:?}")))?;
    }
    ctx.set_ctl_nnp(false)
        .map_err(failed("clearing SCMP_FLTATR_CTL_NNP".to_owned()))?;

    for syscall in seccomp.syscalls().iter().flatten() {
        let action = translate_action(syscall.action(), syscall.errno_ret())?;
        if action == default_action {
            continue;
        }
        for name in syscall.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                // Like libcontainer: a name this libseccomp does not know is skipped.
                tracing::debug!(name, "seccomp: unknown syscall skipped");
                continue;
            };
            match syscall.args() {
                Some(args) => {
                    let comparators: Vec<ScmpArgCompare> = args.iter().map(comparator).collect();
                    let mut seen = std::collections::HashSet::new();
                    let duplicate_index = args.iter().any(|a| !seen.insert(a.index()));
                    if duplicate_index {
                        for comparator in &comparators {
                            ctx.add_rule_conditional(action, sc, std::slice::from_ref(comparator))
                                .map_err(failed(format!("adding a rule for {name}")))?;
                        }
                    } else {
                        ctx.add_rule_conditional(action, sc, &comparators)
                            .map_err(failed(format!("adding a rule for {name}")))?;
                    }
                }
                None => {
                    ctx.add_rule(action, sc)
                        .map_err(failed(format!("adding a rule for {name}")))?;
                }
            }
        }
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(value: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(value).unwrap()
    }

    fn deny_getcwd() -> LinuxSeccomp {
        profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11},
                {"names": ["no_such_syscall_berth"], "action": "SCMP_ACT_ERRNO"}
            ]
        }))
    }

    #[test]
    fn key_depends_on_the_profile_only() {
        let a = deny_getcwd();
        // Same profile, different key order in the source JSON: same key.
        let b = profile(serde_json::json!({
            "syscalls": [
                {"errnoRet": 11, "action": "SCMP_ACT_ERRNO", "names": ["getcwd"]},
                {"action": "SCMP_ACT_ERRNO", "names": ["no_such_syscall_berth"]}
            ],
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "defaultAction": "SCMP_ACT_ALLOW"
        }));
        assert_eq!(cache_key(&a).unwrap(), cache_key(&b).unwrap());
        let mut c = a.clone();
        c.set_default_errno_ret(Some(1));
        assert_ne!(cache_key(&a).unwrap(), cache_key(&c).unwrap());
        assert_eq!(cache_key(&a).unwrap().len(), 64);
    }

    #[test]
    fn notify_and_waitkill_are_not_cacheable() {
        assert!(cacheable(&deny_getcwd()));
        let notify = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(!cacheable(&notify));
        let dir = tempfile::tempdir().unwrap();
        assert!(load_or_compile(dir.path(), &notify).is_err());
        let waitkill = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        }));
        assert!(!cacheable(&waitkill));
    }

    #[test]
    fn flags_follow_libseccomp() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        }));
        assert_eq!(
            load_flags(&p),
            SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
        assert_eq!(load_flags(&deny_getcwd()), 0);
    }

    #[test]
    fn compiled_once_then_read_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = load_or_compile(&cache, &deny_getcwd()).unwrap();
        let path = cache_path(&cache, first.key());
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(MAGIC));
        assert_eq!((bytes.len() - MAGIC.len()) / INSN_SIZE, first.len());
        // Only the program and its profile are left (no temporary files).
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);

        // A recompilation would rename a new file into place.
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&path).unwrap().ino();
        let second = load_or_compile(&cache, &deny_getcwd()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "recompiled");
        assert_eq!(second.key(), first.key());
        assert_eq!(second.len(), first.len());

        // A damaged file is replaced by a fresh compilation.
        std::fs::write(&path, b"BERTHBPF123").unwrap();
        let third = load_or_compile(&cache, &deny_getcwd()).unwrap();
        assert_eq!(third.len(), first.len());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn references_load_without_the_profile_and_survive_a_lost_program() {
        let dir = tempfile::tempdir().unwrap();
        let mut logged = deny_getcwd();
        logged.set_flags(Some(vec![LinuxSeccompFilterFlag::SeccompFilterFlagLog]));
        let program = load_or_compile(dir.path(), &logged).unwrap();
        let line = reference(&program);
        let again = load_reference(dir.path(), &line).unwrap();
        assert_eq!(again.key(), program.key());
        assert_eq!(again.flags, SECCOMP_FILTER_FLAG_LOG);
        assert_eq!(again.len(), program.len());

        std::fs::remove_file(cache_path(dir.path(), program.key())).unwrap();
        let rebuilt = load_reference(dir.path(), &line).unwrap();
        assert_eq!(rebuilt.len(), program.len());
        assert!(cache_path(dir.path(), program.key()).is_file());

        for bad in [
            "",
            "x",
            "../../etc/passwd 0",
            &format!("{} nan", program.key()),
        ] {
            assert!(load_reference(dir.path(), bad).is_err(), "{bad}");
        }
    }

    /// The cached program behaves like the profile, in a forked child (the filter
    /// cannot be removed from a process).
    #[test]
    fn installed_program_applies_the_errno() {
        let dir = tempfile::tempdir().unwrap();
        let program = load_or_compile(dir.path(), &deny_getcwd()).unwrap();
        // SAFETY: the child only makes raw syscalls (prctl, seccomp, getcwd) and
        // _exit; it touches no lock held by another thread of the test harness.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: prctl/getcwd with valid arguments; _exit never returns.
                unsafe {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                    if program.install().is_err() {
                        libc::_exit(2);
                    }
                    let mut buf = [0u8; 256];
                    let rc = libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len());
                    let errno = *libc::__errno_location();
                    libc::_exit(if rc < 0 && errno == libc::EAGAIN {
                        0
                    } else {
                        1
                    });
                }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waits for our own child, writing into a local int.
                let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(rc, pid);
                assert!(libc::WIFEXITED(status), "status {status}");
                assert_eq!(libc::WEXITSTATUS(status), 0, "getcwd was not denied");
            }
            _ => panic!("fork failed"),
        }
    }
}

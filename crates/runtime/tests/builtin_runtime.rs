//! End-to-end tests of the built-in (libcontainer) runtime on a busybox bundle.
//!
//! They need root (namespaces, cgroups) and skip loudly otherwise. They run
//! serially (a static mutex): libcontainer clones the container from the calling
//! process, changes its working directory for a moment, and the tests reap children
//! with `waitpid`. This file is its own test binary, so no other crate's tests run
//! threads next to them.
#![cfg(feature = "builtin")]

use std::fs;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder,
};
use runtime::builtin::BuiltinRuntime;
use runtime::{Runtime, RuntimeError, StdioSpec};

static SERIAL: Mutex<()> = Mutex::new(());

const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "true", "false", "cat", "tty", "ls", "id", "hostname", "grep", "head",
    "tr",
];

/// Takes the serial lock and makes this process a child subreaper (like the shim).
/// `None` (test skipped) when not root.
fn setup() -> Option<MutexGuard<'static, ()>> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: the builtin runtime tests need root");
        return None;
    }
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    static SUBREAPER: Once = Once::new();
    SUBREAPER.call_once(|| {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets a process attribute.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "PR_SET_CHILD_SUBREAPER");
    });
    Some(guard)
}

/// A temporary directory with `bundle/` (config.json + busybox rootfs) and `state/`
/// (the runtime root).
struct Fixture {
    dir: tempfile::TempDir,
    id: String,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        Self {
            dir,
            id: format!("bt-{name}-{}", std::process::id()),
        }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn runtime(&self) -> BuiltinRuntime {
        BuiltinRuntime::new(self.dir.path().join("state"))
    }

    fn cgroup_path(&self) -> String {
        format!("/berth-test/{}", self.id)
    }

    /// Writes config.json running `args`; `tweak` adjusts the spec.
    fn write_spec(&self, args: &[&str], tweak: impl FnOnce(&mut Spec)) {
        let mut spec = spec(args, &self.cgroup_path());
        tweak(&mut spec);
        spec.save(self.bundle().join("config.json")).unwrap();
    }
}

fn spec(args: &[&str], cgroups_path: &str) -> Spec {
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .env(vec!["PATH=/bin".to_string(), "TERM=xterm".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Network,
    ]
    .into_iter()
    .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build().unwrap())
    .collect::<Vec<_>>();
    let mount = |dest: &str, typ: &str, source: &str, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap()
    };
    let mounts = vec![
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
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
    ];
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(cgroups_path))
        .build()
        .unwrap();
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .unwrap(),
        )
        .hostname("berth-test")
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .unwrap()
}

fn set_terminal(spec: &mut Spec) {
    let mut process = spec.process().clone().unwrap();
    process.set_terminal(Some(true));
    spec.set_process(Some(process));
}

/// Stdio for a container: stdin /dev/null, stdout and stderr into one pipe whose
/// read end is returned.
fn pipe_stdio() -> (StdioSpec, fs::File) {
    let (r, w) = nix::unistd::pipe().unwrap();
    let stdin: OwnedFd = fs::File::open("/dev/null").unwrap().into();
    let stderr = w.try_clone().unwrap();
    (
        StdioSpec::Fds {
            stdin,
            stdout: w,
            stderr,
        },
        fs::File::from(r),
    )
}

/// This process's children (all threads).
fn children() -> Vec<u32> {
    let mut pids = Vec::new();
    for task in fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        for pid in fs::read_to_string(path)
            .unwrap_or_default()
            .split_whitespace()
        {
            pids.push(pid.parse().unwrap());
        }
    }
    pids.sort();
    pids
}

/// Waits for `pid` and returns its exit code (128 + signal when killed).
fn wait_exit(pid: u32) -> i32 {
    match waitpid(Pid::from_raw(pid as i32), None).unwrap() {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

/// Kills and reaps a container's processes and deletes it, also when a test fails.
struct Cleanup<'a> {
    rt: &'a BuiltinRuntime,
    id: &'a str,
    pids: Vec<u32>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        // Kill what still runs (waitpid first: never signal a pid already reaped),
        // then reap everything without blocking on one pid: a pid namespace's init
        // only becomes reapable once the namespace's other processes (our exec'd
        // children) have been reaped.
        let mut pending: Vec<Pid> = Vec::new();
        for pid in self.pids.drain(..) {
            let pid = Pid::from_raw(pid as i32);
            if let Ok(WaitStatus::StillAlive) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                let _ = kill(pid, Signal::SIGKILL);
                pending.push(pid);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pending.is_empty() && Instant::now() < deadline {
            pending.retain(|&pid| {
                matches!(
                    waitpid(pid, Some(WaitPidFlag::WNOHANG)),
                    Ok(WaitStatus::StillAlive)
                )
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Err(err) = self.rt.delete(self.id, true) {
            eprintln!("cleanup: delete {}: {err}", self.id);
        }
    }
}

fn cgroup_dir(controller: &str, fx: &Fixture) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/{controller}{}", fx.cgroup_path()))
}

fn read_trim(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

#[test]
fn run_echo_reads_output_and_exit_code() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("echo");
    let rt = fx.runtime();
    assert_eq!(rt.name(), "berth");
    fx.write_spec(&["echo", "hi"], |_| {});
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    // Detached: no helper process is left; init is our only child. (libcontainer
    // starts threads only to time out hooks that have a timeout.)
    assert_eq!(children(), vec![pid]);
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hi\n");
    assert_eq!(wait_exit(pid), 0);
    rt.delete(&fx.id, false).unwrap();
    assert!(!fx.dir.path().join("state").join(&fx.id).exists());
    cleanup.pids.clear();
}

#[test]
fn stdout_passed_as_fd_0_still_works() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("fd0");
    let rt = fx.runtime();
    fx.write_spec(&["echo", "low-fd"], |_| {});
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut out = fs::File::from(r);
    // Put the pipe's write end on fd 0 (the test's stdin is saved and restored).
    // SAFETY: plain fd syscalls; fd 0 is restored below before anything reads it.
    let saved_stdin = unsafe { libc::dup(0) };
    assert!(saved_stdin > 2);
    // SAFETY: as above; w stays open until dup2 returns.
    assert_eq!(unsafe { libc::dup2(w.as_raw_fd(), 0) }, 0);
    drop(w);
    // SAFETY: fd 0 now is our pipe's write end, owned by nobody else.
    let stdout = unsafe { OwnedFd::from_raw_fd(0) };
    let stderr = stdout.try_clone().unwrap();
    let stdin: OwnedFd = fs::File::open("/dev/null").unwrap().into();
    let result = rt.run(
        &fx.id,
        &fx.bundle(),
        StdioSpec::Fds {
            stdin,
            stdout,
            stderr,
        },
    );
    // SAFETY: restores the test process's stdin.
    unsafe {
        libc::dup2(saved_stdin, 0);
        libc::close(saved_stdin);
    }
    let pid = result.unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 0);
    assert_eq!(text, "low-fd\n");
}

/// This process's open fds, with what they point to.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .map(|e| {
            let target = fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn no_fds_leak_across_run_exec_tty_and_delete() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("fdleak");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |_| {});
    let socket_path = fx.dir.path().join("leak-console.sock");
    let listener = UnixListener::bind(&socket_path).unwrap();
    // Warm up once (lazily opened fds of libraries), then compare.
    let mut before = Vec::new();
    for round in 0..2 {
        if round == 1 {
            before = open_fds();
        }
        let (stdio, out) = pipe_stdio();
        let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
        let mut cleanup = Cleanup {
            rt: &rt,
            id: &fx.id,
            pids: vec![pid],
        };
        drop(out);
        let process = ProcessBuilder::default()
            .args(vec!["true".to_string()])
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/")
            .build()
            .unwrap();
        let (stdio, out) = pipe_stdio();
        let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
        assert_eq!(wait_exit(exec_pid), 0);
        drop(out);
        let mut tty_process = process.clone();
        tty_process.set_terminal(Some(true));
        let exec_pid = rt
            .exec(
                &fx.id,
                &fx.bundle(),
                &tty_process,
                StdioSpec::Tty {
                    console_socket: socket_path.clone(),
                },
            )
            .unwrap();
        let master = receive_master(&listener);
        assert_eq!(wait_exit(exec_pid), 0);
        drop(master);
        let (stdio, _out) = pipe_stdio();
        let missing = ProcessBuilder::default()
            .args(vec!["nosuchcommand".to_string()])
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/")
            .build()
            .unwrap();
        assert!(rt.exec(&fx.id, &fx.bundle(), &missing, stdio).is_err());
        rt.kill(&fx.id, libc::SIGKILL, false).unwrap();
        assert_eq!(wait_exit(pid), 128 + libc::SIGKILL);
        cleanup.pids.clear();
        // No exec leaves files behind in the state directory.
        let state: Vec<_> = fs::read_dir(fx.dir.path().join("state").join(&fx.id))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tenant-") || n.starts_with("exec-"))
            .collect();
        assert!(state.is_empty(), "{state:?}");
        rt.delete(&fx.id, false).unwrap();
        // A failed run.
        fx.write_spec(&["nosuchcommand"], |_| {});
        let (stdio, _out) = pipe_stdio();
        assert!(rt.run(&fx.id, &fx.bundle(), stdio).is_err());
        fx.write_spec(&["sleep", "100"], |_| {});
    }
    assert_eq!(open_fds(), before);
}

/// A network namespace persisted on a file (like the network crate's), unmounted
/// on drop.
struct NetNsFile(PathBuf);

impl NetNsFile {
    fn new(path: PathBuf) -> Self {
        fs::write(&path, b"").unwrap();
        let status = std::process::Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true")
            .status()
            .unwrap();
        assert!(status.success());
        Self(path)
    }
}

impl Drop for NetNsFile {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn joins_an_existing_network_namespace() {
    use std::os::unix::fs::MetadataExt;
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("netns");
    let rt = fx.runtime();
    let netns = NetNsFile::new(fx.dir.path().join("netns"));
    let path = netns.0.clone();
    fx.write_spec(&["sleep", "100"], |spec| {
        let mut linux = spec.linux().clone().unwrap();
        let mut namespaces = linux.namespaces().clone().unwrap();
        for ns in namespaces.iter_mut() {
            if ns.typ() == LinuxNamespaceType::Network {
                ns.set_path(Some(path.clone()));
            }
        }
        linux.set_namespaces(Some(namespaces));
        spec.set_linux(Some(linux));
    });
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let container_ns = fs::metadata(format!("/proc/{pid}/ns/net")).unwrap().ino();
    let wanted = fs::metadata(&netns.0).unwrap().ino();
    let own = fs::metadata("/proc/self/ns/net").unwrap().ino();
    assert_eq!(container_ns, wanted);
    assert_ne!(container_ns, own);
    // A harmless signal does not make the container look stopped (libcontainer
    // records "stopped" after any kill).
    rt.kill(&fx.id, libc::SIGWINCH, false).unwrap();
    rt.kill(&fx.id, libc::SIGWINCH, false).unwrap();
    // An exec joins it too.
    let process = ProcessBuilder::default()
        .args(vec!["sleep".to_string(), "100".to_string()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    let (stdio, _out) = pipe_stdio();
    let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
    let exec_ns = fs::metadata(format!("/proc/{exec_pid}/ns/net"))
        .unwrap()
        .ino();
    kill(Pid::from_raw(exec_pid as i32), Signal::SIGKILL).unwrap();
    assert_eq!(wait_exit(exec_pid), 128 + libc::SIGKILL);
    assert_eq!(exec_ns, wanted);
}

#[test]
fn oom_score_adj_goes_to_the_container_not_the_caller() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("oomadj");
    let rt = fx.runtime();
    let own = read_trim(Path::new("/proc/self/oom_score_adj"));
    fx.write_spec(&["sleep", "100"], |spec| {
        let mut process = spec.process().clone().unwrap();
        process.set_oom_score_adj(Some(123));
        spec.set_process(Some(process));
    });
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    assert_eq!(
        read_trim(Path::new(&format!("/proc/{pid}/oom_score_adj"))),
        "123"
    );
    assert_eq!(read_trim(Path::new("/proc/self/oom_score_adj")), own);
    let mut process = ProcessBuilder::default()
        .args(vec!["sleep".to_string(), "100".to_string()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    process.set_oom_score_adj(Some(321));
    let (stdio, _out) = pipe_stdio();
    let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
    cleanup.pids.push(exec_pid);
    assert_eq!(
        read_trim(Path::new(&format!("/proc/{exec_pid}/oom_score_adj"))),
        "321"
    );
    assert_eq!(read_trim(Path::new("/proc/self/oom_score_adj")), own);
}

#[test]
fn exit_code_is_reported() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("exit3");
    let rt = fx.runtime();
    fx.write_spec(&["sh", "-c", "echo out; echo err >&2; exit 3"], |_| {});
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(text, "out\nerr\n");
    assert_eq!(wait_exit(pid), 3);
}

#[test]
fn kill_sigkill_stops_sleep_and_delete_removes_cgroup() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("kill");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let memory_cg = cgroup_dir("memory", &fx);
    assert!(memory_cg.is_dir(), "{} missing", memory_cg.display());
    let procs = read_trim(&memory_cg.join("cgroup.procs"));
    assert_eq!(procs, pid.to_string());

    // Deleting a running container without force is refused.
    let err = rt.delete(&fx.id, false).unwrap_err();
    eprintln!("delete running: {err}");
    assert!(err.to_string().contains("still"), "{err}");

    rt.kill(&fx.id, libc::SIGKILL, false).unwrap();
    assert_eq!(wait_exit(pid), 128 + libc::SIGKILL);
    cleanup.pids.clear();
    // Signalling a stopped container is an error, like runc's.
    let err = rt.kill(&fx.id, libc::SIGTERM, false).unwrap_err();
    assert!(err.to_string().contains("not running"), "{err}");

    rt.delete(&fx.id, false).unwrap();
    assert!(!memory_cg.exists(), "{} still exists", memory_cg.display());
    assert!(!cgroup_dir("pids", &fx).exists());
    // Deleting again (unknown container) is fine.
    rt.delete(&fx.id, false).unwrap();
}

#[test]
fn kill_all_signals_every_process() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("killall");
    let rt = fx.runtime();
    // sh (pid 1 in the container) ignores SIGKILL-less signals it has no handler
    // for; SIGKILL from outside always works.
    fx.write_spec(&["sh", "-c", "sleep 100 & sleep 100 & wait"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let procs_file = cgroup_dir("pids", &fx).join("cgroup.procs");
    wait_for_procs(&procs_file, 3);
    rt.kill(&fx.id, libc::SIGKILL, true).unwrap();
    assert_eq!(wait_exit(pid), 128 + libc::SIGKILL);
    cleanup.pids.clear();
    wait_for_procs_exactly(&procs_file, 0);
    rt.delete(&fx.id, false).unwrap();
    assert!(!cgroup_dir("pids", &fx).exists());
}

#[test]
fn kill_with_realtime_signal_reaches_init() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("rtsig");
    let rt = fx.runtime();
    let sig = libc::SIGRTMIN() + 3;
    let script = format!("trap 'exit 7' {sig}; sleep 100 & wait");
    fx.write_spec(&["sh", "-c", &script], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    // The trap is set once sh has forked sleep.
    wait_for_procs(&cgroup_dir("pids", &fx).join("cgroup.procs"), 2);
    rt.kill(&fx.id, sig, false).unwrap();
    assert_eq!(wait_exit(pid), 7);
    cleanup.pids.clear();
    // Unknown signal numbers are refused.
    assert!(rt.kill(&fx.id, 1000, false).is_err());
}

fn wait_for_procs(procs_file: &Path, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while read_trim(procs_file).lines().count() < at_least {
        assert!(Instant::now() < deadline, "processes did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for_procs_exactly(procs_file: &Path, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while read_trim(procs_file).lines().count() != count {
        assert!(
            Instant::now() < deadline,
            "cgroup.procs did not reach {count}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn force_delete_kills_running_container() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("forcedel");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    rt.delete(&fx.id, true).unwrap();
    assert_eq!(wait_exit(pid), 128 + libc::SIGKILL);
    assert!(!cgroup_dir("memory", &fx).exists());
}

#[test]
fn resources_apply_to_v1_cgroups() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("mem");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |spec| {
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 * 1024 * 1024_i64)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(42_i64).build().unwrap())
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512_u64)
                    .quota(50_000_i64)
                    .period(100_000_u64)
                    .cpus("0")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let mut linux = spec.linux().clone().unwrap();
        linux.set_resources(Some(resources));
        spec.set_linux(Some(linux));
    });
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    assert_eq!(
        read_trim(&cgroup_dir("memory", &fx).join("memory.limit_in_bytes")),
        (64 * 1024 * 1024).to_string()
    );
    assert_eq!(read_trim(&cgroup_dir("pids", &fx).join("pids.max")), "42");
    assert_eq!(read_trim(&cgroup_dir("cpu", &fx).join("cpu.shares")), "512");
    assert_eq!(
        read_trim(&cgroup_dir("cpu", &fx).join("cpu.cfs_quota_us")),
        "50000"
    );
    assert_eq!(
        read_trim(&cgroup_dir("cpu", &fx).join("cpu.cfs_period_us")),
        "100000"
    );
    assert_eq!(
        read_trim(&cgroup_dir("cpuset", &fx).join("cpuset.cpus")),
        "0"
    );
    // The container's init is in the limited cgroup.
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroups
            .lines()
            .any(|l| l.contains(":memory:") && l.ends_with(&fx.cgroup_path())),
        "{cgroups}"
    );
}

#[test]
fn memory_limit_triggers_the_oom_killer() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("oom");
    let rt = fx.runtime();
    let limit: i64 = 16 * 1024 * 1024;
    fx.write_spec(
        &[
            "sh",
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived",
        ],
        |spec| {
            let resources = LinuxResourcesBuilder::default()
                .memory(
                    LinuxMemoryBuilder::default()
                        .limit(limit)
                        .swap(limit)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            let mut linux = spec.linux().clone().unwrap();
            linux.set_resources(Some(resources));
            spec.set_linux(Some(linux));
        },
    );
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 128 + libc::SIGKILL, "{text}");
    assert!(!text.contains("survived"), "{text}");
    let oom = read_trim(&cgroup_dir("memory", &fx).join("memory.oom_control"));
    let kills: u64 = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(kills > 0, "{oom}");
}

#[test]
fn missing_executable_fails_with_runc_wording() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("noexec");
    let rt = fx.runtime();
    fx.write_spec(&["nosuchcommand"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let err = rt.run(&fx.id, &fx.bundle(), stdio).unwrap_err();
    // The runtime reaped libcontainer's helper processes itself.
    assert_eq!(children(), Vec::<u32>::new());
    eprintln!("missing executable: {err}");
    let RuntimeError::Failed {
        action, message, ..
    } = &err
    else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(*action, "run");
    assert!(
        message.contains("exec: \"nosuchcommand\": executable file not found in $PATH"),
        "{message}"
    );
    // libcontainer rolled back: no state, no cgroup.
    assert!(!fx.dir.path().join("state").join(&fx.id).exists());
    assert!(!cgroup_dir("memory", &fx).exists());
    rt.delete(&fx.id, false).unwrap();
}

#[test]
fn bad_bundles_are_reported() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("badbundle");
    let rt = fx.runtime();
    // No config.json.
    let (stdio, _out) = pipe_stdio();
    let err = rt.run(&fx.id, &fx.bundle(), stdio).unwrap_err();
    eprintln!("no config.json: {err}");
    assert!(err.to_string().contains("config.json"), "{err}");
    // A program that is not executable (a directory, a plain file).
    fs::write(fx.bundle().join("rootfs/etc/data"), "x").unwrap();
    for program in ["/bin", "/etc/data"] {
        fx.write_spec(&[program], |_| {});
        let (stdio, _out) = pipe_stdio();
        let err = rt.run(&fx.id, &fx.bundle(), stdio).unwrap_err();
        eprintln!("not executable: {err}");
        assert!(
            err.to_string()
                .contains(&format!("exec: \"{program}\": permission denied")),
            "{err}"
        );
    }
    // A tty spec without a console socket.
    fx.write_spec(&["true"], set_terminal);
    let (stdio, _out) = pipe_stdio();
    let err = rt.run(&fx.id, &fx.bundle(), stdio).unwrap_err();
    eprintln!("tty without console socket: {err}");
    assert!(err.to_string().contains("console socket"), "{err}");
    // A working directory that does not exist in the rootfs.
    fx.write_spec(&["true"], |spec| {
        let mut process = spec.process().clone().unwrap();
        process.set_cwd(PathBuf::from("/no/such/dir"));
        spec.set_process(Some(process));
    });
    let (stdio, _out) = pipe_stdio();
    let err = rt.run(&fx.id, &fx.bundle(), stdio).unwrap_err();
    eprintln!("missing cwd: {err}");
    assert!(
        err.to_string().contains(
            "chdir to cwd (\"/no/such/dir\") set in config.json failed: no such file or directory"
        ),
        "{err}"
    );
    assert!(children().is_empty());
    // Neither attempt left state behind.
    assert!(!fx.dir.path().join("state").join(&fx.id).exists());
}

#[test]
fn duplicate_id_is_rejected() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("dup");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let (stdio, _out2) = pipe_stdio();
    let err = rt.run(&fx.id, &fx.bundle(), stdio).unwrap_err();
    eprintln!("duplicate run: {err}");
    assert!(err.to_string().contains("already exists"), "{err}");
    // The first container is untouched.
    assert!(Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn exec_into_running_container() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("exec");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };

    let process = ProcessBuilder::default()
        .args(
            [
                "sh",
                "-c",
                "echo exec-ok $FOO; hostname; cat /proc/1/cmdline; exit 5",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        )
        .env(vec!["PATH=/bin".to_string(), "FOO=bar".to_string()])
        .cwd("/tmp")
        .build()
        .unwrap();
    let (stdio, mut out) = pipe_stdio();
    let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
    cleanup.pids.push(exec_pid);
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(text, "exec-ok bar\nberth-test\nsleep\x00100\x00");
    assert_eq!(wait_exit(exec_pid), 5);
    // The exec'd process joined the container's cgroup while it ran; no temporary
    // process.json is left behind.
    let leftovers: Vec<_> = fs::read_dir(fx.dir.path().join("state").join(&fx.id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("exec-") || n.starts_with("tenant-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // An exec as another user.
    let as_user = ProcessBuilder::default()
        .args(vec!["id".to_string()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .user(
            oci_spec::runtime::UserBuilder::default()
                .uid(1000_u32)
                .gid(1001_u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let (stdio, mut out) = pipe_stdio();
    let user_pid = rt.exec(&fx.id, &fx.bundle(), &as_user, stdio).unwrap();
    cleanup.pids.push(user_pid);
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(user_pid), 0);
    assert!(text.starts_with("uid=1000 gid=1001"), "{text}");

    // A missing executable in exec fails with runc's wording.
    let missing = ProcessBuilder::default()
        .args(vec!["nosuchcommand".to_string()])
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    let (stdio, _out) = pipe_stdio();
    let err = rt.exec(&fx.id, &fx.bundle(), &missing, stdio).unwrap_err();
    eprintln!("exec missing executable: {err}");
    assert!(
        err.to_string()
            .contains("executable file not found in $PATH"),
        "{err}"
    );
    // The failed exec's helpers were reaped; only the container's init is left.
    assert_eq!(children(), vec![pid]);

    // A missing working directory.
    let mut bad_cwd = missing.clone();
    bad_cwd.set_args(Some(vec!["true".to_string()]));
    bad_cwd.set_cwd(PathBuf::from("/nope"));
    let (stdio, _out) = pipe_stdio();
    let err = rt.exec(&fx.id, &fx.bundle(), &bad_cwd, stdio).unwrap_err();
    eprintln!("exec missing cwd: {err}");
    assert!(
        err.to_string().contains("chdir to cwd (\"/nope\")"),
        "{err}"
    );
    assert_eq!(children(), vec![pid]);

    rt.kill(&fx.id, libc::SIGKILL, false).unwrap();
    assert_eq!(wait_exit(pid), 128 + libc::SIGKILL);
    cleanup.pids.clear();

    // Exec into a stopped or unknown container fails.
    let (stdio, _out) = pipe_stdio();
    let err = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap_err();
    eprintln!("exec into stopped container: {err}");
    assert!(err.to_string().contains("not running"), "{err}");
    rt.delete(&fx.id, false).unwrap();
    let (stdio, _out) = pipe_stdio();
    let err = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap_err();
    eprintln!("exec into unknown container: {err}");
}

#[test]
fn seccomp_filter_is_installed() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("seccomp");
    let rt = fx.runtime();
    fx.write_spec(
        &[
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; hostname other || echo denied",
        ],
        |spec| {
            let seccomp = serde_json::from_value(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
                ]
            }))
            .unwrap();
            let mut linux = spec.linux().clone().unwrap();
            linux.set_seccomp(Some(seccomp));
            spec.set_linux(Some(linux));
        },
    );
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 0);
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.ends_with("denied\n"), "{text}");
}

/// Docker's default capabilities (no CAP_SYS_ADMIN).
const DOCKER_CAPS: &[&str] = &[
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

fn docker_caps() -> oci_spec::runtime::LinuxCapabilities {
    serde_json::from_value(serde_json::json!({
        "bounding": DOCKER_CAPS,
        "effective": DOCKER_CAPS,
        "permitted": DOCKER_CAPS,
    }))
    .unwrap()
}

/// A seccomp profile allowing everything but sethostname.
fn deny_sethostname(spec: &mut Spec) {
    let seccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    }))
    .unwrap();
    let mut linux = spec.linux().clone().unwrap();
    linux.set_seccomp(Some(seccomp));
    spec.set_linux(Some(linux));
}

/// Like Docker: seccomp, capabilities without CAP_SYS_ADMIN and an explicit
/// `"noNewPrivileges": false`.
fn docker_security(spec: &mut Spec) {
    deny_sethostname(spec);
    let mut process = spec.process().clone().unwrap();
    process.set_capabilities(Some(docker_caps()));
    process.set_no_new_privileges(Some(false));
    spec.set_process(Some(process));
}

const SECCOMP_PROBE: &str =
    "grep -E '^(Seccomp|NoNewPrivs|Cap(Eff|Prm|Bnd|Inh|Amb)):' /proc/self/status; hostname other || echo denied";

#[test]
fn seccomp_with_dropped_caps_and_explicit_nnp_false() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("seccompcaps");
    let rt = fx.runtime();
    fx.write_spec(&["sh", "-c", SECCOMP_PROBE], docker_security);
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("NoNewPrivs:\t0"), "{text}");
    assert!(text.contains("CapEff:\t00000000a80425fb"), "{text}");
    assert!(text.ends_with("denied\n"), "{text}");
}

#[test]
fn seccomp_for_a_non_root_init() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("seccompuser");
    let rt = fx.runtime();
    fx.write_spec(&["sh", "-c", SECCOMP_PROBE], |spec| {
        docker_security(spec);
        let mut process = spec.process().clone().unwrap();
        process.set_user(
            oci_spec::runtime::UserBuilder::default()
                .uid(1000_u32)
                .gid(1000_u32)
                .build()
                .unwrap(),
        );
        spec.set_process(Some(process));
    });
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");
    assert!(text.contains("CapBnd:\t00000000a80425fb"), "{text}");
}

#[test]
fn exec_gets_the_containers_seccomp_profile() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("execseccomp");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], docker_security);
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    for (nnp, caps) in [
        (Some(false), Some(docker_caps())),
        (None, Some(docker_caps())),
        (Some(true), Some(docker_caps())),
        (None, None),
    ] {
        let mut builder = ProcessBuilder::default()
            .args(
                ["sh", "-c", SECCOMP_PROBE]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/");
        if let Some(caps) = caps.clone() {
            builder = builder.capabilities(caps);
        }
        let mut process = builder.build().unwrap();
        process.set_no_new_privileges(nnp);
        if caps.is_none() {
            process.set_capabilities(None);
        }
        let (stdio, mut out) = pipe_stdio();
        let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
        cleanup.pids.push(exec_pid);
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        assert_eq!(wait_exit(exec_pid), 0, "{text}");
        let case = format!("nnp {nnp:?}, caps {}: {text}", caps.is_some());
        assert!(text.contains("Seccomp:\t2"), "{case}");
        let want_nnp = if nnp == Some(true) { "1" } else { "0" };
        assert!(text.contains(&format!("NoNewPrivs:\t{want_nnp}")), "{case}");
        if caps.is_some() {
            // Exactly Docker's set: CAP_SYS_ADMIN raised for loading the filter is gone.
            for set in ["CapEff", "CapPrm", "CapBnd"] {
                assert!(
                    text.contains(&format!("{set}:\t00000000a80425fb")),
                    "{case}"
                );
            }
            assert!(text.contains("CapAmb:\t0000000000000000"), "{case}");
        }
        assert!(text.ends_with("denied\n"), "{case}");
    }

    // A non-root exec user: the filter is installed too, and the payload runs
    // without capabilities, like under runc.
    let mut process = ProcessBuilder::default()
        .args(
            ["sh", "-c", SECCOMP_PROBE]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .capabilities(docker_caps())
        .user(
            oci_spec::runtime::UserBuilder::default()
                .uid(1000_u32)
                .gid(1000_u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    process.set_no_new_privileges(Some(false));
    let (stdio, mut out) = pipe_stdio();
    let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
    cleanup.pids.push(exec_pid);
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(exec_pid), 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");
    assert!(text.contains("CapBnd:\t00000000a80425fb"), "{text}");
}

#[test]
fn tty_run_sends_pty_master_over_console_socket() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("tty");
    let rt = fx.runtime();
    fx.write_spec(&["sh", "-c", "tty; echo tty-ok"], set_terminal);
    let socket_path = fx.dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket_path).unwrap();
    let pid = rt
        .run(
            &fx.id,
            &fx.bundle(),
            StdioSpec::Tty {
                console_socket: socket_path.clone(),
            },
        )
        .unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let mut master = receive_master(&listener);
    let text = read_pty(&mut master);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("tty-ok\r\n"), "{text:?}");
    assert_eq!(wait_exit(pid), 0);
}

#[test]
fn tty_exec_sends_pty_master_over_console_socket() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("ttyexec");
    let rt = fx.runtime();
    fx.write_spec(&["sleep", "100"], |_| {});
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &fx.id,
        pids: vec![pid],
    };
    let socket_path = fx.dir.path().join("exec-console.sock");
    let listener = UnixListener::bind(&socket_path).unwrap();
    let process = ProcessBuilder::default()
        .terminal(true)
        .args(
            ["sh", "-c", "tty; echo exec-tty-ok"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .build()
        .unwrap();
    let exec_pid = rt
        .exec(
            &fx.id,
            &fx.bundle(),
            &process,
            StdioSpec::Tty {
                console_socket: socket_path,
            },
        )
        .unwrap();
    cleanup.pids.push(exec_pid);
    let mut master = receive_master(&listener);
    let text = read_pty(&mut master);
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("exec-tty-ok\r\n"), "{text:?}");
    assert_eq!(wait_exit(exec_pid), 0);
}

/// Accepts the runtime's connection and receives the pty master (SCM_RIGHTS).
fn receive_master(listener: &UnixListener) -> fs::File {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            assert_eq!(fds.len(), 1);
            // SAFETY: the fd was just received via SCM_RIGHTS and is owned by nobody else.
            return unsafe { fs::File::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received over the console socket");
}

/// Reads a pty master until the slave side is closed (EIO).
fn read_pty(master: &mut fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading pty: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Wall time of `run()` for `true` (median of 20), and of a whole
/// run + wait + delete cycle; with `runc run` on the same bundle for comparison.
/// Two bundles: the minimal one, and a docker-like one (docker's default seccomp
/// allow-list when /work/shared/specs is present, masked and read-only paths).
/// `cargo test -p runtime --test builtin_runtime -- --ignored --nocapture bench`
#[test]
#[ignore = "benchmark; run explicitly"]
fn bench_run_true() {
    let Some(_g) = setup() else { return };
    bench_variant("minimal", |_| {});
    bench_variant("docker-like", docker_like);
}

/// Wall time of `exec()` of `true` into a running container (median of 20), and
/// of exec + wait, on the minimal and docker-like bundles.
/// `cargo test -p runtime --test builtin_runtime -- --ignored --nocapture bench`
#[test]
#[ignore = "benchmark; run explicitly"]
fn bench_exec_true() {
    let Some(_g) = setup() else { return };
    for (label, tweak) in [
        ("minimal", (|_: &mut Spec| {}) as fn(&mut Spec)),
        ("docker-like", docker_like),
    ] {
        let fx = Fixture::new("benchexec");
        let rt = fx.runtime();
        fx.write_spec(&["sleep", "100"], tweak);
        let (stdio, _out) = pipe_stdio();
        let pid = rt.run(&fx.id, &fx.bundle(), stdio).unwrap();
        let _cleanup = Cleanup {
            rt: &rt,
            id: &fx.id,
            pids: vec![pid],
        };
        let mut process = ProcessBuilder::default()
            .args(vec!["true".to_string()])
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/")
            .capabilities(docker_caps())
            .build()
            .unwrap();
        process.set_no_new_privileges(Some(false));
        let mut exec_times = Vec::new();
        let mut cycle_times = Vec::new();
        for _ in 0..20 {
            let (stdio, _out) = pipe_stdio();
            let start = Instant::now();
            let exec_pid = rt.exec(&fx.id, &fx.bundle(), &process, stdio).unwrap();
            exec_times.push(start.elapsed());
            assert_eq!(wait_exit(exec_pid), 0);
            cycle_times.push(start.elapsed());
        }
        println!(
            "[{label}] builtin exec(): median {:?} (min {:?}); exec+wait: median {:?}",
            median(&mut exec_times),
            exec_times.first().unwrap(),
            median(&mut cycle_times)
        );
    }
}

fn bench_variant(label: &str, tweak: impl FnOnce(&mut Spec)) {
    let fx = Fixture::new("bench");
    let rt = fx.runtime();
    fx.write_spec(&["true"], tweak);
    let mut run_times = Vec::new();
    let mut cycle_times = Vec::new();
    for i in 0..20 {
        let id = format!("{}-{i}", fx.id);
        let (stdio, mut out) = pipe_stdio();
        let start = Instant::now();
        let pid = rt.run(&id, &fx.bundle(), stdio).unwrap();
        run_times.push(start.elapsed());
        let code = wait_exit(pid);
        if code != 0 {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            panic!("[{label}] exit {code}: {text}");
        }
        rt.delete(&id, false).unwrap();
        cycle_times.push(start.elapsed());
    }
    let run_median = median(&mut run_times);
    println!(
        "[{label}] builtin run(): median {:?} (min {:?}, max {:?}); run+wait+delete: median {:?}",
        run_median,
        run_times.first().unwrap(),
        run_times.last().unwrap(),
        median(&mut cycle_times)
    );

    if which_runc().is_none() {
        println!("runc not installed: no comparison");
        return;
    }
    let runc_root = fx.dir.path().join("runc");
    let mut runc_times = Vec::new();
    for i in 0..20 {
        let id = format!("{}-runc-{i}", fx.id);
        let start = Instant::now();
        let status = std::process::Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["run", "--bundle"])
            .arg(fx.bundle())
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .status()
            .unwrap();
        runc_times.push(start.elapsed());
        assert!(status.success());
    }
    println!(
        "[{label}] runc run (create+start+wait+delete): median {:?} (min {:?}, max {:?})",
        median(&mut runc_times),
        runc_times.first().unwrap(),
        runc_times.last().unwrap()
    );
}

fn docker_like(spec: &mut Spec) {
    let mut process = spec.process().clone().unwrap();
    process.set_capabilities(Some(docker_caps()));
    process.set_no_new_privileges(Some(false));
    spec.set_process(Some(process));
    let mut linux = spec.linux().clone().unwrap();
    let masked = [
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];
    let readonly = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ];
    linux.set_masked_paths(Some(masked.iter().map(|s| s.to_string()).collect()));
    linux.set_readonly_paths(Some(readonly.iter().map(|s| s.to_string()).collect()));
    let profile = Path::new("/work/shared/specs/docker-defaults/seccomp-default.json");
    if let Ok(text) = fs::read_to_string(profile) {
        let docker: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Unconditional and amd64 rules (not those that depend on capabilities).
        let applies = |r: &serde_json::Value| {
            if r.get("excludes").is_some() {
                return false;
            }
            let Some(includes) = r.get("includes").and_then(|i| i.as_object()) else {
                return true;
            };
            includes.keys().all(|k| k == "arches" || k == "minKernel")
                && includes
                    .get("arches")
                    .and_then(|a| a.as_array())
                    .is_none_or(|a| a.iter().any(|x| x == "amd64"))
        };
        let syscalls: Vec<_> = docker["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| applies(r))
            .map(|r| {
                let mut r = r.clone();
                let obj = r.as_object_mut().unwrap();
                obj.remove("comment");
                obj.remove("includes");
                r
            })
            .collect();
        let seccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": docker["defaultAction"],
            "defaultErrnoRet": docker["defaultErrnoRet"],
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": syscalls,
        }))
        .unwrap();
        linux.set_seccomp(Some(seccomp));
    } else {
        println!(
            "{} not found: docker-like bundle without seccomp",
            profile.display()
        );
    }
    spec.set_linux(Some(linux));
}

fn which_runc() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("runc"))
        .find(|p| p.exists())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

//! The built-in runtime's cache of compiled seccomp programs, end to end: the
//! filter installed from the cache is really active in the container (and in
//! exec'd processes), each profile is compiled once and then read from the cache,
//! and the container runs whatever the cache file holds (so it is not recompiled
//! behind our back).
//!
//! Needs root (namespaces, cgroups) and skips loudly otherwise. Tests run serially
//! (a static mutex): libcontainer clones from the calling thread and the tests reap
//! children with `waitpid`.
#![cfg(feature = "builtin")]

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilities, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxSeccomp,
    MountBuilder, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
};
use runtime::builtin::{seccomp, BuiltinRuntime};
use runtime::{Runtime, StdioSpec};

static SERIAL: Mutex<()> = Mutex::new(());

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

/// A temporary directory with `bundle/` (busybox rootfs) and `state/` (the root).
struct Fixture {
    dir: tempfile::TempDir,
    name: String,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bundle/rootfs/bin");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(dir.path().join("bundle/rootfs").join(d)).unwrap();
        }
        fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for applet in ["sh", "grep", "hostname", "unshare", "true", "echo", "sleep"] {
            symlink("busybox", bin.join(applet)).unwrap();
        }
        Self {
            dir,
            name: format!("bsc-{name}-{}", std::process::id()),
        }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn runtime(&self) -> BuiltinRuntime {
        BuiltinRuntime::new(self.dir.path().join("state"))
    }

    fn id(&self, n: usize) -> String {
        format!("{}-{n}", self.name)
    }

    fn write_spec(&self, args: &[&str], seccomp: Option<LinuxSeccomp>) {
        let process = docker_process(args);
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
        let mount = |dest: &str, typ: &str, options: &[&str]| {
            MountBuilder::default()
                .destination(dest)
                .typ(typ)
                .source(typ)
                .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .build()
                .unwrap()
        };
        let mut linux = LinuxBuilder::default()
            .namespaces(namespaces)
            .cgroups_path(PathBuf::from(format!("/berth-test/{}", self.name)))
            .build()
            .unwrap();
        linux.set_seccomp(seccomp);
        let spec: Spec = SpecBuilder::default()
            .version("1.0.2")
            .root(RootBuilder::default().path("rootfs").build().unwrap())
            .hostname("berth-test")
            .process(process)
            .mounts(vec![
                mount("/proc", "proc", &["nosuid", "noexec", "nodev"]),
                mount("/dev", "tmpfs", &["nosuid", "mode=755", "size=65536k"]),
                mount("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            ])
            .linux(linux)
            .build()
            .unwrap();
        spec.save(self.bundle().join("config.json")).unwrap();
    }

    /// Runs the container `n` to completion; its exit code and output.
    fn run(&self, rt: &BuiltinRuntime, n: usize) -> (i32, String) {
        let id = self.id(n);
        let (stdio, mut out) = pipe_stdio();
        let pid = rt.run(&id, &self.bundle(), stdio).unwrap();
        let _cleanup = Cleanup {
            rt,
            id: &id,
            pids: vec![pid],
        };
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        (wait_exit(pid), text)
    }
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

/// A process like Docker's: its capabilities and an explicit
/// `"noNewPrivileges": false`.
fn docker_process(args: &[&str]) -> Process {
    let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
        "bounding": DOCKER_CAPS,
        "effective": DOCKER_CAPS,
        "permitted": DOCKER_CAPS,
    }))
    .unwrap();
    let mut process = ProcessBuilder::default()
        .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .env(vec!["PATH=/bin".to_string()])
        .cwd("/")
        .capabilities(caps)
        .build()
        .unwrap();
    process.set_no_new_privileges(Some(false));
    process
}

/// Docker's default profile as dockerd renders it for an amd64 container with
/// Docker's default capabilities (rules filtered by their includes/excludes), from
/// the specs.
fn docker_profile() -> Option<LinuxSeccomp> {
    let path = Path::new("/work/shared/specs/docker-defaults/seccomp-default.json");
    let text = fs::read_to_string(path).ok()?;
    let docker: serde_json::Value = serde_json::from_str(&text).unwrap();
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let applies = |r: &serde_json::Value| {
        let empty = serde_json::json!({});
        let includes = r.get("includes").unwrap_or(&empty);
        let excludes = r.get("excludes").unwrap_or(&empty);
        let (inc_caps, inc_arches) = (
            strings(includes.get("caps")),
            strings(includes.get("arches")),
        );
        let (exc_caps, exc_arches) = (
            strings(excludes.get("caps")),
            strings(excludes.get("arches")),
        );
        inc_caps.iter().all(|c| DOCKER_CAPS.contains(&c.as_str()))
            && (inc_arches.is_empty() || inc_arches.iter().any(|a| a == "amd64"))
            && !exc_caps.iter().any(|c| DOCKER_CAPS.contains(&c.as_str()))
            && !exc_arches.iter().any(|a| a == "amd64")
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
            obj.remove("excludes");
            r
        })
        .collect();
    Some(
        serde_json::from_value(serde_json::json!({
            "defaultAction": docker["defaultAction"],
            "defaultErrnoRet": docker["defaultErrnoRet"],
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": syscalls,
        }))
        .unwrap(),
    )
}

/// Allows everything but sethostname, which fails with `errno`.
fn deny_sethostname(errno: u32) -> LinuxSeccomp {
    serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}
        ]
    }))
    .unwrap()
}

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

/// The compiled programs in `rt`'s cache.
fn cache_files(rt: &BuiltinRuntime) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(rt.seccomp_cache_dir()) {
        Ok(dir) => dir
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bpf"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

const PROBE: &str = "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; \
     unshare -U true && echo unshare=allowed || echo unshare=denied";

/// Docker's default profile from the cache blocks `unshare` (allowed by Docker only
/// with CAP_SYS_ADMIN) with EPERM, in the container and in exec'd processes, while
/// the same container without a profile may unshare; the profile is compiled once
/// and its cache file reused; the original bundle is left untouched and the derived
/// bundle goes away with the container.
#[test]
fn docker_profile_from_the_cache_is_enforced() {
    let Some(_g) = setup() else { return };
    let Some(profile) = docker_profile() else {
        eprintln!("SKIPPED: Docker's seccomp profile is not in /work/shared/specs");
        return;
    };
    let fx = Fixture::new("docker");
    let rt = fx.runtime();

    // Control: without seccomp, Docker's capabilities allow a user namespace.
    fx.write_spec(&["sh", "-c", PROBE], None);
    let (code, text) = fx.run(&rt, 0);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Seccomp:\t0"), "{text}");
    assert!(text.contains("unshare=allowed"), "{text}");
    assert!(cache_files(&rt).is_empty());

    fx.write_spec(&["sh", "-c", PROBE], Some(profile.clone()));
    let config_before = fs::read(fx.bundle().join("config.json")).unwrap();
    let (code, text) = fx.run(&rt, 1);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("NoNewPrivs:\t0"), "{text}");
    // Exactly Docker's capabilities: CAP_SYS_ADMIN raised to load the filter is gone.
    assert!(text.contains("CapEff:\t00000000a80425fb"), "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.ends_with("unshare=denied\n"), "{text}");
    assert_eq!(
        fs::read(fx.bundle().join("config.json")).unwrap(),
        config_before,
        "the bundle's config.json was modified"
    );

    let files = cache_files(&rt);
    assert_eq!(files.len(), 1, "{files:?}");
    let key = seccomp::cache_key(&profile).unwrap();
    assert_eq!(files[0], seccomp::cache_path(&rt.seccomp_cache_dir(), &key));
    let inode = fs::metadata(&files[0]).unwrap().ino();

    // Second run: read from the cache, not compiled again.
    let compiled = seccomp::compilations();
    let (code, text) = fx.run(&rt, 2);
    assert_eq!(code, 0, "{text}");
    assert!(text.ends_with("unshare=denied\n"), "{text}");
    assert_eq!(
        seccomp::compilations(),
        compiled,
        "the profile was recompiled"
    );
    assert_eq!(cache_files(&rt), files);
    assert_eq!(fs::metadata(&files[0]).unwrap().ino(), inode);

    // exec gets the same filter, from the cache too.
    fx.write_spec(&["sleep", "100"], Some(profile));
    let id = fx.id(3);
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &id,
        pids: vec![pid],
    };
    let (stdio, mut out) = pipe_stdio();
    let exec_pid = rt
        .exec(
            &id,
            &fx.bundle(),
            &docker_process(&["sh", "-c", PROBE]),
            stdio,
        )
        .unwrap();
    cleanup.pids.push(exec_pid);
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(exec_pid), 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("CapEff:\t00000000a80425fb"), "{text}");
    assert!(text.ends_with("unshare=denied\n"), "{text}");
    assert_eq!(
        seccomp::compilations(),
        compiled,
        "exec recompiled the profile"
    );

    let derived = rt.root().join("@bundles").join(&id);
    assert!(derived.join("config.json").is_file());
    drop(cleanup);
    assert!(
        !derived.exists(),
        "the derived bundle outlived the container"
    );
}

/// The container runs the program in the cache file: replacing the file's content
/// (with the program of a profile returning EACCES instead of EPERM) changes what
/// the next container gets, so nothing recompiles the profile behind the cache.
#[test]
fn containers_run_the_cached_program() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("swap");
    let rt = fx.runtime();
    let probe = "grep Seccomp: /proc/self/status; hostname other || echo denied";
    let eperm = deny_sethostname(libc::EPERM as u32);
    fx.write_spec(&["sh", "-c", probe], Some(eperm.clone()));
    let (code, text) = fx.run(&rt, 0);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.ends_with("denied\n"), "{text}");

    let cached = seccomp::cache_path(
        &rt.seccomp_cache_dir(),
        &seccomp::cache_key(&eperm).unwrap(),
    );
    assert!(cached.is_file());
    let other = tempfile::tempdir().unwrap();
    let eacces = deny_sethostname(libc::EACCES as u32);
    let program = seccomp::load_or_compile(other.path(), &eacces).unwrap();
    fs::copy(seccomp::cache_path(other.path(), program.key()), &cached).unwrap();

    let compiled = seccomp::compilations();
    let (code, text) = fx.run(&rt, 1);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.ends_with("denied\n"), "{text}");
    assert_eq!(seccomp::compilations(), compiled);

    // A damaged cache file is recompiled from the profile.
    fs::write(&cached, b"garbage").unwrap();
    let (code, text) = fx.run(&rt, 2);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Operation not permitted"), "{text}");
    assert_eq!(seccomp::compilations(), compiled + 1);
}

/// A bundle written by `BuiltinRuntime::write_bundle` (what the daemon does) is run
/// as it is: the program comes from the reference written beside the spec, the
/// raised capabilities are dropped again, and no second bundle is derived.
#[test]
fn bundles_written_for_the_runtime_are_run_as_they_are() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("written");
    let rt = fx.runtime();
    let probe = "grep -E 'Seccomp:|CapEff:' /proc/self/status; hostname other || echo denied";
    fx.write_spec(
        &["sh", "-c", probe],
        Some(deny_sethostname(libc::EPERM as u32)),
    );
    let mut spec = Spec::load(fx.bundle().join("config.json")).unwrap();
    let mut root = spec.root().clone().unwrap();
    root.set_path(fx.bundle().join("rootfs"));
    spec.set_root(Some(root));
    let written = fx.dir.path().join("written");
    let id = fx.id(0);
    rt.write_bundle(&id, &written, &spec).unwrap();
    let on_disk = Spec::load(written.join("config.json")).unwrap();
    assert!(on_disk.linux().as_ref().unwrap().seccomp().is_none());
    assert!(written.join("seccomp.ref").is_file());
    assert!(written.join("capabilities.json").is_file());

    let compiled = seccomp::compilations();
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&id, &written, stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &id,
        pids: vec![pid],
    };
    assert!(
        !rt.root().join("@bundles").join(&id).exists(),
        "a second bundle was derived"
    );
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    // Docker's capabilities only: CAP_SYS_ADMIN (bit 21) was dropped again.
    let eff = text
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(eff & (1 << 21), 0, "{text}");
    assert!(text.ends_with("denied\n"), "{text}");
    assert_eq!(seccomp::compilations(), compiled, "compiled again at run");
}

/// A profile with a notify action is left to libcontainer (which loads it
/// itself and hands the listener to the runtime): no cache file, no derived bundle.
#[test]
fn notify_profiles_are_not_cached() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("notify");
    let rt = fx.runtime();
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "listenerPath": fx.dir.path().join("no-listener.sock"),
        "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
    fx.write_spec(&["true"], Some(profile));
    let id = fx.id(0);
    let (stdio, _out) = pipe_stdio();
    // Without a listener libcontainer may fail; either way nothing is cached.
    if let Ok(pid) = rt.run(&id, &fx.bundle(), stdio) {
        let _cleanup = Cleanup {
            rt: &rt,
            id: &id,
            pids: vec![pid],
        };
        wait_exit(pid);
    } else {
        rt.delete(&id, true).unwrap();
    }
    assert!(cache_files(&rt).is_empty());
    assert!(!rt.root().join("@bundles").join(&id).exists());
}

/// Wall time of `run()` (median of 20, after one warm-up run that fills the
/// cache) and of `exec()` (median of 20) of `true` on the Docker-like bundle:
/// Docker's profile, capabilities and `noNewPrivileges: false`.
/// `cargo test --release -p runtime --test builtin_seccomp_cache -- --ignored --nocapture`
#[test]
#[ignore = "benchmark; run explicitly"]
fn bench_docker_like_run_and_exec() {
    let Some(_g) = setup() else { return };
    let Some(profile) = docker_profile() else {
        eprintln!("SKIPPED: Docker's seccomp profile is not in /work/shared/specs");
        return;
    };
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let fx = Fixture::new("bench");
    let rt = fx.runtime();
    fx.write_spec(&["true"], Some(profile.clone()));
    let (code, text) = fx.run(&rt, 0);
    assert_eq!(code, 0, "{text}");
    let mut run_times = Vec::new();
    for n in 1..=iterations {
        let id = fx.id(n);
        let (stdio, _out) = pipe_stdio();
        let start = Instant::now();
        let pid = rt.run(&id, &fx.bundle(), stdio).unwrap();
        run_times.push(start.elapsed());
        assert_eq!(wait_exit(pid), 0);
        rt.delete(&id, false).unwrap();
    }
    run_times.sort();
    println!(
        "docker-like run(): median {:?} (min {:?}, max {:?}) over {iterations}",
        run_times[run_times.len() / 2],
        run_times[0],
        run_times[run_times.len() - 1]
    );

    fx.write_spec(&["sleep", "100"], Some(profile));
    let id = fx.id(0);
    let (stdio, _out) = pipe_stdio();
    let pid = rt.run(&id, &fx.bundle(), stdio).unwrap();
    let mut cleanup = Cleanup {
        rt: &rt,
        id: &id,
        pids: vec![pid],
    };
    let process = docker_process(&["true"]);
    let mut exec_times = Vec::new();
    for _ in 0..iterations {
        let (stdio, _out) = pipe_stdio();
        let start = Instant::now();
        let exec_pid = rt.exec(&id, &fx.bundle(), &process, stdio).unwrap();
        exec_times.push(start.elapsed());
        assert_eq!(wait_exit(exec_pid), 0);
    }
    cleanup.pids.push(pid);
    exec_times.sort();
    println!(
        "docker-like exec(): median {:?} (min {:?}, max {:?}) over {iterations}",
        exec_times[exec_times.len() / 2],
        exec_times[0],
        exec_times[exec_times.len() - 1]
    );
}

/// With OCI hooks (which get the bundle path and may read its config.json), the
/// original bundle is given to libcontainer, which loads the filter itself.
#[test]
fn specs_with_hooks_keep_the_original_bundle() {
    let Some(_g) = setup() else { return };
    let fx = Fixture::new("hooks");
    let rt = fx.runtime();
    fx.write_spec(
        &[
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; hostname other || echo denied",
        ],
        Some(deny_sethostname(libc::EPERM as u32)),
    );
    let config = fx.bundle().join("config.json");
    let mut spec = Spec::load(&config).unwrap();
    let hooks: oci_spec::runtime::Hooks = serde_json::from_value(serde_json::json!({
        "createRuntime": [{"path": "/bin/true"}]
    }))
    .unwrap();
    spec.set_hooks(Some(hooks));
    spec.save(&config).unwrap();

    let id = fx.id(0);
    let (stdio, mut out) = pipe_stdio();
    let pid = rt.run(&id, &fx.bundle(), stdio).unwrap();
    let _cleanup = Cleanup {
        rt: &rt,
        id: &id,
        pids: vec![pid],
    };
    assert!(!rt.root().join("@bundles").join(&id).exists());
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(wait_exit(pid), 0, "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.ends_with("denied\n"), "{text}");
    assert!(cache_files(&rt).is_empty());
}

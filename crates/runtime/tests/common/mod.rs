//! Test fixtures: a busybox rootfs, a bundle, a shim on runc, cleanup guards.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::StreamExt;
use runtime::shim::{Frame, IoSession, RuntimeSpec, ShimClient, ShimConfig, StdStream};
use runtime::spec::{generate_spec, write_bundle, ContainerSpec};

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() || !std::path::Path::new("/usr/sbin/runc").exists() {
            eprintln!("SKIPPED: needs root and runc");
            return;
        }
    };
}

pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "ls", "id", "tty", "stty", "head", "tr", "dd",
    "env", "kill", "seq", "wc", "grep", "readlink", "hostname",
];

/// A busybox root filesystem.
pub fn make_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nwheel:x:10:root\nstaff:x:50:nobody\nnogroup:x:65534:\n",
    )
    .unwrap();
    root
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Which low-level runtime a test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rt {
    Runc,
    Builtin,
}

/// One container: its dirs, shim and cleanup.
pub struct Ctr {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub cfg: ShimConfig,
    pub client: ShimClient,
    pub shim_pid: u32,
    pub runc_root: PathBuf,
    pub rt: Rt,
}

pub fn base_spec(dir: &Path, args: &[&str]) -> ContainerSpec {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    ContainerSpec {
        id: format!("berthtest-{}-{n}", std::process::id()),
        rootfs: make_rootfs(dir),
        args: args.iter().map(|s| s.to_string()).collect(),
        hostname: "testhost".into(),
        ..Default::default()
    }
}

impl Ctr {
    /// Generates the bundle and spawns the shim (not started).
    pub async fn create(
        rt: Rt,
        dir: tempfile::TempDir,
        spec: ContainerSpec,
        stdin_once: bool,
        log_max_size: Option<u64>,
    ) -> Ctr {
        let bundle = dir.path().join("bundle");
        let oci = generate_spec(&spec).unwrap();
        write_bundle(&bundle, &oci).unwrap();
        let state_dir = dir.path().join("state");
        let runc_root = dir.path().join("runc");
        let cfg = ShimConfig {
            id: spec.id.clone(),
            bundle,
            runtime: match rt {
                Rt::Runc => RuntimeSpec::Oci {
                    name: "runc".into(),
                    path: "/usr/sbin/runc".into(),
                    root: runc_root.clone(),
                },
                Rt::Builtin => RuntimeSpec::Builtin {
                    root: runc_root.clone(),
                },
            },
            state_dir: state_dir.clone(),
            log_path: dir.path().join("ctr-json.log"),
            log_max_size,
            log_max_file: 3,
            tty: spec.tty,
            open_stdin: spec.open_stdin,
            stdin_once,
        };
        // BERTH_SHIM_EXE: measure another build of the shim (e.g. release).
        let exe = std::env::var_os("BERTH_SHIM_EXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth-shim")));
        let shim_pid = runtime::shim::spawn_shim(&exe, &cfg).await.unwrap();
        Ctr {
            id: spec.id.clone(),
            client: ShimClient::new(&state_dir),
            cfg,
            shim_pid,
            runc_root,
            rt,
            dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.cfg.log_path).unwrap_or_default()
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.cfg.state_dir.join("shim.log"));
            eprintln!("shim.log of {}: {log:?}", self.id);
        }
        // A container still running (failed test): kill its init first.
        let init = std::fs::read_to_string(self.cfg.state_dir.join("init.pid"));
        let alive = self.cfg.state_dir.join("shim.sock").exists();
        if let (Ok(pid), true) = (init, alive) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if self.rt == Rt::Runc {
            let _ = std::process::Command::new("/usr/sbin/runc")
                .arg("--root")
                .arg(&self.runc_root)
                .args(["delete", "--force", &self.id])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.shim_pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Leftover cgroups (the shim deletes them on a normal exit).
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in rd.flatten() {
                let _ = std::fs::remove_dir(c.path().join("berth").join(&self.id));
            }
        }
    }
}

/// Collects (stdout, stderr, exit code) of a session, with a timeout.
pub async fn collect(mut s: IoSession, secs: u64) -> (String, String, Option<i32>) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut code = None;
    let fut = async {
        while let Some(f) = s.output.next().await {
            match f.unwrap() {
                Frame::Data(StdStream::Stderr, d) => err.extend_from_slice(&d),
                Frame::Data(_, d) => out.extend_from_slice(&d),
                Frame::Exit(c) => code = Some(c),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("session timed out");
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        code,
    )
}

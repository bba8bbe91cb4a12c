//! The per-container shim (the `berth-shim` binary: `berth-shim <state_dir>`, installed
//! next to `berthd`) and the daemon's client for it.
//!
//! The shim owns the container's stdio (pty master or pipes), writes the json-file
//! log, reaps the container's init and exec processes (it is a child subreaper) and
//! records the exit in `<state_dir>/exit.json`. It outlives daemon restarts: the daemon
//! reconnects with a new [`ShimClient`] and nothing is lost. It runs on std threads
//! and blocking IO (no async runtime) to stay small.
//!
//! # Files in `<state_dir>`
//! `shim.json` ([`ShimConfig`], written by the daemon), `shim.sock` (the shim's socket),
//! `shim.pid`, `init.pid`, `exit.json` ([`ExitInfo`], written atomically), `shim.log`
//! (the shim's own diagnostics), `console*.sock` (transient, runc's console socket).
//!
//! # Protocol (one request per connection)
//! 1. The client sends one JSON request line ([`Request`], `{"op":"start"}`, ...).
//! 2. The shim answers one JSON line ([`Response`]: `{"ok":true,...}` or
//!    `{"ok":false,"error":"..."}`). `wait` is answered only once the container exited.
//! 3. `attach` and `exec` then stream: shim -> client frames `[kind u8][len u32 BE][data]`
//!    with kind 1 = stdout, 2 = stderr, 3 = exit (data = exit code, i32 BE; always the
//!    last frame, for attach too). client -> shim: raw stdin bytes; a write shutdown
//!    (half-close) is EOF on the process's stdin (for attach only with `stdin_once`;
//!    for exec always).
//!
//! # Startup handshake
//! [`spawn_shim`] gives the shim a pipe as stdout; the shim writes `ready\n` once its
//! socket listens (or an error line), then points its stdio at /dev/null.

mod client;
mod server;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{Runtime, RuntimeError};

pub use client::{IoSession, ShimClient};
pub use server::shim_main;

/// The shim's configuration, written as JSON to `<state_dir>/shim.json` by the daemon.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ShimConfig {
    pub id: String,
    /// Contains config.json (with the rootfs path inside).
    pub bundle: PathBuf,
    /// Which low-level runtime.
    pub runtime: RuntimeSpec,
    /// `<exec_root>/shims/<id>`.
    pub state_dir: PathBuf,
    /// json-file log of the container.
    pub log_path: PathBuf,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
}

/// Which low-level runtime runs the container. `root` = the runtime's state dir.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum RuntimeSpec {
    Builtin {
        root: PathBuf,
    },
    Oci {
        name: String,
        path: PathBuf,
        root: PathBuf,
    },
}

/// Errors talking to or running a shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("shim {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The runtime refused to start the process; `message` is the runtime's own
    /// message (e.g. `exec: "nope": executable file not found in $PATH`).
    #[error("{message}")]
    Start { message: String, exit_code: i32 },
    /// The shim answered with an error.
    #[error("{0}")]
    Shim(String),
    /// The container is not running (kill/resize/exec on a stopped container).
    #[error("container is not running")]
    NotRunning,
    #[error("shim protocol error: {0}")]
    Protocol(String),
    #[error("spawning shim: {0}")]
    Spawn(String),
}

impl errdefs::HasKind for ShimError {
    fn kind(&self) -> errdefs::ErrorKind {
        match self {
            ShimError::NotRunning => errdefs::ErrorKind::Conflict,
            // Docker answers 400 for a command that cannot be found or run (its
            // startInvalidConfigError), 500 for other start failures.
            ShimError::Start { exit_code, .. } if *exit_code == 126 || *exit_code == 127 => {
                errdefs::ErrorKind::InvalidArgument
            }
            _ => errdefs::ErrorKind::Internal,
        }
    }
}

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
}

/// One item of an attach/exec output stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data(StdStream, bytes::Bytes),
    /// The process exited with this code (last frame).
    Exit(i32),
}

/// How a container ended (`<state_dir>/exit.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status, or 128 + signal.
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
    /// Set when the container failed to start.
    pub error: Option<String>,
}

/// A request line.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Start,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    Wait,
    Exec {
        id: String,
        process: Box<oci_spec::runtime::Process>,
        stdin: bool,
        detach: bool,
    },
    ExecResize {
        id: String,
        height: u16,
        width: u16,
    },
    Ping,
}

/// A response line.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// "start" (runtime refused to start), "not_running".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
}

pub(crate) const FRAME_STDOUT: u8 = 1;
pub(crate) const FRAME_STDERR: u8 = 2;
pub(crate) const FRAME_EXIT: u8 = 3;
pub(crate) const SOCKET: &str = "shim.sock";

/// A path for binding or connecting to the unix socket `path` that fits in
/// `sun_path` (108 bytes): a long path goes through `/proc/<pid>/fd/<dir>/<name>`
/// of an `O_PATH` descriptor of its directory, which must stay open (the returned
/// file) while the path is used. Long exec roots then work.
pub(crate) fn socket_path(path: &Path) -> std::io::Result<(PathBuf, Option<std::fs::File>)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str().len() < 100 {
        return Ok((path.to_path_buf(), None));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok((path.to_path_buf(), None));
    };
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    let short =
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), d.as_raw_fd())).join(name);
    Ok((short, Some(d)))
}
pub(crate) const EXIT_FILE: &str = "exit.json";
pub(crate) const CONFIG_FILE: &str = "shim.json";

/// The runtime a [`RuntimeSpec`] names.
pub fn runtime_for(spec: &RuntimeSpec) -> Result<Box<dyn Runtime>, RuntimeError> {
    match spec {
        RuntimeSpec::Oci { name, path, root } => Ok(Box::new(crate::oci_binary::OciBinary::new(
            name, path, root,
        ))),
        #[cfg(feature = "builtin")]
        RuntimeSpec::Builtin { root } => {
            Ok(Box::new(crate::builtin::BuiltinRuntime::new(root.clone())))
        }
        #[cfg(not(feature = "builtin"))]
        RuntimeSpec::Builtin { .. } => Err(RuntimeError::Unavailable {
            runtime: "berth".into(),
            reason: "built without the \"builtin\" feature".into(),
        }),
    }
}

/// Writes `path` atomically (temporary file, fsync, rename).
/// Writes `data` under a temporary name and renames it into place, so a reader
/// never sees a half-written file even if the writer dies. No fsync: these files
/// live in the exec root, which is per-boot state (after a power loss nothing in
/// it is meaningful), and an fsync costs milliseconds on the `run` path.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    std::fs::rename(&tmp, path)
}

/// Daemon side: writes `shim.json`, spawns `<exe> <state_dir>` detached (own
/// session, stdio /dev/null, survives the daemon), waits until its socket listens and
/// returns its pid. A dropped child is reaped by tokio if the daemon is still its parent.
pub async fn spawn_shim(exe: &Path, cfg: &ShimConfig) -> Result<u32, ShimError> {
    use tokio::io::AsyncBufReadExt;
    let io = |context: String| move |source| ShimError::Io { context, source };
    std::fs::create_dir_all(&cfg.state_dir)
        .map_err(io(format!("creating {}", cfg.state_dir.display())))?;
    let data = serde_json::to_vec_pretty(cfg).map_err(|e| ShimError::Spawn(e.to_string()))?;
    let cfg_path = cfg.state_dir.join(CONFIG_FILE);
    write_atomic(&cfg_path, &data).map_err(io(format!("writing {}", cfg_path.display())))?;
    // Leftovers of a previous run of the same container (restart).
    for stale in [EXIT_FILE, "init.pid", "shim.pid"] {
        let _ = std::fs::remove_file(cfg.state_dir.join(stale));
    }
    // The shim's own stderr (panics, fatal errors) goes to shim.log in its state dir.
    let shim_log_path = cfg.state_dir.join("shim.log");
    let shim_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&shim_log_path)
        .map_err(io(format!("opening {}", shim_log_path.display())))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg(&cfg.state_dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(shim_log)
        .kill_on_drop(false);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent; it
    // detaches the shim from the daemon's session so signals to the daemon's process
    // group do not reach it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(io(format!("spawning {}", exe.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| ShimError::Spawn("shim exited at once".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| ShimError::Spawn("no shim stdout".into()))?;
    let mut line = String::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await;
    match read {
        Ok(Ok(_)) if line.trim() == "ready" => Ok(pid),
        Ok(Ok(_)) => {
            let msg = line.trim();
            Err(ShimError::Spawn(if msg.is_empty() {
                "shim exited before it was ready".into()
            } else {
                msg.to_string()
            }))
        }
        Ok(Err(e)) => Err(io("reading shim readiness".into())(e)),
        Err(_) => {
            let _ = child.start_kill();
            Err(ShimError::Spawn("shim did not become ready in 30s".into()))
        }
    }
}

#[cfg(test)]
mod socket_path_tests {
    use super::socket_path;

    #[test]
    fn long_socket_paths_go_through_proc_fd() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let sock = deep.join("shim.sock");
        assert!(sock.as_os_str().len() > 108);
        let (p, dir) = socket_path(&sock).unwrap();
        assert!(
            dir.is_some() && p.as_os_str().len() < 100,
            "{}",
            p.display()
        );
        let l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        assert!(sock.exists(), "the socket lives in the long directory");
        let (p2, _d2) = socket_path(&sock).unwrap();
        std::os::unix::net::UnixStream::connect(&p2).unwrap();
        drop(l);
        let short = tmp.path().join("s.sock");
        assert_eq!(socket_path(&short).unwrap().0, short);
    }
}

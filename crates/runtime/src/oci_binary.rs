//! An OCI runtime binary (runc and compatible) behind the [`Runtime`] trait.
//!
//! `run` is one `runc run -d` invocation (faster than create + start). runc's errors go
//! to a per-invocation JSON log (`--log <file> --log-format json`) whose `msg` fields
//! become the error message: with `-d` and plain fds, runc hands its own stdio to the
//! container, so its stderr is not ours to read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::{Runtime, RuntimeError, StdioSpec};

/// An OCI runtime binary such as runc.
#[derive(Debug, Clone)]
pub struct OciBinary {
    /// Name shown in inspect (`runc`).
    pub name: String,
    /// The binary.
    pub path: PathBuf,
    /// The runtime's state directory (`--root`).
    pub root: PathBuf,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl OciBinary {
    pub fn new(name: &str, path: &Path, root: &Path) -> Self {
        Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        }
    }

    fn io(&self, context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let runtime = self.name.clone();
        let context = context.into();
        move |source| RuntimeError::Io {
            runtime,
            context,
            source,
        }
    }

    fn base(&self, log: &Path) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json");
        cmd
    }

    /// Runs `cmd` to completion; on failure the message is taken from runc's log.
    fn invoke(
        &self,
        mut cmd: Command,
        log: &Path,
        action: &'static str,
        id: &str,
    ) -> Result<(), RuntimeError> {
        let out = cmd
            .output()
            .map_err(self.io(format!("spawning {}", self.path.display())))?;
        let result = if out.status.success() {
            Ok(())
        } else {
            let mut message = log_errors(log);
            if message.is_empty() {
                message = String::from_utf8_lossy(&out.stderr).trim().to_string();
            }
            if message.is_empty() {
                message = format!("exited with {}", out.status);
            }
            Err(RuntimeError::Failed {
                runtime: self.name.clone(),
                action,
                id: id.to_string(),
                message,
            })
        };
        let _ = std::fs::remove_file(log);
        result
    }

    fn scratch(&self, dir: &Path, what: &str) -> PathBuf {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        dir.join(format!(".{}-{what}-{}-{n}", self.name, std::process::id()))
    }

    fn start_process(
        &self,
        mut cmd: Command,
        dir: &Path,
        stdio: StdioSpec,
        action: &'static str,
        id: &str,
        log: &Path,
    ) -> Result<u32, RuntimeError> {
        let pid_file = self.scratch(dir, "pid");
        cmd.arg("--pid-file").arg(&pid_file);
        match stdio {
            StdioSpec::Tty { console_socket } => {
                cmd.arg("--console-socket").arg(console_socket);
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
            }
            StdioSpec::Fds {
                stdin,
                stdout,
                stderr,
            } => {
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
            }
        }
        cmd.arg(id);
        let res = self.invoke(cmd, log, action, id);
        let pid = std::fs::read_to_string(&pid_file);
        let _ = std::fs::remove_file(&pid_file);
        res?;
        let pid = pid.map_err(self.io(format!("reading {}", pid_file.display())))?;
        pid.trim().parse::<u32>().map_err(|_| RuntimeError::Failed {
            runtime: self.name.clone(),
            action,
            id: id.to_string(),
            message: format!("bad pid file content {pid:?}"),
        })
    }
}

/// The `msg` of runc's error/fatal JSON log lines.
fn log_errors(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return String::new();
    };
    let mut msgs = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let level = v["level"].as_str().unwrap_or("");
        if level == "error" || level == "fatal" {
            if let Some(m) = v["msg"].as_str() {
                msgs.push(m.to_string());
            }
        }
    }
    msgs.join("; ")
}

impl Runtime for OciBinary {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, id: &str, bundle: &Path, stdio: StdioSpec) -> Result<u32, RuntimeError> {
        let log = self.scratch(bundle, "log");
        let mut cmd = self.base(&log);
        cmd.arg("run").arg("-d").arg("--bundle").arg(bundle);
        self.start_process(cmd, bundle, stdio, "start", id, &log)
    }

    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        process: &oci_spec::runtime::Process,
        stdio: StdioSpec,
    ) -> Result<u32, RuntimeError> {
        let log = self.scratch(bundle, "log");
        let proc_file = self.scratch(bundle, "process.json");
        let data = serde_json::to_vec(process).map_err(|e| RuntimeError::Io {
            runtime: self.name.clone(),
            context: "encoding exec process".into(),
            source: e.into(),
        })?;
        std::fs::write(&proc_file, data)
            .map_err(self.io(format!("writing {}", proc_file.display())))?;
        let mut cmd = self.base(&log);
        cmd.arg("exec").arg("-d").arg("--process").arg(&proc_file);
        let res = self.start_process(cmd, bundle, stdio, "exec in", id, &log);
        let _ = std::fs::remove_file(&proc_file);
        res
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let log = self.scratch(&std::env::temp_dir(), "log");
        let mut cmd = self.base(&log);
        cmd.arg("kill");
        if all {
            cmd.arg("--all");
        }
        cmd.arg(id).arg(signal.to_string());
        cmd.stdin(Stdio::null());
        self.invoke(cmd, &log, "kill", id)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let log = self.scratch(&std::env::temp_dir(), "log");
        let mut cmd = self.base(&log);
        cmd.arg("delete");
        if force {
            cmd.arg("--force");
        }
        cmd.arg(id).stdin(Stdio::null());
        match self.invoke(cmd, &log, "delete", id) {
            Err(RuntimeError::Failed { message, .. })
                if message.contains("does not exist") || message.contains("not exist") =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

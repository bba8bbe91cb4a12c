//! The low-level runtime trait. Implementations: [`crate::oci_binary`] (runc, crun,
//! youki binaries, selected with `--runtime`) and [`crate::builtin`] (in-process,
//! libcontainer). The shim is the only caller.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// How a container process's stdio is wired.
#[derive(Debug)]
pub enum StdioSpec {
    /// A pseudo-terminal. The runtime creates it inside the container and sends the
    /// pty master over the unix socket at `console_socket` (runc's `--console-socket`
    /// protocol: one SCM_RIGHTS message carrying the master fd).
    Tty { console_socket: PathBuf },
    /// Plain file descriptors that become the process's fds 0, 1 and 2.
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

/// Errors of a low-level runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("runtime {runtime} failed to {action} container {id}: {message}")]
    Failed {
        runtime: String,
        action: &'static str,
        id: String,
        message: String,
    },
    #[error("runtime {runtime}: {context}: {source}")]
    Io {
        runtime: String,
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime {runtime} is not available: {reason}")]
    Unavailable { runtime: String, reason: String },
}

impl errdefs::HasKind for RuntimeError {
    fn kind(&self) -> errdefs::ErrorKind {
        match self {
            RuntimeError::Unavailable { .. } => errdefs::ErrorKind::InvalidArgument,
            _ => errdefs::ErrorKind::Internal,
        }
    }
}

/// A low-level OCI runtime, driven by the shim (one shim per container).
///
/// The shim is a child subreaper (`PR_SET_CHILD_SUBREAPER`): every pid returned here
/// is, or becomes, the shim's child, and the shim reaps it itself.
pub trait Runtime: Send + Sync {
    /// Short name shown in `inspect` (`runc`, `berth`).
    fn name(&self) -> &str;

    /// Creates and starts the container described by `bundle` (its `config.json` and
    /// the rootfs it names) and returns the pid of the container's init process.
    fn run(&self, id: &str, bundle: &Path, stdio: StdioSpec) -> Result<u32, RuntimeError>;

    /// Starts `process` inside the running container `id` (docker exec) and returns
    /// its pid.
    fn exec(
        &self,
        id: &str,
        bundle: &Path,
        process: &oci_spec::runtime::Process,
        stdio: StdioSpec,
    ) -> Result<u32, RuntimeError>;

    /// Sends `signal` to the container's init process (`all`: to every process in it).
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError>;

    /// Removes the runtime's state and the container's cgroup once init has exited
    /// (`force`: kill what is left first). Deleting an unknown container is not an error.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
}

//! The per-container shim and its client.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{Runtime, RuntimeError};

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ShimConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: RuntimeSpec,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
}

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

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("shim {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Runtime(String),
}

impl engine_types::HasKind for ShimError {
    fn kind(&self) -> engine_types::ErrorKind {
        engine_types::ErrorKind::Internal
    }
}

pub fn runtime_for(spec: &RuntimeSpec) -> Result<Box<dyn Runtime>, RuntimeError> {
    let _ = spec;
    todo!()
}

pub async fn spawn_shim(exe: &Path, cfg: &ShimConfig) -> Result<u32, ShimError> {
    let _ = (exe, cfg);
    todo!()
}

pub fn shim_main(state_dir: &Path) -> i32 {
    let _ = state_dir;
    todo!()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data(StdStream, bytes::Bytes),
    Exit(i32),
}

pub struct IoSession {
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    pub output: Box<dyn futures::Stream<Item = Result<Frame, ShimError>> + Send + Unpin>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    pub exit_code: i32,
    pub oom_killed: bool,
    pub finished_at: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
}

impl ShimClient {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            state_dir: state_dir.to_path_buf(),
        }
    }
    pub async fn start(&self) -> Result<u32, ShimError> {
        todo!()
    }
    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<IoSession, ShimError> {
        let _ = (stdin, stdout, stderr, &self.state_dir);
        todo!()
    }
    pub async fn resize(&self, height: u16, width: u16) -> Result<(), ShimError> {
        let _ = (height, width);
        todo!()
    }
    pub async fn kill(&self, signal: i32) -> Result<(), ShimError> {
        let _ = signal;
        todo!()
    }
    pub async fn wait(&self) -> Result<ExitInfo, ShimError> {
        todo!()
    }
    pub async fn exec(
        &self,
        exec_id: &str,
        process: oci_spec::runtime::Process,
        stdin: bool,
        detach: bool,
    ) -> Result<(u32, IoSession), ShimError> {
        let _ = (exec_id, process, stdin, detach);
        todo!()
    }
    pub async fn exec_resize(
        &self,
        exec_id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), ShimError> {
        let _ = (exec_id, height, width);
        todo!()
    }
    pub async fn is_alive(&self) -> bool {
        todo!()
    }
    pub fn read_exit(state_dir: &Path) -> Option<ExitInfo> {
        let _ = state_dir;
        todo!()
    }
}

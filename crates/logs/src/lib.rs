#![forbid(unsafe_code)]
//! Docker's `json-file` log driver.
//!
//! Each line a container writes becomes one JSON record on its own line:
//! `{"log":"line\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`.
//! [`LogWriter`] (sync, used in the shim) appends records with `O_APPEND`, one `write(2)`
//! per record, and rotates (`path` -> `path.1` -> ... -> `path.<max_file-1>`) when the
//! file would exceed `max_size`. [`read_logs`] (async) reads the rotated files oldest
//! first, with tail/since/until filters and follow.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Errors of the log driver.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log file {path}: {context}: {source}")]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl engine_types::HasKind for LogError {
    fn kind(&self) -> engine_types::ErrorKind {
        engine_types::ErrorKind::Internal
    }
}

/// Writer of a json-file log (sync; used by the shim).
pub struct LogWriter {}

impl LogWriter {
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> Result<Self, LogError> {
        let _ = (path, max_size, max_file);
        todo!()
    }
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<(), LogError> {
        let _ = (stream, data);
        todo!()
    }
    pub fn flush(&mut self) -> Result<(), LogError> {
        todo!()
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub tail: Option<usize>,
    pub follow: bool,
}

/// One decoded record.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub stream: Stream,
    pub time: DateTime<Utc>,
    pub line: bytes::Bytes,
}

/// Reads the log at `path` (and its rotated files).
pub fn read_logs(
    path: PathBuf,
    opts: ReadOptions,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> impl futures::Stream<Item = Result<LogEntry, LogError>> + Send + 'static {
    let _ = (path, opts, stop);
    futures::stream::empty()
}

//! The error of [`crate::build`].

use errdefs::{ErrorKind, HasKind};

use crate::backend::BackendError;

/// A failed build. `Display` is the message Docker shows (and the builder
/// also sends it as the final `errorDetail` message).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse: `dockerfile parse error on line 3: ...`.
    #[error("{source}")]
    Parse {
        /// The Dockerfile's path inside the context.
        file: String,
        /// The parser's error (line, instruction, message).
        #[source]
        source: dockerfile::ParseError,
    },
    /// A variable substitution failed in a step.
    #[error("{source}")]
    Expand {
        /// 1-based line of the step.
        line: usize,
        /// The substitution error.
        #[source]
        source: dockerfile::ExpandError,
    },
    /// The `.dockerignore` file has an invalid pattern.
    #[error("failed to parse .dockerignore: {source}")]
    Ignore {
        /// The matcher's error.
        #[source]
        source: dockerfile::IgnoreError,
    },
    /// The build context cannot be read (or its tar stream is malformed).
    #[error("{context}: {source}")]
    Context {
        /// What was being done (`reading build context`, the path...).
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The build context holds a path that would escape it.
    #[error("invalid build context entry {path:?}: {reason}")]
    UnsafeContextPath {
        /// The entry name.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// The Dockerfile is not in the context.
    #[error("Cannot locate specified Dockerfile: {path}")]
    DockerfileMissing {
        /// The path asked for.
        path: String,
    },
    /// A request or Dockerfile that is invalid (bad `--target`, unknown stage
    /// in `--from`, bad `--chmod`, circular stage reference, ...).
    #[error("{message}")]
    Invalid {
        /// Moby's wording where one exists.
        message: String,
    },
    /// A COPY/ADD source that does not exist: `COPY failed: file not found in
    /// build context or excluded by .dockerignore: stat missing.txt: file does
    /// not exist`.
    #[error("{instruction} failed: file not found in build context or excluded by .dockerignore: stat {path}: file does not exist")]
    SourceNotFound {
        /// `COPY` or `ADD`.
        instruction: &'static str,
        /// The source as written (after expansion).
        path: String,
    },
    /// A COPY/ADD source outside the context (`../x`, or a symlink leaving it).
    #[error("{instruction} failed: forbidden path outside the build context: {path} ()")]
    OutsideContext {
        /// `COPY` or `ADD`.
        instruction: &'static str,
        /// The source as written.
        path: String,
    },
    /// A `RUN` that exited non-zero: `The command '/bin/sh -c exit 3' returned a
    /// non-zero code: 3`.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as moby prints it (argv joined by spaces).
        command: String,
        /// Exit code.
        code: i64,
        /// The last lines of output, if the backend kept them.
        tail: Option<String>,
    },
    /// The backend failed in a step.
    #[error("{source}")]
    Backend {
        /// The step (`Step 3/7 : RUN make`), when there is one.
        step: Option<String>,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// A feature this builder does not implement (e.g. `ADD <git url>`).
    #[error("{what} is not supported")]
    NotImplemented {
        /// What.
        what: String,
    },
    /// A builder thread failed unexpectedly.
    #[error("internal builder error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
}

impl BuildError {
    /// The exit code to report in `errorDetail.code` (moby sets it for a
    /// failing RUN).
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl HasKind for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Backend { source, .. } => source.kind(),
            BuildError::Context { .. } | BuildError::Internal { .. } => ErrorKind::Internal,
            BuildError::NotImplemented { .. } => ErrorKind::NotImplemented,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

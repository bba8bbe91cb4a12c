//! The crate's error type.

use std::path::PathBuf;

use crate::interpolate::InterpolateError;
use crate::yaml::YamlError;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no compose file found in {} (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml)", dir.display())]
    NoComposeFile { dir: PathBuf },
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A value that does not fit the model, or a reference that does not resolve.
    #[error("{file}:{line}: {path}: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        path: String,
        message: String,
    },
    #[error("{file}:{line}: {path}: {source}")]
    Interpolation {
        file: String,
        line: usize,
        path: String,
        #[source]
        source: InterpolateError,
    },
    #[error("{}:{line}: {message}", path.display())]
    EnvFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("extends cycle: {}", chain.join(" -> "))]
    ExtendsCycle { chain: Vec<String> },
    #[error("{name:?} is not a valid project name: {reason}")]
    ProjectName { name: String, reason: &'static str },
    #[error("dependency cycle between services: {}", cycle.join(" -> "))]
    DependencyCycle { cycle: Vec<String> },
    #[error("no such service: {0}")]
    NoSuchService(String),
}

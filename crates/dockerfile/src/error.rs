//! The error returned by [`crate::parse`].

use errdefs::{ErrorKind, HasKind};

/// A Dockerfile that cannot be parsed.
///
/// `Display` follows BuildKit (and the classic builder, which uses BuildKit's
/// parser): `dockerfile parse error on line 3: FROM requires either one or three
/// arguments`. [`ParseError::with_file`] gives the short form BuildKit prints
/// next to a source excerpt: `Dockerfile:12: unknown instruction: RUNN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    /// 1-based line where the offending instruction starts (0 when the file is
    /// empty).
    pub line: usize,
    /// 1-based line where the offending instruction ends (equal to `line` for
    /// single-line instructions).
    pub end_line: usize,
    /// The instruction keyword as written (e.g. `RUNN`, `from`), when the error
    /// belongs to one instruction.
    pub instruction: Option<String>,
    /// What is wrong, worded as BuildKit words it.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, end_line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            end_line: end_line.max(line),
            instruction: None,
            message: message.into(),
        }
    }

    pub(crate) fn with_instruction(mut self, keyword: &str) -> Self {
        self.instruction = Some(keyword.to_string());
        self
    }

    /// The error in BuildKit's short form, prefixed by the Dockerfile's name:
    /// `Dockerfile:12: unknown instruction: RUNN`.
    pub fn with_file(&self, file: &str) -> String {
        format!("{file}:{}: {}", self.line, self.message)
    }
}

impl HasKind for ParseError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

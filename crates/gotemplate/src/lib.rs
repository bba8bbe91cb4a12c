//! The subset of Go's `text/template` that docker's `--format` flags use,
//! executed over `serde_json::Value`s (the daemon's JSON), printing values
//! the way Go's `fmt` prints the typed structs docker decodes that JSON into.
//!
//! Supported: text and `{{pipeline}}` actions (with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`), `.Field.Chains`, `(pipeline).Field`, string, number
//! and boolean literals, `|` pipelines, `{{if}}`, `{{with}}` and `{{range}}`
//! with `{{else}}` (and `{{else if}}`/`{{else with}}` chains), and the
//! functions docker registers (`json`, `join`,
//! `split`, `upper`, `lower`, `title`, `truncate`, `pad`) plus Go's builtins
//! `index`, `len`, `print`, `printf`, `println`, `not`, `and`, `or`, `eq`, `ne`.
//! Variables (`$x`), `{{define}}` and `{{template}}` are not supported.
//!
//! Data conventions, as the CLI builds its rows:
//! - field lookup prefers the exact key and falls back to a case-insensitive
//!   match ([`JsonExt`]), as Go's `encoding/json` does when decoding;
//! - a JSON `null` or a missing field prints the Go zero value of the field
//!   docker's struct has under that name (`[]`, `map[]`, `<nil>`, `""`, `0`,
//!   `false`); a missing key after a `<no value>` stays `<no value>`;
//! - an object with a `"__json_html"` key is a formatter row: unknown fields
//!   are errors and `{{json .}}` escapes `<`, `>` and `&` like `json.Marshal`;
//! - an object with a `"__Method"` key (an object of strings) answers the
//!   method call `{{.Method "key"}}` (docker's `{{.Label "name"}}`);
//! - keys starting with `__` are never printed.
//!
//! ```
//! use gotemplate::Template;
//! use serde_json::json;
//!
//! let t = Template::parse("{{.Name}}: {{join .Cmd \" \"}}{{if .State.Running}} (up){{end}}")?;
//! let c = json!({"Name": "web", "Cmd": ["sleep", "9"], "State": {"Running": true}});
//! assert_eq!(t.execute(&c)?, "web: sleep 9 (up)");
//! # Ok::<(), gotemplate::Error>(())
//! ```
#![forbid(unsafe_code)]

mod exec;
mod format;
mod funcs;
mod parse;
mod print;
mod zero;

pub use format::Format;
pub use parse::Template;
pub use print::{go_print, to_json};

use serde_json::Value;

/// A template that does not parse, or does not execute on some data.
/// The messages follow Go's `text/template` wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("template: unclosed action")]
    UnclosedAction,
    #[error("template: unclosed left paren")]
    UnclosedParen,
    #[error("template: missing command before '|'")]
    MissingCommand,
    #[error("template: unterminated quoted string")]
    UnterminatedString,
    #[error("template: variables are not supported: {0}")]
    Variable(String),
    #[error("template: missing value for command")]
    MissingValue,
    /// An `{{end}}` or `{{else}}` outside any block.
    #[error("template: unexpected {{{{{0}}}}}")]
    Unexpected(String),
    /// `{{else}}` followed by something other than `if` or `with`.
    #[error("template: unexpected \"{0}\" in else")]
    ElseWord(String),
    #[error("template: missing {{{{end}}}}")]
    MissingEnd,
    #[error("template: unexpected EOF")]
    UnexpectedEof,
    #[error("template: range can't iterate over {0}")]
    RangeOver(String),
    #[error("template: executing \"\" at <.{0}>: map has no entry for key \"{0}\"")]
    NoEntry(String),
    #[error("template: can't evaluate field {field} in type {ty}")]
    FieldOfType { field: String, ty: &'static str },
    #[error("template: can't call method {0} with arguments")]
    MethodWithArgs(String),
    #[error("template: wrong argument for {0}")]
    MethodArgument(String),
    #[error("template: can't give argument to non-function")]
    ArgumentToNonFunction,
    #[error("template: wrong number of args for {func}: want {want} got {got}")]
    ArgCount {
        func: String,
        want: String,
        got: usize,
    },
    #[error("template: wrong number of args for {0}")]
    MissingArgs(String),
    #[error("template: error calling index: index out of range: {0}")]
    IndexOutOfRange(f64),
    #[error("template: can't index item of type {0}")]
    IndexType(&'static str),
    #[error("template: len of type {0}")]
    LenType(&'static str),
    #[error("template: function \"{0}\" not defined")]
    UnknownFunction(String),
}

/// Field access on daemon JSON that, like Go's `encoding/json` decoding into
/// docker's typed structs, prefers an exact key and falls back to a
/// case-insensitive match (so `{"id": ...}` still yields the Id). Templates
/// look fields up this way; callers reading the same JSON can too.
pub trait JsonExt {
    /// `get` with a case-insensitive fallback.
    fn ci(&self, key: &str) -> Option<&Value>;
    /// `pointer` ("/A/B") with case-insensitive fallback at each step.
    fn cptr(&self, ptr: &str) -> Option<&Value>;
}

impl JsonExt for Value {
    fn ci(&self, key: &str) -> Option<&Value> {
        let m = self.as_object()?;
        m.get(key).or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    }

    fn cptr(&self, ptr: &str) -> Option<&Value> {
        let mut v = self;
        for part in ptr.split('/').filter(|p| !p.is_empty()) {
            v = v.ci(part)?;
        }
        Some(v)
    }
}

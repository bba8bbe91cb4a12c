//! Variable substitution and word splitting with BuildKit's rules
//! (`frontend/dockerfile/shell/lex.go`).
//!
//! Supported: `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
//! `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`,
//! `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}`; `word`
//! may itself contain substitutions and quotes. The escape character (`\` or the
//! one set with `# escape=`) escapes the next character; single quotes keep
//! everything literal; double quotes keep everything but `$` and escapes.
//!
//! Which instructions BuildKit expands, and how (see [`Instruction::expand`]):
//!
//! | instruction | expanded |
//! | --- | --- |
//! | `ENV`, `LABEL` | keys and values, one word each |
//! | `ARG` | the default value (only when no build-arg overrides it) |
//! | `COPY`, `ADD` | sources, destination, `--chown`, `--chmod`, `--checksum`; heredoc bodies with an unquoted delimiter (quotes kept, `\` escapes) |
//! | `WORKDIR`, `USER`, `STOPSIGNAL` | the argument |
//! | `VOLUME` | each path |
//! | `EXPOSE` | each word, **split** into several words |
//! | `RUN` | the values of `--mount` |
//! | `FROM` | base and `--platform`, against the global (meta) args ([`crate::Stage::expanded_base`]) |
//! | `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `ONBUILD`, `MAINTAINER`, `RUN`'s command | never (the shell does it at run time) |
//!
//! `COPY --from` is never expanded: a value that would change is an error.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use crate::ast::{Add, Copy, Instruction, Run, Stage, Step};
use crate::mount::{parse_mount, MountError};
use crate::units::go_quote;

/// The environment used for substitution.
///
/// Implemented for maps, for slices of `(key, value)` pairs (the last pair
/// with a key wins, as with repeated `ENV`), for [`NoEnv`] and for closures
/// `Fn(&str) -> Option<String>`.
pub trait Lookup {
    /// The value of `name`, or `None` when it is not set (set-but-empty is
    /// `Some("")`; the `:-` and `-` forms tell them apart).
    fn lookup(&self, name: &str) -> Option<String>;
}

impl<F> Lookup for F
where
    F: Fn(&str) -> Option<String>,
{
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl<S: BuildHasher> Lookup for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Lookup for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Lookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

/// An empty environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl Lookup for NoEnv {
    fn lookup(&self, _name: &str) -> Option<String> {
        None
    }
}

/// A substitution that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// A word could not be processed (bad syntax or `${VAR?msg}` on an unset
    /// variable). Display: `failed to process "<word>": <message>`.
    #[error("failed to process {}: {message}", go_quote(.word))]
    Word {
        /// The word as written.
        word: String,
        /// BuildKit's wording, e.g. `syntax error: missing '}'`.
        message: String,
    },
    /// A `RUN --mount` value is invalid once expanded.
    #[error("invalid RUN --mount value: {source}")]
    Mount {
        /// The mount error.
        #[source]
        source: MountError,
    },
    /// `COPY --from` holds a variable.
    #[error("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")]
    FromExpansion {
        /// The `--from` value.
        from: String,
    },
}

impl errdefs::HasKind for ExpandError {
    fn kind(&self) -> errdefs::ErrorKind {
        errdefs::ErrorKind::InvalidArgument
    }
}

/// The shell-word lexer with BuildKit's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// Escape character (`\` or `` ` ``).
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-y}`).
    pub skip_unset_env: bool,
}

impl Lexer {
    /// A lexer with default options and this escape character.
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Expands `word` into one string (quotes removed, whitespace kept):
    /// BuildKit's `ProcessWord`.
    pub fn process_word<L: Lookup + ?Sized>(
        &self,
        word: &str,
        env: &L,
    ) -> Result<String, ExpandError> {
        self.run(word, env).map(|(s, _)| s)
    }

    /// Expands `word` and splits the result on unquoted whitespace (whitespace
    /// produced by a substitution also splits): BuildKit's `ProcessWords`.
    pub fn process_words<L: Lookup + ?Sized>(
        &self,
        word: &str,
        env: &L,
    ) -> Result<Vec<String>, ExpandError> {
        self.run(word, env).map(|(_, w)| w)
    }

    fn run<L: Lookup + ?Sized>(
        &self,
        word: &str,
        env: &L,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut st = ShellWord {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
        };
        st.process_stop_on(None, self.raw_escapes)
            .map_err(|message| ExpandError::Word {
                word: word.to_string(),
                message,
            })
    }
}

/// Expands one word with the default lexer (quotes processed): `ProcessWord`.
pub fn expand_word<L: Lookup + ?Sized>(
    word: &str,
    escape: char,
    env: &L,
) -> Result<String, ExpandError> {
    Lexer::new(escape).process_word(word, env)
}

/// Expands and splits into words: `ProcessWords`.
pub fn expand_words<L: Lookup + ?Sized>(
    word: &str,
    escape: char,
    env: &L,
) -> Result<Vec<String>, ExpandError> {
    Lexer::new(escape).process_words(word, env)
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if is_space(ch) && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !is_space(ch) {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct ShellWord<'a, L: ?Sized> {
    lex: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a L,
    raw_escapes: bool,
    depth: usize,
}

/// Deepest `${...${...}}` nesting accepted (Go's growable stacks have no such
/// limit; ours keeps a hostile Dockerfile from overflowing the stack).
const MAX_NESTING: usize = 256;

impl<L: Lookup + ?Sized> ShellWord<'_, L> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            let quotes = !self.lex.skip_process_quotes;
            if ch == '$' {
                let tmp = self.process_dollar()?;
                result.push_str(&tmp);
                words.add_string(&tmp);
            } else if ch == '<' {
                let tmp = self.process_possible_heredoc();
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else if quotes && ch == '\'' {
                let tmp = self.process_single_quote()?;
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else if quotes && ch == '"' {
                let tmp = self.process_double_quote()?;
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else {
                let mut ch = match self.next() {
                    Some(c) => c,
                    None => break,
                };
                if ch == self.lex.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    ch = match self.next() {
                        Some(c) => c,
                        None => break,
                    };
                    words.add_raw_char(ch);
                } else {
                    words.add_char(ch);
                }
                result.push(ch);
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = match self.next() {
                        Some(c) => c,
                        None => continue,
                    };
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.env.lookup(name)
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next(); // '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // '{'
        if self.depth >= MAX_NESTING {
            return Err("syntax error: substitutions nested too deeply".into());
        }
        self.depth += 1;
        let r = self.process_braced();
        self.depth -= 1;
        r
    }

    /// `${...}` after the `{`.
    fn process_braced(&mut self) -> Result<String, String> {
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.process_name();
        let Some(mut ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut chs = ch.to_string();
        match ch {
            '}' => {
                return Ok(match self.get_env(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            '/' => return self.process_replace(&name),
            ':' | '+' | '-' | '?' | '#' | '%' => {}
            _ => return Err(format!("unsupported modifier ({chs}) in substitution")),
        }
        let mut null_is_unset = false;
        if ch == ':' {
            null_is_unset = true;
            ch = match self.next() {
                Some(c) => c,
                None => return Err("syntax error: missing '}'".into()),
            };
            chs.push(ch);
        }
        let raw = ch == '#' || ch == '%';
        if null_is_unset && raw {
            return Err(format!("unsupported modifier ({chs}) in substitution"));
        }
        let word = match self.process_stop_on(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.get_env(&name);
        if self.lex.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let set = value.is_some();
        let value = value.unwrap_or_default();
        match ch {
            '-' => {
                if !set || (null_is_unset && value.is_empty()) {
                    Ok(word)
                } else {
                    Ok(value)
                }
            }
            '+' => {
                if !set || (null_is_unset && value.is_empty()) {
                    Ok(String::new())
                } else {
                    Ok(word)
                }
            }
            '?' => {
                if !set {
                    let msg = if word.is_empty() {
                        "is not allowed to be unset".to_string()
                    } else {
                        word
                    };
                    return Err(format!("{name}: {msg}"));
                }
                if null_is_unset && value.is_empty() {
                    let msg = if word.is_empty() {
                        "is not allowed to be empty".to_string()
                    } else {
                        word
                    };
                    return Err(format!("{name}: {msg}"));
                }
                Ok(value)
            }
            '%' | '#' => {
                let mut word = word.as_str();
                let mut greedy = false;
                if let Some(w) = word.strip_prefix(ch) {
                    greedy = true;
                    word = w;
                }
                let pat = compile_pattern(word)
                    .map_err(|e| format!("invalid pattern ({word}) in substitution: {e}"))?;
                let v: Vec<char> = value.chars().collect();
                Ok(if ch == '%' {
                    trim_suffix(&pat, &v, greedy)
                } else {
                    trim_prefix(&pat, &v, greedy)
                })
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_replace(&mut self, name: &str) -> Result<String, String> {
        let replace_all = self.peek() == Some('/');
        if replace_all {
            self.next();
        }
        let pattern = match self.process_stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '/' in ${}".into());
                }
                return Err(e);
            }
        };
        let replacement = match self.process_stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(e) => {
                if self.peek().is_none() {
                    return Err("syntax error: missing '}'".into());
                }
                return Err(e);
            }
        };
        let value = self.get_env(name);
        let Some(value) = value else {
            if self.lex.skip_unset_env {
                let sep = if replace_all { "//" } else { "/" };
                return Ok(format!("${{{name}{sep}{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let pat = compile_pattern(&pattern)
            .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
        let v: Vec<char> = value.chars().collect();
        Ok(replace(&pat, &v, &replacement, replace_all))
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(c) = self.peek() {
                    if !is_digit(c) {
                        break;
                    }
                    name.push(c);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !is_digit(ch) && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next(); // '<'
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut out = String::from("<<");
        while let Some(c) = self.peek() {
            if !matches!(c, '\t' | '\r' | ' ') {
                break;
            }
            out.push(c);
            self.next();
        }
        out
    }
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// One element of a `${VAR#pattern}` glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pat {
    Star,
    Any,
    Lit(char),
}

fn compile_pattern(p: &str) -> Result<Vec<Pat>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push(Pat::Star),
            '?' => out.push(Pat::Any),
            '\\' => {
                // `\}` and `\/` inside ${} only protect the delimiter.
                if matches!(chars.get(i), Some('}' | '/')) {
                    continue;
                }
                match chars.get(i) {
                    Some(&t @ ('*' | '?' | '\\')) => {
                        out.push(Pat::Lit(t));
                        i += 1;
                    }
                    Some(&t) => return Err(format!("invalid escape '\\{t}'")),
                    None => return Err("invalid escape '\\'".into()),
                }
            }
            c => out.push(Pat::Lit(c)),
        }
    }
    Ok(out)
}

/// Every `e` such that `pat` matches `v[start..e]`, in increasing order
/// (an NFA walk: O(len * pattern) per call).
fn match_ends(pat: &[Pat], v: &[char], start: usize) -> Vec<usize> {
    let m = pat.len();
    let closure = |set: &mut Vec<bool>| {
        for i in 0..m {
            if set[i] && pat[i] == Pat::Star {
                set[i + 1] = true;
            }
        }
    };
    let mut set = vec![false; m + 1];
    set[0] = true;
    closure(&mut set);
    let mut ends = Vec::new();
    let mut pos = start;
    loop {
        if set[m] {
            ends.push(pos);
        }
        if pos >= v.len() || !set.iter().any(|b| *b) {
            return ends;
        }
        let c = v[pos];
        let mut next = vec![false; m + 1];
        for i in 0..m {
            if !set[i] {
                continue;
            }
            match pat[i] {
                Pat::Lit(l) if l == c => next[i + 1] = true,
                Pat::Any if c != '\n' => next[i + 1] = true,
                Pat::Star if c != '\n' => next[i] = true,
                _ => {}
            }
        }
        closure(&mut next);
        set = next;
        pos += 1;
    }
}

fn trim_prefix(pat: &[Pat], v: &[char], greedy: bool) -> String {
    let ends = match_ends(pat, v, 0);
    let found = if greedy { ends.last() } else { ends.first() };
    match found {
        Some(&k) => v[k..].iter().collect(),
        None => v.iter().collect(),
    }
}

fn trim_suffix(pat: &[Pat], v: &[char], greedy: bool) -> String {
    // Shortest/longest suffix = shortest/longest prefix of the reversed value
    // matched by the reversed pattern.
    let rpat: Vec<Pat> = pat.iter().rev().copied().collect();
    let rv: Vec<char> = v.iter().rev().copied().collect();
    let kept: Vec<char> = trim_prefix(&rpat, &rv, greedy).chars().collect();
    kept.iter().rev().collect()
}

fn longest_match_at(pat: &[Pat], v: &[char], start: usize) -> Option<usize> {
    match_ends(pat, v, start).last().copied()
}

fn replace(pat: &[Pat], v: &[char], repl: &str, all: bool) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut last_end: Option<usize> = None;
    let mut replaced = false;
    while i <= v.len() {
        if !replaced || all {
            if let Some(end) = longest_match_at(pat, v, i) {
                if !(end == i && last_end == Some(i)) {
                    out.push_str(repl);
                    replaced = true;
                    last_end = Some(end);
                    if end > i {
                        i = end;
                        continue;
                    }
                }
            }
        }
        if i < v.len() {
            out.push(v[i]);
        }
        i += 1;
    }
    out
}

fn opt_word<L: Lookup + ?Sized>(
    lex: &Lexer,
    w: &Option<String>,
    env: &L,
) -> Result<Option<String>, ExpandError> {
    w.as_ref().map(|w| lex.process_word(w, env)).transpose()
}

fn words_each<L: Lookup + ?Sized>(
    lex: &Lexer,
    v: &[String],
    env: &L,
) -> Result<Vec<String>, ExpandError> {
    v.iter().map(|w| lex.process_word(w, env)).collect()
}

fn expand_inline<L: Lookup + ?Sized>(
    inline: &mut [crate::ast::InlineSource],
    env: &L,
) -> Result<(), ExpandError> {
    // Heredoc bodies: BuildKit uses a `\` lexer that leaves quotes alone.
    let mut raw = Lexer::new('\\');
    raw.skip_process_quotes = true;
    for src in inline.iter_mut().filter(|s| s.expand) {
        src.data = raw.process_word(&src.data, env)?;
    }
    Ok(())
}

impl Instruction {
    /// This instruction with its words expanded against `env`, following
    /// BuildKit's rules (see the [module documentation](self)). Instructions
    /// BuildKit does not expand are returned unchanged.
    pub fn expand<L: Lookup + ?Sized>(
        &self,
        env: &L,
        escape: char,
    ) -> Result<Instruction, ExpandError> {
        let lex = Lexer::new(escape);
        let kv = |pairs: &[(String, String)]| -> Result<Vec<(String, String)>, ExpandError> {
            pairs
                .iter()
                .map(|(k, v)| Ok((lex.process_word(k, env)?, lex.process_word(v, env)?)))
                .collect()
        };
        Ok(match self {
            Instruction::Env(p) => Instruction::Env(kv(p)?),
            Instruction::Label(p) => Instruction::Label(kv(p)?),
            Instruction::Arg(args) => Instruction::Arg(
                args.iter()
                    .map(|a| {
                        Ok(crate::ast::ArgDecl {
                            name: a.name.clone(),
                            default: opt_word(&lex, &a.default, env)?,
                        })
                    })
                    .collect::<Result<_, ExpandError>>()?,
            ),
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(lex.process_words(p, env)?);
                }
                Instruction::Expose(out)
            }
            Instruction::Workdir(p) => Instruction::Workdir(lex.process_word(p, env)?),
            Instruction::User(p) => Instruction::User(lex.process_word(p, env)?),
            Instruction::StopSignal(p) => Instruction::StopSignal(lex.process_word(p, env)?),
            Instruction::Volume(v) => Instruction::Volume(words_each(&lex, v, env)?),
            Instruction::Copy(c) => {
                if let Some(from) = &c.from {
                    if lex.process_word(from, &NoEnv)? != *from {
                        return Err(ExpandError::FromExpansion { from: from.clone() });
                    }
                }
                let mut inline = c.inline.clone();
                expand_inline(&mut inline, env)?;
                Instruction::Copy(Copy {
                    sources: words_each(&lex, &c.sources, env)?,
                    inline,
                    dest: lex.process_word(&c.dest, env)?,
                    chown: opt_word(&lex, &c.chown, env)?,
                    chmod: opt_word(&lex, &c.chmod, env)?,
                    ..c.clone()
                })
            }
            Instruction::Add(a) => {
                let mut inline = a.inline.clone();
                expand_inline(&mut inline, env)?;
                Instruction::Add(Add {
                    sources: words_each(&lex, &a.sources, env)?,
                    inline,
                    dest: lex.process_word(&a.dest, env)?,
                    chown: opt_word(&lex, &a.chown, env)?,
                    chmod: opt_word(&lex, &a.chmod, env)?,
                    checksum: opt_word(&lex, &a.checksum, env)?,
                    ..a.clone()
                })
            }
            Instruction::Run(r) => {
                let mut mounts = Vec::with_capacity(r.mount_flags.len());
                for raw in &r.mount_flags {
                    let m = parse_mount(
                        raw,
                        Some(|w: &str| lex.process_word(w, env).map_err(|e| e.to_string())),
                    )
                    .map_err(|source| ExpandError::Mount { source })?;
                    mounts.push(m);
                }
                Instruction::Run(Run {
                    mounts,
                    ..r.clone()
                })
            }
            Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Shell(_)
            | Instruction::Healthcheck(_)
            | Instruction::Onbuild(_)
            | Instruction::Maintainer(_) => self.clone(),
        })
    }
}

impl Step {
    /// The instruction expanded against `env` with the Dockerfile's escape
    /// character: see [`Instruction::expand`].
    pub fn expand<L: Lookup + ?Sized>(&self, env: &L) -> Result<Instruction, ExpandError> {
        self.instruction.expand(env, self.escape)
    }
}

impl Stage {
    /// The base image (or stage name) with global `ARG`s substituted.
    pub fn expanded_base<L: Lookup + ?Sized>(
        &self,
        meta_args: &L,
        escape: char,
    ) -> Result<String, ExpandError> {
        Lexer::new(escape).process_word(&self.base, meta_args)
    }

    /// `--platform` with global `ARG`s (and the automatic platform args the
    /// caller provides, e.g. `BUILDPLATFORM`) substituted.
    pub fn expanded_platform<L: Lookup + ?Sized>(
        &self,
        meta_args: &L,
        escape: char,
    ) -> Result<Option<String>, ExpandError> {
        opt_word(&Lexer::new(escape), &self.platform, meta_args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        let p = compile_pattern("f*b").unwrap();
        let v: Vec<char> = "foobarbaz".chars().collect();
        assert_eq!(trim_prefix(&p, &v, false), "arbaz");
        assert_eq!(trim_prefix(&p, &v, true), "az");
        let p = compile_pattern("b*").unwrap();
        assert_eq!(trim_suffix(&p, &v, false), "foobar");
        assert_eq!(trim_suffix(&p, &v, true), "foo");
        let p = compile_pattern("ba").unwrap();
        assert_eq!(replace(&p, &v, "fo", false), "fooforbaz");
        assert_eq!(replace(&p, &v, "fo", true), "fooforfoz");
        assert!(compile_pattern("a\\x").is_err());
        let lit = compile_pattern("a\\*").unwrap();
        assert_eq!(match_ends(&lit, &['a', '*'], 0), vec![2]);
        assert!(match_ends(&lit, &['a', 'b'], 0).is_empty());
        let star = compile_pattern("a*").unwrap();
        assert_eq!(match_ends(&star, &['a', 'b', 'c'], 0), vec![1, 2, 3]);
    }
}

//! The line level of the parser (BuildKit's `parser/parser.go`): parser
//! directives, comments, line continuations, here-document bodies. Produces one
//! [`RawNode`] per instruction; [`crate::instructions`] types them.

use std::collections::HashSet;

use crate::ast::{Directive, Heredoc, Warning};
use crate::error::ParseError;
use crate::expand::{Lexer, NoEnv};
use crate::words::{parse_json, split_command, Json};

/// One instruction with its text and location, before typing.
#[derive(Debug, Clone)]
pub(crate) struct RawNode {
    /// Keyword as written.
    pub keyword: String,
    /// `--flag` words (quotes processed).
    pub flags: Vec<String>,
    /// Arguments after the flags, trimmed.
    pub rest: String,
    /// The joined line.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
    pub heredocs: Vec<Heredoc>,
}

pub(crate) struct Lines {
    pub directives: Vec<Directive>,
    pub escape: char,
    pub nodes: Vec<RawNode>,
    pub warnings: Vec<Warning>,
}

/// Recognises `# key=value` directives at the top of the file.
#[derive(Default)]
struct DirectiveParser {
    line: usize,
    seen: HashSet<String>,
    done: bool,
}

impl DirectiveParser {
    /// Returns `Some((name, value, line))` when `line` is a directive.
    fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, String> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(body) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(None);
        };
        let body = body.trim_start_matches(char::is_whitespace);
        // ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$
        let name_len = body
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
            .map(|(i, _)| i)
            .unwrap_or(body.len());
        let is_re_space = |c: char| matches!(c, '\t' | '\n' | '\u{0c}' | '\r' | ' ');
        let after = body[name_len..].trim_start_matches(is_re_space);
        let value = after
            .strip_prefix('=')
            .map(|v| v.trim_matches(is_re_space).to_string());
        let (true, Some(value)) = (name_len > 0, value) else {
            self.done = true;
            return Ok(None);
        };
        if value.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let name = body[..name_len].to_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(None);
        }
        if !self.seen.insert(name.clone()) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        Ok(Some(Directive {
            name,
            value,
            line: self.line,
        }))
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(char::is_whitespace)
        .starts_with('#')
}

/// Removes a trailing line-continuation escape (with trailing blanks).
/// Returns the line and whether it is complete (no continuation).
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    let Some(before) = t.strip_suffix(escape) else {
        return (line.to_string(), true);
    };
    if before.is_empty() {
        return (String::new(), false);
    }
    if before.ends_with(escape) {
        // An escaped escape character is not a continuation.
        return (line.to_string(), true);
    }
    (before.to_string(), false)
}

/// Whether an instruction (or an ONBUILD trigger) may carry heredocs.
fn can_contain_heredoc(keyword: &str, rest: &str, escape: char) -> bool {
    let kw = keyword.to_lowercase();
    if kw == "onbuild" {
        let (child_kw, _, child_rest) = split_command(rest, escape);
        if child_kw.is_empty() {
            return false;
        }
        return can_contain_heredoc_plain(&child_kw, &child_rest);
    }
    can_contain_heredoc_plain(&kw, rest)
}

fn can_contain_heredoc_plain(keyword: &str, rest: &str) -> bool {
    let kw = keyword.to_lowercase();
    if !matches!(kw.as_str(), "run" | "copy" | "add") {
        return false;
    }
    !matches!(parse_json(rest), Json::Strings(_))
}

/// A heredoc marker word: `[fd]<<[-]name`.
pub(crate) struct HeredocMarker {
    pub fd: u32,
    pub chomp: bool,
    pub rest: String,
}

/// Matches `^(\d*)<<(-?)\s*([^<]*)$` on one word.
fn match_heredoc(word: &str) -> Option<HeredocMarker> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let after = word[digits..].strip_prefix("<<")?;
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start_matches(['\t', '\n', '\u{0c}', '\r', ' ']);
    if rest.contains('<') {
        return None;
    }
    Some(HeredocMarker {
        fd: word[..digits].parse().unwrap_or(0),
        chomp,
        rest: rest.to_string(),
    })
}

/// Parses one word as a heredoc marker (BuildKit's `ParseHeredoc`). `Ok(None)`
/// when the word is not a heredoc.
pub(crate) fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let Some(m) = match_heredoc(word) else {
        return Ok(None);
    };
    if m.rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lexer::new('\\');
    lex.skip_unset_env = true;
    let words = lex
        .process_words(&m.rest, &NoEnv)
        .map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex
        .process_words(&m.rest, &NoEnv)
        .map_err(|e| e.to_string())?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {}",
            m.rest
        ));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        fd: m.fd,
        expand,
        chomp: m.chomp,
        content: String::new(),
    }))
}

/// Whether `word` is a heredoc marker, ignoring errors (`MustParseHeredoc`).
pub(crate) fn heredoc_marker(word: &str) -> Option<Heredoc> {
    parse_heredoc(word).ok().flatten()
}

fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// Splits `src` into instructions.
pub(crate) fn parse_lines(src: &str) -> Result<Lines, ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let mut dp = DirectiveParser::default();
    let mut directives = Vec::new();
    let mut escape = '\\';
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut current_line = 0usize;
    let mut idx = 0usize;

    // Runs one line through the directive parser; returns the line without a
    // comment (empty if it was one).
    let mut process_line = |raw: &str,
                            strip_left: bool,
                            escape: &mut char,
                            directives: &mut Vec<Directive>|
     -> Result<String, String> {
        let mut tok = trim_newline(raw);
        if strip_left {
            tok = tok.trim_start_matches(char::is_whitespace);
        }
        if let Some(d) = dp.parse_line(tok)? {
            if d.name == "escape" {
                match d.value.as_str() {
                    "\\" => *escape = '\\',
                    "`" => *escape = '`',
                    v => return Err(format!("invalid escape token '{v}' does not match ` or \\")),
                }
            }
            directives.push(d);
        }
        if is_comment(tok) {
            Ok(String::new())
        } else {
            Ok(tok.to_string())
        }
    };

    while idx < lines.len() {
        let raw = lines[idx];
        idx += 1;
        let tok = process_line(raw, true, &mut escape, &mut directives)
            .map_err(|m| ParseError::new(current_line + 1, current_line + 1, m))?;
        current_line += 1;
        let start_line = current_line;
        let (tok, mut is_end) = trim_continuation(&tok, escape);
        if is_end && tok.is_empty() {
            continue;
        }
        let mut buf = tok;
        let mut empty_continuation = false;
        while !is_end && idx < lines.len() {
            let raw = lines[idx];
            idx += 1;
            let tok = process_line(raw, false, &mut escape, &mut directives)
                .map_err(|m| ParseError::new(current_line + 1, current_line + 1, m))?;
            current_line += 1;
            if is_comment(raw) {
                continue;
            }
            if tok.trim_start_matches(char::is_whitespace).is_empty() {
                empty_continuation = true;
                continue;
            }
            let (t, end) = trim_continuation(&tok, escape);
            is_end = end;
            buf.push_str(&t);
        }
        if empty_continuation {
            warnings.push(Warning {
                message: format!("Empty continuation line found in: {buf}"),
                line: current_line,
            });
        }
        let line = buf;
        let (keyword, flags, rest) = split_command(&line, escape);
        let mut heredocs = Vec::new();
        if can_contain_heredoc(&keyword, &rest, escape) && line.contains("<<") {
            let docs = heredocs_from_line(&line).map_err(|m| {
                ParseError::new(start_line, current_line, m).with_instruction(&keyword)
            })?;
            for mut doc in docs {
                let mut terminated = false;
                let mut content = String::new();
                while idx < lines.len() {
                    let raw = lines[idx];
                    idx += 1;
                    current_line += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(
                        ParseError::new(start_line, current_line, "unterminated heredoc")
                            .with_instruction(&keyword),
                    );
                }
                doc.content = content;
                heredocs.push(doc);
            }
        }
        tracing::trace!(keyword = %keyword, start_line, end_line = current_line, "dockerfile instruction");
        nodes.push(RawNode {
            keyword,
            flags,
            rest,
            original: line.trim_matches(char::is_whitespace).to_string(),
            start_line,
            end_line: current_line,
            heredocs,
        });
    }
    if nodes.is_empty() {
        return Err(ParseError::new(
            current_line,
            current_line,
            "file with no instructions",
        ));
    }
    Ok(Lines {
        directives,
        escape,
        nodes,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ".into(), false));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ".into(), false));
        assert_eq!(trim_continuation("\\", '\\'), ("".into(), false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\".into(), true));
        assert_eq!(trim_continuation("a `", '`'), ("a ".into(), false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\".into(), true));
    }

    #[test]
    fn heredoc_words() {
        let h = parse_heredoc("<<EOF").unwrap().unwrap();
        assert_eq!(
            (h.name.as_str(), h.expand, h.chomp, h.fd),
            ("EOF", true, false, 0)
        );
        let h = parse_heredoc("<<-\"EOF\"").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.chomp), ("EOF", false, true));
        let h = parse_heredoc("3<<'E'OF").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.fd), ("EOF", false, 3));
        assert!(parse_heredoc("<<").unwrap().is_none());
        assert!(parse_heredoc("<<a<b").unwrap().is_none());
        assert!(parse_heredoc("x<<EOF").unwrap().is_none());
        assert!(parse_heredoc("<<\"EOF").is_err());
    }
}

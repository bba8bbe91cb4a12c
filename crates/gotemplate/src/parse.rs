//! Lexing `{{actions}}` out of the text and parsing them into a node tree.

use serde_json::Value;

use crate::Error;

type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    Dot,
    Field(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Ident(String),
    Paren(Pipeline),
}

pub(crate) type Command = Vec<Term>;
pub(crate) type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipeline),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        let mut inner_start = i + 2;
        // "{{- " trims preceding whitespace.
        if rest[inner_start..].starts_with("- ") {
            text = text.trim_end();
            inner_start += 1;
        }
        let close = rest[inner_start..]
            .find("}}")
            .ok_or(Error::UnclosedAction)?
            + inner_start;
        let mut inner = &rest[inner_start..close];
        let mut after = close + 2;
        let mut trim_after = false;
        if inner.ends_with(" -") {
            inner = &inner[..inner.len() - 1];
            trim_after = true;
        }
        if !text.is_empty() {
            toks.push(Tok::Text(text.to_string()));
        }
        toks.push(Tok::Action(inner.trim().to_string()));
        if trim_after {
            let r = &rest[after..];
            after += r.len() - r.trim_start().len();
        }
        rest = &rest[after..];
    }
    if !rest.is_empty() {
        toks.push(Tok::Text(rest.to_string()));
    }
    Ok(toks)
}

fn parse_terms(src: &str) -> Result<Pipeline> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    parse_pipeline(&chars, &mut i, false)
}

fn parse_pipeline(c: &[char], i: &mut usize, in_paren: bool) -> Result<Pipeline> {
    let mut pipeline = Vec::new();
    let mut cmd: Command = Vec::new();
    loop {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
        if *i >= c.len() {
            if in_paren {
                return Err(Error::UnclosedParen);
            }
            break;
        }
        let ch = c[*i];
        match ch {
            ')' if in_paren => {
                *i += 1;
                break;
            }
            '|' => {
                *i += 1;
                if cmd.is_empty() {
                    return Err(Error::MissingCommand);
                }
                pipeline.push(std::mem::take(&mut cmd));
            }
            '(' => {
                *i += 1;
                let p = parse_pipeline(c, i, true)?;
                let mut fields = Vec::new();
                // (x).Field chains
                while *i < c.len() && c[*i] == '.' {
                    *i += 1;
                    let s = *i;
                    while *i < c.len() && (c[*i].is_alphanumeric() || c[*i] == '_') {
                        *i += 1;
                    }
                    fields.push(c[s..*i].iter().collect::<String>());
                }
                if fields.is_empty() {
                    cmd.push(Term::Paren(p));
                } else {
                    // Represent as a call of an internal "__field" helper.
                    cmd.push(Term::Paren(vec![vec![
                        Term::Ident("__field".into()),
                        Term::Str(fields.join(".")),
                        Term::Paren(p),
                    ]]));
                }
            }
            '"' | '`' => {
                let quote = ch;
                *i += 1;
                let mut s = String::new();
                loop {
                    if *i >= c.len() {
                        return Err(Error::UnterminatedString);
                    }
                    let x = c[*i];
                    *i += 1;
                    if x == quote {
                        break;
                    }
                    if x == '\\' && quote == '"' && *i < c.len() {
                        let e = c[*i];
                        *i += 1;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '\\' => '\\',
                            '"' => '"',
                            other => other,
                        });
                    } else {
                        s.push(x);
                    }
                }
                cmd.push(Term::Str(s));
            }
            '.' => {
                *i += 1;
                let mut fields = Vec::new();
                loop {
                    let s = *i;
                    while *i < c.len() && (c[*i].is_alphanumeric() || c[*i] == '_') {
                        *i += 1;
                    }
                    if *i > s {
                        fields.push(c[s..*i].iter().collect::<String>());
                    }
                    if *i < c.len() && c[*i] == '.' {
                        *i += 1;
                        continue;
                    }
                    break;
                }
                if fields.is_empty() {
                    cmd.push(Term::Dot);
                } else {
                    cmd.push(Term::Field(fields));
                }
            }
            _ => {
                let s = *i;
                while *i < c.len() && !c[*i].is_whitespace() && !matches!(c[*i], '|' | '(' | ')') {
                    *i += 1;
                }
                let word: String = c[s..*i].iter().collect();
                if word == "true" || word == "false" {
                    cmd.push(Term::Bool(word == "true"));
                } else if let Ok(n) = word.parse::<f64>() {
                    cmd.push(Term::Num(n));
                } else if word.starts_with('$') {
                    return Err(Error::Variable(word));
                } else if !crate::funcs::is_defined(&word) {
                    return Err(Error::UnknownFunction(word));
                } else {
                    cmd.push(Term::Ident(word));
                }
            }
        }
    }
    if !cmd.is_empty() {
        pipeline.push(cmd);
    }
    if pipeline.is_empty() {
        return Err(Error::MissingValue);
    }
    Ok(pipeline)
}

/// What ended a list of nodes inside a block.
enum Stop {
    End,
    /// `{{else}}`, with whatever followed the word (`if .X` in `{{else if .X}}`).
    Else(String),
}

/// Splits an action into its first word and the rest.
fn keyword(action: &str) -> (&str, &str) {
    match action.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (action, ""),
    }
}

fn parse_nodes(toks: &[Tok], pos: &mut usize, top: bool) -> Result<(Vec<Node>, Option<Stop>)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        match &toks[*pos] {
            Tok::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                *pos += 1;
            }
            Tok::Action(a) => {
                *pos += 1;
                let (kw, rest) = keyword(a);
                match kw {
                    "end" | "else" if top => return Err(Error::Unexpected(kw.to_string())),
                    "end" => return Ok((nodes, Some(Stop::End))),
                    "else" => return Ok((nodes, Some(Stop::Else(rest.to_string())))),
                    "range" | "if" | "with" => nodes.push(parse_block(kw, rest, toks, pos)?),
                    _ if a.starts_with("/*") => {}
                    _ => nodes.push(Node::Action(parse_terms(a)?)),
                }
            }
        }
    }
    if !top {
        return Err(Error::UnexpectedEof);
    }
    Ok((nodes, None))
}

/// Parses the rest of a `{{range}}`, `{{if}}` or `{{with}}` block whose
/// action has been read, through its `{{end}}`.
fn parse_block(kw: &str, pipe: &str, toks: &[Tok], pos: &mut usize) -> Result<Node> {
    let pipe = parse_terms(pipe)?;
    let (body, stop) = parse_nodes(toks, pos, false)?;
    let alt = match stop {
        Some(Stop::End) => Vec::new(),
        Some(Stop::Else(chain)) => {
            let (kw2, rest2) = keyword(&chain);
            match kw2 {
                // {{if a}}..{{else if b}}..{{end}} is {{if a}}..{{else}}{{if b}}..{{end}}{{end}}:
                // the chained block takes the one {{end}} (so does with/else with).
                "if" | "with" if kw2 == kw => vec![parse_block(kw2, rest2, toks, pos)?],
                _ => {
                    let mut alt = Vec::new();
                    // Elsewhere {{else if b}} is {{else}}{{if b}}, a block of its own.
                    match kw2 {
                        "" => {}
                        "if" | "with" => alt.push(parse_block(kw2, rest2, toks, pos)?),
                        _ => return Err(Error::ElseWord(kw2.to_string())),
                    }
                    let (more, stop) = parse_nodes(toks, pos, false)?;
                    if !matches!(stop, Some(Stop::End)) {
                        return Err(Error::MissingEnd);
                    }
                    alt.extend(more);
                    alt
                }
            }
        }
        None => return Err(Error::MissingEnd),
    };
    Ok(match kw {
        "range" => Node::Range(pipe, body, alt),
        "if" => Node::If(pipe, body, alt),
        _ => Node::With(pipe, body, alt),
    })
}

impl Template {
    /// Parses a Go template.
    pub fn parse(src: &str) -> Result<Self> {
        let toks = lex(src)?;
        let mut pos = 0;
        let (nodes, _) = parse_nodes(&toks, &mut pos, true)?;
        Ok(Template { nodes })
    }

    /// Executes the template against `data`.
    pub fn execute(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        crate::exec::exec_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

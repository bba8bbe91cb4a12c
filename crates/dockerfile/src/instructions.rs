//! Typing instructions (BuildKit's `instructions/parse.go` and `bflag.go`):
//! argument shapes, flags, arity checks and BuildKit's error wording.

use std::collections::HashMap;
use std::time::Duration;

use crate::ast::{
    chomp_heredoc_content, Add, ArgDecl, Command, Copy, Healthcheck, HealthcheckConfig, Heredoc,
    InlineSource, Instruction, NetworkMode, Onbuild, Run, SecurityMode,
};
use crate::lines::heredoc_marker;
use crate::mount::parse_mount;
use crate::units::{go_quote, parse_go_duration_nanos, parse_go_int32};
use crate::words::{parse_json, parse_words, split_command, split_ws, Json};

/// Every instruction keyword, lower-case.
pub const INSTRUCTIONS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// A `FROM` line, typed.
#[derive(Debug, Clone)]
pub(crate) struct FromLine {
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// What one node becomes.
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    From(FromLine),
    Instruction(Instruction),
}

/// The input of the typing step: one instruction's pieces.
pub(crate) struct Req<'a> {
    pub keyword: &'a str,
    pub flags: &'a [String],
    pub rest: &'a str,
    pub original: &'a str,
    pub heredocs: &'a [Heredoc],
    pub escape: char,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    Str,
    Strs,
}

#[derive(Debug, Clone)]
enum FlagValue {
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
}

/// Parsed `--flags` of one instruction.
#[derive(Default)]
struct Flags {
    used: HashMap<&'static str, FlagValue>,
}

impl Flags {
    /// BuildKit's `BFlags.Parse`.
    fn parse(args: &[String], defs: &[(&'static str, FlagType)]) -> Result<Flags, String> {
        let mut out = Flags::default();
        for a in args {
            if a == "--" {
                break;
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value, has_value) = match body.split_once('=') {
                Some((n, v)) => (n, v, true),
                None => (body, "", false),
            };
            let flag_name = format!("--{name}");
            let Some(&(key, ty)) = defs.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = defs.iter().map(|(n, _)| *n).collect();
                let mut msg = format!("unknown flag: {flag_name}");
                if let Some(s) = suggest(name, &names, true) {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err(msg);
            };
            if out.used.contains_key(key) && ty != FlagType::Strs {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            match ty {
                FlagType::Bool => {
                    if has_value && value.is_empty() {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    let b = match value.to_lowercase().as_str() {
                        "true" | "" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {value}"
                            ))
                        }
                    };
                    out.used.insert(key, FlagValue::Bool(b));
                }
                FlagType::Str => {
                    if !has_value {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    out.used.insert(key, FlagValue::Str(value.to_string()));
                }
                FlagType::Strs => {
                    if !has_value {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    match out.used.get_mut(key) {
                        Some(FlagValue::Strs(v)) => v.push(value.to_string()),
                        _ => {
                            out.used
                                .insert(key, FlagValue::Strs(vec![value.to_string()]));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// A string flag; an empty value counts as unset (as in BuildKit).
    fn string(&self, name: &str) -> Option<String> {
        match self.used.get(name) {
            Some(FlagValue::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    fn raw_string(&self, name: &str) -> Option<String> {
        match self.used.get(name) {
            Some(FlagValue::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn boolean(&self, name: &str) -> Option<bool> {
        match self.used.get(name) {
            Some(FlagValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    fn strings(&self, name: &str) -> Vec<String> {
        match self.used.get(name) {
            Some(FlagValue::Strs(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// BuildKit's `suggest.Search`: the closest option at edit distance < 3.
pub(crate) fn suggest(val: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let v = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if v == o {
            return None;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            best = Some(if case_sensitive {
                o
            } else if val == val.to_lowercase() {
                o.to_lowercase()
            } else if val == val.to_uppercase() {
                o.to_uppercase()
            } else {
                o
            });
        }
    }
    best
}

/// Argument shapes (BuildKit's line parsers).
struct Args {
    args: Vec<String>,
    json: bool,
}

fn maybe_json(rest: &str) -> Result<Args, String> {
    if rest.is_empty() {
        return Ok(Args {
            args: vec![],
            json: false,
        });
    }
    match parse_json(rest) {
        Json::Strings(v) => Ok(Args {
            args: v,
            json: true,
        }),
        Json::NotStrings => Err(NOT_STRING_ARRAY.into()),
        Json::Plain => Ok(Args {
            args: vec![rest.to_string()],
            json: false,
        }),
    }
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

fn whitespace_list(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return vec![];
    }
    split_ws(rest, 0)
}

fn maybe_json_to_list(rest: &str) -> Result<Args, String> {
    match parse_json(rest) {
        Json::Strings(v) => Ok(Args {
            args: v,
            json: true,
        }),
        Json::NotStrings => Err(NOT_STRING_ARRAY.into()),
        Json::Plain => Ok(Args {
            args: whitespace_list(rest),
            json: false,
        }),
    }
}

fn single(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        vec![]
    } else {
        vec![rest.to_string()]
    }
}

/// ENV and LABEL: `k=v ...` or the legacy `k v`.
fn name_vals(rest: &str, cmd: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let pairs = if words.is_empty() {
        vec![]
    } else if !words[0].contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{cmd} must have two arguments"));
        }
        vec![(parts[0].clone(), parts[1].clone())]
    } else {
        let mut v = Vec::with_capacity(words.len());
        for w in &words {
            match w.split_once('=') {
                Some((k, val)) => v.push((k.to_string(), val.to_string())),
                None => {
                    return Err(format!(
                        "Syntax error - can't find = in {}. Must be of the form: name=value",
                        go_quote(w)
                    ))
                }
            }
        }
        v
    };
    if pairs.is_empty() {
        return Err(at_least_one(cmd));
    }
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(format!("{cmd} names can not be blank"));
    }
    Ok(pairs)
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn command_from(args: Args) -> Command {
    if args.json {
        Command::Exec(args.args)
    } else {
        Command::Shell(args.args.join(" "))
    }
}

use FlagType::{Bool as B, Str as S, Strs as SS};

/// Types one instruction.
pub(crate) fn parse_instruction(req: &Req<'_>) -> Result<Parsed, String> {
    let kw = req.keyword.to_lowercase();
    let none: &[(&'static str, FlagType)] = &[];
    let i = match kw.as_str() {
        "from" => {
            let flags = Flags::parse(req.flags, &[("platform", S)])?;
            let args = whitespace_list(req.rest);
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_lowercase();
                    let valid = name.chars().enumerate().all(|(i, c)| {
                        if i == 0 {
                            c.is_ascii_lowercase()
                        } else {
                            c.is_ascii_lowercase()
                                || c.is_ascii_digit()
                                || matches!(c, '-' | '_' | '.')
                        }
                    });
                    if !valid {
                        return Err(format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            go_quote(&args[2])
                        ));
                    }
                    Some(name)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            return Ok(Parsed::From(FromLine {
                base: args[0].clone(),
                name,
                platform: flags.string("platform"),
            }));
        }
        "run" => {
            let flags = Flags::parse(req.flags, &[("mount", SS), ("network", S), ("security", S)])?;
            let network = match flags.raw_string("network").as_deref() {
                None | Some("default") => NetworkMode::Default,
                Some("none") => NetworkMode::None,
                Some("host") => NetworkMode::Host,
                Some(v) => return Err(format!("invalid network mode {}", go_quote(v))),
            };
            let security = match flags.raw_string("security").as_deref() {
                None | Some("sandbox") => SecurityMode::Sandbox,
                Some("insecure") => SecurityMode::Insecure,
                Some(v) => return Err(format!("security {} is not valid", go_quote(v))),
            };
            let mount_flags = flags.strings("mount");
            let mut mounts = Vec::with_capacity(mount_flags.len());
            for m in &mount_flags {
                type NoExpand = fn(&str) -> Result<String, String>;
                mounts.push(parse_mount::<NoExpand>(m, None).map_err(|e| e.message)?);
            }
            let args = maybe_json(req.rest)?;
            let heredocs = if args.json {
                vec![]
            } else {
                req.heredocs.to_vec()
            };
            Instruction::Run(Run {
                command: command_from(args),
                heredocs,
                mounts,
                mount_flags,
                network,
                security,
            })
        }
        "cmd" => {
            Flags::parse(req.flags, none)?;
            Instruction::Cmd(command_from(maybe_json(req.rest)?))
        }
        "entrypoint" => {
            Flags::parse(req.flags, none)?;
            Instruction::Entrypoint(command_from(maybe_json(req.rest)?))
        }
        "shell" => {
            Flags::parse(req.flags, none)?;
            let args = maybe_json(req.rest)?;
            if args.args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !args.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Instruction::Shell(args.args)
        }
        "env" => {
            let pairs = name_vals(req.rest, "ENV", req.escape)?;
            Flags::parse(req.flags, none)?;
            Instruction::Env(pairs)
        }
        "label" => {
            let pairs = name_vals(req.rest, "LABEL", req.escape)?;
            Flags::parse(req.flags, none)?;
            Instruction::Label(pairs)
        }
        "arg" => {
            // BuildKit never parses ARG's flags; `ARG --x y` ignores `--x`.
            let words = parse_words(req.rest, req.escape);
            if words.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::with_capacity(words.len());
            for w in words {
                match w.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => decls.push(ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => decls.push(ArgDecl {
                        name: w,
                        default: None,
                    }),
                }
            }
            Instruction::Arg(decls)
        }
        "expose" => {
            let ports = whitespace_list(req.rest);
            if ports.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Flags::parse(req.flags, none)?;
            Instruction::Expose(ports)
        }
        "copy" | "add" => return parse_copy_add(req, kw == "copy").map(Parsed::Instruction),
        "workdir" | "user" | "maintainer" => {
            let args = single(req.rest);
            if args.len() != 1 {
                return Err(exactly_one(&kw.to_uppercase()));
            }
            Flags::parse(req.flags, none)?;
            let v = args[0].clone();
            match kw.as_str() {
                "workdir" => Instruction::Workdir(v),
                "user" => Instruction::User(v),
                _ => Instruction::Maintainer(v),
            }
        }
        "stopsignal" => {
            // BuildKit does not parse STOPSIGNAL's flags either.
            let args = single(req.rest);
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Instruction::StopSignal(args[0].clone())
        }
        "volume" => {
            let args = maybe_json_to_list(req.rest)?;
            if args.args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            Flags::parse(req.flags, none)?;
            let mut vols = Vec::with_capacity(args.args.len());
            for v in args.args {
                let v = v.trim_matches(char::is_whitespace);
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            Instruction::Volume(vols)
        }
        "healthcheck" => parse_healthcheck(req)?,
        "onbuild" => parse_onbuild(req)?,
        _ => {
            let mut msg = format!("unknown instruction: {}", req.keyword);
            let upper: Vec<String> = INSTRUCTIONS.iter().map(|s| s.to_uppercase()).collect();
            let opts: Vec<&str> = upper.iter().map(String::as_str).collect();
            if let Some(s) = suggest(req.keyword, &opts, false) {
                msg.push_str(&format!(" (did you mean {s}?)"));
            }
            return Err(msg);
        }
    };
    Ok(Parsed::Instruction(i))
}

fn parse_copy_add(req: &Req<'_>, is_copy: bool) -> Result<Instruction, String> {
    let name = if is_copy { "COPY" } else { "ADD" };
    let args = maybe_json_to_list(req.rest)?;
    if args.args.len() < 2 {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let flags = if is_copy {
        Flags::parse(
            req.flags,
            &[
                ("chown", S),
                ("from", S),
                ("chmod", S),
                ("link", B),
                ("exclude", SS),
                ("parents", B),
            ],
        )?
    } else {
        Flags::parse(
            req.flags,
            &[
                ("chown", S),
                ("chmod", S),
                ("link", B),
                ("keep-git-dir", B),
                ("checksum", S),
                ("unpack", B),
                ("exclude", SS),
            ],
        )?
    };
    let (srcs, dest) = args.args.split_at(args.args.len() - 1);
    let dest = dest[0].clone();
    if heredoc_marker(&dest).is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut inline = Vec::new();
    for src in srcs {
        match heredoc_marker(src) {
            Some(h) => {
                let content = req
                    .heredocs
                    .iter()
                    .rev()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                let data = if h.chomp {
                    chomp_heredoc_content(&content)
                } else {
                    content
                };
                inline.push(InlineSource {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    let link = flags.boolean("link").unwrap_or(false);
    Ok(if is_copy {
        Instruction::Copy(Copy {
            sources,
            inline,
            dest,
            from: flags.string("from"),
            chown: flags.string("chown"),
            chmod: flags.string("chmod"),
            link,
            parents: flags.boolean("parents").unwrap_or(false),
            exclude: flags.strings("exclude"),
            json: args.json,
        })
    } else {
        Instruction::Add(Add {
            sources,
            inline,
            dest,
            chown: flags.string("chown"),
            chmod: flags.string("chmod"),
            link,
            exclude: flags.strings("exclude"),
            checksum: flags.string("checksum"),
            keep_git_dir: flags.boolean("keep-git-dir"),
            unpack: flags.boolean("unpack"),
            json: args.json,
        })
    })
}

fn opt_interval(flags: &Flags, name: &str) -> Result<Option<Duration>, String> {
    let Some(s) = flags.raw_string(name) else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    let d = parse_go_duration_nanos(&s).map_err(|e| e.message)?;
    if d == 0 {
        return Ok(None);
    }
    if d < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            go_quote(name)
        ));
    }
    let nanos = u64::try_from(d).map_err(|_| format!("time: invalid duration {}", go_quote(&s)))?;
    Ok(Some(Duration::from_nanos(nanos)))
}

fn parse_healthcheck(req: &Req<'_>) -> Result<Instruction, String> {
    // First word is the type, the rest a command (JSON or shell form).
    let rest = req.rest;
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = rest[..sep].to_uppercase();
    let cmd_text = rest[sep..].trim_start_matches(char::is_whitespace);
    let cmd = maybe_json(cmd_text)?;
    if typ == "NONE" {
        // As BuildKit: flags are not looked at for NONE.
        if !cmd.args.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Instruction::Healthcheck(Healthcheck::None));
    }
    let flags = Flags::parse(
        req.flags,
        &[
            ("interval", S),
            ("timeout", S),
            ("start-period", S),
            ("start-interval", S),
            ("retries", S),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            go_quote(&typ)
        ));
    }
    if cmd.args.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let command = command_from(cmd);
    let interval = opt_interval(&flags, "interval")?;
    let timeout = opt_interval(&flags, "timeout")?;
    let start_period = opt_interval(&flags, "start-period")?;
    let start_interval = opt_interval(&flags, "start-interval")?;
    let retries = match flags.raw_string("retries") {
        Some(s) if !s.is_empty() => {
            let r = parse_go_int32(&s).map_err(|e| e.message)?;
            if r < 0 {
                return Err(format!("--retries cannot be negative ({r})"));
            }
            Some(r as u32)
        }
        _ => None,
    };
    Ok(Instruction::Healthcheck(Healthcheck::Check(
        HealthcheckConfig {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        },
    )))
}

fn parse_onbuild(req: &Req<'_>) -> Result<Instruction, String> {
    if req.rest.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    Flags::parse(req.flags, &[])?;
    let (child_kw, child_flags, child_rest) = split_command(req.rest, req.escape);
    let trigger = child_kw.to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into());
        }
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"));
        }
        _ => {}
    }
    // The expression: the line without the ONBUILD keyword, plus heredocs.
    let orig = req.original.trim_start_matches(char::is_whitespace);
    let kw_len = req.keyword.len();
    let mut expression = match orig.get(..kw_len) {
        Some(head) if head.eq_ignore_ascii_case("onbuild") => orig[kw_len..]
            .trim_start_matches(char::is_whitespace)
            .to_string(),
        _ => req.rest.to_string(),
    };
    for h in req.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    let child = Req {
        keyword: &child_kw,
        flags: &child_flags,
        rest: &child_rest,
        original: req.rest,
        heredocs: req.heredocs,
        escape: req.escape,
    };
    match parse_instruction(&child)? {
        Parsed::Instruction(i) => Ok(Instruction::Onbuild(Onbuild {
            instruction: Box::new(i),
            expression,
        })),
        Parsed::From(_) => Err("FROM isn't allowed as an ONBUILD trigger".into()),
    }
}

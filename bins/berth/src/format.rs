//! Output formatting shared by the commands: a subset of Go's text/template
//! (as used by docker's `--format`), docker's human durations and sizes,
//! `docker ps` status strings and docker's tabwriter-style tables.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// Case-insensitive JSON access
// ---------------------------------------------------------------------------

/// Field access on daemon JSON that, like Go's `encoding/json` decoding into
/// docker's typed structs, prefers an exact key and falls back to a
/// case-insensitive match (so `{"id": ...}` still yields the Id).
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

// ---------------------------------------------------------------------------
// Human units (github.com/docker/go-units)
// ---------------------------------------------------------------------------

/// `units.HumanDuration`: "Less than a second", "3 seconds", "About a minute", ...
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = ((secs as f64) / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs as f64 / 3600.0 / 24.0 / 365.0) as i64)
}

/// Go's `%.<prec>g` formatting of a float.
pub fn go_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, x);
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(&mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, x))
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `units.HumanSizeWithPrecision`: decimal units, "4.26MB", "1.98kB", "0B".
pub fn human_size_prec(size: f64, prec: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, prec), UNITS[i])
}

/// `units.HumanSize` (precision 4).
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// `units.BytesSize`: binary units, as `docker info` shows total memory ("23.47GiB").
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 4), UNITS[i])
}

/// Parses docker's human sizes for `-m 512m`, `--memory-swap 1g` (`units.RAMInBytes`:
/// binary multiples, optional `b` suffix).
pub fn parse_ram_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t.as_str(), ""),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mul: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid size: '{s}'"),
    };
    Ok((n * mul) as i64)
}

/// Parses Go durations like "10s", "1m30s", "2h", "500ms" into seconds (fractional).
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let i = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if i == 0 {
            return None;
        }
        let n: f64 = rest[..i].parse().ok()?;
        rest = &rest[i..];
        let j = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..j] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mul;
        rest = &rest[j..];
    }
    Some(total)
}

/// Parses an RFC 3339 timestamp as docker sends them into unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp())
}

/// `docker ps` STATUS computed from the state, as the daemon does
/// (`container.State.String()`); used when the daemon sends no Status.
pub fn status_string(
    state: &str,
    exit_code: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    now: i64,
) -> String {
    match state {
        "running" => match started_at {
            Some(t) => format!("Up {}", human_duration(now - t)),
            None => "Up".into(),
        },
        "paused" => match started_at {
            Some(t) => format!("Up {} (Paused)", human_duration(now - t)),
            None => "Up (Paused)".into(),
        },
        "restarting" => match finished_at {
            Some(t) => format!("Restarting ({exit_code}) {} ago", human_duration(now - t)),
            None => format!("Restarting ({exit_code})"),
        },
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        "created" => "Created".into(),
        "exited" | "stopped" => match finished_at {
            Some(t) if t > 0 => format!("Exited ({exit_code}) {} ago", human_duration(now - t)),
            _ => format!("Exited ({exit_code})"),
        },
        other => other.to_string(),
    }
}

/// An io error worded like Go's ("no such file or directory").
pub fn go_io_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// `formatter.Ellipsis`: truncates to `max` characters, the last one being "…".
pub fn ellipsis(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Short (12 character) form of an id, without any `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

// ---------------------------------------------------------------------------
// Tables (Go's text/tabwriter with minwidth 10, padding 3, as docker uses)
// ---------------------------------------------------------------------------

/// Aligns tab-separated lines like `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, 10)
}

/// Like [`tabwrite`] with another minimum cell width (`docker top` uses 20).
pub fn tabwrite_min(text: &str, minwidth: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let ncols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for l in &lines {
        // The text after the last tab is not a column cell.
        for (i, c) in l.iter().enumerate().take(l.len().saturating_sub(1)) {
            widths[i] = widths[i].max((c.chars().count() + 3).max(minwidth));
        }
    }
    let mut out = String::new();
    for (n, l) in lines.iter().enumerate() {
        for (i, c) in l.iter().enumerate() {
            out.push_str(c);
            if i + 1 < l.len() {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        if n + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

/// Renders rows with a docker `--format` value. `table` formats get a header
/// row (evaluated against `headers`) and column alignment.
pub fn render_rows(format: &str, headers: &Value, rows: &[Value]) -> Result<String> {
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
            (true, rest.trim())
        }
        _ => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let tmpl = Template::parse(&body)?;
    let mut out = String::new();
    if is_table {
        let mut text = String::new();
        text.push_str(&tmpl.execute(headers)?);
        text.push('\n');
        for r in rows {
            text.push_str(&tmpl.execute(r)?);
            text.push('\n');
        }
        out.push_str(&tabwrite(&text));
    } else {
        for r in rows {
            out.push_str(&tmpl.execute(r)?);
            out.push('\n');
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Go text/template subset
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Dot,
    Field(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Ident(String),
    Paren(Pipeline),
}

type Command = Vec<Term>;
type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
enum Node {
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
            .ok_or_else(|| anyhow!("template: unclosed action"))?
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
                bail!("template: unclosed left paren");
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
                    bail!("template: missing command before '|'");
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
                        bail!("template: unterminated quoted string");
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
                    bail!("template: variables are not supported: {word}");
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
        bail!("template: missing value for command");
    }
    Ok(pipeline)
}

fn parse_nodes(toks: &[Tok], pos: &mut usize, top: bool) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        match &toks[*pos] {
            Tok::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                *pos += 1;
            }
            Tok::Action(a) => {
                *pos += 1;
                let (kw, rest) = match a.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r.trim()),
                    None => (a.as_str(), ""),
                };
                match kw {
                    "end" | "else" => {
                        if top {
                            bail!("template: unexpected {{{{{kw}}}}}");
                        }
                        return Ok((nodes, Some(kw.to_string())));
                    }
                    "range" | "if" | "with" => {
                        let pipe = parse_terms(rest)?;
                        let (body, term) = parse_nodes(toks, pos, false)?;
                        let mut alt = Vec::new();
                        match term.as_deref() {
                            Some("else") => {
                                let (a2, t2) = parse_nodes(toks, pos, false)?;
                                if t2.as_deref() != Some("end") {
                                    bail!("template: missing {{{{end}}}}");
                                }
                                alt = a2;
                            }
                            Some("end") => {}
                            _ => bail!("template: missing {{{{end}}}}"),
                        }
                        nodes.push(match kw {
                            "range" => Node::Range(pipe, body, alt),
                            "if" => Node::If(pipe, body, alt),
                            _ => Node::With(pipe, body, alt),
                        });
                    }
                    _ if a.starts_with("/*") => {}
                    _ => nodes.push(Node::Action(parse_terms(a)?)),
                }
            }
        }
    }
    if !top {
        bail!("template: unexpected EOF");
    }
    Ok((nodes, None))
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
        exec_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

fn exec_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, dot)?;
                out.push_str(&go_print(&v));
            }
            Node::If(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                if truthy(&v) {
                    exec_nodes(body, dot, out)?;
                } else {
                    exec_nodes(alt, dot, out)?;
                }
            }
            Node::With(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                if truthy(&v) {
                    exec_nodes(body, &v, out)?;
                } else {
                    exec_nodes(alt, dot, out)?;
                }
            }
            Node::Range(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                let items: Vec<Value> = match &v {
                    Value::Array(a) => a.clone(),
                    Value::Object(m) => m.values().cloned().collect(),
                    Value::Null => Vec::new(),
                    x if nil_kind(x).is_some() => Vec::new(),
                    other => bail!("template: range can't iterate over {}", go_print(other)),
                };
                if items.is_empty() {
                    exec_nodes(alt, dot, out)?;
                }
                for it in &items {
                    exec_nodes(body, it, out)?;
                }
            }
        }
    }
    Ok(())
}

fn truthy(v: &Value) -> bool {
    if nil_kind(v).is_some() || is_no_value(v) {
        return false;
    }
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Marker for a missing map key, printed as "<no value>" like Go.
fn no_value() -> Value {
    let mut m = Map::new();
    m.insert("__no_value".into(), Value::Bool(true));
    Value::Object(m)
}

fn is_no_value(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key("__no_value"))
}

/// Fields docker decodes into Go maps (printed "map[]" when null).
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Tmpfs",
    "PortBindings",
    "Sysctls",
    "StorageOpt",
    "Options",
    "DriverOpts",
    "Networks",
    "Ports",
    "Annotations",
    "Data",
    "Args",
    "BuildArgs",
    "EndpointsConfig",
    "DriverOpts",
];

/// Fields docker decodes into Go pointers or structs (printed "<nil>" when null).
const PTR_FIELDS: &[&str] = &[
    "Health",
    "Healthcheck",
    "State",
    "Config",
    "HostConfig",
    "NetworkSettings",
    "GraphDriver",
    "ImageManifestDescriptor",
    "Metadata",
    "Node",
    "RestartPolicy",
    "LogConfig",
    "IPAMConfig",
    "ContainerConfig",
    "RootFS",
    "Platform",
    "Descriptor",
    "Manifests",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Init",
    "StopTimeout",
    "Size",
    "SizeRw",
    "SizeRootFs",
];

/// Well-known string fields of docker's objects (zero value "").
const STR_FIELDS: &[&str] = &[
    "Id",
    "ID",
    "Name",
    "Image",
    "ImageID",
    "Status",
    "Hostname",
    "Domainname",
    "User",
    "WorkingDir",
    "Driver",
    "Path",
    "Created",
    "StartedAt",
    "FinishedAt",
    "Error",
    "IPAddress",
    "Gateway",
    "MacAddress",
    "NetworkMode",
    "Architecture",
    "Os",
    "Variant",
    "Author",
    "Comment",
    "DockerVersion",
    "Parent",
    "StopSignal",
    "Runtime",
    "LogPath",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "Type",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "Cgroup",
    "CgroupParent",
    "Isolation",
    "ContainerIDFile",
    "VolumeDriver",
    "SandboxID",
    "SandboxKey",
    "EndpointID",
    "NetworkID",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "Source",
    "Destination",
    "Mode",
    "Propagation",
    "ExecID",
    "State",
    "Command",
];

/// Well-known numeric fields (zero value 0).
const NUM_FIELDS: &[&str] = &[
    "ExitCode",
    "Pid",
    "RestartCount",
    "VirtualSize",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "ShmSize",
    "IPPrefixLen",
    "MaximumRetryCount",
    "Containers",
    "SharedSize",
];

/// Well-known boolean fields (zero value false).
const BOOL_FIELDS: &[&str] = &[
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Privileged",
    "ReadonlyRootfs",
    "AutoRemove",
    "PublishAllPorts",
    "RW",
    "NetworkDisabled",
];

/// A null or missing JSON value standing for the Go zero value docker's
/// typed structs would print: "slice", "map", "ptr", "str", "num", "bool".
fn nil_marker(name: &str) -> Value {
    let kind = if MAP_FIELDS.contains(&name) {
        "map"
    } else if PTR_FIELDS.contains(&name) {
        "ptr"
    } else {
        "slice"
    };
    nil_of(kind)
}

/// The zero value for a field missing from the daemon's JSON.
fn missing_marker(name: &str) -> Value {
    if STR_FIELDS.contains(&name) {
        nil_of("str")
    } else if NUM_FIELDS.contains(&name) {
        nil_of("num")
    } else if BOOL_FIELDS.contains(&name) {
        nil_of("bool")
    } else {
        nil_marker(name)
    }
}

fn nil_of(kind: &str) -> Value {
    let mut m = Map::new();
    m.insert("__nil".into(), Value::String(kind.into()));
    Value::Object(m)
}

fn nil_kind(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("__nil").and_then(Value::as_str),
        _ => None,
    }
}

fn field(v: &Value, name: &str) -> Result<Value> {
    if nil_kind(v).is_some() {
        return Ok(nil_marker(name));
    }
    match v {
        Value::Object(_) => match v.ci(name) {
            Some(Value::Null) => Ok(nil_marker(name)),
            Some(x) => Ok(x.clone()),
            None if is_no_value(v) => Ok(no_value()),
            // docker runs templates on typed structs, where a field the
            // daemon left out is a zero value; keys of internal maps (our
            // formatter rows) are exact, so unknown fields there are errors.
            None if v.get("__json_html").is_none() => Ok(missing_marker(name)),
            None => {
                bail!("template: executing \"\" at <.{name}>: map has no entry for key \"{name}\"")
            }
        },
        Value::Null => Ok(Value::Null),
        other if is_no_value(other) => Ok(no_value()),
        other => bail!(
            "template: can't evaluate field {name} in type {}",
            go_type(other)
        ),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn eval_term(t: &Term, dot: &Value) -> Result<Value> {
    Ok(match t {
        Term::Dot => dot.clone(),
        Term::Field(fs) => {
            let mut v = dot.clone();
            for f in fs {
                v = field(&v, f)?;
            }
            v
        }
        Term::Str(s) => Value::String(s.clone()),
        Term::Num(n) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Term::Bool(b) => Value::Bool(*b),
        Term::Paren(p) => eval_pipeline(p, dot)?,
        Term::Ident(name) => call(name, &[], dot)?,
    })
}

fn eval_pipeline(p: &Pipeline, dot: &Value) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        let mut args: Vec<Value> = Vec::new();
        let head = &cmd[0];
        for t in &cmd[1..] {
            args.push(eval_term(t, dot)?);
        }
        if let Some(p) = prev.take() {
            args.push(p);
        }
        let v = match head {
            Term::Ident(name) => call(name, &args, dot)?,
            Term::Field(fs) if !args.is_empty() => {
                // Method call such as `.Label "key"` on docker's formatter contexts.
                let mut base = dot.clone();
                for f in &fs[..fs.len() - 1] {
                    base = field(&base, f)?;
                }
                let method = &fs[fs.len() - 1];
                let map = field(&base, &format!("__{method}"))?;
                match args.first() {
                    Some(Value::String(k)) => match &map {
                        Value::Object(m) => {
                            m.get(k).cloned().unwrap_or(Value::String(String::new()))
                        }
                        _ => bail!("template: can't call method {method} with arguments"),
                    },
                    _ => bail!("template: wrong argument for {method}"),
                }
            }
            other => {
                if !args.is_empty() {
                    bail!("template: can't give argument to non-function");
                }
                eval_term(other, dot)?
            }
        };
        prev = Some(v);
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => go_print(other),
    }
}

fn call(name: &str, args: &[Value], _dot: &Value) -> Result<Value> {
    let need = |n: usize| -> Result<()> {
        if args.len() != n {
            bail!(
                "template: wrong number of args for {name}: want {n} got {}",
                args.len()
            );
        }
        Ok(())
    };
    Ok(match name {
        "json" => {
            need(1)?;
            Value::String(to_json(&args[0]))
        }
        "index" => {
            if args.is_empty() {
                bail!("template: wrong number of args for index: want at least 1 got 0");
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Value::Object(m), Value::String(s)) => {
                        m.get(s).cloned().unwrap_or(Value::String(String::new()))
                    }
                    (Value::Array(a), Value::Number(n)) => {
                        let idx = n.as_f64().unwrap_or(-1.0);
                        if idx < 0.0 || idx as usize >= a.len() {
                            bail!("template: error calling index: index out of range: {idx}");
                        }
                        a[idx as usize].clone()
                    }
                    (Value::Null, _) => no_value(),
                    (x, _) if nil_kind(x).is_some() => Value::String(String::new()),
                    (x, _) => bail!("template: can't index item of type {}", go_type(x)),
                };
            }
            v
        }
        "join" => {
            need(2)?;
            let sep = as_str(&args[1]);
            match &args[0] {
                Value::Array(a) => {
                    Value::String(a.iter().map(as_str).collect::<Vec<_>>().join(&sep))
                }
                other => Value::String(as_str(other)),
            }
        }
        "split" => {
            need(2)?;
            let s = as_str(&args[0]);
            let sep = as_str(&args[1]);
            Value::Array(
                s.split(sep.as_str())
                    .map(|x| Value::String(x.into()))
                    .collect(),
            )
        }
        "upper" => {
            need(1)?;
            Value::String(as_str(&args[0]).to_uppercase())
        }
        "lower" => {
            need(1)?;
            Value::String(as_str(&args[0]).to_lowercase())
        }
        "title" => {
            need(1)?;
            let s = as_str(&args[0]);
            let mut out = String::new();
            let mut start = true;
            for ch in s.chars() {
                if start {
                    out.extend(ch.to_uppercase());
                } else {
                    out.push(ch);
                }
                start = ch.is_whitespace();
            }
            Value::String(out)
        }
        "len" => {
            need(1)?;
            let n = match &args[0] {
                x if nil_kind(x).is_some() => 0,
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                other => bail!("template: len of type {}", go_type(other)),
            };
            Value::from(n)
        }
        "truncate" => {
            need(2)?;
            let n = args[1].as_f64().unwrap_or(0.0) as usize;
            Value::String(as_str(&args[0]).chars().take(n).collect())
        }
        "pad" => {
            need(3)?;
            let l = args[1].as_f64().unwrap_or(0.0) as usize;
            let r = args[2].as_f64().unwrap_or(0.0) as usize;
            Value::String(format!(
                "{}{}{}",
                " ".repeat(l),
                as_str(&args[0]),
                " ".repeat(r)
            ))
        }
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(go_print).collect::<Vec<_>>().join(" ")
        )),
        "print" => Value::String(args.iter().map(go_print).collect::<Vec<_>>().join("")),
        "printf" => {
            if args.is_empty() {
                bail!("template: wrong number of args for printf");
            }
            Value::String(go_printf(&as_str(&args[0]), &args[1..]))
        }
        "not" => {
            need(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "eq" => {
            if args.len() < 2 {
                bail!("template: wrong number of args for eq");
            }
            Value::Bool(args[1..].iter().any(|a| a == &args[0]))
        }
        "ne" => {
            need(2)?;
            Value::Bool(args[0] != args[1])
        }
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "__field" => {
            need(2)?;
            let mut v = args[1].clone();
            for f in as_str(&args[0]).split('.') {
                v = field(&v, f)?;
            }
            v
        }
        other => bail!("template: function \"{other}\" not defined"),
    })
}

fn go_printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => {
                let v = it.next().map(as_str).unwrap_or_default();
                out.push_str(&serde_json::to_string(&v).unwrap_or_default());
            }
            Some(_) => {
                if let Some(v) = it.next() {
                    out.push_str(&go_print(v));
                }
            }
            None => out.push('%'),
        }
    }
    out
}

/// JSON as docker's `json` template function writes it (no HTML escaping,
/// internal keys dropped).
pub fn to_json(v: &Value) -> String {
    let s = serde_json::to_string(&strip_internal(v)).unwrap_or_default();
    // docker's ps/images contexts marshal themselves with json.Marshal,
    // which escapes HTML characters.
    if v.get("__json_html").is_some() {
        s.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    } else {
        s
    }
}

fn strip_internal(v: &Value) -> Value {
    match nil_kind(v) {
        Some("str") => return Value::String(String::new()),
        Some("num") => return Value::from(0),
        Some("bool") => return Value::Bool(false),
        Some(_) => return Value::Null,
        None => {}
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with("__"))
                .map(|(k, v)| (k.clone(), strip_internal(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_internal).collect()),
        other => other.clone(),
    }
}

fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        go_g(f, 17)
    }
}

/// Prints a value like Go's `fmt.Print` of the corresponding Go value.
pub fn go_print(v: &Value) -> String {
    if is_no_value(v) {
        return "<no value>".into();
    }
    match nil_kind(v) {
        Some("map") => return "map[]".into(),
        Some("slice") => return "[]".into(),
        Some("str") => return String::new(),
        Some("num") => return "0".into(),
        Some("bool") => return "false".into(),
        Some(_) => return "<nil>".into(),
        None => {}
    }
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let mut s = String::from("[");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&go_print(x));
            }
            s.push(']');
            s
        }
        Value::Object(m) => {
            let mut s = String::from("map[");
            let mut keys: Vec<&String> = m.keys().filter(|k| !k.starts_with("__")).collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ = write!(s, "{k}:{}", go_print(&m[*k]));
            }
            s.push(']');
            s
        }
    }
}

/// Re-indents raw JSON like Go's `json.Indent(dst, src, prefix, indent)`,
/// keeping key order.
pub fn indent_json(src: &[u8], prefix: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    let text = String::from_utf8_lossy(src);
    let chars: Vec<char> = text.chars().collect();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Empty containers stay on one line.
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j < chars.len() && (chars[j] == '}' || chars[j] == ']') {
                    out.push(chars[j]);
                    i = j + 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().execute(v).unwrap()
    }

    #[test]
    fn template_fields_and_functions() {
        let v = json!({
            "Id": "abc",
            "State": {"Status": "running", "Pid": 42, "Running": true},
            "Config": {"Labels": {"k": "v", "a": "b"}, "Cmd": ["sleep", "100"], "Entrypoint": null},
            "NetworkSettings": {"IPAddress": ""}
        });
        assert_eq!(run("{{.State.Status}}", &v), "running");
        assert_eq!(run("{{.Id}}", &v), "abc");
        assert_eq!(run("{{.State.Pid}}", &v), "42");
        assert_eq!(run("{{.state.status}}", &v), "running");
        let lower = json!({"id": "x", "Nested": {"exitCode": 3}});
        assert_eq!(lower.ci("Id"), Some(&json!("x")));
        assert_eq!(lower.cptr("/nested/ExitCode"), Some(&json!(3)));
        assert_eq!(lower.ci("nope"), None);
        assert_eq!(run("{{index .Config.Labels \"k\"}}", &v), "v");
        assert_eq!(run("{{.Config.Labels}}", &v), "map[a:b k:v]");
        assert_eq!(run("{{.Config.Cmd}}", &v), "[sleep 100]");
        assert_eq!(run("{{json .Config.Cmd}}", &v), "[\"sleep\",\"100\"]");
        assert_eq!(
            run("{{json .Config.Labels}}", &v),
            "{\"a\":\"b\",\"k\":\"v\"}"
        );
        assert_eq!(run("{{.NetworkSettings.IPAddress}}", &v), "");
        // Missing fields print Go zero values, as on docker's typed structs.
        assert_eq!(
            run(
                "{{.Config.Env}}|{{.State.ExitCode}}|{{.State.Error}}|{{.State.Dead}}",
                &v
            ),
            "[]|0||false"
        );
        assert_eq!(
            run("{{json .Config.Env}} {{json .State.Error}}", &v),
            "null \"\""
        );
        // Formatter rows (ps, images) have exact fields: unknown ones are errors.
        let row = json!({"ID": "x", "__json_html": true});
        assert!(Template::parse("{{.Nope}}").unwrap().execute(&row).is_err());
        assert_eq!(run("{{index .Config.Labels \"zz\"}}", &v), "");
        assert_eq!(run("{{.Config.Entrypoint}}", &v), "[]");
        assert_eq!(run("{{json .Config.Entrypoint}}", &v), "null");
        assert_eq!(run("{{len .Config.Entrypoint}}", &v), "0");
        assert_eq!(run("{{if .Config.Entrypoint}}y{{else}}n{{end}}", &v), "n");
        let n = json!({"Config": {"Labels": null, "Healthcheck": null}});
        assert_eq!(run("{{.Config.Labels}}", &n), "map[]");
        assert_eq!(run("{{index .Config.Labels \"a\"}}", &n), "");
        assert_eq!(run("{{.Config.Healthcheck}}", &n), "<nil>");
        let h = json!({"Digest": "<none>", "__json_html": true});
        assert_eq!(run("{{json .}}", &h), r#"{"Digest":"\u003cnone\u003e"}"#);
        assert_eq!(run("x={{.State.Running}} y", &v), "x=true y");
        assert_eq!(
            run("{{range .Config.Cmd}}[{{.}}]{{end}}", &v),
            "[sleep][100]"
        );
        assert_eq!(run("{{if .State.Running}}up{{else}}down{{end}}", &v), "up");
        assert_eq!(run("{{join .Config.Cmd \",\"}}", &v), "sleep,100");
        assert_eq!(run("{{.State.Status | upper}}", &v), "RUNNING");
        assert_eq!(run("{{with .State}}{{.Status}}{{end}}", &v), "running");
        assert!(Template::parse("{{.State.Status").is_err());
        assert!(Template::parse("{{nofunc .X}}")
            .unwrap()
            .execute(&v)
            .is_err());
    }

    #[test]
    fn label_method() {
        let v = json!({"Labels": "a=b", "__Label": {"a": "b"}});
        assert_eq!(run("{{.Label \"a\"}}", &v), "b");
        assert_eq!(run("{{.Label \"zz\"}}", &v), "");
        assert_eq!(to_json(&v), "{\"Labels\":\"a=b\"}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(150), "2 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size_prec(1_982_256.0, 3), "1.98MB");
        assert_eq!(human_size_prec(4_260_000.0, 3), "4.26MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(1920.0, 3), "1.92kB");
        assert_eq!(human_size_prec(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size(1_000_000.0), "1MB");
        assert_eq!(human_size(512.0), "512B");
        assert_eq!(bytes_size(25_201_463_296.0), "23.47GiB");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(123456.0, 3), "1.23e+05");
    }

    #[test]
    fn parse_sizes_and_durations() {
        assert_eq!(parse_ram_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_ram_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_ram_bytes("100").unwrap(), 100);
        assert_eq!(parse_ram_bytes("64MiB").unwrap(), 64 << 20);
        assert!(parse_ram_bytes("x1").is_err());
        assert_eq!(parse_go_duration("1m30s"), Some(90.0));
        assert_eq!(parse_go_duration("500ms"), Some(0.5));
        assert_eq!(parse_go_duration("abc"), None);
    }

    #[test]
    fn ps_status_strings() {
        let now = 1_000_000;
        assert_eq!(
            status_string("running", 0, Some(now - 3), None, now),
            "Up 3 seconds"
        );
        assert_eq!(
            status_string("exited", 0, Some(now - 100), Some(now - 5), now),
            "Exited (0) 5 seconds ago"
        );
        assert_eq!(
            status_string("exited", 137, None, Some(now - 7200), now),
            "Exited (137) 2 hours ago"
        );
        assert_eq!(status_string("created", 0, None, None, now), "Created");
        assert_eq!(
            status_string("paused", 0, Some(now - 120), None, now),
            "Up 2 minutes (Paused)"
        );
    }

    #[test]
    fn ellipsis_and_ids() {
        assert_eq!(ellipsis("sleep 100", 20), "sleep 100");
        assert_eq!(
            ellipsis("abcdefghijklmnopqrstuvwxyz", 20),
            "abcdefghijklmnopqrs…"
        );
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn tables() {
        let out = tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx");
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x"
        );
        let headers = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let rows = vec![json!({"ID": "1", "Names": "a"})];
        assert_eq!(
            render_rows("table {{.ID}}\\t{{.Names}}", &headers, &rows).unwrap(),
            "CONTAINER ID   NAMES\n1              a\n"
        );
        assert_eq!(render_rows("{{.ID}}", &headers, &rows).unwrap(), "1\n");
    }

    #[test]
    fn indent_like_go() {
        let raw = br#"{"a":[],"b":{"c":1,"d":"x,y:z"},"e":[1,2]}"#;
        assert_eq!(
            indent_json(raw, "", "  "),
            "{\n  \"a\": [],\n  \"b\": {\n    \"c\": 1,\n    \"d\": \"x,y:z\"\n  },\n  \"e\": [\n    1,\n    2\n  ]\n}"
        );
    }
}

//! Output formatting shared by the commands: docker's human durations and
//! sizes, `docker ps` status strings, docker's tabwriter-style tables and the
//! rows of `--format` values (whose templates the `gotemplate` crate runs).

use anyhow::{anyhow, bail, Result};
use gotemplate::Format;
use serde_json::Value;

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

/// `sortorder.NaturalLess` as an ordering: runs of digits compare as
/// numbers (fewer leading zeros first on a tie), other bytes bytewise, and
/// digits sort before other characters. docker sorts `network ls`,
/// `volume ls` and `port` this way.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        let skip_zeros = |s: &[u8], mut k: usize| {
            while k < s.len() && s[k] == b'0' {
                k += 1;
            }
            k
        };
        let end_digits = |s: &[u8], mut k: usize| {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            k
        };
        let (nz_a, nz_b) = (skip_zeros(a, i), skip_zeros(b, j));
        let (end_a, end_b) = (end_digits(a, nz_a), end_digits(b, nz_b));
        let by_number = (end_a - nz_a)
            .cmp(&(end_b - nz_b))
            .then_with(|| a[nz_a..end_a].cmp(&b[nz_b..end_b]))
            .then_with(|| nz_a.cmp(&nz_b));
        if by_number != Ordering::Equal {
            return by_number;
        }
        (i, j) = (end_a, end_b);
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp as the daemon sent it
/// ("2024-01-02 03:04:05.5 +0000 UTC"); Go's zero time for an empty one.
pub fn go_time_rfc3339(s: &str) -> String {
    if s.is_empty() {
        return "0001-01-01 00:00:00 +0000 UTC".into();
    }
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) else {
        return s.to_string();
    };
    let nanos = chrono::Timelike::nanosecond(&t);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    let offset = t.format("%z").to_string();
    // A zero offset parses as UTC; another one as a zone named by its offset.
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        offset.clone()
    };
    format!("{}{frac} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
}

/// "k=v" pairs of a label map, sorted and joined with commas (the
/// formatters' `.Labels`).
pub fn labels_joined<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut kv: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    kv.sort();
    kv.join(",")
}

/// The templates a formatter offers for its format keys.
#[derive(Debug, Clone, Copy)]
pub struct ListFormats<'a> {
    /// "table" (the default).
    pub table: &'a str,
    /// "table" with `-q`.
    pub quiet: &'a str,
    /// "raw" and "raw" with `-q`, where the formatter has them.
    pub raw: Option<(&'a str, &'a str)>,
}

/// The `--format` of an `ls` command as docker's formatters choose it: the
/// default table (or the quiet one with `-q`) for none or "table", the raw
/// form for "raw", `{{json .}}` for "json", else the given template.
pub fn list_format(format: Option<&str>, quiet: bool, f: &ListFormats) -> String {
    match (format.unwrap_or_default(), f.raw) {
        ("" | "table", _) if quiet => f.quiet.to_string(),
        ("" | "table", _) => f.table.to_string(),
        ("raw", Some((_, raw_quiet))) if quiet => raw_quiet.to_string(),
        ("raw", Some((raw, _))) => raw.to_string(),
        ("json", _) => "{{json .}}".to_string(),
        (other, _) => other.to_string(),
    }
}

/// [`render_rows`] for typed rows. The template engine works on JSON values,
/// so the rows become `Value`s here and nowhere else.
pub fn render_typed<T: serde::Serialize>(format: &str, headers: &T, rows: &[T]) -> Result<String> {
    let headers = serde_json::to_value(headers)?;
    let rows = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<serde_json::Result<Vec<Value>>>()?;
    render_rows(format, &headers, &rows)
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
    let format = Format::parse(format)?;
    let tmpl = format.template();
    let mut out = String::new();
    if format.is_table() {
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
    fn natural_order_and_go_times() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("net2", "net10"), Less);
        assert_eq!(natural_cmp("net10", "net2"), Greater);
        assert_eq!(natural_cmp("a", "a"), Equal);
        assert_eq!(natural_cmp("a01", "a1"), Greater);
        assert_eq!(natural_cmp("1a", "a"), Less);
        assert_eq!(natural_cmp("ab", "abc"), Less);
        assert_eq!(natural_cmp("Z", "a"), Less);
        let mut v = vec!["web-10", "web-9", "bridge", "host", "80/tcp", "8080/tcp"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["80/tcp", "8080/tcp", "bridge", "host", "web-9", "web-10"]
        );
        assert_eq!(
            go_time_rfc3339("2024-01-02T03:04:05.123456789Z"),
            "2024-01-02 03:04:05.123456789 +0000 UTC"
        );
        assert_eq!(
            go_time_rfc3339("2024-01-02T03:04:05.5+02:00"),
            "2024-01-02 03:04:05.5 +0200 +0200"
        );
        assert_eq!(go_time_rfc3339(""), "0001-01-01 00:00:00 +0000 UTC");
        let f = ListFormats {
            table: "t",
            quiet: "q",
            raw: Some(("r", "rq")),
        };
        assert_eq!(list_format(None, true, &f), "q");
        assert_eq!(list_format(Some("{{.Name}}"), true, &f), "{{.Name}}");
        assert_eq!(list_format(Some("json"), false, &f), "{{json .}}");
        assert_eq!(list_format(Some("table"), false, &f), "t");
        assert_eq!(list_format(Some("raw"), false, &f), "r");
        assert_eq!(list_format(Some("raw"), true, &f), "rq");
        let no_raw = ListFormats { raw: None, ..f };
        assert_eq!(list_format(Some("raw"), false, &no_raw), "raw");
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

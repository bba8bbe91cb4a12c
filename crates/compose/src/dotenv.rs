//! `.env` / `env_file` parsing as Compose does: `KEY=VALUE` lines, `export` prefixes,
//! `#` comments, single quotes (literal), double quotes (escapes, interpolation) and
//! unquoted values (interpolation, inline ` #` comments).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ComposeError;
use crate::interpolate::Interpolator;

/// Parses env-file text. `lookup` resolves `${VAR}` not defined earlier in the file and
/// `KEY` lines without `=`; `raw` disables quoting and interpolation (`format: raw`).
pub fn parse(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    raw: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Option<String>)>, ComposeError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let err = |message: String| ComposeError::EnvFile {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("export ").map(str::trim_start).unwrap_or(t);
        let (key, value) = match t.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v)),
            None => (t.trim_end(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(err(format!("invalid variable name {key:?}")));
        }
        let Some(value) = value else {
            out.push((key.to_string(), lookup(key)));
            continue;
        };
        let known: BTreeMap<String, String> = out
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        let look = |k: &str| known.get(k).cloned().or_else(|| lookup(k));
        let mut interp = Interpolator {
            lookup: &look,
            warnings: Vec::new(),
        };
        let v = if raw {
            value.to_string()
        } else if let Some(rest) = value.strip_prefix('\'') {
            take_quoted(rest, '\'', &mut lines)
                .ok_or_else(|| err("unterminated single quote".into()))?
        } else if let Some(rest) = value.strip_prefix('"') {
            let body = take_quoted(rest, '"', &mut lines)
                .ok_or_else(|| err("unterminated double quote".into()))?;
            let body = unescape(&body);
            interp.string(&body).map_err(|e| err(e.to_string()))?
        } else {
            let v = match value.find(" #") {
                Some(c) => &value[..c],
                None => value,
            };
            interp.string(v.trim()).map_err(|e| err(e.to_string()))?
        };
        warnings.extend(interp.warnings);
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), Some(v)));
    }
    Ok(out)
}

/// Reads up to the closing quote, across lines if needed.
fn take_quoted<'a>(
    first: &str,
    quote: char,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Option<String> {
    let mut body = String::new();
    let mut cur = first.to_string();
    loop {
        let mut escaped = false;
        for (i, c) in cur.char_indices() {
            if quote == '"' && c == '\\' && !escaped {
                escaped = true;
                continue;
            }
            if c == quote && !escaped {
                body.push_str(&cur[..i]);
                return Some(body);
            }
            escaped = false;
        }
        body.push_str(&cur);
        body.push('\n');
        cur = lines.next()?.1.to_string();
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let text = "# comment\nA=1\nexport B = two\nC='lit $A'\nD=\"x\\ny ${A}\"\nE=v # c\nF=${A}${B}\nG\nH=\"multi\nline\"\nEMPTY=\n";
        let lookup = |k: &str| (k == "G").then(|| "from-env".to_string());
        let mut w = Vec::new();
        let got = parse(Path::new(".env"), text, &lookup, false, &mut w).unwrap();
        let m: BTreeMap<_, _> = got.into_iter().collect();
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some("two"));
        assert_eq!(m["C"].as_deref(), Some("lit $A"));
        assert_eq!(m["D"].as_deref(), Some("x\ny 1"));
        assert_eq!(m["E"].as_deref(), Some("v"));
        assert_eq!(m["F"].as_deref(), Some("1two"));
        assert_eq!(m["G"].as_deref(), Some("from-env"));
        assert_eq!(m["H"].as_deref(), Some("multi\nline"));
        assert_eq!(m["EMPTY"].as_deref(), Some(""));
    }

    #[test]
    fn raw_and_errors() {
        let none = |_: &str| None;
        let mut w = Vec::new();
        let got = parse(Path::new("e"), "A='$x'\n", &none, true, &mut w).unwrap();
        assert_eq!(got[0].1.as_deref(), Some("'$x'"));
        let e = parse(Path::new("e"), "OK=1\nA='open\n", &none, false, &mut w).unwrap_err();
        assert!(e.to_string().starts_with("e:2:"), "{e}");
        assert!(parse(Path::new("e"), "BAD KEY=1\n", &none, false, &mut w).is_err());
    }
}

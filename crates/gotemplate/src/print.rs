//! Printing values like Go's `fmt` and `encoding/json` print the typed
//! values docker's templates run on.

use std::fmt::Write as _;

use serde_json::Value;

use crate::zero::{is_no_value, marker_value, nil_kind};

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
    if let Some(zero) = marker_value(v) {
        return zero;
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
        // Whole numbers are the integer fields of docker's structs.
        format!("{f:.0}")
    } else {
        go_float(f)
    }
}

/// A float64 as Go's `%v` prints it: the shortest digits that read back the
/// same, in `%e` form when the exponent is below -4 or at least 6 (`%g`
/// with the shortest precision).
fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` also gives the shortest round-tripping digits.
    let sci = format!("{f:e}");
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
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

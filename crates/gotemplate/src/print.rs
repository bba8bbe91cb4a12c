//! Printing values like Go's `fmt` and `encoding/json` print the typed
//! values docker's templates run on.

use std::fmt::Write as _;

use serde_json::Value;

use crate::zero::{is_no_value, nil_kind};

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

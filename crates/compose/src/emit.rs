//! A small block-style YAML writer for the canonical project form.

use serde_json::Value;

fn plain_ok(s: &str) -> bool {
    if s.is_empty()
        || matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        )
        || s.parse::<f64>().is_ok()
        || s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`. ".contains(c))
        || s.ends_with(' ')
    {
        return false;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-+=@".contains(c))
}

fn scalar(s: &str, escape_dollar: bool) -> String {
    let s = if escape_dollar {
        s.replace('$', "$$")
    } else {
        s.to_string()
    };
    if plain_ok(&s) && !s.eq_ignore_ascii_case("null") {
        s
    } else {
        serde_json::to_string(&s).unwrap_or_default()
    }
}

fn write(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push_str(&pad);
                out.push_str(&scalar(k, false));
                out.push(':');
                write_value(out, x, indent);
            }
        }
        Value::Array(items) => {
            for x in items {
                out.push_str(&pad);
                out.push('-');
                write_value(out, x, indent);
            }
        }
        _ => {}
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
        Value::Object(_) | Value::Array(_) => {
            out.push('\n');
            write(out, v, indent + 2);
        }
        Value::Null => out.push_str(" null\n"),
        Value::Bool(b) => {
            out.push(' ');
            out.push_str(if *b { "true" } else { "false" });
            out.push('\n');
        }
        Value::Number(n) => {
            out.push(' ');
            out.push_str(&n.to_string());
            out.push('\n');
        }
        Value::String(s) => {
            out.push(' ');
            out.push_str(&scalar(s, true));
            out.push('\n');
        }
    }
}

/// Writes a JSON value (an object) as block YAML; strings have `$` escaped as `$$`.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let v = serde_json::json!({
            "a": "plain", "b": "80:80", "c": "true", "d": "", "e": "x $y", "f": [1, "2"],
            "g": {}, "h": null, "i": "multi\nline", "j": {"k": [{"l": 1}]}
        });
        let y = to_yaml(&v);
        assert!(y.contains("a: plain\n"), "{y}");
        assert!(y.contains("b: \"80:80\"\n"), "{y}");
        assert!(y.contains("c: \"true\"\n"), "{y}");
        assert!(y.contains("d: \"\"\n"), "{y}");
        assert!(y.contains("e: \"x $$y\"\n"), "{y}");
        assert!(y.contains("f:\n  - 1\n  - \"2\"\n"), "{y}");
        assert!(y.contains("g: {}\n"), "{y}");
        assert!(y.contains("i: \"multi\\nline\"\n"), "{y}");
        assert!(y.contains("j:\n  k:\n    -\n      l: 1\n"), "{y}");
    }
}

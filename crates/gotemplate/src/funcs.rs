//! The functions templates can call: docker's (`json`, `join`, ...) and
//! Go's builtins (`index`, `len`, `printf`, ...).

use serde_json::Value;

use crate::exec::{as_str, field, go_type, truthy};
use crate::print::{go_print, to_json};
use crate::zero::{marker_value, nil_kind, no_value};
use crate::Error;

type Result<T> = std::result::Result<T, Error>;

/// `eq` of two values: numbers by value (JSON does not keep Go's int and
/// float types apart), a missing field as its zero value, others as equal JSON.
fn go_eq(a: &Value, b: &Value) -> bool {
    let a = marker_value(a).unwrap_or_else(|| a.clone());
    let b = marker_value(b).unwrap_or_else(|| b.clone());
    match (&a, &b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The functions [`call`] knows, so that the parser can reject others as Go's does.
const FUNCS: &[&str] = &[
    "json", "index", "join", "split", "upper", "lower", "title", "len", "truncate", "pad",
    "println", "print", "printf", "not", "eq", "ne", "and", "or", "__field",
];

/// Whether templates can call `name`.
pub(crate) fn is_defined(name: &str) -> bool {
    FUNCS.contains(&name)
}

pub(crate) fn call(name: &str, args: &[Value]) -> Result<Value> {
    let need = |n: usize| -> Result<()> {
        if args.len() != n {
            return Err(Error::ArgCount {
                func: name.to_string(),
                want: n.to_string(),
                got: args.len(),
            });
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
                return Err(Error::ArgCount {
                    func: name.to_string(),
                    want: "at least 1".into(),
                    got: 0,
                });
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
                            return Err(Error::IndexOutOfRange(idx));
                        }
                        a[idx as usize].clone()
                    }
                    (Value::Null, _) => no_value(),
                    (x, _) if nil_kind(x).is_some() => Value::String(String::new()),
                    (x, _) => return Err(Error::IndexType(go_type(x))),
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
                other => return Err(Error::LenType(go_type(other))),
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
                return Err(Error::MissingArgs(name.to_string()));
            }
            Value::String(go_printf(&as_str(&args[0]), &args[1..]))
        }
        "not" => {
            need(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "eq" => {
            if args.len() < 2 {
                return Err(Error::MissingArgs(name.to_string()));
            }
            Value::Bool(args[1..].iter().any(|a| go_eq(a, &args[0])))
        }
        "ne" => {
            need(2)?;
            Value::Bool(!go_eq(&args[0], &args[1]))
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
        other => return Err(Error::UnknownFunction(other.to_string())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_knows_every_function() {
        for name in FUNCS {
            let r = call(name, &[]);
            assert!(
                !matches!(r, Err(Error::UnknownFunction(_))),
                "{name} is listed but not callable"
            );
        }
        assert_eq!(
            call("nope", &[]),
            Err(Error::UnknownFunction("nope".into()))
        );
    }
}

//! Executing a parsed template: the tree walk, field lookup and pipelines.

use serde_json::Value;

use crate::funcs::call;
use crate::parse::{Node, Pipeline, Term};
use crate::print::go_print;
use crate::zero::{is_no_value, missing_marker, nil_kind, nil_marker, no_value};
use crate::{Error, JsonExt};

type Result<T> = std::result::Result<T, Error>;

pub(crate) fn exec_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
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
                    // A nil slice or map, or nothing at all: no iterations.
                    Value::Null => Vec::new(),
                    x if nil_kind(x).is_some() || is_no_value(x) => Vec::new(),
                    Value::Array(a) => a.clone(),
                    // Over a map, Go visits the values in key order.
                    Value::Object(m) => {
                        let mut entries: Vec<(&String, &Value)> =
                            m.iter().filter(|(k, _)| !k.starts_with("__")).collect();
                        entries.sort_by_key(|(k, _)| *k);
                        entries.into_iter().map(|(_, v)| v.clone()).collect()
                    }
                    other => return Err(Error::RangeOver(go_print(other))),
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

pub(crate) fn truthy(v: &Value) -> bool {
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

pub(crate) fn field(v: &Value, name: &str) -> Result<Value> {
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
            None => Err(Error::NoEntry(name.to_string())),
        },
        Value::Null => Ok(Value::Null),
        other if is_no_value(other) => Ok(no_value()),
        other => Err(Error::FieldOfType {
            field: name.to_string(),
            ty: go_type(other),
        }),
    }
}

pub(crate) fn go_type(v: &Value) -> &'static str {
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
        // Whole literals are Go's integer constants.
        Term::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Value::from(*n as i64),
        Term::Num(n) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Term::Bool(b) => Value::Bool(*b),
        Term::Paren(p) => eval_pipeline(p, dot)?,
        Term::Ident(name) => call(name, &[])?,
    })
}

fn eval_pipeline(p: &Pipeline, dot: &Value) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        let mut args: Vec<Value> = Vec::new();
        let Some((head, terms)) = cmd.split_first() else {
            return Err(Error::MissingValue);
        };
        for t in terms {
            args.push(eval_term(t, dot)?);
        }
        if let Some(p) = prev.take() {
            args.push(p);
        }
        let v = match head {
            Term::Ident(name) => call(name, &args)?,
            Term::Field(fs) if !args.is_empty() => {
                // Method call such as `.Label "key"` on docker's formatter contexts.
                let Some((method, path)) = fs.split_last() else {
                    return Err(Error::ArgumentToNonFunction);
                };
                let mut base = dot.clone();
                for f in path {
                    base = field(&base, f)?;
                }
                let map = field(&base, &format!("__{method}"))?;
                match args.first() {
                    Some(Value::String(k)) => match &map {
                        Value::Object(m) => {
                            m.get(k).cloned().unwrap_or(Value::String(String::new()))
                        }
                        _ => return Err(Error::MethodWithArgs(method.clone())),
                    },
                    _ => return Err(Error::MethodArgument(method.clone())),
                }
            }
            other => {
                if !args.is_empty() {
                    return Err(Error::ArgumentToNonFunction);
                }
                eval_term(other, dot)?
            }
        };
        prev = Some(v);
    }
    Ok(prev.unwrap_or(Value::Null))
}

pub(crate) fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => go_print(other),
    }
}

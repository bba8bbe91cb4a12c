//! Variable interpolation (`$VAR`, `${VAR:-default}`, ...) on raw YAML values.

use crate::yaml::{Kind, Node};

/// An interpolation failure; the loader adds the file, line and key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    #[error("invalid interpolation format for {input:?}: {reason}")]
    Invalid { input: String, reason: &'static str },
}

/// Variable lookup and collected warnings.
pub struct Interpolator<'a> {
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub warnings: Vec<String>,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Interpolator<'_> {
    /// Interpolates every scalar value (not keys) of a node tree; errors carry the key path.
    pub fn node(&mut self, node: &mut Node, path: &str) -> Result<(), (String, InterpolateError)> {
        match &mut node.kind {
            Kind::Scalar { value, .. } => {
                if value.contains('$') {
                    *value = self.string(value).map_err(|e| (path.to_string(), e))?;
                }
                Ok(())
            }
            Kind::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.node(item, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Kind::Map(entries) => {
                for e in entries.iter_mut() {
                    let p = if path.is_empty() {
                        e.key.clone()
                    } else {
                        format!("{path}.{}", e.key)
                    };
                    self.node(&mut e.value, &p)?;
                }
                Ok(())
            }
            Kind::Null => Ok(()),
        }
    }

    /// Interpolates one string.
    pub fn string(&mut self, input: &str) -> Result<String, InterpolateError> {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let mut chars = after.chars();
            match chars.next() {
                Some('$') => {
                    out.push('$');
                    rest = &after[1..];
                }
                Some('{') => {
                    let end = matching_brace(after).ok_or(InterpolateError::Invalid {
                        input: input.to_string(),
                        reason: "missing closing brace",
                    })?;
                    let inner = &after[1..end];
                    out.push_str(&self.braced(inner, input)?);
                    rest = &after[end + 1..];
                }
                Some(c) if is_name_start(c) => {
                    let len = after
                        .find(|c: char| !is_name_char(c))
                        .unwrap_or(after.len());
                    let name = &after[..len];
                    out.push_str(&self.get_or_warn(name));
                    rest = &after[len..];
                }
                _ => return Err(InterpolateError::Invalid {
                    input: input.to_string(),
                    reason:
                        "`$` must be followed by a name, `{` or `$` (write `$$` for a literal `$`)",
                }),
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn get_or_warn(&mut self, name: &str) -> String {
        match (self.lookup)(name) {
            Some(v) => v,
            None => {
                let w = format!("The {name:?} variable is not set. Defaulting to a blank string.");
                tracing::warn!("{w}");
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
                String::new()
            }
        }
    }

    fn braced(&mut self, inner: &str, input: &str) -> Result<String, InterpolateError> {
        let invalid = |reason| InterpolateError::Invalid {
            input: input.to_string(),
            reason,
        };
        let len = inner
            .find(|c: char| !is_name_char(c))
            .unwrap_or(inner.len());
        let name = &inner[..len];
        if name.is_empty() || !name.starts_with(is_name_start) {
            return Err(invalid("a variable name must start with a letter or `_`"));
        }
        let op = &inner[len..];
        if op.is_empty() {
            return Ok(self.get_or_warn(name));
        }
        let value = (self.lookup)(name);
        let (colon, op) = match op.strip_prefix(':') {
            Some(o) => (true, o),
            None => (false, op),
        };
        // With `:` an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        let mut chars = op.chars();
        let kind = chars.next().ok_or(invalid("missing operator after `:`"))?;
        let arg = chars.as_str();
        match kind {
            '-' => match value {
                Some(v) if set => Ok(v),
                _ => self.string(arg),
            },
            '+' => {
                if set {
                    self.string(arg)
                } else {
                    Ok(String::new())
                }
            }
            '?' => match value {
                Some(v) if set => Ok(v),
                _ => Err(InterpolateError::Required {
                    name: name.to_string(),
                    message: self.string(arg)?,
                }),
            },
            _ => Err(invalid("unknown operator (use :-, -, :?, ?, :+ or +)")),
        }
    }
}

/// Index of the `}` closing the `{` at index 0, honouring nested `${...}`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> (Result<String, InterpolateError>, Vec<String>) {
        let lookup = |k: &str| match k {
            "A" => Some("a".to_string()),
            "EMPTY" => Some(String::new()),
            "B" => Some("b".to_string()),
            _ => None,
        };
        let mut i = Interpolator {
            lookup: &lookup,
            warnings: Vec::new(),
        };
        let r = i.string(input);
        (r, i.warnings)
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("$A", "a"),
            ("${A}", "a"),
            ("x${A}y$B.z", "xayb.z"),
            ("${MISSING:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${MISSING-def}", "def"),
            ("${A:-def}", "a"),
            ("${A:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${MISSING+alt}", ""),
            ("$$A", "$A"),
            ("$${A}", "${A}"),
            ("${MISSING:-${A}}", "a"),
            ("${MISSING:-${NOPE:-${B}x}}", "bx"),
            ("${A:?boom}", "a"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input).0.as_deref(), Ok(*want), "input {input}");
        }
    }

    #[test]
    fn missing_warns() {
        let (r, w) = run("a${NOPE}b");
        assert_eq!(r.unwrap(), "ab");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("NOPE"));
    }

    #[test]
    fn errors() {
        let (r, _) = run("${NOPE:?must be set}");
        assert_eq!(
            r.unwrap_err().to_string(),
            "required variable NOPE is missing a value: must be set"
        );
        let (r, _) = run("${EMPTY?x}");
        assert_eq!(r.unwrap(), "");
        let (r, _) = run("${EMPTY:?empty}");
        assert!(matches!(r, Err(InterpolateError::Required { .. })));
        for bad in ["${A", "$ x", "${}", "${A*x}", "${1A}"] {
            assert!(
                matches!(run(bad).0, Err(InterpolateError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}

//! Query-string parsing with Docker's conventions (`1`/`true`/`0`/`false` booleans,
//! JSON `filters` in both the current and the legacy map form).

use std::collections::HashMap;

use crate::backend::Filters;
use crate::error::ApiError;

/// Parsed query parameters; repeated keys keep every value.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded_pairs(q)
                    .into_iter()
                    .collect::<Vec<(String, String)>>()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Optional non-empty string.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Docker booleans: absent or empty = false; `1`, `true`, `True` = true; `0`,
    /// `false` = false; anything else is a 400.
    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => Ok(true),
                "0" | "false" | "no" => Ok(false),
                _ => Err(ApiError::invalid(format!(
                    "invalid value for {key}: {v:?}: expected a boolean (1/0/true/false)"
                ))),
            },
        }
    }

    /// Boolean with a default when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        if self.get(key).is_none_or(str::is_empty) {
            Ok(default)
        } else {
            self.bool(key)
        }
    }

    pub fn int<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "invalid value for {key}: {v:?}: expected an integer"
                ))
            }),
        }
    }

    /// The `filters` parameter: `{"key":["v1","v2"]}` or legacy `{"key":{"v1":true}}`.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(HashMap::new());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::invalid(format!("invalid filters {raw:?}: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::invalid(format!("invalid filters {raw:?}: not an object")))?;
        let mut out = HashMap::new();
        for (k, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(true))
                    .map(|(name, _)| name.clone())
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(ApiError::invalid(format!(
                        "invalid filter {k:?}: expected a list of strings"
                    )))
                }
            };
            out.insert(k.clone(), values);
        }
        Ok(out)
    }
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bools_and_filters() {
        let q = Query::parse(Some(
            "all=1&force=false&filters=%7B%22status%22%3A%5B%22running%22%5D%7D&t=abc",
        ));
        assert!(q.bool("all").unwrap());
        assert!(!q.bool("force").unwrap());
        assert!(!q.bool("missing").unwrap());
        assert!(q.int::<i64>("t").is_err());
        let f = q.filters().unwrap();
        assert_eq!(f["status"], vec!["running".to_string()]);
        let legacy = Query::parse(Some("filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D"));
        assert_eq!(legacy.filters().unwrap()["label"], vec!["a=b".to_string()]);
        assert_eq!(percent_decode("a%2Fb+c%"), "a/b c%");
    }
}

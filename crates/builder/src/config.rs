//! Image config JSON helpers: the `config` section, history entries and the
//! formatting moby uses in `created_by`.

use serde_json::{json, Map, Value};

/// The Docker architecture name of this host.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The config of `FROM scratch`.
pub(crate) fn scratch_config(platform: Option<&str>) -> Value {
    let (os, arch, variant) = match platform {
        Some(p) => {
            let mut it = p.split('/');
            (
                it.next().unwrap_or("linux").to_string(),
                it.next().unwrap_or(host_arch()).to_string(),
                it.next().map(str::to_string),
            )
        }
        None => ("linux".to_string(), host_arch().to_string(), None),
    };
    let mut v = json!({
        "architecture": arch,
        "os": os,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    if let Some(var) = variant {
        v["variant"] = Value::String(var);
    }
    v
}

/// The `config` object of an image config, created when missing.
pub(crate) fn cfg(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let obj = v.as_object_mut().expect("object ensured above");
    let c = obj.entry("config").or_insert_with(|| json!({}));
    if !c.is_object() {
        *c = json!({});
    }
    c.as_object_mut().expect("object ensured above")
}

/// `config.Env` as `(key, value)` pairs.
pub(crate) fn env_pairs(v: &Value) -> Vec<(String, String)> {
    v.get("config")
        .and_then(|c| c.get("Env"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.to_string(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Sets one variable in `config.Env` (replacing an existing one in place).
pub(crate) fn set_env(v: &mut Value, key: &str, val: &str) {
    let c = cfg(v);
    let env = c.entry("Env").or_insert_with(|| json!([]));
    if !env.is_array() {
        *env = json!([]);
    }
    let arr = env.as_array_mut().expect("array ensured above");
    let item = Value::String(format!("{key}={val}"));
    for e in arr.iter_mut() {
        if let Some(s) = e.as_str() {
            if s.split_once('=').map(|(k, _)| k).unwrap_or(s) == key {
                *e = item;
                return;
            }
        }
    }
    arr.push(item);
}

/// A string field of `config` (`""` when unset).
pub(crate) fn cfg_str(v: &Value, field: &str) -> String {
    v.get("config")
        .and_then(|c| c.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A string-array field of `config`, if set.
pub(crate) fn cfg_strs(v: &Value, field: &str) -> Option<Vec<String>> {
    v.get("config")
        .and_then(|c| c.get(field))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
}

/// Inserts `key: {}` into an object field of `config` (ExposedPorts, Volumes).
pub(crate) fn set_add(v: &mut Value, field: &str, key: &str) {
    let c = cfg(v);
    let o = c.entry(field).or_insert_with(|| json!({}));
    if !o.is_object() {
        *o = json!({});
    }
    o.as_object_mut()
        .expect("object ensured above")
        .insert(key.to_string(), json!({}));
}

/// Sets `config.Labels[key] = value`.
pub(crate) fn set_label(v: &mut Value, key: &str, val: &str) {
    let c = cfg(v);
    let o = c.entry("Labels").or_insert_with(|| json!({}));
    if !o.is_object() {
        *o = json!({});
    }
    o.as_object_mut()
        .expect("object ensured above")
        .insert(key.to_string(), Value::String(val.to_string()));
}

/// Appends a history entry and sets `created`.
/// `rootfs.diff_ids` of an image config.
pub(crate) fn diff_ids(v: &Value) -> Vec<String> {
    v["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn push_history(v: &mut Value, created_by: &str, empty_layer: bool) {
    let now = now_rfc3339();
    if !v.is_object() {
        *v = json!({});
    }
    let obj = v.as_object_mut().expect("object ensured above");
    obj.insert("created".into(), Value::String(now.clone()));
    let h = obj.entry("history").or_insert_with(|| json!([]));
    if !h.is_array() {
        *h = json!([]);
    }
    let mut e = json!({ "created": now, "created_by": created_by });
    if empty_layer {
        e["empty_layer"] = Value::Bool(true);
    }
    h.as_array_mut().expect("array ensured above").push(e);
}

/// The current time as RFC 3339 with nanoseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Go's `strconv.Quote` (close enough for `created_by` text).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`.
pub(crate) fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns, 1_000_000));
    }
    let total_s = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let h = total_s / 3600;
    let m = (total_s % 3600) / 60;
    let s = total_s % 60;
    let sec = trim_frac(s * 1_000_000_000 + frac, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

fn trim_frac(v: u128, unit: u128) -> String {
    let whole = v / unit;
    let frac = v % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = unit.to_string().len() - 1;
    let f = format!("{frac:0digits$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(5)), "5ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn quoting() {
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
    }

    #[test]
    fn env_set_replaces() {
        let mut v = scratch_config(None);
        set_env(&mut v, "A", "1");
        set_env(&mut v, "PATH", "/x");
        assert_eq!(env_pairs(&v)[0], ("PATH".into(), "/x".into()));
        assert_eq!(env_pairs(&v)[1], ("A".into(), "1".into()));
        assert!(now_rfc3339().ends_with('Z'));
    }
}

//! `docker import --change` / `docker commit --change`: the Dockerfile instructions
//! that only touch the image config.

use std::collections::BTreeMap;

use crate::{ImageError, RunConfig};

fn invalid(msg: String) -> ImageError {
    ImageError::InvalidArgument(msg)
}

/// Parses `["a","b"]` (JSON form) or shell form (`a b` -> ["/bin/sh","-c","a b"]).
fn exec_or_shell(rest: &str, shell: &Option<Vec<String>>) -> Vec<String> {
    let t = rest.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return v;
        }
    }
    let mut v = shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".to_string(), "-c".to_string()]);
    v.push(t.to_string());
    v
}

/// Splits words, honouring double and single quotes and backslash escapes.
fn words(s: &str) -> Result<Vec<String>, ImageError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(invalid(format!("unmatched quote in {s:?}")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `KEY=VALUE ...` or legacy `KEY VALUE`.
fn key_values(instr: &str, rest: &str) -> Result<Vec<(String, String)>, ImageError> {
    let rest = rest.trim();
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let Some((k, v)) = rest.split_once(char::is_whitespace) else {
            return Err(invalid(format!("{instr} requires at least one argument")));
        };
        let v = words(v.trim())?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    let mut out = Vec::new();
    for w in words(rest)? {
        let Some((k, v)) = w.split_once('=') else {
            return Err(invalid(format!(
                "{instr} names can not be blank / syntax error: {w:?} must be KEY=VALUE"
            )));
        };
        if k.is_empty() {
            return Err(invalid(format!("{instr} names can not be blank")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    if out.is_empty() {
        return Err(invalid(format!("{instr} requires at least one argument")));
    }
    Ok(out)
}

/// Applies each change line to `cfg`.
pub fn apply_changes(cfg: &mut RunConfig, changes: &[String]) -> Result<(), ImageError> {
    for line in changes {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let up = instr.to_ascii_uppercase();
        let rest = rest.trim();
        let need_arg = |name: &str| -> Result<(), ImageError> {
            if rest.is_empty() {
                Err(invalid(format!("{name} requires at least one argument")))
            } else {
                Ok(())
            }
        };
        match up.as_str() {
            "CMD" => {
                need_arg("CMD")?;
                cfg.cmd = Some(exec_or_shell(rest, &cfg.shell));
            }
            "ENTRYPOINT" => {
                need_arg("ENTRYPOINT")?;
                cfg.entrypoint = Some(exec_or_shell(rest, &cfg.shell));
            }
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in key_values("ENV", rest)? {
                    let prefix = format!("{k}=");
                    let kv = format!("{k}={v}");
                    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
                        Some(e) => *e = kv,
                        None => env.push(kv),
                    }
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in key_values("LABEL", rest)? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                need_arg("EXPOSE")?;
                let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in rest.split_whitespace() {
                    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let valid_num = |n: &str| n.parse::<u16>().is_ok();
                    let ok_num = match num.split_once('-') {
                        Some((a, b)) => valid_num(a) && valid_num(b),
                        None => valid_num(num),
                    };
                    if !ok_num || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(invalid(format!("invalid containerPort: {p}")));
                    }
                    ports.insert(format!("{num}/{proto}"), serde_json::json!({}));
                }
            }
            "USER" => {
                need_arg("USER")?;
                cfg.user = Some(rest.to_string());
            }
            "WORKDIR" => {
                need_arg("WORKDIR")?;
                let w = if rest.starts_with('/') {
                    rest.to_string()
                } else {
                    let base = cfg.working_dir.clone().unwrap_or_else(|| "/".into());
                    format!("{}/{}", base.trim_end_matches('/'), rest)
                };
                cfg.working_dir = Some(w);
            }
            "VOLUME" => {
                need_arg("VOLUME")?;
                let vols: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest)
                        .map_err(|e| invalid(format!("VOLUME: invalid JSON array {rest:?}: {e}")))?
                } else {
                    words(rest)?
                };
                let map = cfg.volumes.get_or_insert_with(BTreeMap::new);
                for v in vols {
                    if v.trim().is_empty() {
                        return Err(invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    map.insert(v, serde_json::json!({}));
                }
            }
            "STOPSIGNAL" => {
                need_arg("STOPSIGNAL")?;
                cfg.stop_signal = Some(rest.to_string());
            }
            "ONBUILD" => {
                need_arg("ONBUILD")?;
                let first = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(first.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(invalid(format!(
                        "{first} isn't allowed as an ONBUILD trigger"
                    )));
                }
                cfg.on_build
                    .get_or_insert_with(Vec::new)
                    .push(rest.to_string());
            }
            _ => {
                return Err(invalid(format!("{instr} is not a valid change command")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = RunConfig::default();
        apply_changes(
            &mut c,
            &[
                "CMD echo hi".into(),
                r#"ENTRYPOINT ["/bin/busybox"]"#.into(),
                "ENV A=1 B=\"two words\"".into(),
                "ENV A 3".into(),
                "EXPOSE 80 53/udp".into(),
                "LABEL x=y".into(),
                "USER nobody".into(),
                "WORKDIR /srv".into(),
                "WORKDIR app".into(),
                "VOLUME /data".into(),
                "STOPSIGNAL SIGTERM".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/busybox"]);
        assert_eq!(c.env.unwrap(), vec!["A=3", "B=two words"]);
        let ports = c.exposed_ports.unwrap();
        assert!(ports.contains_key("80/tcp") && ports.contains_key("53/udp"));
        assert_eq!(c.labels.unwrap()["x"], "y");
        assert_eq!(c.user.as_deref(), Some("nobody"));
        assert_eq!(c.working_dir.as_deref(), Some("/srv/app"));
        assert!(c.volumes.unwrap().contains_key("/data"));
        let mut c = RunConfig::default();
        assert!(apply_changes(&mut c, &["RUN x".into()]).is_err());
        assert!(apply_changes(&mut c, &["EXPOSE abc".into()]).is_err());
    }
}

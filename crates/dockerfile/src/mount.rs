//! `RUN --mount=...` values: CSV `key=value` fields into a typed [`MountSpec`],
//! with BuildKit's defaults and validation (`commands_runmount.go`).

use crate::units::{go_quote, parse_go_bool, parse_go_uint, parse_ram_in_bytes};

/// Kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountType {
    /// `type=bind` (the default): a directory of the context or of another stage.
    #[default]
    Bind,
    /// `type=cache`: a persistent cache directory.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`: a build secret as a file (or env variable).
    Secret,
    /// `type=ssh`: an SSH agent socket.
    Ssh,
}

impl MountType {
    /// The keyword (`bind`, `cache`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    /// Concurrent writers share the cache (BuildKit's default for cache mounts).
    Shared,
    /// Each concurrent writer gets its own cache.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One `RUN --mount` value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountSpec {
    /// `type=`.
    pub mount_type: MountType,
    /// `from=`: stage, image or context to mount from.
    pub from: Option<String>,
    /// `source=`/`src=`: path inside `from` (bind, cache) or secret id source.
    pub source: Option<String>,
    /// `target=`/`dst=`/`destination=`: mount point.
    pub target: Option<String>,
    /// Read-only. Defaults: read-write for cache and tmpfs, read-only otherwise.
    pub readonly: bool,
    /// `size=` of a tmpfs, in bytes.
    pub size: Option<i64>,
    /// `id=` of a cache, secret or ssh mount.
    pub id: Option<String>,
    /// `sharing=` of a cache mount.
    pub sharing: Option<CacheSharing>,
    /// `required` for secret and ssh mounts.
    pub required: bool,
    /// `env=`: expose a secret as this environment variable.
    pub env: Option<String>,
    /// `mode=` (octal) for cache, secret and ssh mounts.
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// A `--mount` value BuildKit would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MountError {
    /// BuildKit's wording.
    pub message: String,
}

fn merr(message: impl Into<String>) -> MountError {
    MountError {
        message: message.into(),
    }
}

/// Splits one CSV record the way Go's `encoding/csv` does (comma separator,
/// `"` quoting with `""` as an escaped quote).
pub(crate) fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') => {
                        if chars.get(i + 1) == Some(&'"') {
                            field.push('"');
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {
                    fields.push(field);
                    i += 1;
                }
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            while i < chars.len() && chars[i] != ',' {
                if chars[i] == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(chars[i]);
                i += 1;
            }
            fields.push(field);
            if i >= chars.len() {
                return Ok(fields);
            }
            i += 1; // the comma
        }
    }
}

/// Parses a `--mount` value.
///
/// With `expand == None` (parse time) only what can be checked without
/// variables is checked: fields whose value contains `$` keep their text and
/// their typed check is deferred, and flag-only fields (`ro`, `required`) are
/// still recorded. With an expander (build time) every value is expanded first
/// and everything is validated, as BuildKit's `parseMount` does.
pub fn parse_mount<E>(val: &str, mut expand: Option<E>) -> Result<MountSpec, MountError>
where
    E: FnMut(&str) -> Result<String, String>,
{
    let fields = csv_fields(val).map_err(|e| merr(format!("failed to parse csv mounts: {e}")))?;
    let mut m = MountSpec::default();
    let mut ro_auto = true;
    let deferred = expand.is_none();
    // `type=$T` at parse time: checks that depend on the type wait for expansion.
    let mut type_unresolved = false;

    for field in fields {
        let (key_raw, value, has_value) = match field.split_once('=') {
            Some((k, v)) => (k, v.to_string(), true),
            None => (field.as_str(), String::new(), false),
        };
        let key = key_raw.to_lowercase();
        if !has_value {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                    continue;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                    continue;
                }
                "required" => {
                    if type_unresolved || matches!(m.mount_type, MountType::Secret | MountType::Ssh)
                    {
                        m.required = true;
                        continue;
                    }
                    return Err(merr(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    )));
                }
                _ => {
                    return Err(merr(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )))
                }
            }
        }

        let value = match expand.as_mut() {
            Some(f) => f(&value).map_err(merr)?,
            None => {
                if key == "from" {
                    if let Some(idx) = value.find('$') {
                        if idx != value.len() - 1 {
                            return Err(merr(format!(
                                "'{key}' doesn't support variable expansion, define alias stage instead"
                            )));
                        }
                    }
                }
                value
            }
        };
        // At parse time a value with a variable cannot be checked yet.
        let unresolved = deferred && value.contains('$');

        match key.as_str() {
            "type" => {
                if unresolved {
                    type_unresolved = true;
                    continue;
                }
                m.mount_type = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(merr(format!("unsupported mount type {}", go_quote(&value)))),
                };
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => {
                ro_auto = false;
                if unresolved {
                    continue;
                }
                m.readonly = parse_go_bool(&value)
                    .map_err(|_| merr(format!("invalid value for {key}: {value}")))?;
            }
            "readwrite" | "rw" => {
                ro_auto = false;
                if unresolved {
                    continue;
                }
                let rw = parse_go_bool(&value)
                    .map_err(|_| merr(format!("invalid value for {key}: {value}")))?;
                m.readonly = !rw;
            }
            "required" => {
                if !type_unresolved && !matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                    return Err(merr(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    )));
                }
                if unresolved {
                    continue;
                }
                m.required = parse_go_bool(&value)
                    .map_err(|_| merr(format!("invalid value for {key}: {value}")))?;
            }
            "size" => {
                if !type_unresolved && m.mount_type != MountType::Tmpfs {
                    return Err(merr(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.mount_type.as_str()
                    )));
                }
                if unresolved {
                    continue;
                }
                m.size = Some(
                    parse_ram_in_bytes(&value)
                        .map_err(|_| merr(format!("invalid value for {key}: {value}")))?,
                );
            }
            "id" => m.id = Some(value),
            "sharing" => {
                if unresolved {
                    continue;
                }
                m.sharing = Some(match value.to_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => {
                        return Err(merr(format!(
                            "unsupported sharing value {}",
                            go_quote(&value)
                        )))
                    }
                });
            }
            "mode" => {
                if unresolved {
                    continue;
                }
                m.mode = Some(
                    parse_go_uint(&value, 8, 32)
                        .map_err(|_| merr(format!("invalid value {value} for mode")))?
                        as u32,
                );
            }
            "uid" => {
                if unresolved {
                    continue;
                }
                m.uid = Some(
                    parse_go_uint(&value, 10, 32)
                        .map_err(|_| merr(format!("invalid value {value} for uid")))?
                        as u32,
                );
            }
            "gid" => {
                if unresolved {
                    continue;
                }
                m.gid = Some(
                    parse_go_uint(&value, 10, 32)
                        .map_err(|_| merr(format!("invalid value {value} for gid")))?
                        as u32,
                );
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(merr(format!("unexpected key '{key}' in '{field}'")));
            }
        }
    }

    if type_unresolved {
        return Ok(m);
    }
    let file_info_allowed = matches!(
        m.mount_type,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let t = go_quote(m.mount_type.as_str());
        if m.mode.is_some() {
            return Err(merr(format!("mode not allowed for {t} type mounts")));
        }
        if m.uid.is_some() {
            return Err(merr(format!("uid not allowed for {t} type mounts")));
        }
        if m.gid.is_some() {
            return Err(merr(format!("gid not allowed for {t} type mounts")));
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.mount_type, MountType::Cache | MountType::Tmpfs);
    }
    if m.mount_type == MountType::Secret {
        if m.from.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(merr("secret mount should not have a from"));
        }
        if m.sharing.is_some() {
            return Err(merr("secret mount should not define sharing"));
        }
        let empty = |o: &Option<String>| o.as_deref().is_none_or(str::is_empty);
        if empty(&m.source) && empty(&m.target) && empty(&m.id) {
            return Err(merr("invalid secret mount. one of source, target required"));
        }
        if !empty(&m.source) && !empty(&m.id) {
            return Err(merr("both source and id can't be set"));
        }
    }
    if m.sharing.is_some() && m.mount_type != MountType::Cache {
        return Err(merr(format!(
            "invalid cache sharing set for {} mount",
            m.mount_type.as_str()
        )));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    type NoExpand = fn(&str) -> Result<String, String>;

    fn p(s: &str) -> Result<MountSpec, MountError> {
        parse_mount::<NoExpand>(s, None)
    }

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a=b,c").unwrap(), vec!["a=b", "c"]);
        assert_eq!(
            csv_fields("\"target=/a,b\",x=\"\"").unwrap_err(),
            "bare \" in non-quoted-field"
        );
        assert_eq!(csv_fields("\"a\"\"b\",c").unwrap(), vec!["a\"b", "c"]);
        assert_eq!(
            csv_fields("\"target=/a,b\",x").unwrap(),
            vec!["target=/a,b", "x"]
        );
        assert!(csv_fields("\"abc").is_err());
    }

    #[test]
    fn defaults_and_types() {
        let m =
            p("type=cache,target=/root/.cache,sharing=locked,id=pip,mode=0755,uid=1000").unwrap();
        assert_eq!(m.mount_type, MountType::Cache);
        assert!(!m.readonly);
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(m.uid, Some(1000));
        let m = p("target=/src,from=build,source=/out").unwrap();
        assert_eq!(m.mount_type, MountType::Bind);
        assert!(m.readonly);
        let m = p("type=bind,target=/x,rw").unwrap();
        assert!(!m.readonly);
        let m = p("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
        let m = p("type=secret,id=tok,required,env=TOKEN").unwrap();
        assert!(m.required && m.readonly);
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        let m = p("type=ssh,required=true").unwrap();
        assert!(m.required);
    }

    #[test]
    fn errors() {
        let e = |s: &str| p(s).unwrap_err().message;
        assert_eq!(e("type=foo"), "unsupported mount type \"foo\"");
        assert_eq!(
            e("type=bind,mode=0700"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            e("type=bind,required"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            e("type=cache,size=1m"),
            "unexpected key 'size' for mount type 'cache'"
        );
        assert_eq!(
            e("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            e("type=secret,id=a,src=b"),
            "both source and id can't be set"
        );
        assert_eq!(
            e("type=bind,sharing=shared"),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(e("foo=bar"), "unexpected key 'foo' in 'foo=bar'");
        assert_eq!(e("bogus"), "invalid field 'bogus' must be a key=value pair");
        assert_eq!(e("type=cache,uid=x"), "invalid value x for uid");
        assert_eq!(
            e("from=$STAGE/x,target=/a"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
    }

    #[test]
    fn deferred_and_expanded() {
        let m = p("type=cache,target=$HOME/.cache,uid=$UID").unwrap();
        assert_eq!(m.target.as_deref(), Some("$HOME/.cache"));
        assert_eq!(m.uid, None);
        let m = parse_mount(
            "type=cache,target=$HOME/.cache,uid=$UID",
            Some(|s: &str| Ok(s.replace("$HOME", "/root").replace("$UID", "7"))),
        )
        .unwrap();
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.uid, Some(7));
    }
}

//! Server configuration: the TOML configuration file, its validation, and the
//! merge with command-line flags (flags win).
//!
//! File format (TOML; every key is optional, unknown keys are errors):
//!
//! ```toml
//! addr = "0.0.0.0:5000"          # listen address
//! root = "/srv/registry"         # storage directory
//! upload_expiry = "24h"          # idle upload sessions older than this are removed
//!
//! [tls]                          # serve HTTPS (PEM files; the cert file may hold a chain)
//! cert = "/etc/registry/cert.pem"
//! key = "/etc/registry/key.pem"
//!
//! [auth]
//! mode = "token"                 # none | htpasswd | token (default: htpasswd when a
//!                                # htpasswd file is given, else none)
//! htpasswd = "/etc/registry/htpasswd"   # bcrypt entries only (`user:$2y$...`)
//! anonymous_pull = false         # anonymous clients may pull every repository
//!
//! [auth.token]                   # the registry is its own token server at /auth/token
//! service = "berth-registry"
//! issuer = "berth-registry"
//! expiry = "5m"                  # lifetime of access tokens
//! refresh_expiry = "720h"        # lifetime of refresh (offline) tokens
//! realm = "https://reg.example/auth/token"  # default: derived from the request Host
//! key = "a long random secret"   # HS256 signing key; default: random at every start
//! persist_key = true             # or: create/reuse <root>/token.key
//!
//! [[auth.access]]                # optional rules; without any, every authenticated
//! user = "alice"                 # user may pull, push and delete everything.
//! repository = "team/*"          # glob: `*` any run of characters, `?` one character
//! actions = ["pull", "push"]     # pull | push | delete | catalog | "*"
//! ```
//!
//! `user = "*"` matches every authenticated user, `user = "anonymous"` the
//! anonymous client. Durations are a number followed by `s`, `m`, `h` or `d`.
//! Relative paths are relative to the configuration file's directory.
//!
//! In token mode, set `auth.token.realm` when clients reach the registry through a
//! proxy or a name other than the one in their `Host` header.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How clients authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No authentication: everyone may do everything.
    None,
    /// HTTP Basic against a htpasswd file.
    Htpasswd,
    /// Docker token flow; the registry hosts the token endpoint itself.
    Token,
}

/// One thing a client can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// List the catalog (`registry:catalog:*`).
    Catalog,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::Catalog => "*",
        }
    }

    pub const ALL: [Action; 4] = [Action::Pull, Action::Push, Action::Delete, Action::Catalog];
}

/// An access rule: `user` may do `actions` on repositories matching `repository`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// A user name, `*` (any authenticated user) or `anonymous`.
    pub user: String,
    /// A glob over repository names.
    pub repository: String,
    pub actions: Vec<Action>,
}

/// Token-flow settings.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub service: String,
    pub issuer: String,
    pub expiry: Duration,
    pub refresh_expiry: Duration,
    /// Overrides the realm derived from the request (`http(s)://<Host>/auth/token`).
    pub realm: Option<String>,
    /// A configured signing key.
    pub key: Option<String>,
    /// Keep a generated key in `<root>/token.key` across restarts.
    pub persist_key: bool,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            service: "berth-registry".to_string(),
            issuer: "berth-registry".to_string(),
            expiry: Duration::from_secs(300),
            refresh_expiry: Duration::from_secs(30 * 24 * 3600),
            realm: None,
            key: None,
            persist_key: false,
        }
    }
}

/// Authentication and authorization settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub htpasswd: Option<PathBuf>,
    pub anonymous_pull: bool,
    pub token: TokenConfig,
    pub access: Vec<AccessRule>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::None,
            htpasswd: None,
            anonymous_pull: false,
            token: TokenConfig::default(),
            access: Vec::new(),
        }
    }
}

/// PEM certificate chain and private key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the configured server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address (used by [`crate::serve_with`]; a given listener wins).
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub tls: Option<TlsFiles>,
    pub auth: AuthConfig,
    /// Upload sessions idle for longer than this are removed.
    pub upload_expiry: Duration,
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";
pub const DEFAULT_UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 3600);

impl ServerConfig {
    /// Defaults: no auth, no TLS, 127.0.0.1:5000, 24 h upload expiry.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 5000)),
            root: root.into(),
            tls: None,
            auth: AuthConfig::default(),
            upload_expiry: DEFAULT_UPLOAD_EXPIRY,
        }
    }
}

/// Configuration errors; each names the file (or flag) and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {file}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {file}: {source}")]
    Parse {
        file: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    addr: Option<String>,
    root: Option<PathBuf>,
    upload_expiry: Option<String>,
    tls: Option<RawTls>,
    auth: Option<RawAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    mode: Option<String>,
    htpasswd: Option<PathBuf>,
    anonymous_pull: Option<bool>,
    token: Option<RawToken>,
    #[serde(default)]
    access: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    service: Option<String>,
    issuer: Option<String>,
    expiry: Option<String>,
    refresh_expiry: Option<String>,
    realm: Option<String>,
    key: Option<String>,
    persist_key: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    user: String,
    repository: String,
    actions: Vec<String>,
}

/// Values given on the command line; each set one replaces the file's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub addr: Option<SocketAddr>,
    pub root: Option<PathBuf>,
    pub htpasswd: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// A validated configuration file; values still optional until merged with flags.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// Where it came from (for error messages); empty for no file.
    pub file: String,
    pub addr: Option<SocketAddr>,
    pub root: Option<PathBuf>,
    pub upload_expiry: Option<Duration>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub mode: Option<AuthMode>,
    pub htpasswd: Option<PathBuf>,
    pub anonymous_pull: bool,
    pub token: TokenConfig,
    pub access: Vec<AccessRule>,
}

/// Parse a duration such as `90s`, `5m`, `24h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 's') => (&s[..i], 1),
        (i, 'm') => (&s[..i], 60),
        (i, 'h') => (&s[..i], 3600),
        (i, 'd') => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(mult).map(Duration::from_secs)
}

fn parse_action(s: &str) -> Option<Vec<Action>> {
    Some(match s {
        "pull" => vec![Action::Pull],
        "push" => vec![Action::Push],
        "delete" => vec![Action::Delete],
        "catalog" => vec![Action::Catalog],
        "*" => Action::ALL.to_vec(),
        _ => return None,
    })
}

impl ConfigFile {
    /// Read and validate a TOML configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let mut f = Self::parse(&text, &path.display().to_string())?;
        // Relative paths in the file are relative to the file's directory.
        if let Some(base) = path.parent() {
            for p in [
                &mut f.root,
                &mut f.htpasswd,
                &mut f.tls_cert,
                &mut f.tls_key,
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        Ok(f)
    }

    /// Parse and validate TOML `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|source| ConfigError::Parse {
            file: PathBuf::from(file),
            source,
        })?;
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            reason,
        };
        let duration = |key: &str, v: &Option<String>| -> Result<Option<Duration>, ConfigError> {
            match v {
                None => Ok(None),
                Some(s) => match parse_duration(s) {
                    Some(d) if !d.is_zero() => Ok(Some(d)),
                    _ => Err(invalid(
                        key,
                        format!("{s:?} is not a positive duration like 30s, 5m, 24h or 7d"),
                    )),
                },
            }
        };
        let mut out = ConfigFile {
            file: file.to_string(),
            ..Default::default()
        };
        if let Some(a) = &raw.addr {
            out.addr = Some(
                a.parse()
                    .map_err(|e| invalid("addr", format!("{a:?} is not HOST:PORT ({e})")))?,
            );
        }
        out.root = raw.root;
        out.upload_expiry = duration("upload_expiry", &raw.upload_expiry)?;
        if let Some(t) = raw.tls {
            out.tls_cert = t.cert;
            out.tls_key = t.key;
        }
        let auth = raw.auth.unwrap_or_default();
        out.mode = match auth.mode.as_deref() {
            None => None,
            Some("none") => Some(AuthMode::None),
            Some("htpasswd") => Some(AuthMode::Htpasswd),
            Some("token") => Some(AuthMode::Token),
            Some(other) => {
                return Err(invalid(
                    "auth.mode",
                    format!("{other:?} is not one of none, htpasswd, token"),
                ))
            }
        };
        out.htpasswd = auth.htpasswd;
        out.anonymous_pull = auth.anonymous_pull.unwrap_or(false);
        let t = auth.token.unwrap_or_default();
        let d = TokenConfig::default();
        for (key, v) in [
            ("auth.token.service", &t.service),
            ("auth.token.issuer", &t.issuer),
        ] {
            if v.as_deref()
                .is_some_and(|s| s.is_empty() || s.contains('"'))
            {
                return Err(invalid(key, "must be non-empty and without quotes".into()));
            }
        }
        if t.key.as_deref().is_some_and(|k| k.len() < 16) {
            return Err(invalid(
                "auth.token.key",
                "must be at least 16 characters".into(),
            ));
        }
        if t.key.is_some() && t.persist_key == Some(true) {
            return Err(invalid(
                "auth.token.persist_key",
                "cannot be combined with auth.token.key".into(),
            ));
        }
        out.token = TokenConfig {
            service: t.service.unwrap_or(d.service),
            issuer: t.issuer.unwrap_or(d.issuer),
            expiry: duration("auth.token.expiry", &t.expiry)?.unwrap_or(d.expiry),
            refresh_expiry: duration("auth.token.refresh_expiry", &t.refresh_expiry)?
                .unwrap_or(d.refresh_expiry),
            realm: t.realm,
            key: t.key,
            persist_key: t.persist_key.unwrap_or(false),
        };
        for (i, r) in auth.access.into_iter().enumerate() {
            let key = |k: &str| format!("auth.access[{i}].{k}");
            if r.user.is_empty() {
                return Err(invalid(&key("user"), "must not be empty".into()));
            }
            if r.repository.is_empty() {
                return Err(invalid(&key("repository"), "must not be empty".into()));
            }
            let mut actions = Vec::new();
            for a in &r.actions {
                let parsed = parse_action(a).ok_or_else(|| {
                    invalid(
                        &key("actions"),
                        format!("{a:?} is not one of pull, push, delete, catalog, *"),
                    )
                })?;
                actions.extend(parsed);
            }
            actions.sort();
            actions.dedup();
            out.access.push(AccessRule {
                user: r.user,
                repository: r.repository,
                actions,
            });
        }
        Ok(out)
    }

    /// Merge with command-line values (which win) and check the result.
    pub fn into_server_config(self, o: Overrides) -> Result<ServerConfig, ConfigError> {
        let file = if self.file.is_empty() {
            "command line".to_string()
        } else {
            self.file.clone()
        };
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            file: file.clone(),
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let root = o
            .root
            .or(self.root)
            .ok_or_else(|| invalid("root", "no storage directory (--root or `root`)"))?;
        let addr = match o.addr.or(self.addr) {
            Some(a) => a,
            None => SocketAddr::from(([127, 0, 0, 1], 5000)),
        };
        let cert = o.tls_cert.or(self.tls_cert);
        let key = o.tls_key.or(self.tls_key);
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("tls.key", "a certificate needs a key")),
            (None, Some(_)) => return Err(invalid("tls.cert", "a key needs a certificate")),
        };
        let htpasswd = o.htpasswd.or(self.htpasswd);
        let mode = match self.mode {
            Some(m) => m,
            None if htpasswd.is_some() => AuthMode::Htpasswd,
            None => AuthMode::None,
        };
        if mode == AuthMode::Htpasswd && htpasswd.is_none() {
            return Err(invalid(
                "auth.htpasswd",
                "mode htpasswd needs a htpasswd file (--htpasswd or `auth.htpasswd`)",
            ));
        }
        if mode == AuthMode::None && (self.anonymous_pull || !self.access.is_empty()) {
            return Err(invalid(
                "auth.mode",
                "anonymous_pull and access rules need mode htpasswd or token",
            ));
        }
        Ok(ServerConfig {
            addr,
            root,
            tls,
            auth: AuthConfig {
                mode,
                htpasswd,
                anonymous_pull: self.anonymous_pull,
                token: self.token,
                access: self.access,
            },
            upload_expiry: self.upload_expiry.unwrap_or(DEFAULT_UPLOAD_EXPIRY),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172800)));
        assert_eq!(parse_duration("17"), Some(Duration::from_secs(17)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5w"), None);
    }

    #[test]
    fn full_file() {
        let f = ConfigFile::parse(
            r#"
addr = "0.0.0.0:5001"
root = "/srv/r"
upload_expiry = "2h"
[tls]
cert = "c.pem"
key = "k.pem"
[auth]
mode = "token"
htpasswd = "/etc/htpasswd"
anonymous_pull = true
[auth.token]
service = "svc"
issuer = "iss"
expiry = "10m"
key = "0123456789abcdef0123"
[[auth.access]]
user = "alice"
repository = "team/*"
actions = ["pull", "push", "pull"]
"#,
            "reg.toml",
        )
        .unwrap();
        let c = f.into_server_config(Overrides::default()).unwrap();
        assert_eq!(c.addr.port(), 5001);
        assert_eq!(c.root, PathBuf::from("/srv/r"));
        assert_eq!(c.upload_expiry, Duration::from_secs(7200));
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert_eq!(c.auth.mode, AuthMode::Token);
        assert!(c.auth.anonymous_pull);
        assert_eq!(c.auth.token.service, "svc");
        assert_eq!(c.auth.token.expiry, Duration::from_secs(600));
        assert_eq!(c.auth.access[0].actions, vec![Action::Pull, Action::Push]);
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reg.toml");
        std::fs::write(
            &p,
            "root = \"data\"\n[auth]\nhtpasswd = \"/abs/htpasswd\"\n",
        )
        .unwrap();
        let f = ConfigFile::load(&p).unwrap();
        assert_eq!(f.root, Some(dir.path().join("data")));
        assert_eq!(f.htpasswd, Some(PathBuf::from("/abs/htpasswd")));
        let e = ConfigFile::load(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.to_string().contains("missing.toml"), "{e}");
    }

    #[test]
    fn flags_override_file() {
        let f = ConfigFile::parse("root = \"/a\"\naddr = \"127.0.0.1:1\"\n", "x.toml").unwrap();
        let c = f
            .into_server_config(Overrides {
                root: Some("/b".into()),
                addr: Some("127.0.0.1:2".parse().unwrap()),
                htpasswd: Some("/h".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(c.root, PathBuf::from("/b"));
        assert_eq!(c.addr.port(), 2);
        assert_eq!(c.auth.mode, AuthMode::Htpasswd);
    }

    fn err(text: &str) -> String {
        match ConfigFile::parse(text, "bad.toml")
            .and_then(|f| f.into_server_config(Overrides::default()))
        {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = err("root = \"/r\"\n[auth]\nmode = \"ldap\"\n");
        assert!(e.contains("bad.toml") && e.contains("auth.mode"), "{e}");
        let e = err("root = \"/r\"\nupload_expiry = \"soon\"\n");
        assert!(e.contains("upload_expiry"), "{e}");
        let e = err("root = \"/r\"\n[tls]\ncert = \"c\"\n");
        assert!(e.contains("tls.key"), "{e}");
        let e = err("root = \"/r\"\n[auth]\nmode = \"htpasswd\"\n");
        assert!(e.contains("auth.htpasswd"), "{e}");
        let e = err("root = \"/r\"\naddr = \"nope\"\n");
        assert!(e.contains("`addr`"), "{e}");
        let e = err("root = \"/r\"\n[[auth.access]]\nuser = \"a\"\nrepository = \"*\"\nactions = [\"fly\"]\n[auth]\nmode=\"token\"\n");
        assert!(e.contains("bad.toml"), "{e}");
        let e = err("root = \"/r\"\n[auth]\nmode = \"token\"\n[[auth.access]]\nuser = \"a\"\nrepository = \"*\"\nactions = [\"fly\"]\n");
        assert!(e.contains("auth.access[0].actions"), "{e}");
        let e = err("root = \"/r\"\nbogus = 1\n");
        assert!(e.contains("bad.toml") && e.contains("bogus"), "{e}");
        let e = err("addr = \"127.0.0.1:1\"\n");
        assert!(e.contains("root"), "{e}");
    }
}

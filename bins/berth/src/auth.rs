//! Registry credentials kept the way the docker CLI keeps them.
//!
//! - The config file is `config.json` in the config directory: `--config DIR`,
//!   else `$DOCKER_CONFIG`, else `~/.docker`. Credentials live under `auths`
//!   (`{"<server>": {"auth": base64(user:pass), "identitytoken": ...}}`),
//!   or in a credential helper named by `credHelpers[<server>]` or
//!   `credsStore`. Every other key of the file is kept as it is when we write
//!   it back (docker drops keys it does not know; we do not).
//! - Server keys: Docker Hub is `https://index.docker.io/v1/`, every other
//!   registry is `host[:port]`.
//! - Credential helpers speak the docker-credential-helpers protocol
//!   (`docker-credential-<name> get|store|erase|list`).
//! - The `X-Registry-Auth` header is base64url(JSON of the auth config), with
//!   the JSON written as Go's `encoding/json` writes docker's `AuthConfig`, so
//!   the header is byte-for-byte what the docker CLI sends.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
// The config file is edited as raw JSON (see `ConfigFile`): keys other
// tools wrote must survive a save, so no typed model can stand in.
use serde_json::{Map, Value};

/// Docker Hub's key in `auths` and in credential helpers
/// (`registry.IndexServer`).
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";
/// The config file's name inside the config directory.
pub const CONFIG_FILE_NAME: &str = "config.json";
const HELPER_PREFIX: &str = "docker-credential-";
const TOKEN_USERNAME: &str = "<token>";
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// Errors of the credential store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("loading config file: {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing config file ({path}): {source}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("parsing config file ({path}): the top level is not a JSON object")]
    NotAnObject { path: PathBuf },
    #[error("Invalid auth configuration file ({path}): entry {server}: {reason}")]
    BadAuthEntry {
        path: PathBuf,
        server: String,
        reason: String,
    },
    #[error("saving config file {path}: {source}")]
    WriteConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The helper ran and failed; `message` is what it printed.
    #[error("error {action} credentials - err: {helper}: {status}, out: `{message}`")]
    Helper {
        helper: String,
        action: &'static str,
        status: String,
        message: String,
    },
    #[error("error {action} credentials - err: exec: \"{helper}\": {source}")]
    HelperExec {
        helper: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("error {action} credentials - err: {helper} printed invalid JSON: {source}")]
    HelperOutput {
        helper: String,
        action: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl AuthError {
    fn exec(helper: &str, action: &'static str, source: std::io::Error) -> AuthError {
        AuthError::HelperExec {
            helper: helper.to_string(),
            action,
            source,
        }
    }
}

static CONFIG_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sets the config directory for this process (the global `--config` flag).
pub fn set_config_dir(dir: PathBuf) {
    let _ = CONFIG_DIR.set(dir);
}

/// The config directory: `--config`, else `$DOCKER_CONFIG`, else `~/.docker`
/// (as `config.Dir()` in the docker CLI).
pub fn config_dir() -> PathBuf {
    if let Some(d) = CONFIG_DIR.get() {
        return d.clone();
    }
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .or_else(home_from_passwd)
                .unwrap_or_else(|| PathBuf::from("/"));
            home.join(".docker")
        }
    }
}

/// The current user's home directory from /etc/passwd (when `$HOME` is
/// unset, as Go's `user.Current()`).
fn home_from_passwd() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2] == uid && !f[5].is_empty()).then(|| PathBuf::from(f[5]))
    })
}

/// docker's `AuthConfig`, field for field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: String,
    pub password: String,
    pub auth: String,
    pub email: String,
    pub server_address: String,
    pub identity_token: String,
    pub registry_token: String,
}

/// Writes a JSON string as Go's `encoding/json` does (HTML-safe escapes
/// for `<`, `>`, `&`, U+2028 and U+2029).
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON object of string fields in the given order, empty ones left out
/// (Go's `omitempty`).
fn go_json_object(fields: &[(&str, &str)], omit_empty: bool) -> String {
    let mut out = String::from("{");
    let mut first = true;
    for (k, v) in fields {
        if omit_empty && v.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        go_json_string(&mut out, k);
        out.push(':');
        go_json_string(&mut out, v);
    }
    out.push('}');
    out
}

impl AuthConfig {
    /// The JSON docker marshals for this config.
    pub fn to_json(&self) -> String {
        go_json_object(
            &[
                ("username", &self.username),
                ("password", &self.password),
                ("auth", &self.auth),
                ("email", &self.email),
                ("serveraddress", &self.server_address),
                ("identitytoken", &self.identity_token),
                ("registrytoken", &self.registry_token),
            ],
            true,
        )
    }

    /// The `X-Registry-Auth` header value: base64url (padded) of the JSON
    /// (`registry.EncodeAuthConfig`). An empty config gives `e30=` ("{}").
    pub fn encode_header(&self) -> String {
        URL_SAFE.encode(self.to_json())
    }

    /// True when there is nothing to authenticate with.
    #[cfg(test)]
    pub fn is_empty_credentials(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_empty()
    }
}

/// `credentials.ConvertToHostname`: `https://host:port/path` -> `host:port`,
/// `host/path` -> `host`.
pub fn convert_to_hostname(maybe_url: &str) -> String {
    if let Some((_, rest)) = maybe_url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, p)) => (h, p.strip_prefix(':').unwrap_or("")),
                None => ("", ""),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (authority, ""),
            }
        };
        if !host.is_empty() {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            return if port.is_empty() {
                host
            } else {
                format!("{host}:{port}")
            };
        }
    }
    maybe_url.split('/').next().unwrap_or("").to_string()
}

/// The credential key of a registry domain: Docker Hub's index address for
/// `docker.io`, else the domain itself (`getAuthConfigKey`).
pub fn auth_key_for_domain(domain: &str) -> String {
    if domain == "docker.io" || domain == "index.docker.io" {
        INDEX_SERVER.to_string()
    } else {
        domain.to_string()
    }
}

/// Where credential helpers are looked up: `$PATH` unless given (tests).
#[derive(Debug, Clone, Default)]
pub struct HelperPath(Option<OsString>);

impl HelperPath {
    /// Search `$PATH`.
    pub fn from_env() -> Self {
        HelperPath(None)
    }

    /// Search these directories (a `PATH`-style list).
    #[cfg(test)]
    pub fn new(dirs: impl Into<OsString>) -> Self {
        HelperPath(Some(dirs.into()))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let path = match &self.0 {
            Some(p) => p.clone(),
            None => std::env::var_os("PATH").unwrap_or_default(),
        };
        std::env::split_paths(&path).collect()
    }

    /// Finds an executable `name` in the search directories.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        self.dirs().into_iter().find_map(|d| {
            let d = if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            };
            let p = d.join(name);
            let meta = std::fs::metadata(&p).ok()?;
            (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(p)
        })
    }
}

/// Credentials a helper returned (`{"ServerURL","Username","Secret"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HelperCredentials {
    #[serde(rename = "ServerURL", default)]
    pub server_url: String,
    #[serde(rename = "Username", default)]
    pub username: String,
    #[serde(rename = "Secret", default)]
    pub secret: String,
}

/// One `docker-credential-<name>` program.
#[derive(Debug, Clone)]
pub struct Helper {
    /// The suffix configured (`pass`, `secretservice`, ...).
    pub name: String,
    path: HelperPath,
}

enum HelperOutcome {
    Ok(Vec<u8>),
    NotFound,
}

impl Helper {
    pub fn new(name: &str, path: HelperPath) -> Self {
        Helper {
            name: name.to_string(),
            path,
        }
    }

    /// The program's name, `docker-credential-<name>`.
    pub fn program(&self) -> String {
        format!("{HELPER_PREFIX}{}", self.name)
    }

    fn run(
        &self,
        action: &str,
        verb: &'static str,
        input: &[u8],
    ) -> Result<HelperOutcome, AuthError> {
        let program = self.program();
        let exe = self.path.find(&program).ok_or_else(|| {
            AuthError::exec(
                &program,
                verb,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "executable file not found in $PATH",
                ),
            )
        })?;
        tracing::debug!(helper = %program, action, "running credential helper");
        let mut child = Command::new(&exe)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| AuthError::exec(&program, verb, e))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper may exit without reading its input: ignore EPIPE.
            if let Err(e) = stdin.write_all(input) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(AuthError::exec(&program, verb, e));
                }
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| AuthError::exec(&program, verb, e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // docker lets helpers write to its stderr.
            if !stderr.trim().is_empty() {
                eprint!("{stderr}");
            }
            return Ok(HelperOutcome::Ok(out.stdout));
        }
        if stdout.trim() == NOT_FOUND_MESSAGE || stderr.trim() == NOT_FOUND_MESSAGE {
            return Ok(HelperOutcome::NotFound);
        }
        let status = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        let mut message = stdout.trim().to_string();
        if !stderr.trim().is_empty() {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(stderr.trim());
        }
        Err(AuthError::Helper {
            helper: program,
            action: verb,
            status,
            message,
        })
    }

    /// `get`: the stored credentials for `server`, or None.
    pub fn get(&self, server: &str) -> Result<Option<HelperCredentials>, AuthError> {
        match self.run("get", "getting", server.as_bytes())? {
            HelperOutcome::NotFound => Ok(None),
            HelperOutcome::Ok(out) => {
                let mut c: HelperCredentials =
                    serde_json::from_slice(&out).map_err(|source| AuthError::HelperOutput {
                        helper: self.program(),
                        action: "getting",
                        source,
                    })?;
                if c.server_url.is_empty() {
                    c.server_url = server.to_string();
                }
                Ok(Some(c))
            }
        }
    }

    /// `store`: saves credentials (input `{"ServerURL","Username","Secret"}`).
    pub fn store(&self, server: &str, username: &str, secret: &str) -> Result<(), AuthError> {
        let mut input = go_json_object(
            &[
                ("ServerURL", server),
                ("Username", username),
                ("Secret", secret),
            ],
            false,
        );
        input.push('\n');
        self.run("store", "storing", input.as_bytes())?;
        Ok(())
    }

    /// `erase`: removes the credentials of `server`.
    pub fn erase(&self, server: &str) -> Result<(), AuthError> {
        match self.run("erase", "erasing", server.as_bytes())? {
            HelperOutcome::Ok(_) | HelperOutcome::NotFound => Ok(()),
        }
    }

    /// `list`: server URL -> username.
    pub fn list(&self) -> Result<BTreeMap<String, String>, AuthError> {
        match self.run("list", "listing", b"unused")? {
            HelperOutcome::NotFound => Ok(BTreeMap::new()),
            HelperOutcome::Ok(out) => {
                serde_json::from_slice(&out).map_err(|source| AuthError::HelperOutput {
                    helper: self.program(),
                    action: "listing",
                    source,
                })
            }
        }
    }
}

/// The config file, kept as raw JSON so that unknown keys survive a save.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    raw: Map<String, Value>,
    helper_path: HelperPath,
    /// The helper docker would pick when the file names none.
    detected_store: Option<String>,
}

/// Where [`CredentialStore::store`] put the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredIn {
    /// In `auths` of the config file, in plain text; `changed` is false
    /// when the same credentials were there already (nothing written).
    File { changed: bool },
    /// In the named helper.
    Helper(String),
}

impl ConfigFile {
    /// Loads `config.json` from `dir` (an absent file is an empty config).
    pub fn load(dir: &Path, helper_path: HelperPath) -> Result<ConfigFile, AuthError> {
        let path = dir.join(CONFIG_FILE_NAME);
        let raw = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(AuthError::NotAnObject { path }),
                Err(source) => return Err(AuthError::ParseConfig { path, source }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => return Err(AuthError::ReadConfig { path, source }),
        };
        let mut cfg = ConfigFile {
            path,
            raw,
            helper_path,
            detected_store: None,
        };
        if !cfg.contains_auth() {
            cfg.detected_store = cfg.detect_default_store();
        }
        Ok(cfg)
    }

    /// Loads the config of this process ([`config_dir`], `$PATH` helpers).
    pub fn load_default() -> Result<ConfigFile, AuthError> {
        ConfigFile::load(&config_dir(), HelperPath::from_env())
    }

    /// An empty config that would be written to `dir` (used after a load
    /// error, when only reading).
    pub fn empty(dir: &Path) -> ConfigFile {
        ConfigFile {
            path: dir.join(CONFIG_FILE_NAME),
            raw: Map::new(),
            helper_path: HelperPath::from_env(),
            detected_store: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// docker's default store on Linux: `pass` if the `pass` program is
    /// installed, else `secretservice`; used only if its helper exists
    /// (`credentials.DetectDefaultStore`).
    fn detect_default_store(&self) -> Option<String> {
        let name = if self.helper_path.find("pass").is_some() {
            "pass"
        } else {
            "secretservice"
        };
        self.helper_path
            .find(&format!("{HELPER_PREFIX}{name}"))
            .map(|_| name.to_string())
    }

    /// `credsStore` (or the detected default store).
    pub fn creds_store(&self) -> Option<String> {
        self.raw
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| self.detected_store.clone())
    }

    /// `credHelpers[server]`.
    pub fn cred_helper(&self, server: &str) -> Option<String> {
        if server.is_empty() {
            return None;
        }
        self.raw
            .get("credHelpers")
            .and_then(|h| h.get(server))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// True if the file configures any credentials (`ContainsAuth`).
    pub fn contains_auth(&self) -> bool {
        let non_empty = |k: &str| match self.raw.get(k) {
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Object(m)) => !m.is_empty(),
            _ => false,
        };
        non_empty("credsStore") || non_empty("credHelpers") || non_empty("auths")
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.raw.get("auths").and_then(Value::as_object)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self
            .raw
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => m,
            _ => unreachable!("auths was just made an object"),
        }
    }

    /// The keys of `auths`.
    pub fn auth_keys(&self) -> Vec<String> {
        self.auths()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The decoded `auths[key]` entry (docker's `LoadFromReader`), if any.
    pub fn auth_entry(&self, key: &str) -> Result<Option<AuthConfig>, AuthError> {
        let Some(e) = self.auths().and_then(|m| m.get(key)) else {
            return Ok(None);
        };
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut ac = AuthConfig {
            username: s("username"),
            password: s("password"),
            auth: String::new(),
            email: s("email"),
            server_address: key.to_string(),
            identity_token: s("identitytoken"),
            registry_token: s("registrytoken"),
        };
        let auth = s("auth");
        if !auth.is_empty() {
            let bad = |reason: &str| AuthError::BadAuthEntry {
                path: self.path.clone(),
                server: key.to_string(),
                reason: reason.to_string(),
            };
            let raw = STANDARD
                .decode(auth.trim())
                .map_err(|e| bad(&format!("auth is not base64: {e}")))?;
            let text = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
            match text.split_once(':') {
                Some((u, p)) if !u.is_empty() => {
                    ac.username = u.to_string();
                    ac.password = p.trim_matches('\0').to_string();
                }
                _ => return Err(bad("auth is not \"username:password\"")),
            }
        }
        Ok(Some(ac))
    }

    /// Writes `auths[key]` as docker does (`auth` = base64(user:pass) when
    /// either is set, plus email/identitytoken/registrytoken); other keys of
    /// an existing entry are kept.
    pub fn set_auth_entry(&mut self, key: &str, ac: &AuthConfig) {
        let auths = self.auths_mut();
        let mut entry = match auths.remove(key) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for k in [
            "username",
            "password",
            "auth",
            "email",
            "serveraddress",
            "identitytoken",
            "registrytoken",
        ] {
            entry.remove(k);
        }
        if !ac.username.is_empty() || !ac.password.is_empty() {
            let pair = format!("{}:{}", ac.username, ac.password);
            entry.insert("auth".into(), Value::String(STANDARD.encode(pair)));
        }
        for (k, v) in [
            ("email", &ac.email),
            ("identitytoken", &ac.identity_token),
            ("registrytoken", &ac.registry_token),
        ] {
            if !v.is_empty() {
                entry.insert(k.into(), Value::String(v.clone()));
            }
        }
        auths.insert(key.to_string(), Value::Object(entry));
    }

    /// Removes `auths[key]`; true if it was there.
    pub fn remove_auth_entry(&mut self, key: &str) -> bool {
        match self.raw.get_mut("auths").and_then(Value::as_object_mut) {
            Some(m) => m.remove(key).is_some(),
            None => false,
        }
    }

    /// Saves the file atomically (temp file in the same directory, then
    /// rename), tab-indented like docker. A new file gets mode 0600; an
    /// existing file keeps its mode. A symlinked config is written through.
    pub fn save(&mut self) -> Result<(), AuthError> {
        if let Some(store) = self.detected_store.take() {
            // docker persists the store it detected on its first save.
            self.raw.entry("credsStore").or_insert(Value::String(store));
        }
        if !self.raw.contains_key("auths") {
            self.raw.insert("auths".into(), Value::Object(Map::new()));
        }
        let werr = |path: &Path, source: std::io::Error| AuthError::WriteConfig {
            path: path.to_path_buf(),
            source,
        };
        let target = match std::fs::canonicalize(&self.path) {
            Ok(p) => p,
            Err(_) => match std::fs::read_link(&self.path) {
                // A dangling symlink: write its target.
                Ok(t) => self.path.parent().map(|d| d.join(&t)).unwrap_or(t),
                Err(_) => self.path.clone(),
            },
        };
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| werr(&dir, e))?;
        let mode = std::fs::metadata(&target)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        let mut body = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut body, fmt);
        serde::Serialize::serialize(&self.raw, &mut ser)
            .map_err(|e| werr(&target, std::io::Error::other(e)))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(OsStr::new(CONFIG_FILE_NAME))
            .tempfile_in(&dir)
            .map_err(|e| werr(&dir, e))?;
        tmp.write_all(&body).map_err(|e| werr(tmp.path(), e))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| werr(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| werr(tmp.path(), e))?;
        tmp.persist(&target).map_err(|e| werr(&target, e.error))?;
        Ok(())
    }
}

/// The credential store for one config file: helpers where configured,
/// else `auths` (docker's `GetCredentialsStore`).
pub struct CredentialStore {
    pub config: ConfigFile,
}

impl CredentialStore {
    pub fn new(config: ConfigFile) -> Self {
        CredentialStore { config }
    }

    /// The helper serving `server`: `credHelpers[server]`, else `credsStore`.
    pub fn helper_for(&self, server: &str) -> Option<Helper> {
        self.config
            .cred_helper(server)
            .or_else(|| self.config.creds_store())
            .filter(|n| !n.is_empty())
            .map(|n| Helper::new(&n, self.config.helper_path.clone()))
    }

    /// `auths` lookup, falling back to legacy keys whose hostname matches.
    fn file_get(&self, server: &str) -> Result<AuthConfig, AuthError> {
        if let Some(ac) = self.config.auth_entry(server)? {
            return Ok(ac);
        }
        for key in self.config.auth_keys() {
            if convert_to_hostname(&key) == server {
                if let Some(ac) = self.config.auth_entry(&key)? {
                    return Ok(ac);
                }
            }
        }
        Ok(AuthConfig::default())
    }

    /// The credentials for `server` (empty when none are stored).
    pub fn get(&self, server: &str) -> Result<AuthConfig, AuthError> {
        let file = self.file_get(server);
        let Some(helper) = self.helper_for(server) else {
            return file;
        };
        // The file may still hold an email next to the helper's secret.
        let mut ac = file.unwrap_or_default();
        let found = helper.get(server)?;
        ac.username.clear();
        ac.password.clear();
        ac.identity_token.clear();
        let Some(c) = found else {
            // docker's native store: nothing but the file's email remains.
            ac.server_address.clear();
            return Ok(ac);
        };
        if c.username == TOKEN_USERNAME {
            ac.identity_token = c.secret;
        } else {
            ac.username = c.username;
            ac.password = c.secret;
        }
        ac.server_address = server.to_string();
        Ok(ac)
    }

    /// Stores `ac` under `ac.server_address`, in its helper (an identity
    /// token as username `<token>`) or in `auths`; saves the file when it
    /// changed.
    pub fn store(&mut self, ac: &AuthConfig) -> Result<StoredIn, AuthError> {
        let server = ac.server_address.clone();
        if let Some(helper) = self.helper_for(&server) {
            let (user, secret) = if ac.identity_token.is_empty() {
                (ac.username.as_str(), ac.password.as_str())
            } else {
                (TOKEN_USERNAME, ac.identity_token.as_str())
            };
            helper.store(&server, user, secret)?;
            // docker keeps an entry (for the email) in the file.
            let rest = AuthConfig {
                email: ac.email.clone(),
                server_address: server.clone(),
                ..Default::default()
            };
            self.file_store(&rest)?;
            return Ok(StoredIn::Helper(helper.program()));
        }
        let changed = self.file_store(ac)?;
        Ok(StoredIn::File { changed })
    }

    /// Writes `ac` into `auths`; false if it was there unchanged.
    fn file_store(&mut self, ac: &AuthConfig) -> Result<bool, AuthError> {
        let key = ac.server_address.clone();
        let mut cmp = ac.clone();
        cmp.auth.clear();
        if self.config.auth_entry(&key).ok().flatten().as_ref() == Some(&cmp)
            && self.config.detected_store.is_none()
        {
            return Ok(false);
        }
        self.config.set_auth_entry(&key, ac);
        self.config.save()?;
        Ok(true)
    }

    /// Erases the credentials of `server` from its helper and from `auths`.
    pub fn erase(&mut self, server: &str) -> Result<(), AuthError> {
        if let Some(helper) = self.helper_for(server) {
            helper.erase(server)?;
        }
        if self.config.remove_auth_entry(server) {
            self.config.save()?;
        }
        Ok(())
    }

    /// All stored credentials: the default store's, overridden by the
    /// per-registry helpers' (`GetAllCredentials`).
    pub fn get_all(&self) -> Result<BTreeMap<String, AuthConfig>, AuthError> {
        let mut all = BTreeMap::new();
        match self.helper_for("") {
            Some(helper) => {
                for server in helper.list()?.into_keys() {
                    all.insert(server.clone(), self.get(&server)?);
                }
            }
            None => {
                for key in self.config.auth_keys() {
                    if let Some(ac) = self.config.auth_entry(&key)? {
                        all.insert(key, ac);
                    }
                }
            }
        }
        let helpers: Vec<String> = self
            .config
            .raw
            .get("credHelpers")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for server in helpers {
            match self.get(&server) {
                Ok(ac) => {
                    all.insert(server, ac);
                }
                Err(e) => {
                    tracing::warn!(%server, error = %e, "failed to get credentials for registry")
                }
            }
        }
        Ok(all)
    }
}

/// docker's warning after a password was written to the config file.
pub fn unencrypted_warning(path: &Path) -> String {
    format!(
        "\nWARNING! Your credentials are stored unencrypted in '{}'.\n\
         Configure a credential helper to remove this warning. See\n\
         https://docs.docker.com/go/credential-store/\n",
        path.display()
    )
}

/// The process's credential store; a config file that does not load gives
/// a warning on stderr and an empty store (docker's `LoadDefaultConfigFile`).
pub fn default_store_for_reading() -> CredentialStore {
    match ConfigFile::load_default() {
        Ok(c) => CredentialStore::new(c),
        Err(e) => {
            eprintln!("WARNING: Error {e}");
            CredentialStore::new(ConfigFile::empty(&config_dir()))
        }
    }
}

/// The `X-Registry-Auth` value for a registry domain (`docker.io`,
/// `127.0.0.1:5000`): stored credentials, or `e30=` ("{}") when none.
pub fn registry_auth_header(store: &CredentialStore, domain: &str) -> Result<String, AuthError> {
    let key = auth_key_for_domain(domain);
    Ok(store.get(&key)?.encode_header())
}

/// The `X-Registry-Config` header of a classic build: base64url of the JSON
/// map of every stored credential, keys sorted (docker ignores lookup
/// errors here and sends what it has; so do we, with a warning).
pub fn registry_config_header(store: &CredentialStore) -> String {
    let all = match store.get_all() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("WARNING: {e}");
            BTreeMap::new()
        }
    };
    let mut json = String::from("{");
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        go_json_string(&mut json, k);
        json.push(':');
        json.push_str(&v.to_json());
    }
    json.push('}');
    URL_SAFE.encode(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn helper_script(dir: &Path, name: &str, body: &str) {
        let p = dir.join(format!("{HELPER_PREFIX}{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn load(dir: &Path, bin: &Path) -> ConfigFile {
        ConfigFile::load(dir, HelperPath::new(bin.as_os_str())).unwrap()
    }

    #[test]
    fn header_encoding_is_dockers() {
        assert_eq!(AuthConfig::default().encode_header(), "e30=");
        let ac = AuthConfig {
            username: "u".into(),
            password: "p<&>".into(),
            server_address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        let json = ac.to_json();
        assert_eq!(
            json,
            r#"{"username":"u","password":"p\u003c\u0026\u003e","serveraddress":"127.0.0.1:5000"}"#
        );
        assert_eq!(ac.encode_header(), URL_SAFE.encode(&json));
        let back: Value =
            serde_json::from_slice(&URL_SAFE.decode(ac.encode_header()).unwrap()).unwrap();
        assert_eq!(back["password"], "p<&>");
        let tok = AuthConfig {
            server_address: INDEX_SERVER.into(),
            identity_token: "tok".into(),
            ..Default::default()
        };
        assert_eq!(
            tok.to_json(),
            r#"{"serveraddress":"https://index.docker.io/v1/","identitytoken":"tok"}"#
        );
        // What docker 28.2.2 sent for an identity token from a helper.
        let tok = AuthConfig {
            server_address: "127.0.0.1:5000".into(),
            identity_token: "IDTOKEN".into(),
            ..Default::default()
        };
        assert_eq!(
            tok.encode_header(),
            "eyJzZXJ2ZXJhZGRyZXNzIjoiMTI3LjAuMC4xOjUwMDAiLCJpZGVudGl0eXRva2VuIjoiSURUT0tFTiJ9"
        );
        // base64url: '-' and '_' instead of '+' and '/', padded.
        let odd = AuthConfig {
            username: "\u{3ff}\u{3ff}?".into(),
            ..Default::default()
        };
        let h = odd.encode_header();
        assert!(!h.contains('+') && !h.contains('/'));
        let mut s = String::new();
        go_json_string(&mut s, "a\"\\\n\u{1}\u{2028}");
        assert_eq!(s, r#""a\"\\\n\u0001\u2028""#);
    }

    #[test]
    fn hostnames_and_keys() {
        assert_eq!(
            convert_to_hostname("https://my.reg:5000/v2/"),
            "my.reg:5000"
        );
        assert_eq!(
            convert_to_hostname("http://127.0.0.1:5000"),
            "127.0.0.1:5000"
        );
        assert_eq!(convert_to_hostname("my.reg/x"), "my.reg");
        assert_eq!(convert_to_hostname("my.reg:5000"), "my.reg:5000");
        assert_eq!(convert_to_hostname("https://[::1]:5000/"), "[::1]:5000");
        assert_eq!(
            convert_to_hostname("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(auth_key_for_domain("docker.io"), INDEX_SERVER);
        assert_eq!(auth_key_for_domain("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn config_round_trip_keeps_unknown_keys_and_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"other:1":{"auth":"YTpi","x-extra":1}},"psFormat":"{{.ID}}","plugins":{"p":{"k":"v"}},"zzz":[1,2]}"#,
        )
        .unwrap();
        let cfg = load(dir.path(), bin.path());
        let mut store = CredentialStore::new(cfg);
        let got = store.get("other:1").unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("a", "b"));
        assert_eq!(got.server_address, "other:1");
        let ac = AuthConfig {
            username: "user".into(),
            password: "pass:word".into(),
            server_address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        assert_eq!(store.store(&ac).unwrap(), StoredIn::File { changed: true });
        assert_eq!(store.store(&ac).unwrap(), StoredIn::File { changed: false });
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.contains("\n\t\"auths\": {"), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["psFormat"], "{{.ID}}");
        assert_eq!(v["zzz"], serde_json::json!([1, 2]));
        assert_eq!(v["plugins"]["p"]["k"], "v");
        assert_eq!(v["auths"]["other:1"]["x-extra"], 1);
        assert_eq!(
            v["auths"]["127.0.0.1:5000"],
            serde_json::json!({"auth": STANDARD.encode("user:pass:word")})
        );
        // An existing file keeps its mode (here the default umask's).
        let reread = CredentialStore::new(load(dir.path(), bin.path()));
        let got = reread.get("127.0.0.1:5000").unwrap();
        assert_eq!(got.password, "pass:word");
        // A new file is 0600, in a directory that is created.
        let fresh = dir.path().join("sub");
        let mut store = CredentialStore::new(load(&fresh, bin.path()));
        store.store(&ac).unwrap();
        let mode = std::fs::metadata(fresh.join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(&fresh).unwrap().collect();
        assert_eq!(names.len(), 1);
        // Erase.
        store.erase("127.0.0.1:5000").unwrap();
        let v: Value =
            serde_json::from_slice(&std::fs::read(fresh.join("config.json")).unwrap()).unwrap();
        assert_eq!(v["auths"], serde_json::json!({}));
    }

    #[test]
    fn legacy_keys_and_identity_tokens_in_file() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://my.reg:5000/v1/":{"auth":"dTpw"},"tok.reg":{"auth":"dTo=","identitytoken":"T"}}}"#,
        )
        .unwrap();
        let store = CredentialStore::new(load(dir.path(), bin.path()));
        let ac = store.get("my.reg:5000").unwrap();
        assert_eq!((ac.username.as_str(), ac.password.as_str()), ("u", "p"));
        assert_eq!(ac.server_address, "https://my.reg:5000/v1/");
        let ac = store.get("tok.reg").unwrap();
        assert_eq!(
            ac.to_json(),
            r#"{"username":"u","serveraddress":"tok.reg","identitytoken":"T"}"#
        );
        assert!(store.get("none").unwrap().is_empty_credentials());
        assert_eq!(registry_auth_header(&store, "none").unwrap(), "e30=");
    }

    #[test]
    fn home_directory_from_passwd() {
        // Tests run as root here; any user has some entry.
        let home = home_from_passwd().expect("an /etc/passwd entry for this user");
        assert!(home.is_absolute());
    }

    #[test]
    fn build_registry_config_is_dockers() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(load(dir.path(), bin.path()));
        assert_eq!(registry_config_header(&store), "e30=");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw","identitytoken":"T"},"127.0.0.1:5000":{"auth":"bWU6cHcmPA=="}}}"#,
        )
        .unwrap();
        let store = CredentialStore::new(load(dir.path(), bin.path()));
        // What docker 28.2.2 sent (DOCKER_BUILDKIT=0) for this config.
        assert_eq!(
            registry_config_header(&store),
            "eyIxMjcuMC4wLjE6NTAwMCI6eyJ1c2VybmFtZSI6Im1lIiwicGFzc3dvcmQiOiJwd1x1MDAyNlx1MDAzYyIsInNlcnZlcmFkZHJlc3MiOiIxMjcuMC4wLjE6NTAwMCJ9LCJodHRwczovL2luZGV4LmRvY2tlci5pby92MS8iOnsidXNlcm5hbWUiOiJ1IiwicGFzc3dvcmQiOiJwIiwic2VydmVyYWRkcmVzcyI6Imh0dHBzOi8vaW5kZXguZG9ja2VyLmlvL3YxLyIsImlkZW50aXR5dG9rZW4iOiJUIn19"
        );
    }

    #[test]
    fn bad_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        let e = ConfigFile::load(dir.path(), HelperPath::new("")).unwrap_err();
        assert!(e.to_string().starts_with("parsing config file ("), "{e}");
    }

    /// A fake helper keeping its store in a directory, one file per server.
    fn fake_store_helper(bin: &Path, name: &str, db: &Path) {
        helper_script(
            bin,
            name,
            &format!(
                r#"db={db}
case "$1" in
get) read -r s || true; f="$db/$(echo "$s" | tr '/:' '__')"
     if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) cat > "$db/last-store"; s=$(sed 's/.*"ServerURL":"\([^"]*\)".*/\1/' "$db/last-store")
     cp "$db/last-store" "$db/$(echo "$s" | tr '/:' '__')" ;;
erase) read -r s || true; rm -f "$db/$(echo "$s" | tr '/:' '__')"; echo "$s" > "$db/last-erase" ;;
list) printf '{{"127.0.0.1:5000":"u"}}' ;;
*) echo "unknown action" >&2; exit 2 ;;
esac"#,
                db = db.display()
            ),
        );
    }

    #[test]
    fn helpers_store_get_erase_list() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        fake_store_helper(bin.path(), "test", db.path());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore":"test","auths":{"stale:1":{"auth":"dTpw","email":"e@x"}},"other":true}"#,
        )
        .unwrap();
        let mut store = CredentialStore::new(load(dir.path(), bin.path()));
        assert!(store.get("127.0.0.1:5000").unwrap().is_empty_credentials());
        // A stale plain-text entry is not used when a helper is configured.
        assert_eq!(
            store.get("stale:1").unwrap().to_json(),
            r#"{"email":"e@x"}"#
        );
        let ac = AuthConfig {
            username: "u".into(),
            password: "p&".into(),
            server_address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        assert_eq!(
            store.store(&ac).unwrap(),
            StoredIn::Helper("docker-credential-test".into())
        );
        let sent = std::fs::read_to_string(db.path().join("last-store")).unwrap();
        assert_eq!(
            sent,
            "{\"ServerURL\":\"127.0.0.1:5000\",\"Username\":\"u\",\"Secret\":\"p\\u0026\"}\n"
        );
        // The helper stored it; the file only has an empty entry.
        let v: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(v["auths"]["127.0.0.1:5000"], serde_json::json!({}));
        assert_eq!(v["other"], true);
        let got = store.get("127.0.0.1:5000").unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("u", "p&"));
        assert_eq!(got.server_address, "127.0.0.1:5000");
        // An identity token is stored as username "<token>".
        let tok = AuthConfig {
            username: "u".into(),
            identity_token: "T0K".into(),
            server_address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        store.store(&tok).unwrap();
        let got = store.get("127.0.0.1:5000").unwrap();
        assert_eq!(got.identity_token, "T0K");
        assert!(got.username.is_empty() && got.password.is_empty());
        assert_eq!(
            got.to_json(),
            r#"{"serveraddress":"127.0.0.1:5000","identitytoken":"T0K"}"#
        );
        let all = store.get_all().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["127.0.0.1:5000"]);
        store.erase("127.0.0.1:5000").unwrap();
        assert_eq!(
            std::fs::read_to_string(db.path().join("last-erase")).unwrap(),
            "127.0.0.1:5000\n"
        );
        assert!(store.get("127.0.0.1:5000").unwrap().is_empty_credentials());
    }

    #[test]
    fn cred_helpers_beat_creds_store_and_errors_name_the_helper() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        helper_script(
            bin.path(),
            "good",
            r#"read -r s; printf '{"ServerURL":"%s","Username":"<token>","Secret":"abc"}' "$s""#,
        );
        helper_script(bin.path(), "broken", "echo 'keychain locked' >&2; exit 3");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore":"broken","credHelpers":{"good.reg":"good","gone.reg":"missing"}}"#,
        )
        .unwrap();
        let store = CredentialStore::new(load(dir.path(), bin.path()));
        let ac = store.get("good.reg").unwrap();
        assert_eq!(ac.identity_token, "abc");
        assert_eq!(ac.server_address, "good.reg");
        let e = store.get("other.reg").unwrap_err().to_string();
        assert_eq!(
            e,
            "error getting credentials - err: docker-credential-broken: exit status 3, out: `keychain locked`"
        );
        let e = store.get("gone.reg").unwrap_err().to_string();
        assert_eq!(
            e,
            "error getting credentials - err: exec: \"docker-credential-missing\": executable file not found in $PATH"
        );
    }

    #[test]
    fn default_store_is_detected_and_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        // No config file, no `pass`: docker looks for docker-credential-secretservice.
        fake_store_helper(bin.path(), "secretservice", db.path());
        let mut store = CredentialStore::new(load(dir.path(), bin.path()));
        assert_eq!(
            store.helper_for("x").map(|h| h.program()),
            Some("docker-credential-secretservice".into())
        );
        let ac = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            server_address: "x.reg".into(),
            ..Default::default()
        };
        store.store(&ac).unwrap();
        let v: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(v["credsStore"], "secretservice");
        // Without any helper installed, the file store is used.
        let empty_bin = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let store = CredentialStore::new(load(other.path(), empty_bin.path()));
        assert!(store.helper_for("x").is_none());
    }
}

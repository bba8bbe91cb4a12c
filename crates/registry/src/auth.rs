//! Authentication and authorization: htpasswd (bcrypt) users, HTTP Basic, the Docker
//! token flow with HS256-signed JWTs issued by the registry itself at `/auth/token`,
//! and the access policy.
//!
//! Needed access per request, as distribution computes it: `GET`/`HEAD` on a
//! repository need `pull`; `POST`/`PUT`/`PATCH` need `pull` and `push`; `DELETE`
//! needs `delete`; the catalog needs `registry:catalog:*`; `/v2/` needs any valid
//! credentials (in token mode, any valid token, anonymous ones included).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::config::{AccessRule, Action, AuthConfig, AuthMode, TokenConfig};
use crate::routes::{parse_route, Route};

pub const BASIC_REALM: &str = "berth-registry";
const TOKEN_PATH: &str = "/auth/token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Errors from setting up authentication.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading htpasswd file {file}")]
    HtpasswdRead {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("htpasswd file {file}, line {line}: {reason}")]
    HtpasswdFormat {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("auth mode {mode} needs a htpasswd file")]
    NoHtpasswd { mode: &'static str },
    #[error("token signing key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token signing key file {path}: {reason}")]
    KeyFormat { path: PathBuf, reason: String },
}

// ---------------------------------------------------------------- htpasswd

/// Users from a htpasswd file; only bcrypt entries are accepted.
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// Successful checks (user → SHA-256 of the password), so a client that sends
    /// Basic credentials with every request does not pay bcrypt every time.
    verified: std::sync::Mutex<HashMap<String, [u8; 32]>>,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htpasswd")
            .field("users", &self.users.len())
            .finish()
    }
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::HtpasswdRead {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, file: &Path) -> Result<Self, AuthError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| AuthError::HtpasswdFormat {
                file: file.to_path_buf(),
                line: i + 1,
                reason,
            };
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected user:hash".to_string()))?;
            if user.is_empty() {
                return Err(bad("empty user name".to_string()));
            }
            let bcrypt_prefix = ["$2a$", "$2b$", "$2x$", "$2y$"]
                .iter()
                .any(|p| hash.starts_with(p));
            if !bcrypt_prefix {
                let kind = if hash.starts_with("$apr1$") {
                    "MD5 (apr1)"
                } else if hash.starts_with("{SHA}") {
                    "SHA-1"
                } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
                    "SHA-crypt"
                } else if hash.starts_with("$1$") {
                    "MD5-crypt"
                } else {
                    "crypt or plain text"
                };
                return Err(bad(format!(
                    "user {user:?}: {kind} hashes are not supported, only bcrypt \
                     (create entries with `htpasswd -B`)"
                )));
            }
            if hash.len() != 60 {
                return Err(bad(format!("user {user:?}: malformed bcrypt hash")));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s (bcrypt runs on a blocking thread).
    pub async fn verify(self: &Arc<Self>, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user).cloned() else {
            return false;
        };
        let fp: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        {
            let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if cache.get(user) == Some(&fp) {
                return true;
            }
        }
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(user.to_string(), fp);
        }
        ok
    }
}

// ---------------------------------------------------------------- policy

/// What a request touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Repository(String),
    Catalog,
}

/// `*` matches any run of characters (slashes included), `?` one character.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The access policy: who may do what.
#[derive(Debug, Clone)]
pub struct Policy {
    pub anonymous_pull: bool,
    pub rules: Vec<AccessRule>,
}

impl Policy {
    /// Actions `user` (None: anonymous) may perform on `res`.
    pub fn allowed(&self, user: Option<&str>, res: &Resource) -> BTreeSet<Action> {
        let mut out = BTreeSet::new();
        if user.is_none() && self.anonymous_pull {
            if let Resource::Repository(_) = res {
                out.insert(Action::Pull);
            }
        }
        if user.is_some() && self.rules.is_empty() {
            out.extend(Action::ALL);
        }
        for r in &self.rules {
            let who = match user {
                None => r.user == "anonymous",
                Some(u) => r.user == "*" || r.user == u,
            };
            if !who {
                continue;
            }
            for a in &r.actions {
                match (res, a) {
                    (Resource::Catalog, Action::Catalog) => {
                        out.insert(Action::Catalog);
                    }
                    (Resource::Repository(name), a)
                        if *a != Action::Catalog && glob_match(&r.repository, name) =>
                    {
                        out.insert(*a);
                    }
                    _ => {}
                }
            }
        }
        if let Resource::Repository(_) = res {
            out.remove(&Action::Catalog);
        } else {
            out.retain(|a| *a == Action::Catalog);
        }
        out
    }
}

// ---------------------------------------------------------------- scopes

/// One `type:name:actions` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource: Resource,
    pub actions: BTreeSet<Action>,
}

fn action_from(resource: &Resource, s: &str) -> Vec<Action> {
    match (resource, s) {
        (Resource::Catalog, "*") => vec![Action::Catalog],
        (Resource::Repository(_), "pull") => vec![Action::Pull],
        (Resource::Repository(_), "push") => vec![Action::Push],
        (Resource::Repository(_), "delete") => vec![Action::Delete],
        (Resource::Repository(_), "*") => vec![Action::Pull, Action::Push, Action::Delete],
        _ => vec![],
    }
}

/// Parse `repository:<name>:pull,push` or `registry:catalog:*`; the resource type
/// may carry a class (`repository(plugin)`). Unknown types give None.
pub fn parse_scope(s: &str) -> Option<Scope> {
    let (typ, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let typ = typ.split('(').next().unwrap_or(typ);
    let resource = match (typ, name) {
        ("repository", n) if !n.is_empty() => Resource::Repository(n.to_string()),
        ("registry", "catalog") => Resource::Catalog,
        _ => return None,
    };
    let actions = actions
        .split(',')
        .flat_map(|a| action_from(&resource, a.trim()))
        .collect();
    Some(Scope { resource, actions })
}

/// The scope string for a challenge or token claim.
pub fn scope_string(res: &Resource, actions: &BTreeSet<Action>) -> String {
    let acts: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    match res {
        Resource::Repository(n) => format!("repository:{n}:{}", acts.join(",")),
        Resource::Catalog => "registry:catalog:*".to_string(),
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone, PartialEq, Eq)]
pub struct AccessClaim {
    #[serde(rename = "type")]
    pub typ: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, Clone)]
pub struct Claims {
    pub iss: String,
    /// The user; empty for anonymous tokens.
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<AccessClaim>,
    /// Set on refresh tokens only, which are never accepted as access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub berth_refresh: Option<bool>,
}

impl Claims {
    /// Whether the token grants `action` on `res`.
    pub fn grants(&self, res: &Resource, action: Action) -> bool {
        let (typ, name) = match res {
            Resource::Repository(n) => ("repository", n.as_str()),
            Resource::Catalog => ("registry", "catalog"),
        };
        self.access.iter().any(|a| {
            a.typ == typ && a.name == name && a.actions.iter().any(|x| x == action.as_str())
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token issued for another issuer or service")]
    WrongAudience,
    #[error("refresh token used as access token, or the reverse")]
    WrongKind,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Issues and checks HS256 JWTs.
pub struct TokenIssuer {
    key: Vec<u8>,
    pub config: TokenConfig,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("config.service", &self.config.service)
            .finish()
    }
}

fn load_or_create_key(path: &Path) -> Result<Vec<u8>, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let key = hex::decode(s.trim()).map_err(|e| AuthError::KeyFormat {
                path: path.to_path_buf(),
                reason: format!("not hex: {e}"),
            })?;
            if key.len() < 16 {
                return Err(AuthError::KeyFormat {
                    path: path.to_path_buf(),
                    reason: "shorter than 16 bytes".to_string(),
                });
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| AuthError::KeyFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            f.write_all(hex::encode(key).as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|source| AuthError::KeyFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            Ok(key.to_vec())
        }
        Err(source) => Err(AuthError::KeyFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl TokenIssuer {
    /// The key: the configured one, `<root>/token.key` when persisted, else random.
    pub fn new(config: TokenConfig, root: &Path) -> Result<Self, AuthError> {
        let key = if let Some(k) = &config.key {
            k.as_bytes().to_vec()
        } else if config.persist_key {
            load_or_create_key(&root.join("token.key"))?
        } else {
            rand::random::<[u8; 32]>().to_vec()
        };
        Ok(TokenIssuer { key, config })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        }
    }

    fn sign(&self, claims: &Claims) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(input.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{input}.{sig}")
    }

    fn claims(&self, sub: &str, lifetime: Duration) -> Claims {
        let now = now_secs();
        Claims {
            iss: self.config.issuer.clone(),
            sub: sub.to_string(),
            aud: self.config.service.clone(),
            exp: now + lifetime.as_secs(),
            nbf: now.saturating_sub(1),
            iat: now,
            jti: format!("{:032x}", rand::random::<u128>()),
            access: Vec::new(),
            berth_refresh: None,
        }
    }

    /// An access token for `sub` ("" = anonymous) granting `access`.
    pub fn issue(&self, sub: &str, access: Vec<AccessClaim>) -> (String, Claims) {
        self.issue_for(sub, access, self.config.expiry)
    }

    /// Like `issue` with an explicit lifetime (tests use it for expired tokens).
    pub fn issue_for(
        &self,
        sub: &str,
        access: Vec<AccessClaim>,
        lifetime: Duration,
    ) -> (String, Claims) {
        let mut c = self.claims(sub, lifetime);
        c.access = access;
        (self.sign(&c), c)
    }

    pub fn issue_refresh(&self, user: &str) -> String {
        let mut c = self.claims(user, self.config.refresh_expiry);
        c.berth_refresh = Some(true);
        self.sign(&c)
    }

    fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Malformed);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        let now = now_secs();
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now + 60 {
            return Err(TokenError::NotYetValid);
        }
        if claims.iss != self.config.issuer || claims.aud != self.config.service {
            return Err(TokenError::WrongAudience);
        }
        Ok(claims)
    }

    /// Check an access token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let c = self.decode(token)?;
        if c.berth_refresh.is_some() {
            return Err(TokenError::WrongKind);
        }
        Ok(c)
    }

    /// Check a refresh token; returns its user.
    pub fn verify_refresh(&self, token: &str) -> Result<String, TokenError> {
        let c = self.decode(token)?;
        if c.berth_refresh != Some(true) || c.sub.is_empty() {
            return Err(TokenError::WrongKind);
        }
        Ok(c.sub)
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only fails for MACs with fixed key sizes.
    panic!("HMAC-SHA256 rejected a key")
}

// ---------------------------------------------------------------- the auth state

/// Everything request authorization needs.
#[derive(Debug)]
pub struct Auth {
    pub mode: AuthMode,
    pub htpasswd: Option<Arc<Htpasswd>>,
    pub policy: Policy,
    pub tokens: Option<TokenIssuer>,
    /// Whether the server speaks TLS (for the default realm's scheme).
    pub tls: bool,
}

impl Auth {
    pub fn new(cfg: &AuthConfig, root: &Path, tls: bool) -> Result<Self, AuthError> {
        let htpasswd = match &cfg.htpasswd {
            Some(p) if cfg.mode != AuthMode::None => Some(Arc::new(Htpasswd::load(p)?)),
            _ => None,
        };
        if cfg.mode == AuthMode::Htpasswd && htpasswd.is_none() {
            return Err(AuthError::NoHtpasswd { mode: "htpasswd" });
        }
        let tokens = match cfg.mode {
            AuthMode::Token => Some(TokenIssuer::new(cfg.token.clone(), root)?),
            _ => None,
        };
        Ok(Auth {
            mode: cfg.mode,
            htpasswd,
            policy: Policy {
                anonymous_pull: cfg.anonymous_pull,
                rules: cfg.access.clone(),
            },
            tokens,
            tls,
        })
    }

    fn realm(&self, headers: &HeaderMap) -> String {
        if let Some(r) = self.tokens.as_ref().and_then(|t| t.config.realm.clone()) {
            return r;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.contains('"'))
            .unwrap_or("localhost");
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}{TOKEN_PATH}")
    }

    async fn check_basic(&self, headers: &HeaderMap) -> Credentials {
        let Some((user, pass)) = basic_credentials(headers) else {
            return Credentials::None;
        };
        match &self.htpasswd {
            Some(h) if h.verify(&user, &pass).await => Credentials::User(user),
            _ => Credentials::Bad,
        }
    }
}

enum Credentials {
    None,
    Bad,
    User(String),
}

/// `Authorization: Basic` user and password, if present and well-formed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

fn error_body(status: StatusCode, code: &str, message: &str, needed: &[Needed]) -> Response {
    let detail: Vec<serde_json::Value> = needed
        .iter()
        .map(|n| {
            let (typ, name) = match &n.resource {
                Resource::Repository(r) => ("repository", r.as_str()),
                Resource::Catalog => ("registry", "catalog"),
            };
            serde_json::json!({"Type": typ, "Name": name, "Action": n.action.as_str()})
        })
        .collect();
    let body = serde_json::json!({
        "errors": [{"code": code, "message": message, "detail": detail}]
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// One access a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub resource: Resource,
    pub action: Action,
}

/// The access a `/v2/` request needs; None for a path that is no route.
fn needed_for(route: &Route, method: &Method) -> Vec<Needed> {
    let repo = match route {
        Route::Base => return vec![],
        Route::Catalog => {
            return vec![Needed {
                resource: Resource::Catalog,
                action: Action::Catalog,
            }]
        }
        Route::Tags { name }
        | Route::Manifest { name, .. }
        | Route::Blob { name, .. }
        | Route::UploadStart { name }
        | Route::Upload { name, .. }
        | Route::Referrers { name, .. } => name.clone(),
    };
    let actions: &[Action] = match *method {
        Method::GET | Method::HEAD => &[Action::Pull],
        Method::DELETE => &[Action::Delete],
        _ => &[Action::Pull, Action::Push],
    };
    actions
        .iter()
        .map(|a| Needed {
            resource: Resource::Repository(repo.clone()),
            action: *a,
        })
        .collect()
}

fn challenge_scopes(needed: &[Needed]) -> String {
    let mut by_res: Vec<(Resource, BTreeSet<Action>)> = Vec::new();
    for n in needed {
        match by_res.iter_mut().find(|(r, _)| *r == n.resource) {
            Some((_, acts)) => {
                acts.insert(n.action);
            }
            None => by_res.push((n.resource.clone(), BTreeSet::from([n.action]))),
        }
    }
    by_res
        .iter()
        .map(|(r, a)| scope_string(r, a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn unauthorized(
    auth: &Auth,
    headers: &HeaderMap,
    needed: &[Needed],
    error: Option<&str>,
) -> Response {
    let mut r = error_body(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "authentication required",
        needed,
    );
    let challenge = match &auth.tokens {
        Some(t) => {
            let mut c = format!(
                "Bearer realm=\"{}\",service=\"{}\"",
                auth.realm(headers),
                t.config.service
            );
            if !needed.is_empty() {
                c.push_str(&format!(",scope=\"{}\"", challenge_scopes(needed)));
            }
            if let Some(e) = error {
                c.push_str(&format!(",error=\"{e}\""));
            }
            c
        }
        None => format!("Basic realm=\"{BASIC_REALM}\""),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn denied(needed: &[Needed]) -> Response {
    error_body(
        StatusCode::FORBIDDEN,
        "DENIED",
        "requested access to the resource is denied",
        needed,
    )
}

/// Remove `mount` and `from` from a cross-repository mount the client may not read
/// from: the request then starts a plain upload, as distribution does.
fn strip_mount(uri: &Uri) -> Option<Uri> {
    let q = uri.query()?;
    let kept: Vec<&str> = q
        .split('&')
        .filter(|p| !p.starts_with("mount=") && !p.starts_with("from="))
        .collect();
    let pq = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    Uri::from_parts(parts).ok()
}

fn mount_source(uri: &Uri) -> Option<String> {
    let q = uri.query()?;
    if !q.split('&').any(|p| p.starts_with("mount=")) {
        return None;
    }
    q.split('&')
        .find_map(|p| p.strip_prefix("from="))
        .map(crate::routes::percent_decode)
}

/// The authenticated user of a request, attached to its response for the request log.
#[derive(Debug, Clone)]
pub struct AuthUser(pub String);

/// Where a request's rights come from.
enum Grants {
    /// Basic credentials (or none): the policy decides.
    Policy,
    /// A bearer token: its access claims decide.
    Token(Claims),
}

/// Middleware: authenticate and authorize `/v2/` requests.
pub async fn authorize(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if auth.mode == AuthMode::None {
        return next.run(req).await;
    }
    let Some(route) = parse_route(req.uri().path()) else {
        return next.run(req).await;
    };
    let needed = needed_for(&route, req.method());
    let mount_from = match (&route, req.method()) {
        (Route::UploadStart { .. }, &Method::POST) => mount_source(req.uri()),
        _ => None,
    };
    let headers = req.headers().clone();
    // Who is asking, and what may they do?
    let (user, grants) = match &auth.tokens {
        None => match auth.check_basic(&headers).await {
            Credentials::Bad => return unauthorized(&auth, &headers, &needed, None),
            Credentials::None => (None, Grants::Policy),
            Credentials::User(u) => (Some(u), Grants::Policy),
        },
        Some(t) => {
            let Some(tok) = bearer_token(&headers) else {
                return unauthorized(&auth, &headers, &needed, None);
            };
            match t.verify(tok) {
                Ok(c) => ((!c.sub.is_empty()).then(|| c.sub.clone()), Grants::Token(c)),
                Err(e) => {
                    tracing::debug!(error = %e, "rejected bearer token");
                    return unauthorized(&auth, &headers, &needed, Some("invalid_token"));
                }
            }
        }
    };
    let may = |r: &Resource, a: Action| match &grants {
        Grants::Policy => auth.policy.allowed(user.as_deref(), r).contains(&a),
        Grants::Token(c) => c.grants(r, a),
    };
    // `/v2/` needs some identity: a token of any kind, or Basic credentials.
    if needed.is_empty() && auth.tokens.is_none() && user.is_none() {
        return unauthorized(&auth, &headers, &needed, None);
    }
    let missing: Vec<Needed> = needed
        .iter()
        .filter(|n| !may(&n.resource, n.action))
        .cloned()
        .collect();
    if !missing.is_empty() {
        // Would the policy ever allow it? Then the client should get (another) token.
        let policy_allows = missing.iter().all(|n| {
            auth.policy
                .allowed(user.as_deref(), &n.resource)
                .contains(&n.action)
        });
        return match (&user, auth.tokens.is_some()) {
            (None, _) => unauthorized(&auth, &headers, &needed, None),
            (Some(_), true) if policy_allows => {
                unauthorized(&auth, &headers, &needed, Some("insufficient_scope"))
            }
            (Some(_), _) => denied(&missing),
        };
    }
    if let Some(from) = mount_from {
        if !may(&Resource::Repository(from), Action::Pull) {
            if let Some(u) = strip_mount(req.uri()) {
                *req.uri_mut() = u;
            }
        }
    }
    let mut resp = next.run(req).await;
    if let Some(u) = user {
        resp.extensions_mut().insert(AuthUser(u));
    }
    resp
}

// ---------------------------------------------------------------- token endpoint

fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                crate::routes::percent_decode(k),
                crate::routes::percent_decode(v),
            )
        })
        .collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

fn token_unauthorized(message: &str) -> Response {
    let mut r = error_body(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message, &[]);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"berth-registry\""),
    );
    r
}

fn rfc3339(secs: u64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs as i64, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

struct TokenRequest {
    user: Option<String>,
    scopes: Vec<String>,
    service: Option<String>,
    refresh: Option<String>,
    want_refresh: bool,
    oauth: bool,
}

/// Grant the intersection of the requested scopes and the policy; answer per
/// token.md (GET) or oauth.md (POST).
fn grant(auth: &Auth, t: &TokenIssuer, r: TokenRequest) -> Response {
    if let Some(s) = &r.service {
        if *s != t.config.service {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("unknown service {s:?}"),
            );
        }
    }
    let mut access: Vec<AccessClaim> = Vec::new();
    for s in r
        .scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter(|s| !s.is_empty())
    {
        let Some(scope) = parse_scope(s) else {
            continue;
        };
        let allowed = auth.policy.allowed(r.user.as_deref(), &scope.resource);
        let granted: BTreeSet<Action> = scope.actions.intersection(&allowed).copied().collect();
        let (typ, name) = match &scope.resource {
            Resource::Repository(n) => ("repository", n.clone()),
            Resource::Catalog => ("registry", "catalog".to_string()),
        };
        match access.iter_mut().find(|a| a.typ == typ && a.name == name) {
            Some(a) => {
                for g in &granted {
                    if !a.actions.iter().any(|x| x == g.as_str()) {
                        a.actions.push(g.as_str().to_string());
                    }
                }
            }
            None => access.push(AccessClaim {
                typ: typ.to_string(),
                name,
                actions: granted.iter().map(|g| g.as_str().to_string()).collect(),
            }),
        }
    }
    let scope_str = access
        .iter()
        .filter(|a| !a.actions.is_empty())
        .map(|a| format!("{}:{}:{}", a.typ, a.name, a.actions.join(",")))
        .collect::<Vec<_>>()
        .join(" ");
    let (token, claims) = t.issue(r.user.as_deref().unwrap_or(""), access);
    tracing::info!(
        user = r.user.as_deref().unwrap_or("<anonymous>"),
        scope = %scope_str,
        "issued token"
    );
    let mut body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": t.config.expiry.as_secs(),
        "issued_at": rfc3339(claims.iat),
    });
    if r.oauth {
        body["scope"] = scope_str.into();
    }
    if let Some(u) = r.user.as_deref().filter(|_| r.want_refresh) {
        body["refresh_token"] = r.refresh.unwrap_or_else(|| t.issue_refresh(u)).into();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `GET /auth/token?service=..&scope=..[&offline_token=true]`, Basic credentials or anonymous.
pub async fn token_get(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let Some(t) = &auth.tokens else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let q = form_pairs(req.uri().query().unwrap_or(""));
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let user = match auth.check_basic(req.headers()).await {
        Credentials::Bad => return token_unauthorized("invalid username or password"),
        Credentials::None => None,
        Credentials::User(u) => Some(u),
    };
    let req = TokenRequest {
        user,
        scopes: q
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect(),
        service: get("service"),
        refresh: None,
        want_refresh: get("offline_token").as_deref() == Some("true"),
        oauth: false,
    };
    grant(&auth, t, req)
}

/// `POST /auth/token` (oauth.md): grant_type=password or refresh_token.
pub async fn token_post(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let Some(t) = &auth.tokens else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "body too large"),
    };
    let q = form_pairs(&String::from_utf8_lossy(&body));
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let scopes: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let (user, refresh) = match get("grant_type").as_deref() {
        Some("password") => {
            let (Some(u), Some(p)) = (get("username"), get("password")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                );
            };
            let ok = match &auth.htpasswd {
                Some(h) => h.verify(&u, &p).await,
                None => false,
            };
            if !ok {
                return token_unauthorized("invalid username or password");
            }
            (u, None)
        }
        Some("refresh_token") => {
            let Some(rt) = get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            match t.verify_refresh(&rt) {
                Ok(u) => (u, Some(rt)),
                Err(e) => return token_unauthorized(&format!("invalid refresh token: {e}")),
            }
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type {other:?} is not supported"),
            )
        }
    };
    let want_refresh = refresh.is_some() || get("access_type").as_deref() == Some("offline");
    let req = TokenRequest {
        user: Some(user),
        scopes,
        service: get("service"),
        refresh,
        want_refresh,
        oauth: true,
    };
    grant(&auth, t, req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("team/*", "team/x/y"));
        assert!(!glob_match("team/*", "other/x"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*/busybox", "lib/busybox"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    #[test]
    fn scopes() {
        let s = parse_scope("repository:a/b:pull,push").unwrap();
        assert_eq!(s.resource, Resource::Repository("a/b".into()));
        assert_eq!(s.actions, BTreeSet::from([Action::Pull, Action::Push]));
        let s = parse_scope("repository(plugin):p:pull").unwrap();
        assert_eq!(s.resource, Resource::Repository("p".into()));
        let s = parse_scope("registry:catalog:*").unwrap();
        assert_eq!(s.resource, Resource::Catalog);
        assert_eq!(s.actions, BTreeSet::from([Action::Catalog]));
        assert!(parse_scope("nonsense").is_none());
        assert_eq!(
            scope_string(
                &Resource::Repository("x".into()),
                &BTreeSet::from([Action::Push, Action::Pull])
            ),
            "repository:x:pull,push"
        );
    }

    #[test]
    fn policy_rules() {
        let p = Policy {
            anonymous_pull: true,
            rules: vec![],
        };
        let repo = Resource::Repository("x".into());
        assert_eq!(p.allowed(None, &repo), BTreeSet::from([Action::Pull]));
        assert!(p.allowed(None, &Resource::Catalog).is_empty());
        assert_eq!(p.allowed(Some("u"), &repo).len(), 3);
        assert!(p
            .allowed(Some("u"), &Resource::Catalog)
            .contains(&Action::Catalog));
        let p = Policy {
            anonymous_pull: false,
            rules: vec![
                AccessRule {
                    user: "alice".into(),
                    repository: "team/*".into(),
                    actions: vec![Action::Pull, Action::Push],
                },
                AccessRule {
                    user: "*".into(),
                    repository: "public/*".into(),
                    actions: vec![Action::Pull],
                },
            ],
        };
        let team = Resource::Repository("team/a".into());
        let public = Resource::Repository("public/a".into());
        assert_eq!(
            p.allowed(Some("alice"), &team),
            BTreeSet::from([Action::Pull, Action::Push])
        );
        assert!(p.allowed(Some("bob"), &team).is_empty());
        assert_eq!(
            p.allowed(Some("bob"), &public),
            BTreeSet::from([Action::Pull])
        );
        assert!(p.allowed(None, &public).is_empty());
        assert!(p.allowed(Some("alice"), &Resource::Catalog).is_empty());
    }

    #[test]
    fn htpasswd_rejects_other_hashes() {
        let f = Path::new("/etc/htpasswd");
        for line in [
            "u:$apr1$abc$def",
            "u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "u:plain",
            "nocolon",
        ] {
            let e = Htpasswd::parse(line, f).unwrap_err().to_string();
            assert!(e.contains("/etc/htpasswd") && e.contains("line 1"), "{e}");
        }
        let e = Htpasswd::parse("# c\nu:$apr1$abc$def", f)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("bcrypt"), "{e}");
    }

    #[tokio::test]
    async fn htpasswd_verifies_bcrypt() {
        let hash = bcrypt::hash("secret", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        let h = Arc::new(Htpasswd::parse(&format!("alice:{hash}\n"), Path::new("x")).unwrap());
        assert!(h.verify("alice", "secret").await);
        assert!(h.verify("alice", "secret").await); // cached
        assert!(!h.verify("alice", "wrong").await);
        assert!(!h.verify("bob", "secret").await);
    }

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(TokenConfig::default(), Path::new("/nonexistent")).unwrap()
    }

    #[test]
    fn jwt_roundtrip_and_rejections() {
        let t = issuer();
        let access = vec![AccessClaim {
            typ: "repository".into(),
            name: "a".into(),
            actions: vec!["pull".into()],
        }];
        let (tok, _) = t.issue("alice", access.clone());
        let c = t.verify(&tok).unwrap();
        assert_eq!(c.sub, "alice");
        assert!(c.grants(&Resource::Repository("a".into()), Action::Pull));
        assert!(!c.grants(&Resource::Repository("a".into()), Action::Push));
        // tampered payload
        let mut parts: Vec<String> = tok.split('.').map(str::to_string).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        claims["access"][0]["actions"] = serde_json::json!(["pull", "push"]);
        parts[1] = B64.encode(claims.to_string());
        assert_eq!(
            t.verify(&parts.join(".")).unwrap_err(),
            TokenError::Signature
        );
        // another key
        assert_eq!(issuer().verify(&tok).unwrap_err(), TokenError::Signature);
        // expired
        let (old, _) = t.issue_for("alice", access, Duration::ZERO);
        assert_eq!(t.verify(&old).unwrap_err(), TokenError::Expired);
        // refresh tokens are not access tokens and vice versa
        let rt = t.issue_refresh("alice");
        assert_eq!(t.verify(&rt).unwrap_err(), TokenError::WrongKind);
        assert_eq!(t.verify_refresh(&rt).unwrap(), "alice");
        assert_eq!(t.verify_refresh(&tok).unwrap_err(), TokenError::WrongKind);
        assert_eq!(t.verify("a.b").unwrap_err(), TokenError::Malformed);
    }

    #[test]
    fn persisted_key_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TokenConfig {
            persist_key: true,
            ..Default::default()
        };
        let a = TokenIssuer::new(cfg.clone(), dir.path()).unwrap();
        let (tok, _) = a.issue("u", vec![]);
        let b = TokenIssuer::new(cfg, dir.path()).unwrap();
        assert!(b.verify(&tok).is_ok());
    }

    #[test]
    fn mount_stripping() {
        let u: Uri = "/v2/a/blobs/uploads/?mount=sha256:x&from=b"
            .parse()
            .unwrap();
        assert_eq!(mount_source(&u).as_deref(), Some("b"));
        assert_eq!(strip_mount(&u).unwrap().to_string(), "/v2/a/blobs/uploads/");
    }
}

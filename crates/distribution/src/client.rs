//! The HTTP client: per-host TLS settings and scheme, the `/v2/` ping, auth
//! challenges and the token cache, and error-response decoding.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::auth::{parse_challenges, CachedToken, Challenge, Credentials, TokenResponse};
use crate::error::{body_message, parse_spec_errors, Error};
use crate::repository::Repository;

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// daemon.json "insecure-registries": "host:port", "host" or CIDR ("10.0.0.0/8").
    /// These (and loopback registries) may be reached over plain HTTP, and their TLS
    /// certificates are not verified.
    pub insecure_registries: Vec<String>,
    /// Docker's certs.d: `<dir>/<host[:port]>/*.crt` are extra roots,
    /// `*.cert` + `*.key` a client certificate (mTLS). None = no custom CAs.
    pub certs_dir: Option<PathBuf>,
    /// The `User-Agent` of every request.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            insecure_registries: Vec::new(),
            certs_dir: None,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// How many times an idempotent request is retried on a transport error, 5xx or 429.
pub const MAX_RETRIES: u32 = 5;
/// Largest error or token body read into memory.
const MAX_SMALL_BODY: u64 = 1 << 20;
/// The `client_id` sent to token servers (token spec).
const CLIENT_ID: &str = "berth";

/// The registry client. Cheap to clone (an `Arc`), `Send + Sync`; caches per host the
/// scheme (HTTPS or, for insecure registries, HTTP), the auth challenge and tokens.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
    insecure_nets: Vec<ipnet::IpNet>,
    insecure_names: Vec<String>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    /// Bearer tokens by realm, service, scopes and credentials.
    tokens: Mutex<HashMap<String, CachedToken>>,
}

/// One registry or token-server host.
pub(crate) struct Host {
    /// `host[:port]` as it goes into URLs ("registry-1.docker.io", "[::1]:5000").
    pub name: String,
    http: reqwest::Client,
    insecure: bool,
    /// The base URL (`https://host/` or `http://host/`), found by the first ping.
    base: tokio::sync::OnceCell<Url>,
    /// The last challenge the registry answered with; None = no auth asked so far.
    challenge: Mutex<Option<Challenge>>,
}

/// Who is asking, for what: the scopes requested with bearer tokens.
#[derive(Clone, Debug)]
pub(crate) struct AuthCtx {
    /// The registry as the user wrote it, for messages.
    pub registry: String,
    pub creds: Credentials,
    pub scopes: Vec<String>,
}

/// A request body that can be made again (for the retry after a 401).
pub(crate) type BodyFn<'a> = &'a (dyn Fn() -> Result<reqwest::Body, Error> + Send + Sync);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// "docker.io" and "index.docker.io" -> "registry-1.docker.io"; others unchanged.
pub fn registry_host(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "registry-1.docker.io".to_string()
        }
        other => other.to_string(),
    }
}

/// The name to put in `docker login <name>` hints ("" for Docker Hub).
pub(crate) fn login_hint(registry: &str) -> String {
    if registry_host(registry) == "registry-1.docker.io" {
        "run `docker login`".to_string()
    } else {
        format!("run `docker login {registry}`")
    }
}

/// Split "host:port", "[::1]:5000", "host" into the host (without brackets) and port.
pub(crate) fn split_host_port(registry: &str) -> Result<(String, Option<u16>), Error> {
    let bad = |reason: &str| Error::invalid(format!("registry {registry:?}"), reason);
    if registry.is_empty() {
        return Err(bad("empty registry name"));
    }
    if registry.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad("a registry is host[:port]"));
    }
    if let Some(rest) = registry.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address in brackets"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad("bad port"))?,
            ),
        };
        return Ok((h.to_string(), port));
    }
    if registry.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((registry.to_string(), None));
    }
    match registry.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse().map_err(|_| bad("bad port"))?;
            if h.is_empty() {
                return Err(bad("empty host"));
            }
            Ok((h.to_string(), Some(port)))
        }
        None => Ok((registry.to_string(), None)),
    }
}

impl Client {
    /// A client with the given settings. Fails on a malformed insecure-registries entry.
    pub fn new(cfg: ClientConfig) -> Result<Client, Error> {
        let mut insecure_nets = Vec::new();
        let mut insecure_names = Vec::new();
        for entry in &cfg.insecure_registries {
            let e = entry
                .trim()
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            if e.contains('/') {
                let net: ipnet::IpNet = e.parse().map_err(|_| {
                    Error::invalid(
                        format!("insecure registry {entry:?}"),
                        "not host[:port] or a CIDR",
                    )
                })?;
                insecure_nets.push(net);
            } else if !e.is_empty() {
                insecure_names.push(e.to_ascii_lowercase());
            }
        }
        Ok(Client {
            inner: Arc::new(Inner {
                cfg,
                insecure_nets,
                insecure_names,
                hosts: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// True if `registry` ("host[:port]") is loopback or listed as insecure: plain HTTP
    /// is allowed after HTTPS fails, and TLS certificates are not verified.
    /// CIDR entries match literal IP addresses only (no DNS lookup).
    pub fn is_insecure(&self, registry: &str) -> bool {
        let Ok((host, _)) = split_host_port(registry) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        let reg = registry.to_ascii_lowercase();
        if self
            .inner
            .insecure_names
            .iter()
            .any(|n| *n == reg || *n == host)
        {
            return true;
        }
        ip.is_some_and(|ip| self.inner.insecure_nets.iter().any(|n| n.contains(&ip)))
    }

    /// The cached per-host state, creating its HTTP client on first use.
    pub(crate) fn host(&self, registry: &str) -> Result<Arc<Host>, Error> {
        let name = registry_host(registry);
        // Validates the name; brackets IPv6 literals for URLs.
        let (h, port) = split_host_port(&name)?;
        let url_name = match (h.contains(':'), port) {
            (true, Some(p)) => format!("[{h}]:{p}"),
            (true, None) => format!("[{h}]"),
            (false, Some(p)) => format!("{h}:{p}"),
            (false, None) => h.clone(),
        };
        if let Some(host) = lock(&self.inner.hosts).get(&url_name) {
            return Ok(host.clone());
        }
        let insecure = self.is_insecure(registry) || self.is_insecure(&url_name);
        let http = self.build_http(&[registry, &url_name], insecure)?;
        let host = Arc::new(Host {
            name: url_name.clone(),
            http,
            insecure,
            base: tokio::sync::OnceCell::new(),
            challenge: Mutex::new(None),
        });
        Ok(lock(&self.inner.hosts)
            .entry(url_name)
            .or_insert(host)
            .clone())
    }

    fn build_http(&self, names: &[&str], insecure: bool) -> Result<reqwest::Client, Error> {
        let mut b = reqwest::Client::builder()
            .user_agent(self.inner.cfg.user_agent.clone())
            .connect_timeout(Duration::from_secs(30))
            // A stalled transfer fails (and is retried/resumed) instead of hanging.
            .read_timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(60))
            .use_rustls_tls();
        if insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(dir) = &self.inner.cfg.certs_dir {
            let mut seen = Vec::new();
            for n in names {
                if seen.contains(n) {
                    continue;
                }
                seen.push(n);
                let d = dir.join(n);
                if d.is_dir() {
                    b = add_certs_dir(b, &d)?;
                }
            }
        }
        b.build().map_err(|e| Error::Setup {
            context: format!("HTTP client for {}", names.first().copied().unwrap_or("")),
            source: Box::new(e),
        })
    }

    /// The base URL of `host`, pinging `/v2/` on first use: HTTPS, then (insecure
    /// registries only) HTTP if HTTPS could not connect. Records the challenge.
    pub(crate) async fn base_url(&self, host: &Host, registry: &str) -> Result<Url, Error> {
        let base = host
            .base
            .get_or_try_init(|| async {
                let schemes: &[&str] = if host.insecure {
                    &["https", "http"]
                } else {
                    &["https"]
                };
                let mut last = None;
                for scheme in schemes {
                    let base = Url::parse(&format!("{scheme}://{}/", host.name)).map_err(|e| {
                        Error::invalid(format!("registry {registry:?}"), e.to_string())
                    })?;
                    let ping = base.join("v2/").map_err(|e| {
                        Error::invalid(format!("registry {registry:?}"), e.to_string())
                    })?;
                    match host.http.get(ping.clone()).send().await {
                        Ok(resp) => {
                            tracing::debug!(registry, %base, status = %resp.status(), "registry ping");
                            if resp.status() == StatusCode::UNAUTHORIZED {
                                host.record_challenge(resp.headers());
                            }
                            return Ok(base);
                        }
                        Err(source) => {
                            tracing::debug!(registry, %ping, error = %source, "registry ping failed");
                            last = Some(Error::Http {
                                registry: registry.to_string(),
                                url: ping.to_string(),
                                source,
                            });
                        }
                    }
                }
                Err(last.unwrap_or_else(|| Error::invalid(registry, "no scheme to try")))
            })
            .await?;
        Ok(base.clone())
    }

    /// A handle on one repository ("library/busybox") of `registry` with the given
    /// credentials; `push` asks for `pull,push` scope instead of `pull`.
    pub fn repository(
        &self,
        registry: &str,
        path: &str,
        creds: Credentials,
        push: bool,
    ) -> Repository {
        Repository::new(self.clone(), registry, path, creds, push)
    }

    /// Checks credentials against `GET /v2/` of `registry` ("docker.io",
    /// "localhost:5000", "[::1]:5000"), following the Basic or Bearer challenge.
    /// Returns the identity token if the token server gave a `refresh_token`
    /// (store it instead of the password); bad credentials -> [`Error::Unauthorized`].
    pub async fn login(
        &self,
        registry: &str,
        creds: &Credentials,
    ) -> Result<Option<String>, Error> {
        let host = self.host(registry)?;
        let base = self.base_url(&host, registry).await?;
        let v2 = join(&base, "v2/", registry)?;
        let challenge = lock(&host.challenge).clone();
        let (auth, refresh) = match (&challenge, creds) {
            (_, Credentials::RegistryToken(t)) => (Some(format!("Bearer {t}")), None),
            (None, _) => (None, None),
            (Some(Challenge::Basic), Credentials::Basic { username, password }) => {
                (Some(Credentials::basic_header(username, password)), None)
            }
            (Some(Challenge::Basic), _) => {
                return Err(Error::Unauthorized {
                    registry: registry.to_string(),
                    message: format!("{registry} requires a username and password"),
                })
            }
            (
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }),
                _,
            ) => {
                let scopes: Vec<String> = scope.iter().cloned().collect();
                let (tok, refresh) = self
                    .fetch_token(registry, realm, service.as_deref(), &scopes, creds, true)
                    .await?;
                (Some(format!("Bearer {}", tok.token)), refresh)
            }
        };
        let mut req = host.http.get(v2.clone());
        if let Some(a) = &auth {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req.send().await.map_err(|source| Error::Http {
            registry: registry.to_string(),
            url: v2.to_string(),
            source,
        })?;
        match resp.status() {
            s if s.is_success() => Ok(refresh),
            StatusCode::UNAUTHORIZED => {
                let body = read_small(resp).await;
                let errors = parse_spec_errors(&body);
                let msg = body_message(&errors, &body);
                Err(Error::Unauthorized {
                    registry: registry.to_string(),
                    message: if creds.is_anonymous() {
                        format!("authentication required; {}", login_hint(registry))
                    } else if msg.is_empty() {
                        "incorrect username or password".to_string()
                    } else {
                        format!("incorrect username or password ({msg})")
                    },
                })
            }
            _ => Err(error_from_response(resp, registry, &creds.clone(), || {
                format!("registry {registry}")
            })
            .await),
        }
    }

    /// Send a request to the registry with auth: the cached token or basic header
    /// first, and on a 401 with a (new) challenge, fresh auth and one retry.
    /// Transport errors become [`Error::Http`]; any status is returned to the caller.
    pub(crate) async fn send(
        &self,
        host: &Host,
        ctx: &AuthCtx,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<BodyFn<'_>>,
    ) -> Result<reqwest::Response, Error> {
        let mut auth = self.authorization(host, ctx, false).await?;
        let mut retried = false;
        loop {
            let mut req = host
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(a) = &auth {
                req = req.header(AUTHORIZATION, a);
            }
            if let Some(b) = body {
                req = req.body(b()?);
            }
            let resp = req.send().await.map_err(|source| Error::Http {
                registry: ctx.registry.clone(),
                url: strip_query(&url),
                source,
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            if !host.record_challenge(resp.headers()) {
                return Ok(resp);
            }
            let fresh = self.authorization(host, ctx, true).await?;
            let basic = matches!(lock(&host.challenge).as_ref(), Some(Challenge::Basic));
            if fresh.is_none()
                || (basic && fresh == auth)
                || matches!(ctx.creds, Credentials::RegistryToken(_))
            {
                // Nothing new to offer: let the caller report the 401.
                return Ok(resp);
            }
            auth = fresh;
            retried = true;
        }
    }

    /// The `Authorization` value for a request to `host`, from the known challenge.
    async fn authorization(
        &self,
        host: &Host,
        ctx: &AuthCtx,
        force: bool,
    ) -> Result<Option<String>, Error> {
        if let Credentials::RegistryToken(t) = &ctx.creds {
            return Ok(Some(format!("Bearer {t}")));
        }
        let challenge = lock(&host.challenge).clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(match &ctx.creds {
                Credentials::Basic { username, password } => {
                    Some(Credentials::basic_header(username, password))
                }
                _ => None,
            }),
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scopes: Vec<String> = if ctx.scopes.is_empty() {
                    scope.into_iter().collect()
                } else {
                    ctx.scopes.clone()
                };
                let key = format!(
                    "{realm}|{}|{}|{}",
                    service.as_deref().unwrap_or(""),
                    scopes.join(" "),
                    ctx.creds.cache_key()
                );
                if !force {
                    if let Some(t) = lock(&self.inner.tokens).get(&key) {
                        if t.expires > Instant::now() {
                            return Ok(Some(format!("Bearer {}", t.token)));
                        }
                    }
                }
                let (tok, _) = self
                    .fetch_token(
                        &ctx.registry,
                        &realm,
                        service.as_deref(),
                        &scopes,
                        &ctx.creds,
                        false,
                    )
                    .await?;
                let value = format!("Bearer {}", tok.token);
                let mut tokens = lock(&self.inner.tokens);
                if tokens.len() >= 256 {
                    let now = Instant::now();
                    tokens.retain(|_, t| t.expires > now);
                }
                tokens.insert(key, tok);
                Ok(Some(value))
            }
        }
    }

    /// Ask the token server at `realm` for a token (token spec): GET with Basic
    /// credentials or anonymously, or POST `grant_type=refresh_token` for an
    /// identity token. `offline` asks for a refresh token (login).
    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: &Credentials,
        offline: bool,
    ) -> Result<(CachedToken, Option<String>), Error> {
        let mut url = Url::parse(realm).map_err(|e| Error::InvalidResponse {
            registry: registry.to_string(),
            what: "token realm".into(),
            reason: format!("{realm:?}: {e}"),
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Error::InvalidResponse {
                registry: registry.to_string(),
                what: "token realm".into(),
                reason: format!("{realm:?} is not an http(s) URL"),
            });
        }
        let realm_host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(Error::InvalidResponse {
                    registry: registry.to_string(),
                    what: "token realm".into(),
                    reason: format!("{realm:?} has no host"),
                })
            }
        };
        let http = self.host(&realm_host)?.http.clone();
        let started = Instant::now();
        let req = match creds {
            Credentials::IdentityToken(refresh) => {
                let mut form: Vec<(&str, String)> = vec![
                    ("grant_type", "refresh_token".into()),
                    ("refresh_token", refresh.clone()),
                    ("client_id", CLIENT_ID.into()),
                ];
                if let Some(s) = service {
                    form.push(("service", s.into()));
                }
                if !scopes.is_empty() {
                    form.push(("scope", scopes.join(" ")));
                }
                if offline {
                    form.push(("access_type", "offline".into()));
                }
                http.post(url.clone()).form(&form)
            }
            _ => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in scopes {
                        q.append_pair("scope", s);
                    }
                    if offline {
                        q.append_pair("offline_token", "true");
                        q.append_pair("client_id", CLIENT_ID);
                    }
                }
                let mut r = http.get(url.clone());
                if let Credentials::Basic { username, password } = creds {
                    r = r.header(AUTHORIZATION, Credentials::basic_header(username, password));
                }
                r
            }
        };
        let resp = req.send().await.map_err(|source| Error::Http {
            registry: registry.to_string(),
            url: strip_query(&url),
            source,
        })?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let body = read_small(resp).await;
            let msg = body_message(&parse_spec_errors(&body), &body);
            tracing::debug!(registry, realm, %status, msg, "token server refused");
            return Err(Error::Unauthorized {
                registry: registry.to_string(),
                message: if creds.is_anonymous() {
                    format!("authentication required; {}", login_hint(registry))
                } else {
                    format!("incorrect username or password; {}", login_hint(registry))
                },
            });
        }
        if !status.is_success() {
            return Err(error_from_response(resp, registry, creds, || {
                format!("token server {realm}")
            })
            .await);
        }
        let body = read_capped(resp, MAX_SMALL_BODY, registry, "token response").await?;
        let tr: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
                registry: registry.to_string(),
                what: "token response".into(),
                reason: e.to_string(),
            })?;
        tr.into_cached(started)
            .ok_or_else(|| Error::InvalidResponse {
                registry: registry.to_string(),
                what: "token response".into(),
                reason: "no token or access_token".into(),
            })
    }
}

impl Host {
    /// Remember the challenge of a 401 response. True if there is one.
    fn record_challenge(&self, headers: &HeaderMap) -> bool {
        let values = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let challenges = parse_challenges(values);
        match challenges.into_iter().next() {
            Some(c) => {
                *lock(&self.challenge) = Some(c);
                true
            }
            None => false,
        }
    }
}

/// Add a certs.d host directory: `*.crt` as roots, `*.cert`/`*.key` pairs as identity.
fn add_certs_dir(
    mut b: reqwest::ClientBuilder,
    dir: &Path,
) -> Result<reqwest::ClientBuilder, Error> {
    let setup = |context: String, e: Box<dyn std::error::Error + Send + Sync>| Error::Setup {
        context,
        source: e,
    };
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(format!("read {}", dir.display()), e))?;
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in &files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "crt" => {
                let pem =
                    std::fs::read(f).map_err(|e| Error::io(format!("read {}", f.display()), e))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| setup(format!("CA certificate {}", f.display()), Box::new(e)))?;
                for c in certs {
                    b = b.add_root_certificate(c);
                }
                tracing::debug!(file = %f.display(), "registry CA added");
            }
            "cert" => {
                let key = f.with_extension("key");
                if !key.exists() {
                    return Err(setup(
                        format!("client certificate {}", f.display()),
                        format!("missing key {}", key.display()).into(),
                    ));
                }
                let mut pem =
                    std::fs::read(f).map_err(|e| Error::io(format!("read {}", f.display()), e))?;
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(&key)
                        .map_err(|e| Error::io(format!("read {}", key.display()), e))?,
                );
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    setup(format!("client certificate {}", f.display()), Box::new(e))
                })?;
                b = b.identity(id);
                tracing::debug!(file = %f.display(), "registry client certificate added");
            }
            "key" if !f.with_extension("cert").exists() => {
                return Err(setup(
                    format!("client key {}", f.display()),
                    format!("missing certificate {}", f.with_extension("cert").display()).into(),
                ));
            }
            _ => {}
        }
    }
    Ok(b)
}

pub(crate) fn join(base: &Url, path: &str, registry: &str) -> Result<Url, Error> {
    base.join(path)
        .map_err(|e| Error::invalid(format!("{registry}/{path}"), e.to_string()))
}

/// The URL without its query (upload URLs carry state and sometimes signatures).
pub(crate) fn strip_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Read at most [`MAX_SMALL_BODY`] of an error body; errors become an empty body.
pub(crate) async fn read_small(resp: reqwest::Response) -> Bytes {
    read_capped(resp, MAX_SMALL_BODY, "", "")
        .await
        .unwrap_or_default()
}

/// Read a body into memory, refusing more than `limit` bytes.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
    registry: &str,
    what: &str,
) -> Result<Bytes, Error> {
    let too_large = || Error::TooLarge {
        what: what.to_string(),
        limit,
    };
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let url = strip_query(resp.url());
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| Error::Http {
        registry: registry.to_string(),
        url: url.clone(),
        source,
    })? {
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Turn a non-success response into an [`Error`], reading its spec error body.
/// `what` names the object for 404s ("manifest for localhost:5000/x:latest").
pub(crate) async fn error_from_response(
    resp: reqwest::Response,
    registry: &str,
    creds: &Credentials,
    what: impl FnOnce() -> String,
) -> Error {
    let status = resp.status();
    let body = read_small(resp).await;
    let errors = parse_spec_errors(&body);
    let message = body_message(&errors, &body);
    let code = errors
        .first()
        .map(|e| e.code.clone())
        .filter(|c| !c.is_empty());
    let not_found_code = matches!(
        code.as_deref(),
        Some("MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN" | "BLOB_UPLOAD_UNKNOWN")
    );
    match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized {
            registry: registry.to_string(),
            message: {
                let m = if message.is_empty() {
                    "authentication required".to_string()
                } else {
                    message
                };
                if creds.is_anonymous() {
                    format!("{m}; {}", login_hint(registry))
                } else {
                    format!("{m}; check the credentials ({})", login_hint(registry))
                }
            },
        },
        StatusCode::FORBIDDEN => Error::Denied {
            registry: registry.to_string(),
            message: if message.is_empty() {
                "requested access to the resource is denied".to_string()
            } else {
                message
            },
        },
        _ if status == StatusCode::NOT_FOUND || not_found_code => Error::NotFound {
            what: what(),
            message: if message.is_empty() {
                code.map(|c| c.to_lowercase().replace('_', " "))
                    .unwrap_or_else(|| "not found".to_string())
            } else {
                message
            },
        },
        _ => Error::Registry {
            registry: registry.to_string(),
            status: status.as_u16(),
            code,
            message,
        },
    }
}

/// A header value from a string we built (never fails for our ASCII values).
pub(crate) fn header_value(s: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(s)
        .map_err(|e| Error::invalid(format!("header value {s:?}"), e.to_string()))
}

/// Sleep before retry `attempt` (0-based): 200 ms doubling, at most 5 s.
pub(crate) async fn backoff(attempt: u32) {
    let ms = 200u64.saturating_mul(1 << attempt.min(5)).min(5000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Run `f` again after transient failures (transport errors, 5xx, 429), at most
/// [`MAX_RETRIES`] times, with backoff. For idempotent requests only.
pub(crate) async fn retry<T, F, Fut>(what: &str, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if e.is_transient() && attempt < MAX_RETRIES => {
                tracing::debug!(what, attempt, error = %e, "retrying");
                backoff(attempt).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("localhost:5000"), "localhost:5000");
        assert_eq!(
            split_host_port("[::1]:5000").unwrap(),
            ("::1".into(), Some(5000))
        );
        assert_eq!(
            split_host_port("localhost:5000").unwrap(),
            ("localhost".into(), Some(5000))
        );
        assert_eq!(
            split_host_port("example.com").unwrap(),
            ("example.com".into(), None)
        );
        assert!(split_host_port("a/b").is_err());
        assert!(split_host_port("h:x").is_err());
        assert!(split_host_port("[::1").is_err());
    }

    #[test]
    fn insecure_matching() {
        let c = Client::new(ClientConfig {
            insecure_registries: vec!["myreg:5000".into(), "other".into(), "10.0.0.0/8".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.5"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("myreg:5000"));
        assert!(!c.is_insecure("myreg:5001"));
        assert!(c.is_insecure("other:1234"));
        assert!(c.is_insecure("10.1.2.3:5000"));
        assert!(!c.is_insecure("11.1.2.3:5000"));
        assert!(!c.is_insecure("docker.io"));
        assert!(Client::new(ClientConfig {
            insecure_registries: vec!["10.0.0.0/99".into()],
            ..Default::default()
        })
        .is_err());
    }
}

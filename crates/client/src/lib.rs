#![forbid(unsafe_code)]
//! An async Docker Engine API client, typed on the same [`engine_types`]
//! models the daemon serves.
//!
//! Two layers:
//! - typed methods that send and decode `engine_types::models`: containers
//!   ([`Client::container_create`], [`Client::container_list`], ...), exec
//!   ([`Client::exec_create`], ...), images, networks
//!   ([`Client::network_create`], ...), volumes ([`Client::volume_create`],
//!   ...) and the system ([`Client::system_info`], [`Client::events`]), with
//!   generic [`Client::get_json`] / [`Client::post_json`] for the rest;
//! - a raw layer ([`Client::request`], [`Client::hijack`], [`body_stream`])
//!   for byte-exact passthrough: `inspect` prints the daemon's JSON as sent,
//!   attach/exec take over the upgraded connection, logs and pulls stream,
//!   `run` needs to know its wait request reached the daemon
//!   ([`ReqOpts::sent`]).
//!
//! Each request uses a fresh connection, so nothing long-lived (a wait, an
//! attach, a log follow) holds up other calls. There is no client-side
//! timeout for the same reason.

mod conn;
mod error;
mod exec;
mod networks;
mod typed;
mod volumes;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use conn::{Conn, Host, DEFAULT_HOST};
pub use engine_types::models;
pub use error::{DaemonError, Error, Result};
pub use networks::NetworkInspectOptions;
pub use typed::{
    ContainerListOptions, CreateOptions, EventsOptions, ImageListOptions, LogsOptions,
    RemoveOptions,
};

/// Highest API version this client speaks.
pub const MAX_API_VERSION: (u32, u32) = (1, 51);
/// The version assumed when a daemon's `/_ping` names none (docker's fallback).
pub const FALLBACK_API_VERSION: (u32, u32) = (1, 24);

/// Request body type of the raw layer.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A hijacked (upgraded) connection: raw bytes both ways.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Options of [`Client::request`].
#[derive(Default)]
pub struct ReqOpts<'a> {
    /// Content-Type of the body.
    pub content_type: Option<&'a str>,
    /// Ask for a connection upgrade (hijack).
    pub upgrade: bool,
    /// Fires once the request head reached the daemon's socket.
    pub sent: Option<tokio::sync::oneshot::Sender<()>>,
    /// Extra headers, e.g. X-Registry-Auth.
    pub headers: Vec<(&'static str, String)>,
}

/// What `GET /_ping` told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    /// The `Api-Version` header: the highest version the daemon speaks.
    pub api_version: Option<String>,
    /// The `OSType` header.
    pub os_type: Option<String>,
}

/// A client bound to one daemon with a negotiated API version.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    version: (u32, u32),
}

/// Empty request body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A complete request body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON request body.
pub fn json_body<T: Serialize + ?Sized>(v: &T) -> Result<Body> {
    Ok(full(serde_json::to_vec(v).map_err(Error::Encode)?))
}

/// A streaming request body.
pub fn stream_body<S>(s: S) -> Body
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    BodyExt::boxed_unsync(StreamBody::new(s.map(|r| r.map(Frame::data))))
}

/// Percent-encodes a path segment or query component.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes an image reference for a path, keeping the `/`, `:`
/// and `@` that separate its parts.
pub fn enc_ref(s: &str) -> String {
    s.split('/')
        .map(|seg| {
            seg.split('@')
                .map(|p| p.split(':').map(enc).collect::<Vec<_>>().join(":"))
                .collect::<Vec<_>>()
                .join("@")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Builds a query string ("?a=1&b=2", or "" when empty).
pub fn query(params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

/// The API version both sides speak: ours, or the daemon's when it is older
/// (docker's negotiation); [`FALLBACK_API_VERSION`] when it names none.
pub fn negotiate(server: Option<&str>) -> (u32, u32) {
    let server = match server {
        None => FALLBACK_API_VERSION,
        Some(s) => match engine_types::parse_api_version(s) {
            Some(v) => v,
            None => {
                tracing::debug!(version = s, "unparsable daemon API version; using ours");
                MAX_API_VERSION
            }
        },
    };
    server.min(MAX_API_VERSION)
}

/// Sends one request on a fresh connection.
async fn send_on(
    host: &Host,
    req: Request<Body>,
    sent: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<Response<Incoming>> {
    let conn = conn::Notifying {
        inner: Conn::dial(host).await?,
        tx: sent,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(Error::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "daemon connection ended with an error");
        }
    });
    sender.send_request(req).await.map_err(Error::Send)
}

impl Client {
    /// Connects to `host`: pings it and negotiates the API version.
    pub async fn connect(host: Host) -> Result<Client> {
        let ping = Self::ping_host(&host).await?;
        let version = negotiate(ping.api_version.as_deref());
        tracing::debug!(%host, api = ?version, "negotiated API version");
        Ok(Client { host, version })
    }

    /// A client for `host` at a fixed API version, without a ping.
    pub fn with_version(host: Host, version: (u32, u32)) -> Client {
        Client { host, version }
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The negotiated API version as (major, minor).
    pub fn api_version_num(&self) -> (u32, u32) {
        self.version
    }

    /// The negotiated API version, e.g. "1.51".
    pub fn api_version(&self) -> String {
        format!("{}.{}", self.version.0, self.version.1)
    }

    async fn ping_host(host: &Host) -> Result<Ping> {
        let req = Request::builder()
            .method(Method::GET)
            .uri("/_ping")
            .header("Host", "api.moby.localhost")
            .body(empty())?;
        // Any answer counts: a daemon in trouble still names its version.
        let resp = send_on(host, req, None).await.map_err(|e| match e {
            // A socket that accepts but does not speak HTTP is no daemon.
            Error::Handshake(_) | Error::Send(_) => Error::Connect {
                host: host.to_string(),
                cause: std::io::Error::other(e.to_string()),
            },
            e => e,
        })?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(Ping {
            api_version: header("api-version"),
            os_type: header("ostype"),
        })
    }

    /// `GET /_ping`.
    pub async fn ping(&self) -> Result<Ping> {
        Self::ping_host(&self.host).await
    }

    /// Sends a request; `path` is relative to the versioned API root
    /// ("/containers/json"). Returns the response whatever its status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        opts: ReqOpts<'_>,
    ) -> Result<Response<Incoming>> {
        let ReqOpts {
            content_type,
            upgrade,
            sent,
            headers,
        } = opts;
        let uri = format!("/v{}{}", self.api_version(), path);
        tracing::trace!(%method, %uri, "request");
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "api.moby.localhost")
            .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if upgrade {
            req = req.header("Connection", "Upgrade").header("Upgrade", "tcp");
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        send_on(&self.host, req.body(body)?, sent).await
    }

    /// Sends a request and turns error statuses into [`Error::Daemon`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let opts = ReqOpts {
            content_type,
            ..Default::default()
        };
        check(self.request(method, path, body, opts).await?).await
    }

    /// A bodyless request whose answer is of no interest (start, pause, ...).
    pub async fn call_empty(&self, method: Method, path: &str) -> Result<()> {
        let resp = self.call(method, path, None, empty()).await?;
        // Drain, so the daemon's write does not fail on a closed socket.
        collect(resp).await.map(drop)
    }

    /// GET returning the raw body bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes> {
        collect(self.call(Method::GET, path, None, empty()).await?).await
    }

    /// GET returning decoded JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        decode(&self.get_bytes(path).await?)
    }

    /// POST with a JSON body, returning decoded JSON (an empty answer
    /// decodes as JSON `null`, so `()`, `Option<_>` and `Value` accept it).
    pub async fn post_json<B, T>(&self, path: &str, body: &B) -> Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let resp = self
            .call(
                Method::POST,
                path,
                Some("application/json"),
                json_body(body)?,
            )
            .await?;
        decode_or_null(&collect(resp).await?)
    }

    /// POST without a body, returning decoded JSON (see [`Client::post_json`]).
    pub async fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.call(Method::POST, path, None, empty()).await?;
        decode_or_null(&collect(resp).await?)
    }

    /// Opens a hijacked (upgraded) connection, e.g. for attach or exec
    /// start; `body` is sent as JSON.
    pub async fn hijack<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<Upgraded> {
        let (ct, b) = match body {
            Some(v) => ("application/json", json_body(v)?),
            None => ("text/plain", empty()),
        };
        let opts = ReqOpts {
            content_type: Some(ct),
            upgrade: true,
            ..Default::default()
        };
        let resp = check(self.request(Method::POST, path, b, opts).await?).await?;
        let upgraded = hyper::upgrade::on(resp).await.map_err(Error::Upgrade)?;
        Ok(TokioIo::new(upgraded))
    }
}

/// Reads a whole response body.
pub async fn collect(resp: Response<Incoming>) -> Result<Bytes> {
    Ok(resp
        .into_body()
        .collect()
        .await
        .map_err(Error::Body)?
        .to_bytes())
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(Error::Decode)
}

fn decode_or_null<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return T::deserialize(serde_json::Value::Null).map_err(Error::Decode);
    }
    decode(b)
}

/// The message of an error response body: Docker's `{"message": ...}`
/// (any case of the key), else the body's text, else the status's reason.
pub fn error_message(status: StatusCode, body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::Object(m) => m
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("message"))
                .and_then(|(_, v)| v.as_str().map(str::to_string)),
            _ => None,
        });
    let message = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    if message.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_string()
    } else {
        message
    }
}

/// Passes 1xx-3xx responses through; turns the others into
/// [`Error::Daemon`] with the daemon's message.
pub async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success() || status.is_informational() || status.is_redirection() {
        return Ok(resp);
    }
    // A body we cannot read still leaves the status to report.
    let body = collect(resp).await.unwrap_or_default();
    let message = error_message(status, &body);
    tracing::debug!(status = status.as_u16(), %message, "daemon error");
    Err(DaemonError {
        status: status.as_u16(),
        message,
    }
    .into())
}

/// Streams a response body as byte chunks.
pub fn body_stream(resp: Response<Incoming>) -> impl Stream<Item = Result<Bytes>> {
    http_body_util::BodyStream::new(resp.into_body()).filter_map(|r| async move {
        match r {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(Error::Body(e))),
        }
    })
}

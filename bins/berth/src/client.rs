//! Connection to the daemon: host selection, API version negotiation, a
//! `bollard::Docker` for typed calls and a small raw HTTP/1.1 client (hyper)
//! used by most commands.
//!
//! Why most calls go through the raw client rather than bollard's typed API:
//! - `inspect` must print the daemon's JSON as sent (field order, nulls,
//!   fields bollard's models do not know), like docker does;
//! - attach/exec need exact stdcopy demultiplexing chosen by the container's
//!   tty setting (bollard's decoder guesses per chunk) and a half-close of
//!   the hijacked connection at stdin EOF;
//! - `run` must know that the wait request reached the daemon before it
//!   starts the container ([`ReqOpts::sent`]);
//! - import/load/build stream request bodies and pull/push send
//!   X-Registry-Auth;
//! - typed models reject values a young daemon may still send differently.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use gotemplate::JsonExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// Highest API version this client speaks.
pub const MAX_API_VERSION: (u32, u32) = (1, 51);
/// Default daemon socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Request body type of the raw client.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(String),
    Tcp(String),
}

impl Host {
    /// Parses `unix:///path`, `tcp://host:port` (or a bare absolute socket path).
    pub fn parse(s: &str) -> Result<Host> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                bail!("invalid host {s:?}: empty socket path");
            }
            Ok(Host::Unix(p.to_string()))
        } else if let Some(a) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                bail!("invalid host {s:?}: empty address");
            }
            let a = if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:2375")
            };
            Ok(Host::Tcp(a))
        } else if s.starts_with('/') {
            Ok(Host::Unix(s.to_string()))
        } else {
            bail!("invalid host {s:?}: use unix:///path or tcp://host:port")
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{p}"),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// An error response from the daemon, printed like docker does.
#[derive(Debug)]
pub struct DaemonError {
    pub status: u16,
    pub message: String,
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for DaemonError {}

/// Returns the daemon error inside `e`, if it is one.
pub fn daemon_error(e: &anyhow::Error) -> Option<&DaemonError> {
    e.downcast_ref::<DaemonError>()
}

/// Converts a bollard error into our error type (daemon errors keep their
/// status code and message).
pub fn from_bollard(e: bollard::errors::Error) -> anyhow::Error {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => anyhow::Error::new(DaemonError {
            status: status_code,
            message,
        }),
        bollard::errors::Error::DockerStreamError { error } => anyhow!("{error}"),
        other => anyhow!(other),
    }
}

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

/// A connected client with a negotiated API version.
#[derive(Clone)]
pub struct Client {
    pub host: Host,
    pub docker: bollard::Docker,
    /// Negotiated version, e.g. "1.51".
    pub version: String,
}

/// Either connection kind, as one AsyncRead + AsyncWrite type.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Wraps a connection and fires `tx` after the first successful write,
/// i.e. once the request head has reached the daemon's socket.
pub struct Notifying {
    inner: Conn,
    tx: Option<tokio::sync::oneshot::Sender<()>>,
}

impl AsyncRead for Notifying {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Notifying {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(_)) = &r {
            if let Some(tx) = this.tx.take() {
                let _ = tx.send(());
            }
        }
        r
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn dial(host: &Host) -> std::io::Result<Conn> {
    match host {
        Host::Unix(p) => Ok(Conn::Unix(UnixStream::connect(p).await?)),
        Host::Tcp(a) => Ok(Conn::Tcp(TcpStream::connect(a).await?)),
    }
}

fn cannot_connect(host: &Host) -> anyhow::Error {
    anyhow!("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")
}

/// Pings the daemon (`GET /_ping`) and returns its `Api-Version` header.
pub async fn ping(host: &Host) -> Result<Option<String>> {
    let conn = dial(host).await.map_err(|_| cannot_connect(host))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(|_| cannot_connect(host))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let req = Request::builder()
        .method(Method::GET)
        .uri("/_ping")
        .header("Host", "api.moby.localhost")
        .body(empty())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|_| cannot_connect(host))?;
    Ok(resp
        .headers()
        .get("api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string))
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

/// JSON request body.
pub fn json_body(v: &impl serde::Serialize) -> Result<Body> {
    Ok(full(serde_json::to_vec(v)?))
}

/// A streaming request body.
pub fn stream_body<S>(s: S) -> Body
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    BodyExt::boxed_unsync(StreamBody::new(s.map(|r| r.map(Frame::data))))
}

/// Percent-encodes a query component.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl Client {
    /// Connects to `host`, pings it and negotiates the API version like the
    /// docker CLI (min of ours and the server's `Api-Version`).
    pub async fn connect(host: Host) -> Result<Client> {
        let server = ping(&host).await?;
        let mut ver = MAX_API_VERSION;
        if let Some(sv) = server.as_deref().and_then(parse_version) {
            if sv < ver {
                ver = sv;
            }
        }
        let cv = bollard::ClientVersion {
            major_version: ver.0 as usize,
            minor_version: ver.1 as usize,
        };
        // No client-side timeout: waits, logs and attaches may last forever.
        let timeout = 10 * 365 * 24 * 3600;
        let docker = match &host {
            Host::Unix(p) => bollard::Docker::connect_with_unix(p, timeout, &cv),
            Host::Tcp(a) => bollard::Docker::connect_with_http(&format!("tcp://{a}"), timeout, &cv),
        }
        .map_err(from_bollard)?;
        Ok(Client {
            host,
            docker,
            version: format!("{}.{}", ver.0, ver.1),
        })
    }

    /// Sends a request; `path` is relative to the versioned API root unless
    /// `versioned` is false. Returns the response whatever its status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
        upgrade: bool,
    ) -> Result<Response<Incoming>> {
        let opts = ReqOpts {
            content_type,
            upgrade,
            ..Default::default()
        };
        self.request(method, path, body, opts).await
    }

    /// Sends a request with extra options (see [`ReqOpts`]).
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
        let conn = dial(&self.host)
            .await
            .map_err(|_| cannot_connect(&self.host))?;
        let conn = Notifying {
            inner: conn,
            tx: sent,
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
            .await
            .context("HTTP handshake with the daemon")?;
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let uri = format!("/v{}{}", self.version, path);
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
        let req = req.body(body)?;
        let resp = sender
            .send_request(req)
            .await
            .context("sending request to the daemon")?;
        Ok(resp)
    }

    /// Sends a request and turns error statuses into [`DaemonError`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let resp = self.send(method, path, content_type, body, false).await?;
        check(resp).await
    }

    /// GET returning the raw body bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes> {
        let resp = self.call(Method::GET, path, None, empty()).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }

    /// GET returning parsed JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let b = self.get_bytes(path).await?;
        serde_json::from_slice(&b).context("decoding daemon response")
    }

    /// POST with a JSON body, returning parsed JSON (or Null for an empty body).
    pub async fn post_json(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let (ct, b) = match body {
            Some(v) => (Some("application/json"), json_body(v)?),
            None => (None, empty()),
        };
        let resp = self.call(Method::POST, path, ct, b).await?;
        let bytes = resp.into_body().collect().await?.to_bytes();
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("decoding daemon response")
    }

    /// Opens a hijacked (upgraded) connection, e.g. for attach or exec start.
    pub async fn hijack(
        &self,
        path: &str,
        body: Option<&Value>,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>> {
        let (ct, b) = match body {
            Some(v) => (Some("application/json"), json_body(v)?),
            None => (Some("text/plain"), empty()),
        };
        let resp = self.send(Method::POST, path, ct, b, true).await?;
        let resp = check(resp).await?;
        let upgraded = hyper::upgrade::on(resp)
            .await
            .context("the daemon did not upgrade the connection")?;
        Ok(TokioIo::new(upgraded))
    }
}

/// Turns a non-2xx response into a [`DaemonError`] with the daemon's message.
pub async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS || status.is_redirection() {
        return Ok(resp);
    }
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let message = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => v
            .ci("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string()),
        Err(_) => String::from_utf8_lossy(&bytes).trim().to_string(),
    };
    let message = if message.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_string()
    } else {
        message
    };
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
            Err(e) => Some(Err(anyhow::Error::new(e))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parsing() {
        assert_eq!(
            Host::parse("unix:///tmp/x.sock").unwrap(),
            Host::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert!(Host::parse("ssh://x").is_err());
        assert_eq!(Host::parse(DEFAULT_HOST).unwrap().to_string(), DEFAULT_HOST);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("fromImage", "busybox".into()), ("tag", "a b/c".into())]),
            "?fromImage=busybox&tag=a%20b%2Fc"
        );
        assert_eq!(parse_version("1.41"), Some((1, 41)));
    }
}

//! Daemon addresses and the byte streams to them.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::error::{Error, Result};

/// Default daemon socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket path.
    Unix(String),
    /// A `host:port` TCP address (plain HTTP).
    Tcp(String),
}

impl Host {
    /// Parses `unix:///path`, `tcp://host[:port]` (port 2375 by default),
    /// `http://host[:port]` or a bare absolute socket path.
    pub fn parse(s: &str) -> Result<Host> {
        let invalid = |reason| Error::InvalidHost {
            host: s.to_string(),
            reason,
        };
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(invalid("empty socket path"));
            }
            Ok(Host::Unix(p.to_string()))
        } else if let Some(a) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                return Err(invalid("empty address"));
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
            Err(invalid("use unix:///path or tcp://host:port"))
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

/// Either connection kind, as one AsyncRead + AsyncWrite type.
#[derive(Debug)]
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    /// Connects to `host`.
    pub async fn dial(host: &Host) -> Result<Conn> {
        let r = match host {
            Host::Unix(p) => UnixStream::connect(p).await.map(Conn::Unix),
            Host::Tcp(a) => TcpStream::connect(a).await.map(Conn::Tcp),
        };
        r.map_err(|cause| {
            tracing::debug!(%host, error = %cause, "cannot connect to the daemon");
            Error::Connect {
                host: host.to_string(),
                cause,
            }
        })
    }
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
pub(crate) struct Notifying {
    pub(crate) inner: Conn,
    pub(crate) tx: Option<tokio::sync::oneshot::Sender<()>>,
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

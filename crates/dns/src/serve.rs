//! Serving one container: a UDP task and a TCP accept task on the current runtime.
//!
//! Each task owns its socket and the tasks it started (forwards, connections) in a
//! `JoinSet`, so aborting the two tasks closes the listening sockets and cancels
//! everything in flight.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use nix::sched::{setns, CloneFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

use crate::error::DnsError;
use crate::query::{Action, Shared, Transport};
use crate::DnsServer;

/// Docker's embedded resolver address.
const RESOLVER: (Ipv4Addr, u16) = (Ipv4Addr::new(127, 0, 0, 11), 53);

/// A container's DNS server while it lives: dropping it stops serving and closes its
/// sockets (the tasks are aborted; [`Listener::shutdown`] also waits for that).
pub struct Listener {
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Listener {
    /// The local address of the UDP socket.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The local address of the TCP socket.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// Stops serving; when this returns, both sockets are closed.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // Cancelled is the expected outcome; a panic has been reported already.
            let _ = task.await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DnsServer {
    /// Binds UDP and TCP on 127.0.0.11:53 inside the network namespace at `netns`
    /// (a bind-mounted netns file, e.g. /run/berth/netns/<id>; `lo` is already up
    /// there), and serves both on the current tokio runtime for container `asker`.
    /// The sockets are created on a short-lived thread that enters the namespace
    /// (a tokio worker never changes namespace).
    pub async fn serve_in(&self, netns: &Path, asker: &str) -> Result<Listener, DnsError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let path = netns.to_path_buf();
        std::thread::Builder::new()
            .name("berth-dns-bind".into())
            .spawn(move || {
                // If the caller is gone, dropping the sockets closes them.
                let _ = tx.send(bind_in(&path));
            })
            .map_err(|e| DnsError::io("spawning the thread binding the DNS sockets", e))?;
        let (udp, tcp) = rx.await.map_err(|_| DnsError::Thread {
            path: netns.to_path_buf(),
        })??;
        self.serve(udp, tcp, asker)
    }

    /// Serves `udp` and `tcp` (sockets the caller made) on the current tokio runtime
    /// for container `asker`.
    pub fn serve(
        &self,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        asker: &str,
    ) -> Result<Listener, DnsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
        udp.set_nonblocking(true)
            .map_err(|e| DnsError::io("making the UDP socket non-blocking", e))?;
        tcp.set_nonblocking(true)
            .map_err(|e| DnsError::io("making the TCP socket non-blocking", e))?;
        let udp =
            UdpSocket::from_std(udp).map_err(|e| DnsError::io("registering the UDP socket", e))?;
        let tcp = TcpListener::from_std(tcp)
            .map_err(|e| DnsError::io("registering the TCP socket", e))?;
        let udp_addr = udp
            .local_addr()
            .map_err(|e| DnsError::io("reading the UDP socket's address", e))?;
        let tcp_addr = tcp
            .local_addr()
            .map_err(|e| DnsError::io("reading the TCP socket's address", e))?;
        let asker: Arc<str> = Arc::from(asker);
        debug!(%asker, %udp_addr, %tcp_addr, "DNS server started");
        let tasks = vec![
            runtime.spawn(serve_udp(self.shared.clone(), udp, asker.clone())),
            runtime.spawn(serve_tcp(self.shared.clone(), tcp, asker)),
        ];
        Ok(Listener {
            udp_addr,
            tcp_addr,
            tasks,
        })
    }
}

/// Runs on a thread of its own, which it leaves in the namespace at `path`.
fn bind_in(path: &Path) -> Result<(std::net::UdpSocket, std::net::TcpListener), DnsError> {
    let netns_err = |context, source| DnsError::Netns {
        context,
        path: path.to_path_buf(),
        source,
    };
    let ns = File::open(path).map_err(|e| netns_err("opening the netns", e))?;
    setns(&ns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| netns_err("entering the netns", io::Error::from(e)))?;
    let udp = std::net::UdpSocket::bind(RESOLVER)
        .map_err(|e| netns_err("binding UDP 127.0.0.11:53 in", e))?;
    let tcp = std::net::TcpListener::bind(RESOLVER)
        .map_err(|e| netns_err("binding TCP 127.0.0.11:53 in", e))?;
    Ok((udp, tcp))
}

/// Answers datagrams; forwards run as tasks whose answers come back here to be sent.
async fn serve_udp(shared: Arc<Shared>, socket: UdpSocket, asker: Arc<str>) {
    let mut buf = vec![0; usize::from(u16::MAX)];
    let mut forwards: JoinSet<(SocketAddr, Option<Vec<u8>>)> = JoinSet::new();
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, peer) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        debug!(%asker, error = %e, "DNS UDP receive failed");
                        continue;
                    }
                };
                match shared.handle(&asker, &buf[..n], Transport::Udp) {
                    Action::Reply(answer) => send(&socket, &answer, peer).await,
                    Action::Forward(job) => {
                        forwards.spawn(async move { (peer, job.run().await) });
                    }
                    Action::Drop => {}
                }
            }
            Some(done) = forwards.join_next(), if !forwards.is_empty() => {
                if let Ok((peer, Some(answer))) = done {
                    send(&socket, &answer, peer).await;
                }
            }
        }
    }
}

async fn send(socket: &UdpSocket, answer: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(answer, peer).await {
        debug!(%peer, error = %e, "sending a DNS answer failed");
    }
}

/// Accepts connections, at most `max_tcp_connections` at a time.
async fn serve_tcp(shared: Arc<Shared>, listener: TcpListener, asker: Arc<str>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if connections.len() >= shared.config.max_tcp_connections {
                        debug!(%asker, %peer, "too many DNS TCP connections: closing a new one");
                        continue;
                    }
                    connections.spawn(serve_connection(shared.clone(), stream, asker.clone()));
                }
                Err(e) => {
                    // EMFILE and the like: do not spin on them.
                    debug!(%asker, error = %e, "DNS TCP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Several queries in turn on one connection, until the client closes it, sends
/// something malformed or stays idle too long.
async fn serve_connection(shared: Arc<Shared>, mut stream: TcpStream, asker: Arc<str>) {
    let idle = shared.config.tcp_idle_timeout;
    let mut query = Vec::new();
    loop {
        let read = async {
            let len = stream.read_u16().await?;
            query.resize(usize::from(len), 0);
            stream.read_exact(&mut query).await?;
            Ok::<_, io::Error>(())
        };
        match tokio::time::timeout(idle, read).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        let answer = match shared.handle(&asker, &query, Transport::Tcp) {
            Action::Reply(answer) => answer,
            Action::Forward(job) => match job.run().await {
                Some(answer) => answer,
                None => return,
            },
            Action::Drop => return,
        };
        let Some(framed) = frame(&answer) else {
            return;
        };
        if let Err(e) = stream.write_all(&framed).await {
            debug!(%asker, error = %e, "writing a DNS TCP answer failed");
            return;
        }
    }
}

/// `message` with its TCP length prefix; `None` if it is too long for one.
pub(crate) fn frame(message: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(message.len()).ok()?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    Some(framed)
}

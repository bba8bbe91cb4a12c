//! Host ports of published container ports: which are taken (by our containers),
//! choosing an ephemeral one, and holding a socket bound to each so that no host
//! process takes a published port from under its container (as Docker does). The
//! traffic itself never goes through these sockets: nftables DNATs it first.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockProtocol, SockType, SockaddrIn};

use crate::error::NetworkError;
use crate::model::{PortMapping, PortRequest, Proto};

/// Docker's default ephemeral range when /proc cannot be read.
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// The host's ephemeral port range (`net.ipv4.ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(a, b)| a <= b && *a > 0)
        .unwrap_or(EPHEMERAL)
}

struct Held {
    host_ip: Ipv4Addr,
    container: String,
    _socket: Option<OwnedFd>,
}

/// The published ports of every container of this daemon.
#[derive(Default)]
pub(crate) struct PortTable {
    /// (proto, host port) -> holders (one per host address).
    taken: BTreeMap<(Proto, u16), Vec<Held>>,
    /// Each container's mappings, in the order they were published.
    by_container: BTreeMap<String, Vec<PortMapping>>,
}

fn conflicts(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.is_unspecified() || b.is_unspecified() || a == b
}

/// Binds a socket to (ip, port) to reserve it. EADDRINUSE = a host process has it.
fn reserve_socket(proto: Proto, ip: Ipv4Addr, port: u16) -> Result<OwnedFd, nix::Error> {
    let (ty, p) = match proto {
        Proto::Tcp => (SockType::Stream, SockProtocol::Tcp),
        Proto::Udp => (SockType::Datagram, SockProtocol::Udp),
        Proto::Sctp => (SockType::SeqPacket, SockProtocol::Sctp),
    };
    let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, p)?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(std::net::SocketAddrV4::new(ip, port)),
    )?;
    Ok(fd)
}

impl PortTable {
    fn is_free(&self, proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
        self.taken
            .get(&(proto, port))
            .is_none_or(|v| !v.iter().any(|h| conflicts(h.host_ip, ip)))
    }

    /// Takes `port` for `container`: free among ours, and bindable on the host.
    fn take(
        &mut self,
        container: &str,
        proto: Proto,
        ip: Ipv4Addr,
        port: u16,
    ) -> Result<(), NetworkError> {
        if !self.is_free(proto, ip, port) {
            return Err(NetworkError::PortUnavailable {
                host_ip: ip,
                port,
                reason: "port is already allocated".into(),
            });
        }
        let socket = match reserve_socket(proto, ip, port) {
            Ok(fd) => Some(fd),
            // The host cannot make SCTP sockets (module absent): nothing to hold.
            Err(nix::Error::EPROTONOSUPPORT) | Err(nix::Error::ESOCKTNOSUPPORT)
                if proto == Proto::Sctp =>
            {
                None
            }
            Err(e) => {
                return Err(NetworkError::PortUnavailable {
                    host_ip: ip,
                    port,
                    reason: match e {
                        nix::Error::EADDRINUSE => "address already in use".into(),
                        nix::Error::EADDRNOTAVAIL => {
                            format!("{ip} is not an address of this host")
                        }
                        other => other.desc().to_owned(),
                    },
                })
            }
        };
        self.taken.entry((proto, port)).or_default().push(Held {
            host_ip: ip,
            container: container.to_owned(),
            _socket: socket,
        });
        Ok(())
    }

    /// Publishes `reqs` for `container` at `container_ip`; all or nothing.
    pub(crate) fn publish(
        &mut self,
        container: &str,
        container_ip: Ipv4Addr,
        default_host_ip: Option<Ipv4Addr>,
        reqs: &[PortRequest],
    ) -> Result<Vec<PortMapping>, NetworkError> {
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            let ip = r
                .host_ip
                .or(default_host_ip)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            let res = if r.host_port_first == 0 {
                self.take_ephemeral(container, r.proto, ip)
            } else {
                self.take_in_range(container, r.proto, ip, r.host_port_first, r.host_port_last)
            };
            match res {
                Ok(port) => out.push(PortMapping {
                    proto: r.proto,
                    host_ip: ip,
                    host_port: port,
                    container_ip,
                    container_port: r.container_port,
                }),
                Err(e) => {
                    for m in &out {
                        self.release_one(container, m);
                    }
                    return Err(e);
                }
            }
        }
        self.by_container
            .entry(container.to_owned())
            .or_default()
            .extend(out.iter().copied());
        Ok(out)
    }

    fn take_in_range(
        &mut self,
        container: &str,
        proto: Proto,
        ip: Ipv4Addr,
        first: u16,
        last: u16,
    ) -> Result<u16, NetworkError> {
        let mut last_err = None;
        for port in first..=last.max(first) {
            match self.take(container, proto, ip, port) {
                Ok(()) => return Ok(port),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or(NetworkError::PortUnavailable {
            host_ip: ip,
            port: first,
            reason: "empty port range".into(),
        }))
    }

    fn take_ephemeral(
        &mut self,
        container: &str,
        proto: Proto,
        ip: Ipv4Addr,
    ) -> Result<u16, NetworkError> {
        let (lo, hi) = ephemeral_range();
        let span = u32::from(hi - lo) + 1;
        let start = rand::random::<u32>() % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            if self.is_free(proto, ip, port) && self.take(container, proto, ip, port).is_ok() {
                return Ok(port);
            }
        }
        Err(NetworkError::PortUnavailable {
            host_ip: ip,
            port: 0,
            reason: format!("no free port in the ephemeral range {lo}-{hi}"),
        })
    }

    fn release_one(&mut self, container: &str, m: &PortMapping) {
        if let Some(v) = self.taken.get_mut(&(m.proto, m.host_port)) {
            v.retain(|h| !(h.container == container && h.host_ip == m.host_ip));
            if v.is_empty() {
                self.taken.remove(&(m.proto, m.host_port));
            }
        }
    }

    /// Re-takes a container's mappings after a daemon restart. A port a host
    /// process took meanwhile is kept programmed but not held (logged).
    pub(crate) fn restore(&mut self, container: &str, mappings: &[PortMapping]) {
        for m in mappings {
            if let Err(e) = self.take(container, m.proto, m.host_ip, m.host_port) {
                tracing::warn!(container, error = %e, "restored published port is not held");
                self.taken
                    .entry((m.proto, m.host_port))
                    .or_default()
                    .push(Held {
                        host_ip: m.host_ip,
                        container: container.to_owned(),
                        _socket: None,
                    });
            }
        }
        self.by_container
            .entry(container.to_owned())
            .or_default()
            .extend(mappings.iter().copied());
    }

    /// Releases every port of `container`; true if it had any.
    pub(crate) fn unpublish(&mut self, container: &str) -> bool {
        let Some(ms) = self.by_container.remove(container) else {
            return false;
        };
        for m in &ms {
            self.release_one(container, m);
        }
        true
    }

    /// Every mapping, for the nftables ruleset.
    pub(crate) fn all(&self) -> impl Iterator<Item = &PortMapping> {
        self.by_container.values().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(port: u16, first: u16, last: u16) -> PortRequest {
        PortRequest {
            container_port: port,
            proto: Proto::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port_first: first,
            host_port_last: last,
        }
    }

    #[test]
    fn conflicts_ephemeral_and_release() {
        let mut t = PortTable::default();
        let ip = Ipv4Addr::new(10, 0, 0, 2);
        let a = t.publish("a", ip, None, &[req(80, 0, 0)]).unwrap();
        let p = a[0].host_port;
        assert!(p >= 1024);
        // The same host port for another container: refused, nothing kept.
        let e = t
            .publish("b", ip, None, &[req(81, 0, 0), req(80, p, p)])
            .unwrap_err();
        assert!(e.to_string().contains("already allocated"), "{e}");
        assert!(!t.unpublish("b"));
        // A range skips the taken port.
        let b = t
            .publish("b", ip, None, &[req(80, p, p.saturating_add(1))])
            .unwrap();
        assert_eq!(b[0].host_port, p + 1);
        assert!(t.unpublish("a"));
        assert!(t.publish("c", ip, None, &[req(80, p, p)]).is_ok());
        assert_eq!(t.all().count(), 2);
    }

    #[test]
    fn host_process_port_is_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut t = PortTable::default();
        let e = t
            .publish(
                "a",
                Ipv4Addr::new(10, 0, 0, 2),
                None,
                &[req(80, port, port)],
            )
            .unwrap_err();
        assert!(e.to_string().contains("address already in use"), "{e}");
    }
}

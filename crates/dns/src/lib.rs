//! The embedded DNS server of user-defined networks.
//!
//! Docker gives every container on a user-defined network a resolver at
//! `127.0.0.11` (its `resolv.conf` says `nameserver 127.0.0.11`). Container names,
//! `--network-alias`es and compose service aliases resolve to the addresses of the
//! containers on the networks the asking container shares with them; every other
//! question is forwarded to upstream resolvers (the container's `--dns` servers, else
//! the host's).
//!
//! Who is on which network is the daemon's knowledge: this crate asks it through the
//! [`Names`] trait on every query. A [`DnsServer`] holds that and the shared state
//! (round-robin counters, the bound on in-flight forwards); [`DnsServer::serve_in`]
//! binds UDP and TCP port 53 on `127.0.0.11` inside a container's network namespace
//! and serves them on the current tokio runtime until the returned [`Listener`] is
//! dropped.
//!
//! Answers:
//! - `A`/`AAAA` for a name [`Names::lookup`] knows: authoritative, TTL 600, all
//!   addresses of the asked family, rotated round-robin per name between queries. A
//!   known name without an address of the family answers `NOERROR` with no records
//!   (not `NXDOMAIN`), as Docker does, so that the client does not go on searching.
//! - `PTR` for `in-addr.arpa`/`ip6.arpa` names that [`Names::reverse`] knows.
//! - Everything else is forwarded, from the daemon's own network namespace (so that
//!   host loopback resolvers such as systemd-resolved's `127.0.0.53` work), to
//!   [`Names::upstreams`] in order: each gets [`Config::upstream_timeout`], and a
//!   timeout, `SERVFAIL` or `REFUSED` moves on to the next. No answer at all (or no
//!   upstream) is `SERVFAIL`.
//! - UDP answers larger than 512 bytes (or the client's EDNS payload size) are sent
//!   truncated (TC bit) so that the client retries over TCP. Over TCP the answer is
//!   complete; forwarding uses TCP upstream when the client asked over TCP or when the
//!   upstream's UDP answer came back truncated.
//!
//! # Limitation: port 53 inside the container
//!
//! The server binds `127.0.0.11:53` directly inside the container's namespace. A
//! process in a container on a user network therefore cannot bind TCP or UDP port 53
//! on the wildcard address (`0.0.0.0:53`: `EADDRINUSE`); binding its own addresses
//! (e.g. `eth0`'s) works. Docker avoids the conflict by listening on random ports and
//! installing DNAT rules inside the namespace that send `127.0.0.11:53` there; Berth
//! does not do that yet.

mod error;
mod forward;
mod query;
mod resolv;
mod serve;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use error::DnsError;
pub use resolv::upstreams_from_resolv_conf;
pub use serve::Listener;

/// What the daemon knows about names. Called on every query: must be cheap (the
/// daemon answers from an in-memory index). `asker` is the container id the query
/// came in for.
pub trait Names: Send + Sync + 'static {
    /// Addresses that `name` (lower-cased, without trailing dot) has for `asker`:
    /// container names, `--network-alias`es, compose service aliases, and
    /// `name.<network>` on every network `asker` is attached to. Empty = not a
    /// container name (forward).
    fn lookup(&self, asker: &str, name: &str) -> Vec<IpAddr>;
    /// The name of the container owning `ip` on a network `asker` shares (for PTR);
    /// Docker answers `<container-name>.<network-name>`.
    fn reverse(&self, asker: &str, ip: IpAddr) -> Option<String>;
    /// Upstream resolvers for `asker` (its `--dns` servers if any, else the host's).
    fn upstreams(&self, asker: &str) -> Vec<SocketAddr>;
}

/// Tunables of a [`DnsServer`]. The defaults are Docker's where it has one.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long one upstream gets to answer before the next is tried.
    pub upstream_timeout: Duration,
    /// Forwarded queries in flight at once, over all listeners of the server. A
    /// query over the bound is answered `SERVFAIL` at once.
    pub max_forwards: usize,
    /// TCP connections per listener; more are closed as soon as accepted.
    pub max_tcp_connections: usize,
    /// A TCP connection with no complete query for this long is closed.
    pub tcp_idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            upstream_timeout: Duration::from_secs(2),
            max_forwards: 1024,
            max_tcp_connections: 64,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// The embedded DNS server: the daemon's [`Names`] and the state shared by every
/// container's [`Listener`]. Cheap to clone.
#[derive(Clone)]
pub struct DnsServer {
    shared: Arc<query::Shared>,
}

impl DnsServer {
    /// A server with the default [`Config`].
    pub fn new(names: Arc<dyn Names>) -> Self {
        Self::with_config(names, Config::default())
    }

    /// A server with explicit tunables.
    pub fn with_config(names: Arc<dyn Names>, config: Config) -> Self {
        Self {
            shared: Arc::new(query::Shared::new(names, config)),
        }
    }
}

//! Docker's default `bridge` network: a bridge device, IPAM, one veth pair per
//! container moved into a per-container network namespace, the container's address and
//! default route, outbound masquerade through nftables, and cleanup.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use engine_types::{ErrorKind, HasKind};

/// Configuration of the default bridge network (dockerd's `-b`, `--bip`, ...).
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// dockerd -b/--bridge: device name (default "berth0"); None = "--bridge none".
    pub bridge: Option<String>,
    /// --bip: bridge address+subnet; None = pick automatically.
    pub bip: Option<ipnet::Ipv4Net>,
    /// --default-address-pool bases to pick a subnet from.
    pub pools: Vec<ipnet::Ipv4Net>,
    /// MTU of the bridge and veths (default 1500).
    pub mtu: u32,
    /// --iptables: install masquerade (default true).
    pub nat: bool,
    /// set net.ipv4.ip_forward=1 (default true).
    pub ip_forward: bool,
    /// netns files live in `<exec_root>/netns/<container id>`.
    pub exec_root: PathBuf,
}

/// How a container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    Bridge,
    None,
    Host,
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    pub netns: Option<PathBuf>,
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub host_veth: Option<String>,
    pub network_id: String,
}

/// The bridge network as the daemon shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    pub name: String,
    pub id: String,
    pub subnet: ipnet::Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// Errors of the network crate.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

impl HasKind for NetworkError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::NotImplemented(_) => ErrorKind::NotImplemented,
        }
    }
}

/// Owns the bridge, IPAM and the netlink connection.
pub struct NetworkManager {
    _private: (),
}

impl NetworkManager {
    pub async fn start(cfg: BridgeConfig, state_dir: &Path) -> Result<Self, NetworkError> {
        let _ = (cfg, state_dir);
        todo!()
    }

    pub async fn connect(
        &self,
        container_id: &str,
        mode: NetMode,
    ) -> Result<Endpoint, NetworkError> {
        let _ = (container_id, mode);
        todo!()
    }

    pub async fn disconnect(&self, ep: &Endpoint) -> Result<(), NetworkError> {
        let _ = ep;
        todo!()
    }

    pub fn restore(&self, endpoints: &[Endpoint]) {
        let _ = endpoints;
        todo!()
    }

    pub async fn cleanup_stale(&self, live: &[Endpoint]) -> Result<(), NetworkError> {
        let _ = live;
        todo!()
    }

    pub fn bridge(&self) -> Option<BridgeInfo> {
        todo!()
    }
}

/// Content of a container's /etc/hosts, in Docker's format.
pub fn hosts_file(hostname: &str, ip: Option<Ipv4Addr>, extra: &[(String, String)]) -> String {
    let _ = (hostname, ip, extra);
    todo!()
}

/// Content of a container's /etc/resolv.conf, derived from the host's as Docker does.
pub fn resolv_conf(
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let _ = (host_resolv, dns, search, options);
    todo!()
}

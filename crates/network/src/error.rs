//! The error type of the network crate.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use errdefs::{ErrorKind, HasKind};

/// Errors of the network crate.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A netlink request failed.
    #[error("netlink: {context}: {source}")]
    Netlink {
        context: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// A file or process operation failed.
    #[error("{context} ({path}): {source}", path = path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call (namespaces, mounts, locks) failed.
    #[error("{context} ({path}): {source}", path = path.display())]
    Sys {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    /// A netlink answer could not be decoded.
    #[error("netlink: {context}: undecodable answer: {reason}")]
    NetlinkDecode { context: String, reason: String },
    /// `nft -f -` rejected the ruleset or could not run.
    #[error("nft: {context}: {stderr}")]
    Nft { context: String, stderr: String },
    /// No candidate subnet of the address pools is free on this host.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network (tried {tried} candidates)")]
    NoSubnet { tried: usize },
    /// Every address of the bridge subnet is taken.
    #[error("no available IPv4 addresses on network {subnet}")]
    PoolExhausted { subnet: ipnet::Ipv4Net },
    /// The configuration is invalid (bad --bip, bridge name, ...).
    #[error("invalid network configuration: {reason}")]
    InvalidConfig { reason: String },
    /// A network mode this crate does not implement (e.g. `container:<id>`).
    #[error("network mode {mode:?} is not supported")]
    UnsupportedMode { mode: String },
    /// Something of Docker's networking this engine does not implement.
    #[error("{what} is not supported by Berth yet")]
    Unsupported { what: String },
    /// A network of that name exists.
    #[error("network with name {name} already exists")]
    NetworkExists { name: String },
    /// No network has that id or name.
    #[error("network {name} not found")]
    NoSuchNetwork { name: String },
    /// The subnet overlaps one of another network.
    #[error("invalid pool request: Pool overlaps with other one on this address space ({subnet} overlaps {other} of network {network})")]
    PoolOverlap {
        subnet: ipnet::Ipv4Net,
        other: ipnet::Ipv4Net,
        network: String,
    },
    /// The requested address is taken (or reserved).
    #[error("Address already in use: {ip} on network {network}")]
    AddressInUse { ip: Ipv4Addr, network: String },
    /// A host port is taken by another container or by a host process.
    #[error("driver failed programming external connectivity: Bind for {host_ip}:{port} failed: {reason}")]
    PortUnavailable {
        host_ip: Ipv4Addr,
        port: u16,
        reason: String,
    },
    /// The operation is not allowed on this network.
    #[error("{reason}")]
    Forbidden { reason: String },
    /// The network still has containers attached.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },
    /// The helper thread that creates a namespace died.
    #[error("netns helper thread for {path} failed", path = path.display())]
    Thread { path: PathBuf },
    /// An operation failed and rolling it back failed too; both are kept.
    #[error("{error}; rollback also failed: {cleanup}")]
    WithCleanup {
        #[source]
        error: Box<NetworkError>,
        cleanup: Box<NetworkError>,
    },
}

impl HasKind for NetworkError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::InvalidConfig { .. } => ErrorKind::InvalidArgument,
            NetworkError::UnsupportedMode { .. } | NetworkError::Unsupported { .. } => {
                ErrorKind::NotImplemented
            }
            NetworkError::NetworkExists { .. } | NetworkError::AddressInUse { .. } => {
                ErrorKind::Conflict
            }
            NetworkError::NoSuchNetwork { .. } => ErrorKind::NotFound,
            NetworkError::PoolOverlap { .. }
            | NetworkError::ActiveEndpoints { .. }
            | NetworkError::Forbidden { .. } => ErrorKind::Forbidden,
            NetworkError::PortUnavailable { .. } => ErrorKind::Internal,
            NetworkError::PoolExhausted { .. } => ErrorKind::Unavailable,
            NetworkError::WithCleanup { error, .. } => error.kind(),
            NetworkError::Netlink { .. }
            | NetworkError::Io { .. }
            | NetworkError::Sys { .. }
            | NetworkError::NetlinkDecode { .. }
            | NetworkError::Nft { .. }
            | NetworkError::NoSubnet { .. }
            | NetworkError::Thread { .. } => ErrorKind::Internal,
        }
    }
}

impl NetworkError {
    pub(crate) fn netlink(context: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetworkError::Netlink {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        NetworkError::Io {
            context,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(context: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        NetworkError::Sys {
            context,
            path: path.into(),
            source,
        }
    }

    /// Attaches a failed rollback to this error.
    pub(crate) fn with_cleanup(self, cleanup: Option<NetworkError>) -> Self {
        match cleanup {
            None => self,
            Some(c) => NetworkError::WithCleanup {
                error: Box::new(self),
                cleanup: Box::new(c),
            },
        }
    }
}

/// The positive errno of a netlink error answer, if it is one.
pub(crate) fn nl_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

//! The networks' data: what a network is (persisted by the daemon), what creating
//! one asks for (validated here, once), and published ports.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::NetworkError;

/// Driver option: name of the bridge device.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Driver option: inter-container communication on the network.
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// Driver option: masquerade of traffic leaving the network.
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// Driver option: MTU of the bridge and its veths.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// Driver option: default host address of published ports.
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
/// Driver option Docker sets on the default bridge (accepted, shown in inspect).
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

/// A bridge network as it is persisted and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// 64 hex.
    pub id: String,
    pub name: String,
    /// The bridge device.
    pub device: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Where dynamic addresses come from (within the subnet).
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    /// Addresses kept out of allocation (`--aux-address name=ip`).
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    /// Whether the subnet was given by the user (static `--ip` needs one).
    #[serde(default)]
    pub user_subnet: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    /// Containers of the network may talk to each other.
    #[serde(default = "yes")]
    pub icc: bool,
    /// Traffic leaving the network is masqueraded.
    #[serde(default = "yes")]
    pub masquerade: bool,
    pub mtu: u32,
    /// Host address published ports bind to when `-p` names none.
    #[serde(default)]
    pub host_binding: Option<Ipv4Addr>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options as given (shown in inspect).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
    /// The daemon's default `bridge` network (not removable).
    #[serde(default)]
    pub predefined: bool,
}

fn yes() -> bool {
    true
}

/// What `POST /networks/create` asks for, after the daemon parsed the request body.
#[derive(Debug, Clone, Default)]
pub struct NetworkRequest {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// The driver options of a bridge network, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BridgeOptions {
    pub device: Option<String>,
    pub icc: bool,
    pub masquerade: bool,
    pub mtu: Option<u32>,
    pub host_binding: Option<Ipv4Addr>,
}

fn parse_bool(key: &str, v: &str) -> Result<bool, NetworkError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(NetworkError::InvalidConfig {
            reason: format!("invalid value {v:?} for driver option {key}: expected true or false"),
        }),
    }
}

impl BridgeOptions {
    /// Parses Docker's bridge driver options; an unknown `com.docker.network.*`
    /// option is refused (Docker ignores some silently; a typo should not be).
    pub(crate) fn parse(opts: &BTreeMap<String, String>) -> Result<Self, NetworkError> {
        let mut out = BridgeOptions {
            device: None,
            icc: true,
            masquerade: true,
            mtu: None,
            host_binding: None,
        };
        for (k, v) in opts {
            match k.as_str() {
                OPT_BRIDGE_NAME => {
                    crate::validate_ifname(v)?;
                    out.device = Some(v.clone());
                }
                OPT_ICC => out.icc = parse_bool(k, v)?,
                OPT_MASQUERADE => out.masquerade = parse_bool(k, v)?,
                OPT_MTU => {
                    let mtu: u32 = v.parse().map_err(|_| NetworkError::InvalidConfig {
                        reason: format!("invalid MTU {v:?} in {OPT_MTU}: expected a number"),
                    })?;
                    if !(68..=65535).contains(&mtu) {
                        return Err(NetworkError::InvalidConfig {
                            reason: format!("invalid MTU {mtu} in {OPT_MTU}: must be 68-65535"),
                        });
                    }
                    out.mtu = Some(mtu);
                }
                OPT_HOST_BINDING => {
                    out.host_binding = Some(v.parse().map_err(|_| NetworkError::InvalidConfig {
                        reason: format!(
                            "invalid {OPT_HOST_BINDING} {v:?}: expected an IPv4 address"
                        ),
                    })?)
                }
                OPT_DEFAULT_BRIDGE => {}
                "com.docker.network.bridge.enable_ipv6"
                | "com.docker.network.enable_ipv6"
                | "com.docker.network.bridge.gateway_mode_ipv4"
                | "com.docker.network.bridge.gateway_mode_ipv6"
                | "com.docker.network.bridge.inhibit_ipv4"
                | "com.docker.network.container_iface_prefix"
                | "com.docker.network.bridge.trusted_host_interfaces" => {
                    return Err(NetworkError::Unsupported {
                        what: format!("driver option {k}"),
                    })
                }
                other if other.starts_with("com.docker.network.") => {
                    return Err(NetworkError::InvalidConfig {
                        reason: format!("unknown bridge driver option {other:?}"),
                    })
                }
                // Other options are the user's own labels on the network; kept.
                _ => {}
            }
        }
        Ok(out)
    }
}

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    pub fn parse(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

/// One port to publish (`-p [ip:][hostPort|range]:containerPort/proto` or `-P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    pub container_port: u16,
    pub proto: Proto,
    /// None: every host address (or the network's `host_binding_ipv4`).
    pub host_ip: Option<Ipv4Addr>,
    /// First and last host port to choose from; (0, 0) = an ephemeral port.
    pub host_port_first: u16,
    pub host_port_last: u16,
}

/// A published port as it is programmed (persisted with the container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub proto: Proto,
    /// 0.0.0.0 = every host address.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn bridge_options() {
        let o = BridgeOptions::parse(&opts(&[
            (OPT_BRIDGE_NAME, "brx"),
            (OPT_ICC, "false"),
            (OPT_MTU, "1400"),
            (OPT_HOST_BINDING, "127.0.0.1"),
            ("my.own", "x"),
        ]))
        .unwrap();
        assert_eq!(o.device.as_deref(), Some("brx"));
        assert!(!o.icc && o.masquerade);
        assert_eq!(o.mtu, Some(1400));
        assert_eq!(o.host_binding, Some(Ipv4Addr::LOCALHOST));
        for bad in [
            (OPT_ICC, "maybe"),
            (OPT_MTU, "9"),
            (OPT_MTU, "x"),
            (OPT_BRIDGE_NAME, "a/b"),
            (OPT_HOST_BINDING, "nope"),
            ("com.docker.network.bridge.enable_icx", "true"),
        ] {
            let e = BridgeOptions::parse(&opts(&[bad])).unwrap_err();
            assert!(
                e.to_string().contains(bad.0) || bad.0 == OPT_BRIDGE_NAME,
                "{e}"
            );
        }
    }

    #[test]
    fn info_defaults_when_fields_are_missing() {
        let j = r#"{"id":"a","name":"n","device":"br-a","subnet":"10.1.0.0/24",
            "gateway":"10.1.0.1","mtu":1500,"created":"2026-01-01T00:00:00Z"}"#;
        let i: NetworkInfo = serde_json::from_str(j).unwrap();
        assert!(i.icc && i.masquerade && !i.internal && !i.predefined);
    }
}

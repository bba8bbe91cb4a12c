//! The networking flags of `run`/`create`: `--network` (also docker's
//! "name=...,alias=...,ip=..." form, repeatable), `--network-alias`,
//! `--ip`, `--ip6`, `--link`, `--link-local-ip`, `--mac-address`,
//! `--add-host`, `--dns-search`, and the endpoint settings docker's CLI
//! builds from them (`parseNetworkOpts`).

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::{bail, Result};

use crate::client::models::{EndpointIpamConfig, EndpointSettings};

/// One `--network` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// The network name or id, or a mode (bridge, host, none, container:X).
    pub target: String,
    pub aliases: Vec<String>,
    pub links: Vec<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub mac_address: Option<String>,
    pub link_local_ips: Vec<String>,
    pub driver_opts: HashMap<String, String>,
    pub gw_priority: i64,
}

/// The legacy single-network flags, applied to the first network.
#[derive(Debug, Clone, Copy, Default)]
pub struct LegacyNetFlags<'a> {
    /// `--network-alias`
    pub aliases: &'a [String],
    /// `--link`
    pub links: &'a [String],
    /// `--ip`
    pub ip: Option<&'a str>,
    /// `--ip6`
    pub ip6: Option<&'a str>,
    /// `--mac-address`
    pub mac_address: Option<&'a str>,
    /// `--link-local-ip`
    pub link_local_ips: &'a [String],
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// docker switches to the "key=value,..." form when the value holds a
/// `\w+=\w+`.
fn is_long_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && is_word(b[i - 1]) && is_word(b[i + 1]))
}

/// Parses a `--network` value (clap value parser).
pub fn parse_network_arg(s: &str) -> std::result::Result<NetworkAttachment, String> {
    if !is_long_syntax(s) {
        return Ok(NetworkAttachment {
            target: s.to_string(),
            ..Default::default()
        });
    }
    let mut n = NetworkAttachment::default();
    for field in s.split(',') {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k.trim().to_ascii_lowercase(), v.trim()),
            _ => return Err(format!("invalid field {field}")),
        };
        match key.as_str() {
            "name" => n.target = val.to_string(),
            "alias" => n.aliases.push(val.to_string()),
            "ip" => n.ipv4 = Some(val.to_string()),
            "ip6" => n.ipv6 = Some(val.to_string()),
            "mac-address" => n.mac_address = Some(val.to_string()),
            "link-local-ip" => n.link_local_ips.push(val.to_string()),
            "driver-opt" => {
                let (k, v) = val
                    .split_once('=')
                    .ok_or("invalid key value pair format in driver options")?;
                n.driver_opts.insert(k.to_string(), v.to_string());
            }
            "gw-priority" => {
                n.gw_priority = val
                    .parse()
                    .map_err(|_| format!("invalid gw-priority: {val}"))?;
            }
            _ => return Err(format!("invalid field key {key}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name not specified".into());
    }
    Ok(n)
}

/// Whether a network mode names a user-defined network (not default,
/// bridge, host, none or container:X).
pub fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// `HostConfig.NetworkMode`: the first network, or "default".
pub fn network_mode(nets: &[NetworkAttachment]) -> String {
    nets.first()
        .map_or_else(|| "default".to_string(), |n| n.target.clone())
}

/// Go's `net.ParseMAC` for the colon or hyphen forms (6, 8 or 20 octets).
fn valid_mac(s: &str) -> bool {
    let sep = if s.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = s.split(sep).collect();
    matches!(parts.len(), 6 | 8 | 20)
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn family_ip(ip: Option<&str>, v4: bool, flag: &str) -> Result<Option<String>> {
    let Some(ip) = ip else { return Ok(None) };
    match ip.parse::<IpAddr>() {
        Ok(a) if a.is_ipv4() == v4 => Ok(Some(a.to_string())),
        _ => bail!(
            "invalid argument \"{ip}\" for \"--{flag}\" flag: not an {} address",
            if v4 { "IPv4" } else { "IPv6" }
        ),
    }
}

/// docker's `applyContainerOptions`: the legacy flags join the first
/// network's attachment, refusing to mix them with its per-network form.
fn apply_legacy(n: &mut NetworkAttachment, l: &LegacyNetFlags) -> Result<()> {
    let conflict =
        |what: &str| -> Result<()> { bail!("conflicting options: cannot specify both {what}") };
    if !n.aliases.is_empty() && !l.aliases.is_empty() {
        conflict("--network-alias and per-network alias")?;
    }
    if !n.links.is_empty() && !l.links.is_empty() {
        conflict("--link and per-network links")?;
    }
    if n.ipv4.is_some() && l.ip.is_some() {
        conflict("--ip and per-network IPv4 address")?;
    }
    if n.ipv6.is_some() && l.ip6.is_some() {
        conflict("--ip6 and per-network IPv6 address")?;
    }
    if n.mac_address.is_some() && l.mac_address.is_some() {
        conflict("--mac-address and per-network MAC address")?;
    }
    if !n.link_local_ips.is_empty() && !l.link_local_ips.is_empty() {
        conflict("--link-local-ip and per-network link-local IP addresses")?;
    }
    if !l.aliases.is_empty() {
        n.aliases = l.aliases.to_vec();
    }
    // On a user-defined network --link is an endpoint alias; on the
    // default bridge it is a legacy link (HostConfig.Links only).
    if is_user_defined(&n.target) && !l.links.is_empty() {
        n.links = l.links.to_vec();
    }
    if let Some(ip) = family_ip(l.ip, true, "ip")? {
        n.ipv4 = Some(ip);
    }
    if let Some(ip) = family_ip(l.ip6, false, "ip6")? {
        n.ipv6 = Some(ip);
    }
    if let Some(mac) = l.mac_address {
        n.mac_address = Some(mac.to_string());
    }
    if !l.link_local_ips.is_empty() {
        n.link_local_ips = l.link_local_ips.to_vec();
    }
    Ok(())
}

/// docker's `parseNetworkAttachmentOpt`.
fn endpoint(n: &NetworkAttachment) -> Result<EndpointSettings> {
    if n.target.trim().is_empty() {
        bail!("no name set for network");
    }
    if !is_user_defined(&n.target) {
        if !n.aliases.is_empty() {
            bail!("network-scoped aliases are only supported for user-defined networks");
        }
        if !n.links.is_empty() {
            bail!("links are only supported for user-defined networks");
        }
    }
    let has_ipam = n.ipv4.is_some() || n.ipv6.is_some() || !n.link_local_ips.is_empty();
    if let Some(mac) = &n.mac_address {
        if !valid_mac(mac.trim()) {
            bail!("{mac} is not a valid mac address");
        }
    }
    Ok(EndpointSettings {
        ipam_config: has_ipam.then(|| EndpointIpamConfig {
            ipv4_address: n.ipv4.clone(),
            ipv6_address: n.ipv6.clone(),
            link_local_ips: Some(n.link_local_ips.clone()).filter(|v| !v.is_empty()),
        }),
        links: Some(n.links.clone()).filter(|v| !v.is_empty()),
        aliases: Some(n.aliases.clone()).filter(|v| !v.is_empty()),
        driver_opts: Some(n.driver_opts.clone()).filter(|m| !m.is_empty()),
        gw_priority: Some(n.gw_priority).filter(|p| *p != 0),
        mac_address: n.mac_address.clone(),
        ..Default::default()
    })
}

/// `NetworkingConfig.EndpointsConfig` as docker's CLI builds it: without
/// `--network`, a "default" endpoint carrying the legacy flags; with one
/// network and nothing to say about it, no endpoint at all.
pub fn endpoints_config(
    nets: &[NetworkAttachment],
    legacy: &LegacyNetFlags,
) -> Result<HashMap<String, EndpointSettings>> {
    let mut out = HashMap::new();
    if nets.is_empty() {
        let mut n = NetworkAttachment {
            target: "default".into(),
            ..Default::default()
        };
        apply_legacy(&mut n, legacy)?;
        out.insert(n.target.clone(), endpoint(&n)?);
        return Ok(out);
    }
    let (mut user, mut builtin) = (false, false);
    for (i, n) in nets.iter().enumerate() {
        if is_user_defined(&n.target) {
            user = true;
        } else {
            builtin = true;
        }
        let mut n = n.clone();
        if i == 0 {
            apply_legacy(&mut n, legacy)?;
        }
        let ep = endpoint(&n)?;
        if out.contains_key(&n.target) {
            bail!("network {:?} is specified multiple times", n.target);
        }
        if i == 0 && nets.len() == 1 && ep == EndpointSettings::default() {
            continue;
        }
        out.insert(n.target, ep);
    }
    if user && builtin {
        bail!("conflicting options: cannot attach both user-defined and non-user-defined network-modes");
    }
    Ok(out)
}

/// docker's `ValidateExtraHost`: "host:ip" or "host=ip" (an IPv6 address
/// may be in brackets), or "host:host-gateway"; sent as "host:ip".
pub fn parse_extra_host(s: &str) -> std::result::Result<String, String> {
    let (k, v) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .filter(|(k, _)| !k.is_empty() && !k.contains(':'))
        .ok_or_else(|| format!("bad format for add-host: {s:?}"))?;
    if v != "host-gateway" {
        let bare = v
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .filter(|x| !x.is_empty())
            .unwrap_or(v);
        if bare.trim().parse::<IpAddr>().is_err() {
            return Err(format!("invalid IP address in add-host: {bare:?}"));
        }
        return Ok(format!("{k}:{bare}"));
    }
    Ok(format!("{k}:{v}"))
}

/// docker's `ValidateDNSSearch`: "." or a domain (sent without a trailing dot).
pub fn parse_dns_search(s: &str) -> std::result::Result<String, String> {
    let t = s.trim_matches(' ');
    if t == "." {
        return Ok(t.to_string());
    }
    let bad = || format!("{t} is not a valid domain");
    let d = t.trim_end().strip_suffix('.').unwrap_or(t.trim_end());
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    if !d.bytes().any(|c| c.is_ascii_alphabetic()) || d.len() >= 255 || !d.split('.').all(label_ok)
    {
        return Err(bad());
    }
    Ok(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn net(s: &str) -> NetworkAttachment {
        parse_network_arg(s).unwrap()
    }

    fn eps(nets: &[&str], legacy: LegacyNetFlags) -> Result<serde_json::Value> {
        let nets: Vec<_> = nets.iter().map(|s| net(s)).collect();
        Ok(serde_json::to_value(endpoints_config(&nets, &legacy)?)?)
    }

    #[test]
    fn network_values() {
        assert_eq!(net("my-net").target, "my-net");
        assert_eq!(net("container:web").target, "container:web");
        let n = net("name=front,alias=a,alias=b,ip=10.0.0.5,driver-opt=com.x=1,gw-priority=5");
        assert_eq!(n.target, "front");
        assert_eq!(n.aliases, ["a", "b"]);
        assert_eq!(n.ipv4.as_deref(), Some("10.0.0.5"));
        assert_eq!(n.driver_opts.get("com.x").map(String::as_str), Some("1"));
        assert_eq!(n.gw_priority, 5);
        assert_eq!(
            parse_network_arg("alias=a").unwrap_err(),
            "network name not specified"
        );
        assert_eq!(
            parse_network_arg("name=a,bogus=1").unwrap_err(),
            "invalid field key bogus"
        );
    }

    #[test]
    fn endpoints_like_docker() {
        let none = LegacyNetFlags::default();
        // No --network: a "default" endpoint, empty or with the legacy flags.
        assert_eq!(eps(&[], none).unwrap(), json!({"default": {}}));
        let mac = LegacyNetFlags {
            mac_address: Some("02:42:ac:11:00:02"),
            ..none
        };
        assert_eq!(
            eps(&[], mac).unwrap(),
            json!({"default": {"MacAddress": "02:42:ac:11:00:02"}})
        );
        // One network with nothing to say: no endpoint.
        assert_eq!(eps(&["mynet"], none).unwrap(), json!({}));
        let aliases = vec!["web".to_string()];
        let links = vec!["db:database".to_string()];
        let legacy = LegacyNetFlags {
            aliases: &aliases,
            links: &links,
            ip: Some("10.1.0.9"),
            ip6: Some("fd00::9"),
            ..none
        };
        assert_eq!(
            eps(&["mynet", "name=other,alias=o"], legacy).unwrap(),
            json!({
                "mynet": {"Aliases": ["web"], "Links": ["db:database"],
                          "IPAMConfig": {"IPv4Address": "10.1.0.9", "IPv6Address": "fd00::9"}},
                "other": {"Aliases": ["o"]}
            })
        );
        // --link on the default bridge is a legacy link, not an endpoint's.
        let links_only = LegacyNetFlags {
            links: &links,
            ..none
        };
        assert_eq!(eps(&["bridge"], links_only).unwrap(), json!({}));
        let err = |nets: &[&str], l| eps(nets, l).unwrap_err().to_string();
        assert_eq!(
            err(
                &["bridge"],
                LegacyNetFlags {
                    aliases: &aliases,
                    ..none
                }
            ),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(
            err(&["a", "host"], none),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        assert_eq!(
            err(&["a", "a"], none),
            "network \"a\" is specified multiple times"
        );
        assert_eq!(
            err(
                &["name=a,ip=10.0.0.1"],
                LegacyNetFlags {
                    ip: Some("10.0.0.2"),
                    ..none
                }
            ),
            "conflicting options: cannot specify both --ip and per-network IPv4 address"
        );
        assert_eq!(
            err(
                &[],
                LegacyNetFlags {
                    mac_address: Some("zz"),
                    ..none
                }
            ),
            "zz is not a valid mac address"
        );
        assert!(err(
            &["a"],
            LegacyNetFlags {
                ip: Some("fd00::1"),
                ..none
            }
        )
        .contains("not an IPv4"));
    }

    #[test]
    fn extra_hosts_and_search_domains() {
        assert_eq!(parse_extra_host("db:10.0.0.2").unwrap(), "db:10.0.0.2");
        assert_eq!(
            parse_extra_host("cache=10.0.0.3").unwrap(),
            "cache:10.0.0.3"
        );
        assert_eq!(parse_extra_host("v6=[::1]").unwrap(), "v6:::1");
        assert_eq!(parse_extra_host("v6:::1").unwrap(), "v6:::1");
        assert_eq!(
            parse_extra_host("host.docker.internal:host-gateway").unwrap(),
            "host.docker.internal:host-gateway"
        );
        assert_eq!(
            parse_extra_host("nohost").unwrap_err(),
            "bad format for add-host: \"nohost\""
        );
        assert_eq!(
            parse_extra_host("db:notanip").unwrap_err(),
            "invalid IP address in add-host: \"notanip\""
        );
        assert_eq!(parse_dns_search("example.org.").unwrap(), "example.org");
        assert_eq!(parse_dns_search(".").unwrap(), ".");
        assert!(parse_dns_search("-bad.org").is_err());
        assert!(parse_dns_search("123").is_err());
        assert!(valid_mac("02:42:AC:11:00:02"));
        assert!(valid_mac("02-42-ac-11-00-02"));
        assert!(!valid_mac("02:42:ac:11:00"));
    }
}

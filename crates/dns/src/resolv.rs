//! The host's upstream resolvers, from its `resolv.conf`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use tracing::debug;

/// Upstream resolvers from a resolv.conf text (nameserver lines, port 53), as the
/// host's. Comments (`#`, `;`), other keywords and lines that do not parse are
/// ignored; an IPv6 address may carry a zone (`fe80::1%eth0` or `%2`). Duplicates
/// are kept once, in their first place.
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut upstreams = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else {
            continue;
        };
        match parse_nameserver(addr) {
            Some(upstream) if !upstreams.contains(&upstream) => upstreams.push(upstream),
            Some(_) => {}
            None => debug!(line, "resolv.conf nameserver line ignored"),
        }
    }
    upstreams
}

fn parse_nameserver(addr: &str) -> Option<SocketAddr> {
    if let Ok(ip) = addr.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    let (ip, zone) = addr.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let scope = match zone.parse::<u32>() {
        Ok(index) => index,
        Err(_) => nix::net::if_::if_nametoindex(zone).ok()?,
    };
    Some(SocketAddr::V6(SocketAddrV6::new(ip, 53, 0, scope)))
}

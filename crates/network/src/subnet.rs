//! Choice of the bridge subnet among the address pools.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Docker's default address pools, as candidate subnets: 172.17.0.0/16 ..
/// 172.31.0.0/16, then 192.168.0.0/16 in /20 pieces.
pub fn default_pools() -> Vec<Ipv4Net> {
    let mut out = Vec::with_capacity(31);
    for b in 17u8..=31 {
        out.extend(Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok());
    }
    if let Ok(base) = Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16) {
        if let Ok(subnets) = base.subnets(20) {
            out.extend(subnets);
        }
    }
    out
}

/// Candidate subnets of the configured pools, in order: a pool wider than /16 is
/// split into /16 pieces, any other pool is one candidate. No pools = the defaults.
pub(crate) fn candidates(pools: &[Ipv4Net]) -> Vec<Ipv4Net> {
    if pools.is_empty() {
        return default_pools();
    }
    let mut out = Vec::new();
    for pool in pools {
        let pool = pool.trunc();
        if pool.prefix_len() < 16 {
            if let Ok(subnets) = pool.subnets(16) {
                out.extend(subnets);
            }
        } else {
            out.push(pool);
        }
    }
    out
}

pub(crate) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first candidate that overlaps none of `in_use` (host routes and addresses).
pub(crate) fn choose(candidates: &[Ipv4Net], in_use: &[Ipv4Net]) -> Option<Ipv4Net> {
    candidates
        .iter()
        .find(|c| !in_use.iter().any(|u| overlaps(c, u)))
        .copied()
}

/// The gateway Docker gives a subnet: its first address.
pub(crate) fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_like_docker() {
        let p = default_pools();
        assert_eq!(p.len(), 15 + 16);
        assert_eq!(p[0], n("172.17.0.0/16"));
        assert_eq!(p[14], n("172.31.0.0/16"));
        assert_eq!(p[15], n("192.168.0.0/20"));
        assert_eq!(p[16], n("192.168.16.0/20"));
        assert_eq!(p[30], n("192.168.240.0/20"));
    }

    #[test]
    fn wide_pools_are_split() {
        let c = candidates(&[n("10.0.0.0/14"), n("10.200.1.0/24")]);
        assert_eq!(
            c,
            vec![
                n("10.0.0.0/16"),
                n("10.1.0.0/16"),
                n("10.2.0.0/16"),
                n("10.3.0.0/16"),
                n("10.200.1.0/24")
            ]
        );
    }

    #[test]
    fn choose_skips_overlaps() {
        let cands = default_pools();
        // A route inside 172.17/16, one covering 172.18/16, a host address in 172.19.
        let used = [
            n("172.17.5.0/24"),
            n("172.18.0.0/15"),
            n("172.20.3.4/32"),
            n("192.0.2.0/24"),
        ];
        // 172.18.0.0/15 covers 172.18 and 172.19.
        assert_eq!(choose(&cands, &used), Some(n("172.21.0.0/16")));
        assert_eq!(choose(&cands[..2], &[n("172.16.0.0/12")]), None);
    }

    #[test]
    fn gateway_is_first_address() {
        assert_eq!(
            first_host(&n("172.17.0.0/16")),
            Ipv4Addr::new(172, 17, 0, 1)
        );
    }
}

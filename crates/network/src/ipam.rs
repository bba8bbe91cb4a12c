//! In-memory IPv4 address management of one subnet: the gateway is reserved, the
//! network and broadcast addresses are never handed out, container addresses are
//! allocated sequentially (a rotating cursor, so a released address is not reused at
//! once, like Docker's serial allocation).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Debug)]
pub(crate) struct Ipam {
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    /// Host offsets (address - network address) in use.
    used: BTreeSet<u32>,
    /// Next offset to try.
    next: u32,
    /// Dynamic addresses come only from this range (`--ip-range`).
    range: Option<Ipv4Net>,
}

impl Ipam {
    pub(crate) fn new(subnet: Ipv4Net, gateway: Ipv4Addr) -> Self {
        let subnet = subnet.trunc();
        Ipam {
            subnet,
            gateway,
            used: BTreeSet::new(),
            next: 1,
            range: None,
        }
    }

    /// Limits dynamic allocation to `range` (static addresses may be anywhere in
    /// the subnet, as Docker allows).
    pub(crate) fn with_range(mut self, range: Option<Ipv4Net>) -> Self {
        self.range = range.map(|r| r.trunc());
        self
    }

    /// The offsets dynamic allocation may use.
    fn alloc_bounds(&self) -> Option<(u32, u32)> {
        let (first, last) = self.first_last()?;
        let Some(r) = self.range else {
            return Some((first, last));
        };
        let lo = u32::from(r.network()).checked_sub(self.base())?;
        let hi = u32::from(r.broadcast()).checked_sub(self.base())?;
        let (lo, hi) = (lo.max(first), hi.min(last));
        (lo <= hi).then_some((lo, hi))
    }

    fn base(&self) -> u32 {
        u32::from(self.subnet.network())
    }

    /// Number of addresses in the subnet, capped to u32.
    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.subnet.prefix_len()))
    }

    /// Offsets that may be handed out: 1 ..= size-2 (no network, no broadcast).
    fn first_last(&self) -> Option<(u32, u32)> {
        let size = self.size();
        if size < 4 {
            return None;
        }
        Some((1, (size - 2) as u32))
    }

    fn offset_of(&self, ip: Ipv4Addr) -> Option<u32> {
        if !self.subnet.contains(&ip) {
            return None;
        }
        Some(u32::from(ip) - self.base())
    }

    fn usable(&self, off: u32) -> bool {
        match self.first_last() {
            Some((first, last)) => {
                off >= first && off <= last && Ipv4Addr::from(self.base() + off) != self.gateway
            }
            None => false,
        }
    }

    /// Allocates the next free address.
    pub(crate) fn allocate(&mut self) -> Option<Ipv4Addr> {
        let (first, last) = self.alloc_bounds()?;
        let span = u64::from(last - first) + 1;
        let mut off = self.next.clamp(first, last);
        for _ in 0..span {
            if self.usable(off) && !self.used.contains(&off) {
                self.used.insert(off);
                self.next = if off == last { first } else { off + 1 };
                return Some(Ipv4Addr::from(self.base() + off));
            }
            off = if off == last { first } else { off + 1 };
        }
        None
    }

    /// Marks an address as used (restore). Returns false if it is outside the
    /// allocatable range or already taken.
    pub(crate) fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset_of(ip) {
            Some(off) if self.usable(off) => {
                let fresh = self.used.insert(off);
                if fresh && off >= self.next {
                    self.next = off + 1;
                }
                fresh
            }
            _ => false,
        }
    }

    /// Releases an address; unknown addresses are ignored.
    pub(crate) fn release(&mut self, ip: Ipv4Addr) {
        if let Some(off) = self.offset_of(ip) {
            self.used.remove(&off);
        }
    }

    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn sequential_skips_gateway_network_broadcast() {
        let mut ipam = Ipam::new(net("10.9.0.0/29"), "10.9.0.1".parse().unwrap());
        let got: Vec<_> = std::iter::from_fn(|| ipam.allocate()).collect();
        let want: Vec<Ipv4Addr> = (2..=6).map(|i| Ipv4Addr::new(10, 9, 0, i)).collect();
        assert_eq!(got, want);
        assert_eq!(ipam.allocate(), None);
    }

    #[test]
    fn gateway_in_the_middle() {
        let mut ipam = Ipam::new(net("10.9.0.0/29"), "10.9.0.3".parse().unwrap());
        let got: Vec<_> = std::iter::from_fn(|| ipam.allocate()).collect();
        assert_eq!(got.len(), 5);
        assert!(!got.contains(&"10.9.0.3".parse().unwrap()));
    }

    #[test]
    fn release_and_rotate() {
        let mut ipam = Ipam::new(net("172.30.0.0/16"), "172.30.0.1".parse().unwrap());
        let a = ipam.allocate().unwrap();
        let b = ipam.allocate().unwrap();
        assert_eq!(a, Ipv4Addr::new(172, 30, 0, 2));
        assert_eq!(b, Ipv4Addr::new(172, 30, 0, 3));
        ipam.release(a);
        // Sequential: the released address is not reused at once.
        assert_eq!(ipam.allocate().unwrap(), Ipv4Addr::new(172, 30, 0, 4));
        assert_eq!(ipam.in_use(), 2);
    }

    #[test]
    fn wraps_around_to_released() {
        let mut ipam = Ipam::new(net("10.9.0.0/29"), "10.9.0.1".parse().unwrap());
        let all: Vec<_> = std::iter::from_fn(|| ipam.allocate()).collect();
        ipam.release(all[1]);
        assert_eq!(ipam.allocate(), Some(all[1]));
    }

    #[test]
    fn reserve_rules() {
        let mut ipam = Ipam::new(net("10.9.0.0/24"), "10.9.0.1".parse().unwrap());
        assert!(!ipam.reserve("10.9.0.1".parse().unwrap()), "gateway");
        assert!(!ipam.reserve("10.9.0.0".parse().unwrap()), "network");
        assert!(!ipam.reserve("10.9.0.255".parse().unwrap()), "broadcast");
        assert!(!ipam.reserve("10.8.0.5".parse().unwrap()), "outside");
        assert!(ipam.reserve("10.9.0.7".parse().unwrap()));
        assert!(!ipam.reserve("10.9.0.7".parse().unwrap()), "twice");
        assert_eq!(ipam.allocate(), Some("10.9.0.8".parse().unwrap()));
    }

    #[test]
    fn range_limits_dynamic_addresses_only() {
        let mut ipam = Ipam::new(net("10.9.0.0/24"), "10.9.0.1".parse().unwrap())
            .with_range(Some(net("10.9.0.128/30")));
        let got: Vec<_> = std::iter::from_fn(|| ipam.allocate()).collect();
        let want: Vec<Ipv4Addr> = (128..=131).map(|i| Ipv4Addr::new(10, 9, 0, i)).collect();
        assert_eq!(got, want);
        assert!(
            ipam.reserve("10.9.0.5".parse().unwrap()),
            "static outside the range"
        );
    }

    #[test]
    fn tiny_subnets_have_no_addresses() {
        let mut ipam = Ipam::new(net("10.9.0.0/31"), "10.9.0.0".parse().unwrap());
        assert_eq!(ipam.allocate(), None);
    }
}

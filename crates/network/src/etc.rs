//! Content of a container's /etc/hosts and /etc/resolv.conf, as Docker writes them
//! (moby `libnetwork/etchosts` and `libnetwork/resolvconf`).

use std::net::{IpAddr, Ipv4Addr};

/// Docker's fixed head of /etc/hosts.
const DEFAULT_HOSTS: &[(&str, &str)] = &[
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
];

/// Nameservers Docker falls back to when the host has none usable from a container.
pub const DEFAULT_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// Content of a container's /etc/hosts in Docker's format: the fixed localhost and
/// IPv6 entries, then `extra` (`--add-host`), then `"<ip>\t<hostname>"` when the
/// container has an address.
///
/// `extra` holds `(hostname, address)` pairs in the order of `--add-host host:ip`;
/// each becomes a line `"<address>\t<hostname>"`.
pub fn hosts_file(hostname: &str, ip: Option<Ipv4Addr>, extra: &[(String, String)]) -> String {
    let mut out = String::with_capacity(256);
    for (addr, names) in DEFAULT_HOSTS {
        out.push_str(addr);
        out.push('\t');
        out.push_str(names);
        out.push('\n');
    }
    for (host, addr) in extra {
        out.push_str(addr);
        out.push('\t');
        out.push_str(host);
        out.push('\n');
    }
    if let Some(ip) = ip {
        out.push_str(&ip.to_string());
        out.push('\t');
        out.push_str(hostname);
        out.push('\n');
    }
    out
}

/// The address of a `nameserver` line, if the line is one.
fn nameserver_of(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("nameserver") => words.next(),
        _ => None,
    }
}

/// Whether a nameserver cannot serve a container on the default bridge: a loopback
/// address (127.0.0.0/8, ::1) is the container's own loopback, and IPv6 servers are
/// unreachable since the default bridge has no IPv6 (Docker's `FilterResolvDNS`
/// with IPv6 disabled).
fn unusable_nameserver(ns: &str) -> bool {
    // Strip a zone ("fe80::1%eth0") before parsing.
    let addr = ns.split('%').next().unwrap_or(ns);
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(_)) => true,
        Err(_) => false,
    }
}

fn words_of<'a>(content: &'a str, key: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for line in content.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            if key == "nameserver" {
                out.extend(words.next());
            } else {
                // Like resolv.conf(5), the last search line wins; options accumulate.
                if key == "search" || key == "domain" {
                    out.clear();
                }
                out.extend(words);
            }
        }
    }
    out
}

/// Content of a container's /etc/resolv.conf, derived from the host's as Docker does.
///
/// - With no `dns`, `search` and `options`: the host's file with the nameserver
///   lines a container cannot use removed (loopback such as systemd-resolved's
///   127.0.0.53, and IPv6 since the default bridge has none); if no nameserver is
///   left, Docker's defaults 8.8.8.8 and 8.8.4.4 are appended.
/// - Otherwise (`--dns`, `--dns-search`, `--dns-option`): a new file of
///   `nameserver` lines, then `search`, then `options`; each list that is empty is
///   taken from the host's file (nameservers filtered as above, with the defaults if
///   none is left). A search list of just "." means no search line.
pub fn resolv_conf(
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    if dns.is_empty() && search.is_empty() && options.is_empty() {
        let mut out = String::with_capacity(host_resolv.len() + 64);
        let mut have_ns = false;
        for line in host_resolv.lines() {
            if let Some(ns) = nameserver_of(line) {
                if unusable_nameserver(ns) {
                    continue;
                }
                have_ns = true;
            }
            out.push_str(line);
            out.push('\n');
        }
        if !have_ns {
            for ns in DEFAULT_DNS {
                out.push_str("nameserver ");
                out.push_str(ns);
                out.push('\n');
            }
        }
        return out;
    }

    let nameservers: Vec<String> = if dns.is_empty() {
        let host: Vec<String> = words_of(host_resolv, "nameserver")
            .into_iter()
            .filter(|ns| !unusable_nameserver(ns))
            .map(str::to_owned)
            .collect();
        if host.is_empty() {
            DEFAULT_DNS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            host
        }
    } else {
        dns.to_vec()
    };
    let search = given_or_host(host_resolv, "search", search);
    let options = given_or_host(host_resolv, "options", options);

    let mut out = String::new();
    for ns in &nameservers {
        out.push_str("nameserver ");
        out.push_str(ns);
        out.push('\n');
    }
    let search_line = search.join(" ");
    if !search.is_empty() && search_line.trim() != "." {
        out.push_str("search ");
        out.push_str(&search_line);
        out.push('\n');
    }
    if !options.is_empty() {
        out.push_str("options ");
        out.push_str(&options.join(" "));
        out.push('\n');
    }
    out
}

/// The user's `--dns-search`/`--dns-option` list, else the host's `key` line.
fn given_or_host(host_resolv: &str, key: &str, given: &[String]) -> Vec<String> {
    if given.is_empty() {
        words_of(host_resolv, key)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        given.to_vec()
    }
}

/// The resolv.conf of a container on a user-defined network: the embedded DNS
/// server at 127.0.0.11 (which forwards to the host's or `--dns` servers), the
/// search list and options (`--dns-search`/`--dns-option`, else the host's), and
/// `ndots:0` as Docker adds unless the user set ndots.
pub fn resolv_conf_embedded(host_resolv: &str, search: &[String], options: &[String]) -> String {
    let search = given_or_host(host_resolv, "search", search);
    let mut options = given_or_host(host_resolv, "options", options);
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut out = String::from("nameserver 127.0.0.11\n");
    let search_line = search.join(" ");
    if !search.is_empty() && search_line.trim() != "." {
        out.push_str(&format!("search {search_line}\n"));
    }
    out.push_str(&format!("options {}\n", options.join(" ")));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn resolv_embedded() {
        let host = "nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n";
        assert_eq!(
            super::resolv_conf_embedded(host, &[], &[]),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        assert_eq!(
            super::resolv_conf_embedded(host, &["a.b".into()], &["ndots:3".into()]),
            "nameserver 127.0.0.11\nsearch a.b\noptions ndots:3\n"
        );
    }

    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn hosts_with_ip_and_extra() {
        let h = hosts_file(
            "abc123",
            Some(Ipv4Addr::new(172, 17, 0, 2)),
            &[("db".to_owned(), "10.0.0.5".to_owned())],
        );
        assert_eq!(
            h,
            "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n\
             10.0.0.5\tdb\n\
             172.17.0.2\tabc123\n"
        );
    }

    #[test]
    fn hosts_without_ip() {
        let h = hosts_file("abc", None, &[]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("ff02::2\tip6-allrouters\n"));
        assert!(!h.contains("abc"));
    }

    #[test]
    fn resolv_drops_loopback_and_ipv6() {
        let host = "# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.1.2.3\nnameserver fd00::1\nsearch example.com\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[]),
            "# comment\nnameserver 10.1.2.3\nsearch example.com\noptions edns0\n"
        );
    }

    #[test]
    fn resolv_defaults_when_only_localhost() {
        let host = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[]),
            "options edns0 trust-ad\nsearch .\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf("", &[], &[], &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn resolv_dns_overrides() {
        let host = "nameserver 10.1.2.3\nsearch corp.example\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host, &s(&["1.1.1.1", "9.9.9.9"]), &[], &[]),
            "nameserver 1.1.1.1\nnameserver 9.9.9.9\nsearch corp.example\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(
                host,
                &[],
                &s(&["a.example", "b.example"]),
                &s(&["ndots:5", "timeout:1"])
            ),
            "nameserver 10.1.2.3\nsearch a.example b.example\noptions ndots:5 timeout:1\n"
        );
        // "--dns-search ." removes the search list.
        assert_eq!(
            resolv_conf(host, &[], &s(&["."]), &[]),
            "nameserver 10.1.2.3\noptions ndots:2\n"
        );
        // --dns with a host that has only localhost nameservers: the user's list wins.
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", &s(&["127.0.0.1"]), &[], &[]),
            "nameserver 127.0.0.1\n"
        );
        // --dns-option with only a localhost nameserver on the host: defaults.
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", &[], &[], &s(&["ndots:1"])),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions ndots:1\n"
        );
    }
}

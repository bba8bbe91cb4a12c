//! The bridge's nftables table, applied once per daemon start with `nft -f -` (one
//! atomic transaction: the table is deleted and recreated).

use std::process::Stdio;

use ipnet::Ipv4Net;
use tokio::io::AsyncWriteExt;

use crate::error::NetworkError;
use crate::model::{PortMapping, Proto};

/// Name of the nftables table (family `ip`) of a bridge.
pub fn table_name(bridge: &str) -> String {
    format!("berth-{bridge}")
}

/// What the ruleset needs of one network.
pub(crate) struct NetRules<'a> {
    pub device: &'a str,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub masquerade: bool,
}

fn push_map(s: &mut String, name: &str, key: &str, elems: &[String]) {
    s.push_str(&format!(
        "\tmap {name} {{\n\t\ttype {key} : ipv4_addr . inet_service\n"
    ));
    if !elems.is_empty() {
        s.push_str(&format!("\t\telements = {{ {} }}\n", elems.join(", ")));
    }
    s.push_str("\t}\n");
}

/// The ruleset that replaces the daemon's table (one transaction): `ip <table>`
/// with NAT (masquerade out of each network, DNAT of published ports from outside,
/// from the host itself and from containers — hairpin), and the forward filter that
/// isolates networks from each other and keeps internal networks inside (traffic
/// between containers of a network without ICC is stopped by the bridge itself:
/// their ports are isolated, see `set_brport`). With `nat`
/// false (dockerd `--iptables=false`) the tables are only removed.
pub(crate) fn ruleset(
    table: &str,
    nets: &[NetRules<'_>],
    ports: &[PortMapping],
    nat: bool,
) -> String {
    // Declaring a table first makes its delete succeed when it does not exist.
    let mut s = format!("table ip {table}\ndelete table ip {table}\n");
    if !nat {
        return s;
    }
    s.push_str(&format!("table ip {table} {{\n"));
    for proto in [Proto::Tcp, Proto::Udp, Proto::Sctp] {
        let (mut addr, mut any) = (Vec::new(), Vec::new());
        for m in ports.iter().filter(|m| m.proto == proto) {
            let target = format!("{} . {}", m.container_ip, m.container_port);
            if m.host_ip.is_unspecified() {
                any.push(format!("{} : {target}", m.host_port));
            } else {
                addr.push(format!("{} . {} : {target}", m.host_ip, m.host_port));
            }
        }
        let p = proto.as_str();
        push_map(
            &mut s,
            &format!("{p}_addr"),
            "ipv4_addr . inet_service",
            &addr,
        );
        push_map(&mut s, &format!("{p}_any"), "inet_service", &any);
    }
    s.push_str("\tchain ports {\n");
    for proto in [Proto::Tcp, Proto::Udp, Proto::Sctp] {
        let p = proto.as_str();
        s.push_str(&format!(
            "\t\tmeta l4proto {p} dnat ip to ip daddr . {p} dport map @{p}_addr\n\
             \t\tmeta l4proto {p} dnat ip to {p} dport map @{p}_any\n"
        ));
    }
    s.push_str(
        "\t}\n\
         \tchain prerouting {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\
         \t\tfib daddr type local jump ports\n\t}\n\
         \tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\
         \t\tfib daddr type local jump ports\n\t}\n\
         \tchain postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n",
    );
    for n in nets {
        let (dev, subnet) = (n.device, n.subnet);
        if n.masquerade && !n.internal {
            s.push_str(&format!(
                "\t\tip saddr {subnet} oifname != \"{dev}\" masquerade\n"
            ));
        }
        // From the host's loopback and from the network itself (hairpin) to a
        // published port: the answer must come back through us.
        s.push_str(&format!(
            "\t\toifname \"{dev}\" ct status dnat ip saddr 127.0.0.0/8 masquerade\n\
             \t\toifname \"{dev}\" ct status dnat ip saddr {subnet} masquerade\n"
        ));
    }
    s.push_str(
        "\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\
         \t\tct state established,related accept\n",
    );
    for n in nets {
        let dev = n.device;
        if !n.internal {
            s.push_str(&format!(
                "\t\toifname \"{dev}\" iifname != \"{dev}\" ct status dnat accept\n"
            ));
        }
        s.push_str(&format!(
            "\t\toifname \"{dev}\" iifname != \"{dev}\" drop\n"
        ));
        if n.internal {
            s.push_str(&format!(
                "\t\tiifname \"{dev}\" oifname != \"{dev}\" drop\n"
            ));
        }
    }
    s.push_str("\t}\n}\n");
    s
}

/// Runs `nft -f -` with `script` on stdin.
pub(crate) async fn apply(script: &str, context: &str) -> Result<(), NetworkError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NetworkError::Nft {
            context: context.to_owned(),
            stderr: format!("cannot run nft (install nftables): {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| NetworkError::Nft {
                context: context.to_owned(),
                stderr: format!("writing the ruleset to nft: {e}"),
            })?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| NetworkError::Nft {
            context: context.to_owned(),
            stderr: format!("waiting for nft: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetworkError::Nft {
            context: context.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Removes the daemon's tables if they exist.
pub(crate) async fn delete_table(table: &str) -> Result<(), NetworkError> {
    apply(&ruleset(table, &[], &[], false), "deleting the table").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_text() {
        let nets = [
            NetRules {
                device: "berth0",
                subnet: "172.17.0.0/16".parse().unwrap(),
                internal: false,
                masquerade: true,
            },
            NetRules {
                device: "br-1",
                subnet: "10.5.0.0/24".parse().unwrap(),
                internal: true,
                masquerade: true,
            },
        ];
        let ports = [PortMapping {
            proto: Proto::Tcp,
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port: 8080,
            container_ip: "172.17.0.2".parse().unwrap(),
            container_port: 80,
        }];
        let r = ruleset("berth-berth0", &nets, &ports, true);
        assert!(r.starts_with("table ip berth-berth0\ndelete table ip berth-berth0\n"));
        assert!(r.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(!r.contains("ip saddr 10.5.0.0/24 oifname != \"br-1\" masquerade"));
        assert!(r.contains("elements = { 8080 : 172.17.0.2 . 80 }"), "{r}");
        assert!(r.contains("iifname \"br-1\" oifname != \"br-1\" drop"));
        let off = ruleset("berth-berth0", &nets, &ports, false);
        assert!(!off.contains("masquerade"));
    }

    #[test]
    fn ruleset_is_accepted_by_nft() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: loading a ruleset needs root");
            return;
        }
        let nets = [NetRules {
            device: "bt-nfttest",
            subnet: "10.250.0.0/24".parse().unwrap(),
            internal: false,
            masquerade: true,
        }];
        let r = ruleset("berth-nfttest", &nets, &[], true);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(apply(&r, "test")).unwrap();
        rt.block_on(delete_table("berth-nfttest")).unwrap();
    }
}

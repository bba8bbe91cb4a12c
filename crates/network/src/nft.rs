//! The bridge's nftables table, applied once per daemon start with `nft -f -` (one
//! atomic transaction: the table is deleted and recreated).

use std::process::Stdio;

use ipnet::Ipv4Net;
use tokio::io::AsyncWriteExt;

use crate::error::NetworkError;

/// Name of the nftables table (family `ip`) of a bridge.
pub fn table_name(bridge: &str) -> String {
    format!("berth-{bridge}")
}

/// The ruleset that replaces the bridge's table: masquerade of the subnet leaving
/// through any interface but the bridge, and forward accept rules for the bridge.
/// With `nat` false the table is only removed (dockerd `--iptables=false`).
pub(crate) fn ruleset(bridge: &str, subnet: Ipv4Net, nat: bool) -> String {
    let table = table_name(bridge);
    // Declaring the table first makes the delete succeed when it does not exist.
    let mut s = format!("table ip {table}\ndelete table ip {table}\n");
    if nat {
        s.push_str(&format!(
            "table ip {table} {{\n\
             \tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr {subnet} oifname != \"{bridge}\" masquerade\n\
             \t}}\n\
             \tchain forward {{\n\
             \t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tiifname \"{bridge}\" accept\n\
             \t\toifname \"{bridge}\" ct state related,established accept\n\
             \t}}\n\
             }}\n"
        ));
    }
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

/// Removes the bridge's table if it exists.
pub(crate) async fn delete_table(bridge: &str) -> Result<(), NetworkError> {
    let table = table_name(bridge);
    apply(
        &format!("table ip {table}\ndelete table ip {table}\n"),
        "deleting the table",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_text() {
        let r = ruleset("berth0", "172.17.0.0/16".parse().unwrap(), true);
        assert!(r.starts_with("table ip berth-berth0\ndelete table ip berth-berth0\n"));
        assert!(r.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(r.contains("iifname \"berth0\" accept"));
        let off = ruleset("berth0", "172.17.0.0/16".parse().unwrap(), false);
        assert!(!off.contains("masquerade"));
    }
}

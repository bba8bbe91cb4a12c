//! Looking at a container: inspect, top, port.

use anyhow::{anyhow, bail, Result};
use clap::Args;

use crate::client::models::PortMap;
use crate::client::Client;
use crate::commands::{inspect_objects, FetchOpts, InspectKind};
use crate::format;

/// `berth container inspect`
#[derive(Args, Debug)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth container inspect`
pub async fn inspect(client: &Client, a: ContainerInspectArgs) -> Result<i32> {
    inspect_objects(
        client,
        &a.containers,
        InspectKind::Container,
        a.format.as_deref(),
        FetchOpts {
            size: a.size,
            verbose: false,
        },
    )
    .await
}

/// `berth top`
#[derive(Args, Debug)]
pub struct TopArgs {
    /// CONTAINER [ps OPTIONS]
    #[arg(value_name = "CONTAINER [ps OPTIONS]", required = true, num_args = 1..,
          trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `berth top`
pub async fn top(client: &Client, a: TopArgs) -> Result<i32> {
    let container = a.args.first().cloned().unwrap_or_default();
    let ps_args = a.args.get(1..).unwrap_or(&[]);
    let ps_args = (!ps_args.is_empty()).then(|| ps_args.join(" "));
    let top = client.container_top(&container, ps_args.as_deref()).await?;
    let mut text = top.titles.unwrap_or_default().join("\t");
    for p in top.processes.unwrap_or_default() {
        text.push('\n');
        text.push_str(&p.join("\t"));
    }
    println!("{}", format::tabwrite_min(&text, 20));
    Ok(0)
}

/// `berth port`
#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// Go's `net.JoinHostPort`.
fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The lines of `docker port`: "80/tcp -> 0.0.0.0:8080" for every binding,
/// or "0.0.0.0:8080" for those of one private port; natural order.
pub fn port_lines(ports: &PortMap, container: &str, want: Option<&str>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match want {
        Some(w) => {
            let (port, proto) = w.split_once('/').unwrap_or((w, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if port.parse::<u16>().is_err() {
                bail!(
                    "Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: {}",
                    if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
                        "value out of range"
                    } else {
                        "invalid syntax"
                    }
                );
            }
            let frontends = ports
                .get(&format!("{port}/{proto}"))
                .and_then(Option::as_ref)
                .filter(|f| !f.is_empty())
                .ok_or_else(|| anyhow!("Error: No public port '{w}' published for {container}"))?;
            for f in frontends {
                out.push(join_host_port(
                    f.host_ip.as_deref().unwrap_or_default(),
                    f.host_port.as_deref().unwrap_or_default(),
                ));
            }
        }
        None => {
            for (from, frontends) in ports {
                for f in frontends.iter().flatten() {
                    let to = join_host_port(
                        f.host_ip.as_deref().unwrap_or_default(),
                        f.host_port.as_deref().unwrap_or_default(),
                    );
                    out.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    out.sort_by(|a, b| format::natural_cmp(a, b));
    Ok(out)
}

/// `berth port`
pub async fn port(client: &Client, a: PortArgs) -> Result<i32> {
    let info = client.container_inspect(&a.container).await?;
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let lines = port_lines(&ports, &a.container, a.port.as_deref())?;
    if !lines.is_empty() {
        println!("{}", lines.join("\n"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::models::PortBinding;

    fn binding(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        }
    }

    #[test]
    fn port_lines_like_docker() {
        let ports: PortMap = [
            (
                "80/tcp".to_string(),
                Some(vec![binding("0.0.0.0", "8080"), binding("::", "8080")]),
            ),
            (
                "443/tcp".to_string(),
                Some(vec![binding("127.0.0.1", "32768")]),
            ),
            ("53/udp".to_string(), Some(vec![binding("", "5353")])),
            ("9000/tcp".to_string(), None),
        ]
        .into();
        assert_eq!(
            port_lines(&ports, "web", None).unwrap(),
            [
                "53/udp -> :5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "443/tcp -> 127.0.0.1:32768",
            ]
        );
        assert_eq!(
            port_lines(&ports, "web", Some("80")).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&ports, "web", Some("53/udp")).unwrap(),
            [":5353"]
        );
        assert_eq!(
            port_lines(&ports, "web", Some("9000"))
                .unwrap_err()
                .to_string(),
            "Error: No public port '9000' published for web"
        );
        assert_eq!(
            port_lines(&ports, "web", Some("53"))
                .unwrap_err()
                .to_string(),
            "Error: No public port '53' published for web"
        );
        assert_eq!(
            port_lines(&ports, "web", Some("http"))
                .unwrap_err()
                .to_string(),
            "Error: invalid port (http): strconv.ParseUint: parsing \"http\": invalid syntax"
        );
    }
}

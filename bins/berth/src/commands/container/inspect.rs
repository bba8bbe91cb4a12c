//! Looking at a container: inspect, top, port.

use anyhow::{bail, Result};
use clap::Args;
use gotemplate::JsonExt;
use serde_json::Value;

use crate::client::{enc, query, Client};
use crate::commands::{inspect_objects, InspectKind};
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
        a.size,
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
    let q = if ps_args.is_empty() {
        String::new()
    } else {
        query(&[("ps_args", ps_args.join(" "))])
    };
    let v = client
        .get_json::<Value>(&format!("/containers/{}/top{q}", enc(&container)))
        .await?;
    let titles: Vec<String> = v
        .ci("Titles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut text = titles.join("\t");
    for p in v
        .ci("Processes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let cells: Vec<String> = p
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        text.push('\n');
        text.push_str(&cells.join("\t"));
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

/// `berth port`
pub async fn port(client: &Client, a: PortArgs) -> Result<i32> {
    let info = client
        .get_json::<Value>(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    let ports = info
        .cptr("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let want = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k.as_str(), ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut found = false;
    for k in keys {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in ports[k].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let ip = b.ci("HostIp").and_then(Value::as_str).unwrap_or("");
            let hp = b.ci("HostPort").and_then(Value::as_str).unwrap_or("");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            found = true;
            if want.is_some() {
                println!("{ip}:{hp}");
            } else {
                println!("{k} -> {ip}:{hp}");
            }
        }
    }
    if let (Some(w), false) = (&want, found) {
        bail!("Error: No public port '{w}' published for {}", a.container);
    }
    Ok(0)
}

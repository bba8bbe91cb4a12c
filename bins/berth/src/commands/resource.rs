//! Network and volume commands: ls, create, rm, inspect, prune, and
//! network connect/disconnect.

use anyhow::{anyhow, bail, Result};
use clap::Args;
use gotemplate::JsonExt;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::container::filters_json;
use super::{eprint_err, image::confirm, inspect_objects, InspectKind};
use crate::client::{empty, enc, query, Client};
use crate::format::{self, short_id};

fn kv_map(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|it| {
            let (k, v) = it.split_once('=').unwrap_or((it.as_str(), ""));
            (k.to_string(), Value::String(v.to_string()))
        })
        .collect()
}

fn labels_string(v: &Value) -> (String, Value) {
    let m = v
        .ci("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut kv: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    kv.sort();
    (kv.join(","), Value::Object(m))
}

fn list_format(quiet: bool, format: Option<&str>, default: &str) -> String {
    if quiet {
        return "{{.__quiet}}".into();
    }
    match format {
        Some("json") => "{{json .}}".into(),
        Some(f) if f != "table" => f.to_string(),
        _ => default.to_string(),
    }
}

async fn rm_each(client: &Client, names: &[String], path: impl Fn(&str) -> String) -> Result<i32> {
    let mut code = 0;
    for n in names {
        match client.call(Method::DELETE, &path(n), None, empty()).await {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprint_err(&e.into());
                code = 1;
            }
        }
    }
    Ok(code)
}

// ---------------------------------------------------------------------------
// networks
// ---------------------------------------------------------------------------

/// `berth network ls`
#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth network ls`
pub async fn network_ls(client: &Client, a: NetworkLsArgs) -> Result<i32> {
    let q = match filters_json(&a.filter)? {
        Some(f) => query(&[("filters", f)]),
        None => String::new(),
    };
    let list = client.get_json::<Value>(&format!("/networks{q}")).await?;
    let mut nets: Vec<Value> = list.as_array().cloned().unwrap_or_default();
    nets.sort_by(|x, y| {
        let n = |v: &Value| {
            v.ci("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        n(x).cmp(&n(y))
    });
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| {
            let s = |k: &str| n.ci(k).and_then(Value::as_str).unwrap_or("").to_string();
            let id = s("Id");
            let id = if a.no_trunc { id } else { short_id(&id) };
            let (labels, label_map) = labels_string(n);
            json!({
                "ID": id.clone(),
                "__quiet": id,
                "Name": s("Name"),
                "Driver": s("Driver"),
                "Scope": s("Scope"),
                "IPv6": n.ci("EnableIPv6").and_then(Value::as_bool).unwrap_or(false).to_string(),
                "Internal": n.ci("Internal").and_then(Value::as_bool).unwrap_or(false).to_string(),
                "Labels": labels,
                "__Label": label_map,
                "CreatedAt": s("Created"),
                "__json_html": true,
            })
        })
        .collect();
    let headers = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
        "__Label": {}, "__quiet": "", "__json_html": true});
    let f = list_format(
        a.quiet,
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    );
    print!("{}", format::render_rows(&f, &headers, &rows)?);
    Ok(0)
}

/// `berth network create`
#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    pub name: String,
}

/// `berth network create`
pub async fn network_create(client: &Client, a: NetworkCreateArgs) -> Result<i32> {
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        bail!("every gateway and ip-range must belong to a --subnet");
    }
    let config: Vec<Value> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = json!({"Subnet": s});
            if let Some(g) = a.gateway.get(i) {
                c["Gateway"] = json!(g);
            }
            if let Some(r) = a.ip_range.get(i) {
                c["IPRange"] = json!(r);
            }
            c
        })
        .collect();
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "EnableIPv6": a.ipv6,
        "Attachable": a.attachable,
        "Labels": kv_map(&a.label),
        "Options": kv_map(&a.opt),
        "IPAM": {"Driver": "default", "Config": config, "Options": {}},
    });
    let v = client
        .post_json::<_, Value>("/networks/create", &body)
        .await?;
    if let Some(w) = v
        .ci("Warning")
        .and_then(Value::as_str)
        .filter(|w| !w.is_empty())
    {
        eprintln!("WARNING: {w}");
    }
    println!(
        "{}",
        v.ci("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("daemon returned no network id"))?
    );
    Ok(0)
}

/// `berth network rm`
#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `berth network rm`
pub async fn network_rm(client: &Client, a: NetworkRmArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.networks {
        match client
            .call(
                Method::DELETE,
                &format!("/networks/{}", enc(n)),
                None,
                empty(),
            )
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) => {
                let missing = crate::client::daemon_error(&e).is_some_and(|d| d.status == 404);
                if !(a.force && missing) {
                    eprint_err(&e.into());
                    code = 1;
                }
            }
        }
    }
    if code != 0 {
        // docker's network rm ends a failed run with this line.
        eprintln!("exit status 1");
    }
    Ok(code)
}

/// `berth network inspect`
#[derive(Args, Debug)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `berth network inspect`
pub async fn network_inspect(client: &Client, a: NetworkInspectArgs) -> Result<i32> {
    inspect_objects(
        client,
        &a.networks,
        InspectKind::Network,
        a.format.as_deref(),
        false,
    )
    .await
}

/// `berth network connect`
#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    pub network: String,
    pub container: String,
}

/// `berth network connect`
pub async fn network_connect(client: &Client, a: NetworkConnectArgs) -> Result<i32> {
    let mut ep = json!({"Aliases": a.alias});
    if let Some(ip) = &a.ip {
        ep["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    client
        .post_json::<_, Value>(
            &format!("/networks/{}/connect", enc(&a.network)),
            &json!({"Container": a.container, "EndpointConfig": ep}),
        )
        .await?;
    Ok(0)
}

/// `berth network disconnect`
#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

/// `berth network disconnect`
pub async fn network_disconnect(client: &Client, a: NetworkDisconnectArgs) -> Result<i32> {
    client
        .post_json::<_, Value>(
            &format!("/networks/{}/disconnect", enc(&a.network)),
            &json!({"Container": a.container, "Force": a.force}),
        )
        .await?;
    Ok(0)
}

/// `berth network prune`
#[derive(Args, Debug)]
pub struct NetworkPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `berth network prune`
pub async fn network_prune(client: &Client, a: NetworkPruneArgs) -> Result<i32> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let q = match filters_json(&a.filter)? {
        Some(f) => query(&[("filters", f)]),
        None => String::new(),
    };
    let v = client.post::<Value>(&format!("/networks/prune{q}")).await?;
    let nets: Vec<&str> = v
        .ci("NetworksDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !nets.is_empty() {
        println!("Deleted Networks:\n{}\n", nets.join("\n"));
    }
    Ok(0)
}

// ---------------------------------------------------------------------------
// volumes
// ---------------------------------------------------------------------------

/// `berth volume ls`
#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth volume ls`
pub async fn volume_ls(client: &Client, a: VolumeLsArgs) -> Result<i32> {
    let q = match filters_json(&a.filter)? {
        Some(f) => query(&[("filters", f)]),
        None => String::new(),
    };
    let v = client.get_json::<Value>(&format!("/volumes{q}")).await?;
    let mut vols: Vec<Value> = v
        .ci("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    vols.sort_by(|x, y| {
        let n = |v: &Value| {
            v.ci("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        n(x).cmp(&n(y))
    });
    let rows: Vec<Value> = vols
        .iter()
        .map(|vol| {
            let s = |k: &str| vol.ci(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (labels, label_map) = labels_string(vol);
            json!({
                "Name": s("Name"),
                "__quiet": s("Name"),
                "Driver": s("Driver"),
                "Scope": s("Scope"),
                "Mountpoint": s("Mountpoint"),
                "Labels": labels,
                "__Label": label_map,
                "Links": "N/A",
                "Size": "N/A",
                "Availability": "N/A",
                "Group": "N/A",
                "__json_html": true,
            })
        })
        .collect();
    let headers = json!({"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
        "Availability": "AVAILABILITY", "Group": "GROUP", "__Label": {}, "__quiet": "",
        "__json_html": true});
    let f = list_format(a.quiet, a.format.as_deref(), "table {{.Driver}}\t{{.Name}}");
    print!("{}", format::render_rows(&f, &headers, &rows)?);
    for w in v
        .ci("Warnings")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if let Some(w) = w.as_str() {
            eprintln!("{w}");
        }
    }
    Ok(0)
}

/// `berth volume create`
#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Volume name
    pub name: Option<String>,
}

/// `berth volume create`
pub async fn volume_create(client: &Client, a: VolumeCreateArgs) -> Result<i32> {
    let body = json!({
        "Name": a.name.clone().unwrap_or_default(),
        "Driver": a.driver,
        "DriverOpts": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    let v = client
        .post_json::<_, Value>("/volumes/create", &body)
        .await?;
    println!("{}", v.ci("Name").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

/// `berth volume rm`
#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth volume rm`
pub async fn volume_rm(client: &Client, a: VolumeRmArgs) -> Result<i32> {
    let q = if a.force { "?force=1" } else { "" };
    rm_each(client, &a.volumes, |n| format!("/volumes/{}{q}", enc(n))).await
}

/// `berth volume inspect`
#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth volume inspect`
pub async fn volume_inspect(client: &Client, a: VolumeInspectArgs) -> Result<i32> {
    inspect_objects(
        client,
        &a.volumes,
        InspectKind::Volume,
        a.format.as_deref(),
        false,
    )
    .await
}

/// `berth volume prune`
#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `berth volume prune`
pub async fn volume_prune(client: &Client, a: VolumePruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("all=true".into());
    }
    let q = match filters_json(&filters)? {
        Some(f) => query(&[("filters", f)]),
        None => String::new(),
    };
    let v = client.post::<Value>(&format!("/volumes/prune{q}")).await?;
    let vols: Vec<&str> = v
        .ci("VolumesDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !vols.is_empty() {
        println!("Deleted Volumes:\n{}\n", vols.join("\n"));
    }
    let space = v.ci("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    println!(
        "Total reclaimed space: {}",
        format::human_size(space as f64)
    );
    Ok(0)
}

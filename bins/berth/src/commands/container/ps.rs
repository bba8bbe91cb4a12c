//! `berth ps`: the rows docker's formatter shows (also the filters flag and
//! Go time strings the image and resource listings share).

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use clap::Args;
use serde::Serialize;

use crate::client::models::{ContainerSummary, OciPlatform, PortSummary, PortSummaryTypeEnum};
use crate::client::{Client, ContainerListOptions};
use crate::format::{self, ellipsis, human_duration, short_id, status_string};

/// `berth ps`
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// Parses repeated `-f key=value` into the API's filters JSON.
pub fn filters_json(filters: &[String]) -> Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut m: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(Some(serde_json::to_string(&m)?))
}

/// strconv.Quote
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn format_ports(ports: &[PortSummary]) -> String {
    let mut items: Vec<(&str, u16, String)> = ports
        .iter()
        .map(|p| {
            let private = p.private_port;
            let typ = match p.typ {
                Some(t) if t != PortSummaryTypeEnum::EMPTY => t.to_string(),
                _ => "tcp".to_string(),
            };
            let ip = p.ip.as_deref().unwrap_or("");
            let s = match p.public_port {
                Some(public) if public != 0 => {
                    let shown = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{shown}:{public}->{private}/{typ}")
                }
                _ => format!("{private}/{typ}"),
            };
            (ip, private, s)
        })
        .collect();
    items.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    items.dedup_by(|a, b| a.2 == b.2);
    items
        .into_iter()
        .map(|i| i.2)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of docker's container formatter.
#[derive(Debug, Serialize)]
pub struct PsRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Names")]
    names: String,
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "Command")]
    command: String,
    #[serde(rename = "CreatedAt")]
    created_at: String,
    #[serde(rename = "RunningFor")]
    running_for: String,
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "State")]
    state: String,
    #[serde(rename = "Ports")]
    ports: String,
    #[serde(rename = "Labels")]
    labels: String,
    #[serde(rename = "Networks")]
    networks: String,
    #[serde(rename = "Mounts")]
    mounts: String,
    #[serde(rename = "LocalVolumes")]
    local_volumes: String,
    #[serde(rename = "Size")]
    size: String,
    /// The image platform (null when the daemon names none).
    #[serde(rename = "Platform")]
    platform: Option<OciPlatform>,
    /// Answers `{{.Label "key"}}`.
    #[serde(rename = "__Label")]
    label: BTreeMap<String, String>,
    /// Marks a formatter row for the template engine.
    #[serde(rename = "__json_html")]
    json_html: bool,
}

/// Local time like Go's `time.Time.String()` without the monotonic part.
pub fn go_time_string(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) => {
            let z = t.format("%Z").to_string();
            let z = if z == "+00:00" { "UTC".to_string() } else { z };
            format!("{} {}", t.format("%Y-%m-%d %H:%M:%S %z"), z)
        }
        None => unix.to_string(),
    }
}

/// One `docker ps` formatter row for a container list entry.
pub fn ps_row(c: &ContainerSummary, trunc: bool, now: i64) -> PsRow {
    let id = c.id.clone().unwrap_or_default();
    let names: Vec<&str> = c
        .names
        .iter()
        .flatten()
        .map(|n| n.trim_start_matches('/'))
        // Link names ("/other/alias") are hidden like docker does.
        .filter(|n| !n.contains('/'))
        .collect();
    let mut image = c.image.clone().unwrap_or_default();
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        if image.starts_with("sha256:") {
            image = short_id(&image);
        } else if let Some((n, _)) = image.split_once('@') {
            image = n.to_string();
        }
    }
    let command = c.command.clone().unwrap_or_default();
    let command = go_quote(&if trunc {
        ellipsis(&command, 20)
    } else {
        command
    });
    let created = c.created.unwrap_or(0);
    let state = c.state.map(|s| s.to_string()).unwrap_or_default();
    let mut status = c.status.clone().unwrap_or_default();
    if status.is_empty() {
        status = status_string(&state, 0, None, None, now);
    }
    let ports = format_ports(c.ports.as_deref().unwrap_or(&[]));
    let labels = c.labels.clone().unwrap_or_default();
    let mut networks: Vec<&str> = c
        .network_settings
        .iter()
        .flat_map(|n| n.networks.iter().flatten())
        .map(|(name, _)| name.as_str())
        .collect();
    networks.sort_unstable();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            let name = m
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .or(m.source.as_deref())
                .unwrap_or("");
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = c
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let size = {
        let rw = c.size_rw.unwrap_or(0);
        let root = c.size_root_fs.unwrap_or(0);
        let srw = format::human_size_prec(rw as f64, 3);
        if root > 0 {
            format!(
                "{srw} (virtual {})",
                format::human_size_prec(root as f64, 3)
            )
        } else {
            srw
        }
    };
    let platform = c
        .image_manifest_descriptor
        .as_ref()
        .and_then(|d| d.platform.clone());
    PsRow {
        id: if trunc { short_id(&id) } else { id },
        names: names.join(","),
        image,
        command,
        created_at: go_time_string(created),
        running_for: format!("{} ago", human_duration(now - created)),
        status,
        state,
        ports,
        labels: format::labels_joined(&labels),
        networks: networks.join(","),
        mounts: mounts.join(","),
        local_volumes: local_volumes.to_string(),
        size,
        platform,
        label: labels.into_iter().collect(),
        json_html: true,
    }
}

/// Header names of the `docker ps` columns.
pub fn ps_headers() -> PsRow {
    PsRow {
        id: "CONTAINER ID".into(),
        names: "NAMES".into(),
        image: "IMAGE".into(),
        command: "COMMAND".into(),
        created_at: "CREATED AT".into(),
        running_for: "CREATED".into(),
        status: "STATUS".into(),
        state: "STATE".into(),
        ports: "PORTS".into(),
        labels: "LABELS".into(),
        networks: "NETWORKS".into(),
        mounts: "MOUNTS".into(),
        local_volumes: "LOCAL VOLUMES".into(),
        size: "SIZE".into(),
        platform: None,
        label: BTreeMap::new(),
        json_html: true,
    }
}

/// `berth ps`
pub async fn ps(client: &Client, a: PsArgs) -> Result<i32> {
    let limit = if a.latest { 1 } else { a.last };
    // Like docker, ask for sizes when the format shows them.
    let wants_size = a.size
        || (!a.quiet
            && a.format
                .as_deref()
                // docker runs the template to see whether it reads .Size;
                // the bare "json" key is not a template and does not.
                .is_some_and(|f| f.contains(".Size") || f.contains("json .}}")));
    let list = client
        .container_list(&ContainerListOptions {
            all: a.all || limit > 0,
            limit: (limit > 0).then_some(limit),
            size: wants_size,
            filters: filters_json(&a.filter)?,
        })
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<PsRow> = list.iter().map(|c| ps_row(c, !a.no_trunc, now)).collect();
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some("table") => default_ps_format(a.size),
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
            None => default_ps_format(a.size),
        }
    };
    print!("{}", format::render_typed(&format, &ps_headers(), &rows)?);
    Ok(0)
}

fn default_ps_format(size: bool) -> String {
    let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
    if size {
        f.push_str("\t{{.Size}}");
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows() {
        let c = serde_json::json!({
            "Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "busybox",
            "Command": "sleep 100000000000000000000", "Created": 1000, "State": "running",
            "Status": "Up 3 seconds",
            "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
                      {"PrivatePort": 53, "Type": "udp"}],
            "Labels": {"b": "2", "a": "1"}
        });
        let c: ContainerSummary = serde_json::from_value(c).unwrap();
        let r = serde_json::to_value(ps_row(&c, true, 1005)).unwrap();
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(r["RunningFor"], "5 seconds ago");
        assert_eq!(r["Ports"], "53/udp, 0.0.0.0:8080->80/tcp");
        assert_eq!(r["Labels"], "a=1,b=2");
        let t = gotemplate::Template::parse("{{.Label \"b\"}}").unwrap();
        assert_eq!(t.execute(&r).unwrap(), "2");
        let full = serde_json::to_value(ps_row(&c, false, 1005)).unwrap();
        assert_eq!(full["ID"], "0123456789abcdef0123");
        assert_eq!(full["Command"], "\"sleep 100000000000000000000\"");
    }

    #[test]
    fn filters() {
        assert_eq!(filters_json(&[]).unwrap(), None);
        assert_eq!(
            filters_json(&["status=exited".into(), "label=a=b".into()])
                .unwrap()
                .unwrap(),
            r#"{"label":{"a=b":true},"status":{"exited":true}}"#
        );
        assert!(filters_json(&["bad".into()]).is_err());
    }
}

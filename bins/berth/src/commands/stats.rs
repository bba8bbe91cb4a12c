//! `berth stats` and `berth update`.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::eprint_err;
use super::opts::{parse_memory_swap, parse_restart};
use crate::client::models::{ContainerCpuStats, ContainerStatsResponse, ContainerUpdateBody};
use crate::client::{Client, ContainerListOptions};
use crate::format::{self, bytes_size, human_size_prec, short_id};

/// `berth stats`
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub containers: Vec<String>,
}

/// One row of docker's stats formatter.
#[derive(Debug, Serialize)]
pub struct StatsRow {
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "CPUPerc")]
    cpu_perc: String,
    #[serde(rename = "MemUsage")]
    mem_usage: String,
    #[serde(rename = "MemPerc")]
    mem_perc: String,
    #[serde(rename = "NetIO")]
    net_io: String,
    #[serde(rename = "BlockIO")]
    block_io: String,
    #[serde(rename = "PIDs")]
    pids: String,
    /// Marks a formatter row for the template engine.
    #[serde(rename = "__json_html")]
    json_html: bool,
}

fn cpu_total(c: Option<&ContainerCpuStats>) -> f64 {
    c.and_then(|c| c.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0) as f64
}

fn system_total(c: Option<&ContainerCpuStats>) -> f64 {
    c.and_then(|c| c.system_cpu_usage).unwrap_or(0) as f64
}

/// One stats row from a stats sample, as docker's formatter computes it;
/// `container` is the container as the user named it (or its short id).
pub fn stats_row(
    container: &str,
    name: &str,
    id: &str,
    s: &ContainerStatsResponse,
    trunc: bool,
) -> StatsRow {
    let (cpu_now, cpu_pre) = (s.cpu_stats.as_ref(), s.precpu_stats.as_ref());
    let cpu_delta = cpu_total(cpu_now) - cpu_total(cpu_pre);
    let sys_delta = system_total(cpu_now) - system_total(cpu_pre);
    let mut online = f64::from(cpu_now.and_then(|c| c.online_cpus).unwrap_or(0));
    if online == 0.0 {
        online = cpu_now
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0.0, |p| p.len() as f64);
    }
    let cpu = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let memory = s.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0) as f64;
    // cgroup v1 reports total_inactive_file, v2 inactive_file.
    let inactive = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("total_inactive_file")
                .or_else(|| st.get("inactive_file"))
        })
        .copied()
        .unwrap_or(0) as f64;
    let mem = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = memory.and_then(|m| m.limit).unwrap_or(0) as f64;
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes.unwrap_or(0) as f64;
        tx += n.tx_bytes.unwrap_or(0) as f64;
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    let entries = s
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_deref())
        .unwrap_or_default();
    for e in entries {
        let v = e.value.unwrap_or(0) as f64;
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => rd += v,
            Some("write") => wr += v,
            _ => {}
        }
    }
    let pids = s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0);
    let id = if trunc { short_id(id) } else { id.to_string() };
    StatsRow {
        container: container.to_string(),
        id,
        name: name.trim_start_matches('/').to_string(),
        cpu_perc: format!("{cpu:.2}%"),
        mem_usage: format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        mem_perc: format!("{mem_pct:.2}%"),
        net_io: format!("{} / {}", human_size_prec(rx, 3), human_size_prec(tx, 3)),
        block_io: format!("{} / {}", human_size_prec(rd, 3), human_size_prec(wr, 3)),
        pids: pids.to_string(),
        json_html: true,
    }
}

fn stats_headers() -> StatsRow {
    StatsRow {
        container: "CONTAINER".into(),
        id: "CONTAINER ID".into(),
        name: "NAME".into(),
        cpu_perc: "CPU %".into(),
        mem_usage: "MEM USAGE / LIMIT".into(),
        mem_perc: "MEM %".into(),
        net_io: "NET I/O".into(),
        block_io: "BLOCK I/O".into(),
        pids: "PIDS".into(),
        json_html: true,
    }
}

/// `berth stats`
pub async fn stats(client: &Client, a: StatsArgs) -> Result<i32> {
    let formats = format::ListFormats {
        table: "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
        quiet: "",
        raw: None,
    };
    let format = format::list_format(a.format.as_deref(), false, &formats);
    loop {
        // Which containers: the named ones, else the (running) list.
        let targets: Vec<String> = if a.containers.is_empty() {
            let opts = ContainerListOptions {
                all: a.all,
                ..Default::default()
            };
            client
                .container_list(&opts)
                .await?
                .into_iter()
                .filter_map(|c| c.id)
                .map(|id| short_id(&id))
                .collect()
        } else {
            a.containers.clone()
        };
        let mut rows = Vec::new();
        let mut code = 0;
        for t in &targets {
            match client.container_stats_once(t).await {
                Ok(s) => {
                    let id = s.id.clone().unwrap_or_else(|| t.clone());
                    let name = s.name.clone().unwrap_or_else(|| t.clone());
                    rows.push(stats_row(t, &name, &id, &s, !a.no_trunc));
                }
                Err(e) => {
                    eprint_err(&e.into());
                    code = 1;
                }
            }
        }
        let text = format::render_typed(&format, &stats_headers(), &rows)?;
        if a.no_stream {
            print!("{text}");
            return Ok(code);
        }
        // Redraw in place like docker's streaming view.
        let mut out = std::io::stdout().lock();
        write!(out, "\x1b[2J\x1b[H{text}")?;
        out.flush()?;
        drop(out);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `berth update`
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

impl UpdateArgs {
    /// The update body: only the resources the flags name.
    pub fn body(&self) -> Result<ContainerUpdateBody> {
        let ram = |v: &Option<String>| v.as_deref().map(format::parse_ram_bytes).transpose();
        let body = ContainerUpdateBody {
            nano_cpus: self.cpus.map(|c| (c * 1e9).round() as i64),
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus.clone(),
            memory: ram(&self.memory)?,
            memory_reservation: ram(&self.memory_reservation)?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(parse_memory_swap)
                .transpose()?,
            pids_limit: self.pids_limit,
            restart_policy: self.restart.as_deref().map(parse_restart).transpose()?,
            ..Default::default()
        };
        if body == ContainerUpdateBody::default() {
            bail!("you must provide one or more flags when using this command");
        }
        Ok(body)
    }
}

/// `berth update`
pub async fn update(client: &Client, a: UpdateArgs) -> Result<i32> {
    let body = a.body()?;
    // Like docker: the names updated, then every warning (on stdout), then
    // the errors.
    let (mut warnings, mut errors) = (Vec::new(), Vec::new());
    for c in &a.containers {
        match client.container_update(c, &body).await {
            Ok(resp) => {
                println!("{c}");
                warnings.extend(resp.warnings.unwrap_or_default());
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !warnings.is_empty() {
        println!("{}", warnings.join("\n"));
    }
    if errors.is_empty() {
        return Ok(0);
    }
    eprintln!("{}", errors.join("\n"));
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stats_math() {
        let s: ContainerStatsResponse = serde_json::from_value(json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 421888 + 4096, "limit": 25_275_000_000u64,
                             "stats": {"total_inactive_file": 4096}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"op": "Read", "value": 2048}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}
        }))
        .unwrap();
        let r =
            serde_json::to_value(stats_row("web", "/web", "0123456789abcdef", &s, true)).unwrap();
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "412KiB / 23.54GiB");
        assert_eq!(r["MemPerc"], "0.00%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "2.05kB / 0B");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["ID"], "0123456789ab");
    }

    #[test]
    fn update_bodies() {
        let a = UpdateArgs {
            cpus: Some(1.5),
            cpu_shares: None,
            cpu_period: None,
            cpu_quota: Some(-1),
            cpuset_cpus: None,
            memory: Some("64m".into()),
            memory_reservation: None,
            memory_swap: Some("-1".into()),
            pids_limit: None,
            restart: Some("on-failure:3".into()),
            containers: vec!["c".into()],
        };
        assert_eq!(
            serde_json::to_value(a.body().unwrap()).unwrap(),
            json!({"NanoCpus": 1_500_000_000i64, "CpuQuota": -1, "Memory": 67108864,
                   "MemorySwap": -1, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}})
        );
        let none = UpdateArgs {
            cpus: None,
            memory: None,
            memory_swap: None,
            cpu_quota: None,
            restart: None,
            ..a
        };
        assert_eq!(
            none.body().unwrap_err().to_string(),
            "you must provide one or more flags when using this command"
        );
        let bad = UpdateArgs {
            restart: Some("sometimes".into()),
            ..none
        };
        assert!(bad.body().is_err());
    }
}

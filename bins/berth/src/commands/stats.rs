//! `berth stats` and `berth update`.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use gotemplate::JsonExt;
use serde_json::{json, Value};

use super::eprint_err;
use crate::client::{enc, query, Client};
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

fn num(v: &Value, ptr: &str) -> f64 {
    v.cptr(ptr).and_then(Value::as_f64).unwrap_or(0.0)
}

/// One stats row from a stats sample, as docker's formatter computes it.
pub fn stats_row(name: &str, id: &str, s: &Value, trunc: bool) -> Value {
    let cpu_delta =
        num(s, "/cpu_stats/cpu_usage/total_usage") - num(s, "/precpu_stats/cpu_usage/total_usage");
    let sys_delta =
        num(s, "/cpu_stats/system_cpu_usage") - num(s, "/precpu_stats/system_cpu_usage");
    let mut online = num(s, "/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .cptr("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    let cpu = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = num(s, "/memory_stats/usage");
    // cgroup v1 reports total_inactive_file, v2 inactive_file.
    let inactive = s
        .cptr("/memory_stats/stats/total_inactive_file")
        .or_else(|| s.cptr("/memory_stats/stats/inactive_file"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mem = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = num(s, "/memory_stats/limit");
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s.ci("networks").and_then(Value::as_object) {
        for n in nets.values() {
            rx += num(n, "/rx_bytes");
            tx += num(n, "/tx_bytes");
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s
        .cptr("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let v = num(e, "/value");
        match e
            .ci("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("read") => rd += v,
            Some("write") => wr += v,
            _ => {}
        }
    }
    let pids = s
        .cptr("/pids_stats/current")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({
        "Container": if trunc { short_id(id) } else { id.to_string() },
        "ID": if trunc { short_id(id) } else { id.to_string() },
        "Name": name.trim_start_matches('/'),
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size_prec(rx, 3), human_size_prec(tx, 3)),
        "BlockIO": format!("{} / {}", human_size_prec(rd, 3), human_size_prec(wr, 3)),
        "PIDs": pids.to_string(),
        "__json_html": true,
    })
}

fn stats_headers() -> Value {
    json!({"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS", "__json_html": true})
}

/// `berth stats`
pub async fn stats(client: &Client, a: StatsArgs) -> Result<i32> {
    let format = match a.format.as_deref() {
        Some("json") => "{{json .}}".to_string(),
        Some(f) if f != "table" => f.to_string(),
        _ => "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}".to_string(),
    };
    loop {
        // Which containers: the named ones, else the (running) list.
        let targets: Vec<String> = if a.containers.is_empty() {
            let mut params = Vec::new();
            if a.all {
                params.push(("all", "1".to_string()));
            }
            let list = client
                .get_json::<Value>(&format!("/containers/json{}", query(&params)))
                .await?;
            list.as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|c| c.ci("Id").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            a.containers.clone()
        };
        let mut rows = Vec::new();
        let mut code = 0;
        for t in &targets {
            match client
                .get_json::<Value>(&format!("/containers/{}/stats?stream=false", enc(t)))
                .await
            {
                Ok(s) => {
                    let id = s.ci("id").and_then(Value::as_str).unwrap_or(t).to_string();
                    let name = s
                        .ci("name")
                        .and_then(Value::as_str)
                        .unwrap_or(t)
                        .to_string();
                    rows.push(stats_row(&name, &id, &s, !a.no_trunc));
                }
                Err(e) => {
                    eprint_err(&e.into());
                    code = 1;
                }
            }
        }
        let text = format::render_rows(&format, &stats_headers(), &rows)?;
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

/// `berth update`
pub async fn update(client: &Client, a: UpdateArgs) -> Result<i32> {
    let mut body = serde_json::Map::new();
    if let Some(c) = a.cpus {
        body.insert("NanoCpus".into(), json!((c * 1e9).round() as i64));
    }
    if let Some(v) = a.cpu_shares {
        body.insert("CpuShares".into(), json!(v));
    }
    if let Some(v) = a.cpu_period {
        body.insert("CpuPeriod".into(), json!(v));
    }
    if let Some(v) = a.cpu_quota {
        body.insert("CpuQuota".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        body.insert("CpusetCpus".into(), json!(v));
    }
    if let Some(v) = &a.memory {
        body.insert("Memory".into(), json!(format::parse_ram_bytes(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        body.insert(
            "MemoryReservation".into(),
            json!(format::parse_ram_bytes(v)?),
        );
    }
    if let Some(v) = &a.memory_swap {
        let n = if v == "-1" {
            -1
        } else {
            format::parse_ram_bytes(v)?
        };
        body.insert("MemorySwap".into(), json!(n));
    }
    if let Some(v) = a.pids_limit {
        body.insert("PidsLimit".into(), json!(v));
    }
    if let Some(r) = &a.restart {
        let (name, count) = match r.split_once(':') {
            Some((n, c)) => (n, c.parse::<i64>().unwrap_or(0)),
            None => (r.as_str(), 0),
        };
        body.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": count}),
        );
    }
    if body.is_empty() {
        anyhow::bail!("you must provide one or more flags when using this command");
    }
    let body = Value::Object(body);
    let mut code = 0;
    for c in &a.containers {
        match client
            .post_json::<_, Value>(&format!("/containers/{}/update", enc(c)), &body)
            .await
        {
            Ok(v) => {
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
                println!("{c}");
            }
            Err(e) => {
                eprint_err(&e.into());
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_math() {
        let s = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 421888 + 4096, "limit": 25_275_000_000u64,
                             "stats": {"total_inactive_file": 4096}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"op": "Read", "value": 2048}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}
        });
        let r = stats_row("/web", "0123456789abcdef", &s, true);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "412KiB / 23.54GiB");
        assert_eq!(r["MemPerc"], "0.00%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "2.05kB / 0B");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["ID"], "0123456789ab");
    }
}

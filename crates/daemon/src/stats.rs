//! `docker stats`: samples of a container's cgroup counters, its network
//! interfaces (read from its network namespace through `/proc/<pid>/net/dev`)
//! and the host's CPU time, in Docker's JSON shape, so clients compute CPU
//! percentages from `cpu_stats` - `precpu_stats`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use api_server::backend::StatsStream;
use api_server::stats::StatsOptions;
use engine_types::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
    ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats, ContainerStatsResponse,
    ContainerThrottlingData,
};
use runtime::cgroup_stats::{BlkioEntry, CgroupStats};

use crate::container::{Container, ContainerRecord};
use crate::error::{DaemonError, Result};
use crate::util;
use crate::Daemon;

/// Between two samples of a stream (Docker's period).
const STREAM_PERIOD: Duration = Duration::from_secs(1);
/// Between the two samples of a `stream=false` answer (enough for a CPU
/// percentage: 10 USER_HZ ticks per CPU; dockerd waits a full period).
const SINGLE_PERIOD: Duration = Duration::from_millis(100);
/// `/proc/stat` counts in USER_HZ ticks.
const NANOS_PER_TICK: u64 = 10_000_000;

/// The host's CPU time (user, nice, system, idle, iowait, irq, softirq), in
/// nanoseconds, from `/proc/stat` text.
pub fn system_cpu_usage(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse().ok())
        .collect();
    (ticks.len() == 7).then(|| ticks.iter().sum::<u64>() * NANOS_PER_TICK)
}

/// Interfaces and their counters from `/proc/<pid>/net/dev` text (loopback
/// left out, as dockerd does).
pub fn net_dev(text: &str) -> HashMap<String, ContainerNetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                ContainerNetworkStats {
                    rx_bytes: Some(v[0]),
                    rx_packets: Some(v[1]),
                    rx_errors: Some(v[2]),
                    rx_dropped: Some(v[3]),
                    tx_bytes: Some(v[8]),
                    tx_packets: Some(v[9]),
                    tx_errors: Some(v[10]),
                    tx_dropped: Some(v[11]),
                    ..Default::default()
                },
            ))
        })
        .collect()
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn blkio(entries: &[BlkioEntry]) -> Vec<ContainerBlkioStatEntry> {
    entries
        .iter()
        .map(|e| ContainerBlkioStatEntry {
            major: Some(e.major),
            minor: Some(e.minor),
            op: Some(e.op.clone()),
            value: Some(e.value),
        })
        .collect()
}

/// What the host tells about itself for a sample.
pub struct HostSample {
    pub system_cpu: Option<u64>,
    pub online_cpus: u32,
    pub mem_total: Option<u64>,
}

/// Turns a cgroup sample into Docker's `cpu_stats`, `memory_stats`,
/// `blkio_stats` and `pids_stats`.
pub fn to_response(cg: &CgroupStats, host: &HostSample) -> ContainerStatsResponse {
    let limit = match (cg.memory_limit, host.mem_total) {
        (Some(l), Some(t)) => Some(l.min(t)),
        (l, t) => l.or(t),
    };
    ContainerStatsResponse {
        cpu_stats: Some(ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(cg.cpu_total),
                percpu_usage: (!cg.cpu_percpu.is_empty()).then(|| cg.cpu_percpu.clone()),
                usage_in_kernelmode: Some(cg.cpu_system),
                usage_in_usermode: Some(cg.cpu_user),
            }),
            system_cpu_usage: host.system_cpu,
            online_cpus: Some(host.online_cpus),
            throttling_data: Some(ContainerThrottlingData {
                periods: Some(cg.throttle_periods),
                throttled_periods: Some(cg.throttled_periods),
                throttled_time: Some(cg.throttled_time),
            }),
        }),
        memory_stats: Some(ContainerMemoryStats {
            usage: Some(cg.memory_usage),
            max_usage: cg.memory_max_usage,
            stats: Some(cg.memory_stat.clone().into_iter().collect()),
            failcnt: cg.memory_failcnt,
            limit,
            ..Default::default()
        }),
        blkio_stats: Some(ContainerBlkioStats {
            io_service_bytes_recursive: Some(blkio(&cg.io_service_bytes)),
            io_serviced_recursive: Some(blkio(&cg.io_serviced)),
            io_queue_recursive: Some(Vec::new()),
            io_service_time_recursive: Some(Vec::new()),
            io_wait_time_recursive: Some(Vec::new()),
            io_merged_recursive: Some(Vec::new()),
            io_time_recursive: Some(Vec::new()),
            sectors_recursive: Some(Vec::new()),
        }),
        pids_stats: Some(ContainerPidsStats {
            current: cg.pids_current,
            limit: cg.pids_limit,
        }),
        ..Default::default()
    }
}

/// A sample of a container that is not running: names only, zero counters.
fn empty_sample(rec: &ContainerRecord) -> ContainerStatsResponse {
    ContainerStatsResponse {
        id: Some(rec.id.clone()),
        name: Some(format!("/{}", rec.name)),
        os_type: Some("linux".into()),
        read: Some(util::ZERO_TIME.into()),
        preread: Some(util::ZERO_TIME.into()),
        cpu_stats: Some(ContainerCpuStats::default()),
        precpu_stats: Some(ContainerCpuStats::default()),
        memory_stats: Some(ContainerMemoryStats::default()),
        blkio_stats: Some(ContainerBlkioStats::default()),
        pids_stats: Some(ContainerPidsStats::default()),
        num_procs: Some(0),
        ..Default::default()
    }
}

/// Reads one sample of the running container `rec` (blocking file reads).
fn sample(rec: &ContainerRecord) -> Result<ContainerStatsResponse> {
    let plan = rec.plan()?;
    let cg = runtime::cgroup_stats::read_stats(&plan.cgroup_path)
        .map_err(|e| DaemonError::Conflict(format!("reading the stats of {}: {e}", rec.id)))?;
    let host = HostSample {
        system_cpu: std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| system_cpu_usage(&t)),
        online_cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        mem_total: std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| mem_total(&t)),
    };
    let mut s = to_response(&cg, &host);
    s.id = Some(rec.id.clone());
    s.name = Some(format!("/{}", rec.name));
    s.os_type = Some("linux".into());
    s.num_procs = Some(0);
    s.read = Some(util::now_rfc3339());
    if rec.state.pid > 0 {
        let nets = std::fs::read_to_string(format!("/proc/{}/net/dev", rec.state.pid))
            .map(|t| net_dev(&t))
            .unwrap_or_default();
        if !nets.is_empty() {
            s.networks = Some(nets);
        }
    }
    Ok(s)
}

async fn sample_async(c: &Container) -> Option<ContainerStatsResponse> {
    if !c.is_running() {
        return None;
    }
    let rec = c.get();
    match tokio::task::spawn_blocking(move || sample(&rec)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(container = %c.id, error = %e, "stats sample");
            None
        }
        Err(_) => None,
    }
}

/// Carries the previous sample's CPU and time into `s`.
fn with_previous(
    mut s: ContainerStatsResponse,
    prev: Option<&ContainerStatsResponse>,
) -> ContainerStatsResponse {
    s.precpu_stats = Some(prev.and_then(|p| p.cpu_stats.clone()).unwrap_or_default());
    s.preread = Some(
        prev.and_then(|p| p.read.clone())
            .unwrap_or_else(|| util::ZERO_TIME.into()),
    );
    s
}

impl Daemon {
    /// `GET /containers/{id}/stats`.
    pub(crate) fn stats(&self, c: &Arc<Container>, opts: StatsOptions) -> Result<StatsStream> {
        let rec = c.get();
        if !c.is_running() {
            return Ok(Box::pin(futures::stream::iter([empty_sample(&rec)])));
        }
        let c = c.clone();
        if !opts.stream {
            return Ok(Box::pin(futures::stream::once(async move {
                let first = sample_async(&c).await;
                if opts.one_shot {
                    return first
                        .map(|s| with_previous(s, None))
                        .unwrap_or_else(|| empty_sample(&rec));
                }
                tokio::time::sleep(SINGLE_PERIOD).await;
                match sample_async(&c).await {
                    Some(s) => with_previous(s, first.as_ref()),
                    None => empty_sample(&rec),
                }
            })));
        }
        Ok(Box::pin(futures::stream::unfold(
            (c, None::<ContainerStatsResponse>),
            |(c, prev)| async move {
                if prev.is_some() {
                    tokio::time::sleep(STREAM_PERIOD).await;
                }
                let s = sample_async(&c).await?;
                let out = with_previous(s.clone(), prev.as_ref());
                Some((out, (c, Some(s))))
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_sum() {
        let text = "cpu  10 20 30 40 50 60 70 80 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(system_cpu_usage(text), Some(280 * NANOS_PER_TICK));
        assert_eq!(system_cpu_usage("intr 1\n"), None);
    }

    #[test]
    fn net_dev_parses_and_skips_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2048      10    1    2    0     0          0         0     4096      20    3    4    0     0       0          0\n";
        let n = net_dev(text);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (Some(2048), Some(10), Some(1), Some(2))
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (Some(4096), Some(20), Some(3), Some(4))
        );
    }

    #[test]
    fn response_caps_the_memory_limit_at_the_host() {
        let mut cg = CgroupStats {
            cpu_total: 5,
            cpu_percpu: vec![2, 3],
            memory_usage: 100,
            ..Default::default()
        };
        cg.memory_stat.insert("total_inactive_file".into(), 7);
        let host = HostSample {
            system_cpu: Some(1000),
            online_cpus: 2,
            mem_total: Some(4096),
        };
        let r = to_response(&cg, &host);
        let m = r.memory_stats.unwrap();
        assert_eq!(m.limit, Some(4096));
        assert_eq!(m.usage, Some(100));
        assert_eq!(m.stats.unwrap()["total_inactive_file"], 7);
        let cpu = r.cpu_stats.unwrap();
        assert_eq!(cpu.cpu_usage.unwrap().percpu_usage, Some(vec![2, 3]));
        assert_eq!(cpu.system_cpu_usage, Some(1000));
        assert_eq!(cpu.online_cpus, Some(2));
        cg.memory_limit = Some(1024);
        let r = to_response(&cg, &host);
        assert_eq!(r.memory_stats.unwrap().limit, Some(1024));
        assert_eq!(
            mem_total("MemTotal:       2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
    }

    #[test]
    fn previous_sample_fills_precpu() {
        let a = ContainerStatsResponse {
            read: Some("t1".into()),
            cpu_stats: Some(ContainerCpuStats {
                system_cpu_usage: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let b = with_previous(ContainerStatsResponse::default(), Some(&a));
        assert_eq!(b.preread.as_deref(), Some("t1"));
        assert_eq!(b.precpu_stats.unwrap().system_cpu_usage, Some(1));
        let c = with_previous(ContainerStatsResponse::default(), None);
        assert_eq!(c.preread.as_deref(), Some(util::ZERO_TIME));
    }
}

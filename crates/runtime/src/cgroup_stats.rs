//! Reading a container's resource usage from its cgroup (`docker stats`), on
//! cgroup v1 (one hierarchy per controller) and v2 (the unified hierarchy).
//! Files a kernel does not have are left out of the result, not errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cgroups::CgroupError;

const ROOT: &str = "/sys/fs/cgroup";
/// `cpuacct.stat` counts in USER_HZ ticks (100 per second on Linux).
const NANOS_PER_TICK: u64 = 10_000_000;

/// One `major:minor op value` line of the block IO statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    /// `Read`, `Write`, ... on v1; `read`, `write` on v2 (as dockerd reports).
    pub op: String,
    pub value: u64,
}

/// A sample of a cgroup's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// CPU time of all tasks, nanoseconds.
    pub cpu_total: u64,
    /// Per CPU (v1 only).
    pub cpu_percpu: Vec<u64>,
    pub cpu_user: u64,
    pub cpu_system: u64,
    pub throttle_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
    pub memory_usage: u64,
    pub memory_max_usage: Option<u64>,
    /// None when unlimited.
    pub memory_limit: Option<u64>,
    pub memory_failcnt: Option<u64>,
    /// `memory.stat`, every key.
    pub memory_stat: BTreeMap<String, u64>,
    pub io_service_bytes: Vec<BlkioEntry>,
    pub io_serviced: Vec<BlkioEntry>,
    pub pids_current: Option<u64>,
    /// None when unlimited.
    pub pids_limit: Option<u64>,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_u64(path: &Path) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// A limit file: a number, or `max`/a huge value for none.
fn read_limit(path: &Path) -> Option<u64> {
    let v = read_u64(path)?;
    // v1 reports "no limit" as the largest page-aligned i64.
    (v < (i64::MAX as u64) & !0xfff).then_some(v)
}

/// `key value` lines.
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// v1 `blkio.*_recursive`: `8:0 Read 4096` lines (`Total` lines skipped).
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` lines,
/// as (bytes, ios) entries with ops `read`/`write`.
fn io_stat_v2(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// The cgroup v1 counters of `rel` under the hierarchies mounted at `root`.
pub fn read_v1(root: &Path, rel: &str) -> Result<CgroupStats, CgroupError> {
    let dir = |ctl: &str| -> PathBuf { root.join(ctl).join(rel) };
    let cpuacct = dir("cpuacct");
    if !cpuacct.exists() {
        return Err(CgroupError::Missing(cpuacct));
    }
    let mut s = CgroupStats {
        cpu_total: read_u64(&cpuacct.join("cpuacct.usage")).unwrap_or(0),
        cpu_percpu: read(&cpuacct.join("cpuacct.usage_percpu"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    if let Some(t) = read(&cpuacct.join("cpuacct.stat")) {
        let m = flat_keyed(&t);
        s.cpu_user = m.get("user").copied().unwrap_or(0) * NANOS_PER_TICK;
        s.cpu_system = m.get("system").copied().unwrap_or(0) * NANOS_PER_TICK;
    }
    if let Some(t) = read(&dir("cpu").join("cpu.stat")) {
        let m = flat_keyed(&t);
        s.throttle_periods = m.get("nr_periods").copied().unwrap_or(0);
        s.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
        s.throttled_time = m.get("throttled_time").copied().unwrap_or(0);
    }
    let mem = dir("memory");
    s.memory_usage = read_u64(&mem.join("memory.usage_in_bytes")).unwrap_or(0);
    s.memory_max_usage = read_u64(&mem.join("memory.max_usage_in_bytes"));
    s.memory_limit = read_limit(&mem.join("memory.limit_in_bytes"));
    s.memory_failcnt = read_u64(&mem.join("memory.failcnt"));
    s.memory_stat = read(&mem.join("memory.stat"))
        .map(|t| flat_keyed(&t))
        .unwrap_or_default();
    let blkio = dir("blkio");
    let pick = |a: &str, b: &str| read(&blkio.join(a)).or_else(|| read(&blkio.join(b)));
    s.io_service_bytes = pick(
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.io_service_bytes_recursive",
    )
    .map(|t| blkio_v1(&t))
    .unwrap_or_default();
    s.io_serviced = pick(
        "blkio.throttle.io_serviced_recursive",
        "blkio.io_serviced_recursive",
    )
    .map(|t| blkio_v1(&t))
    .unwrap_or_default();
    let pids = dir("pids");
    s.pids_current = read_u64(&pids.join("pids.current"));
    s.pids_limit = read_u64(&pids.join("pids.max"));
    Ok(s)
}

/// The cgroup v2 counters of the cgroup directory `dir`.
pub fn read_v2(dir: &Path) -> Result<CgroupStats, CgroupError> {
    let Some(cpu) = read(&dir.join("cpu.stat")) else {
        return Err(CgroupError::Missing(dir.to_path_buf()));
    };
    let cpu = flat_keyed(&cpu);
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    let (io_bytes, io_ios) = read(&dir.join("io.stat"))
        .map(|t| io_stat_v2(&t))
        .unwrap_or_default();
    Ok(CgroupStats {
        cpu_total: us("usage_usec"),
        cpu_percpu: Vec::new(),
        cpu_user: us("user_usec"),
        cpu_system: us("system_usec"),
        throttle_periods: cpu.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
        throttled_time: us("throttled_usec"),
        memory_usage: read_u64(&dir.join("memory.current")).unwrap_or(0),
        memory_max_usage: read_u64(&dir.join("memory.peak")),
        memory_limit: read_limit(&dir.join("memory.max")),
        memory_failcnt: None,
        memory_stat: read(&dir.join("memory.stat"))
            .map(|t| flat_keyed(&t))
            .unwrap_or_default(),
        io_service_bytes: io_bytes,
        io_serviced: io_ios,
        pids_current: read_u64(&dir.join("pids.current")),
        pids_limit: read_u64(&dir.join("pids.max")),
    })
}

/// The counters of the container's cgroup at `cgroups_path` (e.g.
/// `/berth/<id>`), on whichever cgroup version the host runs.
pub fn read_stats(cgroups_path: &str) -> Result<CgroupStats, CgroupError> {
    let rel = cgroups_path.trim_start_matches('/');
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        read_v2(&root.join(rel))
    } else {
        read_v1(root, rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn v1_sample_files() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let rel = "berth/c1";
        let files: &[(&str, &str, &str)] = &[
            ("cpuacct", "cpuacct.usage", "3000000000\n"),
            (
                "cpuacct",
                "cpuacct.usage_percpu",
                "1000000000 2000000000 \n",
            ),
            ("cpuacct", "cpuacct.stat", "user 150\nsystem 50\n"),
            (
                "cpu",
                "cpu.stat",
                "nr_periods 10\nnr_throttled 2\nthrottled_time 500\n",
            ),
            ("memory", "memory.usage_in_bytes", "10485760\n"),
            ("memory", "memory.max_usage_in_bytes", "20971520\n"),
            ("memory", "memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory", "memory.failcnt", "0\n"),
            (
                "memory",
                "memory.stat",
                "cache 4096\ntotal_inactive_file 8192\nrss 1048576\n",
            ),
            (
                "blkio",
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
            ),
            ("pids", "pids.current", "3\n"),
            ("pids", "pids.max", "max\n"),
        ];
        for (ctl, file, text) in files {
            write(&r.join(ctl).join(rel), file, text);
        }
        let s = read_v1(r, rel).unwrap();
        assert_eq!(s.cpu_total, 3_000_000_000);
        assert_eq!(s.cpu_percpu, [1_000_000_000, 2_000_000_000]);
        assert_eq!(s.cpu_user, 1_500_000_000);
        assert_eq!(s.cpu_system, 500_000_000);
        assert_eq!(
            (s.throttle_periods, s.throttled_periods, s.throttled_time),
            (10, 2, 500)
        );
        assert_eq!(s.memory_usage, 10_485_760);
        assert_eq!(s.memory_max_usage, Some(20_971_520));
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.memory_stat["total_inactive_file"], 8192);
        assert_eq!(s.io_service_bytes.len(), 3);
        assert_eq!(s.io_service_bytes[1].op, "Write");
        assert_eq!(s.io_service_bytes[1].value, 8192);
        assert!(s.io_serviced.is_empty());
        assert_eq!(s.pids_current, Some(3));
        assert_eq!(s.pids_limit, None);
        assert!(matches!(
            read_v1(r, "berth/other"),
            Err(CgroupError::Missing(_))
        ));
    }

    #[test]
    fn v2_sample_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("berth/c1");
        write(&d, "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n");
        write(&d, "memory.current", "1048576\n");
        write(&d, "memory.max", "536870912\n");
        write(&d, "memory.stat", "anon 4096\ninactive_file 1024\n");
        write(
            &d,
            "io.stat",
            "259:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        write(&d, "pids.current", "1\n");
        write(&d, "pids.max", "100\n");
        let s = read_v2(&d).unwrap();
        assert_eq!(s.cpu_total, 2_500_000);
        assert_eq!(s.cpu_user, 2_000_000);
        assert!(s.cpu_percpu.is_empty());
        assert_eq!(s.memory_usage, 1_048_576);
        assert_eq!(s.memory_limit, Some(536_870_912));
        assert_eq!(s.memory_stat["inactive_file"], 1024);
        assert_eq!(
            s.io_service_bytes,
            [
                BlkioEntry {
                    major: 259,
                    minor: 0,
                    op: "read".into(),
                    value: 100
                },
                BlkioEntry {
                    major: 259,
                    minor: 0,
                    op: "write".into(),
                    value: 200
                },
            ]
        );
        assert_eq!(s.io_serviced.len(), 2);
        assert_eq!(s.pids_limit, Some(100));
        assert!(read_v2(&t.path().join("gone")).is_err());
    }
}

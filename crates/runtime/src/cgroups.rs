//! Changing the resource limits of a running container (`docker update`) by
//! writing its cgroup files, on cgroup v1 (per-controller hierarchies, as on
//! hybrid hosts) and v2 (the unified hierarchy).

use std::path::{Path, PathBuf};

/// Limits to change (`docker update`): the container's resources, where `None`
/// leaves a limit as it is (the cpuset is not changed).
pub use crate::spec::Resources as ResourceUpdate;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the container's cgroup {0} does not exist (is it running?)")]
    Missing(PathBuf),
}

impl errdefs::HasKind for CgroupError {
    fn kind(&self) -> errdefs::ErrorKind {
        match self {
            CgroupError::Missing(_) => errdefs::ErrorKind::Conflict,
            CgroupError::Write { .. } => errdefs::ErrorKind::InvalidArgument,
        }
    }
}

const ROOT: &str = "/sys/fs/cgroup";

fn write(path: PathBuf, value: String) -> Result<(), CgroupError> {
    std::fs::write(&path, &value).map_err(|source| CgroupError::Write {
        path,
        value,
        source,
    })
}

fn unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// Applies `u` to the cgroup at `cgroups_path` (the spec's `cgroupsPath`, e.g.
/// `/berth/<id>`).
pub fn update(cgroups_path: &str, u: &ResourceUpdate) -> Result<(), CgroupError> {
    let rel = cgroups_path.trim_start_matches('/');
    if unified() {
        update_v2(&Path::new(ROOT).join(rel), u)
    } else {
        update_v1(rel, u)
    }
}

fn limit(v: i64) -> String {
    if v <= 0 {
        "-1".into()
    } else {
        v.to_string()
    }
}

fn update_v1(rel: &str, u: &ResourceUpdate) -> Result<(), CgroupError> {
    let mem = Path::new(ROOT).join("memory").join(rel);
    if u.memory.is_some() || u.memory_swap.is_some() {
        if !mem.exists() {
            return Err(CgroupError::Missing(mem));
        }
        let memsw = mem.join("memory.memsw.limit_in_bytes");
        let current: i64 = std::fs::read_to_string(mem.join("memory.limit_in_bytes"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(i64::MAX);
        let new_mem = u.memory.unwrap_or(current);
        // The kernel requires memory <= memsw at every step: raise memsw first
        // when growing, lower memory first when shrinking.
        let swap_first = new_mem > current;
        let set_swap = |()| -> Result<(), CgroupError> {
            if let Some(sw) = u.memory_swap {
                if memsw.exists() {
                    write(memsw.clone(), limit(sw))?;
                }
            }
            Ok(())
        };
        if swap_first {
            set_swap(())?;
        }
        if let Some(m) = u.memory {
            write(mem.join("memory.limit_in_bytes"), limit(m))?;
        }
        if !swap_first {
            set_swap(())?;
        }
    }
    let cpu = Path::new(ROOT).join("cpu").join(rel);
    if let Some(p) = u.cpu_period {
        write(cpu.join("cpu.cfs_period_us"), p.to_string())?;
    }
    if let Some(q) = u.cpu_quota {
        write(cpu.join("cpu.cfs_quota_us"), limit(q))?;
    }
    if let Some(s) = u.cpu_shares {
        write(cpu.join("cpu.shares"), s.to_string())?;
    }
    if let Some(p) = u.pids_limit {
        let v = if p <= 0 { "max".into() } else { p.to_string() };
        write(Path::new(ROOT).join("pids").join(rel).join("pids.max"), v)?;
    }
    Ok(())
}

fn update_v2(dir: &Path, u: &ResourceUpdate) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Err(CgroupError::Missing(dir.to_path_buf()));
    }
    let max = |v: i64| {
        if v <= 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    if let Some(m) = u.memory {
        write(dir.join("memory.max"), max(m))?;
    }
    if let Some(sw) = u.memory_swap {
        // v2 limits swap alone: memory+swap minus memory.
        let v = match (sw, u.memory) {
            (s, _) if s <= 0 => "max".to_string(),
            (s, Some(m)) if m > 0 => (s - m).max(0).to_string(),
            (s, _) => s.to_string(),
        };
        write(dir.join("memory.swap.max"), v)?;
    }
    if u.cpu_quota.is_some() || u.cpu_period.is_some() {
        let period = u.cpu_period.unwrap_or(100_000);
        let quota = u.cpu_quota.map(max).unwrap_or_else(|| "max".into());
        write(dir.join("cpu.max"), format!("{quota} {period}"))?;
    }
    if let Some(s) = u.cpu_shares {
        // runc's conversion of v1 shares to v2 weight.
        let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
        write(dir.join("cpu.weight"), weight.to_string())?;
    }
    if let Some(p) = u.pids_limit {
        write(dir.join("pids.max"), max(p))?;
    }
    Ok(())
}

/// Pids of the processes in the container's cgroup (for `docker top`).
pub fn procs(cgroups_path: &str) -> Result<Vec<u32>, CgroupError> {
    let rel = cgroups_path.trim_start_matches('/');
    let dir = if unified() {
        Path::new(ROOT).join(rel)
    } else {
        Path::new(ROOT).join("pids").join(rel)
    };
    let text = std::fs::read_to_string(dir.join("cgroup.procs"))
        .map_err(|_| CgroupError::Missing(dir.clone()))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Removes the container's cgroup at `cgroups_path` from every hierarchy (cgroup
/// v1: each controller's tree; v2: the unified one): the last resort when the
/// runtime's own delete failed, so that a container never leaves its cgroups
/// behind. Waits up to `patience` for exiting processes to leave them (`EBUSY`).
/// Returns the directories that could not be removed.
pub fn remove(cgroups_path: &str, patience: std::time::Duration) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == ".." || c == ".") {
        return Vec::new();
    }
    let mut dirs: Vec<PathBuf> = vec![Path::new(ROOT).join(rel)];
    if !unified() {
        dirs.extend(
            std::fs::read_dir(ROOT)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join(rel)),
        );
    }
    let deadline = std::time::Instant::now() + patience;
    loop {
        dirs.retain(|d| match std::fs::remove_dir(d) {
            Ok(()) => false,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound && !d.as_os_str().is_empty(),
        });
        if dirs.is_empty() || std::time::Instant::now() >= deadline {
            return dirs;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Freezes (`docker pause`, `commit --pause`) or thaws the container's cgroup;
/// a freeze returns once the kernel reports the cgroup frozen.
pub fn set_frozen(cgroups_path: &str, frozen: bool) -> Result<(), CgroupError> {
    let rel = cgroups_path.trim_start_matches('/');
    let (file, value, done) = if unified() {
        let dir = Path::new(ROOT).join(rel);
        let v = if frozen { "1" } else { "0" };
        (dir.join("cgroup.freeze"), v, v)
    } else {
        let dir = Path::new(ROOT).join("freezer").join(rel);
        if frozen {
            (dir.join("freezer.state"), "FROZEN", "FROZEN")
        } else {
            (dir.join("freezer.state"), "THAWED", "THAWED")
        }
    };
    if !file.exists() {
        return Err(CgroupError::Missing(file));
    }
    write(file.clone(), value.to_string())?;
    for _ in 0..500 {
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if now.trim() == done {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Err(CgroupError::Write {
        path: file,
        value: value.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the cgroup did not reach the state",
        ),
    })
}

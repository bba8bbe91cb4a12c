//! From a container record to the runtime's `ContainerSpec`, and the validation
//! of HostConfig options done at create time (so `create` fails, not `start`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine_types::models::HostConfig;
use runtime::spec::{ContainerSpec, MountSpec, NetNs, Resources, Ulimit};

use crate::container::ContainerRecord;
use crate::error::{DaemonError, Result};

/// Network mode of a container.
pub fn net_mode(hc: &HostConfig) -> Result<network::NetMode> {
    match hc.network_mode.as_deref().unwrap_or("") {
        "" | "default" | "bridge" => Ok(network::NetMode::Bridge),
        "none" => Ok(network::NetMode::None),
        "host" => Ok(network::NetMode::Host),
        m if m.starts_with("container:") => Err(DaemonError::NotImplemented(format!(
            "network mode {m:?} (sharing another container's network) is not implemented by Berth yet"
        ))),
        other => Err(DaemonError::NoSuchNetwork(other.to_string())),
    }
}

/// Security options Berth understands.
#[derive(Debug, Default)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
}

pub fn security_opts(hc: &HostConfig) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in hc.security_opt.iter().flatten() {
        let (k, v) = opt
            .split_once(['=', ':'])
            .map(|(k, v)| (k, Some(v)))
            .unwrap_or((opt.as_str(), None));
        match (k, v) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.seccomp_unconfined = true,
            ("seccomp", Some(p)) => {
                return Err(DaemonError::NotImplemented(format!(
                    "custom seccomp profiles (seccomp={p}) are not implemented by Berth yet; use the default or seccomp=unconfined"
                )))
            }
            ("apparmor" | "label", _) => {
                tracing::debug!(option = %opt, "security option ignored: not supported on this host")
            }
            _ => {
                return Err(DaemonError::Invalid(format!(
                    "invalid --security-opt: {opt:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// A parsed `-v host:ctr[:opts]` bind. Pure: a missing source directory is created
/// at start ([`create_missing_bind_sources`]), never while parsing (inspect parses
/// binds too and must not touch the host).
pub fn parse_bind(bind: &str) -> Result<MountSpec> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(DaemonError::Invalid(format!(
                "invalid volume specification: {bind:?}"
            )))
        }
    };
    if !src.starts_with('/') {
        return Err(DaemonError::NotImplemented(format!(
            "named volumes ({src}) are not implemented by Berth yet: bind-mount a host path instead (-v /host/path:{dst})"
        )));
    }
    if !dst.starts_with('/') {
        return Err(DaemonError::Invalid(format!(
            "invalid volume specification: {bind:?}: mount path must be absolute"
        )));
    }
    let mut options = vec!["rbind".to_string()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => options.push(o.to_string()),
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                options.push(o.to_string())
            }
            "nocopy" => {}
            _ => {
                return Err(DaemonError::Invalid(format!(
                    "invalid mode {o:?} in volume specification {bind:?}"
                )))
            }
        }
    }
    Ok(MountSpec {
        destination: dst.to_string(),
        source: src.to_string(),
        kind: "bind".into(),
        options,
    })
}

/// Docker creates a missing host directory for a `-v` bind (not for `--mount`)
/// when the container starts.
pub fn create_missing_bind_sources(hc: &HostConfig) -> Result<()> {
    for b in hc.binds.iter().flatten() {
        let bind = parse_bind(b)?;
        if !Path::new(&bind.source).exists() {
            std::fs::create_dir_all(&bind.source)
                .map_err(|e| DaemonError::io(format!("creating bind source {}", bind.source), e))?;
        }
    }
    Ok(())
}

/// All user mounts of a container: `-v` binds, `--mount`, `--tmpfs`.
pub fn user_mounts(hc: &HostConfig) -> Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    for b in hc.binds.iter().flatten() {
        out.push(parse_bind(b)?);
    }
    for m in hc.mounts.iter().flatten() {
        let target = m.target.clone().unwrap_or_default();
        let kind = m
            .typ
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "volume".into());
        match kind.as_str() {
            "bind" => {
                let mut options = vec!["rbind".to_string()];
                if m.read_only == Some(true) {
                    options.push("ro".into());
                }
                let source = m.source.clone().unwrap_or_default();
                if !Path::new(&source).exists() {
                    return Err(DaemonError::Invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                    )));
                }
                out.push(MountSpec {
                    destination: target,
                    source,
                    kind: "bind".into(),
                    options,
                });
            }
            "tmpfs" => {
                let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
                if let Some(t) = &m.tmpfs_options {
                    if let Some(size) = t.size_bytes {
                        options.push(format!("size={size}"));
                    }
                    if let Some(mode) = t.mode {
                        options.push(format!("mode={mode:o}"));
                    }
                }
                out.push(MountSpec {
                    destination: target,
                    source: "tmpfs".into(),
                    kind: "tmpfs".into(),
                    options,
                });
            }
            other => {
                return Err(DaemonError::NotImplemented(format!(
                    "mounts of type {other:?} are not implemented by Berth yet"
                )))
            }
        }
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        let mut options = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        options.extend(
            opts.split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string),
        );
        out.push(MountSpec {
            destination: dst.clone(),
            source: "tmpfs".into(),
            kind: "tmpfs".into(),
            options,
        });
    }
    Ok(out)
}

/// Everything the runtime needs to start the container.
pub struct SpecInputs<'a> {
    pub rec: &'a ContainerRecord,
    pub rootfs: PathBuf,
    pub container_dir: &'a Path,
    pub endpoint: &'a network::Endpoint,
    pub cgroup_parent: &'a str,
    pub init_path: Option<&'a Path>,
}

pub fn container_spec(inp: SpecInputs<'_>) -> Result<ContainerSpec> {
    let rec = inp.rec;
    let cfg = &rec.config;
    let hc = &rec.host_config;
    let sec = security_opts(hc)?;
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());

    let mut mounts = Vec::new();
    for (file, dst) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        mounts.push(MountSpec {
            destination: dst.into(),
            source: inp.container_dir.join(file).display().to_string(),
            kind: "bind".into(),
            options: vec!["rbind".into(), "rprivate".into()],
        });
    }
    create_missing_bind_sources(hc)?;
    mounts.extend(user_mounts(hc)?);

    let netns = match (&inp.endpoint.netns, net_mode(hc)?) {
        (_, network::NetMode::Host) => NetNs::Host,
        (Some(p), _) => NetNs::Path(p.clone()),
        (None, _) => NetNs::New,
    };

    let nano = hc.nano_cpus.unwrap_or(0);
    let (cpu_quota, cpu_period) = if nano > 0 {
        (Some(nano * 100_000 / 1_000_000_000), Some(100_000u64))
    } else {
        (
            hc.cpu_quota.filter(|q| *q > 0),
            hc.cpu_period.filter(|p| *p > 0).map(|p| p as u64),
        )
    };
    let resources = Resources {
        memory: hc.memory.filter(|m| *m > 0),
        memory_swap: hc.memory_swap.filter(|m| *m != 0),
        cpu_shares: hc.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
        cpu_quota,
        cpu_period,
        pids_limit: hc.pids_limit.filter(|p| *p > 0),
        cpuset_cpus: hc.cpuset_cpus.clone().filter(|s| !s.is_empty()),
    };
    let ulimits = hc
        .ulimits
        .iter()
        .flatten()
        .map(|u| Ulimit {
            name: u.name.clone().unwrap_or_default(),
            soft: u.soft.unwrap_or(0).max(0) as u64,
            hard: u.hard.unwrap_or(0).max(0) as u64,
        })
        .collect();
    let init = if hc.init == Some(true) {
        Some(inp.init_path.map(Path::to_path_buf).ok_or_else(|| {
            DaemonError::Invalid(
                "--init: no init binary found on the host (install Debian's tini, which provides /usr/bin/tini-static, or set --init-path)".into(),
            )
        })?)
    } else {
        None
    };
    Ok(ContainerSpec {
        id: rec.id.clone(),
        rootfs: inp.rootfs,
        args,
        env: cfg.env.clone().unwrap_or_default(),
        cwd: cfg.working_dir.clone().unwrap_or_default(),
        user: cfg.user.clone().unwrap_or_default(),
        hostname: cfg.hostname.clone().unwrap_or_default(),
        tty: cfg.tty.unwrap_or(false),
        open_stdin: cfg.open_stdin.unwrap_or(false),
        read_only: hc.readonly_rootfs.unwrap_or(false),
        mounts,
        netns,
        resources,
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        privileged: hc.privileged.unwrap_or(false),
        no_new_privileges: sec.no_new_privileges,
        seccomp_unconfined: sec.seccomp_unconfined,
        ulimits,
        cgroup_parent: hc
            .cgroup_parent
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| inp.cgroup_parent.to_string()),
        init,
        sysctls: hc
            .sysctls
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        masked_paths: hc.masked_paths.clone(),
        readonly_paths: hc.readonly_paths.clone(),
    })
}

/// Creates `path` (absolute, inside the container) under `rootfs` like
/// `mkdir -p`, resolving every component inside the root so a symlink in the
/// image can never make the daemon create a directory on the host. Docker
/// creates a missing working directory this way at start.
pub fn mkdir_in_root(rootfs: &Path, path: &str) -> Result<()> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let err = |e: rustix::io::Errno, what: &str| {
        DaemonError::Invalid(format!(
            "cannot create working directory {path:?} in the container: {what}: {e}"
        ))
    };
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(e, "opening the rootfs"))?;
    let comps: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let open_dir = |p: &str| {
        rustix::fs::openat2(
            &root,
            if p.is_empty() { "." } else { p },
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
    };
    for i in 1..=comps.len() {
        let prefix = comps[..i].join("/");
        match open_dir(&prefix) {
            Ok(_) => continue,
            Err(rustix::io::Errno::NOENT) => {
                let parent = open_dir(&comps[..i - 1].join("/"))
                    .map_err(|e| err(e, "opening its parent"))?;
                match rustix::fs::mkdirat(&parent, comps[i - 1], Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(err(e, "mkdir")),
                }
            }
            Err(e) => return Err(err(e, "not a directory")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsing a bind (what inspect does) never creates its source; starting does.
    #[test]
    fn bind_sources_are_created_at_start_only() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("missing/deeper");
        let bind = format!("{}:/data:ro", src.display());
        let hc = HostConfig {
            binds: Some(vec![bind.clone()]),
            ..Default::default()
        };
        let parsed = parse_bind(&bind).unwrap();
        assert_eq!(parsed.source, src.display().to_string());
        assert_eq!(parsed.options, vec!["rbind", "ro"]);
        user_mounts(&hc).unwrap();
        assert!(!src.exists(), "parsing created the bind source");
        create_missing_bind_sources(&hc).unwrap();
        assert!(src.is_dir());
    }

    #[test]
    fn mkdir_in_root_stays_inside() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        mkdir_in_root(root.path(), "/a/b/c").unwrap();
        assert!(root.path().join("a/b/c").is_dir());
        // Through an absolute symlink: resolved inside the root (where its target
        // does not exist, so this fails), never on the host.
        let _ = mkdir_in_root(root.path(), "/escape/x");
        assert!(!outside.path().join("x").exists());
        std::os::unix::fs::symlink("/a/b", root.path().join("inner")).unwrap();
        mkdir_in_root(root.path(), "/inner/d").unwrap();
        assert!(root.path().join("a/b/d").is_dir());
        mkdir_in_root(root.path(), "/a/b/c").unwrap();
    }
}

//! From a container's record and plan to the runtime's `ContainerSpec`, and the
//! filesystem preparation of start (bind sources, the working directory).

use std::path::{Path, PathBuf};

use runtime::spec::{ContainerSpec, MountSpec, NetNs};

use crate::container::ContainerRecord;
use crate::error::{DaemonError, Result};
use crate::plan::{ContainerPlan, MountKind, NetworkMode};

/// Docker creates a missing host directory for a `-v` bind (not for `--mount`)
/// when the container starts.
pub fn create_missing_bind_sources(plan: &ContainerPlan) -> Result<()> {
    for m in &plan.mounts {
        if let MountKind::Bind {
            source,
            create_source: true,
        } = &m.kind
        {
            if !source.exists() {
                std::fs::create_dir_all(source).map_err(|e| {
                    DaemonError::io(format!("creating bind source {}", source.display()), e)
                })?;
            }
        }
    }
    Ok(())
}

/// Everything the runtime needs to start the container.
pub struct SpecInputs<'a> {
    pub rec: &'a ContainerRecord,
    pub plan: &'a ContainerPlan,
    pub rootfs: PathBuf,
    pub container_dir: &'a Path,
    /// The network namespace to join (None: a new one, or the host's).
    pub netns: Option<&'a Path>,
    /// Variables added to the container's environment (`--link`).
    pub extra_env: &'a [String],
    /// Where volumes live (their mount points).
    pub volumes: &'a crate::volumes::VolumeStore,
}

pub fn container_spec(inp: SpecInputs<'_>) -> Result<ContainerSpec> {
    let rec = inp.rec;
    let plan = inp.plan;
    let cfg = &rec.config;
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
    create_missing_bind_sources(plan)?;
    mounts.extend(plan.mounts.iter().map(|m| match &m.kind {
        MountKind::Bind { source, .. } => MountSpec {
            destination: m.destination.clone(),
            source: source.display().to_string(),
            kind: "bind".into(),
            options: m.options.clone(),
        },
        MountKind::Tmpfs => MountSpec {
            destination: m.destination.clone(),
            source: "tmpfs".into(),
            kind: "tmpfs".into(),
            options: m.options.clone(),
        },
        MountKind::Volume { name, subpath, .. } => {
            let data = inp.volumes.mountpoint(name);
            let source = match subpath {
                Some(sub) => data.join(sub),
                None => data,
            };
            MountSpec {
                destination: m.destination.clone(),
                source: source.display().to_string(),
                kind: "bind".into(),
                options: m.options.clone(),
            }
        }
    }));

    let netns = match (inp.netns, &plan.network.mode) {
        (_, NetworkMode::Host) => NetNs::Host,
        (Some(p), _) => NetNs::Path(p.to_path_buf()),
        // A `container:` peer in the host's namespace.
        (None, NetworkMode::Container(_)) => NetNs::Host,
        (None, _) => NetNs::New,
    };
    let r = &plan.resources;
    let sec = &plan.security;
    Ok(ContainerSpec {
        id: rec.id.clone(),
        rootfs: inp.rootfs,
        args,
        env: cfg
            .env
            .iter()
            .flatten()
            .chain(inp.extra_env.iter())
            .cloned()
            .collect(),
        cwd: cfg.working_dir.clone().unwrap_or_default(),
        user: cfg.user.clone().unwrap_or_default(),
        hostname: cfg.hostname.clone().unwrap_or_default(),
        domainname: cfg.domainname.clone().unwrap_or_default(),
        tty: cfg.tty.unwrap_or(false),
        open_stdin: cfg.open_stdin.unwrap_or(false),
        read_only: sec.read_only_rootfs,
        mounts,
        netns,
        resources: r.limits.clone(),
        cap_add: sec.cap_add.clone(),
        cap_drop: sec.cap_drop.clone(),
        privileged: sec.privileged,
        no_new_privileges: sec.no_new_privileges,
        seccomp_unconfined: sec.seccomp_unconfined,
        ulimits: r.ulimits.clone(),
        cgroups_path: plan.cgroup_path.clone(),
        init: plan.init.clone(),
        sysctls: sec.sysctls.clone(),
        masked_paths: sec.masked_paths.clone(),
        readonly_paths: sec.readonly_paths.clone(),
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

    /// Planning a bind (what create does; inspect reads the plan) never creates
    /// its source; starting does.
    #[test]
    fn bind_sources_are_created_at_start_only() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("missing/deeper");
        let hc = engine_types::models::HostConfig {
            binds: Some(vec![format!("{}:/data:ro", src.display())]),
            ..Default::default()
        };
        let defaults = crate::plan::PlanDefaults {
            cgroup_parent: "/berth",
            log_max_size: None,
            log_max_file: 1,
            init_path: None,
        };
        let plan = ContainerPlan::from_host_config("abc", &hc, &defaults).unwrap();
        assert!(!src.exists(), "planning created the bind source");
        create_missing_bind_sources(&plan).unwrap();
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

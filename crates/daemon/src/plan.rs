//! The container plan: HostConfig (and the daemon's defaults) parsed and validated
//! once, at create, into typed decisions that are persisted with the container.
//! Start, inspect, update, restart and restore read the plan; nothing re-parses
//! HostConfig, and every validation error has one place and one message here.
//!
//! The record keeps the HostConfig the client sent, as Docker shows it in inspect;
//! records written before plans existed get theirs when they are loaded
//! ([`ContainerPlan::from_host_config`] on the stored HostConfig).

use std::collections::BTreeMap;
use std::path::PathBuf;

use engine_types::models::HostConfig;
use serde::{Deserialize, Serialize};

use runtime::spec::{Resources, Ulimit};

use crate::error::{DaemonError, Result};
use crate::util;

/// How the container is networked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The default bridge.
    Bridge,
    None,
    Host,
    /// A user-defined network (named by `HostConfig.NetworkMode`).
    User,
    /// Another container's network namespace (`container:<id>`; the id is resolved
    /// at create).
    Container(String),
}

impl NetworkMode {
    /// The network crate's mode (a `container:` sandbox is the other container's).
    pub fn net_mode(&self) -> network::NetMode {
        match self {
            NetworkMode::Bridge | NetworkMode::User => network::NetMode::Bridge,
            NetworkMode::None | NetworkMode::Container(_) => network::NetMode::None,
            NetworkMode::Host => network::NetMode::Host,
        }
    }

    /// Whether the container gets its own network namespace with attachments.
    pub fn has_attachments(&self) -> bool {
        matches!(self, NetworkMode::Bridge | NetworkMode::User)
    }
}

/// One network the container is attached to (from `--network` and
/// `NetworkingConfig.EndpointsConfig`, or `network connect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentPlan {
    pub network_id: String,
    pub network_name: String,
    /// `--network-alias` (names other containers on the network resolve).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--mac-address`.
    #[serde(default)]
    pub mac: Option<[u8; 6]>,
    /// `--link name:alias` on this network.
    #[serde(default)]
    pub links: Vec<String>,
}

/// Name resolution and network attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub mode: NetworkMode,
    /// Networks, in attach order (the first non-internal one gives the default
    /// route and the published ports). Filled by the daemon at create.
    #[serde(default)]
    pub attachments: Vec<AttachmentPlan>,
    /// `-p`/`-P`, resolved against the exposed ports at create.
    #[serde(default)]
    pub ports: Vec<network::PortRequest>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host name:ip`.
    pub extra_hosts: Vec<(String, String)>,
    /// `--link name:alias` (resolved at create).
    #[serde(default)]
    pub links: Vec<LinkPlan>,
}

/// A legacy link to another container: on the default bridge a hosts entry and
/// environment variables, on user networks a name only this container resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPlan {
    /// Id of the linked container.
    pub container: String,
    /// Its name when the link was made.
    pub name: String,
    pub alias: String,
}

/// Parses one `HostConfig.Links` entry: "name:alias", "/name:/self/alias" (as the
/// API stores them) or "name" (the alias is the name); returns (name, alias).
pub fn parse_link(link: &str) -> Result<(String, String)> {
    let (name, alias) = link.split_once(':').unwrap_or((link, link));
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    if name.is_empty() || alias.is_empty() {
        return Err(DaemonError::Invalid(format!(
            "invalid link {link:?}: expected name:alias"
        )));
    }
    Ok((name.to_owned(), alias.to_owned()))
}

/// What a mount is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountKind {
    /// A host path. `create_source`: `-v` creates a missing source directory when
    /// the container starts (`--mount` refuses a missing one at create).
    Bind {
        source: PathBuf,
        create_source: bool,
    },
    Tmpfs,
    /// A volume (`-v name:/dst`, `-v /dst`, `--mount type=volume`, the image's
    /// `VOLUME`s, `--volumes-from`), created at create if missing.
    Volume {
        name: String,
        /// Made for this container (no name given); `rm -v` and `--rm` remove it.
        #[serde(default)]
        anonymous: bool,
        /// No copy-up of the image's content into a new volume.
        #[serde(default)]
        nocopy: bool,
        /// `volume-subpath`: the directory of the volume that is mounted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subpath: Option<String>,
        /// `Mode` as inspect reports it (`z` for `-v` without options).
        #[serde(default)]
        mode: String,
        /// For a volume made on first use (`--mount volume-driver`, `volume-opt`,
        /// `volume-label`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        driver: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        driver_opts: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
    },
}

/// A user mount (`-v`, `--mount`, `--tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPlan {
    pub destination: String,
    #[serde(flatten)]
    pub kind: MountKind,
    /// Options as the OCI spec takes them (`rbind`, `ro`, `rprivate`, `size=..`).
    pub options: Vec<String>,
}

impl MountPlan {
    /// An anonymous volume at `destination` (`-v /dst`, an image's `VOLUME`).
    pub fn anonymous_volume(destination: &str) -> Self {
        Self {
            destination: destination.to_string(),
            kind: MountKind::Volume {
                name: crate::util::new_id(),
                anonymous: true,
                nocopy: false,
                subpath: None,
                mode: String::new(),
                driver: None,
                driver_opts: BTreeMap::new(),
                labels: BTreeMap::new(),
            },
            options: vec!["rbind".into()],
        }
    }

    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    /// The propagation option, if any (`rprivate`, ...).
    pub fn propagation(&self) -> Option<&str> {
        const PROPAGATION: [&str; 6] = [
            "shared", "rshared", "slave", "rslave", "private", "rprivate",
        ];
        self.options
            .iter()
            .map(String::as_str)
            .find(|o| PROPAGATION.contains(o))
    }
}

/// Privileges and confinement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPlan {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    pub read_only_rootfs: bool,
    /// None: Docker's defaults.
    pub masked_paths: Option<Vec<String>>,
    /// None: Docker's defaults.
    pub readonly_paths: Option<Vec<String>>,
    pub sysctls: BTreeMap<String, String>,
}

/// Resource limits, normalised (`--cpus` is a quota over a 100 ms period; zero and
/// negative "unset" values are `None`), and ulimits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePlan {
    pub limits: Resources,
    pub ulimits: Vec<Ulimit>,
}

impl ResourcePlan {
    /// The memory-swap rule (one place): swap, when set, is at least the memory.
    fn check_swap(memory: Option<i64>, swap: Option<i64>) -> Result<()> {
        if let (Some(m), Some(s)) = (memory, swap) {
            if m > 0 && s > 0 && s < m {
                return Err(DaemonError::Invalid(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                ));
            }
        }
        Ok(())
    }

    fn from_host_config(hc: &HostConfig) -> Result<Self> {
        let memory = hc.memory.filter(|m| *m > 0);
        if memory.is_some_and(|m| m < 6 * 1024 * 1024) {
            return Err(DaemonError::Invalid(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        let memory_swap = hc.memory_swap.filter(|m| *m != 0);
        Self::check_swap(memory, memory_swap)?;
        let (cpu_quota, cpu_period) = cpu_quota_period(hc.nano_cpus, hc.cpu_quota, hc.cpu_period);
        let mut ulimits = Vec::new();
        for u in hc.ulimits.iter().flatten() {
            let name = u.name.clone().unwrap_or_default();
            if name.is_empty() {
                return Err(DaemonError::Invalid("invalid ulimit: no name".into()));
            }
            ulimits.push(Ulimit {
                name,
                soft: u.soft.unwrap_or(0).max(0) as u64,
                hard: u.hard.unwrap_or(0).max(0) as u64,
            });
        }
        Ok(Self {
            limits: Resources {
                memory,
                memory_swap,
                cpu_shares: hc.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
                cpu_quota,
                cpu_period,
                pids_limit: hc.pids_limit.filter(|p| *p > 0),
                cpuset_cpus: hc.cpuset_cpus.clone().filter(|s| !s.is_empty()),
            },
            ulimits,
        })
    }
}

/// `--cpus` (nano CPUs) wins over `--cpu-quota`/`--cpu-period`.
pub fn cpu_quota_period(
    nano_cpus: Option<i64>,
    quota: Option<i64>,
    period: Option<i64>,
) -> (Option<i64>, Option<u64>) {
    match nano_cpus.filter(|n| *n > 0) {
        Some(nano) => (Some(nano * 100_000 / 1_000_000_000), Some(100_000)),
        None => (
            quota.filter(|q| *q > 0),
            period.filter(|p| *p > 0).map(|p| p as u64),
        ),
    }
}

/// The json-file log driver's options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPlan {
    pub max_size: Option<u64>,
    pub max_file: u32,
}

/// When the daemon restarts the container after it exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure {
        /// 0: no limit.
        max_retries: i64,
    },
}

impl RestartPolicy {
    /// Whether a container that exited with `exit_code` after `restarts` restarts
    /// is started again (not after a manual stop).
    pub fn restarts(self, exit_code: i64, restarts: i64, manual_stop: bool) -> bool {
        if manual_stop {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (max_retries <= 0 || restarts < max_retries)
            }
        }
    }

    /// The policy a client sent (absent: `no`).
    pub fn parse(p: Option<&engine_types::models::RestartPolicy>) -> Result<Self> {
        let Some(p) = p else {
            return Ok(RestartPolicy::No);
        };
        let name = p.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
        Ok(match name.as_str() {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: p.maximum_retry_count.unwrap_or(0).max(0),
            },
            other => {
                return Err(DaemonError::Invalid(format!(
                    "invalid restart policy: {other}"
                )))
            }
        })
    }
}

/// The daemon's side of a plan: defaults and what the host offers.
#[derive(Debug, Clone)]
pub struct PlanDefaults<'a> {
    /// `--cgroup-parent` of the daemon.
    pub cgroup_parent: &'a str,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    /// The init binary for `--init`, if the host has one.
    pub init_path: Option<&'a std::path::Path>,
}

/// Everything decided about a container at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPlan {
    pub network: NetworkPlan,
    pub mounts: Vec<MountPlan>,
    pub security: SecurityPlan,
    pub resources: ResourcePlan,
    /// The container's cgroup (`<parent>/<id>`, absolute), for the runtime spec,
    /// `update` and stats.
    pub cgroup_path: String,
    /// The init binary bind-mounted at /sbin/docker-init (`--init`).
    pub init: Option<PathBuf>,
    pub log: LogPlan,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
}

/// The one message for `--init` on a host without an init binary.
const NO_INIT: &str = "--init: no init binary found on the host (install Debian's tini package, which provides /usr/bin/tini-static, or set --init-path)";

impl ContainerPlan {
    /// Parses and validates `hc` for container `id`.
    pub fn from_host_config(id: &str, hc: &HostConfig, d: &PlanDefaults<'_>) -> Result<Self> {
        let network = NetworkPlan {
            mode: network_mode(hc)?,
            dns: hc.dns.clone().unwrap_or_default(),
            dns_search: hc.dns_search.clone().unwrap_or_default(),
            dns_options: hc.dns_options.clone().unwrap_or_default(),
            extra_hosts: extra_hosts(hc)?,
            attachments: Vec::new(),
            ports: Vec::new(),
            links: Vec::new(),
        };
        let restart = RestartPolicy::parse(hc.restart_policy.as_ref())?;
        let auto_remove = hc.auto_remove == Some(true);
        if auto_remove && restart != RestartPolicy::No {
            return Err(DaemonError::Invalid(
                "can't create 'AutoRemove' container with restart policy".into(),
            ));
        }
        let init = match hc.init {
            Some(true) => Some(
                d.init_path
                    .map(std::path::Path::to_path_buf)
                    .ok_or_else(|| DaemonError::Invalid(NO_INIT.into()))?,
            ),
            _ => None,
        };
        let parent = hc
            .cgroup_parent
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(d.cgroup_parent);
        Ok(Self {
            network,
            mounts: mounts(hc)?,
            security: security(hc)?,
            resources: ResourcePlan::from_host_config(hc)?,
            cgroup_path: cgroup_path(parent, id),
            init,
            log: log(hc, d)?,
            restart,
            auto_remove,
        })
    }

    /// Applies `docker update` (limits to change; `None` keeps a limit) to the
    /// plan, validated as at create; returns the new plan.
    pub fn updated(&self, upd: &Resources, restart: Option<RestartPolicy>) -> Result<Self> {
        let mut next = self.clone();
        let r = &mut next.resources.limits;
        if upd.memory.is_some() {
            r.memory = upd.memory;
        }
        if upd.memory_swap.is_some() {
            r.memory_swap = upd.memory_swap;
        }
        if upd.cpu_shares.is_some() {
            r.cpu_shares = upd.cpu_shares;
        }
        if upd.cpu_quota.is_some() {
            r.cpu_quota = upd.cpu_quota;
        }
        if upd.cpu_period.is_some() {
            r.cpu_period = upd.cpu_period;
        }
        if upd.pids_limit.is_some() {
            r.pids_limit = upd.pids_limit;
        }
        ResourcePlan::check_swap(r.memory, r.memory_swap)?;
        if let Some(policy) = restart {
            if next.auto_remove && policy != RestartPolicy::No {
                return Err(DaemonError::Invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            next.restart = policy;
        }
        Ok(next)
    }
}

/// `<parent>/<id>`, absolute, without a doubled slash.
pub fn cgroup_path(parent: &str, id: &str) -> String {
    let parent = parent.trim_matches('/');
    if parent.is_empty() {
        format!("/{id}")
    } else {
        format!("/{parent}/{id}")
    }
}

fn network_mode(hc: &HostConfig) -> Result<NetworkMode> {
    match hc.network_mode.as_deref().unwrap_or("") {
        "" | "default" | "bridge" => Ok(NetworkMode::Bridge),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        m if m.starts_with("container:") => {
            let other = &m["container:".len()..];
            if other.is_empty() {
                return Err(DaemonError::Invalid(
                    "invalid network mode \"container:\": name the container (container:<name|id>)"
                        .into(),
                ));
            }
            Ok(NetworkMode::Container(other.to_owned()))
        }
        _ => Ok(NetworkMode::User),
    }
}

/// Parses one port key of `ExposedPorts`/`PortBindings` ("80", "80/tcp", "53/udp",
/// "8000-8010/tcp") into (first, last, protocol).
fn port_key(key: &str) -> Result<(u16, u16, network::Proto)> {
    let (ports, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = network::Proto::parse(proto)
        .ok_or_else(|| DaemonError::Invalid(format!("invalid proto {proto:?} in port {key:?}")))?;
    let (a, b) = port_range(ports).ok_or_else(|| {
        DaemonError::Invalid(format!(
            "invalid port {key:?}: expected PORT[-PORT][/PROTO]"
        ))
    })?;
    Ok((a, b, proto))
}

/// "80" or "8000-8010" (0 is not a port).
fn port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a > 0 && a <= b).then_some((a, b))
}

/// The ports to publish: `PortBindings` (`-p`), and with `PublishAllPorts` (`-P`)
/// every exposed port not bound otherwise, on an ephemeral host port.
pub fn port_requests(hc: &HostConfig, exposed: &[String]) -> Result<Vec<network::PortRequest>> {
    let mut out = Vec::new();
    let mut bound = std::collections::BTreeSet::new();
    let mut keys: Vec<_> = hc.port_bindings.iter().flatten().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, bindings) in keys {
        let (first, last, proto) = port_key(key)?;
        let bindings = bindings.clone().unwrap_or_default();
        let bindings = if bindings.is_empty() {
            vec![engine_types::models::PortBinding::default()]
        } else {
            bindings
        };
        for b in bindings {
            let host_ip = match b.host_ip.as_deref().unwrap_or("") {
                "" | "0.0.0.0" => None,
                ip => match ip.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(v4)) => Some(v4),
                    Ok(std::net::IpAddr::V6(_)) => {
                        return Err(DaemonError::NotImplemented(format!(
                            "publishing on the IPv6 address {ip} is not implemented by Berth yet"
                        )))
                    }
                    Err(_) => {
                        return Err(DaemonError::Invalid(format!(
                            "invalid host IP {ip:?} in the port binding of {key}"
                        )))
                    }
                },
            };
            let (hfirst, hlast) = match b.host_port.as_deref().unwrap_or("") {
                "" | "0" => (0, 0),
                hp => port_range(hp).ok_or_else(|| {
                    DaemonError::Invalid(format!("invalid host port {hp:?} for {key}"))
                })?,
            };
            for (i, port) in (first..=last).enumerate() {
                // A container range maps onto a host range of the same length.
                let (hf, hl) = match (hfirst, last > first) {
                    (0, _) => (0, 0),
                    (f, true) if hlast - hfirst == last - first => (f + i as u16, f + i as u16),
                    (f, true) if hlast == hfirst => (f + i as u16, f + i as u16),
                    (f, _) => (f, hlast),
                };
                bound.insert((port, proto));
                out.push(network::PortRequest {
                    container_port: port,
                    proto,
                    host_ip,
                    host_port_first: hf,
                    host_port_last: hl,
                });
            }
        }
    }
    if hc.publish_all_ports == Some(true) {
        for key in exposed {
            let (first, last, proto) = port_key(key)?;
            for port in first..=last {
                if bound.insert((port, proto)) {
                    out.push(network::PortRequest {
                        container_port: port,
                        proto,
                        host_ip: None,
                        host_port_first: 0,
                        host_port_last: 0,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn extra_hosts(hc: &HostConfig) -> Result<Vec<(String, String)>> {
    hc.extra_hosts
        .iter()
        .flatten()
        .map(|h| {
            h.split_once(':')
                .map(|(n, ip)| (n.to_string(), ip.to_string()))
                .ok_or_else(|| {
                    DaemonError::Invalid(format!(
                        "invalid argument {h:?} for \"--add-host\" flag: expected HOST:IP"
                    ))
                })
        })
        .collect()
}

fn security(hc: &HostConfig) -> Result<SecurityPlan> {
    let mut out = SecurityPlan {
        privileged: hc.privileged.unwrap_or(false),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        read_only_rootfs: hc.readonly_rootfs.unwrap_or(false),
        masked_paths: hc.masked_paths.clone(),
        readonly_paths: hc.readonly_paths.clone(),
        sysctls: hc.sysctls.clone().unwrap_or_default().into_iter().collect(),
        ..Default::default()
    };
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

fn log(hc: &HostConfig, d: &PlanDefaults<'_>) -> Result<LogPlan> {
    let mut plan = LogPlan {
        max_size: d.log_max_size,
        max_file: d.log_max_file,
    };
    let Some(lc) = &hc.log_config else {
        return Ok(plan);
    };
    match lc.typ.as_deref() {
        None | Some("") | Some("json-file") => {}
        Some(other) => {
            return Err(DaemonError::NotImplemented(format!(
                "log driver {other:?} is not implemented by Berth yet (json-file is)"
            )))
        }
    }
    for (k, v) in lc.config.iter().flatten() {
        match k.as_str() {
            "max-size" => {
                plan.max_size = Some(util::parse_size(v).ok_or_else(|| {
                    DaemonError::Invalid(format!("invalid log-opt max-size: {v:?}"))
                })?)
            }
            "max-file" => {
                plan.max_file = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    DaemonError::Invalid(format!("invalid log-opt max-file: {v:?}"))
                })?
            }
            _ => {}
        }
    }
    Ok(plan)
}

/// A `-v host:ctr[:opts]` bind, `-v name:ctr[:opts]` volume or `-v /ctr`
/// anonymous volume.
fn bind(spec: &str) -> Result<MountPlan> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(DaemonError::Invalid(format!(
                "invalid volume specification: {spec:?}"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(DaemonError::Invalid(format!(
            "invalid volume specification: {spec:?}: mount path must be absolute"
        )));
    }
    let volume = !src.starts_with('/');
    if volume && !src.is_empty() {
        crate::volumes::local::validate_name(src)?;
    }
    let mut options = vec!["rbind".to_string()];
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => options.push(o.to_string()),
            "nocopy" if volume => nocopy = true,
            "z" | "Z" | "consistent" | "cached" | "delegated" | "nocopy" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                options.push(o.to_string())
            }
            _ => {
                return Err(DaemonError::Invalid(format!(
                    "invalid mode {o:?} in volume specification {spec:?}"
                )))
            }
        }
    }
    if volume {
        let mut m = MountPlan::anonymous_volume(dst);
        m.options = options;
        if let MountKind::Volume {
            name,
            anonymous,
            nocopy: nc,
            mode,
            ..
        } = &mut m.kind
        {
            if !src.is_empty() {
                *name = src.to_string();
                *anonymous = false;
                // Docker reports the options as given, `z` when there are none.
                *mode = if opts.is_empty() {
                    "z".into()
                } else {
                    opts.into()
                };
            }
            *nc = nocopy;
        }
        return Ok(m);
    }
    Ok(MountPlan {
        destination: dst.to_string(),
        kind: MountKind::Bind {
            source: PathBuf::from(src),
            create_source: true,
        },
        options,
    })
}

/// A `--mount type=volume`.
fn volume_mount(m: &engine_types::models::Mount, target: String) -> Result<MountPlan> {
    let source = m.source.clone().unwrap_or_default();
    if !source.is_empty() {
        crate::volumes::local::validate_name(&source)?;
    }
    let vo = m.volume_options.clone().unwrap_or_default();
    let subpath = vo.subpath.filter(|s| !s.is_empty());
    if let Some(sub) = &subpath {
        let bad = sub.starts_with('/') || sub.split('/').any(|c| c == "..");
        if bad {
            return Err(DaemonError::Invalid(format!(
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume: {sub:?}"
            )));
        }
    }
    let driver = vo.driver_config.clone().unwrap_or_default();
    let mut plan = MountPlan::anonymous_volume(&target);
    if m.read_only == Some(true) {
        plan.options.push("ro".into());
    }
    if let MountKind::Volume {
        name,
        anonymous,
        nocopy,
        subpath: sp,
        driver: drv,
        driver_opts,
        labels,
        ..
    } = &mut plan.kind
    {
        if !source.is_empty() {
            *name = source;
            *anonymous = false;
        }
        *nocopy = vo.no_copy == Some(true);
        *sp = subpath;
        *drv = driver.name.filter(|n| !n.is_empty());
        *driver_opts = driver.options.unwrap_or_default().into_iter().collect();
        *labels = vo.labels.unwrap_or_default().into_iter().collect();
    }
    Ok(plan)
}

/// All user mounts: `-v` binds, `--mount`, `--tmpfs`. Pure: nothing on the host is
/// created or changed (a `-v` source is created at start).
fn mounts(hc: &HostConfig) -> Result<Vec<MountPlan>> {
    let mut out = Vec::new();
    for b in hc.binds.iter().flatten() {
        out.push(bind(b)?);
    }
    for m in hc.mounts.iter().flatten() {
        let target = m.target.clone().unwrap_or_default();
        if !target.starts_with('/') {
            return Err(DaemonError::Invalid(format!(
                "invalid mount config: mount path must be absolute: {target:?}"
            )));
        }
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
                if !std::path::Path::new(&source).exists() {
                    return Err(DaemonError::Invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                    )));
                }
                out.push(MountPlan {
                    destination: target,
                    kind: MountKind::Bind {
                        source: PathBuf::from(source),
                        create_source: false,
                    },
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
                out.push(MountPlan {
                    destination: target,
                    kind: MountKind::Tmpfs,
                    options,
                });
            }
            "volume" => out.push(volume_mount(m, target)?),
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
        out.push(MountPlan {
            destination: dst.clone(),
            kind: MountKind::Tmpfs,
            options,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::models::{HostConfigLogConfig, Mount, MountType, RestartPolicyNameEnum};

    const DEFAULTS: PlanDefaults<'static> = PlanDefaults {
        cgroup_parent: "/berth",
        log_max_size: None,
        log_max_file: 1,
        init_path: None,
    };

    fn plan(hc: HostConfig) -> Result<ContainerPlan> {
        ContainerPlan::from_host_config("abc", &hc, &DEFAULTS)
    }

    fn invalid(hc: HostConfig) -> String {
        match plan(hc) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("accepted: {p:?}"),
        }
    }

    #[test]
    fn defaults() {
        let p = plan(HostConfig::default()).unwrap();
        assert_eq!(p.network.mode, NetworkMode::Bridge);
        assert!(p.network.attachments.is_empty() && p.network.ports.is_empty());
        assert_eq!(p.cgroup_path, "/berth/abc");
        assert_eq!(p.restart, RestartPolicy::No);
        assert!(p.mounts.is_empty() && p.init.is_none() && !p.auto_remove);
        assert_eq!(
            p.log,
            LogPlan {
                max_size: None,
                max_file: 1
            }
        );
        // Round trip through the record's JSON.
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ContainerPlan>(&json).unwrap(), p);
    }

    #[test]
    fn every_rule_has_one_message() {
        let m = invalid(HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(32 << 20),
            ..Default::default()
        });
        assert!(m.contains("Minimum memoryswap limit"), "{m}");
        assert!(invalid(HostConfig {
            memory: Some(1024),
            ..Default::default()
        })
        .contains("Minimum memory limit allowed is 6MB"));
        assert!(invalid(HostConfig {
            init: Some(true),
            ..Default::default()
        })
        .starts_with("--init: no init binary found"));
        assert!(invalid(HostConfig {
            network_mode: Some("container:".into()),
            ..Default::default()
        })
        .contains("name the container"));
        assert!(invalid(HostConfig {
            security_opt: Some(vec!["bogus".into()]),
            ..Default::default()
        })
        .contains("invalid --security-opt"));
        assert!(invalid(HostConfig {
            auto_remove: Some(true),
            restart_policy: Some(engine_types::models::RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        })
        .contains("AutoRemove"));
        assert!(invalid(HostConfig {
            binds: Some(vec!["/a:/b:bogus".into()]),
            ..Default::default()
        })
        .contains("invalid mode"));
        assert!(invalid(HostConfig {
            log_config: Some(HostConfigLogConfig {
                typ: Some("syslog".into()),
                config: None,
            }),
            ..Default::default()
        })
        .contains("log driver"));
        assert!(invalid(HostConfig {
            extra_hosts: Some(vec!["nocolon".into()]),
            ..Default::default()
        })
        .contains("--add-host"));
    }

    #[test]
    fn mounts_are_parsed_without_touching_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let p = plan(HostConfig {
            binds: Some(vec![format!("{}:/data:ro,rslave", missing.display())]),
            tmpfs: Some([("/run".to_string(), "size=1m".to_string())].into()),
            mounts: Some(vec![Mount {
                target: Some("/m".into()),
                source: Some(dir.path().display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        })
        .unwrap();
        assert!(!missing.exists());
        assert_eq!(p.mounts.len(), 3);
        assert_eq!(
            p.mounts[0].kind,
            MountKind::Bind {
                source: missing.clone(),
                create_source: true
            }
        );
        assert!(p.mounts[0].read_only());
        assert_eq!(p.mounts[0].propagation(), Some("rslave"));
        assert!(matches!(
            p.mounts[1].kind,
            MountKind::Bind {
                create_source: false,
                ..
            }
        ));
        assert_eq!(p.mounts[2].kind, MountKind::Tmpfs);
        // --mount refuses a missing source at create.
        let m = invalid(HostConfig {
            mounts: Some(vec![Mount {
                target: Some("/m".into()),
                source: Some(missing.display().to_string()),
                typ: Some(MountType::BIND),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert!(m.contains("bind source path does not exist"), "{m}");
    }

    #[test]
    fn resources_cgroup_and_restart() {
        let p = ContainerPlan::from_host_config(
            "abc",
            &HostConfig {
                nano_cpus: Some(1_500_000_000),
                cpu_quota: Some(5),
                pids_limit: Some(-1),
                cgroup_parent: Some("custom/".into()),
                restart_policy: Some(engine_types::models::RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ON_FAILURE),
                    maximum_retry_count: Some(2),
                }),
                ..Default::default()
            },
            &DEFAULTS,
        )
        .unwrap();
        assert_eq!(p.resources.limits.cpu_quota, Some(150_000));
        assert_eq!(p.resources.limits.cpu_period, Some(100_000));
        assert_eq!(p.resources.limits.pids_limit, None);
        assert_eq!(p.cgroup_path, "/custom/abc");
        assert_eq!(p.restart, RestartPolicy::OnFailure { max_retries: 2 });
        assert!(p.restart.restarts(1, 1, false));
        assert!(!p.restart.restarts(1, 2, false));
        assert!(!p.restart.restarts(0, 0, false));
        assert!(!RestartPolicy::Always.restarts(1, 0, true));
        assert_eq!(cgroup_path("/", "x"), "/x");

        let up = p
            .updated(
                &Resources {
                    memory: Some(64 << 20),
                    ..Default::default()
                },
                Some(RestartPolicy::Always),
            )
            .unwrap();
        assert_eq!(up.resources.limits.memory, Some(64 << 20));
        assert_eq!(up.resources.limits.cpu_quota, Some(150_000));
        assert_eq!(up.restart, RestartPolicy::Always);
        assert!(up
            .updated(
                &Resources {
                    memory_swap: Some(1 << 20),
                    ..Default::default()
                },
                None
            )
            .is_err());
    }

    #[test]
    fn ports_from_bindings_and_publish_all() {
        use engine_types::models::PortBinding;
        let b = |ip: &str, port: &str| PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        };
        let hc = HostConfig {
            port_bindings: Some(
                [
                    ("80/tcp".to_string(), Some(vec![b("", "8080")])),
                    ("53/udp".to_string(), Some(vec![b("127.0.0.1", "")])),
                    ("7000-7001/tcp".to_string(), Some(vec![b("", "9000-9001")])),
                ]
                .into_iter()
                .collect(),
            ),
            publish_all_ports: Some(true),
            ..Default::default()
        };
        let exposed = vec!["80/tcp".to_string(), "443/tcp".to_string()];
        let r = port_requests(&hc, &exposed).unwrap();
        let summary: Vec<_> = r
            .iter()
            .map(|p| {
                (
                    p.container_port,
                    p.proto,
                    p.host_ip,
                    p.host_port_first,
                    p.host_port_last,
                )
            })
            .collect();
        use network::Proto::*;
        let lo = Some(std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(
            summary,
            vec![
                (53, Udp, lo, 0, 0),
                (7000, Tcp, None, 9000, 9000),
                (7001, Tcp, None, 9001, 9001),
                (80, Tcp, None, 8080, 8080),
                (443, Tcp, None, 0, 0),
            ]
        );
        for bad in ["80/xtp", "0/tcp", "x"] {
            let hc = HostConfig {
                port_bindings: Some([(bad.to_string(), None)].into_iter().collect()),
                ..Default::default()
            };
            assert!(port_requests(&hc, &[]).is_err(), "{bad}");
        }
        let hc = HostConfig {
            port_bindings: Some(
                [("80".to_string(), Some(vec![b("::", "1")]))]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        assert!(matches!(
            port_requests(&hc, &[]),
            Err(DaemonError::NotImplemented(_))
        ));
    }
}

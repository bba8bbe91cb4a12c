//! `run`/`create` flags and their translation into a ContainerCreate body.

use std::collections::{BTreeSet, HashMap};

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, Args};

use crate::client::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigLogConfig, Mount, MountBindOptions,
    MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkingConfig, PortBinding, PortMap, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};

use super::netopts::{
    endpoints_config, network_mode, parse_dns_search, parse_extra_host, parse_network_arg,
    LegacyNetFlags, NetworkAttachment,
};
use super::network::{parse_ip, parse_link};
use crate::format::{parse_go_duration, parse_ram_bytes};

/// Flags shared by `run` and `create` (docker's names and meanings).
#[derive(Args, Debug, Clone, Default)]
pub struct ContainerOpts {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net", value_parser = parse_network_arg)]
    pub network: Vec<NetworkAttachment>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_parser = parse_ip)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long, value_parser = parse_ip)]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_parser = parse_link)]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_parser = parse_ip)]
    pub link_local_ip: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=,target=,readonly)
    #[arg(long)]
    pub mount: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM", hide_env = true)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Skip image verification (accepted; Berth has no content trust)
    #[arg(long = "disable-content-trust", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_parser = parse_extra_host)]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_parser = parse_ip)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_parser = parse_dns_search)]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Kernel parameters
    #[arg(long)]
    pub sysctl: Vec<String>,
}

/// Positional IMAGE [COMMAND] [ARG...]. Like docker, flag parsing stops at
/// the image: everything after it is the command, verbatim.
#[derive(Args, Debug, Clone)]
pub struct ImageAndCommand {
    /// Image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

impl ImageAndCommand {
    /// The image reference.
    pub fn image(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or("")
    }

    /// The command and its arguments (may be empty).
    pub fn command(&self) -> &[String] {
        self.args.get(1..).unwrap_or(&[])
    }
}

fn env_lookup(kv: &str) -> Option<String> {
    if kv.contains('=') {
        return Some(kv.to_string());
    }
    match std::env::var(kv) {
        Ok(v) => Some(format!("{kv}={v}")),
        // docker passes an unset variable name through; the daemon drops it.
        Err(_) => Some(kv.to_string()),
    }
}

/// Reads an env file: KEY=VALUE lines, `#` comments, bare KEY from our environment.
pub fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("open {path}: {}", crate::format::go_io_error(&e)))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some((k, _)) = l.split_once('=') {
            if k.is_empty() {
                bail!("invalid environment variable: {l}");
            }
            out.push(l.to_string());
        } else if let Ok(v) = std::env::var(l.trim_end()) {
            out.push(format!("{}={v}", l.trim_end()));
        }
    }
    Ok(out)
}

/// docker's `convertToStandardNotation`: the long `-p` form
/// ("published=8080,target=80,protocol=udp") as "8080:80/udp".
fn publish_standard(spec: &str) -> Result<String> {
    if !spec.contains('=') {
        return Ok(spec.to_string());
    }
    let mut params: HashMap<&str, &str> = HashMap::from([("protocol", "tcp")]);
    for param in spec.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => bail!("invalid publish opts format (should be name=value but got '{param}')"),
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or_default();
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// A parsed `-p` value: (container "port/proto", host ip, host port).
pub fn parse_publish(spec: &str) -> Result<Vec<(String, String, String)>> {
    let standard = publish_standard(spec)?;
    let spec = standard.as_str();
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    // IPv6 host ip in brackets: [::1]:8080:80
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| anyhow!("invalid ip address: {spec}"))?;
        (ip.to_string(), after.trim_start_matches(':').to_string())
    } else {
        (String::new(), rest.to_string())
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => (ip, String::new(), c.to_string()),
        [h, c] => (ip, h.to_string(), c.to_string()),
        [i, h, c] if ip.is_empty() => (i.to_string(), h.to_string(), c.to_string()),
        _ => bail!("invalid port format: {spec}"),
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        bail!("invalid IP address: {ip}");
    }
    let range = |s: &str| -> Result<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a
            .parse()
            .map_err(|_| anyhow!("invalid containerPort: {s}"))?;
        let b: u16 = b
            .parse()
            .map_err(|_| anyhow!("invalid containerPort: {s}"))?;
        if b < a {
            bail!("invalid range specified for port: {s}");
        }
        Ok((a, b))
    };
    let (c0, c1) = range(&ctr)?;
    let hosts: Vec<String> = if host.is_empty() {
        vec![String::new(); (c1 - c0 + 1) as usize]
    } else {
        let (h0, h1) = range(&host).map_err(|_| anyhow!("invalid hostPort: {host}"))?;
        if h1 - h0 == c1 - c0 {
            (h0..=h1).map(|p| p.to_string()).collect()
        } else if c0 == c1 {
            // A host range for one container port: let the daemon pick in it.
            vec![host.clone()]
        } else {
            bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
        }
    };
    Ok((c0..=c1)
        .zip(hosts)
        .map(|(c, h)| (format!("{c}/{proto}"), ip.clone(), h))
        .collect())
}

/// Parses a `--mount` value into a HostConfig.Mounts entry.
pub fn parse_mount(spec: &str) -> Result<Mount> {
    let mut typ = "volume".to_string();
    let mut source = String::new();
    let mut target = String::new();
    let mut read_only = false;
    let mut propagation = None;
    let mut tmpfs_size = None;
    let mut tmpfs_mode = None;
    let mut nocopy = false;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let flag = |v: Option<&str>| -> Result<bool> {
            match v.map(str::to_ascii_lowercase).as_deref() {
                None | Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(o) => bail!("invalid value for {k}: {o}"),
            }
        };
        match k.as_str() {
            "type" => typ = v.unwrap_or("").to_string(),
            "source" | "src" => source = v.unwrap_or("").to_string(),
            "target" | "destination" | "dst" => target = v.unwrap_or("").to_string(),
            "readonly" | "ro" => read_only = flag(v)?,
            "bind-propagation" => {
                let p = v.unwrap_or("");
                propagation = Some(
                    p.parse::<MountBindOptionsPropagationEnum>()
                        .map_err(|_| anyhow!("invalid value for {k}: {p}"))?,
                )
            }
            "tmpfs-size" => tmpfs_size = Some(parse_ram_bytes(v.unwrap_or(""))?),
            "tmpfs-mode" => {
                tmpfs_mode =
                    Some(u32::from_str_radix(v.unwrap_or(""), 8).map_err(|_| {
                        anyhow!("invalid value for tmpfs-mode: {}", v.unwrap_or(""))
                    })?)
            }
            "volume-nocopy" => nocopy = flag(v)?,
            other => bail!("unexpected key '{other}' in '{field}'"),
        }
    }
    let mount_type = match typ.as_str() {
        "bind" => MountType::BIND,
        "volume" => MountType::VOLUME,
        "tmpfs" => MountType::TMPFS,
        _ => bail!("invalid mount type: {typ:?}"),
    };
    if target.is_empty() {
        bail!("target is required");
    }
    if mount_type == MountType::BIND && source.is_empty() {
        bail!("source is required when specifying bind mounts");
    }
    let tmpfs_options = (tmpfs_size.is_some() || tmpfs_mode.is_some()).then(|| MountTmpfsOptions {
        size_bytes: tmpfs_size,
        mode: tmpfs_mode.map(i64::from),
        ..Default::default()
    });
    Ok(Mount {
        typ: Some(mount_type),
        source: Some(source),
        target: Some(target),
        read_only: Some(read_only),
        bind_options: propagation.map(|p| MountBindOptions {
            propagation: Some(p),
            ..Default::default()
        }),
        tmpfs_options,
        volume_options: nocopy.then(|| MountVolumeOptions {
            no_copy: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn parse_ulimit(s: &str) -> Result<ResourcesUlimits> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let soft: i64 = soft
        .parse()
        .map_err(|_| anyhow!("invalid ulimit soft value {soft}"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| anyhow!("invalid ulimit hard value {hard}"))?;
    if soft > hard && hard != -1 {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// `--restart`: "no", "always", "unless-stopped" or "on-failure[:max-retries]".
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>()
                .map_err(|_| anyhow!("maximum retry count must be an integer"))?,
        ),
        None => (s, 0),
    };
    let policy = match name {
        "no" | "" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => bail!("invalid restart policy '{other}'"),
    };
    if count != 0 && policy != RestartPolicyNameEnum::ON_FAILURE {
        bail!("maximum retry count cannot be used with restart policy '{name}'");
    }
    Ok(RestartPolicy {
        name: Some(policy),
        maximum_retry_count: Some(count),
    })
}

/// Capabilities as docker's CLI sends them: upper case with a `CAP_` prefix
/// (except `ALL`).
pub fn normalize_caps(caps: &[String]) -> Vec<String> {
    caps.iter()
        .map(|c| {
            let u = c.to_ascii_uppercase();
            if u == "ALL" || u.starts_with("CAP_") {
                u
            } else {
                format!("CAP_{u}")
            }
        })
        .collect()
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_ram_bytes(s)
}

/// "k=v" items as a map (a bare "k" maps to ""), as docker's
/// `ConvertKVStringsToMap`; an empty key is refused.
pub fn kv_map(items: &[String], what: &str) -> Result<HashMap<String, String>> {
    let mut m = HashMap::new();
    for it in items {
        let (k, v) = it.split_once('=').unwrap_or((it.as_str(), ""));
        if k.is_empty() {
            bail!("invalid {what}: {it}");
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

impl ContainerOpts {
    /// Which streams a foreground run attaches: (stdin, stdout, stderr).
    pub fn attach_streams(&self, detach: bool) -> Result<(bool, bool, bool)> {
        if detach {
            return Ok((false, false, false));
        }
        if self.attach.is_empty() {
            return Ok((self.interactive, true, true));
        }
        let (mut i, mut o, mut e) = (self.interactive, false, false);
        for a in &self.attach {
            match a.to_ascii_lowercase().as_str() {
                "stdin" => i = true,
                "stdout" => o = true,
                "stderr" => e = true,
                other => bail!("invalid argument \"{other}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"),
            }
        }
        Ok((i, o, e))
    }

    /// The ContainerCreate request body, as docker's CLI builds it.
    pub fn create_body(&self, ic: &ImageAndCommand, detach: bool) -> Result<ContainerCreateBody> {
        let (ai, ao, ae) = self.attach_streams(detach)?;
        let mut env: Vec<String> = Vec::new();
        for f in &self.env_file {
            env.extend(read_env_file(f)?);
        }
        env.extend(self.env.iter().filter_map(|e| env_lookup(e)));

        let labels = kv_map(&self.label, "label")?;

        let mut exposed = BTreeSet::new();
        let mut bindings: PortMap = HashMap::new();
        for p in &self.publish {
            for (port, ip, host) in parse_publish(p)? {
                exposed.insert(port.clone());
                bindings
                    .entry(port)
                    .or_default()
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: Some(ip),
                        host_port: Some(host),
                    });
            }
        }
        for e in &self.expose {
            let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
            let (a, b) = port.split_once('-').unwrap_or((port, port));
            let a: u16 = a
                .parse()
                .map_err(|_| anyhow!("invalid range format for --expose: {e}"))?;
            let b: u16 = b
                .parse()
                .map_err(|_| anyhow!("invalid range format for --expose: {e}"))?;
            for p in a..=b {
                exposed.insert(format!("{p}/{proto}"));
            }
        }

        let mut binds = Vec::new();
        let mut volumes = BTreeSet::new();
        for v in &self.volume {
            let parts: Vec<&str> = v.split(':').collect();
            match parts.len() {
                1 => {
                    if !v.starts_with('/') {
                        bail!("invalid volume specification: '{v}': invalid mount config for type \"volume\": invalid mount path: '{v}' mount path must be absolute");
                    }
                    volumes.insert(v.clone());
                }
                2 | 3 => {
                    if !parts[1].starts_with('/') {
                        bail!("invalid volume specification: '{v}'");
                    }
                    binds.push(v.clone());
                }
                _ => bail!("invalid volume specification: '{v}'"),
            }
        }

        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| {
                let (p, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
                (p.to_string(), o.to_string())
            })
            .collect();

        let ulimits: Vec<ResourcesUlimits> = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<_>>()?;

        let mut security_opt = Vec::new();
        for s in &self.security_opt {
            let (k, v) = s.split_once(['=', ':']).unwrap_or((s.as_str(), ""));
            if k == "seccomp" && v != "unconfined" && !v.is_empty() && v != "builtin" {
                let text = std::fs::read_to_string(v)
                    .with_context(|| format!("opening seccomp profile ({v}) failed"))?;
                // The profile is opaque JSON for the daemon: checked and
                // compacted here (docker's json.Compact), not interpreted.
                let parsed: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("decoding seccomp profile ({v}) failed"))?;
                security_opt.push(format!("seccomp={parsed}"));
            } else {
                security_opt.push(s.clone());
            }
        }

        let memory_swap = self
            .memory_swap
            .as_deref()
            .map(parse_memory_swap)
            .transpose()?;

        let devices: Vec<DeviceMapping> = self
            .device
            .iter()
            .map(|d| {
                let mut parts = d.split(':');
                let host = parts.next().unwrap_or_default();
                let ctr = parts.next().unwrap_or(host);
                let perms = parts.next().unwrap_or("rwm");
                DeviceMapping {
                    path_on_host: Some(host.to_string()),
                    path_in_container: Some(ctr.to_string()),
                    cgroup_permissions: Some(perms.to_string()),
                }
            })
            .collect();

        let mounts = if self.mount.is_empty() {
            None
        } else {
            let mounts = self
                .mount
                .iter()
                .map(|m| {
                    parse_mount(m)
                        .map_err(|e| anyhow!("invalid argument \"{m}\" for \"--mount\" flag: {e}"))
                })
                .collect::<Result<_>>()?;
            Some(mounts)
        };

        let network = network_mode(&self.network);
        let endpoints = endpoints_config(
            &self.network,
            &LegacyNetFlags {
                aliases: &self.network_alias,
                links: &self.link,
                ip: self.ip.as_deref(),
                ip6: self.ip6.as_deref(),
                mac_address: self.mac_address.as_deref(),
                link_local_ips: &self.link_local_ip,
            },
        )?;
        // Like docker, an empty list is sent as such where its CLI sends one
        // (the daemon tells [] from absent for some of these).
        let host_config = HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            network_mode: Some(network),
            links: Some(self.link.clone()).filter(|l| !l.is_empty()),
            port_bindings: Some(bindings),
            restart_policy: Some(parse_restart(&self.restart)?),
            auto_remove: Some(self.rm),
            cap_add: Some(normalize_caps(&self.cap_add)),
            cap_drop: Some(normalize_caps(&self.cap_drop)),
            blkio_weight_device: Some(Vec::new()),
            blkio_device_read_bps: Some(Vec::new()),
            blkio_device_write_bps: Some(Vec::new()),
            blkio_device_read_iops: Some(Vec::new()),
            blkio_device_write_iops: Some(Vec::new()),
            dns: Some(self.dns.clone()),
            dns_options: Some(self.dns_option.clone()),
            dns_search: Some(self.dns_search.clone()),
            // Validated into docker's "host:ip" form by the flag's parser.
            extra_hosts: Some(self.add_host.clone()).filter(|h| !h.is_empty()),
            group_add: (!self.group_add.is_empty()).then(|| self.group_add.clone()),
            privileged: Some(self.privileged),
            publish_all_ports: Some(self.publish_all),
            readonly_rootfs: Some(self.read_only),
            security_opt: Some(security_opt),
            log_config: Some(HostConfigLogConfig {
                typ: Some(self.log_driver.clone().unwrap_or_default()),
                config: Some(kv_map(&self.log_opt, "log-opt")?),
            }),
            devices: Some(devices),
            ulimits: Some(ulimits),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            mounts,
            init: self.init.then_some(true),
            // Initial size, so the first prompt already fits (API >= 1.42).
            console_size: (self.tty && ai)
                .then(crate::tty::size)
                .flatten()
                .map(|(h, w)| vec![usize::from(h), usize::from(w)]),
            runtime: self.runtime.clone(),
            memory: self.memory.as_deref().map(parse_ram_bytes).transpose()?,
            memory_swap,
            nano_cpus: self.cpus.map(|c| (c * 1e9).round() as i64),
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            shm_size: self.shm_size.as_deref().map(parse_ram_bytes).transpose()?,
            pid_mode: self.pid.clone(),
            ipc_mode: self.ipc.clone(),
            uts_mode: self.uts.clone(),
            oom_kill_disable: self.oom_kill_disable.then_some(true),
            sysctls: if self.sysctl.is_empty() {
                None
            } else {
                Some(kv_map(&self.sysctl, "sysctl")?)
            },
            ..Default::default()
        };

        Ok(ContainerCreateBody {
            hostname: Some(self.hostname.clone().unwrap_or_default()),
            domainname: Some(self.domainname.clone().unwrap_or_default()),
            user: Some(self.user.clone().unwrap_or_default()),
            attach_stdin: Some(ai),
            attach_stdout: Some(ao),
            attach_stderr: Some(ae),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(ai && !detach),
            env: Some(env),
            cmd: (!ic.command().is_empty()).then(|| ic.command().to_vec()),
            image: Some(ic.image().to_string()),
            volumes: Some(volumes.into_iter().collect()),
            working_dir: Some(self.workdir.clone().unwrap_or_default()),
            labels: Some(labels),
            // docker's CLI sends null for no ports.
            exposed_ports: (!exposed.is_empty()).then(|| exposed.into_iter().collect()),
            // `--entrypoint ""` resets the image's entrypoint: sent as [""].
            entrypoint: self.entrypoint.clone().map(|ep| vec![ep]),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
            ..Default::default()
        })
    }
}

/// Resolves `--since`/`--until` like docker's `GetTimestamp`: a Go
/// duration is whole seconds before now, an RFC 3339 time or a date is
/// "seconds.nanoseconds", a unix timestamp passes through.
pub fn timestamp_arg(s: &str, now: i64) -> String {
    if let Some(d) = parse_go_duration(s).filter(|_| s != "0") {
        return format!("{}", (now as f64 - d).floor() as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // A date without a zone is local time, as docker reads it.
        let local = d
            .and_hms_opt(0, 0, 0)
            .and_then(|dt| chrono::TimeZone::from_local_datetime(&chrono::Local, &dt).single());
        if let Some(t) = local {
            return format!("{}.000000000", t.timestamp());
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ic(cmd: &[&str]) -> ImageAndCommand {
        ImageAndCommand {
            args: std::iter::once("busybox")
                .chain(cmd.iter().copied())
                .map(str::to_string)
                .collect(),
        }
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![("80/tcp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            parse_publish("127.0.0.1:53:53/udp").unwrap(),
            vec![("53/udp".into(), "127.0.0.1".into(), "53".into())]
        );
        assert_eq!(
            parse_publish("[::1]:80:80").unwrap(),
            vec![("80/tcp".into(), "::1".into(), "80".into())]
        );
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
        assert!(parse_publish("a:b:c:d").is_err());
        assert!(parse_publish("80/xyz").is_err());
        assert_eq!(
            parse_publish("published=8080,target=80,protocol=udp").unwrap(),
            vec![("80/udp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            parse_publish("target=80").unwrap(),
            vec![("80/tcp".into(), "".into(), "".into())]
        );
        assert!(parse_publish("target=80,bogus").is_err());
        assert_eq!(
            parse_publish("300.1.1.1:80:80").unwrap_err().to_string(),
            "invalid IP address: 300.1.1.1"
        );
    }

    /// A run with (nearly) every flag set.
    fn rich() -> (ContainerOpts, ImageAndCommand) {
        let o = ContainerOpts {
            interactive: true,
            tty: true,
            attach: vec![],
            rm: true,
            name: Some("web".into()),
            env: vec!["A=1".into(), "B=two words".into()],
            env_file: vec![],
            workdir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            entrypoint: Some(String::new()),
            hostname: Some("h1".into()),
            domainname: Some("example.org".into()),
            label: vec!["k=v".into(), "empty".into()],
            read_only: true,
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpus: Some(1.5),
            cpu_shares: Some(512),
            pids_limit: Some(-1),
            cap_add: vec!["net_admin".into(), "CAP_SYS_TIME".into()],
            cap_drop: vec!["all".into()],
            privileged: false,
            security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
            network: vec![parse_network_arg("mynet").unwrap()],
            network_alias: vec![],
            ip: None,
            ip6: None,
            link: vec![],
            link_local_ip: vec![],
            stop_signal: Some("SIGUSR1".into()),
            stop_timeout: Some(7),
            init: true,
            ulimit: vec!["nofile=100:200".into(), "nproc=50".into()],
            tmpfs: vec!["/run:size=1m".into(), "/tmp".into()],
            volume: vec!["/host:/data:ro".into(), "named:/v".into(), "/anon".into()],
            mount: vec![
                "type=bind,source=/src,target=/dst,readonly,bind-propagation=rslave".into(),
                "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770".into(),
                "type=volume,src=vol,dst=/vv,volume-nocopy".into(),
            ],
            publish: vec![
                "8080:80".into(),
                "127.0.0.1:53:53/udp".into(),
                "9000-9001:9000-9001".into(),
                "443".into(),
            ],
            publish_all: true,
            expose: vec!["7000-7001/udp".into(), "6000".into()],
            restart: "on-failure:3".into(),
            runtime: Some("runc".into()),
            log_driver: Some("json-file".into()),
            log_opt: vec!["max-size=10m".into()],
            detach_keys: None,
            platform: None,
            pull: "missing".into(),
            quiet: false,
            disable_content_trust: true,
            add_host: ["db:10.0.0.2", "cache=10.0.0.3"]
                .into_iter()
                .map(|h| super::super::netopts::parse_extra_host(h).unwrap())
                .collect(),
            dns: vec!["1.1.1.1".into()],
            dns_search: vec!["example.org".into()],
            dns_option: vec!["ndots:2".into()],
            sig_proxy: true,
            shm_size: Some("128m".into()),
            group_add: vec!["audio".into()],
            pid: Some("host".into()),
            ipc: Some("private".into()),
            uts: Some("host".into()),
            device: vec!["/dev/fuse".into(), "/dev/sda:/dev/xvda:r".into()],
            mac_address: Some("02:42:ac:11:00:02".into()),
            oom_kill_disable: true,
            sysctl: vec!["net.ipv4.ip_forward=1".into()],
        };
        (o, ic(&["sh", "-c", "echo hi"]))
    }
    /// Drops nulls: the daemon reads an absent field and a null alike.
    fn without_nulls(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
            v => v,
        }
    }

    /// The typed body serializes to the JSON the CLI sent when it built the
    /// body by hand (testdata: that builder's output for the same flags).
    #[test]
    fn create_body_matches_the_hand_built_json() {
        let (o, cmd) = rich();
        let body = serde_json::to_value(o.create_body(&cmd, false).unwrap()).unwrap();
        let mut old: Value =
            serde_json::from_str(include_str!("testdata/create_body_rich.json")).unwrap();
        // The one intended change: the MAC address moved from the top level,
        // which ContainerCreateBody lacks since API 1.44 (so the daemon never
        // read it), to the endpoint settings, where docker sends it.
        let mac = old
            .as_object_mut()
            .and_then(|m| m.remove("MacAddress"))
            .unwrap();
        old["NetworkingConfig"]["EndpointsConfig"]["mynet"]["MacAddress"] = mac;
        assert_eq!(body, without_nulls(old));

        let plain = ContainerOpts {
            pull: "missing".into(),
            sig_proxy: true,
            restart: "no".into(),
            ..Default::default()
        };
        let body = serde_json::to_value(plain.create_body(&ic(&[]), true).unwrap()).unwrap();
        let mut old: Value =
            serde_json::from_str(include_str!("testdata/create_body_plain.json")).unwrap();
        // The other intended change: without --network docker's CLI sends a
        // "default" endpoint (carrying --ip, --mac-address, ... when given).
        old["NetworkingConfig"]["EndpointsConfig"] = json!({"default": {}});
        // And, as docker's CLI, no ExposedPorts or ExtraHosts when empty.
        if let Some(m) = old.as_object_mut() {
            m.remove("ExposedPorts");
        }
        if let Some(m) = old["HostConfig"].as_object_mut() {
            m.remove("ExtraHosts");
        }
        assert_eq!(body, without_nulls(old));
    }

    #[test]
    fn create_body_fields() {
        let (o, cmd) = rich();
        let b = o.create_body(&cmd, false).unwrap();
        assert_eq!(b.cmd.as_deref(), Some(&cmd.args[1..]));
        assert_eq!(b.entrypoint, Some(vec![String::new()]));
        assert_eq!(b.stdin_once, Some(true));
        let hc = b.host_config.unwrap();
        assert_eq!(hc.memory, Some(64 * 1024 * 1024));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.pids_limit, Some(-1));
        assert_eq!(
            hc.restart_policy.and_then(|r| r.name),
            Some(RestartPolicyNameEnum::ON_FAILURE)
        );
        assert_eq!(
            normalize_caps(&["net_admin".into(), "CAP_CHOWN".into(), "all".into()]),
            ["CAP_NET_ADMIN", "CAP_CHOWN", "ALL"]
        );
        // A plain run sends no entrypoint, so the image's stays.
        let d = ContainerOpts::default()
            .create_body(&ic(&[]), true)
            .unwrap();
        assert_eq!(d.entrypoint, None);
        assert_eq!(d.cmd, None);
        assert_eq!(d.attach_stdout, Some(false));
        let v = serde_json::to_value(&d).unwrap();
        assert!(v.get("Entrypoint").is_none() && v.get("Cmd").is_none());
        // A MAC address on the default network goes to its endpoint.
        let m = ContainerOpts {
            mac_address: Some("02:00:00:00:00:01".into()),
            ..Default::default()
        }
        .create_body(&ic(&[]), true)
        .unwrap();
        assert_eq!(
            serde_json::to_value(m.networking_config).unwrap(),
            json!({"EndpointsConfig": {"default": {"MacAddress": "02:00:00:00:00:01"}}})
        );
    }

    fn mount_json(spec: &str) -> Value {
        serde_json::to_value(parse_mount(spec).unwrap()).unwrap()
    }

    #[test]
    fn mounts() {
        assert_eq!(
            mount_json("type=bind,source=/tmp,target=/data,readonly"),
            json!({"Type": "bind", "Source": "/tmp", "Target": "/data", "ReadOnly": true})
        );
        assert_eq!(
            mount_json("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770"),
            json!({"Type": "tmpfs", "Source": "", "Target": "/t", "ReadOnly": false,
                   "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}})
        );
        assert_eq!(mount_json("src=vol,dst=/v")["Type"], "volume");
        assert!(parse_mount("type=bind,target=/x").is_err());
        assert!(parse_mount("type=nfs,target=/x").is_err());
        assert!(parse_mount("source=/x").is_err());
        assert!(parse_mount("target=/x,bogus=1").is_err());
        assert!(parse_mount("type=bind,src=/a,dst=/b,bind-propagation=sideways").is_err());
    }

    #[test]
    fn bad_values() {
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:3").is_err());
        assert!(parse_ulimit("nofile=200:100").is_err());
        assert!(parse_ulimit("nofile").is_err());
        let o = ContainerOpts {
            attach: vec!["stdfoo".into()],
            ..Default::default()
        };
        assert!(o.attach_streams(false).is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_arg("10s", 1000), "990");
        assert_eq!(timestamp_arg("1.5s", 1000), "998");
        assert_eq!(
            timestamp_arg("2026-01-01T00:00:00Z", 0),
            "1767225600.000000000"
        );
        assert_eq!(
            timestamp_arg("2026-01-01T00:00:00.25+01:00", 0),
            "1767222000.250000000"
        );
        let midnight = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|d| chrono::TimeZone::from_local_datetime(&chrono::Local, &d).single())
            .unwrap()
            .timestamp();
        assert_eq!(
            timestamp_arg("2026-01-01", 0),
            format!("{midnight}.000000000")
        );
        assert_eq!(timestamp_arg("1234.5", 0), "1234.5");
        assert_eq!(timestamp_arg("0", 7), "0");
    }
}

//! `run`/`create` flags and their translation into a ContainerCreate body.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

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
    #[arg(long = "network", visible_alias = "net")]
    pub network: Option<String>,
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
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
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
    /// Container MAC address
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

/// A parsed `-p` value: (container "port/proto", host ip, host port).
pub fn parse_publish(spec: &str) -> Result<Vec<(String, String, String)>> {
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
pub fn parse_mount(spec: &str) -> Result<Value> {
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
            "bind-propagation" => propagation = v.map(str::to_string),
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
    if !matches!(typ.as_str(), "bind" | "volume" | "tmpfs") {
        bail!("invalid mount type: {typ:?}");
    }
    if target.is_empty() {
        bail!("target is required");
    }
    if typ == "bind" && source.is_empty() {
        bail!("source is required when specifying bind mounts");
    }
    let mut m = json!({"Type": typ, "Source": source, "Target": target, "ReadOnly": read_only});
    if let Some(p) = propagation {
        m["BindOptions"] = json!({"Propagation": p});
    }
    if tmpfs_size.is_some() || tmpfs_mode.is_some() {
        let mut t = Map::new();
        if let Some(sz) = tmpfs_size {
            t.insert("SizeBytes".into(), json!(sz));
        }
        if let Some(md) = tmpfs_mode {
            t.insert("Mode".into(), json!(md));
        }
        m["TmpfsOptions"] = Value::Object(t);
    }
    if nocopy {
        m["VolumeOptions"] = json!({"NoCopy": true});
    }
    Ok(m)
}

fn parse_ulimit(s: &str) -> Result<Value> {
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
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

fn parse_restart(s: &str) -> Result<Value> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>()
                .map_err(|_| anyhow!("maximum retry count must be an integer"))?,
        ),
        None => (s, 0),
    };
    match name {
        "no" | "" | "always" | "unless-stopped" | "on-failure" => {}
        other => bail!("invalid restart policy '{other}'"),
    }
    if count != 0 && name != "on-failure" {
        bail!("maximum retry count cannot be used with restart policy '{name}'");
    }
    Ok(json!({"Name": if name.is_empty() { "no" } else { name }, "MaximumRetryCount": count}))
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

fn kv_map(items: &[String], what: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for it in items {
        let (k, v) = it.split_once('=').unwrap_or((it.as_str(), ""));
        if k.is_empty() {
            bail!("invalid {what}: {it}");
        }
        m.insert(k.to_string(), Value::String(v.to_string()));
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
    pub fn create_body(&self, ic: &ImageAndCommand, detach: bool) -> Result<Value> {
        let (ai, ao, ae) = self.attach_streams(detach)?;
        let mut env: Vec<String> = Vec::new();
        for f in &self.env_file {
            env.extend(read_env_file(f)?);
        }
        env.extend(self.env.iter().filter_map(|e| env_lookup(e)));

        let labels = kv_map(&self.label, "label")?;

        let mut exposed = Map::new();
        let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for p in &self.publish {
            for (port, ip, host) in parse_publish(p)? {
                exposed.insert(port.clone(), json!({}));
                bindings
                    .entry(port)
                    .or_default()
                    .push(json!({"HostIp": ip, "HostPort": host}));
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
                exposed.insert(format!("{p}/{proto}"), json!({}));
            }
        }

        let mut binds = Vec::new();
        let mut volumes = Map::new();
        for v in &self.volume {
            let parts: Vec<&str> = v.split(':').collect();
            match parts.len() {
                1 => {
                    if !v.starts_with('/') {
                        bail!("invalid volume specification: '{v}': invalid mount config for type \"volume\": invalid mount path: '{v}' mount path must be absolute");
                    }
                    volumes.insert(v.clone(), json!({}));
                }
                2 | 3 => {
                    if !parts[1].starts_with('/') {
                        bail!("invalid volume specification: '{v}'");
                    }
                    binds.push(Value::String(v.clone()));
                }
                _ => bail!("invalid volume specification: '{v}'"),
            }
        }

        let mut tmpfs = Map::new();
        for t in &self.tmpfs {
            let (p, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
            tmpfs.insert(p.to_string(), Value::String(o.to_string()));
        }

        let ulimits: Vec<Value> = self
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
                let parsed: Value = serde_json::from_str(&text)
                    .with_context(|| format!("decoding seccomp profile ({v}) failed"))?;
                security_opt.push(Value::String(format!("seccomp={parsed}")));
            } else {
                security_opt.push(Value::String(s.clone()));
            }
        }

        let memory = self.memory.as_deref().map(parse_ram_bytes).transpose()?;
        let memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            Some(s) => Some(parse_ram_bytes(s)?),
            None => None,
        };
        let shm = self.shm_size.as_deref().map(parse_ram_bytes).transpose()?;

        let log_config = if self.log_driver.is_some() || !self.log_opt.is_empty() {
            json!({"Type": self.log_driver.clone().unwrap_or_default(),
                   "Config": kv_map(&self.log_opt, "log-opt")?})
        } else {
            json!({"Type": "", "Config": {}})
        };

        let extra_hosts: Vec<Value> = self
            .add_host
            .iter()
            .map(|h| {
                // docker accepts host:ip and host=ip.
                match h.split_once('=') {
                    Some((n, ip)) => Value::String(format!("{n}:{ip}")),
                    None => Value::String(h.clone()),
                }
            })
            .collect();

        let devices: Vec<Value> = self
            .device
            .iter()
            .map(|d| {
                let parts: Vec<&str> = d.split(':').collect();
                let host = parts[0];
                let ctr = parts.get(1).copied().unwrap_or(host);
                let perms = parts.get(2).copied().unwrap_or("rwm");
                json!({"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms})
            })
            .collect();

        let network = self.network.clone().unwrap_or_else(|| "default".into());
        let mut host_config = json!({
            "Binds": if binds.is_empty() { Value::Null } else { Value::Array(binds) },
            "NetworkMode": network,
            "PortBindings": bindings,
            "RestartPolicy": parse_restart(&self.restart)?,
            "AutoRemove": self.rm,
            "CapAdd": normalize_caps(&self.cap_add),
            "CapDrop": normalize_caps(&self.cap_drop),
            "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [],
            "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [],
            "Dns": self.dns,
            "DnsOptions": self.dns_option,
            "DnsSearch": self.dns_search,
            "ExtraHosts": extra_hosts,
            "GroupAdd": if self.group_add.is_empty() { Value::Null } else { json!(self.group_add) },
            "Privileged": self.privileged,
            "PublishAllPorts": self.publish_all,
            "ReadonlyRootfs": self.read_only,
            "SecurityOpt": security_opt,
            "LogConfig": log_config,
            "Devices": devices,
            "Ulimits": ulimits,
        });
        let hc = host_config
            .as_object_mut()
            .ok_or_else(|| anyhow!("internal: host config is not an object"))?;
        if !tmpfs.is_empty() {
            hc.insert("Tmpfs".into(), Value::Object(tmpfs));
        }
        if !self.mount.is_empty() {
            let mounts: Vec<Value> = self
                .mount
                .iter()
                .map(|m| {
                    parse_mount(m)
                        .map_err(|e| anyhow!("invalid argument \"{m}\" for \"--mount\" flag: {e}"))
                })
                .collect::<Result<_>>()?;
            hc.insert("Mounts".into(), Value::Array(mounts));
        }
        if self.init {
            hc.insert("Init".into(), Value::Bool(true));
        }
        if self.tty && ai {
            // Initial size, so the first prompt already fits (API >= 1.42).
            if let Some((h, w)) = crate::tty::size() {
                hc.insert("ConsoleSize".into(), json!([h, w]));
            }
        }
        if let Some(r) = &self.runtime {
            hc.insert("Runtime".into(), Value::String(r.clone()));
        }
        if let Some(m) = memory {
            hc.insert("Memory".into(), json!(m));
        }
        if let Some(m) = memory_swap {
            hc.insert("MemorySwap".into(), json!(m));
        }
        if let Some(c) = self.cpus {
            hc.insert("NanoCpus".into(), json!((c * 1e9).round() as i64));
        }
        if let Some(c) = self.cpu_shares {
            hc.insert("CpuShares".into(), json!(c));
        }
        if let Some(p) = self.pids_limit {
            hc.insert("PidsLimit".into(), json!(p));
        }
        if let Some(s) = shm {
            hc.insert("ShmSize".into(), json!(s));
        }
        if let Some(p) = &self.pid {
            hc.insert("PidMode".into(), json!(p));
        }
        if let Some(p) = &self.ipc {
            hc.insert("IpcMode".into(), json!(p));
        }
        if let Some(p) = &self.uts {
            hc.insert("UTSMode".into(), json!(p));
        }
        if self.oom_kill_disable {
            hc.insert("OomKillDisable".into(), json!(true));
        }
        if !self.sysctl.is_empty() {
            hc.insert(
                "Sysctls".into(),
                Value::Object(kv_map(&self.sysctl, "sysctl")?),
            );
        }

        let mut body = json!({
            "Hostname": self.hostname.clone().unwrap_or_default(),
            "Domainname": self.domainname.clone().unwrap_or_default(),
            "User": self.user.clone().unwrap_or_default(),
            "AttachStdin": ai,
            "AttachStdout": ao,
            "AttachStderr": ae,
            "Tty": self.tty,
            "OpenStdin": self.interactive,
            "StdinOnce": ai && !detach,
            "Env": env,
            "Cmd": if ic.command().is_empty() { Value::Null } else { json!(ic.command()) },
            "Image": ic.image(),
            "Volumes": volumes,
            "WorkingDir": self.workdir.clone().unwrap_or_default(),
            "Labels": labels,
            "ExposedPorts": exposed,
            "HostConfig": host_config,
            "NetworkingConfig": {"EndpointsConfig": {}},
        });
        let b = body
            .as_object_mut()
            .ok_or_else(|| anyhow!("internal: body is not an object"))?;
        if let Some(ep) = &self.entrypoint {
            // `--entrypoint ""` resets the image's entrypoint.
            b.insert("Entrypoint".into(), json!([ep]));
        }
        if let Some(s) = &self.stop_signal {
            b.insert("StopSignal".into(), json!(s));
        }
        if let Some(t) = self.stop_timeout {
            b.insert("StopTimeout".into(), json!(t));
        }
        if let Some(m) = &self.mac_address {
            b.insert("MacAddress".into(), json!(m));
        }
        if let Some(n) = &self.network {
            if !matches!(n.as_str(), "none" | "host" | "bridge" | "default")
                && !n.starts_with("container:")
            {
                b.insert(
                    "NetworkingConfig".into(),
                    json!({"EndpointsConfig": {n.clone(): {}}}),
                );
            }
        }
        Ok(body)
    }
}

/// Resolves `--since`/`--until` like docker: Go durations relative to now,
/// RFC 3339 timestamps, or unix timestamps passed through.
pub fn timestamp_arg(s: &str, now: i64) -> String {
    if let Some(d) = parse_go_duration(s) {
        return format!("{}", now as f64 - d);
    }
    if let Some(t) = crate::format::parse_rfc3339(s) {
        return t.to_string();
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return dt.and_utc().timestamp().to_string();
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn create_body_fields() {
        let o = ContainerOpts {
            interactive: true,
            tty: true,
            env: vec!["A=1".into()],
            memory: Some("64m".into()),
            cpus: Some(1.5),
            ulimit: vec!["nofile=100:200".into()],
            tmpfs: vec!["/run:size=1m".into()],
            volume: vec!["/tmp:/data:ro".into()],
            entrypoint: Some(String::new()),
            restart: "on-failure:3".into(),
            label: vec!["k=v".into()],
            pull: "missing".into(),
            sig_proxy: true,
            ..Default::default()
        };
        let b = o.create_body(&ic(&["sh", "-c", "echo hi"]), false).unwrap();
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(b["Entrypoint"], json!([""]));
        assert_eq!(b["AttachStdin"], json!(true));
        assert_eq!(b["StdinOnce"], json!(true));
        assert_eq!(b["Tty"], json!(true));
        assert_eq!(b["Labels"]["k"], json!("v"));
        let hc = &b["HostConfig"];
        assert_eq!(hc["Memory"], json!(64 * 1024 * 1024));
        assert_eq!(hc["NanoCpus"], json!(1_500_000_000i64));
        assert_eq!(
            hc["Ulimits"][0],
            json!({"Name": "nofile", "Soft": 100, "Hard": 200})
        );
        assert_eq!(hc["Tmpfs"]["/run"], json!("size=1m"));
        assert_eq!(hc["Binds"], json!(["/tmp:/data:ro"]));
        assert_eq!(
            hc["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["NetworkMode"], json!("default"));
        assert_eq!(
            normalize_caps(&["net_admin".into(), "CAP_CHOWN".into(), "all".into()]),
            ["CAP_NET_ADMIN", "CAP_CHOWN", "ALL"]
        );

        let d = o.create_body(&ic(&[]), true).unwrap();
        assert_eq!(d["Cmd"], Value::Null);
        assert_eq!(d["AttachStdout"], json!(false));
        assert_eq!(d["StdinOnce"], json!(false));
    }

    #[test]
    fn mounts() {
        assert_eq!(
            parse_mount("type=bind,source=/tmp,target=/data,readonly").unwrap(),
            json!({"Type": "bind", "Source": "/tmp", "Target": "/data", "ReadOnly": true})
        );
        assert_eq!(
            parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap(),
            json!({"Type": "tmpfs", "Source": "", "Target": "/t", "ReadOnly": false,
                   "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}})
        );
        assert_eq!(parse_mount("src=vol,dst=/v").unwrap()["Type"], "volume");
        assert!(parse_mount("type=bind,target=/x").is_err());
        assert!(parse_mount("type=nfs,target=/x").is_err());
        assert!(parse_mount("source=/x").is_err());
        assert!(parse_mount("target=/x,bogus=1").is_err());
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
        assert_eq!(timestamp_arg("2026-01-01T00:00:00Z", 0), "1767225600");
        assert_eq!(timestamp_arg("1234.5", 0), "1234.5");
    }
}

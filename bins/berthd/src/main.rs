#![deny(unsafe_code)]
//! `berthd`: the Berth daemon. Wiring only: flags and daemon.json, logging,
//! listeners, the allocator's policy. Each container's shim is the `berth-shim`
//! binary next to this one.

mod idle;
#[allow(unsafe_code)]
mod malloc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use axum::serve::ListenerExt;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "berthd", version, about = "Berth container engine daemon")]
struct Cli {
    /// Daemon socket(s) to listen on: unix:///path or tcp://127.0.0.1:port (repeatable).
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Root of persistent state.
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Root of per-boot state (sockets, shims, bundles).
    #[arg(long)]
    exec_root: Option<PathBuf>,
    /// daemon.json with defaults for these flags.
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Runtime for containers that name none ("berth" = built-in, or a name from --add-runtime).
    #[arg(long = "default-runtime", alias = "runtime")]
    default_runtime: Option<String>,
    /// Register an OCI runtime binary: name=/path/to/binary (repeatable).
    #[arg(long = "add-runtime")]
    add_runtime: Vec<String>,
    /// Log level: debug, info, warn, error.
    #[arg(short = 'l', long)]
    log_level: Option<String>,
    /// Shortcut for --log-level debug.
    #[arg(short = 'D', long)]
    debug: bool,
    /// Bridge device of the default network, or "none" for no bridge network.
    #[arg(short = 'b', long)]
    bridge: Option<String>,
    /// Address and subnet of the bridge (e.g. 172.30.0.1/16).
    #[arg(long)]
    bip: Option<String>,
    /// Install NAT rules (nftables) for the bridge network.
    #[arg(long, action = clap::ArgAction::Set)]
    iptables: Option<bool>,
    /// Enable net.ipv4.ip_forward.
    #[arg(long = "ip-forward", action = clap::ArgAction::Set)]
    ip_forward: Option<bool>,
    /// Default json-file log options: max-size=10m, max-file=3 (repeatable).
    #[arg(long = "log-opt")]
    log_opts: Vec<String>,
    /// Init binary for --init (defaults to tini-static / docker-init if installed).
    #[arg(long)]
    init_path: Option<PathBuf>,
    /// Parent cgroup of containers.
    #[arg(long)]
    cgroup_parent: Option<String>,
    /// Write the daemon's pid here.
    #[arg(short = 'p', long)]
    pidfile: Option<PathBuf>,
    /// A registry reachable over plain HTTP or with an unverified certificate:
    /// host[:port] or a CIDR (repeatable). Loopback registries always are.
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// Parallel layer downloads per pull.
    #[arg(long = "max-concurrent-downloads")]
    max_concurrent_downloads: Option<usize>,
    /// Parallel layer uploads per push.
    #[arg(long = "max-concurrent-uploads")]
    max_concurrent_uploads: Option<usize>,
    /// Accepted for dockerd compatibility: live restore is always on.
    #[arg(long = "live-restore", action = clap::ArgAction::Set)]
    live_restore: Option<bool>,
}

/// The daemon.json subset Berth reads.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    hosts: Option<Vec<String>>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    default_runtime: Option<String>,
    runtimes: Option<BTreeMap<String, RuntimeEntry>>,
    log_level: Option<String>,
    debug: Option<bool>,
    bridge: Option<String>,
    bip: Option<String>,
    iptables: Option<bool>,
    ip_forward: Option<bool>,
    log_opts: Option<BTreeMap<String, String>>,
    init_path: Option<PathBuf>,
    cgroup_parent: Option<String>,
    pidfile: Option<PathBuf>,
    default_address_pools: Option<Vec<AddressPool>>,
    mtu: Option<u32>,
    insecure_registries: Option<Vec<String>>,
    max_concurrent_downloads: Option<usize>,
    max_concurrent_uploads: Option<usize>,
}

#[derive(Debug, serde::Deserialize)]
struct RuntimeEntry {
    path: PathBuf,
}

#[derive(Debug, serde::Deserialize)]
struct AddressPool {
    base: String,
}

/// glibc malloc arenas. One: freed memory then always lands in the heap that
/// `malloc_trim` gives back best, and glibc's per-thread caches keep the threads off
/// its lock for small allocations (bench/memory: no slower than with 2 arenas, and
/// 3 MiB instead of 5.5 of anonymous memory left after the workload).
const MALLOC_ARENAS: i32 = 1;

fn main() {
    malloc::limit_arenas(MALLOC_ARENAS);
    if let Err(e) = run() {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

/// The shim binary: `berth-shim` in the directory of this executable. Shims that an
/// older berthd started keep running their own binary; the daemon only reconnects to
/// them (over their socket), it never re-executes one.
fn shim_exe() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating the berthd binary")?;
    let shim = me.with_file_name(SHIM_BINARY);
    if !shim.is_file() {
        bail!(
            "the shim binary {} is missing: install {SHIM_BINARY} in the same directory as berthd ({})",
            shim.display(),
            me.parent().unwrap_or(Path::new("/")).display()
        );
    }
    Ok(shim)
}

const SHIM_BINARY: &str = "berth-shim";

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let file: FileConfig = match &cli.config_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("parsing config file {} (daemon.json)", p.display()))?
        }
        None => {
            let default = Path::new("/etc/berth/daemon.json");
            match std::fs::read_to_string(default) {
                Ok(text) => serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", default.display()))?,
                Err(_) => FileConfig::default(),
            }
        }
    };

    let level = if cli.debug || file.debug == Some(true) {
        "debug".to_string()
    } else {
        cli.log_level
            .clone()
            .or(file.log_level.clone())
            .unwrap_or_else(|| "info".into())
    };
    // The HTTP and TLS libraries' debug output drowns the daemon's own: they stay at
    // info unless RUST_LOG asks for more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},hyper_util=info,hyper=info,reqwest=info,rustls=info,h2=info"
        ))
    });
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let data_root = cli
        .data_root
        .clone()
        .or(file.data_root.clone())
        .unwrap_or_else(|| "/var/lib/berth".into());
    let exec_root = cli
        .exec_root
        .clone()
        .or(file.exec_root.clone())
        .unwrap_or_else(|| "/run/berth".into());
    let mut hosts = cli.hosts.clone();
    if hosts.is_empty() {
        hosts = file.hosts.clone().unwrap_or_default();
    }
    if hosts.is_empty() {
        hosts.push(format!("unix://{}", exec_root.join("berth.sock").display()));
    }

    let mut runtimes = BTreeMap::new();
    if let Some(runc) = find_in_path("runc") {
        runtimes.insert("runc".to_string(), runc);
    }
    for (name, entry) in file.runtimes.iter().flatten() {
        runtimes.insert(name.clone(), entry.path.clone());
    }
    for spec in &cli.add_runtime {
        let (name, path) = spec
            .split_once('=')
            .with_context(|| format!("--add-runtime {spec:?}: expected name=/path/to/binary"))?;
        runtimes.insert(name.to_string(), PathBuf::from(path));
    }
    let default_runtime = cli
        .default_runtime
        .clone()
        .or(file.default_runtime.clone())
        .unwrap_or_else(|| daemon::config::BUILTIN_RUNTIME.to_string());
    if default_runtime != daemon::config::BUILTIN_RUNTIME
        && !runtimes.contains_key(&default_runtime)
    {
        bail!("default runtime {default_runtime:?} is not registered: add it with --add-runtime {default_runtime}=/path/to/binary");
    }

    let bridge_name = cli.bridge.clone().or(file.bridge.clone());
    let bridge = match bridge_name.as_deref() {
        Some("none") => None,
        Some(n) => Some(n.to_string()),
        None => Some("berth0".to_string()),
    };
    let bip =
        match cli.bip.clone().or(file.bip.clone()) {
            Some(b) => Some(b.parse::<ipnet::Ipv4Net>().with_context(|| {
                format!("--bip {b:?}: expected an IPv4 CIDR like 172.30.0.1/16")
            })?),
            None => None,
        };
    let mut pools = Vec::new();
    for p in file.default_address_pools.iter().flatten() {
        pools.push(
            p.base
                .parse::<ipnet::Ipv4Net>()
                .with_context(|| format!("default-address-pools base {:?}", p.base))?,
        );
    }
    if pools.is_empty() {
        pools = network::default_pools();
    }
    let bridge_cfg = network::BridgeConfig {
        bridge,
        bip,
        pools,
        mtu: file.mtu.unwrap_or(1500),
        nat: cli.iptables.or(file.iptables).unwrap_or(true),
        ip_forward: cli.ip_forward.or(file.ip_forward).unwrap_or(true),
        exec_root: exec_root.clone(),
    };

    let mut log_opts: BTreeMap<String, String> = file.log_opts.clone().unwrap_or_default();
    for o in &cli.log_opts {
        let (k, v) = o
            .split_once('=')
            .with_context(|| format!("--log-opt {o:?}: expected key=value"))?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    let log_max_size = match log_opts.get("max-size") {
        Some(s) => {
            Some(daemon::util::parse_size(s).with_context(|| format!("log-opt max-size {s:?}"))?)
        }
        None => None,
    };
    let log_max_file = match log_opts.get("max-file") {
        Some(s) => s
            .parse()
            .with_context(|| format!("log-opt max-file {s:?}"))?,
        None => 1,
    };
    let init_path = cli
        .init_path
        .clone()
        .or(file.init_path.clone())
        .or_else(|| find_in_path("docker-init"))
        .or_else(|| find_in_path("tini-static"));

    let cfg = daemon::DaemonConfig {
        data_root,
        exec_root: exec_root.clone(),
        shim_exe: shim_exe()?,
        default_runtime,
        runtimes,
        bridge: bridge_cfg,
        log_max_size,
        log_max_file,
        init_path,
        cgroup_parent: cli
            .cgroup_parent
            .clone()
            .or(file.cgroup_parent.clone())
            .unwrap_or_else(|| "/berth".into()),
        insecure_registries: {
            let mut v = file.insecure_registries.clone().unwrap_or_default();
            v.extend(cli.insecure_registries.iter().cloned());
            v
        },
        certs_dir: PathBuf::from("/etc/docker/certs.d"),
        max_concurrent_downloads: cli
            .max_concurrent_downloads
            .or(file.max_concurrent_downloads)
            .unwrap_or(4)
            .max(1),
        max_concurrent_uploads: cli
            .max_concurrent_uploads
            .or(file.max_concurrent_uploads)
            .unwrap_or(4)
            .max(1),
    };
    let pidfile = cli.pidfile.clone().or(file.pidfile.clone());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(cfg, hosts, pidfile))
}

async fn serve(
    cfg: daemon::DaemonConfig,
    hosts: Vec<String>,
    pidfile: Option<PathBuf>,
) -> Result<()> {
    if let Some(p) = &pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", p.display()))?;
    }
    let d = daemon::Daemon::start(cfg)
        .await
        .context("starting the daemon")?;
    let activity = std::sync::Arc::new(idle::Activity::default());
    tokio::spawn(activity.clone().trim_when_idle());
    // Restoring containers allocated too: trim once the start is done.
    activity.touch();
    let app = api_server::app(d.backend()).layer(axum::middleware::from_fn_with_state(
        activity.clone(),
        idle::track,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    // (path, inode) of each socket we bound: on shutdown we remove only our own
    // socket file, never one a newer daemon has bound at the same path since.
    let mut our_sockets = Vec::new();
    for host in &hosts {
        let stop = {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        if let Some(path) = host.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            if path.exists() {
                if tokio::net::UnixStream::connect(&path).await.is_ok() {
                    bail!("another daemon is already listening on {}", path.display());
                }
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing stale socket {}", path.display()))?;
            }
            let listener = tokio::net::UnixListener::bind(&path)
                .with_context(|| format!("listening on {}", path.display()))?;
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))
                .with_context(|| format!("setting permissions of {}", path.display()))?;
            if let Ok(meta) = std::fs::metadata(&path) {
                our_sockets.push((path.clone(), meta.ino()));
            }
            tracing::info!(socket = %path.display(), "API listening");
            let listener = listener.tap_io(activity.on_accept());
            servers.push(tokio::spawn(api_server::serve(listener, app.clone(), stop)));
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let sock: std::net::SocketAddr = addr
                .parse()
                .with_context(|| format!("-H {host}: expected tcp://IP:PORT"))?;
            if !sock.ip().is_loopback() {
                bail!("-H {host}: TCP is only allowed on loopback until TLS is supported");
            }
            let listener = tokio::net::TcpListener::bind(sock)
                .await
                .with_context(|| format!("listening on {host}"))?;
            tracing::info!(address = %sock, "API listening");
            let listener = listener.tap_io(activity.on_accept());
            servers.push(tokio::spawn(api_server::serve(listener, app.clone(), stop)));
        } else {
            bail!("-H {host}: expected unix:///path or tcp://127.0.0.1:port");
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down (containers keep running)"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down (containers keep running)"),
    }
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), s).await;
    }
    for (path, ino) in our_sockets {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() == ino) {
            let _ = std::fs::remove_file(&path);
        }
    }
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

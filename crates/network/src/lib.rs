//! Docker's default `bridge` network: a bridge device, IPAM, one veth pair per
//! container moved into a per-container network namespace, the container's address and
//! default route, outbound masquerade through nftables, and cleanup.
//!
//! Links, addresses and routes are programmed over netlink (`rtnetlink`) on one
//! connection opened at [`NetworkManager::start`]; a container's namespace is
//! configured through a netlink socket opened inside it. `connect` spawns no process:
//! a new namespace is made ahead of time on a short-lived thread (`unshare` must not
//! run on a pool thread), so `connect` is a bind mount and a handful of netlink round
//! trips. nftables is programmed once per
//! start with `nft -f -`.
//!
//! Lifecycle, as the daemon drives it:
//! 1. [`NetworkManager::start`] at daemon start (creates or adopts the bridge, nft
//!    table, ip_forward; persists the network id in `<state_dir>/network/bridge.id`).
//! 2. [`NetworkManager::restore`] with the endpoints of containers still running,
//!    then [`NetworkManager::cleanup_stale`] with the same list, before serving.
//! 3. [`NetworkManager::connect`] before the runtime creates the container: the
//!    runtime joins `Endpoint::netns` (OCI `linux.namespaces` network `path`); a
//!    `Host` endpoint has no netns (no network namespace in the spec).
//!    [`NetworkManager::disconnect`] after the container exited (idempotent).
//! 4. The endpoint is persisted with the container (it is serde) for step 2.
//!
//! Host requirements: root (CAP_NET_ADMIN, CAP_SYS_ADMIN), the `nft` binary when
//! `nat` is on, and the bridge and veth drivers.

mod error;
mod etc;
mod ipam;
mod netns;
mod nft;
mod nlsync;
mod subnet;

use std::collections::{HashMap, HashSet};
use std::io::ErrorKind as IoKind;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::sys::TokioSocket;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tracing::{debug, info, warn};

pub use error::NetworkError;
pub use etc::{hosts_file, resolv_conf, DEFAULT_DNS};
pub use nft::table_name;
pub use subnet::default_pools;

use error::nl_errno;
use ipam::Ipam;

/// The host-wide lock that serializes choosing a subnet and creating a bridge, so
/// that daemons starting in parallel (tests) never pick the same subnet.
pub const HOST_LOCK_PATH: &str = "/run/berth-network.lock";

/// Default bridge device name.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// Name of the container side of the veth pair.
const CONTAINER_IFNAME: &str = "eth0";

/// How long `connect` waits for the kernel to enable the container's bridge port.
pub const PORT_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Index of `lo` in every network namespace (the kernel's LOOPBACK_IFINDEX).
pub(crate) const LOOPBACK_IFINDEX: u32 = 1;

/// Configuration of the default bridge network (dockerd's `-b`, `--bip`, ...).
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// dockerd -b/--bridge: device name (default "berth0"); None = "--bridge none":
    /// no bridge network at all.
    pub bridge: Option<String>,
    /// --bip: bridge address+subnet (e.g. 172.30.0.1/16); None = pick automatically.
    pub bip: Option<ipnet::Ipv4Net>,
    /// --default-address-pool: candidate subnets. A pool wider than /16 is split into
    /// /16 pieces; empty = Docker's defaults ([`default_pools`]).
    pub pools: Vec<ipnet::Ipv4Net>,
    /// MTU of the bridge and the veths (default 1500).
    pub mtu: u32,
    /// --iptables: install masquerade (default true).
    pub nat: bool,
    /// Set net.ipv4.ip_forward=1 (default true).
    pub ip_forward: bool,
    /// netns files live in `<exec_root>/netns/<container id>`.
    pub exec_root: PathBuf,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            bridge: Some(DEFAULT_BRIDGE.to_owned()),
            bip: None,
            pools: default_pools(),
            mtu: 1500,
            nat: true,
            ip_forward: true,
            exec_root: PathBuf::from("/run/berth"),
        }
    }
}

/// How a container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// The default bridge (`--network bridge`/`default`).
    Bridge,
    /// Its own namespace with only `lo` (`--network none`).
    None,
    /// The host's namespace (`--network host`).
    Host,
}

impl NetMode {
    /// Parses Docker's `HostConfig.NetworkMode` ("" and "default" mean bridge).
    /// Other modes (`container:<id>`, user-defined networks) are not supported here.
    pub fn parse(mode: &str) -> Result<NetMode, NetworkError> {
        match mode {
            "" | "default" | "bridge" => Ok(NetMode::Bridge),
            "none" => Ok(NetMode::None),
            "host" => Ok(NetMode::Host),
            other => Err(NetworkError::UnsupportedMode {
                mode: other.to_owned(),
            }),
        }
    }
}

/// A container's attachment to a network (persisted by the daemon as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    /// Bind-mounted netns file to give the runtime (None for host).
    pub netns: Option<PathBuf>,
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// "02:42:ac:11:00:02"-style, derived from the IP as Docker does.
    pub mac: Option<String>,
    pub host_veth: Option<String>,
    /// Id of the network ("bridge" network id, 64 hex), "" for none/host.
    pub network_id: String,
}

/// The bridge network as the daemon shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    /// Device name.
    pub name: String,
    /// Network id (64 hex, persisted in the data root).
    pub id: String,
    pub subnet: ipnet::Ipv4Net,
    pub gateway: Ipv4Addr,
}

struct BridgeState {
    info: BridgeInfo,
    index: u32,
    ipam: Mutex<Ipam>,
}

/// Owns the bridge, IPAM and the netlink connection.
pub struct NetworkManager {
    handle: Handle,
    conn_task: tokio::task::JoinHandle<()>,
    /// Link events (multicast connection and its dispatcher), for `wait_port_up`.
    watch: Arc<PortWatch>,
    watch_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// A namespace made ahead of time for the next `connect`.
    spare: Arc<netns::Spare>,
    bridge: Option<BridgeState>,
    netns_dir: PathBuf,
    mtu: u32,
}

impl Drop for NetworkManager {
    fn drop(&mut self) {
        self.conn_task.abort();
        for t in &self.watch_tasks {
            t.abort();
        }
    }
}

fn link_oper_up(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| {
        matches!(
            a,
            LinkAttribute::OperState(rtnetlink::packet_route::link::State::Up)
        )
    })
}

type LinkEvents = futures::channel::mpsc::UnboundedReceiver<(
    rtnetlink::packet_core::NetlinkMessage<rtnetlink::packet_route::RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

type WaiterList = Vec<(u64, tokio::sync::oneshot::Sender<()>)>;

/// Waiters for "link X is operationally up", fed by a multicast netlink socket.
#[derive(Default)]
struct PortWatch {
    waiters: Mutex<HashMap<String, WaiterList>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// One registered waiter; unregisters itself when dropped.
struct LinkUpWaiter {
    watch: Arc<PortWatch>,
    name: String,
    id: u64,
    rx: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Drop for LinkUpWaiter {
    fn drop(&mut self) {
        let mut map = self.watch.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = map.get_mut(&self.name) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                map.remove(&self.name);
            }
        }
    }
}

impl PortWatch {
    /// Registers interest in `name` going operationally up. Register before the
    /// change can happen, so that its event cannot be missed.
    fn register(self: &Arc<Self>, name: &str) -> LinkUpWaiter {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_default()
            .push((id, tx));
        LinkUpWaiter {
            watch: self.clone(),
            name: name.to_owned(),
            id,
            rx: Some(rx),
        }
    }

    async fn dispatch(self: Arc<Self>, mut events: LinkEvents) {
        use futures::StreamExt;
        use rtnetlink::packet_core::NetlinkPayload;
        use rtnetlink::packet_route::RouteNetlinkMessage;
        while let Some((msg, _)) = events.next().await {
            let link = match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => link,
                NetlinkPayload::Overrun(_) => {
                    // Events were lost: wake every waiter to query its link itself.
                    warn!("link event socket overrun; waiters fall back to queries");
                    self.waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                    continue;
                }
                _ => continue,
            };
            if !link_oper_up(&link) {
                continue;
            }
            let Some(name) = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n),
                _ => None,
            }) else {
                continue;
            };
            let woken = self
                .waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
            for (_, tx) in woken.into_iter().flatten() {
                let _ = tx.send(());
            }
        }
        debug!("link event stream ended");
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Undoes a half-made `connect` whose future was dropped (the caller was
/// cancelled): releases the address, deletes the veth (in the background) and the
/// netns. Error paths roll back explicitly (reporting cleanup errors) and disarm it.
struct CancelGuard<'a> {
    ipam: Option<(&'a Mutex<Ipam>, Ipv4Addr)>,
    path: PathBuf,
    veth: Option<String>,
    /// The veth's creation request, which outlives a cancelled connect.
    creation: Option<Arc<Mutex<Creation>>>,
    armed: bool,
}

/// Where a veth creation request is. The kernel resolves the peer's netns fd
/// when it processes the request, which may be after a cancelled connect has
/// returned: the request runs in its own task that keeps the fd open until the
/// kernel answered (a closed fd's number could by then name another
/// container's netns), and whichever of the task and the rollback comes last
/// deletes the veth.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Creation {
    #[default]
    Pending,
    /// Answered: whether the veth was created.
    Done(bool),
    /// The connect was cancelled first: the task deletes what it created.
    Abandoned,
}

/// Deletes a veth by name in the background (or here, outside a runtime).
fn delete_link_later(veth: String) {
    let delete = move || {
        if let Err(e) = delete_link_blocking(&veth) {
            warn!(veth = %veth, error = %e, "rollback: deleting the veth failed");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(delete);
        }
        Err(_) => delete(),
    }
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        warn!(netns = %self.path.display(), "connect cancelled; rolling back");
        if let Some((ipam, ip)) = self.ipam {
            ipam.lock().unwrap_or_else(|p| p.into_inner()).release(ip);
        }
        if let Some(veth) = self.veth.take() {
            let created = match &self.creation {
                None => true,
                Some(state) => {
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    match *st {
                        Creation::Pending => {
                            *st = Creation::Abandoned;
                            false // the request's task deletes it
                        }
                        Creation::Done(created) => created,
                        Creation::Abandoned => false,
                    }
                }
            };
            if created {
                delete_link_later(veth);
            }
        }
        if let Err(e) = netns::remove(&self.path) {
            warn!(error = %e, "rollback: removing the netns failed");
        }
    }
}

/// Docker's MAC for an address: 02:42 followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn validate_ifname(name: &str) -> Result<(), NetworkError> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '"')
    {
        return Err(NetworkError::InvalidConfig {
            reason: format!(
                "invalid bridge name {name:?} (1-15 characters, no '/', ':', quotes or spaces)"
            ),
        });
    }
    Ok(())
}

fn validate_container_id(id: &str) -> Result<(), NetworkError> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(NetworkError::InvalidConfig {
            reason: format!("invalid container id {id:?} for a netns file"),
        });
    }
    Ok(())
}

/// An exclusive flock on [`HOST_LOCK_PATH`], released on drop.
pub(crate) struct HostLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

pub(crate) async fn lock_host() -> Result<HostLock, NetworkError> {
    let res = tokio::task::spawn_blocking(|| {
        let path = Path::new(HOST_LOCK_PATH);
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| NetworkError::io("opening the host network lock", path, e))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map(|l| HostLock { _lock: l })
            .map_err(|(_, e)| NetworkError::sys("locking the host network lock", path, e))
    })
    .await;
    match res {
        Ok(r) => r,
        Err(_) => Err(NetworkError::Thread {
            path: PathBuf::from(HOST_LOCK_PATH),
        }),
    }
}

async fn link_index(handle: &Handle, name: &str) -> Result<Option<u32>, NetworkError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(Some(link.header.index)),
        Ok(None) => Ok(None),
        Err(e) if nl_errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(NetworkError::netlink(format!("looking up link {name}"), e)),
    }
}

/// IPv4 addresses (address, prefix) of a link, or of every link with `None`.
async fn ipv4_addrs(
    handle: &Handle,
    index: Option<u32>,
) -> Result<Vec<ipnet::Ipv4Net>, NetworkError> {
    let mut req = handle.address().get();
    if let Some(i) = index {
        req = req.set_link_index_filter(i);
    }
    let msgs: Vec<_> = req
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetworkError::netlink("listing addresses", e))?;
    let mut out = Vec::new();
    for m in msgs {
        for a in &m.attributes {
            // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
            // point-to-point links); prefer it.
            if let AddressAttribute::Local(IpAddr::V4(v4)) = a {
                out.extend(ipnet::Ipv4Net::new(*v4, m.header.prefix_len).ok());
            }
        }
        if !m
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Local(_)))
        {
            for a in &m.attributes {
                if let AddressAttribute::Address(IpAddr::V4(v4)) = a {
                    out.extend(ipnet::Ipv4Net::new(*v4, m.header.prefix_len).ok());
                }
            }
        }
    }
    Ok(out)
}

/// Every IPv4 route destination (all tables, default routes excluded) and address
/// on the host: what a new bridge subnet must not overlap.
async fn host_networks_in_use(handle: &Handle) -> Result<Vec<ipnet::Ipv4Net>, NetworkError> {
    let routes: Vec<_> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetworkError::netlink("listing routes", e))?;
    let mut out = Vec::new();
    for r in routes {
        let len = r.header.destination_prefix_length;
        if len == 0 {
            continue;
        }
        for a in &r.attributes {
            if let RouteAttribute::Destination(RouteAddress::Inet(d)) = a {
                out.extend(ipnet::Ipv4Net::new(*d, len).ok());
            }
        }
    }
    out.extend(ipv4_addrs(handle, None).await?);
    Ok(out)
}

/// Deletes a link by name on a plain netlink socket of this thread; a missing link
/// is fine. The kernel does the whole deletion inside `sendmsg`, and deleting a veth
/// waits for RCU grace periods (15-35 ms here): run it on a blocking thread, never
/// on the shared connection's task.
fn delete_link_blocking(name: &str) -> Result<(), NetworkError> {
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket};
    let sock = Socket::new(NETLINK_ROUTE).map_err(|e| {
        NetworkError::io("netlink socket for deleting a link", PathBuf::from(name), e)
    })?;
    let msg = RouteNetlinkMessage::DelLink(LinkUnspec::new_with_name(name).build());
    match nlsync::request(&sock, msg, &format!("deleting link {name}")) {
        Err(NetworkError::Netlink { source, .. }) if nl_errno(&source) == Some(libc::ENODEV) => {
            Ok(())
        }
        other => other,
    }
}

/// [`delete_link_blocking`] on a blocking thread.
async fn delete_link_by_name(name: &str) -> Result<(), NetworkError> {
    let owned = name.to_owned();
    match tokio::task::spawn_blocking(move || delete_link_blocking(&owned)).await {
        Ok(r) => r,
        Err(_) => Err(NetworkError::Thread {
            path: PathBuf::from(name),
        }),
    }
}

fn load_or_create_network_id(state_dir: &Path) -> Result<String, NetworkError> {
    let dir = state_dir.join("network");
    let path = dir.join("bridge.id");
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let id = s.trim();
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(id.to_owned());
            }
            warn!(path = %path.display(), "invalid persisted network id; generating a new one");
        }
        Err(e) if e.kind() == IoKind::NotFound => {}
        Err(e) => return Err(NetworkError::io("reading the network id", path, e)),
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| NetworkError::io("creating the network state dir", &dir, e))?;
    let id = hex::encode(rand::random::<[u8; 32]>());
    let tmp = dir.join(format!(".bridge.id.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(id.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| NetworkError::io("writing the network id", &path, e))?;
    Ok(id)
}

fn set_ip_forward() -> Result<(), NetworkError> {
    let path = Path::new("/proc/sys/net/ipv4/ip_forward");
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim() == "1" => return Ok(()),
        _ => {}
    }
    std::fs::write(path, b"1").map_err(|e| NetworkError::io("enabling IPv4 forwarding", path, e))
}

impl NetworkManager {
    /// At daemon start: creates (or adopts) the bridge with its address, brings it
    /// up, sets ip_forward and replaces the bridge's nft table (`table ip
    /// berth-<bridge>`). The subnet is the `--bip`, else the bridge's existing
    /// address, else the first pool candidate that overlaps no host route or
    /// address; choosing and creating happen under [`HOST_LOCK_PATH`].
    /// `state_dir` (data root) persists the network id.
    pub async fn start(cfg: BridgeConfig, state_dir: &Path) -> Result<Self, NetworkError> {
        if cfg.mtu < 68 || cfg.mtu > 65535 {
            return Err(NetworkError::InvalidConfig {
                reason: format!("invalid MTU {}", cfg.mtu),
            });
        }
        if let Some(name) = &cfg.bridge {
            validate_ifname(name)?;
        }
        if let Some(bip) = cfg.bip {
            let subnet = bip.trunc();
            let gw = bip.addr();
            if subnet.prefix_len() > 30 || gw == subnet.network() || gw == subnet.broadcast() {
                return Err(NetworkError::InvalidConfig {
                    reason: format!(
                        "--bip {bip} is not a host address of a subnet with room for containers"
                    ),
                });
            }
        }
        let netns_dir = cfg.exec_root.join("netns");
        std::fs::create_dir_all(&netns_dir)
            .map_err(|e| NetworkError::io("creating the netns directory", &netns_dir, e))?;

        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| NetworkError::io("opening a netlink socket", PathBuf::new(), e))?;
        let conn_task = tokio::spawn(conn);
        let mut mgr = NetworkManager {
            handle,
            conn_task,
            watch: Arc::new(PortWatch::default()),
            watch_tasks: Vec::new(),
            spare: Arc::new(netns::Spare::default()),
            bridge: None,
            netns_dir,
            mtu: cfg.mtu,
        };
        let Some(name) = cfg.bridge.clone() else {
            info!("bridge network disabled (--bridge none)");
            mgr.spare.refill();
            return Ok(mgr);
        };

        let (mconn, _, events) =
            rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link]).map_err(
                |e| NetworkError::io("opening a netlink link-event socket", PathBuf::new(), e),
            )?;
        mgr.watch_tasks.push(tokio::spawn(mconn));
        mgr.watch_tasks
            .push(tokio::spawn(mgr.watch.clone().dispatch(events)));

        let (index, subnet, gateway) = {
            let _lock = lock_host().await?;
            mgr.setup_bridge(&name, &cfg).await?
        };

        if cfg.ip_forward {
            set_ip_forward()?;
        }
        nft::apply(
            &nft::ruleset(&name, subnet, cfg.nat),
            &format!("installing table {}", table_name(&name)),
        )
        .await?;

        let id = load_or_create_network_id(state_dir)?;
        info!(bridge = %name, %subnet, %gateway, "bridge network ready");
        mgr.bridge = Some(BridgeState {
            info: BridgeInfo {
                name,
                id,
                subnet,
                gateway,
            },
            index,
            ipam: Mutex::new(Ipam::new(subnet, gateway)),
        });
        mgr.spare.refill();
        Ok(mgr)
    }

    /// Creates or adopts the bridge; returns (index, subnet, gateway).
    async fn setup_bridge(
        &self,
        name: &str,
        cfg: &BridgeConfig,
    ) -> Result<(u32, ipnet::Ipv4Net, Ipv4Addr), NetworkError> {
        let h = &self.handle;
        let index = match link_index(h, name).await? {
            Some(i) => {
                if !self.is_bridge(i).await? {
                    return Err(NetworkError::InvalidConfig {
                        reason: format!("device {name} exists and is not a bridge"),
                    });
                }
                debug!(bridge = name, "adopting existing bridge");
                i
            }
            None => {
                // A fixed MAC, as Docker gives docker0: otherwise the bridge takes the
                // lowest MAC of its ports and the gateway's MAC changes whenever a
                // container joins or leaves, leaving stale ARP entries in containers.
                let mut mac = rand::random::<[u8; 6]>();
                mac[0] = 0x02;
                mac[1] = 0x42;
                h.link()
                    .add(
                        LinkBridge::new(name)
                            .mtu(cfg.mtu)
                            .address(mac.to_vec())
                            .up()
                            .build(),
                    )
                    .execute()
                    .await
                    .map_err(|e| NetworkError::netlink(format!("creating bridge {name}"), e))?;
                link_index(h, name)
                    .await?
                    .ok_or_else(|| NetworkError::InvalidConfig {
                        reason: format!("bridge {name} vanished after creation"),
                    })?
            }
        };
        let existing = ipv4_addrs(h, Some(index)).await?;

        let (subnet, gateway) = if let Some(bip) = cfg.bip {
            let subnet = bip.trunc();
            let gw = bip.addr();
            if !existing.contains(&bip) {
                for old in existing.iter() {
                    warn!(bridge = name, address = %old, "replacing bridge address with --bip {bip}");
                    self.del_addr(index, *old).await?;
                }
                self.add_addr(name, index, bip).await?;
            }
            (subnet, gw)
        } else if let Some(addr) = existing.first() {
            (addr.trunc(), addr.addr())
        } else {
            let in_use = host_networks_in_use(h).await?;
            let cands = subnet::candidates(&cfg.pools);
            let subnet = subnet::choose(&cands, &in_use)
                .ok_or(NetworkError::NoSubnet { tried: cands.len() })?;
            let gw = subnet::first_host(&subnet);
            let addr = ipnet::Ipv4Net::new(gw, subnet.prefix_len()).map_err(|_| {
                NetworkError::InvalidConfig {
                    reason: format!("bad pool subnet {subnet}"),
                }
            })?;
            self.add_addr(name, index, addr).await?;
            (subnet, gw)
        };

        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetworkError::netlink(format!("bringing bridge {name} up"), e))?;
        Ok((index, subnet, gateway))
    }

    async fn is_bridge(&self, index: u32) -> Result<bool, NetworkError> {
        use rtnetlink::packet_route::link::{InfoKind, LinkInfo};
        let mut links = self.handle.link().get().match_index(index).execute();
        let link = links
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink(format!("looking up link {index}"), e))?;
        Ok(link.iter().flat_map(|l| l.attributes.iter()).any(|a| {
            matches!(a, LinkAttribute::LinkInfo(infos)
                if infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))))
        }))
    }

    async fn add_addr(
        &self,
        name: &str,
        index: u32,
        addr: ipnet::Ipv4Net,
    ) -> Result<(), NetworkError> {
        self.handle
            .address()
            .add(index, IpAddr::V4(addr.addr()), addr.prefix_len())
            .execute()
            .await
            .map_err(|e| NetworkError::netlink(format!("adding {addr} to {name}"), e))
    }

    async fn del_addr(&self, index: u32, addr: ipnet::Ipv4Net) -> Result<(), NetworkError> {
        let mut msgs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(IpAddr::V4(addr.addr()))
            .set_prefix_length_filter(addr.prefix_len())
            .execute();
        while let Some(m) = msgs
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink("listing addresses", e))?
        {
            self.handle
                .address()
                .del(m)
                .execute()
                .await
                .map_err(|e| NetworkError::netlink(format!("deleting address {addr}"), e))?;
        }
        Ok(())
    }

    /// The netns file of a container.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }

    /// Creates the container's network: `Bridge` -> a new netns with `lo` up and
    /// `eth0` (a veth whose host side `vethXXXXXXX` is on the bridge) with the MAC
    /// and IP from IPAM and a default route via the gateway; `None` -> a new netns
    /// with only `lo` up; `Host` -> no netns. Without a bridge (`--bridge none`),
    /// `Bridge` behaves like `None`. On failure nothing is left behind.
    pub async fn connect(
        &self,
        container_id: &str,
        mode: NetMode,
    ) -> Result<Endpoint, NetworkError> {
        validate_container_id(container_id)?;
        match (mode, &self.bridge) {
            (NetMode::Host, _) => Ok(Endpoint {
                container_id: container_id.to_owned(),
                netns: None,
                ip: None,
                prefix_len: 0,
                gateway: None,
                mac: None,
                host_veth: None,
                network_id: String::new(),
            }),
            (NetMode::None, _) | (NetMode::Bridge, None) => {
                let mut guard = CancelGuard {
                    ipam: None,
                    path: self.netns_path(container_id),
                    veth: None,
                    creation: None,
                    armed: true,
                };
                let res = self.connect_none(container_id).await;
                guard.armed = false;
                self.spare.refill();
                res
            }
            (NetMode::Bridge, Some(bs)) => {
                let ip = bs
                    .ipam
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .allocate()
                    .ok_or(NetworkError::PoolExhausted {
                        subnet: bs.info.subnet,
                    })?;
                let mut guard = CancelGuard {
                    ipam: Some((&bs.ipam, ip)),
                    path: self.netns_path(container_id),
                    veth: None,
                    creation: None,
                    armed: true,
                };
                let res = self.connect_bridge(bs, container_id, ip, &mut guard).await;
                guard.armed = false;
                self.spare.refill();
                match res {
                    Ok(ep) => Ok(ep),
                    Err(e) => {
                        bs.ipam
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .release(ip);
                        Err(e)
                    }
                }
            }
        }
    }

    async fn connect_none(&self, container_id: &str) -> Result<Endpoint, NetworkError> {
        let path = self.netns_path(container_id);
        // The namespace comes with `lo` up: nothing else to configure.
        let ns = self.spare.take().await?;
        netns::bind(&ns, &path)?;
        Ok(Endpoint {
            container_id: container_id.to_owned(),
            netns: Some(path),
            ip: None,
            prefix_len: 0,
            gateway: None,
            mac: None,
            host_veth: None,
            network_id: String::new(),
        })
    }

    async fn connect_bridge(
        &self,
        bs: &BridgeState,
        container_id: &str,
        ip: Ipv4Addr,
        guard: &mut CancelGuard<'_>,
    ) -> Result<Endpoint, NetworkError> {
        let path = self.netns_path(container_id);
        let ns = self.spare.take().await?;
        netns::bind(&ns, &path)?;
        let mac = mac_for(ip);
        let prefix_len = bs.info.subnet.prefix_len();
        let gateway = bs.info.gateway;

        // The veth pair, created in one request: the host side on the bridge and up,
        // the peer created directly inside the netns as eth0 with its MAC. (The peer
        // cannot be created up: the kernel answers ENOTCONN for a peer in another
        // netns; it is brought up from inside.)
        let mut host_veth = String::new();
        let mut port_up = None;
        let mut last_err = None;
        // Registered before any port of ours can change the bridge's carrier.
        let bridge_up = self.watch.register(&bs.info.name);
        for _ in 0..4 {
            let name = format!("veth{}", &hex::encode(rand::random::<[u8; 4]>())[..7]);
            let waiter = self.watch.register(&name);
            // Kept open by the request's task until the kernel answered (see Creation).
            let fd = match ns.ns_fd.try_clone() {
                Ok(fd) => fd,
                Err(e) => {
                    last_err = Some(NetworkError::io("duplicating the netns fd", &path, e));
                    break;
                }
            };
            let peer = LinkUnspec::new_with_name(CONTAINER_IFNAME)
                .address(mac.to_vec())
                .mtu(self.mtu)
                .setns_by_fd(fd.as_raw_fd())
                .build();
            let msg = LinkVeth::new(&name, CONTAINER_IFNAME)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .mtu(self.mtu)
                .controller(bs.index)
                .up()
                .build();
            let state = Arc::new(Mutex::new(Creation::Pending));
            guard.veth = Some(name.clone());
            guard.creation = Some(state.clone());
            let (handle, veth) = (self.handle.clone(), name.clone());
            let request = tokio::spawn(async move {
                let res = handle.link().add(msg).execute().await;
                drop(fd);
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                if *st == Creation::Abandoned && res.is_ok() {
                    delete_link_later(veth);
                }
                *st = Creation::Done(res.is_ok());
                res
            });
            let Ok(res) = request.await else {
                // The task panicked: its guard state stays Pending, the rollback
                // of the caller deletes nothing it did not see created.
                guard.veth = None;
                last_err = Some(NetworkError::Thread { path: path.clone() });
                break;
            };
            match res {
                Ok(()) => {
                    host_veth = name;
                    port_up = Some(waiter);
                    last_err = None;
                    break;
                }
                Err(e) if nl_errno(&e) == Some(libc::EEXIST) => {
                    // Someone else's link: never delete it.
                    guard.veth = None;
                    last_err = Some(NetworkError::netlink(format!("creating veth {name}"), e));
                }
                Err(e) => {
                    guard.veth = None;
                    last_err = Some(NetworkError::netlink(format!("creating veth {name}"), e));
                    break;
                }
            }
        }
        drop(ns.ns_fd);
        let port_up = match (port_up, last_err) {
            (Some(waiter), None) => waiter,
            (_, e) => {
                let e = e.unwrap_or(NetworkError::Thread { path: path.clone() });
                return Err(e.with_cleanup(netns::remove(&path).err()));
            }
        };

        let res = configure_in_netns(ns.socket, |h| async move {
            let eth0 = link_index(&h, CONTAINER_IFNAME).await?.ok_or_else(|| {
                NetworkError::InvalidConfig {
                    reason: "eth0 missing in the new netns".to_owned(),
                }
            })?;
            // Netlink requests on one socket are handled in order: send them all,
            // then wait for the answers (eth0 is up before its address is added, so
            // the subnet route exists before the default route needs it).
            let up = h
                .link()
                .set(LinkUnspec::new_with_index(eth0).up().build())
                .execute();
            let addr = h.address().add(eth0, IpAddr::V4(ip), prefix_len).execute();
            let route = h
                .route()
                .add(
                    RouteMessageBuilder::<Ipv4Addr>::new()
                        .gateway(gateway)
                        .output_interface(eth0)
                        .build(),
                )
                .execute();
            let (up, addr, route) = futures::join!(up, addr, route);
            up.map_err(|e| NetworkError::netlink("bringing eth0 up", e))?;
            addr.map_err(|e| {
                NetworkError::netlink(format!("adding {ip}/{prefix_len} to eth0"), e)
            })?;
            route.map_err(|e| {
                NetworkError::netlink(format!("adding the default route via {gateway}"), e)
            })?;
            Ok(())
        })
        .await;
        if let Err(e) = res {
            let cleanup = match delete_link_by_name(&host_veth).await {
                Err(c) => Some(c),
                Ok(()) => netns::remove(&path).err(),
            };
            return Err(e.with_cleanup(cleanup));
        }

        // The container's first packets must not be dropped: wait until its bridge
        // port forwards, and, for the first port of an idle bridge, until the bridge
        // itself has carrier (its transmit queue is only activated then: the
        // bridge's ARP replies were dropped otherwise).
        let ready = async {
            self.wait_link_up(port_up, false).await?;
            self.wait_link_up(bridge_up, true).await
        };
        if let Err(e) = ready.await {
            let cleanup = match delete_link_by_name(&host_veth).await {
                Err(c) => Some(c),
                Ok(()) => netns::remove(&path).err(),
            };
            return Err(e.with_cleanup(cleanup));
        }
        debug!(container = container_id, %ip, veth = %host_veth, "endpoint connected");
        Ok(Endpoint {
            container_id: container_id.to_owned(),
            netns: Some(path),
            ip: Some(ip),
            prefix_len,
            gateway: Some(gateway),
            mac: Some(mac_string(&mac)),
            host_veth: Some(host_veth),
            network_id: bs.info.id.clone(),
        })
    }

    /// Waits until the kernel has processed a carrier change of a link (operstate
    /// UP). For the host veth, only then is its bridge port forwarding; for the
    /// bridge, only then is its transmit queue active. Until then frames are
    /// dropped, and a lost first ARP request or reply costs the container a 1 s
    /// retransmit. The kernel does this in its linkwatch work, usually within a
    /// millisecond; the link event is caught by the manager's multicast netlink
    /// socket (the waiter was registered before the change could happen), with a
    /// netlink query every 20 ms as a fallback (lost events), bounded by
    /// [`PORT_UP_TIMEOUT`]. `query_first`: the link is probably up already.
    async fn wait_link_up(
        &self,
        mut waiter: LinkUpWaiter,
        query_first: bool,
    ) -> Result<(), NetworkError> {
        let name = waiter.name.clone();
        if query_first && self.link_is_up(&name).await? {
            return Ok(());
        }
        let start = std::time::Instant::now();
        let step = std::time::Duration::from_millis(20);
        loop {
            let event = match waiter.rx.as_mut() {
                Some(rx) => match tokio::time::timeout(step, rx).await {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) => {
                        // Woken without an event (overrun, watcher gone): query.
                        waiter.rx = None;
                        false
                    }
                    Err(_) => false,
                },
                None => {
                    tokio::time::sleep(step).await;
                    false
                }
            };
            if event || self.link_is_up(&name).await? {
                break;
            }
            if start.elapsed() > PORT_UP_TIMEOUT {
                warn!(link = %name, "link not up after {PORT_UP_TIMEOUT:?}; continuing");
                break;
            }
        }
        let waited = start.elapsed();
        if waited > std::time::Duration::from_millis(5) {
            debug!(link = %name, ?waited, "link came up late");
        }
        Ok(())
    }

    async fn link_is_up(&self, name: &str) -> Result<bool, NetworkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        let link = links
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink(format!("looking up link {name}"), e))?;
        Ok(link.iter().any(link_oper_up))
    }

    /// Releases the IP, unmounts and deletes the netns file and removes the veth
    /// (deleting the host side removes both). Idempotent. The veth deletion runs in
    /// the background (the kernel needs 15-35 ms for it; destroying the netns removes
    /// the pair as well), so the host veth may outlive this call by some ms.
    pub async fn disconnect(&self, ep: &Endpoint) -> Result<(), NetworkError> {
        if let Some(veth) = ep.host_veth.clone() {
            // Not awaited: the kernel takes 15-35 ms to delete a veth (RCU grace
            // periods). Unmounting the netns below destroys the pair too (in the
            // kernel's netns cleanup work); the explicit delete also cuts a pair whose
            // netns is still held by someone.
            tokio::task::spawn_blocking(move || {
                if let Err(e) = delete_link_blocking(&veth) {
                    warn!(veth = %veth, error = %e, "deleting the host veth failed");
                }
            });
        }
        if let (Some(ip), Some(bs)) = (ep.ip, &self.bridge) {
            if bs.info.subnet.contains(&ip) {
                bs.ipam
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(ip);
            }
        }
        match &ep.netns {
            Some(ns) => netns::remove(ns),
            None => Ok(()),
        }
    }

    /// After a daemon restart: re-reserves the IPs of endpoints of containers that
    /// are still running.
    pub fn restore(&self, endpoints: &[Endpoint]) {
        let Some(bs) = &self.bridge else { return };
        let mut ipam = bs.ipam.lock().unwrap_or_else(|p| p.into_inner());
        for ep in endpoints {
            let Some(ip) = ep.ip else { continue };
            if !bs.info.subnet.contains(&ip) {
                warn!(container = %ep.container_id, %ip, subnet = %bs.info.subnet, "endpoint address is outside the bridge subnet; not reserved");
                continue;
            }
            if !ipam.reserve(ip) {
                warn!(container = %ep.container_id, %ip, "endpoint address could not be reserved (taken or reserved)");
            }
        }
    }

    /// After `restore`, before serving: removes netns files and host veths on the
    /// bridge that belong to no live endpoint (left by a crash).
    pub async fn cleanup_stale(&self, live: &[Endpoint]) -> Result<(), NetworkError> {
        let live_ns: HashSet<PathBuf> = live.iter().filter_map(|e| e.netns.clone()).collect();
        let live_ns_names: HashSet<std::ffi::OsString> = live_ns
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_owned()))
            .collect();
        let entries = match std::fs::read_dir(&self.netns_dir) {
            Ok(e) => Some(e),
            Err(e) if e.kind() == IoKind::NotFound => None,
            Err(e) => return Err(NetworkError::io("listing netns files", &self.netns_dir, e)),
        };
        for entry in entries.into_iter().flatten() {
            let entry =
                entry.map_err(|e| NetworkError::io("listing netns files", &self.netns_dir, e))?;
            let path = entry.path();
            if live_ns.contains(&path) || live_ns_names.contains(&entry.file_name()) {
                continue;
            }
            info!(path = %path.display(), "removing stale netns");
            netns::remove(&path)?;
        }

        let Some(bs) = &self.bridge else {
            return Ok(());
        };
        let live_veths: HashSet<&str> =
            live.iter().filter_map(|e| e.host_veth.as_deref()).collect();
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetworkError::netlink("listing links", e))?;
        let mut stale = Vec::new();
        for link in links {
            let on_bridge = link
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::Controller(c) if *c == bs.index));
            let name = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.as_str()),
                _ => None,
            });
            let Some(name) = name else { continue };
            if on_bridge && name.starts_with("veth") && !live_veths.contains(name) {
                info!(veth = name, "removing stale veth");
                stale.push(name.to_owned());
            }
        }
        // Concurrently: each deletion waits for RCU grace periods (15-35 ms).
        let results =
            futures::future::join_all(stale.iter().map(|name| delete_link_by_name(name))).await;
        results.into_iter().collect()
    }

    /// The bridge network, or None with `--bridge none`.
    pub fn bridge(&self) -> Option<BridgeInfo> {
        self.bridge.as_ref().map(|b| b.info.clone())
    }

    /// Deletes the bridge device and its nft table. The daemon keeps the bridge
    /// across restarts (like Docker's docker0); this is for tests and uninstall.
    pub async fn destroy_bridge(&self) -> Result<(), NetworkError> {
        let Some(bs) = &self.bridge else {
            return Ok(());
        };
        nft::delete_table(&bs.info.name).await?;
        delete_link_by_name(&bs.info.name).await
    }
}

/// Runs `f` with a netlink handle on `socket` (opened inside a container netns),
/// driving the connection in the same task; the socket is closed afterwards.
async fn configure_in_netns<F, Fut>(
    socket: rtnetlink::sys::Socket,
    f: F,
) -> Result<(), NetworkError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: std::future::Future<Output = Result<(), NetworkError>>,
{
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is an open netlink socket whose ownership was just released by
    // `into_raw_fd`; TokioSocket takes it over and closes it on drop. We run inside
    // the tokio runtime (async fn of the daemon), which `from_raw_fd` requires to
    // register the fd.
    let sock = unsafe { TokioSocket::from_raw_fd(fd) };
    let (conn, handle, _) = rtnetlink::from_socket(sock);
    let ops = f(handle);
    tokio::pin!(conn);
    tokio::pin!(ops);
    tokio::select! {
        biased;
        r = &mut ops => r,
        _ = &mut conn => Err(NetworkError::netlink("netns netlink connection closed", rtnetlink::Error::RequestFailed)),
    }
}

#[cfg(test)]
mod tests;

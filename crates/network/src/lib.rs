//! Docker's bridge networks: the default `bridge` network and user-defined bridge
//! networks, each a bridge device with IPAM; one network namespace per container
//! with one veth pair per network it is attached to; published ports, masquerade and
//! isolation in the daemon's own nftables tables; cleanup.
//!
//! Links, addresses and routes are programmed over netlink (`rtnetlink`) on one
//! connection opened at [`NetworkManager::start`]; a container's namespace is
//! configured through a netlink socket opened inside it. `connect` spawns no process:
//! a new namespace is made ahead of time on a short-lived thread (`unshare` must not
//! run on a pool thread), so `connect` is a bind mount and a handful of netlink round
//! trips. nftables is programmed with `nft -f -`, one transaction that replaces the
//! daemon's tables, when networks or published ports change.
//!
//! Lifecycle, as the daemon drives it:
//! 1. [`NetworkManager::start`] at daemon start with the user networks it persisted
//!    (creates or adopts the bridges, ip_forward; the default network's id is kept in
//!    `<state_dir>/network/bridge.id`).
//! 2. [`NetworkManager::restore`] with the sandboxes of containers still running,
//!    then [`NetworkManager::cleanup_stale`] with the same list, before serving.
//! 3. [`NetworkManager::connect`] before the runtime creates the container: the
//!    runtime joins `Sandbox::netns` (OCI `linux.namespaces` network `path`); a
//!    `Host` sandbox has no netns. [`NetworkManager::publish`] once it has an
//!    address; [`NetworkManager::attach`]/[`NetworkManager::detach`] while it runs;
//!    [`NetworkManager::release`] after it exited (idempotent).
//! 4. The sandbox is persisted with the container (it is serde) for step 2.
//!
//! Host requirements: root (CAP_NET_ADMIN, CAP_SYS_ADMIN), the `nft` binary when
//! `nat` is on, and the bridge and veth drivers.

mod error;
mod etc;
mod ipam;
mod link;
mod model;
mod netns;
mod nft;
mod nlsync;
mod ports;
mod subnet;

use std::collections::{BTreeMap, HashSet};
use std::io::ErrorKind as IoKind;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tracing::{debug, info, warn};

pub use error::NetworkError;
pub use etc::{hosts_file, resolv_conf, resolv_conf_embedded, DEFAULT_DNS};
pub use link::mac_for;
pub use model::{
    NetworkInfo, NetworkRequest, PortMapping, PortRequest, Proto, OPT_BRIDGE_NAME,
    OPT_DEFAULT_BRIDGE, OPT_HOST_BINDING, OPT_ICC, OPT_MASQUERADE, OPT_MTU,
};
pub use nft::table_name;
pub use subnet::default_pools;

use error::nl_errno;
use ipam::Ipam;
pub(crate) use link::validate_ifname;
use link::{
    configure_in_netns, delete_link_by_name, delete_link_later, host_networks_in_use, ipv4_addrs,
    link_index, link_oper_up, load_or_create_network_id, lock_host, mac_string, set_ip_forward,
    validate_container_id, Creation, LinkUpWaiter, PortWatch,
};

/// The host-wide lock that serializes choosing a subnet and creating a bridge, so
/// that daemons starting in parallel (tests) never pick the same subnet.
pub const HOST_LOCK_PATH: &str = "/run/berth-network.lock";

/// Default bridge device name.
pub const DEFAULT_BRIDGE: &str = "berth0";

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
    /// Its own namespace with one interface per attached network (the default
    /// bridge when no network is named).
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

/// A container's attachment to one network (persisted by the daemon as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    /// Bind-mounted netns file of the container's sandbox (None for host).
    pub netns: Option<PathBuf>,
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// "02:42:ac:11:00:02"-style, derived from the IP as Docker does.
    pub mac: Option<String>,
    pub host_veth: Option<String>,
    /// Id of the network (64 hex), "" for none/host.
    pub network_id: String,
    /// The interface inside the container.
    #[serde(default = "default_ifname")]
    pub ifname: String,
}

fn default_ifname() -> String {
    "eth0".to_owned()
}

/// A container's network namespace and its attachments (persisted by the daemon).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sandbox {
    /// Bind-mounted netns file (None: the host's namespace).
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<Endpoint>,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

impl Sandbox {
    /// The endpoint on a network, by id.
    pub fn endpoint(&self, network_id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.network_id == network_id)
    }

    /// The interface name for the next attachment (`ethN`, the lowest free N).
    pub fn next_ifname(&self) -> String {
        (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !self.endpoints.iter().any(|e| &e.ifname == n))
            .unwrap_or_else(default_ifname)
    }
}

/// What to attach a container to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// Network id.
    pub network_id: String,
    /// A static address (`--ip`); None = the next free one.
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`; None = derived from the address.
    pub mac: Option<[u8; 6]>,
}

/// The default bridge network as the daemon shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    /// Device name.
    pub name: String,
    /// Network id (64 hex, persisted in the data root).
    pub id: String,
    pub subnet: ipnet::Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// One network: its description, device and address allocator.
struct Net {
    info: NetworkInfo,
    index: u32,
    ipam: Mutex<Ipam>,
    /// Attached endpoints (a network with any cannot be removed).
    endpoints: AtomicUsize,
}

impl Net {
    fn rules(&self) -> nft::NetRules<'_> {
        nft::NetRules {
            device: &self.info.device,
            subnet: self.info.subnet,
            internal: self.info.internal,
            masquerade: self.info.masquerade,
        }
    }
}

/// Owns the bridges, IPAM, published ports and the netlink connection.
pub struct NetworkManager {
    handle: Handle,
    conn_task: tokio::task::JoinHandle<()>,
    /// Link events (multicast connection and its dispatcher), for `wait_port_up`.
    watch: Arc<PortWatch>,
    watch_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// A namespace made ahead of time for the next `connect`.
    spare: Arc<netns::Spare>,
    /// Every network, by id.
    nets: RwLock<BTreeMap<String, Arc<Net>>>,
    /// Id of the default bridge network (None with `--bridge none`).
    default_id: Option<String>,
    netns_dir: PathBuf,
    mtu: u32,
    nat: bool,
    ip_forward: bool,
    pools: Vec<ipnet::Ipv4Net>,
    /// The daemon's nftables tables (family ip and bridge).
    table: String,
    ports: Mutex<ports::PortTable>,
    /// Serializes rule updates so that the last one applied has the newest state.
    nft_lock: tokio::sync::Mutex<()>,
}

impl Drop for NetworkManager {
    fn drop(&mut self) {
        self.conn_task.abort();
        for t in &self.watch_tasks {
            t.abort();
        }
    }
}

/// Undoes a half-made `connect`/`attach` whose future was dropped (the caller was
/// cancelled) or that failed: releases the addresses, deletes the veths (in the
/// background) and the netns it made.
struct CancelGuard {
    ips: Vec<(Arc<Net>, Ipv4Addr)>,
    /// Removed on rollback (only a namespace this call made).
    netns: Option<PathBuf>,
    /// Each veth with its creation request, which outlives a cancelled connect.
    veths: Vec<(String, Arc<Mutex<Creation>>)>,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        debug!(netns = ?self.netns, "connect failed or cancelled; rolling back");
        for (net, ip) in self.ips.drain(..) {
            net.ipam
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .release(ip);
        }
        for (veth, state) in self.veths.drain(..) {
            let created = {
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                match *st {
                    Creation::Pending => {
                        *st = Creation::Abandoned;
                        false // the request's task deletes it
                    }
                    Creation::Done(created) => created,
                    Creation::Abandoned => false,
                }
            };
            if created {
                delete_link_later(veth);
            }
        }
        if let Some(path) = &self.netns {
            if let Err(e) = netns::remove(path) {
                warn!(error = %e, "rollback: removing the netns failed");
            }
        }
    }
}

/// A short hash naming the tables of a daemon without a default bridge.
fn short_hash(s: &str) -> String {
    // FNV-1a: stable across runs and versions, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// Docker's rule for network names.
fn validate_network_name(name: &str) -> Result<(), NetworkError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(NetworkError::InvalidConfig {
            reason: format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ),
        })
    }
}

fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Lets the kernel route 127.0.0.0/8 sources out of the bridge (published ports
/// reached from the host's loopback are DNATed to a container, then masqueraded).
fn set_route_localnet(device: &str) -> Result<(), NetworkError> {
    let path = PathBuf::from(format!("/proc/sys/net/ipv4/conf/{device}/route_localnet"));
    std::fs::write(&path, b"1").map_err(|e| NetworkError::io("enabling route_localnet", path, e))
}

/// Sets a flag of a bridge port: `hairpin_mode` lets a container reach itself
/// through its own published port (the frame goes back out of the port it came in
/// on); `isolated` keeps the port from talking to the other isolated ports of the
/// bridge (a network without ICC: every container port is isolated).
fn set_brport(veth: &str, flag: &str) -> Result<(), NetworkError> {
    let path = PathBuf::from(format!("/sys/class/net/{veth}/brport/{flag}"));
    std::fs::write(&path, b"1").map_err(|e| NetworkError::io("setting a bridge port flag", path, e))
}

/// The address a bridge must have.
enum BridgeAddr {
    /// Exactly this one (other addresses are replaced).
    Fixed(ipnet::Ipv4Net),
    /// Its existing address, else the first free candidate of the pools.
    AdoptOrChoose(Vec<ipnet::Ipv4Net>),
}

impl NetworkManager {
    /// At daemon start: creates (or adopts) the default bridge with its address
    /// (the `--bip`, else the bridge's existing address, else the first pool
    /// candidate that overlaps no host route or address; chosen and created under
    /// [`HOST_LOCK_PATH`]), recreates the user networks of `saved` (a host reboot
    /// removed their bridges), sets ip_forward and replaces the daemon's nft tables.
    /// `state_dir` (data root) persists the default network's id.
    pub async fn start(
        cfg: BridgeConfig,
        state_dir: &Path,
        saved: &[NetworkInfo],
    ) -> Result<Self, NetworkError> {
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
        let table = match &cfg.bridge {
            Some(name) => table_name(name),
            None => table_name(&format!(
                "nb{}",
                short_hash(&cfg.exec_root.display().to_string())
            )),
        };
        let mut mgr = NetworkManager {
            handle,
            conn_task,
            watch: Arc::new(PortWatch::default()),
            watch_tasks: Vec::new(),
            spare: Arc::new(netns::Spare::default()),
            nets: RwLock::new(BTreeMap::new()),
            default_id: None,
            netns_dir,
            mtu: cfg.mtu,
            nat: cfg.nat,
            ip_forward: cfg.ip_forward,
            pools: subnet::candidates(&cfg.pools),
            table,
            ports: Mutex::new(ports::PortTable::default()),
            nft_lock: tokio::sync::Mutex::new(()),
        };

        let (mconn, _, events) =
            rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link]).map_err(
                |e| NetworkError::io("opening a netlink link-event socket", PathBuf::new(), e),
            )?;
        mgr.watch_tasks.push(tokio::spawn(mconn));
        mgr.watch_tasks
            .push(tokio::spawn(mgr.watch.clone().dispatch(events)));

        if let Some(name) = cfg.bridge.clone() {
            let want = match cfg.bip {
                Some(bip) => BridgeAddr::Fixed(bip),
                None => BridgeAddr::AdoptOrChoose(mgr.pools.clone()),
            };
            let (index, subnet, gateway) = {
                let _lock = lock_host().await?;
                mgr.ensure_bridge(&name, cfg.mtu, want).await?
            };
            let id = load_or_create_network_id(state_dir)?;
            let options = [
                (OPT_DEFAULT_BRIDGE, "true"),
                (OPT_ICC, "true"),
                (OPT_MASQUERADE, "true"),
                (OPT_HOST_BINDING, "0.0.0.0"),
                (OPT_BRIDGE_NAME, name.as_str()),
                (OPT_MTU, &cfg.mtu.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            info!(bridge = %name, %subnet, %gateway, "bridge network ready");
            let info = NetworkInfo {
                id: id.clone(),
                name: "bridge".to_owned(),
                device: name,
                subnet,
                gateway,
                ip_range: None,
                aux_addresses: BTreeMap::new(),
                user_subnet: cfg.bip.is_some(),
                internal: false,
                attachable: false,
                icc: true,
                masquerade: true,
                mtu: cfg.mtu,
                host_binding: None,
                labels: BTreeMap::new(),
                options,
                created: now_rfc3339(),
                predefined: true,
            };
            mgr.insert_net(info, index)?;
            mgr.default_id = Some(id);
        } else {
            info!("default bridge network disabled (--bridge none)");
        }

        for info in saved {
            let want = BridgeAddr::Fixed(
                ipnet::Ipv4Net::new(info.gateway, info.subnet.prefix_len()).map_err(|_| {
                    NetworkError::InvalidConfig {
                        reason: format!("saved network {} has a bad subnet", info.name),
                    }
                })?,
            );
            let res = {
                let _lock = lock_host().await?;
                mgr.ensure_bridge(&info.device, info.mtu, want).await
            };
            match res {
                Ok((index, _, _)) => mgr.insert_net(info.clone(), index)?,
                Err(e) => {
                    // Kept, so that it can still be inspected and removed.
                    warn!(network = %info.name, error = %e, "recreating the network's bridge failed");
                    mgr.insert_net(info.clone(), 0)?;
                }
            }
        }
        if mgr.ip_forward
            && !mgr
                .nets
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        {
            set_ip_forward()?;
        }
        mgr.apply_rules().await?;
        mgr.spare.refill();
        Ok(mgr)
    }

    fn insert_net(&self, info: NetworkInfo, index: u32) -> Result<(), NetworkError> {
        if index != 0 {
            set_route_localnet(&info.device)?;
        }
        let mut ipam = Ipam::new(info.subnet, info.gateway).with_range(info.ip_range);
        for ip in info.aux_addresses.values() {
            ipam.reserve(*ip);
        }
        let net = Net {
            ipam: Mutex::new(ipam),
            index,
            endpoints: AtomicUsize::new(0),
            info,
        };
        self.nets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(net.info.id.clone(), Arc::new(net));
        Ok(())
    }

    /// Replaces the daemon's nftables tables with the current networks and ports.
    async fn apply_rules(&self) -> Result<(), NetworkError> {
        let _serial = self.nft_lock.lock().await;
        let script = {
            let nets: Vec<Arc<Net>> = self
                .nets
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .filter(|n| n.index != 0)
                .cloned()
                .collect();
            let rules: Vec<nft::NetRules<'_>> = nets.iter().map(|n| n.rules()).collect();
            let ports: Vec<PortMapping> = self
                .ports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .all()
                .copied()
                .collect();
            // No network: no table at all (a daemon with `--bridge none` and no
            // user network leaves nothing in the host's ruleset).
            nft::ruleset(&self.table, &rules, &ports, self.nat && !rules.is_empty())
        };
        nft::apply(&script, &format!("installing table {}", self.table)).await
    }

    /// Creates or adopts a bridge; returns (index, subnet, gateway).
    async fn ensure_bridge(
        &self,
        name: &str,
        mtu: u32,
        want: BridgeAddr,
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
                            .mtu(mtu)
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

        let (subnet, gateway) = match want {
            BridgeAddr::Fixed(addr) => {
                if !existing.contains(&addr) {
                    for old in existing.iter() {
                        warn!(bridge = name, address = %old, "replacing bridge address with {addr}");
                        self.del_addr(index, *old).await?;
                    }
                    self.add_addr(name, index, addr).await?;
                }
                (addr.trunc(), addr.addr())
            }
            BridgeAddr::AdoptOrChoose(_) if !existing.is_empty() => {
                (existing[0].trunc(), existing[0].addr())
            }
            BridgeAddr::AdoptOrChoose(cands) => {
                let in_use = host_networks_in_use(h).await?;
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
            }
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

    // ------------------------------------------------------------------ networks

    fn net(&self, id: &str) -> Result<Arc<Net>, NetworkError> {
        self.nets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| NetworkError::NoSuchNetwork {
                name: id.to_owned(),
            })
    }

    /// Every network, default bridge first, then by name.
    pub fn networks(&self) -> Vec<NetworkInfo> {
        let mut out: Vec<NetworkInfo> = self
            .nets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|n| n.info.clone())
            .collect();
        out.sort_by(|a, b| (!a.predefined, &a.name).cmp(&(!b.predefined, &b.name)));
        out
    }

    /// A network by id.
    pub fn network(&self, id: &str) -> Option<NetworkInfo> {
        self.net(id).ok().map(|n| n.info.clone())
    }

    /// Id of the default bridge network.
    pub fn default_network_id(&self) -> Option<&str> {
        self.default_id.as_deref()
    }

    /// The default bridge network, or None with `--bridge none`.
    pub fn bridge(&self) -> Option<BridgeInfo> {
        let id = self.default_id.as_deref()?;
        let n = self.net(id).ok()?;
        Some(BridgeInfo {
            name: n.info.device.clone(),
            id: n.info.id.clone(),
            subnet: n.info.subnet,
            gateway: n.info.gateway,
        })
    }

    /// Creates a user-defined bridge network (`POST /networks/create`). The caller
    /// persists the returned description (and passes it to `start` next time).
    pub async fn create_network(&self, req: NetworkRequest) -> Result<NetworkInfo, NetworkError> {
        validate_network_name(&req.name)?;
        let opts = model::BridgeOptions::parse(&req.options)?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let device = opts
            .device
            .clone()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        let mtu = opts.mtu.unwrap_or(self.mtu);
        let (ip_range, aux) = (req.ip_range.map(|r| r.trunc()), req.aux_addresses.clone());
        let explicit = match req.subnet {
            Some(subnet) => Some(check_pool(&req, subnet.trunc())?),
            None if req.gateway.is_some() || ip_range.is_some() || !aux.is_empty() => {
                return Err(NetworkError::InvalidConfig {
                    reason: "a gateway, ip range or auxiliary address needs a subnet (--subnet)"
                        .into(),
                })
            }
            None => None,
        };

        let _lock = lock_host().await?;
        // Names and subnets are checked under the lock: two creates cannot both pass.
        let others: Vec<Arc<Net>> = self
            .nets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        if let Some(n) = others
            .iter()
            .find(|n| n.info.name == req.name || n.info.device == device)
        {
            if n.info.name == req.name || ["bridge", "host", "none"].contains(&req.name.as_str()) {
                return Err(NetworkError::NetworkExists {
                    name: req.name.clone(),
                });
            }
            return Err(NetworkError::InvalidConfig {
                reason: format!(
                    "bridge device {device} is already used by network {}",
                    n.info.name
                ),
            });
        }
        if ["bridge", "host", "none"].contains(&req.name.as_str()) {
            return Err(NetworkError::NetworkExists {
                name: req.name.clone(),
            });
        }
        let want = match explicit {
            Some((subnet, gw)) => {
                if let Some(n) = others
                    .iter()
                    .find(|n| subnet::overlaps(&n.info.subnet, &subnet))
                {
                    return Err(NetworkError::PoolOverlap {
                        subnet,
                        other: n.info.subnet,
                        network: n.info.name.clone(),
                    });
                }
                BridgeAddr::Fixed(ipnet::Ipv4Net::new(gw, subnet.prefix_len()).map_err(|_| {
                    NetworkError::InvalidConfig {
                        reason: format!("bad subnet {subnet}"),
                    }
                })?)
            }
            None => {
                let cands: Vec<ipnet::Ipv4Net> = self
                    .pools
                    .iter()
                    .filter(|c| !others.iter().any(|n| subnet::overlaps(&n.info.subnet, c)))
                    .copied()
                    .collect();
                BridgeAddr::AdoptOrChoose(cands)
            }
        };
        if link_index(&self.handle, &device).await?.is_some() {
            return Err(NetworkError::InvalidConfig {
                reason: format!("a device named {device} already exists on the host"),
            });
        }
        let made = self.ensure_bridge(&device, mtu, want).await;
        let (index, subnet, gateway) = match made {
            Ok(v) => v,
            Err(e) => {
                return Err(e.with_cleanup(delete_link_by_name(&device).await.err()));
            }
        };
        let info = NetworkInfo {
            id: id.clone(),
            name: req.name,
            device: device.clone(),
            subnet,
            gateway,
            ip_range,
            aux_addresses: aux,
            user_subnet: explicit.is_some(),
            internal: req.internal,
            attachable: req.attachable,
            icc: opts.icc,
            masquerade: opts.masquerade,
            mtu,
            host_binding: opts.host_binding,
            labels: req.labels,
            options: req.options,
            created: now_rfc3339(),
            predefined: false,
        };
        let res = async {
            self.insert_net(info.clone(), index)?;
            if self.ip_forward {
                set_ip_forward()?;
            }
            self.apply_rules().await
        }
        .await;
        if let Err(e) = res {
            self.nets
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Err(e.with_cleanup(delete_link_by_name(&device).await.err()));
        }
        info!(network = %info.name, %device, %subnet, "network created");
        Ok(info)
    }

    /// Removes a user-defined network (its bridge and rules). Refused while
    /// containers are attached, and for the default bridge.
    pub async fn remove_network(&self, id: &str) -> Result<(), NetworkError> {
        let net = self.net(id)?;
        if net.info.predefined {
            return Err(NetworkError::Forbidden {
                reason: format!(
                    "{} is a pre-defined network and cannot be removed",
                    net.info.name
                ),
            });
        }
        if net.endpoints.load(Ordering::Acquire) > 0 {
            return Err(NetworkError::ActiveEndpoints {
                name: net.info.name.clone(),
                id: net.info.id.clone(),
            });
        }
        self.nets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let rules = self.apply_rules().await;
        let link = delete_link_by_name(&net.info.device).await;
        info!(network = %net.info.name, "network removed");
        rules.and(link)
    }

    /// Removes the daemon's nft tables and every network's bridge. The daemon keeps
    /// them across restarts (like Docker's docker0); this is for tests and uninstall.
    pub async fn destroy_bridge(&self) -> Result<(), NetworkError> {
        nft::delete_table(&self.table).await?;
        let devices: Vec<String> = self
            .nets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|n| n.info.device.clone())
            .collect();
        for d in devices {
            delete_link_by_name(&d).await?;
        }
        Ok(())
    }

    /// Name of the daemon's nftables tables (family `ip` and `bridge`).
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Checks a user's subnet, gateway, range and auxiliary addresses; returns (subnet,
/// gateway).
fn check_pool(
    req: &NetworkRequest,
    subnet: ipnet::Ipv4Net,
) -> Result<(ipnet::Ipv4Net, Ipv4Addr), NetworkError> {
    let bad = |reason: String| Err(NetworkError::InvalidConfig { reason });
    if subnet.prefix_len() > 30 {
        return bad(format!(
            "subnet {subnet} is too small: it has no room for containers"
        ));
    }
    let gw = req.gateway.unwrap_or_else(|| subnet::first_host(&subnet));
    if !subnet.contains(&gw) || gw == subnet.network() || gw == subnet.broadcast() {
        return bad(format!(
            "gateway {gw} is not a host address of subnet {subnet}"
        ));
    }
    if let Some(r) = req.ip_range {
        if !subnet.contains(&r.trunc()) {
            return bad(format!("ip range {r} is not inside subnet {subnet}"));
        }
    }
    for (name, ip) in &req.aux_addresses {
        if !subnet.contains(ip) {
            return bad(format!(
                "auxiliary address {name}={ip} is not inside subnet {subnet}"
            ));
        }
    }
    Ok((subnet, gw))
}

/// One interface to make in a container's namespace.
struct IfacePlan {
    net: Arc<Net>,
    ip: Ipv4Addr,
    mac: [u8; 6],
    ifname: String,
    default_route: bool,
}

impl NetworkManager {
    /// The netns file of a container.
    pub fn netns_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }

    /// Creates the container's network sandbox: `Bridge` -> a new netns with `lo` up
    /// and one interface per request (`eth0`, `eth1`, ...; a veth whose host side
    /// `vethXXXXXXX` is on the network's bridge) with its address and MAC, and a
    /// default route via the first non-internal network's gateway; no request means
    /// the default bridge (or only `lo` with `--bridge none`). `None` -> a new netns
    /// with only `lo` up; `Host` -> no netns. On failure nothing is left behind.
    pub async fn connect(
        &self,
        container_id: &str,
        mode: NetMode,
        attach: &[AttachRequest],
    ) -> Result<Sandbox, NetworkError> {
        validate_container_id(container_id)?;
        let reqs: Vec<AttachRequest> = match (mode, attach.is_empty(), &self.default_id) {
            (NetMode::Host, ..) => return Ok(Sandbox::default()),
            (NetMode::None, ..) | (NetMode::Bridge, true, None) => Vec::new(),
            (NetMode::Bridge, true, Some(id)) => vec![AttachRequest {
                network_id: id.clone(),
                ..AttachRequest::default()
            }],
            (NetMode::Bridge, false, _) => attach.to_vec(),
        };
        let path = self.netns_path(container_id);
        let mut guard = CancelGuard {
            ips: Vec::new(),
            netns: Some(path.clone()),
            veths: Vec::new(),
            armed: true,
        };
        let res = async {
            let ns = self.spare.take().await?;
            netns::bind(&ns, &path)?;
            if reqs.is_empty() {
                // The namespace comes with `lo` up: nothing else to configure.
                return Ok(Vec::new());
            }
            let plans = self.plan_ifaces(container_id, &reqs, 0, true, &mut guard)?;
            self.make_ifaces(ns, &path, container_id, plans, &mut guard)
                .await
        }
        .await;
        self.spare.refill();
        let endpoints = res?;
        guard.armed = false;
        Ok(Sandbox {
            netns: Some(path),
            endpoints,
            ports: Vec::new(),
        })
    }

    /// Attaches a running container's sandbox to one more network (`network
    /// connect`), as interface `ifname`. The default route is not changed.
    pub async fn attach(
        &self,
        container_id: &str,
        netns_path: &Path,
        req: &AttachRequest,
        ifname: &str,
    ) -> Result<Endpoint, NetworkError> {
        validate_container_id(container_id)?;
        let mut guard = CancelGuard {
            ips: Vec::new(),
            netns: None,
            veths: Vec::new(),
            armed: true,
        };
        let ns = netns::open(netns_path).await?;
        let mut plans = self.plan_ifaces(
            container_id,
            std::slice::from_ref(req),
            0,
            false,
            &mut guard,
        )?;
        if let Some(p) = plans.first_mut() {
            p.ifname = ifname.to_owned();
        }
        let mut eps = self
            .make_ifaces(ns, netns_path, container_id, plans, &mut guard)
            .await?;
        guard.armed = false;
        eps.pop().ok_or_else(|| NetworkError::InvalidConfig {
            reason: "no endpoint was made".into(),
        })
    }

    /// Reserves addresses for the requests (recorded in `guard`).
    fn plan_ifaces(
        &self,
        container_id: &str,
        reqs: &[AttachRequest],
        first_if: usize,
        route: bool,
        guard: &mut CancelGuard,
    ) -> Result<Vec<IfacePlan>, NetworkError> {
        let mut plans = Vec::with_capacity(reqs.len());
        let mut routed = !route;
        for (i, req) in reqs.iter().enumerate() {
            let net = self.net(&req.network_id)?;
            if net.index == 0 {
                return Err(NetworkError::InvalidConfig {
                    reason: format!(
                        "network {} has no bridge on this host (see the daemon log)",
                        net.info.name
                    ),
                });
            }
            let ip = {
                let mut ipam = net.ipam.lock().unwrap_or_else(|p| p.into_inner());
                match req.ip {
                    Some(ip) => {
                        if !net.info.subnet.contains(&ip) {
                            return Err(NetworkError::InvalidConfig {
                                reason: format!(
                                    "no configured subnet contains IP address {ip} on network {}",
                                    net.info.name
                                ),
                            });
                        }
                        if !ipam.reserve(ip) {
                            return Err(NetworkError::AddressInUse {
                                ip,
                                network: net.info.name.clone(),
                            });
                        }
                        ip
                    }
                    None => ipam.allocate().ok_or(NetworkError::PoolExhausted {
                        subnet: net.info.subnet,
                    })?,
                }
            };
            guard.ips.push((net.clone(), ip));
            let default_route = !routed && !net.info.internal;
            routed |= default_route;
            plans.push(IfacePlan {
                mac: req.mac.unwrap_or_else(|| mac_for(ip)),
                ifname: format!("eth{}", first_if + i),
                default_route,
                net,
                ip,
            });
            debug!(container = container_id, %ip, "address reserved");
        }
        Ok(plans)
    }

    /// Makes the veth pairs of `plans` into `ns` and configures them.
    async fn make_ifaces(
        &self,
        ns: netns::NewNetns,
        path: &Path,
        container_id: &str,
        plans: Vec<IfacePlan>,
        guard: &mut CancelGuard,
    ) -> Result<Vec<Endpoint>, NetworkError> {
        let mut made = Vec::with_capacity(plans.len());
        for p in &plans {
            made.push(self.make_veth(&ns, path, p, guard).await?);
        }
        drop(ns.ns_fd);

        let cfg: Vec<(String, Ipv4Addr, u8, Option<Ipv4Addr>)> = plans
            .iter()
            .map(|p| {
                (
                    p.ifname.clone(),
                    p.ip,
                    p.net.info.subnet.prefix_len(),
                    p.default_route.then_some(p.net.info.gateway),
                )
            })
            .collect();
        configure_in_netns(ns.socket, |h| async move {
            for (ifname, ip, prefix_len, gateway) in cfg {
                let index =
                    link_index(&h, &ifname)
                        .await?
                        .ok_or_else(|| NetworkError::InvalidConfig {
                            reason: format!("{ifname} missing in the container's netns"),
                        })?;
                // Netlink requests on one socket are handled in order: send them
                // all, then wait for the answers (the link is up before its address
                // is added, so the subnet route exists before the default route
                // needs it).
                let up = h
                    .link()
                    .set(LinkUnspec::new_with_index(index).up().build())
                    .execute();
                let addr = h.address().add(index, IpAddr::V4(ip), prefix_len).execute();
                let route = async {
                    match gateway {
                        Some(gw) => h
                            .route()
                            .add(
                                RouteMessageBuilder::<Ipv4Addr>::new()
                                    .gateway(gw)
                                    .output_interface(index)
                                    .build(),
                            )
                            .execute()
                            .await
                            .map_err(|e| {
                                NetworkError::netlink(
                                    format!("adding the default route via {gw}"),
                                    e,
                                )
                            }),
                        None => Ok(()),
                    }
                };
                let (up, addr, route) = futures::join!(up, addr, route);
                up.map_err(|e| NetworkError::netlink(format!("bringing {ifname} up"), e))?;
                addr.map_err(|e| {
                    NetworkError::netlink(format!("adding {ip}/{prefix_len} to {ifname}"), e)
                })?;
                route?;
            }
            Ok(())
        })
        .await?;

        // The container's first packets must not be dropped: wait until its bridge
        // ports forward, and, for the first port of an idle bridge, until the
        // bridge itself has carrier (its transmit queue is only activated then: the
        // bridge's ARP replies were dropped otherwise).
        let mut out = Vec::with_capacity(plans.len());
        for (p, (host_veth, port_up, bridge_up)) in plans.iter().zip(made) {
            self.wait_link_up(port_up, false).await?;
            self.wait_link_up(bridge_up, true).await?;
            p.net.endpoints.fetch_add(1, Ordering::AcqRel);
            debug!(container = container_id, ip = %p.ip, veth = %host_veth, "endpoint connected");
            out.push(Endpoint {
                container_id: container_id.to_owned(),
                netns: Some(path.to_path_buf()),
                ip: Some(p.ip),
                prefix_len: p.net.info.subnet.prefix_len(),
                gateway: Some(p.net.info.gateway),
                mac: Some(mac_string(&p.mac)),
                host_veth: Some(host_veth),
                network_id: p.net.info.id.clone(),
                ifname: p.ifname.clone(),
            });
        }
        Ok(out)
    }

    /// Creates one veth pair in one request: the host side on the bridge and up, the
    /// peer created directly inside the netns with its name and MAC. (The peer
    /// cannot be created up: the kernel answers ENOTCONN for a peer in another
    /// netns; it is brought up from inside.) Returns the host side's name and the
    /// waiters for it and the bridge going up.
    async fn make_veth(
        &self,
        ns: &netns::NewNetns,
        path: &Path,
        p: &IfacePlan,
        guard: &mut CancelGuard,
    ) -> Result<(String, LinkUpWaiter, LinkUpWaiter), NetworkError> {
        // Registered before any port of ours can change the bridge's carrier.
        let bridge_up = self.watch.register(&p.net.info.device);
        let mut last_err = None;
        for _ in 0..4 {
            let name = format!("veth{}", &hex::encode(rand::random::<[u8; 4]>())[..7]);
            let waiter = self.watch.register(&name);
            // Kept open by the request's task until the kernel answered (see Creation).
            let fd = ns
                .ns_fd
                .try_clone()
                .map_err(|e| NetworkError::io("duplicating the netns fd", path, e))?;
            let peer = LinkUnspec::new_with_name(&p.ifname)
                .address(p.mac.to_vec())
                .mtu(p.net.info.mtu)
                .setns_by_fd(fd.as_raw_fd())
                .build();
            let msg = LinkVeth::new(&name, &p.ifname)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .mtu(p.net.info.mtu)
                .controller(p.net.index)
                .up()
                .build();
            let state = Arc::new(Mutex::new(Creation::Pending));
            let (handle, veth, st2) = (self.handle.clone(), name.clone(), state.clone());
            let request = tokio::spawn(async move {
                let res = handle.link().add(msg).execute().await;
                drop(fd);
                let mut st = st2.lock().unwrap_or_else(|p| p.into_inner());
                if *st == Creation::Abandoned && res.is_ok() {
                    delete_link_later(veth);
                }
                *st = Creation::Done(res.is_ok());
                res
            });
            guard.veths.push((name.clone(), state));
            let Ok(res) = request.await else {
                // The task panicked: its state stays Pending and the rollback
                // deletes nothing it did not see created.
                return Err(NetworkError::Thread {
                    path: path.to_path_buf(),
                });
            };
            match res {
                Ok(()) if !p.net.info.icc => {
                    set_brport(&name, "isolated")?;
                    return Ok((name, waiter, bridge_up));
                }
                Ok(()) => return Ok((name, waiter, bridge_up)),
                Err(e) if nl_errno(&e) == Some(libc::EEXIST) => {
                    // Someone else's link: never delete it.
                    guard.veths.pop();
                    last_err = Some(NetworkError::netlink(format!("creating veth {name}"), e));
                }
                Err(e) => {
                    guard.veths.pop();
                    return Err(NetworkError::netlink(format!("creating veth {name}"), e));
                }
            }
        }
        Err(last_err.unwrap_or(NetworkError::Thread {
            path: path.to_path_buf(),
        }))
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

    /// Detaches one endpoint (`network disconnect`, or part of [`Self::release`]):
    /// releases its address and deletes its veth. Idempotent.
    pub async fn detach(&self, ep: &Endpoint) {
        if let Some(veth) = ep.host_veth.clone() {
            // Not awaited: the kernel takes 15-35 ms to delete a veth (RCU grace
            // periods). Removing the netns destroys the pair too (in the kernel's
            // netns cleanup work); the explicit delete also cuts a pair whose netns
            // is still held by someone.
            delete_link_later(veth);
        }
        let net = self.net(&ep.network_id).ok();
        if let (Some(ip), Some(net)) = (ep.ip, net) {
            if net.info.subnet.contains(&ip) {
                net.ipam
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(ip);
            }
            // Saturating: a release after a restart that lost the count is fine.
            let _ = net
                .endpoints
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }

    /// Releases a container's sandbox after it exited: its published ports, every
    /// endpoint, and the netns file. Idempotent.
    pub async fn release(&self, sandbox: &Sandbox) -> Result<(), NetworkError> {
        let container = sandbox
            .endpoints
            .first()
            .map(|e| e.container_id.clone())
            .or_else(|| {
                sandbox
                    .netns
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
            });
        let mut rules = Ok(());
        if let Some(c) = container {
            rules = self.unpublish(&c).await;
        }
        for ep in &sandbox.endpoints {
            self.detach(ep).await;
        }
        let ns = match &sandbox.netns {
            Some(ns) => netns::remove(ns),
            None => Ok(()),
        };
        rules.and(ns)
    }

    /// Publishes `reqs` of a container whose address (on the network that provides
    /// its default route) is `ip` on network `network_id`: host ports are taken
    /// (held by bound sockets), hairpin is enabled on its bridge port and the
    /// DNAT rules are installed. All or nothing.
    pub async fn publish(
        &self,
        container_id: &str,
        ep: &Endpoint,
        reqs: &[PortRequest],
    ) -> Result<Vec<PortMapping>, NetworkError> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let Some(ip) = ep.ip else {
            return Ok(Vec::new());
        };
        let default_host = self
            .net(&ep.network_id)
            .ok()
            .and_then(|n| n.info.host_binding);
        let mappings = self
            .ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .publish(container_id, ip, default_host, reqs)?;
        if let Some(veth) = &ep.host_veth {
            if let Err(e) = set_brport(veth, "hairpin_mode") {
                warn!(error = %e, "hairpin: a container cannot reach its own published port");
            }
        }
        if let Err(e) = self.apply_rules().await {
            self.ports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unpublish(container_id);
            return Err(e);
        }
        Ok(mappings)
    }

    /// Removes a container's published ports. Idempotent.
    pub async fn unpublish(&self, container_id: &str) -> Result<(), NetworkError> {
        let had = self
            .ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unpublish(container_id);
        if had {
            self.apply_rules().await
        } else {
            Ok(())
        }
    }

    /// After a daemon restart: re-reserves the addresses and ports of the sandboxes
    /// of containers that are still running, and reinstalls the rules.
    pub async fn restore(&self, sandboxes: &[Sandbox]) -> Result<(), NetworkError> {
        let mut any_ports = false;
        for sb in sandboxes {
            for ep in &sb.endpoints {
                let Ok(net) = self.net(&ep.network_id) else {
                    warn!(container = %ep.container_id, network = %ep.network_id, "endpoint of an unknown network; not restored");
                    continue;
                };
                net.endpoints.fetch_add(1, Ordering::AcqRel);
                let Some(ip) = ep.ip else { continue };
                if !net
                    .ipam
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .reserve(ip)
                {
                    warn!(container = %ep.container_id, %ip, "endpoint address could not be reserved (taken or reserved)");
                }
            }
            if let (false, Some(ep)) = (sb.ports.is_empty(), sb.endpoints.first()) {
                any_ports = true;
                self.ports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .restore(&ep.container_id, &sb.ports);
            }
        }
        if any_ports {
            self.apply_rules().await?;
        }
        Ok(())
    }

    /// After `restore`, before serving: removes netns files and host veths on our
    /// bridges that belong to no live sandbox (left by a crash).
    pub async fn cleanup_stale(&self, live: &[Sandbox]) -> Result<(), NetworkError> {
        let live_ns: HashSet<PathBuf> = live.iter().filter_map(|s| s.netns.clone()).collect();
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

        let bridges: HashSet<u32> = self
            .nets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|n| n.index)
            .filter(|i| *i != 0)
            .collect();
        if bridges.is_empty() {
            return Ok(());
        }
        let live_veths: HashSet<&str> = live
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter_map(|e| e.host_veth.as_deref())
            .collect();
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
                .any(|a| matches!(a, LinkAttribute::Controller(c) if bridges.contains(c)));
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
}

#[cfg(test)]
mod tests;

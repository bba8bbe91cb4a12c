//! Netlink helpers shared by the manager: link lookups, addresses, routes, link
//! deletion off the runtime's threads, the link-up watcher, and configuration
//! through a netlink socket opened inside a container's namespace.

use std::collections::HashMap;
use std::io::ErrorKind as IoKind;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::sys::TokioSocket;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use tracing::{debug, warn};

use crate::error::{nl_errno, NetworkError};
use crate::{nlsync, HOST_LOCK_PATH};

pub(crate) fn link_oper_up(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| {
        matches!(
            a,
            LinkAttribute::OperState(rtnetlink::packet_route::link::State::Up)
        )
    })
}

pub(crate) type LinkEvents = futures::channel::mpsc::UnboundedReceiver<(
    rtnetlink::packet_core::NetlinkMessage<rtnetlink::packet_route::RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

pub(crate) type WaiterList = Vec<(u64, tokio::sync::oneshot::Sender<()>)>;

/// Waiters for "link X is operationally up", fed by a multicast netlink socket.
#[derive(Default)]
pub(crate) struct PortWatch {
    waiters: Mutex<HashMap<String, WaiterList>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// One registered waiter; unregisters itself when dropped.
pub(crate) struct LinkUpWaiter {
    watch: Arc<PortWatch>,
    pub(crate) name: String,
    id: u64,
    pub(crate) rx: Option<tokio::sync::oneshot::Receiver<()>>,
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
    pub(crate) fn register(self: &Arc<Self>, name: &str) -> LinkUpWaiter {
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

    pub(crate) async fn dispatch(self: Arc<Self>, mut events: LinkEvents) {
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

/// Where a veth creation request is. The kernel resolves the peer's netns fd
/// when it processes the request, which may be after a cancelled connect has
/// returned: the request runs in its own task that keeps the fd open until the
/// kernel answered (a closed fd's number could by then name another
/// container's netns), and whichever of the task and the rollback comes last
/// deletes the veth.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Creation {
    #[default]
    Pending,
    /// Answered: whether the veth was created.
    Done(bool),
    /// The connect was cancelled first: the task deletes what it created.
    Abandoned,
}

/// Deletes a veth by name in the background (or here, outside a runtime).
pub(crate) fn delete_link_later(veth: String) {
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

/// Docker's MAC for an address: 02:42 followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub(crate) fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn validate_ifname(name: &str) -> Result<(), NetworkError> {
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

pub(crate) fn validate_container_id(id: &str) -> Result<(), NetworkError> {
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

pub(crate) async fn link_index(handle: &Handle, name: &str) -> Result<Option<u32>, NetworkError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(Some(link.header.index)),
        Ok(None) => Ok(None),
        Err(e) if nl_errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(NetworkError::netlink(format!("looking up link {name}"), e)),
    }
}

/// IPv4 addresses (address, prefix) of a link, or of every link with `None`.
pub(crate) async fn ipv4_addrs(
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
pub(crate) async fn host_networks_in_use(
    handle: &Handle,
) -> Result<Vec<ipnet::Ipv4Net>, NetworkError> {
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
pub(crate) fn delete_link_blocking(name: &str) -> Result<(), NetworkError> {
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
pub(crate) async fn delete_link_by_name(name: &str) -> Result<(), NetworkError> {
    let owned = name.to_owned();
    match tokio::task::spawn_blocking(move || delete_link_blocking(&owned)).await {
        Ok(r) => r,
        Err(_) => Err(NetworkError::Thread {
            path: PathBuf::from(name),
        }),
    }
}

pub(crate) fn load_or_create_network_id(state_dir: &Path) -> Result<String, NetworkError> {
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

pub(crate) fn set_ip_forward() -> Result<(), NetworkError> {
    let path = Path::new("/proc/sys/net/ipv4/ip_forward");
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim() == "1" => return Ok(()),
        _ => {}
    }
    std::fs::write(path, b"1").map_err(|e| NetworkError::io("enabling IPv4 forwarding", path, e))
}
/// Runs `f` with a netlink handle on `socket` (opened inside a container netns),
/// driving the connection in the same task; the socket is closed afterwards.
pub(crate) async fn configure_in_netns<F, Fut>(
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

//! Network namespaces. A new netns is created by `unshare(CLONE_NEWNET)` in a
//! dedicated thread (never a pool thread: the thread stays in the new namespace),
//! which also opens a netlink socket inside it; the namespace is then kept alive by
//! the returned fd and socket, and bound to a file (a bind mount, like `ip netns add`
//! and Docker's `/var/run/docker/netns/<id>`) when a container gets it.
//!
//! [`Spare`] keeps one unbound namespace ready so that `connect` does not wait for
//! the kernel to build one (about 0.7 ms here); an unbound namespace needs no
//! cleanup after a crash: it dies with the daemon's fds.

use std::fs::File;
use std::io::ErrorKind as IoKind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket};
use rtnetlink::LinkUnspec;
use tracing::debug;

use crate::error::NetworkError;
use crate::LOOPBACK_IFINDEX;

/// A network namespace (with `lo` up) held by an fd of it (to move a veth end into
/// it) and a netlink socket opened inside it (to configure it).
pub(crate) struct NewNetns {
    pub(crate) ns_fd: OwnedFd,
    pub(crate) socket: Socket,
}

/// Creates a new, unbound network namespace on a throw-away thread.
pub(crate) async fn create_unbound() -> Result<NewNetns, NetworkError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            // If the caller is gone, dropping the result frees the namespace.
            let _ = tx.send(create_in_this_thread());
        });
    if let Err(e) = spawned {
        return Err(NetworkError::io(
            "spawning the netns thread",
            PathBuf::new(),
            e,
        ));
    }
    match rx.await {
        Ok(res) => res,
        Err(_) => Err(NetworkError::Thread {
            path: PathBuf::new(),
        }),
    }
}

/// Runs in a thread that is thrown away afterwards: it leaves this thread in the new
/// network namespace.
fn create_in_this_thread() -> Result<NewNetns, NetworkError> {
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetworkError::sys("unshare(CLONE_NEWNET)", PathBuf::new(), e))?;
    let own = Path::new("/proc/thread-self/ns/net");
    let ns_fd: OwnedFd = File::open(own)
        .map_err(|e| NetworkError::io("opening the new netns", own, e))?
        .into();
    let socket = Socket::new(NETLINK_ROUTE)
        .map_err(|e| NetworkError::io("opening a netlink socket in the netns", own, e))?;
    // `lo` up here, off the connect path: the kernel spends ~0.5 ms on it (IPv6
    // addrconf of ::1 and its routes).
    let lo_up =
        RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(LOOPBACK_IFINDEX).up().build());
    crate::nlsync::request(&socket, lo_up, "bringing lo up")?;
    Ok(NewNetns { ns_fd, socket })
}

/// Binds a namespace to `path` (bind mount of its fd). A leftover file at `path`
/// (crash) is unmounted and replaced.
pub(crate) fn bind(ns: &NewNetns, path: &Path) -> Result<(), NetworkError> {
    // O_EXCL: never mount over a live netns file by accident.
    match File::options().write(true).create_new(true).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == IoKind::AlreadyExists => {
            remove(path)?;
            File::options()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| NetworkError::io("creating the netns file", path, e))?;
        }
        Err(e) => return Err(NetworkError::io("creating the netns file", path, e)),
    }
    let source = PathBuf::from(format!("/proc/self/fd/{}", ns.ns_fd.as_raw_fd()));
    if let Err(e) = mount(
        Some(&source),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(path);
        return Err(NetworkError::sys("bind-mounting the netns", path, e));
    }
    Ok(())
}

/// Unmounts and deletes a netns file. Idempotent: a missing file or a file that is
/// not a mount point is fine.
pub(crate) fn remove(path: &Path) -> Result<(), NetworkError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(NetworkError::sys("unmounting the netns", path, e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(NetworkError::io("removing the netns file", path, e)),
    }
}

/// One namespace made ahead of time, refilled in the background after each use.
#[derive(Default)]
pub(crate) struct Spare {
    slot: Mutex<Option<NewNetns>>,
    filling: AtomicBool,
}

impl Spare {
    /// A fresh namespace: the spare if there is one, else a new one made now. The
    /// caller calls [`Spare::refill`] once its own netlink work is done (making a
    /// namespace takes the rtnl lock and would slow that work down).
    pub(crate) async fn take(self: &Arc<Self>) -> Result<NewNetns, NetworkError> {
        let spare = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        match spare {
            Some(ns) => Ok(ns),
            None => create_unbound().await,
        }
    }

    /// Starts making a spare unless one exists or is being made.
    pub(crate) fn refill(self: &Arc<Self>) {
        if self
            .slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return;
        }
        if self.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("berth-netns-spare".into())
            .spawn(move || {
                let made = create_in_this_thread();
                match made {
                    Ok(ns) => *me.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(ns),
                    Err(e) => debug!(error = %e, "making a spare netns failed"),
                }
                me.filling.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.filling.store(false, Ordering::Release);
        }
    }
}

/// Opens an existing namespace (a bound netns file): an fd of it and a netlink
/// socket inside it, made on a throw-away thread that enters it.
pub(crate) async fn open(path: &Path) -> Result<NewNetns, NetworkError> {
    let path = path.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let p2 = path.clone();
    let spawned = std::thread::Builder::new()
        .name("berth-netns-open".into())
        .spawn(move || {
            let res = (|| {
                let ns_fd: OwnedFd = File::open(&p2)
                    .map_err(|e| NetworkError::io("opening the netns file", &p2, e))?
                    .into();
                nix::sched::setns(&ns_fd, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NetworkError::sys("setns into the container's netns", &p2, e))?;
                let socket = Socket::new(NETLINK_ROUTE).map_err(|e| {
                    NetworkError::io("opening a netlink socket in the netns", &p2, e)
                })?;
                Ok(NewNetns { ns_fd, socket })
            })();
            let _ = tx.send(res);
        });
    if let Err(e) = spawned {
        return Err(NetworkError::io("spawning the netns thread", path, e));
    }
    match rx.await {
        Ok(res) => res,
        Err(_) => Err(NetworkError::Thread { path }),
    }
}

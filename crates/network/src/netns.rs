//! Network namespace files: a new netns is created by `unshare(CLONE_NEWNET)` in a
//! dedicated thread (never a pool thread: the thread stays in the new namespace) and
//! kept alive by a bind mount of that thread's `ns/net` onto a file, like
//! `ip netns add` and Docker's `/var/run/docker/netns/<id>`.

use std::fs::File;
use std::io::ErrorKind as IoKind;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket};

use crate::error::NetworkError;

/// What the helper thread hands back: an fd of the namespace (to move a veth end
/// into it) and a netlink socket opened inside it (to configure it).
pub(crate) struct NewNetns {
    pub(crate) ns_fd: OwnedFd,
    pub(crate) socket: Socket,
}

/// Creates a netns bound to `path` (which must not be a live netns file).
pub(crate) async fn create(path: PathBuf) -> Result<NewNetns, NetworkError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread_path = path.clone();
    let spawned = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            // The receiver may be gone if the caller was cancelled; the namespace
            // is then removed again so that nothing leaks.
            let res = create_in_this_thread(&thread_path);
            if let Err(Ok(_)) = tx.send(res) {
                let _ = remove(&thread_path);
            }
        });
    if let Err(e) = spawned {
        return Err(NetworkError::io("spawning the netns thread", path, e));
    }
    match rx.await {
        Ok(res) => res,
        Err(_) => Err(NetworkError::Thread { path }),
    }
}

/// Runs in a thread that is thrown away afterwards: it leaves this thread in the new
/// network namespace.
fn create_in_this_thread(path: &Path) -> Result<NewNetns, NetworkError> {
    // O_EXCL: a leftover file (crash) is unmounted and replaced.
    let created = File::options().write(true).create_new(true).open(path);
    match created {
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
    let result = (|| {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetworkError::sys("unshare(CLONE_NEWNET)", path, e))?;
        let tid = nix::unistd::gettid();
        let own = PathBuf::from(format!("/proc/self/task/{tid}/ns/net"));
        mount(
            Some(&own),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| NetworkError::sys("bind-mounting the netns", path, e))?;
        let ns_fd: OwnedFd = File::open(path)
            .map_err(|e| NetworkError::io("opening the netns file", path, e))?
            .into();
        let socket = Socket::new(NETLINK_ROUTE)
            .map_err(|e| NetworkError::io("opening a netlink socket in the netns", path, e))?;
        Ok(NewNetns { ns_fd, socket })
    })();
    if result.is_err() {
        let _ = remove(path);
    }
    result
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

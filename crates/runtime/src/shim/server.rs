//! The shim process: std threads and blocking IO.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{
    runtime_for, write_atomic, ExitInfo, Request, Response, ShimConfig, CONFIG_FILE, EXIT_FILE,
    FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT, SOCKET,
};
use crate::runtime::{Runtime, StdioSpec};

/// Stack of the small copy/reap threads (untouched stack pages cost no memory).
const STACK: usize = 128 * 1024;
/// Stack of connection threads: they call the runtime (libcontainer in-process needs
/// deep stacks, more so in debug builds).
const BIG_STACK: usize = 8 << 20;

static EXEC_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A client that does not read its attach stream for this long is dropped (the
/// container's output must not stall on it).
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Appends a line to `<state_dir>/shim.log` (the shim's stdio is /dev/null).
fn diag(state_dir: &Path, msg: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("shim.log"))
    {
        let _ = writeln!(f, "{} {msg}", chrono::Utc::now().to_rfc3339());
    }
}

fn spawn<F: FnOnce() + Send + 'static>(f: F) {
    if let Err(e) = std::thread::Builder::new().stack_size(STACK).spawn(f) {
        // Out of threads: nothing sensible to do but note it.
        tracing::error!(error = %e, "spawning shim thread");
    }
}

/// Drops this process's page-table references to clean, read-only file-backed pages
/// (the loader's pass over the relocation table of this position-independent binary,
/// startup code): they stay in the page cache, shared, and fault back in if used
/// again. The shim is small in steady state; this keeps its RSS to what it really
/// uses (about 2 MiB instead of 7.5 for a running container, measured). Mappings
/// holding any anonymous (copy-on-write) page, such as RELRO, are dropped only page
/// by page where a page is still the file's own.
fn trim_rss() {
    // Free heap pages back to the kernel first (the runtime call allocates and frees a
    // lot, e.g. libcontainer in-process; glibc keeps freed arena pages otherwise).
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize, bool)> = None;
    let mut targets = Vec::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            // "start-end perms offset dev inode path"
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(range), Some(perms)) = (f.first(), f.get(1)) else {
                current = None;
                continue;
            };
            let file_backed = f.get(5).is_some_and(|p| p.starts_with('/'));
            let ok = file_backed
                && perms.starts_with('r')
                && !perms.contains('w')
                && perms.ends_with('p');
            current = range.split_once('-').and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                    ok,
                ))
            });
        } else if let Some(rest) = line.strip_prefix("Anonymous:") {
            if let Some((a, b, true)) = current {
                if rest.trim().trim_end_matches("kB").trim() == "0" {
                    targets.push((a, b));
                } else {
                    // Some pages were modified (relocations in a read-only-after-
                    // relocation segment): drop only the clean file pages, found
                    // exactly through /proc/self/pagemap. The range is read-only, so
                    // no page can become modified between the check and the drop.
                    targets.extend(clean_file_runs(a, b));
                }
            }
            current = None;
        }
    }
    for (a, b) in targets {
        // SAFETY: the range is a private, read-only, file-backed mapping with no
        // anonymous (modified) page: discarding its pages only drops clean copies of
        // the file, which the next access reads back identically.
        unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED) };
        // SAFETY: as above; MADV_RANDOM only changes the fault-around/readahead
        // policy of the range (a fault then maps one page, not sixteen).
        unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM) };
    }
}

/// Runs of pages in `[a, b)` that are present and still the file's own pages
/// (pagemap bit 61 set; a modified private copy has it clear).
fn clean_file_runs(a: usize, b: usize) -> Vec<(usize, usize)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut out = Vec::new();
    // pagemap has one entry per page of the system's size (4, 16 or 64 KiB...).
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let Ok(page) = usize::try_from(page) else {
        return out;
    };
    if page == 0 || !a.is_multiple_of(page) || !b.is_multiple_of(page) {
        return out;
    }
    let Ok(mut f) = std::fs::File::open("/proc/self/pagemap") else {
        return out;
    };
    let pages = (b - a) / page;
    let mut buf = vec![0u8; pages * 8];
    if f.seek(SeekFrom::Start((a / page * 8) as u64)).is_err() || f.read_exact(&mut buf).is_err() {
        return out;
    }
    let mut run: Option<usize> = None;
    for i in 0..=pages {
        let clean = i < pages && {
            let mut e = [0u8; 8];
            e.copy_from_slice(&buf[i * 8..i * 8 + 8]);
            let e = u64::from_le_bytes(e);
            e & (1 << 63) != 0 && e & (1 << 61) != 0
        };
        match (clean, run) {
            (true, None) => run = Some(i),
            (false, Some(start)) => {
                out.push((a + start * page, a + i * page));
                run = None;
            }
            _ => {}
        }
    }
    out
}

fn trim_rss_locked(shim: &Shim) {
    let _calls = lock(&shim.rt_calls);
    trim_rss();
}

/// The shim's main; `berth-shim <state_dir>` calls it. Returns the exit code.
pub fn shim_main(state_dir: &Path) -> i32 {
    match run(state_dir) {
        Ok(()) => 0,
        Err(msg) => {
            diag(state_dir, &msg);
            // Tell spawn_shim (our stdout is its pipe until we are ready).
            let _ = writeln!(std::io::stdout(), "error: {msg}");
            1
        }
    }
}

fn run(state_dir: &Path) -> Result<(), String> {
    // Absolute: the built-in runtime changes the working directory for a moment.
    let state_dir = &std::fs::canonicalize(state_dir)
        .map_err(|e| format!("state dir {}: {e}", state_dir.display()))?;
    let cfg_path = state_dir.join(CONFIG_FILE);
    let data =
        std::fs::read(&cfg_path).map_err(|e| format!("reading {}: {e}", cfg_path.display()))?;
    let cfg: ShimConfig = serde_json::from_slice(&data)
        .map_err(|e| format!("parsing {}: {e}", cfg_path.display()))?;
    let rt = runtime_for(&cfg.runtime).map_err(|e| e.to_string())?;
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers and changes only this
    // process's attributes.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        return Err(format!(
            "PR_SET_CHILD_SUBREAPER: {}",
            std::io::Error::last_os_error()
        ));
    }
    let sock = state_dir.join(SOCKET);
    let _ = std::fs::remove_file(&sock);
    let listener = super::socket_path(&sock)
        .and_then(|(p, _dir)| UnixListener::bind(p))
        .map_err(|e| format!("binding {}: {e}", sock.display()))?;
    let _ = std::fs::write(state_dir.join("shim.pid"), std::process::id().to_string());
    let log = logs::LogWriter::open(&cfg.log_path, cfg.log_max_size, cfg.log_max_file)
        .map_err(|e| e.to_string())?;
    let reaper = Reaper::start().map_err(|e| format!("starting reaper: {e}"))?;

    // Ready: tell spawn_shim, then detach stdio.
    let _ = std::io::stdout().write_all(b"ready\n");
    let _ = std::io::stdout().flush();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard fds, which this process owns; `null` stays
            // open for the duration of the call.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }

    trim_rss();
    let shim = Arc::new(Shim {
        state_dir: state_dir.to_path_buf(),
        cfg,
        rt,
        reaper,
        log: Mutex::new(log),
        st: Mutex::new(State::default()),
        rt_calls: Mutex::new(()),
        cv: Condvar::new(),
    });
    for conn in listener.incoming() {
        match conn {
            Ok(c) => {
                let shim = shim.clone();
                if let Err(e) = std::thread::Builder::new()
                    .stack_size(BIG_STACK)
                    .spawn(move || shim.serve(c))
                {
                    diag(state_dir, &format!("spawning connection thread: {e}"));
                }
            }
            Err(e) => diag(state_dir, &format!("accept: {e}")),
        }
    }
    Ok(())
}

#[derive(Default, PartialEq, Eq, Clone, Copy, Debug)]
enum Phase {
    #[default]
    Created,
    Starting,
    Running,
    /// Exit recorded (exit.json written).
    Exited,
}

struct Client {
    sock: UnixStream,
    stdout: bool,
    stderr: bool,
}

#[derive(Default)]
struct State {
    phase: Phase,
    init_pid: Option<u32>,
    exit: Option<ExitInfo>,
    /// Where container stdin goes (pipe write end or pty master).
    stdin: Option<Arc<File>>,
    master: Option<Arc<File>>,
    pending_size: Option<(u16, u16)>,
    clients: Vec<Client>,
    execs: HashMap<String, Arc<File>>,
    /// Connections waiting for the exit (answered before the shim exits).
    waiters: usize,
    /// Exec sessions still streaming (their exit frame is sent before the shim exits).
    active_execs: usize,
    /// Requests being answered (start, kill, resize...): the shim does not exit
    /// between a request and its answer, e.g. when a container exits at once.
    in_flight: usize,
}

/// Counts a request in `State::in_flight` while it is being answered.
struct InFlight(Arc<Shim>);

impl InFlight {
    fn new(shim: &Arc<Shim>) -> Self {
        lock(&shim.st).in_flight += 1;
        InFlight(shim.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0.st).in_flight -= 1;
        self.0.cv.notify_all();
    }
}

struct Shim {
    state_dir: PathBuf,
    cfg: ShimConfig,
    rt: Box<dyn Runtime>,
    reaper: Reaper,
    log: Mutex<logs::LogWriter>,
    st: Mutex<State>,
    /// Held around runtime calls that start processes and around RSS trimming: the
    /// built-in runtime clones from the calling thread, and the clone must not
    /// inherit an allocator lock that `malloc_trim` holds at that moment.
    rt_calls: Mutex<()>,
    cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(5 + data.len());
    buf.push(kind);
    buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
    buf.extend_from_slice(data);
    w.write_all(&buf)
}

fn respond(sock: &mut UnixStream, resp: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    line.push(b'\n');
    sock.write_all(&line)
}

fn err_resp(msg: impl Into<String>, kind: Option<&str>) -> Response {
    Response {
        ok: false,
        error: Some(msg.into()),
        error_kind: kind.map(|k| k.to_string()),
        ..Default::default()
    }
}

fn ok_resp() -> Response {
    Response {
        ok: true,
        ..Default::default()
    }
}

fn set_winsize(f: &File, height: u16, width: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the call; the fd is
    // open (borrowed from `f`).
    let r = unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

fn dev_null() -> std::io::Result<OwnedFd> {
    Ok(File::open("/dev/null")?.into())
}

/// Receives the pty master that the runtime sends over the console socket.
fn recv_master(listener: &UnixListener, timeout: Duration) -> std::io::Result<File> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "runtime did not send the console",
                    ));
                }
                let fd = listener.as_fd();
                let mut pfd = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16));
            }
            Err(e) => return Err(e),
        }
    };
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(timeout))?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table for us
                // (SCM_RIGHTS); nothing else owns it.
                let file = unsafe { File::from_raw_fd(*fd) };
                for extra in &fds[1..] {
                    // SAFETY: same as above; extra fds are closed at once.
                    drop(unsafe { OwnedFd::from_raw_fd(*extra) });
                }
                return Ok(file);
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "console socket message carried no fd",
    ))
}

/// A process's stdio on our side.
struct ProcIo {
    /// Where stdin goes (None = /dev/null).
    stdin: Option<File>,
    /// Output sources: (frame kind, reader).
    outputs: Vec<(u8, File)>,
    master: Option<Arc<File>>,
}

/// Exit status -> Docker's exit code.
fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Docker's exit code for a start failure (moby `translateContainerdStartErr`): 127
/// for a missing command (or a mount of a file onto a directory), 126 for EACCES,
/// else 128.
fn start_failure_code(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("permission denied") {
        126
    } else if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not a directory")
    {
        127
    } else {
        128
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Shim {
    fn serve(self: Arc<Self>, mut sock: UnixStream) {
        let mut reader = match sock.try_clone() {
            Ok(s) => BufReader::new(s),
            Err(_) => return,
        };
        let mut line = Vec::new();
        // The request line; bytes after it (stdin) stay buffered in `reader`.
        match (&mut reader).take(16 << 20).read_until(b'\n', &mut line) {
            Ok(_) if line.last() == Some(&b'\n') => {}
            _ => return,
        }
        let req: Request = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = respond(&mut sock, &err_resp(format!("bad request: {e}"), None));
                return;
            }
        };
        let input = reader;
        // Attach and wait connections live until the exit and are answered by it.
        let answering =
            (!matches!(req, Request::Attach { .. } | Request::Wait)).then(|| InFlight::new(&self));
        match req {
            Request::Ping => {
                let _ = respond(&mut sock, &ok_resp());
            }
            Request::Start => {
                let resp = self.clone().start();
                let _ = respond(&mut sock, &resp);
                if resp.ok {
                    // Steady state from here on: drop the pages startup touched
                    // (after answering, to keep it off the start latency), and once
                    // more when the first output has been copied.
                    let shim = self.clone();
                    spawn(move || {
                        trim_rss_locked(&shim);
                        std::thread::sleep(Duration::from_secs(1));
                        trim_rss_locked(&shim);
                    });
                }
                if resp.error_kind.as_deref() == Some("start") {
                    // The container never ran: exit.json is written; leave.
                    let _ = sock.flush();
                    drop(answering);
                    self.shutdown();
                }
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => self.attach(sock, input, stdin, stdout, stderr),
            Request::Resize { height, width } => {
                let mut st = lock(&self.st);
                let resp = match (&st.master, st.phase) {
                    (_, Phase::Exited) => err_resp("container is not running", Some("not_running")),
                    (Some(m), _) => match set_winsize(m, height, width) {
                        Ok(()) => ok_resp(),
                        Err(e) => err_resp(format!("resize: {e}"), None),
                    },
                    (None, _) if self.cfg.tty => {
                        st.pending_size = Some((height, width));
                        ok_resp()
                    }
                    (None, _) => err_resp("container has no tty", None),
                };
                drop(st);
                let _ = respond(&mut sock, &resp);
            }
            Request::Kill { signal, all } => {
                let phase = lock(&self.st).phase;
                let resp = if phase != Phase::Running {
                    err_resp("container is not running", Some("not_running"))
                } else {
                    match self.rt.kill(&self.cfg.id, signal, all) {
                        Ok(()) => ok_resp(),
                        Err(e) => {
                            if lock(&self.st).phase == Phase::Running {
                                err_resp(e.to_string(), None)
                            } else {
                                err_resp("container is not running", Some("not_running"))
                            }
                        }
                    }
                };
                let _ = respond(&mut sock, &resp);
            }
            Request::Wait => {
                let mut st = lock(&self.st);
                st.waiters += 1;
                while st.exit.is_none() {
                    st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                let exit = st.exit.clone();
                drop(st);
                let _ = respond(
                    &mut sock,
                    &Response {
                        ok: true,
                        exit,
                        ..Default::default()
                    },
                );
                let _ = sock.flush();
                lock(&self.st).waiters -= 1;
                self.cv.notify_all();
            }
            Request::Exec {
                id,
                process,
                stdin,
                detach,
            } => self.exec(sock, input, id, *process, stdin, detach),
            Request::ExecResize { id, height, width } => {
                let master = lock(&self.st).execs.get(&id).cloned();
                let resp = match master {
                    Some(m) => match set_winsize(&m, height, width) {
                        Ok(()) => ok_resp(),
                        Err(e) => err_resp(format!("resize: {e}"), None),
                    },
                    None => err_resp(format!("no tty exec {id} running"), None),
                };
                let _ = respond(&mut sock, &resp);
            }
        }
    }

    /// Prepares stdio for a process: a console socket (tty) or pipes.
    fn prepare_io(
        &self,
        tty: bool,
        with_stdin: bool,
        tag: &str,
    ) -> std::io::Result<(StdioSpec, Option<UnixListener>, ProcIo)> {
        if tty {
            // sun_path holds 108 bytes: keep the name short, fall back to /tmp.
            let mut path = self.state_dir.join(format!("c{tag}.sock"));
            if path.as_os_str().len() >= 100 {
                path =
                    std::env::temp_dir().join(format!("berth-c{}-{tag}.sock", std::process::id()));
            }
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path)?;
            return Ok((
                StdioSpec::Tty {
                    console_socket: path,
                },
                Some(l),
                ProcIo {
                    stdin: None,
                    outputs: Vec::new(),
                    master: None,
                },
            ));
        }
        let (stdin_r, stdin_w) = if with_stdin {
            let (r, w) = pipe()?;
            (r, Some(File::from(w)))
        } else {
            (dev_null()?, None)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        Ok((
            StdioSpec::Fds {
                stdin: stdin_r,
                stdout: out_w,
                stderr: err_w,
            },
            None,
            ProcIo {
                stdin: stdin_w,
                outputs: vec![
                    (FRAME_STDOUT, File::from(out_r)),
                    (FRAME_STDERR, File::from(err_r)),
                ],
                master: None,
            },
        ))
    }

    /// Runs the runtime with the prepared stdio; for a tty receives the master.
    fn launch(
        &self,
        spec: StdioSpec,
        console: Option<UnixListener>,
        io: &mut ProcIo,
        with_stdin: bool,
        f: impl FnOnce(StdioSpec) -> Result<u32, crate::RuntimeError>,
    ) -> Result<u32, String> {
        let console_path = match &spec {
            StdioSpec::Tty { console_socket } => Some(console_socket.clone()),
            _ => None,
        };
        let receiver = console.map(|l| {
            std::thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || recv_master(&l, Duration::from_secs(30)))
        });
        let res = {
            let _calls = lock(&self.rt_calls);
            f(spec)
        };
        if let Some(p) = &console_path {
            if res.is_err() {
                // Unblock the receiver: connect and close.
                let _ = UnixStream::connect(p);
            }
        }
        let master = match receiver {
            Some(Ok(h)) => Some(h.join()),
            Some(Err(e)) => return Err(format!("spawning console thread: {e}")),
            None => None,
        };
        if let Some(p) = &console_path {
            let _ = std::fs::remove_file(p);
        }
        let pid = res.map_err(|e| match e {
            crate::RuntimeError::Failed { message, .. } => message,
            other => other.to_string(),
        })?;
        if let Some(m) = master {
            let m = match m {
                Ok(Ok(m)) => m,
                Ok(Err(e)) => return Err(format!("receiving console: {e}")),
                Err(_) => return Err("console thread panicked".into()),
            };
            let m = Arc::new(m);
            let reader = m.try_clone().map_err(|e| format!("dup console: {e}"))?;
            io.outputs.push((FRAME_STDOUT, reader));
            if with_stdin {
                io.stdin = Some(m.try_clone().map_err(|e| format!("dup console: {e}"))?);
            }
            io.master = Some(m);
        }
        Ok(pid)
    }

    fn start(self: Arc<Self>) -> Response {
        {
            let mut st = lock(&self.st);
            if st.phase != Phase::Created {
                return err_resp("container already started", Some("already_started"));
            }
            st.phase = Phase::Starting;
        }
        let t0 = Instant::now();
        let result = self
            .prepare_io(self.cfg.tty, self.cfg.open_stdin, "i")
            .map_err(|e| format!("preparing stdio: {e}"))
            .and_then(|(spec, console, mut io)| {
                let pid = self.launch(spec, console, &mut io, self.cfg.open_stdin, |spec| {
                    self.rt.run(&self.cfg.id, &self.cfg.bundle, spec)
                })?;
                Ok((pid, io))
            });
        match result {
            Ok((pid, io)) => {
                let _ = std::fs::write(self.state_dir.join("init.pid"), pid.to_string());
                let mut st = lock(&self.st);
                st.init_pid = Some(pid);
                st.phase = Phase::Running;
                st.stdin = io.stdin.map(Arc::new);
                if let Some(m) = &io.master {
                    if let Some((h, w)) = st.pending_size.take() {
                        let _ = set_winsize(m, h, w);
                    }
                }
                st.master = io.master;
                drop(st);
                self.cv.notify_all();
                let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
                let n = io.outputs.len();
                for (kind, src) in io.outputs {
                    let shim = self.clone();
                    let done = done_tx.clone();
                    spawn(move || {
                        shim.pump_init(kind, src);
                        let _ = done.send(());
                    });
                }
                drop(done_tx);
                let shim = self.clone();
                let pidfd_res = self.reaper.watch(
                    pid,
                    Box::new(move |status| {
                        let shim2 = shim.clone();
                        spawn(move || shim2.finish(exit_code(status), n, done_rx));
                    }),
                );
                if let Err(e) = pidfd_res {
                    diag(&self.state_dir, &format!("watching init {pid}: {e}"));
                }
                tracing::debug!(elapsed = ?t0.elapsed(), "container started");

                Response {
                    ok: true,
                    pid: Some(pid),
                    ..Default::default()
                }
            }
            Err(msg) => {
                let code = start_failure_code(&msg);
                let _ = self.rt.delete(&self.cfg.id, true);
                let info = ExitInfo {
                    exit_code: code,
                    oom_killed: false,
                    finished_at: now_rfc3339(),
                    error: Some(msg.clone()),
                };
                self.record_exit(info);
                Response {
                    ok: false,
                    error: Some(msg),
                    error_kind: Some("start".into()),
                    pid: None,
                    exit: Some(ExitInfo {
                        exit_code: code,
                        oom_killed: false,
                        finished_at: String::new(),
                        error: None,
                    }),
                }
            }
        }
    }

    /// Copies one output of the container to the log and the attached clients.
    fn pump_init(&self, kind: u8, mut src: File) {
        let stream = if kind == FRAME_STDERR {
            logs::Stream::Stderr
        } else {
            logs::Stream::Stdout
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO on a pty master once the slave side is closed.
                Err(_) => break,
            };
            let data = &buf[..n];
            if let Err(e) = lock(&self.log).write(stream, data) {
                diag(&self.state_dir, &format!("log write: {e}"));
            }
            let mut st = lock(&self.st);
            st.clients.retain_mut(|c| {
                let want = if kind == FRAME_STDERR {
                    c.stderr
                } else {
                    c.stdout
                };
                !want || write_frame(&mut c.sock, kind, data).is_ok()
            });
        }
    }

    fn record_exit(&self, info: ExitInfo) {
        if let Ok(data) = serde_json::to_vec(&info) {
            if let Err(e) = write_atomic(&self.state_dir.join(EXIT_FILE), &data) {
                diag(&self.state_dir, &format!("writing exit.json: {e}"));
            }
        }
        let mut st = lock(&self.st);
        st.exit = Some(info.clone());
        st.phase = Phase::Exited;
        st.stdin = None;
        for mut c in st.clients.drain(..) {
            let _ = write_frame(&mut c.sock, FRAME_EXIT, &info.exit_code.to_be_bytes());
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
        }
        drop(st);
        self.cv.notify_all();
    }

    /// Init exited: drain output, record, clean up, exit the shim.
    fn finish(self: Arc<Self>, code: i32, pumps: usize, done: std::sync::mpsc::Receiver<()>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for _ in 0..pumps {
            let left = deadline.saturating_duration_since(Instant::now());
            if done.recv_timeout(left).is_err() {
                diag(&self.state_dir, "output not drained within 10s of exit");
                break;
            }
        }
        if let Err(e) = lock(&self.log).flush() {
            diag(&self.state_dir, &format!("log flush: {e}"));
        }
        let oom = self.oom_killed();
        // Report the exit first, then clean up: the runtime's delete (cgroup
        // removal) is off the `docker run` latency. The shim exits only after
        // the delete, and the daemon waits for the old shim to be gone before it
        // starts the same container again.
        self.record_exit(ExitInfo {
            exit_code: code,
            oom_killed: oom,
            finished_at: now_rfc3339(),
            error: None,
        });
        if let Err(e) = self.rt.delete(&self.cfg.id, false) {
            diag(&self.state_dir, &format!("delete: {e}"));
            if let Err(e) = self.rt.delete(&self.cfg.id, true) {
                diag(&self.state_dir, &format!("delete --force: {e}"));
                // The runtime could not clean up: its cgroups must not outlive
                // the container all the same.
                if let Some(cg) = cgroups_path(&self.cfg.bundle) {
                    let left = crate::cgroups::remove(&cg, Duration::from_secs(2));
                    if !left.is_empty() {
                        diag(&self.state_dir, &format!("cgroups left: {left:?}"));
                    }
                }
            }
        }
        self.shutdown();
    }

    /// Answers the waiters (and the requests being answered), removes the socket
    /// and exits the process.
    fn shutdown(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut st = lock(&self.st);
        while (st.waiters > 0 || st.active_execs > 0 || st.in_flight > 0)
            && Instant::now() < deadline
        {
            let left = deadline.saturating_duration_since(Instant::now());
            st = match self.cv.wait_timeout(st, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        drop(st);
        let _ = std::fs::remove_file(self.state_dir.join(SOCKET));
        std::process::exit(0);
    }

    /// Whether the kernel OOM-killed a process of the container (cgroup v1
    /// `memory.oom_control` or v2 `memory.events`, read before delete).
    fn oom_killed(&self) -> bool {
        let Some(cg) = cgroups_path(&self.cfg.bundle) else {
            return false;
        };
        let rel = cg.trim_start_matches('/');
        let candidates = [
            Path::new("/sys/fs/cgroup/memory")
                .join(rel)
                .join("memory.oom_control"),
            Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
        ];
        for p in candidates {
            if let Ok(text) = std::fs::read_to_string(&p) {
                for l in text.lines() {
                    if let Some(n) = l.strip_prefix("oom_kill ") {
                        if n.trim().parse::<u64>().unwrap_or(0) > 0 {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    fn attach(
        self: Arc<Self>,
        mut sock: UnixStream,
        mut input: BufReader<UnixStream>,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) {
        let writer = match sock.try_clone() {
            Ok(w) => w,
            Err(_) => return,
        };
        {
            let mut st = lock(&self.st);
            if respond(&mut sock, &ok_resp()).is_err() {
                return;
            }
            if let Some(exit) = &st.exit {
                let _ = write_frame(&mut sock, FRAME_EXIT, &exit.exit_code.to_be_bytes());
                return;
            }
            let _ = writer.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
            st.clients.push(Client {
                sock: writer,
                stdout,
                stderr,
            });
        }
        if !stdin || !self.cfg.open_stdin {
            return;
        }
        // Copy stdin once the container has one.
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let sink = {
                let mut st = lock(&self.st);
                while st.phase == Phase::Created || st.phase == Phase::Starting {
                    st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                st.stdin.clone()
            };
            let Some(sink) = sink else { return };
            if (&*sink).write_all(&buf[..n]).is_err() {
                return;
            }
        }
        // EOF from the client: with stdin_once, close the container's stdin.
        if self.cfg.stdin_once && !self.cfg.tty {
            let mut st = lock(&self.st);
            while st.phase == Phase::Created || st.phase == Phase::Starting {
                st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            st.stdin = None;
        }
    }

    fn exec(
        self: Arc<Self>,
        mut sock: UnixStream,
        mut input: BufReader<UnixStream>,
        exec_id: String,
        process: oci_spec::runtime::Process,
        stdin: bool,
        detach: bool,
    ) {
        if lock(&self.st).phase != Phase::Running {
            let _ = respond(
                &mut sock,
                &err_resp("container is not running", Some("not_running")),
            );
            return;
        }
        let tty = process.terminal().unwrap_or(false);
        let tag = EXEC_SEQ
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let prepared = self
            .prepare_io(tty, stdin && !detach, &format!("e{tag}"))
            .map_err(|e| format!("preparing stdio: {e}"));
        let result = prepared.and_then(|(spec, console, mut io)| {
            let pid = self.launch(spec, console, &mut io, stdin && !detach, |spec| {
                self.rt.exec(&self.cfg.id, &self.cfg.bundle, &process, spec)
            })?;
            Ok((pid, io))
        });
        let (pid, io) = match result {
            Ok(v) => v,
            Err(msg) => {
                let mut resp = err_resp(msg.clone(), Some("start"));
                resp.exit = Some(ExitInfo {
                    exit_code: start_failure_code(&msg),
                    oom_killed: false,
                    finished_at: now_rfc3339(),
                    error: Some(msg),
                });
                let _ = respond(&mut sock, &resp);
                return;
            }
        };
        {
            let mut st = lock(&self.st);
            st.active_execs += 1;
            if let Some(m) = &io.master {
                st.execs.insert(exec_id.clone(), m.clone());
            }
        }
        let (exit_tx, exit_rx) = std::sync::mpsc::channel::<i32>();
        if let Err(e) = self.reaper.watch(
            pid,
            Box::new(move |status| {
                let _ = exit_tx.send(exit_code(status));
            }),
        ) {
            diag(&self.state_dir, &format!("watching exec {pid}: {e}"));
        }
        let _ = respond(
            &mut sock,
            &Response {
                ok: true,
                pid: Some(pid),
                ..Default::default()
            },
        );
        let out = Arc::new(Mutex::new(sock));
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let n = io.outputs.len();
        for (kind, mut src) in io.outputs {
            let out = out.clone();
            let done = done_tx.clone();
            spawn(move || {
                let mut buf = vec![0u8; 32 * 1024];
                let mut ok = !detach;
                loop {
                    let n = match src.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    };
                    if ok {
                        ok = write_frame(&mut *lock(&out), kind, &buf[..n]).is_ok();
                    }
                }
                let _ = done.send(());
            });
        }
        drop(done_tx);
        if let Some(sink) = io.stdin {
            spawn(move || {
                // A plain read/write loop, not `std::io::copy`: on Linux that
                // splices the socket into the pipe, and a splice waiting for socket
                // data holds the pipe's lock, so the exec could not even exit (its
                // close of the pipe blocks in the kernel) until the client sent
                // more stdin or closed it.
                let mut sink = sink;
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    };
                    if sink.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                // EOF: the exec's stdin closes with `sink`.
            });
        }
        let code = exit_rx.recv().unwrap_or(255);
        // The output of the process itself is drained; a background child still
        // holding the pipes is not waited for long.
        let deadline = Instant::now() + Duration::from_secs(2);
        for _ in 0..n {
            let left = deadline.saturating_duration_since(Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        {
            let mut sock = lock(&out);
            let _ = write_frame(&mut *sock, FRAME_EXIT, &code.to_be_bytes());
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
        let mut st = lock(&self.st);
        st.execs.remove(&exec_id);
        st.active_execs -= 1;
        drop(st);
        self.cv.notify_all();
    }
}

/// `linux.cgroupsPath` of the bundle's config.json.
fn cgroups_path(bundle: &Path) -> Option<String> {
    let data = std::fs::read(bundle.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&data).ok()?;
    v["linux"]["cgroupsPath"].as_str().map(|s| s.to_string())
}

type ExitCallback = Box<dyn FnOnce(i32) + Send>;

/// Reaps the processes it is told about, with pidfds and poll(2); other children
/// (runtime invocations) are waited for by whoever spawned them.
struct Reaper {
    wake: File,
    pending: Arc<Mutex<Vec<(u32, OwnedFd, ExitCallback)>>>,
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

impl Reaper {
    fn start() -> std::io::Result<Self> {
        let (r, w) = pipe()?;
        let pending: Arc<Mutex<Vec<(u32, OwnedFd, ExitCallback)>>> = Arc::default();
        let p2 = pending.clone();
        let wake_r = File::from(r);
        std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let mut watched: Vec<(u32, OwnedFd, ExitCallback)> = Vec::new();
                loop {
                    watched.append(&mut lock(&p2));
                    let mut ready = Vec::new();
                    {
                        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                        let mut fds = vec![PollFd::new(wake_r.as_fd(), PollFlags::POLLIN)];
                        for (_, fd, _) in &watched {
                            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                        }
                        if poll(&mut fds, PollTimeout::NONE).is_err() {
                            continue;
                        }
                        if fds[0].any().unwrap_or(false) {
                            let mut b = [0u8; 64];
                            let _ = (&wake_r).read(&mut b);
                        }
                        for (i, f) in fds[1..].iter().enumerate() {
                            if f.any().unwrap_or(false) {
                                ready.push(i);
                            }
                        }
                    }
                    for i in ready.into_iter().rev() {
                        let (pid, _fd, cb) = watched.remove(i);
                        let mut status = 0;
                        // SAFETY: waitpid writes the status into a local int.
                        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
                        if r < 0 {
                            // Not our child (should not happen): report as killed.
                            status = libc::SIGKILL;
                        }
                        cb(status);
                    }
                }
            })?;
        Ok(Self {
            wake: File::from(w),
            pending,
        })
    }

    /// Calls `cb` with the wait status once `pid` (our child) exits.
    fn watch(&self, pid: u32, cb: ExitCallback) -> std::io::Result<()> {
        let fd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                // Already gone? Then it can only be our (reaped or zombie) child.
                let mut status = 0;
                // SAFETY: waitpid writes the status into a local int.
                let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
                if r == pid as libc::pid_t {
                    cb(status);
                    return Ok(());
                }
                return Err(e);
            }
        };
        lock(&self.pending).push((pid, fd, cb));
        (&self.wake).write_all(&[1])?;
        Ok(())
    }
}

//! End-to-end test harness for Berth.
//!
//! Every test starts its own daemon ([`TestDaemon::start`]) on fresh temporary roots, a
//! private unix socket and (for `berthd`) its own bridge and subnet, drives it with the
//! `berth` CLI, the real `docker` CLIs and raw HTTP, and tears everything down on drop —
//! processes, mounts, the bridge, the nftables table and the directories — even when the
//! test panicked (then the tail of the daemon log is printed).
//!
//! Environment:
//! - `BERTH_BIN_DIR`: directory with `berthd`, `berth-shim` and `berth` (default: the newer of
//!   `<workspace>/target/release` and `<workspace>/target/debug`).
//! - `BERTH_TEST_DOCKERD=1`: run the same tests against Debian's real `dockerd` (with
//!   `--bridge none --iptables=false --live-restore`); the `berth` helpers then use the
//!   docker 28.x CLI. Proves the tests encode Docker's real behaviour.
//! - `BERTH_TEST_KEEP=1`: keep the temporary directory (data root, logs) after the test.
//! - `BERTH_TEST_CMD_TIMEOUT`: seconds before a CLI command is killed (default 60).
//!
//! This crate depends on no engine crate on purpose: it sees only the binaries.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use serde_json::{json, Value};

/// The docker 28.x CLI (override with `BERTH_TEST_DOCKER_CLI`).
pub const DOCKER_CLI: &str = "/usr/local/bin/docker";

/// The docker CLI the tests use: `BERTH_TEST_DOCKER_CLI`, else [`DOCKER_CLI`] when
/// present, else `docker` on PATH.
pub fn docker_cli() -> String {
    if let Ok(p) = std::env::var("BERTH_TEST_DOCKER_CLI") {
        if !p.is_empty() {
            return p;
        }
    }
    if Path::new(DOCKER_CLI).exists() {
        DOCKER_CLI.to_string()
    } else {
        "docker".to_string()
    }
}
/// Debian's docker 20.10 CLI (API 1.41).
pub const DOCKER20_CLI: &str = "/usr/bin/docker";

/// Which engine a [`TestDaemon`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Our `berthd`.
    Berth,
    /// Debian's real `dockerd`, for validating the tests themselves.
    Dockerd,
}

/// The engine selected by the environment (`BERTH_TEST_DOCKERD=1` selects dockerd).
pub fn engine() -> Engine {
    match std::env::var("BERTH_TEST_DOCKERD") {
        Ok(v) if !v.is_empty() && v != "0" => Engine::Dockerd,
        _ => Engine::Berth,
    }
}

/// True when Debian's real `dockerd` is installed (scripts/test.sh installs it).
pub fn have_dockerd() -> bool {
    Path::new("/usr/sbin/dockerd").exists()
}

/// True when running as root (every test here needs root).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Start a daemon for this test, or print why not and `return` from the test.
#[macro_export]
macro_rules! daemon_or_skip {
    () => {
        match $crate::TestDaemon::start_or_skip() {
            Some(d) => d,
            None => return,
        }
    };
}

/// Skip (print + `return`) the rest of the test when `cond` holds.
#[macro_export]
macro_rules! skip_if {
    ($cond:expr, $($reason:tt)+) => {
        if $cond {
            eprintln!("SKIPPED: {}", format!($($reason)+));
            return;
        }
    };
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Directory holding `berthd`, `berth-shim` (berthd runs the one beside it) and `berth`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BIN_DIR") {
        // Test binaries run in the crate directory: a relative path means the workspace's.
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let mtime = |dir: &Path| {
        fs::metadata(dir.join("berthd"))
            .and_then(|m| m.modified())
            .ok()
    };
    let release = target.join("release");
    let debug = target.join("debug");
    match (mtime(&release), mtime(&debug)) {
        (Some(r), Some(d)) if d > r => debug,
        (Some(_), _) => release,
        (None, Some(_)) => debug,
        (None, None) => release,
    }
}

fn cmd_timeout() -> Duration {
    let secs = std::env::var("BERTH_TEST_CMD_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let ok = fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        let seed = Instant::now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 8) * 8)) as u8;
        }
    }
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(n);
    s
}

// ---------------------------------------------------------------------------------------
// Command output
// ---------------------------------------------------------------------------------------

/// The result of one CLI command.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code; 128+N when killed by signal N.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for messages.
    pub cmd: String,
}

impl Out {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panics (showing everything) unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed: {self}");
        self
    }

    /// Panics unless the command exited non-zero.
    #[track_caller]
    pub fn fail(self) -> Self {
        assert_ne!(self.code, 0, "command unexpectedly succeeded: {self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn code_is(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code: {self}");
        self
    }

    /// stdout without surrounding whitespace.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// stderr without surrounding whitespace.
    pub fn err(&self) -> &str {
        self.stderr.trim()
    }

    /// Non-empty stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Run `cmd` to completion with `stdin` (or /dev/null), killing it after `timeout`.
pub fn run_cmd(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Out {
    let desc = describe(&cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn `{desc}`: {e}"));
    let writer = match (stdin, child.stdin.take()) {
        (Some(input), Some(mut pipe)) => {
            let input = input.to_vec();
            Some(thread::spawn(move || {
                let _ = pipe.write_all(&input);
            }))
        }
        _ => None,
    };
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let ro = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let re = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = String::from_utf8_lossy(&ro.join().unwrap_or_default()).into_owned();
                let stderr = String::from_utf8_lossy(&re.join().unwrap_or_default()).into_owned();
                panic!(
                    "`{desc}` did not finish within {timeout:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
                );
            }
            Err(e) => panic!("waiting for `{desc}`: {e}"),
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    // A daemon-side process may inherit the pipes (it should not); don't hang on it.
    let stdout = String::from_utf8_lossy(&ro.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&re.join().unwrap_or_default()).into_owned();
    Out {
        code: exit_code(status),
        stdout,
        stderr,
        cmd: desc,
    }
}

/// Poll `f` every 50 ms until it returns true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// Raw HTTP over the unix socket
// ---------------------------------------------------------------------------------------

/// An HTTP response read from the daemon.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (Null when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse an HTTP/1.1 response (Content-Length, chunked, or read-to-close bodies).
pub fn parse_response(raw: &[u8], head_request: bool) -> Option<Resp> {
    let end = find(raw, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = BTreeMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let rest = &raw[end + 4..];
    let body = if head_request || status == 204 || status == 304 {
        Vec::new()
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(nl) = find(&rest[pos..], b"\r\n") {
            let size_str = String::from_utf8_lossy(&rest[pos..pos + nl]).into_owned();
            let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
            pos += nl + 2;
            if size == 0 || pos + size > rest.len() {
                out.extend_from_slice(&rest[pos.min(rest.len())..(pos + size).min(rest.len())]);
                break;
            }
            out.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        out
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Some(Resp {
        status,
        headers,
        body,
    })
}

/// Send raw bytes to a unix socket and read until the peer closes (or 20 s pass).
pub fn http_raw(sock: &Path, request: &[u8]) -> std::io::Result<Vec<u8>> {
    http_raw_timeout(sock, request, Duration::from_secs(20))
}

/// [`http_raw`] with a read timeout: whatever arrived before it is returned.
pub fn http_raw_timeout(
    sock: &Path,
    request: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

/// One HTTP request with `Connection: close`.
pub fn http_request(
    sock: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    content_type: &str,
) -> std::io::Result<Resp> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth-integration-tests\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    } else if method == "POST" || method == "PUT" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    let raw = http_raw(sock, &bytes)?;
    parse_response(&raw, method == "HEAD").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "unparseable response to {method} {path}: {:?}",
                String::from_utf8_lossy(&raw)
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Process and mount cleanup
// ---------------------------------------------------------------------------------------

fn proc_cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).replace('\0', " "))
}

fn proc_ppid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: fields start after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn all_pids() -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Pids of every process whose command line mentions `marker`, plus all their
/// descendants (container processes are children of their shim), minus ourselves.
pub fn processes_under(marker: &str, extra_roots: &[i32]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let pids = all_pids();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut roots: BTreeSet<i32> = extra_roots.iter().copied().collect();
    for &pid in &pids {
        if let Some(pp) = proc_ppid(pid) {
            children.entry(pp).or_default().push(pid);
        }
        if pid != me && proc_cmdline(pid).is_some_and(|c| c.contains(marker)) {
            roots.insert(pid);
        }
    }
    let mut out = BTreeSet::new();
    let mut stack: Vec<i32> = roots.into_iter().collect();
    while let Some(p) = stack.pop() {
        if p == me || p <= 1 || !out.insert(p) {
            continue;
        }
        if let Some(c) = children.get(&p) {
            stack.extend(c.iter().copied());
        }
    }
    out.into_iter().collect()
}

/// SIGKILL every process [`processes_under`] finds, and wait (≤ 3 s) for them to go.
pub fn kill_processes_under(marker: &str, extra_roots: &[i32]) {
    for _ in 0..3 {
        let pids = processes_under(marker, extra_roots);
        if pids.is_empty() {
            return;
        }
        for &p in &pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        wait_until(Duration::from_secs(1), || {
            pids.iter()
                .all(|p| !Path::new(&format!("/proc/{p}")).exists() || is_zombie(*p))
        });
    }
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s[s.rfind(')')? + 1..].to_string();
            after.split_whitespace().next().map(|st| st == "Z")
        })
        .unwrap_or(false)
}

fn unescape_mountinfo(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Mount points at or below `root`, deepest first.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(root))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

/// Lazily detach every mount at or below `root`.
pub fn unmount_all_under(root: &Path) {
    for _ in 0..4 {
        let mounts = mounts_under(root);
        if mounts.is_empty() {
            return;
        }
        for m in mounts {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Remove `dir` recursively without crossing into other filesystems (a leftover mount
/// must never lead us to delete what it exposes).
pub fn remove_dir_same_fs(dir: &Path) {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    let dev = meta.dev();
    fn walk(p: &Path, dev: u64) {
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        if m.is_dir() {
            if m.dev() != dev {
                return;
            }
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), dev);
                }
            }
            let _ = fs::remove_dir(p);
        } else {
            let _ = fs::remove_file(p);
        }
    }
    walk(dir, dev);
}

fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join(name)];
    if let Ok(rd) = fs::read_dir(root) {
        for e in rd.flatten() {
            candidates.push(e.path().join(name));
        }
    }
    candidates.into_iter().filter(|c| c.is_dir()).collect()
}

/// Every pid in the cgroups `/sys/fs/cgroup/[<controller>/]<name>/**` — container
/// processes whose shim is gone are still found there.
pub fn cgroup_pids_named(name: &str) -> Vec<i32> {
    fn walk(p: &Path, out: &mut BTreeSet<i32>) {
        if let Ok(procs) = fs::read_to_string(p.join("cgroup.procs")) {
            out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for c in cgroup_dirs_named(name) {
        walk(&c, &mut out);
    }
    out.into_iter().collect()
}

/// Remove `/sys/fs/cgroup/<controller>/<name>` (v1) and `/sys/fs/cgroup/<name>` (v2),
/// children first. Only empty cgroups can go: call after killing the processes.
pub fn remove_cgroups_named(name: &str) {
    fn rm_tree(p: &Path) {
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rm_tree(&e.path());
                }
            }
        }
        let _ = fs::remove_dir(p);
    }
    for c in cgroup_dirs_named(name) {
        rm_tree(&c);
    }
}

/// Remove ANSI colour sequences (`ESC [ ... letter`).
/// The id (`sha256:<hex>`) of an image, by `docker image inspect`.
pub fn image_id(d: &TestDaemon, reference: &str) -> String {
    let out = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", reference])
        .ok();
    let id = out.out().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    id
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// The fixture image
// ---------------------------------------------------------------------------------------

static BUSYBOX_TAR: OnceLock<PathBuf> = OnceLock::new();

/// The deterministic busybox rootfs tarball made by `scripts/make-busybox-image.sh`,
/// built once and cached under `target/berth-test-fixtures/` (or `BERTH_TEST_FIXTURES`).
pub fn busybox_tarball() -> PathBuf {
    BUSYBOX_TAR
        .get_or_init(|| {
            let dir = std::env::var_os("BERTH_TEST_FIXTURES")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/berth-test-fixtures"));
            fs::create_dir_all(&dir).expect("create fixtures dir");
            let tar = dir.join("busybox.tar");
            let fresh = fs::metadata(&tar).is_ok_and(|m| m.len() > 0);
            if !fresh {
                let mut cmd = Command::new("bash");
                cmd.arg(workspace_root().join("scripts/make-busybox-image.sh"))
                    .arg("--tar-only")
                    .arg("--output")
                    .arg(&tar);
                run_cmd(cmd, None, Duration::from_secs(600)).ok();
            }
            tar
        })
        .clone()
}

// ---------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------

/// A daemon (berthd or dockerd) of one test, torn down on drop.
pub struct TestDaemon {
    engine: Engine,
    /// The temporary top directory (`/tmp/bt-XXXXXX`).
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub log_path: PathBuf,
    docker_config: PathBuf,
    bridge: Option<String>,
    /// Gateway address and CIDR of the bridge (berthd only).
    bip: Option<(String, String)>,
    child: Option<Child>,
    bins: PathBuf,
    /// Name of this daemon's parent cgroup (berthd only), removed on drop.
    cgroup_parent: String,
}

impl TestDaemon {
    /// Start a daemon, or return None (after saying why) when not root.
    pub fn start_or_skip() -> Option<Self> {
        if !is_root() {
            eprintln!("SKIPPED: the end-to-end tests need root");
            return None;
        }
        Some(Self::start())
    }

    /// Start a daemon on fresh roots and wait until `/_ping` answers.
    pub fn start() -> Self {
        Self::start_engine(engine())
    }

    /// [`TestDaemon::start`] of a given engine (for tests that compare the two).
    pub fn start_engine(engine: Engine) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bt-")
            .tempdir_in("/tmp")
            .expect("create temp dir")
            .keep();
        let bins = bin_dir();
        let (bridge, bip) = match engine {
            Engine::Berth => {
                let name = format!("bt{}", random_hex(6));
                let octet = pick_free_octet();
                (
                    Some(name),
                    Some((format!("10.213.{octet}.1"), format!("10.213.{octet}.0/24"))),
                )
            }
            Engine::Dockerd => (None, None),
        };
        let docker_config = dir.join("docker-config");
        fs::create_dir_all(&docker_config).expect("docker config dir");
        fs::write(docker_config.join("config.json"), "{}\n").expect("docker config");
        let mut d = TestDaemon {
            engine,
            sock: dir.join("berth.sock"),
            data_root: dir.join("d"),
            exec_root: dir.join("e"),
            log_path: dir.join("daemon.log"),
            docker_config,
            bridge,
            bip,
            child: None,
            bins,
            cgroup_parent: format!("bt-{}", random_hex(8)),
            dir,
        };
        d.spawn_daemon();
        d
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// True for berthd (false when validating against real dockerd).
    pub fn is_berth(&self) -> bool {
        self.engine == Engine::Berth
    }

    /// The cgroup parent of this daemon's containers (berthd's `--cgroup-parent`).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The bridge name when the daemon has a bridge network (berthd only).
    pub fn bridge(&self) -> Option<&str> {
        self.bridge.as_deref()
    }

    /// True when containers get a bridge network by default.
    pub fn has_bridge(&self) -> bool {
        self.bridge.is_some()
    }

    /// (gateway, subnet CIDR) of the bridge.
    pub fn bip(&self) -> Option<(&str, &str)> {
        self.bip.as_ref().map(|(g, c)| (g.as_str(), c.as_str()))
    }

    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    fn daemon_command(&self) -> Command {
        fs::create_dir_all(&self.data_root).expect("data root");
        fs::create_dir_all(&self.exec_root).expect("exec root");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open daemon log");
        let log2 = log.try_clone().expect("clone log fd");
        let mut cmd = match self.engine {
            Engine::Berth => {
                let mut c = Command::new(self.bins.join("berthd"));
                c.arg("-H")
                    .arg(self.host())
                    .arg("--data-root")
                    .arg(&self.data_root)
                    .arg("--exec-root")
                    .arg(&self.exec_root)
                    .arg("--bridge")
                    .arg(self.bridge.as_deref().unwrap_or("none"));
                if let Some((gw, cidr)) = &self.bip {
                    let prefix = cidr.rsplit('/').next().unwrap_or("24");
                    c.arg("--bip").arg(format!("{gw}/{prefix}"));
                }
                // Isolate from the host's /etc/berth/daemon.json and from other daemons'
                // cgroups.
                let cfg = self.dir.join("daemon.json");
                if !cfg.exists() {
                    fs::write(&cfg, "{}\n").expect("write daemon.json");
                }
                c.arg("--config-file").arg(cfg);
                c.arg("--cgroup-parent")
                    .arg(format!("/{}", self.cgroup_parent));
                c.arg("--log-level").arg("debug");
                c.env("RUST_BACKTRACE", "1").env("NO_COLOR", "1");
                c
            }
            Engine::Dockerd => {
                let mut c = Command::new("dockerd");
                c.arg("--host")
                    .arg(self.host())
                    .arg("--data-root")
                    .arg(&self.data_root)
                    .arg("--exec-root")
                    .arg(&self.exec_root)
                    .arg("--pidfile")
                    .arg(self.dir.join("docker.pid"))
                    .arg("--bridge")
                    .arg("none")
                    .arg("--iptables=false")
                    .arg("--live-restore")
                    .arg("--log-level")
                    .arg("debug");
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST");
        cmd
    }

    fn spawn_daemon(&mut self) {
        let mut cmd = self.daemon_command();
        let desc = describe(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{desc}`: {e} (build the binaries first: cargo build --release --bins, or set BERTH_BIN_DIR)"));
        self.child = Some(child);
        let timeout = match self.engine {
            Engine::Berth => Duration::from_secs(10),
            Engine::Dockerd => Duration::from_secs(60),
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "daemon `{desc}` exited ({st}) before answering /_ping\n{}",
                        self.log_tail(50)
                    );
                }
            }
            if let Ok(r) = http_request(&self.sock, "GET", "/_ping", None, "") {
                if r.status == 200 {
                    return;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "daemon `{desc}` did not answer /_ping within {timeout:?}\n{}",
                    self.log_tail(50)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL the daemon (its shims and containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start the daemon again on the same roots, socket and bridge.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop_daemon(Duration::from_secs(15));
        } else if self.engine == Engine::Dockerd {
            // dockerd 20.10 started right after a SIGKILL times out reconnecting to the
            // containerd it had started; a short pause avoids that (dockerd only).
            thread::sleep(Duration::from_secs(3));
        }
        let _ = fs::remove_file(&self.sock);
        self.spawn_daemon();
    }

    /// SIGTERM the daemon and wait up to `grace`, then SIGKILL.
    pub fn stop_daemon(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let done = wait_until(grace, || matches!(c.try_wait(), Ok(Some(_))));
            if !done {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    /// The last `n` lines of the daemon log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let text = strip_ansi(&text);
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "--- last {} lines of {} ---\n{}\n--- end of daemon log ---",
            lines.len() - start,
            self.log_path.display(),
            lines[start..].join("\n")
        )
    }

    // ---- CLIs ----

    /// A `berth -H <sock> ARGS` command (the docker 28.x CLI when validating on dockerd).
    pub fn berth_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = match self.engine {
            Engine::Berth => {
                let mut c = Command::new(self.bins.join("berth"));
                c.env("BERTH_HOST", self.host());
                c
            }
            Engine::Dockerd => self.docker_env(&docker_cli()),
        };
        c.arg("-H").arg(self.host()).args(args);
        c
    }

    fn docker_env(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_API_VERSION")
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// A `docker -H <sock> ARGS` command with the 28.x CLI.
    pub fn docker_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = self.docker_env(&docker_cli());
        c.arg("-H").arg(self.host()).args(args);
        c
    }

    /// Run `berth ARGS`.
    pub fn berth<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        run_cmd(self.berth_cmd(args), None, cmd_timeout())
    }

    /// Run `berth ARGS` with `input` on stdin.
    pub fn berth_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Out {
        run_cmd(self.berth_cmd(args), Some(input), cmd_timeout())
    }

    /// Run the docker 28.x CLI.
    pub fn docker<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        run_cmd(self.docker_cmd(args), None, cmd_timeout())
    }

    /// Run the docker 28.x CLI with `input` on stdin.
    pub fn docker_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Out {
        run_cmd(self.docker_cmd(args), Some(input), cmd_timeout())
    }

    /// Run the docker 20.10 CLI; None (with a message) when it is not installed.
    pub fn docker20<S: AsRef<OsStr>>(&self, args: &[S]) -> Option<Out> {
        if !Path::new(DOCKER20_CLI).exists() {
            eprintln!("SKIPPED part: {DOCKER20_CLI} is not installed");
            return None;
        }
        let mut c = self.docker_env(DOCKER20_CLI);
        c.arg("-H").arg(self.host()).args(args);
        Some(run_cmd(c, None, cmd_timeout()))
    }

    /// Run a bash script with `$BERTH` (the berth CLI, or docker 28.x on dockerd) and
    /// `$DOCKER` (docker 28.x) set to commands already pointed at this daemon — for pipes
    /// such as `$DOCKER save busybox | $DOCKER load`.
    pub fn shell(&self, script: &str) -> Out {
        let berth = match self.engine {
            Engine::Berth => self.bins.join("berth").display().to_string(),
            Engine::Dockerd => docker_cli(),
        };
        let mut c = self.docker_env("bash");
        c.arg("-c")
            .arg(format!("set -o pipefail\n{script}"))
            .env("BERTH", format!("{berth} -H {}", self.host()))
            .env("DOCKER", format!("{} -H {}", docker_cli(), self.host()))
            .env("BERTH_HOST", self.host());
        run_cmd(c, None, cmd_timeout())
    }

    /// Spawn `berth ARGS` on a pseudo-terminal.
    pub fn berth_pty<S: AsRef<OsStr>>(&self, args: &[S]) -> Pty {
        Pty::spawn(self.berth_cmd(args))
    }

    /// Spawn the docker 20.10 CLI on a pseudo-terminal; None when it is not installed.
    pub fn docker20_pty<S: AsRef<OsStr>>(&self, args: &[S]) -> Option<Pty> {
        if !Path::new(DOCKER20_CLI).exists() {
            eprintln!("SKIPPED part: {DOCKER20_CLI} is not installed");
            return None;
        }
        let mut c = self.docker_env(DOCKER20_CLI);
        c.arg("-H").arg(self.host()).args(args);
        Some(Pty::spawn(c))
    }

    /// Spawn the docker 28.x CLI on a pseudo-terminal.
    pub fn docker_pty<S: AsRef<OsStr>>(&self, args: &[S]) -> Pty {
        Pty::spawn(self.docker_cmd(args))
    }

    // ---- images ----

    /// Import the busybox fixture as `busybox:latest` (with `CMD ["sh"]`).
    pub fn import_busybox(&self) {
        self.import_busybox_as("busybox:latest");
    }

    /// Import the busybox fixture under `reference`.
    pub fn import_busybox_as(&self, reference: &str) {
        let tar = busybox_tarball();
        self.berth(&[
            OsStr::new("import"),
            OsStr::new("--change"),
            OsStr::new("CMD [\"sh\"]"),
            tar.as_os_str(),
            OsStr::new(reference),
        ])
        .ok();
    }

    // ---- raw API ----

    /// One HTTP request; panics if the socket cannot be reached.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        http_request(
            &self.sock,
            method,
            path,
            body.map(str::as_bytes),
            "application/json",
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log_tail(30)))
    }

    /// `(status, body)` of one HTTP request.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let r = self.request(method, path, body);
        (r.status, r.text())
    }

    /// `(status, JSON body)` of one HTTP request.
    pub fn api_json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let r = self.request(method, path, body);
        (r.status, r.json())
    }

    /// Send raw bytes (for malformed requests) and return what the daemon answered
    /// within 3 s.
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        http_raw_timeout(&self.sock, bytes, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("raw request: {e}"))
    }

    /// `GET /containers/<id>/json`, asserting 200.
    pub fn inspect(&self, id: &str) -> Value {
        let (status, v) = self.api_json("GET", &format!("/containers/{id}/json"), None);
        assert_eq!(status, 200, "inspect {id}: {v}");
        v
    }

    /// True when `/_ping` answers 200.
    pub fn alive(&self) -> bool {
        http_request(&self.sock, "GET", "/_ping", None, "").is_ok_and(|r| r.status == 200)
    }

    /// Wait until a container's `State.Status` is `status`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) {
        let ok = wait_until(timeout, || {
            self.inspect(id)["State"]["Status"].as_str() == Some(status)
        });
        assert!(
            ok,
            "container {id} did not reach {status} within {timeout:?}: {}",
            self.inspect(id)["State"]
        );
    }

    /// Removes the user-defined networks (their bridges and rules live outside the
    /// test's directories) and, first, the containers attached to them.
    fn remove_networks(&mut self) {
        if self.engine != Engine::Berth
            || !matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
        {
            return;
        }
        let get = |path: &str| {
            http_request(&self.sock, "GET", path, None, "")
                .ok()
                .filter(|r| r.status == 200)
                .map(|r| r.json())
        };
        let Some(nets) = get("/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D") else {
            return;
        };
        let nets: Vec<String> = nets
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["Id"].as_str().map(str::to_owned))
            .collect();
        if nets.is_empty() {
            return;
        }
        for c in get("/containers/json?all=1")
            .as_ref()
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(id) = c["Id"].as_str() {
                let _ = http_request(
                    &self.sock,
                    "DELETE",
                    &format!("/containers/{id}?force=1"),
                    None,
                    "",
                );
            }
        }
        for id in nets {
            let _ = http_request(&self.sock, "DELETE", &format!("/networks/{id}"), None, "");
        }
    }

    fn teardown(&mut self) {
        self.remove_networks();
        // "/tmp/bt-XXXXXX/": the slash keeps one test's marker from matching another's.
        let marker = format!("{}/", self.dir.display());
        let daemon_pid = self.pid();
        self.stop_daemon(Duration::from_secs(3));
        let mut roots: Vec<i32> = daemon_pid.into_iter().collect();
        if self.engine == Engine::Berth {
            roots.extend(cgroup_pids_named(&self.cgroup_parent));
        }
        kill_processes_under(&marker, &roots);
        if self.engine == Engine::Berth {
            let left = cgroup_pids_named(&self.cgroup_parent);
            for &p in &left {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            wait_until(Duration::from_secs(2), || {
                cgroup_pids_named(&self.cgroup_parent).is_empty()
            });
        }
        unmount_all_under(&self.dir);
        if self.engine == Engine::Berth {
            remove_cgroups_named(&self.cgroup_parent);
        }
        if let Some(br) = &self.bridge {
            quiet("ip", &["link", "del", br]);
            quiet("nft", &["delete", "table", "ip", &format!("berth-{br}")]);
            quiet("nft", &["delete", "table", "inet", &format!("berth-{br}")]);
        }
        if std::env::var_os("BERTH_TEST_KEEP").is_some() {
            eprintln!("BERTH_TEST_KEEP: kept {}", self.dir.display());
        } else {
            remove_dir_same_fs(&self.dir);
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        // A daemon that died on its own during a passing test is a failure too.
        let died = match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => Some(status),
            _ => None,
        };
        let tail = (panicking || died.is_some()).then(|| self.log_tail(50));
        if panicking {
            eprintln!("{}", tail.clone().unwrap_or_default());
        }
        self.teardown();
        if let (false, Some(status)) = (panicking, died) {
            panic!(
                "the daemon exited by itself during the test ({status})\n{}",
                tail.unwrap_or_default()
            );
        }
    }
}

/// A third octet for 10.213.X.0/24 not used by any address or route on the host.
fn pick_free_octet() -> u8 {
    let used = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for _ in 0..64 {
        let hex = random_hex(2);
        let o = u8::from_str_radix(&hex, 16).unwrap_or(7);
        if o == 0 || o == 255 {
            continue;
        }
        if !used.contains(&format!("10.213.{o}.")) {
            return o;
        }
    }
    (std::process::id() % 250 + 2) as u8
}

// ---------------------------------------------------------------------------------------
// Pseudo-terminal sessions
// ---------------------------------------------------------------------------------------

/// A CLI running on a pseudo-terminal (for `run -it`, `exec -it`, `attach`).
pub struct Pty {
    session: expectrl::Session,
    /// Everything read so far.
    pub transcript: String,
    desc: String,
}

impl Pty {
    /// Spawn `cmd` with its stdio on a new pty.
    pub fn spawn(cmd: Command) -> Self {
        let desc = describe(&cmd);
        let mut session = expectrl::Session::spawn(cmd)
            .unwrap_or_else(|e| panic!("spawn `{desc}` on a pty: {e}"));
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        Pty {
            session,
            transcript: String::new(),
            desc,
        }
    }

    /// Wait (≤ 30 s) for `needle`; returns the text before it. Panics with the transcript.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) -> String {
        match self.session.expect(needle) {
            Ok(caps) => {
                let before = String::from_utf8_lossy(caps.before()).into_owned();
                self.transcript.push_str(&before);
                self.transcript.push_str(needle);
                before
            }
            Err(e) => {
                let mut rest = [0u8; 8192];
                if let Ok(n) = self.session.try_read(&mut rest) {
                    self.transcript
                        .push_str(&String::from_utf8_lossy(&rest[..n]));
                }
                panic!(
                    "`{}`: waiting for {needle:?}: {e}\n--- transcript ---\n{}",
                    self.desc, self.transcript
                )
            }
        }
    }

    /// Write raw bytes (e.g. `b"\x10\x11"` for ctrl-p ctrl-q).
    pub fn send(&mut self, bytes: &[u8]) {
        self.session.send(bytes).expect("write to pty");
    }

    /// Change the terminal size (the CLI gets SIGWINCH and should resize the container's tty).
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .expect("set pty window size");
    }

    /// Write a line.
    pub fn send_line(&mut self, line: &str) {
        self.session.send_line(line).expect("write to pty");
    }

    /// Wait for the process to exit (reading its output meanwhile) and return its exit code.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            // Drain output so the child never blocks on a full pty.
            while let Ok(n) = self.session.try_read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.transcript
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            match self.session.get_process().status() {
                Ok(expectrl::WaitStatus::Exited(_, code)) => return code,
                Ok(expectrl::WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                Ok(_) => {}
                Err(e) => panic!("`{}`: wait: {e}", self.desc),
            }
            if Instant::now() >= deadline {
                let _ = self
                    .session
                    .get_process_mut()
                    .kill(expectrl::Signal::SIGKILL);
                panic!(
                    "`{}` did not exit within {timeout:?}\n--- transcript ---\n{}",
                    self.desc, self.transcript
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if self.session.is_alive().unwrap_or(false) {
            let _ = self
                .session
                .get_process_mut()
                .kill(expectrl::Signal::SIGKILL);
            let _ = self.session.get_process().wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- pty transcript of `{}` ---\n{}",
                self.desc, self.transcript
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_cmd_captures_both_streams_and_code() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo a; echo b >&2; exit 3"]);
        let out = run_cmd(c, None, Duration::from_secs(10));
        assert_eq!(out.code, 3);
        assert_eq!(out.stdout, "a\n");
        assert_eq!(out.stderr, "b\n");
        let mut c = Command::new("cat");
        c.arg("-");
        let out = run_cmd(c, Some(b"xyz"), Duration::from_secs(10));
        assert_eq!(out.stdout, "xyz");
    }

    #[test]
    fn parses_chunked_and_plain_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.51\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "abcde");
        assert_eq!(r.header("API-Version"), Some("1.51"));
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
        let r = parse_response(raw, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (404, "{}"));
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("\u{1b}[2mtime\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "time  INFO x"
        );
    }

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
    }
}

// ---------------------------------------------------------------------------------------
// Registries
// ---------------------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Which registry server a [`TestRegistry`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// `berth registry serve`.
    Berth,
    /// Debian's reference registry (`/usr/bin/docker-registry`, distribution 2.8).
    Reference,
}

/// Path of Debian's reference registry binary.
pub const REFERENCE_REGISTRY: &str = "/usr/bin/docker-registry";

/// A registry on 127.0.0.1 with its own storage, killed and removed on drop.
pub struct TestRegistry {
    pub kind: RegistryKind,
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl TestRegistry {
    /// `berth registry serve` on a free loopback port; `extra` adds flags
    /// (`--htpasswd FILE`, ...).
    pub fn berth(extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("br-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let port = free_port();
        let mut c = Command::new(bin_dir().join("berth"));
        c.args(["registry", "serve", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--root")
            .arg(dir.join("storage"))
            .args(extra);
        Self::spawn(RegistryKind::Berth, c, port, dir)
    }

    /// Debian's reference registry, or None (after saying so) when not installed.
    /// `htpasswd`: path of a bcrypt htpasswd file to require.
    pub fn reference(htpasswd: Option<&Path>) -> Option<Self> {
        if !Path::new(REFERENCE_REGISTRY).exists() {
            eprintln!("SKIPPED part: {REFERENCE_REGISTRY} is not installed (apt-get install docker-registry)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("br-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let port = free_port();
        let auth = match htpasswd {
            Some(p) => format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                p.display()
            ),
            None => String::new(),
        };
        let cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.join("storage").display()
        );
        let cfg_path = dir.join("config.yml");
        fs::write(&cfg_path, cfg).expect("write registry config");
        let mut c = Command::new(REFERENCE_REGISTRY);
        c.arg("serve").arg(&cfg_path);
        Some(Self::spawn(RegistryKind::Reference, c, port, dir))
    }

    fn spawn(kind: RegistryKind, mut c: Command, port: u16, dir: PathBuf) -> Self {
        let log = fs::File::create(dir.join("registry.log")).expect("registry log");
        let log2 = log.try_clone().expect("clone log fd");
        c.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let desc = describe(&c);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{desc}`: {e}"));
        let mut r = TestRegistry {
            kind,
            port,
            dir,
            child: Some(child),
        };
        let up = wait_until(Duration::from_secs(15), || {
            if let Some(ch) = r.child.as_mut() {
                if let Ok(Some(st)) = ch.try_wait() {
                    panic!("registry `{desc}` exited ({st})\n{}", r.log());
                }
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "registry `{desc}` did not listen on {port}\n{}",
            r.log()
        );
        r
    }

    /// "127.0.0.1:<port>"
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// Stops the registry (e.g. to test a registry that went away).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// One plain HTTP/1.1 request to the registry.
    pub fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host(),
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("write request");
        s.write_all(body).expect("write body");
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        parse_response(&raw, method == "HEAD").expect("parse registry response")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("BERTH_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A bcrypt htpasswd file for `user:password`, made with `htpasswd -Bbn` (apache2-utils)
/// or Python's `bcrypt`/`crypt`; None (after saying so) when neither is available.
pub fn htpasswd_file(dir: &Path, user: &str, password: &str) -> Option<PathBuf> {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output();
    let line = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            eprintln!("SKIPPED part: htpasswd (apache2-utils) is not installed");
            return None;
        }
    };
    let p = dir.join("htpasswd");
    fs::write(&p, format!("{line}\n")).expect("write htpasswd");
    Some(p)
}

//! The scripted daemon the CLI's integration tests run the `berth` binary
//! against: a unix socket answering canned responses per route and
//! recording every request.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

/// A canned response: status, content type, body.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

pub fn json(status: u16, body: &str) -> Canned {
    Canned {
        status,
        body: body.as_bytes().to_vec(),
        content_type: "application/json",
    }
}

/// A recorded request: method, path with query, body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: String,
    /// The X-Registry-Auth header, if sent.
    pub registry_auth: Option<String>,
}

pub struct FakeDaemon {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeDaemon {
    /// Routes map "METHOD /path" (path without query and without the
    /// version prefix) to a response.
    pub fn start(api_version: &'static str, routes: HashMap<String, Canned>) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let routes = routes.clone();
                let seen = seen2.clone();
                thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    let mut w = conn;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or("").to_string();
                        let target = parts.next().unwrap_or("").to_string();
                        let mut len = 0usize;
                        let mut registry_auth = None;
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            if h == "\r\n" {
                                break;
                            }
                            let lower = h.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            if lower.starts_with("x-registry-auth:") {
                                registry_auth = Some(h[16..].trim().to_string());
                            }
                        }
                        let mut body = vec![0u8; len];
                        r.read_exact(&mut body).unwrap();
                        seen.lock().unwrap().push(Seen {
                            method: method.clone(),
                            target: target.clone(),
                            body: String::from_utf8_lossy(&body).to_string(),
                            registry_auth,
                        });
                        let path = target.split('?').next().unwrap_or("");
                        let path = match path.strip_prefix("/v") {
                            Some(rest) => match rest.find('/') {
                                Some(i) => &rest[i..],
                                None => path,
                            },
                            None => path,
                        };
                        let resp = if path == "/_ping" {
                            Canned {
                                status: 200,
                                body: b"OK".to_vec(),
                                content_type: "text/plain",
                            }
                        } else {
                            routes
                                .get(&format!("{method} {path}"))
                                .cloned()
                                .unwrap_or_else(|| json(404, r#"{"message":"page not found"}"#))
                        };
                        let head = format!(
                            "HTTP/1.1 {} X\r\nApi-Version: {api_version}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                            resp.status,
                            resp.content_type,
                            resp.body.len()
                        );
                        // A HEAD answer has no body (docker's client pings with HEAD).
                        let body: &[u8] = if method == "HEAD" { &[] } else { &resp.body };
                        if w.write_all(head.as_bytes()).is_err() || w.write_all(body).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeDaemon {
            _dir: dir,
            sock,
            seen,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_in(args, None)
    }

    /// The docker config directory the CLI uses in these tests.
    pub fn config_dir(&self) -> PathBuf {
        self._dir.path().join("docker-config")
    }

    /// Runs berth with `stdin` piped in (or /dev/null).
    pub fn berth_in(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = berth_command(&self.host(), args);
        // Never read the user's real credentials.
        cmd.env("DOCKER_CONFIG", self.config_dir());
        run(cmd, stdin)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// A daemon answering "METHOD /path" routes with (status, JSON body).
pub fn daemon(routes: &[(&str, u16, &str)]) -> FakeDaemon {
    let routes: HashMap<String, _> = routes
        .iter()
        .map(|(k, status, b)| (k.to_string(), json(*status, b)))
        .collect();
    FakeDaemon::start("1.51", routes)
}

/// The requests a daemon saw, other than pings.
pub fn calls(d: &FakeDaemon) -> Vec<Seen> {
    d.seen()
        .into_iter()
        .filter(|s| !s.target.ends_with("/_ping"))
        .collect()
}

/// `berth -H <host> <args>`, not yet started.
pub fn berth_command(host: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("-H").arg(host).args(args);
    cmd
}

/// Runs `cmd` with `stdin` piped in (or /dev/null), capturing its output.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// `berth create` with every networking flag of run/create set.
pub const CREATE_WITH_NETWORKING: &[&str] = &[
    "create",
    "--network",
    "front",
    "--network",
    "name=back,alias=b1,driver-opt=com.example=1",
    "--network-alias",
    "web",
    "--ip",
    "10.5.0.9",
    "--ip6",
    "fd00:5::9",
    "--link",
    "db:database",
    "--mac-address",
    "02:42:ac:11:00:09",
    "-p",
    "127.0.0.1:8080:80",
    "-p",
    "published=5353,target=53,protocol=udp",
    "-P",
    "--expose",
    "9000-9001",
    "--dns",
    "1.1.1.1",
    "--dns-search",
    "example.org.",
    "--dns-option",
    "ndots:2",
    "--add-host",
    "gw:host-gateway",
    "--add-host",
    "v6=[fd00::1]",
    "--hostname",
    "h1",
    "--domainname",
    "example.org",
    "busybox",
];

/// A one-shot stats sample: 40% CPU, 1MiB of 2MiB memory, 1.5kB received,
/// 3 pids.
pub const STATS_SAMPLE: &str = r#"{"id":"0123456789abcdef","name":"/web","read":"2024-01-01T00:00:00Z",
    "cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2},
    "precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},
    "memory_stats":{"usage":1048576,"limit":2097152,"stats":{"inactive_file":0}},
    "networks":{"eth0":{"rx_bytes":1500,"tx_bytes":0}},
    "blkio_stats":{"io_service_bytes_recursive":null},"pids_stats":{"current":3}}"#;

/// Canned answers of the prune and image removal routes several tests use.
pub const PRUNE_AND_RMI_ROUTES: &[(&str, u16, &str)] = &[
    (
        "POST /containers/prune",
        200,
        r#"{"ContainersDeleted":["c1"],"SpaceReclaimed":1000}"#,
    ),
    (
        "POST /images/prune",
        200,
        r#"{"ImagesDeleted":[{"Untagged":"a:1"},{"Deleted":"sha256:aa"}],"SpaceReclaimed":2000}"#,
    ),
    (
        "DELETE /images/busybox:latest",
        200,
        r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:bb"}]"#,
    ),
    (
        "DELETE /images/gone",
        404,
        r#"{"message":"No such image: gone:latest"}"#,
    ),
];

//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use distribution::{Client, ClientConfig};
use sha2::{Digest as _, Sha256};

/// Our registry (crates/registry) served in-process on 127.0.0.1:0.
pub struct TestRegistry {
    /// "127.0.0.1:port"
    pub addr: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn start_registry() -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        registry::serve_listener(listener, root, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestRegistry {
        addr,
        dir,
        stop: Some(tx),
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), fast enough for tens of MiB in debug builds.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(n);
    out
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

pub fn client() -> Client {
    Client::new(ClientConfig::default()).unwrap()
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub const REFERENCE_REGISTRY: &str = "/usr/bin/docker-registry";

/// A reference registry (distribution 2.8) child process, killed on drop.
pub struct RefRegistry {
    child: std::process::Child,
    /// "host:port"
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Drop for RefRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `/usr/bin/docker-registry` on `addr` with `http_extra` appended to the
/// `http:` section (indented two spaces) and `extra(dir)` as more top-level YAML.
/// None (with a note) when the binary is missing.
pub async fn start_reference_at(
    addr: &str,
    http_extra: &str,
    extra: impl FnOnce(&Path) -> String,
) -> Option<RefRegistry> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    if !Path::new(REFERENCE_REGISTRY).exists() {
        eprintln!(
            "note: {REFERENCE_REGISTRY} not installed; skipping this reference registry test"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = format!(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: test-secret\n{http_extra}",
        dir.path().join("data").display()
    );
    cfg.push_str(&extra(dir.path()));
    let cfg_path = write_file(dir.path(), "config.yml", cfg.as_bytes());
    let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
    let child = Command::new(REFERENCE_REGISTRY)
        .arg("serve")
        .arg(&cfg_path)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let reg = RefRegistry {
        child,
        addr: addr.to_string(),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(&reg.addr).await.is_ok() {
            return Some(reg);
        }
        assert!(
            Instant::now() < deadline,
            "reference registry did not start: {}",
            std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

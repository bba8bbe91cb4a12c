//! Interop with real clients: skopeo (htpasswd, token, TLS) and a real Docker engine
//! (Debian's dockerd 20.10 on its own socket and data root). Each test is skipped,
//! with a note, when its tool is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use registry::config::{AuthMode, ServerConfig, TlsFiles, TokenConfig};
use sha2::{Digest as _, Sha256};

struct Server {
    host: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), registry::ServeError>>,
}

impl Server {
    async fn start(dir: tempfile::TempDir, config: ServerConfig) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(registry::serve_listener_with(listener, config, async {
            let _ = rx.await;
        }));
        Server {
            host,
            _dir: dir,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.task).await;
    }
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn write_htpasswd(dir: &Path) -> PathBuf {
    let p = dir.join("htpasswd");
    let h = bcrypt::hash("alicepw", 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    std::fs::write(&p, format!("alice:{h}\n")).unwrap();
    p
}

fn auth_config(dir: &Path, mode: AuthMode) -> ServerConfig {
    let mut c = ServerConfig::new(dir.join("root"));
    c.auth.mode = mode;
    c.auth.htpasswd = Some(write_htpasswd(dir));
    c.auth.token = TokenConfig::default();
    c
}

/// Write a one-layer OCI image layout tagged `v1` into `dir`.
fn write_oci_layout(dir: &Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = digest(data);
        std::fs::write(blobs.join(&d["sha256:".len()..]), data).unwrap();
        (d, data.len())
    };
    let tar = vec![0u8; 1024];
    let (ld, ls) = put(&tar);
    let cfg = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [ld]}, "config": {}});
    let (cd, cs) = put(&serde_json::to_vec(&cfg).unwrap());
    let m = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]});
    let (md, ms) = put(&serde_json::to_vec(&m).unwrap());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

async fn skopeo(args: &[String]) -> Result<(), String> {
    let out = tokio::process::Command::new("skopeo")
        .args(args)
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn have(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    eprintln!("skipping: {tool} is not installed");
    false
}

/// Copy in (oci: → docker://) and out (docker:// → oci:) with credentials.
async fn skopeo_round_trip(host: &str, tls_args: (&str, &str), creds: &str) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    write_oci_layout(&src);
    let img = format!("docker://{host}/interop/img:v1");
    // without credentials, or with wrong ones, pushing fails
    let no_creds = skopeo(&[
        "copy".into(),
        tls_args.1.into(),
        format!("oci:{}:v1", src.display()),
        img.clone(),
    ])
    .await;
    assert!(no_creds.is_err(), "push without credentials succeeded");
    let wrong = skopeo(&[
        "copy".into(),
        tls_args.1.into(),
        "--dest-creds=alice:wrong".into(),
        format!("oci:{}:v1", src.display()),
        img.clone(),
    ])
    .await;
    assert!(wrong.is_err(), "push with a wrong password succeeded");
    skopeo(&[
        "copy".into(),
        tls_args.1.into(),
        format!("--dest-creds={creds}"),
        format!("oci:{}:v1", src.display()),
        img.clone(),
    ])
    .await
    .unwrap();
    let dst = work.path().join("dst");
    skopeo(&[
        "copy".into(),
        tls_args.0.into(),
        format!("--src-creds={creds}"),
        img.clone(),
        format!("oci:{}:v1", dst.display()),
    ])
    .await
    .unwrap();
    let index = std::fs::read_to_string(dst.join("index.json")).unwrap();
    assert!(index.contains("manifests"), "{index}");
    // registry to registry inside the same server
    skopeo(&[
        "copy".into(),
        tls_args.0.into(),
        tls_args.1.into(),
        format!("--src-creds={creds}"),
        format!("--dest-creds={creds}"),
        img,
        format!("docker://{host}/interop/copy:v2"),
    ])
    .await
    .unwrap();
}

#[tokio::test]
async fn skopeo_with_htpasswd() {
    if !have("/usr/bin/skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = auth_config(dir.path(), AuthMode::Htpasswd);
    let s = Server::start(dir, c).await;
    skopeo_round_trip(
        &s.host,
        ("--src-tls-verify=false", "--dest-tls-verify=false"),
        "alice:alicepw",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn skopeo_with_token_auth() {
    if !have("/usr/bin/skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = auth_config(dir.path(), AuthMode::Token);
    let s = Server::start(dir, c).await;
    skopeo_round_trip(
        &s.host,
        ("--src-tls-verify=false", "--dest-tls-verify=false"),
        "alice:alicepw",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn skopeo_over_tls_with_token_auth() {
    if !have("/usr/bin/skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certs = dir.path().join("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), ck.cert.pem()).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let mut c = auth_config(dir.path(), AuthMode::Token);
    c.tls = Some(TlsFiles { cert, key });
    let s = Server::start(dir, c).await;
    // the certificate names localhost, so use that name (still loopback)
    let port = s.host.rsplit(':').next().unwrap().to_string();
    let host = format!("localhost:{port}");
    let src = format!("--src-cert-dir={}", certs.display());
    let dst = format!("--dest-cert-dir={}", certs.display());
    skopeo_round_trip(&host, (&src, &dst), "alice:alicepw").await;
    s.stop().await;
}

// ---------------------------------------------------------------- Docker engine

/// A private dockerd (Debian's 20.10) in a temp dir; killed and cleaned on drop.
struct Dockerd {
    child: std::process::Child,
    dir: PathBuf,
    sock: String,
}

impl Dockerd {
    fn start(dir: &Path) -> Option<Dockerd> {
        let data = dir.join("data");
        let exec = dir.join("exec");
        std::fs::create_dir_all(&data).ok()?;
        std::fs::create_dir_all(&exec).ok()?;
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).ok()?;
        let child = std::process::Command::new("/usr/sbin/dockerd")
            .arg(format!("--host=unix://{}", sock.display()))
            .arg(format!("--data-root={}", data.display()))
            .arg(format!("--exec-root={}", exec.display()))
            .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--storage-driver=vfs",
                "--log-level=warn",
            ])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let d = Dockerd {
            child,
            dir: dir.to_path_buf(),
            sock: format!("unix://{}", sock.display()),
        };
        for _ in 0..200 {
            if d.docker(&["version"]).is_ok() {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "dockerd did not come up: {}",
            std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
        );
        None
    }

    fn docker_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String, String> {
        use std::io::Write as _;
        let mut cmd = std::process::Command::new("/usr/bin/docker");
        cmd.arg("-H")
            .arg(&self.sock)
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("client"))
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
            w.write_all(data).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "docker {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn docker(&self, args: &[&str]) -> Result<String, String> {
        self.docker_stdin(args, None)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // containerd children that dockerd started, then any mounts left below the dir
        if let Ok(pids) = std::fs::read_dir("/proc") {
            for p in pids.flatten() {
                let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                    continue;
                };
                let cmdline = String::from_utf8_lossy(&cmdline);
                if cmdline.contains(&*self.dir.to_string_lossy()) {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &p.file_name().to_string_lossy()])
                        .status();
                }
            }
        }
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let dir = self.dir.to_string_lossy().to_string();
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(1))
                .filter(|m| m.starts_with(&dir))
                .collect();
            points.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in points {
                let _ = std::process::Command::new("umount")
                    .args(["-l", m])
                    .status();
            }
        }
    }
}

/// A docker-save tarball of a one-layer image holding /bin/busybox as /bin/sh etc.
fn busybox_image_tar() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    layer.append_data(&mut dir, "bin/", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    layer
        .append_data(&mut h, "bin/busybox", &busybox[..])
        .unwrap();
    for applet in ["sh", "true", "echo", "ls"] {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        l.set_mode(0o777);
        layer
            .append_link(&mut l, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let layer = layer.into_inner().unwrap();
    let diff_id = digest(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "berth registry test"}],
    })
    .to_string();
    let config_name = format!("{}.json", &digest(config.as_bytes())["sha256:".len()..]);
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["berthtest/busybox:1"],
        "Layers": ["layer/layer.tar"],
    }])
    .to_string();
    let mut out = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        out.append_data(&mut h, name, data).unwrap();
    };
    add("layer/layer.tar", &layer);
    add(&config_name, config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    out.into_inner().unwrap()
}

/// load → tag → push → rmi → pull against the registry, with `docker login` first.
fn docker_round_trip(d: &Dockerd, host: &str) {
    // wrong password: login fails
    let bad = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", host],
        Some(b"wrong\n"),
    );
    assert!(bad.is_err(), "login with a wrong password succeeded");
    // pushing without logging in fails
    d.docker_stdin(&["load"], Some(&busybox_image_tar()))
        .unwrap();
    let image = format!("{host}/test/busybox:1");
    d.docker(&["tag", "berthtest/busybox:1", &image]).unwrap();
    assert!(
        d.docker(&["push", &image]).is_err(),
        "anonymous push worked"
    );
    d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", host],
        Some(b"alicepw\n"),
    )
    .unwrap();
    let pushed = d.docker(&["push", &image]).unwrap();
    eprintln!("docker push: {pushed}");
    d.docker(&["rmi", &image, "berthtest/busybox:1"]).unwrap();
    assert!(d.docker(&["image", "inspect", &image]).is_err());
    let pulled = d.docker(&["pull", &image]).unwrap();
    eprintln!("docker pull: {pulled}");
    let id = d
        .docker(&["image", "inspect", "--format", "{{.Id}}", &image])
        .unwrap();
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // the pulled image runs
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "echo",
            "pulled-ok",
        ])
        .unwrap();
    assert_eq!(out.trim(), "pulled-ok");
    // a second push is all "layer already exists" (HEAD blob checks)
    let again = d.docker(&["push", &image]).unwrap();
    assert!(again.contains("exists"), "{again}");
    d.docker(&["logout", host]).unwrap();
}

/// One private dockerd at a time: they are heavy for a small machine.
static DOCKER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn docker_test(mode: AuthMode) {
    if !have("/usr/sbin/dockerd") || !have("/usr/bin/docker") {
        return;
    }
    let _serial = DOCKER_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let c = auth_config(dir.path(), mode);
    let s = Server::start(tempfile::tempdir().unwrap(), c).await;
    let host = s.host.clone();
    let ddir = dir.path().to_path_buf();
    // dockerd and the docker CLI block; run them off the async runtime
    tokio::task::spawn_blocking(move || {
        let Some(d) = Dockerd::start(&ddir) else {
            panic!("could not start dockerd");
        };
        docker_round_trip(&d, &host);
    })
    .await
    .unwrap();
    s.stop().await;
}

#[tokio::test]
async fn docker_push_pull_with_htpasswd() {
    docker_test(AuthMode::Htpasswd).await;
}

#[tokio::test]
async fn docker_push_pull_with_token_auth() {
    docker_test(AuthMode::Token).await;
}

// ---------------------------------------------------------------- the real binary

/// `target/<profile>/berth` next to this test executable, if it was built.
fn berth_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("berth");
    p.exists().then_some(p)
}

#[tokio::test]
async fn berth_registry_serve_prints_url_and_stops_on_sigterm() {
    let Some(berth) = berth_binary() else {
        eprintln!("skipping: target/<profile>/berth is not built (cargo build -p berth)");
        return;
    };
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(&berth)
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(dir.path().join("root"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("berth registry listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = client
        .get(format!("{url}/v2/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), hyper::StatusCode::OK);
    drop(client);
    let pid = child.id().unwrap().to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("berth exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        lines.next_line().await.unwrap(),
        None,
        "only one line on stdout"
    );
}

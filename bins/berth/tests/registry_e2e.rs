//! End-to-end check of `berth` login/logout/push/pull and credential
//! helpers against a REAL dockerd (Debian's 20.10) and `berth registry
//! serve` with htpasswd authentication, both started on temporary roots.
//!
//! Ignored by default (needs root, /usr/sbin/dockerd, htpasswd, /bin/busybox):
//!   cargo test -p berth --test registry_e2e -- --ignored --nocapture
//! With `BERTH_E2E_BERTHD=/path/to/berthd` the same checks run against
//! Berth's daemon instead of dockerd.
//!
//! Only 127.0.0.1 registries are used: dockerd treats them as insecure
//! (plain HTTP) and never contacts Docker Hub.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kills a child process when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Unmounts everything dockerd left under the temp dir, deepest first.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let prefix = self.0.to_string_lossy().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
    }
}

struct Env {
    host: String,
    config: PathBuf,
    path: String,
}

impl Env {
    fn berth(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = common::berth_command(&self.host, args);
        cmd.env("DOCKER_CONFIG", &self.config)
            .env("PATH", &self.path);
        common::run(cmd, stdin)
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_exe(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
#[ignore = "needs root and a real dockerd; run with --ignored"]
fn login_push_pull_logout_against_real_dockerd() {
    let berthd = std::env::var("BERTH_E2E_BERTHD")
        .ok()
        .filter(|p| !p.is_empty());
    let daemon = berthd.clone().unwrap_or_else(|| "/usr/sbin/dockerd".into());
    for tool in [daemon.as_str(), "/usr/bin/htpasswd", "/bin/busybox"] {
        assert!(Path::new(tool).exists(), "{tool} is required");
    }
    // Short: berthd's shim sockets live at <exec-root>/shims/<64 hex>/shim.sock,
    // which must fit in a unix socket address (108 bytes).
    let tmp = tempfile::Builder::new()
        .prefix("bre")
        .tempdir_in("/tmp")
        .unwrap();
    let t = tmp.path();
    let _unmount = Unmount(t.to_path_buf());

    // The daemon on its own roots and socket.
    let sock = t.join("d.sock");
    let daemon_log = std::fs::File::create(t.join("daemon.log")).unwrap();
    let mut cmd = Command::new(&daemon);
    cmd.arg("--data-root")
        .arg(t.join("data"))
        .arg("--exec-root")
        .arg(t.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(["--bridge", "none", "--iptables=false"]);
    if berthd.is_none() {
        cmd.arg("--pidfile")
            .arg(t.join("dockerd.pid"))
            .arg("--ip6tables=false");
    }
    let _daemon = Proc(
        cmd.stdout(daemon_log.try_clone().unwrap())
            .stderr(daemon_log)
            .spawn()
            .unwrap(),
    );

    // The registry, with one htpasswd user.
    let ht = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .unwrap();
    std::fs::write(t.join("htpasswd"), &ht.stdout).unwrap();
    let port = free_port();
    let reg = format!("127.0.0.1:{port}");
    let mut registry = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "serve", "--addr", &reg, "--root"])
        .arg(t.join("reg"))
        .arg("--htpasswd")
        .arg(t.join("htpasswd"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg_out = registry.stdout.take().unwrap();
    let _registry = Proc(registry);
    let mut first = String::new();
    BufReader::new(reg_out).read_line(&mut first).unwrap();
    assert!(first.contains(&reg), "registry said {first:?}");

    let bin = t.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let env = Env {
        host: format!("unix://{}", sock.display()),
        config: t.join("cfg"),
        path: std::env::var("PATH").unwrap_or_default(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if env.berth(&["images"], None).status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "{daemon} did not start");
        std::thread::sleep(Duration::from_millis(200));
    }

    // An image: a busybox rootfs imported as REG/e2e/bb:1.
    let rootfs = t.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let tar = t.join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let img1 = format!("{reg}/e2e/bb:1");
    let img2 = format!("{reg}/e2e/bb:2");
    let o = env.berth(&["import", tar.to_str().unwrap(), &img1], None);
    assert!(o.status.success(), "{}", err(&o));

    // Push without credentials: the registry refuses.
    let o = env.berth(&["push", &img1], None);
    assert_eq!(o.status.code(), Some(1));
    // dockerd and berthd word the registry's refusal differently.
    assert!(
        err(&o).contains("no basic auth credentials")
            || err(&o).contains("authentication required"),
        "{}",
        err(&o)
    );

    // Wrong password: docker's daemon error, exit 1, nothing stored.
    let o = env.berth(
        &["login", "-u", "alice", "--password-stdin", &reg],
        Some(b"wrong\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("Error response from daemon: "),
        "{}",
        err(&o)
    );
    assert!(!env.config.join("config.json").exists());

    // Right password: stored in config.json (0600) with docker's warning.
    let o = env.berth(
        &[
            "login",
            "-u",
            "alice",
            "--password-stdin",
            &format!("http://{reg}/"),
        ],
        Some(b"s3cret\n"),
    );
    assert_eq!(out(&o), "Login Succeeded\n", "{}", err(&o));
    assert!(err(&o).contains("WARNING! Your credentials are stored unencrypted"));
    let cfg_path = env.config.join("config.json");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["auths"][&reg]["auth"], "YWxpY2U6czNjcmV0");
    let mode = std::fs::metadata(&cfg_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Login again without flags reuses the stored credentials.
    let o = env.berth(&["login", &reg], None);
    assert_eq!(out(&o), "Login Succeeded\n", "{}", err(&o));
    assert!(err(&o).starts_with("Authenticating with existing credentials... [Username: alice]"));

    // Push, then push -q of a second tag.
    let o = env.berth(&["push", &img1], None);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.starts_with(&format!("The push refers to repository [{reg}/e2e/bb]\n")),
        "{text}"
    );
    assert!(text.contains("1: digest: sha256:"), "{text}");
    let o = env.berth(&["tag", &img1, &img2], None);
    assert!(o.status.success());
    let o = env.berth(&["push", "-q", &img2], None);
    assert_eq!(out(&o), format!("{img2}\n"), "{}", err(&o));

    // Pull back: docker's final lines, then "up to date".
    let o = env.berth(&["rmi", &img1, &img2], None);
    assert!(o.status.success(), "{}", err(&o));
    let o = env.berth(&["pull", &img1], None);
    let text = out(&o);
    assert!(o.status.success(), "{}", err(&o));
    assert!(text.starts_with("1: Pulling from e2e/bb\n"), "{text}");
    assert!(
        text.ends_with(&format!(
            "Status: Downloaded newer image for {img1}\n{img1}\n"
        )),
        "{text}"
    );
    let o = env.berth(&["pull", &img1], None);
    assert!(
        out(&o).ends_with(&format!("Status: Image is up to date for {img1}\n{img1}\n")),
        "{}",
        out(&o)
    );
    let o = env.berth(&["pull", "-q", "-a", &format!("{reg}/e2e/bb")], None);
    assert_eq!(out(&o), format!("{reg}/e2e/bb\n"), "{}", err(&o));
    let o = env.berth(&["pull", &format!("{reg}/e2e/bb:nope")], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("manifest unknown"), "{}", err(&o));

    // Logout: pulls are refused again.
    let o = env.berth(&["logout", &reg], None);
    assert_eq!(out(&o), format!("Removing login credentials for {reg}\n"));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["auths"], serde_json::json!({}));
    assert!(env.berth(&["rmi", &img1], None).status.success());
    let o = env.berth(&["pull", &img1], None);
    assert_eq!(o.status.code(), Some(1));

    // A credential helper (credsStore) keeps the password out of the file.
    let db = t.join("helper-db");
    std::fs::create_dir(&db).unwrap();
    write_exe(
        &bin.join("docker-credential-e2e"),
        &format!(
            "#!/bin/sh\ndb={}\ncase \"$1\" in\n\
             get) read -r s || true; f=\"$db/$(echo \"$s\" | tr '/:' '__')\"\n\
             if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n\
             store) cat > \"$db/in\"; s=$(sed 's/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/' \"$db/in\"); cp \"$db/in\" \"$db/$(echo \"$s\" | tr '/:' '__')\" ;;\n\
             erase) read -r s || true; rm -f \"$db/$(echo \"$s\" | tr '/:' '__')\" ;;\n\
             list) echo '{{}}' ;;\nesac\n",
            db.display()
        ),
    );
    std::fs::write(
        &cfg_path,
        r#"{"credsStore":"e2e","auths":{},"keep":{"me":1}}"#,
    )
    .unwrap();
    let env = Env {
        path: format!("{}:{}", bin.display(), env.path),
        ..env
    };
    let o = env.berth(
        &["login", "-u", "alice", "--password-stdin", &reg],
        Some(b"s3cret"),
    );
    assert_eq!(out(&o), "Login Succeeded\n", "{}", err(&o));
    assert!(!err(&o).contains("unencrypted"), "{}", err(&o));
    let stored = std::fs::read_to_string(db.join("in")).unwrap();
    assert_eq!(
        stored,
        format!("{{\"ServerURL\":\"{reg}\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}}\n")
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["auths"][&reg], serde_json::json!({}));
    assert_eq!(cfg["keep"]["me"], 1);
    // run pulls the missing image with the helper's credentials.
    let o = env.berth(&["run", "--rm", &img1, "sh", "-c", "echo from-e2e"], None);
    assert_eq!(out(&o), "from-e2e\n", "{}", err(&o));
    assert!(err(&o).starts_with(&format!("Unable to find image '{img1}' locally\n")));
    let o = env.berth(&["logout", &reg], None);
    assert!(o.status.success());
    assert!(!db.join(reg.replace(':', "_")).exists());
}

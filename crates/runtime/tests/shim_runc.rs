//! The shim end to end on runc and (feature "builtin") the built-in runtime; root only.
//! Every test runs once per runtime: `runc::<name>` and `builtin::<name>`.

mod common;

use std::time::{Duration, Instant};

use common::{base_spec, collect, Ctr, Rt};
use futures::StreamExt;
use runtime::shim::{Frame, ShimClient, ShimError, StdStream};
use runtime::spec::{exec_process, ExecConfig};
use tokio::io::AsyncWriteExt;

async fn echo_reaches_attach_and_log(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(dir.path(), &["sh", "-c", "echo hello; echo oops >&2; id"]);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let session = c.client.attach(false, true, true).await.unwrap();
    let t0 = Instant::now();
    let pid = c.client.start().await.unwrap();
    eprintln!(
        "MEASURE start() -> init running ({rt:?}): {:?}",
        t0.elapsed()
    );
    assert!(pid > 0);
    let (out, err, code) = collect(session, 20).await;
    assert_eq!(
        out,
        "hello\nuid=0(root) gid=0(root) groups=0(root),10(wheel)\n"
    );
    assert_eq!(err, "oops\n");
    assert_eq!(code, Some(0));
    let exit = c.client.wait().await.unwrap();
    assert_eq!(exit.exit_code, 0);
    assert!(!exit.oom_killed);
    let log = c.log_text();
    assert!(
        log.contains(r#"{"log":"hello\n","stream":"stdout","time":""#),
        "{log}"
    );
    assert!(
        log.contains(r#"{"log":"oops\n","stream":"stderr""#),
        "{log}"
    );
    // The shim is gone; wait still answers from exit.json.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!c.client.is_alive().await);
    assert_eq!(c.client.wait().await.unwrap().exit_code, 0);
}

async fn exit_code_and_user(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(dir.path(), &["sh", "-c", "id; exit 3"]);
    spec.user = "nobody".into();
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let session = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    let (out, _, code) = collect(session, 20).await;
    assert_eq!(
        out,
        "uid=65534(nobody) gid=65534(nogroup) groups=50(staff),65534(nogroup)\n"
    );
    assert_eq!(code, Some(3));
    let e = c.client.wait().await.unwrap();
    assert_eq!(e.exit_code, 3);
    assert_eq!(
        ShimClient::read_exit(&c.cfg.state_dir).unwrap().exit_code,
        3
    );
}

async fn start_failure_reports_runtime_message(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(dir.path(), &["nope"]);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    match c.client.start().await {
        Err(ShimError::Start { message, exit_code }) => {
            eprintln!("start error ({rt:?}): {message}");
            assert!(
                message.contains("executable file not found in $PATH"),
                "{message}"
            );
            assert_eq!(exit_code, 127);
        }
        other => panic!("unexpected {other:?}"),
    }
    let e = c.client.wait().await.unwrap();
    assert_eq!(e.exit_code, 127);
    assert!(e.error.unwrap().contains("nope"));

    // Not executable: 126.
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(dir.path(), &["/etc/passwd"]);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    match c.client.start().await {
        Err(ShimError::Start { message, exit_code }) => {
            assert!(message.contains("permission denied"), "{message}");
            assert_eq!(exit_code, 126, "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(c.client.wait().await.unwrap().exit_code, 126);
}

async fn mounts_env_and_hostname(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("hostdata");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("x"), "from-host\n").unwrap();
    let mut spec = base_spec(
        dir.path(),
        &[
            "sh",
            "-c",
            "cat /data/x; grep -c ' /scratch tmpfs .*nosuid,nodev,noexec' /proc/mounts; \
             hostname; echo $FOO $HOSTNAME; touch /data/ro 2>/dev/null || echo ro-ok; \
             cat /proc/self/status | grep -c '^CapEff:[[:space:]]*00000000a80425fb'",
        ],
    );
    spec.env = vec!["FOO=bar".into()];
    spec.mounts = vec![
        runtime::spec::MountSpec {
            destination: "/data".into(),
            source: host.display().to_string(),
            kind: "bind".into(),
            options: vec!["ro".into()],
        },
        runtime::spec::MountSpec {
            destination: "/scratch".into(),
            source: String::new(),
            kind: "tmpfs".into(),
            options: vec!["size=1m".into()],
        },
    ];
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let s = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    let (out, err, code) = collect(s, 20).await;
    assert_eq!(
        out, "from-host\n1\ntesthost\nbar testhost\nro-ok\n1\n",
        "stderr: {err}"
    );
    assert_eq!(code, Some(0));
}

/// Deletes a named network namespace on drop.
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

async fn joins_a_prepared_netns(rt: Rt) {
    require_root!();
    let name = format!("berthtest-{}-{:?}", std::process::id(), rt);
    let ok = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: ip netns add failed");
        return;
    }
    let _guard = NetnsGuard(name.clone());
    let path = std::path::PathBuf::from(format!("/run/netns/{name}"));
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&path).unwrap().ino();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(dir.path(), &["readlink", "/proc/self/ns/net"]);
    spec.netns = runtime::spec::NetNs::Path(path);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let s = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    let (out, err, code) = collect(s, 20).await;
    assert_eq!(out, format!("net:[{ino}]\n"), "{err}");
    assert_eq!(code, Some(0));
}

async fn tty_and_resize(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(dir.path(), &["sh", "-c", "tty; sleep 0.5; stty size"]);
    spec.tty = true;
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let session = c.client.attach(false, true, true).await.unwrap();
    c.client.resize(24, 80).await.unwrap(); // before start: applied at start
    c.client.start().await.unwrap();
    c.client.resize(30, 100).await.unwrap();
    let (out, err, code) = collect(session, 20).await;
    assert_eq!(out, "/dev/pts/0\r\n30 100\r\n");
    assert_eq!(err, "");
    assert_eq!(code, Some(0));
    assert!(c.log_text().contains("30 100"));
}

async fn stdin_cat_closes_on_eof(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(dir.path(), &["cat"]);
    spec.open_stdin = true;
    let c = Ctr::create(rt, dir, spec, true, None).await;
    let mut session = c.client.attach(true, true, true).await.unwrap();
    let mut stdin = session.stdin.take().unwrap();
    // Written before start: delivered once the container runs.
    stdin.write_all(b"abc\n").await.unwrap();
    c.client.start().await.unwrap();
    stdin.write_all(b"def\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    let (out, _, code) = collect(session, 20).await;
    assert_eq!(out, "abc\ndef\n");
    assert_eq!(code, Some(0));
}

async fn kill_and_exec(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(dir.path(), &["sleep", "100"]);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    c.client.start().await.unwrap();
    let base: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(c.cfg.bundle.join("config.json")).unwrap()).unwrap();
    let rootfs = c.dir.path().join("rootfs");
    let p = exec_process(
        &base,
        &rootfs,
        &ExecConfig {
            args: vec![
                "sh".into(),
                "-c".into(),
                "echo hi; echo e >&2; exit 5".into(),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    let (pid, s) = c.client.exec("e1", p, false, false).await.unwrap();
    assert!(pid > 0);
    let (out, err, code) = collect(s, 20).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("hi\n", "e\n", Some(5)));
    // A process killed by SIGTERM: 128 + 15.
    let p = exec_process(
        &base,
        &rootfs,
        &ExecConfig {
            args: vec!["sh".into(), "-c".into(), "kill -TERM $$; sleep 5".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let (_, s) = c.client.exec("e2", p, false, false).await.unwrap();
    assert_eq!(collect(s, 20).await.2, Some(143));
    // Exec with stdin and a tty.
    let p = exec_process(
        &base,
        &rootfs,
        &ExecConfig {
            args: vec![
                "sh".into(),
                "-c".into(),
                "read x; echo got $x; stty size".into(),
            ],
            tty: true,
            ..Default::default()
        },
    )
    .unwrap();
    let (_, mut s) = c.client.exec("e3", p, true, false).await.unwrap();
    c.client.exec_resize("e3", 11, 22).await.unwrap();
    let mut w = s.stdin.take().unwrap();
    w.write_all(b"yes\n").await.unwrap();
    let (out, _, code) = collect(s, 20).await;
    assert!(out.contains("got yes\r\n11 22\r\n"), "{out:?}");
    assert_eq!(code, Some(0));
    // An exec that cannot start: the runtime's message and Docker's code.
    let p = exec_process(
        &base,
        &rootfs,
        &ExecConfig {
            args: vec!["nope".into()],
            ..Default::default()
        },
    )
    .unwrap();
    match c.client.exec("e5", p, false, false).await {
        Err(ShimError::Start { message, exit_code }) => {
            assert!(message.contains("executable file not found"), "{message}");
            assert_eq!(exit_code, 127);
        }
        other => panic!("unexpected {:?}", other.map(|(pid, _)| pid)),
    }
    // Detached exec: only the exit code.
    let p = exec_process(
        &base,
        &rootfs,
        &ExecConfig {
            args: vec!["sh".into(), "-c".into(), "echo x; exit 7".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let (_, s) = c.client.exec("e4", p, false, true).await.unwrap();
    assert_eq!(
        collect(s, 20).await,
        (String::new(), String::new(), Some(7))
    );

    c.client.kill(9).await.unwrap();
    let e = c.client.wait().await.unwrap();
    assert_eq!(e.exit_code, 137);
    assert!(matches!(
        c.client.kill(9).await,
        Err(ShimError::NotRunning) | Err(ShimError::Io { .. })
    ));
}

async fn init_forwards_sigterm(rt: Rt) {
    require_root!();
    let init = std::path::Path::new("/usr/bin/docker-init");
    if !init.exists() {
        eprintln!("SKIPPED: no /usr/bin/docker-init");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(
        dir.path(),
        &[
            "sh",
            "-c",
            "echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo; exec sleep 100",
        ],
    );
    spec.init = Some(init.to_path_buf());
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let mut s = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    let mut out = Vec::new();
    while !out.ends_with(b"\n") || out.iter().filter(|b| **b == b'\n').count() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), s.output.next())
            .await
            .unwrap()
        {
            Some(Ok(Frame::Data(_, d))) => out.extend_from_slice(&d),
            other => panic!("{other:?}"),
        }
    }
    let out = String::from_utf8(out).unwrap();
    let (pid, cmdline) = out.split_once('\n').unwrap();
    assert_ne!(pid, "1", "sh must not be pid 1 under --init");
    assert!(cmdline.starts_with("/sbin/docker-init -- sh -c"), "{out}");
    // tini forwards SIGTERM to sleep, which dies of it: 128 + 15.
    c.client.kill(15).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), c.client.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.exit_code, 143);
}

async fn oom_killed(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(
        dir.path(),
        &[
            "sh",
            "-c",
            "x=$(head -c 50000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ],
    );
    spec.resources.memory = Some(8 << 20);
    spec.resources.memory_swap = Some(8 << 20);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    c.client.start().await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(30), c.client.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(e.oom_killed, "{e:?}");
    assert_eq!(e.exit_code, 137);
}

async fn pids_limit(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = base_spec(
        dir.path(),
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 20 ]; do sleep 3 & i=$((i+1)); done; echo end",
        ],
    );
    spec.resources.pids_limit = Some(5);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let s = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    let (_, err, _) = collect(s, 30).await;
    assert!(err.contains("fork"), "{err}");
}

async fn reconnect_after_daemon_restart(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(
        dir.path(),
        &[
            "sh",
            "-c",
            "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.02; done",
        ],
    );
    let c = Ctr::create(rt, dir, spec, false, Some(2000)).await;
    {
        // The first "daemon": attaches, starts, goes away.
        let mut s = c.client.attach(false, true, false).await.unwrap();
        c.client.start().await.unwrap();
        match s.output.next().await {
            Some(Ok(Frame::Data(StdStream::Stdout, d))) => assert!(d.starts_with(b"line 0")),
            other => panic!("{other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A "restarted daemon": a new client on the same state dir.
    let client = ShimClient::new(&c.cfg.state_dir);
    assert!(client.is_alive().await);
    let init = ShimClient::read_init_pid(&c.cfg.state_dir).unwrap();
    assert!(std::path::Path::new(&format!("/proc/{init}")).exists());
    assert_eq!(
        ShimClient::read_shim_pid(&c.cfg.state_dir),
        Some(c.shim_pid)
    );
    let mut s = client.attach(false, true, false).await.unwrap();
    assert!(matches!(s.output.next().await, Some(Ok(Frame::Data(..)))));
    drop(s);
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move { client.wait().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.kill(9).await.unwrap();
    let e = waiter.await.unwrap().unwrap();
    assert_eq!(e.exit_code, 137);
    // No line lost in the log (across rotations too).
    let opts = logs::ReadOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let entries: Vec<_> = logs::read_logs(c.cfg.log_path.clone(), opts, None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    let first: usize = String::from_utf8_lossy(&entries[0].line)
        .trim()
        .strip_prefix("line ")
        .unwrap()
        .parse()
        .unwrap();
    for (k, e) in entries.iter().enumerate() {
        assert_eq!(
            String::from_utf8_lossy(&e.line),
            format!("line {}\n", first + k)
        );
    }
    assert!(entries.len() > 10);
}

async fn shim_rss(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let spec = base_spec(dir.path(), &["sh", "-c", "echo x; sleep 100"]);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let s = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.shim_pid)).unwrap();
    let rss = status.lines().find(|l| l.starts_with("VmRSS")).unwrap();
    for l in status
        .lines()
        .filter(|l| l.starts_with("Rss") || l.starts_with("Threads"))
    {
        eprintln!("MEASURE shim {l}");
    }
    eprintln!("MEASURE shim {rss}");
    if let Ok(r) = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", c.shim_pid)) {
        for l in r
            .lines()
            .filter(|l| l.starts_with("Pss") || l.starts_with("Private"))
        {
            eprintln!("MEASURE shim {l}");
        }
    }
    if std::env::var_os("BERTH_SMAPS").is_some() {
        let sm = std::fs::read_to_string(format!("/proc/{}/smaps", c.shim_pid)).unwrap();
        let mut head = String::new();
        for l in sm.lines() {
            if l.contains('-') && !l.contains(':')
                || l.split_whitespace()
                    .next()
                    .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
            {
                head = l.to_string();
            } else if let Some(r) = l.strip_prefix("Rss:") {
                let kb: u64 = r.trim().trim_end_matches("kB").trim().parse().unwrap();
                if kb >= 64 {
                    eprintln!("SMAPS {kb:>6} kB {head}");
                }
            }
        }
    }
    let kb: u64 = rss.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(kb < 16 * 1024, "{rss}");
    c.client.kill(9).await.unwrap();
    drop(s);
    c.client.wait().await.unwrap();
}

macro_rules! per_runtime {
    ($rt:expr) => {
        #[tokio::test]
        async fn echo_reaches_attach_and_log() {
            super::echo_reaches_attach_and_log($rt).await
        }
        #[tokio::test]
        async fn exit_code_and_user() {
            super::exit_code_and_user($rt).await
        }
        #[tokio::test]
        async fn start_failure_reports_runtime_message() {
            super::start_failure_reports_runtime_message($rt).await
        }
        #[tokio::test]
        async fn tty_and_resize() {
            super::tty_and_resize($rt).await
        }
        #[tokio::test]
        async fn stdin_cat_closes_on_eof() {
            super::stdin_cat_closes_on_eof($rt).await
        }
        #[tokio::test]
        async fn kill_and_exec() {
            super::kill_and_exec($rt).await
        }
        #[tokio::test]
        async fn init_forwards_sigterm() {
            super::init_forwards_sigterm($rt).await
        }
        #[tokio::test]
        async fn mounts_env_and_hostname() {
            super::mounts_env_and_hostname($rt).await
        }
        #[tokio::test]
        async fn joins_a_prepared_netns() {
            super::joins_a_prepared_netns($rt).await
        }
        #[tokio::test]
        async fn oom_killed() {
            super::oom_killed($rt).await
        }
        #[tokio::test]
        async fn pids_limit() {
            super::pids_limit($rt).await
        }
        #[tokio::test]
        async fn reconnect_after_daemon_restart() {
            super::reconnect_after_daemon_restart($rt).await
        }
        #[tokio::test]
        async fn shim_rss() {
            super::shim_rss($rt).await
        }
    };
}

mod runc {
    per_runtime!(super::Rt::Runc);
}

#[cfg(feature = "builtin")]
mod builtin {
    per_runtime!(super::Rt::Builtin);
}

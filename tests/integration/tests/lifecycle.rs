//! Detached containers: ps (formats, filters), logs, stop/start, rm, rename, inspect.

use std::time::{Duration, Instant};

use integration::*;

fn run_d(d: &TestDaemon, args: &[&str]) -> String {
    let mut full = vec!["run", "-d"];
    full.extend_from_slice(args);
    let out = d.docker(&full).ok();
    let id = out.out().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {out}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{out}");
    id
}

#[test]
fn ps_table_formats_and_filters() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let web = run_d(
        &d,
        &[
            "--name", "web", "--label", "app=web", "busybox", "sleep", "1000",
        ],
    );
    d.docker(&["run", "--name", "done", "busybox", "true"]).ok();

    let table = d.docker(&["ps"]).ok();
    let header = table.lines()[0].to_string();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "missing {col}: {table}");
    }
    assert_eq!(table.lines().len(), 2, "only the running one: {table}");
    assert!(table.stdout.contains("web"), "{table}");
    assert!(table.stdout.contains(&web[..12]), "{table}");
    assert!(table.stdout.contains("Up "), "{table}");
    assert!(table.stdout.contains("\"sleep 1000\""), "{table}");

    let f = d
        .docker(&["ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"])
        .ok();
    let fields: Vec<&str> = f.out().splitn(3, ' ').collect();
    assert_eq!(fields[0], &web[..12], "{f}");
    assert_eq!(fields[1], "web", "{f}");
    assert!(fields[2].starts_with("Up"), "{f}");

    assert_eq!(d.docker(&["ps", "-q"]).ok().out(), &web[..12]);
    assert_eq!(d.docker(&["ps", "-q", "--no-trunc"]).ok().out(), web);
    assert_eq!(d.docker(&["ps", "-a", "-q"]).ok().lines().len(), 2);

    let names = |args: &[&str]| {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let mut v: Vec<String> = d
            .docker(&full)
            .ok()
            .lines()
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&["-a", "--filter", "status=exited"]), vec!["done"]);
    assert_eq!(names(&["-a", "--filter", "status=running"]), vec!["web"]);
    assert_eq!(names(&["-a", "--filter", "name=web"]), vec!["web"]);
    assert_eq!(names(&["-a", "--filter", "label=app=web"]), vec!["web"]);
    assert_eq!(names(&["-a", "--filter", "label=app"]), vec!["web"]);
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        vec!["done", "web"]
    );
    assert_eq!(names(&["-a", "--filter", "exited=0"]), vec!["done"]);
    assert_eq!(
        names(&["-a", "--filter", &format!("id={}", &web[..10])]),
        vec!["web"]
    );
    let last = d.docker(&["ps", "-l", "--format", "{{.Names}}"]).ok();
    assert_eq!(last.out(), "done");
}

#[test]
fn logs_stdout_stderr_tail_timestamps() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "--name",
        "logs1",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; for i in 1 2 3 4 5; do echo n$i; done",
    ])
    .ok();
    let logs = d.docker(&["logs", "logs1"]).ok();
    assert_eq!(
        logs.lines(),
        vec!["out", "n1", "n2", "n3", "n4", "n5"],
        "{logs}"
    );
    assert_eq!(logs.err(), "err", "{logs}");
    let only_out = d.shell("$DOCKER logs logs1 2>/dev/null").ok();
    assert!(!only_out.stdout.contains("err"), "{only_out}");
    assert!(only_out.stdout.contains("out"), "{only_out}");

    // stdout and stderr are copied concurrently, so --tail is checked on stdout alone.
    d.docker(&["run", "--name", "tail1", "busybox", "seq", "1", "5"])
        .ok();
    let tail = d.docker(&["logs", "--tail", "2", "tail1"]).ok();
    assert_eq!(tail.lines(), vec!["4", "5"], "{tail}");

    let ts = d.docker(&["logs", "-t", "logs1"]).ok();
    let first = ts.lines()[0].to_string();
    let (stamp, text) = first.split_once(' ').expect("timestamp then text");
    assert_eq!(text, "out");
    assert!(
        stamp.len() >= 20
            && stamp.as_bytes()[4] == b'-'
            && stamp.contains('T')
            && stamp.ends_with('Z'),
        "RFC3339Nano timestamp expected: {ts}"
    );

    let berth_logs = d.berth(&["logs", "logs1"]).ok();
    assert!(berth_logs.stdout.contains("n5"), "{berth_logs}");
}

#[test]
fn logs_follow_streams_until_exit() {
    let d = daemon_or_skip!();
    d.import_busybox();
    run_d(
        &d,
        &[
            "--name",
            "follow",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo f$i; sleep 0.3; done",
        ],
    );
    let out = d.docker(&["logs", "-f", "follow"]).ok();
    assert_eq!(out.lines(), vec!["f1", "f2", "f3"], "{out}");
}

#[test]
fn stop_with_sigterm_handler_is_quick_and_143() {
    let d = daemon_or_skip!();
    d.import_busybox();
    run_d(
        &d,
        &[
            "--name",
            "term",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 143' TERM; while :; do sleep 0.1; done",
        ],
    );
    let t0 = Instant::now();
    d.docker(&["stop", "term"]).ok();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t0.elapsed()
    );
    let v = d.inspect("term");
    assert_eq!(v["State"]["Status"], "exited", "{}", v["State"]);
    assert_eq!(v["State"]["ExitCode"], 143, "{}", v["State"]);
}

#[test]
fn stop_escalates_to_sigkill_after_timeout() {
    let d = daemon_or_skip!();
    d.import_busybox();
    // sleep as PID 1 has no SIGTERM handler, so the kernel ignores SIGTERM.
    run_d(&d, &["--name", "kk", "busybox", "sleep", "1000"]);
    let t0 = Instant::now();
    d.docker(&["stop", "-t", "1", "kk"]).ok();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "stop -t 1 returned after {took:?}"
    );
    assert!(took < Duration::from_secs(8), "stop -t 1 took {took:?}");
    let v = d.inspect("kk");
    assert_eq!(v["State"]["ExitCode"], 137, "{}", v["State"]);
    assert_eq!(v["State"]["Running"], false);

    // ... and it starts again.
    d.docker(&["start", "kk"]).ok();
    let v = d.inspect("kk");
    assert_eq!(v["State"]["Running"], true, "{}", v["State"]);
    assert_eq!(v["State"]["Status"], "running");
    d.docker(&["kill", "kk"]).ok();
    d.wait_status("kk", "exited", Duration::from_secs(10));
    let w = d.docker(&["wait", "kk"]).ok();
    assert_eq!(w.out(), "137");
}

#[test]
fn start_attach_rm_force_rename() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "create",
        "--name",
        "sa",
        "busybox",
        "echo",
        "attached-output",
    ])
    .ok();
    assert_eq!(d.inspect("sa")["State"]["Status"], "created");
    let out = d.docker(&["start", "-a", "sa"]).ok();
    assert_eq!(out.out(), "attached-output");
    let out = d.berth(&["start", "-a", "sa"]).ok();
    assert_eq!(out.out(), "attached-output");

    let id = run_d(&d, &["--name", "rr", "busybox", "sleep", "1000"]);
    let out = d.docker(&["rm", "rr"]).fail();
    assert!(out.stderr.to_lowercase().contains("force"), "{out}");
    assert_eq!(d.inspect("rr")["State"]["Running"], true);

    d.docker(&["rename", "rr", "r2"]).ok();
    assert_eq!(d.inspect("r2")["Name"], "/r2");
    assert_eq!(d.inspect("r2")["Id"], id.as_str());
    let (status, _) = d.api("GET", "/containers/rr/json", None);
    assert_eq!(status, 404);

    let out = d.docker(&["rm", "-f", "r2"]).ok();
    assert_eq!(out.out(), "r2");
    let (status, _) = d.api("GET", &format!("/containers/{id}/json"), None);
    assert_eq!(status, 404);
    assert!(d.docker(&["ps", "-q"]).ok().out().is_empty());
}

#[test]
fn inspect_fields() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let id = run_d(
        &d,
        &[
            "--name", "insp", "-m", "64m", "-e", "A=1", "--label", "k=v", "busybox", "sleep",
            "1000",
        ],
    );
    let v = d.inspect("insp");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/insp");
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["State"]["Running"], true);
    assert!(
        v["State"]["Pid"].as_i64().unwrap_or(0) > 0,
        "{}",
        v["State"]
    );
    assert_eq!(v["Config"]["Cmd"], json!(["sleep", "1000"]));
    assert_eq!(v["Config"]["Image"], "busybox");
    assert_eq!(v["Config"]["Labels"]["k"], "v");
    assert!(
        v["Config"]["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "A=1")),
        "{}",
        v["Config"]["Env"]
    );
    assert_eq!(v["HostConfig"]["Memory"], 64 * 1024 * 1024);
    assert!(
        v["Image"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:")),
        "{}",
        v["Image"]
    );
    if d.has_bridge() {
        let ip = v["NetworkSettings"]["IPAddress"]
            .as_str()
            .unwrap_or_default();
        assert!(
            !ip.is_empty(),
            "IPAddress on the default bridge: {}",
            v["NetworkSettings"]
        );
    }
    let f = d
        .docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Hostname}}",
            "insp",
        ])
        .ok();
    assert_eq!(f.out(), format!("running {}", &id[..12]));

    d.docker(&["kill", "insp"]).ok();
    d.wait_status("insp", "exited", Duration::from_secs(10));
    let v = d.inspect("insp");
    assert_eq!(v["State"]["ExitCode"], 137);
    assert_eq!(v["State"]["Running"], false);
    assert!(v["State"]["FinishedAt"]
        .as_str()
        .is_some_and(|s| !s.starts_with("0001")));
}

#[test]
fn kill_signal_restart_wait_prune() {
    let d = daemon_or_skip!();
    d.import_busybox();
    run_d(
        &d,
        &[
            "--name",
            "sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done",
        ],
    );
    assert!(wait_until(Duration::from_secs(10), || d
        .docker(&["logs", "sig"])
        .stdout
        .contains("ready")));
    d.docker(&["kill", "-s", "USR1", "sig"]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || d
            .docker(&["logs", "sig"])
            .stdout
            .contains("got-usr1")),
        "{}",
        d.docker(&["logs", "sig"])
    );
    let started = d.inspect("sig")["State"]["StartedAt"].clone();
    let pid = d.inspect("sig")["State"]["Pid"].clone();
    d.docker(&["restart", "-t", "1", "sig"]).ok();
    let v = d.inspect("sig");
    assert_eq!(v["State"]["Running"], true, "{}", v["State"]);
    assert_ne!(
        v["State"]["StartedAt"], started,
        "restart starts a new process"
    );
    assert_ne!(v["State"]["Pid"], pid);

    d.docker(&["kill", "sig"]).ok();
    assert_eq!(d.docker(&["wait", "sig"]).ok().out(), "137");
    let out = d.docker(&["kill", "sig"]).fail();
    assert!(out.stderr.contains("is not running"), "{out}");

    d.docker(&["run", "--name", "done1", "busybox", "true"])
        .ok();
    run_d(&d, &["--name", "alive", "busybox", "sleep", "1000"]);
    let out = d.docker(&["container", "prune", "-f"]).ok();
    assert!(out.stdout.contains("Deleted Containers:"), "{out}");
    assert!(out.stdout.contains("Total reclaimed space"), "{out}");
    let left = d.docker(&["ps", "-a", "--format", "{{.Names}}"]).ok();
    assert_eq!(
        left.lines(),
        vec!["alive"],
        "prune keeps running containers: {left}"
    );
}

#[test]
fn top_lists_container_processes() {
    let d = daemon_or_skip!();
    d.import_busybox();
    run_d(&d, &["--name", "topc", "busybox", "sh", "-c", "sleep 1000"]);
    let top = d.docker(&["top", "topc"]);
    // `top` is outside the engine-core issue: skip loudly while berthd says so.
    skip_if!(
        top.code != 0 && top.stderr.contains("not implemented"),
        "docker top: {}",
        top.err()
    );
    let top = top.ok();
    let header = top.lines()[0].to_string();
    assert!(header.contains("PID") && header.contains("CMD"), "{top}");
    assert!(top.stdout.contains("sleep 1000"), "{top}");
}

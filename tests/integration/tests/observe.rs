//! Observing containers: `docker events` (live, `--since`/`--until` replay across a
//! daemon restart, a reader that never reads), `docker stats` against the cgroup
//! files, `pause`/`unpause` freezing a container, and healthchecks flipping
//! healthy → unhealthy → healthy, driven with the real docker CLI.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration::*;
use serde_json::Value;

/// `docker events ARGS` running in the background; its lines arrive on a channel.
struct Events {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Events {
    fn start(d: &TestDaemon, args: &[&str]) -> Self {
        let mut all = vec!["events"];
        all.extend_from_slice(args);
        let mut child = d
            .docker_cmd(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Give the CLI time to connect before the test acts.
        std::thread::sleep(Duration::from_millis(700));
        Self { child, lines }
    }

    /// JSON events until one satisfies `last` (or `timeout` passes).
    fn until(&self, timeout: Duration, last: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let done = last(&v);
            out.push(v);
            if done {
                break;
            }
        }
        out
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn actions(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| e["Action"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Index of the first event with this action, panicking with the list when none.
fn pos(evs: &[Value], action: &str) -> usize {
    evs.iter()
        .position(|e| e["Action"] == action)
        .unwrap_or_else(|| panic!("no {action} event in {:?}", actions(evs)))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn events_subscriber_sees_the_lifecycle_in_order() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ev = Events::start(
        &d,
        &["--format", "{{json .}}", "--filter", "container=evlife"],
    );
    d.docker(&[
        "run", "--name", "evlife", "-l", "tier=db", "busybox", "sh", "-c", "exit 3",
    ])
    .code_is(3);
    d.docker(&["rm", "evlife"]).ok();
    let evs = ev.until(Duration::from_secs(20), |e| e["Action"] == "destroy");
    let (create, start, die, destroy) = (
        pos(&evs, "create"),
        pos(&evs, "start"),
        pos(&evs, "die"),
        pos(&evs, "destroy"),
    );
    assert!(
        create < start && start < die && die < destroy,
        "{:?}",
        actions(&evs)
    );
    let die = &evs[die];
    assert_eq!(die["Type"], "container");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(die["Actor"]["Attributes"]["name"], "evlife");
    assert_eq!(die["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(die["Actor"]["Attributes"]["tier"], "db");
    assert_eq!(die["status"], "die");
    assert_eq!(die["from"], "busybox");
    assert_eq!(die["scope"], "local");
    assert_eq!(die["id"], die["Actor"]["ID"]);
    let t = die["time"].as_i64().unwrap();
    let tn = die["timeNano"].as_i64().unwrap();
    assert_eq!(t, tn / 1_000_000_000);
    // Only this container's events passed the filter.
    assert!(evs
        .iter()
        .all(|e| e["Actor"]["Attributes"]["name"] == "evlife"));
}

#[test]
fn events_for_kill_stop_rename_networks_and_images() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "berthd only (network names)");
    d.import_busybox();
    let ev = Events::start(&d, &["--format", "{{json .}}"]);
    d.docker(&["network", "create", "evnet"]).ok();
    d.docker(&["run", "-d", "--name", "evk", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["network", "connect", "evnet", "evk"]).ok();
    d.docker(&["network", "disconnect", "evnet", "evk"]).ok();
    d.docker(&["kill", "-s", "USR1", "evk"]).ok();
    d.docker(&["rename", "evk", "evk2"]).ok();
    d.docker(&["stop", "-t", "1", "evk2"]).ok();
    d.docker(&["tag", "busybox", "evimg:1"]).ok();
    d.docker(&["rmi", "evimg:1"]).ok();
    d.docker(&["rm", "evk2"]).ok();
    d.docker(&["network", "rm", "evnet"]).ok();
    let evs = ev.until(Duration::from_secs(30), |e| {
        e["Type"] == "network" && e["Action"] == "destroy"
    });
    let find = |typ: &str, action: &str| -> &Value {
        evs.iter()
            .find(|e| e["Type"] == typ && e["Action"] == action)
            .unwrap_or_else(|| panic!("no {typ} {action} in {:?}", actions(&evs)))
    };
    assert_eq!(
        find("network", "create")["Actor"]["Attributes"]["name"],
        "evnet"
    );
    let connect = find("network", "connect");
    assert_eq!(connect["Actor"]["Attributes"]["type"], "bridge");
    assert!(connect["Actor"]["Attributes"]["container"]
        .as_str()
        .is_some_and(|c| c.len() == 64));
    find("network", "disconnect");
    assert_eq!(
        find("container", "kill")["Actor"]["Attributes"]["signal"],
        "10"
    );
    assert_eq!(
        find("container", "rename")["Actor"]["Attributes"]["oldName"],
        "/evk"
    );
    find("container", "stop");
    assert_eq!(
        find("image", "tag")["Actor"]["Attributes"]["name"],
        "evimg:1"
    );
    find("image", "untag");
}

#[test]
fn events_since_until_replay_after_a_daemon_restart() {
    let mut d = daemon_or_skip!();
    d.import_busybox();
    let t0 = unix_now() - 1.0;
    d.docker(&["run", "--name", "evreplay", "busybox", "true"])
        .ok();
    d.docker(&["rm", "evreplay"]).ok();
    let t1 = unix_now() + 0.5;
    std::thread::sleep(Duration::from_millis(800));
    d.docker(&["create", "--name", "evlater", "busybox", "true"])
        .ok();
    d.restart();
    let (since, until) = (format!("{t0:.3}"), format!("{t1:.3}"));
    let out = d
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .ok();
    let lines = out.lines();
    let ours: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.ends_with(" evreplay"))
        .collect();
    let order = [
        "create evreplay",
        "start evreplay",
        "die evreplay",
        "destroy evreplay",
    ];
    let idx: Vec<usize> = order
        .iter()
        .map(|want| {
            ours.iter()
                .position(|l| l == want)
                .unwrap_or_else(|| panic!("{want} not replayed: {lines:?}"))
        })
        .collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{ours:?}");
    assert!(
        !lines.iter().any(|l| l.contains("evlater")),
        "--until let a later event through: {lines:?}"
    );
    // Without --until the replay continues with the later event.
    let (status, body) = d.api(
        "GET",
        &format!("/events?since={since}&until={:.3}", unix_now()),
        None,
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"evlater\""), "{body}");
}

#[test]
fn a_reader_that_never_reads_does_not_block_the_daemon() {
    let d = daemon_or_skip!();
    d.import_busybox();
    // A subscriber that never reads its socket.
    let mut stuck = UnixStream::connect(&d.sock).expect("connect");
    stuck
        .write_all(b"GET /events HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    // Big events (each carries the container's labels) fill the socket buffers fast.
    let big = "x".repeat(8192);
    d.docker(&[
        "create",
        "--name",
        "evbig",
        "-l",
        &format!("big={big}"),
        "busybox",
        "true",
    ])
    .ok();
    let t = Instant::now();
    for i in 0..150 {
        let (status, body) = d.api(
            "POST",
            &format!("/containers/evbig/rename?name=evbig{}", i % 2),
            None,
        );
        assert!(status == 204 || status == 409, "{status} {body}");
        if status == 204 {
            let (status, _) = d.api(
                "POST",
                &format!("/containers/evbig{}/rename?name=evbig", i % 2),
                None,
            );
            assert_eq!(status, 204);
        }
    }
    d.docker(&["run", "--rm", "busybox", "true"]).ok();
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "took {:?} with a stuck reader",
        t.elapsed()
    );
    assert!(d.alive());
    drop(stuck);
}

/// What the daemon sends on a raw connection within `window` (streams never end).
fn read_for(d: &TestDaemon, request: &str, window: Duration) -> String {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    s.write_all(request.as_bytes()).unwrap();
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cgroup_file(d: &TestDaemon, id: &str, controller: &str, file: &str) -> Option<String> {
    let parent = d.cgroup_parent().trim_matches('/');
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let path = if v2 {
        format!("/sys/fs/cgroup/{parent}/{id}/{file}")
    } else {
        format!("/sys/fs/cgroup/{controller}/{parent}/{id}/{file}")
    };
    std::fs::read_to_string(path).ok()
}

#[test]
fn stats_numbers_match_the_cgroup_files() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "reads berthd's cgroup layout");
    d.import_busybox();
    let busy = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "busy",
            "busybox",
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .ok()
        .out()
        .trim()
        .to_string();
    let idle = d
        .docker(&[
            "run", "-d", "--name", "idle", "-m", "64m", "busybox", "sleep", "1000",
        ])
        .ok()
        .out()
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let out = d
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
        ])
        .ok();
    let busy_line = out
        .lines()
        .into_iter()
        .find(|l| l.starts_with("busy "))
        .unwrap_or_else(|| panic!("no busy line: {}", out.out()))
        .to_string();
    let cpu: f64 = busy_line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("{busy_line}"));
    assert!(cpu > 50.0, "a busy loop shows {cpu}% CPU: {busy_line}");
    let idle_line = out
        .lines()
        .into_iter()
        .find(|l| l.starts_with("idle "))
        .unwrap_or_else(|| panic!("no idle line: {}", out.out()))
        .to_string();
    assert!(idle_line.contains("/ 64MiB"), "{idle_line}");

    let (status, s) = d.api_json(
        "GET",
        &format!("/containers/{idle}/stats?stream=false"),
        None,
    );
    assert_eq!(status, 200, "{s}");
    let usage = s["memory_stats"]["usage"].as_u64().unwrap();
    let file: u64 = cgroup_file(&d, &idle, "memory", "memory.usage_in_bytes")
        .or_else(|| cgroup_file(&d, &idle, "memory", "memory.current"))
        .and_then(|t| t.trim().parse().ok())
        .expect("the container's memory cgroup file");
    let diff = usage.abs_diff(file);
    assert!(
        diff <= 2 * 1024 * 1024,
        "stats say {usage} bytes, the cgroup {file}"
    );
    assert_eq!(s["memory_stats"]["limit"], 64 * 1024 * 1024);
    assert!(s["memory_stats"]["stats"]
        .as_object()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(s["pids_stats"]["current"], 1);
    assert!(
        s["precpu_stats"]["system_cpu_usage"].as_u64().is_some(),
        "{s}"
    );
    assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap_or(0) >= 1);
    assert!(
        s["networks"]["eth0"]["rx_bytes"].is_u64(),
        "{}",
        s["networks"]
    );
    assert!(s["read"].as_str().is_some_and(|r| !r.starts_with("0001")));
    let cpu_file: u64 = cgroup_file(&d, &busy, "cpuacct", "cpuacct.usage")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let (_, b) = d.api_json(
        "GET",
        &format!("/containers/{busy}/stats?stream=false&one-shot=true"),
        None,
    );
    let total = b["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    if cpu_file > 0 {
        assert!(
            total >= cpu_file,
            "cpu total {total} behind the cgroup's {cpu_file}"
        );
    }
    // Streaming: a sample per second, each with the previous one's counters.
    let text = read_for(
        &d,
        &format!("GET /containers/{idle}/stats HTTP/1.0\r\nHost: berth\r\n\r\n"),
        Duration::from_millis(2500),
    );
    let samples: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(samples.len() >= 2, "{text}");
    assert_eq!(samples[1]["preread"], samples[0]["read"]);
    d.docker(&["rm", "-f", "busy", "idle"]).ok();
}

fn last_count(d: &TestDaemon, c: &str) -> u64 {
    let out = d.docker(&["logs", "--tail", "1", c]).ok();
    out.out().trim().parse().unwrap_or(0)
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ev = Events::start(
        &d,
        &["--format", "{{json .}}", "--filter", "container=counter"],
    );
    d.docker(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done",
    ])
    .ok();
    assert!(wait_until(Duration::from_secs(10), || last_count(
        &d, "counter"
    ) > 3));
    d.docker(&["pause", "counter"]).ok();
    let v = d.inspect("counter");
    assert_eq!(v["State"]["Status"], "paused");
    assert_eq!(v["State"]["Paused"], true);
    assert_eq!(v["State"]["Running"], true);
    let ps = d
        .docker(&["ps", "--filter", "name=counter", "--format", "{{.Status}}"])
        .ok();
    assert!(ps.out().contains("(Paused)"), "{}", ps.out());
    let ps = d.docker(&["ps", "-q", "--filter", "status=paused"]).ok();
    assert_eq!(ps.lines().len(), 1, "{}", ps.out());
    d.docker(&["pause", "counter"]).fail();
    d.docker(&["exec", "counter", "true"]).fail();
    let a = last_count(&d, "counter");
    std::thread::sleep(Duration::from_millis(1000));
    let b = last_count(&d, "counter");
    assert_eq!(a, b, "the counter advanced while paused");
    d.docker(&["unpause", "counter"]).ok();
    assert!(
        wait_until(Duration::from_secs(5), || last_count(&d, "counter") > b + 3),
        "the counter did not resume"
    );
    assert_eq!(d.inspect("counter")["State"]["Status"], "running");
    d.docker(&["unpause", "counter"]).fail();
    // A paused container stops as Docker stops it.
    d.docker(&["pause", "counter"]).ok();
    let t = Instant::now();
    d.docker(&["stop", "-t", "2", "counter"]).ok();
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(d.inspect("counter")["State"]["Status"], "exited");
    let evs = ev.until(Duration::from_secs(10), |e| e["Action"] == "stop");
    let (p, u) = (pos(&evs, "pause"), pos(&evs, "unpause"));
    assert!(p < u, "{:?}", actions(&evs));
}

fn health(d: &TestDaemon, c: &str) -> String {
    d.inspect(c)["State"]["Health"]["Status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn healthcheck_flips_healthy_unhealthy_healthy() {
    let mut d = daemon_or_skip!();
    d.import_busybox();
    let t0 = unix_now() - 1.0;
    d.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /ok && echo fine",
        "--health-interval",
        "1s",
        "--health-timeout",
        "2s",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "touch /ok; exec sleep 1000",
    ])
    .ok();
    let st = d
        .docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .ok();
    assert!(
        st.out().contains("(health: starting)") || st.out().contains("(healthy)"),
        "{}",
        st.out()
    );
    assert!(
        wait_until(Duration::from_secs(15), || health(&d, "hc") == "healthy"),
        "{}",
        d.inspect("hc")["State"]
    );
    let st = d
        .docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .ok();
    assert!(st.out().contains("(healthy)"), "{}", st.out());
    let v = d.inspect("hc");
    let log = v["State"]["Health"]["Log"].as_array().unwrap();
    assert_eq!(log.last().unwrap()["ExitCode"], 0);
    assert_eq!(log.last().unwrap()["Output"], "fine\n");
    d.docker(&["exec", "hc", "rm", "/ok"]).ok();
    assert!(
        wait_until(Duration::from_secs(15), || health(&d, "hc") == "unhealthy"),
        "{}",
        d.inspect("hc")["State"]
    );
    let v = d.inspect("hc");
    assert!(v["State"]["Health"]["FailingStreak"].as_i64().unwrap() >= 2);
    assert!(v["State"]["Health"]["Log"].as_array().unwrap().len() <= 5);
    let st = d
        .docker(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .ok();
    assert!(st.out().contains("(unhealthy)"), "{}", st.out());
    let listed = d.docker(&["ps", "-q", "--filter", "health=unhealthy"]).ok();
    assert_eq!(listed.lines().len(), 1, "{}", listed.out());
    let listed = d.docker(&["ps", "-q", "--filter", "health=healthy"]).ok();
    assert!(listed.lines().is_empty(), "{}", listed.out());
    d.docker(&["exec", "hc", "touch", "/ok"]).ok();
    assert!(wait_until(Duration::from_secs(15), || health(&d, "hc") == "healthy"));
    let t1 = unix_now() + 0.5;
    let out = d
        .docker(&[
            "events",
            "--since",
            &format!("{t0:.3}"),
            "--until",
            &format!("{t1:.3}"),
            "--filter",
            "event=health_status",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    let seen: Vec<&str> = out.lines();
    assert_eq!(
        seen,
        [
            "health_status: healthy",
            "health_status: unhealthy",
            "health_status: healthy"
        ],
        "{}",
        out.out()
    );
    // The health state is kept across a daemon restart.
    d.restart();
    let v = d.inspect("hc");
    assert_eq!(v["State"]["Health"]["Status"], "healthy", "{}", v["State"]);
    assert!(!v["State"]["Health"]["Log"].as_array().unwrap().is_empty());
    // --no-healthcheck turns the image's or any check off.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "nohc",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert!(d.inspect("nohc")["State"].get("Health").is_none());
    d.docker(&["rm", "-f", "hc", "nohc"]).ok();
}

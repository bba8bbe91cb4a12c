//! Live restore: containers survive `kill -9` of the daemon and a restart, with no lost
//! log line and no lost exit code.

use std::time::Duration;

use integration::*;

fn seq_numbers(logs: &str) -> Vec<u64> {
    logs.lines()
        .filter_map(|l| l.strip_prefix("line ").and_then(|n| n.trim().parse().ok()))
        .collect()
}

#[test]
fn containers_survive_daemon_kill9_and_restart() {
    let mut d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "loop",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "quitter",
        "busybox",
        "sh",
        "-c",
        "sleep 2; exit 42",
    ])
    .ok();
    d.docker(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"])
        .ok();
    assert!(wait_until(Duration::from_secs(10), || {
        seq_numbers(&d.docker(&["logs", "loop"]).stdout).len() >= 5
    }));
    let pid_before = d.inspect("loop")["State"]["Pid"].clone();
    let before = seq_numbers(&d.docker(&["logs", "loop"]).ok().stdout);

    d.kill9();
    assert!(!d.alive());
    // "quitter" exits while the daemon is down.
    std::thread::sleep(Duration::from_secs(3));
    d.restart();

    let v = d.inspect("loop");
    assert_eq!(v["State"]["Running"], true, "{}", v["State"]);
    assert_eq!(v["State"]["Pid"], pid_before, "same process, not a restart");
    let ps = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]).ok();
    assert!(ps.lines().iter().any(|l| l.starts_with("loop Up")), "{ps}");
    assert!(ps.lines().iter().any(|l| l.starts_with("idle Up")), "{ps}");

    let q = d.inspect("quitter");
    assert_eq!(q["State"]["Status"], "exited", "{}", q["State"]);
    assert_eq!(q["State"]["ExitCode"], 42, "{}", q["State"]);
    let w = d.docker(&["wait", "quitter"]).ok();
    assert_eq!(w.out(), "42");

    // Logs keep flowing and have no gap across the restart.
    std::thread::sleep(Duration::from_secs(1));
    let after = seq_numbers(&d.docker(&["logs", "loop"]).ok().stdout);
    assert!(
        after.len() > before.len() + 20,
        "logging stalled: {} -> {}",
        before.len(),
        after.len()
    );
    for (i, n) in after.iter().enumerate() {
        assert_eq!(
            *n, i as u64,
            "gap or duplicate in the log sequence at line {i}: {after:?}"
        );
    }

    // The restored containers are fully manageable.
    d.docker(&["stop", "-t", "1", "loop"]).ok();
    assert_eq!(d.inspect("loop")["State"]["Running"], false);
    d.docker(&["exec", "idle", "true"]).ok();
    d.docker(&["rm", "-f", "idle"]).ok();
    d.docker(&["run", "--rm", "busybox", "echo", "still-works"])
        .ok();
}

#[test]
fn graceful_restart_keeps_stopped_containers_and_images() {
    let mut d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "--name",
        "old",
        "busybox",
        "sh",
        "-c",
        "echo persisted; exit 9",
    ])
    .code_is(9);
    d.docker(&[
        "create",
        "--name",
        "fresh",
        "busybox",
        "echo",
        "created-only",
    ])
    .ok();
    d.restart();
    let v = d.inspect("old");
    assert_eq!(v["State"]["ExitCode"], 9);
    assert_eq!(d.docker(&["logs", "old"]).ok().out(), "persisted");
    assert_eq!(d.inspect("fresh")["State"]["Status"], "created");
    assert_eq!(
        d.docker(&["start", "-a", "fresh"]).ok().out(),
        "created-only"
    );
    let imgs = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(imgs.lines().contains(&"busybox:latest"), "{imgs}");
}

#[test]
fn tty_container_can_be_attached_after_restart() {
    let mut d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["run", "-dit", "--name", "ttyc", "busybox", "sh"])
        .ok();
    d.docker(&["run", "-di", "--name", "stdinc", "busybox", "cat"])
        .ok();
    d.kill9();
    d.restart();
    assert_eq!(d.inspect("ttyc")["State"]["Running"], true);
    let mut pty = d.docker_pty(&["attach", "ttyc"]);
    std::thread::sleep(Duration::from_millis(500));
    pty.send_line("echo after-$((1+1))");
    pty.expect("after-2");
    pty.send_line("exit 3");
    assert_eq!(
        pty.wait_exit(Duration::from_secs(20)),
        3,
        "{}",
        pty.transcript
    );
    d.wait_status("ttyc", "exited", Duration::from_secs(10));
    assert_eq!(d.inspect("ttyc")["State"]["ExitCode"], 3);
    // The non-tty container still has its stdin open after the restart.
    assert_eq!(d.inspect("stdinc")["State"]["Running"], true);
    d.docker(&["rm", "-f", "stdinc"]).ok();
}

/// The container's pids limit as it sees it (cgroup v1 or v2).
const PIDS_MAX: &str =
    "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max";

/// A data root written by a version without container plans: the records (a
/// created and a running container) get their plan when the daemon loads them,
/// once, and everything that reads the plan works on them (issue 10: on-disk state
/// is migrated, not lost).
#[test]
fn records_without_a_plan_are_migrated() {
    let mut d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "edits berthd's own database");
    skip_if!(
        std::process::Command::new("python3")
            .arg("-V")
            .output()
            .is_err(),
        "needs python3 to edit the database"
    );
    d.import_busybox();
    let src = tempfile::tempdir().unwrap();
    let bind = format!("{}:/data:ro", src.path().display());
    d.docker(&[
        "create",
        "--name",
        "old-created",
        "-v",
        &bind,
        "--pids-limit",
        "30",
        "busybox",
        "sleep",
        "30",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "old-running",
        "--pids-limit",
        "30",
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    d.stop_daemon(Duration::from_secs(15));
    // What an older berthd wrote: the same records without "plan".
    let db = d.data_root.join("berth.db");
    let script = r#"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT id, data FROM containers").fetchall()
for id, data in rows:
    rec = json.loads(bytes(data))
    assert "plan" in rec, "the current version writes a plan"
    del rec["plan"]
    db.execute("UPDATE containers SET data = ? WHERE id = ?", (json.dumps(rec).encode(), id))
db.commit()
print(len(rows))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    d.restart();

    // The created one: inspect shows the mount, start uses the plan.
    let v = d.inspect("old-created");
    assert_eq!(v["Mounts"][0]["Destination"], "/data", "{}", v["Mounts"]);
    assert_eq!(v["Mounts"][0]["RW"], false);
    d.docker(&["start", "old-created"]).ok();
    let limit = d
        .docker(&["exec", "old-created", "sh", "-c", PIDS_MAX])
        .ok();
    assert_eq!(limit.out(), "30");
    // The running one, reconnected: update and stop read the plan.
    d.docker(&["update", "--pids-limit", "40", "old-running"])
        .ok();
    let limit = d
        .docker(&["exec", "old-running", "sh", "-c", PIDS_MAX])
        .ok();
    assert_eq!(limit.out(), "40");
    d.docker(&["rm", "-f", "old-created", "old-running"]).ok();
}

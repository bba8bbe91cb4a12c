//! `run` end to end: output, exit codes, stdin, --rm, stopped containers.

use std::time::Duration;

use integration::*;

#[test]
fn berth_run_rm_echo_hello() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d.berth(&["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(out.stdout, "hello\n", "{out}");
}

#[test]
fn docker_cli_run_rm_echo_hello() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(out.stdout, "hello\n", "{out}");
    if let Some(out) = d.docker20(&["run", "--rm", "busybox", "echo", "hello-20"]) {
        let out = out.ok();
        assert_eq!(out.stdout, "hello-20\n", "{out}");
    }
}

#[test]
fn exit_codes_propagate() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
        .code_is(3);
    d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
        .code_is(3);
    d.docker(&["run", "--rm", "busybox", "false"]).code_is(1);
}

#[test]
fn missing_executable_is_127() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d.docker(&["run", "busybox", "nope"]).code_is(127);
    assert!(out.stderr.contains("executable file not found"), "{out}");
    let out = d.berth(&["run", "--rm", "busybox", "nope"]).code_is(127);
    assert!(out.stderr.contains("executable file not found"), "{out}");
}

#[test]
fn stdin_is_piped_with_i() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d
        .docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"abc\n")
        .ok();
    assert_eq!(out.stdout, "abc\n", "{out}");
    let out = d
        .berth_stdin(&["run", "-i", "--rm", "busybox", "wc", "-c"], b"12345")
        .ok();
    assert_eq!(out.out(), "5", "{out}");
}

#[test]
fn default_cmd_env_and_workdir() {
    let d = daemon_or_skip!();
    d.import_busybox();
    // The image's CMD is ["sh"]; with no tty and no stdin sh exits 0 at once.
    d.docker(&["run", "--rm", "busybox"]).ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-e",
            "FOO=bar baz",
            "-w",
            "/tmp",
            "busybox",
            "sh",
            "-c",
            "echo \"$FOO\"; pwd; echo $PATH",
        ])
        .ok();
    let lines = out.lines();
    assert_eq!(lines[0], "bar baz", "{out}");
    assert_eq!(lines[1], "/tmp", "{out}");
    assert!(lines[2].contains("/bin"), "default PATH: {out}");
}

#[test]
fn rm_removes_the_container_after_exit() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["run", "--rm", "--name", "gone", "busybox", "true"])
        .ok();
    let removed = wait_until(Duration::from_secs(5), || {
        d.docker(&["ps", "-a", "-q"]).out().is_empty()
    });
    assert!(removed, "{}", d.docker(&["ps", "-a"]));
    let (status, _) = d.api("GET", "/containers/gone/json", None);
    assert_eq!(status, 404);
}

#[test]
fn stopped_container_is_kept_and_can_be_restarted() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d
        .docker(&[
            "run",
            "--name",
            "keep",
            "busybox",
            "sh",
            "-c",
            "echo run-$((6*7))",
        ])
        .ok();
    assert_eq!(out.out(), "run-42");
    let st = d
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "name=keep",
            "--format",
            "{{.Status}}",
        ])
        .ok();
    assert!(st.out().starts_with("Exited (0)"), "{st}");
    let v = d.inspect("keep");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    let again = d.docker(&["start", "-a", "keep"]).ok();
    assert_eq!(again.out(), "run-42");
    let logs = d.docker(&["logs", "keep"]).ok();
    assert_eq!(logs.lines(), vec!["run-42", "run-42"], "{logs}");
    d.docker(&["rm", "keep"]).ok();
    let (status, _) = d.api("GET", "/containers/keep/json", None);
    assert_eq!(status, 404);
}

#[test]
fn name_conflict_is_reported() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["create", "--name", "dup", "busybox", "true"])
        .ok();
    let out = d
        .docker(&["create", "--name", "dup", "busybox", "true"])
        .fail();
    assert!(out.stderr.contains("Conflict"), "{out}");
    assert!(out.stderr.contains("already in use"), "{out}");
}

#[test]
fn run_variants_entrypoint_detached_rm_tty_logs_workdir() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "from-entrypoint",
        ])
        .ok();
    assert_eq!(out.out(), "from-entrypoint");
    // A missing working directory is created, as Docker does.
    let out = d
        .docker(&["run", "--rm", "-w", "/made/by/docker", "busybox", "pwd"])
        .ok();
    assert_eq!(out.out(), "/made/by/docker");

    // -d --rm: removed once it exits.
    d.docker(&[
        "run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "0.5",
    ])
    .ok();
    let gone = wait_until(Duration::from_secs(10), || {
        d.api("GET", "/containers/brief/json", None).0 == 404
    });
    assert!(gone, "{}", d.docker(&["ps", "-a"]));

    // A tty container's log is the raw terminal stream.
    d.docker(&[
        "run", "-t", "--name", "ttylog", "busybox", "echo", "tty-out",
    ])
    .ok();
    let logs = d.docker(&["logs", "ttylog"]).ok();
    assert!(logs.stdout.contains("tty-out"), "{logs}");
    assert_eq!(d.inspect("ttylog")["Config"]["Tty"], true);
}

#[test]
fn docker20_cli_basic_commands() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let Some(out) = d.docker20(&[
        "run",
        "-d",
        "--name",
        "old",
        "busybox",
        "sh",
        "-c",
        "echo from-20; sleep 1000",
    ]) else {
        return;
    };
    out.ok();
    let ps = d
        .docker20(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .unwrap()
        .ok();
    assert!(ps.out().starts_with("old Up"), "{ps}");
    assert!(wait_until(Duration::from_secs(10), || d
        .docker20(&["logs", "old"])
        .unwrap()
        .stdout
        .contains("from-20")));
    let ex = d.docker20(&["exec", "old", "sh", "-c", "exit 4"]).unwrap();
    assert_eq!(ex.code, 4, "{ex}");
    let st = d
        .docker20(&["inspect", "-f", "{{.State.Status}}", "old"])
        .unwrap()
        .ok();
    assert_eq!(st.out(), "running");
    d.docker20(&["rm", "-f", "old"]).unwrap().ok();
    let imgs = d
        .docker20(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .unwrap()
        .ok();
    assert_eq!(imgs.out(), "busybox:latest");
}

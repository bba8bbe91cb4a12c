//! `docker exec`: output, exit codes, env, workdir, user, errors.

use integration::*;

#[test]
fn exec_basics() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cc",
        "-e",
        "IMG_ENV=1",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(d.docker(&["exec", "cc", "echo", "hi"]).ok().stdout, "hi\n");
    assert_eq!(d.berth(&["exec", "cc", "echo", "hi"]).ok().stdout, "hi\n");
    d.docker(&["exec", "cc", "sh", "-c", "exit 7"]).code_is(7);
    d.berth(&["exec", "cc", "sh", "-c", "exit 7"]).code_is(7);
    let env = d
        .docker(&[
            "exec",
            "-e",
            "FOO=bar",
            "cc",
            "sh",
            "-c",
            "echo $FOO $IMG_ENV",
        ])
        .ok();
    assert_eq!(env.out(), "bar 1", "exec inherits the container env: {env}");
    assert_eq!(
        d.docker(&["exec", "-w", "/tmp", "cc", "pwd"]).ok().out(),
        "/tmp"
    );
    assert_eq!(
        d.docker(&["exec", "-u", "nobody", "cc", "id", "-u"])
            .ok()
            .out(),
        "65534"
    );
    assert_eq!(
        d.docker(&["exec", "-u", "1234:5678", "cc", "id", "-g"])
            .ok()
            .out(),
        "5678"
    );
    let both = d
        .docker(&["exec", "cc", "sh", "-c", "echo to-out; echo to-err >&2"])
        .ok();
    assert_eq!(both.out(), "to-out");
    assert_eq!(both.err(), "to-err");
    let stdin = d
        .docker_stdin(&["exec", "-i", "cc", "cat"], b"piped\n")
        .ok();
    assert_eq!(stdin.out(), "piped");
    // The exec'd process runs in the container's pid namespace.
    let ps = d.docker(&["exec", "cc", "ps", "-o", "pid,comm"]).ok();
    assert!(
        ps.lines()
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "sleep"]),
        "{ps}"
    );
}

#[test]
fn exec_errors() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["run", "-d", "--name", "ce", "busybox", "sleep", "1000"])
        .ok();
    // Unlike `run` (127), a failed exec start is 126 in Docker (the exec's ExitCode is
    // set to 126 when the process cannot be started); the 20.10 CLI prints the message on
    // stdout, 28.x on stderr.
    let out = d.docker(&["exec", "ce", "nope"]).fail();
    assert_eq!(out.code, 126, "{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("executable file not found"),
        "{out}"
    );
    let out = d.docker(&["exec", "nosuch", "true"]).fail();
    assert!(out.stderr.contains("No such container"), "{out}");
    d.docker(&["stop", "-t", "0", "ce"]).ok();
    let out = d.docker(&["exec", "ce", "true"]).fail();
    assert!(out.stderr.contains("is not running"), "{out}");
}

/// `exec -i` whose client keeps stdin open ends when the process exits. (The shim
/// used to splice the client's stdin into the process's pipe; a splice waiting for
/// data holds the pipe's lock, so the exiting process hung in the kernel until the
/// client sent more input or closed stdin.)
#[test]
fn exec_with_open_stdin_ends_when_the_process_exits() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["run", "-d", "--name", "openin", "busybox", "sleep", "1000"])
        .ok();
    for round in 0..10 {
        let mut cmd = d.docker_cmd(&["exec", "-i", "openin", "sh", "-c", "echo hi"]);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let _stdin = child.stdin.take(); // held open, never written
        let done = wait_until(std::time::Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !done {
            let _ = child.kill();
        }
        assert!(done, "round {round}: exec -i did not end with its process");
    }
}

/// docker-py 5 (Debian's python3-docker, which docker-compose uses): an exec's output
/// is complete, with and without stdin, and a socket-mode exec ends.
#[test]
fn docker_py_exec_output_is_complete() {
    let d = daemon_or_skip!();
    let py = "/usr/bin/python3";
    let has_docker_py = std::process::Command::new(py)
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    skip_if!(!has_docker_py, "Debian's python3-docker is not installed");
    d.import_busybox();
    d.docker(&["run", "-d", "--name", "pyexec", "busybox", "sleep", "1000"])
        .ok();
    let script = r#"
import sys, docker
c = docker.APIClient(base_url=sys.argv[1], version="1.41", timeout=20)
for i in range(10):
    for stdin in (False, True):
        e = c.exec_create("pyexec", ["sh", "-c", "echo hello-$0", str(i)], stdin=stdin)
        out = c.exec_start(e["Id"])
        assert out == ("hello-%d\n" % i).encode(), (i, stdin, out)
        assert c.exec_inspect(e["Id"])["ExitCode"] == 0
print("ok")
"#;
    let mut cmd = std::process::Command::new(py);
    cmd.args(["-c", script, &d.host()]);
    let out = run_cmd(cmd, None, std::time::Duration::from_secs(120));
    assert!(out.stdout.contains("ok"), "{out}");
}

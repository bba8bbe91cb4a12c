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

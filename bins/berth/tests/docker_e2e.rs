//! End-to-end checks of `berth` against a real Docker-API daemon. They run
//! only when BERTH_TEST_DOCKER_HOST is set (e.g. unix:///tmp/cli-dockerd/docker.sock)
//! and expect a `busybox:latest` image there; otherwise they skip.

mod common;

use std::process::Output;

fn host() -> Option<String> {
    match std::env::var("BERTH_TEST_DOCKER_HOST") {
        Ok(h) if !h.is_empty() => Some(h),
        _ => {
            println!("skipping: BERTH_TEST_DOCKER_HOST is not set");
            None
        }
    }
}

fn berth(host: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::run(common::berth_command(host, args), stdin)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Removes a container when dropped, even if the test fails.
struct Cleanup(String, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = berth(&self.0, &["rm", "-f", &self.1], None);
    }
}

#[test]
fn run_output_and_exit_codes() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["run", "--rm", "busybox", "echo", "hello"], None);
    assert_eq!(out(&o), "hello\n", "{}", err(&o));
    assert_eq!(o.status.code(), Some(0));

    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
        None,
    );
    assert_eq!(out(&o), "out\n");
    assert_eq!(err(&o), "err\n");
    assert_eq!(o.status.code(), Some(7));

    let o = berth(&h, &["run", "-i", "--rm", "busybox", "cat"], Some(b"abc\n"));
    assert_eq!(out(&o), "abc\n");
    assert_eq!(o.status.code(), Some(0));

    let o = berth(&h, &["run", "--rm", "busybox", "no-such-binary"], None);
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
    assert!(err(&o).starts_with("berth: Error response from daemon: "));

    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "busybox",
            "-c",
            "echo $A $(pwd)",
        ],
        None,
    );
    assert_eq!(out(&o), "1 /tmp\n", "{}", err(&o));

    let o = berth(&h, &["run", "-t", "--rm", "busybox", "echo", "tty"], None);
    assert_eq!(out(&o), "tty\r\n");
}

#[test]
fn detached_lifecycle() {
    let Some(h) = host() else { return };
    let name = format!("berth-e2e-{}", std::process::id());
    let _c = Cleanup(h.clone(), name.clone());
    let o = berth(
        &h,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "-l",
            "e2e=yes",
            "busybox",
            "sh",
            "-c",
            "echo started; sleep 100",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let id = out(&o).trim().to_string();
    assert_eq!(id.len(), 64);

    let o = berth(
        &h,
        &[
            "ps",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}} {{.Label \"e2e\"}} {{.State}}",
        ],
        None,
    );
    assert_eq!(out(&o), format!("{name} yes running\n"));

    let o = berth(
        &h,
        &["exec", &name, "sh", "-c", "echo in-exec; exit 4"],
        None,
    );
    assert_eq!(out(&o), "in-exec\n");
    assert_eq!(o.status.code(), Some(4));

    // Logs arrive asynchronously; retry briefly.
    let mut logs = String::new();
    for _ in 0..50 {
        logs = out(&berth(&h, &["logs", &name], None));
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(logs, "started\n");

    let o = berth(
        &h,
        &["inspect", "-f", "{{.State.Status}} {{.Id}}", &name],
        None,
    );
    assert_eq!(out(&o), format!("running {id}\n"));

    let o = berth(&h, &["stop", "-t", "0", &name], None);
    assert_eq!(out(&o), format!("{name}\n"));
    let o = berth(&h, &["wait", &name], None);
    assert_eq!(out(&o), "137\n");
    let o = berth(&h, &["rm", &name], None);
    assert_eq!(out(&o), format!("{name}\n"));
    let o = berth(&h, &["rm", &name], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err(&o),
        format!("Error response from daemon: No such container: {name}\n")
    );
}

#[test]
fn images_tag_save_load() {
    let Some(h) = host() else { return };
    let tag = format!("berth-e2e-img:{}", std::process::id());
    let o = berth(&h, &["tag", "busybox", &tag], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = berth(
        &h,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        None,
    );
    assert!(out(&o).lines().any(|l| l == tag), "{}", out(&o));

    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    let o = berth(&h, &["save", "-o", tar.to_str().unwrap(), &tag], None);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = berth(&h, &["rmi", &tag], None);
    assert_eq!(out(&o), format!("Untagged: {tag}\n"));
    let o = berth(&h, &["load", "-i", tar.to_str().unwrap()], None);
    assert_eq!(out(&o), format!("Loaded image: {tag}\n"), "{}", err(&o));
    let o = berth(&h, &["rmi", &tag], None);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn cp_volumes_networks() {
    let Some(h) = host() else { return };
    let name = format!("berth-e2e-cp-{}", std::process::id());
    let _c = Cleanup(h.clone(), name.clone());
    let o = berth(
        &h,
        &["run", "-d", "--name", &name, "busybox", "sleep", "100"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.txt");
    std::fs::write(&local, "payload\n").unwrap();
    let o = berth(
        &h,
        &[
            "cp",
            local.to_str().unwrap(),
            &format!("{name}:/copied.txt"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = berth(&h, &["exec", &name, "cat", "/copied.txt"], None);
    assert_eq!(out(&o), "payload\n");
    let back = dir.path().join("back.txt");
    let o = berth(
        &h,
        &["cp", &format!("{name}:/copied.txt"), back.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "payload\n");

    let vol = format!("berth-e2e-vol-{}", std::process::id());
    let o = berth(&h, &["volume", "create", "--label", "e2e=1", &vol], None);
    assert_eq!(out(&o), format!("{vol}\n"), "{}", err(&o));
    let o = berth(&h, &["volume", "ls", "-q"], None);
    assert!(out(&o).lines().any(|l| l == vol));
    let o = berth(
        &h,
        &["volume", "inspect", "-f", "{{.Name}} {{.Labels}}", &vol],
        None,
    );
    assert_eq!(out(&o), format!("{vol} map[e2e:1]\n"));
    let o = berth(&h, &["volume", "rm", &vol], None);
    assert_eq!(out(&o), format!("{vol}\n"));

    let o = berth(&h, &["network", "ls", "--format", "{{.Name}}"], None);
    assert!(out(&o).lines().any(|l| l == "none"), "{}", out(&o));
}

//! docker-compose 1.29 (Debian's, Python, docker-py 5) against berthd, unchanged: a
//! project network, services that reach each other by name, published ports, logs,
//! exec, scale and down.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use integration::*;

fn compose(d: &TestDaemon, dir: &Path, args: &[&str]) -> Out {
    let mut c = Command::new("docker-compose");
    c.current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env_remove("DOCKER_CONTEXT")
        .args(["--no-ansi", "-p", "itest"])
        .args(args);
    run_cmd(c, None, Duration::from_secs(120))
}

#[test]
fn docker_compose_runs_a_project_with_a_network_and_ports() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    skip_if!(
        Command::new("docker-compose")
            .arg("version")
            .output()
            .is_err(),
        "docker-compose is not installed (apt-get install docker-compose)"
    );
    d.import_busybox();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        r#"version: "3.8"
services:
  web:
    image: busybox
    command: sh -c "echo hello-from-web > /i && httpd -f -p 80 -h /"
    ports:
      - "80"
    networks: [front]
  worker:
    image: busybox
    command: sleep 1000
    networks: [front]
networks:
  front: {}
"#,
    )
    .unwrap();
    compose(&d, dir.path(), &["up", "-d"]).ok();
    let nets = d.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(nets.stdout.contains("itest_front"), "{nets}");
    // Service names resolve on the project network.
    let ok = wait_until(Duration::from_secs(15), || {
        compose(
            &d,
            dir.path(),
            &[
                "exec",
                "-T",
                "worker",
                "sh",
                "-c",
                "echo -e 'GET /i HTTP/1.0\\r\\n' | nc -w2 web 80",
            ],
        )
        .stdout
        .contains("hello-from-web")
    });
    assert!(ok, "worker -> web by service name");
    // The published port, as compose reports it.
    let port = compose(&d, dir.path(), &["port", "web", "80"]).ok();
    let hp: u16 = port
        .stdout
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert!(hp > 0, "{port}");
    let ps = compose(&d, dir.path(), &["ps"]).ok();
    assert!(
        ps.stdout.contains("itest_web_1") && ps.stdout.contains("Up"),
        "{ps}"
    );
    // Scale: both replicas answer under the service name.
    compose(&d, dir.path(), &["up", "-d", "--scale", "worker=2"]).ok();
    let ps = compose(&d, dir.path(), &["ps", "-q", "worker"]).ok();
    assert_eq!(ps.lines().len(), 2, "{ps}");
    let logs = compose(&d, dir.path(), &["logs", "web"]).ok();
    assert!(logs.code == 0, "{logs}");
    compose(&d, dir.path(), &["down"]).ok();
    let nets = d.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(!nets.stdout.contains("itest_front"), "{nets}");
    let left = d.docker(&["ps", "-aq"]).ok();
    assert!(left.stdout.trim().is_empty(), "{left}");
}

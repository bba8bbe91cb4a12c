//! Runs the `berth` binary against a small scripted daemon on a unix socket:
//! checks version negotiation, request shapes, output formats and how
//! daemon errors (404, 501) are reported. Needs no real daemon.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{json, text, FakeDaemon, Seen};

#[test]
fn run_reports_unimplemented_pull_like_docker() {
    let mut routes = HashMap::new();
    routes.insert(
        "POST /containers/create".into(),
        json(404, r#"{"message":"No such image: busybox:latest"}"#),
    );
    routes.insert(
        "POST /images/create".into(),
        json(501, r#"{"message":"pulling images is not implemented"}"#),
    );
    let d = FakeDaemon::start("1.45", routes);
    let out = d.berth(&["run", "--rm", "busybox", "echo", "hi"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "stderr: {err}");
    assert!(
        err.contains("Unable to find image 'busybox:latest' locally"),
        "{err}"
    );
    assert!(
        err.contains("Error response from daemon: pulling images is not implemented"),
        "{err}"
    );
    let seen = d.seen();
    // Negotiated down to the server's version.
    let create = seen
        .iter()
        .find(|s| s.target.starts_with("/v1.45/containers/create"))
        .expect("create request");
    let body: serde_json::Value = serde_json::from_str(&create.body).unwrap();
    assert_eq!(body["Image"], "busybox");
    assert_eq!(body["Cmd"], serde_json::json!(["echo", "hi"]));
    assert_eq!(body["HostConfig"]["AutoRemove"], true);
    assert!(seen.iter().any(|s| s.method == "POST"
        && s.target == "/v1.45/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest"));
}

#[test]
fn pull_prints_501_cleanly() {
    let mut routes = HashMap::new();
    routes.insert(
        "POST /images/create".into(),
        json(501, r#"{"message":"not implemented: pull"}"#),
    );
    routes.insert(
        "POST /build".into(),
        json(501, r#"{"message":"not implemented: build"}"#),
    );
    let d = FakeDaemon::start("1.51", routes);
    let out = d.berth(&["pull", "busybox"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: not implemented: pull\n"
    );
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\n").unwrap();
    let out = d.berth(&["build", "-q", ctx.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: not implemented: build\n"
    );
}

#[test]
fn ps_table_and_templates() {
    let now = chrono::Utc::now().timestamp();
    let list = format!(
        r#"[{{"Id":"0123456789abcdef0123456789abcdef","Names":["/web"],"Image":"busybox",
        "ImageID":"sha256:aa","Command":"sleep 100","Created":{},"State":"running",
        "Status":"Up 3 seconds","Ports":[],"Labels":{{"tier":"front"}},
        "NetworkSettings":{{"Networks":{{"bridge":{{}}}}}},"Mounts":[]}}]"#,
        now - 120
    );
    let mut routes = HashMap::new();
    routes.insert("GET /containers/json".into(), json(200, &list));
    let d = FakeDaemon::start("1.51", routes);
    let out = d.berth(&["ps"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "CONTAINER ID   IMAGE     COMMAND       CREATED         STATUS         PORTS     NAMES\n\
         0123456789ab   busybox   \"sleep 100\"   2 minutes ago   Up 3 seconds             web\n"
    );
    let out = d.berth(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{.Label \"tier\"}} {{.State}}",
    ]);
    assert_eq!(text(&out.stdout), "web front running\n");
    let out = d.berth(&["ps", "-q", "--no-trunc"]);
    assert_eq!(text(&out.stdout), "0123456789abcdef0123456789abcdef\n");
    let seen = d.seen();
    assert!(seen
        .iter()
        .any(|s| s.target == "/v1.51/containers/json?all=1"));
}

#[test]
fn inspect_formats_and_missing_objects() {
    let mut routes = HashMap::new();
    routes.insert(
        "GET /containers/c1/json".into(),
        json(
            200,
            r#"{"Id":"abc","State":{"Status":"exited","ExitCode":3},"Config":{"Labels":{"k":"v"},"Cmd":["true"]},"NetworkSettings":{"IPAddress":""}}"#,
        ),
    );
    routes.insert(
        "GET /containers/nope/json".into(),
        json(404, r#"{"message":"No such container: nope"}"#),
    );
    routes.insert(
        "GET /images/nope/json".into(),
        json(404, r#"{"message":"No such image: nope"}"#),
    );
    let d = FakeDaemon::start("1.51", routes);
    let out = d.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{index .Config.Labels \"k\"}} {{json .Config.Cmd}}",
        "c1",
    ]);
    assert_eq!(text(&out.stdout), "exited 3 v [\"true\"]\n");
    let out = d.berth(&["inspect", "c1", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("[\n    {\n        \"Id\": \"abc\",\n"));
    assert_eq!(text(&out.stderr), "Error: No such object: nope\n");
    let out = d.berth(&["container", "inspect", "nope"]);
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nope\n"
    );
}

#[test]
fn unreachable_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}/none.sock", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &host, "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("Cannot connect to the berth daemon at {host}. Is the berth daemon running?\n")
    );
    // BERTH_HOST is honoured when -H is absent.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_HOST", &host)
        .args(["version"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains(&host));
}

#[test]
fn pull_progress_stream_without_terminal() {
    let stream = [
        r#"{"status":"Pulling from library/busybox","id":"latest"}"#,
        r#"{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}"#,
        r#"{"status":"Downloading","progressDetail":{"current":10,"total":100},"progress":"[=>   ] 10B/100B","id":"aaa"}"#,
        r#"{"status":"Download complete","progressDetail":{},"id":"aaa"}"#,
        r#"{"status":"Pull complete","progressDetail":{},"id":"aaa"}"#,
        r#"{"status":"Digest: sha256:abc"}"#,
        r#"{"status":"Status: Downloaded newer image for busybox:latest"}"#,
    ]
    .join("\r\n");
    let mut routes = HashMap::new();
    routes.insert("POST /images/create".into(), json(200, &stream));
    let d = FakeDaemon::start("1.51", routes);
    let out = d.berth(&["pull", "busybox"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Using default tag: latest\n\
         latest: Pulling from library/busybox\n\
         aaa: Pulling fs layer\n\
         aaa: Download complete\n\
         aaa: Pull complete\n\
         Digest: sha256:abc\n\
         Status: Downloaded newer image for busybox:latest\n\
         docker.io/library/busybox:latest\n"
    );

    let mut routes = HashMap::new();
    routes.insert(
        "POST /images/create".into(),
        json(
            200,
            r#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#,
        ),
    );
    let d = FakeDaemon::start("1.51", routes);
    let out = d.berth(&["pull", "busybox:nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "manifest unknown\n");
}

#[test]
fn run_reports_unimplemented_attach_and_start() {
    let mut routes = HashMap::new();
    routes.insert(
        "POST /containers/create".into(),
        json(201, r#"{"Id":"c0ffee","Warnings":[]}"#),
    );
    routes.insert(
        "POST /containers/c0ffee/attach".into(),
        json(501, r#"{"message":"attach is not implemented"}"#),
    );
    routes.insert(
        "POST /containers/c0ffee/start".into(),
        json(501, r#"{"message":"start is not implemented"}"#),
    );
    let d = FakeDaemon::start("1.51", routes);
    let out = d.berth(&["run", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "berth: Error response from daemon: attach is not implemented\n\n\
         Run 'berth run --help' for more information\n"
    );
    let out = d.berth(&["run", "-d", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("start is not implemented"));
    assert_eq!(text(&out.stdout), "");
    let out = d.berth(&["create", "--name", "x", "busybox"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "c0ffee\n");
    assert!(d
        .seen()
        .iter()
        .any(|s| s.target == "/v1.51/containers/create?name=x"));
}

#[test]
fn pull_and_push_send_dockers_registry_auth() {
    let mut routes = HashMap::new();
    let stream =
        "{\"status\":\"Pulling from x\",\"id\":\"1\"}\n{\"status\":\"Digest: sha256:00\"}\n";
    routes.insert("POST /images/create".into(), json(200, stream));
    routes.insert(
        "POST /images/127.0.0.1:5000/x/push".into(),
        json(
            200,
            "{\"status\":\"The push refers to repository [127.0.0.1:5000/x]\"}\n{\"progressDetail\":{},\"aux\":{\"Tag\":\"1\",\"Digest\":\"sha256:d\",\"Size\":1}}\n",
        ),
    );
    let d = FakeDaemon::start("1.51", routes);
    // Nothing stored: base64url("{}").
    let o = d.berth(&["pull", "127.0.0.1:5000/x:1"]);
    assert_eq!(
        text(&o.stdout),
        "1: Pulling from x\nDigest: sha256:00\n127.0.0.1:5000/x:1\n"
    );
    // Stored as `docker login` stores it ("me" / "pw&<").
    std::fs::create_dir_all(d.config_dir()).unwrap();
    std::fs::write(
        d.config_dir().join("config.json"),
        r#"{"auths":{"127.0.0.1:5000":{"auth":"bWU6cHcmPA=="}}}"#,
    )
    .unwrap();
    let o = d.berth(&["pull", "-q", "127.0.0.1:5000/x"]);
    assert_eq!(text(&o.stdout), "127.0.0.1:5000/x:latest\n");
    let o = d.berth(&["push", "-q", "127.0.0.1:5000/x:1"]);
    assert_eq!(
        text(&o.stdout),
        "127.0.0.1:5000/x:1\n",
        "{}",
        text(&o.stderr)
    );
    let seen: Vec<Seen> = d
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(
        seen[0].target,
        "/v1.51/images/create?fromImage=127.0.0.1%3A5000%2Fx&tag=1"
    );
    assert_eq!(seen[0].registry_auth.as_deref(), Some("e30="));
    // The exact header docker 28.2.2 sent for these credentials.
    let docker_header = "eyJ1c2VybmFtZSI6Im1lIiwicGFzc3dvcmQiOiJwd1x1MDAyNlx1MDAzYyIsInNlcnZlcmFkZHJlc3MiOiIxMjcuMC4wLjE6NTAwMCJ9";
    assert_eq!(
        seen[1].target,
        "/v1.51/images/create?fromImage=127.0.0.1%3A5000%2Fx&tag=latest"
    );
    assert_eq!(seen[1].registry_auth.as_deref(), Some(docker_header));
    assert_eq!(seen[2].target, "/v1.51/images/127.0.0.1:5000/x/push?tag=1");
    assert_eq!(seen[2].registry_auth.as_deref(), Some(docker_header));
}

#[test]
fn login_and_logout_like_docker() {
    let mut routes = HashMap::new();
    routes.insert(
        "POST /auth".into(),
        json(200, r#"{"Status":"Login Succeeded","IdentityToken":""}"#),
    );
    let d = FakeDaemon::start("1.51", routes);
    let o = d.berth(&["login", "127.0.0.1:5000"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "Error: Cannot perform an interactive login from a non TTY device\n"
    );
    let o = d.berth_in(
        &[
            "login",
            "-u",
            "me",
            "--password-stdin",
            "http://127.0.0.1:5000/",
        ],
        Some(b"pw&<\n"),
    );
    assert_eq!(text(&o.stdout), "Login Succeeded\n", "{}", text(&o.stderr));
    let cfg = d.config_dir().join("config.json");
    assert_eq!(
        text(&o.stderr),
        format!(
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/go/credential-store/\n\n",
            cfg.display()
        )
    );
    let auth = d
        .seen()
        .into_iter()
        .find(|s| s.target.ends_with("/auth"))
        .unwrap();
    assert_eq!(
        auth.body,
        "{\"username\":\"me\",\"password\":\"pw\\u0026\\u003c\",\"serveraddress\":\"127.0.0.1:5000\"}\n"
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "{\n\t\"auths\": {\n\t\t\"127.0.0.1:5000\": {\n\t\t\t\"auth\": \"bWU6cHcmPA==\"\n\t\t}\n\t}\n}"
    );
    // Logout needs no daemon.
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "unix:///nonexistent/berth.sock", "--config"])
        .arg(d.config_dir())
        .args(["logout", "https://127.0.0.1:5000"])
        .env("DOCKER_CONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Removing login credentials for 127.0.0.1:5000\n"
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "{\n\t\"auths\": {}\n}"
    );
}

#[test]
fn login_refused_by_the_registry() {
    let mut routes = HashMap::new();
    routes.insert(
        "POST /auth".into(),
        json(
            401,
            r#"{"message":"login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized"}"#,
        ),
    );
    let d = FakeDaemon::start("1.51", routes);
    let o = d.berth(&["login", "-u", "me", "-p", "bad", "127.0.0.1:5000"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n\
         Error response from daemon: login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized\n"
    );
    assert!(!d.config_dir().join("config.json").exists());
}

//! Tests against a fake daemon on a temporary unix socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use engine_types::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};

use super::*;

/// A request as the fake daemon saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: HashMap<String, String>,
    body: Bytes,
}

/// A canned answer: status, headers, body.
type Canned = (u16, Vec<(&'static str, &'static str)>, String);

struct Fake {
    _dir: tempfile::TempDir,
    host: Host,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Starts a fake daemon answering each request with `answer(method, path)`.
/// `/_ping` answers with `Api-Version: <ping_version>` when given.
fn fake(
    ping_version: Option<&'static str>,
    answer: impl Fn(&str, &str) -> Canned + Send + Sync + 'static,
) -> Fake {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = s2.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    let answer = answer.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes();
                        let headers = parts
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), v.to_str().unwrap_or_default().to_string())
                            })
                            .collect();
                        let uri = parts.uri.to_string();
                        if let Ok(mut s) = seen.lock() {
                            s.push(Seen {
                                method: parts.method.to_string(),
                                uri: uri.clone(),
                                headers,
                                body,
                            });
                        }
                        let (status, hdrs, body) = if parts.uri.path() == "/_ping" {
                            let mut h = vec![("OSType", "linux")];
                            if let Some(v) = ping_version {
                                h.push(("Api-Version", v));
                            }
                            (200, h, "OK".to_string())
                        } else {
                            answer(parts.method.as_str(), parts.uri.path())
                        };
                        let mut resp = Response::builder().status(status);
                        for (k, v) in hdrs {
                            resp = resp.header(k, v);
                        }
                        Ok::<_, hyper::Error>(
                            resp.body(Full::new(Bytes::from(body))).expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Fake {
        host: Host::Unix(path.to_string_lossy().into_owned()),
        _dir: dir,
        seen,
    }
}

fn json_ok(body: Value) -> Canned {
    (
        200,
        vec![("Content-Type", "application/json")],
        body.to_string(),
    )
}

#[tokio::test]
async fn negotiates_the_lower_version() {
    let f = fake(Some("1.44"), |_, _| json_ok(json!({})));
    let c = Client::connect(f.host.clone()).await.expect("connect");
    assert_eq!(c.api_version(), "1.44");
    let _: Value = c.get_json("/info").await.expect("info");
    assert_eq!(
        f.seen().last().map(|s| s.uri.clone()).as_deref(),
        Some("/v1.44/info")
    );

    let newer = fake(Some("1.99"), |_, _| json_ok(json!({})));
    let c = Client::connect(newer.host.clone()).await.expect("connect");
    assert_eq!(c.api_version(), "1.51");

    let silent = fake(None, |_, _| json_ok(json!({})));
    let c = Client::connect(silent.host.clone()).await.expect("connect");
    assert_eq!(c.api_version(), "1.24");
    let p = c.ping().await.expect("ping");
    assert_eq!(p.os_type.as_deref(), Some("linux"));
    assert_eq!(p.api_version, None);
}

#[tokio::test]
async fn no_daemon_is_a_connect_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = Host::Unix(dir.path().join("none.sock").to_string_lossy().into_owned());
    let e = Client::connect(host.clone()).await.expect_err("no daemon");
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")
    );
}

#[tokio::test]
async fn error_statuses_carry_the_daemons_message() {
    let f = fake(Some("1.51"), |_, path| match path {
        "/v1.51/containers/nope/json" => (
            404,
            vec![("Content-Type", "application/json")],
            r#"{"message":"No such container: nope"}"#.into(),
        ),
        "/v1.51/containers/busy" => (409, vec![], r#"{"Message":"in use"}"#.into()),
        "/v1.51/plain" => (500, vec![], "boom\n".into()),
        "/v1.51/empty" => (503, vec![], String::new()),
        _ => (200, vec![], String::new()),
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");

    let e = c.container_inspect("nope").await.expect_err("404");
    assert_eq!(
        e.as_daemon(),
        Some(&DaemonError {
            status: 404,
            message: "No such container: nope".into()
        })
    );
    assert_eq!(
        e.to_string(),
        "Error response from daemon: No such container: nope"
    );

    let e = c
        .container_remove("busy", RemoveOptions::default())
        .await
        .expect_err("409");
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.as_daemon().map(|d| d.message.as_str()), Some("in use"));

    let e = c.get_bytes("/plain").await.expect_err("500");
    assert_eq!(e.as_daemon().map(|d| d.message.as_str()), Some("boom"));
    let e = c.get_bytes("/empty").await.expect_err("503");
    assert_eq!(
        e.as_daemon().map(|d| d.message.as_str()),
        Some("Service Unavailable")
    );
    // A 2xx body that is not the expected JSON is a decode error.
    let e = c.get_json::<Vec<Value>>("/ok").await.expect_err("decode");
    assert!(matches!(e, Error::Decode(_)), "{e:?}");
    // An empty 2xx body decodes as null for the post helpers.
    let v: Value = c.post("/ok").await.expect("post");
    assert_eq!(v, Value::Null);
}

#[tokio::test]
async fn typed_create_round_trip() {
    let f = fake(Some("1.51"), |method, path| {
        assert_eq!((method, path), ("POST", "/v1.51/containers/create"));
        (
            201,
            vec![("Content-Type", "application/json")],
            r#"{"Id":"abc123","Warnings":["careful"]}"#.into(),
        )
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");
    let body = ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec!["sh".into(), "-c".into(), "echo hi".into()]),
        entrypoint: Some(vec![String::new()]),
        exposed_ports: Some(vec!["80/tcp".into()]),
        host_config: Some(HostConfig {
            memory: Some(64 << 20),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: Some(3),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = c
        .container_create(
            CreateOptions {
                name: Some("web 1"),
                platform: None,
            },
            &body,
        )
        .await
        .expect("create");
    assert_eq!(created.id, "abc123");
    assert_eq!(created.warnings, ["careful"]);

    let seen = f.seen();
    let req = seen.last().expect("a request");
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, "/v1.51/containers/create?name=web%201");
    assert_eq!(
        req.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let sent: Value = serde_json::from_slice(&req.body).expect("json body");
    assert_eq!(
        sent,
        json!({
            "Image": "busybox",
            "Cmd": ["sh", "-c", "echo hi"],
            "Entrypoint": [""],
            "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {
                "Memory": 67108864,
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}
            }
        })
    );
    // The daemon's side of the wire decodes it back to the same body.
    let back: ContainerCreateBody = serde_json::from_slice(&req.body).expect("decode");
    assert_eq!(back, body);
}

#[tokio::test]
async fn typed_lists_wait_and_queries() {
    let f = fake(Some("1.51"), |_, path| match path {
        "/v1.51/containers/json" => json_ok(json!([
            {"Id": "c1", "Names": ["/web"], "State": "running", "Unknown": 1}
        ])),
        "/v1.51/images/json" => json_ok(json!([{
            "Id": "sha256:1", "ParentId": "", "RepoTags": ["busybox:latest"],
            "RepoDigests": [], "Created": 1, "Size": 2, "SharedSize": -1,
            "Labels": {}, "Containers": -1
        }])),
        "/v1.51/containers/c1/wait" => json_ok(json!({"StatusCode": 3})),
        "/v1.51/images/localhost:5000/a/b:1/json" => {
            (200, vec![], r#"{"Id":"x" , "z":null}"#.into())
        }
        _ => (204, vec![], String::new()),
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");
    let list = c
        .container_list(&ContainerListOptions {
            all: true,
            limit: Some(2),
            size: false,
            filters: Some(r#"{"status":{"exited":true}}"#.into()),
        })
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].names.as_deref(), Some(&["/web".to_string()][..]));
    let imgs = c
        .image_list(&ImageListOptions::default())
        .await
        .expect("images");
    assert_eq!(imgs[0].repo_tags, ["busybox:latest"]);

    let (tx, rx) = tokio::sync::oneshot::channel();
    let w = c
        .container_wait_notify("c1", "next-exit", Some(tx))
        .await
        .expect("wait");
    assert_eq!(w.status_code, 3);
    assert!(rx.await.is_ok(), "sent fires");

    // Raw inspect keeps the daemon's bytes.
    let raw = c
        .image_inspect_raw("localhost:5000/a/b:1")
        .await
        .expect("raw");
    assert_eq!(&raw[..], br#"{"Id":"x" , "z":null}"#);

    c.container_start("c1").await.expect("start");
    c.container_stop("c1", Some("SIGTERM"), Some(5))
        .await
        .expect("stop");
    c.container_kill("c1", None).await.expect("kill");
    c.container_remove(
        "c1",
        RemoveOptions {
            force: true,
            volumes: true,
            link: false,
        },
    )
    .await
    .expect("rm");
    let uris: Vec<String> = f
        .seen()
        .iter()
        .filter(|s| s.uri != "/_ping")
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    assert_eq!(
        uris,
        [
            "GET /v1.51/containers/json?all=1&limit=2&filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D",
            "GET /v1.51/images/json",
            "POST /v1.51/containers/c1/wait?condition=next-exit",
            "GET /v1.51/images/localhost:5000/a/b:1/json",
            "POST /v1.51/containers/c1/start",
            "POST /v1.51/containers/c1/stop?signal=SIGTERM&t=5",
            "POST /v1.51/containers/c1/kill",
            "DELETE /v1.51/containers/c1?force=1&v=1",
        ]
    );
}

#[tokio::test]
async fn hijack_gets_the_raw_connection() {
    // A raw listener: hyper's server would not hand us the upgraded bytes
    // without more plumbing than this test needs.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                if head.starts_with("GET /_ping") {
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nApi-Version: 1.51\r\nContent-Length: 2\r\n\r\nOK",
                        )
                        .await;
                    return;
                }
                assert!(
                    head.contains("upgrade: tcp") || head.contains("Upgrade: tcp"),
                    "{head}"
                );
                let _ = s
                    .write_all(
                        b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                    )
                    .await;
                // Echo one chunk after the upgrade.
                if let Ok(n) = s.read(&mut chunk).await {
                    let _ = s.write_all(&chunk[..n]).await;
                }
            });
        }
    });
    let c = Client::connect(Host::Unix(path.to_string_lossy().into_owned()))
        .await
        .expect("connect");
    let mut conn = c
        .hijack("/containers/x/attach?stream=1", None::<&()>)
        .await
        .expect("hijack");
    conn.write_all(b"ping").await.expect("write");
    let mut got = [0u8; 4];
    conn.read_exact(&mut got).await.expect("read");
    assert_eq!(&got, b"ping");
}

#[test]
fn host_parsing() {
    assert_eq!(
        Host::parse("unix:///tmp/x.sock").ok(),
        Some(Host::Unix("/tmp/x.sock".into()))
    );
    assert_eq!(
        Host::parse("tcp://127.0.0.1:2375").ok(),
        Some(Host::Tcp("127.0.0.1:2375".into()))
    );
    assert_eq!(
        Host::parse("tcp://127.0.0.1").ok(),
        Some(Host::Tcp("127.0.0.1:2375".into()))
    );
    assert!(matches!(
        Host::parse("ssh://x"),
        Err(Error::InvalidHost { .. })
    ));
    assert!(Host::parse("unix://").is_err());
    assert_eq!(
        Host::parse(DEFAULT_HOST)
            .map(|h| h.to_string())
            .ok()
            .as_deref(),
        Some(DEFAULT_HOST)
    );
}

#[test]
fn encoding_and_negotiation() {
    assert_eq!(query(&[]), "");
    assert_eq!(
        query(&[("fromImage", "busybox".into()), ("tag", "a b/c".into())]),
        "?fromImage=busybox&tag=a%20b%2Fc"
    );
    assert_eq!(enc_ref("reg:5000/a/b@sha256:ab"), "reg:5000/a/b@sha256:ab");
    assert_eq!(enc_ref("a b?"), "a%20b%3F");
    assert_eq!(negotiate(Some("1.41")), (1, 41));
    assert_eq!(negotiate(Some("1.60")), MAX_API_VERSION);
    assert_eq!(negotiate(Some("junk")), MAX_API_VERSION);
    assert_eq!(negotiate(None), FALLBACK_API_VERSION);
    assert_eq!(
        error_message(StatusCode::NOT_FOUND, br#"{"message":"gone"}"#),
        "gone"
    );
    assert_eq!(error_message(StatusCode::NOT_FOUND, b"[1]"), "[1]");
    assert_eq!(error_message(StatusCode::NOT_FOUND, b""), "Not Found");
}

/// Method and URI of every request but the pings.
fn calls(f: &Fake) -> Vec<String> {
    f.seen()
        .iter()
        .filter(|s| s.uri != "/_ping")
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect()
}

/// The JSON body of the last request.
fn last_body(f: &Fake) -> Value {
    let seen = f.seen();
    let req = seen.last().expect("a request");
    serde_json::from_slice(&req.body).expect("json body")
}

#[tokio::test]
async fn typed_networks() {
    use engine_types::models::{
        EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
        NetworkCreateRequest, NetworkDisconnectRequest,
    };
    let f = fake(Some("1.51"), |method, path| match (method, path) {
        ("GET", "/v1.51/networks") => json_ok(json!([
            {"Name": "bridge", "Id": "n1", "Created": "2024-01-02T03:04:05.123456789Z",
             "Scope": "local", "Driver": "bridge", "EnableIPv6": false, "Internal": false,
             "Labels": {}, "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.17.0.0/16"}]},
             "NewerField": 1}
        ])),
        ("GET", "/v1.51/networks/n%201") => json_ok(json!({
            "Name": "n 1", "Id": "n1", "Containers": {"c1": {"Name": "web", "IPv4Address": "10.0.0.2/24"}}
        })),
        ("POST", "/v1.51/networks/create") => (
            201,
            vec![("Content-Type", "application/json")],
            r#"{"Id":"abc","Warning":""}"#.into(),
        ),
        ("POST", "/v1.51/networks/prune") => json_ok(json!({"NetworksDeleted": ["a", "b"]})),
        ("GET", "/v1.51/networks/gone") => (
            404,
            vec![],
            r#"{"message":"network gone not found"}"#.into(),
        ),
        _ => (200, vec![], String::new()),
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");

    let list = c
        .network_list(Some(r#"{"driver":{"bridge":true}}"#))
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name.as_deref(), Some("bridge"));
    assert_eq!(
        list[0].created.as_deref(),
        Some("2024-01-02T03:04:05.123456789Z")
    );
    let n = c
        .network_inspect("n 1", NetworkInspectOptions::default())
        .await
        .expect("inspect");
    let eps = n.containers.expect("containers");
    assert_eq!(eps["c1"].ipv4_address.as_deref(), Some("10.0.0.2/24"));
    let raw = c
        .network_inspect_raw(
            "n1",
            NetworkInspectOptions {
                verbose: true,
                scope: Some("local"),
            },
        )
        .await
        .expect("raw");
    assert!(raw.is_empty());
    let e = c
        .network_inspect("gone", NetworkInspectOptions::default())
        .await
        .expect_err("404");
    assert_eq!(e.status(), Some(404));

    let created = c
        .network_create(&NetworkCreateRequest {
            name: "front".into(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some("10.9.0.0/24".into()),
                    ..Default::default()
                }]),
                options: None,
            }),
            ..Default::default()
        })
        .await
        .expect("create");
    assert_eq!(created.id, "abc");
    assert_eq!(
        last_body(&f),
        json!({"Name": "front", "Driver": "bridge",
               "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.9.0.0/24"}]}})
    );

    c.network_connect(
        "front",
        &NetworkConnectRequest {
            container: "web".into(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(vec!["w".into()]),
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some("10.9.0.9".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        },
    )
    .await
    .expect("connect");
    assert_eq!(
        last_body(&f),
        json!({"Container": "web", "EndpointConfig": {"Aliases": ["w"], "IPAMConfig": {"IPv4Address": "10.9.0.9"}}})
    );
    c.network_disconnect(
        "front",
        &NetworkDisconnectRequest {
            container: "web".into(),
            force: Some(true),
        },
    )
    .await
    .expect("disconnect");
    assert_eq!(last_body(&f), json!({"Container": "web", "Force": true}));
    c.network_remove("front").await.expect("rm");
    let pruned = c
        .network_prune(Some(r#"{"until":{"24h":true}}"#))
        .await
        .expect("prune");
    assert_eq!(pruned.networks_deleted, Some(vec!["a".into(), "b".into()]));
    assert_eq!(
        calls(&f),
        [
            "GET /v1.51/networks?filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%7D",
            "GET /v1.51/networks/n%201",
            "GET /v1.51/networks/n1?verbose=true&scope=local",
            "GET /v1.51/networks/gone",
            "POST /v1.51/networks/create",
            "POST /v1.51/networks/front/connect",
            "POST /v1.51/networks/front/disconnect",
            "DELETE /v1.51/networks/front",
            "POST /v1.51/networks/prune?filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D",
        ]
    );
}

#[tokio::test]
async fn typed_volumes() {
    use engine_types::models::VolumeCreateRequest;
    let vol = json!({"Name": "data", "Driver": "local", "Mountpoint": "/var/lib/berth/volumes/data/_data",
        "CreatedAt": "2024-01-02T03:04:05Z", "Labels": {"a": "b"}, "Scope": "local", "Options": null});
    let (v1, v2) = (vol.clone(), vol.clone());
    let f = fake(Some("1.51"), move |method, path| match (method, path) {
        ("GET", "/v1.51/volumes") => json_ok(json!({"Volumes": [v1.clone()], "Warnings": null})),
        ("POST", "/v1.51/volumes/create") => json_ok(v2.clone()),
        ("GET", "/v1.51/volumes/data") => json_ok(v2.clone()),
        ("POST", "/v1.51/volumes/prune") => {
            json_ok(json!({"VolumesDeleted": ["x"], "SpaceReclaimed": 4096}))
        }
        ("DELETE", "/v1.51/volumes/busy") => {
            (409, vec![], r#"{"message":"volume is in use"}"#.into())
        }
        _ => (204, vec![], String::new()),
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");
    let list = c.volume_list(None).await.expect("list");
    let vols = list.volumes.expect("volumes");
    assert_eq!(vols[0].name, "data");
    assert_eq!(vols[0].labels.get("a").map(String::as_str), Some("b"));
    assert!(vols[0].options.is_empty());

    let created = c
        .volume_create(&VolumeCreateRequest {
            name: Some("data".into()),
            driver: Some("local".into()),
            ..Default::default()
        })
        .await
        .expect("create");
    assert_eq!(created.mountpoint, "/var/lib/berth/volumes/data/_data");
    assert_eq!(last_body(&f), json!({"Name": "data", "Driver": "local"}));
    assert_eq!(
        c.volume_inspect("data").await.expect("inspect").driver,
        "local"
    );
    assert!(!c.volume_inspect_raw("data").await.expect("raw").is_empty());
    c.volume_remove("data", true).await.expect("rm");
    let e = c.volume_remove("busy", false).await.expect_err("409");
    assert_eq!(
        e.to_string(),
        "Error response from daemon: volume is in use"
    );
    let pruned = c
        .volume_prune(Some(r#"{"all":{"true":true}}"#))
        .await
        .expect("prune");
    assert_eq!(pruned.space_reclaimed, Some(4096));
    assert_eq!(
        calls(&f),
        [
            "GET /v1.51/volumes",
            "POST /v1.51/volumes/create",
            "GET /v1.51/volumes/data",
            "GET /v1.51/volumes/data",
            "DELETE /v1.51/volumes/data?force=1",
            "DELETE /v1.51/volumes/busy",
            "POST /v1.51/volumes/prune?filters=%7B%22all%22%3A%7B%22true%22%3Atrue%7D%7D",
        ]
    );
}

#[tokio::test]
async fn typed_top() {
    let f = fake(Some("1.51"), |_, _| {
        json_ok(json!({"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 9"]]}))
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");
    let top = c.container_top("web", Some("-ef")).await.expect("top");
    assert_eq!(top.titles, Some(vec!["PID".to_string(), "CMD".to_string()]));
    assert_eq!(top.processes.as_deref().map(<[_]>::len), Some(1));
    c.container_top("web", None).await.expect("top");
    assert_eq!(
        calls(&f),
        [
            "GET /v1.51/containers/web/top?ps_args=-ef",
            "GET /v1.51/containers/web/top"
        ]
    );
}

#[tokio::test]
async fn typed_exec_logs_stats_update_prune() {
    use engine_types::models::{ContainerUpdateBody, ExecConfig, ExecStartConfig};
    let f = fake(Some("1.51"), |method, path| match (method, path) {
        ("POST", "/v1.51/containers/web/exec") => (
            201,
            vec![("Content-Type", "application/json")],
            r#"{"Id":"e1"}"#.into(),
        ),
        ("GET", "/v1.51/exec/e1/json") => {
            json_ok(json!({"ID": "e1", "Running": false, "ExitCode": 7}))
        }
        ("GET", "/v1.51/containers/web/logs") => (200, vec![], "hello\n".into()),
        ("GET", "/v1.51/containers/web/stats") => json_ok(json!({
            "id": "abc", "name": "/web", "read": "2024-01-01T00:00:00Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 5}, "online_cpus": 2},
            "memory_stats": {"usage": 10, "stats": {"inactive_file": 2}},
            "blkio_stats": {"io_service_bytes_recursive": null}
        })),
        ("POST", "/v1.51/containers/web/update") => json_ok(json!({"Warnings": ["w"]})),
        ("POST", "/v1.51/containers/prune") => {
            json_ok(json!({"ContainersDeleted": ["a"], "SpaceReclaimed": 3}))
        }
        _ => (200, vec![], String::new()),
    });
    let c = Client::connect(f.host.clone()).await.expect("connect");
    let cfg = ExecConfig {
        cmd: Some(vec!["true".into()]),
        attach_stdout: Some(false),
        ..Default::default()
    };
    assert_eq!(c.exec_create("web", &cfg).await.expect("create").id, "e1");
    assert_eq!(
        last_body(&f),
        json!({"Cmd": ["true"], "AttachStdout": false})
    );
    let start = ExecStartConfig {
        detach: Some(true),
        tty: Some(false),
        console_size: None,
    };
    c.exec_start_detached("e1", &start).await.expect("start");
    assert_eq!(last_body(&f), json!({"Detach": true, "Tty": false}));
    assert_eq!(
        c.exec_inspect("e1").await.expect("inspect").exit_code,
        Some(7)
    );

    let resp = c
        .container_logs(
            "web",
            &LogsOptions {
                stdout: true,
                stderr: true,
                follow: true,
                tail: Some("all".into()),
                since: Some("10".into()),
                ..Default::default()
            },
        )
        .await
        .expect("logs");
    assert_eq!(&collect(resp).await.expect("body")[..], b"hello\n");

    let s = c.container_stats_once("web").await.expect("stats");
    assert_eq!(s.name.as_deref(), Some("/web"));
    assert_eq!(
        s.memory_stats
            .and_then(|m| m.stats)
            .and_then(|m| m.get("inactive_file").copied()),
        Some(2)
    );
    let body = ContainerUpdateBody {
        memory: Some(1 << 20),
        ..Default::default()
    };
    let u = c.container_update("web", &body).await.expect("update");
    assert_eq!(u.warnings, Some(vec!["w".to_string()]));
    assert_eq!(last_body(&f), json!({"Memory": 1048576}));
    let p = c
        .container_prune(Some(r#"{"until":{"1h":true}}"#))
        .await
        .expect("prune");
    assert_eq!(p.space_reclaimed, Some(3));
    assert_eq!(
        calls(&f),
        [
            "POST /v1.51/containers/web/exec",
            "POST /v1.51/exec/e1/start",
            "GET /v1.51/exec/e1/json",
            "GET /v1.51/containers/web/logs?stdout=1&stderr=1&follow=1&tail=all&since=10",
            "GET /v1.51/containers/web/stats?stream=0",
            "POST /v1.51/containers/web/update",
            "POST /v1.51/containers/prune?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D",
        ]
    );
}

#[tokio::test]
async fn pause_rename_resize_paths() {
    let f = fake(Some("1.51"), |_, _| (204, vec![], String::new()));
    let c = Client::connect(f.host.clone()).await.expect("connect");
    c.container_pause("web").await.expect("pause");
    c.container_unpause("web").await.expect("unpause");
    c.container_rename("web", "new name").await.expect("rename");
    c.resize_tty("web", false, 40, 120).await.expect("resize");
    c.resize_tty("e1", true, 24, 80).await.expect("resize exec");
    assert_eq!(
        calls(&f),
        [
            "POST /v1.51/containers/web/pause",
            "POST /v1.51/containers/web/unpause",
            "POST /v1.51/containers/web/rename?name=new%20name",
            "POST /v1.51/containers/web/resize?h=40&w=120",
            "POST /v1.51/exec/e1/resize?h=24&w=80",
        ]
    );
}

//! The real docker CLI and `berth` against the same scripted daemon: for
//! the network, volume, port and run/create networking commands both must
//! send the same requests (paths, queries, JSON bodies up to fields left
//! at their zero value) and print the same output with the same status.
//!
//! Needs a docker 28 (or later) CLI on PATH (or in BERTH_TEST_DOCKER_CLI);
//! without one each test prints SKIPPED and passes.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{daemon, run, text, FakeDaemon, Seen};
use serde_json::Value;

fn docker_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_TEST_DOCKER_CLI") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("docker"))
            .find(|p| p.is_file())
    })
}

/// A request without the API version prefix, its body reduced to the
/// fields that carry a value (docker's client sends zero values the
/// daemon reads like absent ones).
fn normalized(s: &Seen) -> (String, String, Value) {
    let target = match s.target.strip_prefix("/v") {
        Some(rest) => rest
            .find('/')
            .map_or(s.target.clone(), |i| rest[i..].to_string()),
        None => s.target.clone(),
    };
    // Go's url.Values encodes its keys sorted; the order means nothing.
    let target = match target.split_once('?') {
        Some((path, q)) => {
            let mut params: Vec<&str> = q.split('&').collect();
            params.sort_unstable();
            format!("{path}?{}", params.join("&"))
        }
        None => target,
    };
    let mut body = serde_json::from_str(&s.body)
        .map(without_zero_values)
        .unwrap_or(Value::Null);
    // docker's CLI also sends `Detach` in an exec's create body, a field
    // the API's ExecConfig does not have and the daemon ignores.
    if target.starts_with("/containers/") && target.ends_with("/exec") {
        if let Some(m) = body.as_object_mut() {
            m.remove("Detach");
        }
    }
    // docker's CLI builds the IPAM pools in a Go map: their order is random.
    if let Some(Value::Array(pools)) = body.pointer_mut("/IPAM/Config") {
        pools.sort_by_key(|p| p["Subnet"].as_str().unwrap_or_default().to_string());
    }
    (s.method.clone(), target, body)
}

fn without_zero_values(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, without_zero_values(v)))
                .filter(|(_, v)| !is_zero(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_zero_values).collect()),
        v => v,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// The requests of one run, pings and HEADs left out.
fn requests(d: &FakeDaemon, from: usize) -> Vec<(String, String, Value)> {
    d.seen()[from..]
        .iter()
        .filter(|s| !s.target.ends_with("/_ping") && s.method != "HEAD")
        .map(normalized)
        .collect()
}

fn docker(cli: &PathBuf, d: &FakeDaemon, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(cli);
    cmd.args(args)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.config_dir())
        .env_remove("DOCKER_CONTEXT");
    run(cmd, stdin)
}

/// Runs `args` with both CLIs and checks they agree.
fn same(cli: &PathBuf, d: &FakeDaemon, args: &[&str]) {
    same_with_input(cli, d, args, None)
}

/// [`same`] with `stdin` fed to both (answers to prompts).
fn same_with_input(cli: &PathBuf, d: &FakeDaemon, args: &[&str], stdin: Option<&[u8]>) {
    let n = d.seen().len();
    let want = docker(cli, d, args, stdin);
    let want_reqs = requests(d, n);
    let n = d.seen().len();
    let got = d.berth_in(args, stdin);
    let got_reqs = requests(d, n);
    assert_eq!(got_reqs, want_reqs, "requests of {args:?}");
    assert_eq!(text(&got.stdout), text(&want.stdout), "stdout of {args:?}");
    assert_eq!(text(&got.stderr), text(&want.stderr), "stderr of {args:?}");
    assert_eq!(got.status.code(), want.status.code(), "status of {args:?}");
}

/// The CLI's major version, from "Docker version 28.2.2, build e6534b4".
fn major_version(cli: &PathBuf) -> Option<u32> {
    let out = Command::new(cli).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v = text.split_whitespace().nth(2)?;
    v.split('.').next()?.parse().ok()
}

/// Runs `test` with a docker 28 (or later) CLI: the behaviour compared is
/// that of the current CLI (older ones lack flags such as `--ipv4`).
fn with_docker(test: impl FnOnce(&PathBuf)) {
    match docker_cli() {
        Some(cli) => match major_version(&cli) {
            Some(v) if v >= 28 => test(&cli),
            other => println!("SKIPPED: docker CLI version {other:?} is older than 28"),
        },
        None => println!("SKIPPED: no docker CLI on PATH (set BERTH_TEST_DOCKER_CLI)"),
    }
}

const NETWORKS: &str = r#"[
 {"Name":"net10","Id":"aaaaaaaaaaaa1111","Created":"2024-05-06T07:08:09.5Z","Scope":"local",
  "Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":true,"Labels":{"tier":"back"}},
 {"Name":"bridge","Id":"bbbbbbbbbbbb2222","Created":"2024-05-06T07:08:09.123456789+02:00",
  "Scope":"local","Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
 {"Name":"net9","Id":"cccccccccccc3333","Created":"2024-05-06T07:08:09Z","Scope":"local",
  "Driver":"macvlan","Labels":null}]"#;

const VOLUMES: &str = r#"{"Volumes":[
 {"Name":"vol10","Driver":"local","Mountpoint":"/v/vol10/_data","Labels":{"k":"v"},"Scope":"local",
  "Options":null,"UsageData":{"Size":2048,"RefCount":2}},
 {"Name":"vol9","Driver":"local","Mountpoint":"/v/vol9/_data","Labels":null,"Scope":"local","Options":{}},
 {"Name":"0abc","Driver":"other","Mountpoint":"/v/0abc/_data","Labels":{},"Scope":"global","Options":{}}],
 "Warnings":["some driver is down"]}"#;

const VOLUME: &str = r#"{"Name":"data","Driver":"local","Mountpoint":"/v/data/_data","Labels":{},"Scope":"local","Options":{}}"#;

fn parity_daemon() -> FakeDaemon {
    daemon(&[
        ("GET /networks", 200, NETWORKS),
        ("GET /volumes", 200, VOLUMES),
        (
            "POST /networks/create",
            201,
            r#"{"Id":"0123456789abcdef","Warning":""}"#,
        ),
        ("POST /networks/front/connect", 200, ""),
        ("POST /networks/front/disconnect", 200, ""),
        ("DELETE /networks/n1", 204, ""),
        (
            "DELETE /networks/busy",
            403,
            r#"{"message":"network busy has active endpoints"}"#,
        ),
        (
            "DELETE /networks/gone",
            404,
            r#"{"message":"network gone not found"}"#,
        ),
        (
            "POST /networks/prune",
            200,
            r#"{"NetworksDeleted":["n1","n2"]}"#,
        ),
        ("POST /volumes/create", 201, VOLUME),
        ("DELETE /volumes/v1", 204, ""),
        (
            "DELETE /volumes/busy",
            409,
            r#"{"message":"remove busy: volume is in use - [c1]"}"#,
        ),
        (
            "POST /volumes/prune",
            200,
            r#"{"VolumesDeleted":["v1"],"SpaceReclaimed":1500000}"#,
        ),
        (
            "GET /containers/web/json",
            200,
            r#"{"Id":"abc","Name":"/web","Config":{},"HostConfig":{},"NetworkSettings":{"Ports":{
              "80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
              "53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],"9000/tcp":null,
              "443/tcp":[{"HostIp":"","HostPort":"32768"}]}}}"#,
        ),
        (
            "POST /containers/create",
            201,
            r#"{"Id":"c0ffee","Warnings":[]}"#,
        ),
    ])
}

#[test]
fn network_commands_match_docker() {
    with_docker(|cli| {
        let d = parity_daemon();
        for args in [
            &["network", "ls"][..],
            &["network", "ls", "-q", "--no-trunc"],
            &["network", "ls", "--format", "raw"],
            &[
                "network",
                "ls",
                "--filter",
                "driver=bridge",
                "--format",
                "{{.Name}} {{.IPv4}} {{.Internal}} {{.Label \"tier\"}} {{.CreatedAt}}",
            ],
            &["network", "ls", "--format", "table {{.Name}}\t{{.Driver}}"],
            &["network", "create", "plain"],
            &[
                "network",
                "create",
                "--subnet",
                "10.5.0.0/16",
                "--subnet",
                "fd00:5::/64",
                "--gateway",
                "10.5.0.1",
                "--ip-range",
                "10.5.1.0/24",
                "--aux-address",
                "h1=10.5.0.9",
                "--internal",
                "--attachable",
                "--ipv6",
                "--label",
                "tier=front",
                "-o",
                "com.docker.network.bridge.name=brx",
                "--ipam-opt",
                "k=v",
                "front",
            ],
            &[
                "network",
                "create",
                "--ipv4=false",
                "--scope",
                "local",
                "--config-from",
                "base",
                "cf",
            ],
            &[
                "network",
                "create",
                "--config-only",
                "--ingress",
                "-d",
                "macvlan",
                "co",
            ],
            &["network", "create", "--gateway", "10.0.0.1", "x"],
            &[
                "network",
                "create",
                "--subnet",
                "10.0.0.0/8",
                "--subnet",
                "10.1.0.0/16",
                "x",
            ],
            &[
                "network",
                "connect",
                "--ip",
                "10.5.0.20",
                "--ip6",
                "fd00::20",
                "--alias",
                "a,b",
                "--link",
                "db:dbb",
                "--driver-opt",
                "x=1",
                "front",
                "web",
            ],
            &["network", "disconnect", "-f", "front", "web"],
            &["network", "rm", "n1", "busy", "gone"],
            &["network", "rm", "-f", "gone", "n1"],
            &["network", "prune", "-f", "--filter", "until=1h"],
        ] {
            same(cli, &d, args);
        }
        for answer in [&b"y\n"[..], b"n\n", b""] {
            same_with_input(cli, &d, &["network", "prune"], Some(answer));
        }
    });
}

#[test]
fn volume_and_port_commands_match_docker() {
    with_docker(|cli| {
        let d = parity_daemon();
        for args in [
            &["volume", "ls"][..],
            &["volume", "ls", "-q", "-f", "dangling=true"],
            &["volume", "ls", "--format", "json"],
            &["volume", "ls", "--format", "raw"],
            &[
                "volume",
                "ls",
                "--format",
                "{{.Name}}|{{.Scope}}|{{.Links}}|{{.Size}}|{{.Label \"k\"}}",
            ],
            &["volume", "create"],
            &[
                "volume",
                "create",
                "-o",
                "type=tmpfs",
                "--label",
                "a=b",
                "data",
            ],
            &["volume", "create", "--name", "a", "b"],
            &["volume", "rm", "busy", "v1"],
            &["volume", "rm", "-f", "v1"],
            &["volume", "prune", "-f"],
            &["volume", "prune", "-a", "-f", "--filter", "label=x"],
            &["port", "web"],
            &["port", "web", "80"],
            &["port", "web", "53/udp"],
            &["port", "web", "9000"],
        ] {
            same(cli, &d, args);
        }
        for answer in [&b"yes\n"[..], b"no\n"] {
            same_with_input(cli, &d, &["volume", "prune"], Some(answer));
            same_with_input(cli, &d, &["volume", "prune", "-a"], Some(answer));
        }
    });
}

#[test]
fn create_networking_flags_match_docker() {
    with_docker(|cli| {
        let d = parity_daemon();
        for args in [
            &["create", "busybox"][..],
            common::CREATE_WITH_NETWORKING,
            &[
                "create",
                "--mac-address",
                "02:42:ac:11:00:09",
                "--ip",
                "172.17.0.9",
                "busybox",
            ],
            &["create", "--network", "mynet", "busybox"],
            &["create", "--network", "host", "-p", "80:80", "busybox"],
            &["create", "--network", "container:web", "busybox"],
            &[
                "create",
                "-p",
                "8080-8081:80-81",
                "-p",
                "9000-9005:90",
                "-p",
                "[::1]:53:53/udp",
                "--link",
                "a",
                "busybox",
            ],
        ] {
            let n = d.seen().len();
            let want = docker(cli, &d, args, None);
            let want_reqs = requests(&d, n);
            let n = d.seen().len();
            let got = d.berth(args);
            let got_reqs = requests(&d, n);
            // Only the create request: docker also inspects the image first.
            let create = |r: &[(String, String, Value)]| {
                r.iter()
                    .find(|(_, t, _)| t.starts_with("/containers/create"))
                    .map(|(_, _, b)| {
                        let pick = |o: &Value, keys: &[&str]| -> Value {
                            keys.iter()
                                .filter_map(|k| o.get(*k).map(|v| (k.to_string(), v.clone())))
                                .collect::<serde_json::Map<_, _>>()
                                .into()
                        };
                        (
                            pick(b, &["Hostname", "Domainname", "ExposedPorts"]),
                            pick(
                                &b["HostConfig"],
                                &[
                                    "NetworkMode",
                                    "PortBindings",
                                    "PublishAllPorts",
                                    "Links",
                                    "Dns",
                                    "DnsSearch",
                                    "DnsOptions",
                                    "ExtraHosts",
                                ],
                            ),
                            b["NetworkingConfig"].clone(),
                        )
                    })
            };
            assert_eq!(create(&got_reqs), create(&want_reqs), "{args:?}");
            assert_eq!(text(&got.stdout), text(&want.stdout), "stdout of {args:?}");
            assert_eq!(got.status.code(), want.status.code(), "status of {args:?}");
        }
    });
}

#[test]
fn container_commands_match_docker() {
    with_docker(|cli| {
        let d = daemon(&[
            (
                "GET /containers/c1/json",
                200,
                r#"{"Id":"c1full","Name":"/c1","State":{"Running":true,"Status":"running"},"Config":{"Tty":false},"HostConfig":{}}"#,
            ),
            (
                "GET /containers/c1/top",
                200,
                r#"{"Titles":["UID","PID","CMD"],"Processes":[["root","1","sleep 100"],["root","7","sh"]]}"#,
            ),
            (
                "POST /containers/c1/update",
                200,
                r#"{"Warnings":["careful"]}"#,
            ),
            ("POST /containers/c1/exec", 201, r#"{"Id":"e1"}"#),
            ("POST /exec/e1/start", 200, ""),
            (
                "GET /images/busybox/history",
                200,
                r#"[{"Id":"sha256:0123456789abcdef","Created":0,"CreatedBy":"/bin/sh -c #(nop) CMD [\"sh\"]","Tags":["busybox:latest"],"Size":0,"Comment":""},
                    {"Id":"<missing>","Created":0,"CreatedBy":"ADD file","Tags":null,"Size":4261550,"Comment":"c"}]"#,
            ),
            ("POST /containers/c1/pause", 204, ""),
            ("GET /containers/c1/stats", 200, common::STATS_SAMPLE),
            // stdcopy frames: stream 1 (stdout) and 2 (stderr), big-endian sizes.
            (
                "GET /containers/c1full/logs",
                200,
                "\u{1}\0\0\0\0\0\0\u{9}line one\n\u{2}\0\0\0\0\0\0\u{9}line two\n",
            ),
            (
                "GET /containers/c2/json",
                200,
                r#"{"Id":"c2full","Name":"/c2","State":{"Running":true},"Config":{"Tty":true},"HostConfig":{}}"#,
            ),
            ("GET /containers/c2full/logs", 200, "raw tty\r\noutput\r\n"),
            ("POST /containers/c1/rename", 204, ""),
        ]);
        for args in [
            &["top", "c1"][..],
            &["top", "c1", "-ef"],
            &[
                "update",
                "-m",
                "64m",
                "--cpus",
                "1.5",
                "--restart",
                "on-failure:2",
                "--pids-limit",
                "10",
                "c1",
            ],
            &[
                "exec", "-d", "-e", "A=1", "-u", "1000", "-w", "/tmp", "c1", "touch", "/x",
            ],
            &[
                "history",
                "-H=false",
                "--format",
                "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
                "busybox",
            ],
            &["history", "--no-trunc", "-q", "busybox"],
            &["pause", "c1"],
            &["stats", "--no-stream", "c1"],
            &["stats", "--no-stream", "--format", "json", "c1"],
            &["logs", "--tail", "5", "-t", "c1"],
            &["logs", "--since", "2024-01-01T00:00:00Z", "--details", "c1"],
            &["logs", "c2"],
            &["rename", "c1", "c2"],
        ] {
            same(cli, &d, args);
        }
    });
}

#[test]
fn image_prune_inspect_and_event_commands_match_docker() {
    with_docker(|cli| {
        let d = daemon(&[common::PRUNE_AND_RMI_ROUTES, &[
            ("POST /images/busybox/tag", 201, ""),
            (
                "GET /containers/c1/json",
                200,
                r#"{"Id":"c1full","Name":"/c1","State":{"Status":"exited","ExitCode":3},"Config":{"Labels":{"k":"v"}},"Extra":[1,{"a":null}]}"#,
            ),
            (
                "GET /networks/front",
                200,
                r#"{"Name":"front","Id":"f1","IPAM":{"Config":[{"Subnet":"10.5.0.0/16"}]},"Containers":{}}"#,
            ),
            // What docker's `inspect` of an unknown name asks last.
            (
                "GET /info",
                200,
                r#"{"Swarm":{"LocalNodeState":"inactive"}}"#,
            ),
            (
                "GET /plugins/nope/json",
                404,
                r#"{"message":"plugin \"nope\" not found"}"#,
            ),
            (
                "GET /volumes/data",
                200,
                r#"{"Name":"data","Driver":"local","Mountpoint":"/v/data/_data","Labels":{},"Scope":"local","Options":{}}"#,
            ),
            (
                "GET /events",
                200,
                r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"x"}},"scope":"local","time":1700000000,"timeNano":1700000000000000001}
{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{}},"scope":"local","time":1700000001,"timeNano":1700000001000000000}
"#,
            ),
        ]]
        .concat());
        for args in [
            &["container", "prune", "-f", "--filter", "until=1h"][..],
            &["image", "prune", "-a", "-f"],
            &["rmi", "busybox:latest", "gone"],
            &["rmi", "-f", "gone"],
            &["tag", "busybox", "127.0.0.1:5000/bb:1"],
            &["inspect", "c1"],
            &[
                "inspect",
                "--format",
                "{{.State.ExitCode}} {{.Config.Labels.k}} {{json .Extra}}",
                "c1",
            ],
            &["container", "inspect", "-f", "{{.Name}}", "c1"],
            &["network", "inspect", "front"],
            &["volume", "inspect", "--format", "{{.Mountpoint}}", "data"],
            &["inspect", "--type", "volume", "nope"],
            &["events", "--until", "1700000002"],
            &[
                "events",
                "--since",
                "2023-11-14T22:13:20Z",
                "--until",
                "1700000002",
                "--format",
                "{{.Type}} {{.Action}} {{.Actor.ID}}",
            ],
        ] {
            same(cli, &d, args);
        }
        // `--format json` prints the same events; docker keeps its struct's
        // key order where the template engine sorts keys: compare values.
        let args = [
            "events",
            "--until",
            "1700000002",
            "--filter",
            "type=container",
            "--format",
            "json",
        ];
        let n = d.seen().len();
        let want = docker(cli, &d, &args, None);
        let want_reqs = requests(&d, n);
        let n = d.seen().len();
        let got = d.berth(&args);
        assert_eq!(requests(&d, n), want_reqs);
        let values = |o: &Output| -> Vec<Value> {
            text(&o.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        assert_eq!(values(&got), values(&want));
        assert_eq!(got.status.code(), want.status.code());
        // docker's `inspect` of an unknown name goes on to ask about swarm
        // objects and plugins, which Berth does not have: the answer is
        // compared, not the requests.
        let want = docker(cli, &d, &["inspect", "nope"], None);
        let got = d.berth(&["inspect", "nope"]);
        assert_eq!(text(&got.stdout), text(&want.stdout));
        assert_eq!(text(&got.stderr), text(&want.stderr));
        assert_eq!(got.status.code(), want.status.code());
        for answer in [&b"y\n"[..], b"n\n"] {
            same_with_input(cli, &d, &["container", "prune"], Some(answer));
            same_with_input(cli, &d, &["image", "prune"], Some(answer));
        }
    });
}

#[test]
fn ps_and_images_match_docker() {
    with_docker(|cli| {
        let d = daemon(&[
            (
                "GET /containers/json",
                200,
                r#"[{"Id":"0123456789abcdef0123456789abcdef","Names":["/web"],"Image":"busybox",
                    "ImageID":"sha256:aa","Command":"sleep 100","Created":1700000000,"State":"running",
                    "Status":"Up 3 seconds","Ports":[{"PrivatePort":80,"PublicPort":8080,"Type":"tcp","IP":"0.0.0.0"},
                    {"PrivatePort":80,"PublicPort":8080,"Type":"tcp","IP":"::"},{"PrivatePort":53,"Type":"udp"}],
                    "Labels":{"tier":"front"},"SizeRw":12,"SizeRootFs":1000,
                    "NetworkSettings":{"Networks":{"bridge":{}}},
                    "Mounts":[{"Type":"volume","Name":"vol1","Source":"/v","Destination":"/d","Driver":"local"}]}]"#,
            ),
            (
                "GET /images/json",
                200,
                r#"[{"Id":"sha256:3a34af191aeb10f8aaaa","ParentId":"","RepoTags":["busybox:latest"],
                    "RepoDigests":["busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
                    "Created":1700000000,"Size":4261550,"SharedSize":-1,"Labels":{"a":"b"},"Containers":2},
                   {"Id":"sha256:ffff","ParentId":"","RepoTags":[],"RepoDigests":[],"Created":1700000000,
                    "Size":1920,"SharedSize":-1,"Labels":null,"Containers":-1}]"#,
            ),
        ]);
        for args in [
            &["ps"][..],
            &["ps", "-a", "-s"],
            &["ps", "--no-trunc", "-q"],
            &["ps", "--format", "json"],
            &["ps", "--format", "{{.Names}} {{.Ports}} {{.Networks}} {{.Mounts}} {{.LocalVolumes}} {{.Label \"tier\"}}"],
            &["images"],
            &["images", "--digests"],
            &["images", "-q", "--no-trunc"],
            &["images", "--format", "json"],
            &["images", "--format", "{{ .Digest }} {{.Tag}}"],
            &["images", "--digests", "--format", "json"],
            &["images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}} {{.Containers}} {{.VirtualSize}}"],
        ] {
            same(cli, &d, args);
        }
    });
}

//! The commands moved onto the typed client (info, version, prunes, rmi,
//! history, update, stats, exec, top, logs, events) against the scripted
//! daemon: the requests they send and their output for canned answers.

mod common;

use common::{calls, daemon, text, FakeDaemon};
use serde_json::{json as j, Value};

fn targets(d: &FakeDaemon) -> Vec<String> {
    calls(d)
        .into_iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect()
}

fn ok(d: &FakeDaemon, args: &[&str]) -> String {
    let out = d.berth(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

const INFO: &str = r#"{"ID":"X1","Containers":3,"ContainersRunning":1,"ContainersPaused":0,
 "ContainersStopped":2,"Images":5,"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"]],
 "LoggingDriver":"json-file","CgroupDriver":"cgroupfs","CgroupVersion":"2",
 "Runtimes":{"runc":{"path":"runc"},"berth":{"path":"berth-runtime"}},"DefaultRuntime":"berth",
 "SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"],"KernelVersion":"6.1.0",
 "OperatingSystem":"Debian GNU/Linux 12","OSType":"linux","Architecture":"x86_64","NCPU":2,
 "MemTotal":4294967296,"Name":"host1","DockerRootDir":"/var/lib/berth","Debug":false,
 "ExperimentalBuild":false,"LiveRestoreEnabled":true,"ServerVersion":"0.1.0",
 "Warnings":["WARNING: no swap limit support"],"SomethingNewer":{"a":1}}"#;

#[test]
fn info_and_version() {
    let d = daemon(&[
        ("GET /info", 200, INFO),
        (
            "GET /version",
            200,
            r#"{"Version":"0.1.0","ApiVersion":"1.51","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#,
        ),
    ]);
    let out = d.berth(&["info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let server = stdout
        .split_once("\nServer:\n")
        .map(|(_, s)| s)
        .unwrap_or("");
    assert_eq!(
        server,
        " Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 5\n Server Version: 0.1.0\n \
Storage Driver: overlay2\n  Backing Filesystem: extfs\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n \
Cgroup Version: 2\n Runtimes: berth runc\n Default Runtime: berth\n Security Options:\n  seccomp\n   \
Profile: builtin\n  cgroupns\n Kernel Version: 6.1.0\n Operating System: Debian GNU/Linux 12\n OSType: linux\n \
Architecture: x86_64\n CPUs: 2\n Total Memory: 4GiB\n Name: host1\n ID: X1\n Docker Root Dir: /var/lib/berth\n \
Debug Mode: false\n Experimental: false\n Live Restore Enabled: true\n"
    );
    assert_eq!(text(&out.stderr), "WARNING: no swap limit support\n");
    // Templates see the daemon's JSON, newer fields included.
    assert_eq!(
        ok(
            &d,
            &[
                "info",
                "--format",
                "{{.Name}} {{.NCPU}} {{.SomethingNewer.a}}"
            ]
        ),
        "host1 2 1\n"
    );
    assert_eq!(
        ok(
            &d,
            &[
                "version",
                "--format",
                "{{.Client.ApiVersion}} {{.Server.MinAPIVersion}}"
            ]
        ),
        "1.51 1.24\n"
    );
}

#[test]
fn prunes_and_rmi() {
    let d = daemon(
        &[
            common::PRUNE_AND_RMI_ROUTES,
            &[
                ("POST /networks/prune", 200, r#"{"NetworksDeleted":null}"#),
                (
                    "POST /build/prune",
                    200,
                    r#"{"CachesDeleted":["k1"],"SpaceReclaimed":500}"#,
                ),
            ],
        ]
        .concat(),
    );
    assert_eq!(
        ok(&d, &["system", "prune", "-f", "--filter", "until=1h"]),
        "Deleted Containers:\nc1\n\nDeleted Images:\nuntagged: a:1\ndeleted: sha256:aa\n\n\
         Deleted build cache objects:\nk1\n\nTotal reclaimed space: 3.5kB\n"
    );
    assert_eq!(
        ok(&d, &["container", "prune", "-f"]),
        "Deleted Containers:\nc1\n\nTotal reclaimed space: 1kB\n"
    );
    assert_eq!(
        ok(&d, &["image", "prune", "-a", "-f"]),
        "Deleted Images:\nuntagged: a:1\ndeleted: sha256:aa\n\nTotal reclaimed space: 2kB\n"
    );
    let out = d.berth(&["rmi", "busybox:latest", "gone"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "Untagged: busybox:latest\nDeleted: sha256:bb\n"
    );
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such image: gone:latest\n"
    );
    assert_eq!(
        targets(&d),
        [
            "POST /v1.51/containers/prune?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D",
            "POST /v1.51/networks/prune?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D",
            "POST /v1.51/images/prune?filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%2C%22until%22%3A%7B%221h%22%3Atrue%7D%7D",
            "POST /v1.51/build/prune",
            "POST /v1.51/containers/prune",
            "POST /v1.51/images/prune?filters=%7B%22dangling%22%3A%7B%22false%22%3Atrue%7D%7D",
            "DELETE /v1.51/images/busybox:latest",
            "DELETE /v1.51/images/gone",
        ]
    );
}

#[test]
fn history_update_stats_top() {
    let d = daemon(&[
        (
            "GET /images/busybox/history",
            200,
            r#"[{"Id":"sha256:0123456789abcdef","Created":0,"CreatedBy":"/bin/sh -c\t#(nop) CMD [\"sh\"]","Tags":["busybox:latest"],"Size":0,"Comment":""},
                {"Id":"<missing>","Created":0,"CreatedBy":"ADD file","Tags":null,"Size":4261550,"Comment":"c"}]"#,
        ),
        (
            "POST /containers/c1/update",
            200,
            r#"{"Warnings":["careful"]}"#,
        ),
        ("GET /containers/c1/stats", 200, common::STATS_SAMPLE),
        (
            "GET /containers/c1/top",
            200,
            r#"{"Titles":["UID","PID","CMD"],"Processes":[["root","1","sleep 100"]]}"#,
        ),
    ]);
    assert_eq!(
        ok(
            &d,
            &[
                "history",
                "-H=false",
                "--format",
                "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
                "busybox"
            ]
        ),
        "0123456789ab|/bin/sh -c #(nop) CMD [\"sh\"]|0|\n<missing>|ADD file|4261550|c\n"
    );
    let out = d.berth(&["update", "-m", "64m", "--restart", "on-failure:2", "c1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "c1\ncareful\n");
    assert_eq!(text(&out.stderr), "");
    let seen = calls(&d);
    let body: Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(
        body,
        j!({"Memory": 67108864, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    );
    let out = d.berth(&["update", "c1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        ok(
            &d,
            &[
                "stats",
                "--no-stream",
                "--format",
                "{{.ID}} {{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}",
                "c1"
            ]
        ),
        "0123456789ab web 40.00% 1MiB / 2MiB 50.00% 1.5kB / 0B 0B / 0B 3\n"
    );
    assert_eq!(
        ok(&d, &["top", "c1", "-ef"]),
        "UID                 PID                 CMD\nroot                1                   sleep 100\n"
    );
    assert!(targets(&d).contains(&"GET /v1.51/containers/c1/top?ps_args=-ef".to_string()));
}

#[test]
fn exec_detached_logs_and_events() {
    let d = daemon(&[
        ("POST /containers/c1/exec", 201, r#"{"Id":"e1"}"#),
        ("POST /exec/e1/start", 200, ""),
        (
            "GET /containers/c1/json",
            200,
            r#"{"Id":"c1full","Config":{"Tty":true}}"#,
        ),
        ("GET /containers/c1full/logs", 200, "line one\nline two\n"),
        (
            "GET /events",
            200,
            r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"x"}},"scope":"local","time":1,"timeNano":1000000000}
{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{}},"scope":"local","time":2,"timeNano":2000000000}
"#,
        ),
    ]);
    let out = d.berth(&["exec", "-d", "-e", "A=1", "-u", "1000", "c1", "touch", "/x"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = calls(&d);
    // docker's order: the container is looked up first.
    assert_eq!(seen[0].target, "/v1.51/containers/c1/json");
    let seen = &seen[1..];
    let create: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        create,
        j!({"AttachStdin": false, "AttachStdout": false, "AttachStderr": false, "Tty": false,
            "Env": ["A=1"], "Cmd": ["touch", "/x"], "Privileged": false, "User": "1000",
            "WorkingDir": ""})
    );
    let start: Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(start, j!({"Detach": true, "Tty": false}));

    assert_eq!(
        ok(&d, &["logs", "--tail", "5", "c1"]),
        "line one\nline two\n"
    );
    assert!(targets(&d)
        .contains(&"GET /v1.51/containers/c1full/logs?stdout=1&stderr=1&tail=5".to_string()));

    let out = ok(&d, &["events"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].ends_with(" container start abc (name=x)"), "{out}");
    assert!(lines[1].ends_with(" network connect n1"), "{out}");
    assert_eq!(
        ok(
            &d,
            &["events", "--format", "{{.Type}}/{{.Action}}/{{.scope}}"]
        ),
        "container/start/local\nnetwork/connect/local\n"
    );
}

#[test]
fn build_sends_typed_query_maps_and_reads_the_stream() {
    let d = daemon(&[(
        "POST /build",
        200,
        "{\"stream\":\"Step 1/1 : FROM scratch\\n\"}\n{\"stream\":\" ---> Using cache\\n\"}\n\
         {\"id\":\"moby.buildkit.trace\",\"aux\":\"Cg==\"}\n{\"aux\":{\"ID\":\"sha256:abc\"}}\n",
    )]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let iid = dir.path().join("iid");
    let ctx = dir.path().display().to_string();
    let iid_s = iid.display().to_string();
    let out = ok(
        &d,
        &[
            "build",
            "--iidfile",
            &iid_s,
            "--build-arg",
            "A=1",
            "--build-arg",
            "BERTH_TEST_SURELY_UNSET_VAR",
            "--label",
            "l=v",
            "--cache-from",
            "c1",
            &ctx,
        ],
    );
    assert_eq!(out, "Step 1/1 : FROM scratch\n ---> CACHED\n");
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), "sha256:abc");
    let target = calls(&d)[0].target.clone();
    for part in [
        "cachefrom=%5B%22c1%22%5D",
        "buildargs=%7B%22A%22%3A%221%22%2C%22BERTH_TEST_SURELY_UNSET_VAR%22%3Anull%7D",
        "labels=%7B%22l%22%3A%22v%22%7D",
    ] {
        assert!(target.contains(part), "{target} lacks {part}");
    }
}

//! Volumes with the real docker CLI against a berthd of the test's own: named and
//! anonymous volumes, copy-up, nocopy, ro, tmpfs-backed volumes, in-use
//! protection, `rm -v` and `--rm`, `--volumes-from`, prune, `system df`, bad
//! names, and a daemon restart under a running container.

use integration::*;

/// `docker run --rm IMAGE sh -c SCRIPT` with extra arguments before the image.
fn run_sh(d: &TestDaemon, args: &[&str], script: &str) -> Out {
    let mut full = vec!["run", "--rm"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["busybox", "sh", "-c", script]);
    d.docker(&full)
}

fn volume_names(d: &TestDaemon) -> Vec<String> {
    d.docker(&["volume", "ls", "-q"])
        .ok()
        .lines()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The mounts of container `c` as inspect reports them.
fn mounts(d: &TestDaemon, c: &str) -> Vec<serde_json::Value> {
    d.inspect(c)["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn named_volume_data_outlives_its_container() {
    let d = daemon_or_skip!();
    d.import_busybox();
    run_sh(&d, &["-v", "keep:/data"], "echo hello > /data/f").ok();
    assert!(
        volume_names(&d).contains(&"keep".to_string()),
        "made on first use"
    );
    let out = run_sh(&d, &["-v", "keep:/data:ro"], "cat /data/f").ok();
    assert_eq!(out.out().trim(), "hello");
    // Read-only really is.
    let out = run_sh(&d, &["-v", "keep:/data:ro"], "echo x > /data/g");
    assert!(!out.success(), "write to a ro volume succeeded");

    let v = d.docker(&["volume", "inspect", "keep"]).ok();
    let v: serde_json::Value = serde_json::from_str(v.out()).unwrap();
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert!(v[0]["Mountpoint"]
        .as_str()
        .unwrap()
        .ends_with("/volumes/keep/_data"));
    assert!(v[0]["CreatedAt"].as_str().unwrap().contains('T'));

    // Mounts in inspect, as Docker reports a volume.
    d.docker(&[
        "create",
        "--name",
        "c1",
        "-v",
        "keep:/data",
        "busybox",
        "true",
    ])
    .ok();
    let m = &mounts(&d, "c1")[0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], "keep");
    assert_eq!(m["Source"], v[0]["Mountpoint"]);
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["Mode"], "z");
    assert_eq!(m["RW"], true);
    assert_eq!(m["Propagation"], "");
}

#[test]
fn new_volume_is_filled_from_the_image_unless_nocopy() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /app/sub && echo seed > /app/sub/f && chown -R 1234:5678 /app && chmod 0750 /app/sub\nVOLUME /app\n",
    )
    .unwrap();
    d.docker(&["build", "-t", "seeded", ctx.path().to_str().unwrap()])
        .ok();

    // Named volume, copy-up with ownership and modes.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "seed:/app",
            "seeded",
            "sh",
            "-c",
            "cat /app/sub/f; stat -c '%u:%g %a' /app/sub",
        ])
        .ok();
    assert_eq!(out.lines(), vec!["seed", "1234:5678 750"]);
    // The copy happens once: a later change stays.
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "seed:/app",
        "seeded",
        "rm",
        "/app/sub/f",
    ])
    .ok();
    let out = d
        .docker(&["run", "--rm", "-v", "seed:/app", "seeded", "ls", "/app/sub"])
        .ok();
    assert_eq!(out.out().trim(), "");

    // nocopy: -v and --mount.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "empty1:/app:nocopy",
            "seeded",
            "ls",
            "-A",
            "/app",
        ])
        .ok();
    assert_eq!(out.out().trim(), "");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=empty2,dst=/app,volume-nocopy",
            "seeded",
            "ls",
            "-A",
            "/app",
        ])
        .ok();
    assert_eq!(out.out().trim(), "");

    // The image's VOLUME becomes an anonymous volume, filled too; --rm removes it.
    let before = volume_names(&d);
    let out = d
        .docker(&["run", "--rm", "seeded", "cat", "/app/sub/f"])
        .ok();
    assert_eq!(out.out().trim(), "seed");
    assert!(
        wait_until(std::time::Duration::from_secs(5), || volume_names(&d)
            == before),
        "--rm left the anonymous volume: {:?} vs {before:?}",
        volume_names(&d)
    );
}

#[test]
fn anonymous_volumes_go_with_rm_v_named_ones_stay() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "create",
        "--name",
        "cc",
        "-v",
        "/anon",
        "-v",
        "named:/named",
        "busybox",
        "true",
    ])
    .ok();
    let ms = mounts(&d, "cc");
    let anon = ms.iter().find(|m| m["Destination"] == "/anon").unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(anon.len(), 64);
    let names = volume_names(&d);
    assert!(names.contains(&anon) && names.contains(&"named".to_string()));
    let (_, v) = d.api_json("GET", &format!("/volumes/{anon}"), None);
    assert!(v["Labels"]
        .as_object()
        .unwrap()
        .contains_key("com.docker.volume.anonymous"));
    d.docker(&["rm", "-v", "cc"]).ok();
    let names = volume_names(&d);
    assert!(!names.contains(&anon), "rm -v kept the anonymous volume");
    assert!(
        names.contains(&"named".to_string()),
        "rm -v removed a named volume"
    );

    // Without -v the anonymous volume stays.
    d.docker(&["create", "--name", "c2", "-v", "/anon", "busybox", "true"])
        .ok();
    let anon2 = mounts(&d, "c2")[0]["Name"].as_str().unwrap().to_string();
    d.docker(&["rm", "c2"]).ok();
    assert!(volume_names(&d).contains(&anon2));
}

#[test]
fn volume_in_use_cannot_be_removed() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["volume", "create", "busy"]).ok();
    let id = d
        .docker(&[
            "create", "--name", "user", "-v", "busy:/x", "busybox", "true",
        ])
        .ok()
        .out()
        .trim()
        .to_string();
    // A stopped (never started) container holds it too.
    let (status, body) = d.api_json("DELETE", "/volumes/busy", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["message"],
        format!("remove busy: volume is in use - [{id}]")
    );
    let out = d.docker(&["volume", "rm", "busy"]).fail();
    assert!(out.err().contains("volume is in use"), "{}", out.err());
    // force does not override it, as in Docker.
    assert_eq!(d.api("DELETE", "/volumes/busy?force=1", None).0, 409);
    d.docker(&["rm", "-f", "user"]).ok();
    d.docker(&["volume", "rm", "busy"]).ok();
    assert!(!volume_names(&d).contains(&"busy".to_string()));
    // Missing: 404 with Docker's text, and no error with force.
    let (status, body) = d.api_json("DELETE", "/volumes/busy", None);
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("get busy: no such volume"))
    );
    assert_eq!(d.api("DELETE", "/volumes/busy?force=1", None).0, 204);
}

#[test]
fn volumes_from_shares_mounts_with_mode() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/shared",
        "-v",
        "/anon",
        "busybox",
        "true",
    ])
    .ok();
    run_sh(
        &d,
        &["--volumes-from", "src"],
        "echo a > /shared/f && echo b > /anon/g",
    )
    .ok();
    let out = run_sh(&d, &["--volumes-from", "src:ro"], "cat /shared/f /anon/g").ok();
    assert_eq!(out.lines(), vec!["a", "b"]);
    let out = run_sh(&d, &["--volumes-from", "src:ro"], "touch /shared/h");
    assert!(!out.success(), "volumes-from :ro is writable");
    d.docker(&[
        "create",
        "--name",
        "dst",
        "--volumes-from",
        "src:ro",
        "busybox",
        "true",
    ])
    .ok();
    let ms = mounts(&d, "dst");
    assert_eq!(ms.len(), 2, "{ms:?}");
    assert!(ms.iter().all(|m| m["RW"] == false && m["Type"] == "volume"));
    let out = d
        .docker(&["create", "--volumes-from", "nope", "busybox", "true"])
        .fail();
    assert!(out.err().contains("nope"), "{}", out.err());
}

#[test]
fn tmpfs_volume_with_size_is_mounted_while_used() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=2m",
        "ram",
    ])
    .ok();
    let (_, v) = d.api_json("GET", "/volumes/ram", None);
    assert_eq!(v["Options"]["type"], "tmpfs");
    assert_eq!(v["Options"]["o"], "size=2m");
    let out = run_sh(&d, &["-v", "ram:/ram"], "df -k /ram | tail -1").ok();
    let total: u64 = out
        .out()
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("df output: {}", out.out()));
    assert_eq!(total, 2048, "{}", out.out());
    let out = run_sh(
        &d,
        &["-v", "ram:/ram"],
        "dd if=/dev/zero of=/ram/big bs=1k count=4096",
    );
    assert!(!out.success(), "wrote 4 MiB into a 2 MiB tmpfs volume");
    // Unmounted by its last user: its content is gone with the tmpfs.
    let out = run_sh(&d, &["-v", "ram:/ram"], "ls -A /ram").ok();
    assert_eq!(out.out().trim(), "");
    // Bad options, with Docker's messages.
    let out = d
        .docker(&["volume", "create", "--opt", "type=tmpfs", "bad"])
        .fail();
    assert!(
        out.err().contains("missing required option: \"device\""),
        "{}",
        out.err()
    );
    let out = d
        .docker(&["volume", "create", "--opt", "foo=1", "bad"])
        .fail();
    assert!(
        out.err().contains("invalid option: \"foo\""),
        "{}",
        out.err()
    );
}

#[test]
fn prune_takes_anonymous_unused_volumes_or_all_with_labels() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["volume", "create", "--label", "keep=no", "n1"])
        .ok();
    d.docker(&["volume", "create", "--label", "keep=yes", "n2"])
        .ok();
    d.docker(&["volume", "create", "used"]).ok();
    d.docker(&["create", "--name", "uu", "-v", "used:/u", "busybox", "true"])
        .ok();
    d.docker(&["create", "--name", "aa", "-v", "/anon", "busybox", "true"])
        .ok();
    let anon = mounts(&d, "aa")[0]["Name"].as_str().unwrap().to_string();
    run_sh(
        &d,
        &["-v", &format!("{anon}:/x")],
        "head -c 10000 /dev/zero > /x/z",
    )
    .ok();
    d.docker(&["rm", "aa"]).ok();

    // Default: anonymous only.
    let (status, body) = d.api_json("POST", "/volumes/prune", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["VolumesDeleted"], serde_json::json!([anon]));
    assert_eq!(body["SpaceReclaimed"], 10000);
    // all + label filter.
    let f = "%7B%22all%22%3A%5B%22true%22%5D%2C%22label%22%3A%5B%22keep%3Dno%22%5D%7D";
    let (_, body) = d.api_json("POST", &format!("/volumes/prune?filters={f}"), None);
    assert_eq!(body["VolumesDeleted"], serde_json::json!(["n1"]));
    // The CLI's --all with label!=.
    d.docker(&[
        "volume",
        "prune",
        "-f",
        "--all",
        "--filter",
        "label!=keep=yes",
    ])
    .ok();
    let names = volume_names(&d);
    assert_eq!(names, vec!["n2".to_string(), "used".to_string()]);

    // Filters of ls.
    let out = d
        .docker(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .ok();
    assert_eq!(out.lines(), vec!["n2"]);
    let out = d
        .docker(&["volume", "ls", "-q", "--filter", "label=keep"])
        .ok();
    assert_eq!(out.lines(), vec!["n2"]);
}

#[test]
fn system_df_counts_images_containers_and_volumes() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "--name",
        "ww",
        "-v",
        "dfvol:/v",
        "busybox",
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /v/z; head -c 50000 /dev/zero > /rw",
    ])
    .ok();
    let (status, df) = d.api_json("GET", "/system/df", None);
    assert_eq!(status, 200, "{df}");
    assert!(df["LayersSize"].as_i64().unwrap() > 0, "{df}");
    let img = &df["Images"][0];
    assert!(img["Size"].as_i64().unwrap() > 0);
    assert_eq!(img["SharedSize"], 0, "one image shares nothing");
    assert_eq!(img["Containers"], 1);
    let c = &df["Containers"][0];
    let rw = c["SizeRw"].as_i64().unwrap();
    assert!((50000..60000).contains(&rw), "SizeRw {rw}");
    assert!(c["SizeRootFs"].as_i64().unwrap() >= rw + img["Size"].as_i64().unwrap());
    let v = df["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "dfvol")
        .unwrap()
        .clone();
    assert_eq!(v["UsageData"]["Size"], 100000);
    assert_eq!(v["UsageData"]["RefCount"], 1);
    assert!(df["BuildCache"].is_array());
    // The CLI renders it.
    let out = d.docker(&["system", "df", "-v"]).ok();
    assert!(out.out().contains("dfvol"), "{}", out.out());
    // type= selects.
    let (_, df) = d.api_json("GET", "/system/df?type=volume", None);
    assert!(df["Images"].as_array().unwrap().is_empty());
    assert_eq!(df["Volumes"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_volume_names_are_refused_with_dockers_message() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let (status, body) = d.api_json("POST", "/volumes/create", Some(r#"{"Name":"a/b"}"#));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    );
    let out = d.docker(&["volume", "create", "a/b"]).fail();
    assert!(out.err().contains("invalid characters"), "{}", out.err());
    let out = d
        .docker(&["run", "--rm", "-v", "rel/path:/x", "busybox", "true"])
        .fail();
    assert!(out.err().contains("invalid characters"), "{}", out.err());
    let (status, _) = d.api_json("POST", "/volumes/create", Some(r#"{"Name":"x"}"#));
    assert_eq!(status, 400);
    // No name: a generated one.
    let (status, body) = d.api_json("POST", "/volumes/create", Some("{}"));
    assert_eq!(status, 201);
    assert_eq!(body["Name"].as_str().unwrap().len(), 64);
    // --mount with a subpath that climbs out.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=sp,dst=/x,volume-subpath=../..",
            "busybox",
            "true",
        ])
        .fail();
    assert!(out.err().contains("subpath"), "{}", out.err());
}

#[test]
fn volume_subpath_mounts_a_directory_of_the_volume() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "docker 20.10 has no volume-subpath");
    d.import_busybox();
    run_sh(
        &d,
        &["-v", "sub:/v"],
        "mkdir /v/inner && echo in > /v/inner/f && ln -s / /v/escape",
    )
    .ok();
    let out = run_sh(
        &d,
        &["--mount", "type=volume,src=sub,dst=/x,volume-subpath=inner"],
        "cat /x/f",
    )
    .ok();
    assert_eq!(out.out().trim(), "in");
    // A symlink inside the volume does not lead out of it.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=sub,dst=/x,volume-subpath=escape",
            "busybox",
            "true",
        ])
        .fail();
    assert!(out.err().contains("escape"), "{}", out.err());
}

#[test]
fn running_container_keeps_its_volume_across_a_daemon_restart() {
    let mut d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "berthd restart");
    d.import_busybox();
    d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "live",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "rr",
        "-v",
        "live:/live",
        "-v",
        "plain:/plain",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "exec",
        "rr",
        "sh",
        "-c",
        "echo 1 > /live/a; echo 2 > /plain/b",
    ])
    .ok();
    d.restart();
    let out = d
        .docker(&[
            "exec",
            "rr",
            "sh",
            "-c",
            "cat /live/a /plain/b; echo 3 > /live/c",
        ])
        .ok();
    assert_eq!(out.lines(), vec!["1", "2"]);
    // The restored user count keeps the tmpfs while another container comes and goes.
    let out = run_sh(&d, &["-v", "live:/live"], "cat /live/c").ok();
    assert_eq!(out.out().trim(), "3");
    let out = d.docker(&["exec", "rr", "cat", "/live/c"]).ok();
    assert_eq!(out.out().trim(), "3");
    let out = d.docker(&["volume", "rm", "live"]).fail();
    assert!(out.err().contains("in use"), "{}", out.err());
    d.docker(&["rm", "-f", "rr"]).ok();
    d.docker(&["volume", "rm", "live", "plain"]).ok();
}

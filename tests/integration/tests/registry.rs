//! Registries: push and pull between berthd and `berth registry serve` / Debian's
//! reference registry, with the berth CLI and the real docker CLIs (28.x, 20.10),
//! multi-platform indexes, credentials, and the failure cases (missing tag, corrupt
//! blob, registry gone, bad password) that must leave no image behind.

use std::path::Path;

use integration::*;

/// A daemon with busybox imported and tagged as `<reg>/<repo>:<tag>`.
fn daemon_with(reg: &TestRegistry, repo_tag: &str) -> Option<(TestDaemon, String)> {
    let d = TestDaemon::start_or_skip()?;
    d.import_busybox();
    let r = format!("{}/{repo_tag}", reg.host());
    d.berth(&["tag", "busybox", &r]).ok();
    Some((d, r))
}

#[test]
fn berth_push_then_pull_into_another_daemon_and_run() {
    let reg = TestRegistry::berth(&[]);
    let Some((a, r)) = daemon_with(&reg, "test/busybox:1") else {
        return;
    };
    let out = a.berth(&["push", &r]).ok();
    let text = strip_ansi(&format!("{}{}", out.out(), out.err()));
    assert!(
        text.contains(&format!(
            "The push refers to repository [{}/test/busybox]",
            reg.host()
        )),
        "{text}"
    );
    assert!(text.contains("1: digest: sha256:"), "{text}");
    // A second push finds every layer there.
    let again = a.berth(&["push", &r]).ok();
    assert!(again.out().contains("Layer already exists"), "{again}");

    let b = TestDaemon::start();
    let pulled = b.berth(&["pull", &r]).ok();
    let text = pulled.out();
    assert!(text.contains("Pull complete"), "{text}");
    assert!(text.contains("Digest: sha256:"), "{text}");
    assert!(
        text.contains(&format!("Status: Downloaded newer image for {r}")),
        "{text}"
    );
    assert_eq!(
        image_id(&a, &r),
        image_id(&b, &r),
        "same image id on both sides"
    );
    let digests = b
        .docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &r])
        .ok();
    assert!(
        digests
            .out()
            .contains(&format!("{}/test/busybox@sha256:", reg.host())),
        "{digests}"
    );
    assert_eq!(
        b.berth(&["run", "--rm", "--network", "none", &r, "echo", "pulled"])
            .ok()
            .out(),
        "pulled"
    );
    // Pulling again changes nothing.
    let up = b.berth(&["pull", &r]).ok();
    assert!(up.out().contains("Image is up to date for"), "{up}");
    assert!(
        !up.out().contains("Pull complete"),
        "nothing downloaded: {up}"
    );
}

#[test]
fn docker_cli_push_pull_and_run_pulls_missing_images() {
    let reg = TestRegistry::berth(&[]);
    let Some((a, r)) = daemon_with(&reg, "dock/bb:v1") else {
        return;
    };
    let out = a.docker(&["push", &r]).ok();
    assert!(out.out().contains("v1: digest: sha256:"), "{out}");

    let b = TestDaemon::start();
    // `docker run` of an image that is not there pulls it first.
    let run = b
        .docker(&["run", "--rm", "--network", "none", &r, "echo", "auto"])
        .ok();
    assert_eq!(run.out(), "auto", "{run}");
    assert!(
        run.err().contains("Unable to find image"),
        "docker says it pulls: {run}"
    );
    b.docker(&["rmi", &r]).ok();
    let out = b.docker(&["pull", &r]).ok();
    assert!(
        out.out()
            .contains(&format!("Downloaded newer image for {r}")),
        "{out}"
    );
    // By digest.
    let digest = b
        .docker(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &r])
        .ok()
        .out()
        .to_string();
    b.docker(&["rmi", &r]).ok();
    let out = b.docker(&["pull", &digest]).ok();
    assert!(
        out.out().contains("Pull complete") || out.out().contains("Already exists"),
        "{out}"
    );
    if let Some(out) = b.docker20(&["pull", &r]) {
        let out = out.ok();
        assert!(out.out().contains("Status:"), "{out}");
    }
}

#[test]
fn pull_all_tags_and_missing_tag_errors() {
    let reg = TestRegistry::berth(&[]);
    let Some((a, r)) = daemon_with(&reg, "multi/bb:a") else {
        return;
    };
    let r2 = format!("{}/multi/bb:b", reg.host());
    a.berth(&["tag", "busybox", &r2]).ok();
    let repo = format!("{}/multi/bb", reg.host());
    a.berth(&["push", "--all-tags", &repo]).ok();

    let b = TestDaemon::start();
    let out = b.berth(&["pull", "--all-tags", &repo]).ok();
    assert!(out.out().contains("Pulling from multi/bb"), "{out}");
    let list = b
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(
        list.out().contains(&r) && list.out().contains(&r2),
        "{list}"
    );

    let missing = format!("{}/multi/bb:nope", reg.host());
    let out = b.docker(&["pull", &missing]).fail();
    assert!(out.err().contains("not found"), "{out}");
    let out = b
        .docker(&["pull", &format!("{}/no/such:1", reg.host())])
        .fail();
    assert!(
        out.err().contains("not found") || out.err().contains("unknown"),
        "{out}"
    );
}

#[test]
fn multi_platform_index_resolves_to_this_platform() {
    let reg = TestRegistry::berth(&[]);
    let Some((a, r)) = daemon_with(&reg, "plat/bb:single") else {
        return;
    };
    a.berth(&["push", &r]).ok();
    // Fetch the manifest the push wrote and wrap it in an index with a foreign entry.
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let m = reg.http(
        "GET",
        "/v2/plat/bb/manifests/single",
        &[("Accept", accept)],
        b"",
    );
    assert_eq!(m.status, 200, "{}", m.text());
    let digest = m.header("docker-content-digest").unwrap().to_string();
    let mt = m.header("content-type").unwrap().to_string();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other = if arch == "amd64" { "s390x" } else { "amd64" };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": mt, "digest": digest, "size": m.body.len(), "platform": {"os": "linux", "architecture": other}},
            {"mediaType": mt, "digest": digest, "size": m.body.len(), "platform": {"os": "linux", "architecture": arch}},
        ]
    })
    .to_string();
    let put = reg.http(
        "PUT",
        "/v2/plat/bb/manifests/multi",
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        index.as_bytes(),
    );
    assert_eq!(put.status, 201, "{}", put.text());

    let b = TestDaemon::start();
    let multi = format!("{}/plat/bb:multi", reg.host());
    b.berth(&["pull", &multi]).ok();
    assert_eq!(image_id(&a, &r), image_id(&b, &multi));
    // A platform the index does not have.
    let out = b
        .docker(&["pull", "--platform", "linux/riscv64", &multi])
        .fail();
    assert!(out.err().contains("no matching manifest"), "{out}");
}

/// Overwrites every blob of `repo` in a berth registry's storage that is bigger
/// than `min` with garbage of the same size (a corrupt registry).
fn corrupt_layer_blobs(storage: &Path, min: u64) -> usize {
    let mut n = 0;
    let blobs = storage.join("blobs/sha256");
    for e in walk(&blobs) {
        if e.metadata()
            .map(|m| m.is_file() && m.len() > min)
            .unwrap_or(false)
        {
            let len = e.metadata().unwrap().len() as usize;
            std::fs::write(&e, vec![0x5a; len]).unwrap();
            n += 1;
        }
    }
    n
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn corrupt_blob_and_vanished_registry_leave_no_image() {
    let reg = TestRegistry::berth(&[]);
    let Some((a, r)) = daemon_with(&reg, "bad/bb:1") else {
        return;
    };
    a.berth(&["push", &r]).ok();
    drop(a);
    let corrupted = corrupt_layer_blobs(&reg.dir.join("storage"), 100_000);
    assert!(corrupted >= 1, "found the layer blob to corrupt");

    let b = TestDaemon::start();
    let out = b.berth(&["pull", &r]).fail();
    let text = format!("{}{}", out.out(), out.err());
    assert!(
        text.contains("digest") || text.contains("verif"),
        "a corrupt layer names the digest problem: {text}"
    );
    let list = b.docker(&["images", "-q"]).ok();
    assert!(
        !list.out().contains(char::is_alphanumeric),
        "no image left: {list}"
    );

    let mut reg = reg;
    reg.stop();
    let out = b.berth(&["pull", &r]).fail();
    assert!(
        out.err().contains(&reg.host()) || out.err().contains("connect"),
        "a vanished registry is named: {out}"
    );
    assert!(b.alive());
}

#[test]
fn reference_registry_with_and_without_htpasswd() {
    let Some(reg) = TestRegistry::reference(None) else {
        return;
    };
    let Some((a, r)) = daemon_with(&reg, "ref/bb:1") else {
        return;
    };
    a.berth(&["push", &r]).ok();
    let b = TestDaemon::start();
    b.berth(&["pull", &r]).ok();
    assert_eq!(image_id(&a, &r), image_id(&b, &r));
    drop(reg);

    let tmp = tempfile::tempdir().unwrap();
    let Some(pw) = htpasswd_file(tmp.path(), "alice", "s3cret") else {
        return;
    };
    let Some(reg) = TestRegistry::reference(Some(&pw)) else {
        return;
    };
    let r = format!("{}/auth/bb:1", reg.host());
    a.berth(&["tag", "busybox", &r]).ok();
    let out = a.berth(&["push", &r]).fail();
    assert!(
        out.err().to_lowercase().contains("auth") || out.out().to_lowercase().contains("auth"),
        "push without login is refused: {out}"
    );
    let bad = a
        .docker(&["login", "-u", "alice", "-p", "wrong", &reg.host()])
        .fail();
    assert!(bad.err().to_lowercase().contains("unauthorized"), "{bad}");
    a.docker(&["login", "-u", "alice", "-p", "s3cret", &reg.host()])
        .ok();
    a.docker(&["push", &r]).ok();
    b.docker(&["login", "-u", "alice", "-p", "s3cret", &reg.host()])
        .ok();
    b.docker(&["pull", &r]).ok();
    assert_eq!(image_id(&a, &r), image_id(&b, &r));
}

#[test]
fn berth_registry_token_auth_with_docker_login() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pw) = htpasswd_file(tmp.path(), "bob", "hunter2") else {
        return;
    };
    let cfg = tmp.path().join("registry.toml");
    std::fs::write(
        &cfg,
        format!(
            "[auth]\nmode = \"token\"\nhtpasswd = \"{}\"\nanonymous_pull = true\n[auth.token]\nexpiry = \"5m\"\n",
            pw.display()
        ),
    )
    .unwrap();
    let reg = TestRegistry::berth(&["--config", cfg.to_str().unwrap()]);
    let Some((a, r)) = daemon_with(&reg, "tok/bb:1") else {
        return;
    };
    // Anonymous push is refused with a message that says to log in.
    let out = a.docker(&["push", &r]).fail();
    let text = format!("{}{}", out.out(), out.err()).to_lowercase();
    assert!(
        text.contains("unauthorized") || text.contains("login"),
        "{out}"
    );
    let bad = a
        .docker(&["login", "-u", "bob", "-p", "nope", &reg.host()])
        .fail();
    assert!(bad.err().to_lowercase().contains("unauthorized"), "{bad}");
    a.docker(&["login", "-u", "bob", "-p", "hunter2", &reg.host()])
        .ok();
    let out = a.docker(&["push", &r]).ok();
    assert!(out.out().contains("1: digest: sha256:"), "{out}");

    // Anonymous pull is allowed by this registry's policy.
    let b = TestDaemon::start();
    b.berth(&["pull", &r]).ok();
    assert_eq!(image_id(&a, &r), image_id(&b, &r));
}

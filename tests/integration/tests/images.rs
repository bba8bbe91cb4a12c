//! Images: import (+ --change), list, tag, rmi (untag/delete/conflict/force), history,
//! prune, save/load round trips.

use integration::*;

#[test]
fn import_with_change_list_and_tag() {
    let d = daemon_or_skip!();
    let tar = busybox_tarball();
    let tar = tar.to_str().unwrap();
    let out = d
        .docker(&[
            "import",
            "-c",
            "CMD [\"echo\",\"hi\"]",
            "-c",
            "ENV GREETING=hello",
            tar,
            "imp:1",
        ])
        .ok();
    assert!(
        out.out().starts_with("sha256:"),
        "import prints the image id: {out}"
    );
    assert_eq!(d.docker(&["run", "--rm", "imp:1"]).ok().out(), "hi");
    assert_eq!(
        d.docker(&["run", "--rm", "imp:1", "sh", "-c", "echo $GREETING"])
            .ok()
            .out(),
        "hello"
    );
    let cfg = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Cmd}} {{.Os}} {{.Architecture}}",
            "imp:1",
        ])
        .ok();
    assert!(cfg.out().starts_with("[\"echo\",\"hi\"] linux "), "{cfg}");

    // Import through stdin with `-`.
    let bytes = std::fs::read(busybox_tarball()).unwrap();
    d.docker_stdin(&["import", "-", "fromstdin:latest"], &bytes)
        .ok();

    let table = d.docker(&["images"]).ok();
    let header = table.lines()[0].to_string();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "missing {col}: {table}");
    }
    assert!(table.stdout.contains("imp"), "{table}");
    assert!(table.stdout.contains("fromstdin"), "{table}");

    d.docker(&["tag", "imp:1", "other/name:v2"]).ok();
    assert_eq!(image_id(&d, "other/name:v2"), image_id(&d, "imp:1"));
    let refs = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    let mut refs: Vec<&str> = refs.lines();
    refs.sort();
    assert_eq!(refs, vec!["fromstdin:latest", "imp:1", "other/name:v2"]);
    let q = d.docker(&["images", "-q", "imp"]).ok();
    assert_eq!(q.out(), &image_id(&d, "imp:1")[7..19]);
    let by_ref = d
        .docker(&[
            "images",
            "--filter",
            "reference=other/*",
            "--format",
            "{{.Repository}}",
        ])
        .ok();
    assert_eq!(by_ref.out(), "other/name");

    let berth_list = d.berth(&["images"]).ok();
    assert!(berth_list.stdout.contains("imp"), "{berth_list}");
}

#[test]
fn rmi_untag_delete_conflict_force() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let id = image_id(&d, "busybox");
    d.docker(&["tag", "busybox", "mybox:v1"]).ok();
    let out = d.docker(&["rmi", "mybox:v1"]).ok();
    assert_eq!(out.out(), "Untagged: mybox:v1", "{out}");
    assert_eq!(image_id(&d, "busybox"), id, "untag keeps the image");

    d.docker(&["run", "--name", "user", "busybox", "true"]).ok();
    let out = d.docker(&["rmi", "busybox"]).fail();
    assert!(out.stderr.contains("conflict"), "{out}");
    assert!(out.stderr.contains("must force"), "{out}");
    let out = d.docker(&["rmi", &id]).fail();
    assert!(out.stderr.contains("conflict"), "{out}");

    d.docker(&["rm", "user"]).ok();
    let out = d.docker(&["rmi", "busybox"]).ok();
    assert!(out.stdout.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.stdout.contains(&format!("Deleted: {id}")), "{out}");
    let (status, v) = d.api_json("GET", "/images/busybox/json", None);
    assert_eq!(status, 404, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or("")
            .contains("No such image"),
        "{v}"
    );

    // -f untags even while a container uses the image.
    d.import_busybox();
    d.docker(&["create", "--name", "holder", "busybox", "true"])
        .ok();
    let out = d.docker(&["rmi", "-f", "busybox"]).ok();
    assert!(out.stdout.contains("Untagged: busybox:latest"), "{out}");
    d.docker(&["start", "-a", "holder"]).ok();

    let out = d.docker(&["rmi", "nosuch:tag"]).fail();
    assert!(out.stderr.contains("No such image"), "{out}");
}

#[test]
fn history_and_prune() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let h = d.docker(&["history", "busybox"]).ok();
    assert!(
        h.lines()[0].contains("IMAGE") && h.lines()[0].contains("CREATED BY"),
        "{h}"
    );
    assert!(h.lines().len() >= 2, "{h}");
    let h = d.docker(&["history", "-q", "busybox"]).ok();
    assert!(!h.out().is_empty());

    d.import_busybox_as("unused:1");
    d.import_busybox_as("inuse:1");
    // Same rootfs, but import records a creation time, so ids may differ or not;
    // either way a used image must survive prune -a.
    d.docker(&["create", "--name", "keeper", "inuse:1", "true"])
        .ok();
    let out = d.docker(&["image", "prune", "-a", "-f"]).ok();
    assert!(out.stdout.contains("Total reclaimed space"), "{out}");
    let left = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert_eq!(left.lines(), vec!["inuse:1"], "{left}");
    let out = d.docker(&["image", "prune", "-f"]).ok();
    assert!(out.stdout.contains("Total reclaimed space"), "{out}");
}

#[test]
fn save_load_round_trip_keeps_id() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["tag", "busybox", "second:tag"]).ok();
    let id = image_id(&d, "busybox");
    let file = d.dir.join("saved.tar");
    let file = file.to_str().unwrap();
    d.docker(&["save", "-o", file, "busybox", "second:tag"])
        .ok();
    let listing = std::process::Command::new("tar")
        .args(["tf", file])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");
    assert!(listing.lines().any(|l| l == "repositories"), "{listing}");

    d.docker(&["rmi", "busybox", "second:tag"]).ok();
    let out = d.docker(&["load", "-i", file]).ok();
    assert!(out.stdout.contains("Loaded image: busybox:latest"), "{out}");
    assert!(out.stdout.contains("Loaded image: second:tag"), "{out}");
    assert_eq!(image_id(&d, "busybox"), id);
    assert_eq!(image_id(&d, "second:tag"), id);
    d.docker(&["run", "--rm", "second:tag", "echo", "loaded"])
        .ok();

    // Through a pipe, and with the berth CLI.
    d.docker(&["rmi", "second:tag"]).ok();
    let pipe_file = d.dir.join("pipe.tar");
    let out = d
        .shell(&format!(
            "$DOCKER save busybox > {f} && $DOCKER rmi busybox >/dev/null && $DOCKER load < {f}",
            f = pipe_file.display()
        ))
        .ok();
    assert!(out.stdout.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(image_id(&d, "busybox"), id);
    let out = d.shell("$BERTH save busybox | $DOCKER load").ok();
    assert!(out.stdout.contains("busybox:latest"), "{out}");
    assert_eq!(image_id(&d, "busybox"), id);

    let out = d.docker(&["load", "-i", "/dev/null"]).fail();
    assert!(!out.stderr.is_empty(), "{out}");
    assert!(d.alive());
}

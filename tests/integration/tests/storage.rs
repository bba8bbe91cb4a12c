//! A container's filesystem end to end with the real docker CLI: `cp` in and
//! out of running and stopped containers, confinement of symlinks and hostile
//! tars, `diff`, `export` and `commit`.

use std::collections::BTreeSet;
use std::fs;

use integration::*;

fn tar_names(bytes: &[u8]) -> BTreeSet<String> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn cp_in_and_out_of_running_and_stopped_containers() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let host = tempfile::tempdir().unwrap();
    fs::create_dir_all(host.path().join("dir/sub")).unwrap();
    fs::write(host.path().join("dir/sub/f"), b"file content").unwrap();
    fs::write(host.path().join("one"), b"one").unwrap();
    d.docker(&["run", "-d", "--name", "cprun", "busybox", "sleep", "300"])
        .ok();
    d.docker(&["create", "--name", "cpstop", "busybox", "true"])
        .ok();
    for c in ["cprun", "cpstop"] {
        let src = host.path().join("dir");
        d.docker(&["cp", src.to_str().unwrap(), &format!("{c}:/tmp/")])
            .ok();
        d.docker(&[
            "cp",
            host.path().join("one").to_str().unwrap(),
            &format!("{c}:/one"),
        ])
        .ok();
        let out = tempfile::tempdir().unwrap();
        d.docker(&["cp", &format!("{c}:/tmp/dir"), out.path().to_str().unwrap()])
            .ok();
        assert_eq!(
            fs::read(out.path().join("dir/sub/f")).unwrap(),
            b"file content"
        );
        d.docker(&[
            "cp",
            &format!("{c}:/one"),
            out.path().join("got").to_str().unwrap(),
        ])
        .ok();
        assert_eq!(fs::read(out.path().join("got")).unwrap(), b"one");
        // `-`: a tar on stdout.
        let t = d.docker(&["cp", &format!("{c}:/tmp/dir"), "-"]);
        assert_eq!(t.code, 0, "{t}");
        let names = tar_names(t.stdout.as_bytes());
        assert!(names.contains("dir/sub/f"), "{names:?}");
        // A missing path is Docker's 404 message.
        let miss = d.docker(&["cp", &format!("{c}:/nope"), "-"]).fail();
        assert!(
            miss.stderr.contains("Could not find the file /nope"),
            "{miss}"
        );
    }
    let out = d.docker(&["exec", "cprun", "cat", "/tmp/dir/sub/f"]).ok();
    assert_eq!(out.stdout, "file content");
    d.docker(&["rm", "-f", "cprun", "cpstop"]).ok();
}

#[test]
fn cp_through_a_symlink_to_root_gives_the_containers_file() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cplink",
        "busybox",
        "sh",
        "-c",
        "echo container-shadow > /etc/shadow; ln -s / /x; sleep 300",
    ])
    .ok();
    assert!(wait_until(std::time::Duration::from_secs(10), || {
        d.docker(&["exec", "cplink", "test", "-L", "/x"]).code == 0
    }));
    let out = d.docker(&["cp", "cplink:/x/etc/shadow", "-"]).ok();
    assert!(out.stdout.contains("container-shadow"), "{out}");
    let host_shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    assert!(host_shadow.is_empty() || !out.stdout.contains(host_shadow.trim()));
    d.docker(&["rm", "-f", "cplink"]).ok();
}

/// A tar entry with a raw name and link name (no checks by the tar crate).
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn hostile_tars_never_touch_the_host() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&["run", "-d", "--name", "hostile", "busybox", "sleep", "300"])
        .ok();
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("passwd");
    fs::write(&victim, b"host file").unwrap();
    let vdir = victim_dir.path().to_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", {
            let mut b = tar::Builder::new(Vec::new());
            raw_entry(
                &mut b,
                "../../../../../../tmp/berth-escape",
                tar::EntryType::Regular,
                "",
                b"x",
            );
            b.into_inner().unwrap()
        }),
        ("symlink", {
            let mut b = tar::Builder::new(Vec::new());
            raw_entry(&mut b, "evil", tar::EntryType::Symlink, &vdir, b"");
            raw_entry(&mut b, "evil/passwd", tar::EntryType::Regular, "", b"pwned");
            b.into_inner().unwrap()
        }),
        ("hardlink", {
            let mut b = tar::Builder::new(Vec::new());
            raw_entry(&mut b, "hl", tar::EntryType::Link, "/etc/passwd", b"");
            b.into_inner().unwrap()
        }),
        ("device", {
            let mut b = tar::Builder::new(Vec::new());
            raw_entry(&mut b, "mem", tar::EntryType::Char, "", b"");
            b.into_inner().unwrap()
        }),
    ];
    let host_passwd = fs::metadata("/etc/passwd").unwrap();
    for (what, tar) in cases {
        let r = http_request(
            &d.sock,
            "PUT",
            "/v1.47/containers/hostile/archive?path=/",
            Some(&tar),
            "application/x-tar",
        )
        .unwrap();
        match what {
            "symlink" => assert_eq!(r.status, 200, "{what}: {}", r.text()),
            _ => assert_eq!(r.status, 400, "{what}: {}", r.text()),
        }
    }
    assert_eq!(fs::read(&victim).unwrap(), b"host file");
    assert!(!std::path::Path::new("/tmp/berth-escape").exists());
    let now = fs::metadata("/etc/passwd").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (now.nlink(), now.ino()),
        (host_passwd.nlink(), host_passwd.ino())
    );
    // The symlink case wrote inside the container, where the link points there.
    let out = d
        .docker(&["exec", "hostile", "cat", &format!("{vdir}/passwd")])
        .ok();
    assert_eq!(out.stdout, "pwned");
    d.docker(&["rm", "-f", "hostile"]).ok();
}

#[test]
fn diff_export_and_commit() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "--name",
        "fsops",
        "busybox",
        "sh",
        "-c",
        "mkdir /newdir && echo hi > /newdir/f && echo changed >> /etc/group && rm /bin/vi",
    ])
    .ok();
    let out = d.docker(&["diff", "fsops"]).ok();
    for line in [
        "A /newdir",
        "A /newdir/f",
        "C /etc",
        "C /etc/group",
        "D /bin/vi",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "{line} missing: {out}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("fs.tar");
    d.docker(&["export", "-o", tarball.to_str().unwrap(), "fsops"])
        .ok();
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tarball)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().any(|l| l == "newdir/f"), "{listing}");
    assert!(!listing.lines().any(|l| l == "bin/vi"), "{listing}");

    d.docker(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/newdir/f\"]",
        "-m",
        "msg",
        "fsops",
        "committed:v1",
    ])
    .ok();
    let out = d.docker(&["run", "--rm", "committed:v1"]).ok();
    assert_eq!(out.stdout, "hi\n", "{out}");
    let hist = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Cmd}}",
            "committed:v1",
        ])
        .ok();
    assert_eq!(hist.stdout.trim(), r#"["cat","/newdir/f"]"#);
    d.docker(&["rm", "-f", "fsops"]).ok();
}

#[test]
fn commit_of_a_running_container_pauses_it_and_keeps_it_running() {
    let d = daemon_or_skip!();
    d.import_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo live > /state; sleep 300",
    ])
    .ok();
    assert!(wait_until(std::time::Duration::from_secs(10), || {
        d.docker(&["exec", "live", "test", "-f", "/state"]).code == 0
    }));
    d.docker(&["commit", "live", "livecommit"]).ok();
    let out = d
        .docker(&["run", "--rm", "livecommit", "cat", "/state"])
        .ok();
    assert_eq!(out.stdout, "live\n");
    let out = d.docker(&["exec", "live", "echo", "still"]).ok();
    assert_eq!(out.stdout, "still\n");
    d.docker(&["rm", "-f", "live"]).ok();
}

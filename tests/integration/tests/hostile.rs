//! Hostile archives on `import` and `load`: path traversal, absolute paths, symlink and
//! hardlink escapes. Whatever the daemon answers, nothing may appear or change outside
//! its data root, and the daemon must keep working.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration::*;

/// One raw tar entry; paths are written byte for byte (the `tar` crate refuses `..`).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn put_bytes(field: &mut [u8], value: &str) {
    let b = value.as_bytes();
    assert!(
        b.len() < field.len(),
        "name too long for a plain tar header: {value}"
    );
    field.iter_mut().for_each(|x| *x = 0);
    field[..b.len()].copy_from_slice(b);
}

fn hostile_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data): (&str, &[u8]) = match e {
            Entry::File(n, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                (n, data)
            }
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                (n, &[])
            }
            Entry::Symlink(n, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                put_bytes(&mut h.as_old_mut().linkname, target);
                (n, &[])
            }
            Entry::Hardlink(n, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                put_bytes(&mut h.as_old_mut().linkname, target);
                (n, &[])
            }
        };
        put_bytes(&mut h.as_old_mut().name, name);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha256_hex(bytes: &[u8], scratch: &Path) -> String {
    let f = scratch.join("sha-input");
    std::fs::write(&f, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&f).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A `docker save`-style archive whose single layer is `layer`.
fn load_archive(layer: &[u8], tag: &str, scratch: &Path) -> Vec<u8> {
    let diff_id = sha256_hex(layer, scratch);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created_by": "hostile"}],
    })
    .to_string();
    let config_hex = sha256_hex(config.as_bytes(), scratch);
    let manifest = json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": [format!("{diff_id}/layer.tar")],
    }])
    .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&format!("{diff_id}/layer.tar"), layer);
    add(&format!("{config_hex}.json"), config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    b.into_inner().unwrap()
}

/// Paths outside every root that a naive unpacker would create; removed on drop.
struct Markers {
    paths: Vec<PathBuf>,
    target: PathBuf,
}

impl Markers {
    fn new() -> Self {
        let tag = format!("berth-evil-{}-{}", std::process::id(), rand_suffix());
        let paths = (0..8)
            .map(|i| PathBuf::from(format!("/tmp/{tag}-{i}")))
            .collect();
        let target = PathBuf::from(format!("/tmp/{tag}-target"));
        std::fs::write(&target, "original\n").unwrap();
        Markers { paths, target }
    }

    fn name(&self, i: usize) -> String {
        self.paths[i]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        for p in &self.paths {
            assert!(
                !p.exists(),
                "{what}: {} was created outside the data root",
                p.display()
            );
            let in_root = Path::new("/").join(p.file_name().unwrap());
            assert!(
                !in_root.exists(),
                "{what}: {} was created on the host",
                in_root.display()
            );
        }
        assert_eq!(
            std::fs::read_to_string(&self.target).unwrap_or_default(),
            "original\n",
            "{what}: host file changed through a hardlink"
        );
    }
}

impl Drop for Markers {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_file(Path::new("/").join(p.file_name().unwrap()));
        }
        let _ = std::fs::remove_file(&self.target);
    }
}

fn rand_suffix() -> String {
    let mut b = [0u8; 4];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn cases(m: &Markers) -> Vec<(&'static str, Vec<u8>, bool)> {
    let dotdot = format!("../../../../../../../../../../tmp/{}", m.name(0));
    let abs = format!("/tmp/{}", m.name(1));
    let via_abs_link = format!("esc/{}", m.name(2));
    let via_rel_link = format!("esc2/{}", m.name(3));
    let target = m.target.to_string_lossy().into_owned();
    let rel_target = format!("../../../../../../../../../..{target}");
    let via_dir_link = format!("d/link/{}", m.name(4));
    // (name, layer tar, must the daemon refuse it). Docker 20.10 clamps `..` and absolute
    // entries into the rootfs (accepts them) and fails on the link escapes (the paths do
    // not resolve inside its chroot); refusing or clamping are both fine: only
    // containment is required.
    vec![
        (
            "dotdot entry",
            hostile_tar(&[Entry::File(&dotdot, b"pwned\n")]),
            false,
        ),
        (
            "absolute entry",
            hostile_tar(&[Entry::File(&abs, b"pwned\n")]),
            false,
        ),
        (
            "write through absolute symlink",
            hostile_tar(&[
                Entry::Symlink("esc", "/tmp"),
                Entry::File(&via_abs_link, b"pwned\n"),
            ]),
            false,
        ),
        (
            "write through relative symlink",
            hostile_tar(&[
                Entry::Symlink("esc2", "../../../../../../../../../../tmp"),
                Entry::File(&via_rel_link, b"pwned\n"),
            ]),
            false,
        ),
        (
            "write through nested symlinked dir",
            hostile_tar(&[
                Entry::Dir("d"),
                Entry::Symlink("d/link", "/tmp"),
                Entry::File(&via_dir_link, b"pwned\n"),
            ]),
            false,
        ),
        (
            "hardlink to absolute host path, then overwrite",
            hostile_tar(&[
                Entry::Hardlink("hl", &target),
                Entry::File("hl", b"pwned\n"),
            ]),
            false,
        ),
        (
            "hardlink with dotdot target, then overwrite",
            hostile_tar(&[
                Entry::Hardlink("hl2", &rel_target),
                Entry::File("hl2", b"pwned\n"),
            ]),
            false,
        ),
    ]
}

fn daemon_still_works(d: &TestDaemon) {
    assert!(d.alive(), "daemon died");
    d.docker(&["run", "--rm", "busybox", "echo", "ok"]).ok();
}

#[test]
fn hostile_import_tarballs_are_contained() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let m = Markers::new();
    for (i, (name, tar, must_fail)) in cases(&m).into_iter().enumerate() {
        let out = d.docker_stdin(&["import", "-", &format!("evil-import:{i}")], &tar);
        eprintln!("import {name}: exit {} {}", out.code, out.err());
        if must_fail {
            assert_ne!(out.code, 0, "import of {name} must fail: {out}");
        }
        m.assert_untouched(&format!("import {name}"));
        if out.code == 0 {
            // Whatever got in stays inside the container.
            let _ = d.docker(&["run", "--rm", &format!("evil-import:{i}"), "true"]);
            m.assert_untouched(&format!("run of imported {name}"));
        }
    }
    daemon_still_works(&d);
}

#[test]
fn hostile_load_archives_are_contained() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let m = Markers::new();
    for (i, (name, layer, must_fail)) in cases(&m).into_iter().enumerate() {
        let archive = load_archive(&layer, &format!("evil-load:{i}"), &d.dir);
        let out = d.docker_stdin(&["load"], &archive);
        eprintln!("load {name}: exit {} {}", out.code, out.err());
        if must_fail {
            assert_ne!(out.code, 0, "load of {name} must fail: {out}");
        }
        m.assert_untouched(&format!("load {name}"));
    }
    // Hostile paths in the archive itself (not in a layer).
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(6);
    h.set_mode(0o644);
    put_bytes(
        &mut h.as_old_mut().name,
        &format!("../../../../../../../../tmp/{}", m.name(5)),
    );
    h.set_cksum();
    b.append(&h, &b"pwned\n"[..]).unwrap();
    let out = d.docker_stdin(&["load"], &b.into_inner().unwrap());
    assert_ne!(out.code, 0, "{out}");
    m.assert_untouched("load with a dotdot archive entry");
    // Not a tar at all.
    let out = d.docker_stdin(&["load"], b"this is not a tar archive at all, just text\n");
    assert_ne!(out.code, 0, "{out}");
    daemon_still_works(&d);
}

/// CVE-2024-21626 ("leaky vessels"): a working directory under /proc/self/fd/N
/// names an fd the runtime leaked into the container (a host directory), and a
/// relative path from there walks the host. For `run -w` and `exec -w`, with the
/// built-in runtime and with runc: the process either does not start or its
/// working directory is inside the container (the host's hostname is never read).
#[test]
fn working_directory_through_a_leaked_fd_stays_inside() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let host = host.trim();
    let probe = "cat ../../../../../../etc/hostname 2>/dev/null; \
                 cat ../../../../../../proc/1/comm 2>/dev/null; pwd";
    let mut runtimes = vec![None];
    if d.is_berth() && std::path::Path::new("/usr/sbin/runc").exists() {
        runtimes.push(Some("runc"));
    }
    for runtime in runtimes {
        let name = format!("leaky-{}", runtime.unwrap_or("default"));
        let mut run = vec!["run", "-d", "--name", name.as_str()];
        if let Some(rt) = runtime {
            run.extend(["--runtime", rt]);
        }
        run.extend(["busybox", "sleep", "60"]);
        d.docker(&run).ok();
        for fd in 3..=12 {
            let cwd = format!("/proc/self/fd/{fd}");
            let exec = d.docker(&["exec", "-w", &cwd, &name, "sh", "-c", probe]);
            let mut fresh = vec!["run", "--rm", "-w", cwd.as_str()];
            if let Some(rt) = runtime {
                fresh.extend(["--runtime", rt]);
            }
            fresh.extend(["busybox", "sh", "-c", probe]);
            let run = d.docker(&fresh);
            for (what, out) in [("exec -w", &exec), ("run -w", &run)] {
                if out.code == 0 {
                    let seen: Vec<&str> = out.stdout.lines().map(str::trim).collect();
                    assert!(
                        !host.is_empty() && !seen.contains(&host),
                        "{runtime:?} {what} {cwd} reached the host: {out}"
                    );
                    assert!(
                        !out.stdout.contains("unreachable"),
                        "{runtime:?} {what} {cwd}: {out}"
                    );
                }
            }
        }
        d.docker(&["rm", "-f", &name]).ok();
    }
}

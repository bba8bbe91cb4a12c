//! Tests in temporary directories (as root: ownership, devices, xattrs).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: needs root (ownership, device nodes)");
            return;
        }
    };
}

/// (name → (type, link target, content)) of a tar.
fn listing(tar_bytes: &[u8]) -> BTreeMap<String, (char, String, Vec<u8>)> {
    let mut ar = tar::Archive::new(tar_bytes);
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let kind = match e.header().entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Regular => 'f',
            _ => '?',
        };
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, (kind, link, data));
    }
    out
}

fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    fs::create_dir_all(r.join("etc/foo/sub")).unwrap();
    fs::write(r.join("etc/foo/a"), b"A").unwrap();
    fs::write(r.join("etc/foo/sub/b"), b"B").unwrap();
    fs::hard_link(r.join("etc/foo/a"), r.join("etc/foo/a2")).unwrap();
    std::os::unix::fs::symlink("/etc", r.join("etc/foo/abs")).unwrap();
    fs::write(r.join("etc/shadow"), b"container shadow").unwrap();
    t
}

fn tar_of(root: &Root, path: &str, follow: bool) -> BTreeMap<String, (char, String, Vec<u8>)> {
    let mut buf = Vec::new();
    write_tar(root, path, follow, &mut buf).unwrap();
    listing(&buf)
}

#[test]
fn rebasing_follows_dockers_rules() {
    let t = tree();
    let root = Root::open(t.path()).unwrap();
    let l = tar_of(&root, "/etc/foo", false);
    let names: Vec<&str> = l.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "foo/",
            "foo/a",
            "foo/a2",
            "foo/abs",
            "foo/sub/",
            "foo/sub/b"
        ]
    );
    assert_eq!(l["foo/a2"].0, 'h');
    assert_eq!(l["foo/a2"].1, "foo/a");
    assert_eq!(l["foo/abs"], ('l', "/etc".into(), vec![]));
    let l = tar_of(&root, "/etc/foo/.", false);
    assert!(l.contains_key("./") && l.contains_key("sub/b"), "{l:?}");
    assert_eq!(l["a2"].1, "a");
    let l = tar_of(&root, "etc/foo/a", false);
    assert_eq!(l.keys().collect::<Vec<_>>(), ["a"]);
    // -L: a symlink's target under the link's name.
    let l = tar_of(&root, "/etc/foo/abs", true);
    assert!(
        l.contains_key("abs/") && l.contains_key("abs/shadow"),
        "{l:?}"
    );
}

#[test]
fn symlink_and_dotdot_escapes_stay_in_the_root() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"host secret").unwrap();
    let t = tree();
    let r = t.path();
    // A link to the host's directory by absolute path, and one by `..`.
    std::os::unix::fs::symlink(outside.path(), r.join("hostlink")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../..", r.join("up")).unwrap();
    std::os::unix::fs::symlink("/", r.join("x")).unwrap();
    let root = Root::open(r).unwrap();
    let host_path = format!("{}/secret", outside.path().display());
    for p in [
        "/hostlink/secret".to_string(),
        format!("/up{host_path}"),
        format!("/../../..{host_path}"),
    ] {
        match write_tar(&root, &p, true, Vec::new()) {
            Err(ArchiveError::NotFound { .. }) => {}
            other => panic!("{p}: {other:?}"),
        }
    }
    // `ln -s / /x` then x/etc/shadow: the container's file.
    let l = tar_of(&root, "/x/etc/shadow", false);
    assert_eq!(l["shadow"].2, b"container shadow");
    let s = stat(&root, "/x").unwrap();
    assert_eq!(s.link_target, "/");
    assert!(s.mode & go_mode::SYMLINK != 0);
    let s = stat(&root, "/etc/foo/abs").unwrap();
    assert_eq!(s.link_target, "/etc");
    let s = stat(&root, "/up").unwrap();
    assert_eq!(s.link_target, "/");
}

#[test]
fn stat_reports_docker_fields() {
    let t = tree();
    fs::set_permissions(
        t.path().join("etc/foo/a"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let root = Root::open(t.path()).unwrap();
    let s = stat(&root, "/etc/foo/a").unwrap();
    assert_eq!(s.name, "a");
    assert_eq!(s.size, 1);
    assert_eq!(s.mode, 0o755 | go_mode::SETUID);
    assert!(s.mtime.contains('T') && s.mtime.ends_with('Z'));
    let s = stat(&root, "/etc/").unwrap();
    assert!(s.is_dir());
    assert_eq!(s.name, "etc");
    let json = serde_json::to_value(&s).unwrap();
    assert!(json.get("linkTarget").is_some());
    assert!(matches!(
        stat(&root, "/nope"),
        Err(ArchiveError::NotFound { .. })
    ));
    assert!(matches!(
        stat(&root, "/etc/shadow/x"),
        Err(ArchiveError::NotFound { .. })
    ));
}

/// A tar built entry by entry.
struct TarB(tar::Builder<Vec<u8>>);

impl TarB {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }
    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(1_000_000_000);
        h.set_size(0);
        h
    }
    /// Writes a name without the tar crate's own `..` checks.
    fn raw(mut self, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Self {
        let mut h = Self::header(kind, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if !link.is_empty() {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name, tar::EntryType::Regular, "", data)
    }
    fn dir(self, name: &str) -> Self {
        self.raw(name, tar::EntryType::Directory, "", b"")
    }
    fn done(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn extract(root: &Root, dest: &str, tar: &[u8]) -> Result<ExtractSummary, ArchiveError> {
    extract_tar(root, dest, tar, &ExtractOptions::default())
}

#[test]
fn hostile_tars_are_refused_or_confined() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("passwd");
    fs::write(&victim, b"host passwd").unwrap();
    let t = tree();
    let root = Root::open(t.path()).unwrap();

    let tar = TarB::new().file("../../escape", b"x").done();
    assert!(matches!(
        extract(&root, "/", &tar),
        Err(ArchiveError::Refused { .. })
    ));

    // Absolute symlink, then a write through it: lands in the root's /tmp... dir.
    let out = outside.path().to_string_lossy().into_owned();
    let tar = TarB::new()
        .raw("evil", tar::EntryType::Symlink, &out, b"")
        .file("evil/passwd", b"pwned")
        .done();
    extract(&root, "/", &tar).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"host passwd");
    let inside = t.path().join(out.trim_start_matches('/')).join("passwd");
    assert_eq!(fs::read(inside).unwrap(), b"pwned");

    // A hard link to a file that is not in the archive (the host's or the root's).
    for target in [
        victim.to_string_lossy().into_owned(),
        "etc/shadow".into(),
        "../etc/shadow".into(),
    ] {
        let tar = TarB::new()
            .raw("hl", tar::EntryType::Link, &target, b"")
            .done();
        match extract(&root, "/etc", &tar) {
            Err(ArchiveError::Refused { .. }) => {}
            other => panic!("{target}: {other:?}"),
        }
    }
    assert_eq!(fs::metadata(&victim).unwrap().nlink(), 1);
    // Within the archive it works.
    let tar = TarB::new()
        .file("one", b"1")
        .raw("two", tar::EntryType::Link, "one", b"")
        .done();
    extract(&root, "/etc", &tar).unwrap();
    assert_eq!(fs::metadata(t.path().join("etc/two")).unwrap().nlink(), 2);

    // Device nodes: refused with a clear message, nothing created.
    let tar = TarB::new()
        .raw("null", tar::EntryType::Char, "", b"")
        .done();
    let err = extract(&root, "/", &tar).unwrap_err();
    assert!(err.to_string().contains("device node"), "{err}");
    assert!(!t.path().join("null").exists());
}

#[test]
fn extraction_places_owners_modes_and_setuid() {
    need_root!();
    let t = tree();
    let root = Root::open(t.path()).unwrap();
    let mut b = TarB::new().dir("d/");
    let mut h = TarB::header(tar::EntryType::Regular, 0o4755);
    h.set_size(2);
    b.0.append_data(&mut h, "d/suid", &b"hi"[..]).unwrap();
    let tar = b.done();
    let s = extract(&root, "/etc", &tar).unwrap();
    assert_eq!(s.entries, 2);
    let m = fs::metadata(t.path().join("etc/d/suid")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    assert_eq!(m.mode() & 0o7777, 0o4755);
    assert_eq!(m.mtime(), 1_000_000_000);
    assert_eq!(
        fs::metadata(t.path().join("etc/d")).unwrap().mtime(),
        1_000_000_000
    );
    let opts = ExtractOptions {
        copy_uid_gid: Some((7, 8)),
        ..Default::default()
    };
    extract_tar(&root, "/etc", &tar[..], &opts).unwrap();
    let m = fs::metadata(t.path().join("etc/d/suid")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (7, 8, 0o4755));
    // No temporary files left behind.
    let left: Vec<_> = fs::read_dir(t.path().join("etc/d")).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn no_overwrite_dir_non_dir() {
    let t = tree();
    let root = Root::open(t.path()).unwrap();
    let strict = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..Default::default()
    };
    let file_over_dir = TarB::new().file("foo", b"f").done();
    let err = extract_tar(&root, "/etc", &file_over_dir[..], &strict).unwrap_err();
    assert!(matches!(err, ArchiveError::Overwrite { .. }), "{err}");
    assert!(t.path().join("etc/foo/sub/b").exists());
    let dir_over_file = TarB::new().dir("shadow/").done();
    assert!(matches!(
        extract_tar(&root, "/etc", &dir_over_file[..], &strict),
        Err(ArchiveError::Overwrite { .. })
    ));
    // Without the flag, Docker replaces.
    extract(&root, "/etc", &file_over_dir).unwrap();
    assert_eq!(fs::read(t.path().join("etc/foo")).unwrap(), b"f");
    extract(&root, "/etc", &dir_over_file).unwrap();
    assert!(t.path().join("etc/shadow").is_dir());
    // Extracting into a file is an error; into a missing dir is 404.
    fs::write(t.path().join("file"), b"").unwrap();
    assert!(matches!(
        extract(&root, "/file", &file_over_dir),
        Err(ArchiveError::NotADirectory { .. })
    ));
    assert!(matches!(
        extract(&root, "/missing", &file_over_dir),
        Err(ArchiveError::NotFound { .. })
    ));
}

#[test]
fn round_trip_of_ten_thousand_files() {
    let src = tempfile::tempdir().unwrap();
    for d in 0..100 {
        let dir = src.path().join(format!("data/d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("f{f}")), format!("{d}/{f}")).unwrap();
        }
    }
    let root = Root::open(src.path()).unwrap();
    let mut buf = Vec::new();
    write_tar(&root, "/data", false, &mut buf).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let droot = Root::open(dst.path()).unwrap();
    let s = extract(&droot, "/", &buf).unwrap();
    assert_eq!(s.entries, 10_000 + 100 + 1);
    assert_eq!(
        fs::read_to_string(dst.path().join("data/d42/f7")).unwrap(),
        "42/7"
    );
}

#[test]
fn symlink_swapped_during_a_copy_never_leaks_outside() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"HOST-SECRET-MARKER").unwrap();
    let t = tempfile::tempdir().unwrap();
    let r = t.path().to_path_buf();
    fs::create_dir_all(r.join("data/dir")).unwrap();
    for i in 0..50 {
        fs::write(r.join(format!("data/dir/f{i}")), b"ok").unwrap();
    }
    let root = Root::open(&r).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (stop, r, out) = (stop.clone(), r.clone(), outside.path().to_path_buf());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::rename(r.join("data/dir"), r.join("data/real"));
                let _ = std::os::unix::fs::symlink(&out, r.join("data/dir"));
                let _ = fs::remove_file(r.join("data/dir"));
                let _ = fs::rename(r.join("data/real"), r.join("data/dir"));
            }
        })
    };
    for _ in 0..300 {
        for p in ["/data", "/data/dir", "/data/dir/", "/data/dir/secret"] {
            let mut buf = Vec::new();
            if write_tar(&root, p, false, &mut buf).is_ok() {
                assert!(
                    !buf.windows(18).any(|w| w == b"HOST-SECRET-MARKER"),
                    "host file leaked through {p}"
                );
            }
        }
        // And extraction through the swapped path never writes outside.
        let tar = TarB::new().file("dir/pwned", b"x").done();
        let _ = extract(&root, "/data", &tar);
        assert!(!outside.path().join("pwned").exists());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
}

fn mknod_whiteout(p: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0),
        0,
    )
    .unwrap();
}

#[test]
fn changes_of_an_overlay_upper_dir() {
    need_root!();
    let lower = tree();
    let upper = tempfile::tempdir().unwrap();
    let l = lower.path();
    let u = upper.path();
    // Modified file (copied up and changed), added file in a copied-up dir,
    // a deletion, an opaque dir replacing etc/foo/sub, a new dir.
    fs::create_dir_all(u.join("etc/foo/sub")).unwrap();
    fs::write(u.join("etc/shadow"), b"changed!!").unwrap();
    fs::write(u.join("etc/foo/new"), b"n").unwrap();
    mknod_whiteout(&u.join("etc/foo/a2"));
    rustix::fs::setxattr(
        u.join("etc/foo/sub").as_path(),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::write(u.join("etc/foo/sub/c"), b"c").unwrap();
    fs::create_dir_all(u.join("srv/x")).unwrap();
    // A directory copied up with identical metadata and nothing changed below.
    fs::create_dir_all(u.join("etc/foo")).unwrap();
    let got: Vec<String> = changes(&[l.to_path_buf()], u)
        .unwrap()
        .into_iter()
        .map(|c| format!("{} {}", c.kind.letter(), c.path))
        .collect();
    assert_eq!(
        got,
        [
            "C /etc",
            "C /etc/foo",
            "D /etc/foo/a2",
            "A /etc/foo/new",
            "C /etc/foo/sub",
            "D /etc/foo/sub/b",
            "A /etc/foo/sub/c",
            "C /etc/shadow",
            "A /srv",
            "A /srv/x",
        ]
    );
    let json = serde_json::to_string(&Change {
        path: "/x".into(),
        kind: ChangeKind::Deleted,
    })
    .unwrap();
    assert_eq!(json, r#"{"Path":"/x","Kind":2}"#);
}

#[test]
fn export_names_are_relative_to_the_root() {
    let t = tree();
    let root = Root::open(t.path()).unwrap();
    let mut buf = Vec::new();
    export(&root, &mut buf).unwrap();
    let l = listing(&buf);
    assert!(
        l.contains_key("etc/") && l.contains_key("etc/foo/sub/b"),
        "{l:?}"
    );
    assert!(!l.keys().any(|k| k.starts_with('/') || k.starts_with("./")));
}

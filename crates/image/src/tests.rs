//! Store-level tests (run as root: they unpack with real ownership and mount overlays).

use std::fs;
use std::io::{Cursor, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::LayerReuse;

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: this test needs root (mounts, chown, mknod)");
            return;
        }
    };
}

pub(crate) fn new_store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(store::Store::open_in_memory().unwrap());
    let s = ImageStore::open(dir.path(), db).unwrap();
    (dir, s)
}

/// Unmounts on drop, so a failing test never leaves a mount behind.
pub(crate) struct MountGuard(pub PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// A tar entry description for hand-made (possibly hostile) archives.
pub(crate) enum E<'a> {
    File(&'a [u8], &'a [u8]),
    FileMode(&'a [u8], &'a [u8], u32),
    Dir(&'a [u8]),
    Symlink(&'a [u8], &'a [u8]),
    Hardlink(&'a [u8], &'a [u8]),
    Char(&'a [u8], u32, u32),
    Fifo(&'a [u8]),
}

/// Builds a tar whose names are written raw (the tar crate's builder refuses `..`).
pub(crate) fn raw_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data, link): (&[u8], &[u8], Option<&[u8]>) = match e {
            E::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d, None)
            }
            E::FileMode(n, d, m) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*m);
                (n, d, None)
            }
            E::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, &[][..], None)
            }
            E::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, &[][..], Some(t))
            }
            E::Hardlink(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                (n, &[][..], Some(t))
            }
            E::Char(n, ma, mi) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_mode(0o666);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                (n, &[][..], None)
            }
            E::Fifo(n) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o666);
                (n, &[][..], None)
            }
        };
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            if let Some(l) = link {
                old.linkname = [0; 100];
                old.linkname[..l.len()].copy_from_slice(l);
            }
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn unpack_into(outer: &Path, tar: &[u8]) -> Result<unpack::Unpacked, ImageError> {
    let layer = outer.join("layer");
    fs::create_dir_all(&layer).unwrap();
    unpack::unpack_layer(&mut Cursor::new(tar.to_vec()), &layer, Default::default())
}

fn outer_entries(outer: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(outer)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn expect_reject(tar: &[u8], entry: &str) {
    let outer = tempfile::tempdir().unwrap();
    let err = unpack_into(outer.path(), tar).unwrap_err();
    assert!(matches!(err, ImageError::InvalidArgument(_)), "{err}");
    assert!(
        err.to_string().contains(entry),
        "error should name {entry}: {err}"
    );
    assert_eq!(
        outer_entries(outer.path()),
        vec!["layer"],
        "nothing may be written outside the layer"
    );
}

#[test]
fn hostile_dotdot_rejected() {
    require_root!();
    expect_reject(
        &raw_tar(&[E::File(b"ok", b"1"), E::File(b"../evil", b"x")]),
        "../evil",
    );
    expect_reject(&raw_tar(&[E::File(b"/abs/../../x", b"x")]), "/abs/../../x");
    expect_reject(
        &raw_tar(&[E::Dir(b"a/"), E::File(b"a/../../../x", b"x")]),
        "a/../../../x",
    );
}

#[test]
fn hostile_dotdot_import_leaves_nothing() {
    require_root!();
    let (dir, s) = new_store();
    let tar = raw_tar(&[E::File(b"ok", b"1"), E::File(b"../evil", b"x")]);
    let err = s
        .import(&mut Cursor::new(tar), ImportOptions::default())
        .unwrap_err();
    assert!(matches!(err, ImageError::InvalidArgument(_)), "{err}");
    assert!(s.list().unwrap().is_empty());
    assert_eq!(outer_entries(&dir.path().join("overlay")), vec!["empty"]);
    assert!(!dir.path().join("evil").exists());
    let n: i64 =
        s.db.with(|c| c.query_row("SELECT count(*) FROM layers", [], |r| r.get(0)))
            .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        fs::read_dir(dir.path().join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn hostile_symlink_to_absolute_dir() {
    require_root!();
    let before = fs::read("/etc/passwd").unwrap();
    // a -> /etc, then a/passwd: resolved inside the layer, where etc/ does not exist.
    expect_reject(
        &raw_tar(&[E::Symlink(b"a", b"/etc"), E::File(b"a/passwd", b"pwned")]),
        "a/passwd",
    );
    assert_eq!(fs::read("/etc/passwd").unwrap(), before);

    // a -> / then a/x: lands at <layer>/x, never at /x.
    let outer = tempfile::tempdir().unwrap();
    unpack_into(
        outer.path(),
        &raw_tar(&[E::Symlink(b"a", b"/"), E::File(b"a/x", b"inside")]),
    )
    .unwrap();
    assert_eq!(fs::read(outer.path().join("layer/x")).unwrap(), b"inside");
    assert!(!Path::new("/x").exists());
}

#[test]
fn hostile_symlink_relative_escape_is_contained() {
    require_root!();
    let outer = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[E::Symlink(b"a", b"../../.."), E::File(b"a/x", b"contained")]);
    unpack_into(outer.path(), &tar).unwrap();
    assert_eq!(
        fs::read(outer.path().join("layer/x")).unwrap(),
        b"contained"
    );
    assert_eq!(outer_entries(outer.path()), vec!["layer"]);
    assert_eq!(
        fs::read_link(outer.path().join("layer/a")).unwrap(),
        Path::new("../../..")
    );
    // A file written *as* the symlink's name replaces the link, never follows it.
    let outer = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[E::Symlink(b"b", b"../outside"), E::File(b"b", b"replaced")]);
    unpack_into(outer.path(), &tar).unwrap();
    assert_eq!(fs::read(outer.path().join("layer/b")).unwrap(), b"replaced");
    assert_eq!(outer_entries(outer.path()), vec!["layer"]);
}

#[test]
fn hostile_hardlinks_rejected() {
    require_root!();
    expect_reject(&raw_tar(&[E::Hardlink(b"h", b"../../etc/passwd")]), "\"h\"");
    // Absolute targets are layer-relative: /etc/passwd is not in this layer.
    expect_reject(&raw_tar(&[E::Hardlink(b"h", b"/etc/passwd")]), "\"h\"");
    // Through a symlink pointing outside.
    expect_reject(
        &raw_tar(&[E::Symlink(b"s", b"/etc"), E::Hardlink(b"h", b"s/passwd")]),
        "\"h\"",
    );
    // A good hardlink works.
    let outer = tempfile::tempdir().unwrap();
    unpack_into(
        outer.path(),
        &raw_tar(&[E::File(b"f", b"data"), E::Hardlink(b"g", b"./f")]),
    )
    .unwrap();
    let a = fs::metadata(outer.path().join("layer/f")).unwrap();
    let b = fs::metadata(outer.path().join("layer/g")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn devices_skipped_whiteouts_converted() {
    require_root!();
    let outer = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[
        E::Char(b"dev/null", 1, 3),
        E::Fifo(b"fifo"),
        E::Dir(b"d/"),
        E::File(b"d/.wh..wh..opq", b""),
        E::File(b".wh.gone", b""),
        E::FileMode(b"suid", b"x", 0o4755),
    ]);
    unpack_into(outer.path(), &tar).unwrap();
    let l = outer.path().join("layer");
    assert!(!l.join("dev/null").exists());
    assert!(!l.join("fifo").exists());
    let wh = fs::symlink_metadata(l.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!l.join(".wh.gone").exists());
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(l.join("d"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(!l.join("d/.wh..wh..opq").exists());
    assert_eq!(
        fs::metadata(l.join("suid")).unwrap().permissions().mode() & 0o7777,
        0o4755
    );
}

#[test]
fn compression_detection() {
    let (c, mut r) = unpack::decompress(Box::new(Cursor::new(b"BZh91AY".to_vec())))
        .map(|(c, r)| (Some(c), r))
        .unwrap_or_else(|e| {
            assert!(e.to_string().contains("bzip2"), "{e}");
            (None, Box::new(Cursor::new(Vec::new())))
        });
    assert!(c.is_none());
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2];
    assert!(unpack::decompress(Box::new(Cursor::new(xz.to_vec()))).is_err());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, b"hello").unwrap();
    let gz = gz.finish().unwrap();
    let (c, mut r) = unpack::decompress(Box::new(Cursor::new(gz))).unwrap();
    assert_eq!(c, unpack::Compression::Gzip);
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"hello");
    let z = zstd::encode_all(&b"zz"[..], 1).unwrap();
    let (c, mut r) = unpack::decompress(Box::new(Cursor::new(z))).unwrap();
    assert_eq!(c, unpack::Compression::Zstd);
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    assert_eq!(v, b"zz");
}

/// A busybox rootfs as a tar: bin/busybox plus a few applet symlinks.
pub(crate) fn busybox_rootfs_tar() -> Vec<u8> {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(root.path().join("etc")).unwrap();
    fs::write(root.path().join("etc/hostname"), b"berth\n").unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for app in ["sh", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", bin.join(app)).unwrap();
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root.path()).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn import_list_get_tag_remove() {
    require_root!();
    let (_dir, s) = new_store();
    let tar = busybox_rootfs_tar();
    // gzip-compressed input
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let img = s
        .import(
            &mut Cursor::new(gz.finish().unwrap()),
            ImportOptions {
                reference: Some("busybox:latest".into()),
                changes: vec!["CMD sh".into(), "ENV A=1".into()],
                message: Some("test import".into()),
                platform: None,
            },
        )
        .unwrap();
    assert!(img.id.starts_with("sha256:"));
    assert_eq!(img.repo_tags, vec!["busybox:latest"]);
    assert_eq!(img.layers.len(), 1);
    assert!(img.size >= fs::metadata("/bin/busybox").unwrap().len());
    let rc = img.config.config.as_ref().unwrap();
    assert_eq!(rc.cmd.as_deref().unwrap(), ["/bin/sh", "-c", "sh"]);
    assert_eq!(img.config.os, "linux");
    assert_eq!(img.config.architecture, host_arch());
    // id is the sha256 of the stored bytes
    let raw = s.raw_config(&img.id).unwrap();
    assert_eq!(content::digest_of(&raw), img.id);
    // the layer blob is the uncompressed tar: blob digest == diff id
    let (blob, mt, _) = s.layer_blob(&img.layers[0]).unwrap().unwrap();
    assert_eq!(blob, img.layers[0]);
    assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar");

    // lookups
    let hex = img.id.strip_prefix("sha256:").unwrap();
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &img.id,
        hex,
        &hex[..5],
    ] {
        assert_eq!(s.get(name).unwrap().id, img.id, "{name}");
    }
    let e = s.get("nosuch").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nosuch:latest");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(matches!(s.get("Bad"), Err(ImageError::InvalidArgument(_))));

    // tag, list
    s.tag("busybox", "localhost:5000/my/bb:v1").unwrap();
    let got = s.get(&img.id).unwrap();
    assert_eq!(
        got.repo_tags,
        vec!["busybox:latest", "localhost:5000/my/bb:v1"]
    );
    assert_eq!(s.list().unwrap().len(), 1);
    let hist = s.history("busybox").unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].id, img.id);
    assert_eq!(hist[0].comment, "test import");
    assert!(hist[0].size > 0);

    // rmi by id with two tags in different repos: conflict unless forced
    let none = |_: &str| None;
    let e = s.remove(&hex[..12], false, &none).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("must be forced"), "{e}");
    // rmi by name while a container uses it and it is the last reference
    let used = |_: &str| Some("0123456789abcdef".to_string());
    let r = s.remove("localhost:5000/my/bb:v1", false, &used).unwrap();
    assert_eq!(
        r,
        vec![DeleteItem::Untagged("localhost:5000/my/bb:v1".into())]
    );
    let e = s.remove("busybox", false, &used).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container 0123456789ab is using its referenced image {}", &hex[..12])
    );
    let e = s.remove(&img.id, true, &used).unwrap_err();
    assert!(
        e.to_string()
            .contains("(cannot be forced) - image is being used by running container 0123456789ab"),
        "{e}"
    );
    // finally delete
    let r = s.remove("busybox", false, &none).unwrap();
    assert_eq!(r[0], DeleteItem::Untagged("busybox:latest".into()));
    assert_eq!(r[1], DeleteItem::Deleted(img.id.clone()));
    assert_eq!(r[2], DeleteItem::Deleted(img.layers[0].clone()));
    assert!(s.list().unwrap().is_empty());
    assert!(!s.content.exists(&img.layers[0]));
    assert!(!s.content.exists(&img.id));
    assert_eq!(outer_entries(&s.overlay), vec!["empty"]);
}

#[test]
fn prune_dangling_and_all() {
    require_root!();
    let (_dir, s) = new_store();
    let a = s
        .import(
            &mut Cursor::new(raw_tar(&[E::File(b"a", b"1")])),
            ImportOptions::default(),
        )
        .unwrap();
    let b = s
        .import(
            &mut Cursor::new(raw_tar(&[E::File(b"b", b"2")])),
            ImportOptions {
                reference: Some("b".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let none = |_: &str| None;
    let (items, bytes) = s.prune(false, &none).unwrap();
    assert!(items.contains(&DeleteItem::Deleted(a.id.clone())));
    assert_eq!(bytes, 1);
    assert_eq!(s.list().unwrap().len(), 1);
    let used = |id: &str| (id == b.id).then(|| "c1".to_string());
    assert!(s.prune(true, &used).unwrap().0.is_empty());
    let (items, _) = s.prune(true, &none).unwrap();
    assert_eq!(items[0], DeleteItem::Untagged("b:latest".into()));
    assert!(s.list().unwrap().is_empty());
}

/// Builds an image from raw layer tars through the internal layer path.
pub(crate) fn make_image(s: &ImageStore, layers: &[Vec<u8>], tag: Option<&str>) -> String {
    let mut parent: Option<String> = None;
    let mut diffs = Vec::new();
    for l in layers {
        let row = s
            .unpack_and_record(&mut Cursor::new(l.clone()), parent.as_deref(), None)
            .unwrap();
        let blob = s.content.put(l).unwrap();
        s.record_layer_blob(
            &row.diff_id,
            &blob,
            unpack::Compression::None.oci_media_type(),
            l.len() as u64,
        )
        .unwrap();
        diffs.push(row.diff_id);
        parent = Some(row.chain_id);
    }
    let cfg = serde_json::json!({
        "architecture": host_arch(), "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diffs},
        "history": diffs.iter().map(|_| serde_json::json!({"created_by": "layer"})).collect::<Vec<_>>(),
        "x-unknown": {"kept": true},
    });
    let id = s
        .put_image(&serde_json::to_vec(&cfg).unwrap(), None)
        .unwrap();
    if let Some(t) = tag {
        s.tag(&id, t).unwrap();
    }
    id
}

#[test]
fn mount_two_layers_with_whiteouts() {
    require_root!();
    let (dir, s) = new_store();
    let l1 = raw_tar(&[
        E::File(b"keep", b"k"),
        E::File(b"gone", b"g"),
        E::Dir(b"d/"),
        E::File(b"d/old", b"o"),
    ]);
    let l2 = raw_tar(&[
        E::File(b".wh.gone", b""),
        E::Dir(b"d/"),
        E::File(b"d/.wh..wh..opq", b""),
        E::File(b"d/new", b"n"),
    ]);
    let id = make_image(&s, &[l1, l2], Some("two:layers"));
    let img = s.get("two:layers").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.layers.len(), 2);
    s.create_rw_layer("c0ffee", &id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("c0ffee", &target).unwrap();
    let guard = MountGuard(target.clone());
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"k");
    assert!(
        !target.join("gone").exists(),
        "whiteout must hide the lower file"
    );
    assert!(
        !target.join("d/old").exists(),
        "opaque dir must hide lower entries"
    );
    assert_eq!(fs::read(target.join("d/new")).unwrap(), b"n");
    fs::write(target.join("written"), b"w").unwrap();
    assert_eq!(
        fs::read(s.overlay.join("rw-c0ffee/diff/written")).unwrap(),
        b"w"
    );
    s.unmount(&target).unwrap();
    std::mem::forget(guard);
    s.unmount(&target).unwrap(); // not mounted: fine
    assert!(!target.join("keep").exists());
    s.remove_rw_layer("c0ffee").unwrap();
    s.remove_rw_layer("c0ffee").unwrap(); // unknown: fine
    assert!(!s.overlay.join("rw-c0ffee").exists());
}

#[test]
fn mount_zero_layer_image() {
    require_root!();
    let (dir, s) = new_store();
    let id = make_image(&s, &[], None);
    s.create_rw_layer("empty1", &id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("empty1", &target).unwrap();
    let _g = MountGuard(target.clone());
    fs::write(target.join("f"), b"x").unwrap();
    let mut names: Vec<String> = fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The container's mount points come from its init layer, not its changes.
    assert_eq!(names, ["dev", "etc", "f", "proc", "sys"]);
    assert!(target.join("etc/hosts").is_file());
    let upper = s.rw_layer_upper_dir("empty1").unwrap();
    assert_eq!(fs::read_dir(&upper).unwrap().count(), 1, "only f changed");
    s.unmount(&target).unwrap();
    s.remove_rw_layer("empty1").unwrap();
}

#[test]
fn mount_many_layers() {
    require_root!();
    let (dir, s) = new_store();
    let layers: Vec<Vec<u8>> = (0..130)
        .map(|i| raw_tar(&[E::File(format!("f{i}").as_bytes(), b"x")]))
        .collect();
    let id = make_image(&s, &layers, None);
    s.create_rw_layer("many", &id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("many", &target).unwrap();
    let _g = MountGuard(target.clone());
    assert!(target.join("f0").exists() && target.join("f129").exists());
    s.unmount(&target).unwrap();
}

#[test]
fn reopen_cleans_temp_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(store::Store::open_in_memory().unwrap());
    {
        let _s = ImageStore::open(dir.path(), db.clone()).unwrap();
    }
    fs::create_dir_all(dir.path().join("overlay/tmp-1-2-3/diff")).unwrap();
    fs::write(dir.path().join("content/ingest/blob-1"), b"half").unwrap();
    let _s = ImageStore::open(dir.path(), db).unwrap();
    assert_eq!(outer_entries(&dir.path().join("overlay")), vec!["empty"]);
    assert_eq!(
        fs::read_dir(dir.path().join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

/// The schema as the code before the store's migration 2 made it: the store's
/// migration 1 (then `user_version` 1), and the image tables this crate created
/// itself when it opened. A fixture: never change it.
const SCHEMA_BEFORE_MIGRATION_2: &str = r#"
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    config BLOB NOT NULL,
    manifest_digest TEXT,
    created_at TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tags (name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id));
CREATE TABLE digests (name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id));
CREATE TABLE layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT,
    dir TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);
PRAGMA user_version = 1;
CREATE TABLE IF NOT EXISTS image_layer_blobs (
    diff_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_rw_layers (
    container_id TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    dir TEXT NOT NULL
);
"#;

#[test]
fn database_made_before_the_store_owned_the_image_tables_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (diff_id, digest, media_type) = (
        format!("sha256:{}", "1".repeat(64)),
        format!("sha256:{}", "2".repeat(64)),
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    let (container, image) = ("c0ffee", format!("sha256:{}", "3".repeat(64)));
    {
        let old = rusqlite::Connection::open(dir.path().join("berth.db")).unwrap();
        old.execute_batch(SCHEMA_BEFORE_MIGRATION_2).unwrap();
        old.execute(
            "INSERT INTO image_layer_blobs(diff_id, digest, media_type, size) VALUES (?1, ?2, ?3, 42)",
            params![diff_id, digest, media_type],
        )
        .unwrap();
        old.execute(
            "INSERT INTO image_rw_layers(container_id, image_id, dir) VALUES (?1, ?2, ?3)",
            params![container, image, format!("rw-{container}")],
        )
        .unwrap();
    }
    // The rw layer's directory stays only if open finds its row.
    let rw = dir.path().join("overlay").join(format!("rw-{container}"));
    fs::create_dir_all(rw.join("diff")).unwrap();

    let db = Arc::new(store::Store::open(dir.path()).unwrap());
    let s = ImageStore::open(dir.path(), db.clone()).unwrap();
    assert_eq!(
        s.layer_blob(&diff_id).unwrap(),
        Some((digest, media_type.to_string(), 42))
    );
    assert!(rw.join("diff").is_dir());
    let rw_image: String = db
        .with(|c| {
            c.query_row(
                "SELECT image_id FROM image_rw_layers WHERE container_id = ?1",
                [container],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(rw_image, image);
    let version: usize = db
        .with(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .unwrap();
    assert!(version >= 2, "migrated past version 1, at {version}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data).unwrap();
    gz.finish().unwrap()
}

/// Like `make_image`, but stores each layer blob as given (e.g. gzip) the way a
/// pull or load would.
fn make_image_with_blobs(s: &ImageStore, blobs: &[Vec<u8>], tag: Option<&str>) -> String {
    let mut parent: Option<String> = None;
    let mut diffs = Vec::new();
    for b in blobs {
        let (c, mut dec) = unpack::decompress(Box::new(Cursor::new(b.clone()))).unwrap();
        let row = s
            .unpack_and_record(&mut dec, parent.as_deref(), None)
            .unwrap();
        let blob = s.content.put(b).unwrap();
        s.record_layer_blob(&row.diff_id, &blob, c.oci_media_type(), b.len() as u64)
            .unwrap();
        diffs.push(row.diff_id);
        parent = Some(row.chain_id);
    }
    let cfg = serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diffs},
        "x-unknown": [1, 2, 3],
    });
    let id = s
        .put_image(&serde_json::to_vec_pretty(&cfg).unwrap(), None)
        .unwrap();
    if let Some(t) = tag {
        s.tag(&id, t).unwrap();
    }
    id
}

fn tar_names(archive: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(Cursor::new(archive.to_vec()));
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn save_load_round_trip() {
    require_root!();
    let (_d1, s1) = new_store();
    let bb = s1
        .import(
            &mut Cursor::new(busybox_rootfs_tar()),
            ImportOptions {
                reference: Some("busybox:latest".into()),
                ..Default::default()
            },
        )
        .unwrap();
    s1.tag("busybox", "busybox:other").unwrap();
    let l1 = gzip(&raw_tar(&[E::File(b"a", b"1"), E::File(b"gone", b"g")]));
    let l2 = zstd::encode_all(
        &raw_tar(&[E::File(b".wh.gone", b""), E::File(b"b", b"2")])[..],
        3,
    )
    .unwrap();
    let two = make_image_with_blobs(
        &s1,
        &[l1.clone(), l2.clone()],
        Some("localhost:5000/two:v2"),
    );
    let untagged = make_image_with_blobs(&s1, &[raw_tar(&[E::File(b"u", b"u")])], None);

    let mut archive = Vec::new();
    s1.save(
        &[
            "busybox".into(),
            "localhost:5000/two:v2".into(),
            untagged[7..19].to_string(),
        ],
        &mut archive,
    )
    .unwrap();
    let names = tar_names(&archive);
    for n in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    // Layers keep their stored bytes and digests.
    assert!(names.contains(&format!("blobs/sha256/{}", &content::digest_of(&l1)[7..])));
    assert!(names.contains(&format!("blobs/sha256/{}", &content::digest_of(&l2)[7..])));

    let (_d2, s2) = new_store();
    let mut loaded = s2.load(&mut Cursor::new(archive.clone())).unwrap();
    loaded.sort_by(|a, b| a.reference.cmp(&b.reference));
    let refs: Vec<Option<&str>> = loaded.iter().map(|l| l.reference.as_deref()).collect();
    assert_eq!(
        refs,
        vec![
            None,
            Some("busybox:latest"),
            Some("busybox:other"),
            Some("localhost:5000/two:v2")
        ]
    );
    assert_eq!(s2.get("busybox").unwrap().id, bb.id);
    assert_eq!(s2.get("busybox:other").unwrap().id, bb.id);
    assert_eq!(s2.get("localhost:5000/two:v2").unwrap().id, two);
    assert_eq!(s2.get(&untagged).unwrap().id, untagged);
    assert_eq!(s2.raw_config(&two).unwrap(), s1.raw_config(&two).unwrap());
    let (d, mt, _) = s2
        .layer_blob(&s2.get(&two).unwrap().layers[1])
        .unwrap()
        .unwrap();
    assert_eq!(d, content::digest_of(&l2));
    assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar+zstd");

    // Save again from the loaded store: same bytes for the same selection.
    let mut again = Vec::new();
    s2.save(
        &[
            "busybox".into(),
            "localhost:5000/two:v2".into(),
            untagged.clone(),
        ],
        &mut again,
    )
    .unwrap();
    assert_eq!(again, archive);

    // Loading twice is idempotent.
    let (_d3, s3) = new_store();
    s3.load(&mut Cursor::new(archive.clone())).unwrap();
    s3.load(&mut Cursor::new(archive)).unwrap();
    assert_eq!(s3.list().unwrap().len(), 3);

    // The loaded two-layer image mounts with the whiteout applied.
    s2.create_rw_layer("rt", &two).unwrap();
    let target = _d2.path().join("mnt");
    s2.mount_rw_layer("rt", &target).unwrap();
    let _g = MountGuard(target.clone());
    assert!(target.join("a").exists() && target.join("b").exists());
    assert!(!target.join("gone").exists());
    s2.unmount(&target).unwrap();
}

/// Builds a legacy (pre-25) docker save archive by hand.
fn legacy_archive(config: &[u8], layers: &[Vec<u8>], tags: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut put = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    let id = &content::digest_of(config)[7..];
    put(&format!("{id}.json"), config);
    let mut lnames = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let n = format!("layer{i}/layer.tar");
        put(&n, l);
        lnames.push(n);
    }
    let m =
        serde_json::json!([{"Config": format!("{id}.json"), "RepoTags": tags, "Layers": lnames}]);
    put("manifest.json", &serde_json::to_vec(&m).unwrap());
    b.into_inner().unwrap()
}

#[test]
fn load_legacy_and_reject_bad_archives() {
    require_root!();
    let layer = raw_tar(&[E::File(b"hello", b"world")]);
    let diff = content::digest_of(&layer);
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }))
    .unwrap();
    let (_d, s) = new_store();
    let out = s
        .load(&mut Cursor::new(legacy_archive(
            &cfg,
            std::slice::from_ref(&layer),
            &["legacy:1"],
        )))
        .unwrap();
    assert_eq!(
        out,
        vec![LoadedImage {
            id: content::digest_of(&cfg),
            reference: Some("legacy:1".into())
        }]
    );

    // diff id mismatch: rejected, nothing recorded
    let (dir, s) = new_store();
    let other = raw_tar(&[E::File(b"hello", b"tampered")]);
    let e = s
        .load(&mut Cursor::new(legacy_archive(&cfg, &[other], &["x:1"])))
        .unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
    assert!(s.list().unwrap().is_empty());
    assert_eq!(outer_entries(&dir.path().join("overlay")), vec!["empty"]);
    assert_eq!(
        fs::read_dir(dir.path().join("content/ingest"))
            .unwrap()
            .count(),
        0
    );

    // hostile layer inside an archive
    let evil = raw_tar(&[E::File(b"../../evil", b"x")]);
    let cfg2 = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [content::digest_of(&evil)]},
    }))
    .unwrap();
    let e = s
        .load(&mut Cursor::new(legacy_archive(&cfg2, &[evil], &[])))
        .unwrap_err();
    assert!(e.to_string().contains("../../evil"), "{e}");
    assert!(!dir.path().join("evil").exists());

    // hostile archive entry names
    let e = s
        .load(&mut Cursor::new(raw_tar(&[E::File(
            b"../manifest.json",
            b"[]",
        )])))
        .unwrap_err();
    assert!(matches!(e, ImageError::InvalidArgument(_)), "{e}");
    // not an archive of images
    let e = s
        .load(&mut Cursor::new(raw_tar(&[E::File(b"foo", b"bar")])))
        .unwrap_err();
    assert!(e.to_string().contains("manifest.json"), "{e}");
    assert_eq!(
        fs::read_dir(dir.path().join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

/// A real dockerd on private roots, stopped (SIGTERM, then SIGKILL) on drop.
struct RealDocker {
    child: std::process::Child,
    root: tempfile::TempDir,
}

impl RealDocker {
    fn start() -> Option<RealDocker> {
        let which = |b: &str| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(b))
                    .find(|p| p.exists())
            })
        };
        which("dockerd")?;
        which("docker")?;
        let root = tempfile::Builder::new()
            .prefix("berth-imgtest")
            .tempdir_in("/tmp")
            .ok()?;
        let r = root.path();
        let log = fs::File::create(r.join("dockerd.log")).ok()?;
        let child = std::process::Command::new("dockerd")
            .arg("--host")
            .arg(format!("unix://{}", r.join("docker.sock").display()))
            .arg("--data-root")
            .arg(r.join("data"))
            .arg("--exec-root")
            .arg(r.join("exec"))
            .arg("--pidfile")
            .arg(r.join("docker.pid"))
            .args(["--bridge", "none", "--iptables=false"])
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let d = RealDocker { child, root };
        for _ in 0..100 {
            if d.docker(&["version"]).is_ok() {
                return Some(d);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        None
    }

    fn docker_with_stdin(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Result<String, String> {
        use std::io::Write as _;
        let mut c = std::process::Command::new("docker");
        c.arg("-H")
            .arg(format!(
                "unix://{}",
                self.root.path().join("docker.sock").display()
            ))
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut ch = c.spawn().map_err(|e| e.to_string())?;
        let mut sin = ch.stdin.take().unwrap();
        if let Some(data) = stdin {
            sin.write_all(&data).map_err(|e| e.to_string())?;
        }
        drop(sin);
        let out = ch.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn docker(&self, args: &[&str]) -> Result<String, String> {
        self.docker_with_stdin(args, None)
    }
}

impl Drop for RealDocker {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads a real `docker save` archive (whatever format the installed dockerd
/// writes) and checks ids, tags, whiteouts; then loads our `save` into dockerd.
/// Needs root and a dockerd in PATH: `cargo test -p image -- --ignored real_docker`.
#[test]
#[ignore = "starts a real dockerd; run with --ignored"]
fn real_docker_save_load() {
    require_root!();
    let Some(d) = RealDocker::start() else {
        eprintln!("SKIPPED: could not start dockerd");
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    // busybox rootfs with /etc/motd, imported by docker
    let mut tar = {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("bin")).unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::create_dir_all(root.path().join("tmp")).unwrap();
        fs::copy("/bin/busybox", root.path().join("bin/busybox")).unwrap();
        for a in ["sh", "rm", "mkdir", "touch", "echo", "ls"] {
            std::os::unix::fs::symlink("busybox", root.path().join("bin").join(a)).unwrap();
        }
        fs::write(root.path().join("etc/motd"), b"hi\n").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", root.path()).unwrap();
        b.into_inner().unwrap()
    };
    let bb_id = d
        .docker_with_stdin(
            &["import", "-", "busybox:latest"],
            Some(std::mem::take(&mut tar)),
        )
        .unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nRUN rm /etc/motd && mkdir -p /d && touch /d/x\nRUN rm -rf /d && mkdir /d && echo new > /d/y\nENV FOO=bar\nCMD [\"sh\"]\n",
    )
    .unwrap();
    d.docker(&[
        "build",
        "--network",
        "none",
        "-q",
        "-t",
        "two:latest",
        ctx.path().to_str().unwrap(),
    ])
    .unwrap();
    let two_id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "two:latest"])
        .unwrap();
    let archive = d.root.path().join("both.tar");
    d.docker(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox:latest",
        "two:latest",
    ])
    .unwrap();

    let (dir, s) = new_store();
    let mut loaded = s.load(&mut fs::File::open(&archive).unwrap()).unwrap();
    loaded.sort_by(|a, b| a.reference.cmp(&b.reference));
    assert_eq!(
        loaded,
        vec![
            LoadedImage {
                id: bb_id.clone(),
                reference: Some("busybox:latest".into())
            },
            LoadedImage {
                id: two_id.clone(),
                reference: Some("two:latest".into())
            },
        ]
    );
    let two = s.get("two").unwrap();
    assert_eq!(
        two.config.config.as_ref().unwrap().cmd.as_deref().unwrap(),
        ["sh"]
    );
    assert_eq!(s.history("two").unwrap()[0].id, two_id);
    s.create_rw_layer("real", &two.id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("real", &target).unwrap();
    let g = MountGuard(target.clone());
    assert!(target.join("bin/busybox").exists());
    assert!(
        !target.join("etc/motd").exists(),
        "whiteout from docker's layer"
    );
    assert!(
        !target.join("d/x").exists(),
        "opaque dir from docker's layer"
    );
    assert_eq!(fs::read(target.join("d/y")).unwrap(), b"new\n");
    drop(g);
    s.remove_rw_layer("real").unwrap();

    // Our save, loaded by the real dockerd, keeps the ids.
    d.docker(&["rmi", "two:latest", "busybox:latest"]).unwrap();
    let mut ours = Vec::new();
    s.save(&["busybox:latest".into(), "two:latest".into()], &mut ours)
        .unwrap();
    let out = d.docker_with_stdin(&["load"], Some(ours)).unwrap();
    assert!(out.contains("Loaded image: two:latest"), "{out}");
    assert_eq!(
        d.docker(&["image", "inspect", "-f", "{{.Id}}", "two:latest"])
            .unwrap(),
        two_id
    );
    assert_eq!(
        d.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox:latest"])
            .unwrap(),
        bb_id
    );
}

#[test]
fn symlink_in_lower_layer_is_not_followed() {
    require_root!();
    let before = fs::read("/etc/passwd").unwrap();
    let (dir, s) = new_store();
    let l1 = raw_tar(&[E::Symlink(b"a", b"/etc")]);
    let l2 = raw_tar(&[E::File(b"a/passwd", b"pwned")]);
    let id = make_image(&s, &[l1, l2], None);
    assert_eq!(fs::read("/etc/passwd").unwrap(), before);
    s.create_rw_layer("lowerlink", &id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("lowerlink", &target).unwrap();
    let _g = MountGuard(target.clone());
    // Mounting twice is a no-op, not a stacked mount.
    s.mount_rw_layer("lowerlink", &target).unwrap();
    assert_eq!(fs::read(target.join("a/passwd")).unwrap(), b"pwned");
    assert!(fs::symlink_metadata(target.join("a")).unwrap().is_dir());
    s.unmount(&target).unwrap();
    assert!(!mount::is_mount_point(&target));
    assert_eq!(fs::read("/etc/passwd").unwrap(), before);
}

#[test]
fn mountinfo_unescape() {
    assert_eq!(
        mount::unescape_mountinfo_for_test("/a\\040b\\134c"),
        "/a b\\c"
    );
}

#[test]
fn pax_long_names_and_xattrs() {
    require_root!();
    let long = format!("{}/file", "d".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([
        ("SCHILY.xattr.user.berth", &b"v1"[..]),
        ("SCHILY.xattr.trusted.overlay.redirect", &b"/etc"[..]),
    ])
    .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o640);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_600_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let outer = tempfile::tempdir().unwrap();
    let u = unpack_into(outer.path(), &tar).unwrap();
    assert_eq!(u.diff_id, content::digest_of(&tar));
    let p = outer.path().join("layer").join(&long);
    let md = fs::metadata(&p).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777, md.mtime()),
        (1234, 5678, 0o640, 1_600_000_000)
    );
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(&p, "user.berth", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"v1");
    assert!(rustix::fs::getxattr(&p, "trusted.overlay.redirect", &mut buf).is_err());
}

#[test]
fn reopen_keeps_images_and_digest_refs_cascade() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let id = {
        let db = Arc::new(store::Store::open(dir.path()).unwrap());
        let s = ImageStore::open(dir.path(), db).unwrap();
        let id = make_image(&s, &[raw_tar(&[E::File(b"f", b"1")])], Some("repo:t1"));
        s.add_digest_reference("repo:t1", &format!("repo@{digest}"))
            .unwrap();
        s.create_rw_layer("persist", &id).unwrap();
        id
    };
    let db = Arc::new(store::Store::open(dir.path()).unwrap());
    let s = ImageStore::open(dir.path(), db).unwrap();
    let img = s.get(&format!("repo@{digest}")).unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_digests, vec![format!("repo@{digest}")]);
    let target = dir.path().join("mnt");
    s.mount_rw_layer("persist", &target).unwrap();
    let g = MountGuard(target.clone());
    assert_eq!(fs::read(target.join("f")).unwrap(), b"1");
    drop(g);
    s.remove_rw_layer("persist").unwrap();
    // Removing the last tag of the repository also drops its digest references.
    let none = |_: &str| None;
    let items = s.remove("repo:t1", false, &none).unwrap();
    assert_eq!(
        items[..3],
        [
            DeleteItem::Untagged("repo:t1".into()),
            DeleteItem::Untagged(format!("repo@{digest}")),
            DeleteItem::Deleted(id.clone()),
        ]
    );
    assert!(s.list().unwrap().is_empty());
}

/// Stages `bytes` as a downloaded blob.
fn staged_blob(s: &ImageStore, bytes: &[u8]) -> PathBuf {
    let p = s.staging_file().unwrap();
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn pull_layers_in_any_order_then_push_back() {
    require_root!();
    let (_d, s) = new_store();
    let l1 = raw_tar(&[E::Dir(b"etc"), E::File(b"etc/a", b"one")]);
    let l2 = raw_tar(&[E::File(b"etc/b", b"two")]);
    let (g1, g2) = (gzip(&l1), gzip(&l2));
    let diffs = vec![digest_of(&l1), digest_of(&l2)];
    let chains = chain_ids(&diffs);
    // The top layer first: layers are independent snapshots.
    let p2 = staged_blob(&s, &g2);
    s.add_layer_file(&p2, &digest_of(&g2), Some(&chains[0]), &diffs[1])
        .unwrap();
    assert!(!p2.exists(), "the staging file is consumed");
    assert!(s.has_layer_blob(&chains[1], &digest_of(&g2)).unwrap());
    assert!(!s.has_layer(&chains[0]).unwrap());

    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diffs},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": digest_of(&cfg), "size": cfg.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest_of(&g1), "size": g1.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest_of(&g2), "size": g2.len()},
        ],
    }))
    .unwrap();
    let md = digest_of(&manifest);
    // Missing bottom layer: the image is not recorded.
    assert!(s
        .add_pulled_image(&cfg, &md, &manifest, "localhost:5000/x", Some("1"))
        .is_err());
    assert!(s.get("localhost:5000/x:1").is_err());

    // A wrong diff id is refused and leaves no layer behind.
    let bad = staged_blob(&s, &g1);
    let e = s
        .add_layer_file(&bad, &digest_of(&g1), None, &diffs[1])
        .unwrap_err();
    assert!(e.to_string().contains("diff id"), "{e}");
    assert!(!bad.exists());
    assert!(!s.has_layer(&chains[0]).unwrap());
    // A wrong blob digest is refused and stores no blob (the unpacked content
    // matched its diff id, so that snapshot is sound and kept).
    let bad = staged_blob(&s, &g1);
    let e = s
        .add_layer_file(&bad, &digest_of(&g2), None, &diffs[0])
        .unwrap_err();
    assert!(e.to_string().contains("does not match its digest"), "{e}");
    assert!(!s.has_layer_blob(&chains[0], &digest_of(&g1)).unwrap());

    let p1 = staged_blob(&s, &g1);
    s.add_layer_file(&p1, &digest_of(&g1), None, &diffs[0])
        .unwrap();
    let got = s
        .add_pulled_image(&cfg, &md, &manifest, "localhost:5000/x", Some("1"))
        .unwrap();
    assert!(got.changed);
    let again = s
        .add_pulled_image(&cfg, &md, &manifest, "localhost:5000/x", Some("1"))
        .unwrap();
    assert!(!again.changed, "same tag, same image: up to date");
    let img = s.get("localhost:5000/x:1").unwrap();
    assert_eq!(img.repo_digests, vec![format!("localhost:5000/x@{md}")]);

    // Push re-sends the pulled manifest byte for byte.
    let p = s.push_image("localhost:5000/x:1").unwrap();
    assert_eq!(p.manifest, manifest);
    assert_eq!(p.layers.len(), 2);
    assert_eq!(fs::read(&p.layers[1].path).unwrap(), g2);
    assert_eq!(
        fs::read(s.blob_path(&p.config_digest).unwrap()).unwrap(),
        cfg
    );
}

#[test]
fn push_of_an_imported_image_compresses_once() {
    require_root!();
    let (_d, s) = new_store();
    let l1 = raw_tar(&[E::Dir(b"etc"), E::File(b"etc/a", &[b'x'; 10_000])]);
    let id = make_image_with_blobs(&s, std::slice::from_ref(&l1), Some("localhost:5000/y:2"));
    let p = s.push_image(&id).unwrap();
    assert_eq!(p.layers.len(), 1);
    let l = &p.layers[0];
    assert_eq!(l.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    let blob = fs::read(&l.path).unwrap();
    assert_eq!(digest_of(&blob), l.digest);
    assert!(blob.len() < l1.len());
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&blob[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, l1);
    let m: serde_json::Value = serde_json::from_slice(&p.manifest).unwrap();
    assert_eq!(m["config"]["digest"], id);
    assert_eq!(m["layers"][0]["digest"], l.digest);
    // The second push reuses the compressed blob.
    let p2 = s.push_image(&id).unwrap();
    assert_eq!(p2.layers[0].digest, l.digest);
    assert_eq!(p2.manifest, p.manifest);
}

#[test]
fn commit_rw_layer_then_run_on_the_new_image() {
    require_root!();
    let (dir, s) = new_store();
    let l1 = raw_tar(&[
        E::File(b"keep", b"k"),
        E::File(b"gone", b"g"),
        E::Dir(b"d/"),
        E::File(b"d/old", b"o"),
    ]);
    let id = make_image(&s, &[l1], Some("base:1"));
    s.create_rw_layer("c1", &id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("c1", &target).unwrap();
    let guard = MountGuard(target.clone());
    fs::write(target.join("new"), b"n").unwrap();
    fs::hard_link(target.join("new"), target.join("new-link")).unwrap();
    fs::remove_file(target.join("gone")).unwrap();
    fs::remove_dir_all(target.join("d")).unwrap();
    fs::create_dir(target.join("d")).unwrap();
    fs::write(target.join("d/fresh"), b"f").unwrap();
    std::os::unix::fs::symlink("/keep", target.join("sym")).unwrap();
    drop(guard);

    let mut cfg: serde_json::Value = serde_json::from_slice(&s.raw_config(&id).unwrap()).unwrap();
    cfg["config"]["Cmd"] = serde_json::json!(["run"]);
    let new = s.commit_rw_layer("c1", cfg).unwrap();
    let img = s.get(&new).unwrap();
    assert_eq!(img.layers.len(), 2);
    assert_eq!(
        img.config.config.as_ref().unwrap().cmd,
        Some(vec!["run".to_string()])
    );

    s.create_rw_layer("c2", &new).unwrap();
    let t2 = dir.path().join("mnt2");
    s.mount_rw_layer("c2", &t2).unwrap();
    let _g2 = MountGuard(t2.clone());
    assert_eq!(fs::read(t2.join("keep")).unwrap(), b"k");
    assert_eq!(fs::read(t2.join("new")).unwrap(), b"n");
    assert_eq!(
        fs::metadata(t2.join("new")).unwrap().ino(),
        fs::metadata(t2.join("new-link")).unwrap().ino(),
        "hard links stay links"
    );
    assert!(!t2.join("gone").exists(), "deletion carried as a whiteout");
    assert!(
        !t2.join("d/old").exists(),
        "opaque dir hides the lower entries"
    );
    assert_eq!(fs::read(t2.join("d/fresh")).unwrap(), b"f");
    assert_eq!(fs::read_link(t2.join("sym")).unwrap(), Path::new("/keep"));

    // A tar stream as a layer (COPY), and a config-only image on the same layers.
    let copy = raw_tar(&[E::Dir(b"app/"), E::File(b"app/x", b"x")]);
    let cfg2: serde_json::Value = serde_json::from_slice(&s.raw_config(&new).unwrap()).unwrap();
    let with_copy = s
        .add_layer_tar(&mut Cursor::new(copy), cfg2.clone(), &LayerReuse::default())
        .unwrap();
    assert_eq!(s.get(&with_copy).unwrap().layers.len(), 3);
    let mut cfg3 = cfg2;
    cfg3["config"]["Env"] = serde_json::json!(["A=1"]);
    let only_cfg = s.put_config(&serde_json::to_vec(&cfg3).unwrap()).unwrap();
    assert_eq!(s.get(&only_cfg).unwrap().layers.len(), 2);
}

#[test]
fn copy_layer_links_unchanged_files_from_its_sibling() {
    require_root!();
    let (_dir, s) = new_store();
    let base = make_image(&s, &[raw_tar(&[E::File(b"etc", b"base")])], Some("base:1"));
    let cfg: serde_json::Value = serde_json::from_slice(&s.raw_config(&base).unwrap()).unwrap();
    let first = add_entries(
        &s,
        &[
            E::Dir(b"src/"),
            E::File(b"src/same", b"same"),
            E::File(b"src/changed", b"v1"),
            E::FileMode(b"src/mode", b"m", 0o644),
            E::File(b"src/twin", b"same"),
        ],
        cfg.clone(),
        &LayerReuse::default(),
    );
    let second_tar = raw_tar(&[
        E::Dir(b"src/"),
        E::File(b"src/same", b"same"),
        E::File(b"src/changed", b"v2"),
        E::FileMode(b"src/mode", b"m", 0o600),
        E::File(b"src/twin", b"same"),
        E::File(b"src/new", b"n"),
    ]);
    let second = s
        .add_layer_tar(
            &mut Cursor::new(second_tar.clone()),
            cfg.clone(),
            &sib(&first),
        )
        .unwrap();
    let top = |img: &str| s.top_layer_of(img).unwrap().unwrap().0;
    let (a, b) = (top(&first), top(&second));
    let ino = |p: PathBuf| fs::symlink_metadata(p).unwrap().ino();
    assert_eq!(
        ino(a.join("src/same")),
        ino(b.join("src/same")),
        "unchanged file linked"
    );
    assert_eq!(
        ino(a.join("src/twin")),
        ino(b.join("src/twin")),
        "each path links its own inode"
    );
    assert_ne!(ino(a.join("src/changed")), ino(b.join("src/changed")));
    assert_ne!(
        ino(a.join("src/mode")),
        ino(b.join("src/mode")),
        "other mode: not linked"
    );
    assert_eq!(fs::read(b.join("src/changed")).unwrap(), b"v2");
    assert_eq!(
        fs::symlink_metadata(b.join("src/mode")).unwrap().mode() & 0o777,
        0o600
    );
    // No tar is kept, only its layout: push/save make the same bytes again.
    let diff = s.get(&second).unwrap().config.rootfs.diff_ids[1].clone();
    assert_eq!(diff, crate::content::digest_of(&second_tar));
    assert!(s.layer_blob(&diff).unwrap().is_none());
    let (blob, mt, size) = s.ensure_layer_blob(&diff).unwrap();
    assert_eq!(blob, diff);
    assert_eq!(mt, "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(size, second_tar.len() as u64);
    assert_eq!(
        fs::read(s.content.path(&blob).unwrap()).unwrap(),
        second_tar
    );
    assert_eq!(s.ensure_layer_blob(&diff).unwrap().0, blob, "kept");
    // A layer whose files changed on disk is not exported under its old id.
    fs::remove_file(s.content.path(&blob).unwrap()).unwrap();
    fs::remove_file(b.join("src/new")).unwrap();
    fs::write(b.join("src/new"), b"N").unwrap();
    let err = s.ensure_layer_blob(&diff).unwrap_err().to_string();
    assert!(err.contains("changed on disk"), "{err}");
    fs::write(b.join("src/new"), b"longer").unwrap();
    let err = s.ensure_layer_blob(&diff).unwrap_err().to_string();
    assert!(err.contains("changed on disk"), "{err}");

    // A sibling on another parent is not linked from.
    let other = make_image(&s, &[raw_tar(&[E::File(b"other", b"o")])], Some("other:1"));
    let cfg_other: serde_json::Value =
        serde_json::from_slice(&s.raw_config(&other).unwrap()).unwrap();
    let third = add_entries(
        &s,
        &[E::Dir(b"src/"), E::File(b"src/same", b"same")],
        cfg_other,
        &sib(&first),
    );
    assert_ne!(ino(a.join("src/same")), ino(top(&third).join("src/same")));
}

#[test]
fn commit_of_a_stopped_container_moves_its_layer() {
    require_root!();
    let (dir, s) = new_store();
    let id = make_image(
        &s,
        &[raw_tar(&[E::File(b"gone", b"g"), E::File(b"keep", b"k")])],
        None,
    );
    s.create_rw_layer("c1", &id).unwrap();
    let target = dir.path().join("mnt");
    s.mount_rw_layer("c1", &target).unwrap();
    let guard = MountGuard(target.clone());
    fs::write(target.join("new"), b"n").unwrap();
    fs::remove_file(target.join("gone")).unwrap();
    drop(guard);
    let upper = s.rw_layer_upper_dir("c1").unwrap();
    let ino = fs::metadata(upper.join("new")).unwrap().ino();
    let cfg: serde_json::Value = serde_json::from_slice(&s.raw_config(&id).unwrap()).unwrap();
    let new = s.commit_stopped_rw_layer("c1", cfg).unwrap();
    assert_eq!(
        fs::read_dir(&upper).unwrap().count(),
        0,
        "the container keeps an empty layer"
    );
    s.remove_rw_layer("c1").unwrap();

    s.create_rw_layer("c2", &new).unwrap();
    let t2 = dir.path().join("mnt2");
    s.mount_rw_layer("c2", &t2).unwrap();
    let _g2 = MountGuard(t2.clone());
    assert_eq!(fs::read(t2.join("new")).unwrap(), b"n");
    assert_eq!(
        fs::metadata(t2.join("new")).unwrap().ino(),
        ino,
        "moved, not copied"
    );
    assert_eq!(
        fs::metadata(t2.join("new")).unwrap().mtime_nsec(),
        0,
        "whole seconds, as the layer tar has them"
    );
    assert!(!t2.join("gone").exists());
    assert_eq!(fs::read(t2.join("keep")).unwrap(), b"k");
    // The stored blob is the diff as a tar (whiteout included).
    let diff = s.get(&new).unwrap().config.rootfs.diff_ids[1].clone();
    let (blob, _, _) = s.ensure_layer_blob(&diff).unwrap();
    let names = tar_names(&fs::read(s.content.path(&blob).unwrap()).unwrap());
    assert!(names.contains(&".wh.gone".to_string()), "{names:?}");
    assert!(names.contains(&"new".to_string()), "{names:?}");
}

#[test]
fn copy_layer_tar_comes_back_byte_for_byte() {
    require_root!();
    let (_dir, s) = new_store();
    let base = make_image(&s, &[raw_tar(&[E::File(b"etc", b"base")])], None);
    let cfg: serde_json::Value = serde_json::from_slice(&s.raw_config(&base).unwrap()).unwrap();
    let hdr = |gnu: bool, kind: tar::EntryType, mode: u32, id: u64, size: u64| {
        let mut h = if gnu {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        };
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(id);
        h.set_gid(id);
        h.set_mtime(id + 1);
        h.set_size(size);
        h
    };
    use tar::EntryType::{Link, Regular, Symlink};
    // Long names (GNU and PAX), a PAX xattr, links, an empty and a big file,
    // and no end-of-archive blocks at all.
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("d/{}/file", "n".repeat(150));
    b.append_data(&mut hdr(true, Regular, 0o644, 0, 3), &long, &b"abc"[..])
        .unwrap();
    b.append_pax_extensions([("SCHILY.xattr.user.k", &b"v"[..])])
        .unwrap();
    b.append_data(&mut hdr(false, Regular, 0o600, 1000, 0), "empty", &b""[..])
        .unwrap();
    let big = vec![7u8; 3 << 20];
    b.append_data(
        &mut hdr(true, Regular, 0o755, 0, big.len() as u64),
        "big",
        &big[..],
    )
    .unwrap();
    b.append_link(&mut hdr(true, Symlink, 0o777, 0, 0), "sym", "big")
        .unwrap();
    b.append_link(&mut hdr(true, Link, 0o755, 0, 0), "hard", "big")
        .unwrap();
    let mut bytes = b.into_inner().unwrap();
    // into_inner wrote the two zero blocks: drop them (the docker CLI's `-f -` tars end so).
    bytes.truncate(bytes.len() - 1024);
    let id = s
        .add_layer_tar(&mut Cursor::new(bytes.clone()), cfg, &LayerReuse::default())
        .unwrap();
    let diff = s.get(&id).unwrap().config.rootfs.diff_ids[1].clone();
    assert_eq!(diff, crate::content::digest_of(&bytes));
    let (blob, _, _) = s.ensure_layer_blob(&diff).unwrap();
    assert_eq!(fs::read(s.content.path(&blob).unwrap()).unwrap(), bytes);
    // And a save of the image carries it.
    let mut out = Vec::new();
    s.save(&[id], &mut out).unwrap();
    assert!(tar_names(&out)
        .iter()
        .any(|n| n.ends_with(diff.trim_start_matches("sha256:"))));
}

/// `add_layer_tar` of a tar of `entries`.
fn add_entries(
    s: &ImageStore,
    entries: &[E],
    cfg: serde_json::Value,
    reuse: &LayerReuse,
) -> String {
    s.add_layer_tar(&mut Cursor::new(raw_tar(entries)), cfg, reuse)
        .unwrap()
}

fn sib(image: &str) -> LayerReuse {
    LayerReuse {
        sibling: Some(image.to_string()),
        source: None,
    }
}

#[test]
fn copy_from_links_the_file_from_the_source_layer_once() {
    require_root!();
    let (_dir, s) = new_store();
    let cfg_of = |id: &str| -> serde_json::Value {
        serde_json::from_slice(&s.raw_config(id).unwrap()).unwrap()
    };
    let base = make_image(&s, &[raw_tar(&[E::File(b"etc", b"base")])], None);
    // The "build" stage: its top layer holds /out/app.
    let build = add_entries(
        &s,
        &[E::Dir(b"out/"), E::File(b"out/app", b"binary")],
        cfg_of(&base),
        &LayerReuse::default(),
    );
    let top = |img: &str| s.top_layer_of(img).unwrap().unwrap().0;
    let ino = |p: PathBuf| fs::symlink_metadata(p).unwrap().ino();
    let src = ino(top(&build).join("out/app"));
    let from_build = |dest: &str| LayerReuse {
        sibling: None,
        source: Some((
            build.clone(),
            vec![(dest.to_string(), "/out/app".to_string())],
        )),
    };
    // COPY --from=build /out/app /app on another image: linked.
    let other = make_image(&s, &[raw_tar(&[E::File(b"other", b"o")])], None);
    let copied = add_entries(
        &s,
        &[E::File(b"app", b"binary")],
        cfg_of(&other),
        &from_build("app"),
    );
    assert_eq!(ino(top(&copied).join("app")), src);
    // Not a second time (the inode is no longer the source layer's alone) ...
    let again = add_entries(
        &s,
        &[E::File(b"app2", b"binary")],
        cfg_of(&other),
        &from_build("app2"),
    );
    assert_ne!(ino(top(&again).join("app2")), src);
    // ... and never into a layer on top of the source layer (one container
    // would see the inode twice).
    let fresh = add_entries(
        &s,
        &[E::Dir(b"out/"), E::File(b"out/bin", b"exe")],
        cfg_of(&base),
        &LayerReuse::default(),
    );
    let fresh_src = ino(top(&fresh).join("out/bin"));
    let on_top = s
        .add_layer_tar(
            &mut Cursor::new(raw_tar(&[E::File(b"bin", b"exe")])),
            cfg_of(&fresh),
            &LayerReuse {
                sibling: None,
                source: Some((fresh.clone(), vec![("bin".into(), "/out/bin".into())])),
            },
        )
        .unwrap();
    assert_ne!(ino(top(&on_top).join("bin")), fresh_src);
}

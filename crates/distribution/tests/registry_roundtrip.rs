//! Push and pull against our own registry (crates/registry), served in-process.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use common::*;
use distribution::oci::{self, Descriptor, ImageIndex, ImageManifest, Platform};
use distribution::{select_platform, Credentials, Error};
use errdefs::{ErrorKind, HasKind};

fn layer_desc(data: &[u8]) -> Descriptor {
    Descriptor {
        media_type: oci::OCI_LAYER_TAR_GZIP.into(),
        digest: sha256(data),
        size: data.len() as u64,
        ..Default::default()
    }
}

#[tokio::test]
async fn small_blob_push_head_get_download() {
    let reg = start_registry().await;
    let c = client();
    let repo = c.repository(&reg.addr, "test/small", Credentials::Anonymous, true);
    let data = random_bytes(100_000, 1);
    let d = sha256(&data);
    assert_eq!(repo.blob_exists(&d).await.unwrap(), None);
    let path = write_file(reg.dir.path(), "small", &data);
    let last = AtomicU64::new(0);
    repo.upload_blob(&path, &d, data.len() as u64, &|n| {
        last.store(n, Ordering::Relaxed)
    })
    .await
    .unwrap();
    assert_eq!(last.load(Ordering::Relaxed), data.len() as u64);
    assert_eq!(repo.blob_exists(&d).await.unwrap(), Some(data.len() as u64));

    let desc = layer_desc(&data);
    let got = repo.get_blob(&desc, 1 << 20).await.unwrap();
    assert_eq!(&got[..], &data[..]);
    // Too small a cap.
    let e = repo.get_blob(&desc, 10).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");

    let out = reg.dir.path().join("out");
    let mut f = tokio::fs::File::create(&out).await.unwrap();
    repo.download_blob(&desc, &mut f, &|_| {}).await.unwrap();
    drop(f);
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // A descriptor with the wrong size: detected.
    let mut bad = desc.clone();
    bad.size -= 1;
    let mut f = tokio::fs::File::create(&out).await.unwrap();
    let e = repo.download_blob(&bad, &mut f, &|_| {}).await.unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");

    // Unknown blob.
    let unknown = Descriptor {
        digest: sha256(b"nope"),
        size: 4,
        ..desc.clone()
    };
    let mut f = tokio::fs::File::create(&out).await.unwrap();
    let e = repo
        .download_blob(&unknown, &mut f, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Empty blob.
    let empty = write_file(reg.dir.path(), "empty", b"");
    repo.upload_blob(&empty, &sha256(b""), 0, &|_| {})
        .await
        .unwrap();
    assert_eq!(repo.blob_exists(&sha256(b"")).await.unwrap(), Some(0));

    // Wrong digest for the content: the registry refuses it.
    let e = repo
        .upload_blob(&path, &sha256(b"other"), data.len() as u64, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Registry { status: 400, .. }), "{e}");
}

#[tokio::test]
async fn chunked_upload_and_fast_download() {
    let reg = start_registry().await;
    let c = client();
    let repo = c.repository(&reg.addr, "test/big", Credentials::Anonymous, true);
    let size = 40 * 1024 * 1024 + 123; // three chunks
    let data = random_bytes(size, 2);
    let d = sha256(&data);
    let path = write_file(reg.dir.path(), "big", &data);
    let reports = Mutex::new(Vec::new());
    repo.upload_blob(&path, &d, size as u64, &|n| reports.lock().unwrap().push(n))
        .await
        .unwrap();
    let reports = reports.into_inner().unwrap();
    assert_eq!(reports.last().copied(), Some(size as u64));
    assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
    assert_eq!(repo.blob_exists(&d).await.unwrap(), Some(size as u64));

    let out = reg.dir.path().join("big.out");
    let mut f = tokio::fs::File::create(&out).await.unwrap();
    let seen = AtomicU64::new(0);
    let t = std::time::Instant::now();
    repo.download_blob(&layer_desc(&data), &mut f, &|n| {
        seen.store(n, Ordering::Relaxed)
    })
    .await
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    drop(f);
    eprintln!(
        "downloaded {size} bytes in {secs:.3} s ({:.0} MB/s, debug build)",
        size as f64 / secs / 1e6
    );
    assert_eq!(seen.load(Ordering::Relaxed), size as u64);
    assert!(std::fs::read(&out).unwrap() == data);
}

#[tokio::test]
async fn mount_between_repositories() {
    let reg = start_registry().await;
    let c = client();
    let a = c.repository(&reg.addr, "test/a", Credentials::Anonymous, true);
    let b = c.repository(&reg.addr, "test/b", Credentials::Anonymous, true);
    let data = random_bytes(5000, 3);
    let d = sha256(&data);
    let path = write_file(reg.dir.path(), "m", &data);
    a.upload_blob(&path, &d, 5000, &|_| {}).await.unwrap();
    assert!(b.mount_blob(&d, "test/a").await.unwrap());
    assert_eq!(b.blob_exists(&d).await.unwrap(), Some(5000));
    // Not in the source repository: an upload is started instead (and cancelled).
    let other = sha256(b"missing");
    assert!(!b.mount_blob(&other, "test/a").await.unwrap());
    assert!(b.mount_blob(&d, "Bad Name").await.is_err());
}

#[tokio::test]
async fn manifests_index_platforms_and_tags() {
    let reg = start_registry().await;
    let c = client();
    let repo = c.repository(&reg.addr, "library/multi", Credentials::Anonymous, true);
    let dir = reg.dir.path();

    // Two single-platform images.
    let mut descs = Vec::new();
    for (i, (arch, variant)) in [("amd64", None), ("arm64", Some("v8"))]
        .into_iter()
        .enumerate()
    {
        let layer = random_bytes(1000 + i, 10 + i as u64);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]}
        }))
        .unwrap();
        for (name, blob) in [("layer", &layer), ("config", &config)] {
            let p = write_file(dir, &format!("{name}{i}"), blob);
            repo.upload_blob(&p, &sha256(blob), blob.len() as u64, &|_| {})
                .await
                .unwrap();
        }
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(oci::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor {
                media_type: oci::OCI_CONFIG.into(),
                digest: sha256(&config),
                size: config.len() as u64,
                ..Default::default()
            },
            layers: vec![layer_desc(&layer)],
            subject: None,
            annotations: Default::default(),
        };
        let body = Bytes::from(serde_json::to_vec(&m).unwrap());
        let digest = sha256(&body);
        let got = repo
            .put_manifest(&digest, oci::OCI_MANIFEST, body.clone())
            .await
            .unwrap();
        assert_eq!(got, digest);
        descs.push(Descriptor {
            media_type: oci::OCI_MANIFEST.into(),
            digest,
            size: body.len() as u64,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(oci::OCI_INDEX.into()),
        artifact_type: None,
        manifests: descs.clone(),
        subject: None,
        annotations: Default::default(),
    };
    let body = Bytes::from(serde_json::to_vec(&index).unwrap());
    let index_digest = repo
        .put_manifest("latest", oci::OCI_INDEX, body.clone())
        .await
        .unwrap();
    assert_eq!(index_digest, sha256(&body));

    // A put under a digest that is not the body's is refused before sending.
    let e = repo
        .put_manifest(&sha256(b"x"), oci::OCI_INDEX, body.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");

    // Pull: tag -> index -> platform -> manifest -> config.
    let head = repo.head_manifest("latest").await.unwrap().unwrap();
    assert_eq!(head.digest, index_digest);
    assert_eq!(head.media_type, oci::OCI_INDEX);
    assert_eq!(head.size, body.len() as u64);
    let m = repo.get_manifest("latest").await.unwrap();
    assert!(m.is_index());
    assert_eq!(m.digest, index_digest);
    assert_eq!(m.bytes, body);
    let idx = m.index().unwrap();
    let arm = select_platform(&idx, "linux", "arm64", None).unwrap();
    assert_eq!(arm.digest, descs[1].digest);
    let mm = repo.get_manifest(&arm.digest).await.unwrap();
    assert_eq!(mm.media_type, oci::OCI_MANIFEST);
    let im = mm.image_manifest().unwrap();
    let cfg = repo.get_blob(&im.config, 1 << 20).await.unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
    assert_eq!(cfg["architecture"], "arm64");

    // Not found: the message a Docker user sees.
    let e = repo.get_manifest("nope").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let want = format!(
        "manifest for {}/library/multi:nope not found: manifest unknown",
        reg.addr
    );
    assert!(e.to_string().starts_with(&want), "{e}");
    assert!(repo.head_manifest("nope").await.unwrap().is_none());
    let e = repo.get_manifest("bad tag").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    // Tags with pagination.
    for t in ["v1", "v2", "v3", "v4"] {
        repo.put_manifest(t, oci::OCI_INDEX, body.clone())
            .await
            .unwrap();
    }
    let mut want = vec!["latest", "v1", "v2", "v3", "v4"];
    want.sort();
    let mut all = repo.list_tags_paged(Some(2)).await.unwrap();
    all.sort();
    assert_eq!(all, want);
    let mut all = repo.list_tags().await.unwrap();
    all.sort();
    assert_eq!(all, want);
    let none = c.repository(&reg.addr, "library/none", Credentials::Anonymous, false);
    let e = none.list_tags().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn unreachable_registry_is_unavailable() {
    let port = free_port();
    let c = client();
    let repo = c.repository(
        &format!("127.0.0.1:{port}"),
        "x",
        Credentials::Anonymous,
        false,
    );
    let e = repo.get_manifest("latest").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
}

/// Throughput check: `cargo test -p distribution --release --test registry_roundtrip -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "performance measurement; run in release"]
async fn download_throughput() {
    let reg = start_registry().await;
    let c = client();
    let repo = c.repository(&reg.addr, "perf/blob", Credentials::Anonymous, true);
    let size = 512 * 1024 * 1024;
    let data = random_bytes(size, 99);
    let d = sha256(&data);
    let path = write_file(reg.dir.path(), "perf", &data);
    drop(data);
    let t = std::time::Instant::now();
    repo.upload_blob(&path, &d, size as u64, &|_| {})
        .await
        .unwrap();
    let up = t.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    let desc = Descriptor {
        media_type: oci::OCI_LAYER_TAR_GZIP.into(),
        digest: d,
        size: size as u64,
        ..Default::default()
    };
    let out = reg.dir.path().join("perf.out");
    let mut f = tokio::fs::File::create(&out).await.unwrap();
    let t = std::time::Instant::now();
    repo.download_blob(&desc, &mut f, &|_| {}).await.unwrap();
    let down = t.elapsed().as_secs_f64();
    eprintln!(
        "512 MiB: upload {:.0} MB/s, download {:.0} MB/s",
        size as f64 / up / 1e6,
        size as f64 / down / 1e6
    );
}

//! Push and pull against Debian's reference registry (`/usr/bin/docker-registry`,
//! distribution 2.8), with and without htpasswd auth. Skipped (with a note) when the
//! binary is not installed.

mod common;

use bytes::Bytes;
use common::*;
use distribution::oci::{self, Descriptor, ImageIndex, ImageManifest, Platform};
use distribution::{select_platform, Credentials, Error};
use errdefs::{ErrorKind, HasKind};

async fn start_reference(htpasswd: Option<(&str, &str)>) -> Option<RefRegistry> {
    let addr = format!("127.0.0.1:{}", free_port());
    start_reference_at(&addr, "", |dir| match htpasswd {
        Some((user, pass)) => {
            let hash = bcrypt::hash(pass, 4).unwrap();
            let file = write_file(dir, "htpasswd", format!("{user}:{hash}\n").as_bytes());
            format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                file.display()
            )
        }
        None => String::new(),
    })
    .await
}

async fn round_trip(reg: &RefRegistry, creds: Credentials) {
    let c = client();
    let push = c.repository(&reg.addr, "library/roundtrip", creds.clone(), true);
    let dir = reg.dir.path();

    // Layers: one small (monolithic), one over the chunk threshold (chunked PATCH).
    let small = random_bytes(70_000, 21);
    let big = random_bytes(20 * 1024 * 1024 + 5, 22);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(&small), sha256(&big)]}
    }))
    .unwrap();
    let mut layers = Vec::new();
    for (i, blob) in [&small, &big].into_iter().enumerate() {
        let p = write_file(dir, &format!("l{i}"), blob);
        let d = sha256(blob);
        assert_eq!(push.blob_exists(&d).await.unwrap(), None);
        push.upload_blob(&p, &d, blob.len() as u64, &|_| {})
            .await
            .unwrap();
        assert_eq!(push.blob_exists(&d).await.unwrap(), Some(blob.len() as u64));
        layers.push(Descriptor {
            media_type: oci::DOCKER_LAYER_TAR_GZIP.into(),
            digest: d,
            size: blob.len() as u64,
            ..Default::default()
        });
    }
    let cp = write_file(dir, "config", &config);
    push.upload_blob(&cp, &sha256(&config), config.len() as u64, &|_| {})
        .await
        .unwrap();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(oci::DOCKER_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor {
            media_type: oci::DOCKER_CONFIG.into(),
            digest: sha256(&config),
            size: config.len() as u64,
            ..Default::default()
        },
        layers: layers.clone(),
        subject: None,
        annotations: Default::default(),
    };
    let mbody = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let mdigest = push
        .put_manifest("v1", oci::DOCKER_MANIFEST, mbody.clone())
        .await
        .unwrap();
    assert_eq!(mdigest, sha256(&mbody));
    let list = ImageIndex {
        schema_version: 2,
        media_type: Some(oci::DOCKER_MANIFEST_LIST.into()),
        artifact_type: None,
        manifests: vec![Descriptor {
            media_type: oci::DOCKER_MANIFEST.into(),
            digest: mdigest.clone(),
            size: mbody.len() as u64,
            platform: Some(Platform {
                architecture: "amd64".into(),
                os: "linux".into(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        subject: None,
        annotations: Default::default(),
    };
    let lbody = Bytes::from(serde_json::to_vec(&list).unwrap());
    let ldigest = push
        .put_manifest("latest", oci::DOCKER_MANIFEST_LIST, lbody.clone())
        .await
        .unwrap();
    assert_eq!(ldigest, sha256(&lbody));

    // Cross-repository mount.
    let other = c.repository(&reg.addr, "library/other", creds.clone(), true);
    assert!(other
        .mount_blob(&layers[0].digest, "library/roundtrip")
        .await
        .unwrap());
    assert!(!other
        .mount_blob(&sha256(b"absent"), "library/roundtrip")
        .await
        .unwrap());

    // Pull with a read-only handle.
    let pull = c.repository(&reg.addr, "library/roundtrip", creds.clone(), false);
    let mut tags = pull.list_tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, vec!["latest", "v1"]);
    let head = pull.head_manifest("latest").await.unwrap().unwrap();
    assert_eq!(head.digest, ldigest);
    assert_eq!(head.media_type, oci::DOCKER_MANIFEST_LIST);
    let m = pull.get_manifest("latest").await.unwrap();
    assert!(m.is_index());
    let idx = m.index().unwrap();
    let d = select_platform(&idx, "linux", "amd64", None).unwrap();
    let mm = pull.get_manifest(&d.digest).await.unwrap();
    assert_eq!(mm.media_type, oci::DOCKER_MANIFEST);
    let im = mm.image_manifest().unwrap();
    let cfg = pull.get_blob(&im.config, 1 << 20).await.unwrap();
    assert_eq!(&cfg[..], &config[..]);
    for (desc, want) in im.layers.iter().zip([&small, &big]) {
        let out = dir.join("pulled");
        let mut f = tokio::fs::File::create(&out).await.unwrap();
        pull.download_blob(desc, &mut f, &|_| {}).await.unwrap();
        drop(f);
        assert!(std::fs::read(&out).unwrap() == *want);
    }
    let e = pull.get_manifest("missing").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(pull.head_manifest("missing").await.unwrap().is_none());
}

#[tokio::test]
async fn reference_registry_round_trip() {
    let Some(reg) = start_reference(None).await else {
        return;
    };
    round_trip(&reg, Credentials::Anonymous).await;
}

#[tokio::test]
async fn reference_registry_with_htpasswd() {
    let Some(reg) = start_reference(Some(("carol", "pa55word"))).await else {
        return;
    };
    let creds = Credentials::Basic {
        username: "carol".into(),
        password: "pa55word".into(),
    };
    let c = client();
    assert_eq!(c.login(&reg.addr, &creds).await.unwrap(), None);
    let bad = Credentials::Basic {
        username: "carol".into(),
        password: "wrong".into(),
    };
    let e = c.login(&reg.addr, &bad).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    let e = c
        .repository(&reg.addr, "library/x", Credentials::Anonymous, false)
        .get_manifest("latest")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.to_string().contains("docker login"), "{e}");
    round_trip(&reg, creds).await;
}

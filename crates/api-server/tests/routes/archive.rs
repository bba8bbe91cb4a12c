//! `/containers/{id}/archive`, `/changes`, `/export`, `/commit`.

use axum::body::Body;
use base64::Engine;

use crate::fake::{fake_stat, Call};
use crate::Api;

fn decoded_stat(header: Option<&str>) -> engine_types::ContainerPathStat {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(header.expect("stat header"))
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[tokio::test]
async fn head_and_get_send_the_path_stat_header() {
    let api = Api::new();
    let a = api
        .call(
            "HEAD",
            "/containers/c1/archive?path=%2Fetc%2Fpasswd",
            Body::empty(),
        )
        .await;
    a.status(200);
    assert_eq!(
        decoded_stat(a.header("x-docker-container-path-stat")),
        fake_stat()
    );
    let Call::PathStat { id, path } = api.fake.only_call() else {
        panic!("not a stat")
    };
    assert_eq!((id.as_str(), path.as_str()), ("c1", "/etc/passwd"));

    let api = Api::new();
    let a = api.get("/v1.47/containers/c1/archive?path=/etc/").await;
    a.status(200);
    assert_eq!(a.header("content-type"), Some("application/x-tar"));
    assert_eq!(a.body, b"tar bytes");
    assert!(a.header("x-docker-container-path-stat").is_some());
}

#[tokio::test]
async fn archive_without_a_path_is_400() {
    let api = Api::new();
    for m in ["GET", "PUT"] {
        let msg = api
            .call(m, "/containers/c1/archive", Body::empty())
            .await
            .error(400);
        assert!(msg.contains("path"), "{msg}");
    }
    let bad = api
        .call(
            "PUT",
            "/containers/c1/archive?path=/&copyUIDGID=maybe",
            Body::empty(),
        )
        .await;
    bad.error(400);
}

#[tokio::test]
async fn put_passes_options_and_the_body() {
    let api = Api::new();
    api.call(
        "PUT",
        "/containers/c1/archive?path=/tmp&noOverwriteDirNonDir=1&copyUIDGID=true",
        Body::from("tarball"),
    )
    .await
    .status(200);
    let Call::ArchivePut {
        id,
        path,
        no_overwrite_dir_non_dir,
        copy_uid_gid,
        body,
    } = api.fake.only_call()
    else {
        panic!("not a put")
    };
    assert_eq!((id.as_str(), path.as_str()), ("c1", "/tmp"));
    assert!(no_overwrite_dir_non_dir && copy_uid_gid);
    assert_eq!(body, b"tarball");
}

#[tokio::test]
async fn changes_and_export() {
    let api = Api::new();
    let doc = api.get("/containers/c1/changes").await.json(200);
    assert_eq!(doc, serde_json::json!([{ "Path": "/etc", "Kind": 0 }]));
    let a = api.get("/containers/c1/export").await;
    a.status(200);
    assert_eq!(a.body, b"export bytes");
}

#[tokio::test]
async fn commit_parses_the_query_and_the_config() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/commit?container=c1&repo=img&tag=v1&comment=hi&author=me&pause=0&changes=CMD%20x&changes=ENV%20A%3D1",
            serde_json::json!({ "Cmd": ["sh"] }),
        )
        .await
        .json(201);
    assert_eq!(doc["Id"], "sha256:committed");
    let Call::Commit(o) = api.fake.only_call() else {
        panic!("not a commit")
    };
    assert_eq!(o.container, "c1");
    assert_eq!(
        (o.repo.as_deref(), o.tag.as_deref()),
        (Some("img"), Some("v1"))
    );
    assert_eq!(
        (o.comment.as_deref(), o.author.as_deref()),
        (Some("hi"), Some("me"))
    );
    assert!(!o.pause);
    assert_eq!(o.changes, ["CMD x", "ENV A=1"]);
    assert_eq!(o.config.unwrap().cmd, Some(vec!["sh".to_string()]));
    // pause defaults to true; container is required.
    let api = Api::new();
    api.post("/commit?container=c1").await.status(201);
    let Call::Commit(o) = api.fake.only_call() else {
        panic!("not a commit")
    };
    assert!(o.pause && o.config.is_none());
    api.post("/commit").await.error(400);
}

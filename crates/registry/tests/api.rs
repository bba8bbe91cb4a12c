//! End-to-end tests: an in-process registry on 127.0.0.1:0 driven over HTTP.

mod common;
use common::{digest, Resp};

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

struct Server {
    base: String,
    root: PathBuf,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let r = root.clone();
    let task = tokio::spawn(async move {
        registry::serve_listener(listener, r, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    Server {
        base: format!("http://{addr}"),
        root,
        dir,
        stop: Some(tx),
        task,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Server {
    async fn req(&self, method: Method, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut b = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("request");
        let resp = self.client.request(req).await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = digest(data);
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                data,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        d
    }

    async fn push_image(&self, repo: &str, tag: &str) -> (String, Vec<u8>) {
        let config = self.push_blob(repo, b"{}").await;
        let layer = self.push_blob(repo, b"layer-bytes").await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 11}],
        });
        let bytes = serde_json::to_vec(&manifest).expect("ser");
        let r = self
            .req(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("content-type", "application/vnd.oci.image.manifest.v1+json")],
                &bytes,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (r.header("docker-content-digest"), bytes)
    }

    /// Stop gracefully; returns the temp dir so callers can inspect the root afterwards.
    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.dir
    }
}

fn blob_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("blobs/sha256"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn base_endpoint() {
    let s = start().await;
    let r = s.req(Method::GET, "/v2/", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    assert_eq!(r.json(), serde_json::json!({}));
    s.stop().await;
}

#[tokio::test]
async fn monolithic_upload_and_blob_get_head_range() {
    let s = start().await;
    let d = s.push_blob("a/b", b"0123456789").await;
    let r = s
        .req(Method::GET, &format!("/v2/a/b/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"0123456789");
    assert_eq!(r.header("docker-content-digest"), d);
    let r = s
        .req(Method::HEAD, &format!("/v2/a/b/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), "10");
    let r = s
        .req(
            Method::GET,
            &format!("/v2/a/b/blobs/{d}"),
            &[("range", "bytes=2-5")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], b"2345");
    assert_eq!(r.header("content-range"), "bytes 2-5/10");
    // Other repositories do not see the blob.
    let r = s
        .req(Method::GET, &format!("/v2/other/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UNKNOWN");
    s.stop().await;
}

#[tokio::test]
async fn chunked_upload_with_status_and_wrong_offset() {
    let s = start().await;
    let r = s
        .req(Method::POST, "/v2/repo/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location");
    assert!(!r.header("docker-upload-uuid").is_empty());
    assert_eq!(r.header("range"), "0-0");
    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "0-4")], b"hello")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), "0-4");
    let loc = r.header("location");
    // Wrong offset.
    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "3-7")], b"xxxxx")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let r = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), "0-4");
    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "5-10")], b" world")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let d = digest(b"hello world");
    let r = s
        .req(Method::PUT, &format!("{loc}?digest={d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), d);
    let r = s
        .req(Method::GET, &format!("/v2/repo/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(&r.body[..], b"hello world");
    // The finished session is gone.
    let r = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    s.stop().await;
}

#[tokio::test]
async fn wrong_digest_is_rejected_and_nothing_stored() {
    let s = start().await;
    let wrong = digest(b"something else");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/repo/blobs/uploads/?digest={wrong}"),
            &[],
            b"data",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    assert!(blob_files(&s.root).is_empty());
    let r = s
        .req(
            Method::POST,
            "/v2/repo/blobs/uploads/?digest=sha256:nothex",
            &[],
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    s.stop().await;
}

#[tokio::test]
async fn abandoned_upload_leaves_no_blob() {
    let s = start().await;
    let r = s
        .req(Method::POST, "/v2/repo/blobs/uploads/", &[], b"")
        .await;
    let loc = r.header("location");
    let r = s.req(Method::PATCH, &loc, &[], b"half a layer").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let root = s.root.clone();
    // "Crash": abort the server task without finishing the upload.
    s.task.abort();
    assert!(blob_files(&root).is_empty());
    // A new server on the same root resumes the session from the partial file.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let r2 = root.clone();
    let task = tokio::spawn(async move {
        let _ = registry::serve_listener(listener, r2, std::future::pending()).await;
    });
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let d = digest(b"half a layer");
    let url = format!("http://{addr}{loc}?digest={d}");
    let req = Request::builder()
        .method(Method::PUT)
        .uri(url)
        .body(Full::new(Bytes::new()))
        .expect("req");
    let resp = client.request(req).await.expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(blob_files(&root).len(), 1);
    task.abort();
}

#[tokio::test]
async fn cancel_upload() {
    let s = start().await;
    let r = s
        .req(Method::POST, "/v2/repo/blobs/uploads/", &[], b"")
        .await;
    let loc = r.header("location");
    let r = s.req(Method::DELETE, &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn manifest_put_get_by_tag_and_digest() {
    let s = start().await;
    let (d, bytes) = s.push_image("lib/app", "v1").await;
    for reference in ["v1", d.as_str()] {
        let r = s
            .req(
                Method::GET,
                &format!("/v2/lib/app/manifests/{reference}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &bytes[..]);
        assert_eq!(r.header("docker-content-digest"), d);
        assert_eq!(
            r.header("content-type"),
            "application/vnd.oci.image.manifest.v1+json"
        );
    }
    let r = s
        .req(Method::HEAD, "/v2/lib/app/manifests/v1", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), bytes.len().to_string());
    let r = s
        .req(Method::GET, "/v2/lib/app/manifests/nope", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    // A manifest referencing a missing blob.
    let bad = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "x", "digest": digest(b"missing"), "size": 1},
        "layers": [],
    });
    let r = s
        .req(
            Method::PUT,
            "/v2/lib/app/manifests/bad",
            &[],
            &serde_json::to_vec(&bad).expect("ser"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    // Too large.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = s
        .req(Method::PUT, "/v2/lib/app/manifests/huge", &[], &huge)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Invalid names.
    let r = s.req(Method::GET, "/v2/Bad/manifests/v1", &[], b"").await;
    assert_eq!(r.error_code(), "NAME_INVALID");
    s.stop().await;
}

#[tokio::test]
async fn tags_pagination_and_catalog() {
    let s = start().await;
    for t in ["c", "a", "b", "d"] {
        s.push_image("x/y", t).await;
    }
    s.push_image("z", "latest").await;
    let r = s.req(Method::GET, "/v2/x/y/tags/list", &[], b"").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b", "c", "d"]));
    let r = s.req(Method::GET, "/v2/x/y/tags/list?n=2", &[], b"").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        "</v2/x/y/tags/list?n=2&last=b>; rel=\"next\""
    );
    let r = s
        .req(Method::GET, "/v2/x/y/tags/list?n=2&last=b", &[], b"")
        .await;
    assert_eq!(r.json()["tags"], serde_json::json!(["c", "d"]));
    assert_eq!(r.header("link"), "");
    let r = s.req(Method::GET, "/v2/unknown/tags/list", &[], b"").await;
    assert_eq!(r.error_code(), "NAME_UNKNOWN");
    let r = s.req(Method::GET, "/v2/_catalog", &[], b"").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["x/y", "z"]));
    let r = s.req(Method::GET, "/v2/_catalog?n=1", &[], b"").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["x/y"]));
    assert!(r.header("link").contains("last=x/y"));
    s.stop().await;
}

#[tokio::test]
async fn delete_manifest_tag_and_blob() {
    let s = start().await;
    let (d, _) = s.push_image("r", "v1").await;
    s.push_image("r", "v2").await;
    let r = s.req(Method::DELETE, "/v2/r/manifests/v2", &[], b"").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .req(Method::DELETE, &format!("/v2/r/manifests/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.req(Method::GET, "/v2/r/manifests/v1", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .req(Method::GET, &format!("/v2/r/manifests/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let b = digest(b"layer-bytes");
    let r = s
        .req(Method::DELETE, &format!("/v2/r/blobs/{b}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s
        .req(Method::HEAD, &format!("/v2/r/blobs/{b}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn cross_repo_mount() {
    let s = start().await;
    let d = s.push_blob("src", b"shared layer").await;
    let r = s
        .req(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("docker-content-digest"), d);
    let r = s
        .req(Method::GET, &format!("/v2/dst/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(&r.body[..], b"shared layer");
    // Not mountable: falls back to an upload session.
    let other = digest(b"absent");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={other}&from=src"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.stop().await;
}

#[tokio::test]
async fn referrers_api() {
    let s = start().await;
    let (subject, bytes) = s.push_image("app", "v1").await;
    let empty = s.push_blob("app", b"{}").await;
    for (i, at) in [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
    ]
    .iter()
    .enumerate()
    {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": at,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": bytes.len()},
            "annotations": {"n": i.to_string()},
        });
        let body = serde_json::to_vec(&m).expect("ser");
        let d = digest(&body);
        let r = s
            .req(Method::PUT, &format!("/v2/app/manifests/{d}"), &[], &body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.header("oci-subject"), subject);
    }
    let r = s
        .req(
            Method::GET,
            &format!("/v2/app/referrers/{subject}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(r.json()["manifests"].as_array().map(Vec::len), Some(2));
    let r = s
        .req(
            Method::GET,
            &format!("/v2/app/referrers/{subject}?artifactType=application/vnd.example.sig"),
            &[],
            b"",
        )
        .await;
    let list = r.json()["manifests"].clone();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    let r = s
        .req(Method::GET, "/v2/app/referrers/notadigest", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test]
async fn unsupported_method_is_501() {
    let s = start().await;
    let r = s.req(Method::POST, "/v2/app/tags/list", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.error_code(), "UNSUPPORTED");
    s.stop().await;
}

#[tokio::test]
async fn gc_removes_unreferenced_blobs() {
    let s = start().await;
    let (manifest, _) = s.push_image("app", "v1").await;
    let orphan = s.push_blob("app", b"orphan").await;
    let root = s.root.clone();
    let _dir = s.stop().await;
    let st = registry::Storage::open(&root).await.expect("open");
    let dry = st.gc(true).await.expect("gc dry run");
    assert_eq!(dry.blobs, vec![orphan.clone()]);
    assert_eq!(blob_files(&root).len(), 4);
    let done = st.gc(false).await.expect("gc");
    assert_eq!(done.blobs, vec![orphan]);
    assert_eq!(done.bytes, 6);
    let left = blob_files(&root);
    assert_eq!(left.len(), 3);
    assert!(left.iter().any(|h| manifest.ends_with(h.as_str())));
}

/// Write a one-layer OCI image layout tagged `v1` into `dir`.
fn write_oci_layout(dir: &Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |data: &[u8]| {
        let d = digest(data);
        std::fs::write(blobs.join(&d["sha256:".len()..]), data).expect("write blob");
        (d, data.len())
    };
    let tar = vec![0u8; 1024]; // an empty tar archive: two zero blocks
    let (ld, ls) = put(&tar);
    let cfg = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [ld]}, "config": {}});
    let (cd, cs) = put(&serde_json::to_vec(&cfg).expect("ser"));
    let m = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]});
    let (md, ms) = put(&serde_json::to_vec(&m).expect("ser"));
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
}

/// Interop with Debian's skopeo over loopback (skipped when skopeo is missing).
#[tokio::test]
async fn skopeo_copy_in_and_out() {
    if !Path::new("/usr/bin/skopeo").exists() {
        eprintln!("skipping: /usr/bin/skopeo is not installed");
        return;
    }
    let s = start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    write_oci_layout(&src);
    let host = s.base.trim_start_matches("http://").to_string();
    let run = |args: Vec<String>| async move {
        let out = tokio::process::Command::new("skopeo")
            .args(&args)
            .output()
            .await
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(vec![
        "copy".into(),
        "--dest-tls-verify=false".into(),
        format!("oci:{}:v1", src.display()),
        format!("docker://{host}/interop/img:v1"),
    ])
    .await;
    let r = s
        .req(Method::GET, "/v2/interop/img/tags/list", &[], b"")
        .await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
    let dst = work.path().join("dst");
    run(vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{host}/interop/img:v1"),
        format!("oci:{}:v1", dst.display()),
    ])
    .await;
    assert!(dst.join("index.json").exists());
    s.stop().await;
}

#[tokio::test]
async fn upload_session_is_bound_to_its_repository() {
    let s = start().await;
    let r = s
        .req(Method::POST, "/v2/one/blobs/uploads/", &[], b"")
        .await;
    let uuid = r.header("docker-upload-uuid");
    let r = s
        .req(
            Method::PATCH,
            &format!("/v2/two/blobs/uploads/{uuid}"),
            &[],
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    let r = s
        .req(Method::GET, "/v2/one/blobs/uploads/../../etc", &[], b"")
        .await;
    assert_ne!(r.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn unsatisfiable_range_is_416() {
    let s = start().await;
    let d = s.push_blob("r", b"abc").await;
    let r = s
        .req(
            Method::GET,
            &format!("/v2/r/blobs/{d}"),
            &[("range", "bytes=5-9")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    s.stop().await;
}

#[tokio::test]
async fn manifest_accept_negotiation() {
    let s = start().await;
    s.push_image("neg", "v1").await;
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    let r = s
        .req(
            Method::GET,
            "/v2/neg/manifests/v1",
            &[("accept", docker)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "MANIFEST_UNKNOWN");
    let both = format!("{docker}, {oci};q=0.9");
    let r = s
        .req(
            Method::GET,
            "/v2/neg/manifests/v1",
            &[("accept", &both)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .req(
            Method::GET,
            "/v2/neg/manifests/v1",
            &[("accept", "*/*")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn large_blob_get_and_ranges_across_chunks() {
    let s = start().await;
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let d = s.push_blob("big", &data).await;
    let r = s
        .req(Method::GET, &format!("/v2/big/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), data.len());
    assert!(r.body[..] == data[..]);
    let r = s
        .req(
            Method::GET,
            &format!("/v2/big/blobs/{d}"),
            &[("range", "bytes=200000-600000")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), "bytes 200000-600000/700000");
    assert!(r.body[..] == data[200_000..=600_000]);
    s.stop().await;
}

//! Behaviour against small fake registries that lie, drop connections, ignore
//! ranges, redirect, or ask for Basic or Bearer (token server) auth.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use common::*;
use distribution::oci::{self, Descriptor};
use distribution::{Credentials, Error};
use errdefs::{ErrorKind, HasKind};

/// Serve `router` on 127.0.0.1:0; returns "127.0.0.1:port". Lives until the test's runtime ends.
async fn serve(router: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(l, router).await.unwrap();
    });
    addr
}

fn spec_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"errors":[{"code":code,"message":message}]}).to_string(),
    )
        .into_response()
}

fn hdr(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn blob_desc(data: &[u8]) -> Descriptor {
    Descriptor {
        media_type: oci::OCI_LAYER_TAR_GZIP.into(),
        digest: sha256(data),
        size: data.len() as u64,
        ..Default::default()
    }
}

// ---------------------------------------------------------------- lying registry

struct Liar {
    blob: Vec<u8>,
    manifest: Vec<u8>,
}

async fn liar(State(s): State<Arc<Liar>>, req: Request) -> Response {
    let p = req.uri().path().to_string();
    if p == "/v2/" {
        return StatusCode::OK.into_response();
    }
    if p.contains("/blobs/") {
        // Same length, other bytes.
        let mut b = s.blob.clone();
        b[0] ^= 0xff;
        return (StatusCode::OK, b).into_response();
    }
    if p.contains("/manifests/") {
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, oci::OCI_MANIFEST.to_string()),
                (
                    "docker-content-digest".parse().unwrap(),
                    sha256(b"something else"),
                ),
            ],
            s.manifest.clone(),
        )
            .into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

#[tokio::test]
async fn lying_registry_is_caught() {
    let blob = random_bytes(10_000, 7);
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[]}"#.to_vec();
    let addr = serve(Router::new().fallback(liar).with_state(Arc::new(Liar {
        blob: blob.clone(),
        manifest: manifest.clone(),
    })))
    .await;
    let c = client();
    let repo = c.repository(&addr, "x/y", Credentials::Anonymous, false);
    let desc = blob_desc(&blob);

    let dir = tempfile::tempdir().unwrap();
    let mut f = tokio::fs::File::create(dir.path().join("b")).await.unwrap();
    let e = repo
        .download_blob(&desc, &mut f, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    let e = repo.get_blob(&desc, 1 << 20).await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");

    // Tag: the header digest does not match the body.
    let e = repo.get_manifest("latest").await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    // Digest reference: the body does not hash to it.
    let e = repo.get_manifest(&sha256(b"wanted")).await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
}

// ---------------------------------------------------------------- flaky blob server

#[derive(Default)]
struct Flaky {
    blob: Vec<u8>,
    /// Ignore Range on retries.
    ignore_range: bool,
    /// Requests seen: the Range header of each blob GET.
    ranges: Mutex<Vec<Option<String>>>,
    /// 503 answers left for manifest GETs.
    manifest_503: AtomicU64,
}

async fn flaky(State(s): State<Arc<Flaky>>, req: Request) -> Response {
    let p = req.uri().path().to_string();
    if p == "/v2/" {
        return StatusCode::OK.into_response();
    }
    if p.contains("/manifests/") {
        if s.manifest_503.load(Ordering::SeqCst) > 0 {
            s.manifest_503.fetch_sub(1, Ordering::SeqCst);
            return spec_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try later");
        }
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, oci::OCI_INDEX)],
            r#"{"schemaVersion":2,"manifests":[]}"#,
        )
            .into_response();
    }
    if !p.contains("/blobs/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let range = hdr(req.headers(), "range");
    let n = {
        let mut r = s.ranges.lock().unwrap();
        r.push(range.clone());
        r.len()
    };
    let total = s.blob.len();
    if n == 1 {
        // Announce everything, send a third, then drop the connection.
        let part = Bytes::copy_from_slice(&s.blob[..total / 3]);
        let stream = futures::stream::iter(vec![
            Ok::<Bytes, std::io::Error>(part),
            Err(std::io::Error::other("connection dropped by the test")),
        ]);
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, total)
            .body(Body::from_stream(stream))
            .unwrap();
    }
    match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) if !s.ignore_range => {
            let start: usize = r.trim_end_matches('-').parse().unwrap();
            Response::builder()
                .status(StatusCode::PARTIAL_CONTENT)
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{}/{total}", total - 1),
                )
                .body(Body::from(s.blob[start..].to_vec()))
                .unwrap()
        }
        _ => Response::builder()
            .status(StatusCode::OK)
            .body(Body::from(s.blob.clone()))
            .unwrap(),
    }
}

async fn flaky_download(ignore_range: bool) -> (Arc<Flaky>, Vec<u64>) {
    let blob = random_bytes(3 * 1024 * 1024 + 17, 8);
    let st = Arc::new(Flaky {
        blob: blob.clone(),
        ignore_range,
        ..Default::default()
    });
    let addr = serve(Router::new().fallback(flaky).with_state(st.clone())).await;
    let c = client();
    let repo = c.repository(&addr, "x/y", Credentials::Anonymous, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b");
    let mut f = tokio::fs::File::create(&path).await.unwrap();
    let progress = Mutex::new(Vec::new());
    repo.download_blob(&blob_desc(&blob), &mut f, &|n| {
        progress.lock().unwrap().push(n)
    })
    .await
    .unwrap();
    drop(f);
    assert!(std::fs::read(&path).unwrap() == blob);
    let progress = progress.into_inner().unwrap();
    assert_eq!(progress.last().copied(), Some(blob.len() as u64));
    (st, progress)
}

#[tokio::test]
async fn download_resumes_with_range_after_a_dropped_connection() {
    let (st, progress) = flaky_download(false).await;
    let ranges = st.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    let resumed: u64 = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        resumed > 0 && resumed <= st.blob.len() as u64 / 3,
        "{resumed}"
    );
    assert!(!progress.contains(&0), "no restart expected");
}

#[tokio::test]
async fn download_restarts_when_range_is_ignored() {
    let (st, progress) = flaky_download(true).await;
    let ranges = st.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(ranges[1].is_some());
    assert!(
        progress.contains(&0),
        "the restart is reported with progress(0)"
    );
}

#[tokio::test]
async fn transient_5xx_is_retried() {
    let st = Arc::new(Flaky {
        manifest_503: AtomicU64::new(2),
        ..Default::default()
    });
    let addr = serve(Router::new().fallback(flaky).with_state(st.clone())).await;
    let c = client();
    let repo = c.repository(&addr, "x/y", Credentials::Anonymous, false);
    let m = repo.get_manifest("latest").await.unwrap();
    assert!(m.is_index());
    // More failures than retries: the error says what the registry said.
    st.manifest_503.store(100, Ordering::SeqCst);
    let e = repo.get_manifest("latest").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.to_string().contains("try later"), "{e}");
}

// ---------------------------------------------------------------- token server

struct TokenAuth {
    base: Mutex<String>,
    user: String,
    pass: String,
    issued: AtomicU64,
    valid: Mutex<HashSet<String>>,
    scopes: Mutex<Vec<String>>,
    refresh_posts: AtomicU64,
}

impl TokenAuth {
    fn issue(&self) -> String {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let t = format!("tok{n}");
        self.valid.lock().unwrap().insert(t.clone());
        t
    }

    fn basic_ok(&self, h: &HeaderMap) -> bool {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.user, self.pass))
        );
        hdr(h, "authorization").as_deref() == Some(want.as_str())
    }
}

async fn token_registry(State(s): State<Arc<TokenAuth>>, req: Request) -> Response {
    let p = req.uri().path().to_string();
    let q = req.uri().query().unwrap_or("").to_string();
    if p == "/token" {
        if req.method() == Method::POST {
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap();
            let form = String::from_utf8(body.to_vec()).unwrap();
            s.refresh_posts.fetch_add(1, Ordering::SeqCst);
            if !form.contains("grant_type=refresh_token") || !form.contains("refresh_token=r1") {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            return axum::Json(serde_json::json!({"access_token": s.issue(), "expires_in": 300}))
                .into_response();
        }
        for kv in q.split('&') {
            if let Some(v) = kv.strip_prefix("scope=") {
                s.scopes.lock().unwrap().push(
                    v.replace("%3A", ":")
                        .replace("%2F", "/")
                        .replace("%2C", ","),
                );
            }
        }
        if !s.basic_ok(req.headers()) {
            return spec_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bad credentials");
        }
        let mut body = serde_json::json!({"token": s.issue(), "expires_in": 300});
        if q.contains("offline_token=true") {
            body["refresh_token"] = "r1".into();
        }
        return axum::Json(body).into_response();
    }
    let ok = hdr(req.headers(), "authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
        .is_some_and(|t| s.valid.lock().unwrap().contains(&t));
    if !ok {
        let base = s.base.lock().unwrap().clone();
        let scope = if p == "/v2/" {
            String::new()
        } else {
            ",scope=\"repository:foo/bar:pull\"".into()
        };
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(
                header::WWW_AUTHENTICATE,
                format!("Bearer realm=\"http://{base}/token\",service=\"fake registry\"{scope}"),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            ))
            .unwrap();
    }
    match p.as_str() {
        "/v2/" => StatusCode::OK.into_response(),
        "/v2/foo/bar/tags/list" => {
            axum::Json(serde_json::json!({"name":"foo/bar","tags":["a","b"]})).into_response()
        }
        _ => spec_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        ),
    }
}

async fn start_token_registry() -> (Arc<TokenAuth>, String) {
    let st = Arc::new(TokenAuth {
        base: Mutex::new(String::new()),
        user: "alice".into(),
        pass: "s3cret".into(),
        issued: AtomicU64::new(0),
        valid: Mutex::new(HashSet::new()),
        scopes: Mutex::new(Vec::new()),
        refresh_posts: AtomicU64::new(0),
    });
    let addr = serve(
        Router::new()
            .fallback(token_registry)
            .with_state(st.clone()),
    )
    .await;
    *st.base.lock().unwrap() = addr.clone();
    (st, addr)
}

fn alice() -> Credentials {
    Credentials::Basic {
        username: "alice".into(),
        password: "s3cret".into(),
    }
}

#[tokio::test]
async fn bearer_token_flow_cache_and_refresh() {
    let (st, addr) = start_token_registry().await;
    let c = client();
    let repo = c.repository(&addr, "foo/bar", alice(), false);
    assert_eq!(repo.list_tags().await.unwrap(), vec!["a", "b"]);
    assert_eq!(st.issued.load(Ordering::SeqCst), 1);
    assert_eq!(
        st.scopes.lock().unwrap().clone(),
        vec!["repository:foo/bar:pull"]
    );
    // Cached: no new token.
    repo.list_tags().await.unwrap();
    assert_eq!(st.issued.load(Ordering::SeqCst), 1);
    // A clone of the client shares the cache; a push handle asks for more scope.
    let push = c.clone().repository(&addr, "foo/bar", alice(), true);
    push.list_tags().await.unwrap();
    assert_eq!(st.issued.load(Ordering::SeqCst), 2);
    assert_eq!(
        st.scopes.lock().unwrap().last().unwrap(),
        "repository:foo/bar:pull,push"
    );
    // The server expires every token: the client gets a 401, fetches a new one, retries.
    st.valid.lock().unwrap().clear();
    assert_eq!(repo.list_tags().await.unwrap(), vec!["a", "b"]);
    assert_eq!(st.issued.load(Ordering::SeqCst), 3);
    // Not found behind auth.
    let e = c
        .repository(&addr, "foo/other", alice(), false)
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn bearer_bad_password_and_anonymous_are_unauthorized() {
    let (_st, addr) = start_token_registry().await;
    let c = client();
    let bad = Credentials::Basic {
        username: "alice".into(),
        password: "wrong".into(),
    };
    let e = c
        .repository(&addr, "foo/bar", bad.clone(), false)
        .list_tags()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.to_string().contains("incorrect username or password"),
        "{e}"
    );
    let e = c.login(&addr, &bad).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");

    let e = c
        .repository(&addr, "foo/bar", Credentials::Anonymous, false)
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.to_string().contains(&format!("docker login {addr}")),
        "{e}"
    );
}

#[tokio::test]
async fn login_returns_identity_token_usable_for_refresh_grant() {
    let (st, addr) = start_token_registry().await;
    let c = client();
    let id = c.login(&addr, &alice()).await.unwrap();
    assert_eq!(id.as_deref(), Some("r1"));
    // A fresh client (a restarted daemon) with only the identity token.
    let c2 = client();
    let repo = c2.repository(
        &addr,
        "foo/bar",
        Credentials::IdentityToken("r1".into()),
        false,
    );
    assert_eq!(repo.list_tags().await.unwrap(), vec!["a", "b"]);
    assert_eq!(st.refresh_posts.load(Ordering::SeqCst), 1);
    let e = c2
        .repository(
            &addr,
            "foo/bar",
            Credentials::IdentityToken("stale".into()),
            false,
        )
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    // A registry token is sent as is.
    let t = st.issue();
    let repo = client().repository(&addr, "foo/bar", Credentials::RegistryToken(t), false);
    assert_eq!(repo.list_tags().await.unwrap(), vec!["a", "b"]);
}

// ---------------------------------------------------------------- basic auth + redirect

struct BasicReg {
    storage: Mutex<String>,
    blob: Vec<u8>,
    storage_saw_auth: AtomicBool,
    storage_hits: AtomicU64,
}

const BASIC_OK: &str = "Basic Ym9iOmh1bnRlcjI="; // bob:hunter2

async fn basic_registry(State(s): State<Arc<BasicReg>>, req: Request) -> Response {
    if hdr(req.headers(), "authorization").as_deref() != Some(BASIC_OK) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"Registry Realm\"")
            .body(Body::empty())
            .unwrap();
    }
    let p = req.uri().path();
    if p == "/v2/" {
        return StatusCode::OK.into_response();
    }
    if p.contains("/blobs/") {
        let to = format!("http://{}/storage/blob?sig=1", s.storage.lock().unwrap());
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, to)
            .body(Body::empty())
            .unwrap();
    }
    StatusCode::NOT_FOUND.into_response()
}

async fn storage(State(s): State<Arc<BasicReg>>, req: Request) -> Response {
    s.storage_hits.fetch_add(1, Ordering::SeqCst);
    if req.headers().contains_key("authorization") {
        s.storage_saw_auth.store(true, Ordering::SeqCst);
    }
    (StatusCode::OK, s.blob.clone()).into_response()
}

#[tokio::test]
async fn basic_auth_and_redirect_to_storage_without_credentials() {
    let blob = random_bytes(200_000, 9);
    let st = Arc::new(BasicReg {
        storage: Mutex::new(String::new()),
        blob: blob.clone(),
        storage_saw_auth: AtomicBool::new(false),
        storage_hits: AtomicU64::new(0),
    });
    let addr = serve(
        Router::new()
            .fallback(basic_registry)
            .with_state(st.clone()),
    )
    .await;
    let storage_addr = serve(Router::new().fallback(storage).with_state(st.clone())).await;
    // Another host name for the same loopback address: a cross-host redirect.
    *st.storage.lock().unwrap() = storage_addr.replace("127.0.0.1", "localhost");

    let c = client();
    let bob = Credentials::Basic {
        username: "bob".into(),
        password: "hunter2".into(),
    };
    assert_eq!(c.login(&addr, &bob).await.unwrap(), None);
    let bad = Credentials::Basic {
        username: "bob".into(),
        password: "nope".into(),
    };
    let e = c.login(&addr, &bad).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    assert!(
        e.to_string().contains("incorrect username or password"),
        "{e}"
    );

    let repo = c.repository(&addr, "b/c", bob, false);
    let dir = tempfile::tempdir().unwrap();
    let mut f = tokio::fs::File::create(dir.path().join("x")).await.unwrap();
    repo.download_blob(&blob_desc(&blob), &mut f, &|_| {})
        .await
        .unwrap();
    assert_eq!(st.storage_hits.load(Ordering::SeqCst), 1);
    assert!(
        !st.storage_saw_auth.load(Ordering::SeqCst),
        "credentials leaked to the storage host"
    );

    let e = c
        .repository(&addr, "b/c", bad, false)
        .blob_exists(&blob_desc(&blob).digest)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let e = c
        .repository(&addr, "b/c", Credentials::Anonymous, false)
        .blob_exists(&blob_desc(&blob).digest)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains(&format!("docker login {addr}")),
        "{e}"
    );
}

// ---------------------------------------------------------------- flaky upload server

#[derive(Default)]
struct Uploads {
    data: Mutex<Vec<u8>>,
    patches: AtomicU64,
    status_gets: AtomicU64,
    sessions: AtomicU64,
    /// Content-Range of each PATCH.
    ranges: Mutex<Vec<String>>,
    finished: Mutex<Option<String>>,
}

async fn upload_server(State(s): State<Arc<Uploads>>, req: Request) -> Response {
    let p = req.uri().path().to_string();
    let method = req.method().clone();
    let range_hdr = |len: usize| {
        if len == 0 {
            "0-0".to_string()
        } else {
            format!("0-{}", len - 1)
        }
    };
    match (method, p.as_str()) {
        (Method::GET, "/v2/") => StatusCode::OK.into_response(),
        (Method::POST, "/v2/up/load/blobs/uploads/") => {
            s.sessions.fetch_add(1, Ordering::SeqCst);
            s.data.lock().unwrap().clear();
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .header(header::LOCATION, "/v2/up/load/blobs/uploads/u1?_state=abc")
                .header("range", "0-0")
                .body(Body::empty())
                .unwrap()
        }
        (Method::GET, "/v2/up/load/blobs/uploads/u1") => {
            s.status_gets.fetch_add(1, Ordering::SeqCst);
            let len = s.data.lock().unwrap().len();
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::LOCATION, "/v2/up/load/blobs/uploads/u1?_state=def")
                .header("range", range_hdr(len))
                .body(Body::empty())
                .unwrap()
        }
        (Method::PATCH, "/v2/up/load/blobs/uploads/u1") => {
            let n = s.patches.fetch_add(1, Ordering::SeqCst) + 1;
            let cr = hdr(req.headers(), "content-range").unwrap_or_default();
            s.ranges.lock().unwrap().push(cr.clone());
            let start: usize = cr.split('-').next().unwrap().parse().unwrap();
            let body = axum::body::to_bytes(req.into_body(), 64 << 20)
                .await
                .unwrap();
            let mut data = s.data.lock().unwrap();
            if start != data.len() {
                return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            }
            match n {
                // Stored, but the answer is lost.
                2 => {
                    data.extend_from_slice(&body);
                    StatusCode::BAD_GATEWAY.into_response()
                }
                // Not stored.
                3 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                _ => {
                    data.extend_from_slice(&body);
                    Response::builder()
                        .status(StatusCode::ACCEPTED)
                        .header(
                            header::LOCATION,
                            format!("/v2/up/load/blobs/uploads/u1?_state=p{n}"),
                        )
                        .header("range", range_hdr(data.len()))
                        .body(Body::empty())
                        .unwrap()
                }
            }
        }
        (Method::PUT, "/v2/up/load/blobs/uploads/u1") => {
            let q = req.uri().query().unwrap_or("").to_string();
            let digest = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("digest="))
                .unwrap_or("")
                .replace("%3A", ":");
            let body = axum::body::to_bytes(req.into_body(), 64 << 20)
                .await
                .unwrap();
            let mut data = s.data.lock().unwrap();
            data.extend_from_slice(&body);
            if sha256(&data) != digest {
                return spec_error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "digest did not match content",
                );
            }
            *s.finished.lock().unwrap() = Some(digest);
            StatusCode::CREATED.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[tokio::test]
async fn chunked_upload_resumes_from_the_reported_offset() {
    let st = Arc::new(Uploads::default());
    let addr = serve(Router::new().fallback(upload_server).with_state(st.clone())).await;
    let size = 3 * distribution::CHUNK_SIZE as usize + 1000; // four chunks
    let data = random_bytes(size, 41);
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "blob", &data);
    let repo = client().repository(&addr, "up/load", Credentials::Anonymous, true);
    let d = sha256(&data);
    repo.upload_blob(&path, &d, size as u64, &|_| {})
        .await
        .unwrap();
    assert_eq!(st.finished.lock().unwrap().as_deref(), Some(d.as_str()));
    assert_eq!(
        st.sessions.load(Ordering::SeqCst),
        1,
        "no restart of the session"
    );
    assert_eq!(st.status_gets.load(Ordering::SeqCst), 2);
    let c = distribution::CHUNK_SIZE;
    let ranges = st.ranges.lock().unwrap().clone();
    assert_eq!(
        ranges,
        vec![
            format!("0-{}", c - 1),
            format!("{}-{}", c, 2 * c - 1),     // stored, answer lost
            format!("{}-{}", 2 * c, 3 * c - 1), // failed
            format!("{}-{}", 2 * c, 3 * c - 1), // resent
            format!("{}-{}", 3 * c, size - 1),
        ]
    );
    assert!(*st.data.lock().unwrap() == data);
}

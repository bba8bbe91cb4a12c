//! Authentication, token flow, TLS and upload expiry against an in-process server.

mod common;
use common::{digest, Resp};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use registry::config::{AccessRule, Action, AuthMode, ServerConfig, TlsFiles, TokenConfig};

const KEY: &str = "test-signing-key-0123456789";

struct Server {
    base: String,
    host: String,
    root: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), registry::ServeError>>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", b64(&format!("{user}:{pass}")))
}

/// A htpasswd file with alice/alicepw and bob/bobpw (bcrypt cost 4: fast tests).
fn write_htpasswd(dir: &Path) -> PathBuf {
    let p = dir.join("htpasswd");
    let mut text = String::from("# test users\n");
    for (u, pw) in [("alice", "alicepw"), ("bob", "bobpw")] {
        let h = bcrypt::hash(pw, 4).unwrap().replacen("$2b$", "$2y$", 1);
        text.push_str(&format!("{u}:{h}\n"));
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn config(dir: &Path, mode: AuthMode) -> ServerConfig {
    let mut c = ServerConfig::new(dir.join("root"));
    c.auth.mode = mode;
    c.auth.htpasswd = Some(write_htpasswd(dir));
    c.auth.token = TokenConfig {
        key: Some(KEY.to_string()),
        ..TokenConfig::default()
    };
    c
}

async fn start_with(dir: tempfile::TempDir, config: ServerConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let root = config.root.clone();
    let task = tokio::spawn(registry::serve_listener_with(listener, config, async {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        host: addr.to_string(),
        root,
        _dir: dir,
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
        let req = b.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Push a one-layer image with the given Authorization header.
    async fn push_image(&self, repo: &str, tag: &str, authz: &str) -> StatusCode {
        let h = [("authorization", authz)];
        let mut digests = Vec::new();
        for data in [&b"{}"[..], &b"layer"[..]] {
            let d = digest(data);
            let r = self
                .req(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                    &h,
                    data,
                )
                .await;
            if r.status != StatusCode::CREATED {
                return r.status;
            }
            digests.push(d);
        }
        let m = serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digests[0], "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digests[1], "size": 5}]});
        self.req(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{tag}"),
            &[
                ("authorization", authz),
                ("content-type", "application/vnd.oci.image.manifest.v1+json"),
            ],
            m.to_string().as_bytes(),
        )
        .await
        .status
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let res = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server stops after the shutdown future resolves");
        res.unwrap().unwrap();
    }
}

/// `key="value"` pairs of a challenge header.
fn challenge_params(h: &str) -> std::collections::HashMap<String, String> {
    let rest = h.split_once(' ').map(|x| x.1).unwrap_or("");
    let mut out = std::collections::HashMap::new();
    let mut s = rest;
    while let Some((k, v)) = s.split_once("=\"") {
        let Some((val, after)) = v.split_once('"') else {
            break;
        };
        out.insert(
            k.trim_start_matches(',').trim().to_string(),
            val.to_string(),
        );
        s = after;
    }
    out
}

#[tokio::test]
async fn basic_auth_accepts_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), AuthMode::Htpasswd);
    let s = start_with(dir, c).await;
    let r = s.req(Method::GET, "/v2/", &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        "Basic realm=\"berth-registry\""
    );
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    let bad = basic("alice", "nope");
    let r = s
        .req(Method::GET, "/v2/", &[("authorization", &bad)], b"")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(
            Method::GET,
            "/v2/",
            &[("authorization", &basic("nobody", "alicepw"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let good = basic("alice", "alicepw");
    let r = s
        .req(Method::GET, "/v2/", &[("authorization", &good)], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        s.push_image("a/img", "v1", &good).await,
        StatusCode::CREATED
    );
    assert_eq!(
        s.push_image("a/img", "v2", &bad).await,
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .req(
            Method::GET,
            "/v2/a/img/tags/list",
            &[("authorization", &good)],
            b"",
        )
        .await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]));
    // anonymous pull is off by default
    let r = s.req(Method::GET, "/v2/a/img/tags/list", &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s.req(Method::GET, "/v2/_catalog", &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(
            Method::GET,
            "/v2/_catalog",
            &[("authorization", &good)],
            b"",
        )
        .await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["a/img"]));
    s.stop().await;
}

#[tokio::test]
async fn anonymous_pull_and_access_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), AuthMode::Htpasswd);
    c.auth.anonymous_pull = true;
    c.auth.access = vec![
        AccessRule {
            user: "alice".into(),
            repository: "team/*".into(),
            actions: vec![Action::Pull, Action::Push, Action::Delete],
        },
        AccessRule {
            user: "*".into(),
            repository: "*".into(),
            actions: vec![Action::Pull],
        },
    ];
    let s = start_with(dir, c).await;
    let alice = basic("alice", "alicepw");
    let bob = basic("bob", "bobpw");
    assert_eq!(
        s.push_image("team/app", "v1", &alice).await,
        StatusCode::CREATED
    );
    // bob is authenticated but may not push: 403 DENIED
    let d = digest(b"x");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/team/app/blobs/uploads/?digest={d}"),
            &[("authorization", &bob)],
            b"x",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "DENIED");
    // alice may not push outside team/
    assert_eq!(
        s.push_image("other/app", "v1", &alice).await,
        StatusCode::FORBIDDEN
    );
    // anonymous pull works, anonymous push asks for credentials
    let r = s
        .req(Method::GET, "/v2/team/app/manifests/v1", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .req(Method::POST, "/v2/team/app/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").starts_with("Basic "));
    // deleting needs delete
    let r = s
        .req(
            Method::DELETE,
            "/v2/team/app/manifests/v1",
            &[("authorization", &bob)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .req(
            Method::DELETE,
            "/v2/team/app/manifests/v1",
            &[("authorization", &alice)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    s.stop().await;
}

#[tokio::test]
async fn anonymous_pull_off_in_token_mode() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), AuthMode::Token);
    let s = start_with(dir, c).await;
    let alice = s
        .token(Some(("alice", "alicepw")), "repository:lib/x:pull,push")
        .await;
    assert_eq!(
        s.push_image("lib/x", "v1", &format!("Bearer {alice}"))
            .await,
        StatusCode::CREATED
    );
    let anon = s.token(None, "repository:lib/x:pull").await;
    let r = s
        .req(
            Method::GET,
            "/v2/lib/x/manifests/v1",
            &[("authorization", &format!("Bearer {anon}"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    s.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), AuthMode::Token);
    c.auth.anonymous_pull = true;
    let s = start_with(dir, c).await;
    let alice = s
        .token(Some(("alice", "alicepw")), "repository:lib/x:pull,push")
        .await;
    assert_eq!(
        s.push_image("lib/x", "v1", &format!("Bearer {alice}"))
            .await,
        StatusCode::CREATED
    );
    let anon = s.token(None, "repository:lib/x:pull,push").await;
    let ah = format!("Bearer {anon}");
    let r = s
        .req(
            Method::GET,
            "/v2/lib/x/manifests/v1",
            &[("authorization", &ah)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // the anonymous token was granted pull only
    assert_eq!(
        s.push_image("lib/x", "v2", &ah).await,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

impl Server {
    /// Fetch a token from the registry's own token endpoint (GET flavour).
    async fn token(&self, creds: Option<(&str, &str)>, scope: &str) -> String {
        let authz = creds.map(|(u, p)| basic(u, p));
        let mut h: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &authz {
            h.push(("authorization", a));
        }
        let r = self
            .req(
                Method::GET,
                &format!("/auth/token?service=berth-registry&scope={scope}"),
                &h,
                b"",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.json()["token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn token_flow_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), AuthMode::Token);
    c.auth.access = vec![
        AccessRule {
            user: "alice".into(),
            repository: "*".into(),
            actions: Action::ALL.to_vec(),
        },
        AccessRule {
            user: "bob".into(),
            repository: "*".into(),
            actions: vec![Action::Pull],
        },
    ];
    let s = start_with(dir, c).await;

    // 1. challenge on /v2/ and on a repository
    let r = s.req(Method::GET, "/v2/", &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let ch = r.header("www-authenticate");
    assert!(ch.starts_with("Bearer "), "{ch}");
    let p = challenge_params(&ch);
    assert_eq!(p["realm"], format!("http://{}/auth/token", s.host));
    assert_eq!(p["service"], "berth-registry");
    let r = s
        .req(Method::POST, "/v2/app/blobs/uploads/", &[], b"")
        .await;
    let p = challenge_params(&r.header("www-authenticate"));
    assert_eq!(p["scope"], "repository:app:pull,push");

    // 2. token endpoint: wrong password, then alice
    let r = s
        .req(
            Method::GET,
            &format!(
                "{}?service=berth-registry&scope=repository:app:pull,push",
                p["realm"]
            ),
            &[("authorization", &basic("alice", "bad"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(
            Method::GET,
            &format!(
                "{}?service=berth-registry&scope=repository:app:pull,push&offline_token=true",
                p["realm"]
            ),
            &[("authorization", &basic("alice", "alicepw"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    let tok = j["token"].as_str().unwrap().to_string();
    assert_eq!(j["access_token"], j["token"]);
    assert_eq!(j["expires_in"], 300);
    assert!(j["issued_at"].as_str().unwrap().ends_with('Z'));
    assert!(j["refresh_token"].is_string());

    // 3. access with the token
    let alice = format!("Bearer {tok}");
    assert_eq!(s.push_image("app", "v1", &alice).await, StatusCode::CREATED);
    let r = s
        .req(Method::GET, "/v2/", &[("authorization", &alice)], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // 4. insufficient scope: the token does not cover another repository
    let r = s
        .req(
            Method::GET,
            "/v2/other/tags/list",
            &[("authorization", &alice)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let p2 = challenge_params(&r.header("www-authenticate"));
    assert_eq!(p2["scope"], "repository:other:pull");
    assert_eq!(p2["error"], "insufficient_scope");
    // ... nor the catalog
    let r = s
        .req(
            Method::GET,
            "/v2/_catalog",
            &[("authorization", &alice)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let cat = s
        .token(Some(("alice", "alicepw")), "registry:catalog:*")
        .await;
    let r = s
        .req(
            Method::GET,
            "/v2/_catalog",
            &[("authorization", &format!("Bearer {cat}"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["repositories"], serde_json::json!(["app"]));

    // 5. bob asks for push but only gets pull; the policy never lets him: 403
    let bob = s
        .token(Some(("bob", "bobpw")), "repository:app:pull,push")
        .await;
    let bh = format!("Bearer {bob}");
    let r = s
        .req(
            Method::GET,
            "/v2/app/manifests/v1",
            &[("authorization", &bh)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(s.push_image("app", "v2", &bh).await, StatusCode::FORBIDDEN);

    // 6. OAuth POST: password grant with offline access, then refresh grant
    let r = s
        .req(
            Method::POST,
            "/auth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"grant_type=password&username=alice&password=alicepw&service=berth-registry&client_id=test&access_type=offline&scope=repository%3Aapp%3Apull",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rt = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(r.json()["scope"], "repository:app:pull");
    let r = s
        .req(
            Method::POST,
            "/auth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("grant_type=refresh_token&refresh_token={rt}&service=berth-registry&client_id=test&scope=repository:app:pull,push").as_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["scope"], "repository:app:pull,push");
    let fresh = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    assert_eq!(s.push_image("app", "v3", &fresh).await, StatusCode::CREATED);
    // a refresh token is not an access token; wrong password and bad grants fail
    let r = s
        .req(
            Method::GET,
            "/v2/app/tags/list",
            &[("authorization", &format!("Bearer {rt}"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(
            Method::POST,
            "/auth/token",
            &[],
            b"grant_type=password&username=alice&password=no&service=berth-registry",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(Method::POST, "/auth/token", &[], b"grant_type=magic")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    s.stop().await;
}

#[tokio::test]
async fn expired_and_forged_tokens_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), AuthMode::Token);
    let same_key = registry::auth::TokenIssuer::new(c.auth.token.clone(), Path::new("/")).unwrap();
    let other_key = registry::auth::TokenIssuer::new(
        TokenConfig {
            key: Some("another-key-0123456789".into()),
            ..TokenConfig::default()
        },
        Path::new("/"),
    )
    .unwrap();
    let s = start_with(dir, c).await;
    let access = vec![registry::auth::AccessClaim {
        typ: "repository".into(),
        name: "app".into(),
        actions: vec!["pull".into(), "push".into()],
    }];
    let (good, _) = same_key.issue("alice", access.clone());
    assert_eq!(
        s.push_image("app", "v1", &format!("Bearer {good}")).await,
        StatusCode::CREATED
    );
    let (expired, _) = same_key.issue_for("alice", access.clone(), Duration::ZERO);
    let r = s
        .req(
            Method::GET,
            "/v2/app/tags/list",
            &[("authorization", &format!("Bearer {expired}"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge_params(&r.header("www-authenticate"))["error"],
        "invalid_token"
    );
    let (forged, _) = other_key.issue("alice", access);
    let r = s
        .req(
            Method::GET,
            "/v2/app/tags/list",
            &[("authorization", &format!("Bearer {forged}"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Basic credentials are not accepted on /v2/ in token mode
    let r = s
        .req(
            Method::GET,
            "/v2/app/tags/list",
            &[("authorization", &basic("alice", "alicepw"))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test]
async fn token_expires_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), AuthMode::Token);
    c.auth.token.expiry = Duration::from_secs(1);
    let s = start_with(dir, c).await;
    let tok = s
        .token(Some(("alice", "alicepw")), "repository:app:pull")
        .await;
    let h = format!("Bearer {tok}");
    let r = s
        .req(Method::GET, "/v2/", &[("authorization", &h)], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = s
        .req(Method::GET, "/v2/", &[("authorization", &h)], b"")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

// ---------------------------------------------------------------- TLS

async fn https_get(
    addr: std::net::SocketAddr,
    ca: &rcgen::Certificate,
    path: &str,
) -> (StatusCode, Bytes) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

#[tokio::test]
async fn tls_with_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let mut c = ServerConfig::new(dir.path().join("root"));
    c.tls = Some(TlsFiles {
        cert: cert.clone(),
        key: key.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(registry::serve_listener_with(listener, c, async {
        let _ = rx.await;
    }));
    let (status, body) = https_get(addr, &ck.cert, "/v2/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"{}");
    let (status, _) = https_get(addr, &ck.cert, "/v2/nothing/tags/list").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // a plain HTTP client gets nothing useful
    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let r = plain
        .request(
            Request::builder()
                .uri(format!("http://{addr}/v2/"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(r.is_err() || r.unwrap().status() != StatusCode::OK);
    // the shutdown future stops the TLS server
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // bad files are clear errors
    let mut c = ServerConfig::new(dir.path().join("root"));
    c.tls = Some(TlsFiles {
        cert: key.clone(),
        key: cert.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = registry::serve_listener_with(listener, c, std::future::pending())
        .await
        .unwrap_err();
    let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        chain.contains("key.pem") || chain.contains("cert.pem"),
        "{chain}"
    );
}

#[tokio::test]
async fn htpasswd_with_other_hashes_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("htpasswd");
    std::fs::write(&p, "carol:$apr1$xyz$abcdefghijklmnopqrstuv\n").unwrap();
    let mut c = ServerConfig::new(dir.path().join("root"));
    c.auth.mode = AuthMode::Htpasswd;
    c.auth.htpasswd = Some(p);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = registry::serve_listener_with(listener, c, std::future::pending())
        .await
        .unwrap_err();
    let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        chain.contains("only bcrypt") && chain.contains("line 1"),
        "{chain}"
    );
}

// ---------------------------------------------------------------- upload expiry

fn age(path: &Path, by: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

#[tokio::test]
async fn idle_uploads_expire() {
    let dir = tempfile::tempdir().unwrap();
    let st = registry::Storage::open(dir.path().join("root"))
        .await
        .unwrap();
    let old = st.start_upload("repo").await.unwrap();
    let fresh = st.start_upload("repo").await.unwrap();
    let root = dir.path().join("root");
    age(&root.join("uploads").join(&old), Duration::from_secs(7200));
    age(
        &root.join("repos/repo/_uploads").join(&old),
        Duration::from_secs(7200),
    );
    let n = st.expire_uploads(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(n, 1);
    assert!(st.upload_size("repo", &old).await.is_err());
    assert!(!root.join("repos/repo/_uploads").join(&old).exists());
    assert_eq!(st.upload_size("repo", &fresh).await.unwrap(), 0);
    drop(st);

    // the server removes expired sessions at start and then periodically
    let mut c = ServerConfig::new(root.clone());
    c.upload_expiry = Duration::from_secs(2);
    let s = start_with(dir, c).await;
    let r = s
        .req(Method::POST, "/v2/repo/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("location");
    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "0-2")], b"abc")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let r = s.req(Method::GET, &loc, &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    assert!(!s.root.join("uploads").join(&fresh).exists());
    s.stop().await;
}

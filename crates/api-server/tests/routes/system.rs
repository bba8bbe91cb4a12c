//! `/_ping`, `/version`, `/info`.

use crate::fake::Call;
use crate::Api;

#[tokio::test]
async fn ping_answers_ok_with_dockers_headers() {
    let api = Api::new();
    let answer = api.get("/_ping").await;
    answer.status(200);
    assert_eq!(answer.text(), "OK");
    assert_eq!(
        answer.header("api-version"),
        Some(engine_types::API_VERSION)
    );
    assert_eq!(answer.header("ostype"), Some("linux"));
    assert_eq!(answer.header("docker-experimental"), Some("false"));
    assert_eq!(answer.header("builder-version"), Some("1"));
    assert_eq!(answer.header("swarm"), Some("inactive"));
    assert!(answer
        .header("server")
        .is_some_and(|s| s.starts_with("Docker/")));
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn ping_head_has_no_body() {
    let api = Api::new();
    let answer = api.call("HEAD", "/_ping", axum::body::Body::empty()).await;
    answer.status(200);
    assert!(answer.body.is_empty());
    assert_eq!(
        answer.header("api-version"),
        Some(engine_types::API_VERSION)
    );
}

#[tokio::test]
async fn version_is_the_backends_document() {
    let api = Api::new();
    let doc = api.get("/version").await.json(200);
    assert_eq!(doc["Version"], "0.0.0-fake");
    assert_eq!(doc["ApiVersion"], engine_types::API_VERSION);
    assert!(matches!(api.fake.only_call(), Call::Version));
}

#[tokio::test]
async fn info_is_the_backends_document() {
    let api = Api::new();
    let doc = api.get("/info").await.json(200);
    assert_eq!(doc["ID"], "fake");
    assert!(matches!(api.fake.only_call(), Call::Info));
}

#[tokio::test]
async fn system_routes_refuse_other_methods() {
    let api = Api::new();
    for (method, uri) in [
        ("POST", "/_ping"),
        ("POST", "/version"),
        ("DELETE", "/info"),
    ] {
        let message = api
            .call(method, uri, axum::body::Body::empty())
            .await
            .error(405);
        assert!(message.contains(method), "{message}");
    }
    assert!(api.fake.calls().is_empty());
}

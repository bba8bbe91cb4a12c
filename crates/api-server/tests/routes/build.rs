//! `POST /build` (the classic builder) and `POST /auth` (registry login).

use axum::body::Body;

use crate::fake::Call;
use crate::{b64_json, enc, request, Api};

/// Sends a build with `query` and `headers`, expecting success; returns its request.
async fn build_of(query: &str, headers: &[(&str, String)]) -> api_server::backend::BuildRequest {
    let api = Api::new();
    let mut req = request("POST", &format!("/build{query}"));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let answer = api.send(req.body(Body::from("context tar")).unwrap()).await;
    answer.status(200);
    let Call::Build { context, opts } = api.fake.only_call() else {
        panic!("not a build")
    };
    assert_eq!(context, b"context tar");
    *opts
}

/// Sends a build with `query` and `headers`, expecting `status` with a message
/// containing `part`, and no backend call.
async fn build_refused(query: &str, headers: &[(&str, String)], status: u16, part: &str) {
    let api = Api::new();
    let mut req = request("POST", &format!("/build{query}"));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    api.send(req.body(Body::from("context tar")).unwrap())
        .await
        .error_with(status, part);
    assert!(api.fake.calls().is_empty(), "{query}");
}

#[tokio::test]
async fn build_streams_json_messages() {
    let api = Api::new();
    let answer = api.call("POST", "/v1.41/build", "ctx").await;
    let lines = answer.json_lines();
    assert_eq!(lines[0]["stream"], "Step 1/1 : FROM scratch\n");
    assert_eq!(lines[1]["aux"]["ID"], "sha256:4444");
}

#[tokio::test]
async fn build_parses_the_classic_builders_parameters() {
    let query = format!(
        "?t=a%3A1&t=r.io%2Fb&t=&dockerfile=sub%2FDockerfile.dev&buildargs={}&target=final&nocache=1&pull=true&q=True&labels={}&platform=linux%2Farm64&cachefrom={}&networkmode=host",
        enc(r#"{"A":"1","FROM_ENV":null}"#),
        enc(r#"{"org.x":"y"}"#),
        enc(r#"["cache:1"]"#),
    );
    let opts = build_of(&query, &[]).await;
    assert_eq!(opts.tags, ["a:1", "r.io/b"]);
    assert_eq!(opts.dockerfile.as_deref(), Some("sub/Dockerfile.dev"));
    assert_eq!(opts.build_args["A"].as_deref(), Some("1"));
    assert_eq!(opts.build_args["FROM_ENV"], None);
    assert_eq!(opts.target.as_deref(), Some("final"));
    assert!(opts.no_cache && opts.pull && opts.quiet);
    assert_eq!(opts.labels["org.x"], "y");
    assert_eq!(opts.platform.as_deref(), Some("linux/arm64"));
    assert_eq!(opts.cache_from, ["cache:1"]);
    assert_eq!(opts.network_mode.as_deref(), Some("host"));
    assert!(opts.local_context.is_none());

    let opts = build_of("", &[]).await;
    assert!(opts.tags.is_empty() && opts.dockerfile.is_none() && opts.build_args.is_empty());
    assert!(!opts.no_cache && !opts.pull && !opts.quiet);
}

#[tokio::test]
async fn build_refuses_malformed_parameters() {
    for (query, part) in [
        (
            format!("?buildargs={}", enc("{")),
            "invalid buildargs parameter",
        ),
        (
            format!("?buildargs={}", enc(r#"["A=1"]"#)),
            "invalid buildargs parameter",
        ),
        (
            format!("?labels={}", enc(r#"{"a":1}"#)),
            "invalid labels parameter",
        ),
        (
            format!("?cachefrom={}", enc(r#"{"a":"b"}"#)),
            "invalid cachefrom parameter",
        ),
        ("?nocache=perhaps".to_string(), "nocache"),
        ("?pull=2".to_string(), "pull"),
        ("?q=quiet".to_string(), "q"),
    ] {
        build_refused(&query, &[], 400, part).await;
    }
}

#[tokio::test]
async fn buildkit_and_remote_contexts_are_not_implemented() {
    build_refused("?version=2", &[], 501, "BuildKit").await;
    build_refused(
        "?remote=https%3A%2F%2Fexample.invalid%2Fr.git",
        &[],
        501,
        "remote context",
    )
    .await;
    build_of("?version=1", &[]).await;
}

#[tokio::test]
async fn build_takes_registry_credentials_from_x_registry_config() {
    let config = b64_json(serde_json::json!({
        "r.io": { "username": "u", "password": "p" },
        "https://index.docker.io/v1/": { "auth": "dTpw" },
    }));
    let opts = build_of("", &[("X-Registry-Config", config)]).await;
    assert_eq!(opts.auth_configs["r.io"].username, "u");
    assert_eq!(
        opts.auth_configs["https://index.docker.io/v1/"].auth,
        "dTpw"
    );
    assert!(build_of("", &[("X-Registry-Config", String::new())])
        .await
        .auth_configs
        .is_empty());
    build_refused(
        "",
        &[("X-Registry-Config", "%%%".into())],
        400,
        "X-Registry-Config",
    )
    .await;
    build_refused(
        "",
        &[(
            "X-Registry-Config",
            b64_json(serde_json::json!({ "r.io": ["u", "p"] })),
        )],
        400,
        "r.io: expected a JSON object",
    )
    .await;
    build_refused(
        "",
        &[("X-Registry-Config", b64_json(serde_json::json!(["r.io"])))],
        400,
        "X-Registry-Config",
    )
    .await;
}

#[tokio::test]
async fn build_takes_berths_local_context() {
    let opts = build_of(
        "?berth.contextdir=%2Fsrc%2Fapp&berth.contextid=66306%3A1234",
        &[],
    )
    .await;
    let local = opts.local_context.unwrap();
    assert_eq!(local.dir, std::path::Path::new("/src/app"));
    assert_eq!((local.dev, local.ino), (66306, 1234));
    for (query, part) in [
        ("?berth.contextdir=%2Fsrc", "berth.contextid"),
        (
            "?berth.contextdir=%2Fsrc&berth.contextid=1",
            "berth.contextid",
        ),
        (
            "?berth.contextdir=%2Fsrc&berth.contextid=a%3Ab",
            "berth.contextid",
        ),
        (
            "?berth.contextdir=src&berth.contextid=1%3A2",
            "absolute path",
        ),
    ] {
        build_refused(query, &[], 400, part).await;
    }
}

#[tokio::test]
async fn build_takes_secrets_and_ssh_sockets() {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode("s3cret");
    let secrets = b64_json(serde_json::json!({ "token": value }));
    let ssh = b64_json(serde_json::json!({ "default": "/run/agent.sock" }));
    let opts = build_of(
        "",
        &[
            ("X-Berth-Build-Secrets", secrets),
            ("X-Berth-Build-Ssh", ssh),
        ],
    )
    .await;
    assert_eq!(opts.secrets["token"].0, b"s3cret");
    assert_eq!(opts.ssh["default"], std::path::Path::new("/run/agent.sock"));

    let h = "X-Berth-Build-Secrets";
    build_refused("", &[(h, "!!".into())], 400, "not base64").await;
    build_refused(
        "",
        &[(h, b64_json(serde_json::json!({ "": "YQ==" })))],
        400,
        "without an id",
    )
    .await;
    build_refused(
        "",
        &[(h, b64_json(serde_json::json!({ "a": "!!" })))],
        400,
        "\"a\"",
    )
    .await;
    build_refused(
        "",
        &[(h, b64_json(serde_json::json!(["a"])))],
        400,
        "JSON object",
    )
    .await;
    let h = "X-Berth-Build-Ssh";
    build_refused(
        "",
        &[(h, b64_json(serde_json::json!({ "a": "rel" })))],
        400,
        "absolute",
    )
    .await;
    build_refused(
        "",
        &[(h, b64_json(serde_json::json!(5)))],
        400,
        "JSON object",
    )
    .await;
}

#[tokio::test]
async fn auth_answers_login_succeeded_with_an_identity_token() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/auth",
            serde_json::json!({ "username": "u", "password": "p", "serveraddress": "r.io", "unknown": 1 }),
        )
        .await
        .json(200);
    assert_eq!(
        doc,
        serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" })
    );
    let Call::RegistryLogin(auth) = api.fake.only_call() else {
        panic!("not a login")
    };
    assert_eq!(
        (auth.username.as_str(), auth.serveraddress.as_str()),
        ("u", "r.io")
    );

    let api = Api::new();
    let doc = api
        .post_json("/auth", serde_json::json!({ "identitytoken": "old" }))
        .await
        .json(200);
    assert_eq!(doc["IdentityToken"], "token-1");
}

#[tokio::test]
async fn auth_refuses_a_malformed_body() {
    let api = Api::new();
    for body in ["", "{", "[]", r#"["u","p"]"#, r#"{"username":5}"#] {
        api.call("POST", "/auth", body)
            .await
            .error_with(400, "invalid credentials JSON");
    }
    assert!(api.fake.calls().is_empty());
}

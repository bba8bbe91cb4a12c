//! What the route table does around the handlers: version prefixes, unknown
//! routes, routes not implemented yet, methods not allowed, common headers.

use axum::body::Body;

use crate::Api;

#[tokio::test]
async fn supported_versions_and_no_version_reach_the_handler() {
    let api = Api::new();
    for uri in [
        "/_ping",
        "/v1.24/_ping",
        "/v1.41/_ping",
        "/v1.47/_ping",
        "/v1.51/_ping",
    ] {
        assert_eq!(api.get(uri).await.status(200).text(), "OK", "{uri}");
    }
}

#[tokio::test]
async fn the_query_survives_the_version_prefix() {
    let api = Api::new();
    api.post("/v1.41/containers/c1/rename?name=new%20name")
        .await
        .status(204);
    match api.fake.only_call() {
        crate::fake::Call::ContainerRename { id, name } => {
            assert_eq!((id.as_str(), name.as_str()), ("c1", "new name"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_too_new_version_is_refused_with_400() {
    let api = Api::new();
    let message = api.get("/v1.99/containers/json").await.error(400);
    assert_eq!(
        message,
        format!(
            "client version 1.99 is too new. Maximum supported API version is {}",
            engine_types::API_VERSION
        )
    );
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn a_too_old_version_is_refused_with_400() {
    let api = Api::new();
    let message = api.post("/v1.23/containers/c1/start").await.error(400);
    assert!(
        message.contains("client version 1.23 is too old"),
        "{message}"
    );
    assert!(message.contains(engine_types::MIN_API_VERSION), "{message}");
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn a_malformed_version_is_an_unknown_route() {
    let api = Api::new();
    for uri in ["/v1/_ping", "/vX.Y/_ping", "/v1.41", "/v1.41x/_ping"] {
        api.get(uri).await.error_with(404, "page not found");
    }
}

#[tokio::test]
async fn unknown_routes_answer_404_json() {
    let api = Api::new();
    for (method, uri) in [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/nope/deeper?x=1"),
        ("GET", "/images/busybox"),
        ("GET", "/images/busybox/unknown"),
        ("POST", "/images/busybox/json"),
        ("GET", "/v1.41/nope"),
    ] {
        let answer = api.call(method, uri, Body::empty()).await;
        assert_eq!(answer.error(404), "page not found", "{method} {uri}");
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn endpoints_berth_does_not_serve_yet_answer_501_json() {
    let api = Api::new();
    for (method, uri) in [
        ("POST", "/swarm/init"),
        ("GET", "/images/search?term=x"),
        ("GET", "/v1.41/plugins"),
    ] {
        let message = api.call(method, uri, Body::empty()).await.error(501);
        assert!(
            message.contains("not implemented"),
            "{method} {uri}: {message}"
        );
        assert!(message.contains(method), "{message}");
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn wrong_methods_answer_405_json() {
    let api = Api::new();
    for (method, uri) in [
        ("GET", "/containers/create"),
        ("DELETE", "/containers/json"),
        ("GET", "/containers/c1/start"),
        ("PUT", "/containers/c1/stop"),
        ("GET", "/containers/c1"),
        ("GET", "/exec/e1/start"),
        ("POST", "/exec/e1/json"),
        ("GET", "/auth"),
        ("GET", "/build"),
        ("POST", "/images/json"),
        ("GET", "/images/load"),
        ("POST", "/v1.41/containers/c1/json"),
    ] {
        let message = api.call(method, uri, Body::empty()).await.error(405);
        assert!(message.contains(method), "{method} {uri}: {message}");
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn head_of_a_get_route_runs_it_without_a_body() {
    let api = Api::new();
    let answer = api
        .call("HEAD", "/v1.41/containers/json?all=1", Body::empty())
        .await;
    answer.status(200);
    assert!(answer.body.is_empty());
    assert_eq!(api.fake.calls().len(), 1);
    api.call("OPTIONS", "/_ping", Body::empty())
        .await
        .error_with(405, "OPTIONS");
}

#[tokio::test]
async fn errors_carry_the_common_headers() {
    let api = Api::new();
    for uri in ["/nope", "/v1.99/info", "/events"] {
        let answer = api.get(uri).await;
        assert_eq!(
            answer.header("api-version"),
            Some(engine_types::API_VERSION),
            "{uri}"
        );
        assert_eq!(answer.header("ostype"), Some("linux"), "{uri}");
    }
}

/// Axum's own rejections (before any handler code runs) answer Docker's JSON too.
#[tokio::test]
async fn extractor_rejections_are_json_errors() {
    let api = Api::new();
    let message = api.get("/containers/%FF%FE/json").await.error(400);
    assert!(message.contains("Invalid URL"), "{message}");
    let message = api.post("/exec/%C3%28/start").await.error(400);
    assert!(message.contains("Invalid URL"), "{message}");
    // A request body over axum's buffering limit (2 MiB).
    let huge = format!(
        r#"{{"Image":"busybox","Env":["A={}"]}}"#,
        "x".repeat(3 << 20)
    );
    let message = api
        .call("POST", "/containers/create", huge)
        .await
        .error(413);
    assert!(message.contains("length limit"), "{message}");
    assert!(api.fake.calls().is_empty());
}

/// Routes of the table tested elsewhere than in [`crate::errors::ROUTES`] (which
/// holds one request for every route that calls the backend), and why.
const NOT_IN_ERROR_TABLE: &[(&str, &str)] = &[
    ("/_ping", "no backend call: system::ping_*"),
    (
        "/images/search",
        "not implemented: endpoints_berth_does_not_serve_yet_*",
    ),
    (
        "/__berth_bad_version/{version}",
        "internal: a_too_new_version_*, a_too_old_version_*",
    ),
];

/// Does `uri` (with its query) match the route template `route`?
fn matches(route: &str, uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or_default();
    let (mut r, mut p) = (route.split('/'), path.split('/'));
    loop {
        match (r.next(), p.next()) {
            (None, None) => return true,
            (Some(t), Some(_)) if t.starts_with("{*") => return true,
            (Some(t), Some(s)) if t.starts_with('{') && !s.is_empty() => {}
            (Some(t), Some(s)) if t == s => {}
            _ => return false,
        }
    }
}

/// A new route in `src/lib.rs` fails here until a request for it is in the
/// error table (and so is tested for status, error mapping and versions).
#[test]
fn every_route_of_the_table_has_a_test_request() {
    let table = include_str!("../../src/lib.rs");
    let routes: Vec<&str> = table
        .split(".route(\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(routes.len() > 30, "route table not found: {routes:?}");
    for route in &routes {
        let tested = crate::errors::ROUTES
            .iter()
            .any(|(_, uri, _)| matches(route, uri));
        let excused = NOT_IN_ERROR_TABLE.iter().any(|(r, _)| r == route);
        assert!(
            tested != excused,
            "{route}: tested {tested}, excused {excused}"
        );
    }
}

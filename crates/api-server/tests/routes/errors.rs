//! Every route that calls the backend answers a backend error with the kind's
//! status and Docker's `{"message": ...}` body.

use api_server::ApiError;
use axum::body::Body;
use errdefs::ErrorKind;

use crate::{request, Api};

/// One valid request per backend-calling route: (method, uri, JSON body).
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/version", ""),
    ("GET", "/info", ""),
    ("POST", "/containers/create", r#"{"Image":"busybox"}"#),
    ("GET", "/containers/json", ""),
    ("POST", "/containers/prune", ""),
    ("GET", "/volumes", ""),
    ("POST", "/volumes/create", r#"{"Name":"v1"}"#),
    ("GET", "/volumes/v1", ""),
    ("DELETE", "/volumes/v1?force=1", ""),
    ("POST", "/volumes/prune", ""),
    ("GET", "/system/df", ""),
    ("GET", "/networks", ""),
    ("POST", "/networks/create", r#"{"Name":"n"}"#),
    ("POST", "/networks/prune", ""),
    ("GET", "/networks/n1", ""),
    ("DELETE", "/networks/n1", ""),
    ("POST", "/networks/n1/connect", r#"{"Container":"c1"}"#),
    ("POST", "/networks/n1/disconnect", r#"{"Container":"c1"}"#),
    ("DELETE", "/containers/c1", ""),
    ("GET", "/containers/c1/json", ""),
    ("GET", "/containers/c1/archive?path=/etc", ""),
    ("PUT", "/containers/c1/archive?path=/tmp", ""),
    ("GET", "/containers/c1/changes", ""),
    ("GET", "/containers/c1/export", ""),
    ("POST", "/commit?container=c1", ""),
    ("POST", "/containers/c1/start", ""),
    ("POST", "/containers/c1/stop", ""),
    ("POST", "/containers/c1/restart", ""),
    ("POST", "/containers/c1/kill", ""),
    ("POST", "/containers/c1/wait", ""),
    ("POST", "/containers/c1/rename?name=n", ""),
    ("POST", "/containers/c1/resize?h=1&w=2", ""),
    ("POST", "/containers/c1/update", r#"{"Memory":1024}"#),
    ("GET", "/containers/c1/top", ""),
    ("POST", "/containers/c1/attach?stream=1&stdout=1", ""),
    ("GET", "/containers/c1/logs?stdout=1", ""),
    ("POST", "/containers/c1/exec", r#"{"Cmd":["ls"]}"#),
    ("POST", "/exec/e1/start", r#"{"Detach":true}"#),
    ("POST", "/exec/e1/resize?h=1&w=2", ""),
    ("GET", "/exec/e1/json", ""),
    ("POST", "/auth", r#"{"username":"u","password":"p"}"#),
    ("POST", "/build", ""),
    ("GET", "/images/json", ""),
    ("POST", "/images/create?fromImage=busybox&tag=latest", ""),
    ("POST", "/images/create?fromSrc=-&repo=r", "tar"),
    ("POST", "/images/load", "tar"),
    ("GET", "/images/get?names=busybox", ""),
    ("POST", "/images/prune", ""),
    ("GET", "/images/busybox/json", ""),
    ("GET", "/images/busybox/history", ""),
    ("GET", "/images/busybox/get", ""),
    ("POST", "/images/busybox/tag?repo=r&tag=t", ""),
    ("POST", "/images/busybox/push", ""),
    ("DELETE", "/images/busybox", ""),
    ("GET", "/events?since=1&until=2", ""),
    ("GET", "/containers/c1/stats?stream=false", ""),
    ("GET", "/containers/c1/stats", ""),
    ("POST", "/containers/c1/pause", ""),
    ("POST", "/containers/c1/unpause", ""),
];

const KINDS: &[ErrorKind] = &[
    ErrorKind::InvalidArgument,
    ErrorKind::Unauthorized,
    ErrorKind::Forbidden,
    ErrorKind::NotFound,
    ErrorKind::Conflict,
    ErrorKind::NotImplemented,
    ErrorKind::Unavailable,
    ErrorKind::Internal,
];

async fn send_failing(method: &str, uri: &str, body: &str, err: ApiError) -> (Api, crate::Answer) {
    let api = Api::new();
    api.fake.fail(err);
    let req = request(method, uri)
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let answer = api.send(req).await;
    (api, answer)
}

#[tokio::test]
async fn every_route_answers_backend_errors_with_the_kinds_status_and_a_json_message() {
    for &(method, uri, body) in ROUTES {
        for &kind in KINDS {
            let message = format!("{kind:?} from the backend");
            let (api, answer) =
                send_failing(method, uri, body, ApiError::new(kind, message.clone())).await;
            assert_eq!(
                answer.status,
                kind.http_status(),
                "{method} {uri} with {kind:?}: {}",
                answer.text()
            );
            assert_eq!(answer.error(kind.http_status()), message, "{method} {uri}");
            assert_eq!(api.fake.calls().len(), 1, "{method} {uri}");
        }
    }
}

#[tokio::test]
async fn every_route_succeeds_with_its_valid_request() {
    for &(method, uri, body) in ROUTES {
        let api = Api::new();
        let req = request(method, uri)
            .header("Content-Type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let answer = api.send(req).await;
        assert!(
            (200..300).contains(&answer.status),
            "{method} {uri}: {} {}",
            answer.status,
            answer.text()
        );
        assert_eq!(api.fake.calls().len(), 1, "{method} {uri}");
    }
}

#[tokio::test]
async fn not_modified_has_no_body_on_any_route() {
    for &(method, uri, body) in ROUTES {
        let (_, answer) = send_failing(method, uri, body, ApiError::not_modified()).await;
        answer.status(304);
        assert!(answer.body.is_empty(), "{method} {uri}: {}", answer.text());
    }
}

/// The versioned forms of a route reach the same handler.
#[tokio::test]
async fn every_route_is_served_under_supported_version_prefixes() {
    for prefix in ["/v1.24", "/v1.41", "/v1.47", "/v1.51"] {
        for &(method, uri, body) in ROUTES {
            let uri = format!("{prefix}{uri}");
            let (_, answer) = send_failing(method, &uri, body, ApiError::conflict("busy")).await;
            assert_eq!(answer.error(409), "busy", "{method} {uri}");
        }
    }
}

//! Engine API error handling and versioned paths, with raw HTTP.

use integration::*;

/// Moby answers 400 for undecodable bodies and bad query parameters since Engine 23
/// (`errdefs.InvalidParameter`); Debian's dockerd 20.10, which validates these tests,
/// still answered 500. Berth follows current Docker.
fn client_error_status(d: &TestDaemon) -> u16 {
    if d.is_berth() {
        400
    } else {
        500
    }
}

#[test]
fn create_with_bad_json_is_400() {
    let d = daemon_or_skip!();
    let (status, body) = d.api("POST", "/containers/create", Some("{\"Image\": "));
    assert_eq!(status, client_error_status(&d), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert!(
        v["message"].is_string(),
        "error body must be {{\"message\": ...}}: {body}"
    );
}

#[test]
fn unknown_container_is_404_with_message() {
    let d = daemon_or_skip!();
    let (status, v) = d.api_json("GET", "/containers/nope/json", None);
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["message"], "No such container: nope");
    let (status, v) = d.api_json("POST", "/containers/nope/start", None);
    assert_eq!(status, 404, "{v}");
    let (status, v) = d.api_json("DELETE", "/containers/nope", None);
    assert_eq!(status, 404, "{v}");
}

#[test]
fn create_with_unknown_image_is_404() {
    let d = daemon_or_skip!();
    let (status, v) = d.api_json(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"nosuchimage:latest","Cmd":["true"]}"#),
    );
    assert_eq!(status, 404, "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains("No such image"), "{v}");
}

#[test]
fn bad_query_param_is_400_and_start_twice_is_304() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let (status, v) = d.api_json(
        "POST",
        "/containers/create?name=q1",
        Some(r#"{"Image":"busybox","Cmd":["sleep","1000"]}"#),
    );
    assert_eq!(status, 201, "{v}");
    let id = v["Id"].as_str().expect("Id").to_string();
    assert_eq!(id.len(), 64, "{v}");
    let (status, body) = d.api("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(status, 204, "{body}");
    let (status, body) = d.api("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(status, 304, "start on a running container: {body}");
    let (status, body) = d.api("POST", "/containers/q1/stop?t=abc", None);
    assert_eq!(status, client_error_status(&d), "{body}");
    let (status, body) = d.api("POST", "/containers/q1/kill", None);
    assert_eq!(status, 204, "{body}");
    let (status, v) = d.api_json("POST", &format!("/containers/{id}/wait"), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["StatusCode"], 137, "{v}");
    let (status, body) = d.api("POST", "/containers/q1/stop", None);
    assert_eq!(status, 304, "stop on a stopped container: {body}");
    let (status, body) = d.api("DELETE", "/containers/q1", None);
    assert_eq!(status, 204, "{body}");
}

#[test]
fn versioned_paths() {
    let d = daemon_or_skip!();
    for path in [
        "/version",
        "/v1.41/version",
        "/v1.41/_ping",
        "/v1.41/containers/json",
    ] {
        let (status, body) = d.api("GET", path, None);
        assert_eq!(status, 200, "{path}: {body}");
    }
    if d.is_berth() {
        // dockerd 20.10 tops out at 1.41; berthd serves the 28.x CLI's 1.51.
        for path in ["/v1.51/version", "/v1.51/containers/json"] {
            let (status, body) = d.api("GET", path, None);
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    let (status, v) = d.api_json("GET", "/v9.99/version", None);
    assert_eq!(status, 400, "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains("too new"), "{v}");
}

#[test]
fn malformed_http_does_not_kill_the_daemon() {
    let d = daemon_or_skip!();
    let answer = d.raw(b"GARBAGE\r\n\r\n");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "unexpected answer to garbage: {text}"
    );
    let _ = d.raw(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{");
    assert!(d.alive(), "daemon died after malformed requests");
    let (status, _) = d.api("GET", "/containers/json?all=1", None);
    assert_eq!(status, 200);
}

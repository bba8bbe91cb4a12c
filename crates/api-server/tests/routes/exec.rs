//! `/containers/{id}/exec` and `/exec/{id}/...`.

use axum::body::Body;

use crate::fake::{Call, HIJACKED};
use crate::{request, Api};

#[tokio::test]
async fn exec_create_answers_201_with_a_capitalized_id() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/containers/web/exec",
            serde_json::json!({ "Cmd": ["ls", "-l"], "Tty": true, "Env": ["A=1"] }),
        )
        .await
        .json(201);
    assert_eq!(doc, serde_json::json!({ "Id": "e0e0" }));
    let Call::ExecCreate { id, config } = api.fake.only_call() else {
        panic!("not an exec create")
    };
    assert_eq!(id, "web");
    assert_eq!(config.cmd, Some(vec!["ls".to_string(), "-l".to_string()]));
    assert_eq!(config.tty, Some(true));
}

#[tokio::test]
async fn exec_create_refuses_a_missing_command_or_a_malformed_body() {
    let api = Api::new();
    for (body, part) in [
        ("", "exec config is required"),
        ("{}", "No exec command specified"),
        (r#"{"Cmd":[]}"#, "No exec command specified"),
        (r#"{"Cmd":"ls"}"#, "invalid JSON in request body"),
        ("{", "invalid JSON in request body"),
    ] {
        api.call("POST", "/containers/web/exec", body)
            .await
            .error_with(400, part);
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn exec_start_detached_answers_200_with_no_stream() {
    let api = Api::new();
    let answer = api
        .post_json(
            "/exec/e1/start",
            serde_json::json!({ "Detach": true, "Tty": true }),
        )
        .await;
    answer.status(200);
    assert!(answer.body.is_empty());
    let Call::ExecStart { id, opts } = api.fake.only_call() else {
        panic!("not an exec start")
    };
    assert_eq!(id, "e1");
    assert!(opts.detach && opts.tty);
}

#[tokio::test]
async fn exec_start_streams_without_an_upgrade_and_answers_101_with_one() {
    let api = Api::new();
    for body in ["", "{}", r#"{"Detach":false}"#] {
        let answer = api.call("POST", "/exec/e1/start", body).await;
        answer.status(200);
        assert_eq!(answer.body, HIJACKED, "{body:?}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/vnd.docker.multiplexed-stream")
        );
    }
    let req = request("POST", "/v1.47/exec/e1/start")
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"Detach":false,"Tty":false}"#))
        .unwrap();
    let answer = api.send(req).await;
    answer.status(101);
    assert_eq!(answer.header("upgrade"), Some("tcp"));
}

#[tokio::test]
async fn exec_start_refuses_a_malformed_body() {
    let api = Api::new();
    for body in ["{", r#"{"Detach":"yes"}"#] {
        api.call("POST", "/exec/e1/start", body)
            .await
            .error_with(400, "invalid JSON in request body");
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn exec_resize_parses_h_and_w() {
    let api = Api::new();
    api.post("/exec/e1/resize?h=24&w=80").await.status(200);
    let Call::ExecResize { id, height, width } = api.fake.only_call() else {
        panic!("not an exec resize")
    };
    assert_eq!((id.as_str(), height, width), ("e1", 24, 80));
    api.post("/exec/e1/resize?h=tall&w=80")
        .await
        .error_with(400, "invalid value for h");
    api.post("/exec/e1/resize?h=24")
        .await
        .error_with(400, "w is required");
    assert_eq!(api.fake.calls().len(), 1);
}

#[tokio::test]
async fn exec_inspect_answers_the_document() {
    let api = Api::new();
    let doc = api.get("/exec/e1/json").await.json(200);
    assert_eq!(doc["ID"], "e1");
    assert_eq!(doc["Running"], false);
    assert_eq!(doc["ExitCode"], 0);
    assert!(matches!(api.fake.only_call(), Call::ExecInspect(id) if id == "e1"));
}

//! `/containers/...`: create, list, inspect, lifecycle, logs, attach, prune.

use api_server::backend::{StdStream, WaitCondition};
use api_server::ApiError;
use axum::body::Body;

use crate::fake::{Call, CREATED_ID, EXIT_CODE, HIJACKED, LOG_TIME, STDERR_LINE, STDOUT_LINE};
use crate::{call_of, enc, refused, request, Api, BOOLS};

#[tokio::test]
async fn create_answers_201_with_id_and_warnings() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/containers/create?name=web&platform=linux%2Farm64",
            serde_json::json!({
                "Image": "busybox",
                "Cmd": ["sh", "-c", "true"],
                "Env": ["A=1"],
                "HostConfig": { "Memory": 1048576, "AutoRemove": true },
            }),
        )
        .await
        .json(201);
    assert_eq!(doc, serde_json::json!({ "Id": CREATED_ID, "Warnings": [] }));
    let Call::ContainerCreate {
        name,
        platform,
        body,
    } = api.fake.only_call()
    else {
        panic!("not a create")
    };
    assert_eq!(name.as_deref(), Some("web"));
    assert_eq!(platform.as_deref(), Some("linux/arm64"));
    assert_eq!(body.image.as_deref(), Some("busybox"));
    assert_eq!(body.env, Some(vec!["A=1".to_string()]));
    let host = body.host_config.unwrap();
    assert_eq!(host.memory, Some(1048576));
    assert_eq!(host.auto_remove, Some(true));
}

#[tokio::test]
async fn create_without_name_or_with_an_empty_one_passes_none() {
    for uri in ["/containers/create", "/containers/create?name=&platform="] {
        let api = Api::new();
        api.post_json(uri, serde_json::json!({ "Image": "busybox" }))
            .await
            .status(201);
        let Call::ContainerCreate { name, platform, .. } = api.fake.only_call() else {
            panic!("not a create")
        };
        assert_eq!((name, platform), (None, None), "{uri}");
    }
}

#[tokio::test]
async fn create_refuses_an_empty_or_malformed_body() {
    let api = Api::new();
    for body in ["", "  \n"] {
        api.call("POST", "/containers/create", body)
            .await
            .error_with(400, "config cannot be empty");
    }
    for (body, part) in [
        ("{", "invalid JSON in request body"),
        (r#"{"Image": 5}"#, "invalid type"),
        (
            r#"{"Image": "busybox", "Cmd": "ls"}"#,
            "invalid JSON in request body",
        ),
    ] {
        let message = api
            .call("POST", "/containers/create", body)
            .await
            .error_with(400, part);
        assert!(message.contains("line 1 column"), "{body}: {message}");
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn create_and_update_refuse_documents_that_are_not_objects() {
    let api = Api::new();
    for uri in [
        "/containers/create",
        "/containers/web/update",
        "/containers/web/exec",
        "/exec/e1/start",
    ] {
        for body in ["[]", "[1,2]", r#"["busybox"]"#, "5", "not json"] {
            api.call("POST", uri, body)
                .await
                .error_with(400, "invalid JSON in request body: expected a JSON object");
        }
    }
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn list_answers_a_json_array() {
    let api = Api::new();
    let doc = api.get("/containers/json").await.json(200);
    assert_eq!(doc[0]["Id"], CREATED_ID);
    assert_eq!(doc[0]["Names"][0], "/fake");
    let Call::ContainerList(opts) = api.fake.only_call() else {
        panic!("not a list")
    };
    assert!(!opts.all && !opts.size);
    assert_eq!(opts.limit, None);
    assert!(opts.filters.is_empty());
}

#[tokio::test]
async fn list_parses_docker_booleans() {
    for &(text, value) in BOOLS {
        let Call::ContainerList(opts) =
            call_of("GET", &format!("/containers/json?all={text}&size={text}")).await
        else {
            panic!("not a list")
        };
        assert_eq!((opts.all, opts.size), (value, value), "{text:?}");
    }
    for bad in ["2", "yes%21", "on"] {
        refused("GET", &format!("/containers/json?all={bad}"), "all").await;
    }
}

#[tokio::test]
async fn list_parses_limit() {
    for (text, limit) in [("3", Some(3)), ("0", None), ("-1", None), ("", None)] {
        let Call::ContainerList(opts) =
            call_of("GET", &format!("/containers/json?limit={text}")).await
        else {
            panic!("not a list")
        };
        assert_eq!(opts.limit, Some(limit).flatten(), "{text:?}");
    }
    for bad in ["abc", "1.5", "99999999999999999999"] {
        let message = refused("GET", &format!("/containers/json?limit={bad}"), "limit").await;
        assert!(message.contains("integer"), "{message}");
    }
}

#[tokio::test]
async fn list_parses_filters_in_both_forms() {
    let forms = [
        r#"{"status":["running","paused"],"label":["a=b"]}"#,
        r#"{"status":{"running":true,"paused":true},"label":{"a=b":true}}"#,
    ];
    for form in forms {
        let Call::ContainerList(opts) =
            call_of("GET", &format!("/containers/json?filters={}", enc(form))).await
        else {
            panic!("not a list")
        };
        let mut status = opts.filters["status"].clone();
        status.sort();
        assert_eq!(status, ["paused", "running"], "{form}");
        assert_eq!(opts.filters["label"], ["a=b"], "{form}");
    }
    // A false entry in the legacy form is not a filter value.
    let Call::ContainerList(opts) = call_of(
        "GET",
        &format!(
            "/containers/json?filters={}",
            enc(r#"{"status":{"exited":false}}"#)
        ),
    )
    .await
    else {
        panic!("not a list")
    };
    assert!(opts.filters["status"].is_empty());
}

#[tokio::test]
async fn list_refuses_malformed_filters() {
    for bad in [
        r#"{"status":"#,
        r#"["running"]"#,
        r#"{"status":5}"#,
        "status=running",
    ] {
        let message = refused(
            "GET",
            &format!("/containers/json?filters={}", enc(bad)),
            "filter",
        )
        .await;
        assert!(message.contains("invalid filter"), "{bad}: {message}");
    }
}

#[tokio::test]
async fn inspect_answers_the_document_and_parses_size() {
    let api = Api::new();
    let doc = api.get("/containers/web/json?size=1").await.json(200);
    assert_eq!(doc["Id"], "web");
    let Call::ContainerInspect { id, size } = api.fake.only_call() else {
        panic!("not an inspect")
    };
    assert_eq!((id.as_str(), size), ("web", true));
    refused("GET", "/containers/web/json?size=maybe", "size").await;
}

#[tokio::test]
async fn start_answers_204_then_304_when_already_started() {
    let api = Api::new();
    let answer = api.post("/containers/web/start").await;
    answer.status(204);
    assert!(answer.body.is_empty());
    assert!(matches!(api.fake.only_call(), Call::ContainerStart(id) if id == "web"));

    let api = Api::new();
    api.fake.fail(ApiError::not_modified());
    let answer = api.post("/containers/web/start").await;
    answer.status(304);
    assert!(answer.body.is_empty());
}

#[tokio::test]
async fn stop_and_restart_parse_signal_and_t() {
    for action in ["stop", "restart"] {
        let api = Api::new();
        let answer = api
            .post(&format!("/containers/web/{action}?signal=SIGINT&t=7"))
            .await;
        answer.status(204);
        assert!(answer.body.is_empty());
        let (id, signal, timeout) = match api.fake.only_call() {
            Call::ContainerStop {
                id,
                signal,
                timeout,
            } if action == "stop" => (id, signal, timeout),
            Call::ContainerRestart {
                id,
                signal,
                timeout,
            } if action == "restart" => (id, signal, timeout),
            other => panic!("{action}: {other:?}"),
        };
        assert_eq!(id, "web");
        assert_eq!(signal.as_deref(), Some("SIGINT"));
        assert_eq!(timeout, Some(7));

        // No t: the container's own timeout; -1 waits for ever (Docker's meaning).
        match call_of("POST", &format!("/containers/web/{action}?t=-1")).await {
            Call::ContainerStop {
                timeout, signal, ..
            }
            | Call::ContainerRestart {
                timeout, signal, ..
            } => {
                assert_eq!((timeout, signal), (Some(-1), None));
            }
            other => panic!("{other:?}"),
        }
        match call_of("POST", &format!("/containers/web/{action}")).await {
            Call::ContainerStop { timeout, .. } | Call::ContainerRestart { timeout, .. } => {
                assert_eq!(timeout, None);
            }
            other => panic!("{other:?}"),
        }
        for bad in ["abc", "1.5", "10s"] {
            refused("POST", &format!("/containers/web/{action}?t={bad}"), "t").await;
        }
    }
}

#[tokio::test]
async fn kill_parses_signal() {
    for (query, expected) in [
        ("?signal=HUP", Some("HUP")),
        ("?signal=9", Some("9")),
        ("", None),
    ] {
        let api = Api::new();
        api.post(&format!("/containers/web/kill{query}"))
            .await
            .status(204);
        let Call::ContainerKill { id, signal } = api.fake.only_call() else {
            panic!("not a kill")
        };
        assert_eq!((id.as_str(), signal.as_deref()), ("web", expected));
    }
}

#[tokio::test]
async fn wait_answers_the_exit_code_and_parses_the_condition() {
    for (query, condition) in [
        ("", WaitCondition::NotRunning),
        ("?condition=not-running", WaitCondition::NotRunning),
        ("?condition=next-exit", WaitCondition::NextExit),
        ("?condition=removed", WaitCondition::Removed),
    ] {
        let api = Api::new();
        let doc = api
            .post(&format!("/containers/web/wait{query}"))
            .await
            .json(200);
        assert_eq!(doc["StatusCode"], EXIT_CODE, "{query}");
        assert!(doc["Error"].is_null(), "{doc}");
        let Call::ContainerWait { id, condition: c } = api.fake.only_call() else {
            panic!("not a wait")
        };
        assert_eq!((id.as_str(), c), ("web", condition));
    }
    refused("POST", "/containers/web/wait?condition=exited", "condition").await;
}

/// The headers are out when the wait fails: the failure is in the body.
#[tokio::test]
async fn a_wait_that_fails_after_registering_answers_200_with_the_error() {
    let api = Api::new();
    api.fake.fail_wait(ApiError::internal("container vanished"));
    let doc = api.post("/containers/web/wait").await.json(200);
    assert_eq!(
        doc,
        serde_json::json!({ "StatusCode": -1, "Error": { "Message": "container vanished" } })
    );
}

#[tokio::test]
async fn remove_parses_force_v_and_link() {
    for &(text, value) in BOOLS {
        let api = Api::new();
        let answer = api
            .delete(&format!(
                "/containers/web?force={text}&v={text}&link={text}"
            ))
            .await;
        answer.status(204);
        assert!(answer.body.is_empty());
        let Call::ContainerRemove {
            id,
            force,
            volumes,
            link,
        } = api.fake.only_call()
        else {
            panic!("not a remove")
        };
        assert_eq!(id, "web");
        assert_eq!((force, volumes, link), (value, value, value), "{text:?}");
    }
    for key in ["force", "v", "link"] {
        refused("DELETE", &format!("/containers/web?{key}=sure"), key).await;
    }
}

#[tokio::test]
async fn rename_requires_a_name() {
    let Call::ContainerRename { id, name } =
        call_of("POST", "/containers/web/rename?name=db").await
    else {
        panic!("not a rename")
    };
    assert_eq!((id.as_str(), name.as_str()), ("web", "db"));
    refused("POST", "/containers/web/rename", "name").await;
    refused("POST", "/containers/web/rename?name=", "name").await;
}

#[tokio::test]
async fn resize_parses_h_and_w() {
    let api = Api::new();
    api.post("/containers/web/resize?h=40&w=120")
        .await
        .status(200);
    let Call::ContainerResize { id, height, width } = api.fake.only_call() else {
        panic!("not a resize")
    };
    assert_eq!((id.as_str(), height, width), ("web", 40, 120));
    for bad in ["h=-1&w=1", "h=1&w=70000", "h=abc&w=1"] {
        refused(
            "POST",
            &format!("/containers/web/resize?{bad}"),
            "expected an integer",
        )
        .await;
    }
    for (query, part) in [
        ("", "h is required"),
        ("?h=1", "w is required"),
        ("?w=1&h=", "h is required"),
    ] {
        refused("POST", &format!("/containers/web/resize{query}"), part).await;
    }
}

#[tokio::test]
async fn update_answers_warnings_and_parses_the_body() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/containers/web/update",
            serde_json::json!({ "Memory": 2048, "RestartPolicy": { "Name": "always" } }),
        )
        .await
        .json(200);
    assert_eq!(doc, serde_json::json!({ "Warnings": [] }));
    let Call::ContainerUpdate { id, body } = api.fake.only_call() else {
        panic!("not an update")
    };
    assert_eq!(id, "web");
    assert_eq!(body.memory, Some(2048));
    assert!(body.restart_policy.is_some());
    // An empty body changes nothing; a malformed one is refused.
    call_of("POST", "/containers/web/update").await;
    let api = Api::new();
    api.call("POST", "/containers/web/update", r#"{"Memory":"lots"}"#)
        .await
        .error_with(400, "invalid JSON in request body");
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn top_answers_titles_and_processes() {
    let api = Api::new();
    let doc = api.get("/containers/web/top?ps_args=aux").await.json(200);
    assert_eq!(doc["Titles"], serde_json::json!(["PID", "CMD"]));
    assert_eq!(doc["Processes"][0][1], "sh");
    let Call::ContainerTop { id, ps_args } = api.fake.only_call() else {
        panic!("not a top")
    };
    assert_eq!((id.as_str(), ps_args.as_deref()), ("web", Some("aux")));
}

#[tokio::test]
async fn prune_answers_the_report_and_parses_filters() {
    let api = Api::new();
    let filters = enc(r#"{"until":{"24h":true},"label":["a"]}"#);
    let doc = api
        .post(&format!("/containers/prune?filters={filters}"))
        .await
        .json(200);
    assert_eq!(doc["ContainersDeleted"][0], CREATED_ID);
    assert_eq!(doc["SpaceReclaimed"], 42);
    let Call::ContainerPrune(f) = api.fake.only_call() else {
        panic!("not a prune")
    };
    assert_eq!(f["until"], ["24h"]);
    assert_eq!(f["label"], ["a"]);
    refused("POST", "/containers/prune?filters=%7B", "invalid filters").await;
}

/// Docker's stdcopy frame of `data` on `stream`.
fn frame(stream: StdStream, data: &[u8]) -> Vec<u8> {
    api_server::stream::stdcopy_frame(stream, data).to_vec()
}

#[tokio::test]
async fn logs_are_multiplexed_without_a_tty() {
    let api = Api::new();
    let answer = api.get("/containers/web/logs?stdout=1&stderr=1").await;
    answer.status(200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let mut expected = frame(StdStream::Stdout, STDOUT_LINE);
    expected.extend(frame(StdStream::Stderr, STDERR_LINE));
    assert_eq!(answer.body, expected);
}

#[tokio::test]
async fn logs_are_raw_with_a_tty_and_prefixed_with_timestamps() {
    let api = Api::new();
    api.fake.set_tty(true);
    let answer = api
        .get("/containers/web/logs?stdout=1&timestamps=true")
        .await;
    answer.status(200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    let expected = format!(
        "{LOG_TIME} {}{LOG_TIME} {}",
        String::from_utf8_lossy(STDOUT_LINE),
        String::from_utf8_lossy(STDERR_LINE)
    );
    assert_eq!(answer.text(), expected);
}

#[tokio::test]
async fn logs_parse_their_options() {
    let Call::ContainerLogs { id, opts } = call_of(
        "GET",
        "/containers/web/logs?follow=1&stdout=True&stderr=0&since=1700000000.5&until=1700000100&timestamps=1&tail=10",
    )
    .await
    else {
        panic!("not logs")
    };
    assert_eq!(id, "web");
    assert!(opts.follow && opts.stdout && !opts.stderr && opts.timestamps);
    assert_eq!(opts.since, Some(1700000000.5));
    assert_eq!(opts.until, Some(1700000100.0));
    assert_eq!(opts.tail, Some(10));

    for (tail, expected) in [("all", None), ("", None), ("-1", None), ("0", Some(0))] {
        let Call::ContainerLogs { opts, .. } =
            call_of("GET", &format!("/containers/web/logs?stderr=1&tail={tail}")).await
        else {
            panic!("not logs")
        };
        assert_eq!(opts.tail, expected, "tail={tail}");
    }
    // since=0 is "from the start", as the CLI sends it.
    let Call::ContainerLogs { opts, .. } =
        call_of("GET", "/containers/web/logs?stderr=1&since=0&until=").await
    else {
        panic!("not logs")
    };
    assert_eq!((opts.since, opts.until, opts.follow), (None, None, false));
}

#[tokio::test]
async fn logs_refuse_malformed_options() {
    refused("GET", "/containers/web/logs", "at least one stream").await;
    refused(
        "GET",
        "/containers/web/logs?stdout=0&stderr=false",
        "at least one stream",
    )
    .await;
    for (query, part) in [
        ("tail=ten", "tail"),
        ("since=yesterday", "since"),
        ("until=12h", "until"),
        ("since=NaN", "since"),
        ("until=inf", "until"),
        ("since=-infinity", "since"),
        ("follow=please", "follow"),
        ("timestamps=2", "timestamps"),
    ] {
        refused(
            "GET",
            &format!("/containers/web/logs?stdout=1&{query}"),
            part,
        )
        .await;
    }
}

#[tokio::test]
async fn attach_streams_the_plan_without_an_upgrade() {
    let api = Api::new();
    let answer = api
        .post(
            "/containers/web/attach?stream=1&stdin=1&stdout=true&stderr=0&logs=1&detachKeys=ctrl-x",
        )
        .await;
    answer.status(200);
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    assert_eq!(answer.body, HIJACKED);
    let Call::ContainerAttach { id, opts } = api.fake.only_call() else {
        panic!("not an attach")
    };
    assert_eq!(id, "web");
    assert!(opts.stream && opts.stdin && opts.stdout && !opts.stderr && opts.logs);
    assert_eq!(opts.detach_keys.as_deref(), Some("ctrl-x"));
    refused("POST", "/containers/web/attach?stdin=maybe", "stdin").await;
}

#[tokio::test]
async fn attach_with_an_upgrade_answers_101() {
    let api = Api::new();
    api.fake.set_tty(true);
    let req = request("POST", "/v1.41/containers/web/attach?stream=1&stdout=1")
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .body(Body::empty())
        .unwrap();
    let answer = api.send(req).await;
    answer.status(101);
    assert_eq!(answer.header("upgrade"), Some("tcp"));
    assert_eq!(answer.header("connection"), Some("Upgrade"));
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
}

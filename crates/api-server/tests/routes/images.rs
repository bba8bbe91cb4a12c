//! `/images/...`: list, pull, import, load, save, prune, and the `{name}` routes
//! whose names carry slashes and colons.

use axum::body::Body;

use crate::fake::Call;
use crate::{b64_json, enc, request, Api, BOOLS};

#[tokio::test]
async fn list_answers_an_array_and_parses_all_filters_and_legacy_filter() {
    let api = Api::new();
    let doc = api.get("/images/json").await.json(200);
    assert_eq!(doc[0]["Id"], "sha256:1111");
    assert_eq!(doc[0]["RepoTags"][0], "busybox:latest");

    for &(text, value) in BOOLS {
        let api = Api::new();
        api.get(&format!("/images/json?all={text}")).await.json(200);
        let Call::ImageList { all, .. } = api.fake.only_call() else {
            panic!("not an image list")
        };
        assert_eq!(all, value, "{text:?}");
    }

    for filters in [r#"{"dangling":["true"]}"#, r#"{"dangling":{"true":true}}"#] {
        let api = Api::new();
        api.get(&format!(
            "/images/json?filters={}&filter=busy*",
            enc(filters)
        ))
        .await
        .json(200);
        let Call::ImageList { filters: f, .. } = api.fake.only_call() else {
            panic!("not an image list")
        };
        assert_eq!(f["dangling"], ["true"]);
        assert_eq!(f["reference"], ["busy*"]);
    }

    let api = Api::new();
    api.get("/images/json?all=perhaps")
        .await
        .error_with(400, "all");
    api.get("/images/json?filters=nope")
        .await
        .error_with(400, "invalid filters");
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn pull_streams_json_messages_and_parses_its_options() {
    let api = Api::new();
    let auth =
        b64_json(serde_json::json!({ "username": "u", "password": "p", "serveraddress": "r.io" }));
    let req = request(
        "POST",
        "/v1.41/images/create?fromImage=r.io%2Fa%2Fb&tag=1.0&platform=linux%2Farm64%2Fv8",
    )
    .header("X-Registry-Auth", auth)
    .body(Body::empty())
    .unwrap();
    let answer = api.send(req).await;
    let lines = answer.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["status"], "Pulling fs layer");
    let Call::ImagePull(opts) = api.fake.only_call() else {
        panic!("not a pull")
    };
    assert_eq!(opts.from_image, "r.io/a/b");
    assert_eq!(opts.tag.as_deref(), Some("1.0"));
    assert_eq!(opts.platform.as_deref(), Some("linux/arm64/v8"));
    assert_eq!(
        (opts.auth.username.as_str(), opts.auth.password.as_str()),
        ("u", "p")
    );
    assert_eq!(opts.auth.serveraddress, "r.io");
}

#[tokio::test]
async fn registry_auth_headers_in_every_alphabet_and_empty_ones_are_accepted() {
    use base64::Engine as _;
    let json = r#"{"username":"u?>","password":"p~~"}"#;
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    for engine in engines {
        let api = Api::new();
        let req = request("POST", "/images/create?fromImage=busybox")
            .header("X-Registry-Auth", engine.encode(json))
            .body(Body::empty())
            .unwrap();
        api.send(req).await.status(200);
        let Call::ImagePull(opts) = api.fake.only_call() else {
            panic!("not a pull")
        };
        assert_eq!(opts.auth.username, "u?>");
    }
    for empty in [
        "",
        "   ",
        &base64::engine::general_purpose::STANDARD.encode(" "),
    ] {
        let api = Api::new();
        let req = request("POST", "/images/busybox/push")
            .header("X-Registry-Auth", empty)
            .body(Body::empty())
            .unwrap();
        api.send(req).await.status(200);
    }
}

#[tokio::test]
async fn malformed_registry_auth_headers_are_refused() {
    for (value, part) in [
        ("!!!", "not base64"),
        (
            b64_json(serde_json::json!(["u", "p"])).as_str(),
            "invalid X-Registry-Auth header: expected a JSON object",
        ),
        (
            b64_json(serde_json::json!({ "username": 5 })).as_str(),
            "invalid X-Registry-Auth header",
        ),
    ] {
        for uri in ["/images/create?fromImage=busybox", "/images/busybox/push"] {
            let api = Api::new();
            let req = request("POST", uri)
                .header("X-Registry-Auth", value)
                .body(Body::empty())
                .unwrap();
            api.send(req).await.error_with(400, part);
            assert!(api.fake.calls().is_empty());
        }
    }
}

#[tokio::test]
async fn credential_headers_that_are_not_ascii_are_refused() {
    let value = axum::http::HeaderValue::from_bytes(b"eyJ\xff\xfe").unwrap();
    for (method, uri, header) in [
        (
            "POST",
            "/images/create?fromImage=busybox",
            "X-Registry-Auth",
        ),
        ("POST", "/images/busybox/push", "X-Registry-Auth"),
        ("POST", "/build", "X-Registry-Config"),
        ("POST", "/build", "X-Berth-Build-Secrets"),
        ("POST", "/build", "X-Berth-Build-Ssh"),
    ] {
        let api = Api::new();
        let req = request(method, uri)
            .header(header, value.clone())
            .body(Body::empty())
            .unwrap();
        let message = api.send(req).await.error_with(400, "not ASCII");
        assert!(message.contains(header), "{message}");
        assert!(api.fake.calls().is_empty());
    }
}

#[tokio::test]
async fn import_reads_the_body_and_parses_its_options() {
    let api = Api::new();
    let answer = api
        .call(
            "POST",
            "/images/create?fromSrc=-&repo=mine&tag=v1&changes=ENV%20A%3D1&changes=CMD%20sh&message=hi&platform=linux%2Famd64",
            "tar bytes",
        )
        .await;
    assert_eq!(
        answer.json_lines(),
        [serde_json::json!({ "status": "sha256:2222" })]
    );
    let Call::ImageImport { body, opts } = api.fake.only_call() else {
        panic!("not an import")
    };
    assert_eq!(body, b"tar bytes");
    assert_eq!(opts.repo.as_deref(), Some("mine"));
    assert_eq!(opts.tag.as_deref(), Some("v1"));
    assert_eq!(opts.changes, ["ENV A=1", "CMD sh"]);
    assert_eq!(opts.message.as_deref(), Some("hi"));
    assert_eq!(opts.platform.as_deref(), Some("linux/amd64"));
}

#[tokio::test]
async fn create_without_a_source_or_from_a_url_is_refused() {
    let api = Api::new();
    api.post("/images/create")
        .await
        .error_with(400, "either fromSrc or fromImage");
    api.post("/images/create?fromImage=")
        .await
        .error_with(400, "either fromSrc or fromImage");
    api.post("/images/create?fromSrc=http%3A%2F%2Fexample.invalid%2Fa.tar")
        .await
        .error_with(501, "importing from a URL");
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn load_answers_one_stream_line_per_image() {
    let api = Api::new();
    let answer = api.call("POST", "/images/load?quiet=1", "archive").await;
    let lines = answer.json_lines();
    assert_eq!(
        lines,
        [
            serde_json::json!({ "stream": "Loaded image: busybox:latest\n" }),
            serde_json::json!({ "stream": "Loaded image ID: sha256:3333\n" }),
        ]
    );
    assert!(matches!(api.fake.only_call(), Call::ImageLoad(b) if b == b"archive"));
    let api = Api::new();
    api.call("POST", "/images/load?quiet=loud", "archive")
        .await
        .error_with(400, "quiet");
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn save_answers_a_tar_of_every_name() {
    let api = Api::new();
    let answer = api
        .get("/images/get?names=busybox&names=r.io%2Fa%3A1")
        .await;
    answer.status(200);
    assert_eq!(answer.header("content-type"), Some("application/x-tar"));
    assert_eq!(answer.body, b"tar bytes");
    let Call::ImageSave(names) = api.fake.only_call() else {
        panic!("not a save")
    };
    assert_eq!(names, ["busybox", "r.io/a:1"]);
    api.get("/images/get")
        .await
        .error_with(400, "no image names");
    assert_eq!(api.fake.calls().len(), 1);
}

#[tokio::test]
async fn prune_answers_the_report_and_parses_filters() {
    let api = Api::new();
    let doc = api
        .post(&format!(
            "/images/prune?filters={}",
            enc(r#"{"dangling":{"false":true}}"#)
        ))
        .await
        .json(200);
    assert_eq!(doc["SpaceReclaimed"], 0);
    let Call::ImagePrune(f) = api.fake.only_call() else {
        panic!("not a prune")
    };
    assert_eq!(f["dangling"], ["false"]);
}

/// Names as the CLI sends them: registry with port, nested repository, tag, digest.
const NAMES: &[&str] = &[
    "busybox",
    "busybox:1.36",
    "localhost:5000/a/b:tag",
    "r.io/org/app@sha256:0123456789abcdef",
    "sha256:1111",
];

#[tokio::test]
async fn inspect_history_and_get_take_names_with_slashes() {
    for name in NAMES {
        let api = Api::new();
        let doc = api.get(&format!("/images/{name}/json")).await.json(200);
        assert_eq!(doc["RepoTags"][0], *name);
        let doc = api
            .get(&format!("/v1.24/images/{name}/history"))
            .await
            .json(200);
        assert_eq!(doc[0]["CreatedBy"], "/bin/sh");
        let answer = api.get(&format!("/images/{name}/get")).await;
        answer.status(200);
        assert_eq!(answer.header("content-type"), Some("application/x-tar"));
        let calls = api.fake.calls();
        assert!(
            matches!(&calls[0], Call::ImageInspect(n) if n == name),
            "{calls:?}"
        );
        assert!(
            matches!(&calls[1], Call::ImageHistory(n) if n == name),
            "{calls:?}"
        );
        assert!(
            matches!(&calls[2], Call::ImageSave(n) if n == &[name.to_string()]),
            "{calls:?}"
        );
    }
}

#[tokio::test]
async fn tag_answers_201_and_requires_a_repo() {
    for name in NAMES {
        let api = Api::new();
        let answer = api
            .post(&format!("/images/{name}/tag?repo=r.io%2Fmine&tag=v2"))
            .await;
        answer.status(201);
        assert!(answer.body.is_empty());
        let Call::ImageTag { name: n, repo, tag } = api.fake.only_call() else {
            panic!("not a tag")
        };
        assert_eq!(
            (n.as_str(), repo.as_str(), tag.as_deref()),
            (*name, "r.io/mine", Some("v2"))
        );
    }
    let api = Api::new();
    api.post("/images/busybox/tag?repo=mine").await.status(201);
    assert!(matches!(
        api.fake.only_call(),
        Call::ImageTag { tag: None, .. }
    ));
    api.post("/images/busybox/tag?tag=v2")
        .await
        .error_with(400, "repo");
}

#[tokio::test]
async fn push_streams_and_parses_tag_and_credentials() {
    let api = Api::new();
    let req = request("POST", "/images/localhost:5000/a/b/push?tag=v1")
        .header(
            "X-Registry-Auth",
            b64_json(serde_json::json!({ "identitytoken": "tok" })),
        )
        .body(Body::empty())
        .unwrap();
    let answer = api.send(req).await;
    assert_eq!(answer.json_lines()[0]["status"], "Pushed");
    let Call::ImagePush { name, tag, auth } = api.fake.only_call() else {
        panic!("not a push")
    };
    assert_eq!(
        (name.as_str(), tag.as_deref()),
        ("localhost:5000/a/b", Some("v1"))
    );
    assert_eq!(auth.identitytoken, "tok");
}

#[tokio::test]
async fn remove_answers_the_deleted_items_and_parses_force_and_noprune() {
    for name in NAMES {
        for &(text, value) in BOOLS {
            let api = Api::new();
            let doc = api
                .delete(&format!("/images/{name}?force={text}&noprune={text}"))
                .await
                .json(200);
            assert_eq!(doc[0]["Untagged"], *name);
            assert_eq!(doc[1]["Deleted"], "sha256:1111");
            let Call::ImageRemove {
                name: n,
                force,
                noprune,
            } = api.fake.only_call()
            else {
                panic!("not a remove")
            };
            assert_eq!((n.as_str(), force, noprune), (*name, value, value));
        }
    }
    let api = Api::new();
    api.delete("/images/busybox?force=x")
        .await
        .error_with(400, "force");
    api.delete("/images/busybox?noprune=x")
        .await
        .error_with(400, "noprune");
    assert!(api.fake.calls().is_empty());
}

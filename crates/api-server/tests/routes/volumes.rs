//! `/volumes/...` and `/system/df`.

use engine_types::DfTypes;

use crate::fake::{Call, CREATED_ID};
use crate::Api;

#[tokio::test]
async fn create_parses_name_driver_options_and_labels() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/volumes/create",
            serde_json::json!({
                "Name": "data",
                "Driver": "local",
                "DriverOpts": { "type": "tmpfs", "device": "tmpfs", "o": "size=1m" },
                "Labels": { "a": "1" },
            }),
        )
        .await
        .json(201);
    assert_eq!(doc["Name"], "data");
    assert_eq!(doc["Driver"], "local");
    let Call::VolumeCreate(req) = api.fake.only_call() else {
        panic!("not a volume create")
    };
    assert_eq!(req.name.as_deref(), Some("data"));
    let opts = req.driver_opts.unwrap();
    assert_eq!(opts["o"], "size=1m");
    assert_eq!(req.labels.unwrap()["a"], "1");
}

#[tokio::test]
async fn create_without_a_body_makes_a_volume_with_a_generated_name() {
    let api = Api::new();
    let doc = api.post("/volumes/create").await.json(201);
    assert_eq!(doc["Name"], CREATED_ID);
    let Call::VolumeCreate(req) = api.fake.only_call() else {
        panic!("not a volume create")
    };
    assert!(req.name.is_none());
    let doc = api
        .post_json("/volumes/create", serde_json::json!({ "Name": 3 }))
        .await
        .json(400);
    assert!(
        doc["message"].as_str().unwrap().contains("invalid JSON"),
        "{doc}"
    );
}

#[tokio::test]
async fn list_inspect_remove_prune() {
    let api = Api::new();
    let doc = api
        .get("/volumes?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D")
        .await
        .json(200);
    assert_eq!(doc["Volumes"][0]["Name"], "v1");
    let Call::VolumeList(f) = api.fake.only_call() else {
        panic!("not a list")
    };
    assert_eq!(f["dangling"], vec!["true".to_string()]);

    let api = Api::new();
    let doc = api.get("/v1.41/volumes/abc").await.json(200);
    assert_eq!(doc["Name"], "abc");
    assert_eq!(doc["Mountpoint"], "/var/lib/berth/volumes/abc/_data");

    for (uri, force) in [("/volumes/abc", false), ("/volumes/abc?force=1", true)] {
        let api = Api::new();
        api.delete(uri).await.status(204);
        let Call::VolumeRemove { name, force: f } = api.fake.only_call() else {
            panic!("not a remove")
        };
        assert_eq!((name.as_str(), f), ("abc", force));
    }
    let api = Api::new();
    api.delete("/volumes/abc?force=maybe").await.error(400);
    assert!(api.fake.calls().is_empty());

    let api = Api::new();
    let doc = api
        .post("/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%2C%22label%22%3A%5B%22a%3D1%22%5D%7D")
        .await
        .json(200);
    assert_eq!(doc["VolumesDeleted"][0], "v1");
    assert_eq!(doc["SpaceReclaimed"], 42);
    let Call::VolumePrune(f) = api.fake.only_call() else {
        panic!("not a prune")
    };
    assert_eq!(f["all"], vec!["true".to_string()]);
    assert_eq!(f["label"], vec!["a=1".to_string()]);
}

#[tokio::test]
async fn system_df_answers_the_pre_1_52_form_and_parses_types() {
    let api = Api::new();
    let doc = api.get("/v1.41/system/df").await.json(200);
    assert_eq!(doc["LayersSize"], 7);
    assert_eq!(doc["Volumes"][0]["UsageData"]["Size"], 42);
    assert_eq!(doc["Volumes"][0]["UsageData"]["RefCount"], 1);
    assert!(doc["Images"].as_array().unwrap().is_empty());
    assert!(doc["BuildCache"].as_array().unwrap().is_empty());
    let Call::SystemDf(t) = api.fake.only_call() else {
        panic!("not df")
    };
    assert_eq!(t, DfTypes::ALL);

    let api = Api::new();
    api.get("/system/df?type=volume&type=image").await.json(200);
    let Call::SystemDf(t) = api.fake.only_call() else {
        panic!("not df")
    };
    assert!(t.volumes && t.images && !t.containers && !t.build_cache);

    let api = Api::new();
    let m = api.get("/system/df?type=nope").await.error(400);
    assert!(m.contains("nope"), "{m}");
    assert!(api.fake.calls().is_empty());
}

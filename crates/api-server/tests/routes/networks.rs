//! `/networks/...`: list, inspect, create, remove, prune, connect, disconnect.

use crate::fake::{Call, CREATED_ID};
use crate::Api;

#[tokio::test]
async fn create_parses_the_body_and_answers_201() {
    let api = Api::new();
    let doc = api
        .post_json(
            "/networks/create",
            serde_json::json!({
                "Name": "front",
                "Internal": true,
                "IPAM": { "Config": [{ "Subnet": "10.9.0.0/24" }] },
                "Options": { "com.docker.network.bridge.enable_icc": "false" },
            }),
        )
        .await
        .json(201);
    assert_eq!(doc["Id"], CREATED_ID);
    let Call::NetworkCreate(req) = api.fake.only_call() else {
        panic!("not a network create")
    };
    assert_eq!(req.name, "front");
    assert_eq!(req.internal, Some(true));
    let subnet = req.ipam.and_then(|i| i.config).unwrap()[0].subnet.clone();
    assert_eq!(subnet.as_deref(), Some("10.9.0.0/24"));
}

#[tokio::test]
async fn create_without_a_body_is_400() {
    let api = Api::new();
    let doc = api.post("/networks/create").await.json(400);
    assert!(doc["message"].as_str().unwrap().contains("empty"), "{doc}");
    let doc = api
        .post_json("/networks/create", serde_json::json!({ "Name": 3 }))
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
        .get("/networks?filters=%7B%22name%22%3A%5B%22br%22%5D%7D")
        .await
        .json(200);
    assert_eq!(doc[0]["Name"], "bridge");
    let Call::NetworkList(f) = api.fake.only_call() else {
        panic!("not a list")
    };
    assert_eq!(f["name"], vec!["br".to_string()]);

    let api = Api::new();
    assert_eq!(api.get("/networks/abc").await.json(200)["Id"], "abc");
    let api = Api::new();
    api.delete("/networks/abc").await.status(204);
    assert!(matches!(api.fake.only_call(), Call::NetworkRemove(id) if id == "abc"));
    let api = Api::new();
    let doc = api.post("/networks/prune").await.json(200);
    assert_eq!(doc["NetworksDeleted"][0], "n");
}

#[tokio::test]
async fn connect_and_disconnect() {
    let api = Api::new();
    api.post_json(
        "/networks/front/connect",
        serde_json::json!({
            "Container": "web",
            "EndpointConfig": { "Aliases": ["www"], "IPAMConfig": { "IPv4Address": "10.9.0.9" } },
        }),
    )
    .await
    .status(200);
    let Call::NetworkConnect(net, req) = api.fake.only_call() else {
        panic!("not a connect")
    };
    assert_eq!((net.as_str(), req.container.as_str()), ("front", "web"));
    let es = req.endpoint_config.unwrap();
    assert_eq!(es.aliases, Some(vec!["www".to_string()]));

    let api = Api::new();
    api.post_json(
        "/networks/front/disconnect",
        serde_json::json!({ "Container": "web", "Force": true }),
    )
    .await
    .status(200);
    let Call::NetworkDisconnect(_, req) = api.fake.only_call() else {
        panic!("not a disconnect")
    };
    assert_eq!(req.force, Some(true));
    let api = Api::new();
    api.post("/networks/front/connect").await.status(400);
}

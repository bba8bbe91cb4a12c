//! `GET /events`, `GET /containers/{id}/stats`, `POST /containers/{id}/pause|unpause`.

use crate::{Api, Call};

#[tokio::test]
async fn events_stream_json_lines_in_dockers_shape() {
    let api = Api::new();
    let answer = api
        .get("/events?since=1700000000&until=1700000001.5&filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%5D%7D")
        .await;
    answer.status(200);
    assert_eq!(answer.headers["content-type"], "application/json");
    let lines: Vec<serde_json::Value> = answer
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["Type"], "container");
    assert_eq!(lines[1]["Action"], "start");
    assert_eq!(lines[1]["status"], "start");
    assert_eq!(lines[1]["id"], "c1");
    assert_eq!(lines[1]["Actor"]["ID"], "c1");
    assert_eq!(lines[1]["Actor"]["Attributes"]["name"], "web");
    assert_eq!(lines[1]["scope"], "local");
    assert_eq!(lines[1]["time"], 2);
    assert_eq!(lines[1]["timeNano"], 2_000_000_002i64);
    let Call::Events(opts) = api.fake.only_call() else {
        panic!("not an events call")
    };
    assert_eq!(opts.since, Some(1_700_000_000_000_000_000));
    assert_eq!(opts.until, Some(1_700_000_001_500_000_000));
    let start = engine_types::events::EventMessage::new(
        engine_types::events::EventType::Container,
        "start",
        "x",
        Default::default(),
        1,
    );
    assert!(opts.filter.matches(&start, ("d", "h")));
    let die = engine_types::events::EventMessage {
        action: "die".into(),
        ..start
    };
    assert!(!opts.filter.matches(&die, ("d", "h")));
}

#[tokio::test]
async fn events_refuse_bad_input_with_400() {
    for uri in [
        "/events?since=yesterday",
        "/events?until=-5",
        "/events?since=10&until=5",
        "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        "/events?filters=%7B%22type%22%3A%5B%22boat%22%5D%7D",
        "/events?filters=%7Bnot-json",
    ] {
        let api = Api::new();
        let message = api.get(uri).await.error(400);
        assert!(!message.is_empty(), "{uri}");
        assert!(api.fake.calls().is_empty(), "{uri}");
    }
}

#[tokio::test]
async fn stats_one_sample_without_streaming() {
    let api = Api::new();
    let answer = api.get("/containers/web/stats?stream=false").await;
    answer.status(200);
    let v: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(v["memory_stats"]["usage"], 1);
    assert_eq!(v["name"], "/web");
    match api.fake.only_call() {
        Call::ContainerStats { id, opts } => {
            assert_eq!(id, "web");
            assert!(!opts.stream && !opts.one_shot);
        }
        other => panic!("{other:?}"),
    }
    let api = Api::new();
    api.get("/containers/web/stats?stream=0&one-shot=1")
        .await
        .status(200);
    match api.fake.only_call() {
        Call::ContainerStats { opts, .. } => assert!(!opts.stream && opts.one_shot),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stats_stream_every_sample_as_a_line() {
    let api = Api::new();
    let answer = api.get("/containers/web/stats").await;
    answer.status(200);
    let usages: Vec<u64> = answer
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["memory_stats"]["usage"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(usages, [1, 2]);
    match api.fake.only_call() {
        Call::ContainerStats { opts, .. } => assert!(opts.stream),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stats_refuse_stream_with_one_shot() {
    let api = Api::new();
    api.get("/containers/web/stats?one-shot=true")
        .await
        .error(400);
    api.get("/containers/web/stats?stream=maybe")
        .await
        .error(400);
    assert!(api.fake.calls().is_empty());
}

#[tokio::test]
async fn pause_and_unpause_answer_204() {
    let api = Api::new();
    api.post("/containers/web/pause").await.status(204);
    api.post("/v1.41/containers/web/unpause").await.status(204);
    let calls = api.fake.calls();
    assert!(matches!(&calls[0], Call::ContainerPause(id) if id == "web"));
    assert!(matches!(&calls[1], Call::ContainerUnpause(id) if id == "web"));
}

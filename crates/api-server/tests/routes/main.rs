//! Handler tests: every route of the table, driven through the router with
//! `tower::ServiceExt::oneshot` (no sockets) against an in-memory backend.

mod fake;

mod archive;
mod build;
mod containers;
mod errors;
mod exec;
mod images;
mod networks;
mod observe;
mod routing;
mod system;
mod volumes;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

use fake::{Call, Fake};

/// The router over a fresh fake backend.
pub struct Api {
    pub fake: Arc<Fake>,
    app: Router,
}

impl Api {
    pub fn new() -> Self {
        let fake = Fake::new();
        let app = api_server::app(fake.clone());
        Self { fake, app }
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A request with no headers: `method uri` and `body`.
    pub async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> Answer {
        self.send(request(method, uri).body(body.into()).unwrap())
            .await
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, Body::empty()).await
    }

    pub async fn post(&self, uri: &str) -> Answer {
        self.call("POST", uri, Body::empty()).await
    }

    pub async fn post_json(&self, uri: &str, json: serde_json::Value) -> Answer {
        let req = request("POST", uri)
            .header("Content-Type", "application/json")
            .body(Body::from(json.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn delete(&self, uri: &str) -> Answer {
        self.call("DELETE", uri, Body::empty()).await
    }
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

/// A request builder for `method uri`.
pub fn request(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

/// A response, its body read to the end.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status; shows the body when it differs.
    #[track_caller]
    pub fn status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text());
        self
    }

    /// Asserts a JSON answer with `status` and returns its document.
    #[track_caller]
    pub fn json(&self, status: u16) -> serde_json::Value {
        self.status(status);
        let ct = self.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/json"), "content-type {ct:?}");
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts a 200 stream of JSON messages, one per line, and returns them.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.status(200);
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Asserts Docker's error answer, `{"message": ...}` and nothing else, with
    /// `status`; returns the message.
    #[track_caller]
    pub fn error(&self, status: u16) -> String {
        let doc = self.json(status);
        let obj = doc.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 1, "error body has only a message: {doc}");
        let message = obj["message"].as_str().expect("message is a string");
        assert!(!message.is_empty(), "empty error message");
        message.to_string()
    }

    /// [`Answer::error`] whose message contains `part`.
    #[track_caller]
    pub fn error_with(&self, status: u16, part: &str) -> String {
        let message = self.error(status);
        assert!(
            message.contains(part),
            "message {message:?} does not contain {part:?}"
        );
        message
    }
}

/// Sends `uri` with `method` and returns the one call it made.
pub async fn call_of(method: &str, uri: &str) -> Call {
    let api = Api::new();
    let answer = api.call(method, uri, Body::empty()).await;
    assert!(
        answer.status < 300,
        "{method} {uri}: {} {}",
        answer.status,
        answer.text()
    );
    api.fake.only_call()
}

/// Sends `uri` with `method`, expects a 400 naming `part`, and no backend call.
pub async fn refused(method: &str, uri: &str, part: &str) -> String {
    let api = Api::new();
    let message = api
        .call(method, uri, Body::empty())
        .await
        .error_with(400, part);
    assert!(api.fake.calls().is_empty(), "{method} {uri}");
    message
}

/// URL-encodes a query value (filters JSON and the like).
pub fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Base64 (standard alphabet) of `json`, as clients send credential headers.
pub fn b64_json(json: serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

/// Boolean spellings Docker clients send, with the value each means.
pub const BOOLS: &[(&str, bool)] = &[
    ("1", true),
    ("true", true),
    ("True", true),
    ("TRUE", true),
    ("0", false),
    ("false", false),
    ("False", false),
    ("", false),
];

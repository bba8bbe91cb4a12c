//! The progress sink: Docker's JSON messages, as `POST /build` streams them.
//!
//! Messages are `serde_json::Value`s shaped like moby's `jsonmessage`:
//! `{"stream":"Step 1/4 : FROM busybox\n"}`, `{"stream":" ---> Using cache\n"}`,
//! `{"aux":{"ID":"sha256:..."}}`, `{"errorDetail":{"code":1,"message":"..."},
//! "error":"..."}`, and pull progress (`{"status":...,"id":...}`) from backends.

use std::sync::Arc;

use serde_json::{json, Value};

type Sink = Arc<dyn Fn(Value) + Send + Sync>;

/// Where build messages go. Cheap to clone; sending never blocks or fails
/// (a sink whose receiver is gone drops messages).
#[derive(Clone)]
pub struct Output {
    sink: Option<Sink>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("discard", &self.sink.is_none())
            .finish()
    }
}

impl Output {
    /// A sink that calls `f` for every message.
    pub fn from_fn(f: impl Fn(Value) + Send + Sync + 'static) -> Self {
        Self {
            sink: Some(Arc::new(f)),
        }
    }

    /// A sink feeding an unbounded channel, and its receiver.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Value>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (
            Self::from_fn(move |v| {
                let _ = tx.send(v);
            }),
            rx,
        )
    }

    /// A sink that drops everything (`-q` builds, tests).
    pub fn discard() -> Self {
        Self { sink: None }
    }

    /// Whether this sink drops everything.
    pub fn is_discard(&self) -> bool {
        self.sink.is_none()
    }

    /// Sends one raw JSON message.
    pub fn send(&self, msg: Value) {
        if let Some(s) = &self.sink {
            s(msg)
        }
    }

    /// `{"stream": text}` (text is sent as is; include the newline).
    pub fn stream(&self, text: impl Into<String>) {
        if self.sink.is_some() {
            self.send(json!({ "stream": text.into() }));
        }
    }

    /// `{"aux": value}`.
    pub fn aux(&self, value: Value) {
        self.send(json!({ "aux": value }));
    }

    /// `{"errorDetail":{"code":code,"message":message},"error":message}`
    /// (`code` omitted when `None`).
    pub fn error(&self, message: &str, code: Option<i64>) {
        let detail = match code {
            Some(c) => json!({ "code": c, "message": message }),
            None => json!({ "message": message }),
        };
        self.send(json!({ "errorDetail": detail, "error": message }));
    }
}

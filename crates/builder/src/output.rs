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

tokio::task_local! {
    /// The stage whose future is being polled (see [`Sequencer`]).
    static STAGE: usize;
}

/// Runs `fut` as stage `i`: what it sends through a [`Sequencer`]'s output
/// counts as that stage's.
pub(crate) async fn in_stage<F: std::future::Future>(i: usize, fut: F) -> F::Output {
    STAGE.scope(i, fut).await
}

/// Orders the messages of stages built in parallel as if they were built one
/// after the other (as the classic builder does): a stage's messages pass
/// through as they come once every stage before it (in `order`) is done, and
/// are held until then. Messages of no stage, or of a stage not in `order`,
/// pass through at once.
pub(crate) struct Sequencer {
    out: Output,
    state: std::sync::Mutex<SeqState>,
}

struct SeqState {
    order: Vec<usize>,
    /// Index in `order` of the stage whose messages pass through.
    pos: usize,
    held: std::collections::HashMap<usize, Vec<Value>>,
    done: std::collections::HashSet<usize>,
}

impl Sequencer {
    pub(crate) fn new(out: Output, order: Vec<usize>) -> Arc<Self> {
        Arc::new(Self {
            out,
            state: std::sync::Mutex::new(SeqState {
                order,
                pos: 0,
                held: Default::default(),
                done: Default::default(),
            }),
        })
    }

    /// The output stages send to.
    pub(crate) fn output(self: &Arc<Self>) -> Output {
        if self.out.is_discard() {
            return Output::discard();
        }
        let seq = self.clone();
        Output::from_fn(move |v| seq.push(STAGE.try_with(|s| *s).ok(), v))
    }

    fn push(&self, stage: Option<usize>, v: Value) {
        let Ok(mut st) = self.state.lock() else {
            return self.out.send(v);
        };
        let current = st.order.get(st.pos).copied();
        match stage {
            Some(s)
                if Some(s) != current && st.order[st.pos.min(st.order.len())..].contains(&s) =>
            {
                st.held.entry(s).or_default().push(v)
            }
            _ => self.out.send(v),
        }
    }

    /// Stage `i` is finished (or failed): the next stages' held messages follow.
    pub(crate) fn done(&self, i: usize) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.done.insert(i);
        while let Some(&cur) = st.order.get(st.pos) {
            if !st.done.contains(&cur) {
                break;
            }
            st.pos += 1;
            if let Some(&next) = st.order.get(st.pos) {
                for v in st.held.remove(&next).unwrap_or_default() {
                    self.out.send(v);
                }
            }
        }
    }

    /// Everything still held, in stage order (at the end of a build, also a
    /// failed one).
    pub(crate) fn flush(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let rest: Vec<usize> = st.order[st.pos.min(st.order.len())..].to_vec();
        for s in rest {
            for v in st.held.remove(&s).unwrap_or_default() {
                self.out.send(v);
            }
        }
        st.pos = st.order.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(m) = rx.try_recv() {
            v.push(m["stream"].as_str().unwrap_or_default().to_string());
        }
        v
    }

    #[tokio::test]
    async fn stages_read_in_order_whatever_order_they_run_in() {
        let (out, mut rx) = Output::channel();
        let seq = Sequencer::new(out, vec![0, 2, 3]);
        let o = seq.output();
        in_stage(2, async { o.stream("2a") }).await;
        in_stage(0, async { o.stream("0a") }).await;
        o.stream("none");
        in_stage(3, async { o.stream("3a") }).await;
        in_stage(2, async { o.stream("2b") }).await;
        assert_eq!(texts(&mut rx), ["0a", "none"]);
        seq.done(2); // finished early: still after stage 0
        assert!(texts(&mut rx).is_empty());
        seq.done(0);
        assert_eq!(texts(&mut rx), ["2a", "2b", "3a"]);
        in_stage(3, async { o.stream("3b") }).await;
        assert_eq!(texts(&mut rx), ["3b"]);
        in_stage(1, async { o.stream("not planned") }).await;
        assert_eq!(texts(&mut rx), ["not planned"]);
    }

    #[tokio::test]
    async fn flush_lets_everything_out() {
        let (out, mut rx) = Output::channel();
        let seq = Sequencer::new(out, vec![0, 1]);
        let o = seq.output();
        in_stage(1, async { o.stream("1a") }).await;
        seq.flush();
        assert_eq!(texts(&mut rx), ["1a"]);
    }
}

//! The event bus: every action the daemon takes on a container, image or
//! network is published here, kept in a bounded journal on disk (so `since`
//! replays survive a restart) and broadcast to `GET /events` subscribers.
//!
//! Publishing never waits for a subscriber: the broadcast channel is bounded,
//! and a subscriber that falls behind by more than its capacity skips the
//! events it missed (with a warning in the log) instead of stalling the daemon.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use api_server::backend::EventStream;
use api_server::events::EventsOptions;
use engine_types::events::{EventMessage, EventType};
use futures::StreamExt;
use tokio::sync::broadcast;

/// Events kept for replay (in memory and, at most twice as many, on disk).
pub const JOURNAL_CAPACITY: usize = 4096;
/// Events a live subscriber may fall behind before it skips.
const SUBSCRIBER_BACKLOG: usize = 1024;

struct Journal {
    recent: VecDeque<EventMessage>,
    path: PathBuf,
    file: Option<std::fs::File>,
    lines_in_file: usize,
    capacity: usize,
    last_nano: i64,
}

impl Journal {
    /// Loads the last `capacity` events of the journal at `path`; unreadable
    /// lines (a torn last write) are skipped.
    fn open(path: &Path, capacity: usize) -> Self {
        let mut recent = VecDeque::with_capacity(capacity);
        let mut lines = 0;
        if let Ok(f) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                lines += 1;
                if let Ok(ev) = serde_json::from_str::<EventMessage>(&line) {
                    if recent.len() == capacity {
                        recent.pop_front();
                    }
                    recent.push_back(ev);
                }
            }
        }
        let last_nano = recent.back().map_or(0, |e| e.time_nano);
        let mut j = Self {
            recent,
            path: path.to_path_buf(),
            file: None,
            lines_in_file: lines,
            capacity,
            last_nano,
        };
        if lines > capacity {
            j.compact();
        }
        j.reopen();
        j
    }

    fn reopen(&mut self) {
        self.file = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot open the event journal; events will not survive a restart");
                None
            }
        };
    }

    /// Rewrites the file with the events kept in memory.
    fn compact(&mut self) {
        let tmp = self.path.with_extension("tmp");
        let mut data = Vec::new();
        for ev in &self.recent {
            if serde_json::to_writer(&mut data, ev).is_ok() {
                data.push(b'\n');
            }
        }
        let res = std::fs::write(&tmp, &data).and_then(|()| std::fs::rename(&tmp, &self.path));
        match res {
            Ok(()) => self.lines_in_file = self.recent.len(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "compacting the event journal")
            }
        }
        self.reopen();
    }

    fn push(&mut self, ev: &EventMessage) {
        self.last_nano = ev.time_nano;
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(ev.clone());
        if let Some(f) = self.file.as_mut() {
            let mut line = serde_json::to_vec(ev).unwrap_or_default();
            line.push(b'\n');
            if let Err(e) = f.write_all(&line) {
                tracing::warn!(error = %e, "writing the event journal");
            }
            self.lines_in_file += 1;
        }
        if self.lines_in_file > 2 * self.capacity {
            self.compact();
        }
    }
}

/// The daemon's event bus.
pub struct EventBus {
    journal: Mutex<Journal>,
    tx: broadcast::Sender<Arc<EventMessage>>,
    /// The daemon's id and name, for the `daemon` filter.
    daemon: (String, String),
}

fn now_nano() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl EventBus {
    /// Opens the journal at `path` (created at the first event).
    pub fn open(path: &Path, capacity: usize, daemon_id: String, daemon_name: String) -> Self {
        let (tx, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        Self {
            journal: Mutex::new(Journal::open(path, capacity)),
            tx,
            daemon: (daemon_id, daemon_name),
        }
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        match self.journal.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Publishes an event stamped now. Times are strictly increasing, so
    /// `since`/`until` cut the journal in one place.
    pub fn publish(
        &self,
        typ: EventType,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let mut j = self.journal();
        let t = now_nano().max(j.last_nano + 1);
        let ev = EventMessage::new(typ, action, id, attributes, t);
        j.push(&ev);
        // Sent under the journal lock: a subscriber sees each event exactly
        // once, either in its replay or live. `send` never blocks.
        let _ = self.tx.send(Arc::new(ev));
    }

    /// A subscription: the journal's events from `since` to `until` (or now),
    /// then live events until `until` (forever without).
    pub fn subscribe(&self, opts: EventsOptions) -> EventStream {
        let now = now_nano();
        let filter = opts.filter;
        let daemon = self.daemon.clone();
        let keep = move |ev: &EventMessage| filter.matches(ev, (&daemon.0, &daemon.1));
        let (past, rx) = {
            let j = self.journal();
            let past: Vec<EventMessage> = match opts.since {
                Some(since) => j
                    .recent
                    .iter()
                    .filter(|e| e.time_nano >= since && opts.until.is_none_or(|u| e.time_nano <= u))
                    .filter(|e| keep(e))
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            (past, self.tx.subscribe())
        };
        let past = futures::stream::iter(past);
        if opts.until.is_some_and(|u| u <= now) {
            return Box::pin(past);
        }
        let until = opts.until;
        let live = futures::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => return Some((ev, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            skipped = n,
                            "an event subscriber fell behind; it skips the events it missed"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .take_while(move |ev| std::future::ready(until.is_none_or(|u| ev.time_nano <= u)))
        .filter_map(move |ev| std::future::ready(keep(&ev).then(|| (*ev).clone())));
        let live: EventStream = match until {
            Some(u) => {
                let wait = std::time::Duration::from_nanos(u.saturating_sub(now).max(0) as u64);
                Box::pin(live.take_until(tokio::time::sleep(wait)))
            }
            None => Box::pin(live),
        };
        Box::pin(past.chain(live))
    }
}

/// Attributes of a container's events: its labels, `image` and `name`.
pub fn container_attributes(rec: &crate::container::ContainerRecord) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = rec
        .config
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    a.insert("image".into(), rec.image.clone());
    a.insert("name".into(), rec.name.clone());
    a
}

impl crate::Daemon {
    /// Publishes a container event with its labels, image and name plus `extra`.
    pub(crate) fn emit_container(
        &self,
        rec: &crate::container::ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut a = container_attributes(rec);
        for (k, v) in extra {
            a.insert((*k).to_string(), v.clone());
        }
        self.bus.publish(EventType::Container, action, &rec.id, a);
    }

    /// Publishes an image event (`name` is the reference the action was on).
    pub(crate) fn emit_image(&self, action: &str, id: &str, name: &str) {
        let mut a = BTreeMap::new();
        a.insert("name".to_string(), name.to_string());
        self.bus.publish(EventType::Image, action, id, a);
    }

    /// Publishes a network event (Berth's networks are all bridges); `extra`
    /// names the container of a connect/disconnect.
    pub(crate) fn emit_network(
        &self,
        action: &str,
        id: &str,
        name: &str,
        extra: &[(&str, String)],
    ) {
        let mut a = BTreeMap::new();
        a.insert("name".to_string(), name.to_string());
        a.insert("type".to_string(), "bridge".to_string());
        for (k, v) in extra {
            a.insert((*k).to_string(), v.clone());
        }
        self.bus.publish(EventType::Network, action, id, a);
    }

    pub(crate) fn events(&self, opts: EventsOptions) -> EventStream {
        self.bus.subscribe(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_server::events::EventFilter;

    fn opts(since: Option<i64>, until: Option<i64>) -> EventsOptions {
        EventsOptions {
            since,
            until,
            filter: EventFilter::default(),
        }
    }

    fn bus(dir: &Path, cap: usize) -> EventBus {
        EventBus::open(&dir.join("events.log"), cap, "D".into(), "h".into())
    }

    fn publish(b: &EventBus, action: &str) {
        b.publish(EventType::Container, action, "c1", BTreeMap::new());
    }

    async fn actions(s: EventStream) -> Vec<String> {
        s.map(|e| e.action).collect().await
    }

    #[tokio::test]
    async fn replay_survives_reopen_and_respects_until() {
        let dir = tempfile::tempdir().unwrap();
        let b = bus(dir.path(), 100);
        publish(&b, "create");
        publish(&b, "start");
        let mid = now_nano();
        publish(&b, "die");
        drop(b);
        let b = bus(dir.path(), 100);
        let now = now_nano();
        assert_eq!(
            actions(b.subscribe(opts(Some(0), Some(now)))).await,
            ["create", "start", "die"]
        );
        assert_eq!(
            actions(b.subscribe(opts(Some(0), Some(mid)))).await,
            ["create", "start"]
        );
        assert_eq!(
            actions(b.subscribe(opts(Some(mid), Some(now)))).await,
            ["die"]
        );
    }

    #[tokio::test]
    async fn journal_is_bounded_and_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let b = bus(dir.path(), 10);
        for i in 0..35 {
            publish(&b, &format!("a{i}"));
        }
        let got = actions(b.subscribe(opts(Some(0), Some(now_nano())))).await;
        assert_eq!(got.len(), 10);
        assert_eq!(got[0], "a25");
        assert_eq!(got[9], "a34");
        let lines = std::fs::read_to_string(dir.path().join("events.log"))
            .unwrap()
            .lines()
            .count();
        assert!(lines <= 20, "{lines} lines on disk");
        drop(b);
        let b = bus(dir.path(), 10);
        let got = actions(b.subscribe(opts(Some(0), Some(now_nano())))).await;
        assert_eq!(got.first().map(String::as_str), Some("a25"));
    }

    #[tokio::test]
    async fn torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let b = bus(dir.path(), 10);
        publish(&b, "create");
        drop(b);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("events.log"))
            .unwrap();
        f.write_all(b"{\"Type\":\"contai").unwrap();
        let b = bus(dir.path(), 10);
        publish(&b, "start");
        let got = actions(b.subscribe(opts(Some(0), Some(now_nano())))).await;
        assert_eq!(got, ["create", "start"]);
    }

    #[tokio::test]
    async fn live_subscriber_gets_events_in_order_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let b = Arc::new(bus(dir.path(), 100));
        publish(&b, "old");
        let s = b.subscribe(opts(Some(0), None));
        for a in ["create", "start", "die", "destroy"] {
            publish(&b, a);
        }
        let got: Vec<String> = s.take(5).map(|e| e.action).collect().await;
        assert_eq!(got, ["old", "create", "start", "die", "destroy"]);
    }

    #[tokio::test]
    async fn slow_subscriber_skips_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let b = bus(dir.path(), 10);
        let mut s = b.subscribe(opts(None, None));
        // Far more than the backlog, with nobody reading: publish returns.
        for i in 0..(SUBSCRIBER_BACKLOG * 3) {
            publish(&b, &format!("e{i}"));
        }
        let first = s.next().await.unwrap();
        // The oldest events were skipped; what arrives is the newest backlog.
        assert_eq!(first.action, format!("e{}", SUBSCRIBER_BACKLOG * 2));
    }

    #[tokio::test]
    async fn until_in_the_future_ends_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let b = bus(dir.path(), 10);
        let until = now_nano() + 200_000_000;
        let s = b.subscribe(opts(None, Some(until)));
        publish(&b, "start");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), actions(s))
            .await
            .unwrap();
        assert_eq!(got, ["start"]);
    }
}

//! Rendering of the Engine API's JSON message streams (pull, push, load,
//! import, build) exactly as docker's `jsonmessage.DisplayJSONMessagesStream`
//! does.
//!
//! On a terminal, every message with an `id` and progress owns one line,
//! which later messages for that id rewrite in place (cursor up, erase line,
//! cursor down); a message without progress ends that block. Progress bars
//! appear only on terminals wider than 110 columns. Off a terminal, progress
//! updates are dropped and every other message is printed once.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use anyhow::Result;
use serde::{Deserialize, Deserializer};

use crate::format::human_size;

/// A field that may be absent or null: its default then (Go's zero value).
fn or_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One message of a JSON message stream (docker's `jsonmessage.JSONMessage`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JsonMessage {
    #[serde(default, deserialize_with = "or_default")]
    pub stream: String,
    #[serde(default, deserialize_with = "or_default")]
    pub status: String,
    /// Present (even as `{}`) on progress messages.
    #[serde(rename = "progressDetail", default)]
    pub progress_detail: Option<Progress>,
    /// The daemon's own rendering of the progress (older daemons).
    #[serde(default, deserialize_with = "or_default")]
    pub progress: String,
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub from: String,
    #[serde(default, deserialize_with = "or_default")]
    pub time: i64,
    #[serde(rename = "timeNano", default, deserialize_with = "or_default")]
    pub time_nano: i64,
    #[serde(rename = "errorDetail", default)]
    pub error_detail: Option<ErrorDetail>,
    /// Only ancient daemons send `error` without `errorDetail`.
    #[serde(default, deserialize_with = "or_default")]
    pub error: String,
    #[serde(default)]
    pub aux: Option<AuxPayload>,
}

/// `errorDetail` of a message.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "or_default")]
    pub message: String,
}

/// An `aux` payload: an object of the kinds Berth reads, or anything else
/// (BuildKit traces, payloads of newer daemons), which is skipped.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AuxPayload {
    Known(Aux),
    Other(serde::de::IgnoredAny),
}

/// The `aux` objects of build (the image id) and push (the pushed digest,
/// and docker's notes about indexes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Aux {
    /// The built image's id.
    #[serde(rename = "ID", default, deserialize_with = "or_default")]
    pub id: String,
    #[serde(rename = "Tag", default, deserialize_with = "or_default")]
    pub tag: String,
    #[serde(rename = "Digest", default, deserialize_with = "or_default")]
    pub digest: String,
    #[serde(rename = "Size", default, deserialize_with = "or_default")]
    pub size: i64,
    #[serde(
        rename = "manifestPushedInsteadOfIndex",
        default,
        deserialize_with = "or_default"
    )]
    pub manifest_pushed_instead_of_index: bool,
    #[serde(rename = "originalIndex", default)]
    pub original_index: Option<AuxDescriptor>,
    #[serde(rename = "selectedManifest", default)]
    pub selected_manifest: Option<AuxDescriptor>,
    #[serde(rename = "contentMissing", default, deserialize_with = "or_default")]
    pub content_missing: bool,
}

/// The part of an OCI descriptor the push notes show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuxDescriptor {
    #[serde(default, deserialize_with = "or_default")]
    pub digest: String,
}

/// An error reported inside a JSON message stream (`errorDetail`).
#[derive(Debug)]
pub struct StreamError {
    pub message: String,
    /// Exit code a failed build step reported, if any.
    pub code: Option<i64>,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StreamError {}

/// `progressDetail` of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Progress {
    #[serde(default, deserialize_with = "or_default")]
    pub current: i64,
    #[serde(default, deserialize_with = "or_default")]
    pub total: i64,
    #[serde(default, deserialize_with = "or_default")]
    pub start: i64,
    #[serde(rename = "hidecounts", default, deserialize_with = "or_default")]
    pub hide_counts: bool,
    #[serde(default, deserialize_with = "or_default")]
    pub units: String,
}

impl Progress {
    /// `JSONProgress.String()`: `[=====>     ]  1.2MB/3.4MB 5s`, for a
    /// terminal `width` columns wide at unix time `now_nanos`.
    pub fn render(&self, width: usize, now_nanos: i128) -> String {
        if self.current <= 0 && self.total <= 0 {
            return String::new();
        }
        if self.total <= 0 {
            return if self.units.is_empty() {
                format!("{:>8}", human_size(self.current as f64))
            } else {
                format!("{} {}", self.current, self.units)
            };
        }
        let percentage = (((self.current as f64 / self.total as f64) * 100.0) as i64 / 2).min(50);
        let mut pb_box = String::new();
        if width > 110 {
            let pct = percentage.max(0) as usize;
            pb_box = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
        }
        let numbers_box = if self.hide_counts {
            String::new()
        } else if self.units.is_empty() {
            let current = human_size(self.current as f64);
            if self.current > self.total {
                format!("{current:>8}")
            } else {
                format!("{current:>8}/{}", human_size(self.total as f64))
            }
        } else if self.current > self.total {
            format!("{} {}", self.current, self.units)
        } else {
            format!("{}/{} {}", self.current, self.total, self.units)
        };
        let mut time_left = String::new();
        if width > 50 && self.current > 0 && self.start > 0 && percentage < 50 {
            let from_start = now_nanos - i128::from(self.start) * 1_000_000_000;
            let per_entry = from_start / i128::from(self.current);
            let left = i128::from(self.total - self.current) * per_entry;
            time_left = format!(" {}", go_duration_secs(left));
        }
        format!("{pb_box}{numbers_box}{time_left}")
    }
}

/// Go's `Duration.Round(time.Second).String()` for a duration in nanoseconds.
fn go_duration_secs(nanos: i128) -> String {
    let neg = nanos < 0;
    let abs = nanos.abs();
    let mut secs = abs / 1_000_000_000;
    if abs % 1_000_000_000 >= 500_000_000 {
        secs += 1;
    }
    if secs == 0 {
        return "0s".into();
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let body = if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Width of the terminal behind `fd`, 200 when unknown (as docker).
fn terminal_width<Fd: rustix::fd::AsFd>(fd: Fd) -> usize {
    match rustix::termios::tcgetwinsize(fd) {
        Ok(ws) if ws.ws_col > 0 => usize::from(ws.ws_col),
        _ => 200,
    }
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Renders docker's jsonmessage stream.
pub struct JsonDisplay {
    out: Box<dyn Write + Send>,
    tty: bool,
    /// Terminal width (progress bars need more than 110 columns).
    width: usize,
    /// Line of each id in the current progress block.
    ids: HashMap<String, usize>,
    /// Clock override for tests (unix nanoseconds).
    now: Option<i128>,
    /// `aux.ID` values seen (build's image id).
    pub aux_ids: Vec<String>,
    /// Every `aux` payload seen, in order (push digests, notes).
    pub aux: Vec<Aux>,
}

impl JsonDisplay {
    /// Displays to stdout (or stderr), detecting a terminal and its width.
    pub fn new(to_stderr: bool) -> Self {
        if to_stderr {
            let tty = std::io::stderr().is_terminal();
            let width = terminal_width(std::io::stderr());
            Self::with_writer(Box::new(std::io::stderr()), tty).width(width)
        } else {
            let tty = std::io::stdout().is_terminal();
            let width = terminal_width(std::io::stdout());
            Self::with_writer(Box::new(std::io::stdout()), tty).width(width)
        }
    }

    /// Displays into any writer (`tty` selects in-place progress updates).
    pub fn with_writer(out: Box<dyn Write + Send>, tty: bool) -> Self {
        JsonDisplay {
            out,
            tty,
            width: 200,
            ids: HashMap::new(),
            now: None,
            aux_ids: Vec::new(),
            aux: Vec::new(),
        }
    }

    /// Sets the terminal width used for progress bars.
    pub fn width(mut self, width: usize) -> Self {
        self.width = width;
        self
    }

    /// Fixes the clock (unix nanoseconds) for the time-left estimate.
    #[cfg(test)]
    pub fn clock(mut self, now_nanos: i128) -> Self {
        self.now = Some(now_nanos);
        self
    }

    /// Handles one message; returns Err for an error message.
    pub fn show(&mut self, m: &JsonMessage) -> Result<()> {
        match &m.aux {
            Some(AuxPayload::Known(aux)) => {
                if !aux.id.is_empty() {
                    self.aux_ids.push(aux.id.clone());
                }
                self.aux.push(aux.clone());
                return Ok(());
            }
            Some(AuxPayload::Other(_)) => return Ok(()),
            None => {}
        }
        let id = m.id.as_str();
        let progress = m.progress_detail.as_ref();
        let progress_msg = m.progress.as_str();
        let mut diff = 0;
        if !id.is_empty() && (progress.is_some() || !progress_msg.is_empty()) {
            let line = match self.ids.get(id) {
                Some(l) => *l,
                None => {
                    let l = self.ids.len();
                    self.ids.insert(id.to_string(), l);
                    if self.tty {
                        self.out.write_all(b"\n")?;
                    }
                    l
                }
            };
            diff = self.ids.len() - line;
            if self.tty {
                write!(self.out, "\x1b[{diff}A")?;
            }
        } else {
            // Anything that is not progress ends the current block.
            self.ids.clear();
        }
        let r = self.display(m, id, progress, progress_msg);
        if !id.is_empty() && self.tty && diff > 0 {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()?;
        r
    }

    /// `JSONMessage.Display`.
    fn display(
        &mut self,
        m: &JsonMessage,
        id: &str,
        progress: Option<&Progress>,
        progress_msg: &str,
    ) -> Result<()> {
        if let Some(d) = &m.error_detail {
            return Err(StreamError {
                message: d.message.clone(),
                code: d.code,
            }
            .into());
        }
        if !m.error.is_empty() {
            return Err(StreamError {
                message: m.error.clone(),
                code: None,
            }
            .into());
        }
        let stream = m.stream.as_str();
        let status = m.status.as_str();
        let now = self.now.unwrap_or_else(now_nanos);
        let rendered = progress.map(|p| p.render(self.width, now));
        let mut endl = "";
        if self.tty && stream.is_empty() && progress.is_some() {
            self.out.write_all(b"\x1b[2K\r")?;
            endl = "\r";
        } else if rendered.as_deref().is_some_and(|r| !r.is_empty()) {
            // No progress bars off a terminal.
            return Ok(());
        }
        let (time_nano, time) = (m.time_nano, m.time);
        if time_nano != 0 || time != 0 {
            let nanos = if time_nano != 0 {
                time_nano
            } else {
                time.saturating_mul(1_000_000_000)
            };
            let t = chrono::DateTime::from_timestamp_nanos(nanos).with_timezone(&chrono::Local);
            write!(
                self.out,
                "{} ",
                t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            )?;
        }
        if !id.is_empty() {
            write!(self.out, "{id}: ")?;
        }
        if !m.from.is_empty() {
            write!(self.out, "(from {}) ", m.from)?;
        }
        match rendered {
            Some(r) if self.tty => write!(self.out, "{status} {r}{endl}")?,
            _ if !progress_msg.is_empty() => write!(self.out, "{status} {progress_msg}{endl}")?,
            _ if !stream.is_empty() => write!(self.out, "{stream}{endl}")?,
            _ => writeln!(self.out, "{status}{endl}")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A pull of a two-layer image as dockerd 20.10 streamed it.
    const PULL: &str = r#"{"status":"Pulling from library/app","id":"1"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbbbbbbbbbbb"}
{"status":"Downloading","progressDetail":{"current":1000,"total":4000,"start":100},"progress":"[============\u003e                                      ]     1kB/4kB","id":"aaaaaaaaaaaa"}
{"status":"Downloading","progressDetail":{"current":4000,"total":4000,"start":100},"progress":"[==================================================\u003e]     4kB/4kB","id":"aaaaaaaaaaaa"}
{"status":"Verifying Checksum","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"status":"Download complete","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"status":"Download complete","progressDetail":{},"id":"bbbbbbbbbbbb"}
{"status":"Extracting","progressDetail":{"current":4000,"total":4000},"progress":"[==================================================\u003e]     4kB/4kB","id":"aaaaaaaaaaaa"}
{"status":"Pull complete","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbbbbbbbbbbb"}
{"status":"Digest: sha256:0123"}
{"status":"Status: Downloaded newer image for 127.0.0.1:5000/app:1"}
"#;

    fn render(stream: &str, tty: bool, width: usize) -> (String, Result<()>) {
        let buf = Buf::default();
        let mut d = JsonDisplay::with_writer(Box::new(buf.clone()), tty)
            .width(width)
            .clock(103 * 1_000_000_000);
        let mut result = Ok(());
        for line in stream.lines().filter(|l| !l.trim().is_empty()) {
            let v: JsonMessage = serde_json::from_str(line).unwrap();
            if let Err(e) = d.show(&v) {
                result = Err(e);
                break;
            }
        }
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        (out, result)
    }

    #[test]
    fn non_tty_prints_each_status_without_bars() {
        let (out, r) = render(PULL, false, 200);
        r.unwrap();
        assert_eq!(
            out,
            "1: Pulling from library/app\n\
             aaaaaaaaaaaa: Pulling fs layer\n\
             bbbbbbbbbbbb: Pulling fs layer\n\
             aaaaaaaaaaaa: Verifying Checksum\n\
             aaaaaaaaaaaa: Download complete\n\
             bbbbbbbbbbbb: Download complete\n\
             aaaaaaaaaaaa: Pull complete\n\
             bbbbbbbbbbbb: Pull complete\n\
             Digest: sha256:0123\n\
             Status: Downloaded newer image for 127.0.0.1:5000/app:1\n"
        );
    }

    #[test]
    fn tty_rewrites_lines_in_place() {
        let (out, r) = render(PULL, true, 200);
        r.unwrap();
        let bar1 = format!("[{}>{}] ", "=".repeat(12), " ".repeat(38));
        let bar_full = format!("[{}>] ", "=".repeat(50));
        let expected = [
            "1: Pulling from library/app\n".to_string(),
            // new id: newline, up 1, erase, text, down 1
            "\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B".into(),
            "\n\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B".into(),
            // aaaa is two lines up; 3 seconds for 1000 of 4000 bytes: 9s left
            format!("\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading {bar1}     1kB/4kB 9s\r\x1b[2B"),
            format!("\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading {bar_full}     4kB/4kB\r\x1b[2B"),
            "\x1b[2A\x1b[2K\raaaaaaaaaaaa: Verifying Checksum \r\x1b[2B".into(),
            "\x1b[2A\x1b[2K\raaaaaaaaaaaa: Download complete \r\x1b[2B".into(),
            "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Download complete \r\x1b[1B".into(),
            format!("\x1b[2A\x1b[2K\raaaaaaaaaaaa: Extracting {bar_full}     4kB/4kB\r\x1b[2B"),
            "\x1b[2A\x1b[2K\raaaaaaaaaaaa: Pull complete \r\x1b[2B".into(),
            "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pull complete \r\x1b[1B".into(),
            "Digest: sha256:0123\n".into(),
            "Status: Downloaded newer image for 127.0.0.1:5000/app:1\n".into(),
        ]
        .concat();
        assert_eq!(out, expected);
        // A narrow terminal gets no bar, only the counts.
        let (narrow, _) = render(PULL, true, 80);
        assert!(
            narrow.contains("aaaaaaaaaaaa: Downloading      1kB/4kB 9s\r"),
            "{narrow:?}"
        );
    }

    #[test]
    fn errors_stop_the_stream() {
        let s = r#"{"status":"The push refers to repository [127.0.0.1:5000/x]"}
{"status":"Preparing","progressDetail":{},"id":"cccccccccccc"}
{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}
{"status":"never shown"}
"#;
        let (out, r) = render(s, false, 200);
        let e = r.unwrap_err();
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        assert!(e.downcast_ref::<StreamError>().is_some());
        assert_eq!(
            out,
            "The push refers to repository [127.0.0.1:5000/x]\ncccccccccccc: Preparing\n"
        );
    }

    #[test]
    fn aux_and_stream_messages() {
        let buf = Buf::default();
        let mut d = JsonDisplay::with_writer(Box::new(buf.clone()), false);
        let msg = |s: &str| -> JsonMessage { serde_json::from_str(s).unwrap() };
        d.show(&msg(r#"{"stream": "Step 1/2 : FROM x\n"}"#))
            .unwrap();
        d.show(&msg(r#"{"aux": {"ID": "sha256:abc"}}"#)).unwrap();
        d.show(&msg(
            r#"{"status": "1: digest: sha256:d size: 527", "progressDetail": {}, "aux": null}"#,
        ))
        .unwrap();
        d.show(&msg(
            r#"{"progressDetail": {}, "aux": {"Tag": "1", "Digest": "sha256:d", "Size": 527}}"#,
        ))
        .unwrap();
        // A BuildKit trace (a string) is skipped, not an error.
        d.show(&msg(r#"{"id": "moby.buildkit.trace", "aux": "Cg=="}"#))
            .unwrap();
        assert_eq!(d.aux_ids, ["sha256:abc"]);
        assert_eq!(d.aux.len(), 2);
        assert_eq!(d.aux[1].digest, "sha256:d");
        assert_eq!(d.aux[1].size, 527);
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out, "Step 1/2 : FROM x\n1: digest: sha256:d size: 527\n");
    }

    #[test]
    fn progress_strings() {
        let p = Progress {
            current: 5_000_000,
            total: 0,
            ..Default::default()
        };
        assert_eq!(p.render(200, 0), "     5MB");
        let p = Progress {
            current: 3,
            total: 10,
            units: "layers".into(),
            ..Default::default()
        };
        assert_eq!(p.render(80, 0), "3/10 layers");
        let p = Progress {
            current: 12,
            total: 10,
            ..Default::default()
        };
        assert_eq!(p.render(80, 0), "     12B");
        assert_eq!(go_duration_secs(3_723_400_000_000), "1h2m3s");
        assert_eq!(go_duration_secs(65_600_000_000), "1m6s");
        assert_eq!(go_duration_secs(400_000_000), "0s");
    }
}

#![forbid(unsafe_code)]
//! Docker's `json-file` log driver.
//!
//! Each line a container writes becomes one JSON record on its own line:
//! `{"log":"line\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`.
//! [`LogWriter`] (sync, used in the shim) appends records with `O_APPEND`, whole records per
//! `write(2)` (the records of one [`LogWriter::write`] call together), and rotates (`path` ->
//! `path.1` -> ... -> `path.<max_file-1>`) when the
//! file would exceed `max_size`. [`read_logs`] (async) reads the rotated files oldest
//! first, with stream/since/until/tail filters and follow (inotify on the directory, no
//! polling). A torn last record (a crash mid-write, or a record still being written) is
//! never returned half: in follow mode it is completed by the next write, otherwise
//! skipped.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

/// Docker splits lines longer than this into several records (only the last one ends
/// with `\n`).
pub const MAX_LINE: usize = 16 * 1024;

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Errors of the log driver.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log file {path}: {context}: {source}")]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl errdefs::HasKind for LogError {
    fn kind(&self) -> errdefs::ErrorKind {
        match self {
            LogError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                errdefs::ErrorKind::NotFound
            }
            LogError::Io { .. } => errdefs::ErrorKind::Internal,
        }
    }
}

fn io_err<'a>(
    path: &'a Path,
    context: &'static str,
) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        context,
        source,
    }
}

#[derive(Serialize)]
struct RecordOut<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

#[derive(Deserialize)]
struct RecordIn {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

/// Writer of a json-file log (sync; used by the shim).
pub struct LogWriter {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    partial: [Vec<u8>; 2],
    /// Encoded records of the current `write`/`flush` call, written at its end.
    batch: Vec<u8>,
}

fn open_append(path: &Path) -> Result<(std::fs::File, u64), LogError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(io_err(path, "open"))?;
    let size = file.metadata().map_err(io_err(path, "stat"))?.len();
    Ok((file, size))
}

impl LogWriter {
    /// Opens (appending to) the log at `path`. `max_size` `None` = never rotate;
    /// `max_file` is the number of files kept, the current one included (at least 1).
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> Result<Self, LogError> {
        let (file, size) = open_append(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.filter(|m| *m > 0),
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
            batch: Vec::new(),
        })
    }

    /// Appends output of `stream`: each complete line becomes a record; a partial
    /// line is kept until its newline, [`flush`](Self::flush), or [`MAX_LINE`] bytes.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<(), LogError> {
        let idx = stream as usize;
        let mut rest = data;
        while !rest.is_empty() {
            let buf_len = self.partial[idx].len();
            match rest.iter().position(|b| *b == b'\n') {
                Some(nl) if buf_len + nl < MAX_LINE => {
                    let mut line = std::mem::take(&mut self.partial[idx]);
                    line.extend_from_slice(&rest[..=nl]);
                    self.emit(stream, &line)?;
                    rest = &rest[nl + 1..];
                }
                _ => {
                    let take = (MAX_LINE - buf_len).min(rest.len());
                    self.partial[idx].extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.partial[idx].len() >= MAX_LINE {
                        let line = std::mem::take(&mut self.partial[idx]);
                        self.emit(stream, &line)?;
                    }
                }
            }
        }
        self.write_batch()
    }

    /// Writes the buffered partial lines (without a newline), as Docker does when the
    /// container exits.
    pub fn flush(&mut self) -> Result<(), LogError> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.partial[stream as usize]);
            if !line.is_empty() {
                self.emit(stream, &line)?;
            }
        }
        self.write_batch()
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) -> Result<(), LogError> {
        let text = String::from_utf8_lossy(line);
        let time = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut rec = serde_json::to_vec(&RecordOut {
            log: &text,
            stream: stream.as_str(),
            time: &time,
        })
        .map_err(|e| LogError::Io {
            path: self.path.clone(),
            context: "encode record",
            source: e.into(),
        })?;
        rec.push(b'\n');
        if let Some(max) = self.max_size {
            let used = self.size + self.batch.len() as u64;
            if used > 0 && used + rec.len() as u64 > max {
                self.write_batch()?;
                self.rotate()?;
            }
        }
        self.batch.extend_from_slice(&rec);
        Ok(())
    }

    /// Writes the records encoded so far with one `write(2)` (whole records only).
    fn write_batch(&mut self) -> Result<(), LogError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.batch);
        self.size += self.batch.len() as u64;
        self.batch.clear();
        res.map_err(io_err(&self.path, "write"))
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        if self.max_file <= 1 {
            self.file
                .set_len(0)
                .map_err(io_err(&self.path, "truncate"))?;
            self.size = 0;
            return Ok(());
        }
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let last = rotated(self.max_file - 1);
        if let Err(e) = std::fs::remove_file(&last) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(io_err(&last, "remove")(e));
            }
        }
        for n in (1..self.max_file - 1).rev() {
            let from = rotated(n);
            if let Err(e) = std::fs::rename(&from, rotated(n + 1)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(io_err(&from, "rename")(e));
                }
            }
        }
        std::fs::rename(&self.path, rotated(1)).map_err(io_err(&self.path, "rename"))?;
        let (file, size) = open_append(&self.path)?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "flushing log on close");
        }
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub tail: Option<usize>,
    pub follow: bool,
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    pub time: DateTime<Utc>,
    pub line: bytes::Bytes,
}

/// Reads the log at `path` and its rotated files (`path.N` ... `path.1`, `path`), oldest
/// first. With `follow`, keeps waiting for new records (following rotation) until
/// `stop` turns true (or its sender is dropped), then returns what was written up to
/// then and ends. A missing log reads as empty.
pub fn read_logs(
    path: PathBuf,
    opts: ReadOptions,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> impl futures::Stream<Item = Result<LogEntry, LogError>> + Send + 'static {
    let reader = Reader {
        path,
        opts,
        stop,
        files: VecDeque::new(),
        cur: None,
        partial: Vec::new(),
        out: VecDeque::new(),
        started: false,
        watch: None,
        stopping: false,
        done: false,
    };
    futures::stream::unfold(reader, |mut r| async move {
        r.next().await.map(|item| (item, r))
    })
}

fn decode(rec: &[u8]) -> Option<LogEntry> {
    let rec: RecordIn = match serde_json::from_slice(rec) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "skipping undecodable log record");
            return None;
        }
    };
    let stream = match rec.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    Some(LogEntry {
        stream,
        time: rec.time,
        line: bytes::Bytes::from(rec.log.into_bytes()),
    })
}

fn wanted(opts: &ReadOptions, e: &LogEntry) -> bool {
    let stream_ok = match e.stream {
        Stream::Stdout => opts.stdout,
        Stream::Stderr => opts.stderr,
    };
    stream_ok && opts.since.is_none_or(|s| e.time >= s) && opts.until.is_none_or(|u| e.time <= u)
}

const TAIL_CHUNK: u64 = 64 * 1024;

fn read_at(f: &mut std::fs::File, start: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    f.seek(std::io::SeekFrom::Start(start))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

/// The offset just after the last newline of `f` (a torn last record is excluded).
fn complete_end(f: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    let mut pos = len;
    while pos > 0 {
        let start = pos.saturating_sub(TAIL_CHUNK);
        let chunk = read_at(f, start, (pos - start) as usize)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Collects wanted records of `f[..end]`, newest first, until `out` holds `n`.
/// Returns true when an entry older than `since` was met (older files need no scan).
fn scan_back(
    f: &mut std::fs::File,
    end: u64,
    opts: &ReadOptions,
    n: usize,
    out: &mut Vec<LogEntry>,
) -> std::io::Result<bool> {
    // `buf` holds the bytes [pos, unprocessed end) and ends with a newline.
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = end;
    loop {
        if out.len() >= n {
            return Ok(false);
        }
        if buf.is_empty() {
            if pos == 0 {
                return Ok(false);
            }
            let start = pos.saturating_sub(TAIL_CHUNK);
            buf = read_at(f, start, (pos - start) as usize)?;
            pos = start;
            continue;
        }
        let body_end = buf.len() - 1;
        let (rec_start, keep) = match buf[..body_end].iter().rposition(|b| *b == b'\n') {
            Some(i) => (i + 1, i + 1),
            None if pos == 0 => (0, 0),
            None => {
                let start = pos.saturating_sub(TAIL_CHUNK);
                let mut chunk = read_at(f, start, (pos - start) as usize)?;
                chunk.extend_from_slice(&buf);
                buf = chunk;
                pos = start;
                continue;
            }
        };
        if let Some(e) = decode(&buf[rec_start..body_end]) {
            if opts.since.is_some_and(|s| e.time < s) {
                return Ok(true);
            }
            if wanted(opts, &e) {
                out.push(e);
            }
        }
        buf.truncate(keep);
    }
}

type MainState = Option<(std::fs::File, u64, u64)>;

/// `--tail n`: reads the files backwards from their ends (newest first), so a tail
/// of a large log costs what it returns. Also returns the main file positioned after
/// its last complete record, for follow.
fn tail_scan(
    main: &Path,
    rotated: &[PathBuf],
    opts: &ReadOptions,
    n: usize,
) -> Result<(Vec<LogEntry>, MainState), LogError> {
    use std::io::Seek;
    let mut newest_first = Vec::new();
    let mut main_state = None;
    let mut older = true;
    match std::fs::File::open(main) {
        Ok(mut f) => {
            let md = f.metadata().map_err(io_err(main, "stat"))?;
            let end = complete_end(&mut f, md.len()).map_err(io_err(main, "read"))?;
            if n > 0 {
                older = !scan_back(&mut f, end, opts, n, &mut newest_first)
                    .map_err(io_err(main, "read"))?;
            }
            f.seek(std::io::SeekFrom::Start(end))
                .map_err(io_err(main, "seek"))?;
            main_state = Some((f, end, md.ino()));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(main, "open")(e)),
    }
    for p in rotated.iter().rev() {
        if !older || newest_first.len() >= n {
            break;
        }
        match std::fs::File::open(p) {
            Ok(mut f) => {
                let len = f.metadata().map_err(io_err(p, "stat"))?.len();
                let end = complete_end(&mut f, len).map_err(io_err(p, "read"))?;
                older = !scan_back(&mut f, end, opts, n, &mut newest_first)
                    .map_err(io_err(p, "read"))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(p, "open")(e)),
        }
    }
    newest_first.reverse();
    Ok((newest_first, main_state))
}

struct Cur {
    reader: BufReader<tokio::fs::File>,
    path: PathBuf,
    ino: u64,
    pos: u64,
    is_main: bool,
}

struct Reader {
    path: PathBuf,
    opts: ReadOptions,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Files still to open, oldest first.
    files: VecDeque<PathBuf>,
    cur: Option<Cur>,
    /// A record read without its newline (torn or still being written).
    partial: Vec<u8>,
    out: VecDeque<LogEntry>,
    started: bool,
    watch: Option<inotify::EventStream<Vec<u8>>>,
    stopping: bool,
    done: bool,
}

enum Step {
    Line(Vec<u8>),
    Eof,
}

impl Reader {
    /// The rotated files (`path.N` ... `path.1`), oldest first.
    fn rotated_files(&self) -> Vec<PathBuf> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Vec::new();
        };
        let prefix = format!("{name}.");
        let mut found: Vec<(u32, PathBuf)> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n: u32 = e
                        .file_name()
                        .to_str()?
                        .strip_prefix(&prefix)?
                        .parse()
                        .ok()?;
                    Some((n, e.path()))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        found.sort_by_key(|e| std::cmp::Reverse(e.0));
        found.into_iter().map(|(_, p)| p).collect()
    }

    /// Opens the file written right after the one with inode `ino` (a rotated file
    /// or the main file); None when `ino` is still the main file. Names shift while
    /// the writer rotates, so the file is opened first and then checked to still be
    /// the name right after `ino`'s: the pair was adjacent at that moment, and the
    /// open file stays the same whatever is renamed later. A file already deleted by
    /// rotation continues with the oldest one left.
    async fn open_after(&self, ino: u64) -> Result<Option<Cur>, LogError> {
        for _ in 0..200 {
            let mut chain = self.rotated_files();
            chain.push(self.path.clone());
            let ino_of = |p: &Path| std::fs::metadata(p).ok().map(|m| m.ino());
            let next = match chain.iter().position(|p| ino_of(p) == Some(ino)) {
                Some(i) if i + 1 == chain.len() => return Ok(None),
                Some(i) => i + 1,
                None => 0,
            };
            let path = chain[next].clone();
            match tokio::fs::File::open(&path).await {
                Ok(f) => {
                    let opened = f.metadata().await.map_err(io_err(&path, "stat"))?.ino();
                    let adjacent = next == 0 || ino_of(&chain[next - 1]) == Some(ino);
                    if adjacent && ino_of(&path) == Some(opened) {
                        return Ok(Some(Cur {
                            reader: BufReader::new(f),
                            is_main: next + 1 == chain.len(),
                            path,
                            ino: opened,
                            pos: 0,
                        }));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path, "open")(e)),
            }
            // A rotation is under way: look again.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        Ok(None)
    }

    fn accept(&self, rec: &[u8]) -> Option<LogEntry> {
        decode(rec).filter(|e| wanted(&self.opts, e))
    }

    async fn open_next(&mut self) -> Result<bool, LogError> {
        while let Some(p) = self.files.pop_front() {
            let is_main = self.files.is_empty();
            match tokio::fs::File::open(&p).await {
                Ok(f) => {
                    let ino = f.metadata().await.map_err(io_err(&p, "stat"))?.ino();
                    self.partial.clear();
                    self.cur = Some(Cur {
                        reader: BufReader::new(f),
                        path: p,
                        ino,
                        pos: 0,
                        is_main,
                    });
                    return Ok(true);
                }
                // Rotated away or not created yet.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if is_main {
                        self.cur = None;
                        return Ok(false);
                    }
                }
                Err(e) => return Err(io_err(&p, "open")(e)),
            }
        }
        Ok(false)
    }

    /// Reads one complete line of the current file.
    async fn step(&mut self) -> Result<Step, LogError> {
        let Some(cur) = self.cur.as_mut() else {
            return Ok(Step::Eof);
        };
        let n = cur
            .reader
            .read_until(b'\n', &mut self.partial)
            .await
            .map_err(io_err(&cur.path, "read"))?;
        cur.pos += n as u64;
        if self.partial.last() == Some(&b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.pop();
            return Ok(Step::Line(line));
        }
        Ok(Step::Eof)
    }

    /// At EOF of the current file: move on to the next file, or (main file) notice
    /// rotation/truncation. Returns false when there is nothing more to read now.
    async fn advance(&mut self) -> Result<bool, LogError> {
        let Some(cur) = self.cur.as_mut() else {
            if self.files.is_empty() && self.opts.follow {
                self.files.push_back(self.path.clone());
            }
            return self.open_next().await;
        };
        if !cur.is_main {
            // A torn last record of a rotated file is dropped.
            self.partial.clear();
            if self.opts.follow {
                // Follow the chain by inode: the names queued at the start may have
                // shifted by further rotations since.
                let ino = cur.ino;
                self.files.clear();
                self.cur = self.open_after(ino).await?;
                return Ok(self.cur.is_some());
            }
            self.cur = None;
            return self.open_next().await;
        }
        match tokio::fs::metadata(&self.path).await {
            Ok(m) if m.ino() != cur.ino => {
                // Rotated: the old file is complete now, but records may have been
                // appended to it between our last read and the rotation. Read it to
                // its end as a rotated file, then the files written after it (see
                // `open_after`).
                cur.is_main = false;
                Ok(true)
            }
            Ok(m) if m.len() < cur.pos => {
                // Truncated (max-file 1).
                self.partial.clear();
                cur.reader
                    .seek(std::io::SeekFrom::Start(0))
                    .await
                    .map_err(io_err(&self.path, "seek"))?;
                cur.pos = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn start(&mut self) -> Result<(), LogError> {
        self.started = true;
        if let Some(n) = self.opts.tail {
            let main = self.path.clone();
            let rotated = self.rotated_files();
            let opts = self.opts.clone();
            let (entries, main_state) =
                tokio::task::spawn_blocking(move || tail_scan(&main, &rotated, &opts, n))
                    .await
                    .map_err(|e| LogError::Io {
                        path: self.path.clone(),
                        context: "tail",
                        source: std::io::Error::other(e),
                    })??;
            self.out = entries.into();
            self.files.clear();
            self.partial.clear();
            self.cur = main_state.map(|(file, pos, ino)| Cur {
                reader: BufReader::new(tokio::fs::File::from_std(file)),
                path: self.path.clone(),
                ino,
                pos,
                is_main: true,
            });
            return Ok(());
        }
        self.files = self.rotated_files().into();
        self.files.push_back(self.path.clone());
        self.open_next().await?;
        Ok(())
    }

    fn setup_watch(&mut self) -> Result<(), LogError> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let ino = inotify::Inotify::init().map_err(io_err(&dir, "inotify init"))?;
        ino.watches()
            .add(
                &dir,
                inotify::WatchMask::MODIFY
                    | inotify::WatchMask::CREATE
                    | inotify::WatchMask::MOVED_TO
                    | inotify::WatchMask::MOVED_FROM
                    | inotify::WatchMask::DELETE,
            )
            .map_err(io_err(&dir, "inotify watch"))?;
        self.watch = Some(
            ino.into_event_stream(vec![0u8; 4096])
                .map_err(io_err(&dir, "inotify stream"))?,
        );
        Ok(())
    }

    /// Waits for a change in the log directory; false when following should end.
    async fn wait_change(&mut self) -> Result<bool, LogError> {
        use futures::StreamExt;
        if self.watch.is_none() {
            self.setup_watch()?;
            // Anything written before the watch existed is read on the next round.
            return Ok(true);
        }
        let Some(watch) = self.watch.as_mut() else {
            return Ok(false);
        };
        let name = self.path.file_name().map(|n| n.to_os_string());
        loop {
            let stop_changed = async {
                match self.stop.as_mut() {
                    Some(rx) => {
                        if *rx.borrow_and_update() {
                            return;
                        }
                        if rx.changed().await.is_err() {
                            return;
                        }
                        if !*rx.borrow() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                ev = watch.next() => match ev {
                    Some(Ok(ev)) => {
                        // Only events about our file (or its rotation) matter.
                        let ours = match (&ev.name, &name) {
                            (Some(n), Some(ours)) => n.as_os_str().to_string_lossy().starts_with(&*ours.to_string_lossy()),
                            _ => true,
                        };
                        if ours {
                            return Ok(true);
                        }
                    }
                    Some(Err(e)) => return Err(io_err(&self.path, "inotify read")(e)),
                    None => return Ok(false),
                },
                _ = stop_changed => {
                    self.stopping = true;
                    return Ok(true);
                }
            }
        }
    }

    async fn next(&mut self) -> Option<Result<LogEntry, LogError>> {
        match self.next_inner().await {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    async fn next_inner(&mut self) -> Result<Option<LogEntry>, LogError> {
        if !self.started {
            self.start().await?;
        }
        loop {
            if let Some(e) = self.out.pop_front() {
                return Ok(Some(e));
            }
            if self.done {
                return Ok(None);
            }
            match self.step().await? {
                Step::Line(l) => {
                    if let Some(e) = self.accept(&l) {
                        if self.opts.follow && self.opts.until.is_some_and(|u| e.time > u) {
                            self.done = true;
                            return Ok(None);
                        }
                        return Ok(Some(e));
                    }
                }
                Step::Eof => {
                    if self.advance().await? {
                        continue;
                    }
                    if !self.opts.follow || self.stopping {
                        self.done = true;
                        continue;
                    }
                    if self.opts.until.is_some_and(|u| Utc::now() > u) {
                        self.done = true;
                        continue;
                    }
                    if !self.wait_change().await? {
                        self.done = true;
                    }
                }
            }
        }
    }
}

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use logs::{read_logs, LogEntry, LogWriter, ReadOptions, Stream};

fn all() -> ReadOptions {
    ReadOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    }
}

async fn collect(path: &std::path::Path, opts: ReadOptions) -> Vec<LogEntry> {
    read_logs(path.to_path_buf(), opts, None)
        .map(|r| r.unwrap())
        .collect()
        .await
}

fn lines(v: &[LogEntry]) -> Vec<String> {
    v.iter()
        .map(|e| String::from_utf8_lossy(&e.line).into_owned())
        .collect()
}

#[tokio::test]
async fn write_and_read_lines_and_partials() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c-json.log");
    let mut w = LogWriter::open(&p, None, 1).unwrap();
    w.write(Stream::Stdout, b"hello\nwor").unwrap();
    w.write(Stream::Stderr, b"err\n").unwrap();
    w.write(Stream::Stdout, b"ld\n").unwrap();
    w.write(Stream::Stdout, b"tail").unwrap();
    w.flush().unwrap();
    let raw = std::fs::read_to_string(&p).unwrap();
    assert!(raw.starts_with("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\""));
    let got = collect(&p, all()).await;
    assert_eq!(lines(&got), ["hello\n", "err\n", "world\n", "tail"]);
    assert_eq!(got[1].stream, Stream::Stderr);
    let only_err = collect(
        &p,
        ReadOptions {
            stderr: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(lines(&only_err), ["err\n"]);
}

#[tokio::test]
async fn long_line_split_at_16k() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("l.log");
    let mut w = LogWriter::open(&p, None, 1).unwrap();
    let mut data = vec![b'a'; 40 * 1024];
    data.push(b'\n');
    w.write(Stream::Stdout, &data).unwrap();
    let got = collect(&p, all()).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].line.len(), 16 * 1024);
    assert_eq!(got[2].line.len(), 8 * 1024 + 1);
}

#[tokio::test]
async fn rotation_tail_since() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.log");
    let mut w = LogWriter::open(&p, Some(1000), 3).unwrap();
    for i in 0..100 {
        w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
            .unwrap();
    }
    assert!(dir.path().join("r.log.1").exists());
    assert!(dir.path().join("r.log.2").exists());
    assert!(!dir.path().join("r.log.3").exists());
    for f in ["r.log", "r.log.1", "r.log.2"] {
        assert!(std::fs::metadata(dir.path().join(f)).unwrap().len() <= 1000);
    }
    let got = collect(&p, all()).await;
    // Oldest files dropped, the rest in order and ending with the last line.
    let l = lines(&got);
    assert_eq!(l.last().unwrap(), "line 99\n");
    let first: usize = l[0]
        .trim_end()
        .strip_prefix("line ")
        .unwrap()
        .parse()
        .unwrap();
    for (k, s) in l.iter().enumerate() {
        assert_eq!(s, &format!("line {}\n", first + k));
    }
    let tail = collect(
        &p,
        ReadOptions {
            tail: Some(5),
            ..all()
        },
    )
    .await;
    assert_eq!(
        lines(&tail),
        [
            "line 95\n",
            "line 96\n",
            "line 97\n",
            "line 98\n",
            "line 99\n"
        ]
    );
    let tail0 = collect(
        &p,
        ReadOptions {
            tail: Some(0),
            ..all()
        },
    )
    .await;
    assert!(tail0.is_empty());
    let since = got[got.len() - 3].time;
    let s = collect(
        &p,
        ReadOptions {
            since: Some(since),
            ..all()
        },
    )
    .await;
    assert!(s.len() >= 3 && lines(&s).last().unwrap() == "line 99\n");
    let u = collect(
        &p,
        ReadOptions {
            until: Some(got[0].time),
            ..all()
        },
    )
    .await;
    assert!(!u.is_empty() && u.iter().all(|e| e.time <= got[0].time));
}

#[tokio::test]
async fn torn_last_record_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.log");
    let mut w = LogWriter::open(&p, None, 1).unwrap();
    w.write(Stream::Stdout, b"one\n").unwrap();
    drop(w);
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"{\"log\":\"tw").unwrap();
    let got = collect(&p, all()).await;
    assert_eq!(lines(&got), ["one\n"]);
    // Garbage in the middle is skipped too.
    f.write_all(b"\n").unwrap();
    let mut w = LogWriter::open(&p, None, 1).unwrap();
    w.write(Stream::Stdout, b"two\n").unwrap();
    let got = collect(&p, all()).await;
    assert_eq!(lines(&got), ["one\n", "two\n"]);
}

#[tokio::test]
async fn missing_log_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(collect(&dir.path().join("none.log"), all())
        .await
        .is_empty());
}

#[tokio::test]
async fn follow_with_rotation_torn_and_stop() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.log");
    let mut w = LogWriter::open(&p, Some(600), 20).unwrap();
    w.write(Stream::Stdout, b"before\n").unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut s = Box::pin(read_logs(
        p.clone(),
        ReadOptions {
            follow: true,
            tail: Some(1),
            ..all()
        },
        Some(rx),
    ));
    let first = s.next().await.unwrap().unwrap();
    assert_eq!(&first.line[..], b"before\n");
    let writer = std::thread::spawn(move || {
        for i in 0..60 {
            w.write(Stream::Stdout, format!("n{i}\n").as_bytes())
                .unwrap();
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        w
    });
    let mut got = Vec::new();
    while got.len() < 60 {
        let e = tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("follow stalled")
            .unwrap()
            .unwrap();
        got.push(String::from_utf8_lossy(&e.line).into_owned());
    }
    let expect: Vec<String> = (0..60).map(|i| format!("n{i}\n")).collect();
    assert_eq!(got, expect);
    assert!(dir.path().join("f.log.1").exists(), "rotation happened");
    let mut w = writer.join().unwrap();
    // A record written in two pieces (torn while being written) arrives whole.
    drop(w.flush());
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(br#"{"log":"pie"#).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    f.write_all(b"ce\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00.5Z\"}\n")
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&e.line[..], b"piece\n");
    // After stop: drains what was written, then ends.
    w.write(Stream::Stderr, b"last\n").unwrap();
    tx.send(true).unwrap();
    let rest: Vec<LogEntry> = tokio::time::timeout(
        Duration::from_secs(5),
        s.map(|r| r.unwrap()).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert_eq!(lines(&rest), ["last\n"]);
}

#[tokio::test]
async fn tail_reads_backwards_across_files_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.log");
    let mut w = LogWriter::open(&p, Some(200_000), 4).unwrap();
    // Long lines (bigger than the 64 KiB read chunk after splitting) and many short.
    for i in 0..3000 {
        if i % 1000 == 999 {
            let mut big = vec![b'x'; 40_000];
            big.push(b'\n');
            w.write(Stream::Stderr, &big).unwrap();
        }
        let s = if i % 2 == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        w.write(s, format!("r{i}\n").as_bytes()).unwrap();
    }
    drop(w);
    assert!(dir.path().join("b.log.1").exists());
    let all_entries = collect(&p, all()).await;
    for n in [0usize, 1, 3, 100, 2500, 100_000] {
        let t = collect(
            &p,
            ReadOptions {
                tail: Some(n),
                ..all()
            },
        )
        .await;
        let want = &all_entries[all_entries.len().saturating_sub(n)..];
        assert_eq!(t, want, "tail {n}");
    }
    let t = collect(
        &p,
        ReadOptions {
            tail: Some(4),
            stdout: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(lines(&t), ["r2992\n", "r2994\n", "r2996\n", "r2998\n"]);
    let since = all_entries[all_entries.len() - 2].time;
    let t = collect(
        &p,
        ReadOptions {
            tail: Some(1000),
            since: Some(since),
            ..all()
        },
    )
    .await;
    assert!(t.len() >= 2 && t.iter().all(|e| e.time >= since));
    assert_eq!(lines(&t).last().unwrap(), "r2999\n");
}

#[tokio::test]
async fn tail_then_follow_completes_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tf.log");
    let mut w = LogWriter::open(&p, None, 1).unwrap();
    w.write(Stream::Stdout, b"a\nb\nc\n").unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(br#"{"log":"d\n","stream":"std"#).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut s = Box::pin(read_logs(
        p.clone(),
        ReadOptions {
            tail: Some(2),
            follow: true,
            ..all()
        },
        Some(rx),
    ));
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(s.next().await.unwrap().unwrap());
    }
    assert_eq!(lines(&got), ["b\n", "c\n"]);
    f.write_all(br#"out","time":"2030-01-01T00:00:00Z"}"#)
        .unwrap();
    f.write_all(b"\n").unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&e.line[..], b"d\n");
    tx.send(true).unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn follow_waits_for_the_file_to_appear() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("later.log");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut s = Box::pin(read_logs(
        p.clone(),
        ReadOptions {
            follow: true,
            ..all()
        },
        Some(rx),
    ));
    let p2 = p.clone();
    let writer = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut w = LogWriter::open(&p2, None, 1).unwrap();
        w.write(Stream::Stdout, b"hello\n").unwrap();
    });
    let e = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&e.line[..], b"hello\n");
    writer.await.unwrap();
    drop(tx); // a dropped sender also ends following
    assert!(tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .is_none());
}

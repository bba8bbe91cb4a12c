//! Docker's stdcopy framing (8-byte headers: stream id, 3 zero bytes, big-endian
//! length) and the output/input pumps used by run, attach, exec and logs.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};
use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Which stream a stdcopy frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
    /// System errors sent by the daemon (stream id 3).
    System,
}

/// Incremental stdcopy demultiplexer.
#[derive(Debug, Default)]
pub struct Demux {
    buf: BytesMut,
}

impl Demux {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds raw bytes and returns every complete frame.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<(StdStream, Bytes)>> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        loop {
            if self.buf.len() < 8 {
                break;
            }
            let kind = match self.buf[0] {
                0 => StdStream::Stdin,
                1 => StdStream::Stdout,
                2 => StdStream::Stderr,
                3 => StdStream::System,
                other => bail!("Unrecognized input header: {other}"),
            };
            let len =
                u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                break;
            }
            self.buf.advance(8);
            let payload = self.buf.split_to(len).freeze();
            frames.push((kind, payload));
        }
        Ok(frames)
    }

    /// Bytes of an incomplete frame left at the end of the stream.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one stdcopy frame (used by tests).
#[cfg(test)]
pub fn encode_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn write_out(kind: StdStream, data: &[u8]) -> Result<()> {
    match kind {
        StdStream::Stdout | StdStream::Stdin => {
            let mut o = std::io::stdout().lock();
            o.write_all(data)?;
            o.flush()?;
        }
        StdStream::Stderr => {
            let mut e = std::io::stderr().lock();
            e.write_all(data)?;
            e.flush()?;
        }
        StdStream::System => bail!("{}", String::from_utf8_lossy(data).trim_end()),
    }
    Ok(())
}

/// Copies a container output stream to our stdout/stderr: raw with a tty,
/// demultiplexed otherwise.
pub async fn pump_output<R: AsyncRead + Unpin>(mut r: R, tty: bool) -> Result<()> {
    let mut demux = Demux::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        };
        if tty {
            write_out(StdStream::Stdout, &buf[..n])?;
        } else {
            for (k, p) in demux.push(&buf[..n])? {
                write_out(k, &p)?;
            }
        }
    }
    Ok(())
}

/// Same as [`pump_output`] for a response body stream.
pub async fn pump_body<S>(mut s: S, tty: bool) -> Result<()>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    let mut demux = Demux::new();
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if tty {
            write_out(StdStream::Stdout, &chunk)?;
        } else {
            for (k, p) in demux.push(&chunk)? {
                write_out(k, &p)?;
            }
        }
    }
    Ok(())
}

/// Parses docker's detach-keys syntax ("ctrl-p,ctrl-q", "a,ctrl-@") into bytes.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        if let Some(k) = p.strip_prefix("ctrl-") {
            let c = match k.as_bytes() {
                [c] => *c,
                _ => bail!("Unknown character: '{p}'"),
            };
            let code = match c {
                b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => bail!("Unknown character: '{p}'"),
            };
            out.push(code);
        } else if p.len() == 1 {
            out.push(p.as_bytes()[0]);
        } else {
            bail!("Unknown character: '{p}'");
        }
    }
    Ok(out)
}

/// Watches a byte stream for the detach key sequence.
#[derive(Debug)]
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
    pub seen: Arc<AtomicBool>,
}

impl DetachWatch {
    pub fn new(keys: Vec<u8>) -> Self {
        DetachWatch {
            keys,
            matched: 0,
            seen: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Feeds input bytes; returns true once the full sequence was typed.
    pub fn feed(&mut self, data: &[u8]) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.seen.store(true, Ordering::SeqCst);
                    self.matched = 0;
                    return true;
                }
            } else {
                self.matched = usize::from(b == self.keys[0]);
            }
        }
        false
    }
}

/// Reads our stdin on a dedicated thread (tokio's stdin would keep the
/// runtime alive on exit) and forwards it into `w`; shuts down the write half
/// at EOF so the daemon sees the end of input.
pub async fn pump_input<W: AsyncWrite + Unpin>(
    mut w: W,
    mut watch: Option<DetachWatch>,
) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    while let Some(chunk) = rx.recv().await {
        if let Some(wt) = watch.as_mut() {
            wt.feed(&chunk);
        }
        if w.write_all(&chunk).await.is_err() {
            return Ok(());
        }
        let _ = w.flush().await;
    }
    let _ = w.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_frames_across_chunks() {
        let mut raw = encode_frame(1, b"hello\n");
        raw.extend(encode_frame(2, b"oops\n"));
        raw.extend(encode_frame(1, b""));
        let mut d = Demux::new();
        let mut got = Vec::new();
        for chunk in raw.chunks(3) {
            got.extend(d.push(chunk).unwrap());
        }
        assert_eq!(d.pending(), 0);
        assert_eq!(
            got,
            vec![
                (StdStream::Stdout, Bytes::from_static(b"hello\n")),
                (StdStream::Stderr, Bytes::from_static(b"oops\n")),
                (StdStream::Stdout, Bytes::new()),
            ]
        );
    }

    #[test]
    fn demux_rejects_garbage() {
        let mut d = Demux::new();
        assert!(d.push(b"not a frame header").is_err());
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("abc").is_err());
        let mut w = DetachWatch::new(vec![16, 17]);
        assert!(!w.feed(b"ls\n\x10"));
        assert!(w.feed(b"\x11"));
        assert!(w.seen.load(Ordering::SeqCst));
        let mut w = DetachWatch::new(vec![16, 17]);
        assert!(!w.feed(b"\x10x\x11"));
    }
}

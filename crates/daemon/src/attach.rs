//! Splices a hijacked client connection to a shim IO session: stdin from the
//! client (watching for the detach key sequence), output to the client raw (tty)
//! or stdcopy-framed.

use futures::StreamExt;
use runtime::shim::{Frame, IoSession, StdStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use api_server::backend::HijackedIo;
use api_server::stream::stdcopy_frame;

/// Default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// Parses Docker's `--detach-keys` syntax: "ctrl-p,ctrl-q", "a,ctrl-@", ...
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    if s.trim().is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let ch =
                c.chars().next().filter(|_| c.len() == 1).ok_or_else(|| {
                    format!("invalid detach keys {s:?}: unknown character {key:?}")
                })?;
            let code = match ch {
                'a'..='z' => ch as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => {
                    return Err(format!(
                        "invalid detach keys {s:?}: unknown character {key:?}"
                    ))
                }
            };
            out.push(code);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!(
                "invalid detach keys {s:?}: unknown character {key:?}"
            ));
        }
    }
    Ok(out)
}

/// How an attach ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The process exited (for execs: with this code).
    Exited(Option<i32>),
    /// The client sent the detach keys.
    Detached,
    /// The client went away.
    ClientGone,
}

/// Runs an attach until the process ends, the client detaches or disconnects.
/// `on_exit` sees the exit code frame (execs) before the connection is closed, so
/// a client inspecting right after sees the result.
pub async fn splice(
    io: Box<dyn HijackedIo>,
    session: IoSession,
    tty: bool,
    detach_keys: Vec<u8>,
    on_exit: impl FnOnce(i32) + Send + 'static,
) -> End {
    let (mut rd, mut wr) = tokio::io::split(io);
    let IoSession { stdin, mut output } = session;
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let stdin_task = stdin.map(|mut stdin| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            let mut matched = 0usize;
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut out = Vec::with_capacity(n + matched);
                for &b in &buf[..n] {
                    if !detach_keys.is_empty() && b == detach_keys[matched] {
                        matched += 1;
                        if matched == detach_keys.len() {
                            if !out.is_empty() {
                                let _ = stdin.write_all(&out).await;
                            }
                            let _ = detach_tx.send(());
                            // Keep the shim's stdin open: detaching is not EOF.
                            return Some(stdin);
                        }
                    } else {
                        out.extend_from_slice(&detach_keys[..matched]);
                        matched = 0;
                        out.push(b);
                    }
                }
                if !out.is_empty() && stdin.write_all(&out).await.is_err() {
                    break;
                }
            }
            let _ = stdin.shutdown().await;
            None
        })
    });
    let mut on_exit = Some(on_exit);
    // The detach channel completes once: with Ok on detach, with Err when the
    // stdin side ends without detaching (then output keeps flowing).
    let mut detach_pending = true;
    let end = loop {
        tokio::select! {
            frame = output.next() => match frame {
                Some(Ok(Frame::Data(stream, data))) => {
                    let bytes = if tty {
                        data
                    } else {
                        let s = match stream {
                            StdStream::Stdin => api_server::backend::StdStream::Stdin,
                            StdStream::Stdout => api_server::backend::StdStream::Stdout,
                            StdStream::Stderr => api_server::backend::StdStream::Stderr,
                        };
                        stdcopy_frame(s, &data)
                    };
                    if wr.write_all(&bytes).await.is_err() {
                        break End::ClientGone;
                    }
                }
                Some(Ok(Frame::Exit(code))) => {
                    if let Some(f) = on_exit.take() {
                        f(code);
                    }
                    break End::Exited(Some(code));
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "attach stream error");
                    break End::Exited(None);
                }
                None => break End::Exited(None),
            },
            r = &mut detach_rx, if detach_pending => {
                detach_pending = false;
                if r.is_ok() {
                    break End::Detached;
                }
            }
        }
    };
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    if let Some(t) = stdin_task {
        if end == End::Detached {
            // Hold the stdin half until the process exits so the container's
            // stdin is not closed by the detach.
            if let Ok(Some(stdin)) = t.await {
                tokio::spawn(async move {
                    let mut output = output;
                    while output.next().await.is_some() {}
                    drop(stdin);
                });
            }
        } else {
            t.abort();
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
    }
}

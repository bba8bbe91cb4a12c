//! The daemon's (async) client of a shim.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::{
    ExitInfo, Frame, Request, Response, ShimError, StdStream, EXIT_FILE, FRAME_EXIT, FRAME_STDERR,
    FRAME_STDOUT, SOCKET,
};

/// The IO of an attach or exec: raw stdin in, frames out.
pub struct IoSession {
    /// Raw stdin bytes; `shutdown()` closes the process's stdin (`stdin_once`).
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    /// stdout/stderr frames, then `Frame::Exit(code)` once the process exited and its
    /// output is drained; then the stream ends.
    pub output: Box<dyn futures::Stream<Item = Result<Frame, ShimError>> + Send + Unpin>,
}

impl std::fmt::Debug for IoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoSession")
            .field("stdin", &self.stdin.is_some())
            .finish()
    }
}

/// Client of one container's shim. Stateless: every call is a new connection, so a
/// restarted daemon just makes a new one.
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
}

const MAX_FRAME: usize = 16 << 20;

async fn read_frame(r: &mut BufReader<OwnedReadHalf>) -> Option<Result<Frame, ShimError>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(source) => {
            return Some(Err(ShimError::Io {
                context: "reading frame".into(),
                source,
            }))
        }
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Some(Err(ShimError::Protocol(format!("frame of {len} bytes"))));
    }
    let mut data = vec![0u8; len];
    if let Err(source) = r.read_exact(&mut data).await {
        return Some(Err(ShimError::Io {
            context: "reading frame".into(),
            source,
        }));
    }
    Some(match head[0] {
        FRAME_STDOUT => Ok(Frame::Data(StdStream::Stdout, data.into())),
        FRAME_STDERR => Ok(Frame::Data(StdStream::Stderr, data.into())),
        FRAME_EXIT if len == 4 => Ok(Frame::Exit(i32::from_be_bytes([
            data[0], data[1], data[2], data[3],
        ]))),
        k => Err(ShimError::Protocol(format!("unknown frame kind {k}"))),
    })
}

fn frames(
    r: BufReader<OwnedReadHalf>,
) -> Box<dyn futures::Stream<Item = Result<Frame, ShimError>> + Send + Unpin> {
    let s = futures::stream::unfold((r, false), |(mut r, done)| async move {
        if done {
            return None;
        }
        match read_frame(&mut r).await {
            Some(Ok(Frame::Exit(c))) => Some((Ok(Frame::Exit(c)), (r, true))),
            Some(Err(e)) => Some((Err(e), (r, true))),
            Some(ok) => Some((ok, (r, false))),
            None => None,
        }
    });
    Box::new(Box::pin(s))
}

impl ShimClient {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    async fn call(
        &self,
        req: &Request,
    ) -> Result<(Response, BufReader<OwnedReadHalf>, OwnedWriteHalf), ShimError> {
        let sock = self.state_dir.join(SOCKET);
        let (path, _dir) = super::socket_path(&sock).map_err(|source| ShimError::Io {
            context: format!("opening the directory of {}", sock.display()),
            source,
        })?;
        let stream = UnixStream::connect(&path)
            .await
            .map_err(|source| ShimError::Io {
                context: format!("connecting to {}", sock.display()),
                source,
            })?;
        let (r, mut w) = stream.into_split();
        let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Protocol(e.to_string()))?;
        line.push(b'\n');
        w.write_all(&line).await.map_err(|source| ShimError::Io {
            context: "sending request".into(),
            source,
        })?;
        let mut r = BufReader::new(r);
        let mut resp = String::new();
        let n = r
            .read_line(&mut resp)
            .await
            .map_err(|source| ShimError::Io {
                context: "reading response".into(),
                source,
            })?;
        if n == 0 {
            return Err(ShimError::Io {
                context: "reading response".into(),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        let resp: Response =
            serde_json::from_str(&resp).map_err(|e| ShimError::Protocol(e.to_string()))?;
        if !resp.ok {
            let msg = resp.error.clone().unwrap_or_else(|| "shim error".into());
            return Err(match resp.error_kind.as_deref() {
                Some("not_running") => ShimError::NotRunning,
                Some("start") => ShimError::Start {
                    message: msg,
                    exit_code: resp.exit.as_ref().map(|e| e.exit_code).unwrap_or(128),
                },
                _ => ShimError::Shim(msg),
            });
        }
        Ok((resp, r, w))
    }

    /// Starts the container; returns the init pid. A runtime failure comes back as
    /// [`ShimError::Start`] with the runtime's message and Docker's exit code.
    pub async fn start(&self) -> Result<u32, ShimError> {
        let (resp, _, _) = self.call(&Request::Start).await?;
        resp.pid
            .ok_or_else(|| ShimError::Protocol("start answered without pid".into()))
    }

    /// Attaches to the container's stdio (may be called before `start`).
    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<IoSession, ShimError> {
        let (_, r, w) = self
            .call(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        Ok(IoSession {
            // Without stdin the write half is dropped (a half-close the shim ignores).
            stdin: stdin.then(|| Box::new(w) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
            output: frames(r),
        })
    }

    pub async fn resize(&self, height: u16, width: u16) -> Result<(), ShimError> {
        self.call(&Request::Resize { height, width }).await?;
        Ok(())
    }

    /// Signals the container's init.
    pub async fn kill(&self, signal: i32) -> Result<(), ShimError> {
        self.call(&Request::Kill { signal, all: false }).await?;
        Ok(())
    }

    /// Signals every process of the container.
    pub async fn kill_all(&self, signal: i32) -> Result<(), ShimError> {
        self.call(&Request::Kill { signal, all: true }).await?;
        Ok(())
    }

    /// Resolves when the container exited; if the shim is gone, reads exit.json.
    pub async fn wait(&self) -> Result<ExitInfo, ShimError> {
        match self.call(&Request::Wait).await {
            Ok((resp, _, _)) => match resp.exit {
                Some(e) => Ok(e),
                None => Self::read_exit(&self.state_dir)
                    .ok_or_else(|| ShimError::Protocol("wait answered without exit".into())),
            },
            Err(e @ ShimError::Io { .. }) => {
                // The shim exited (or died) between our connect and its answer.
                for _ in 0..50 {
                    if let Some(info) = Self::read_exit(&self.state_dir) {
                        return Ok(info);
                    }
                    if self.is_alive().await {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Self::read_exit(&self.state_dir).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs a process in the container (docker exec). The output ends with
    /// `Frame::Exit(code)`. With `detach` no output is sent, only the exit frame.
    pub async fn exec(
        &self,
        exec_id: &str,
        process: oci_spec::runtime::Process,
        stdin: bool,
        detach: bool,
    ) -> Result<(u32, IoSession), ShimError> {
        let (resp, r, w) = self
            .call(&Request::Exec {
                id: exec_id.to_string(),
                process: Box::new(process),
                stdin,
                detach,
            })
            .await?;
        let pid = resp
            .pid
            .ok_or_else(|| ShimError::Protocol("exec answered without pid".into()))?;
        let stdin_w = (stdin && !detach)
            .then(|| Box::new(w) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
        Ok((
            pid,
            IoSession {
                stdin: stdin_w,
                output: frames(r),
            },
        ))
    }

    pub async fn exec_resize(
        &self,
        exec_id: &str,
        height: u16,
        width: u16,
    ) -> Result<(), ShimError> {
        self.call(&Request::ExecResize {
            id: exec_id.to_string(),
            height,
            width,
        })
        .await?;
        Ok(())
    }

    /// Whether the shim answers on its socket.
    pub async fn is_alive(&self) -> bool {
        self.call(&Request::Ping).await.is_ok()
    }

    /// The container's init pid as recorded by the shim at start (`init.pid`).
    pub fn read_init_pid(state_dir: &Path) -> Option<u32> {
        std::fs::read_to_string(state_dir.join("init.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The shim's pid (`shim.pid`).
    pub fn read_shim_pid(state_dir: &Path) -> Option<u32> {
        std::fs::read_to_string(state_dir.join("shim.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The recorded exit, if the container exited.
    pub fn read_exit(state_dir: &Path) -> Option<ExitInfo> {
        let data = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
        serde_json::from_slice(&data).ok()
    }
}

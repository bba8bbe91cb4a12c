//! Starting a container and attaching to it: the streams, the signal proxy,
//! TTY resizes and the wait for the exit code (`run`, `start -a`, `attach`).

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{ArgAction, Args};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use super::create::{print_run_error, start_failure_code};
use crate::client::{enc, query, Client};
use crate::stream::{parse_detach_keys, pump_input, pump_output, DetachWatch};
use crate::tty;

pub(super) async fn start_container(client: &Client, id: &str) -> Result<()> {
    Ok(client.container_start(id).await?)
}

/// How to attach to a container.
pub struct AttachSpec {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub detach_keys: Option<String>,
    pub detach_seq: Vec<u8>,
    pub sig_proxy: bool,
    pub logs: bool,
}

impl AttachSpec {
    /// Attaching to an existing container (`attach`, `start -a`): stdin only when
    /// asked for and the container keeps it open, a tty as the container has one,
    /// signals proxied (when `sig_proxy`) only without a tty.
    pub(super) fn for_container(
        config: &crate::client::models::ContainerConfig,
        want_stdin: bool,
        detach_keys: &Option<String>,
        sig_proxy: bool,
    ) -> Result<Self> {
        let t = config.tty.unwrap_or(false);
        let stdin = want_stdin && config.open_stdin.unwrap_or(false);
        if t && stdin && !tty::stdin_is_tty() {
            bail!("the input device is not a TTY");
        }
        let detach_seq = match detach_keys {
            Some(k) => parse_detach_keys(k)?,
            None => vec![16, 17],
        };
        Ok(Self {
            stdin,
            stdout: true,
            stderr: true,
            tty: t,
            detach_keys: detach_keys.clone(),
            detach_seq,
            sig_proxy: sig_proxy && !t,
            logs: false,
        })
    }
}

/// Sends `POST /containers/{id}/wait?condition=` and returns once the
/// request has reached the daemon; the handle yields the exit code.
pub(super) async fn spawn_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> tokio::task::JoinHandle<Result<i64>> {
    let (tx, rx) = oneshot::channel();
    let c = client.clone();
    let (id, condition) = (id.to_string(), condition.to_string());
    let h = tokio::spawn(async move {
        let w = c.container_wait_notify(&id, &condition, Some(tx)).await?;
        if let Some(m) = w.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
            bail!("{m}");
        }
        Ok(w.status_code)
    });
    let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
    h
}

fn spawn_sig_proxy(client: &Client, id: &str) -> tokio::task::JoinHandle<()> {
    let c = client.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
        for (k, name) in kinds {
            let Ok(mut s) = signal(k) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            if let Err(e) = c.container_kill(&id, Some(name)).await {
                eprintln!("Error sending signal: {e}");
            }
        }
    })
}

/// Follows the terminal's size into the container's (or, with `exec`,
/// the exec instance's) TTY.
pub(super) fn spawn_resize(client: &Client, id: String, exec: bool) -> tokio::task::JoinHandle<()> {
    let c = client.clone();
    tokio::spawn(async move {
        tty::watch_resize(|h, w| {
            let c = c.clone();
            let id = id.clone();
            async move {
                if let Err(e) = c.resize_tty(&id, exec, h, w).await {
                    tracing::debug!(error = %e, "resizing the TTY");
                }
            }
        })
        .await;
    })
}

/// Attaches, optionally starts, streams until the output ends and returns
/// the container's exit code.
pub(super) async fn run_attached(
    client: &Client,
    id: &str,
    spec: &AttachSpec,
    condition: &str,
    start: bool,
    cmd: &str,
) -> Result<i32> {
    let mut params = vec![("stream", "1".to_string())];
    if spec.stdin {
        params.push(("stdin", "1".into()));
    }
    if spec.stdout {
        params.push(("stdout", "1".into()));
    }
    if spec.stderr {
        params.push(("stderr", "1".into()));
    }
    if spec.logs {
        params.push(("logs", "1".into()));
    }
    if let Some(k) = &spec.detach_keys {
        params.push(("detachKeys", k.clone()));
    }
    let path = format!("/containers/{}/attach{}", enc(id), query(&params));
    let conn = match client.hijack(&path, None::<&()>).await {
        Ok(c) => c,
        Err(e) => {
            if start {
                print_run_error(cmd, &e.into());
                return Ok(125);
            }
            return Err(e.into());
        }
    };
    let wait = spawn_wait(client, id, condition).await;
    let _raw = if spec.tty && spec.stdin && tty::stdin_is_tty() {
        Some(tty::RawGuard::enter()?)
    } else {
        None
    };
    let (rd, wr) = tokio::io::split(conn);
    let watch = DetachWatch::new(spec.detach_seq.clone());
    let detached = watch.seen.clone();
    let input = if spec.stdin {
        Some(tokio::spawn(pump_input(wr, Some(watch))))
    } else {
        drop(wr);
        None
    };
    let output = tokio::spawn(pump_output(rd, spec.tty));
    if start {
        if let Err(e) = start_container(client, id).await {
            drop(_raw);
            output.abort();
            if let Some(i) = input {
                i.abort();
            }
            print_run_error(cmd, &e);
            let code = start_failure_code(&e);
            // With --rm the daemon removes the container; let the wait finish.
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
            return Ok(code);
        }
    }
    let resize = if spec.tty && tty::stdout_is_tty() {
        Some(spawn_resize(client, id.to_string(), false))
    } else {
        None
    };
    let sigs = if spec.sig_proxy {
        Some(spawn_sig_proxy(client, id))
    } else {
        None
    };
    let out_res = output.await;
    if let Some(r) = resize {
        r.abort();
    }
    if let Some(i) = input {
        i.abort();
    }
    drop(_raw);
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        wait.abort();
        if let Some(s) = sigs {
            s.abort();
        }
        if cmd == "attach" {
            // docker attach reports the detach as an error.
            eprintln!("read escape sequence");
            return Ok(1);
        }
        return Ok(0);
    }
    if let Ok(Err(e)) = out_res {
        eprintln!("{e}");
    }
    let code = match wait.await {
        Ok(Ok(c)) => c as i32,
        Ok(Err(e)) => {
            eprintln!("berth: {e}");
            125
        }
        Err(_) => 125,
    };
    if let Some(s) = sigs {
        s.abort();
    }
    Ok(code)
}

/// `berth attach`
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

/// `berth attach`
pub async fn attach(client: &Client, a: AttachArgs) -> Result<i32> {
    let info = client.container_inspect(&a.container).await?;
    let state = info.state.unwrap_or_default();
    if !state.running.unwrap_or(false) {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if state.paused.unwrap_or(false) {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let config = info.config.unwrap_or_default();
    let spec = AttachSpec::for_container(&config, !a.no_stdin, &a.detach_keys, a.sig_proxy)?;
    let id = info.id.unwrap_or(a.container);
    run_attached(client, &id, &spec, "not-running", false, "attach").await
}

//! `docker exec`: exec instances, started through the container's shim.

use std::sync::{Arc, Mutex};

use api_server::backend::{ExecStartOptions, StreamPlan};
use engine_types::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use futures::StreamExt;
use runtime::shim::{Frame, ShimClient};

use crate::attach;
use crate::error::{DaemonError, Result};
use crate::util;
use crate::Daemon;

#[derive(Debug, Default, Clone)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: u32,
}

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
}

impl Exec {
    fn state(&self) -> ExecState {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    fn set(&self, f: impl FnOnce(&mut ExecState)) {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

impl Daemon {
    fn find_exec(&self, id: &str) -> Result<Arc<Exec>> {
        let map = match self.execs.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(id)
            .cloned()
            .ok_or_else(|| DaemonError::NoSuchExec(id.to_string()))
    }

    pub(crate) fn forget_execs_of(&self, container_id: &str) {
        if let Ok(mut m) = self.execs.lock() {
            m.retain(|_, e| e.container_id != container_id);
        }
    }

    pub async fn exec_create(&self, container: &str, config: ExecConfig) -> Result<String> {
        let c = self.find(container)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        if c.get().state.paused {
            return Err(DaemonError::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if let Some(keys) = &config.detach_keys {
            attach::parse_detach_keys(keys).map_err(DaemonError::Invalid)?;
        }
        let id = util::new_id();
        self.emit_container(
            &c.get(),
            &format!("exec_create: {}", exec_command(&config)),
            &[("execID", id.clone())],
        );
        let exec = Arc::new(Exec {
            id: id.clone(),
            container_id: c.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
        });
        if let Ok(mut m) = self.execs.lock() {
            m.insert(id.clone(), exec);
        }
        Ok(id)
    }

    pub async fn exec_start(
        &self,
        exec_id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<StreamPlan>> {
        let exec = self.find_exec(exec_id)?;
        {
            let st = exec.state();
            if st.started {
                return Err(DaemonError::Conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
        }
        let c = self.find(&exec.container_id)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let state_dir = self.state_dir(&c.id);
        let base = oci_spec::runtime::Spec::load(state_dir.join("config.json"))
            .map_err(|e| DaemonError::Internal(format!("reading the container's spec: {e}")))?;
        let cfg = &exec.config;
        let tty = cfg.tty.unwrap_or(false) || opts.tty;
        let process = runtime::spec::exec_process(
            &base,
            &state_dir.join("rootfs"),
            &runtime::spec::ExecConfig {
                args: cfg.cmd.clone().unwrap_or_default(),
                env: cfg.env.clone().unwrap_or_default(),
                user: cfg.user.clone().unwrap_or_default(),
                cwd: cfg.working_dir.clone().unwrap_or_default(),
                tty,
                privileged: cfg.privileged.unwrap_or(false),
            },
        )?;
        let stdin = cfg.attach_stdin.unwrap_or(false) && !opts.detach;
        exec.set(|s| {
            s.started = true;
            s.running = true;
        });
        let client = ShimClient::new(&state_dir);
        let detach_keys = match &cfg.detach_keys {
            Some(k) => attach::parse_detach_keys(k).map_err(DaemonError::Invalid)?,
            None => attach::DEFAULT_DETACH_KEYS.to_vec(),
        };
        // exec_start once the process runs, exec_die with its exit code.
        let exec_event = {
            let (bus, rec, id) = (self.bus.clone(), c.get(), exec.id.clone());
            move |action: &str, code: Option<i64>| {
                let mut a = crate::events::container_attributes(&rec);
                a.insert("execID".into(), id.clone());
                if let Some(code) = code {
                    a.insert("exitCode".into(), code.to_string());
                }
                bus.publish(
                    engine_types::events::EventType::Container,
                    action,
                    &rec.id,
                    a,
                );
            }
        };
        let start_action = format!("exec_start: {}", exec_command(cfg));
        let exec_died = {
            let ev = exec_event.clone();
            move |code: i64| ev("exec_die", Some(code))
        };
        if opts.detach {
            let (pid, session) = match client.exec(exec_id, process, false, true).await {
                Ok(r) => r,
                Err(e) => {
                    exec.set(|s| {
                        s.running = false;
                        s.exit_code = Some(126);
                    });
                    return Err(DaemonError::from(e));
                }
            };
            exec.set(|s| s.pid = pid);
            exec_event(&start_action, None);
            let exec2 = exec.clone();
            tokio::spawn(async move {
                let mut output = session.output;
                let mut code = None;
                while let Some(f) = output.next().await {
                    if let Ok(Frame::Exit(c)) = f {
                        code = Some(c as i64);
                    }
                }
                exec2.set(|s| {
                    s.running = false;
                    s.exit_code = code.or(Some(-1));
                });
                exec_died(code.unwrap_or(-1));
            });
            return Ok(None);
        }
        // Without a tty the process starts once the client has the 101 answer: the
        // first output of a fast process would otherwise reach the client in the
        // same read as the headers, where docker-py's HTTP client swallows it. With
        // a tty it starts now, so that the CLI's resize right after the answer
        // finds it.
        let mut pending = Some((client, exec_id.to_owned(), process, stdin));
        let mut early = None;
        if tty {
            if let Some((client, id, process, stdin)) = pending.take() {
                early = Some(client.exec(&id, process, stdin, false).await);
            }
        }
        Ok(Some(StreamPlan {
            tty,
            run: Box::new(move |mut io| {
                Box::pin(async move {
                    let started = match (early, pending) {
                        (Some(r), _) => r,
                        (None, Some((client, id, process, stdin))) => {
                            client.exec(&id, process, stdin, false).await
                        }
                        (None, None) => return,
                    };
                    let (pid, session) = match started {
                        Ok(r) => r,
                        Err(e) => {
                            // As moby: the exec's exit code is 126, and the client
                            // gets the error on its stream (the HTTP call succeeded).
                            exec.set(|s| {
                                s.running = false;
                                s.exit_code = Some(126);
                            });
                            let msg = format!("OCI runtime exec failed: {e}\r\n");
                            use tokio::io::AsyncWriteExt;
                            let bytes = if tty {
                                bytes::Bytes::from(msg)
                            } else {
                                api_server::stream::stdcopy_frame(
                                    api_server::backend::StdStream::Stdout,
                                    msg.as_bytes(),
                                )
                            };
                            let _ = io.write_all(&bytes).await;
                            let _ = io.shutdown().await;
                            return;
                        }
                    };
                    exec.set(|s| s.pid = pid);
                    exec_event(&start_action, None);
                    let exec3 = exec.clone();
                    let end = attach::splice(io, session, tty, detach_keys, move |code| {
                        exec3.set(|s| {
                            s.running = false;
                            s.exit_code = Some(code as i64);
                        });
                        exec_died(code as i64);
                    })
                    .await;
                    if end != attach::End::Detached {
                        exec.set(|s| {
                            if s.exit_code.is_some() {
                                s.running = false;
                            }
                        });
                    }
                })
            }),
        }))
    }

    pub async fn exec_resize(&self, exec_id: &str, h: u16, w: u16) -> Result<()> {
        let exec = self.find_exec(exec_id)?;
        let client = ShimClient::new(&self.state_dir(&exec.container_id));
        if let Err(e) = client.exec_resize(exec_id, h, w).await {
            // The CLI resizes right after start; the process may be gone already.
            tracing::debug!(exec = exec_id, error = %e, "exec resize");
        }
        Ok(())
    }

    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspectResponse> {
        let exec = self.find_exec(exec_id)?;
        let st = exec.state();
        let cfg = &exec.config;
        let mut args = cfg.cmd.clone().unwrap_or_default();
        let entrypoint = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        Ok(ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(cfg.detach_keys.clone().unwrap_or_default()),
            id: Some(exec.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(cfg.privileged.unwrap_or(false)),
                user: Some(cfg.user.clone().unwrap_or_default()),
                tty: Some(cfg.tty.unwrap_or(false)),
                entrypoint: Some(entrypoint),
                arguments: Some(args),
            }),
            open_stdin: Some(cfg.attach_stdin.unwrap_or(false)),
            open_stderr: Some(cfg.attach_stderr.unwrap_or(false)),
            open_stdout: Some(cfg.attach_stdout.unwrap_or(false)),
            container_id: Some(exec.container_id.clone()),
            pid: Some(st.pid as i64),
        })
    }
}

/// The command of an exec as its events name it (`exec_start: sh -c true`).
fn exec_command(cfg: &ExecConfig) -> String {
    cfg.cmd
        .iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

//! Container views: `ps` summaries, `inspect` documents, logs and attach.

use std::collections::HashMap;
use std::sync::Arc;

use api_server::backend::{
    AttachOptions, ListOptions, LogChunk, LogsOptions, LogsStream, StdStream, StreamPlan,
};
use engine_types::models::{
    ContainerSummary, ContainerSummaryHostConfig, ContainerSummaryNetworkSettings,
    ContainerSummaryStateEnum,
};
use futures::StreamExt;
use runtime::shim::ShimClient;
use serde_json::json;

use crate::attach;
use crate::container::{Container, ContainerRecord, PendingAttach, Status};
use crate::error::{DaemonError, Result};
use crate::util;
use crate::Daemon;

fn unix_of(rfc: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| t.timestamp() > 0)
}

/// `Up 3 seconds`, `Exited (0) 5 seconds ago`, `Created`.
pub fn status_text(rec: &ContainerRecord) -> String {
    let now = chrono::Utc::now();
    let ago = |t: &str| {
        unix_of(t)
            .map(|t| util::human_duration((now - t).num_seconds()))
            .unwrap_or_default()
    };
    match rec.state.status {
        Status::Running => {
            let up = format!("Up {}", ago(&rec.state.started_at));
            match (&rec.state.health, rec.state.paused) {
                (_, true) => format!("{up} (Paused)"),
                (Some(h), _) if h.status == crate::health::HealthStatus::Starting => {
                    format!("{up} (health: starting)")
                }
                (Some(h), _) => format!("{up} ({})", h.status.as_str()),
                (None, _) => up,
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            ago(&rec.state.finished_at)
        ),
        Status::Exited if rec.has_been_started || unix_of(&rec.state.finished_at).is_some() => {
            format!(
                "Exited ({}) {} ago",
                rec.state.exit_code,
                ago(&rec.state.finished_at)
            )
        }
        Status::Exited | Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

impl Daemon {
    pub fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        let mut recs: Vec<ContainerRecord> =
            self.all_containers().iter().map(|c| c.get()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let all = opts.all || opts.limit.is_some();
        let mut out = Vec::new();
        for rec in recs {
            if !all && !matches!(rec.state.status, Status::Running | Status::Restarting) {
                continue;
            }
            if !self.matches_filters(&rec, &opts.filters)? {
                continue;
            }
            out.push(self.summary(&rec));
            if opts.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn matches_filters(
        &self,
        rec: &ContainerRecord,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<bool> {
        for (key, values) in filters {
            let ok = match key.as_str() {
                "status" => {
                    for v in values {
                        if !matches!(
                            v.as_str(),
                            "created"
                                | "restarting"
                                | "running"
                                | "removing"
                                | "paused"
                                | "exited"
                                | "dead"
                        ) {
                            return Err(DaemonError::Invalid(format!(
                                "invalid filter 'status={v}'"
                            )));
                        }
                    }
                    values.iter().any(|v| v == rec.state.status_str())
                }
                "name" => values.iter().any(|v| {
                    let v = v.strip_prefix('/').unwrap_or(v);
                    let v = v.strip_prefix('^').unwrap_or(v);
                    match v.strip_suffix('$') {
                        Some(exact) => rec.name == exact,
                        None => rec.name.contains(v),
                    }
                }),
                "id" => values.iter().any(|v| rec.id.starts_with(v.as_str())),
                "label" => values.iter().all(|l| {
                    let labels = rec.config.labels.clone().unwrap_or_default();
                    match l.split_once('=') {
                        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
                        None => labels.contains_key(l.as_str()),
                    }
                }),
                "ancestor" => values.iter().any(|v| {
                    if rec.image == *v
                        || rec.image_id == *v
                        || rec
                            .image_id
                            .trim_start_matches("sha256:")
                            .starts_with(v.as_str())
                    {
                        return true;
                    }
                    match self.images.get(v) {
                        Ok(img) => img.id == rec.image_id,
                        Err(_) => false,
                    }
                }),
                "exited" => values.iter().any(|v| {
                    rec.state.status == Status::Exited
                        && v.parse::<i64>().ok() == Some(rec.state.exit_code)
                }),
                "network" => {
                    let (mode, nets, _) = self.container_networks(rec);
                    values.iter().any(|v| {
                        *v == mode
                            || nets.contains_key(v)
                            || nets.values().any(|e| {
                                e.network_id
                                    .as_deref()
                                    .is_some_and(|id| !v.is_empty() && id.starts_with(v.as_str()))
                            })
                    })
                }
                "health" => {
                    for v in values {
                        if !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
                            return Err(DaemonError::Invalid(format!(
                                "Unrecognised filter value for health: {v}"
                            )));
                        }
                    }
                    let now = match &rec.state.health {
                        Some(h) if rec.state.status == Status::Running => h.status.as_str(),
                        _ => "none",
                    };
                    values.iter().any(|v| v == now)
                }
                "before" | "since" | "volume" | "is-task" | "publish" | "expose" => true,
                other => return Err(DaemonError::Invalid(format!("invalid filter '{other}'"))),
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(crate) fn summary(&self, rec: &ContainerRecord) -> ContainerSummary {
        let command = std::iter::once(rec.path.clone())
            .chain(rec.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let state = match rec.state.status {
            Status::Created => ContainerSummaryStateEnum::CREATED,
            Status::Running if rec.state.paused => ContainerSummaryStateEnum::PAUSED,
            Status::Running => ContainerSummaryStateEnum::RUNNING,
            Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
            Status::Exited => ContainerSummaryStateEnum::EXITED,
            Status::Removing => ContainerSummaryStateEnum::REMOVING,
            Status::Dead => ContainerSummaryStateEnum::DEAD,
        };
        let (mode, nets, _) = self.container_networks(rec);
        let networks: HashMap<_, _> = nets.into_iter().collect();
        ContainerSummary {
            id: Some(rec.id.clone()),
            names: Some(vec![format!("/{}", rec.name)]),
            image: Some(rec.image.clone()),
            image_id: Some(rec.image_id.clone()),
            command: Some(command),
            created: unix_of(&rec.created).map(|t| t.timestamp()),
            ports: Some(self.summary_ports(rec)),
            labels: Some(rec.config.labels.clone().unwrap_or_default()),
            state: Some(state),
            status: Some(status_text(rec)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some(mode),
                annotations: None,
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(networks),
            }),
            mounts: Some(
                rec.plan
                    .iter()
                    .flat_map(|p| &p.mounts)
                    .map(|m| crate::volumes::mount_point(m, &self.volumes))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    pub fn container_inspect(&self, key: &str) -> Result<serde_json::Value> {
        let c = self.find(key)?;
        let rec = c.get();
        let dir = self.container_dir(&rec.id);
        let (_, nets, ep) = self.container_networks(&rec);
        let ports = self.ports_doc(&rec);
        let exec_ids: Vec<String> = match self.execs.lock() {
            Ok(m) => m
                .values()
                .filter(|e| e.container_id == rec.id)
                .map(|e| e.id.clone())
                .collect(),
            Err(_) => Vec::new(),
        };
        let st = &rec.state;
        // From the plan: inspect parses nothing and touches nothing on the host.
        let mounts: Vec<engine_types::models::MountPoint> = rec
            .plan
            .iter()
            .flat_map(|p| &p.mounts)
            .map(|m| crate::volumes::mount_point(m, &self.volumes))
            .collect();
        let mut doc = json!({
            "Id": rec.id,
            "Created": rec.created,
            "Path": rec.path,
            "Args": rec.args,
            "State": {
                "Status": st.status_str(),
                "Running": st.status == Status::Running,
                "Paused": st.paused && st.status == Status::Running,
                "Restarting": st.status == Status::Restarting,
                "OOMKilled": st.oom_killed,
                "Dead": st.status == Status::Dead,
                "Pid": st.pid,
                "ExitCode": st.exit_code,
                "Error": st.error,
                "StartedAt": st.started_at,
                "FinishedAt": st.finished_at,
            },
            "Image": rec.image_id,
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": self.log_path(&rec.id),
            "Name": format!("/{}", rec.name),
            "RestartCount": rec.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if exec_ids.is_empty() { serde_json::Value::Null } else { json!(exec_ids) },
            "HostConfig": rec.host_config,
            "GraphDriver": { "Name": "overlay2", "Data": {} },
            "Mounts": mounts,
            "Config": rec.config,
            "NetworkSettings": {
                "Bridge": "",
                "SandboxID": rec.id,
                "SandboxKey": rec.sandbox.as_ref().and_then(|s| s.netns.clone()).map(|p| p.display().to_string()).unwrap_or_default(),
                "HairpinMode": false,
                "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0,
                "Ports": ports,
                "SecondaryIPAddresses": null,
                "SecondaryIPv6Addresses": null,
                "EndpointID": ep.endpoint_id.clone().unwrap_or_default(),
                "Gateway": ep.gateway.clone().unwrap_or_default(),
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "IPAddress": ep.ip_address.clone().unwrap_or_default(),
                "IPPrefixLen": ep.ip_prefix_len.unwrap_or(0),
                "IPv6Gateway": "",
                "MacAddress": ep.mac_address.clone().unwrap_or_default(),
                "Networks": nets,
            },
        });
        if let (Some(h), Some(state)) = (&st.health, doc.get_mut("State")) {
            state["Health"] = h.to_json();
        }
        Ok(doc)
    }

    /// `docker top`, as moby does it: the host's `ps` with the user's arguments,
    /// filtered to the pids in the container's cgroup.
    pub async fn top(
        &self,
        c: &Arc<Container>,
        ps_args: Option<String>,
    ) -> Result<engine_types::models::ContainerTopResponse> {
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let rec = c.get();
        let pids = runtime::cgroups::procs(&rec.plan()?.cgroup_path)
            .map_err(|e| DaemonError::Conflict(e.to_string()))?;
        let args = ps_args.unwrap_or_else(|| "-ef".into());
        let out = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(|e| DaemonError::Internal(format!("running ps: {e}")))?;
        if !out.status.success() {
            return Err(DaemonError::Invalid(format!(
                "ps {args}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
            DaemonError::Invalid(format!("ps {args}: no PID column in its output"))
        })?;
        let mut processes = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !pids.contains(&pid) {
                continue;
            }
            // The last column (the command) may contain spaces.
            let n = titles.len();
            let mut row: Vec<String> = fields[..n.saturating_sub(1).min(fields.len())]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if fields.len() >= n {
                row.push(fields[n - 1..].join(" "));
            }
            processes.push(row);
        }
        Ok(engine_types::models::ContainerTopResponse {
            titles: Some(titles),
            processes: Some(processes),
        })
    }

    pub async fn container_logs(&self, key: &str, opts: LogsOptions) -> Result<LogsStream> {
        let c = self.find(key)?;
        let rec = c.get();
        let tty = rec.config.tty.unwrap_or(false);
        let to_time = |t: Option<f64>| {
            t.and_then(|s| {
                chrono::DateTime::from_timestamp(s.trunc() as i64, (s.fract() * 1e9) as u32)
            })
        };
        let ropts = logs::ReadOptions {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: to_time(opts.since),
            until: to_time(opts.until),
            tail: opts.tail,
            follow: opts.follow,
        };
        let stop = if opts.follow {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let mut ev = c.events.subscribe();
            tokio::spawn(async move {
                loop {
                    let done = {
                        let e = ev.borrow_and_update();
                        !e.running || e.removed
                    };
                    if done || ev.changed().await.is_err() {
                        break;
                    }
                }
                let _ = tx.send(true);
            });
            Some(rx)
        } else {
            None
        };
        let stream = logs::read_logs(self.log_path(&rec.id), ropts, stop);
        let chunks = stream.map(|entry| {
            entry
                .map(|e| LogChunk {
                    stream: match e.stream {
                        logs::Stream::Stdout => StdStream::Stdout,
                        logs::Stream::Stderr => StdStream::Stderr,
                    },
                    timestamp: e.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    data: e.line,
                })
                .map_err(api_server::ApiError::from_err)
        });
        Ok(LogsStream {
            tty,
            chunks: Box::pin(chunks),
        })
    }

    pub async fn container_attach(&self, key: &str, opts: AttachOptions) -> Result<StreamPlan> {
        let c = self.find(key)?;
        let rec = c.get();
        let tty = rec.config.tty.unwrap_or(false);
        let stdin = opts.stdin && rec.config.open_stdin.unwrap_or(false);
        let detach_keys = match &opts.detach_keys {
            Some(k) => attach::parse_detach_keys(k).map_err(DaemonError::Invalid)?,
            None => attach::DEFAULT_DETACH_KEYS.to_vec(),
        };
        // `logs=1` replays the log first; `stream=0` stops after that.
        let replay = opts.logs.then(|| {
            (
                self.log_path(&rec.id),
                logs::ReadOptions {
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                    since: None,
                    until: None,
                    tail: None,
                    follow: false,
                },
            )
        });
        let session_rx = if opts.stream || !opts.logs {
            Some(
                self.attach_session(&c, stdin, opts.stdout, opts.stderr)
                    .await?,
            )
        } else {
            None
        };
        self.emit_container(&rec, "attach", &[]);
        let bus = self.bus.clone();
        Ok(StreamPlan {
            tty,
            run: Box::new(move |mut io| {
                Box::pin(async move {
                    if let Some((path, ropts)) = replay {
                        if replay_logs(&mut io, path, ropts, tty).await.is_err() {
                            return;
                        }
                    }
                    let Some(session_rx) = session_rx else {
                        use tokio::io::AsyncWriteExt;
                        let _ = io.shutdown().await;
                        return;
                    };
                    match session_rx.await {
                        Ok(Ok(session)) => {
                            let end = attach::splice(io, session, tty, detach_keys, |_| {}).await;
                            if end == attach::End::Detached {
                                bus.publish(
                                    engine_types::events::EventType::Container,
                                    "detach",
                                    &rec.id,
                                    crate::events::container_attributes(&rec),
                                );
                            }
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "attach ended before start"),
                        Err(_) => tracing::debug!("attach dropped before the container started"),
                    }
                })
            }),
        })
    }

    /// Connects to the running container's shim now, or queues the attach for the
    /// next start.
    async fn attach_session(
        &self,
        c: &Arc<Container>,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<runtime::shim::IoSession>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Hold the op lock so a concurrent start either sees this pending attach
        // or has already made the container running.
        let _op = c.op.lock().await;
        if c.is_running() {
            let client = ShimClient::new(&self.state_dir(&c.id));
            let s = client.attach(stdin, stdout, stderr).await?;
            let _ = tx.send(Ok(s));
        } else {
            c.add_pending(PendingAttach {
                stdin,
                stdout,
                stderr,
                tx,
            });
        }
        Ok(rx)
    }
}

/// Writes a container's logged output to an attach connection (`attach?logs=1`).
async fn replay_logs(
    io: &mut Box<dyn api_server::backend::HijackedIo>,
    path: std::path::PathBuf,
    opts: logs::ReadOptions,
    tty: bool,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut entries = Box::pin(logs::read_logs(path, opts, None));
    while let Some(entry) = entries.next().await {
        let Ok(e) = entry else { break };
        let bytes = if tty {
            e.line
        } else {
            let s = match e.stream {
                logs::Stream::Stdout => StdStream::Stdout,
                logs::Stream::Stderr => StdStream::Stderr,
            };
            api_server::stream::stdcopy_frame(s, &e.line)
        };
        io.write_all(&bytes).await?;
    }
    Ok(())
}

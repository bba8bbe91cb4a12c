//! Container lifecycle: create, start, stop, kill, restart, remove, rename, wait,
//! exit handling (auto-remove, restart policies) and restore after a restart.

use std::sync::Arc;
use std::time::Duration;

use engine_types::models::{ContainerConfig, ContainerCreateBody};
use futures::future::BoxFuture;
use runtime::shim::{ExitInfo, ShimClient, ShimConfig};

use crate::container::{Container, ContainerRecord, Events, StateRecord, Status};
use crate::error::{DaemonError, Result};
use crate::plan::ContainerPlan;
use crate::spec;
use crate::util;
use crate::Daemon;

/// Default seconds between the stop signal and SIGKILL.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Daemon {
    pub async fn create(
        self: &Arc<Self>,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let image_name = body
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| DaemonError::Invalid("no image specified for the container".into()))?;
        let image = {
            let images = self.images.clone();
            let n = image_name.clone();
            tokio::task::spawn_blocking(move || images.get(&n))
                .await
                .map_err(|e| DaemonError::Internal(format!("image lookup task: {e}")))??
        };
        let mut hc = body.host_config.clone().unwrap_or_default();
        let id = util::new_id();
        let mut plan = ContainerPlan::from_host_config(&id, &hc, &self.plan_defaults())?;
        let (config, path, args) = merge_config(&body, &image, &id)?;
        let anonymous = self.plan_container_volumes(
            &mut plan,
            hc.volumes_from.as_deref().unwrap_or_default(),
            config.volumes.as_deref().unwrap_or_default(),
        )?;
        let result: Result<(String, Vec<String>)> = async {
        let exposed: Vec<String> = config.exposed_ports.iter().flatten().cloned().collect();
        let warnings = self.plan_networks(&mut plan, &body, &exposed)?;
        let runtime = hc
            .runtime
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| self.cfg.default_runtime.clone());
        if self.cfg.runtime_spec(&runtime, &id).is_none() {
            return Err(DaemonError::Invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        hc.runtime = Some(runtime.clone());

        let _guard = self.create_lock.lock().await;
        let name = match name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(&n).to_string();
                if !util::valid_name(&n) {
                    return Err(DaemonError::Invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                if let Some(other) = self.all_containers().iter().find(|c| c.name() == n) {
                    return Err(DaemonError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
                n
            }
            None => {
                let taken: Vec<String> = self.all_containers().iter().map(|c| c.name()).collect();
                let mut retry = 0;
                loop {
                    let n = util::random_name(retry);
                    if !taken.contains(&n) {
                        break n;
                    }
                    retry += 1;
                }
            }
        };

        let dir = self.container_dir(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
        {
            let images = self.images.clone();
            let (cid, iid) = (id.clone(), image.id.clone());
            let res = tokio::task::spawn_blocking(move || images.create_rw_layer(&cid, &iid))
                .await
                .map_err(|e| DaemonError::Internal(format!("rw layer task: {e}")))?;
            if let Err(e) = res {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        }
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: util::now_rfc3339(),
            image: image_name,
            image_id: image.id.clone(),
            path,
            args,
            config,
            host_config: hc,
            state: StateRecord {
                status: Status::Created,
                started_at: util::ZERO_TIME.into(),
                finished_at: util::ZERO_TIME.into(),
                ..Default::default()
            },
            sandbox: None,
            endpoint: None,
            restart_count: 0,
            runtime,
            manual_stop: false,
            has_been_started: false,
            plan: Some(plan),
        };
        self.persist(&rec)?;
        self.emit_container(&rec, "create", &[]);
        self.insert_container(Arc::new(Container::new(rec)));
        tracing::info!(container = %id, "created");
        Ok((id, warnings))
        }
        .await;
        if result.is_err() {
            self.remove_volumes(&anonymous);
        }
        result
    }

    pub async fn start_container(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        let rec = c.get();
        match rec.state.status {
            Status::Running => return Err(DaemonError::NotModified),
            Status::Removing | Status::Dead => {
                return Err(DaemonError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    rec.id
                )))
            }
            _ => {}
        }
        let id = rec.id.clone();
        if let Some(pid) = c.shim_pid() {
            wait_process_gone(pid, Duration::from_secs(10)).await;
        }
        let state_dir = self.state_dir(&id);
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| DaemonError::io(format!("creating {}", state_dir.display()), e))?;
        let rootfs = state_dir.join("rootfs");
        let t_mount = std::time::Instant::now();
        {
            let images = self.images.clone();
            let (cid, target) = (id.clone(), rootfs.clone());
            tokio::task::spawn_blocking(move || images.mount_rw_layer(&cid, &target))
                .await
                .map_err(|e| DaemonError::Internal(format!("mount task: {e}")))??;
        }
        tracing::debug!(container = %id, mount_ms = t_mount.elapsed().as_secs_f64() * 1e3, "rootfs mounted");
        match self.start_mounted(c, &rec, &rootfs).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.release_resources(&id, None).await;
                let code = start_exit_code(&e);
                let msg = e.to_string();
                let rec = c.update(|r| {
                    r.state.status = if r.has_been_started {
                        Status::Exited
                    } else {
                        Status::Created
                    };
                    r.state.exit_code = code;
                    r.state.error = msg.clone();
                    r.state.pid = 0;
                    r.sandbox = None;
                });
                let _ = self.persist(&rec);
                // Attaches that waited for this start get the error.
                for p in c.take_pending() {
                    let _ = p.tx.send(Err(DaemonError::Internal(msg.clone())));
                }
                c.events.send_modify(|ev| {
                    ev.running = false;
                    ev.exits += 1;
                    ev.exit_code = code;
                    ev.error = Some(msg.clone());
                });
                if rec.plan.as_ref().is_some_and(|p| p.auto_remove) {
                    // As Docker: a --rm container that failed to start is removed
                    // (the CLI waits for that before it exits).
                    let me = self.clone();
                    let c = c.clone();
                    tokio::spawn(async move {
                        let _ = me.remove_container_and_volumes(&c, true, true).await;
                    });
                }
                Err(e)
            }
        }
    }

    async fn start_mounted(
        self: &Arc<Self>,
        c: &Arc<Container>,
        rec: &ContainerRecord,
        rootfs: &std::path::Path,
    ) -> Result<()> {
        let id = rec.id.clone();
        let plan = rec.plan()?;
        let t0 = std::time::Instant::now();
        let (rec, netns, link_env) = self.connect_sandbox(c, rec, plan).await?;
        let t_net = t0.elapsed();
        if let Some(wd) = rec.config.working_dir.as_deref().filter(|w| !w.is_empty()) {
            spec::mkdir_in_root(rootfs, wd)?;
        }
        let dir = self.container_dir(&id);
        {
            let me = self.clone();
            let (id, plan, rootfs) = (id.clone(), plan.clone(), rootfs.to_path_buf());
            tokio::task::spawn_blocking(move || me.prepare_volumes(&id, &plan, &rootfs))
                .await
                .map_err(|e| DaemonError::Internal(format!("volume task: {e}")))??;
        }
        let cspec = spec::container_spec(spec::SpecInputs {
            rec: &rec,
            plan,
            rootfs: rootfs.to_path_buf(),
            container_dir: &dir,
            netns: netns.as_deref(),
            extra_env: &link_env,
            volumes: &self.volumes,
        })?;
        let state_dir = self.state_dir(&id);
        let oci = runtime::spec::generate_spec(&cspec)?;
        let runtime_spec = self.cfg.runtime_spec(&rec.runtime, &id).ok_or_else(|| {
            DaemonError::Invalid(format!("unknown or invalid runtime name: {}", rec.runtime))
        })?;
        // The spec is written once, in the form the container's runtime runs it.
        match &runtime_spec {
            runtime::shim::RuntimeSpec::Builtin { root } => {
                runtime::builtin::BuiltinRuntime::new(root.clone())
                    .write_bundle(&id, &state_dir, &oci)?
            }
            _ => runtime::spec::write_bundle(&state_dir, &oci)?,
        }
        let shim_cfg = ShimConfig {
            id: id.clone(),
            bundle: state_dir.clone(),
            runtime: runtime_spec,
            state_dir: state_dir.clone(),
            log_path: self.log_path(&id),
            log_max_size: plan.log.max_size,
            log_max_file: plan.log.max_file,
            tty: rec.config.tty.unwrap_or(false),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            stdin_once: rec.config.stdin_once.unwrap_or(false),
        };
        let t_spec = t0.elapsed();
        let shim_pid = runtime::shim::spawn_shim(&self.cfg.shim_exe, &shim_cfg).await?;
        c.set_shim_pid(Some(shim_pid));
        let t_shim = t0.elapsed();
        let client = ShimClient::new(&state_dir);
        for p in c.take_pending() {
            let res = client
                .attach(p.stdin, p.stdout, p.stderr)
                .await
                .map_err(DaemonError::from);
            let _ = p.tx.send(res);
        }
        let pid = client.start().await?;
        tracing::debug!(
            container = %id,
            network_ms = t_net.as_secs_f64() * 1e3,
            spec_ms = (t_spec - t_net).as_secs_f64() * 1e3,
            shim_spawn_ms = (t_shim - t_spec).as_secs_f64() * 1e3,
            runtime_start_ms = (t0.elapsed() - t_shim).as_secs_f64() * 1e3,
            "start phases"
        );
        let rec = c.update(|r| {
            r.state = StateRecord {
                status: Status::Running,
                pid,
                exit_code: 0,
                oom_killed: false,
                error: String::new(),
                started_at: util::now_rfc3339(),
                finished_at: r.state.finished_at.clone(),
                paused: false,
                health: crate::health::initial(r),
            };
            r.has_been_started = true;
            r.manual_stop = false;
        });
        self.persist(&rec)?;
        c.events.send_modify(|ev| {
            ev.running = true;
            ev.error = None;
        });
        self.emit_container(&rec, "start", &[]);
        self.spawn_health(c);
        tracing::info!(container = %id, pid, "started");
        let me = self.clone();
        let c2 = c.clone();
        tokio::spawn(async move { me.monitor(c2, client).await });
        Ok(())
    }

    /// Unmounts the rootfs, releases the network sandbox and the shim's state dir.
    pub(crate) async fn release_resources(&self, id: &str, sandbox: Option<network::Sandbox>) {
        let state_dir = self.state_dir(id);
        let rootfs = state_dir.join("rootfs");
        let images = self.images.clone();
        let r = tokio::task::spawn_blocking(move || images.unmount(&rootfs)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!(container = %id, error = %e, "unmounting rootfs");
        }
        self.volumes.release(id);
        let sb = match sandbox {
            Some(sb) => Some(sb),
            None => self.find(id).ok().and_then(|c| c.get().sandbox),
        };
        self.stop_dns(id);
        if let Some(sb) = sb {
            if let Err(e) = self.net.release(&sb).await {
                tracing::warn!(container = %id, error = %e, "releasing the network sandbox");
            }
        }
        let _ = std::fs::remove_dir_all(&state_dir);
    }

    /// Waits for the shim to report the exit, then records it.
    async fn monitor(self: Arc<Self>, c: Arc<Container>, client: ShimClient) {
        let info = match client.wait().await {
            Ok(info) => info,
            Err(e) => {
                tracing::error!(container = %c.id, error = %e, "lost the container's shim");
                ShimClient::read_exit(&self.state_dir(&c.id)).unwrap_or(ExitInfo {
                    exit_code: 255,
                    oom_killed: false,
                    finished_at: util::now_rfc3339(),
                    error: Some(format!("lost the container's shim: {e}")),
                })
            }
        };
        self.handle_exit(&c, info).await;
    }

    async fn handle_exit(self: &Arc<Self>, c: &Arc<Container>, info: ExitInfo) {
        let (rec, auto_remove, restart) = {
            let _op = c.op.lock().await;
            let before = c.get();
            self.release_resources(&c.id, before.sandbox.clone()).await;
            let rec = c.update(|r| {
                r.state.status = Status::Exited;
                r.state.pid = 0;
                r.state.exit_code = info.exit_code as i64;
                r.state.oom_killed = info.oom_killed;
                r.state.error = info.error.clone().unwrap_or_default();
                r.state.finished_at = info.finished_at.clone();
                r.state.paused = false;
                r.sandbox = None;
            });
            if let Err(e) = self.persist(&rec) {
                tracing::error!(container = %c.id, error = %e, "persisting exit");
            }
            c.events.send_modify(|ev: &mut Events| {
                ev.running = false;
                ev.exits += 1;
                ev.exit_code = info.exit_code as i64;
                ev.error = info.error.clone();
            });
            if info.oom_killed {
                self.emit_container(&rec, "oom", &[]);
            }
            self.emit_container(&rec, "die", &[("exitCode", info.exit_code.to_string())]);
            tracing::info!(container = %c.id, exit_code = info.exit_code, oom = info.oom_killed, "exited");
            let (auto_remove, restart) = match &rec.plan {
                Some(plan) => (
                    plan.auto_remove,
                    plan.restart
                        .restarts(rec.state.exit_code, rec.restart_count, rec.manual_stop),
                ),
                None => (false, false),
            };
            (rec, auto_remove, restart)
        };
        if auto_remove {
            if let Err(e) = self.remove_container_and_volumes(c, true, true).await {
                tracing::warn!(container = %rec.id, error = %e, "auto-remove failed");
            }
        } else if restart {
            tokio::spawn(self.clone().restart_later(c.clone()));
        }
    }

    /// Restarts a container per its restart policy, after Docker's backoff
    /// (100 ms doubling, capped at a minute). Boxed: start → exit → restart → start
    /// is a cycle of futures.
    fn restart_later(self: Arc<Self>, c: Arc<Container>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let count = c.update(|r| {
                r.restart_count += 1;
                r.state.status = Status::Restarting;
            });
            let _ = self.persist(&count);
            let delay = 100u64.saturating_mul(1 << count.restart_count.clamp(0, 10) as u64);
            tokio::time::sleep(Duration::from_millis(delay.min(60_000))).await;
            if c.get().manual_stop || self.find(&c.id).is_err() {
                return;
            }
            if let Err(e) = self.start_container(&c).await {
                tracing::warn!(container = %c.id, error = %e, "restart failed");
            }
        })
    }

    /// Waits (at most `limit`) until the container has exited more times than `seen`.
    pub(crate) async fn wait_exit_after(c: &Container, seen: u64, limit: Option<Duration>) -> bool {
        let mut rx = c.events.subscribe();
        let fut = async {
            loop {
                {
                    let ev = rx.borrow_and_update();
                    if ev.exits > seen || ev.removed {
                        return;
                    }
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        match limit {
            Some(d) => tokio::time::timeout(d, fut).await.is_ok(),
            None => {
                fut.await;
                true
            }
        }
    }

    pub async fn stop_container(
        &self,
        c: &Arc<Container>,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let seen = {
            let ev = c.events.borrow();
            if !ev.running {
                return Err(DaemonError::NotModified);
            }
            ev.exits
        };
        let rec = c.update(|r| r.manual_stop = true);
        let _ = self.persist(&rec);
        let sig_name = signal
            .or_else(|| rec.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = util::parse_signal(&sig_name)
            .ok_or_else(|| DaemonError::Invalid(format!("invalid signal: {sig_name}")))?;
        let timeout = timeout
            .or(rec.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let client = ShimClient::new(&self.state_dir(&c.id));
        self.emit_container(&rec, "kill", &[("signal", sig.to_string())]);
        if let Err(e) = client.kill(sig).await {
            tracing::debug!(container = %c.id, error = %e, "stop signal not delivered");
        }
        self.thaw_after_signal(c).await;
        let limit = (timeout >= 0).then(|| Duration::from_secs(timeout as u64));
        if Self::wait_exit_after(c, seen, limit).await {
            self.emit_container(&c.get(), "stop", &[]);
            return Ok(());
        }
        tracing::info!(container = %c.id, timeout, "did not stop in time; killing");
        self.emit_container(&rec, "kill", &[("signal", "9".to_string())]);
        if let Err(e) = client.kill(9).await {
            tracing::debug!(container = %c.id, error = %e, "SIGKILL not delivered");
        }
        if Self::wait_exit_after(c, seen, Some(Duration::from_secs(30))).await {
            self.emit_container(&c.get(), "stop", &[]);
            Ok(())
        } else {
            Err(DaemonError::Internal(format!(
                "container {} did not exit 30 s after SIGKILL",
                c.id
            )))
        }
    }

    pub async fn kill_container(&self, c: &Arc<Container>, signal: Option<String>) -> Result<()> {
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                c.name(),
                c.id
            )));
        }
        let sig_name = signal.unwrap_or_else(|| "SIGKILL".into());
        let sig = util::parse_signal(&sig_name)
            .ok_or_else(|| DaemonError::Invalid(format!("invalid signal: {sig_name}")))?;
        if sig == 9 || sig == 15 || sig == 2 {
            let rec = c.update(|r| r.manual_stop = true);
            let _ = self.persist(&rec);
        }
        let seen = c.events.borrow().exits;
        self.emit_container(&c.get(), "kill", &[("signal", sig.to_string())]);
        ShimClient::new(&self.state_dir(&c.id)).kill(sig).await?;
        self.thaw_after_signal(c).await;
        if sig == 9 {
            // Docker returns from a SIGKILL only once the container is gone.
            Self::wait_exit_after(c, seen, Some(Duration::from_secs(10))).await;
        }
        Ok(())
    }

    pub async fn restart_container(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        match self.stop_container(c, signal, timeout).await {
            Ok(()) | Err(DaemonError::NotModified) => {}
            Err(e) => return Err(e),
        }
        // Let exit handling finish before starting again.
        let _ = c.op.lock().await;
        match self.start_container(c).await {
            Ok(()) | Err(DaemonError::NotModified) => {
                self.emit_container(&c.get(), "restart", &[]);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub async fn remove_container(self: &Arc<Self>, c: &Arc<Container>, force: bool) -> Result<()> {
        self.remove_container_and_volumes(c, force, false).await
    }

    /// Removes the container; with `volumes` (`rm -v`, `--rm`) also its
    /// anonymous volumes that no other container uses.
    pub async fn remove_container_and_volumes(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        if c.is_running() {
            if !force {
                return Err(DaemonError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name()
                )));
            }
            let seen = c.events.borrow().exits;
            let rec = c.update(|r| r.manual_stop = true);
            let _ = self.persist(&rec);
            let _ = ShimClient::new(&self.state_dir(&c.id)).kill(9).await;
            self.thaw_after_signal(c).await;
            if !Self::wait_exit_after(c, seen, Some(Duration::from_secs(30))).await {
                return Err(DaemonError::Internal(format!(
                    "could not kill running container {}, cannot remove",
                    c.id
                )));
            }
        }
        let _op = c.op.lock().await;
        if c.events.borrow().removed {
            return Ok(());
        }
        if c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "cannot remove container \"/{}\": container is running",
                c.name()
            )));
        }
        let rec = c.update(|r| r.state.status = Status::Removing);
        self.release_resources(&c.id, rec.sandbox.clone()).await;
        {
            let images = self.images.clone();
            let id = c.id.clone();
            tokio::task::spawn_blocking(move || images.remove_rw_layer(&id))
                .await
                .map_err(|e| DaemonError::Internal(format!("rw layer removal task: {e}")))??;
        }
        let dir = self.container_dir(&c.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(container = %c.id, error = %e, "removing container dir");
            }
        }
        self.unpersist(&c.id)?;
        self.emit_container(&rec, "destroy", &[]);
        self.forget_container(&c.id);
        self.forget_execs_of(&c.id);
        c.events.send_modify(|ev| ev.removed = true);
        tracing::info!(container = %c.id, "removed");
        if volumes {
            let anonymous: Vec<String> = rec
                .plan
                .iter()
                .flat_map(|p| &p.mounts)
                .filter_map(|m| match &m.kind {
                    crate::plan::MountKind::Volume {
                        name,
                        anonymous: true,
                        ..
                    } => Some(name.clone()),
                    _ => None,
                })
                .collect();
            self.remove_volumes(&anonymous);
        }
        Ok(())
    }

    /// `docker update`: records the new limits and applies them to a running
    /// container's cgroup.
    pub async fn update_container(
        &self,
        c: &Arc<Container>,
        body: engine_types::models::ContainerUpdateBody,
    ) -> Result<()> {
        let nano = body.nano_cpus.filter(|n| *n > 0);
        let (cpu_quota, cpu_period) =
            crate::plan::cpu_quota_period(nano, body.cpu_quota, body.cpu_period);
        let upd = runtime::cgroups::ResourceUpdate {
            memory: body.memory.filter(|m| *m != 0),
            memory_swap: body.memory_swap.filter(|m| *m != 0),
            cpu_shares: body.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
            cpu_quota,
            cpu_period,
            pids_limit: body.pids_limit.filter(|p| *p != 0),
            cpuset_cpus: None,
        };
        // Validated against the plan (one place for the rules) before the
        // cgroup changes.
        let restart = body
            .restart_policy
            .as_ref()
            .map(|p| crate::plan::RestartPolicy::parse(Some(p)))
            .transpose()?;
        let plan = c.get().plan()?.updated(&upd, restart)?;
        if c.is_running() {
            runtime::cgroups::update(&plan.cgroup_path, &upd).map_err(|e| {
                DaemonError::Invalid(format!("Cannot update container {}: {e}", c.id))
            })?;
        }
        let rec = c.update(|r| {
            let hc = &mut r.host_config;
            if upd.memory.is_some() {
                hc.memory = upd.memory;
            }
            if upd.memory_swap.is_some() {
                hc.memory_swap = upd.memory_swap;
            }
            if nano.is_some() {
                hc.nano_cpus = nano;
            }
            if body.cpu_quota.is_some() && nano.is_none() {
                hc.cpu_quota = body.cpu_quota;
            }
            if body.cpu_period.is_some() && nano.is_none() {
                hc.cpu_period = body.cpu_period;
            }
            if upd.cpu_shares.is_some() {
                hc.cpu_shares = body.cpu_shares;
            }
            if upd.pids_limit.is_some() {
                hc.pids_limit = upd.pids_limit;
            }
            if let Some(rp) = &body.restart_policy {
                hc.restart_policy = Some(rp.clone());
            }
            r.plan = Some(plan);
        });
        self.persist(&rec)?;
        self.emit_container(&rec, "update", &[]);
        Ok(())
    }

    pub async fn rename_container(&self, c: &Arc<Container>, new_name: &str) -> Result<()> {
        let n = new_name.strip_prefix('/').unwrap_or(new_name).to_string();
        if !util::valid_name(&n) {
            return Err(DaemonError::Invalid(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _guard = self.create_lock.lock().await;
        if c.name() == n {
            return Err(DaemonError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = self.all_containers().iter().find(|o| o.name() == n) {
            return Err(DaemonError::Conflict(format!(
                "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = c.name();
        let rec = c.update(|r| r.name = n.clone());
        self.persist(&rec)?;
        self.emit_container(&rec, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// Registers a wait; the returned future resolves when the condition holds.
    pub fn wait_container(
        &self,
        c: &Arc<Container>,
        condition: api_server::backend::WaitCondition,
    ) -> BoxFuture<
        'static,
        std::result::Result<api_server::backend::WaitResult, api_server::ApiError>,
    > {
        use api_server::backend::{WaitCondition, WaitResult};
        let mut rx = c.events.subscribe();
        let start = rx.borrow_and_update().clone();
        Box::pin(async move {
            loop {
                let ev = rx.borrow_and_update().clone();
                let done = match condition {
                    WaitCondition::NotRunning => !ev.running,
                    WaitCondition::NextExit => ev.exits > start.exits || ev.removed,
                    WaitCondition::Removed => ev.removed,
                };
                if done {
                    // Docker reports start failures on the start call; the wait
                    // body carries only the exit code.
                    return Ok(WaitResult {
                        status_code: ev.exit_code,
                        error: None,
                    });
                }
                if rx.changed().await.is_err() {
                    // The container object is gone: it was removed.
                    let ev = rx.borrow().clone();
                    return Ok(WaitResult {
                        status_code: ev.exit_code,
                        error: None,
                    });
                }
            }
        })
    }

    /// After a daemon restart: reconnect to live shims, record the exits of
    /// containers that stopped while the daemon was down, clean up leftovers.
    pub(crate) async fn restore(self: &Arc<Self>) -> Result<()> {
        let records = self.load_records()?;
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for rec in records {
            let running = matches!(rec.state.status, Status::Running | Status::Restarting);
            let c = Arc::new(Container::new(rec.clone()));
            self.insert_container(c.clone());
            let state_dir = self.state_dir(&rec.id);
            if !running {
                if state_dir.exists() {
                    // The daemon died between spawning the shim and recording the
                    // start: stop what it left and release it.
                    let client = ShimClient::new(&state_dir);
                    if client.is_alive().await {
                        tracing::warn!(container = %rec.id, "stopping a container whose start was interrupted by a daemon crash");
                        let _ = client.kill(9).await;
                        let waited =
                            tokio::time::timeout(Duration::from_secs(2), client.wait()).await;
                        if waited.is_err() {
                            // The shim never started the container: end the shim.
                            if let Some(pid) = std::fs::read_to_string(state_dir.join("shim.pid"))
                                .ok()
                                .and_then(|p| p.trim().parse::<i32>().ok())
                            {
                                let _ = nix::sys::signal::kill(
                                    nix::unistd::Pid::from_raw(pid),
                                    nix::sys::signal::Signal::SIGKILL,
                                );
                            }
                        }
                    }
                    self.release_resources(&rec.id, rec.sandbox.clone()).await;
                }
                continue;
            }
            let client = ShimClient::new(&state_dir);
            c.set_shim_pid(ShimClient::read_shim_pid(&state_dir));
            if client.is_alive().await {
                if let Some(sb) = rec.sandbox.clone() {
                    live.push(sb);
                }
                c.events.send_modify(|ev| ev.running = true);
                self.spawn_health(&c);
                let me = self.clone();
                tokio::spawn(async move { me.monitor(c, client).await });
                tracing::info!(container = %rec.id, "reconnected to running container");
            } else {
                let info = ShimClient::read_exit(&state_dir).unwrap_or(ExitInfo {
                    exit_code: 255,
                    oom_killed: false,
                    finished_at: util::now_rfc3339(),
                    error: Some("the container's shim is gone (host reboot?)".into()),
                });
                c.events.send_modify(|ev| ev.running = true);
                dead.push((c, info));
            }
        }
        let running: Vec<(String, Vec<String>)> = self
            .all_containers()
            .iter()
            .filter(|c| c.events.borrow().running)
            .map(|c| {
                let rec = c.get();
                let names = rec
                    .plan
                    .iter()
                    .flat_map(|p| crate::volumes::plan_volumes(p).map(str::to_string))
                    .collect();
                (rec.id, names)
            })
            .collect();
        self.volumes.restore_users(&running);
        if let Err(e) = self.net.restore(&live).await {
            tracing::warn!(error = %e, "restoring published ports");
        }
        self.restore_dns(&live).await;
        for (c, info) in dead {
            tracing::info!(container = %c.id, exit_code = info.exit_code, "exited while the daemon was down");
            self.handle_exit(&c, info).await;
        }
        if let Err(e) = self.net.cleanup_stale(&live).await {
            tracing::warn!(error = %e, "cleaning up stale network state");
        }
        Ok(())
    }
}

/// Waits until process `pid` has exited (gone or a zombie), at most `limit`.
async fn wait_process_gone(pid: u32, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if !alive || std::time::Instant::now() >= deadline {
            if alive {
                tracing::warn!(pid, "previous shim still running; starting anyway");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `State.ExitCode` of a container that failed to start: the code the shim
/// decided (127: command not found, 126: not executable, as the HTTP status
/// derived from the same error), else Docker's 128.
fn start_exit_code(e: &DaemonError) -> i64 {
    match e {
        DaemonError::Shim(runtime::shim::ShimError::Start { exit_code, .. }) => {
            i64::from(*exit_code)
        }
        _ => 128,
    }
}

/// Merges the image's config under the user's, as Docker does at create.
fn merge_config(
    body: &ContainerCreateBody,
    image: &image::Image,
    id: &str,
) -> Result<(ContainerConfig, String, Vec<String>)> {
    let img = image.config.config.clone().unwrap_or_default();
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for e in body.env.iter().flatten() {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next().unwrap_or(x) != key);
        env.push(e.clone());
    }
    // `--entrypoint ""` arrives as [""]: an explicit reset of the image's entrypoint.
    let user_entrypoint = body.entrypoint.clone().map(|ep| {
        if ep.len() == 1 && ep[0].is_empty() {
            Vec::new()
        } else {
            ep
        }
    });
    let entrypoint: Vec<String> = match &user_entrypoint {
        Some(ep) => ep.clone(),
        None => img.entrypoint.clone().unwrap_or_default(),
    };
    let user_cmd = body.cmd.clone().filter(|c| !c.is_empty());
    let cmd: Vec<String> = match (&user_cmd, &user_entrypoint) {
        (Some(c), _) => c.clone(),
        // A (non-empty) user entrypoint resets the image's CMD, as in moby's merge.
        (None, Some(ep)) if !ep.is_empty() => Vec::new(),
        (None, _) => img.cmd.clone().unwrap_or_default(),
    };
    let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Err(DaemonError::Invalid("No command specified".into()));
    }
    let path = argv.remove(0);
    let mut labels: std::collections::HashMap<String, String> =
        img.labels.clone().unwrap_or_default().into_iter().collect();
    for (k, v) in body.labels.iter().flatten() {
        labels.insert(k.clone(), v.clone());
    }
    let host_network = body
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.as_deref())
        == Some("host");
    let hostname = body
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| {
            // With the host's network the container sees the host's name, as in Docker.
            if host_network {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| id[..12].to_string())
            } else {
                id[..12].to_string()
            }
        });
    let mut exposed = body.exposed_ports.clone().unwrap_or_default();
    for k in img.exposed_ports.iter().flatten().map(|(k, _)| k) {
        if !exposed.contains(k) {
            exposed.push(k.clone());
        }
    }
    let mut volumes = body.volumes.clone().unwrap_or_default();
    for k in img.volumes.iter().flatten().map(|(k, _)| k) {
        if !volumes.contains(k) {
            volumes.push(k.clone());
        }
    }
    let config = ContainerConfig {
        hostname: Some(hostname),
        domainname: Some(body.domainname.clone().unwrap_or_default()),
        user: Some(
            body.user
                .clone()
                .filter(|u| !u.is_empty())
                .or(img.user.clone())
                .unwrap_or_default(),
        ),
        attach_stdin: Some(body.attach_stdin.unwrap_or(false)),
        attach_stdout: Some(body.attach_stdout.unwrap_or(false)),
        attach_stderr: Some(body.attach_stderr.unwrap_or(false)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: Some(body.tty.unwrap_or(false)),
        open_stdin: Some(body.open_stdin.unwrap_or(false)),
        stdin_once: Some(body.stdin_once.unwrap_or(false)),
        env: Some(env),
        cmd: (!cmd.is_empty()).then_some(cmd),
        healthcheck: body.healthcheck.clone().or_else(|| {
            img.healthcheck
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
        }),
        args_escaped: body.args_escaped,
        image: Some(body.image.clone().unwrap_or_default()),
        volumes: (!volumes.is_empty()).then_some(volumes),
        working_dir: Some(
            body.working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or(img.working_dir.clone())
                .unwrap_or_default(),
        ),
        entrypoint: (!entrypoint.is_empty()).then_some(entrypoint),
        network_disabled: body.network_disabled,
        on_build: img.on_build.clone(),
        labels: Some(labels),
        stop_signal: body.stop_signal.clone().or(img.stop_signal.clone()),
        stop_timeout: body.stop_timeout,
        shell: body.shell.clone(),
    };
    Ok((config, path, argv))
}

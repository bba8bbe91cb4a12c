//! Healthchecks: the probe a container's config asks for (`HEALTHCHECK`,
//! `--health-*`), run through the container's shim at its interval, and the
//! state machine behind `State.Health` (starting → healthy ⇄ unhealthy), as
//! moby's `daemon/health.go` defines it.

use std::sync::Arc;
use std::time::Duration;

use engine_types::models::HealthConfig;
use futures::StreamExt;
use runtime::shim::{Frame, ShimClient};
use serde::{Deserialize, Serialize};

use crate::container::{Container, ContainerRecord, Status};
use crate::error::{DaemonError, Result};
use crate::util;
use crate::Daemon;

/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of a probe's output kept.
const MAX_OUTPUT: usize = 4096;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result (`State.Health.Log[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`, persisted with the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HealthRecord {
    pub status: HealthStatus,
    pub failing_streak: i64,
    pub log: Vec<ProbeResult>,
}

impl HealthRecord {
    /// Records a result. A failure during the start period does not count
    /// while the container has never been healthy. Returns true when the
    /// status changed.
    pub fn record(&mut self, result: ProbeResult, retries: i64, in_start_period: bool) -> bool {
        let before = self.status;
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        if self.log.len() > MAX_LOG_ENTRIES {
            let extra = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..extra);
        }
        before != self.status
    }

    /// `State.Health` of inspect.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Status": self.status.as_str(),
            "FailingStreak": self.failing_streak,
            "Log": self.log.iter().map(|r| serde_json::json!({
                "Start": r.start,
                "End": r.end,
                "ExitCode": r.exit_code,
                "Output": r.output,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A container's healthcheck, with Docker's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The command to exec.
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: i64,
    pub start_period: Duration,
    pub start_interval: Duration,
}

fn nanos(v: Option<i64>, default: Duration) -> Duration {
    match v {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Probe {
    /// None without a healthcheck, with `NONE` (`--no-healthcheck`) or an empty
    /// test. `shell` is the container's `Shell` for `CMD-SHELL`.
    pub fn from_config(cfg: Option<&HealthConfig>, shell: Option<&[String]>) -> Option<Self> {
        let cfg = cfg?;
        let test = cfg.test.as_deref().unwrap_or_default();
        let (kind, rest) = test.split_first()?;
        let argv: Vec<String> = match kind.as_str() {
            "CMD" => rest.to_vec(),
            "CMD-SHELL" => {
                let shell = shell
                    .filter(|s| !s.is_empty())
                    .map(<[String]>::to_vec)
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell
                    .into_iter()
                    .chain(std::iter::once(rest.join(" ")))
                    .collect()
            }
            _ => return None,
        };
        if argv.is_empty() {
            return None;
        }
        Some(Self {
            argv,
            interval: nanos(cfg.interval, DEFAULT_INTERVAL),
            timeout: nanos(cfg.timeout, DEFAULT_TIMEOUT),
            retries: cfg.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
            start_period: nanos(cfg.start_period, Duration::ZERO),
            start_interval: nanos(cfg.start_interval, DEFAULT_START_INTERVAL),
        })
    }

    fn of(rec: &ContainerRecord) -> Option<Self> {
        Self::from_config(rec.config.healthcheck.as_ref(), rec.config.shell.as_deref())
    }

    /// The wait before the next probe: the start interval while the container
    /// starts within its start period, the interval otherwise.
    fn next_wait(&self, status: HealthStatus, since_start: Duration) -> Duration {
        if status == HealthStatus::Starting && since_start < self.start_period {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// The health a container starts with: `starting` when it has a healthcheck.
pub fn initial(rec: &ContainerRecord) -> Option<HealthRecord> {
    Probe::of(rec).map(|_| HealthRecord::default())
}

fn since(rfc: &str) -> Duration {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or(Duration::ZERO)
}

impl Daemon {
    /// Starts the healthcheck task of a running container (at start and when
    /// the daemon reconnects to it). The task ends when the container exits.
    pub(crate) fn spawn_health(self: &Arc<Self>, c: &Arc<Container>) {
        let Some(probe) = Probe::of(&c.get()) else {
            return;
        };
        let seen = c.events.borrow().exits;
        let me = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            loop {
                let rec = c.get();
                let status = rec
                    .state
                    .health
                    .as_ref()
                    .map(|h| h.status)
                    .unwrap_or_default();
                let wait = probe.next_wait(status, since(&rec.state.started_at));
                if Self::wait_exit_after(&c, seen, Some(wait)).await {
                    return;
                }
                if !c.is_running() {
                    return;
                }
                if c.get().state.paused {
                    continue;
                }
                let result = me.run_probe(&c, &probe).await;
                if c.events.borrow().exits != seen || !c.is_running() {
                    return;
                }
                me.record_probe(&c, &probe, result);
            }
        });
    }

    fn record_probe(&self, c: &Container, probe: &Probe, result: ProbeResult) {
        let mut changed = false;
        let rec = c.update(|r| {
            if r.state.status != Status::Running {
                return;
            }
            let in_start = since(&r.state.started_at) < probe.start_period;
            let h = r.state.health.get_or_insert_with(HealthRecord::default);
            changed = h.record(result, probe.retries, in_start);
        });
        if let Err(e) = self.persist(&rec) {
            tracing::warn!(container = %c.id, error = %e, "persisting the health state");
        }
        if changed {
            if let Some(h) = &rec.state.health {
                tracing::info!(container = %c.id, status = h.status.as_str(), "health changed");
                self.emit_container(&rec, &format!("health_status: {}", h.status.as_str()), &[]);
            }
        }
    }

    /// Runs the probe once in the container, through its shim.
    async fn run_probe(&self, c: &Container, probe: &Probe) -> ProbeResult {
        let start = util::now_rfc3339();
        let (exit_code, output) = match self.exec_probe(c, probe).await {
            Ok(r) => r,
            Err(e) => (-1, format!("health check failed to run: {e}")),
        };
        ProbeResult {
            start,
            end: util::now_rfc3339(),
            exit_code,
            output,
        }
    }

    async fn exec_probe(&self, c: &Container, probe: &Probe) -> Result<(i64, String)> {
        let rec = c.get();
        let state_dir = self.state_dir(&c.id);
        let base = oci_spec::runtime::Spec::load(state_dir.join("config.json"))
            .map_err(|e| DaemonError::Internal(format!("reading the container's spec: {e}")))?;
        let process = runtime::spec::exec_process(
            &base,
            &state_dir.join("rootfs"),
            &runtime::spec::ExecConfig {
                args: probe.argv.clone(),
                env: Vec::new(),
                user: rec.config.user.clone().unwrap_or_default(),
                cwd: String::new(),
                tty: false,
                privileged: false,
            },
        )?;
        let client = ShimClient::new(&state_dir);
        let (pid, session) = client.exec(&util::new_id(), process, false, false).await?;
        let mut output = session.output;
        let mut out = Vec::new();
        let mut code = None;
        let collect = async {
            while let Some(f) = output.next().await {
                match f {
                    Ok(Frame::Data(_, b)) => {
                        let room = MAX_OUTPUT.saturating_sub(out.len());
                        out.extend_from_slice(&b[..b.len().min(room)]);
                    }
                    Ok(Frame::Exit(c)) => code = Some(c as i64),
                    Err(_) => break,
                }
            }
        };
        if tokio::time::timeout(probe.timeout, collect).await.is_err() {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Ok((
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    humantime_secs(probe.timeout)
                ),
            ));
        }
        Ok((
            code.unwrap_or(-1),
            String::from_utf8_lossy(&out).into_owned(),
        ))
    }
}

/// `30s`, `1.5s`, as Go prints a duration in this message.
fn humantime_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: format!("out {code}"),
        }
    }

    #[test]
    fn healthy_unhealthy_healthy() {
        let mut h = HealthRecord::default();
        assert_eq!(h.status, HealthStatus::Starting);
        assert!(h.record(result(0), 2, false));
        assert_eq!(h.status, HealthStatus::Healthy);
        assert!(!h.record(result(1), 2, false));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1));
        assert!(h.record(result(1), 2, false));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        assert!(!h.record(result(1), 2, false));
        assert_eq!(h.failing_streak, 3);
        assert!(h.record(result(0), 2, false));
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
    }

    #[test]
    fn start_period_failures_do_not_count_until_healthy() {
        let mut h = HealthRecord::default();
        for _ in 0..5 {
            assert!(!h.record(result(1), 1, true));
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert!(h.record(result(1), 1, false));
        assert_eq!(h.status, HealthStatus::Unhealthy);
        // Once healthy, failures count even inside the start period.
        let mut h = HealthRecord::default();
        h.record(result(0), 1, true);
        assert!(h.record(result(1), 1, true));
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn log_keeps_the_last_five() {
        let mut h = HealthRecord::default();
        for i in 0..8 {
            h.record(result(i), 3, false);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
        let j = h.to_json();
        assert_eq!(j["Log"].as_array().unwrap().len(), 5);
        assert_eq!(j["Status"], "unhealthy");
        assert_eq!(j["Log"][4]["Output"], "out 7");
    }

    fn cfg(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            interval: Some(2_000_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn probe_from_config() {
        let p = Probe::from_config(Some(&cfg(&["CMD-SHELL", "test -f /ok"])), None).unwrap();
        assert_eq!(p.argv, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(p.interval, Duration::from_secs(2));
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.retries, 3);
        let p = Probe::from_config(Some(&cfg(&["CMD", "true", "x"])), None).unwrap();
        assert_eq!(p.argv, ["true", "x"]);
        let sh = vec!["/bin/ash".to_string(), "-e".to_string(), "-c".to_string()];
        let p = Probe::from_config(Some(&cfg(&["CMD-SHELL", "x"])), Some(&sh)).unwrap();
        assert_eq!(p.argv, ["/bin/ash", "-e", "-c", "x"]);
        assert!(Probe::from_config(Some(&cfg(&["NONE"])), None).is_none());
        assert!(Probe::from_config(Some(&cfg(&[])), None).is_none());
        assert!(Probe::from_config(Some(&cfg(&["CMD"])), None).is_none());
        assert!(Probe::from_config(None, None).is_none());
    }

    #[test]
    fn start_interval_applies_only_while_starting_in_the_start_period() {
        let p = Probe {
            argv: vec!["true".into()],
            interval: Duration::from_secs(30),
            timeout: DEFAULT_TIMEOUT,
            retries: 3,
            start_period: Duration::from_secs(10),
            start_interval: Duration::from_secs(1),
        };
        let s = Duration::from_secs(2);
        assert_eq!(
            p.next_wait(HealthStatus::Starting, s),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.next_wait(HealthStatus::Healthy, s),
            Duration::from_secs(30)
        );
        assert_eq!(
            p.next_wait(HealthStatus::Starting, Duration::from_secs(11)),
            Duration::from_secs(30)
        );
        assert_eq!(humantime_secs(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humantime_secs(Duration::from_secs(30)), "30s");
    }
}

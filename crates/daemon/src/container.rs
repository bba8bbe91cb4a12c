//! A container as the daemon keeps it: the persisted record plus in-memory
//! coordination (state notifications, an operation lock, attaches waiting for
//! the container to start).

use std::sync::Mutex;

use engine_types::models::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::error::DaemonError;
use crate::plan::ContainerPlan;

/// Lifecycle status, as `State.Status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Restarting,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct StateRecord {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// Frozen by `docker pause` (the status stays `Running`).
    #[serde(default)]
    pub paused: bool,
    /// The healthcheck's state while the container runs with one.
    #[serde(default)]
    pub health: Option<crate::health::HealthRecord>,
}

impl StateRecord {
    /// `State.Status` as Docker shows it: `paused` for a frozen running container.
    pub fn status_str(&self) -> &'static str {
        if self.paused && self.status == Status::Running {
            "paused"
        } else {
            self.status.as_str()
        }
    }
}

/// Everything persisted about a container (the `containers.data` JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: StateRecord,
    /// The network sandbox while the container runs (None for `container:` mode,
    /// whose sandbox is the other container's).
    #[serde(default)]
    pub sandbox: Option<network::Sandbox>,
    /// The single endpoint records of older versions kept; moved into `sandbox`
    /// when loaded.
    #[serde(default, skip_serializing)]
    pub endpoint: Option<network::Endpoint>,
    #[serde(default)]
    pub restart_count: i64,
    pub runtime: String,
    #[serde(default)]
    pub manual_stop: bool,
    #[serde(default)]
    pub has_been_started: bool,
    /// The plan made at create (None only for a record of an older version whose
    /// HostConfig no longer plans on this host; see `Daemon::load_records`).
    #[serde(default)]
    pub plan: Option<ContainerPlan>,
}

impl ContainerRecord {
    /// The container's plan.
    pub fn plan(&self) -> Result<&ContainerPlan, DaemonError> {
        self.plan.as_ref().ok_or_else(|| {
            DaemonError::Invalid(format!(
                "container {} was created by an older Berth with options this host no longer supports (see the daemon log); remove and recreate it",
                self.id
            ))
        })
    }
}

/// What waiters watch: a counter of exits and whether the container is gone.
#[derive(Debug, Clone, Default)]
pub struct Events {
    pub running: bool,
    pub exits: u64,
    pub exit_code: i64,
    pub error: Option<String>,
    pub removed: bool,
}

/// An attach that arrived before the container started (`docker run -it`
/// attaches first): the start path connects it to the shim before the process
/// runs, so no output is missed.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: oneshot::Sender<Result<runtime::shim::IoSession, DaemonError>>,
}

pub struct Container {
    pub id: String,
    rec: Mutex<ContainerRecord>,
    pub events: watch::Sender<Events>,
    /// Serializes start, exit handling and removal.
    pub op: tokio::sync::Mutex<()>,
    pub pending: Mutex<Vec<PendingAttach>>,
    /// Pid of the container's latest shim. A shim reports the exit before it
    /// cleans up the runtime state, so a new start waits for the old shim.
    pub shim_pid: Mutex<Option<u32>>,
}

impl Container {
    pub fn new(rec: ContainerRecord) -> Self {
        let ev = Events {
            running: rec.state.status == Status::Running,
            exits: 0,
            exit_code: rec.state.exit_code,
            error: None,
            removed: false,
        };
        let (events, _) = watch::channel(ev);
        Self {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            events,
            op: tokio::sync::Mutex::new(()),
            pending: Mutex::new(Vec::new()),
            shim_pid: Mutex::new(None),
        }
    }

    /// A copy of the record.
    pub fn get(&self) -> ContainerRecord {
        self.lock().clone()
    }

    /// Changes the record under its lock and returns a copy of the result.
    pub fn update(&self, f: impl FnOnce(&mut ContainerRecord)) -> ContainerRecord {
        let mut g = self.lock();
        f(&mut g);
        g.clone()
    }

    pub fn name(&self) -> String {
        self.lock().name.clone()
    }

    pub fn is_running(&self) -> bool {
        self.events.borrow().running
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ContainerRecord> {
        match self.rec.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn set_shim_pid(&self, pid: Option<u32>) {
        match self.shim_pid.lock() {
            Ok(mut g) => *g = pid,
            Err(p) => *p.into_inner() = pid,
        }
    }

    pub fn shim_pid(&self) -> Option<u32> {
        match self.shim_pid.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    pub fn take_pending(&self) -> Vec<PendingAttach> {
        match self.pending.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    pub fn add_pending(&self, p: PendingAttach) {
        match self.pending.lock() {
            Ok(mut g) => g.push(p),
            Err(poisoned) => poisoned.into_inner().push(p),
        }
    }
}

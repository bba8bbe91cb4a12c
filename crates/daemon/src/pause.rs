//! `docker pause` / `unpause`: freezing a running container's cgroup (the
//! freezer controller on cgroup v1, `cgroup.freeze` on v2), and thawing a
//! paused container that is being stopped or killed, so it can take the signal.

use std::sync::Arc;

use crate::container::Container;
use crate::error::{DaemonError, Result};
use crate::Daemon;

async fn set_frozen(cgroup_path: String, frozen: bool) -> Result<()> {
    tokio::task::spawn_blocking(move || runtime::cgroups::set_frozen(&cgroup_path, frozen))
        .await
        .map_err(|e| DaemonError::Internal(format!("freezer task: {e}")))?
        .map_err(|e| DaemonError::Internal(e.to_string()))
}

impl Daemon {
    pub async fn pause_container(&self, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        let rec = c.get();
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if rec.state.paused {
            return Err(DaemonError::Conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        let cg = rec.plan()?.cgroup_path.clone();
        set_frozen(cg, true)
            .await
            .map_err(|e| DaemonError::Internal(format!("Cannot pause container {}: {e}", c.id)))?;
        let rec = c.update(|r| r.state.paused = true);
        self.persist(&rec)?;
        self.emit_container(&rec, "pause", &[]);
        Ok(())
    }

    pub async fn unpause_container(&self, c: &Arc<Container>) -> Result<()> {
        let _op = c.op.lock().await;
        let rec = c.get();
        if !rec.state.paused || !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        let cg = rec.plan()?.cgroup_path.clone();
        set_frozen(cg, false).await.map_err(|e| {
            DaemonError::Internal(format!("Cannot unpause container {}: {e}", c.id))
        })?;
        let rec = c.update(|r| r.state.paused = false);
        self.persist(&rec)?;
        self.emit_container(&rec, "unpause", &[]);
        Ok(())
    }

    /// After a stop or kill signal was sent to a paused container: thaws it so
    /// the signal is delivered (as dockerd does).
    pub(crate) async fn thaw_after_signal(&self, c: &Container) {
        let rec = c.get();
        if !rec.state.paused {
            return;
        }
        let Some(cg) = rec.plan.as_ref().map(|p| p.cgroup_path.clone()) else {
            return;
        };
        match set_frozen(cg, false).await {
            Ok(()) => {
                let rec = c.update(|r| r.state.paused = false);
                let _ = self.persist(&rec);
                self.emit_container(&rec, "unpause", &[]);
            }
            Err(e) => tracing::warn!(container = %c.id, error = %e, "thawing a paused container"),
        }
    }
}

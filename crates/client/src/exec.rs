//! Typed exec endpoints (`/containers/{id}/exec`, `/exec/{id}/...`).

use engine_types::models::{ExecConfig, ExecInspectResponse, ExecStartConfig, IdResponse};

use crate::{enc, Client, Result, Upgraded};

impl Client {
    /// `POST /containers/{id}/exec`: creates an exec instance.
    pub async fn exec_create(&self, container: &str, cfg: &ExecConfig) -> Result<IdResponse> {
        self.post_json(&format!("/containers/{}/exec", enc(container)), cfg)
            .await
    }

    /// `POST /exec/{id}/start` for a detached exec (`Detach: true`).
    pub async fn exec_start_detached(&self, id: &str, cfg: &ExecStartConfig) -> Result<()> {
        self.post_json(&format!("/exec/{}/start", enc(id)), cfg)
            .await
    }

    /// `POST /exec/{id}/start` on a hijacked connection: the exec's
    /// streams, raw both ways.
    pub async fn exec_attach(&self, id: &str, cfg: &ExecStartConfig) -> Result<Upgraded> {
        self.hijack(&format!("/exec/{}/start", enc(id)), Some(cfg))
            .await
    }

    /// `GET /exec/{id}/json`.
    pub async fn exec_inspect(&self, id: &str) -> Result<ExecInspectResponse> {
        self.get_json(&format!("/exec/{}/json", enc(id))).await
    }
}

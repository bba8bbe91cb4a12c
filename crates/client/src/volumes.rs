//! Typed volume endpoints (`/volumes/...`).

use bytes::Bytes;
use hyper::Method;

use engine_types::models::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};

use crate::networks::filters_query;
use crate::{decode, enc, Client, Result};

impl Client {
    /// `GET /volumes`, with Docker's filters JSON (`{"dangling":{"true":true}}`).
    pub async fn volume_list(&self, filters: Option<&str>) -> Result<VolumeListResponse> {
        self.get_json(&format!("/volumes{}", filters_query(filters)))
            .await
    }

    /// `POST /volumes/create`.
    pub async fn volume_create(&self, req: &VolumeCreateRequest) -> Result<Volume> {
        self.post_json("/volumes/create", req).await
    }

    /// `GET /volumes/{name}`, decoded.
    pub async fn volume_inspect(&self, name: &str) -> Result<Volume> {
        decode(&self.volume_inspect_raw(name).await?)
    }

    /// `GET /volumes/{name}` as the daemon sent it.
    pub async fn volume_inspect_raw(&self, name: &str) -> Result<Bytes> {
        self.get_bytes(&format!("/volumes/{}", enc(name))).await
    }

    /// `DELETE /volumes/{name}`; `force` also removes a volume in use by
    /// stopped containers (and ignores a missing one, as Docker does).
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let q = if force { "?force=1" } else { "" };
        self.call_empty(Method::DELETE, &format!("/volumes/{}{q}", enc(name)))
            .await
    }

    /// `POST /volumes/prune`, with Docker's filters JSON.
    pub async fn volume_prune(&self, filters: Option<&str>) -> Result<VolumePruneResponse> {
        self.post(&format!("/volumes/prune{}", filters_query(filters)))
            .await
    }
}

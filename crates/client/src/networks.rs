//! Typed network endpoints (`/networks/...`).

use bytes::Bytes;
use hyper::Method;

use engine_types::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkInspect, NetworkPruneResponse, NetworkSummary,
};

use crate::{decode, enc, query, Client, Result};

/// Query of `GET /networks/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkInspectOptions<'a> {
    /// Detailed information (swarm services and tasks).
    pub verbose: bool,
    /// Look the network up in this scope only ("local", "swarm", "global").
    pub scope: Option<&'a str>,
}

/// `?filters=` when there are any: Docker's JSON map of filters.
pub(crate) fn filters_query(filters: Option<&str>) -> String {
    match filters {
        Some(f) => query(&[("filters", f.to_string())]),
        None => String::new(),
    }
}

impl NetworkInspectOptions<'_> {
    fn query(&self) -> String {
        let mut params = Vec::new();
        if self.verbose {
            params.push(("verbose", "true".to_string()));
        }
        if let Some(s) = self.scope {
            params.push(("scope", s.to_string()));
        }
        query(&params)
    }
}

impl Client {
    /// `GET /networks`, with Docker's filters JSON (`{"driver":{"bridge":true}}`).
    pub async fn network_list(&self, filters: Option<&str>) -> Result<Vec<NetworkSummary>> {
        self.get_json(&format!("/networks{}", filters_query(filters)))
            .await
    }

    /// `GET /networks/{id}`, decoded.
    pub async fn network_inspect(
        &self,
        id: &str,
        opts: NetworkInspectOptions<'_>,
    ) -> Result<NetworkInspect> {
        decode(&self.network_inspect_raw(id, opts).await?)
    }

    /// `GET /networks/{id}` as the daemon sent it.
    pub async fn network_inspect_raw(
        &self,
        id: &str,
        opts: NetworkInspectOptions<'_>,
    ) -> Result<Bytes> {
        self.get_bytes(&format!("/networks/{}{}", enc(id), opts.query()))
            .await
    }

    /// `POST /networks/create`.
    pub async fn network_create(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse> {
        self.post_json("/networks/create", req).await
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, id: &str) -> Result<()> {
        self.call_empty(Method::DELETE, &format!("/networks/{}", enc(id)))
            .await
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(&self, id: &str, req: &NetworkConnectRequest) -> Result<()> {
        self.post_json(&format!("/networks/{}/connect", enc(id)), req)
            .await
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, id: &str, req: &NetworkDisconnectRequest) -> Result<()> {
        self.post_json(&format!("/networks/{}/disconnect", enc(id)), req)
            .await
    }

    /// `POST /networks/prune`, with Docker's filters JSON.
    pub async fn network_prune(&self, filters: Option<&str>) -> Result<NetworkPruneResponse> {
        self.post(&format!("/networks/prune{}", filters_query(filters)))
            .await
    }
}

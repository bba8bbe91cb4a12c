//! The api-server backend, implemented by the daemon. Each method finds the
//! object and delegates; errors convert to API errors by kind.

use std::sync::Arc;

use api_server::backend::{
    ArchivePutOptions, AttachOptions, Backend, BodyReader, BuildRequest, ByteStream, CommitOptions,
    ExecStartOptions, Filters, ImportOptions, JsonStream, ListOptions, LogsOptions, LogsStream,
    PullOptions, RegistryAuth, StreamPlan, WaitCondition, WaitResult,
};
use api_server::ApiError;
use engine_types::models::FilesystemChange;
use engine_types::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerPruneResponse, ContainerSummary,
    ContainerTopResponse, ContainerUpdateBody, ContainerUpdateResponse, ExecConfig,
    ExecInspectResponse, IdResponse, ImageDeleteResponseItem, ImageHistoryResponseItem,
    ImageInspect, ImagePruneResponse, ImageSummary, NetworkConnectRequest, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse,
    SystemVersion,
};
use engine_types::models::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use engine_types::{ContainerPathStat, DfTypes, SystemDataUsage};
use futures::future::BoxFuture;

use crate::container::Status;
use crate::error::DaemonError;
use crate::Daemon;

pub struct DaemonBackend(pub Arc<Daemon>);

type R<T> = Result<T, ApiError>;

#[async_trait::async_trait]
impl Backend for DaemonBackend {
    async fn info(&self) -> R<serde_json::Value> {
        Ok(self.0.info().await)
    }

    async fn version(&self) -> R<SystemVersion> {
        Ok(self.0.version())
    }

    async fn container_create(
        &self,
        name: Option<String>,
        platform: Option<String>,
        body: ContainerCreateBody,
    ) -> R<ContainerCreateResponse> {
        let _ = platform;
        let (id, warnings) = self.0.create(name, body).await?;
        Ok(ContainerCreateResponse { id, warnings })
    }

    async fn container_start(&self, id: &str) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.start_container(&c).await?)
    }

    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.stop_container(&c, signal, timeout).await?)
    }

    async fn container_restart(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.restart_container(&c, signal, timeout).await?)
    }

    async fn container_kill(&self, id: &str, signal: Option<String>) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.kill_container(&c, signal).await?)
    }

    async fn container_wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> R<BoxFuture<'static, R<WaitResult>>> {
        let c = self.0.find(id)?;
        Ok(self.0.wait_container(&c, condition))
    }

    async fn container_remove(&self, id: &str, force: bool, volumes: bool, link: bool) -> R<()> {
        if link {
            return Err(ApiError::not_implemented(
                "removing legacy links is not implemented by Berth",
            ));
        }
        let c = self.0.find(id)?;
        Ok(self
            .0
            .remove_container_and_volumes(&c, force, volumes)
            .await?)
    }

    async fn container_rename(&self, id: &str, new_name: &str) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.rename_container(&c, new_name).await?)
    }

    async fn container_list(&self, opts: ListOptions) -> R<Vec<ContainerSummary>> {
        Ok(self.0.container_list(opts)?)
    }

    async fn container_inspect(&self, id: &str, size: bool) -> R<serde_json::Value> {
        let _ = size;
        Ok(self.0.container_inspect(id)?)
    }

    async fn container_logs(&self, id: &str, opts: LogsOptions) -> R<LogsStream> {
        Ok(self.0.container_logs(id, opts).await?)
    }

    async fn container_attach(&self, id: &str, opts: AttachOptions) -> R<StreamPlan> {
        Ok(self.0.container_attach(id, opts).await?)
    }

    async fn container_resize(&self, id: &str, height: u16, width: u16) -> R<()> {
        let c = self.0.find(id)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!("Container {} is not running", c.id)).into());
        }
        let client = runtime::shim::ShimClient::new(&self.0.state_dir(&c.id));
        client
            .resize(height, width)
            .await
            .map_err(DaemonError::from)?;
        self.0.emit_container(
            &c.get(),
            "resize",
            &[("height", height.to_string()), ("width", width.to_string())],
        );
        Ok(())
    }

    async fn container_top(&self, id: &str, ps_args: Option<String>) -> R<ContainerTopResponse> {
        let c = self.0.find(id)?;
        let top = self.0.top(&c, ps_args).await?;
        self.0.emit_container(&c.get(), "top", &[]);
        Ok(top)
    }

    async fn container_update(
        &self,
        id: &str,
        body: ContainerUpdateBody,
    ) -> R<ContainerUpdateResponse> {
        let c = self.0.find(id)?;
        self.0.update_container(&c, body).await?;
        Ok(ContainerUpdateResponse {
            warnings: Some(Vec::new()),
        })
    }

    async fn network_list(&self, filters: Filters) -> R<Vec<NetworkInspect>> {
        Ok(self.0.network_list(&filters).await?)
    }

    async fn network_inspect(&self, id: &str) -> R<NetworkInspect> {
        Ok(self.0.network_inspect(id).await?)
    }

    async fn network_create(&self, req: NetworkCreateRequest) -> R<NetworkCreateResponse> {
        Ok(self.0.network_create(req).await?)
    }

    async fn volume_list(&self, filters: Filters) -> R<VolumeListResponse> {
        Ok(self.0.volume_list(filters).await?)
    }

    async fn volume_create(&self, req: VolumeCreateRequest) -> R<Volume> {
        Ok(self.0.volume_create(req).await?)
    }

    async fn volume_inspect(&self, name: &str) -> R<Volume> {
        Ok(self.0.volume_inspect(name).await?)
    }

    async fn volume_remove(&self, name: &str, force: bool) -> R<()> {
        Ok(self.0.volume_remove(name, force).await?)
    }

    async fn volume_prune(&self, filters: Filters) -> R<VolumePruneResponse> {
        Ok(self.0.volume_prune(filters).await?)
    }

    async fn system_df(&self, types: DfTypes) -> R<SystemDataUsage> {
        Ok(self.0.system_df(types).await?)
    }

    async fn network_remove(&self, id: &str) -> R<()> {
        Ok(self.0.network_remove(id).await?)
    }

    async fn network_prune(&self, filters: Filters) -> R<NetworkPruneResponse> {
        Ok(self.0.network_prune(&filters).await?)
    }

    async fn network_connect(&self, id: &str, req: NetworkConnectRequest) -> R<()> {
        let net = self.0.find_bridge_network(id)?;
        let c = self.0.find(&req.container)?;
        self.0.network_connect(id, req).await?;
        self.0.emit_network(
            "connect",
            &net.id,
            &net.name,
            &[("container", c.id.clone())],
        );
        Ok(())
    }

    async fn network_disconnect(&self, id: &str, req: NetworkDisconnectRequest) -> R<()> {
        let net = self.0.find_bridge_network(id)?;
        let c = self.0.find(&req.container)?;
        self.0.network_disconnect(id, req).await?;
        self.0.emit_network(
            "disconnect",
            &net.id,
            &net.name,
            &[("container", c.id.clone())],
        );
        Ok(())
    }

    async fn container_path_stat(&self, id: &str, path: &str) -> R<ContainerPathStat> {
        let c = self.0.find(id)?;
        Ok(self.0.path_stat(&c, path).await?)
    }

    async fn container_archive(&self, id: &str, path: &str) -> R<(ContainerPathStat, ByteStream)> {
        let c = self.0.find(id)?;
        Ok(self.0.archive_get(&c, path).await?)
    }

    async fn container_extract(
        &self,
        id: &str,
        path: &str,
        opts: ArchivePutOptions,
        tar: BodyReader,
    ) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.archive_put(&c, path, opts, tar).await?)
    }

    async fn container_changes(&self, id: &str) -> R<Vec<FilesystemChange>> {
        let c = self.0.find(id)?;
        Ok(self.0.changes(&c).await?)
    }

    async fn container_export(&self, id: &str) -> R<ByteStream> {
        let c = self.0.find(id)?;
        Ok(self.0.export(&c).await?)
    }

    async fn container_commit(&self, opts: CommitOptions) -> R<IdResponse> {
        let c = self.0.find(&opts.container)?;
        Ok(self.0.commit(&c, opts).await?)
    }

    async fn container_prune(&self, filters: Filters) -> R<ContainerPruneResponse> {
        let mut deleted = Vec::new();
        for c in self.0.all_containers() {
            let rec = c.get();
            if !matches!(
                rec.state.status,
                Status::Exited | Status::Created | Status::Dead
            ) {
                continue;
            }
            if let Some(labels) = filters.get("label") {
                let have = rec.config.labels.clone().unwrap_or_default();
                let ok = labels.iter().all(|l| match l.split_once('=') {
                    Some((k, v)) => have.get(k).map(String::as_str) == Some(v),
                    None => have.contains_key(l.as_str()),
                });
                if !ok {
                    continue;
                }
            }
            if self.0.remove_container(&c, false).await.is_ok() {
                deleted.push(rec.id);
            }
        }
        Ok(ContainerPruneResponse {
            containers_deleted: Some(deleted),
            space_reclaimed: Some(0),
        })
    }

    async fn exec_create(&self, id: &str, config: ExecConfig) -> R<IdResponse> {
        Ok(IdResponse {
            id: self.0.exec_create(id, config).await?,
        })
    }

    async fn exec_start(&self, exec_id: &str, opts: ExecStartOptions) -> R<Option<StreamPlan>> {
        Ok(self.0.exec_start(exec_id, opts).await?)
    }

    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> R<()> {
        Ok(self.0.exec_resize(exec_id, height, width).await?)
    }

    async fn exec_inspect(&self, exec_id: &str) -> R<ExecInspectResponse> {
        Ok(self.0.exec_inspect(exec_id)?)
    }

    async fn image_list(&self, all: bool, filters: Filters) -> R<Vec<ImageSummary>> {
        Ok(self.0.image_list(all, filters).await?)
    }

    async fn image_inspect(&self, name: &str) -> R<ImageInspect> {
        Ok(self.0.image_inspect(name).await?)
    }

    async fn image_import(&self, src: BodyReader, opts: ImportOptions) -> R<String> {
        Ok(self.0.image_import(src, opts).await?)
    }

    async fn image_load(&self, src: BodyReader) -> R<Vec<String>> {
        Ok(self.0.image_load(src).await?)
    }

    async fn image_save(&self, names: Vec<String>) -> R<ByteStream> {
        Ok(self.0.image_save(names).await?)
    }

    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> R<()> {
        Ok(self.0.image_tag(name, repo, tag).await?)
    }

    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> R<Vec<ImageDeleteResponseItem>> {
        let _ = noprune;
        Ok(self.0.image_remove(name, force).await?)
    }

    async fn image_history(&self, name: &str) -> R<Vec<ImageHistoryResponseItem>> {
        Ok(self.0.image_history(name).await?)
    }

    async fn image_prune(&self, filters: Filters) -> R<ImagePruneResponse> {
        Ok(self.0.image_prune(filters).await?)
    }

    async fn image_pull(&self, opts: PullOptions) -> R<JsonStream> {
        Ok(self.0.image_pull(opts).await?)
    }

    async fn image_push(
        &self,
        name: &str,
        tag: Option<String>,
        auth: RegistryAuth,
    ) -> R<JsonStream> {
        Ok(self.0.image_push(name, tag, auth).await?)
    }

    async fn build(&self, context: BodyReader, opts: BuildRequest) -> R<JsonStream> {
        Ok(self.0.build_image(context, opts).await?)
    }

    async fn registry_login(&self, auth: RegistryAuth) -> R<Option<String>> {
        Ok(self.0.registry_login(auth).await?)
    }

    async fn events(
        &self,
        opts: api_server::events::EventsOptions,
    ) -> R<api_server::backend::EventStream> {
        Ok(self.0.events(opts))
    }

    async fn container_stats(
        &self,
        id: &str,
        opts: api_server::stats::StatsOptions,
    ) -> R<api_server::backend::StatsStream> {
        let c = self.0.find(id)?;
        Ok(self.0.stats(&c, opts)?)
    }

    async fn container_pause(&self, id: &str) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.pause_container(&c).await?)
    }

    async fn container_unpause(&self, id: &str) -> R<()> {
        let c = self.0.find(id)?;
        Ok(self.0.unpause_container(&c).await?)
    }
}

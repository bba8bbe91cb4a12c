//! An in-memory [`Backend`]: records every call with the arguments the handlers
//! parsed, answers canned results, or the error a test set with [`Fake::fail`].

use std::sync::{Arc, Mutex};

use api_server::backend::{
    AttachOptions, BodyReader, BuildRequest, ByteStream, ExecStartOptions, Filters, ImportOptions,
    JsonStream, ListOptions, LogChunk, LogsOptions, LogsStream, PullOptions, RegistryAuth,
    StdStream, StreamPlan, WaitCondition, WaitResult,
};
use api_server::{ApiError, Backend};
use bytes::Bytes;
use engine_types::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerPruneResponse, ContainerSummary,
    ContainerTopResponse, ContainerUpdateBody, ContainerUpdateResponse, ExecConfig,
    ExecInspectResponse, IdResponse, ImageDeleteResponseItem, ImageHistoryResponseItem,
    ImageInspect, ImagePruneResponse, ImageSummary, NetworkConnectRequest, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse,
    SystemVersion,
};
use engine_types::models::{
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse, VolumeUsageData,
};
use engine_types::{DfTypes, SystemDataUsage};
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One backend call with the arguments it received.
#[derive(Debug, Clone)]
pub enum Call {
    Info,
    Version,
    ContainerCreate {
        name: Option<String>,
        platform: Option<String>,
        body: Box<ContainerCreateBody>,
    },
    ContainerStart(String),
    ContainerStop {
        id: String,
        signal: Option<String>,
        timeout: Option<i64>,
    },
    ContainerRestart {
        id: String,
        signal: Option<String>,
        timeout: Option<i64>,
    },
    ContainerKill {
        id: String,
        signal: Option<String>,
    },
    ContainerWait {
        id: String,
        condition: WaitCondition,
    },
    ContainerRemove {
        id: String,
        force: bool,
        volumes: bool,
        link: bool,
    },
    ContainerRename {
        id: String,
        name: String,
    },
    ContainerList(ListOptions),
    ContainerInspect {
        id: String,
        size: bool,
    },
    ContainerLogs {
        id: String,
        opts: LogsOptions,
    },
    ContainerAttach {
        id: String,
        opts: AttachOptions,
    },
    ContainerResize {
        id: String,
        height: u16,
        width: u16,
    },
    ContainerTop {
        id: String,
        ps_args: Option<String>,
    },
    ContainerUpdate {
        id: String,
        body: Box<ContainerUpdateBody>,
    },
    ContainerPrune(Filters),
    NetworkList(Filters),
    NetworkInspect(String),
    NetworkCreate(Box<NetworkCreateRequest>),
    NetworkRemove(String),
    NetworkPrune(Filters),
    NetworkConnect(String, Box<NetworkConnectRequest>),
    NetworkDisconnect(String, Box<NetworkDisconnectRequest>),
    PathStat {
        id: String,
        path: String,
    },
    ArchiveGet {
        id: String,
        path: String,
    },
    ArchivePut {
        id: String,
        path: String,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        body: Vec<u8>,
    },
    Changes(String),
    Export(String),
    Commit(Box<api_server::backend::CommitOptions>),
    ExecCreate {
        id: String,
        config: Box<ExecConfig>,
    },
    ExecStart {
        id: String,
        opts: ExecStartOptions,
    },
    ExecResize {
        id: String,
        height: u16,
        width: u16,
    },
    ExecInspect(String),
    ImageList {
        all: bool,
        filters: Filters,
    },
    ImageInspect(String),
    ImageImport {
        body: Vec<u8>,
        opts: ImportOptions,
    },
    ImageLoad(Vec<u8>),
    ImageSave(Vec<String>),
    ImageTag {
        name: String,
        repo: String,
        tag: Option<String>,
    },
    ImageRemove {
        name: String,
        force: bool,
        noprune: bool,
    },
    ImageHistory(String),
    ImagePrune(Filters),
    ImagePull(PullOptions),
    ImagePush {
        name: String,
        tag: Option<String>,
        auth: RegistryAuth,
    },
    Build {
        context: Vec<u8>,
        opts: Box<BuildRequest>,
    },
    RegistryLogin(RegistryAuth),
    VolumeList(Filters),
    VolumeCreate(Box<VolumeCreateRequest>),
    VolumeInspect(String),
    VolumeRemove {
        name: String,
        force: bool,
    },
    VolumePrune(Filters),
    SystemDf(DfTypes),
    Events(api_server::events::EventsOptions),
    ContainerStats {
        id: String,
        opts: api_server::stats::StatsOptions,
    },
    ContainerPause(String),
    ContainerUnpause(String),
}

/// What the fake answers to `logs`, `attach` and `exec start`.
pub const STDOUT_LINE: &[u8] = b"out\n";
pub const STDERR_LINE: &[u8] = b"err\n";
pub const LOG_TIME: &str = "2024-01-02T03:04:05.000000006Z";
/// What an attach or exec plan writes on its connection.
pub const HIJACKED: &[u8] = b"hijacked output";
/// The exit code a wait resolves to.
pub const EXIT_CODE: i64 = 3;
pub const CREATED_ID: &str = "c0ffee";

/// The fake's answer for a volume.
fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        driver: "local".into(),
        mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
        ..Default::default()
    }
}

#[derive(Default)]
pub struct Fake {
    calls: Mutex<Vec<Call>>,
    fail: Mutex<Option<ApiError>>,
    tty: Mutex<bool>,
    wait_error: Mutex<Option<ApiError>>,
}

impl Fake {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// From now on every call answers `err` (after being recorded).
    pub fn fail(&self, err: ApiError) {
        *self.fail.lock().unwrap() = Some(err);
    }

    /// Logs, attach and exec answer as for a container with a tty.
    pub fn set_tty(&self, tty: bool) {
        *self.tty.lock().unwrap() = tty;
    }

    /// A wait registers, then resolves to `err` instead of the exit code.
    pub fn fail_wait(&self, err: ApiError) {
        *self.wait_error.lock().unwrap() = Some(err);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The one call the request made; panics when it made none or several.
    pub fn only_call(&self) -> Call {
        let calls = self.calls();
        assert_eq!(calls.len(), 1, "expected one backend call, got {calls:?}");
        calls.into_iter().next().unwrap()
    }

    fn record(&self, call: Call) -> Result<(), ApiError> {
        self.calls.lock().unwrap().push(call);
        match self.fail.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn tty(&self) -> bool {
        *self.tty.lock().unwrap()
    }

    fn plan(&self) -> StreamPlan {
        StreamPlan {
            tty: self.tty(),
            run: Box::new(|mut io| {
                async move {
                    let _ = io.write_all(HIJACKED).await;
                    let _ = io.shutdown().await;
                }
                .boxed()
            }),
        }
    }
}

async fn read_all(mut r: BodyReader) -> Vec<u8> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    out
}

fn messages(lines: Vec<serde_json::Value>) -> JsonStream {
    Box::pin(futures::stream::iter(lines))
}

#[async_trait::async_trait]
impl Backend for Fake {
    async fn info(&self) -> Result<serde_json::Value, ApiError> {
        self.record(Call::Info)?;
        Ok(serde_json::json!({ "ID": "fake", "Containers": 0 }))
    }

    async fn version(&self) -> Result<SystemVersion, ApiError> {
        self.record(Call::Version)?;
        Ok(SystemVersion {
            version: Some("0.0.0-fake".into()),
            api_version: Some(engine_types::API_VERSION.into()),
            ..Default::default()
        })
    }

    async fn container_create(
        &self,
        name: Option<String>,
        platform: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, ApiError> {
        self.record(Call::ContainerCreate {
            name,
            platform,
            body: Box::new(body),
        })?;
        Ok(ContainerCreateResponse {
            id: CREATED_ID.into(),
            warnings: vec![],
        })
    }

    async fn container_start(&self, id: &str) -> Result<(), ApiError> {
        self.record(Call::ContainerStart(id.into()))
    }

    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerStop {
            id: id.into(),
            signal,
            timeout,
        })
    }

    async fn container_restart(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerRestart {
            id: id.into(),
            signal,
            timeout,
        })
    }

    async fn container_kill(&self, id: &str, signal: Option<String>) -> Result<(), ApiError> {
        self.record(Call::ContainerKill {
            id: id.into(),
            signal,
        })
    }

    async fn container_wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<BoxFuture<'static, Result<WaitResult, ApiError>>, ApiError> {
        self.record(Call::ContainerWait {
            id: id.into(),
            condition,
        })?;
        let outcome = match self.wait_error.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(WaitResult {
                status_code: EXIT_CODE,
                error: None,
            }),
        };
        Ok(async move { outcome }.boxed())
    }

    async fn container_remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<(), ApiError> {
        self.record(Call::ContainerRemove {
            id: id.into(),
            force,
            volumes,
            link,
        })
    }

    async fn container_rename(&self, id: &str, new_name: &str) -> Result<(), ApiError> {
        self.record(Call::ContainerRename {
            id: id.into(),
            name: new_name.into(),
        })
    }

    async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>, ApiError> {
        self.record(Call::ContainerList(opts))?;
        Ok(vec![ContainerSummary {
            id: Some(CREATED_ID.into()),
            names: Some(vec!["/fake".into()]),
            ..Default::default()
        }])
    }

    async fn container_inspect(&self, id: &str, size: bool) -> Result<serde_json::Value, ApiError> {
        self.record(Call::ContainerInspect {
            id: id.into(),
            size,
        })?;
        Ok(serde_json::json!({ "Id": id, "Name": "/fake" }))
    }

    async fn container_logs(&self, id: &str, opts: LogsOptions) -> Result<LogsStream, ApiError> {
        self.record(Call::ContainerLogs {
            id: id.into(),
            opts,
        })?;
        let chunk = |stream, data: &'static [u8]| {
            Ok(LogChunk {
                stream,
                timestamp: LOG_TIME.into(),
                data: Bytes::from_static(data),
            })
        };
        Ok(LogsStream {
            tty: self.tty(),
            chunks: Box::pin(futures::stream::iter(vec![
                chunk(StdStream::Stdout, STDOUT_LINE),
                chunk(StdStream::Stderr, STDERR_LINE),
            ])),
        })
    }

    async fn container_attach(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> Result<StreamPlan, ApiError> {
        self.record(Call::ContainerAttach {
            id: id.into(),
            opts,
        })?;
        Ok(self.plan())
    }

    async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<(), ApiError> {
        self.record(Call::ContainerResize {
            id: id.into(),
            height,
            width,
        })
    }

    async fn container_top(
        &self,
        id: &str,
        ps_args: Option<String>,
    ) -> Result<ContainerTopResponse, ApiError> {
        self.record(Call::ContainerTop {
            id: id.into(),
            ps_args,
        })?;
        Ok(ContainerTopResponse {
            titles: Some(vec!["PID".into(), "CMD".into()]),
            processes: Some(vec![vec!["1".into(), "sh".into()]]),
        })
    }

    async fn container_update(
        &self,
        id: &str,
        body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse, ApiError> {
        self.record(Call::ContainerUpdate {
            id: id.into(),
            body: Box::new(body),
        })?;
        Ok(ContainerUpdateResponse {
            warnings: Some(vec![]),
        })
    }

    async fn container_path_stat(
        &self,
        id: &str,
        path: &str,
    ) -> Result<engine_types::ContainerPathStat, ApiError> {
        self.record(Call::PathStat {
            id: id.into(),
            path: path.into(),
        })?;
        Ok(fake_stat())
    }

    async fn container_archive(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(engine_types::ContainerPathStat, ByteStream), ApiError> {
        self.record(Call::ArchiveGet {
            id: id.into(),
            path: path.into(),
        })?;
        let body: ByteStream = Box::pin(futures::stream::iter(vec![Ok(Bytes::from_static(
            b"tar bytes",
        ))]));
        Ok((fake_stat(), body))
    }

    async fn container_extract(
        &self,
        id: &str,
        path: &str,
        opts: api_server::backend::ArchivePutOptions,
        mut tar: BodyReader,
    ) -> Result<(), ApiError> {
        let mut body = Vec::new();
        tar.read_to_end(&mut body)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.record(Call::ArchivePut {
            id: id.into(),
            path: path.into(),
            no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            copy_uid_gid: opts.copy_uid_gid,
            body,
        })
    }

    async fn container_changes(
        &self,
        id: &str,
    ) -> Result<Vec<engine_types::models::FilesystemChange>, ApiError> {
        self.record(Call::Changes(id.into()))?;
        Ok(vec![engine_types::models::FilesystemChange {
            path: "/etc".into(),
            kind: engine_types::models::ChangeType::_0,
        }])
    }

    async fn container_export(&self, id: &str) -> Result<ByteStream, ApiError> {
        self.record(Call::Export(id.into()))?;
        Ok(Box::pin(futures::stream::iter(vec![Ok(
            Bytes::from_static(b"export bytes"),
        )])))
    }

    async fn container_commit(
        &self,
        opts: api_server::backend::CommitOptions,
    ) -> Result<IdResponse, ApiError> {
        self.record(Call::Commit(Box::new(opts)))?;
        Ok(IdResponse {
            id: "sha256:committed".into(),
        })
    }

    async fn container_prune(&self, filters: Filters) -> Result<ContainerPruneResponse, ApiError> {
        self.record(Call::ContainerPrune(filters))?;
        Ok(ContainerPruneResponse {
            containers_deleted: Some(vec![CREATED_ID.into()]),
            space_reclaimed: Some(42),
        })
    }

    async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse, ApiError> {
        self.record(Call::VolumeList(filters))?;
        Ok(VolumeListResponse {
            volumes: Some(vec![volume("v1")]),
            warnings: Some(Vec::new()),
        })
    }

    async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume, ApiError> {
        let name = req.name.clone().unwrap_or_else(|| CREATED_ID.into());
        self.record(Call::VolumeCreate(Box::new(req)))?;
        Ok(volume(&name))
    }

    async fn volume_inspect(&self, name: &str) -> Result<Volume, ApiError> {
        self.record(Call::VolumeInspect(name.into()))?;
        Ok(volume(name))
    }

    async fn volume_remove(&self, name: &str, force: bool) -> Result<(), ApiError> {
        self.record(Call::VolumeRemove {
            name: name.into(),
            force,
        })
    }

    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse, ApiError> {
        self.record(Call::VolumePrune(filters))?;
        Ok(VolumePruneResponse {
            volumes_deleted: Some(vec!["v1".into()]),
            space_reclaimed: Some(42),
        })
    }

    async fn system_df(&self, types: DfTypes) -> Result<SystemDataUsage, ApiError> {
        self.record(Call::SystemDf(types))?;
        let mut v = volume("v1");
        v.usage_data = Some(VolumeUsageData {
            size: 42,
            ref_count: 1,
        });
        Ok(SystemDataUsage {
            layers_size: 7,
            volumes: vec![v],
            ..Default::default()
        })
    }

    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError> {
        self.record(Call::NetworkList(filters))?;
        Ok(vec![NetworkInspect {
            name: Some("bridge".into()),
            ..Default::default()
        }])
    }

    async fn network_inspect(&self, id: &str) -> Result<NetworkInspect, ApiError> {
        self.record(Call::NetworkInspect(id.into()))?;
        Ok(NetworkInspect {
            id: Some(id.into()),
            ..Default::default()
        })
    }

    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError> {
        self.record(Call::NetworkCreate(Box::new(req)))?;
        Ok(NetworkCreateResponse {
            id: CREATED_ID.into(),
            warning: String::new(),
        })
    }

    async fn network_remove(&self, id: &str) -> Result<(), ApiError> {
        self.record(Call::NetworkRemove(id.into()))
    }

    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError> {
        self.record(Call::NetworkPrune(filters))?;
        Ok(NetworkPruneResponse {
            networks_deleted: Some(vec!["n".into()]),
        })
    }

    async fn network_connect(&self, id: &str, req: NetworkConnectRequest) -> Result<(), ApiError> {
        self.record(Call::NetworkConnect(id.into(), Box::new(req)))
    }

    async fn network_disconnect(
        &self,
        id: &str,
        req: NetworkDisconnectRequest,
    ) -> Result<(), ApiError> {
        self.record(Call::NetworkDisconnect(id.into(), Box::new(req)))
    }

    async fn exec_create(&self, id: &str, config: ExecConfig) -> Result<IdResponse, ApiError> {
        self.record(Call::ExecCreate {
            id: id.into(),
            config: Box::new(config),
        })?;
        Ok(IdResponse { id: "e0e0".into() })
    }

    async fn exec_start(
        &self,
        exec_id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<StreamPlan>, ApiError> {
        let detach = opts.detach;
        self.record(Call::ExecStart {
            id: exec_id.into(),
            opts,
        })?;
        Ok((!detach).then(|| self.plan()))
    }

    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<(), ApiError> {
        self.record(Call::ExecResize {
            id: exec_id.into(),
            height,
            width,
        })
    }

    async fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspectResponse, ApiError> {
        self.record(Call::ExecInspect(exec_id.into()))?;
        Ok(ExecInspectResponse {
            id: Some(exec_id.into()),
            running: Some(false),
            exit_code: Some(0),
            ..Default::default()
        })
    }

    async fn image_list(&self, all: bool, filters: Filters) -> Result<Vec<ImageSummary>, ApiError> {
        self.record(Call::ImageList { all, filters })?;
        Ok(vec![ImageSummary {
            id: "sha256:1111".into(),
            repo_tags: vec!["busybox:latest".into()],
            ..Default::default()
        }])
    }

    async fn image_inspect(&self, name: &str) -> Result<ImageInspect, ApiError> {
        self.record(Call::ImageInspect(name.into()))?;
        Ok(ImageInspect {
            id: Some("sha256:1111".into()),
            repo_tags: Some(vec![name.into()]),
            ..Default::default()
        })
    }

    async fn image_import(&self, src: BodyReader, opts: ImportOptions) -> Result<String, ApiError> {
        let body = read_all(src).await;
        self.record(Call::ImageImport { body, opts })?;
        Ok("sha256:2222".into())
    }

    async fn image_load(&self, src: BodyReader) -> Result<Vec<String>, ApiError> {
        self.record(Call::ImageLoad(read_all(src).await))?;
        Ok(vec!["busybox:latest".into(), "sha256:3333".into()])
    }

    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream, ApiError> {
        self.record(Call::ImageSave(names))?;
        Ok(Box::pin(futures::stream::iter(vec![Ok(
            Bytes::from_static(b"tar bytes"),
        )])))
    }

    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<(), ApiError> {
        self.record(Call::ImageTag {
            name: name.into(),
            repo: repo.into(),
            tag: tag.map(str::to_string),
        })
    }

    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>, ApiError> {
        self.record(Call::ImageRemove {
            name: name.into(),
            force,
            noprune,
        })?;
        Ok(vec![
            ImageDeleteResponseItem {
                untagged: Some(name.into()),
                deleted: None,
            },
            ImageDeleteResponseItem {
                untagged: None,
                deleted: Some("sha256:1111".into()),
            },
        ])
    }

    async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>, ApiError> {
        self.record(Call::ImageHistory(name.into()))?;
        Ok(vec![ImageHistoryResponseItem {
            id: "sha256:1111".into(),
            created_by: "/bin/sh".into(),
            ..Default::default()
        }])
    }

    async fn image_prune(&self, filters: Filters) -> Result<ImagePruneResponse, ApiError> {
        self.record(Call::ImagePrune(filters))?;
        Ok(ImagePruneResponse {
            images_deleted: Some(vec![]),
            space_reclaimed: Some(0),
        })
    }

    async fn image_pull(&self, opts: PullOptions) -> Result<JsonStream, ApiError> {
        self.record(Call::ImagePull(opts))?;
        Ok(messages(vec![
            serde_json::json!({ "status": "Pulling fs layer", "id": "aaaa" }),
            serde_json::json!({ "status": "Status: Downloaded newer image" }),
        ]))
    }

    async fn image_push(
        &self,
        name: &str,
        tag: Option<String>,
        auth: RegistryAuth,
    ) -> Result<JsonStream, ApiError> {
        self.record(Call::ImagePush {
            name: name.into(),
            tag,
            auth,
        })?;
        Ok(messages(vec![
            serde_json::json!({ "status": "Pushed", "id": "aaaa" }),
        ]))
    }

    async fn build(&self, context: BodyReader, opts: BuildRequest) -> Result<JsonStream, ApiError> {
        let context = read_all(context).await;
        self.record(Call::Build {
            context,
            opts: Box::new(opts),
        })?;
        Ok(messages(vec![
            serde_json::json!({ "stream": "Step 1/1 : FROM scratch\n" }),
            serde_json::json!({ "aux": { "ID": "sha256:4444" } }),
        ]))
    }

    async fn registry_login(&self, auth: RegistryAuth) -> Result<Option<String>, ApiError> {
        let token = (!auth.identitytoken.is_empty()).then(|| "token-1".to_string());
        self.record(Call::RegistryLogin(auth))?;
        Ok(token)
    }

    async fn events(
        &self,
        opts: api_server::events::EventsOptions,
    ) -> Result<api_server::backend::EventStream, ApiError> {
        self.record(Call::Events(opts))?;
        use engine_types::events::{EventMessage, EventType};
        let attrs: std::collections::BTreeMap<String, String> =
            [("name".to_string(), "web".to_string())].into();
        Ok(Box::pin(futures::stream::iter([
            EventMessage::new(
                EventType::Container,
                "create",
                "c1",
                attrs.clone(),
                1_000_000_001,
            ),
            EventMessage::new(EventType::Container, "start", "c1", attrs, 2_000_000_002),
        ])))
    }

    async fn container_stats(
        &self,
        id: &str,
        opts: api_server::stats::StatsOptions,
    ) -> Result<api_server::backend::StatsStream, ApiError> {
        self.record(Call::ContainerStats {
            id: id.into(),
            opts,
        })?;
        let sample = |n: u64| engine_types::models::ContainerStatsResponse {
            id: Some(id.to_string()),
            name: Some("/web".into()),
            memory_stats: Some(engine_types::models::ContainerMemoryStats {
                usage: Some(n),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(Box::pin(futures::stream::iter([sample(1), sample(2)])))
    }

    async fn container_pause(&self, id: &str) -> Result<(), ApiError> {
        self.record(Call::ContainerPause(id.into()))
    }

    async fn container_unpause(&self, id: &str) -> Result<(), ApiError> {
        self.record(Call::ContainerUnpause(id.into()))
    }
}

/// The stat every fake archive call answers.
pub fn fake_stat() -> engine_types::ContainerPathStat {
    engine_types::ContainerPathStat {
        name: "passwd".into(),
        size: 42,
        mode: 0o644,
        mtime: "2024-01-01T00:00:00Z".into(),
        link_target: String::new(),
    }
}

//! The narrow interface between HTTP handlers and the engine. Handlers parse and
//! validate the request, call one method here, and render the answer; the daemon
//! implements the trait (moby's router → backend pattern).

use std::collections::HashMap;
use std::pin::Pin;

use bytes::Bytes;
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
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ApiError;

/// `filters` query parameter, normalized to `key -> values`.
pub type Filters = HashMap<String, Vec<String>>;

/// A stream of body bytes (save archives, logs).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// A request body as a reader (import, load).
pub type BodyReader = Box<dyn AsyncRead + Send + Unpin>;

/// Both directions of a hijacked (upgraded) connection.
pub trait HijackedIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> HijackedIo for T {}

/// What an attach or exec start does with the hijacked connection once the
/// handler has answered `101 Switching Protocols`.
pub struct StreamPlan {
    /// With a tty the stream is raw; without, stdout/stderr are multiplexed with
    /// Docker's 8-byte stdcopy headers.
    pub tty: bool,
    pub run: Box<dyn FnOnce(Box<dyn HijackedIo>) -> BoxFuture<'static, ()> + Send>,
}

/// Conditions of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// Result of a wait: exit code and an optional error message.
#[derive(Debug, Clone)]
pub struct WaitResult {
    pub status_code: i64,
    pub error: Option<String>,
}

/// `GET /containers/json` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

/// `GET /containers/{id}/logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix time (seconds, fractional allowed).
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub timestamps: bool,
    pub tail: Option<usize>,
}

/// Which standard stream a chunk of output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// One log record.
#[derive(Debug, Clone)]
pub struct LogChunk {
    pub stream: StdStream,
    /// RFC 3339 with nanoseconds, as Docker prints with `--timestamps`.
    pub timestamp: String,
    pub data: Bytes,
}

/// Logs of a container: whether it has a tty (raw output) and the records.
pub struct LogsStream {
    pub tty: bool,
    pub chunks: Pin<Box<dyn Stream<Item = Result<LogChunk, ApiError>> + Send>>,
}

/// `POST /containers/{id}/attach` options.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub stream: bool,
    pub logs: bool,
    pub detach_keys: Option<String>,
}

/// `POST /images/create?fromSrc=` (import) options.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
}

/// Registry credentials: the JSON of the `X-Registry-Auth` header and of the
/// `POST /auth` body (Docker's `registry.AuthConfig`; unknown fields ignored).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// base64("user:password"), used when username/password are empty.
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub serveraddress: String,
    /// An OAuth refresh token from an earlier login.
    #[serde(default)]
    pub identitytoken: String,
    /// A bearer token to send to the registry as is.
    #[serde(default)]
    pub registrytoken: String,
}

/// `POST /images/create?fromImage=` (pull) options.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The image name as given (may carry a tag or digest).
    pub from_image: String,
    /// `tag`: a tag or a digest; empty with no tag in `from_image` pulls all tags.
    pub tag: Option<String>,
    /// "os/arch[/variant]"; None = the daemon's platform.
    pub platform: Option<String>,
    pub auth: RegistryAuth,
}

/// `POST /build` options (the classic builder's query parameters).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// `t` (repeatable): names to tag the result with.
    pub tags: Vec<String>,
    /// `dockerfile`: path of the Dockerfile inside the context (default "Dockerfile").
    pub dockerfile: Option<String>,
    /// `buildargs` (JSON object; a null value means "take it from the environment",
    /// which the CLI already resolved).
    pub build_args: std::collections::BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    /// `labels` (JSON object).
    pub labels: std::collections::BTreeMap<String, String>,
    pub platform: Option<String>,
    /// `cachefrom` (JSON array of image names).
    pub cache_from: Vec<String>,
    /// `networkmode` for RUN steps: "default", "none", "host".
    pub network_mode: Option<String>,
    /// `X-Registry-Config`: credentials per registry for pulling base images.
    pub auth_configs: std::collections::HashMap<String, RegistryAuth>,
    /// Berth's fast path (`berth.contextdir`, `berth.contextid`): the context is a
    /// directory on the daemon's machine, read in place; the body is ignored.
    pub local_context: Option<LocalContext>,
    /// `X-Berth-Build-Secrets` (`berth build --secret`): values for `RUN
    /// --mount=type=secret`, by id. Never part of the image or the cache.
    pub secrets: std::collections::BTreeMap<String, SecretValue>,
    /// `X-Berth-Build-Ssh` (`berth build --ssh`): SSH agent sockets on the
    /// daemon's machine for `RUN --mount=type=ssh`, by id.
    pub ssh: std::collections::BTreeMap<String, std::path::PathBuf>,
}

/// The value of a build secret; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(pub Vec<u8>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<secret, {} bytes>", self.0.len())
    }
}

/// A build context directory the client shares with the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalContext {
    pub dir: std::path::PathBuf,
    /// Device and inode the client saw: the daemon must see the same directory.
    pub dev: u64,
    pub ino: u64,
}

/// A stream of Docker JSON messages (`{"status":…,"progressDetail":…,"id":…}`,
/// `{"errorDetail":…,"error":…}`, `{"aux":…}`), one JSON document per line.
pub type JsonStream = Pin<Box<dyn Stream<Item = serde_json::Value> + Send>>;

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default)]
pub struct ExecStartOptions {
    pub detach: bool,
    pub tty: bool,
}

/// `PUT /containers/{id}/archive` options.
#[derive(Debug, Clone, Default)]
pub struct ArchivePutOptions {
    pub no_overwrite_dir_non_dir: bool,
    /// Own the files as the container's user (`copyUIDGID`).
    pub copy_uid_gid: bool,
}

/// `POST /commit` options; `config` is the body.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Freeze the container while its changes are read (default true).
    pub pause: bool,
    /// Dockerfile instructions applied to the config (`changes`, repeatable).
    pub changes: Vec<String>,
    pub config: Option<engine_types::models::ContainerConfig>,
}

/// A stream of events (`GET /events`).
pub type EventStream = Pin<Box<dyn Stream<Item = engine_types::events::EventMessage> + Send>>;

/// A stream of stats samples (`GET /containers/{id}/stats`).
pub type StatsStream =
    Pin<Box<dyn Stream<Item = engine_types::models::ContainerStatsResponse> + Send>>;

/// The engine, as the HTTP layer sees it.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    // --- system ---
    /// `/info` as a JSON document (the CLI reads fields across API versions).
    async fn info(&self) -> Result<serde_json::Value, ApiError>;
    async fn version(&self) -> Result<SystemVersion, ApiError>;

    // --- containers ---
    async fn container_create(
        &self,
        name: Option<String>,
        platform: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, ApiError>;
    async fn container_start(&self, id: &str) -> Result<(), ApiError>;
    async fn container_stop(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError>;
    async fn container_restart(
        &self,
        id: &str,
        signal: Option<String>,
        timeout: Option<i64>,
    ) -> Result<(), ApiError>;
    async fn container_kill(&self, id: &str, signal: Option<String>) -> Result<(), ApiError>;
    /// Registers the wait and returns at once; the returned future resolves when the
    /// condition is met (the HTTP layer sends headers in between, as moby does, so
    /// the client knows the wait is registered before it starts the container).
    async fn container_wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<BoxFuture<'static, Result<WaitResult, ApiError>>, ApiError>;
    async fn container_remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
        link: bool,
    ) -> Result<(), ApiError>;
    async fn container_rename(&self, id: &str, new_name: &str) -> Result<(), ApiError>;
    async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>, ApiError>;
    /// The inspect document. A JSON value rather than the generated model: API
    /// 1.51 still carries fields (`NetworkSettings.IPAddress`, ...) the newer
    /// model dropped.
    async fn container_inspect(&self, id: &str, size: bool) -> Result<serde_json::Value, ApiError>;
    async fn container_logs(&self, id: &str, opts: LogsOptions) -> Result<LogsStream, ApiError>;
    async fn container_attach(&self, id: &str, opts: AttachOptions)
        -> Result<StreamPlan, ApiError>;
    async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<(), ApiError>;
    /// `docker top`: the container's processes as `ps` shows them.
    async fn container_top(
        &self,
        id: &str,
        ps_args: Option<String>,
    ) -> Result<ContainerTopResponse, ApiError>;
    /// `docker update`: new resource limits and restart policy.
    async fn container_update(
        &self,
        id: &str,
        body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse, ApiError>;
    async fn container_prune(&self, filters: Filters) -> Result<ContainerPruneResponse, ApiError>;

    // --- volumes ---
    async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse, ApiError>;
    /// Creates a volume, or answers the existing one of that name.
    async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume, ApiError>;
    async fn volume_inspect(&self, name: &str) -> Result<Volume, ApiError>;
    /// Refused (409) while a container uses the volume; `force`: a missing
    /// volume is no error.
    async fn volume_remove(&self, name: &str, force: bool) -> Result<(), ApiError>;
    /// Unused volumes; anonymous ones only unless the `all` filter is true.
    async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse, ApiError>;
    /// `GET /system/df`.
    async fn system_df(&self, types: DfTypes) -> Result<SystemDataUsage, ApiError>;

    // --- networks ---
    async fn network_list(&self, filters: Filters) -> Result<Vec<NetworkInspect>, ApiError>;
    async fn network_inspect(&self, id: &str) -> Result<NetworkInspect, ApiError>;
    async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, ApiError>;
    async fn network_remove(&self, id: &str) -> Result<(), ApiError>;
    async fn network_prune(&self, filters: Filters) -> Result<NetworkPruneResponse, ApiError>;
    async fn network_connect(&self, id: &str, req: NetworkConnectRequest) -> Result<(), ApiError>;
    async fn network_disconnect(
        &self,
        id: &str,
        req: NetworkDisconnectRequest,
    ) -> Result<(), ApiError>;
    // --- a container's filesystem (archive.rs) ---
    /// `HEAD /containers/{id}/archive`.
    async fn container_path_stat(
        &self,
        id: &str,
        path: &str,
    ) -> Result<ContainerPathStat, ApiError>;
    /// `GET /containers/{id}/archive`: the stat and the tar.
    async fn container_archive(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, ByteStream), ApiError>;
    /// `PUT /containers/{id}/archive`: extracts `tar` into directory `path`.
    async fn container_extract(
        &self,
        id: &str,
        path: &str,
        opts: ArchivePutOptions,
        tar: BodyReader,
    ) -> Result<(), ApiError>;
    async fn container_changes(
        &self,
        id: &str,
    ) -> Result<Vec<engine_types::models::FilesystemChange>, ApiError>;
    async fn container_export(&self, id: &str) -> Result<ByteStream, ApiError>;
    async fn container_commit(&self, opts: CommitOptions) -> Result<IdResponse, ApiError>;

    // --- exec ---
    async fn exec_create(&self, id: &str, config: ExecConfig) -> Result<IdResponse, ApiError>;
    /// Starts the exec. Detached: the plan is `None` and the call returns once the
    /// process runs.
    async fn exec_start(
        &self,
        exec_id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<StreamPlan>, ApiError>;
    async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<(), ApiError>;
    async fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspectResponse, ApiError>;

    // --- images ---
    async fn image_list(&self, all: bool, filters: Filters) -> Result<Vec<ImageSummary>, ApiError>;
    async fn image_inspect(&self, name: &str) -> Result<ImageInspect, ApiError>;
    /// Returns the new image id.
    async fn image_import(&self, src: BodyReader, opts: ImportOptions) -> Result<String, ApiError>;
    /// Returns the names (or ids) of the loaded images.
    async fn image_load(&self, src: BodyReader) -> Result<Vec<String>, ApiError>;
    async fn image_save(&self, names: Vec<String>) -> Result<ByteStream, ApiError>;
    async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<(), ApiError>;
    async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>, ApiError>;
    async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>, ApiError>;
    async fn image_prune(&self, filters: Filters) -> Result<ImagePruneResponse, ApiError>;
    /// Pulls an image. Errors known before any progress (bad reference, unknown
    /// manifest, bad credentials) are returned; later ones are the stream's last
    /// message.
    async fn image_pull(&self, opts: PullOptions) -> Result<JsonStream, ApiError>;
    /// Pushes `name` (a repository; `tag` None pushes all its tags).
    async fn image_push(
        &self,
        name: &str,
        tag: Option<String>,
        auth: RegistryAuth,
    ) -> Result<JsonStream, ApiError>;
    /// `POST /build`: builds the context tar `context` (plain or compressed).
    async fn build(&self, context: BodyReader, opts: BuildRequest) -> Result<JsonStream, ApiError>;
    /// `POST /auth`: checks credentials against a registry; returns an identity
    /// token when the registry hands one out.
    async fn registry_login(&self, auth: RegistryAuth) -> Result<Option<String>, ApiError>;

    // --- observing containers (events.rs, stats.rs) ---
    /// `GET /events`: past events from `since` (replayed from the journal), then
    /// live ones until `until` (forever without).
    async fn events(&self, opts: crate::events::EventsOptions) -> Result<EventStream, ApiError>;
    /// `GET /containers/{id}/stats`: samples, one per second while streaming.
    async fn container_stats(
        &self,
        id: &str,
        opts: crate::stats::StatsOptions,
    ) -> Result<StatsStream, ApiError>;
    async fn container_pause(&self, id: &str) -> Result<(), ApiError>;
    async fn container_unpause(&self, id: &str) -> Result<(), ApiError>;
}

//! Typed endpoint methods on [`engine_types::models`].

use bytes::Bytes;
use hyper::Method;
use tokio::sync::oneshot;

use engine_types::models::{
    BuildPruneResponse, ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse,
    ContainerPruneResponse, ContainerStatsResponse, ContainerSummary, ContainerTopResponse,
    ContainerUpdateBody, ContainerUpdateResponse, ContainerWaitResponse, ImageDeleteResponseItem,
    ImageHistoryResponseItem, ImagePruneResponse, ImageSummary, SystemInfo, SystemVersion,
};

use crate::networks::filters_query;
use crate::{
    check, collect, decode, decode_or_null, empty, enc, enc_ref, query, Client, ReqOpts, Result,
};

/// Query of `POST /containers/create`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOptions<'a> {
    /// The container's name (`?name=`).
    pub name: Option<&'a str>,
    /// The image platform, e.g. "linux/amd64" (`?platform=`).
    pub platform: Option<&'a str>,
}

/// Query of `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ContainerListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// The last `limit` created containers (all states).
    pub limit: Option<i64>,
    /// Report SizeRw and SizeRootFs.
    pub size: bool,
    /// Filters as Docker's JSON map (`{"status":{"exited":true}}`).
    pub filters: Option<String>,
}

/// Query of `GET /images/json`.
#[derive(Debug, Clone, Default)]
pub struct ImageListOptions {
    /// Include intermediate images.
    pub all: bool,
    /// Filters as Docker's JSON map.
    pub filters: Option<String>,
}

/// Query of `DELETE /containers/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Remove its anonymous volumes.
    pub volumes: bool,
    /// Remove the link, not the container.
    pub link: bool,
}

/// Query of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Keep the stream open for new output.
    pub follow: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Prefix each line with its timestamp.
    pub timestamps: bool,
    /// Show the extra details of the log driver.
    pub details: bool,
    /// Lines from the end ("all" or a number).
    pub tail: Option<String>,
    /// Only output since this time (unix seconds, fractions allowed).
    pub since: Option<String>,
    /// Only output before this time.
    pub until: Option<String>,
}

/// Query of `GET /events`.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Events since this time (unix seconds, fractions allowed).
    pub since: Option<String>,
    /// Events until this time; without it the stream stays open.
    pub until: Option<String>,
    /// Filters as Docker's JSON map.
    pub filters: Option<String>,
}

fn optional(params: &mut Vec<(&'static str, String)>, name: &'static str, v: &Option<String>) {
    if let Some(v) = v {
        params.push((name, v.clone()));
    }
}

fn flag(params: &mut Vec<(&'static str, String)>, name: &'static str, on: bool) {
    if on {
        params.push((name, "1".to_string()));
    }
}

impl Client {
    /// `GET /version`.
    pub async fn version(&self) -> Result<SystemVersion> {
        self.get_json("/version").await
    }

    /// `POST /containers/create`.
    pub async fn container_create(
        &self,
        opts: CreateOptions<'_>,
        body: &ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let mut params = Vec::new();
        if let Some(n) = opts.name {
            params.push(("name", n.to_string()));
        }
        if let Some(p) = opts.platform {
            params.push(("platform", p.to_string()));
        }
        self.post_json(&format!("/containers/create{}", query(&params)), body)
            .await
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(&self, id: &str) -> Result<()> {
        self.call_empty(Method::POST, &format!("/containers/{}/start", enc(id)))
            .await
    }

    /// `POST /containers/{id}/stop`, with an optional signal and timeout
    /// (seconds; -1 waits forever).
    pub async fn container_stop(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.stop_like(id, "stop", signal, timeout).await
    }

    /// `POST /containers/{id}/restart`, like [`Client::container_stop`].
    pub async fn container_restart(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        self.stop_like(id, "restart", signal, timeout).await
    }

    async fn stop_like(
        &self,
        id: &str,
        action: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let mut params = Vec::new();
        if let Some(s) = signal {
            params.push(("signal", s.to_string()));
        }
        if let Some(t) = timeout {
            params.push(("t", t.to_string()));
        }
        let path = format!("/containers/{}/{action}{}", enc(id), query(&params));
        self.call_empty(Method::POST, &path).await
    }

    /// `POST /containers/{id}/kill` (the daemon's default signal is SIGKILL).
    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let params: Vec<_> = signal
            .map(|s| ("signal", s.to_string()))
            .into_iter()
            .collect();
        let path = format!("/containers/{}/kill{}", enc(id), query(&params));
        self.call_empty(Method::POST, &path).await
    }

    /// `POST /containers/{id}/pause`.
    pub async fn container_pause(&self, id: &str) -> Result<()> {
        self.call_empty(Method::POST, &format!("/containers/{}/pause", enc(id)))
            .await
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn container_unpause(&self, id: &str) -> Result<()> {
        self.call_empty(Method::POST, &format!("/containers/{}/unpause", enc(id)))
            .await
    }

    /// `POST /containers/{id}/rename?name=`.
    pub async fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        let q = query(&[("name", new_name.to_string())]);
        self.call_empty(Method::POST, &format!("/containers/{}/rename{q}", enc(id)))
            .await
    }

    /// `POST /containers/{id}/resize` or `POST /exec/{id}/resize`
    /// (`exec: true`): the TTY's new size.
    pub async fn resize_tty(&self, id: &str, exec: bool, height: u16, width: u16) -> Result<()> {
        let kind = if exec { "exec" } else { "containers" };
        let path = format!("/{kind}/{}/resize?h={height}&w={width}", enc(id));
        self.call_empty(Method::POST, &path).await
    }

    /// `DELETE /containers/{id}`.
    pub async fn container_remove(&self, id: &str, opts: RemoveOptions) -> Result<()> {
        let mut params = Vec::new();
        flag(&mut params, "force", opts.force);
        flag(&mut params, "v", opts.volumes);
        flag(&mut params, "link", opts.link);
        let path = format!("/containers/{}{}", enc(id), query(&params));
        self.call_empty(Method::DELETE, &path).await
    }

    /// `POST /containers/{id}/wait?condition=`: blocks until the condition
    /// ("not-running", "next-exit", "removed"; "" for the default) holds.
    pub async fn container_wait(&self, id: &str, condition: &str) -> Result<ContainerWaitResponse> {
        self.container_wait_notify(id, condition, None).await
    }

    /// [`Client::container_wait`] that fires `sent` once the request reached
    /// the daemon (so a caller can start the container without missing its
    /// exit).
    pub async fn container_wait_notify(
        &self,
        id: &str,
        condition: &str,
        sent: Option<oneshot::Sender<()>>,
    ) -> Result<ContainerWaitResponse> {
        let params: Vec<_> = Some(condition)
            .filter(|c| !c.is_empty())
            .map(|c| ("condition", c.to_string()))
            .into_iter()
            .collect();
        let path = format!("/containers/{}/wait{}", enc(id), query(&params));
        let opts = ReqOpts {
            sent,
            ..Default::default()
        };
        let resp = check(self.request(Method::POST, &path, empty(), opts).await?).await?;
        decode(&collect(resp).await?)
    }

    /// `GET /containers/{id}/json`, decoded.
    pub async fn container_inspect(&self, id: &str) -> Result<ContainerInspectResponse> {
        self.get_json(&format!("/containers/{}/json", enc(id)))
            .await
    }

    /// `GET /containers/{id}/json` as the daemon sent it (field order,
    /// nulls and fields the models do not know included).
    pub async fn container_inspect_raw(&self, id: &str, size: bool) -> Result<Bytes> {
        let q = if size { "?size=1" } else { "" };
        self.get_bytes(&format!("/containers/{}/json{q}", enc(id)))
            .await
    }

    /// `GET /containers/{id}/top`, with `ps` arguments ("-ef").
    pub async fn container_top(
        &self,
        id: &str,
        ps_args: Option<&str>,
    ) -> Result<ContainerTopResponse> {
        let params: Vec<_> = ps_args
            .map(|a| ("ps_args", a.to_string()))
            .into_iter()
            .collect();
        self.get_json(&format!("/containers/{}/top{}", enc(id), query(&params)))
            .await
    }

    /// `GET /containers/{id}/logs`: the response whose body streams the
    /// log (multiplexed unless the container has a TTY).
    pub async fn container_logs(
        &self,
        id: &str,
        opts: &LogsOptions,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let mut params = Vec::new();
        flag(&mut params, "stdout", opts.stdout);
        flag(&mut params, "stderr", opts.stderr);
        flag(&mut params, "follow", opts.follow);
        flag(&mut params, "timestamps", opts.timestamps);
        flag(&mut params, "details", opts.details);
        optional(&mut params, "tail", &opts.tail);
        optional(&mut params, "since", &opts.since);
        optional(&mut params, "until", &opts.until);
        let path = format!("/containers/{}/logs{}", enc(id), query(&params));
        self.call(Method::GET, &path, None, empty()).await
    }

    /// `GET /containers/{id}/stats?stream=0`: one sample (with the
    /// previous one in `precpu_stats`).
    pub async fn container_stats_once(&self, id: &str) -> Result<ContainerStatsResponse> {
        self.get_json(&format!("/containers/{}/stats?stream=0", enc(id)))
            .await
    }

    /// `POST /containers/{id}/update`.
    pub async fn container_update(
        &self,
        id: &str,
        body: &ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        self.post_json(&format!("/containers/{}/update", enc(id)), body)
            .await
    }

    /// `POST /containers/prune`, with Docker's filters JSON.
    pub async fn container_prune(&self, filters: Option<&str>) -> Result<ContainerPruneResponse> {
        self.post(&format!("/containers/prune{}", filters_query(filters)))
            .await
    }

    /// `GET /events`: the response whose body streams one JSON event
    /// after another.
    pub async fn events(
        &self,
        opts: &EventsOptions,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let mut params = Vec::new();
        optional(&mut params, "since", &opts.since);
        optional(&mut params, "until", &opts.until);
        optional(&mut params, "filters", &opts.filters);
        self.call(
            Method::GET,
            &format!("/events{}", query(&params)),
            None,
            empty(),
        )
        .await
    }

    /// `GET /containers/json`.
    pub async fn container_list(
        &self,
        opts: &ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let mut params = Vec::new();
        flag(&mut params, "all", opts.all);
        if let Some(l) = opts.limit {
            params.push(("limit", l.to_string()));
        }
        flag(&mut params, "size", opts.size);
        if let Some(f) = &opts.filters {
            params.push(("filters", f.clone()));
        }
        self.get_json(&format!("/containers/json{}", query(&params)))
            .await
    }

    /// `GET /images/json`.
    pub async fn image_list(&self, opts: &ImageListOptions) -> Result<Vec<ImageSummary>> {
        let mut params = Vec::new();
        flag(&mut params, "all", opts.all);
        if let Some(f) = &opts.filters {
            params.push(("filters", f.clone()));
        }
        self.get_json(&format!("/images/json{}", query(&params)))
            .await
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let mut params = vec![("repo", repo.to_string())];
        if let Some(t) = tag {
            params.push(("tag", t.to_string()));
        }
        let path = format!("/images/{}/tag{}", enc_ref(name), query(&params));
        self.call_empty(Method::POST, &path).await
    }

    /// `DELETE /images/{name}`: what was untagged and deleted.
    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let mut params = Vec::new();
        flag(&mut params, "force", force);
        flag(&mut params, "noprune", no_prune);
        let path = format!("/images/{}{}", enc_ref(name), query(&params));
        let resp = self.call(Method::DELETE, &path, None, empty()).await?;
        decode_or_null::<Option<_>>(&collect(resp).await?).map(Option::unwrap_or_default)
    }

    /// `POST /images/prune`, with Docker's filters JSON.
    pub async fn image_prune(&self, filters: Option<&str>) -> Result<ImagePruneResponse> {
        self.post(&format!("/images/prune{}", filters_query(filters)))
            .await
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        self.get_json(&format!("/images/{}/history", enc_ref(name)))
            .await
    }

    /// `POST /build/prune` (`all` also removes cache in use by no image).
    pub async fn build_prune(&self, all: bool) -> Result<BuildPruneResponse> {
        let q = if all { "?all=1" } else { "" };
        self.post(&format!("/build/prune{q}")).await
    }

    /// `GET /info` as the daemon sent it.
    pub async fn system_info_raw(&self) -> Result<Bytes> {
        self.get_bytes("/info").await
    }

    /// `GET /info`, decoded.
    pub async fn system_info(&self) -> Result<SystemInfo> {
        decode(&self.system_info_raw().await?)
    }

    /// `GET /images/{name}/json` as the daemon sent it. References keep
    /// their `/`, `:` and `@` in the path, as docker's do.
    pub async fn image_inspect_raw(&self, name: &str) -> Result<Bytes> {
        self.get_bytes(&format!("/images/{}/json", enc_ref(name)))
            .await
    }
}

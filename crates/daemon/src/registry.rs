//! Pull, push and login: the daemon's side of the registry client.
//!
//! A pull resolves the manifest (an index is narrowed to the daemon's platform)
//! and the config before answering, so an unknown image or bad credentials are an
//! HTTP error as with moby. Then the answer streams Docker's JSON progress while
//! layers download in parallel into staging files and each is unpacked as soon as
//! it is complete (layers of an image are independent snapshots). The image and
//! its tag are recorded only when every layer is, so a failed or cancelled pull
//! leaves no image behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use api_server::backend::{JsonStream, PullOptions, RegistryAuth};
use base64::Engine as _;
use distribution::oci::{Descriptor, ImageIndex, ImageManifest};
use distribution::{Credentials, Repository};
use futures::TryStreamExt;
use image::Reference;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::{DaemonError, Result};
use crate::Daemon;

/// Largest image config we read into memory.
const MAX_CONFIG: u64 = 32 << 20;
/// Minimum time between two progress messages of one layer.
const PROGRESS_EVERY_MS: u64 = 100;

/// `serveraddress` of an auth config → registry host ("docker.io" for Docker Hub).
pub(crate) fn registry_of_server(addr: &str) -> String {
    let a = addr.trim();
    let a = a
        .strip_prefix("https://")
        .or_else(|| a.strip_prefix("http://"))
        .unwrap_or(a);
    let host = a.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// Docker's auth config → client credentials.
pub(crate) fn credentials(a: &RegistryAuth) -> Credentials {
    if !a.registrytoken.is_empty() {
        return Credentials::RegistryToken(a.registrytoken.clone());
    }
    if !a.identitytoken.is_empty() {
        return Credentials::IdentityToken(a.identitytoken.clone());
    }
    if !a.username.is_empty() || !a.password.is_empty() {
        return Credentials::Basic {
            username: a.username.clone(),
            password: a.password.clone(),
        };
    }
    if !a.auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(a.auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((u, p)) = decoded.as_deref().and_then(|s| s.split_once(':')) {
            return Credentials::Basic {
                username: u.to_string(),
                password: p.to_string(),
            };
        }
    }
    Credentials::Anonymous
}

/// "12 hex" id Docker shows for a layer.
fn short(digest: &str) -> String {
    image::short_id(digest)
}

/// Docker's units.HumanSize: up to 3 significant digits, decimal units.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        return format!("{n}B");
    }
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let t = format!("{v:.decimals$}");
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.')
    } else {
        &t
    };
    format!("{t}{}", UNITS[i])
}

/// Docker's progress bar text: `[====>     ]  1.2MB/3.4MB`.
fn progress_bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    if total == 0 {
        return format!("{:>8}", human(current));
    }
    let filled = (current.min(total) * WIDTH / total).min(WIDTH);
    let bar = if filled >= WIDTH {
        "=".repeat(WIDTH as usize)
    } else {
        format!(
            "{}>{}",
            "=".repeat(filled as usize),
            " ".repeat((WIDTH - filled - 1) as usize)
        )
    };
    format!("[{bar}] {:>8}/{}", human(current), human(total))
}

/// The sending side of a JSON progress stream.
#[derive(Clone)]
pub(crate) struct Progress(mpsc::Sender<Value>);

impl Progress {
    fn channel() -> (Self, JsonStream) {
        let (tx, rx) = mpsc::channel(512);
        (Progress(tx), Box::pin(tokio_stream_from(rx)) as JsonStream)
    }

    /// A status line. Err when the client went away (the operation is abandoned).
    async fn status(&self, id: Option<&str>, status: &str) -> Result<()> {
        let mut v = json!({ "status": status });
        if let Some(id) = id {
            v["id"] = json!(id);
            v["progressDetail"] = json!({});
        }
        self.send(v).await
    }

    async fn send(&self, v: Value) -> Result<()> {
        self.0
            .send(v)
            .await
            .map_err(|_| DaemonError::Internal("the client closed the connection".into()))
    }

    /// A progress line; dropped when the client is slow (the next one supersedes it).
    fn progress(&self, id: &str, status: &str, current: u64, total: u64) {
        let _ = self.0.try_send(json!({
            "status": status,
            "progressDetail": { "current": current, "total": total },
            "progress": progress_bar(current, total),
            "id": id,
        }));
    }

    async fn error(&self, msg: &str) {
        let _ = self
            .0
            .send(json!({ "errorDetail": { "message": msg }, "error": msg }))
            .await;
    }
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Value>) -> impl futures::Stream<Item = Value> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Removes a staging file on drop unless it was handed over.
struct Staged(Option<PathBuf>);

impl Staged {
    fn take(mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A manifest resolved for pulling: the platform manifest and its config.
struct Resolved {
    reference: Reference,
    manifest_digest: String,
    manifest_bytes: bytes::Bytes,
    manifest: ImageManifest,
    config: bytes::Bytes,
    diff_ids: Vec<String>,
}

/// "os/arch[/variant]" → parts; None = the host's.
fn platform_parts(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let host = || ("linux".to_string(), image::host_arch().to_string(), None);
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(host());
    };
    let parts: Vec<&str> = p.split('/').collect();
    if parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
        return Err(DaemonError::Invalid(format!(
            "\"{p}\": unknown operating system or architecture: invalid argument"
        )));
    }
    let arch = match parts.get(1).copied().unwrap_or(image::host_arch()) {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    Ok((
        parts[0].to_ascii_lowercase(),
        arch.to_ascii_lowercase(),
        parts.get(2).map(|v| v.to_ascii_lowercase()),
    ))
}

impl Daemon {
    /// `RegistryConfig` of `/info`, as moby reports it: CIDRs and per-registry
    /// index configs for the insecure registries (loopback always).
    pub(crate) fn registry_config_info(&self) -> Value {
        let mut cidrs = vec![json!("127.0.0.0/8"), json!("::1/128")];
        let mut index = serde_json::Map::new();
        index.insert(
            "docker.io".into(),
            json!({"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}),
        );
        for r in &self.cfg.insecure_registries {
            if r.contains('/') {
                cidrs.push(json!(r));
            } else {
                index.insert(
                    r.clone(),
                    json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}),
                );
            }
        }
        json!({"IndexConfigs": index, "InsecureRegistryCIDRs": cidrs, "Mirrors": []})
    }

    fn registry_client(&self) -> Result<distribution::Client> {
        if let Some(c) = self.registry.get() {
            return Ok(c.clone());
        }
        let certs = self.cfg.certs_dir.clone();
        let client = distribution::Client::new(distribution::ClientConfig {
            insecure_registries: self.cfg.insecure_registries.clone(),
            certs_dir: certs.is_dir().then_some(certs),
            user_agent: format!(
                "docker/{} go/go1.21 os/linux arch/{} (berth)",
                engine_types::ENGINE_VERSION,
                image::host_arch()
            ),
        })?;
        Ok(self.registry.get_or_init(|| client).clone())
    }

    fn repository(&self, r: &Reference, auth: &RegistryAuth, push: bool) -> Result<Repository> {
        Ok(self
            .registry_client()?
            .repository(&r.domain, &r.path, credentials(auth), push))
    }

    /// `POST /auth`.
    pub async fn registry_login(&self, auth: RegistryAuth) -> Result<Option<String>> {
        let registry = registry_of_server(&auth.serveraddress);
        let creds = credentials(&auth);
        Ok(self.registry_client()?.login(&registry, &creds).await?)
    }

    /// `POST /images/create?fromImage=`.
    pub async fn image_pull(self: &Arc<Self>, opts: PullOptions) -> Result<JsonStream> {
        let mut r = Reference::parse_normalized(&opts.from_image).map_err(|e| {
            DaemonError::Invalid(format!("invalid reference \"{}\": {e}", opts.from_image))
        })?;
        // moby: `tag` may hold a digest; a tag or digest in fromImage wins otherwise.
        let explicit = opts.from_image.contains('@') || {
            let last = opts.from_image.rsplit('/').next().unwrap_or("");
            last.contains(':')
        };
        match opts.tag.as_deref() {
            Some(t) if t.starts_with("sha256:") || t.contains(':') => {
                r.tag = None;
                r.digest = Some(t.to_string());
                Reference::parse_normalized(&format!("{}@{t}", r.name()))
                    .map_err(|e| DaemonError::Invalid(format!("invalid digest {t:?}: {e}")))?;
            }
            Some(t) if !explicit => {
                r = Reference::parse_normalized(&format!("{}:{t}", r.name()))
                    .map_err(|e| DaemonError::Invalid(format!("invalid tag {t:?}: {e}")))?;
            }
            _ => {}
        }
        let platform = platform_parts(opts.platform.as_deref())?;
        let repo = self.repository(&r, &opts.auth, false)?;
        // No tag anywhere: all tags of the repository (`docker pull -a`).
        let all_tags = opts.tag.is_none() && !explicit;
        let refs: Vec<Reference> = if all_tags {
            let mut tags = repo.list_tags().await?;
            tags.sort();
            tags.into_iter()
                .filter_map(|t| Reference::parse_normalized(&format!("{}:{t}", r.name())).ok())
                .collect()
        } else {
            vec![r.clone()]
        };
        let first = match refs.first() {
            Some(f) => {
                self.resolve(&repo, f, &platform, opts.platform.is_some())
                    .await?
            }
            None => {
                return Err(DaemonError::Image(image::ImageError::NotFound(format!(
                    "repository {} has no tags",
                    r.familiar_name()
                ))))
            }
        };
        let (progress, stream) = Progress::channel();
        let daemon = self.clone();
        tokio::spawn(async move {
            let pull_name = if all_tags {
                r.familiar_name()
            } else {
                first.reference.familiar_string()
            };
            let mut next = Some(first);
            let mut rest = refs.into_iter().skip(1);
            let mut any_changed = false;
            while let Some(res) = next.take() {
                let what = res.reference.familiar_string();
                match daemon.pull_resolved(&repo, res, &progress, all_tags).await {
                    Ok(changed) => any_changed |= changed,
                    Err(e) => {
                        tracing::warn!(image = %what, error = %e, "pull failed");
                        progress.error(&e.to_string()).await;
                        return;
                    }
                }
                if let Some(nr) = rest.next() {
                    match daemon
                        .resolve(&repo, &nr, &platform, opts.platform.is_some())
                        .await
                    {
                        Ok(res) => next = Some(res),
                        Err(e) => {
                            progress.error(&e.to_string()).await;
                            return;
                        }
                    }
                }
            }
            let verb = if any_changed {
                "Downloaded newer image for"
            } else {
                "Image is up to date for"
            };
            let _ = progress
                .status(None, &format!("Status: {verb} {pull_name}"))
                .await;
        });
        Ok(stream)
    }

    /// Fetches the manifest of `r` (narrowing an index to `platform`) and its config.
    async fn resolve(
        &self,
        repo: &Repository,
        r: &Reference,
        platform: &(String, String, Option<String>),
        platform_given: bool,
    ) -> Result<Resolved> {
        let reference = r
            .digest
            .clone()
            .or_else(|| r.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let mut m = repo.get_manifest(&reference).await?;
        let top_digest = m.digest.clone();
        if distribution::oci::is_index(&m.media_type) {
            let index: ImageIndex = serde_json::from_slice(&m.bytes).map_err(|e| {
                DaemonError::Invalid(format!("invalid image index {}: {e}", m.digest))
            })?;
            let (os, arch, variant) = platform;
            let desc = distribution::oci::select_platform(&index, os, arch, variant.as_deref())
                .ok_or_else(|| {
                    DaemonError::Image(image::ImageError::NotFound(format!(
                        "no matching manifest for {os}/{arch}{} in the manifest list entries",
                        variant
                            .as_deref()
                            .map(|v| format!("/{v}"))
                            .unwrap_or_default()
                    )))
                })?;
            m = repo.get_manifest(&desc.digest).await?;
        }
        if !distribution::oci::is_manifest(&m.media_type) {
            return Err(DaemonError::Invalid(format!(
                "unsupported manifest media type {:?} for {}",
                m.media_type,
                r.familiar_string()
            )));
        }
        let manifest: ImageManifest = serde_json::from_slice(&m.bytes)
            .map_err(|e| DaemonError::Invalid(format!("invalid manifest {}: {e}", m.digest)))?;
        let config = repo.get_blob(&manifest.config, MAX_CONFIG).await?;
        let cfg: Value = serde_json::from_slice(&config)
            .map_err(|e| DaemonError::Invalid(format!("invalid image config: {e}")))?;
        if platform_given {
            let (os, arch, _) = platform;
            let got_os = cfg["os"].as_str().unwrap_or("linux");
            let got_arch = cfg["architecture"].as_str().unwrap_or("");
            if got_os != os || (!got_arch.is_empty() && got_arch != arch) {
                return Err(DaemonError::Image(image::ImageError::NotFound(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {os}/{arch}, actual: {got_os}/{got_arch}",
                    r.familiar_string()
                ))));
            }
        }
        let diff_ids: Vec<String> = cfg["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != manifest.layers.len() {
            return Err(DaemonError::Invalid(format!(
                "image {} is inconsistent: its config lists {} layers, its manifest {}",
                r.familiar_string(),
                diff_ids.len(),
                manifest.layers.len()
            )));
        }
        // A pull by tag records the digest of what the tag named (the index, if any).
        let _ = top_digest;
        Ok(Resolved {
            reference: r.clone(),
            manifest_digest: m.digest,
            manifest_bytes: m.bytes,
            manifest,
            config,
            diff_ids,
        })
    }

    /// Downloads and unpacks the layers of a resolved image, then records it.
    /// Returns whether the tag changed.
    async fn pull_resolved(
        self: &Arc<Self>,
        repo: &Repository,
        res: Resolved,
        progress: &Progress,
        all_tags: bool,
    ) -> Result<bool> {
        let r = &res.reference;
        let tag_or_digest = r
            .tag
            .clone()
            .or_else(|| r.digest.clone())
            .unwrap_or_else(|| "latest".into());
        progress
            .status(
                Some(&tag_or_digest),
                // moby names the repository by its path in the registry.
                &format!("Pulling from {}", r.path),
            )
            .await?;
        let chains = image::chain_ids(&res.diff_ids);
        // moby says nothing per layer when the image is already here.
        let config_id = res.manifest.config.digest.clone();
        let image_here = self.blocking(move |s| s.get(&config_id)).await.is_ok();
        // One download per distinct blob; positions that share it reuse the file.
        let mut jobs: BTreeMap<String, (Descriptor, Vec<usize>)> = BTreeMap::new();
        for (i, layer) in res.manifest.layers.iter().enumerate() {
            let (chain, digest) = (chains[i].clone(), layer.digest.clone());
            let have = self
                .blocking(move |s| s.has_layer_blob(&chain, &digest))
                .await?;
            if have && image_here {
                continue;
            }
            if have {
                progress
                    .status(Some(&short(&layer.digest)), "Already exists")
                    .await?;
                continue;
            }
            if !layer.urls.is_empty() {
                return Err(DaemonError::NotImplemented(format!(
                    "layer {} is a foreign layer (non-distributable, with URLs); Berth does not download those",
                    layer.digest
                )));
            }
            jobs.entry(layer.digest.clone())
                .or_insert_with(|| (layer.clone(), Vec::new()))
                .1
                .push(i);
        }
        for (d, _) in jobs.values() {
            progress
                .status(Some(&short(&d.digest)), "Pulling fs layer")
                .await?;
        }
        let parents: Vec<Option<String>> = (0..chains.len())
            .map(|i| i.checked_sub(1).map(|p| chains[p].clone()))
            .collect();
        let started = Instant::now();
        let total: u64 = jobs.values().map(|(d, _)| d.size).sum();
        futures::stream::iter(jobs.into_values().map(Ok::<_, DaemonError>))
            .try_for_each_concurrent(self.cfg.max_concurrent_downloads, |(desc, positions)| {
                let parents = &parents;
                let diff_ids = &res.diff_ids;
                async move {
                    self.pull_layer(repo, &desc, &positions, parents, diff_ids, progress)
                        .await
                }
            })
            .await?;
        tracing::info!(
            image = %r.familiar_string(),
            bytes = total,
            secs = started.elapsed().as_secs_f64(),
            "layers pulled"
        );
        let repo_name = r.name();
        let tag = r.tag.clone();
        let config = res.config.to_vec();
        let mdigest = res.manifest_digest.clone();
        let mbytes = res.manifest_bytes.to_vec();
        let pulled = self
            .blocking(move |s| {
                s.add_pulled_image(&config, &mdigest, &mbytes, &repo_name, tag.as_deref())
            })
            .await?;
        tracing::info!(image = %r.familiar_string(), id = %pulled.id, "image pulled");
        self.emit_image("pull", &pulled.id, &r.familiar_string());
        if !all_tags {
            progress
                .status(None, &format!("Digest: {}", res.manifest_digest))
                .await?;
        }
        Ok(pulled.changed || r.tag.is_none())
    }

    /// Downloads one blob and unpacks it at every position of the image using it.
    async fn pull_layer(
        self: &Arc<Self>,
        repo: &Repository,
        desc: &Descriptor,
        positions: &[usize],
        parents: &[Option<String>],
        diff_ids: &[String],
        progress: &Progress,
    ) -> Result<()> {
        let id = short(&desc.digest);
        let path = self.blocking(|s| s.staging_file()).await?;
        let staged = Staged(Some(path.clone()));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(|e| DaemonError::io(format!("opening {}", path.display()), e))?;
        let total = desc.size;
        let last = AtomicU64::new(0);
        let t0 = Instant::now();
        let report = |n: u64| {
            let now = t0.elapsed().as_millis() as u64;
            let prev = last.load(Ordering::Relaxed);
            if n == total || now >= prev + PROGRESS_EVERY_MS {
                last.store(now, Ordering::Relaxed);
                progress.progress(&id, "Downloading", n, total);
            }
        };
        repo.download_blob(desc, &mut file, &report).await?;
        drop(file);
        progress.status(Some(&id), "Verifying Checksum").await?;
        progress.status(Some(&id), "Download complete").await?;
        progress.progress(&id, "Extracting", total, total);
        let mut path = staged.take();
        for (k, &pos) in positions.iter().enumerate() {
            let Some(src) = path.clone() else { break };
            // Positions after the last get their own link to the same file.
            let this: PathBuf = if k + 1 < positions.len() {
                let copy = self.blocking(|s| s.staging_file()).await?;
                link_over(&src, &copy)?;
                copy
            } else {
                path = None;
                src
            };
            let digest = desc.digest.clone();
            let parent = parents[pos].clone();
            let diff_id = diff_ids[pos].clone();
            self.blocking(move |s| s.add_layer_file(&this, &digest, parent.as_deref(), &diff_id))
                .await?;
        }
        progress.status(Some(&id), "Pull complete").await?;
        Ok(())
    }

    /// `POST /images/{name}/push`.
    pub async fn image_push(
        self: &Arc<Self>,
        name: &str,
        tag: Option<String>,
        auth: RegistryAuth,
    ) -> Result<JsonStream> {
        let r = Reference::parse_normalized(name)
            .map_err(|e| DaemonError::Invalid(format!("invalid reference \"{name}\": {e}")))?;
        let given_tag = tag.or_else(|| {
            let last = name.rsplit('/').next().unwrap_or("");
            last.contains(':').then(|| r.tag.clone()).flatten()
        });
        let repo_name = r.name();
        let tags: Vec<String> = match given_tag {
            Some(t) => vec![t],
            None => {
                let images = self.blocking(|s| s.list()).await?;
                let mut v: Vec<String> = images
                    .iter()
                    .flat_map(|i| i.repo_tags.iter())
                    .filter_map(|t| Reference::parse_normalized(t).ok())
                    .filter(|t| t.name() == repo_name)
                    .filter_map(|t| t.tag)
                    .collect();
                v.sort();
                v.dedup();
                v
            }
        };
        let mut images = Vec::new();
        for t in &tags {
            let full = format!("{repo_name}:{t}");
            let img = self
                .blocking(move |s| s.push_image(&full))
                .await
                .map_err(|e| match e {
                    DaemonError::Image(image::ImageError::NotFound(_)) => {
                        DaemonError::Image(image::ImageError::NotFound(format!(
                            "An image does not exist locally with the tag: {}",
                            r.familiar_name()
                        )))
                    }
                    e => e,
                })?;
            let mounts = self.mount_sources(&img.config_digest, &r).await;
            images.push((t.clone(), img, mounts));
        }
        if images.is_empty() {
            return Err(DaemonError::Image(image::ImageError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            ))));
        }
        let repo = self.repository(&r, &auth, true)?;
        let (progress, stream) = Progress::channel();
        let daemon = self.clone();
        tokio::spawn(async move {
            let _ = progress
                .status(
                    None,
                    // moby prints the full name: "127.0.0.1:5000/x", "docker.io/library/y".
                    &format!("The push refers to repository [{}]", r.name()),
                )
                .await;
            for (tag, img, mounts) in images {
                if let Err(e) = daemon
                    .push_one(&repo, &r, &tag, &img, &mounts, &progress)
                    .await
                {
                    tracing::warn!(repo = %r.name(), %tag, error = %e, "push failed");
                    progress.error(&e.to_string()).await;
                    return;
                }
            }
        });
        Ok(stream)
    }

    /// Repositories on the same registry that the image was pulled from: layers may
    /// be mounted from there instead of uploaded.
    async fn mount_sources(&self, id: &str, target: &Reference) -> Vec<String> {
        let id = id.to_string();
        let Ok(img) = self.blocking(move |s| s.get(&id)).await else {
            return Vec::new();
        };
        img.repo_digests
            .iter()
            .filter_map(|d| Reference::parse_normalized(d).ok())
            .filter(|d| d.domain == target.domain && d.path != target.path)
            .map(|d| d.path)
            .collect()
    }

    async fn push_one(
        &self,
        repo: &Repository,
        r: &Reference,
        tag: &str,
        img: &image::PushImage,
        mounts: &[String],
        progress: &Progress,
    ) -> Result<()> {
        for l in img.layers.iter().rev() {
            progress
                .status(Some(&short(&l.digest)), "Preparing")
                .await?;
        }
        futures::stream::iter(img.layers.iter().rev().map(Ok::<_, DaemonError>))
            .try_for_each_concurrent(self.cfg.max_concurrent_uploads, |l| async move {
                let id = short(&l.digest);
                if repo.blob_exists(&l.digest).await?.is_some() {
                    return progress.status(Some(&id), "Layer already exists").await;
                }
                for from in mounts {
                    if repo.mount_blob(&l.digest, from).await? {
                        return progress
                            .status(Some(&id), &format!("Mounted from {from}"))
                            .await;
                    }
                }
                let last = AtomicU64::new(0);
                let t0 = Instant::now();
                let report = |n: u64| {
                    let now = t0.elapsed().as_millis() as u64;
                    if n == l.size || now >= last.load(Ordering::Relaxed) + PROGRESS_EVERY_MS {
                        last.store(now, Ordering::Relaxed);
                        progress.progress(&id, "Pushing", n, l.size);
                    }
                };
                repo.upload_blob(&l.path, &l.digest, l.size, &report)
                    .await?;
                progress.status(Some(&id), "Pushed").await
            })
            .await?;
        // The config blob.
        if repo.blob_exists(&img.config_digest).await?.is_none() {
            let digest = img.config_digest.clone();
            let path = self.blocking(move |s| s.blob_path(&digest)).await?;
            repo.upload_blob(&path, &img.config_digest, img.config.len() as u64, &|_| {})
                .await?;
        }
        let digest = repo
            .put_manifest(
                tag,
                &img.manifest_media_type,
                bytes::Bytes::from(img.manifest.clone()),
            )
            .await?;
        let size = img.manifest.len();
        self.emit_image(
            "push",
            &img.config_digest,
            &format!("{}:{tag}", r.familiar_name()),
        );
        progress
            .status(None, &format!("{tag}: digest: {digest} size: {size}"))
            .await?;
        progress
            .send(json!({
                "progressDetail": {},
                "aux": { "Tag": tag, "Digest": digest, "Size": size },
            }))
            .await?;
        // Like moby, remember where the image now is.
        let id = img.config_digest.clone();
        let canonical = format!("{}@{digest}", r.name());
        if let Err(e) = self
            .blocking(move |s| s.add_digest_reference(&id, &canonical))
            .await
        {
            tracing::warn!(error = %e, "could not record the pushed digest");
        }
        Ok(())
    }
}

/// Hard-links `src` to `dst` (replacing the empty staging file at `dst`).
fn link_over(src: &Path, dst: &Path) -> Result<()> {
    std::fs::remove_file(dst)
        .and_then(|()| std::fs::hard_link(src, dst))
        .map_err(|e| DaemonError::io(format!("linking {}", dst.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(
            registry_of_server("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(registry_of_server(""), "docker.io");
        assert_eq!(
            registry_of_server("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_of_server("localhost:5000"), "localhost:5000");
    }

    #[test]
    fn credentials_from_auth_config() {
        let a = RegistryAuth {
            auth: base64::engine::general_purpose::STANDARD.encode("u:p:x"),
            ..Default::default()
        };
        match credentials(&a) {
            Credentials::Basic { username, password } => {
                assert_eq!((username.as_str(), password.as_str()), ("u", "p:x"))
            }
            other => panic!("{other:?}"),
        }
        let a = RegistryAuth {
            identitytoken: "tok".into(),
            username: "u".into(),
            ..Default::default()
        };
        assert!(matches!(credentials(&a), Credentials::IdentityToken(t) if t == "tok"));
        assert!(matches!(
            credentials(&RegistryAuth::default()),
            Credentials::Anonymous
        ));
    }

    #[test]
    fn sizes_and_bars() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_234_567), "1.23MB");
        assert_eq!(human(12_345_678), "12.3MB");
        assert_eq!(human(123_456_789), "123MB");
        let b = progress_bar(50, 100);
        assert!(b.starts_with("[=========================>"), "{b}");
        assert!(b.ends_with("50B/100B"), "{b}");
        assert_eq!(progress_bar(100, 100).matches('=').count(), 50);
    }

    #[test]
    fn platforms() {
        assert_eq!(
            platform_parts(Some("linux/arm64/v8")).unwrap(),
            ("linux".into(), "arm64".into(), Some("v8".into()))
        );
        assert_eq!(platform_parts(None).unwrap().1, image::host_arch());
        assert!(platform_parts(Some("linux//x")).is_err());
    }
}

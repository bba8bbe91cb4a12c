//! Operations on one repository: manifests, blobs (download with resume, upload
//! monolithic or chunked, cross-repository mount) and tags.

use std::io::{Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::{
    HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LINK, RANGE,
};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use url::Url;

use crate::auth::Credentials;
use crate::client::{
    backoff, error_from_response, header_value, join, read_capped, retry, strip_query, AuthCtx,
    BodyFn, Client, Host, MAX_RETRIES,
};
use crate::digest::{check_repository_path, digest_of, parse_digest, Hasher, Reference};
use crate::error::Error;
use crate::oci::{self, Descriptor};

/// Largest manifest accepted (as containerd and the reference registry).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// Blobs up to this size are uploaded with one PUT; larger ones in chunks.
pub const MONOLITHIC_MAX: u64 = 16 << 20;
/// Chunk size of chunked uploads (raised to the registry's `OCI-Chunk-Min-Length`).
pub const CHUNK_SIZE: u64 = 16 << 20;
/// Buffer between the network and the destination file of a download.
const WRITE_BUFFER: usize = 1 << 20;
/// Read size of upload bodies.
const READ_BUFFER: usize = 256 << 10;

/// A fetched manifest or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `sha256:...` of `bytes` (verified).
    pub digest: String,
    /// One of the four manifest/index media types (or what the registry sent for others).
    pub media_type: String,
    /// The exact bytes (the digest is over these).
    pub bytes: Bytes,
}

impl Manifest {
    /// True if this is an index / manifest list.
    pub fn is_index(&self) -> bool {
        oci::is_index(&self.media_type)
    }

    /// Parse as an image manifest.
    pub fn image_manifest(&self) -> Result<oci::ImageManifest, Error> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| Error::invalid(format!("manifest {}", self.digest), e.to_string()))
    }

    /// Parse as an index / manifest list.
    pub fn index(&self) -> Result<oci::ImageIndex, Error> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| Error::invalid(format!("index {}", self.digest), e.to_string()))
    }

    /// The descriptor of this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            ..Default::default()
        }
    }
}

/// One repository of one registry, with credentials. Cheap to clone.
#[derive(Clone)]
pub struct Repository {
    client: Client,
    registry: String,
    path: String,
    ctx: Arc<AuthCtx>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("registry", &self.registry)
            .field("path", &self.path)
            .field("creds", &self.ctx.creds)
            .finish()
    }
}

impl Repository {
    pub(crate) fn new(
        client: Client,
        registry: &str,
        path: &str,
        creds: Credentials,
        push: bool,
    ) -> Repository {
        let actions = if push { "pull,push" } else { "pull" };
        Repository {
            client,
            registry: registry.to_string(),
            path: path.to_string(),
            ctx: Arc::new(AuthCtx {
                registry: registry.to_string(),
                creds,
                scopes: vec![format!("repository:{path}:{actions}")],
            }),
        }
    }

    /// The registry as given ("localhost:5000").
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path ("library/busybox").
    pub fn path(&self) -> &str {
        &self.path
    }

    async fn host_base(&self) -> Result<(Arc<Host>, Url), Error> {
        check_repository_path(&self.path)?;
        let host = self.client.host(&self.registry)?;
        let base = self.client.base_url(&host, &self.registry).await?;
        Ok((host, base))
    }

    fn url(&self, base: &Url, suffix: &str) -> Result<Url, Error> {
        join(base, &format!("v2/{}/{suffix}", self.path), &self.registry)
    }

    async fn send(
        &self,
        host: &Host,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<BodyFn<'_>>,
    ) -> Result<reqwest::Response, Error> {
        self.client
            .send(host, &self.ctx, method, url, headers, body)
            .await
    }

    async fn error(&self, resp: reqwest::Response, what: impl FnOnce() -> String) -> Error {
        error_from_response(resp, &self.registry, &self.ctx.creds, what).await
    }

    fn manifest_what(&self, reference: &str) -> String {
        let sep = if reference.contains(':') { '@' } else { ':' };
        format!(
            "manifest for {}/{}{sep}{reference}",
            self.registry, self.path
        )
    }

    fn blob_what(&self, digest: &str) -> String {
        format!("blob {digest} in {}/{}", self.registry, self.path)
    }

    fn accept_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT,
            reqwest::header::HeaderValue::from_static(
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json",
            ),
        );
        h
    }

    /// GET a manifest by tag or digest. Accepts OCI manifest and index and Docker
    /// schema2 manifest and list. A digest reference is verified; for a tag the digest
    /// is the sha256 of the body, checked against `Docker-Content-Digest` if sent.
    /// At most [`MAX_MANIFEST_SIZE`] bytes. Schema1 manifests -> [`Error::Unsupported`].
    pub async fn get_manifest(&self, reference: &str) -> Result<Manifest, Error> {
        let r = Reference::parse(reference)?;
        let (host, base) = self.host_base().await?;
        let url = self.url(&base, &format!("manifests/{reference}"))?;
        retry("get manifest", || {
            self.get_manifest_once(&host, &url, reference, &r)
        })
        .await
    }

    async fn get_manifest_once(
        &self,
        host: &Host,
        url: &Url,
        reference: &str,
        r: &Reference<'_>,
    ) -> Result<Manifest, Error> {
        let resp = self
            .send(host, Method::GET, url.clone(), Self::accept_headers(), None)
            .await?;
        if !resp.status().is_success() {
            return Err(self.error(resp, || self.manifest_what(reference)).await);
        }
        let content_type = media_type_of(resp.headers());
        let header_digest = header_str(resp.headers(), "docker-content-digest");
        let what = self.manifest_what(reference);
        let bytes = read_capped(resp, MAX_MANIFEST_SIZE, &self.registry, &what).await?;
        let media_type =
            match content_type {
                Some(ct) if oci::is_index(&ct) || oci::is_manifest(&ct) => ct,
                other => oci::detect_media_type(&bytes).or(other).ok_or_else(|| {
                    Error::InvalidResponse {
                        registry: self.registry.clone(),
                        what: what.clone(),
                        reason: "no media type".into(),
                    }
                })?,
            };
        if media_type == oci::DOCKER_MANIFEST_V1 || media_type == oci::DOCKER_MANIFEST_V1_SIGNED {
            return Err(Error::Unsupported {
                what,
                reason: "Docker Image manifest version 2, schema 1 is no longer supported; push the image again with a current client".into(),
            });
        }
        let digest = match r {
            Reference::Digest(d, alg) => {
                let got = digest_of(*alg, &bytes);
                if got != *d {
                    return Err(Error::DigestMismatch {
                        what,
                        expected: d.to_string(),
                        got,
                    });
                }
                d.to_string()
            }
            Reference::Tag(_) => match header_digest {
                Some(hd) => {
                    let (alg, _) = parse_digest(&hd).map_err(|_| Error::InvalidResponse {
                        registry: self.registry.clone(),
                        what: "Docker-Content-Digest header".into(),
                        reason: format!("{hd:?} is not a digest"),
                    })?;
                    let got = digest_of(alg, &bytes);
                    if got != hd {
                        return Err(Error::DigestMismatch {
                            what,
                            expected: hd,
                            got,
                        });
                    }
                    hd
                }
                None => crate::digest::sha256_digest(&bytes),
            },
        };
        Ok(Manifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// HEAD a manifest: its descriptor (media type, digest, size), or None when the
    /// registry does not know it. Falls back to GET when the registry does not send
    /// `Docker-Content-Digest`.
    pub async fn head_manifest(&self, reference: &str) -> Result<Option<Descriptor>, Error> {
        Reference::parse(reference)?;
        let (host, base) = self.host_base().await?;
        let url = self.url(&base, &format!("manifests/{reference}"))?;
        let found = retry("head manifest", || async {
            let resp = self
                .send(
                    &host,
                    Method::HEAD,
                    url.clone(),
                    Self::accept_headers(),
                    None,
                )
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(self.error(resp, || self.manifest_what(reference)).await);
            }
            let h = resp.headers();
            Ok(Some((
                media_type_of(h),
                header_str(h, "docker-content-digest"),
                resp.content_length()
                    .filter(|l| *l > 0)
                    .or_else(|| header_str(h, "content-length").and_then(|l| l.parse().ok())),
            )))
        })
        .await?;
        match found {
            None => Ok(None),
            Some((Some(media_type), Some(digest), Some(size)))
                if parse_digest(&digest).is_ok()
                    && (oci::is_index(&media_type) || oci::is_manifest(&media_type)) =>
            {
                Ok(Some(Descriptor {
                    media_type,
                    digest,
                    size,
                    ..Default::default()
                }))
            }
            Some(_) => match self.get_manifest(reference).await {
                Ok(m) => Ok(Some(m.descriptor())),
                Err(Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// A small blob (an image config) into memory, at most `max` bytes, verified.
    pub async fn get_blob(&self, desc: &Descriptor, max: u64) -> Result<Bytes, Error> {
        let (alg, _) = parse_digest(&desc.digest)?;
        let what = self.blob_what(&desc.digest);
        if desc.size > max {
            return Err(Error::TooLarge { what, limit: max });
        }
        let (host, base) = self.host_base().await?;
        let url = self.url(&base, &format!("blobs/{}", desc.digest))?;
        let bytes = retry("get blob", || async {
            let resp = self
                .send(&host, Method::GET, url.clone(), HeaderMap::new(), None)
                .await?;
            if !resp.status().is_success() {
                return Err(self.error(resp, || what.clone()).await);
            }
            read_capped(resp, desc.size, &self.registry, &what)
                .await
                .map_err(|e| match e {
                    Error::TooLarge { .. } => Error::SizeMismatch {
                        what: what.clone(),
                        expected: desc.size,
                        got: desc.size + 1,
                    },
                    e => e,
                })
        })
        .await?;
        if bytes.len() as u64 != desc.size {
            return Err(Error::SizeMismatch {
                what,
                expected: desc.size,
                got: bytes.len() as u64,
            });
        }
        let got = digest_of(alg, &bytes);
        if got != desc.digest {
            return Err(Error::DigestMismatch {
                what,
                expected: desc.digest.clone(),
                got,
            });
        }
        Ok(bytes)
    }

    /// Stream a blob into `dst` (truncated first), calling `progress(bytes_so_far)` as
    /// data arrives. Transport errors, 5xx/429 and short bodies are retried up to
    /// [`MAX_RETRIES`] times with backoff, resuming with `Range: bytes=N-`; if the
    /// registry ignores the range, `dst` is truncated and the download restarts from
    /// 0 (`progress(0)` is called then). Redirects to blob storage are followed
    /// (`Authorization` is dropped on a host change). At the end the size and digest
    /// are checked: [`Error::SizeMismatch`] / [`Error::DigestMismatch`] mean `dst`
    /// holds bad data and must be discarded. `dst` is flushed but not synced.
    pub async fn download_blob(
        &self,
        desc: &Descriptor,
        dst: &mut tokio::fs::File,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), Error> {
        let (alg, _) = parse_digest(&desc.digest)?;
        let what = self.blob_what(&desc.digest);
        truncate(dst, &what).await?;
        let (host, base) = self.host_base().await?;
        let url = self.url(&base, &format!("blobs/{}", desc.digest))?;
        let mut st = DownloadState {
            hasher: Hasher::new(alg),
            alg,
            offset: 0,
        };
        let mut failures = 0u32;
        loop {
            let res = self
                .download_attempt(&host, &url, desc, dst, &mut st, progress, &what)
                .await;
            let transient = match res {
                Ok(true) => break,
                Ok(false) => None, // short body
                Err(e) if e.is_transient() => Some(e),
                Err(e) => return Err(e),
            };
            if failures >= MAX_RETRIES {
                return Err(transient.unwrap_or(Error::SizeMismatch {
                    what,
                    expected: desc.size,
                    got: st.offset,
                }));
            }
            tracing::info!(
                blob = %desc.digest,
                offset = st.offset,
                attempt = failures + 1,
                error = transient.as_ref().map(|e| e.to_string()).unwrap_or_else(|| "short body".into()),
                "blob download interrupted, resuming"
            );
            backoff(failures).await;
            failures += 1;
        }
        if st.offset != desc.size {
            return Err(Error::SizeMismatch {
                what,
                expected: desc.size,
                got: st.offset,
            });
        }
        let got = st.hasher.finish();
        if got != desc.digest {
            return Err(Error::DigestMismatch {
                what,
                expected: desc.digest.clone(),
                got,
            });
        }
        Ok(())
    }

    /// One GET of the rest of the blob. Ok(true) = all `desc.size` bytes are in;
    /// Ok(false) = the body ended early (retry).
    #[allow(clippy::too_many_arguments)]
    async fn download_attempt(
        &self,
        host: &Host,
        url: &Url,
        desc: &Descriptor,
        dst: &mut tokio::fs::File,
        st: &mut DownloadState,
        progress: &(dyn Fn(u64) + Send + Sync),
        what: &str,
    ) -> Result<bool, Error> {
        let mut headers = HeaderMap::new();
        if st.offset > 0 {
            headers.insert(RANGE, header_value(&format!("bytes={}-", st.offset))?);
        }
        let mut resp = self
            .send(host, Method::GET, url.clone(), headers, None)
            .await?;
        let status = resp.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE && st.offset == desc.size && st.offset > 0 {
            return Ok(true);
        }
        if !status.is_success() {
            return Err(self.error(resp, || what.to_string()).await);
        }
        let restart = if status == StatusCode::PARTIAL_CONTENT {
            let start =
                header_str(resp.headers(), "content-range").and_then(|cr| content_range_start(&cr));
            if start != Some(st.offset) {
                tracing::info!(blob = %desc.digest, ?start, offset = st.offset, "registry answered another range; restarting from 0");
                true
            } else {
                false
            }
        } else {
            if st.offset > 0 {
                tracing::info!(blob = %desc.digest, offset = st.offset, "registry ignored Range; restarting from 0");
            }
            st.offset > 0
        };
        if restart {
            if status == StatusCode::PARTIAL_CONTENT {
                // A range we cannot use: ask again for the whole blob next time.
                truncate(dst, what).await?;
                st.reset();
                progress(0);
                return Ok(false);
            }
            truncate(dst, what).await?;
            st.reset();
            progress(0);
        }
        if let Some(len) = resp.content_length() {
            if st.offset + len > desc.size {
                return Err(Error::SizeMismatch {
                    what: what.to_string(),
                    expected: desc.size,
                    got: st.offset + len,
                });
            }
        }
        let resp_url = strip_query(resp.url());
        let mut w = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, &mut *dst);
        let res = loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let n = chunk.len() as u64;
                    if st.offset + n > desc.size {
                        break Err(Error::SizeMismatch {
                            what: what.to_string(),
                            expected: desc.size,
                            got: st.offset + n,
                        });
                    }
                    st.hasher.update(&chunk);
                    if let Err(e) = w.write_all(&chunk).await {
                        return Err(Error::io(format!("write {what}"), e));
                    }
                    st.offset += n;
                    progress(st.offset);
                }
                Ok(None) => break Ok(st.offset == desc.size),
                Err(source) => {
                    break Err(Error::Http {
                        registry: self.registry.clone(),
                        url: resp_url.clone(),
                        source,
                    })
                }
            }
        };
        w.flush()
            .await
            .map_err(|e| Error::io(format!("write {what}"), e))?;
        res
    }

    /// HEAD a blob: Some(size) if the registry has it in this repository.
    pub async fn blob_exists(&self, digest: &str) -> Result<Option<u64>, Error> {
        parse_digest(digest)?;
        let (host, base) = self.host_base().await?;
        let url = self.url(&base, &format!("blobs/{digest}"))?;
        retry("blob exists", || async {
            let resp = self
                .send(&host, Method::HEAD, url.clone(), HeaderMap::new(), None)
                .await?;
            match resp.status() {
                StatusCode::NOT_FOUND => Ok(None),
                s if s.is_success() => Ok(Some(
                    resp.content_length()
                        .filter(|l| *l > 0)
                        .or_else(|| {
                            header_str(resp.headers(), "content-length")
                                .and_then(|l| l.parse().ok())
                        })
                        .unwrap_or(0),
                )),
                _ => Err(self.error(resp, || self.blob_what(digest)).await),
            }
        })
        .await
    }

    /// Cross-repository mount (`POST ?mount=&from=`): true if the registry mounted the
    /// blob (201); false if it started an upload instead (that session is cancelled).
    pub async fn mount_blob(&self, digest: &str, from_path: &str) -> Result<bool, Error> {
        parse_digest(digest)?;
        check_repository_path(from_path)?;
        let (host, base) = self.host_base().await?;
        let mut url = self.url(&base, "blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from_path);
        let mut ctx = (*self.ctx).clone();
        ctx.scopes.push(format!("repository:{from_path}:pull"));
        let resp = retry("mount blob", || async {
            let resp = self
                .client
                .send(
                    &host,
                    &ctx,
                    Method::POST,
                    url.clone(),
                    HeaderMap::new(),
                    None,
                )
                .await?;
            if resp.status().is_success() {
                Ok(resp)
            } else {
                Err(error_from_response(resp, &self.registry, &ctx.creds, || {
                    self.blob_what(digest)
                })
                .await)
            }
        })
        .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        if let Ok(loc) = self.location(&base, resp.headers()) {
            match self
                .client
                .send(&host, &ctx, Method::DELETE, loc, HeaderMap::new(), None)
                .await
            {
                Ok(r) => {
                    tracing::debug!(status = %r.status(), "cancelled upload after failed mount")
                }
                Err(e) => tracing::debug!(error = %e, "cancelling upload after failed mount"),
            }
        }
        Ok(false)
    }

    fn location(&self, base: &Url, headers: &HeaderMap) -> Result<Url, Error> {
        let loc = header_str(headers, "location").ok_or_else(|| Error::InvalidResponse {
            registry: self.registry.clone(),
            what: "upload".into(),
            reason: "no Location header".into(),
        })?;
        base.join(&loc).map_err(|e| Error::InvalidResponse {
            registry: self.registry.clone(),
            what: "Location header".into(),
            reason: format!("{loc:?}: {e}"),
        })
    }

    /// Start an upload session: (Location, minimum chunk length).
    async fn start_upload(
        &self,
        host: &Host,
        base: &Url,
        digest: &str,
    ) -> Result<(Url, u64), Error> {
        let url = self.url(base, "blobs/uploads/")?;
        retry("start upload", || async {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_LENGTH, header_value("0")?);
            let resp = self.send(host, Method::POST, url.clone(), h, None).await?;
            if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
                return Err(self
                    .error(resp, || {
                        format!("repository {}/{}", self.registry, self.path)
                    })
                    .await);
            }
            let min = header_str(resp.headers(), "oci-chunk-min-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            Ok((self.location(base, resp.headers())?, min))
        })
        .await
        .map_err(|e| {
            tracing::debug!(digest, error = %e, "upload start failed");
            e
        })
    }

    /// Upload the file at `path` as blob `digest` of `size` bytes: one PUT up to
    /// [`MONOLITHIC_MAX`], else PATCH chunks of [`CHUNK_SIZE`] (at least the registry's
    /// `OCI-Chunk-Min-Length`) and a closing PUT. A failed chunk is resent from the
    /// offset the registry reports (`GET` upload status, `Range` header); a lost
    /// session restarts the upload. `progress(bytes_sent)` is called about every
    /// 100 ms. The registry verifies the digest.
    pub async fn upload_blob(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), Error> {
        parse_digest(digest)?;
        let what = self.blob_what(digest);
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
        if meta.len() != size {
            return Err(Error::SizeMismatch {
                what: format!("{} (for {what})", path.display()),
                expected: size,
                got: meta.len(),
            });
        }
        let (host, base) = self.host_base().await?;
        let counter = Arc::new(AtomicU64::new(0));
        let mut failures = 0u32;
        'session: loop {
            let (mut location, min_chunk) = self.start_upload(&host, &base, digest).await?;
            if size <= MONOLITHIC_MAX {
                let res = with_progress(
                    self.put_upload(&host, &location, digest, Some((path, 0, size, &counter))),
                    &counter,
                    progress,
                )
                .await;
                match res {
                    Ok(()) => {
                        progress(size);
                        return Ok(());
                    }
                    Err(e) if e.is_transient() && failures < MAX_RETRIES => {
                        tracing::info!(digest, error = %e, "blob upload failed, retrying");
                        backoff(failures).await;
                        failures += 1;
                        continue 'session;
                    }
                    Err(e) => return Err(e),
                }
            }
            let chunk = CHUNK_SIZE.max(min_chunk);
            let mut offset = 0u64;
            while offset < size {
                let len = chunk.min(size - offset);
                let res = with_progress(
                    self.patch_chunk(&host, &base, &location, path, offset, len, &counter),
                    &counter,
                    progress,
                )
                .await;
                match res {
                    Ok((loc, end)) => {
                        location = loc;
                        offset = end.unwrap_or(offset + len);
                        progress(offset);
                        failures = 0;
                    }
                    Err(e) if e.is_transient() && failures < MAX_RETRIES => {
                        tracing::info!(digest, offset, error = %e, "blob chunk upload failed, asking the registry where to resume");
                        backoff(failures).await;
                        failures += 1;
                        match self.upload_status(&host, &base, &location).await {
                            Ok((loc, end)) => {
                                location = loc;
                                offset = end;
                                tracing::info!(digest, offset, "resuming upload");
                            }
                            Err(e) if matches!(e, Error::NotFound { .. }) || e.is_transient() => {
                                tracing::info!(digest, error = %e, "upload session lost, restarting");
                                continue 'session;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            match self.put_upload(&host, &location, digest, None).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && failures < MAX_RETRIES => {
                    tracing::info!(digest, error = %e, "closing blob upload failed, restarting");
                    backoff(failures).await;
                    failures += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `PUT <location>?digest=` with the file range as body, or empty.
    async fn put_upload(
        &self,
        host: &Host,
        location: &Url,
        digest: &str,
        body: Option<(&Path, u64, u64, &Arc<AtomicU64>)>,
    ) -> Result<(), Error> {
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest);
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, header_value("application/octet-stream")?);
        let len = body.map(|b| b.2).unwrap_or(0);
        h.insert(CONTENT_LENGTH, header_value(&len.to_string())?);
        let resp = match body {
            Some((path, offset, len, counter)) => {
                let path = path.to_path_buf();
                let counter = counter.clone();
                let f = move || file_body(&path, offset, len, counter.clone());
                self.send(host, Method::PUT, url, h, Some(&f)).await?
            }
            None => {
                let f = || Ok(reqwest::Body::from(Bytes::new()));
                self.send(host, Method::PUT, url, h, Some(&f)).await?
            }
        };
        if !resp.status().is_success() {
            return Err(self.error(resp, || self.blob_what(digest)).await);
        }
        Ok(())
    }

    /// PATCH one chunk; returns the next Location and the offset after the
    /// registry's reported `Range` end.
    #[allow(clippy::too_many_arguments)]
    async fn patch_chunk(
        &self,
        host: &Host,
        base: &Url,
        location: &Url,
        path: &Path,
        offset: u64,
        len: u64,
        counter: &Arc<AtomicU64>,
    ) -> Result<(Url, Option<u64>), Error> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, header_value("application/octet-stream")?);
        h.insert(CONTENT_LENGTH, header_value(&len.to_string())?);
        h.insert(
            CONTENT_RANGE,
            header_value(&format!("{}-{}", offset, offset + len - 1))?,
        );
        let p: PathBuf = path.to_path_buf();
        let c = counter.clone();
        let f = move || file_body(&p, offset, len, c.clone());
        let resp = self
            .send(host, Method::PATCH, location.clone(), h, Some(&f))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .error(resp, || format!("upload session {}", strip_query(location)))
                .await);
        }
        let loc = self
            .location(base, resp.headers())
            .unwrap_or_else(|_| location.clone());
        let end = header_str(resp.headers(), "range").and_then(|r| range_end(&r));
        Ok((loc, end))
    }

    /// GET the upload status: the Location and how many bytes the registry has.
    async fn upload_status(
        &self,
        host: &Host,
        base: &Url,
        location: &Url,
    ) -> Result<(Url, u64), Error> {
        retry("upload status", || async {
            let resp = self
                .send(host, Method::GET, location.clone(), HeaderMap::new(), None)
                .await?;
            if !resp.status().is_success() {
                return Err(self
                    .error(resp, || format!("upload session {}", strip_query(location)))
                    .await);
            }
            let loc = self
                .location(base, resp.headers())
                .unwrap_or_else(|_| location.clone());
            let end = header_str(resp.headers(), "range")
                .and_then(|r| range_end(&r))
                .unwrap_or(0);
            Ok((loc, end))
        })
        .await
    }

    /// PUT a manifest under a tag or digest; returns the digest the registry reports
    /// (`Docker-Content-Digest`) or the sha256 of `body`.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, Error> {
        let r = Reference::parse(reference)?;
        if let Reference::Digest(d, alg) = r {
            let got = digest_of(alg, &body);
            if got != d {
                return Err(Error::DigestMismatch {
                    what: self.manifest_what(reference),
                    expected: d.to_string(),
                    got,
                });
            }
        }
        if body.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge {
                what: self.manifest_what(reference),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let (host, base) = self.host_base().await?;
        let url = self.url(&base, &format!("manifests/{reference}"))?;
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, header_value(media_type)?);
        let b = body.clone();
        let f = move || Ok(reqwest::Body::from(b.clone()));
        let resp = retry("put manifest", || async {
            let resp = self
                .send(&host, Method::PUT, url.clone(), h.clone(), Some(&f))
                .await?;
            if !resp.status().is_success() {
                return Err(self.error(resp, || self.manifest_what(reference)).await);
            }
            Ok(resp)
        })
        .await?;
        let computed = crate::digest::sha256_digest(&body);
        match header_str(resp.headers(), "docker-content-digest") {
            Some(d) if parse_digest(&d).is_ok() => {
                if d.starts_with("sha256:") && d != computed {
                    tracing::warn!(reported = %d, computed = %computed, "registry reports another manifest digest");
                }
                Ok(d)
            }
            _ => Ok(computed),
        }
    }

    /// All tags of the repository, following `Link: <...>; rel="next"` pagination.
    pub async fn list_tags(&self) -> Result<Vec<String>, Error> {
        self.list_tags_paged(None).await
    }

    /// All tags, asking for pages of `page_size` (`?n=`) and following `Link`
    /// pagination; None lets the registry choose.
    pub async fn list_tags_paged(&self, page_size: Option<u32>) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let (host, base) = self.host_base().await?;
        let mut url = self.url(&base, "tags/list")?;
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let (page, next) = retry("list tags", || async {
                let resp = self
                    .send(&host, Method::GET, url.clone(), HeaderMap::new(), None)
                    .await?;
                if !resp.status().is_success() {
                    return Err(self
                        .error(resp, || {
                            format!("repository {}/{}", self.registry, self.path)
                        })
                        .await);
                }
                let next = resp
                    .headers()
                    .get_all(LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(next_link);
                let body = read_capped(resp, 16 << 20, &self.registry, "tag list").await?;
                let t: Tags =
                    serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
                        registry: self.registry.clone(),
                        what: "tag list".into(),
                        reason: e.to_string(),
                    })?;
                Ok((t.tags.unwrap_or_default(), next))
            })
            .await?;
            all.extend(page);
            match next {
                Some(n) => {
                    url = url.join(&n).map_err(|e| Error::InvalidResponse {
                        registry: self.registry.clone(),
                        what: "Link header".into(),
                        reason: format!("{n:?}: {e}"),
                    })?;
                }
                None => return Ok(all),
            }
        }
        Err(Error::InvalidResponse {
            registry: self.registry.clone(),
            what: "tag list".into(),
            reason: "too many pages".into(),
        })
    }
}

struct DownloadState {
    hasher: Hasher,
    alg: crate::digest::Algorithm,
    offset: u64,
}

impl DownloadState {
    fn reset(&mut self) {
        self.hasher = Hasher::new(self.alg);
        self.offset = 0;
    }
}

async fn truncate(dst: &mut tokio::fs::File, what: &str) -> Result<(), Error> {
    dst.set_len(0)
        .await
        .map_err(|e| Error::io(format!("truncate the file for {what}"), e))?;
    dst.seek(SeekFrom::Start(0))
        .await
        .map_err(|e| Error::io(format!("seek the file for {what}"), e))?;
    Ok(())
}

/// A streaming body of `len` bytes of `path` from `offset`; counts bytes into `counter`
/// (set to `offset` first).
fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    counter: Arc<AtomicU64>,
) -> Result<reqwest::Body, Error> {
    let mut f =
        std::fs::File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(format!("seek {}", path.display()), e))?;
    counter.store(offset, Ordering::Relaxed);
    let reader = tokio::fs::File::from_std(f).take(len);
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_BUFFER).map(move |r| {
        if let Ok(b) = &r {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        r
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

/// Run `fut`, reporting `counter` to `progress` every 100 ms when it changed.
async fn with_progress<F: std::future::Future>(
    fut: F,
    counter: &AtomicU64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> F::Output {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = u64::MAX;
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tick.tick() => {
                let v = counter.load(Ordering::Relaxed);
                if v != last {
                    progress(v);
                    last = v;
                }
            }
        }
    }
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The media type of `Content-Type` without parameters.
fn media_type_of(h: &HeaderMap) -> Option<String> {
    header_str(h, "content-type").map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// `bytes 100-199/200` -> 100.
fn content_range_start(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("bytes").unwrap_or(v).trim_start();
    v.split('-').next()?.trim().parse().ok()
}

/// Upload `Range: 0-N` -> N+1 bytes received ("0-0" is taken as nothing received,
/// as the reference registry reports an empty upload that way).
fn range_end(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (start, end) = v.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    if start != 0 {
        return None;
    }
    Some(if end == 0 { 0 } else { end + 1 })
}

/// The target of a `Link: <url>; rel="next"` value.
fn next_link(v: &str) -> Option<String> {
    for part in v.split(',') {
        let part = part.trim();
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if params.split(';').any(|p| {
            matches!(
                p.trim().replace(' ', "").as_str(),
                "rel=\"next\"" | "rel=next"
            )
        }) {
            return Some(target.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("100-199"), Some(100));
        assert_eq!(range_end("0-1023"), Some(1024));
        assert_eq!(range_end("bytes=0-9"), Some(10));
        assert_eq!(range_end("0-0"), Some(0));
        assert_eq!(range_end("5-9"), None);
        assert_eq!(
            next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"<http://a/b>; rel="prev""#), None);
    }
}

//! HTTP layer: parse `/v2/...` paths into a route, then call the storage backend.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};
use crate::names::{validate_name, validate_tag, Digest};
use crate::storage::Storage;

pub const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;
/// Read size for streaming blobs: large reads keep the blocking-pool round trips few.
const BLOB_CHUNK: usize = 256 * 1024;
/// Chunks read ahead per download.
const BLOB_QUEUE: usize = 2;
const DIGEST_HEADER: &str = "docker-content-digest";
const UUID_HEADER: &str = "docker-upload-uuid";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A parsed `/v2/` route. Repository names contain slashes, so the fixed suffix
/// decides the route and everything before it is the name.
#[derive(Debug, PartialEq)]
pub(crate) enum Route {
    Base,
    Catalog,
    Tags { name: String },
    Manifest { name: String, reference: String },
    Blob { name: String, digest: String },
    UploadStart { name: String },
    Upload { name: String, uuid: String },
    Referrers { name: String, digest: String },
}

pub(crate) fn parse_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v2")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..n - k].join("/");
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Some(Route::Tags { name: name(2) });
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        if segs[n - 1].is_empty() {
            return Some(Route::UploadStart { name: name(3) });
        }
        return Some(Route::Upload {
            name: name(3),
            uuid: segs[n - 1].to_string(),
        });
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Some(Route::UploadStart { name: name(2) });
    }
    if n >= 3 {
        let last = segs[n - 1].to_string();
        match segs[n - 2] {
            "blobs" => {
                return Some(Route::Blob {
                    name: name(2),
                    digest: last,
                })
            }
            "manifests" => {
                return Some(Route::Manifest {
                    name: name(2),
                    reference: last,
                })
            }
            "referrers" => {
                return Some(Route::Referrers {
                    name: name(2),
                    digest: last,
                })
            }
            _ => {}
        }
    }
    None
}

fn query_map(req: &Request) -> HashMap<String, String> {
    let mut m = HashMap::new();
    if let Some(q) = req.uri().query() {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(percent_decode(k), percent_decode(v));
        }
    }
    m
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported {
        what: what.to_string(),
    }
}

pub async fn dispatch(State(st): State<Arc<Storage>>, req: Request) -> Response {
    match handle(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(st: &Storage, req: Request) -> Result<Response> {
    let Some(route) = parse_route(req.uri().path()) else {
        return Err(Error::NameInvalid {
            name: req.uri().path().to_string(),
        });
    };
    let method = req.method().clone();
    match &route {
        Route::Base | Route::Catalog => {}
        Route::Tags { name }
        | Route::Manifest { name, .. }
        | Route::Blob { name, .. }
        | Route::UploadStart { name }
        | Route::Upload { name, .. }
        | Route::Referrers { name, .. } => validate_name(name)?,
    }
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response()),
        (Route::Catalog, Method::GET) => catalog(st, &query_map(&req)).await,
        (Route::Tags { name }, Method::GET) => tags(st, &name, &query_map(&req)).await,
        (Route::Blob { name, digest }, m @ (Method::GET | Method::HEAD)) => {
            get_blob(st, &name, &digest, req.headers(), m == Method::HEAD).await
        }
        (Route::Blob { name, digest }, Method::DELETE) => {
            st.delete_blob_link(&name, &Digest::parse(&digest)?).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Route::UploadStart { name }, Method::POST) => start_upload(st, &name, req).await,
        (Route::Upload { name, uuid }, Method::PATCH) => patch_upload(st, &name, &uuid, req).await,
        (Route::Upload { name, uuid }, Method::PUT) => put_upload(st, &name, &uuid, req).await,
        (Route::Upload { name, uuid }, Method::GET) => {
            let size = st.upload_size(&name, &uuid).await?;
            Ok(upload_progress(StatusCode::NO_CONTENT, &name, &uuid, size))
        }
        (Route::Upload { name, uuid }, Method::DELETE) => {
            st.cancel_upload(&name, &uuid).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Route::Manifest { name, reference }, m @ (Method::GET | Method::HEAD)) => {
            let accept = accepted_types(req.headers());
            get_manifest(st, &name, &reference, &accept, m == Method::HEAD).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            put_manifest(st, &name, &reference, req).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            if reference.contains(':') {
                st.delete_manifest(&name, &Digest::parse(&reference)?)
                    .await?;
            } else {
                validate_tag(&reference)?;
                st.delete_tag(&name, &reference).await?;
            }
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Route::Referrers { name, digest }, Method::GET) => {
            referrers(st, &name, &digest, &query_map(&req)).await
        }
        (_, m) => Err(unsupported(&format!("method {m} on {}", req.uri().path()))),
    }
}

/// Apply `n`/`last` pagination; returns the page and the `Link` header if more remain.
fn paginate(
    all: Vec<String>,
    q: &HashMap<String, String>,
    base: &str,
) -> Result<(Vec<String>, Option<String>)> {
    let last = q.get("last").cloned();
    let mut items: Vec<String> = match &last {
        Some(l) => all.into_iter().filter(|x| x > l).collect(),
        None => all,
    };
    let Some(n) = q.get("n") else {
        return Ok((items, None));
    };
    let n: usize = n.parse().map_err(|_| Error::PaginationInvalid {
        reason: format!("n={n}"),
    })?;
    if items.len() > n {
        items.truncate(n);
        let link = items
            .last()
            .map(|l| format!("<{base}?n={n}&last={l}>; rel=\"next\""));
        return Ok((items, link));
    }
    Ok((items, None))
}

fn json_page(body: serde_json::Value, link: Option<String>) -> Response {
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(l) = link {
        r.headers_mut().insert(header::LINK, hv(&l));
    }
    r
}

async fn catalog(st: &Storage, q: &HashMap<String, String>) -> Result<Response> {
    let (repos, link) = paginate(st.catalog().await?, q, "/v2/_catalog")?;
    Ok(json_page(
        serde_json::json!({ "repositories": repos }),
        link,
    ))
}

async fn tags(st: &Storage, name: &str, q: &HashMap<String, String>) -> Result<Response> {
    let all = st.list_tags(name).await?;
    let (tags, link) = paginate(all, q, &format!("/v2/{name}/tags/list"))?;
    Ok(json_page(
        serde_json::json!({ "name": name, "tags": tags }),
        link,
    ))
}

/// Parse a single `bytes=a-b` range against a blob of `size` bytes.
fn parse_range(h: &str, size: u64) -> Result<(u64, u64)> {
    let bad = || Error::RangeNotSatisfiable { size };
    let spec = h.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (start, end) = if a.is_empty() {
        let suffix: u64 = b.parse().map_err(|_| bad())?;
        (
            size.saturating_sub(suffix),
            size.checked_sub(1).ok_or_else(bad)?,
        )
    } else {
        let start: u64 = a.parse().map_err(|_| bad())?;
        let end: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| bad())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start > end || start >= size {
        return Err(bad());
    }
    Ok((start, end))
}

async fn get_blob(
    st: &Storage,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response> {
    let d = Digest::parse(digest)?;
    let (f, size) = st.open_blob(name, &d).await?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if !head => Some(parse_range(r, size)?),
        _ => None,
    };
    let mut builder = Response::builder()
        .header(DIGEST_HEADER, d.to_string())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes");
    let (status, start, len) = match range {
        Some((s, e)) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}"));
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        None => (StatusCode::OK, 0, size),
    };
    builder = builder.status(status).header(header::CONTENT_LENGTH, len);
    let body = if head {
        Body::empty()
    } else {
        file_body(f.into_std().await, start, len)
    };
    builder
        .body(body)
        .map_err(|e| Error::io("building response", std::io::Error::other(e)))
}

/// Stream `len` bytes of `file` from `start`: one blocking task reads large chunks
/// ahead into a small bounded channel (at most `BLOB_QUEUE` chunks per download).
fn file_body(mut file: std::fs::File, start: u64, len: u64) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(BLOB_QUEUE);
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        if start > 0 {
            if let Err(e) = file.seek(std::io::SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(BLOB_CHUNK as u64);
            let mut buf = Vec::with_capacity(n as usize);
            let res = match (&mut file).take(n).read_to_end(&mut buf) {
                Ok(got) if got as u64 == n => Ok(bytes::Bytes::from(buf)),
                Ok(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob file shorter than its size",
                )),
                Err(e) => Err(e),
            };
            let failed = res.is_err();
            // A send error means the client went away.
            if tx.blocking_send(res).is_err() || failed {
                return;
            }
            left -= n;
        }
    });
    Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

fn upload_progress(status: StatusCode, name: &str, uuid: &str, size: u64) -> Response {
    let end = size.saturating_sub(1);
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        hv(&format!("/v2/{name}/blobs/uploads/{uuid}")),
    );
    h.insert(header::RANGE, hv(&format!("0-{end}")));
    h.insert(UUID_HEADER, hv(uuid));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn blob_created(name: &str, d: &Digest) -> Response {
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, hv(&format!("/v2/{name}/blobs/{d}")));
    h.insert(DIGEST_HEADER, hv(&d.to_string()));
    r
}

async fn start_upload(st: &Storage, name: &str, req: Request) -> Result<Response> {
    let q = query_map(&req);
    if let Some(mount) = q.get("mount") {
        let d = Digest::parse(mount)?;
        if let Some(from) = q.get("from") {
            validate_name(from)?;
            if st.blob_size(from, &d).await.is_ok() {
                st.link_blob(name, &d).await?;
                return Ok(blob_created(name, &d));
            }
        }
        // Not mountable: fall through to a normal upload session (spec-allowed).
    }
    let uuid = st.start_upload(name).await?;
    if let Some(digest) = q.get("digest") {
        let d = Digest::parse(digest)?;
        let body = req.into_body().into_data_stream();
        let res = async {
            st.append_upload(name, &uuid, None, body).await?;
            st.finish_upload(name, &uuid, &d).await
        }
        .await;
        if let Err(e) = res {
            let _ = st.cancel_upload(name, &uuid).await;
            return Err(e);
        }
        return Ok(blob_created(name, &d));
    }
    Ok(upload_progress(StatusCode::ACCEPTED, name, &uuid, 0))
}

/// `Content-Range: <start>-<end>`; returns the start offset.
fn content_range_start(headers: &HeaderMap) -> Result<Option<u64>> {
    let Some(v) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || Error::BlobUploadInvalid {
        reason: "malformed Content-Range".to_string(),
    };
    let s = v.to_str().map_err(|_| bad())?;
    let s = s
        .trim()
        .trim_start_matches("bytes ")
        .trim_start_matches("bytes=");
    let (a, _b) = s.split_once('-').ok_or_else(bad)?;
    a.parse().map(Some).map_err(|_| bad())
}

async fn patch_upload(st: &Storage, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let start = content_range_start(req.headers())?;
    let size = st
        .append_upload(name, uuid, start, req.into_body().into_data_stream())
        .await?;
    Ok(upload_progress(StatusCode::ACCEPTED, name, uuid, size))
}

async fn put_upload(st: &Storage, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let q = query_map(&req);
    let Some(digest) = q.get("digest") else {
        return Err(Error::DigestInvalid {
            digest: String::new(),
        });
    };
    let d = Digest::parse(digest)?;
    let start = content_range_start(req.headers())?;
    st.append_upload(name, uuid, start, req.into_body().into_data_stream())
        .await?;
    st.finish_upload(name, uuid, &d).await?;
    Ok(blob_created(name, &d))
}

async fn resolve(st: &Storage, name: &str, reference: &str) -> Result<Digest> {
    if reference.contains(':') {
        Digest::parse(reference)
    } else {
        validate_tag(reference)?;
        st.resolve_tag(name, reference).await
    }
}

/// Media types from every `Accept` header, without parameters.
fn accepted_types(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn get_manifest(
    st: &Storage,
    name: &str,
    reference: &str,
    accept: &[String],
    head: bool,
) -> Result<Response> {
    let d = resolve(st, name, reference).await?;
    let (data, media_type) = st.get_manifest(name, &d).await?;
    // Like the reference registry: an OCI manifest is not served to a client whose
    // Accept list excludes it (no Accept, or */*, accepts everything).
    let is_oci = media_type == OCI_MANIFEST || media_type == OCI_INDEX;
    if is_oci && !accept.is_empty() && !accept.iter().any(|a| a == &media_type || a == "*/*") {
        return Err(Error::ManifestUnknown {
            reference: format!("{reference} (stored as {media_type}, not in Accept)"),
        });
    }
    let len = data.len();
    let body = if head {
        Body::empty()
    } else {
        Body::from(data)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_LENGTH, len)
        .header(DIGEST_HEADER, d.to_string())
        .body(body)
        .map_err(|e| Error::io("building response", std::io::Error::other(e)))
}

fn manifest_invalid(reason: impl Into<String>) -> Error {
    Error::ManifestInvalid {
        reason: reason.into(),
    }
}

async fn put_manifest(st: &Storage, name: &str, reference: &str, req: Request) -> Result<Response> {
    let header_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
    let data = axum::body::to_bytes(req.into_body(), MANIFEST_LIMIT)
        .await
        .map_err(|_| Error::ManifestTooLarge {
            limit: MANIFEST_LIMIT,
        })?;
    let v: serde_json::Value =
        serde_json::from_slice(&data).map_err(|e| manifest_invalid(format!("not JSON: {e}")))?;
    let media_type = v
        .get("mediaType")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .or(header_type)
        .ok_or_else(|| manifest_invalid("no mediaType"))?;
    // Referenced content must exist: blobs for manifests, child manifests for indexes.
    let mut refs: Vec<(String, bool)> = Vec::new();
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = v
                .get("config")
                .and_then(|c| c.get("digest"))
                .and_then(|d| d.as_str())
                .ok_or_else(|| manifest_invalid("missing config"))?;
            refs.push((config.to_string(), false));
            for l in v
                .get("layers")
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten()
            {
                let d = l
                    .get("digest")
                    .and_then(|d| d.as_str())
                    .ok_or_else(|| manifest_invalid("layer without digest"))?;
                refs.push((d.to_string(), false));
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            for m in v
                .get("manifests")
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten()
            {
                let d = m
                    .get("digest")
                    .and_then(|d| d.as_str())
                    .ok_or_else(|| manifest_invalid("index entry without digest"))?;
                refs.push((d.to_string(), true));
            }
        }
        other => return Err(manifest_invalid(format!("unsupported media type {other}"))),
    }
    for (r, is_manifest) in refs {
        let d = Digest::parse(&r).map_err(|_| manifest_invalid(format!("bad digest {r}")))?;
        let known = if is_manifest {
            st.get_manifest(name, &d).await.is_ok()
        } else {
            st.blob_size(name, &d).await.is_ok()
        };
        if !known {
            return Err(Error::ManifestBlobUnknown {
                digest: d.to_string(),
            });
        }
    }
    let tag = if reference.contains(':') {
        let want = Digest::parse(reference)?;
        let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        if got != want.hex() {
            return Err(Error::DigestMismatch {
                expected: want.to_string(),
                computed: format!("sha256:{got}"),
            });
        }
        None
    } else {
        validate_tag(reference)?;
        Some(reference)
    };
    let d = st.put_manifest(name, &data, &media_type, tag).await?;
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, hv(&format!("/v2/{name}/manifests/{d}")));
    h.insert(DIGEST_HEADER, hv(&d.to_string()));
    if let Some(subject) = v
        .get("subject")
        .and_then(|s| s.get("digest"))
        .and_then(|d| d.as_str())
    {
        h.insert("oci-subject", hv(subject));
    }
    Ok(r)
}

async fn referrers(
    st: &Storage,
    name: &str,
    digest: &str,
    q: &HashMap<String, String>,
) -> Result<Response> {
    let subject = Digest::parse(digest)?.to_string();
    let filter = q.get("artifactType").cloned();
    let mut manifests = Vec::new();
    for d in st.list_manifests(name).await? {
        let Ok((data, media_type)) = st.get_manifest(name, &d).await else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        let subj = v
            .get("subject")
            .and_then(|s| s.get("digest"))
            .and_then(|s| s.as_str());
        if subj != Some(subject.as_str()) {
            continue;
        }
        let artifact_type = v
            .get("artifactType")
            .and_then(|a| a.as_str())
            .or_else(|| {
                v.get("config")
                    .and_then(|c| c.get("mediaType"))
                    .and_then(|m| m.as_str())
            })
            .map(str::to_string);
        if let Some(f) = &filter {
            if artifact_type.as_deref() != Some(f.as_str()) {
                continue;
            }
        }
        let mut desc = serde_json::json!({
            "mediaType": media_type,
            "digest": d.to_string(),
            "size": data.len(),
        });
        if let Some(a) = artifact_type {
            desc["artifactType"] = a.into();
        }
        if let Some(ann) = v.get("annotations") {
            desc["annotations"] = ann.clone();
        }
        manifests.push(desc);
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, OCI_INDEX)],
        body.to_string(),
    )
        .into_response();
    if filter.is_some() {
        r.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v2/"), Some(Route::Base));
        assert_eq!(
            parse_route("/v2/a/b/blobs/uploads/"),
            Some(Route::UploadStart { name: "a/b".into() })
        );
        assert_eq!(
            parse_route("/v2/a/b/manifests/latest"),
            Some(Route::Manifest {
                name: "a/b".into(),
                reference: "latest".into()
            })
        );
        assert_eq!(
            parse_route("/v2/x/tags/list"),
            Some(Route::Tags { name: "x".into() })
        );
        assert_eq!(parse_route("/v2/x"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-3", 10).ok(), Some((0, 3)));
        assert_eq!(parse_range("bytes=5-", 10).ok(), Some((5, 9)));
        assert_eq!(parse_range("bytes=-2", 10).ok(), Some((8, 9)));
        assert!(parse_range("bytes=10-12", 10).is_err());
    }
}

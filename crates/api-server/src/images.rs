//! Image endpoints. Image names contain slashes (`host:5000/a/b:tag`), so
//! `/images/{name}/...` is matched by suffix, as moby's `{name:.*}` routes do.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{StreamExt, TryStreamExt};
use tokio_util::io::StreamReader;

use std::collections::HashMap;

use crate::backend::{
    BodyReader, BuildRequest, ImportOptions, JsonStream, LocalContext, PullOptions, RegistryAuth,
};
use crate::error::ApiError;
use crate::json;
use crate::query::Query;
use crate::stream::json_line;
use crate::AppState;

pub(crate) fn body_reader(body: Body) -> BodyReader {
    Box::new(StreamReader::new(
        body.into_data_stream().map_err(std::io::Error::other),
    ))
}

/// [`body_reader`] for a handler that answers before it reads the body (a
/// streamed answer): the first chunk is read here, so hyper sends `100
/// Continue` to a client that asked for it (curl does for large uploads, and
/// otherwise waits a second before sending the body).
async fn body_reader_started(body: Body) -> BodyReader {
    let mut data = body.into_data_stream();
    let first = data.next().await;
    let head = futures::stream::iter(first.map(|r| r.map_err(std::io::Error::other)));
    Box::new(StreamReader::new(
        head.chain(data.map_err(std::io::Error::other)),
    ))
}

fn json_stream_response(lines: Vec<serde_json::Value>) -> Response {
    let body: Vec<u8> = lines.iter().flat_map(|l| json_line(l).to_vec()).collect();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A streamed answer of Docker JSON messages, one per line, flushed as they come.
fn json_stream(stream: JsonStream) -> Response {
    let body = Body::from_stream(stream.map(|v| Ok::<_, std::io::Error>(json_line(&v))));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Decodes a base64 JSON credential header as moby does: URL-safe alphabet, padding
/// optional, standard alphabet accepted too. Absent or empty = anonymous.
pub(crate) fn decode_auth_header(value: &str) -> Result<RegistryAuth, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(RegistryAuth::default());
    }
    let bytes = decode_base64(value)
        .ok_or_else(|| ApiError::invalid("invalid X-Registry-Auth header: not base64"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(RegistryAuth::default());
    }
    json::object(&bytes)
        .map_err(|e| ApiError::invalid(format!("invalid X-Registry-Auth header: {e}")))
}

fn registry_auth(headers: &HeaderMap) -> Result<RegistryAuth, ApiError> {
    match headers.get("X-Registry-Auth") {
        None => Ok(RegistryAuth::default()),
        Some(v) => decode_auth_header(
            v.to_str()
                .map_err(|_| ApiError::invalid("invalid X-Registry-Auth header: not ASCII"))?,
        ),
    }
}

/// `X-Registry-Config`: base64 JSON map of registry → credentials.
fn registry_config(headers: &HeaderMap) -> Result<HashMap<String, RegistryAuth>, ApiError> {
    let Some(v) = headers.get("X-Registry-Config") else {
        return Ok(HashMap::new());
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::invalid("invalid X-Registry-Config header: not ASCII"))?
        .trim();
    if v.is_empty() {
        return Ok(HashMap::new());
    }
    let bytes = decode_base64(v)
        .ok_or_else(|| ApiError::invalid("invalid X-Registry-Config header: not base64"))?;
    let bad = |e: String| ApiError::invalid(format!("invalid X-Registry-Config header: {e}"));
    let raw: HashMap<String, serde_json::Value> = json::object(&bytes).map_err(bad)?;
    raw.into_iter()
        .map(|(registry, auth)| {
            let auth = json::object_value(auth).map_err(|e| bad(format!("{registry}: {e}")))?;
            Ok((registry, auth))
        })
        .collect()
}

/// Decodes base64 in any of the alphabets Docker clients use.
fn decode_base64(v: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ]
    .iter()
    .find_map(|e| e.decode(v).ok())
}

/// `X-Berth-Build-Secrets`: base64 of a JSON object `{"<id>": "<base64 value>"}`
/// (sent by `berth build --secret`).
fn build_secrets(
    headers: &HeaderMap,
) -> Result<std::collections::BTreeMap<String, crate::backend::SecretValue>, ApiError> {
    const H: &str = "X-Berth-Build-Secrets";
    let Some(v) = headers.get(H) else {
        return Ok(Default::default());
    };
    let bad = |why: &str| ApiError::invalid(format!("invalid {H} header: {why}"));
    let v = v.to_str().map_err(|_| bad("not ASCII"))?.trim();
    let json = decode_base64(v).ok_or_else(|| bad("not base64"))?;
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| bad("not a JSON object of strings"))?;
    map.into_iter()
        .map(|(id, val)| {
            if id.is_empty() {
                return Err(bad("a secret without an id"));
            }
            let bytes = decode_base64(&val)
                .ok_or_else(|| bad(&format!("the value of secret {id:?} is not base64")))?;
            Ok((id, crate::backend::SecretValue(bytes)))
        })
        .collect()
}

/// `X-Berth-Build-Ssh`: base64 of a JSON object `{"<id>": "<agent socket path>"}`
/// (sent by `berth build --ssh` to a daemon on the same machine).
fn build_ssh(
    headers: &HeaderMap,
) -> Result<std::collections::BTreeMap<String, std::path::PathBuf>, ApiError> {
    const H: &str = "X-Berth-Build-Ssh";
    let Some(v) = headers.get(H) else {
        return Ok(Default::default());
    };
    let bad = |why: &str| ApiError::invalid(format!("invalid {H} header: {why}"));
    let v = v.to_str().map_err(|_| bad("not ASCII"))?.trim();
    let json = decode_base64(v).ok_or_else(|| bad("not base64"))?;
    let map: std::collections::BTreeMap<String, std::path::PathBuf> =
        serde_json::from_slice(&json).map_err(|_| bad("not a JSON object of paths"))?;
    if let Some((id, p)) = map.iter().find(|(id, p)| id.is_empty() || !p.is_absolute()) {
        return Err(bad(&format!(
            "ssh {id:?}: {} is not an absolute path",
            p.display()
        )));
    }
    Ok(map)
}

fn json_query<T: serde::de::DeserializeOwned + Default>(
    q: &Query,
    key: &str,
) -> Result<T, ApiError> {
    match q.string(key).filter(|s| !s.is_empty()) {
        None => Ok(T::default()),
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| ApiError::invalid(format!("invalid {key} parameter: {e}"))),
    }
}

/// `berth.contextdir=/abs/dir&berth.contextid=<dev>:<ino>` (berth's local fast path).
fn local_context(q: &Query) -> Result<Option<LocalContext>, ApiError> {
    let Some(dir) = q.string("berth.contextdir").filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let id = q.string("berth.contextid").unwrap_or_default();
    let parsed = id
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse().ok()?, i.parse().ok()?)));
    let Some((dev, ino)) = parsed else {
        return Err(ApiError::invalid(format!(
            "invalid berth.contextid {id:?}: expected <device>:<inode>"
        )));
    };
    let dir = std::path::PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(ApiError::invalid(
            "berth.contextdir must be an absolute path",
        ));
    }
    Ok(Some(LocalContext { dir, dev, ino }))
}

/// `POST /build`: the classic builder (`DOCKER_BUILDKIT=0`).
pub async fn build(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    if q.string("version").as_deref() == Some("2") {
        return Err(ApiError::not_implemented(
            "BuildKit builds (version=2) are not supported by Berth: build with the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    if let Some(remote) = q.string("remote").filter(|r| !r.is_empty()) {
        return Err(ApiError::not_implemented(format!(
            "building from a remote context ({remote}) is not supported by Berth yet: clone or download it and build the directory"
        )));
    }
    let opts = BuildRequest {
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        dockerfile: q.string("dockerfile").filter(|d| !d.is_empty()),
        build_args: json_query(&q, "buildargs")?,
        target: q.string("target").filter(|t| !t.is_empty()),
        no_cache: q.bool("nocache")?,
        pull: q.bool("pull")?,
        quiet: q.bool("q")?,
        labels: json_query(&q, "labels")?,
        platform: q.string("platform").filter(|p| !p.is_empty()),
        cache_from: json_query(&q, "cachefrom")?,
        network_mode: q.string("networkmode").filter(|n| !n.is_empty()),
        auth_configs: registry_config(req.headers())?,
        local_context: local_context(&q)?,
        secrets: build_secrets(req.headers())?,
        ssh: build_ssh(req.headers())?,
    };
    let stream = b
        .build(body_reader_started(req.into_body()).await, opts)
        .await?;
    Ok(json_stream(stream))
}

/// `POST /auth`: checks the credentials against the registry.
pub async fn auth(
    State(b): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let auth: RegistryAuth = json::object(&body)
        .map_err(|e| ApiError::invalid(format!("invalid credentials JSON: {e}")))?;
    let token = b.registry_login(auth).await?;
    Ok(Json(serde_json::json!({
        "Status": "Login Succeeded",
        "IdentityToken": token.unwrap_or_default(),
    }))
    .into_response())
}

pub async fn list(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let mut filters = q.filters()?;
    // Legacy `filter=<reference>` parameter.
    if let Some(f) = q.string("filter") {
        filters.entry("reference".into()).or_default().push(f);
    }
    Ok(Json(b.image_list(q.bool("all")?, filters).await?).into_response())
}

/// `POST /images/create`: `fromSrc` imports a tarball (`-` = the request body);
/// `fromImage` pulls from a registry.
pub async fn create(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    if let Some(src) = q
        .string("fromSrc")
        .filter(|_| q.string("fromImage").is_none())
    {
        if src != "-" {
            return Err(ApiError::not_implemented(format!(
                "importing from a URL ({src}) is not implemented by Berth yet: download the file and import it from stdin"
            )));
        }
        let opts = ImportOptions {
            repo: q.string("repo"),
            tag: q.string("tag"),
            changes: q
                .all("changes")
                .into_iter()
                .filter(|c| !c.is_empty())
                .collect(),
            message: q.string("message"),
            platform: q.string("platform"),
        };
        let id = b.image_import(body_reader(req.into_body()), opts).await?;
        return Ok(json_stream_response(vec![
            serde_json::json!({ "status": id }),
        ]));
    }
    if let Some(image) = q.string("fromImage") {
        let opts = PullOptions {
            from_image: image,
            tag: q.string("tag").filter(|t| !t.is_empty()),
            platform: q.string("platform").filter(|p| !p.is_empty()),
            auth: registry_auth(req.headers())?,
        };
        return Ok(json_stream(b.image_pull(opts).await?));
    }
    Err(ApiError::invalid(
        "either fromSrc or fromImage must be given",
    ))
}

pub async fn load(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let _quiet = q.bool("quiet")?;
    let names = b.image_load(body_reader(req.into_body())).await?;
    let lines = names
        .into_iter()
        .map(|n| {
            let text = if n.starts_with("sha256:") {
                format!("Loaded image ID: {n}\n")
            } else {
                format!("Loaded image: {n}\n")
            };
            serde_json::json!({ "stream": text })
        })
        .collect();
    Ok(json_stream_response(lines))
}

async fn save(b: AppState, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::invalid("no image names given to save"));
    }
    let stream = b.image_save(names).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

pub async fn save_many(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    save(b, q.all("names")).await
}

pub async fn prune(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.image_prune(q.filters()?).await?).into_response())
}

/// `/images/{name}`, `/images/{name}/json`, `/history`, `/tag`, `/get`, `/push`.
pub async fn dispatch(
    State(b): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let split = rest.rsplit_once('/');
    match (&method, split) {
        (&Method::GET, Some((name, "json"))) => {
            Ok(Json(b.image_inspect(name).await?).into_response())
        }
        (&Method::GET, Some((name, "history"))) => {
            Ok(Json(b.image_history(name).await?).into_response())
        }
        (&Method::GET, Some((name, "get"))) => save(b, vec![name.to_string()]).await,
        (&Method::POST, Some((name, "tag"))) => {
            let repo = q
                .string("repo")
                .ok_or_else(|| ApiError::invalid("repository name (repo) is required"))?;
            b.image_tag(name, &repo, q.string("tag").as_deref()).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (&Method::POST, Some((name, "push"))) => {
            let tag = q.string("tag").filter(|t| !t.is_empty());
            Ok(json_stream(
                b.image_push(name, tag, registry_auth(&headers)?).await?,
            ))
        }
        (&Method::DELETE, _) => {
            let items = b
                .image_remove(&rest, q.bool("force")?, q.bool("noprune")?)
                .await?;
            Ok(Json(items).into_response())
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

//! A container's filesystem: the archive endpoints (`docker cp`), changes
//! (`docker diff`), export and commit.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use engine_types::ContainerPathStat;

use crate::backend::{ArchivePutOptions, CommitOptions};
use crate::containers::json_body;
use crate::error::ApiError;
use crate::images::body_reader;
use crate::query::Query;
use crate::AppState;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn required_path(q: &Query) -> Result<String, ApiError> {
    match q.string("path") {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(ApiError::invalid("path is required")),
    }
}

/// The stat as Docker sends it: base64 of its JSON.
fn with_stat(mut resp: Response, stat: &ContainerPathStat) -> Result<Response, ApiError> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError::internal(format!("encoding the path stat: {e}")))?;
    let value = base64::engine::general_purpose::STANDARD.encode(json);
    let value = HeaderValue::from_str(&value)
        .map_err(|e| ApiError::internal(format!("encoding the path stat: {e}")))?;
    resp.headers_mut().insert(STAT_HEADER, value);
    Ok(resp)
}

fn tar_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    resp
}

/// `HEAD /containers/{id}/archive?path=`
pub async fn archive_head(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let path = required_path(&q)?;
    let stat = b.container_path_stat(&id, &path).await?;
    with_stat(StatusCode::OK.into_response(), &stat)
}

/// `GET /containers/{id}/archive?path=`
pub async fn archive_get(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let path = required_path(&q)?;
    let (stat, stream) = b.container_archive(&id, &path).await?;
    with_stat(tar_response(Body::from_stream(stream)), &stat)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`
pub async fn archive_put(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let path = required_path(&q)?;
    let opts = ArchivePutOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir")?,
        copy_uid_gid: q.bool("copyUIDGID")?,
    };
    b.container_extract(&id, &path, opts, body_reader(req.into_body()))
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /containers/{id}/changes`
pub async fn changes(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(b.container_changes(&id).await?).into_response())
}

/// `GET /containers/{id}/export`
pub async fn export(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let stream = b.container_export(&id).await?;
    Ok(tar_response(Body::from_stream(stream)))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`
pub async fn commit(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let container = q
        .string("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("container is required"))?;
    let opts = CommitOptions {
        container,
        repo: q.string("repo").filter(|s| !s.is_empty()),
        tag: q.string("tag").filter(|s| !s.is_empty()),
        comment: q.string("comment").filter(|s| !s.is_empty()),
        author: q.string("author").filter(|s| !s.is_empty()),
        pause: q.bool_or("pause", true)?,
        changes: q.all("changes"),
        config: json_body(&body)?,
    };
    let id = b.container_commit(opts).await?;
    // Docker's `{"Id": ...}` (the generated model writes `id`).
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": id.id })),
    )
        .into_response())
}

//! Container and exec endpoints: parse, call the backend, render.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;

use crate::backend::{AttachOptions, ExecStartOptions, ListOptions, LogsOptions, WaitCondition};
use crate::error::ApiError;
use crate::query::Query;
use crate::stream::{hijack, stdcopy_frame};
use crate::AppState;

/// Parses a JSON request body; an empty body is `None`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    crate::json::object(body)
        .map(Some)
        .map_err(|e| ApiError::invalid(format!("invalid JSON in request body: {e}")))
}

pub async fn create(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let config = json_body(&body)?.ok_or_else(|| {
        ApiError::invalid("config cannot be empty in order to create a container")
    })?;
    let resp = b
        .container_create(q.string("name"), q.string("platform"), config)
        .await?;
    Ok((StatusCode::CREATED, Json(resp)).into_response())
}

pub async fn list(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let opts = ListOptions {
        all: q.bool("all")?,
        limit: q
            .int::<i64>("limit")?
            .filter(|l| *l > 0)
            .map(|l| l as usize),
        size: q.bool("size")?,
        filters: q.filters()?,
    };
    Ok(Json(b.container_list(opts).await?).into_response())
}

pub async fn inspect(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.container_inspect(&id, q.bool("size")?).await?).into_response())
}

pub async fn start(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    b.container_start(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn stop_args(q: &Query) -> Result<(Option<String>, Option<i64>), ApiError> {
    Ok((q.string("signal"), q.int::<i64>("t")?))
}

pub async fn stop(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (signal, t) = stop_args(&Query::parse(q.as_deref()))?;
    b.container_stop(&id, signal, t).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn restart(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (signal, t) = stop_args(&Query::parse(q.as_deref()))?;
    b.container_restart(&id, signal, t).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    b.container_kill(&id, q.string("signal")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn wait(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let condition = match q.get("condition").unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::invalid(format!(
                "invalid condition: {other:?}: expected not-running, next-exit or removed"
            )))
        }
    };
    let fut = b.container_wait(&id, condition).await?;
    // Headers go out now, so the client knows the wait is registered; the body
    // follows when the condition is met.
    let body = futures::stream::once(async move {
        let v = match fut.await {
            Ok(r) => serde_json::json!({
                "StatusCode": r.status_code,
                "Error": r.error.map(|m| serde_json::json!({ "Message": m })),
            }),
            Err(e) => serde_json::json!({
                "StatusCode": -1,
                "Error": { "Message": e.message },
            }),
        };
        let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
        bytes.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(bytes))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

pub async fn remove(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    b.container_remove(&id, q.bool("force")?, q.bool("v")?, q.bool("link")?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn rename(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let name = q
        .string("name")
        .ok_or_else(|| ApiError::invalid("rename: the new name is required (?name=)"))?;
    b.container_rename(&id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `h` and `w` of a resize, both required as in Docker (a missing one would
/// otherwise size the terminal to 0).
fn size_args(q: &Query) -> Result<(u16, u16), ApiError> {
    let dim = |key: &str| {
        q.int::<u16>(key)?.ok_or_else(|| {
            ApiError::invalid(format!("resize: {key} is required (?h=<rows>&w=<columns>)"))
        })
    };
    Ok((dim("h")?, dim("w")?))
}

pub async fn resize(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (h, w) = size_args(&Query::parse(q.as_deref()))?;
    b.container_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn top(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.container_top(&id, q.string("ps_args")).await?).into_response())
}

pub async fn update(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?.unwrap_or_default();
    Ok(Json(b.container_update(&id, body).await?).into_response())
}

pub async fn attach(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let opts = AttachOptions {
        stdin: q.bool("stdin")?,
        stdout: q.bool("stdout")?,
        stderr: q.bool("stderr")?,
        stream: q.bool("stream")?,
        logs: q.bool("logs")?,
        detach_keys: q.string("detachKeys"),
    };
    let plan = b.container_attach(&id, opts).await?;
    Ok(hijack(req, plan))
}

pub async fn logs(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let time = |key: &str| -> Result<Option<f64>, ApiError> {
        match q.get(key) {
            None | Some("") | Some("0") => Ok(None),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "invalid value for {key}: {v:?}: expected a unix timestamp"
                    ))
                }),
        }
    };
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            ApiError::invalid(format!(
                "invalid value for tail: {v:?}: expected a number or \"all\""
            ))
        })?)
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    let opts = LogsOptions {
        follow: q.bool("follow")?,
        stdout: q.bool("stdout")?,
        stderr: q.bool("stderr")?,
        since: time("since")?,
        until: time("until")?,
        timestamps: q.bool("timestamps")?,
        tail,
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let timestamps = opts.timestamps;
    let logs = b.container_logs(&id, opts).await?;
    let tty = logs.tty;
    let body = logs.chunks.map(move |chunk| {
        let chunk = chunk.map_err(|e| std::io::Error::other(e.message))?;
        let data: Bytes = if timestamps {
            let mut v = Vec::with_capacity(chunk.timestamp.len() + 1 + chunk.data.len());
            v.extend_from_slice(chunk.timestamp.as_bytes());
            v.push(b' ');
            v.extend_from_slice(&chunk.data);
            Bytes::from(v)
        } else {
            chunk.data
        };
        Ok::<_, std::io::Error>(if tty {
            data
        } else {
            stdcopy_frame(chunk.stream, &data)
        })
    });
    let mut resp = Response::new(Body::from_stream(body));
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(resp)
}

pub async fn prune(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.container_prune(q.filters()?).await?).into_response())
}

pub async fn exec_create(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config: engine_types::models::ExecConfig =
        json_body(&body)?.ok_or_else(|| ApiError::invalid("exec config is required"))?;
    if config.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid("No exec command specified"));
    }
    let created = b.exec_create(&id, config).await?;
    // Docker's key is "Id" (the generated model serializes it lowercase).
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": created.id })),
    )
        .into_response())
}

pub async fn exec_start(
    State(b): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::invalid(format!("reading request body: {e}")))?;
    let cfg: engine_types::models::ExecStartConfig = json_body(&bytes)?.unwrap_or_default();
    let opts = ExecStartOptions {
        detach: cfg.detach.unwrap_or(false),
        tty: cfg.tty.unwrap_or(false),
    };
    let req = Request::from_parts(parts, Body::empty());
    match b.exec_start(&id, opts).await? {
        Some(plan) => Ok(hijack(req, plan)),
        None => Ok(StatusCode::OK.into_response()),
    }
}

pub async fn exec_resize(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (h, w) = size_args(&Query::parse(q.as_deref()))?;
    b.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn exec_inspect(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(b.exec_inspect(&id).await?).into_response())
}

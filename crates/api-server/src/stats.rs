//! `GET /containers/{id}/stats` (a sample per second, or one with
//! `stream=false`) and `POST /containers/{id}/pause|unpause`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;

use crate::error::ApiError;
use crate::query::Query;
use crate::AppState;

/// `GET /containers/{id}/stats` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsOptions {
    /// Keep sending a sample per second (default true).
    pub stream: bool,
    /// With `stream=false`: answer at once, without the previous sample
    /// (`precpu_stats` empty).
    pub one_shot: bool,
}

pub async fn stats(
    State(b): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let opts = StatsOptions {
        stream: q.bool_or("stream", true)?,
        one_shot: q.bool("one-shot")?,
    };
    if opts.one_shot && opts.stream {
        return Err(ApiError::invalid(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let mut samples = b.container_stats(&id, opts).await?;
    if !opts.stream {
        let first = samples.next().await.ok_or_else(|| {
            ApiError::conflict(format!("no stats for container {id}: it is not running"))
        })?;
        return Ok(Json(first).into_response());
    }
    Ok(crate::stream::json_lines_response(samples))
}

pub async fn pause(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    b.container_pause(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    b.container_unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! Network endpoints: parse, call the backend, render.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::containers::json_body;
use crate::error::ApiError;
use crate::query::Query;
use crate::AppState;

pub async fn list(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.network_list(q.filters()?).await?).into_response())
}

pub async fn inspect(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(b.network_inspect(&id).await?).into_response())
}

pub async fn create(State(b): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let req: engine_types::models::NetworkCreateRequest = json_body(&body)?
        .ok_or_else(|| ApiError::invalid("network create: the request body is empty"))?;
    Ok((StatusCode::CREATED, Json(b.network_create(req).await?)).into_response())
}

pub async fn remove(
    State(b): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    b.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.network_prune(q.filters()?).await?).into_response())
}

pub async fn connect(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: engine_types::models::NetworkConnectRequest = json_body(&body)?
        .ok_or_else(|| ApiError::invalid("network connect: name the container (\"Container\")"))?;
    b.network_connect(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(b): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: engine_types::models::NetworkDisconnectRequest =
        json_body(&body)?.ok_or_else(|| {
            ApiError::invalid("network disconnect: name the container (\"Container\")")
        })?;
    b.network_disconnect(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

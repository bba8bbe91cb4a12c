//! Volume endpoints and `GET /system/df`: parse, call the backend, render.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine_types::DfTypes;

use crate::containers::json_body;
use crate::error::ApiError;
use crate::query::Query;
use crate::AppState;

pub async fn list(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.volume_list(q.filters()?).await?).into_response())
}

pub async fn create(State(b): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    // An empty body is a volume with a generated name, as in moby.
    let req: engine_types::models::VolumeCreateRequest = json_body(&body)?.unwrap_or_default();
    Ok((StatusCode::CREATED, Json(b.volume_create(req).await?)).into_response())
}

pub async fn inspect(
    State(b): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(b.volume_inspect(&name).await?).into_response())
}

pub async fn remove(
    State(b): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    b.volume_remove(&name, q.bool("force")?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(b): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    Ok(Json(b.volume_prune(q.filters()?).await?).into_response())
}

/// `GET /system/df[?type=container&type=image&type=volume&type=build-cache]`.
pub async fn system_df(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(q.as_deref());
    let asked = q.all("type");
    let types = if asked.is_empty() {
        DfTypes::ALL
    } else {
        let mut t = DfTypes {
            containers: false,
            images: false,
            volumes: false,
            build_cache: false,
        };
        for a in &asked {
            match a.as_str() {
                "container" => t.containers = true,
                "image" => t.images = true,
                "volume" => t.volumes = true,
                "build-cache" => t.build_cache = true,
                other => return Err(ApiError::invalid(format!("unknown object type: {other}"))),
            }
        }
        t
    };
    Ok(Json(b.system_df(types).await?).into_response())
}

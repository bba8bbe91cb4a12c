//! `/_ping`, `/version`, `/info`.

use axum::extract::State;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::ApiError;
use crate::AppState;

pub async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    resp
}

pub async fn version(State(b): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(b.version().await?).into_response())
}

pub async fn info(State(b): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(b.info().await?).into_response())
}

#![forbid(unsafe_code)]
//! The Docker Engine API over HTTP: a route table, one parse function per resource,
//! the [`Backend`] trait the daemon implements, error kind → status in one place,
//! and hijacked connections for attach and exec.

mod archive;
pub mod backend;
mod containers;
pub mod error;
pub mod events;
mod images;
mod json;
mod networks;
pub mod query;
pub mod stats;
pub mod stream;
mod system;
mod volumes;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use engine_types::{parse_api_version, API_VERSION, MIN_API_VERSION};

pub use backend::Backend;
pub use error::ApiError;

/// Shared handler state.
pub type AppState = Arc<dyn Backend>;

/// Builds the whole API service: version-prefix handling around the route table.
pub fn app(backend: Arc<dyn Backend>) -> Router {
    let routes = Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(containers::prune))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/exec", post(containers::exec_create))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/pause", post(stats::pause))
        .route("/containers/{id}/unpause", post(stats::unpause))
        .route("/events", get(events::events))
        .route(
            "/containers/{id}/archive",
            get(archive::archive_get)
                .head(archive::archive_head)
                .put(archive::archive_put),
        )
        .route("/containers/{id}/changes", get(archive::changes))
        .route("/containers/{id}/export", get(archive::export))
        .route("/commit", post(archive::commit))
        .route("/exec/{id}/start", post(containers::exec_start))
        .route("/exec/{id}/resize", post(containers::exec_resize))
        .route("/exec/{id}/json", get(containers::exec_inspect))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/system/df", get(volumes::system_df))
        .route("/auth", post(images::auth))
        .route("/build", post(images::build))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route("/images/search", get(not_implemented))
        .route("/images/{*rest}", any(images::dispatch))
        .route("/__berth_bad_version/{version}", any(bad_version))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::map_response(common_headers))
        .with_state(backend);
    Router::new()
        .fallback_service(routes)
        .layer(tower::util::MapRequestLayer::new(strip_version_prefix))
}

/// Serves `app` on a listener until the future `shutdown` completes.
pub async fn serve<L>(
    listener: L,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `/v1.41/containers/json` → `/containers/json`; versions outside what we serve
/// are routed to a handler that answers 400 as moby does.
fn strip_version_prefix(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return req;
    };
    let Some((ver, tail)) = rest.split_once('/') else {
        return req;
    };
    let Some(parsed) = parse_api_version(ver) else {
        return req;
    };
    let max = parse_api_version(API_VERSION).unwrap_or((1, 51));
    let min = parse_api_version(MIN_API_VERSION).unwrap_or((1, 24));
    let new_path = if parsed > max || parsed < min {
        format!("/__berth_bad_version/{ver}")
    } else {
        format!("/{tail}")
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    if let Ok(uri) = pq.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

async fn bad_version(axum::extract::Path(version): axum::extract::Path<String>) -> Response {
    let too_new = parse_api_version(&version) > parse_api_version(API_VERSION);
    let msg = if too_new {
        format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    } else {
        format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    };
    ApiError::invalid(msg).into_response()
}

/// Headers moby puts on every response.
async fn common_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    if let Ok(v) =
        HeaderValue::from_str(&format!("Docker/{} (linux)", engine_types::ENGINE_VERSION))
    {
        h.insert("Server", v);
    }
    resp
}

/// Endpoints of the Engine API that Berth does not serve yet.
const NOT_YET: &[&str] = &[
    "/build/",
    "/session",
    "/grpc",
    "/swarm",
    "/services",
    "/nodes",
    "/tasks",
    "/secrets",
    "/configs",
    "/plugins",
    "/distribution",
    "/containers/",
];

async fn not_implemented(method: Method, uri: Uri) -> Response {
    ApiError::not_implemented(format!(
        "{method} {} is not implemented by Berth yet",
        uri.path()
    ))
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(engine_types::ErrorBody {
            message: format!("method {method} is not allowed on {}", uri.path()),
        }),
    )
        .into_response()
}

async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if NOT_YET.iter().any(|p| path.starts_with(p)) {
        return not_implemented(method, uri).await;
    }
    ApiError::not_found("page not found").into_response()
}

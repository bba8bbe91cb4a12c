//! An OCI Distribution v1.1 registry server over filesystem storage.
#![forbid(unsafe_code)]

pub mod error;
pub mod names;
mod routes;
pub mod storage;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

pub use error::{Error, Result};
pub use storage::Storage;

/// Server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub root: PathBuf,
}

/// Errors from starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening storage")]
    Storage(#[from] Error),
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP")]
    Serve(#[source] std::io::Error),
}

async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    tracing::info!(
        %method,
        %path,
        status = resp.status().as_u16(),
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// The registry's HTTP router over `storage`.
pub fn router(storage: Arc<Storage>) -> Router {
    Router::new()
        .fallback(routes::dispatch)
        .with_state(storage)
        .layer(axum::middleware::from_fn(log_requests))
}

/// Serve on an already-bound listener until `shutdown` resolves.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    root: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let storage = Arc::new(Storage::open(root).await?);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, root = %storage.root().display(), "registry listening");
    }
    axum::serve(listener, router(storage))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}

/// Bind `config.addr` and serve until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })?;
    serve_listener(listener, config.root, shutdown).await
}

//! An OCI Distribution v1.1 registry server over filesystem storage.
//!
//! - Storage: [`storage`] (content-addressed blobs, links per repository).
//! - Authentication: none, htpasswd (bcrypt, HTTP Basic) or the Docker token flow
//!   with the registry as its own token server at `/auth/token` ([`auth`]).
//! - TLS with rustls (ring) from PEM files ([`tls`]).
//! - Configuration: a TOML file whose format is described in [`config`]; command
//!   line values override it ([`config::ConfigFile::into_server_config`]).
//! - Upload sessions idle for longer than `upload_expiry` (default 24 h) are removed
//!   at start and then periodically.
//!
//! [`serve_listener`] serves an unauthenticated registry (for tests of other crates);
//! [`serve_listener_with`] serves a [`ServerConfig`].
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
pub mod names;
mod routes;
pub mod storage;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

pub use config::{AuthConfig, AuthMode, ConfigFile, Overrides, ServerConfig, TlsFiles};
pub use error::{Error, Result};
pub use storage::Storage;

/// Minimal server configuration (open registry, plain HTTP); see [`ServerConfig`].
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
    #[error("setting up authentication")]
    Auth(#[from] auth::AuthError),
    #[error("setting up TLS")]
    Tls(#[from] tls::TlsError),
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
    let user = resp
        .extensions()
        .get::<auth::AuthUser>()
        .map(|u| u.0.clone())
        .unwrap_or_default();
    tracing::info!(
        %method,
        %path,
        %user,
        status = resp.status().as_u16(),
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// The registry's HTTP router over `storage`, without authentication.
pub fn router(storage: Arc<Storage>) -> Router {
    router_with(storage, None)
}

/// The router with authentication (`auth` None or mode none: open registry).
pub fn router_with(storage: Arc<Storage>, auth: Option<Arc<auth::Auth>>) -> Router {
    let mut app = Router::new().fallback(routes::dispatch).with_state(storage);
    if let Some(a) = auth.filter(|a| a.mode != AuthMode::None) {
        if a.mode == AuthMode::Token {
            let token = Router::new()
                .route(
                    "/auth/token",
                    axum::routing::get(auth::token_get).post(auth::token_post),
                )
                .with_state(a.clone());
            app = app.merge(token);
        }
        app = app.layer(axum::middleware::from_fn_with_state(a, auth::authorize));
    }
    app.layer(axum::middleware::from_fn(log_requests))
}

/// Serve an unauthenticated plain-HTTP registry on an already-bound listener until
/// `shutdown` resolves.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    root: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_listener_with(listener, ServerConfig::new(root), shutdown).await
}

/// The URL clients use for a listener at `addr`.
pub fn base_url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

/// How often expired uploads are looked for.
fn expiry_interval(expiry: Duration) -> Duration {
    (expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Serve `config` (storage, auth, TLS, upload expiry; `config.addr` is ignored) on
/// an already-bound listener until `shutdown` resolves. Open connections may finish.
pub async fn serve_listener_with(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Prepared::new(config).await?.serve(listener, shutdown).await
}

/// A server whose storage, TLS and auth are loaded and checked, not yet serving:
/// lets a caller report configuration errors before announcing a URL.
pub struct Prepared {
    config: ServerConfig,
    storage: Arc<Storage>,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Arc<auth::Auth>,
}

impl Prepared {
    /// Open the storage, load TLS files and the htpasswd file, set up the token key.
    pub async fn new(config: ServerConfig) -> Result<Self, ServeError> {
        let storage = Arc::new(Storage::open(config.root.clone()).await?);
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let auth = Arc::new(auth::Auth::new(&config.auth, &config.root, tls.is_some())?);
        Ok(Prepared {
            config,
            storage,
            tls,
            auth,
        })
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serve on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Prepared {
            config,
            storage,
            tls,
            auth,
        } = self;
        serve_prepared(listener, config, storage, tls, auth, shutdown).await
    }
}

async fn serve_prepared(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    storage: Arc<Storage>,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Arc<auth::Auth>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    match storage.expire_uploads(config.upload_expiry).await {
        Ok(n) if n > 0 => tracing::info!(removed = n, "removed expired upload sessions"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "removing expired upload sessions"),
    }
    let expirer = {
        let storage = storage.clone();
        let expiry = config.upload_expiry;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(expiry_interval(expiry));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = storage.expire_uploads(expiry).await {
                    tracing::warn!(error = %e, "removing expired upload sessions");
                }
            }
        })
    };
    let local = listener.local_addr().ok();
    if let Some(addr) = local {
        tracing::info!(
            url = %base_url(addr, tls.is_some()),
            root = %storage.root().display(),
            auth = ?config.auth.mode,
            "registry listening"
        );
        if tls.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "serving plain HTTP on a non-loopback address: credentials and content \
                 travel unencrypted; use --tls-cert/--tls-key"
            );
        }
    }
    let app = router_with(storage, Some(auth));
    let res = match tls {
        Some(cfg) => {
            tls::serve(listener, app, cfg, shutdown).await;
            Ok(())
        }
        None => axum::serve(
            axum::serve::ListenerExt::tap_io(listener, |tcp| {
                // Without it, a small response's last segment waits for a delayed ACK.
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "setting TCP_NODELAY");
                }
            }),
            app,
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve),
    };
    expirer.abort();
    res
}

/// Bind `addr`.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Bind `config.addr` and serve it until `shutdown` resolves.
pub async fn serve_with(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind(config.addr).await?;
    serve_listener_with(listener, config, shutdown).await
}

/// Bind `config.addr` and serve an open registry until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind(config.addr).await?;
    serve_listener(listener, config.root, shutdown).await
}

//! `berth registry`: run a private OCI Distribution registry, or collect its garbage.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Serve an OCI Distribution (Docker registry v2) API
    Serve(ServeArgs),
    /// Remove blobs no manifest references (run with the server stopped)
    Gc(GcArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: SocketAddr,
    /// Storage directory
    #[arg(long)]
    pub root: PathBuf,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Storage directory
    #[arg(long)]
    pub root: PathBuf,
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(cmd: RegistryCmd) -> Result<i32> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match cmd {
        RegistryCmd::Serve(a) => {
            let config = registry::Config {
                addr: a.addr,
                root: a.root,
            };
            registry::serve(config, shutdown_signal())
                .await
                .context("registry server")?;
            Ok(0)
        }
        RegistryCmd::Gc(a) => {
            let st = registry::Storage::open(a.root)
                .await
                .context("opening registry storage")?;
            let report = st.gc(a.dry_run).await.context("garbage collection")?;
            let verb = if a.dry_run { "would remove" } else { "removed" };
            for b in &report.blobs {
                println!("{verb} {b}");
            }
            println!(
                "{verb} {} blobs, {} bytes",
                report.blobs.len(),
                report.bytes
            );
            Ok(0)
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

//! `berth registry`: run a private OCI Distribution registry, or collect its garbage.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Serve an OCI Distribution (Docker registry v2) API
    #[command(long_about = SERVE_HELP)]
    Serve(ServeArgs),
    /// Remove blobs no manifest references (run with the server stopped)
    Gc(GcArgs),
}

const SERVE_HELP: &str = "Serve an OCI Distribution (Docker registry v2) API.

Prints one line with the URL it listens on, then logs requests to stderr. Stops
cleanly on SIGTERM or SIGINT.

--config takes a TOML file; flags given on the command line override its values:

  addr = \"0.0.0.0:5000\"
  root = \"/srv/registry\"
  upload_expiry = \"24h\"            # idle upload sessions are removed after this
  [tls]
  cert = \"cert.pem\"                # PEM chain
  key = \"key.pem\"
  [auth]
  mode = \"token\"                   # none | htpasswd | token
  htpasswd = \"htpasswd\"            # bcrypt entries only (htpasswd -B)
  anonymous_pull = false
  [auth.token]                     # token server at /auth/token on this registry
  service = \"berth-registry\"
  issuer = \"berth-registry\"
  expiry = \"5m\"
  persist_key = true               # or: key = \"<secret>\"; default: random per start
  [[auth.access]]                  # without rules, authenticated users may do anything
  user = \"alice\"                   # a user, \"*\" (any authenticated) or \"anonymous\"
  repository = \"team/*\"            # glob
  actions = [\"pull\", \"push\"]       # pull | push | delete | catalog | *

Relative paths in the file are relative to its directory. Durations: 30s, 5m, 24h, 7d.";

/// Command-line flags of `berth registry serve`.
#[derive(Args, Debug)]
struct ServeFlags {
    /// Address to listen on (HOST:PORT)
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// Storage directory
    #[arg(long, required_unless_present = "config")]
    root: Option<PathBuf>,
    /// htpasswd file with bcrypt entries: enables HTTP Basic authentication
    #[arg(long)]
    htpasswd: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// TOML configuration file (see the long help); flags override it
    #[arg(long)]
    config: Option<PathBuf>,
}

/// `berth registry serve` arguments. `root` is empty when only the config file
/// names it; `addr_given` tells an explicit `--addr` from the default.
#[derive(Debug)]
pub struct ServeArgs {
    pub addr: SocketAddr,
    pub addr_given: bool,
    pub root: PathBuf,
    pub htpasswd: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let f = ServeFlags::from_arg_matches(m)?;
        Ok(ServeArgs {
            addr: f.addr,
            addr_given: m.value_source("addr") == Some(clap::parser::ValueSource::CommandLine),
            root: f.root.unwrap_or_default(),
            htpasswd: f.htpasswd,
            tls_cert: f.tls_cert,
            tls_key: f.tls_key,
            config: f.config,
        })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ServeFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ServeFlags::augment_args_for_update(cmd)
    }
}

impl ServeArgs {
    /// The server configuration: the config file (if any) overridden by flags.
    pub fn server_config(&self) -> Result<registry::ServerConfig> {
        let file = match &self.config {
            Some(p) => registry::ConfigFile::load(p)?,
            None => registry::ConfigFile::default(),
        };
        let overrides = registry::Overrides {
            addr: (self.addr_given || file.addr.is_none()).then_some(self.addr),
            root: (!self.root.as_os_str().is_empty()).then(|| self.root.clone()),
            htpasswd: self.htpasswd.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        };
        Ok(file.into_server_config(overrides)?)
    }
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
            let config = a.server_config().context("registry configuration")?;
            let addr = config.addr;
            let server = registry::Prepared::new(config)
                .await
                .context("registry server")?;
            let listener = registry::bind(addr).await?;
            let local = listener.local_addr().context("listening address")?;
            println!(
                "berth registry listening on {}",
                registry::base_url(local, server.is_tls())
            );
            server
                .serve(listener, shutdown_signal())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct T {
        #[command(subcommand)]
        cmd: RegistryCmd,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut v = vec!["t", "serve"];
        v.extend_from_slice(args);
        match <T as clap::Parser>::try_parse_from(v)?.cmd {
            RegistryCmd::Serve(a) => Ok(a),
            RegistryCmd::Gc(_) => panic!("parsed as gc"),
        }
    }

    #[test]
    fn flags_and_config_file() {
        assert!(parse(&[]).is_err(), "--root or --config is required");
        assert!(parse(&["--root", "/r", "--tls-cert", "c"]).is_err());
        let a = parse(&["--root", "/r", "--htpasswd", "/h"]).unwrap();
        assert!(!a.addr_given);
        let c = a.server_config().unwrap();
        assert_eq!(c.auth.mode, registry::AuthMode::Htpasswd);
        assert_eq!(c.addr.port(), 5000);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reg.toml");
        std::fs::write(&file, "root = \"/f\"\naddr = \"127.0.0.1:7000\"\n").unwrap();
        let f = file.to_str().unwrap();
        let c = parse(&["--config", f]).unwrap().server_config().unwrap();
        assert_eq!((c.addr.port(), c.root.clone()), (7000, PathBuf::from("/f")));
        let c = parse(&["--config", f, "--addr", "127.0.0.1:7001", "--root", "/x"])
            .unwrap()
            .server_config()
            .unwrap();
        assert_eq!((c.addr.port(), c.root.clone()), (7001, PathBuf::from("/x")));
        std::fs::write(&file, "[auth]\nmode = \"magic\"\n").unwrap();
        let e = format!(
            "{:#}",
            parse(&["--config", f])
                .unwrap()
                .server_config()
                .unwrap_err()
        );
        assert!(e.contains("reg.toml") && e.contains("auth.mode"), "{e}");
    }
}

//! `berth build`: the context, the secrets and SSH forwards, and the build
//! stream.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hyper::Method;

use super::stream::display_build_stream;
use crate::auth;
use crate::client::{full, query, Client, ReqOpts};
use crate::commands::build_context;
use crate::format;
use crate::jsonmessage::{JsonDisplay, StreamError};

/// A clonable in-memory writer.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `berth build`
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long)]
    pub network: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Secret to expose to `RUN --mount=type=secret`: id=ID[,src=FILE|,env=VAR]
    #[arg(long)]
    pub secret: Vec<String>,
    /// SSH agent socket to expose to `RUN --mount=type=ssh`: default|ID[=SOCKET]
    /// (default: $SSH_AUTH_SOCK; the daemon must be on this machine)
    #[arg(long)]
    pub ssh: Vec<String>,
    /// PATH (the build context directory) or "-" (a tar or a Dockerfile on stdin)
    pub context: String,
}

/// `X-Berth-Build-Secrets` for `--secret id=ID[,src=FILE|,env=VAR]` (as `docker
/// buildx build --secret`; with neither src nor env, the variable named ID).
fn secrets_header(specs: &[String]) -> Result<String> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for spec in specs {
        let (mut id, mut src, mut var) = (None, None, None);
        for part in spec.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => var = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid --secret {spec:?}: expected id=ID[,src=FILE|,env=VAR]"),
            }
        }
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            bail!("invalid --secret {spec:?}: it needs an id=");
        };
        let value = match (src, var) {
            (Some(path), _) => {
                std::fs::read(&path).with_context(|| format!("reading secret {id} from {path}"))?
            }
            (None, Some(v)) => std::env::var(&v)
                .with_context(|| format!("secret {id}: environment variable {v} is not set"))?
                .into_bytes(),
            (None, None) => std::env::var(&id)
                .with_context(|| {
                    format!("secret {id}: give src=FILE or env=VAR (no variable {id} is set)")
                })?
                .into_bytes(),
        };
        map.insert(id, b64.encode(value));
    }
    Ok(b64.encode(serde_json::to_string(&map)?))
}

/// `X-Berth-Build-Ssh` for `--ssh ID[=SOCKET]` (SOCKET defaults to
/// $SSH_AUTH_SOCK; key files are not supported, only agent sockets).
fn ssh_header(specs: &[String]) -> Result<String> {
    use base64::Engine as _;
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for spec in specs {
        let (id, path) = match spec.split_once('=') {
            Some((id, p)) => (id.to_string(), p.to_string()),
            None => (
                spec.clone(),
                std::env::var("SSH_AUTH_SOCK").with_context(|| {
                    format!("--ssh {spec}: SSH_AUTH_SOCK is not set (give {spec}=<agent socket>)")
                })?,
            ),
        };
        if id.is_empty() || path.contains(',') {
            bail!("invalid --ssh {spec:?}: expected ID[=SOCKET] (one agent socket)");
        }
        let abs = std::fs::canonicalize(&path)
            .with_context(|| format!("--ssh {id}: {path} does not exist"))?;
        map.insert(id, abs.display().to_string());
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(serde_json::to_string(&map)?))
}

/// `berth build`
pub async fn build(client: &Client, a: BuildArgs) -> Result<i32> {
    // A daemon on this machine reads a local directory context in place (Berth's
    // fast path: no tar, and its file-hash cache makes no-op rebuilds cheap);
    // anything else goes as a tar, as the docker CLI sends it.
    let local = match client.host() {
        crate::client::Host::Unix(_) => build_context::local_dir(&a.context, a.file.as_deref()),
        crate::client::Host::Tcp(_) => None,
    };
    let mut prepared = None;
    let df_rel = match &local {
        Some(l) => l.dockerfile.clone(),
        None => {
            let (ctx, df) = build_context::prepare(&a.context, a.file.as_deref())?;
            prepared = Some(ctx);
            df
        }
    };
    if let Some(p) = &a.iidfile {
        // A stale id must not survive a failed build.
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing image ID file {}", p.display()))
            }
            _ => {}
        }
    }
    let mut params: Vec<(&str, String)> = a.tag.iter().map(|t| ("t", t.clone())).collect();
    params.push(("dockerfile", df_rel));
    if a.no_cache {
        params.push(("nocache", "1".into()));
    }
    if a.pull {
        params.push(("pull", "1".into()));
    }
    if a.quiet {
        params.push(("q", "1".into()));
    }
    params.push(("rm", if a.rm { "1" } else { "0" }.into()));
    if a.force_rm {
        params.push(("forcerm", "1".into()));
    }
    if let Some(t) = &a.target {
        params.push(("target", t.clone()));
    }
    if let Some(n) = &a.network {
        params.push(("networkmode", n.clone()));
    }
    if let Some(p) = &a.platform {
        params.push(("platform", p.clone()));
    }
    if !a.cache_from.is_empty() {
        params.push(("cachefrom", serde_json::to_string(&a.cache_from)?));
    }
    if !a.build_arg.is_empty() {
        // An unset variable named alone is sent as null, as docker does.
        let mut m: BTreeMap<String, Option<String>> = BTreeMap::new();
        for ba in &a.build_arg {
            match ba.split_once('=') {
                Some((k, v)) => m.insert(k.into(), Some(v.into())),
                None => m.insert(ba.clone(), std::env::var(ba).ok()),
            };
        }
        params.push(("buildargs", serde_json::to_string(&m)?));
    }
    if !a.label.is_empty() {
        let mut m: BTreeMap<&str, &str> = BTreeMap::new();
        for l in &a.label {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            m.insert(k, v);
        }
        params.push(("labels", serde_json::to_string(&m)?));
    }
    // Credentials for the registries of FROM images, as docker sends them.
    let registry_config = auth::registry_config_header(&auth::default_store_for_reading());
    let mut headers = vec![("X-Registry-Config", registry_config)];
    if !a.secret.is_empty() {
        headers.push(("X-Berth-Build-Secrets", secrets_header(&a.secret)?));
    }
    if !a.ssh.is_empty() {
        headers.push(("X-Berth-Build-Ssh", ssh_header(&a.ssh)?));
    }
    let mut resp = None;
    if let Some(l) = &local {
        let mut lp = params.clone();
        lp.push(("berth.contextdir", l.dir.display().to_string()));
        lp.push(("berth.contextid", format!("{}:{}", l.dev, l.ino)));
        let r = client
            .request(
                Method::POST,
                &format!("/build{}", query(&lp)),
                full(Vec::new()),
                ReqOpts {
                    content_type: Some("application/x-tar"),
                    headers: headers.clone(),
                    ..Default::default()
                },
            )
            .await?;
        // A daemon that cannot see the directory (another machine or mount
        // namespace, an older daemon) refuses before building: send the tar.
        if r.status().is_success() {
            resp = Some(r);
        }
    }
    let resp = match resp {
        Some(r) => r,
        None => {
            let ctx = match prepared {
                Some(c) => c,
                None => build_context::prepare(&a.context, a.file.as_deref())?.0,
            };
            if !a.quiet {
                println!(
                    "Sending build context to Docker daemon  {}",
                    format::human_size(ctx.len() as f64)
                );
            }
            let r = client
                .request(
                    Method::POST,
                    &format!("/build{}", query(&params)),
                    full(ctx),
                    ReqOpts {
                        content_type: Some("application/x-tar"),
                        headers,
                        ..Default::default()
                    },
                )
                .await?;
            crate::client::check(r).await?
        }
    };
    // Like docker, -q buffers the build output: printed to stdout on
    // success (the daemon sends just the image id then), stderr on failure.
    let buf = SharedBuf::default();
    let display = if a.quiet {
        JsonDisplay::with_writer(Box::new(buf.clone()), false)
    } else {
        JsonDisplay::new(false)
    };
    let result = display_build_stream(resp, display).await;
    let buffered = buf.take();
    match result {
        Ok(d) => {
            if let (Some(path), Some(id)) = (&a.iidfile, d.aux_ids.last()) {
                std::fs::write(path, id)
                    .with_context(|| format!("writing image ID file {}", path.display()))?;
            }
            if a.quiet {
                if buffered.is_empty() {
                    if let Some(id) = d.aux_ids.last() {
                        println!("{id}");
                    }
                } else {
                    std::io::stdout().write_all(&buffered)?;
                }
            }
            Ok(0)
        }
        Err(e) => {
            std::io::stderr().write_all(&buffered)?;
            if let Some(se) = e.downcast_ref::<StreamError>() {
                eprintln!("{}", se.message);
                return Ok(se.code.filter(|c| *c > 0).map(|c| c as i32).unwrap_or(1));
            }
            Err(e)
        }
    }
}

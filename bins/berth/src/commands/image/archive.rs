//! Images from and to tar archives: import, load, save.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::{Stream, StreamExt};
use hyper::Method;
use tokio_util::io::ReaderStream;

use super::split_ref;
use super::stream::display_stream;
use crate::client::{body_stream, empty, query, stream_body, Body, Client};
use crate::format;

fn file_or_stdin_body(path: Option<&str>) -> Result<Body> {
    match path {
        None | Some("-") => {
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
            std::thread::spawn(move || {
                use std::io::Read;
                let mut stdin = std::io::stdin();
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if tx
                                .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                                .is_err()
                            {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            break;
                        }
                    }
                }
            });
            Ok(stream_body(tokio_stream_from(rx)))
        }
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| anyhow!("open {p}: {}", format::go_io_error(&e)))?;
            let f = tokio::fs::File::from_std(f);
            Ok(stream_body(ReaderStream::with_capacity(f, 256 * 1024)))
        }
    }
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `berth import`
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|- (a tarball)
    pub file: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth import`
pub async fn import(client: &Client, a: ImportArgs) -> Result<i32> {
    let mut params = Vec::new();
    let body = if a.file.starts_with("http://") || a.file.starts_with("https://") {
        params.push(("fromSrc", a.file.clone()));
        empty()
    } else {
        params.push(("fromSrc", "-".to_string()));
        file_or_stdin_body(Some(&a.file))?
    };
    if let Some(r) = &a.reference {
        let (repo, tag) = split_ref(r);
        params.push(("repo", repo));
        if !tag.is_empty() {
            params.push(("tag", tag));
        }
    }
    if let Some(m) = &a.message {
        params.push(("message", m.clone()));
    }
    if let Some(p) = &a.platform {
        params.push(("platform", p.clone()));
    }
    for c in &a.change {
        params.push(("changes", c.clone()));
    }
    let resp = client
        .call(
            Method::POST,
            &format!("/images/create{}", query(&params)),
            Some("application/x-tar"),
            body,
        )
        .await?;
    display_stream(resp, false).await?;
    Ok(0)
}

/// `berth load`
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Load only the given platform variant
    #[arg(long)]
    pub platform: Option<String>,
}

/// `berth load`
pub async fn load(client: &Client, a: LoadArgs) -> Result<i32> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        bail!("requested load from stdin, but stdin is empty");
    }
    let body = file_or_stdin_body(a.input.as_deref())?;
    let mut params = Vec::new();
    if a.quiet {
        params.push(("quiet", "1".to_string()));
    }
    if let Some(p) = &a.platform {
        params.push(("platform", p.clone()));
    }
    let resp = client
        .call(
            Method::POST,
            &format!("/images/load{}", query(&params)),
            Some("application/x-tar"),
            body,
        )
        .await?;
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        display_stream(resp, false).await?;
    } else {
        let mut s = Box::pin(body_stream(resp));
        let mut out = std::io::stdout();
        while let Some(c) = s.next().await {
            out.write_all(&c?)?;
        }
    }
    Ok(0)
}

/// `berth save`
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Save only the given platform variant
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth save`
pub async fn save(client: &Client, a: SaveArgs) -> Result<i32> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut params: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    if let Some(p) = &a.platform {
        params.push(("platform", p.clone()));
    }
    let resp = client
        .call(
            Method::GET,
            &format!("/images/get{}", query(&params)),
            None,
            empty(),
        )
        .await?;
    let mut s = Box::pin(body_stream(resp));
    match &a.output {
        Some(path) => {
            let tmp = PathBuf::from(format!("{path}.berth-tmp"));
            let mut f = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)
            }
            .with_context(|| format!("failed to save image: unable to create {path}"))?;
            while let Some(c) = s.next().await {
                match c {
                    Ok(c) => f.write_all(&c)?,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                }
            }
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(c) = s.next().await {
                out.write_all(&c?)?;
            }
            out.flush()?;
        }
    }
    Ok(0)
}

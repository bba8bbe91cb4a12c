//! A container's filesystem: diff, export, commit.

use anyhow::{anyhow, bail, Result};
use clap::{ArgAction, Args};
use gotemplate::JsonExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{body_stream, empty, enc, query, Client};
use crate::format;

/// `berth diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

/// `berth diff`
pub async fn diff(client: &Client, a: DiffArgs) -> Result<i32> {
    let v = client
        .get_json::<Value>(&format!("/containers/{}/changes", enc(&a.container)))
        .await?;
    for c in v.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let kind = match c.ci("Kind").and_then(Value::as_i64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!(
            "{kind} {}",
            c.ci("Path").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(0)
}

/// `berth export`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub container: String,
}

/// `berth export`
pub async fn export(client: &Client, a: ExportArgs) -> Result<i32> {
    use std::io::{IsTerminal, Write};
    if a.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let resp = client
        .call(
            Method::GET,
            &format!("/containers/{}/export", enc(&a.container)),
            None,
            empty(),
        )
        .await?;
    let mut s = Box::pin(body_stream(resp));
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            Box::new(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(p)
                    .map_err(|e| {
                        anyhow!("failed to export container: {}", format::go_io_error(&e))
                    })?,
            )
        }
        None => Box::new(std::io::stdout().lock()),
    };
    while let Some(c) = futures::StreamExt::next(&mut s).await {
        out.write_all(&c?)?;
    }
    out.flush()?;
    Ok(0)
}

/// `berth commit`
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth commit`
pub async fn commit(client: &Client, a: CommitArgs) -> Result<i32> {
    let mut params = vec![("container", a.container.clone())];
    if let Some(r) = &a.reference {
        let last = r.rsplit('/').next().unwrap_or(r);
        match last.rfind(':') {
            Some(i) => {
                let cut = r.len() - last.len() + i;
                params.push(("repo", r[..cut].to_string()));
                params.push(("tag", r[cut + 1..].to_string()));
            }
            None => params.push(("repo", r.clone())),
        }
    }
    if let Some(m) = &a.message {
        params.push(("comment", m.clone()));
    }
    if let Some(au) = &a.author {
        params.push(("author", au.clone()));
    }
    for c in &a.change {
        params.push(("changes", c.clone()));
    }
    params.push(("pause", a.pause.to_string()));
    let v = client
        .post_json::<_, Value>(&format!("/commit{}", query(&params)), &json!({}))
        .await?;
    println!("{}", v.ci("Id").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

//! Naming and removing images: tag, rmi, image prune.

use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;
use gotemplate::JsonExt;
use hyper::Method;
use serde_json::Value;

use super::split_ref;
use crate::client::{daemon_error, empty, query, Client};
use crate::commands::container::filters_json;
use crate::commands::eprint_err;
use crate::format;

/// `berth tag`
#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

/// `berth tag`
pub async fn tag(client: &Client, a: TagArgs) -> Result<i32> {
    let (repo, tag) = split_ref(&a.target);
    if a.target.contains('@') {
        bail!("refusing to create a tag with a digest reference");
    }
    let mut params = vec![("repo", repo)];
    if !tag.is_empty() {
        params.push(("tag", tag));
    }
    client
        .call(
            Method::POST,
            &format!("/images/{}/tag{}", a.source, query(&params)),
            None,
            empty(),
        )
        .await?;
    Ok(0)
}

/// `berth rmi`
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

fn print_deleted(v: &Value) {
    for item in v.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        if let Some(u) = item.ci("Untagged").and_then(Value::as_str) {
            println!("Untagged: {u}");
        }
        if let Some(d) = item.ci("Deleted").and_then(Value::as_str) {
            println!("Deleted: {d}");
        }
    }
}

/// `berth rmi`
pub async fn rmi(client: &Client, a: RmiArgs) -> Result<i32> {
    let mut params = Vec::new();
    if a.force {
        params.push(("force", "1".to_string()));
    }
    if a.no_prune {
        params.push(("noprune", "1".to_string()));
    }
    let q = query(&params);
    let mut code = 0;
    for img in &a.images {
        let r = client
            .call(Method::DELETE, &format!("/images/{img}{q}"), None, empty())
            .await;
        match r {
            Ok(resp) => {
                let b = http_body_util::BodyExt::collect(resp.into_body())
                    .await?
                    .to_bytes();
                let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
                print_deleted(&v);
            }
            Err(e) => {
                // docker rmi -f does not fail on missing images.
                let missing = daemon_error(&e).is_some_and(|d| d.status == 404);
                eprint_err(&e.into());
                if !(a.force && missing) {
                    code = 1;
                }
            }
        }
    }
    Ok(code)
}

/// `berth image prune`
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// Asks "Are you sure you want to continue? [y/N]" on stdin.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `berth image prune`
pub async fn prune(client: &Client, a: PruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let mut filters = a.filter.clone();
    filters.push(format!("dangling={}", !a.all));
    let q = match filters_json(&filters)? {
        Some(f) => query(&[("filters", f)]),
        None => String::new(),
    };
    let v = client.post::<Value>(&format!("/images/prune{q}")).await?;
    let deleted = v
        .ci("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            if let Some(u) = d.ci("Untagged").and_then(Value::as_str) {
                println!("untagged: {u}");
            }
            if let Some(x) = d.ci("Deleted").and_then(Value::as_str) {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    let space = v.ci("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    println!(
        "Total reclaimed space: {}",
        format::human_size(space as f64)
    );
    Ok(0)
}

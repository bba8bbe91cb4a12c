//! Command implementations, one module per command group.

pub mod container;
pub mod image;
pub mod opts;
pub mod system;

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::client::{daemon_error, enc, Client};
use crate::format::{indent_json, Template};

/// Prints an error the way docker does (daemon errors as
/// "Error response from daemon: ...").
pub fn eprint_err(e: &anyhow::Error) {
    eprintln!("{e:#}");
}

/// What `inspect` looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectKind {
    Container,
    Image,
    Any,
}

/// `berth inspect`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type (container, image)
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `berth inspect`
pub async fn inspect(client: &Client, a: InspectArgs) -> Result<i32> {
    let kind = match a.kind.as_deref() {
        None | Some("") => InspectKind::Any,
        Some("container") => InspectKind::Container,
        Some("image") => InspectKind::Image,
        Some(other) => anyhow::bail!("\"{other}\" is not a valid value for --type"),
    };
    inspect_objects(client, &a.names, kind, a.format.as_deref(), a.size).await
}

async fn fetch_raw(
    client: &Client,
    name: &str,
    kind: InspectKind,
    size: bool,
) -> Result<Option<bytes::Bytes>> {
    let try_get = |path: String| async move {
        match client.get_bytes(&path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if daemon_error(&e).is_some_and(|d| d.status == 404) => Ok(None),
            Err(e) => Err(e),
        }
    };
    if matches!(kind, InspectKind::Container | InspectKind::Any) {
        let q = if size { "?size=1" } else { "" };
        if let Some(b) = try_get(format!("/containers/{}/json{q}", enc(name))).await? {
            return Ok(Some(b));
        }
    }
    if matches!(kind, InspectKind::Image | InspectKind::Any) {
        if let Some(b) = try_get(format!("/images/{name}/json")).await? {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// Inspects objects and prints them as docker does: an indented JSON array
/// of the daemon's raw objects, or one template result per object.
pub async fn inspect_objects(
    client: &Client,
    names: &[String],
    kind: InspectKind,
    format: Option<&str>,
    size: bool,
) -> Result<i32> {
    let tmpl = match format {
        Some("json") | None => None,
        Some(f) => Some(Template::parse(f)?),
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match fetch_raw(client, n, kind, size).await? {
            Some(b) => raws.push(b),
            None => errors.push(match kind {
                InspectKind::Container => format!("Error: No such container: {n}"),
                InspectKind::Image => format!("Error: No such image: {n}"),
                InspectKind::Any => format!("Error: No such object: {n}"),
            }),
        }
    }
    match &tmpl {
        Some(t) => {
            for r in &raws {
                let v: Value = serde_json::from_slice(r)?;
                println!("{}", t.execute(&v)?);
            }
        }
        None => {
            if format == Some("json") {
                let mut s = String::from("[");
                for (i, r) in raws.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(String::from_utf8_lossy(r).trim());
                }
                s.push(']');
                println!("{s}");
            } else if raws.is_empty() {
                println!("[]");
            } else {
                let mut joined = Vec::from(&b"["[..]);
                for (i, r) in raws.iter().enumerate() {
                    if i > 0 {
                        joined.push(b',');
                    }
                    joined.extend_from_slice(r);
                }
                joined.push(b']');
                println!("{}", indent_json(&joined, "", "    "));
            }
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

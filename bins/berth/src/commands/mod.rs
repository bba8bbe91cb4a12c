//! Command implementations, one module per command group.

pub mod build_context;
pub mod container;
pub mod cp;
pub mod image;
pub mod login;
pub mod netopts;
pub mod network;
pub mod opts;
pub mod registry;
pub mod stats;
pub mod system;
pub mod volume;

use anyhow::Result;
use clap::Args;
use gotemplate::Template;
use serde_json::Value;

use crate::client::{daemon_error, Client, NetworkInspectOptions};
use crate::format::indent_json;

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
    Network,
    Volume,
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
    /// Return JSON for specified type (container, image, network, volume)
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// The flags of `berth <object> inspect`: a template and the objects.
#[derive(Args, Debug)]
pub struct ObjectInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

impl ObjectInspectArgs {
    /// Inspects the named objects of one kind.
    pub async fn run(self, client: &Client, kind: InspectKind) -> Result<i32> {
        let opts = FetchOpts::default();
        inspect_objects(client, &self.names, kind, self.format.as_deref(), opts).await
    }
}

/// `--force` and `--filter` of the prune commands.
#[derive(Args, Debug)]
pub struct PruneOpts {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

impl PruneOpts {
    /// Whether to go on: `--force`, or a yes to docker's prompt.
    pub fn confirmed(&self, warning: &str) -> bool {
        self.force || image::confirm(warning)
    }
}

/// The "Deleted ...:" block of a prune (with the blank line docker's
/// `Fprintln` of the block adds), or nothing.
pub fn deleted_block(title: &str, items: Option<&[String]>) -> String {
    let items = items.unwrap_or_default();
    if items.is_empty() {
        return String::new();
    }
    let mut s = format!("{title}:\n");
    for it in items {
        s.push_str(it);
        s.push('\n');
    }
    s.push('\n');
    s
}

/// docker's last line of a prune.
pub fn reclaimed_line(space: i64) -> String {
    format!(
        "Total reclaimed space: {}",
        crate::format::human_size(space as f64)
    )
}

/// `berth inspect`
pub async fn inspect(client: &Client, a: InspectArgs) -> Result<i32> {
    let kind = match a.kind.as_deref() {
        None | Some("") => InspectKind::Any,
        Some("container") => InspectKind::Container,
        Some("image") => InspectKind::Image,
        Some("network") => InspectKind::Network,
        Some("volume") => InspectKind::Volume,
        Some(other) => anyhow::bail!("\"{other}\" is not a valid value for --type"),
    };
    let opts = FetchOpts {
        size: a.size,
        verbose: false,
    };
    inspect_objects(client, &a.names, kind, a.format.as_deref(), opts).await
}

/// Fetches one object's raw JSON; `Err(message)` when the daemon has no
/// such object (its 404 message).
/// How `inspect` asks for an object.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOpts {
    /// Container sizes (`?size=1`).
    pub size: bool,
    /// A network's swarm services and tasks (`?verbose=true`).
    pub verbose: bool,
}

async fn fetch_raw(
    client: &Client,
    name: &str,
    kind: InspectKind,
    opts: FetchOpts,
) -> Result<std::result::Result<bytes::Bytes, String>> {
    let mut missing = String::new();
    let kinds: &[InspectKind] = match kind {
        InspectKind::Any => &[
            InspectKind::Container,
            InspectKind::Image,
            InspectKind::Network,
            InspectKind::Volume,
        ],
        InspectKind::Container => &[InspectKind::Container],
        InspectKind::Image => &[InspectKind::Image],
        InspectKind::Network => &[InspectKind::Network],
        InspectKind::Volume => &[InspectKind::Volume],
    };
    for k in kinds {
        let got = match k {
            InspectKind::Container => client.container_inspect_raw(name, opts.size).await,
            InspectKind::Image => client.image_inspect_raw(name).await,
            InspectKind::Network => {
                let o = NetworkInspectOptions {
                    verbose: opts.verbose,
                    scope: None,
                };
                client.network_inspect_raw(name, o).await
            }
            InspectKind::Volume | InspectKind::Any => client.volume_inspect_raw(name).await,
        };
        match got {
            Ok(b) => return Ok(Ok(b)),
            Err(e) => match daemon_error(&e) {
                Some(d) if d.status == 404 => missing = d.message.clone(),
                _ => return Err(e.into()),
            },
        }
    }
    Ok(Err(missing))
}

/// Inspects objects and prints them as docker does: an indented JSON array
/// of the daemon's raw objects, or one template result per object.
pub async fn inspect_objects(
    client: &Client,
    names: &[String],
    kind: InspectKind,
    format: Option<&str>,
    opts: FetchOpts,
) -> Result<i32> {
    let tmpl = match format {
        Some("json") | None => None,
        Some(f) => Some(Template::parse(f)?),
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match fetch_raw(client, n, kind, opts).await? {
            Ok(b) => raws.push(b),
            // docker words it this way only when the type is not given.
            Err(_) if kind == InspectKind::Any => {
                errors.push(format!("Error: No such object: {n}"))
            }
            Err(msg) => errors.push(format!("Error response from daemon: {msg}")),
        }
    }
    match &tmpl {
        Some(t) => {
            for r in &raws {
                // Templates run over the daemon's JSON as sent (fields the
                // models do not know included): the one place inspect
                // needs a Value.
                let v: Value = serde_json::from_slice(r)?;
                println!("{}", t.execute(&v)?);
            }
            if raws.is_empty() {
                println!();
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

//! Image commands: images, image inspect, tag, rmi, history, prune, import,
//! load, save, pull, push, build, login, logout.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::{Stream, StreamExt};
use hyper::Method;
use serde_json::{json, Value};
use tokio_util::io::ReaderStream;

use super::container::{filters_json, go_time_string};
use super::{eprint_err, inspect_objects, InspectKind};
use crate::client::{
    body_stream, daemon_error, empty, full, query, stream_body, Body, Client, ReqOpts,
};
use crate::format::{self, human_duration, human_size_prec, short_id, JsonExt};

// ---------------------------------------------------------------------------
// JSON message streams (pull, push, load, import, build)
// ---------------------------------------------------------------------------

/// Splits a byte stream into JSON values (newline-delimited or concatenated).
pub fn json_values<S>(s: S) -> impl Stream<Item = Result<Value>>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
{
    futures::stream::unfold(
        (s, Vec::<u8>::new(), false),
        |(mut s, mut buf, mut done)| async move {
            loop {
                // Try to parse one value from the buffer.
                let start = buf.iter().position(|b| !b.is_ascii_whitespace());
                match start {
                    None => buf.clear(),
                    Some(i) => {
                        let mut de =
                            serde_json::Deserializer::from_slice(&buf[i..]).into_iter::<Value>();
                        match de.next() {
                            Some(Ok(v)) => {
                                let used = i + de.byte_offset();
                                buf.drain(..used);
                                return Some((Ok(v), (s, buf, done)));
                            }
                            Some(Err(e)) if e.is_eof() && !done => {}
                            Some(Err(e)) => {
                                buf.clear();
                                return Some((Err(anyhow!(e)), (s, buf, true)));
                            }
                            None => buf.clear(),
                        }
                    }
                }
                if done {
                    return None;
                }
                match s.next().await {
                    Some(Ok(b)) => buf.extend_from_slice(&b),
                    Some(Err(e)) => return Some((Err(e), (s, buf, true))),
                    None => done = true,
                }
            }
        },
    )
}

/// An error reported inside a JSON message stream (`errorDetail`).
#[derive(Debug)]
pub struct StreamError {
    pub message: String,
    /// Exit code a failed build step reported, if any.
    pub code: Option<i64>,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StreamError {}

/// Renders docker's jsonmessage stream: per-id status lines (updated in place
/// on a terminal), `stream` text, errors.
pub struct JsonDisplay {
    out: Box<dyn Write + Send>,
    tty: bool,
    ids: Vec<String>,
    /// Last line printed per id (non-tty de-duplication).
    last: HashMap<String, String>,
    pub aux_ids: Vec<String>,
}

impl JsonDisplay {
    pub fn new(to_stderr: bool) -> Self {
        let (out, tty): (Box<dyn Write + Send>, bool) = if to_stderr {
            (Box::new(std::io::stderr()), std::io::stderr().is_terminal())
        } else {
            (Box::new(std::io::stdout()), std::io::stdout().is_terminal())
        };
        Self::with_writer(out, tty)
    }

    /// Displays into any writer (`tty` selects in-place progress updates).
    pub fn with_writer(out: Box<dyn Write + Send>, tty: bool) -> Self {
        JsonDisplay {
            out,
            tty,
            ids: Vec::new(),
            last: HashMap::new(),
            aux_ids: Vec::new(),
        }
    }

    /// Handles one message; returns Err for an error message.
    pub fn show(&mut self, m: &Value) -> Result<()> {
        if let Some(err) = m
            .ci("errorDetail")
            .and_then(|e| e.ci("message"))
            .and_then(Value::as_str)
            .or_else(|| m.ci("error").and_then(Value::as_str))
        {
            return Err(StreamError {
                message: err.to_string(),
                code: m.cptr("/errorDetail/code").and_then(Value::as_i64),
            }
            .into());
        }
        if let Some(id) = m.cptr("/aux/ID").and_then(Value::as_str) {
            self.aux_ids.push(id.to_string());
        }
        if let Some(s) = m.ci("stream").and_then(Value::as_str) {
            write!(self.out, "{s}")?;
            self.out.flush()?;
            return Ok(());
        }
        let Some(status) = m.ci("status").and_then(Value::as_str) else {
            return Ok(());
        };
        let id = m.ci("id").and_then(Value::as_str).unwrap_or("");
        let progress = m.ci("progress").and_then(Value::as_str).unwrap_or("");
        let line = if id.is_empty() {
            status.to_string()
        } else if self.tty && !progress.is_empty() {
            format!("{id}: {status} {progress}")
        } else {
            format!("{id}: {status}")
        };
        if id.is_empty() {
            writeln!(self.out, "{line}")?;
        } else if self.tty {
            match self.ids.iter().position(|x| x == id) {
                Some(idx) => {
                    let up = self.ids.len() - idx;
                    write!(self.out, "\x1b[{up}A\r\x1b[2K{line}\r\x1b[{up}B")?;
                }
                None => {
                    self.ids.push(id.to_string());
                    writeln!(self.out, "{line}")?;
                }
            }
        } else if self.last.get(id) != Some(&line) && progress.is_empty() {
            writeln!(self.out, "{line}")?;
            self.last.insert(id.to_string(), line);
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Displays a JSON message response; errors in the stream become errors.
pub async fn display_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    to_stderr: bool,
) -> Result<JsonDisplay> {
    display_stream_into(resp, JsonDisplay::new(to_stderr)).await
}

/// [`display_stream`] with a given display.
pub async fn display_stream_into(
    resp: hyper::Response<hyper::body::Incoming>,
    mut d: JsonDisplay,
) -> Result<JsonDisplay> {
    let mut vals = Box::pin(json_values(Box::pin(body_stream(resp))));
    while let Some(v) = vals.next().await {
        d.show(&v?)?;
    }
    Ok(d)
}

fn split_ref(r: &str) -> (String, String) {
    if let Some((n, d)) = r.split_once('@') {
        return (n.to_string(), d.to_string());
    }
    let last = r.rsplit('/').next().unwrap_or(r);
    match last.rfind(':') {
        Some(i) => {
            let cut = r.len() - last.len() + i;
            (r[..cut].to_string(), r[cut + 1..].to_string())
        }
        None => (r.to_string(), String::new()),
    }
}

/// docker's fully qualified form: "busybox:latest" -> "docker.io/library/busybox:latest".
pub fn normalize_ref(r: &str) -> String {
    match r.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            r.to_string()
        }
        Some(_) => format!("docker.io/{r}"),
        None => format!("docker.io/library/{r}"),
    }
}

/// The registry a reference points at, as `berth login` keys it.
fn registry_of(name: &str) -> String {
    match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => DEFAULT_REGISTRY.to_string(),
    }
}

/// The X-Registry-Auth header value (base64url JSON auth config) for a
/// reference: credentials saved by `berth login`, else an empty config.
fn registry_auth(name: &str) -> String {
    let server = registry_of(name);
    let cfg = load_config();
    let saved = cfg
        .pointer(&format!(
            "/auths/{}",
            server.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(|a| a.ci("auth"))
        .and_then(Value::as_str)
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok());
    let json = match saved.as_deref().and_then(|s| s.split_once(':')) {
        Some((u, p)) => json!({"username": u, "password": p, "serveraddress": server}).to_string(),
        None => "{}".to_string(),
    };
    base64(json.as_bytes()).replace('+', "-").replace('/', "_")
}

/// Pulls an image with docker's progress display.
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    to_stderr: bool,
) -> Result<()> {
    let (name, tag) = split_ref(image);
    let mut params = vec![("fromImage", name.clone())];
    params.push((
        "tag",
        if tag.is_empty() {
            "latest".into()
        } else {
            tag.clone()
        },
    ));
    if let Some(p) = platform {
        params.push(("platform", p.to_string()));
    }
    let auth = registry_auth(&name);
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&params)),
            empty(),
            ReqOpts {
                headers: vec![("X-Registry-Auth", auth)],
                ..Default::default()
            },
        )
        .await?;
    let resp = crate::client::check(resp).await?;
    display_stream(resp, to_stderr).await?;
    Ok(())
}

/// `berth pull`
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    pub image: String,
}

/// `berth pull`
pub async fn pull(client: &Client, a: PullArgs) -> Result<i32> {
    let (name, tag) = split_ref(&a.image);
    let mut params = vec![("fromImage", name.clone())];
    if tag.is_empty() && !a.all_tags {
        if !a.quiet {
            println!("Using default tag: latest");
        }
        params.push(("tag", "latest".into()));
    } else if !tag.is_empty() {
        params.push(("tag", tag.clone()));
    }
    if let Some(p) = &a.platform {
        params.push(("platform", p.clone()));
    }
    let auth = registry_auth(&name);
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&params)),
            empty(),
            ReqOpts {
                headers: vec![("X-Registry-Auth", auth)],
                ..Default::default()
            },
        )
        .await?;
    let resp = crate::client::check(resp).await?;
    if a.quiet {
        let mut vals = Box::pin(json_values(Box::pin(body_stream(resp))));
        while let Some(v) = vals.next().await {
            let v = v?;
            if let Some(e) = v.ci("error").and_then(Value::as_str) {
                bail!("{e}");
            }
        }
    } else {
        display_stream(resp, false).await?;
    }
    let tagged = if tag.is_empty() {
        format!("{name}:latest")
    } else if a.image.contains('@') {
        a.image.clone()
    } else {
        format!("{name}:{tag}")
    };
    println!("{}", normalize_ref(&tagged));
    Ok(0)
}

/// `berth push`
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
}

/// `berth push`
pub async fn push(client: &Client, a: PushArgs) -> Result<i32> {
    let (name, tag) = split_ref(&a.image);
    let q = if tag.is_empty() || a.all_tags {
        if !a.all_tags && !a.quiet {
            println!("Using default tag: latest");
        }
        if a.all_tags {
            String::new()
        } else {
            query(&[("tag", "latest".into())])
        }
    } else {
        query(&[("tag", tag)])
    };
    let path = format!("/images/{}/push{q}", name);
    let auth = registry_auth(&name);
    let resp = client
        .request(
            Method::POST,
            &path,
            empty(),
            ReqOpts {
                headers: vec![("X-Registry-Auth", auth)],
                ..Default::default()
            },
        )
        .await?;
    let resp = crate::client::check(resp).await?;
    if a.quiet {
        let mut vals = Box::pin(json_values(Box::pin(body_stream(resp))));
        while let Some(v) = vals.next().await {
            if let Some(e) = v?.ci("error").and_then(Value::as_str) {
                bail!("{e}");
            }
        }
        println!("{}", a.image);
    } else {
        display_stream(resp, false).await?;
    }
    Ok(0)
}

// ---------------------------------------------------------------------------
// images
// ---------------------------------------------------------------------------

/// `berth images`
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

fn image_headers() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE", "__Label": {}, "__json_html": true
    })
}

/// docker's image list rows (one per repo:tag, `<none>` for untagged).
pub fn image_rows(list: &[Value], trunc: bool, now: i64) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in list {
        let id = img.ci("Id").and_then(Value::as_str).unwrap_or("");
        let id_s = if trunc { short_id(id) } else { id.to_string() };
        let created = img.ci("Created").and_then(Value::as_i64).unwrap_or(0);
        let size = img.ci("Size").and_then(Value::as_i64).unwrap_or(0);
        let digests: Vec<String> = img
            .ci("RepoDigests")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut tags: Vec<(String, String)> = img
            .ci("RepoTags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "<none>:<none>")
                    .map(split_ref)
                    .collect()
            })
            .unwrap_or_default();
        if tags.is_empty() {
            match digests.first() {
                Some(d) => tags.push((split_ref(d).0, "<none>".into())),
                None => tags.push(("<none>".into(), "<none>".into())),
            }
        }
        let labels = img
            .ci("Labels")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        for (repo, tag) in tags {
            let digest = digests
                .iter()
                .find(|d| split_ref(d).0 == repo)
                .map(|d| split_ref(d).1)
                .unwrap_or_else(|| "<none>".into());
            rows.push(json!({
                "ID": id_s,
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": format!("{} ago", human_duration(now - created)),
                "CreatedAt": go_time_string(created),
                "Size": human_size_prec(size as f64, 3),
                "VirtualSize": format::human_size(size as f64),
                "__json_html": true,
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": match img.ci("Containers").and_then(Value::as_i64) {
                    Some(c) if c >= 0 => c.to_string(),
                    _ => "N/A".to_string(),
                },
                "__Label": labels,
            }));
        }
    }
    rows
}

/// `berth images`
pub async fn images(client: &Client, a: ImagesArgs) -> Result<i32> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut params = Vec::new();
    if a.all {
        params.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(&filters)? {
        params.push(("filters", f));
    }
    let list = client
        .get_json(&format!("/images/json{}", query(&params)))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows = image_rows(
        list.as_array().map(Vec::as_slice).unwrap_or(&[]),
        !a.no_trunc,
        now,
    );
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some("json") => "{{json .}}".into(),
            Some(f) if f != "table" => f.to_string(),
            _ if a.digests => "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
            _ => "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
        }
    };
    print!("{}", format::render_rows(&format, &image_headers(), &rows)?);
    Ok(0)
}

/// `berth image inspect`
#[derive(Args, Debug)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth image inspect`
pub async fn inspect(client: &Client, a: ImageInspectArgs) -> Result<i32> {
    inspect_objects(
        client,
        &a.images,
        InspectKind::Image,
        a.format.as_deref(),
        false,
    )
    .await
}

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
                eprint_err(&e);
                // docker rmi -f does not fail on missing images.
                let missing = daemon_error(&e).is_some_and(|d| d.status == 404);
                if !(a.force && missing) {
                    code = 1;
                }
            }
        }
    }
    Ok(code)
}

/// `berth image history`
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

/// `berth image history`
pub async fn history(client: &Client, a: HistoryArgs) -> Result<i32> {
    let v = client
        .get_json(&format!("/images/{}/history", a.image))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = v
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|h| {
            let id = h.ci("Id").and_then(Value::as_str).unwrap_or("");
            let id = if id.is_empty() || id == "<missing>" {
                "<missing>".to_string()
            } else if a.no_trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            let created = h.ci("Created").and_then(Value::as_i64).unwrap_or(0);
            let by = h.ci("CreatedBy").and_then(Value::as_str).unwrap_or("");
            let by = by.replace('\t', " ");
            let by = if a.no_trunc {
                by
            } else {
                format::ellipsis(&by, 45)
            };
            let size = h.ci("Size").and_then(Value::as_i64).unwrap_or(0);
            json!({
                "ID": id,
                "CreatedSince": if a.human {
                    format!("{} ago", human_duration(now - created))
                } else {
                    chrono::DateTime::from_timestamp(created, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default()
                },
                "CreatedAt": go_time_string(created),
                "CreatedBy": by,
                "Size": if a.human { human_size_prec(size as f64, 3) } else { size.to_string() },
                "Comment": h.ci("Comment").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    let headers = json!({"ID": "IMAGE",
                         "CreatedSince": if a.human { "CREATED" } else { "CREATED AT" },
                         "CreatedAt": "CREATED AT",
                         "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some(f) if f != "table" => f.to_string(),
            _ => "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into(),
        }
    };
    print!("{}", format::render_rows(&format, &headers, &rows)?);
    Ok(0)
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
    let v = client.post_json(&format!("/images/prune{q}"), None).await?;
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

// ---------------------------------------------------------------------------
// import / load / save
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------

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
    /// PATH (the build context directory)
    pub context: String,
}

fn read_dockerignore(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn ignored(rel: &str, patterns: &[String]) -> bool {
    let mut ign = false;
    for p in patterns {
        let (neg, p) = match p.strip_prefix('!') {
            Some(x) => (true, x),
            None => (false, p.as_str()),
        };
        if glob_match(p, rel) || rel.starts_with(&format!("{p}/")) {
            ign = !neg;
        }
    }
    ign
}

/// Minimal glob: `*` (no `/`), `**` (anything), `?`.
fn glob_match(p: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) if p.get(1) == Some(&b'*') => {
                let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                (0..=s.len()).any(|i| go(rest, &s[i..]))
            }
            (Some(b'*'), _) => {
                let mut i = 0;
                loop {
                    if go(&p[1..], &s[i..]) {
                        return true;
                    }
                    if i >= s.len() || s[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(p.as_bytes(), s.as_bytes())
}

/// Tars the build context (honouring .dockerignore, always keeping the Dockerfile).
pub fn tar_context(dir: &Path, dockerfile: &str) -> Result<Vec<u8>> {
    let patterns = read_dockerignore(dir);
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(dir)
                .map_err(|_| anyhow!("bad context path"))?
                .to_string_lossy()
                .to_string();
            if rel != dockerfile && ignored(&rel, &patterns) {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_dir() {
                b.append_dir(&rel, &path)?;
                stack.push(path);
            } else {
                b.append_path_with_name(&path, &rel)?;
            }
        }
    }
    Ok(b.into_inner()?)
}

/// `berth build`
pub async fn build(client: &Client, a: BuildArgs) -> Result<i32> {
    let dir = PathBuf::from(&a.context);
    if !dir.is_dir() {
        bail!("unable to prepare context: path {:?} not found", a.context);
    }
    let dockerfile = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
    let df_rel = match Path::new(&dockerfile).strip_prefix(&dir) {
        Ok(r) => r.to_string_lossy().to_string(),
        Err(_) => dockerfile.clone(),
    };
    let ctx = tar_context(&dir, &df_rel)?;
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
    if !a.build_arg.is_empty() {
        let mut m = serde_json::Map::new();
        for ba in &a.build_arg {
            match ba.split_once('=') {
                Some((k, v)) => m.insert(k.into(), json!(v)),
                None => m.insert(
                    ba.clone(),
                    std::env::var(ba).map(Value::String).unwrap_or(Value::Null),
                ),
            };
        }
        params.push(("buildargs", Value::Object(m).to_string()));
    }
    if !a.label.is_empty() {
        let mut m = serde_json::Map::new();
        for l in &a.label {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            m.insert(k.into(), json!(v));
        }
        params.push(("labels", Value::Object(m).to_string()));
    }
    if !a.quiet {
        println!(
            "Sending build context to Docker daemon  {}",
            format::human_size(ctx.len() as f64)
        );
    }
    let resp = client
        .call(
            Method::POST,
            &format!("/build{}", query(&params)),
            Some("application/x-tar"),
            full(ctx),
        )
        .await?;
    // Like docker, -q buffers the build output: printed to stdout on
    // success (the daemon sends just the image id then), stderr on failure.
    let buf = SharedBuf::default();
    let display = if a.quiet {
        JsonDisplay::with_writer(Box::new(buf.clone()), false)
    } else {
        JsonDisplay::new(false)
    };
    let result = display_stream_into(resp, display).await;
    let buffered = buf.take();
    match result {
        Ok(d) => {
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

// ---------------------------------------------------------------------------
// login / logout
// ---------------------------------------------------------------------------

const DEFAULT_REGISTRY: &str = "https://index.docker.io/v1/";

fn config_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".berth").join("config.json"))
}

fn load_config() -> Value {
    config_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({"auths": {}}))
}

fn store_config(v: &Value) -> Result<()> {
    let p = config_path().ok_or_else(|| anyhow!("HOME is not set"))?;
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&p, serde_json::to_vec_pretty(v)?)?;
    Ok(())
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Decodes standard base64 (padding optional).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `berth login`
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    pub server: Option<String>,
}

/// `berth login`
pub async fn login(client: &Client, a: LoginArgs) -> Result<i32> {
    let server = a.server.clone().unwrap_or_else(|| DEFAULT_REGISTRY.into());
    if a.password_stdin && a.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    if a.password_stdin && a.password.is_some() {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match a.username {
        Some(u) => u,
        None if !crate::tty::stdin_is_tty() && !a.password_stdin => {
            bail!("Error: Cannot perform an interactive login from a non TTY device")
        }
        None => {
            print!("Username: ");
            std::io::stdout().flush()?;
            let mut l = String::new();
            std::io::stdin().read_line(&mut l)?;
            l.trim().to_string()
        }
    };
    let password = if a.password_stdin {
        let mut l = String::new();
        std::io::stdin().read_line(&mut l)?;
        l.trim_end_matches(['\n', '\r']).to_string()
    } else {
        match a.password {
            Some(p) => {
                eprintln!(
                    "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
                );
                p
            }
            None if crate::tty::stdin_is_tty() => {
                print!("Password: ");
                std::io::stdout().flush()?;
                let p = crate::tty::read_line_no_echo()?;
                println!();
                p
            }
            None => bail!("Error: Cannot perform an interactive login from a non TTY device"),
        }
    };
    let v = client
        .post_json(
            "/auth",
            Some(&json!({"username": username, "password": password, "serveraddress": server})),
        )
        .await?;
    let mut cfg = load_config();
    cfg["auths"][&server] = json!({"auth": base64(format!("{username}:{password}").as_bytes())});
    store_config(&cfg)?;
    println!(
        "{}",
        v.ci("Status")
            .and_then(Value::as_str)
            .unwrap_or("Login Succeeded")
    );
    Ok(0)
}

/// `berth logout`
#[derive(Args, Debug)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

/// `berth logout`
pub async fn logout(_client: &Client, a: LogoutArgs) -> Result<i32> {
    let server = a.server.unwrap_or_else(|| DEFAULT_REGISTRY.into());
    let mut cfg = load_config();
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(&server))
        .is_some();
    if removed {
        println!("Removing login credentials for {server}");
        store_config(&cfg)?;
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(split_ref("busybox"), ("busybox".into(), "".into()));
        assert_eq!(split_ref("busybox:1"), ("busybox".into(), "1".into()));
        assert_eq!(
            split_ref("localhost:5000/a/b"),
            ("localhost:5000/a/b".into(), "".into())
        );
        assert_eq!(
            split_ref("localhost:5000/a:t"),
            ("localhost:5000/a".into(), "t".into())
        );
        assert_eq!(split_ref("a@sha256:00"), ("a".into(), "sha256:00".into()));
    }

    #[test]
    fn b64() {
        assert_eq!(base64(b"{}"), "e30=");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(registry_of("busybox"), DEFAULT_REGISTRY);
        assert_eq!(
            normalize_ref("busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(normalize_ref("me/app:1"), "docker.io/me/app:1");
        assert_eq!(
            normalize_ref("localhost:5000/app:1"),
            "localhost:5000/app:1"
        );
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
    }

    #[test]
    fn image_list_rows() {
        let list = vec![
            json!({"Id": "sha256:3a34af191aeb10f8", "RepoTags": ["busybox:latest", "bb:x"],
                   "Created": 100, "Size": 1982256}),
            json!({"Id": "sha256:a1107799d20d33e0", "RepoTags": null, "Created": 100, "Size": 1920}),
        ];
        let rows = image_rows(&list, true, 103);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["Repository"], "busybox");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "3a34af191aeb");
        assert_eq!(rows[0]["Size"], "1.98MB");
        assert_eq!(rows[0]["CreatedSince"], "3 seconds ago");
        assert_eq!(rows[2]["Repository"], "<none>");
        assert_eq!(rows[2]["Size"], "1.92kB");
    }

    #[test]
    fn globbing() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("**/*.txt", "d/e/a.txt"));
        assert!(ignored("node_modules/x", &["node_modules".into()]));
        assert!(!ignored("keep.md", &["*.md".into(), "!keep.md".into()]));
    }

    #[tokio::test]
    async fn json_value_stream() {
        let chunks: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"{\"status\":\"a\"}\r\n{\"str")),
            Ok(Bytes::from_static(b"eam\":\"b\\n\"}{\"x\":1}")),
        ];
        let vals: Vec<Value> = json_values(futures::stream::iter(chunks))
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(
            vals,
            vec![
                json!({"status": "a"}),
                json!({"stream": "b\n"}),
                json!({"x": 1})
            ]
        );
    }
}

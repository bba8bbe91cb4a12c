//! Image commands: images, image inspect, tag, rmi, history, prune, import,
//! load, save, pull, push, build.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::{Stream, StreamExt};
use gotemplate::JsonExt;
use hyper::Method;
use serde_json::{json, Value};
use tokio_util::io::ReaderStream;

use super::container::{filters_json, go_time_string};
use super::{eprint_err, inspect_objects, InspectKind};
use crate::auth;
use crate::client::{
    body_stream, daemon_error, empty, full, query, stream_body, Body, Client, ReqOpts,
};
use crate::format::{self, human_duration, human_size_prec, short_id};
use oci::Reference;

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

pub use crate::jsonmessage::{JsonDisplay, StreamError};

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

/// [`display_stream_into`] for a build: a step taken from the cache says
/// `CACHED` (as BuildKit does) where the classic builder's stream, which the
/// docker CLI shows as is, says `Using cache`.
async fn display_build_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    mut d: JsonDisplay,
) -> Result<JsonDisplay> {
    let mut vals = Box::pin(json_values(Box::pin(body_stream(resp))));
    while let Some(v) = vals.next().await {
        let mut v = v?;
        if v.get("stream").and_then(Value::as_str) == Some(" ---> Using cache\n") {
            v["stream"] = Value::String(" ---> CACHED\n".into());
        }
        d.show(&v)?;
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

/// The `X-Registry-Auth` header for a registry domain, as docker's pull and
/// push resolve it. A credential helper that fails is reported and the
/// request goes out without credentials (docker ignores the error silently).
fn registry_auth_lenient(domain: &str) -> String {
    let store = auth::default_store_for_reading();
    match auth::registry_auth_header(&store, domain) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("WARNING: {e}");
            auth::AuthConfig::default().encode_header()
        }
    }
}

/// Sends `POST /images/create` for a reference, with credentials.
async fn image_create(
    client: &Client,
    r: &Reference,
    all_tags: bool,
    platform: Option<&str>,
    auth_header: String,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let mut params = vec![("fromImage", r.name())];
    if !all_tags {
        params.push(("tag", r.api_tag()));
    }
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        params.push(("platform", p.to_lowercase()));
    }
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&params)),
            empty(),
            ReqOpts {
                headers: vec![("X-Registry-Auth", auth_header)],
                ..Default::default()
            },
        )
        .await?;
    crate::client::check(resp).await
}

fn is_unauthorized(e: &anyhow::Error) -> bool {
    daemon_error(e).is_some_and(|d| d.status == 401)
}

/// docker's `RegistryAuthenticationPrivilegedFunc`: after a 401 from pull
/// or push, prompt for credentials (stored username as default) and return
/// the header for one retry. Like docker, the prompt and the header use
/// Docker Hub's address whatever the registry.
fn request_privilege(cmd: &str, domain: &str) -> Result<String> {
    println!("\nLogin prior to {cmd}:");
    let key = auth::auth_key_for_domain(domain);
    let key = if key == auth::INDEX_SERVER {
        key
    } else {
        auth::convert_to_hostname(&key)
    };
    let store = auth::default_store_for_reading();
    let default_user = match store.get(&key) {
        Ok(ac) => ac.username,
        Err(e) => {
            eprintln!(
                "Unable to retrieve stored credentials for {}, error: {e}.",
                auth::INDEX_SERVER
            );
            String::new()
        }
    };
    let ac = super::login::prompt_for_credentials("", "", &default_user, auth::INDEX_SERVER)?;
    Ok(ac.encode_header())
}

/// A display that shows nothing (`-q`).
fn quiet_display() -> JsonDisplay {
    JsonDisplay::with_writer(Box::new(std::io::sink()), false)
}

/// Pulls an image for `run`/`create` (docker's `pullImage`): progress on
/// stderr, none with `quiet`; credential errors are errors.
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let r = Reference::parse_normalized(image)?;
    let store = auth::default_store_for_reading();
    let header = auth::registry_auth_header(&store, &r.domain)?;
    let resp = image_create(client, &r, false, platform, header).await?;
    let display = if quiet {
        quiet_display()
    } else {
        JsonDisplay::new(true)
    };
    display_stream_into(resp, display).await?;
    Ok(())
}

/// `--disable-content-trust`: accepted for compatibility; Berth does not
/// verify signatures, so it has no effect.
#[derive(Args, Debug, Clone, Copy)]
pub struct ContentTrustArg {
    /// Skip image verification (always skipped: Berth has no content trust)
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
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
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM", hide_env = true)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub trust: ContentTrustArg,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// `berth pull`
pub async fn pull(client: &Client, a: PullArgs) -> Result<i32> {
    let mut r = Reference::parse_normalized(&a.image)?;
    if a.all_tags && !r.is_name_only() {
        bail!("tag can't be used with --all-tags/-a");
    }
    if !a.all_tags && r.is_name_only() {
        r = r.tag_name_only();
        if !a.quiet {
            println!("Using default tag: latest");
        }
    }
    let header = registry_auth_lenient(&r.domain);
    let platform = a.platform.as_deref();
    let resp = match image_create(client, &r, a.all_tags, platform, header).await {
        Err(e) if is_unauthorized(&e) => {
            let header = request_privilege("pull", &r.domain)?;
            image_create(client, &r, a.all_tags, platform, header).await?
        }
        other => other?,
    };
    let display = if a.quiet {
        quiet_display()
    } else {
        JsonDisplay::new(false)
    };
    display_stream_into(resp, display).await?;
    println!("{r}");
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
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub trust: ContentTrustArg,
    /// NAME[:TAG]
    pub image: String,
}

/// Parses `os[/arch[/variant]]` into the OCI platform JSON docker sends with
/// `push --platform` (containerd's `platforms.Parse` + normalization).
pub fn platform_json(s: &str) -> Result<String> {
    let parts: Vec<String> = s.split('/').map(str::to_lowercase).collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(String::is_empty) {
        bail!("\"{s}\": unknown operating system or architecture: invalid argument");
    }
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let norm_arch = |arch: &str, variant: &str| -> (String, String) {
        match (arch, variant) {
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".into(), v.into()),
            ("i386" | "i686" | "386", v) => ("386".into(), v.into()),
            ("aarch64" | "arm64", "8" | "v8") => ("arm64".into(), String::new()),
            ("aarch64" | "arm64", v) => ("arm64".into(), v.into()),
            ("armhf", _) => ("arm".into(), "v7".into()),
            ("armel", _) => ("arm".into(), "v6".into()),
            ("arm", "" | "7") => ("arm".into(), "v7".into()),
            ("arm", "5" | "6" | "8") => ("arm".into(), format!("v{variant}")),
            (a, v) => (a.into(), v.into()),
        }
    };
    let known_os = [
        "linux",
        "windows",
        "darwin",
        "freebsd",
        "netbsd",
        "openbsd",
        "solaris",
        "illumos",
        "android",
        "ios",
        "plan9",
        "aix",
        "js",
        "wasip1",
        "dragonfly",
    ];
    let (os, arch, variant) = match parts.as_slice() {
        [one] if known_os.contains(&one.as_str()) => {
            (one.clone(), host_arch.to_string(), String::new())
        }
        [one] => {
            let (a, v) = norm_arch(one, "");
            ("linux".to_string(), a, v)
        }
        [os, arch] => {
            let (a, v) = norm_arch(arch, "");
            (os.clone(), a, v)
        }
        [os, arch, variant] => {
            let (a, v) = norm_arch(arch, variant);
            (os.clone(), a, v)
        }
        _ => bail!("\"{s}\": unknown operating system or architecture: invalid argument"),
    };
    let mut m = serde_json::Map::new();
    m.insert("architecture".into(), json!(arch));
    m.insert("os".into(), json!(os));
    if !variant.is_empty() {
        m.insert("variant".into(), json!(variant));
    }
    Ok(Value::Object(m).to_string())
}

/// docker's notes for push aux messages (a manifest pushed instead of an
/// index, missing content).
fn push_notes(aux: &[Value]) -> Vec<String> {
    let mut notes = Vec::new();
    for a in aux {
        if a.ci("manifestPushedInsteadOfIndex")
            .and_then(Value::as_bool)
            == Some(true)
        {
            let d = |k: &str| {
                a.cptr(&format!("/{k}/digest"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            notes.push(format!(
                "Not all multiplatform-content is present and only the available single-platform image was pushed\n{} -> {}",
                d("originalIndex"),
                d("selectedManifest")
            ));
        }
        if a.ci("contentMissing").and_then(Value::as_bool) == Some(true) {
            notes.push("You're trying to push a manifest list/index which \n\t\t\t\treferences multiple platform specific manifests, but not all of them are available locally\n\t\t\t\tor available to the remote repository.\n\n\t\t\t\tMake sure you have all the referenced content and try again.\n\n\t\t\t\tYou can also push only a single platform specific manifest directly by specifying the platform you want to push with the --platform flag.".to_string());
        }
    }
    notes
}

/// docker's `tui.Output.PrintNote`: an "Info ->" header, continuation lines
/// indented under it; on a terminal the header is coloured, the text italic
/// and `--platform` bold.
pub fn note_text(msg: &str, tty: bool) -> String {
    const RESET: &str = "\x1b[0m";
    let (header, width) = if tty {
        (
            format!("\x1b[1m\x1b[106m\x1b[30mi{RESET}{RESET} \x1b[96mInfo \u{2192} {RESET}{RESET}"),
            9,
        )
    } else {
        (" Info -> ".to_string(), 9)
    };
    let msg = if tty {
        msg.replace("--platform", &format!("\x1b[1m--platform{RESET}"))
    } else {
        msg.to_string()
    };
    let mut out = format!("\n{header}");
    for (i, line) in msg.split('\n').enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(width));
        }
        if tty {
            out.push_str(&format!("\x1b[3m{line}{RESET}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `berth push`
pub async fn push(client: &Client, a: PushArgs) -> Result<i32> {
    let platform = match a.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let pj = platform_json(p).inspect_err(|_| eprint!("Invalid platform {p}"))?;
            print!(
                "{}",
                note_text(
                    "Using --platform pushes only the specified platform manifest of a multi-platform image index.\nOther components, like attestations, will not be included.\nTo push the complete multi-platform image, remove the --platform flag.\n",
                    std::io::stdout().is_terminal()
                )
            );
            Some(pj)
        }
        None => None,
    };
    let mut r = Reference::parse_normalized(&a.image)?;
    if a.all_tags && !r.is_name_only() {
        bail!("tag can't be used with --all-tags/-a");
    }
    if !a.all_tags && r.is_name_only() {
        r = r.tag_name_only();
        if !a.quiet {
            println!("Using default tag: latest");
        }
    }
    let header = registry_auth_lenient(&r.domain);
    if r.digest.is_some() {
        bail!("cannot push a digest reference");
    }
    let mut params = Vec::new();
    if !a.all_tags {
        if let Some(t) = &r.tag {
            params.push(("tag", t.clone()));
        }
    }
    if let Some(pj) = platform {
        if version_less(&client.version, "1.46") {
            bail!(
                "\"platform\" requires API version 1.46, but the Docker daemon API version is {}",
                client.version
            );
        }
        params.push(("platform", pj));
    }
    let path = format!("/images/{}/push{}", r.name(), query(&params));
    let try_push = |header: String| {
        let path = path.clone();
        async move {
            let resp = client
                .request(
                    Method::POST,
                    &path,
                    empty(),
                    ReqOpts {
                        headers: vec![("X-Registry-Auth", header)],
                        ..Default::default()
                    },
                )
                .await?;
            crate::client::check(resp).await
        }
    };
    let resp = match try_push(header).await {
        Err(e) if is_unauthorized(&e) => try_push(request_privilege("push", &r.domain)?).await?,
        other => other?,
    };
    let display = if a.quiet {
        quiet_display()
    } else {
        JsonDisplay::new(false)
    };
    let result = display_stream_into(resp, display).await;
    let d = result?;
    if a.quiet {
        println!("{r}");
    }
    let tty = std::io::stdout().is_terminal();
    for n in push_notes(&d.aux) {
        print!("{}", note_text(&n, tty));
    }
    Ok(0)
}

/// `a < b` for API versions ("1.41" < "1.46").
fn version_less(a: &str, b: &str) -> bool {
    let p = |v: &str| -> Vec<u32> { v.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    p(a) < p(b)
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
    let mut map = serde_json::Map::new();
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
        map.insert(id, Value::String(b64.encode(value)));
    }
    Ok(b64.encode(Value::Object(map).to_string()))
}

/// `X-Berth-Build-Ssh` for `--ssh ID[=SOCKET]` (SOCKET defaults to
/// $SSH_AUTH_SOCK; key files are not supported, only agent sockets).
fn ssh_header(specs: &[String]) -> Result<String> {
    use base64::Engine as _;
    let mut map = serde_json::Map::new();
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
        map.insert(id, Value::String(abs.display().to_string()));
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(Value::Object(map).to_string()))
}

/// `berth build`
pub async fn build(client: &Client, a: BuildArgs) -> Result<i32> {
    // A daemon on this machine reads a local directory context in place (Berth's
    // fast path: no tar, and its file-hash cache makes no-op rebuilds cheap);
    // anything else goes as a tar, as the docker CLI sends it.
    let local = match client.host {
        crate::client::Host::Unix(_) => {
            super::build_context::local_dir(&a.context, a.file.as_deref())
        }
        crate::client::Host::Tcp(_) => None,
    };
    let mut prepared = None;
    let df_rel = match &local {
        Some(l) => l.dockerfile.clone(),
        None => {
            let (ctx, df) = super::build_context::prepare(&a.context, a.file.as_deref())?;
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
        params.push(("cachefrom", json!(a.cache_from).to_string()));
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
                None => super::build_context::prepare(&a.context, a.file.as_deref())?.0,
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
    fn push_platforms_and_notes() {
        assert_eq!(
            platform_json("linux/amd64").unwrap(),
            r#"{"architecture":"amd64","os":"linux"}"#
        );
        assert_eq!(
            platform_json("linux/arm/v6").unwrap(),
            r#"{"architecture":"arm","os":"linux","variant":"v6"}"#
        );
        assert_eq!(
            platform_json("Linux/AArch64").unwrap(),
            r#"{"architecture":"arm64","os":"linux"}"#
        );
        assert!(platform_json("linux//x").is_err());
        assert!(version_less("1.41", "1.46"));
        assert!(!version_less("1.51", "1.46"));
        assert_eq!(note_text("a\nb", false), "\n Info -> a\n         b\n");
        assert_eq!(
            note_text("x --platform", true),
            "\n\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo \u{2192} \x1b[0m\x1b[0m\x1b[3mx \x1b[1m--platform\x1b[0m\x1b[0m\n"
        );
        let notes = push_notes(&[json!({"manifestPushedInsteadOfIndex": true,
            "originalIndex": {"digest": "sha256:i"}, "selectedManifest": {"digest": "sha256:m"}})]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].ends_with("sha256:i -> sha256:m"));
        assert!(push_notes(&[json!({"Tag": "1", "Digest": "sha256:d", "Size": 1})]).is_empty());
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

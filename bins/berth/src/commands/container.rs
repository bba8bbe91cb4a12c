//! Container commands: run, create, start, stop, kill, restart, wait, rm,
//! rename, ps, logs, attach, exec, top.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::{ArgAction, Args};
use gotemplate::JsonExt;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Map, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use super::opts::{timestamp_arg, ContainerOpts, ImageAndCommand};
use super::{eprint_err, inspect_objects, InspectKind};
use crate::client::{body_stream, daemon_error, empty, enc, query, Client, ReqOpts};
use crate::format::{self, ellipsis, human_duration, short_id, status_string};
use crate::stream::{parse_detach_keys, pump_body, pump_input, pump_output, DetachWatch};
use crate::tty;
use oci::Reference;

// ---------------------------------------------------------------------------
// run / create
// ---------------------------------------------------------------------------

/// `berth run`
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
    #[command(flatten)]
    pub ic: ImageAndCommand,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

/// `berth create`
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
    #[command(flatten)]
    pub ic: ImageAndCommand,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

/// Adds ":latest" to a reference without tag or digest.
pub fn with_default_tag(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Creates a container, pulling the image like docker when it is missing.
async fn create_container(
    client: &Client,
    opts: &ContainerOpts,
    ic: &ImageAndCommand,
    detach: bool,
) -> Result<String> {
    let body = opts.create_body(ic, detach)?;
    let mut params = Vec::new();
    if let Some(n) = &opts.name {
        params.push(("name", n.clone()));
    }
    if let Some(p) = &opts.platform {
        params.push(("platform", p.clone()));
    }
    let path = format!("/containers/create{}", query(&params));
    match opts.pull.as_str() {
        "always" => {
            super::image::pull_image(client, ic.image(), opts.platform.as_deref(), opts.quiet)
                .await?;
        }
        "missing" | "never" => {}
        other => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    }
    let created = match client.post_json(&path, Some(&body)).await {
        Ok(v) => v,
        Err(e)
            if opts.pull == "missing"
                && daemon_error(&e)
                    .is_some_and(|d| d.status == 404 && d.message.contains("No such image")) =>
        {
            if !opts.quiet {
                // docker prints the familiar name ("busybox:latest").
                let shown = Reference::parse_normalized(ic.image())
                    .map(|r| r.tag_name_only().familiar_string())
                    .unwrap_or_else(|_| with_default_tag(ic.image()));
                eprintln!("Unable to find image '{shown}' locally");
            }
            super::image::pull_image(client, ic.image(), opts.platform.as_deref(), opts.quiet)
                .await?;
            client.post_json(&path, Some(&body)).await?
        }
        Err(e) => return Err(e),
    };
    if let Some(ws) = created.ci("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    created
        .ci("Id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("daemon returned no container id"))
}

/// Exit status docker uses when the daemon refuses to start a command.
fn start_failure_code(e: &anyhow::Error) -> i32 {
    let msg = e.to_string();
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

fn print_run_error(cmd: &str, e: &anyhow::Error) {
    tty::restore();
    eprintln!("berth: {e:#}\n\nRun 'berth {cmd} --help' for more information");
}

/// `berth create`
pub async fn create(client: &Client, a: CreateArgs) -> Result<i32> {
    // Like docker, `create` records the attach settings of a foreground run.
    match create_container(client, &a.opts, &a.ic, false).await {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            // Unlike run, docker create reports errors plainly with status 1.
            eprint_err(&e);
            Ok(1)
        }
    }
}

/// `berth run`
pub async fn run(client: &Client, a: RunArgs) -> Result<i32> {
    let (ai, ao, ae) = match a.opts.attach_streams(a.detach) {
        Ok(s) => s,
        Err(e) => {
            print_run_error("run", &e);
            return Ok(125);
        }
    };
    if a.detach && !a.opts.attach.is_empty() {
        eprintln!("conflicting options: cannot specify both --attach and --detach");
        return Ok(1);
    }
    if a.opts.rm && !matches!(a.opts.restart.as_str(), "no" | "") {
        print_run_error(
            "run",
            &anyhow!("conflicting options: cannot specify both --restart and --rm"),
        );
        return Ok(125);
    }
    if a.opts.tty && ai && !tty::stdin_is_tty() {
        eprintln!("the input device is not a TTY");
        return Ok(1);
    }
    let detach_keys = match a
        .opts
        .detach_keys
        .as_deref()
        .map(parse_detach_keys)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            print_run_error("run", &e);
            return Ok(125);
        }
    };
    let id = match create_container(client, &a.opts, &a.ic, a.detach).await {
        Ok(id) => id,
        Err(e) => {
            print_run_error("run", &e);
            return Ok(125);
        }
    };
    if a.detach {
        if let Err(e) = start_container(client, &id).await {
            print_run_error("run", &e);
            return Ok(start_failure_code(&e));
        }
        println!("{id}");
        return Ok(0);
    }
    let spec = AttachSpec {
        stdin: ai,
        stdout: ao,
        stderr: ae,
        tty: a.opts.tty,
        detach_keys: a.opts.detach_keys.clone(),
        detach_seq: detach_keys.unwrap_or_else(|| vec![16, 17]),
        sig_proxy: a.opts.sig_proxy && !a.opts.tty,
        logs: false,
    };
    let condition = if a.opts.rm { "removed" } else { "next-exit" };
    run_attached(client, &id, &spec, condition, true, "run").await
}

async fn start_container(client: &Client, id: &str) -> Result<()> {
    client
        .call(
            Method::POST,
            &format!("/containers/{}/start", enc(id)),
            None,
            empty(),
        )
        .await?;
    Ok(())
}

/// How to attach to a container.
pub struct AttachSpec {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub detach_keys: Option<String>,
    pub detach_seq: Vec<u8>,
    pub sig_proxy: bool,
    pub logs: bool,
}

/// Sends `POST /containers/{id}/wait?condition=` and returns once the
/// request has reached the daemon; the handle yields the exit code.
async fn spawn_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> tokio::task::JoinHandle<Result<i64>> {
    let (tx, rx) = oneshot::channel();
    let c = client.clone();
    let path = format!("/containers/{}/wait?condition={condition}", enc(id));
    let h = tokio::spawn(async move {
        let resp = c
            .request(
                Method::POST,
                &path,
                empty(),
                ReqOpts {
                    sent: Some(tx),
                    ..Default::default()
                },
            )
            .await?;
        let resp = crate::client::check(resp).await?;
        let bytes = resp.into_body().collect().await?.to_bytes();
        let v: Value = serde_json::from_slice(&bytes)?;
        if let Some(m) = v
            .cptr("/Error/Message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            bail!("{m}");
        }
        Ok(v.ci("StatusCode").and_then(Value::as_i64).unwrap_or(0))
    });
    let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
    h
}

fn spawn_sig_proxy(client: &Client, id: &str) -> tokio::task::JoinHandle<()> {
    let c = client.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
        for (k, name) in kinds {
            let Ok(mut s) = signal(k) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let path = format!("/containers/{}/kill?signal={name}", enc(&id));
            if let Err(e) = c.call(Method::POST, &path, None, empty()).await {
                eprintln!("Error sending signal: {e}");
            }
        }
    })
}

fn spawn_resize(client: &Client, path_prefix: String) -> tokio::task::JoinHandle<()> {
    let c = client.clone();
    tokio::spawn(async move {
        tty::watch_resize(|h, w| {
            let c = c.clone();
            let p = format!("{path_prefix}/resize?h={h}&w={w}");
            async move {
                let _ = c.call(Method::POST, &p, None, empty()).await;
            }
        })
        .await;
    })
}

/// Attaches, optionally starts, streams until the output ends and returns
/// the container's exit code.
async fn run_attached(
    client: &Client,
    id: &str,
    spec: &AttachSpec,
    condition: &str,
    start: bool,
    cmd: &str,
) -> Result<i32> {
    let mut params = vec![("stream", "1".to_string())];
    if spec.stdin {
        params.push(("stdin", "1".into()));
    }
    if spec.stdout {
        params.push(("stdout", "1".into()));
    }
    if spec.stderr {
        params.push(("stderr", "1".into()));
    }
    if spec.logs {
        params.push(("logs", "1".into()));
    }
    if let Some(k) = &spec.detach_keys {
        params.push(("detachKeys", k.clone()));
    }
    let path = format!("/containers/{}/attach{}", enc(id), query(&params));
    let conn = match client.hijack(&path, None).await {
        Ok(c) => c,
        Err(e) => {
            if start {
                print_run_error(cmd, &e);
                return Ok(125);
            }
            return Err(e);
        }
    };
    let wait = spawn_wait(client, id, condition).await;
    let _raw = if spec.tty && spec.stdin && tty::stdin_is_tty() {
        Some(tty::RawGuard::enter()?)
    } else {
        None
    };
    let (rd, wr) = tokio::io::split(conn);
    let watch = DetachWatch::new(spec.detach_seq.clone());
    let detached = watch.seen.clone();
    let input = if spec.stdin {
        Some(tokio::spawn(pump_input(wr, Some(watch))))
    } else {
        drop(wr);
        None
    };
    let output = tokio::spawn(pump_output(rd, spec.tty));
    if start {
        if let Err(e) = start_container(client, id).await {
            drop(_raw);
            output.abort();
            if let Some(i) = input {
                i.abort();
            }
            print_run_error(cmd, &e);
            let code = start_failure_code(&e);
            // With --rm the daemon removes the container; let the wait finish.
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
            return Ok(code);
        }
    }
    let resize = if spec.tty && tty::stdout_is_tty() {
        Some(spawn_resize(client, format!("/containers/{}", enc(id))))
    } else {
        None
    };
    let sigs = if spec.sig_proxy {
        Some(spawn_sig_proxy(client, id))
    } else {
        None
    };
    let out_res = output.await;
    if let Some(r) = resize {
        r.abort();
    }
    if let Some(i) = input {
        i.abort();
    }
    drop(_raw);
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        wait.abort();
        if let Some(s) = sigs {
            s.abort();
        }
        if cmd == "attach" {
            // docker attach reports the detach as an error.
            eprintln!("read escape sequence");
            return Ok(1);
        }
        return Ok(0);
    }
    if let Ok(Err(e)) = out_res {
        eprintln!("{e}");
    }
    let code = match wait.await {
        Ok(Ok(c)) => c as i32,
        Ok(Err(e)) => {
            eprintln!("berth: {e}");
            125
        }
        Err(_) => 125,
    };
    if let Some(s) = sigs {
        s.abort();
    }
    Ok(code)
}

// ---------------------------------------------------------------------------
// start / stop / kill / restart / wait / rm / rename
// ---------------------------------------------------------------------------

/// `berth start`
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Runs `f` on every name, printing errors like docker; exit 1 if any failed.
async fn for_each<F, Fut>(names: &[String], print_name: bool, f: F) -> Result<i32>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut code = 0;
    for n in names {
        match f(n.clone()).await {
            Ok(()) => {
                if print_name {
                    println!("{n}");
                }
            }
            Err(e) => {
                eprint_err(&e);
                code = 1;
            }
        }
    }
    Ok(code)
}

/// Sends one bodyless request per container (`path` builds the URL from the
/// encoded name) and prints each name that succeeded, like docker.
async fn call_each(
    client: &Client,
    names: &[String],
    method: Method,
    path: impl Fn(&str) -> String,
) -> Result<i32> {
    for_each(names, true, |n| {
        let url = path(&enc(&n));
        let method = method.clone();
        async move { client.call(method, &url, None, empty()).await.map(|_| ()) }
    })
    .await
}

/// `berth start`
pub async fn start(client: &Client, a: StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let id = &a.containers[0];
        let info = client
            .get_json(&format!("/containers/{}/json", enc(id)))
            .await?;
        let t = info
            .cptr("/Config/Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let open_stdin = info
            .cptr("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let stdin = a.interactive && open_stdin;
        if t && stdin && !tty::stdin_is_tty() {
            bail!("the input device is not a TTY");
        }
        let seq = match &a.detach_keys {
            Some(k) => parse_detach_keys(k)?,
            None => vec![16, 17],
        };
        let spec = AttachSpec {
            stdin,
            stdout: true,
            stderr: true,
            tty: t,
            detach_keys: a.detach_keys.clone(),
            detach_seq: seq,
            sig_proxy: !t,
            logs: false,
        };
        let full_id = info
            .ci("Id")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_string();
        return run_attached(client, &full_id, &spec, "next-exit", true, "start").await;
    }
    let mut code = 0;
    let mut failed = Vec::new();
    for n in &a.containers {
        match start_container(client, n).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprint_err(&e);
                failed.push(n.clone());
                code = 1;
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("Error: failed to start containers: {}", failed.join(", "));
    }
    Ok(code)
}

/// `berth stop` and `berth restart` (same flags).
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth restart`
pub type RestartArgs = StopArgs;

/// `berth stop`
pub async fn stop(client: &Client, a: StopArgs) -> Result<i32> {
    stop_or_restart(client, a, "stop").await
}

/// `berth restart`
pub async fn restart(client: &Client, a: RestartArgs) -> Result<i32> {
    stop_or_restart(client, a, "restart").await
}

async fn stop_or_restart(client: &Client, a: StopArgs, action: &str) -> Result<i32> {
    let mut params = Vec::new();
    if let Some(t) = a.time {
        params.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        params.push(("signal", s.clone()));
    }
    let q = query(&params);
    call_each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/{action}{q}")
    })
    .await
}

/// `berth kill`
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`
pub async fn kill(client: &Client, a: KillArgs) -> Result<i32> {
    let q = match &a.signal {
        Some(s) => query(&[("signal", s.clone())]),
        None => String::new(),
    };
    call_each(client, &a.containers, Method::POST, |n| {
        format!("/containers/{n}/kill{q}")
    })
    .await
}

/// `berth wait`
#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth wait`
pub async fn wait(client: &Client, a: WaitArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.containers {
        let h = spawn_wait(client, n, "not-running").await;
        match h.await {
            Ok(Ok(c)) => println!("{c}"),
            Ok(Err(e)) => {
                eprint_err(&e);
                code = 1;
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `berth rm`
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth rm`
pub async fn rm(client: &Client, a: RmArgs) -> Result<i32> {
    let mut params = Vec::new();
    if a.force {
        params.push(("force", "1".to_string()));
    }
    if a.volumes {
        params.push(("v", "1".to_string()));
    }
    if a.link {
        params.push(("link", "1".to_string()));
    }
    let q = query(&params);
    call_each(client, &a.containers, Method::DELETE, |n| {
        format!("/containers/{n}{q}")
    })
    .await
}

/// `berth rename`
#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

/// `berth rename`
pub async fn rename(client: &Client, a: RenameArgs) -> Result<i32> {
    if a.new_name.trim().is_empty() {
        bail!("Error: neither old nor new names may be empty");
    }
    let path = format!(
        "/containers/{}/rename{}",
        enc(&a.container),
        query(&[("name", a.new_name.clone())])
    );
    if let Err(e) = client.call(Method::POST, &path, None, empty()).await {
        eprint_err(&e);
        eprintln!("Error: failed to rename container named {}", a.container);
        return Ok(1);
    }
    Ok(0)
}

// ---------------------------------------------------------------------------
// ps
// ---------------------------------------------------------------------------

/// `berth ps`
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// Parses repeated `-f key=value` into the API's filters JSON.
pub fn filters_json(filters: &[String]) -> Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut m: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(Some(serde_json::to_string(&m)?))
}

/// strconv.Quote
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn format_ports(ports: &[Value]) -> String {
    let mut items: Vec<(String, u64, String)> = ports
        .iter()
        .map(|p| {
            let private = p.ci("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
            let typ = p.ci("Type").and_then(Value::as_str).unwrap_or("tcp");
            let s = match p.ci("PublicPort").and_then(Value::as_u64) {
                Some(public) if public != 0 => {
                    let ip = p.ci("IP").and_then(Value::as_str).unwrap_or("");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{private}/{typ}")
                }
                _ => format!("{private}/{typ}"),
            };
            (
                p.ci("IP").and_then(Value::as_str).unwrap_or("").to_string(),
                private,
                s,
            )
        })
        .collect();
    items.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    items.dedup_by(|a, b| a.2 == b.2);
    items
        .into_iter()
        .map(|i| i.2)
        .collect::<Vec<_>>()
        .join(", ")
}

fn labels_string(labels: Option<&Map<String, Value>>) -> (String, Value) {
    let Some(m) = labels else {
        return (String::new(), json!({}));
    };
    let mut kv: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    kv.sort();
    (kv.join(","), Value::Object(m.clone()))
}

/// Local time like Go's `time.Time.String()` without the monotonic part.
pub fn go_time_string(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) => {
            let z = t.format("%Z").to_string();
            let z = if z == "+00:00" { "UTC".to_string() } else { z };
            format!("{} {}", t.format("%Y-%m-%d %H:%M:%S %z"), z)
        }
        None => unix.to_string(),
    }
}

/// One `docker ps` formatter row for a container list entry.
pub fn ps_row(c: &Value, trunc: bool, now: i64) -> Value {
    let s = |k: &str| c.ci(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = s("Id");
    let names: Vec<String> = c
        .ci("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/'))
                // Link names ("/other/alias") are hidden like docker does.
                .filter(|n| !n.contains('/'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut image = s("Image");
    if image.is_empty() {
        image = "<no image>".into();
    } else if trunc {
        if image.starts_with("sha256:") {
            image = short_id(&image);
        } else if let Some((n, _)) = image.split_once('@') {
            image = n.to_string();
        }
    }
    let command = s("Command");
    let command = go_quote(&if trunc {
        ellipsis(&command, 20)
    } else {
        command
    });
    let created = c.ci("Created").and_then(Value::as_i64).unwrap_or(0);
    let state = s("State");
    let mut status = s("Status");
    if status.is_empty() {
        status = status_string(&state, 0, None, None, now);
    }
    let ports = format_ports(
        c.ci("Ports")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    );
    let (labels, label_map) = labels_string(c.ci("Labels").and_then(Value::as_object));
    let networks = c
        .cptr("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let mounts: Vec<String> = c
        .ci("Mounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| {
                    let name = m
                        .ci("Name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .or_else(|| m.ci("Source").and_then(Value::as_str))
                        .unwrap_or("");
                    if trunc {
                        ellipsis(name, 15)
                    } else {
                        name.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let local_volumes = c
        .ci("Mounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|m| m.ci("Driver").and_then(Value::as_str) == Some("local"))
                .count()
        })
        .unwrap_or(0);
    let size = {
        let rw = c.ci("SizeRw").and_then(Value::as_i64).unwrap_or(0);
        let root = c.ci("SizeRootFs").and_then(Value::as_i64).unwrap_or(0);
        let srw = format::human_size_prec(rw as f64, 3);
        if root > 0 {
            format!(
                "{srw} (virtual {})",
                format::human_size_prec(root as f64, 3)
            )
        } else {
            srw
        }
    };
    json!({
        "ID": if trunc { short_id(&id) } else { id },
        "Names": names.join(","),
        "Image": image,
        "Command": command,
        "CreatedAt": go_time_string(created),
        "RunningFor": format!("{} ago", human_duration(now - created)),
        "Status": status,
        "State": state,
        "Ports": ports,
        "Labels": labels,
        "__Label": label_map,
        "Networks": networks,
        "Mounts": mounts.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Size": size,
        "__json_html": true,
        "Platform": c.ci("ImageManifestDescriptor").and_then(|d| d.ci("platform")).cloned().unwrap_or(Value::Null),
    })
}

/// Header names of the `docker ps` columns.
pub fn ps_headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
        "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS",
        "State": "STATE", "Ports": "PORTS", "Labels": "LABELS", "Networks": "NETWORKS",
        "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "Platform": "PLATFORM", "__json_html": true,
        "__Label": {}
    })
}

/// `berth ps`
pub async fn ps(client: &Client, a: PsArgs) -> Result<i32> {
    let mut params = Vec::new();
    let limit = if a.latest { 1 } else { a.last };
    if a.all || limit > 0 {
        params.push(("all", "1".to_string()));
    }
    if limit > 0 {
        params.push(("limit", limit.to_string()));
    }
    // Like docker, ask for sizes when the format shows them.
    let wants_size = a.size
        || (!a.quiet
            && a.format
                .as_deref()
                .is_some_and(|f| f == "json" || f.contains(".Size") || f.contains("json .}}")));
    if wants_size {
        params.push(("size", "1".to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        params.push(("filters", f));
    }
    let list = client
        .get_json(&format!("/containers/json{}", query(&params)))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = list
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|c| ps_row(c, !a.no_trunc, now))
        .collect();
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some("table") => default_ps_format(a.size),
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
            None => default_ps_format(a.size),
        }
    };
    print!("{}", format::render_rows(&format, &ps_headers(), &rows)?);
    Ok(0)
}

fn default_ps_format(size: bool) -> String {
    let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
    if size {
        f.push_str("\t{{.Size}}");
    }
    f
}

// ---------------------------------------------------------------------------
// inspect / logs / attach / exec / top
// ---------------------------------------------------------------------------

/// `berth container inspect`
#[derive(Args, Debug)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth container inspect`
pub async fn inspect(client: &Client, a: ContainerInspectArgs) -> Result<i32> {
    inspect_objects(
        client,
        &a.containers,
        InspectKind::Container,
        a.format.as_deref(),
        a.size,
    )
    .await
}

/// `berth logs`
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

/// `berth logs`
pub async fn logs(client: &Client, a: LogsArgs) -> Result<i32> {
    let info = client
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    let tty = info
        .cptr("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let now = chrono::Utc::now().timestamp();
    let mut params = vec![("stdout", "1".to_string()), ("stderr", "1".to_string())];
    if a.follow {
        params.push(("follow", "1".into()));
    }
    if a.timestamps {
        params.push(("timestamps", "1".into()));
    }
    if a.details {
        params.push(("details", "1".into()));
    }
    params.push(("tail", a.tail.clone()));
    if let Some(s) = &a.since {
        params.push(("since", timestamp_arg(s, now)));
    }
    if let Some(s) = &a.until {
        params.push(("until", timestamp_arg(s, now)));
    }
    let id = info
        .ci("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_string();
    let resp = client
        .call(
            Method::GET,
            &format!("/containers/{}/logs{}", enc(&id), query(&params)),
            None,
            empty(),
        )
        .await?;
    let stream = Box::pin(body_stream(resp));
    pump_body(stream, tty).await?;
    Ok(0)
}

/// `berth attach`
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

/// `berth attach`
pub async fn attach(client: &Client, a: AttachArgs) -> Result<i32> {
    let info = client
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    let running = info
        .cptr("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if info
        .cptr("/State/Paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let t = info
        .cptr("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let open_stdin = info
        .cptr("/Config/OpenStdin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = !a.no_stdin && open_stdin;
    if t && stdin && !tty::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    let seq = match &a.detach_keys {
        Some(k) => parse_detach_keys(k)?,
        None => vec![16, 17],
    };
    let spec = AttachSpec {
        stdin,
        stdout: true,
        stderr: true,
        tty: t,
        detach_keys: a.detach_keys.clone(),
        detach_seq: seq,
        sig_proxy: a.sig_proxy && !t,
        logs: false,
    };
    let id = info
        .ci("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_string();
    run_attached(client, &id, &spec, "not-running", false, "attach").await
}

/// `berth exec`
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", required = true, num_args = 2..,
          trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `berth exec`
pub async fn exec(client: &Client, a: ExecArgs) -> Result<i32> {
    if a.tty && a.interactive && !a.detach && !tty::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(super::opts::read_env_file(f)?);
    }
    env.extend(a.env.iter().cloned());
    let mut body = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Env": env,
        "Cmd": &a.args[1..],
        "Privileged": a.privileged,
        "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
    });
    if let Some(k) = &a.detach_keys {
        parse_detach_keys(k)?;
        body["DetachKeys"] = json!(k);
    }
    if a.tty {
        if let Some((h, w)) = tty::size() {
            body["ConsoleSize"] = json!([h, w]);
        }
    }
    let created = client
        .post_json(
            &format!("/containers/{}/exec", enc(&a.args[0])),
            Some(&body),
        )
        .await?;
    let exec_id = created
        .ci("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("daemon returned no exec id"))?
        .to_string();
    let start_path = format!("/exec/{}/start", enc(&exec_id));
    if a.detach {
        client
            .post_json(&start_path, Some(&json!({"Detach": true, "Tty": a.tty})))
            .await?;
        return Ok(0);
    }
    let conn = client
        .hijack(&start_path, Some(&json!({"Detach": false, "Tty": a.tty})))
        .await?;
    let _raw = if a.tty && a.interactive && tty::stdin_is_tty() {
        Some(tty::RawGuard::enter()?)
    } else {
        None
    };
    let (rd, wr) = tokio::io::split(conn);
    let seq = match &a.detach_keys {
        Some(k) => parse_detach_keys(k)?,
        None => vec![16, 17],
    };
    let watch = DetachWatch::new(seq);
    let detached = watch.seen.clone();
    let input = if a.interactive {
        Some(tokio::spawn(pump_input(wr, Some(watch))))
    } else {
        drop(wr);
        None
    };
    let resize = if a.tty && tty::stdout_is_tty() {
        Some(spawn_resize(client, format!("/exec/{}", enc(&exec_id))))
    } else {
        None
    };
    let out = pump_output(rd, a.tty).await;
    if let Some(r) = resize {
        r.abort();
    }
    if let Some(i) = input {
        i.abort();
    }
    drop(_raw);
    out?;
    if detached.load(std::sync::atomic::Ordering::SeqCst) {
        // Detached with the detach keys: the process goes on.
        return Ok(0);
    }
    // The stream can close a moment before the daemon records the exit
    // code: poll briefly while the exec still shows as running.
    let path = format!("/exec/{}/json", enc(&exec_id));
    let mut info = client.get_json(&path).await?;
    for _ in 0..100 {
        if !info.ci("Running").and_then(Value::as_bool).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        info = client.get_json(&path).await?;
    }
    Ok(info.ci("ExitCode").and_then(Value::as_i64).unwrap_or(0) as i32)
}

/// `berth top`
#[derive(Args, Debug)]
pub struct TopArgs {
    /// CONTAINER [ps OPTIONS]
    #[arg(value_name = "CONTAINER [ps OPTIONS]", required = true, num_args = 1..,
          trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `berth top`
pub async fn top(client: &Client, a: TopArgs) -> Result<i32> {
    let container = a.args.first().cloned().unwrap_or_default();
    let ps_args = a.args.get(1..).unwrap_or(&[]);
    let q = if ps_args.is_empty() {
        String::new()
    } else {
        query(&[("ps_args", ps_args.join(" "))])
    };
    let v = client
        .get_json(&format!("/containers/{}/top{q}", enc(&container)))
        .await?;
    let titles: Vec<String> = v
        .ci("Titles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut text = titles.join("\t");
    for p in v
        .ci("Processes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let cells: Vec<String> = p
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        text.push('\n');
        text.push_str(&cells.join("\t"));
    }
    println!("{}", format::tabwrite_min(&text, 20));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tags() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            with_default_tag("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(with_default_tag("x@sha256:abc"), "x@sha256:abc");
    }

    #[test]
    fn ps_rows() {
        let c = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "busybox",
            "Command": "sleep 100000000000000000000", "Created": 1000, "State": "running",
            "Status": "Up 3 seconds",
            "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "Type": "tcp", "IP": "0.0.0.0"},
                      {"PrivatePort": 53, "Type": "udp"}],
            "Labels": {"b": "2", "a": "1"}
        });
        let r = ps_row(&c, true, 1005);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(r["RunningFor"], "5 seconds ago");
        assert_eq!(r["Ports"], "53/udp, 0.0.0.0:8080->80/tcp");
        assert_eq!(r["Labels"], "a=1,b=2");
        let t = gotemplate::Template::parse("{{.Label \"b\"}}").unwrap();
        assert_eq!(t.execute(&r).unwrap(), "2");
        let full = ps_row(&c, false, 1005);
        assert_eq!(full["ID"], "0123456789abcdef0123");
        assert_eq!(full["Command"], "\"sleep 100000000000000000000\"");
    }

    #[test]
    fn filters() {
        assert_eq!(filters_json(&[]).unwrap(), None);
        assert_eq!(
            filters_json(&["status=exited".into(), "label=a=b".into()])
                .unwrap()
                .unwrap(),
            r#"{"label":{"a=b":true},"status":{"exited":true}}"#
        );
        assert!(filters_json(&["bad".into()]).is_err());
    }
}

// ---------------------------------------------------------------------------
// pause / unpause / port / diff / export / commit
// ---------------------------------------------------------------------------

/// `berth pause` / `berth unpause`
#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth pause`
pub async fn pause(client: &Client, a: PauseArgs) -> Result<i32> {
    simple_post_each(client, &a.containers, "pause").await
}

/// `berth unpause`
pub async fn unpause(client: &Client, a: PauseArgs) -> Result<i32> {
    simple_post_each(client, &a.containers, "unpause").await
}

async fn simple_post_each(client: &Client, names: &[String], action: &str) -> Result<i32> {
    for_each(names, true, |n| async move {
        client
            .call(
                Method::POST,
                &format!("/containers/{}/{action}", enc(&n)),
                None,
                empty(),
            )
            .await
            .map(|_| ())
    })
    .await
}

/// `berth port`
#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `berth port`
pub async fn port(client: &Client, a: PortArgs) -> Result<i32> {
    let info = client
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    let ports = info
        .cptr("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let want = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k.as_str(), ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut found = false;
    for k in keys {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in ports[k].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let ip = b.ci("HostIp").and_then(Value::as_str).unwrap_or("");
            let hp = b.ci("HostPort").and_then(Value::as_str).unwrap_or("");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            found = true;
            if want.is_some() {
                println!("{ip}:{hp}");
            } else {
                println!("{k} -> {ip}:{hp}");
            }
        }
    }
    if let (Some(w), false) = (&want, found) {
        bail!("Error: No public port '{w}' published for {}", a.container);
    }
    Ok(0)
}

/// `berth diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

/// `berth diff`
pub async fn diff(client: &Client, a: DiffArgs) -> Result<i32> {
    let v = client
        .get_json(&format!("/containers/{}/changes", enc(&a.container)))
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
        .post_json(&format!("/commit{}", query(&params)), Some(&json!({})))
        .await?;
    println!("{}", v.ci("Id").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

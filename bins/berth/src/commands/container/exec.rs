//! `berth exec`.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::Args;
use gotemplate::JsonExt;
use serde_json::{json, Value};

use super::attach::spawn_resize;
use crate::client::{enc, Client};
use crate::commands::opts::read_env_file;
use crate::stream::{parse_detach_keys, pump_input, pump_output, DetachWatch};
use crate::tty;

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
        env.extend(read_env_file(f)?);
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
    let created: Value = client
        .post_json(&format!("/containers/{}/exec", enc(&a.args[0])), &body)
        .await?;
    let exec_id = created
        .ci("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("daemon returned no exec id"))?
        .to_string();
    let start_path = format!("/exec/{}/start", enc(&exec_id));
    if a.detach {
        client
            .post_json::<_, Value>(&start_path, &json!({"Detach": true, "Tty": a.tty}))
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
    let mut info = client.get_json::<Value>(&path).await?;
    for _ in 0..100 {
        if !info.ci("Running").and_then(Value::as_bool).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        info = client.get_json::<Value>(&path).await?;
    }
    Ok(info.ci("ExitCode").and_then(Value::as_i64).unwrap_or(0) as i32)
}

//! `berth exec`.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use super::attach::spawn_resize;
use crate::client::models::{ExecConfig, ExecStartConfig};
use crate::client::Client;
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
    // Like docker: a missing container is reported before anything else
    // (and before an exec instance is created that nothing would start).
    client.container_inspect(&a.args[0]).await?;
    if a.tty && a.interactive && !a.detach && !tty::stdin_is_tty() {
        bail!("the input device is not a TTY");
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().cloned());
    let detach_keys = match &a.detach_keys {
        Some(k) => {
            parse_detach_keys(k)?;
            Some(k.clone())
        }
        None => None,
    };
    let cfg = ExecConfig {
        attach_stdin: Some(a.interactive && !a.detach),
        attach_stdout: Some(!a.detach),
        attach_stderr: Some(!a.detach),
        tty: Some(a.tty),
        env: Some(env),
        cmd: Some(a.args[1..].to_vec()),
        privileged: Some(a.privileged),
        user: Some(a.user.clone().unwrap_or_default()),
        working_dir: Some(a.workdir.clone().unwrap_or_default()),
        detach_keys,
        console_size: a
            .tty
            .then(tty::size)
            .flatten()
            .map(|(h, w)| vec![usize::from(h), usize::from(w)]),
    };
    let exec_id = client.exec_create(&a.args[0], &cfg).await?.id;
    let start = ExecStartConfig {
        detach: Some(a.detach),
        tty: Some(a.tty),
        console_size: None,
    };
    if a.detach {
        client.exec_start_detached(&exec_id, &start).await?;
        return Ok(0);
    }
    let conn = client.exec_attach(&exec_id, &start).await?;
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
        Some(spawn_resize(client, exec_id.clone(), true))
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
    let mut info = client.exec_inspect(&exec_id).await?;
    for _ in 0..100 {
        if !info.running.unwrap_or(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        info = client.exec_inspect(&exec_id).await?;
    }
    Ok(info.exit_code.unwrap_or(0) as i32)
}

//! State changes of existing containers: start, stop, restart, kill, wait,
//! rm, rename, pause, unpause.

use anyhow::{bail, Result};
use clap::Args;

use super::attach::{run_attached, spawn_wait, start_container, AttachSpec};
use crate::client::{Client, RemoveOptions};
use crate::commands::eprint_err;

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

/// `berth start`
pub async fn start(client: &Client, a: StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let id = &a.containers[0];
        let info = client.container_inspect(id).await?;
        let config = info.config.unwrap_or_default();
        let spec = AttachSpec::for_container(&config, a.interactive, &a.detach_keys, true)?;
        let full_id = info.id.unwrap_or_else(|| id.clone());
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
    let signal = a.signal.as_deref();
    for_each(&a.containers, true, |n| async move {
        if action == "restart" {
            client.container_restart(&n, signal, a.time).await?;
        } else {
            client.container_stop(&n, signal, a.time).await?;
        }
        Ok(())
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
    let signal = a.signal.as_deref();
    for_each(&a.containers, true, |n| async move {
        Ok(client.container_kill(&n, signal).await?)
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
    let opts = RemoveOptions {
        force: a.force,
        volumes: a.volumes,
        link: a.link,
    };
    for_each(&a.containers, true, |n| async move {
        Ok(client.container_remove(&n, opts).await?)
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
    if let Err(e) = client.container_rename(&a.container, &a.new_name).await {
        eprint_err(&e.into());
        eprintln!("Error: failed to rename container named {}", a.container);
        return Ok(1);
    }
    Ok(0)
}

/// `berth pause` / `berth unpause`
#[derive(Args, Debug)]
pub struct PauseArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth pause`
pub async fn pause(client: &Client, a: PauseArgs) -> Result<i32> {
    for_each(&a.containers, true, |n| async move {
        Ok(client.container_pause(&n).await?)
    })
    .await
}

/// `berth unpause`
pub async fn unpause(client: &Client, a: PauseArgs) -> Result<i32> {
    for_each(&a.containers, true, |n| async move {
        Ok(client.container_unpause(&n).await?)
    })
    .await
}

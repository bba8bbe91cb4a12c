//! `berth run` and `berth create`: the container from the options, then for
//! `run` the start and the attached session.

use anyhow::{anyhow, bail, Result};
use clap::{ArgAction, Args};

use super::attach::{run_attached, start_container, AttachSpec};
use crate::client::models::ContainerCreateBody;
use crate::client::{daemon_error, Client, CreateOptions};
use crate::commands::eprint_err;
use crate::commands::image::pull_image;
use crate::commands::opts::{ContainerOpts, ImageAndCommand};
use crate::stream::parse_detach_keys;
use crate::tty;
use oci::Reference;

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
    body: &ContainerCreateBody,
) -> Result<String> {
    let create_opts = CreateOptions {
        name: opts.name.as_deref(),
        platform: opts.platform.as_deref(),
    };
    match opts.pull.as_str() {
        "always" => {
            pull_image(client, ic.image(), opts.platform.as_deref(), opts.quiet).await?;
        }
        "missing" | "never" => {}
        other => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    }
    let created = match client.container_create(create_opts, body).await {
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
            pull_image(client, ic.image(), opts.platform.as_deref(), opts.quiet).await?;
            client.container_create(create_opts, body).await?
        }
        Err(e) => return Err(e.into()),
    };
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    if created.id.is_empty() {
        bail!("daemon returned no container id");
    }
    Ok(created.id)
}

/// Exit status docker uses when the daemon refuses to start a command.
pub(super) fn start_failure_code(e: &anyhow::Error) -> i32 {
    let msg = e.to_string();
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

pub(super) fn print_run_error(cmd: &str, e: &anyhow::Error) {
    tty::restore();
    eprintln!("berth: {e:#}\n\nRun 'berth {cmd} --help' for more information");
}

/// `berth create`
pub async fn create(client: &Client, a: CreateArgs) -> Result<i32> {
    // Like docker, `create` records the attach settings of a foreground run.
    // Flags that do not make a valid body are usage errors (125).
    let body = match a.opts.create_body(&a.ic, false) {
        Ok(b) => b,
        Err(e) => {
            print_run_error("create", &e);
            return Ok(125);
        }
    };
    match create_container(client, &a.opts, &a.ic, &body).await {
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
    let body = match a.opts.create_body(&a.ic, a.detach) {
        Ok(b) => b,
        Err(e) => {
            print_run_error("run", &e);
            return Ok(125);
        }
    };
    let id = match create_container(client, &a.opts, &a.ic, &body).await {
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
}

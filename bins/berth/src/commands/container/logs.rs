//! `berth logs`.

use anyhow::Result;
use clap::Args;

use crate::client::{body_stream, Client, LogsOptions};
use crate::commands::opts::timestamp_arg;
use crate::stream::pump_body;

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
    let info = client.container_inspect(&a.container).await?;
    let tty = info.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
    let now = chrono::Utc::now().timestamp();
    let opts = LogsOptions {
        follow: a.follow,
        stdout: true,
        stderr: true,
        timestamps: a.timestamps,
        details: a.details,
        tail: Some(a.tail.clone()),
        since: a.since.as_deref().map(|s| timestamp_arg(s, now)),
        until: a.until.as_deref().map(|s| timestamp_arg(s, now)),
    };
    let id = info.id.as_deref().unwrap_or(&a.container);
    let resp = client.container_logs(id, &opts).await?;
    let stream = Box::pin(body_stream(resp));
    pump_body(stream, tty).await?;
    Ok(0)
}

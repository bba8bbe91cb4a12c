//! `berth logs`.

use anyhow::Result;
use clap::Args;
use gotemplate::JsonExt;
use hyper::Method;
use serde_json::Value;

use crate::client::{body_stream, empty, enc, query, Client};
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
    let info = client
        .get_json::<Value>(&format!("/containers/{}/json", enc(&a.container)))
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

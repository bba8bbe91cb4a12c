//! System commands: version, info.

use anyhow::Result;
use clap::Args;
use gotemplate::{go_print, JsonExt, Template};
use serde_json::{json, Value};

use crate::client::{Client, MAX_API_VERSION};
use crate::format::{self, bytes_size};

/// `berth version`
#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn kv(out: &mut String, indent: &str, key: &str, val: &str) {
    let label = format!("{key}:");
    out.push_str(&format!(
        "{indent}{label:<width$}{val}\n",
        width = 20 - indent.len()
    ));
}

/// `berth version`
pub async fn version(client: &Client, a: VersionArgs) -> Result<i32> {
    let ours = format!("{}.{}", MAX_API_VERSION.0, MAX_API_VERSION.1);
    let negotiated = client.api_version();
    let api = if negotiated != ours {
        format!("{negotiated} (downgraded from {ours})")
    } else {
        ours.clone()
    };
    let client_v = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": negotiated,
        "DefaultAPIVersion": ours,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
    });
    let server = client.version().await.map_err(anyhow::Error::from);
    if let Some(f) = &a.format {
        let data = json!({
            "Client": client_v,
            "Server": server.as_ref().ok().map(|s| serde_json::to_value(s).unwrap_or(Value::Null)),
        });
        let t = Template::parse(f)?;
        println!("{}", t.execute(&data)?);
        return server.map(|_| 0);
    }
    let mut out = String::from("Client:\n");
    kv(&mut out, " ", "Version", env!("CARGO_PKG_VERSION"));
    kv(&mut out, " ", "API version", &api);
    kv(
        &mut out,
        " ",
        "OS/Arch",
        &format!("{}/{}", std::env::consts::OS, go_arch()),
    );
    kv(&mut out, " ", "Host", &client.host().to_string());
    print!("{out}");
    let s = server?;
    let mut out = String::new();
    let platform = s
        .platform
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    out.push_str(&format!("\nServer: {platform}\n").replace(": \n", ":\n"));
    let comps = s.components.clone().unwrap_or_default();
    if comps.is_empty() {
        out.push_str(" Engine:\n");
        kv(
            &mut out,
            "  ",
            "Version",
            s.version.as_deref().unwrap_or(""),
        );
        kv(
            &mut out,
            "  ",
            "API version",
            s.api_version.as_deref().unwrap_or(""),
        );
    }
    for c in comps {
        out.push_str(&format!(" {}:\n", c.name));
        let d = c.details.clone().unwrap_or_default();
        let g = |k: &str| d.get(k).cloned().unwrap_or_default();
        if c.name == "Engine" {
            kv(&mut out, "  ", "Version", &c.version);
            kv(
                &mut out,
                "  ",
                "API version",
                &format!(
                    "{} (minimum version {})",
                    g("ApiVersion"),
                    g("MinAPIVersion")
                ),
            );
            kv(&mut out, "  ", "Go version", &g("GoVersion"));
            kv(&mut out, "  ", "Git commit", &g("GitCommit"));
            let built = g("BuildTime");
            let built = chrono::DateTime::parse_from_rfc3339(&built)
                .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
                .unwrap_or(built);
            kv(&mut out, "  ", "Built", &built);
            kv(
                &mut out,
                "  ",
                "OS/Arch",
                &format!("{}/{}", g("Os"), g("Arch")),
            );
            kv(&mut out, "  ", "Experimental", &g("Experimental"));
        } else {
            kv(&mut out, "  ", "Version", &c.version);
            let mut keys: Vec<&String> = d.keys().collect();
            keys.sort();
            for k in keys {
                kv(&mut out, "  ", k, &d[k]);
            }
        }
    }
    print!("{out}");
    Ok(0)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `berth info`
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `berth info`
pub async fn info(client: &Client, a: InfoArgs) -> Result<i32> {
    let v = client.get_json::<Value>("/info").await?;
    if let Some(f) = &a.format {
        let t = Template::parse(f)?;
        println!("{}", t.execute(&v)?);
        return Ok(0);
    }
    let s = |k: &str| -> String {
        match v.ci(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => go_print(other),
        }
    };
    let mut out = String::new();
    out.push_str("Client:\n");
    out.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    out.push_str(&format!(" Host:       {}\n", client.host()));
    out.push_str("\nServer:\n");
    out.push_str(&format!(" Containers: {}\n", s("Containers")));
    out.push_str(&format!("  Running: {}\n", s("ContainersRunning")));
    out.push_str(&format!("  Paused: {}\n", s("ContainersPaused")));
    out.push_str(&format!("  Stopped: {}\n", s("ContainersStopped")));
    out.push_str(&format!(" Images: {}\n", s("Images")));
    out.push_str(&format!(" Server Version: {}\n", s("ServerVersion")));
    out.push_str(&format!(" Storage Driver: {}\n", s("Driver")));
    if let Some(st) = v.ci("DriverStatus").and_then(Value::as_array) {
        for pair in st {
            if let Some([k, val]) = pair.as_array().map(Vec::as_slice) {
                out.push_str(&format!(
                    "  {}: {}\n",
                    k.as_str().unwrap_or(""),
                    val.as_str().unwrap_or("")
                ));
            }
        }
    }
    out.push_str(&format!(" Logging Driver: {}\n", s("LoggingDriver")));
    out.push_str(&format!(" Cgroup Driver: {}\n", s("CgroupDriver")));
    out.push_str(&format!(" Cgroup Version: {}\n", s("CgroupVersion")));
    if let Some(rt) = v.ci("Runtimes").and_then(Value::as_object) {
        let mut names: Vec<&String> = rt.keys().collect();
        names.sort();
        out.push_str(&format!(
            " Runtimes: {}\n",
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    out.push_str(&format!(" Default Runtime: {}\n", s("DefaultRuntime")));
    if let Some(so) = v.ci("SecurityOptions").and_then(Value::as_array) {
        out.push_str(" Security Options:\n");
        for o in so.iter().filter_map(Value::as_str) {
            for part in o.split(',') {
                match part.strip_prefix("name=") {
                    Some(n) => out.push_str(&format!("  {n}\n")),
                    None => {
                        if let Some((k, val)) = part.split_once('=') {
                            let mut k = k.to_string();
                            if let Some(f) = k.get(..1) {
                                k = f.to_uppercase() + &k[1..];
                            }
                            out.push_str(&format!("   {k}: {val}\n"));
                        }
                    }
                }
            }
        }
    }
    out.push_str(&format!(" Kernel Version: {}\n", s("KernelVersion")));
    out.push_str(&format!(" Operating System: {}\n", s("OperatingSystem")));
    out.push_str(&format!(" OSType: {}\n", s("OSType")));
    out.push_str(&format!(" Architecture: {}\n", s("Architecture")));
    out.push_str(&format!(" CPUs: {}\n", s("NCPU")));
    let mem = v.ci("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    out.push_str(&format!(" Total Memory: {}\n", bytes_size(mem)));
    out.push_str(&format!(" Name: {}\n", s("Name")));
    out.push_str(&format!(" ID: {}\n", s("ID")));
    out.push_str(&format!(" Docker Root Dir: {}\n", s("DockerRootDir")));
    out.push_str(&format!(" Debug Mode: {}\n", s("Debug")));
    out.push_str(&format!(" Experimental: {}\n", s("ExperimentalBuild")));
    out.push_str(&format!(
        " Live Restore Enabled: {}\n",
        s("LiveRestoreEnabled")
    ));
    print!("{out}");
    if let Some(w) = v.ci("Warnings").and_then(Value::as_array) {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("{w}");
        }
    }
    Ok(0)
}

/// `berth system prune`
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.ci(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `berth system prune`: stopped containers, unused networks, dangling (or
/// all unused) images and the build cache, like docker.
pub async fn system_prune(client: &Client, a: SystemPruneArgs) -> Result<i32> {
    let images_line = if a.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    };
    let warning = format!(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{images_line}\n  - unused build cache\n"
    );
    if !a.force && !super::image::confirm(&warning) {
        return Ok(0);
    }
    let q = |extra: Option<String>| -> Result<String> {
        let mut f = a.filter.clone();
        if let Some(e) = extra {
            f.push(e);
        }
        Ok(match super::container::filters_json(&f)? {
            Some(j) => crate::client::query(&[("filters", j)]),
            None => String::new(),
        })
    };
    let mut reclaimed = 0i64;
    let c = client
        .post::<Value>(&format!("/containers/prune{}", q(None)?))
        .await?;
    let ids = strings(&c, "ContainersDeleted");
    if !ids.is_empty() {
        println!("Deleted Containers:\n{}\n", ids.join("\n"));
    }
    reclaimed += c.ci("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    let n = client
        .post::<Value>(&format!("/networks/prune{}", q(None)?))
        .await?;
    let nets = strings(&n, "NetworksDeleted");
    if !nets.is_empty() {
        println!("Deleted Networks:\n{}\n", nets.join("\n"));
    }
    let i = client
        .post::<Value>(&format!(
            "/images/prune{}",
            q(Some(format!("dangling={}", !a.all)))?
        ))
        .await?;
    if let Some(del) = i
        .ci("ImagesDeleted")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
    {
        println!("Deleted Images:");
        for d in del {
            if let Some(u) = d.ci("Untagged").and_then(Value::as_str) {
                println!("untagged: {u}");
            }
            if let Some(x) = d.ci("Deleted").and_then(Value::as_str) {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    reclaimed += i.ci("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    let bq = if a.all { "?all=1" } else { "" };
    let b = client.post::<Value>(&format!("/build/prune{bq}")).await?;
    let caches = strings(&b, "CachesDeleted");
    if !caches.is_empty() {
        println!("Deleted build cache objects:\n{}\n", caches.join("\n"));
    }
    reclaimed += b.ci("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    println!(
        "Total reclaimed space: {}",
        format::human_size(reclaimed as f64)
    );
    Ok(0)
}

/// `berth container prune`
#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `berth container prune`
pub async fn container_prune(client: &Client, a: ContainerPruneArgs) -> Result<i32> {
    if !a.force && !super::image::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let q = match super::container::filters_json(&a.filter)? {
        Some(j) => crate::client::query(&[("filters", j)]),
        None => String::new(),
    };
    let c = client
        .post::<Value>(&format!("/containers/prune{q}"))
        .await?;
    let ids = strings(&c, "ContainersDeleted");
    if !ids.is_empty() {
        println!("Deleted Containers:\n{}\n", ids.join("\n"));
    }
    let space = c.ci("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    println!(
        "Total reclaimed space: {}",
        format::human_size(space as f64)
    );
    Ok(0)
}

/// `berth events`
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// docker's RFC3339NanoFixed in local time (always nine fractional digits).
pub fn rfc3339_nano(time_nano: i64) -> String {
    use chrono::TimeZone;
    let secs = time_nano.div_euclid(1_000_000_000);
    let nanos = time_nano.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::Local.timestamp_opt(secs, nanos).single() else {
        return time_nano.to_string();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    s.push_str(&format!(".{nanos:09}"));
    let off = t.format("%:z").to_string();
    if off == "+00:00" {
        s.push('Z');
    } else {
        s.push_str(&off);
    }
    s
}

/// One event line as docker prints it by default.
pub fn event_line(e: &Value) -> String {
    let nano = e
        .ci("timeNano")
        .and_then(Value::as_i64)
        .or_else(|| {
            e.ci("time")
                .and_then(Value::as_i64)
                .map(|t| t * 1_000_000_000)
        })
        .unwrap_or(0);
    let typ = e.ci("Type").and_then(Value::as_str).unwrap_or("");
    let action = e.ci("Action").and_then(Value::as_str).unwrap_or("");
    let id = e.cptr("/Actor/ID").and_then(Value::as_str).unwrap_or("");
    let mut line = format!("{} {typ} {action} {id}", rfc3339_nano(nano));
    if let Some(attrs) = e.cptr("/Actor/Attributes").and_then(Value::as_object) {
        if !attrs.is_empty() {
            let mut kv: Vec<String> = attrs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            kv.sort();
            line.push_str(&format!(" ({})", kv.join(", ")));
        }
    }
    line
}

/// `berth events`
pub async fn events(client: &Client, a: EventsArgs) -> Result<i32> {
    use futures::StreamExt;
    let now = chrono::Utc::now().timestamp();
    let mut params = Vec::new();
    if let Some(s) = &a.since {
        params.push(("since", super::opts::timestamp_arg(s, now)));
    }
    if let Some(u) = &a.until {
        params.push(("until", super::opts::timestamp_arg(u, now)));
    }
    if let Some(f) = super::container::filters_json(&a.filter)? {
        params.push(("filters", f));
    }
    let resp = client
        .call(
            hyper::Method::GET,
            &format!("/events{}", crate::client::query(&params)),
            None,
            crate::client::empty(),
        )
        .await?;
    let tmpl = match a.format.as_deref() {
        None => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut vals = Box::pin(super::image::json_values(Box::pin(
        crate::client::body_stream(resp),
    )));
    while let Some(v) = vals.next().await {
        let v = v?;
        match &tmpl {
            Some(t) => println!("{}", t.execute(&v)?),
            None => println!("{}", event_line(&v)),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines() {
        let e = serde_json::json!({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "x", "image": "busybox"}},
            "time": 1, "timeNano": 1_500_000_000i64
        });
        let l = event_line(&e);
        assert!(
            l.ends_with(" container start abc (image=busybox, name=x)"),
            "{l}"
        );
        assert!(l.starts_with("1970-01-01T"), "{l}");
        assert!(rfc3339_nano(1_000_000_000).starts_with("1970-01-01T00:00:01"));
        assert!(rfc3339_nano(1_120_000_000).contains(":01.120000000"));
    }
}

//! System commands: version, info.

use anyhow::Result;
use clap::Args;
use gotemplate::Template;
use serde::Serialize;

use super::{deleted_block, reclaimed_line, PruneOpts};
use crate::client::models::{EventMessage, SystemInfo, SystemVersion};
use crate::client::{Client, EventsOptions, MAX_API_VERSION};
use crate::format::bytes_size;

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
    let server = client.version().await.map_err(anyhow::Error::from);
    if let Some(f) = &a.format {
        let data = VersionData {
            client: ClientVersion {
                version: env!("CARGO_PKG_VERSION"),
                api_version: negotiated,
                default_api_version: ours,
                os: std::env::consts::OS,
                arch: go_arch(),
            },
            server: server.as_ref().ok(),
        };
        // The template engine works on JSON values.
        let t = Template::parse(f)?;
        println!("{}", t.execute(&serde_json::to_value(&data)?)?);
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

/// The client half of `version --format` data.
#[derive(Debug, Serialize)]
struct ClientVersion {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "ApiVersion")]
    api_version: String,
    #[serde(rename = "DefaultAPIVersion")]
    default_api_version: String,
    #[serde(rename = "Os")]
    os: &'static str,
    #[serde(rename = "Arch")]
    arch: &'static str,
}

/// What `version --format` templates see.
#[derive(Debug, Serialize)]
struct VersionData<'a> {
    #[serde(rename = "Client")]
    client: ClientVersion,
    #[serde(rename = "Server")]
    server: Option<&'a SystemVersion>,
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
    let raw = client.system_info_raw().await?;
    if let Some(f) = &a.format {
        // Templates run over the daemon's JSON as sent (fields the models
        // do not know included): the template engine needs a Value.
        let v: serde_json::Value = serde_json::from_slice(&raw)?;
        let t = Template::parse(f)?;
        println!("{}", t.execute(&v)?);
        return Ok(0);
    }
    let v: SystemInfo = serde_json::from_slice(&raw)?;
    print!("{}", info_text(&v, &client.host().to_string()));
    for w in v.warnings.iter().flatten() {
        eprintln!("{w}");
    }
    Ok(0)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// The text of `docker info` for the fields Berth reports.
pub fn info_text(v: &SystemInfo, host: &str) -> String {
    let mut out = String::new();
    out.push_str("Client:\n");
    out.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    out.push_str(&format!(" Host:       {host}\n"));
    out.push_str("\nServer:\n");
    out.push_str(&format!(" Containers: {}\n", opt(&v.containers)));
    out.push_str(&format!("  Running: {}\n", opt(&v.containers_running)));
    out.push_str(&format!("  Paused: {}\n", opt(&v.containers_paused)));
    out.push_str(&format!("  Stopped: {}\n", opt(&v.containers_stopped)));
    out.push_str(&format!(" Images: {}\n", opt(&v.images)));
    out.push_str(&format!(" Server Version: {}\n", opt(&v.server_version)));
    out.push_str(&format!(" Storage Driver: {}\n", opt(&v.driver)));
    for pair in v.driver_status.iter().flatten() {
        if let [k, val] = pair.as_slice() {
            out.push_str(&format!("  {k}: {val}\n"));
        }
    }
    out.push_str(&format!(" Logging Driver: {}\n", opt(&v.logging_driver)));
    out.push_str(&format!(" Cgroup Driver: {}\n", opt(&v.cgroup_driver)));
    out.push_str(&format!(" Cgroup Version: {}\n", opt(&v.cgroup_version)));
    if let Some(rt) = &v.runtimes {
        let mut names: Vec<&str> = rt.keys().map(String::as_str).collect();
        names.sort_unstable();
        out.push_str(&format!(" Runtimes: {}\n", names.join(" ")));
    }
    out.push_str(&format!(" Default Runtime: {}\n", opt(&v.default_runtime)));
    if let Some(so) = &v.security_options {
        out.push_str(" Security Options:\n");
        for o in so {
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
    out.push_str(&format!(" Kernel Version: {}\n", opt(&v.kernel_version)));
    out.push_str(&format!(
        " Operating System: {}\n",
        opt(&v.operating_system)
    ));
    out.push_str(&format!(" OSType: {}\n", opt(&v.os_type)));
    out.push_str(&format!(" Architecture: {}\n", opt(&v.architecture)));
    out.push_str(&format!(" CPUs: {}\n", opt(&v.ncpu)));
    let mem = v.mem_total.unwrap_or(0) as f64;
    out.push_str(&format!(" Total Memory: {}\n", bytes_size(mem)));
    out.push_str(&format!(" Name: {}\n", opt(&v.name)));
    out.push_str(&format!(" ID: {}\n", opt(&v.id)));
    out.push_str(&format!(" Docker Root Dir: {}\n", opt(&v.docker_root_dir)));
    out.push_str(&format!(" Debug Mode: {}\n", opt(&v.debug)));
    out.push_str(&format!(" Experimental: {}\n", opt(&v.experimental_build)));
    out.push_str(&format!(
        " Live Restore Enabled: {}\n",
        opt(&v.live_restore_enabled)
    ));
    out
}

/// `berth system prune`
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    #[command(flatten)]
    pub prune: PruneOpts,
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
    if !a.prune.confirmed(&warning) {
        return Ok(0);
    }
    let filters = |extra: Option<String>| -> Result<Option<String>> {
        let mut f = a.prune.filter.clone();
        f.extend(extra);
        super::container::filters_json(&f)
    };
    let mut reclaimed = prune_containers(client, filters(None)?.as_deref()).await?;
    super::network::prune_networks(client, filters(None)?.as_deref()).await?;
    let dangling = Some(format!("dangling={}", !a.all));
    let i = client.image_prune(filters(dangling)?.as_deref()).await?;
    print!(
        "{}",
        super::image::deleted_images_block(i.images_deleted.as_deref())
    );
    reclaimed += i.space_reclaimed.unwrap_or(0);
    let b = client.build_prune(a.all).await?;
    print!(
        "{}",
        deleted_block("Deleted build cache objects", b.caches_deleted.as_deref())
    );
    reclaimed += b.space_reclaimed.unwrap_or(0);
    println!("{}", reclaimed_line(reclaimed));
    Ok(0)
}

/// `berth container prune`
pub async fn container_prune(client: &Client, a: PruneOpts) -> Result<i32> {
    if !a.confirmed("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let filters = super::container::filters_json(&a.filter)?;
    let space = prune_containers(client, filters.as_deref()).await?;
    println!("{}", reclaimed_line(space));
    Ok(0)
}

/// Prunes stopped containers, prints what went, returns the space freed.
async fn prune_containers(client: &Client, filters: Option<&str>) -> Result<i64> {
    let c = client.container_prune(filters).await?;
    let deleted = c.containers_deleted.as_deref();
    print!("{}", deleted_block("Deleted Containers", deleted));
    Ok(c.space_reclaimed.unwrap_or(0))
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
pub fn event_line(e: &EventMessage) -> String {
    let nano = e
        .time_nano
        .or_else(|| e.time.map(|t| t * 1_000_000_000))
        .unwrap_or(0);
    let typ = opt(&e.typ);
    let action = e.action.as_deref().unwrap_or_default();
    let actor = e.actor.as_ref();
    let id = actor.and_then(|a| a.id.as_deref()).unwrap_or_default();
    let mut line = format!("{} {typ} {action} {id}", rfc3339_nano(nano));
    if let Some(attrs) = actor.and_then(|a| a.attributes.as_ref()) {
        if !attrs.is_empty() {
            let mut kv: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
    let opts = EventsOptions {
        since: a
            .since
            .as_deref()
            .map(|s| super::opts::timestamp_arg(s, now)),
        until: a
            .until
            .as_deref()
            .map(|u| super::opts::timestamp_arg(u, now)),
        filters: super::container::filters_json(&a.filter)?,
    };
    let resp = client.events(&opts).await?;
    let tmpl = match a.format.as_deref() {
        None => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut vals = Box::pin(super::image::json_values::<serde_json::Value, _>(Box::pin(
        crate::client::body_stream(resp),
    )));
    while let Some(v) = vals.next().await {
        let v = v?;
        match &tmpl {
            // Templates run over the event's JSON as sent.
            Some(t) => println!("{}", t.execute(&v)?),
            None => println!("{}", event_line(&serde_json::from_value(v)?)),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines() {
        let e: EventMessage = serde_json::from_value(serde_json::json!({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "x", "image": "busybox"}},
            "time": 1, "timeNano": 1_500_000_000i64
        }))
        .unwrap();
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

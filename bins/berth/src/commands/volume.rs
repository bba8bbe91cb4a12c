//! `berth volume create|ls|inspect|rm|prune`, on the client's typed volume
//! calls, with the docker CLI's flags, output and exit codes.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::container::filters_json;
use super::network::parse_label;
use super::opts::kv_map;
use super::{deleted_block, reclaimed_line, PruneOpts};
use crate::client::models::{Volume, VolumeCreateRequest};
use crate::client::Client;
use crate::format::{self, labels_joined, natural_cmp};

/// `berth volume create`
#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long, value_parser = parse_label)]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", hide = true)]
    pub name_flag: Option<String>,
    /// Volume name
    pub name: Option<String>,
}

impl VolumeCreateArgs {
    /// The request docker's CLI sends: empty fields left out.
    pub fn request(&self) -> Result<VolumeCreateRequest> {
        let name = match (&self.name, &self.name_flag) {
            (Some(_), Some(f)) if !f.is_empty() => bail!(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
            ),
            (Some(n), _) => n.clone(),
            (None, f) => f.clone().unwrap_or_default(),
        };
        let opts = kv_map(&self.opt, "opt")?;
        let labels = kv_map(&self.label, "label")?;
        Ok(VolumeCreateRequest {
            name: Some(name).filter(|n| !n.is_empty()),
            driver: Some(self.driver.clone()).filter(|d| !d.is_empty()),
            driver_opts: Some(opts).filter(|m| !m.is_empty()),
            labels: Some(labels).filter(|m| !m.is_empty()),
            cluster_volume_spec: None,
        })
    }
}

/// `berth volume create`: prints the volume's name.
pub async fn volume_create(client: &Client, a: VolumeCreateArgs) -> Result<i32> {
    let vol = client.volume_create(&a.request()?).await?;
    println!("{}", vol.name);
    Ok(0)
}

/// `berth volume ls`
#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// One row of docker's volume formatter.
#[derive(Debug, Serialize)]
struct VolumeRow {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Driver")]
    driver: String,
    #[serde(rename = "Scope")]
    scope: String,
    #[serde(rename = "Mountpoint")]
    mountpoint: String,
    #[serde(rename = "Labels")]
    labels: String,
    #[serde(rename = "Links")]
    links: String,
    #[serde(rename = "Size")]
    size: String,
    #[serde(rename = "Availability")]
    availability: String,
    #[serde(rename = "Group")]
    group: String,
    #[serde(rename = "Status")]
    status: String,
    /// Answers `{{.Label "key"}}`.
    #[serde(rename = "__Label")]
    label: BTreeMap<String, String>,
    /// Marks a formatter row for the template engine.
    #[serde(rename = "__json_html")]
    json_html: bool,
}

impl VolumeRow {
    fn headers() -> VolumeRow {
        VolumeRow {
            name: "VOLUME NAME".into(),
            driver: "DRIVER".into(),
            scope: "SCOPE".into(),
            mountpoint: "MOUNTPOINT".into(),
            labels: "LABELS".into(),
            links: "LINKS".into(),
            size: "SIZE".into(),
            availability: "AVAILABILITY".into(),
            group: "GROUP".into(),
            status: "STATUS".into(),
            label: BTreeMap::new(),
            json_html: true,
        }
    }

    fn new(v: &Volume) -> VolumeRow {
        let na = || "N/A".to_string();
        VolumeRow {
            name: v.name.clone(),
            driver: v.driver.clone(),
            scope: v.scope.map(|s| s.to_string()).unwrap_or_default(),
            mountpoint: v.mountpoint.clone(),
            labels: labels_joined(&v.labels),
            links: v
                .usage_data
                .as_ref()
                .map_or_else(na, |u| u.ref_count.to_string()),
            size: v
                .usage_data
                .as_ref()
                .map_or_else(na, |u| format::human_size(u.size as f64)),
            // Cluster volume fields; Berth has no cluster volumes.
            availability: na(),
            group: na(),
            status: na(),
            label: v
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            json_html: true,
        }
    }
}

/// `berth volume ls`
pub async fn volume_ls(client: &Client, a: VolumeLsArgs) -> Result<i32> {
    let filters = filters_json(&a.filter)?;
    let list = client.volume_list(filters.as_deref()).await?;
    let mut vols = list.volumes.unwrap_or_default();
    vols.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    let rows: Vec<VolumeRow> = vols.iter().map(VolumeRow::new).collect();
    let formats = format::ListFormats {
        table: "table {{.Driver}}\t{{.Name}}",
        quiet: "{{.Name}}",
        raw: Some(("name: {{.Name}}\ndriver: {{.Driver}}\n", "name: {{.Name}}")),
    };
    let f = format::list_format(a.format.as_deref(), a.quiet, &formats);
    print!(
        "{}",
        format::render_typed(&f, &VolumeRow::headers(), &rows)?
    );
    // docker's CLI does not show the daemon's warnings here either.
    for w in list.warnings.iter().flatten() {
        tracing::debug!(warning = %w, "volume list");
    }
    Ok(0)
}

/// `berth volume rm`
#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth volume rm`: prints each removed name; the errors follow, one a
/// line, and make the exit status 1.
pub async fn volume_rm(client: &Client, a: VolumeRmArgs) -> Result<i32> {
    let mut errors = Vec::new();
    for n in &a.volumes {
        match client.volume_remove(n, a.force).await {
            Ok(()) => println!("{n}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        return Ok(0);
    }
    eprintln!("{}", errors.join("\n"));
    Ok(1)
}

/// `berth volume prune`
#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    #[command(flatten)]
    pub prune: PruneOpts,
}

const ALL_VOLUMES_WARNING: &str =
    "WARNING! This will remove all local volumes not used by at least one container.";
const ANONYMOUS_VOLUMES_WARNING: &str =
    "WARNING! This will remove anonymous local volumes not used by at least one container.";

/// The prompt and the filters of a prune: API 1.42 and later prune
/// anonymous volumes unless `all=true`; older daemons prune them all.
fn prune_plan(a: &VolumePruneArgs, api: (u32, u32)) -> Result<(&'static str, Vec<String>)> {
    let mut filters = a.prune.filter.clone();
    if api < (1, 42) {
        return Ok((ALL_VOLUMES_WARNING, filters));
    }
    if !a.all {
        return Ok((ANONYMOUS_VOLUMES_WARNING, filters));
    }
    if filters.iter().any(|f| {
        f.split_once('=')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("all"))
    }) {
        bail!("conflicting options: cannot specify both --all and --filter all=1");
    }
    filters.push("all=true".into());
    Ok((ALL_VOLUMES_WARNING, filters))
}

/// `berth volume prune`
pub async fn volume_prune(client: &Client, a: VolumePruneArgs) -> Result<i32> {
    let (warning, filters) = prune_plan(&a, client.api_version_num())?;
    if !a.prune.confirmed(warning) {
        return Ok(0);
    }
    let filters = filters_json(&filters)?;
    let report = client.volume_prune(filters.as_deref()).await?;
    print!(
        "{}",
        deleted_block("Deleted Volumes", report.volumes_deleted.as_deref())
    );
    println!("{}", reclaimed_line(report.space_reclaimed.unwrap_or(0)));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prune(all: bool, filter: &[&str]) -> VolumePruneArgs {
        VolumePruneArgs {
            all,
            prune: PruneOpts {
                force: true,
                filter: filter.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    #[test]
    fn prune_plans() {
        let (w, f) = prune_plan(&prune(false, &[]), (1, 51)).unwrap();
        assert_eq!(w, ANONYMOUS_VOLUMES_WARNING);
        assert!(f.is_empty());
        let (w, f) = prune_plan(&prune(true, &["label=a"]), (1, 51)).unwrap();
        assert_eq!(w, ALL_VOLUMES_WARNING);
        assert_eq!(f, ["label=a", "all=true"]);
        let (w, f) = prune_plan(&prune(true, &[]), (1, 41)).unwrap();
        assert_eq!(w, ALL_VOLUMES_WARNING);
        assert!(f.is_empty());
        assert_eq!(
            prune_plan(&prune(true, &["all=1"]), (1, 51))
                .unwrap_err()
                .to_string(),
            "conflicting options: cannot specify both --all and --filter all=1"
        );
    }

    #[test]
    fn create_request_leaves_out_empty_fields() {
        let a = VolumeCreateArgs {
            driver: "local".into(),
            opt: vec![],
            label: vec![],
            name_flag: None,
            name: None,
        };
        assert_eq!(
            serde_json::to_value(a.request().unwrap()).unwrap(),
            serde_json::json!({"Driver": "local"})
        );
        let a = VolumeCreateArgs {
            driver: "local".into(),
            opt: vec!["type=tmpfs".into(), "device=tmpfs".into()],
            label: vec!["a=b".into(), "c".into()],
            name_flag: Some("x".into()),
            name: None,
        };
        assert_eq!(
            serde_json::to_value(a.request().unwrap()).unwrap(),
            serde_json::json!({"Name": "x", "Driver": "local",
                "DriverOpts": {"type": "tmpfs", "device": "tmpfs"}, "Labels": {"a": "b", "c": ""}})
        );
        let a = VolumeCreateArgs {
            name: Some("y".into()),
            ..a
        };
        assert!(a.request().is_err());
    }
}

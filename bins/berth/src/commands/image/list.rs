//! Listing and looking at images: images, image inspect, history.

use anyhow::Result;
use clap::Args;
use gotemplate::JsonExt;
use serde_json::{json, Value};

use super::split_ref;
use crate::client::models::ImageSummary;
use crate::client::{Client, ImageListOptions};
use crate::commands::container::{filters_json, go_time_string};
use crate::format::{self, human_duration, human_size_prec, short_id};

/// `berth images`
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

fn image_headers() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE", "__Label": {}, "__json_html": true
    })
}

/// docker's image list rows (one per repo:tag, `<none>` for untagged).
pub fn image_rows(list: &[ImageSummary], trunc: bool, now: i64) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in list {
        let id = img.id.as_str();
        let id_s = if trunc { short_id(id) } else { id.to_string() };
        let created = img.created;
        let size = img.size;
        let digests = &img.repo_digests;
        let mut tags: Vec<(String, String)> = img
            .repo_tags
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "<none>:<none>")
            .map(split_ref)
            .collect();
        if tags.is_empty() {
            match digests.first() {
                Some(d) => tags.push((split_ref(d).0, "<none>".into())),
                None => tags.push(("<none>".into(), "<none>".into())),
            }
        }
        let labels = json!(img.labels);
        for (repo, tag) in tags {
            let digest = digests
                .iter()
                .find(|d| split_ref(d).0 == repo)
                .map(|d| split_ref(d).1)
                .unwrap_or_else(|| "<none>".into());
            rows.push(json!({
                "ID": id_s,
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": format!("{} ago", human_duration(now - created)),
                "CreatedAt": go_time_string(created),
                "Size": human_size_prec(size as f64, 3),
                "VirtualSize": format::human_size(size as f64),
                "__json_html": true,
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": if img.containers >= 0 {
                    img.containers.to_string()
                } else {
                    "N/A".to_string()
                },
                "__Label": labels,
            }));
        }
    }
    rows
}

/// `berth images`
pub async fn images(client: &Client, a: ImagesArgs) -> Result<i32> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let list = client
        .image_list(&ImageListOptions {
            all: a.all,
            filters: filters_json(&filters)?,
        })
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows = image_rows(&list, !a.no_trunc, now);
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some("json") => "{{json .}}".into(),
            Some(f) if f != "table" => f.to_string(),
            _ if a.digests => "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
            _ => "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
        }
    };
    print!("{}", format::render_rows(&format, &image_headers(), &rows)?);
    Ok(0)
}

/// `berth image history`
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

/// `berth image history`
pub async fn history(client: &Client, a: HistoryArgs) -> Result<i32> {
    let v = client
        .get_json::<Value>(&format!("/images/{}/history", a.image))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = v
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|h| {
            let id = h.ci("Id").and_then(Value::as_str).unwrap_or("");
            let id = if id.is_empty() || id == "<missing>" {
                "<missing>".to_string()
            } else if a.no_trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            let created = h.ci("Created").and_then(Value::as_i64).unwrap_or(0);
            let by = h.ci("CreatedBy").and_then(Value::as_str).unwrap_or("");
            let by = by.replace('\t', " ");
            let by = if a.no_trunc {
                by
            } else {
                format::ellipsis(&by, 45)
            };
            let size = h.ci("Size").and_then(Value::as_i64).unwrap_or(0);
            json!({
                "ID": id,
                "CreatedSince": if a.human {
                    format!("{} ago", human_duration(now - created))
                } else {
                    chrono::DateTime::from_timestamp(created, 0)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default()
                },
                "CreatedAt": go_time_string(created),
                "CreatedBy": by,
                "Size": if a.human { human_size_prec(size as f64, 3) } else { size.to_string() },
                "Comment": h.ci("Comment").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    let headers = json!({"ID": "IMAGE",
                         "CreatedSince": if a.human { "CREATED" } else { "CREATED AT" },
                         "CreatedAt": "CREATED AT",
                         "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some(f) if f != "table" => f.to_string(),
            _ => "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into(),
        }
    };
    print!("{}", format::render_rows(&format, &headers, &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_list_rows() {
        let list = vec![
            ImageSummary {
                id: "sha256:3a34af191aeb10f8".into(),
                repo_tags: vec!["busybox:latest".into(), "bb:x".into()],
                created: 100,
                size: 1982256,
                ..Default::default()
            },
            ImageSummary {
                id: "sha256:a1107799d20d33e0".into(),
                created: 100,
                size: 1920,
                ..Default::default()
            },
        ];
        let rows = image_rows(&list, true, 103);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["Repository"], "busybox");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "3a34af191aeb");
        assert_eq!(rows[0]["Size"], "1.98MB");
        assert_eq!(rows[0]["CreatedSince"], "3 seconds ago");
        assert_eq!(rows[2]["Repository"], "<none>");
        assert_eq!(rows[2]["Size"], "1.92kB");
    }
}

//! Listing and looking at images: images, image inspect, history.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::split_ref;
use crate::client::models::{ImageHistoryResponseItem, ImageSummary};
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

/// One row of docker's image formatter.
#[derive(Debug, Serialize)]
pub struct ImageRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Repository")]
    repository: String,
    #[serde(rename = "Tag")]
    tag: String,
    #[serde(rename = "Digest")]
    digest: String,
    #[serde(rename = "CreatedSince")]
    created_since: String,
    #[serde(rename = "CreatedAt")]
    created_at: String,
    #[serde(rename = "Size")]
    size: String,
    #[serde(rename = "VirtualSize")]
    virtual_size: String,
    #[serde(rename = "SharedSize")]
    shared_size: String,
    #[serde(rename = "UniqueSize")]
    unique_size: String,
    #[serde(rename = "Containers")]
    containers: String,
    /// Answers `{{.Label "key"}}`.
    #[serde(rename = "__Label")]
    label: BTreeMap<String, String>,
    /// Marks a formatter row for the template engine.
    #[serde(rename = "__json_html")]
    json_html: bool,
}

fn image_headers() -> ImageRow {
    ImageRow {
        id: "IMAGE ID".into(),
        repository: "REPOSITORY".into(),
        tag: "TAG".into(),
        digest: "DIGEST".into(),
        created_since: "CREATED".into(),
        created_at: "CREATED AT".into(),
        size: "SIZE".into(),
        virtual_size: "VIRTUAL SIZE".into(),
        shared_size: "SHARED SIZE".into(),
        unique_size: "UNIQUE SIZE".into(),
        containers: "CONTAINERS".into(),
        label: BTreeMap::new(),
        json_html: true,
    }
}

/// docker's image list rows (one per repo:tag, `<none>` for untagged); the
/// digest column says `<none>` unless `digests` (`--digests`) asks for it.
pub fn image_rows(list: &[ImageSummary], trunc: bool, digests: bool, now: i64) -> Vec<ImageRow> {
    let mut rows = Vec::new();
    for img in list {
        let id = img.id.as_str();
        let id_s = if trunc { short_id(id) } else { id.to_string() };
        let created = img.created;
        let size = img.size;
        let repo_digests = &img.repo_digests;
        let mut tags: Vec<(String, String)> = img
            .repo_tags
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "<none>:<none>")
            .map(split_ref)
            .collect();
        if tags.is_empty() {
            match repo_digests.first() {
                Some(d) => tags.push((split_ref(d).0, "<none>".into())),
                None => tags.push(("<none>".into(), "<none>".into())),
            }
        }
        for (repo, tag) in tags {
            let digest = repo_digests
                .iter()
                .filter(|_| digests)
                .find(|d| split_ref(d).0 == repo)
                .map(|d| split_ref(d).1)
                .unwrap_or_else(|| "<none>".into());
            rows.push(ImageRow {
                id: id_s.clone(),
                repository: repo,
                tag,
                digest,
                created_since: format!("{} ago", human_duration(now - created)),
                created_at: go_time_string(created),
                size: human_size_prec(size as f64, 3),
                virtual_size: format::human_size(size as f64),
                shared_size: "N/A".into(),
                unique_size: "N/A".into(),
                containers: if img.containers >= 0 {
                    img.containers.to_string()
                } else {
                    "N/A".to_string()
                },
                label: img
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                json_html: true,
            });
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
    // docker shows digests for --digests, or when the template asks for them.
    let digests = a.digests
        || a.format
            .as_deref()
            .is_some_and(|f| f.contains("{{.Digest}}"));
    let rows = image_rows(&list, !a.no_trunc, digests, now);
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
    print!(
        "{}",
        format::render_typed(&format, &image_headers(), &rows)?
    );
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
    let items = client.image_history(&a.image).await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<HistoryRow> = items
        .iter()
        .map(|h| HistoryRow::new(h, a.human, !a.no_trunc, now))
        .collect();
    let headers = HistoryRow {
        id: "IMAGE".into(),
        created_since: if a.human { "CREATED" } else { "CREATED AT" }.into(),
        created_at: "CREATED AT".into(),
        created_by: "CREATED BY".into(),
        size: "SIZE".into(),
        comment: "COMMENT".into(),
    };
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            Some(f) if f != "table" => f.to_string(),
            _ => "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into(),
        }
    };
    print!("{}", format::render_typed(&format, &headers, &rows)?);
    Ok(0)
}

/// One row of docker's history formatter.
#[derive(Debug, Serialize)]
struct HistoryRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "CreatedSince")]
    created_since: String,
    #[serde(rename = "CreatedAt")]
    created_at: String,
    #[serde(rename = "CreatedBy")]
    created_by: String,
    #[serde(rename = "Size")]
    size: String,
    #[serde(rename = "Comment")]
    comment: String,
}

impl HistoryRow {
    fn new(h: &ImageHistoryResponseItem, human: bool, trunc: bool, now: i64) -> HistoryRow {
        let id = if h.id.is_empty() || h.id == "<missing>" {
            "<missing>".to_string()
        } else if trunc {
            short_id(&h.id)
        } else {
            h.id.clone()
        };
        let by = h.created_by.replace('\t', " ");
        HistoryRow {
            id,
            created_since: if human {
                format!("{} ago", human_duration(now - h.created))
            } else {
                chrono::DateTime::from_timestamp(h.created, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default()
            },
            created_at: go_time_string(h.created),
            created_by: if trunc { format::ellipsis(&by, 45) } else { by },
            size: if human {
                human_size_prec(h.size as f64, 3)
            } else {
                h.size.to_string()
            },
            comment: h.comment.clone(),
        }
    }
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
        let rows = image_rows(&list, true, false, 103);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].repository, "busybox");
        assert_eq!(rows[0].tag, "latest");
        assert_eq!(rows[0].id, "3a34af191aeb");
        assert_eq!(rows[0].size, "1.98MB");
        assert_eq!(rows[0].created_since, "3 seconds ago");
        assert_eq!(rows[2].repository, "<none>");
        assert_eq!(rows[2].size, "1.92kB");
    }
}

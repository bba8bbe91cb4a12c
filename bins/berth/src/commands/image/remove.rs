//! Naming and removing images: tag, rmi, image prune.

use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;

use super::split_ref;
use crate::client::models::ImageDeleteResponseItem;
use crate::client::{daemon_error, Client};
use crate::commands::container::filters_json;
use crate::commands::{eprint_err, reclaimed_line, PruneOpts};

/// `berth tag`
#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

/// `berth tag`
pub async fn tag(client: &Client, a: TagArgs) -> Result<i32> {
    let (repo, tag) = split_ref(&a.target);
    if a.target.contains('@') {
        bail!("refusing to create a tag with a digest reference");
    }
    let tag = (!tag.is_empty()).then_some(tag.as_str());
    client.image_tag(&a.source, &repo, tag).await?;
    Ok(0)
}

/// `berth rmi`
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// The lines `docker rmi` prints for what the daemon untagged and deleted.
fn removed_lines(items: &[ImageDeleteResponseItem]) -> String {
    let mut out = String::new();
    for item in items {
        if let Some(u) = &item.untagged {
            out.push_str(&format!("Untagged: {u}\n"));
        }
        if let Some(d) = &item.deleted {
            out.push_str(&format!("Deleted: {d}\n"));
        }
    }
    out
}

/// The "Deleted Images:" block of an image (or system) prune, or nothing.
pub fn deleted_images_block(items: Option<&[ImageDeleteResponseItem]>) -> String {
    let items = items.unwrap_or_default();
    if items.is_empty() {
        return String::new();
    }
    let mut out = String::from("Deleted Images:\n");
    for item in items {
        if let Some(u) = &item.untagged {
            out.push_str(&format!("untagged: {u}\n"));
        }
        if let Some(d) = &item.deleted {
            out.push_str(&format!("deleted: {d}\n"));
        }
    }
    out.push('\n');
    out
}

/// `berth rmi`
pub async fn rmi(client: &Client, a: RmiArgs) -> Result<i32> {
    let mut code = 0;
    for img in &a.images {
        match client.image_remove(img, a.force, a.no_prune).await {
            Ok(items) => print!("{}", removed_lines(&items)),
            Err(e) => {
                // docker rmi -f does not fail on missing images.
                let missing = daemon_error(&e).is_some_and(|d| d.status == 404);
                eprint_err(&e.into());
                if !(a.force && missing) {
                    code = 1;
                }
            }
        }
    }
    Ok(code)
}

/// `berth image prune`
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    #[command(flatten)]
    pub prune: PruneOpts,
}

/// Asks "Are you sure you want to continue? [y/N]" on stdin.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    // docker takes "y" or "Y" only (not "yes").
    line.trim().eq_ignore_ascii_case("y")
}

/// `berth image prune`
pub async fn prune(client: &Client, a: PruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.prune.confirmed(warning) {
        return Ok(0);
    }
    let mut filters = a.prune.filter.clone();
    filters.push(format!("dangling={}", !a.all));
    let report = client
        .image_prune(filters_json(&filters)?.as_deref())
        .await?;
    print!("{}", deleted_images_block(report.images_deleted.as_deref()));
    println!("{}", reclaimed_line(report.space_reclaimed.unwrap_or(0)));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_lines() {
        let items = vec![
            ImageDeleteResponseItem {
                untagged: Some("busybox:latest".into()),
                deleted: None,
            },
            ImageDeleteResponseItem {
                untagged: None,
                deleted: Some("sha256:ab".into()),
            },
        ];
        assert_eq!(
            removed_lines(&items),
            "Untagged: busybox:latest\nDeleted: sha256:ab\n"
        );
        assert_eq!(
            deleted_images_block(Some(&items)),
            "Deleted Images:\nuntagged: busybox:latest\ndeleted: sha256:ab\n\n"
        );
        assert_eq!(deleted_images_block(None), "");
    }
}

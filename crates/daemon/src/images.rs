//! Image operations of the daemon: blocking image-store calls moved off the async
//! runtime, and conversions to Engine API models.

use std::collections::HashMap;

use api_server::backend::{BodyReader, ByteStream, Filters, ImportOptions};
use engine_types::models::{
    DriverData, ImageConfig as ApiImageConfig, ImageDeleteResponseItem, ImageHistoryResponseItem,
    ImageInspect, ImageInspectRootFs, ImagePruneResponse, ImageSummary,
};
use image::{DeleteItem, Image};
use tokio_util::io::{ReaderStream, SyncIoBridge};

use crate::error::{DaemonError, Result};
use crate::Daemon;

fn created_unix(img: &Image) -> i64 {
    img.config
        .created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Simple glob (`*`, `?`) as Docker's `reference` filter uses.
fn glob(pattern: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && m(p, &s[1..])),
            (Some(b'?'), Some(_)) => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pattern.as_bytes(), s.as_bytes())
}

fn delete_items(items: Vec<DeleteItem>) -> Vec<ImageDeleteResponseItem> {
    items
        .into_iter()
        .map(|i| match i {
            DeleteItem::Untagged(s) => ImageDeleteResponseItem {
                untagged: Some(s),
                deleted: None,
            },
            DeleteItem::Deleted(s) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(s),
            },
        })
        .collect()
}

impl Daemon {
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&image::ImageStore) -> std::result::Result<T, image::ImageError> + Send + 'static,
    ) -> Result<T> {
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || f(&images))
            .await
            .map_err(|e| DaemonError::Internal(format!("image store task: {e}")))?
            .map_err(DaemonError::from)
    }

    /// Returns Some(container id) when a container uses `image_id`.
    fn image_user(&self) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let users: Vec<(String, String)> = self
            .all_containers()
            .iter()
            .map(|c| {
                let r = c.get();
                (r.image_id, r.id)
            })
            .collect();
        move |image_id: &str| {
            users
                .iter()
                .find(|(img, _)| img == image_id)
                .map(|(_, c)| c.clone())
        }
    }

    pub async fn image_list(&self, all: bool, filters: Filters) -> Result<Vec<ImageSummary>> {
        let _ = all;
        let images = self.blocking(|s| s.list()).await?;
        let mut counts: HashMap<String, i64> = HashMap::new();
        for c in self.all_containers() {
            *counts.entry(c.get().image_id).or_default() += 1;
        }
        let mut out = Vec::new();
        for img in images {
            let mut keep = true;
            for (key, values) in &filters {
                keep &= match key.as_str() {
                    "dangling" => values.iter().all(|v| {
                        let want = v == "true" || v == "1";
                        img.repo_tags.is_empty() == want
                    }),
                    "reference" => values.iter().any(|pat| {
                        img.repo_tags.iter().any(|t| {
                            let repo = t.rsplit_once(':').map(|(r, _)| r).unwrap_or(t);
                            glob(pat, t) || glob(pat, repo)
                        })
                    }),
                    "label" => values.iter().all(|l| {
                        let labels = img
                            .config
                            .config
                            .as_ref()
                            .and_then(|c| c.labels.clone())
                            .unwrap_or_default();
                        match l.split_once('=') {
                            Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
                            None => labels.contains_key(l.as_str()),
                        }
                    }),
                    "before" | "since" | "until" => true,
                    other => return Err(DaemonError::Invalid(format!("invalid filter '{other}'"))),
                };
            }
            if !keep {
                continue;
            }
            let mut repo_tags = img.repo_tags.clone();
            if let Some(patterns) = filters.get("reference") {
                // Docker lists only the tags that matched the reference filter.
                repo_tags.retain(|t| {
                    let repo = t.rsplit_once(':').map(|(r, _)| r).unwrap_or(t);
                    patterns.iter().any(|p| glob(p, t) || glob(p, repo))
                });
            }
            let labels = img
                .config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            out.push(ImageSummary {
                id: img.id.clone(),
                parent_id: String::new(),
                repo_tags,
                repo_digests: img.repo_digests.clone(),
                created: created_unix(&img),
                size: img.size as i64,
                shared_size: -1,
                labels,
                containers: counts.get(&img.id).copied().unwrap_or(0),
                manifests: None,
                descriptor: None,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    pub async fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let n = name.to_string();
        let img = self.blocking(move |s| s.get(&n)).await?;
        let config: Option<ApiImageConfig> = img
            .config
            .config
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| serde_json::from_value(v).ok());
        let comment = img
            .config
            .history
            .last()
            .and_then(|h| h.comment.clone())
            .unwrap_or_default();
        Ok(ImageInspect {
            id: Some(img.id.clone()),
            repo_tags: Some(img.repo_tags.clone()),
            repo_digests: Some(img.repo_digests.clone()),
            comment: Some(comment),
            created: img.config.created.clone(),
            author: Some(img.config.author.clone().unwrap_or_default()),
            config,
            architecture: Some(img.config.architecture.clone()),
            os: Some(img.config.os.clone()),
            size: Some(img.size as i64),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data: HashMap::new(),
            }),
            root_fs: Some(ImageInspectRootFs {
                typ: "layers".into(),
                layers: Some(img.layers.clone()),
            }),
            ..Default::default()
        })
    }

    pub async fn image_import(&self, src: BodyReader, opts: ImportOptions) -> Result<String> {
        let reference = match (opts.repo, opts.tag) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r),
            (None, _) => None,
        };
        let iopts = image::ImportOptions {
            reference,
            changes: opts.changes,
            message: opts.message,
            platform: opts.platform,
        };
        let mut bridge = SyncIoBridge::new(src);
        let reference = iopts.reference.clone();
        let img = self.blocking(move |s| s.import(&mut bridge, iopts)).await?;
        self.emit_image("import", &img.id, reference.as_deref().unwrap_or(&img.id));
        tracing::info!(image = %img.id, "imported");
        Ok(img.id)
    }

    pub async fn image_load(&self, src: BodyReader) -> Result<Vec<String>> {
        let mut bridge = SyncIoBridge::new(src);
        let loaded = self.blocking(move |s| s.load(&mut bridge)).await?;
        for l in &loaded {
            self.emit_image("load", &l.id, l.reference.as_deref().unwrap_or(&l.id));
        }
        Ok(loaded
            .into_iter()
            .map(|l| l.reference.unwrap_or(l.id))
            .collect())
    }

    pub async fn image_save(&self, names: Vec<String>) -> Result<ByteStream> {
        // Resolve every name first so a missing image is a 404, not a cut stream.
        for n in &names {
            let name = n.clone();
            let img = self.blocking(move |s| s.get(&name)).await?;
            self.emit_image("save", &img.id, n);
        }
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = SyncIoBridge::new(writer);
            if let Err(e) = images.save(&names, &mut w) {
                tracing::error!(error = %e, "image save failed mid-stream");
            }
            use std::io::Write;
            let _ = w.flush();
            let _ = w.shutdown();
        });
        Ok(Box::pin(ReaderStream::new(reader)))
    }

    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let target = match tag {
            Some(t) if !t.is_empty() => format!("{repo}:{t}"),
            _ => repo.to_string(),
        };
        let n = name.to_string();
        let t = target.clone();
        self.blocking(move |s| s.tag(&n, &t)).await?;
        let n = name.to_string();
        let img = self.blocking(move |s| s.get(&n)).await?;
        // Events name the image as Docker shows it (`evimg:1`, not
        // `docker.io/library/evimg:1`).
        let shown = image::Reference::parse_normalized(&target)
            .map(|r| r.familiar_string())
            .unwrap_or(target);
        self.emit_image("tag", &img.id, &shown);
        Ok(())
    }

    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let users = self.image_user();
        let n = name.to_string();
        let id = {
            let n = n.clone();
            self.blocking(move |s| s.get(&n)).await?.id
        };
        let items = self.blocking(move |s| s.remove(&n, force, &users)).await?;
        self.emit_deletes(&id, &items);
        Ok(delete_items(items))
    }

    pub async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let n = name.to_string();
        let entries = self.blocking(move |s| s.history(&n)).await?;
        Ok(entries
            .into_iter()
            .map(|h| ImageHistoryResponseItem {
                id: h.id,
                created: h.created,
                created_by: h.created_by,
                tags: h.tags,
                size: h.size as i64,
                comment: h.comment,
            })
            .collect())
    }

    pub async fn image_prune(&self, filters: Filters) -> Result<ImagePruneResponse> {
        let all = filters
            .get("dangling")
            .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
        let users = self.image_user();
        let (items, reclaimed) = self.blocking(move |s| s.prune(all, &users)).await?;
        self.emit_deletes("", &items);
        Ok(ImagePruneResponse {
            images_deleted: Some(delete_items(items)),
            space_reclaimed: Some(reclaimed as i64),
        })
    }
}

impl Daemon {
    /// `untag` and `delete` events of a removal (`id` of the image removed by
    /// name; empty for prune, where each deleted id names itself).
    fn emit_deletes(&self, id: &str, items: &[image::DeleteItem]) {
        for item in items {
            match item {
                image::DeleteItem::Untagged(r) => {
                    self.emit_image("untag", if id.is_empty() { r } else { id }, r)
                }
                image::DeleteItem::Deleted(d) => self.emit_image("delete", d, d),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn globbing() {
        assert!(super::glob("busy*", "busybox"));
        assert!(super::glob("busybox", "busybox"));
        assert!(!super::glob("busy", "busybox"));
        assert!(super::glob("b?sybox:*", "busybox:latest"));
    }
}

//! `GET /system/df`: images with their shared and unique sizes, containers with
//! the size of their read-write layer, volumes with their usage, and the build
//! cache (the `RUN --mount=type=cache` directories).

use std::collections::HashMap;

use engine_types::models::{BuildCache, BuildCacheTypeEnum};
use engine_types::{DfTypes, SystemDataUsage};

use crate::error::{DaemonError, Result};
use crate::volumes::dir_size;
use crate::Daemon;

impl Daemon {
    pub async fn system_df(&self, types: DfTypes) -> Result<SystemDataUsage> {
        let mut out = SystemDataUsage::default();
        if types.images {
            let (images, layers_size) = self.df_images().await?;
            out.images = images;
            out.layers_size = layers_size;
        }
        if types.containers {
            out.containers = self.df_containers().await?;
        }
        if types.volumes {
            out.volumes = self.volume_usage().await?;
        }
        if types.build_cache {
            out.build_cache = self.df_build_cache().await?;
        }
        Ok(out)
    }

    /// Every image with `SharedSize` (its layers that other images use too) and
    /// the total of all distinct layers.
    async fn df_images(&self) -> Result<(Vec<engine_types::models::ImageSummary>, i64)> {
        let (list, sizes) = self.blocking(|s| Ok((s.list()?, s.layer_sizes()?))).await?;
        let chains: HashMap<String, Vec<String>> = list
            .iter()
            .map(|i| (i.id.clone(), image::chain_ids(&i.layers)))
            .collect();
        let mut users: HashMap<&str, usize> = HashMap::new();
        for ids in chains.values() {
            for c in ids {
                *users.entry(c.as_str()).or_default() += 1;
            }
        }
        let layers_size: u64 = users.keys().filter_map(|c| sizes.get(*c)).sum();
        let mut summaries = self.image_list(true, HashMap::new()).await?;
        for s in &mut summaries {
            let shared: u64 = chains
                .get(&s.id)
                .into_iter()
                .flatten()
                .filter(|c| users.get(c.as_str()).copied().unwrap_or(0) > 1)
                .filter_map(|c| sizes.get(c))
                .sum();
            s.shared_size = shared as i64;
        }
        Ok((summaries, layers_size as i64))
    }

    /// Every container with `SizeRw` (its changes) and `SizeRootFs`.
    async fn df_containers(&self) -> Result<Vec<engine_types::models::ContainerSummary>> {
        let recs: Vec<_> = self.all_containers().iter().map(|c| c.get()).collect();
        let mut out = Vec::with_capacity(recs.len());
        for rec in recs {
            let mut s = self.summary(&rec);
            let id = rec.id.clone();
            let (rw, image_size) = self
                .blocking(move |st| {
                    let rw = st
                        .rw_layer_upper_dir(&id)
                        .map(|d| dir_size(&d))
                        .unwrap_or(0);
                    let image = st.get(&rec.image_id).map(|i| i.size).unwrap_or(0);
                    Ok((rw, image))
                })
                .await?;
            s.size_rw = Some(rw as i64);
            s.size_root_fs = Some((rw + image_size) as i64);
            out.push(s);
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    /// The builder's cache mounts, one record each.
    async fn df_build_cache(&self) -> Result<Vec<BuildCache>> {
        let dir = self.cfg.data_root.join("builder").join("cache-mounts");
        tokio::task::spawn_blocking(move || {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                return Vec::new();
            };
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| {
                    let modified = e.metadata().and_then(|m| m.modified()).ok().map(|t| {
                        chrono::DateTime::<chrono::Utc>::from(t)
                            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                    });
                    BuildCache {
                        id: Some(e.file_name().to_string_lossy().into_owned()),
                        typ: Some(BuildCacheTypeEnum::EXEC_CACHEMOUNT),
                        description: Some("cache mount of a RUN step".into()),
                        in_use: Some(false),
                        shared: Some(false),
                        size: Some(dir_size(&e.path()) as i64),
                        created_at: modified.clone(),
                        last_used_at: modified,
                        usage_count: Some(0),
                        ..Default::default()
                    }
                })
                .collect()
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("build cache usage task: {e}")))
    }
}

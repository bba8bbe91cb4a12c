//! The Dockerfile builder: build graph, cache keys, executor (through a
//! backend trait).
//!
//! The builder is engine-independent: it parses the Dockerfile (with the
//! `dockerfile` crate), resolves stages, args and env like Docker's classic
//! builder (`DOCKER_BUILDKIT=0`), computes cache keys, makes the tar streams of
//! COPY/ADD layers and the image configs, and asks a [`BuildBackend`] (the
//! daemon) to run containers, commit layers, store images and keep the cache.
//!
//! Entry point: [`build`]. Messages go to an [`Output`] as Docker JSON
//! messages (`{"stream":"Step 1/4 : FROM busybox\n"}`...).
//!
//! # What the engine (the daemon) provides
//!
//! * A [`BuildBackend`]: base images by reference **or by id** (the builder
//!   re-reads the config of a cached image with `image("sha256:...")`), RUN
//!   containers committed as layers, tar layers, config-only images, tar
//!   exports of image paths, tags and a persistent cache map. The default
//!   [`BuildBackend::stat`] reads the first header of `export_path`; a cheap
//!   override is worth it (WORKDIR and single-file COPY call it).
//! * The context: `POST /build`'s body as [`BuildContext::Tar`] (a blocking
//!   `std::io::Read`; bridge an async body with
//!   `tokio_util::io::SyncIoBridge` — the builder reads it on a blocking
//!   thread), or a directory as [`BuildContext::Dir`].
//! * Output: moby prints ` ---> Running in <id>` / `Removing intermediate
//!   container <id>` around RUN steps; that is the backend's to send (it
//!   knows the container), along with the command's output as `stream`
//!   messages. The builder sends everything else, including the final
//!   `errorDetail` message on failure.
//! * Cancellation: dropping the `build` future cancels it (a failing stage
//!   also drops stages running in parallel); backends must clean up
//!   containers when their futures are dropped.
//!
//! # Behaviour
//!
//! Classic-builder output and history text (`Step N/M`, `#(nop)` history,
//! `|N K=V` build args in RUN history, `COPY file:<hash> in <dest> `), global
//! ARGs and per-stage ARG scope, predefined proxy args, unused-build-arg
//! warning, `--label` as a final LABEL step. From BuildKit: only the stages
//! the target needs are built, independent stages build concurrently, RUN
//! `--mount`/`--network`/`--security`, heredocs, COPY `--exclude`/`--chmod`,
//! ADD `--checksum`, automatic platform args.
//!
//! Cache keys are sha256 over the parent image id, the platform, the step's
//! history text (expanded, with build args for RUN), and for COPY/ADD a digest
//! of every copied path with its kind, mode, owner and content hash (content
//! hashed once per build, in parallel). `--no-cache` skips lookups but still
//! records results.
//!
//! Not supported (clear errors): `ADD` of git repositories and `https://`
//! URLs, `COPY --parents`, `ADD --keep-git-dir`. `--cache-from` is accepted
//! and not used (the local cache applies).

#![forbid(unsafe_code)]

pub mod backend;
pub mod error;
pub mod output;

mod config;
mod context;
mod copy;
mod exec;
mod fetch;
mod glob;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use backend::{
    BackendError, BaseImage, BoxedRead, BuildBackend, CacheSharing, LayerHints, MountSource,
    PathStat, RunMount, RunNetwork, RunRequest,
};
pub use error::BuildError;
pub use output::Output;

/// The build context.
pub enum BuildContext {
    /// A directory on disk (read only; never modified). The builder reads
    /// `.dockerignore` / `<Dockerfile>.dockerignore` from it and never sees
    /// excluded files.
    Dir(PathBuf),
    /// A tar stream of the context (plain or gzip-compressed, as `POST /build`
    /// receives it). The builder indexes it in memory, refusing entries
    /// that would escape it (`..`, absolute names are made relative); nothing
    /// is written to disk. `.dockerignore` applies as for `Dir`.
    Tar(BoxedRead),
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildContext::Dir(p) => f.debug_tuple("Dir").field(p).finish(),
            BuildContext::Tar(_) => f.write_str("Tar(..)"),
        }
    }
}

/// Options of a build (the query parameters of `POST /build`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Dockerfile path inside the context (`dockerfile=`); `None`: `Dockerfile`.
    pub dockerfile_path: Option<String>,
    /// The Dockerfile's content when it does not come from the context (e.g.
    /// `docker build -f - .`); overrides `dockerfile_path` for reading.
    pub dockerfile_content: Option<String>,
    /// References to tag the final image with (`t=`, repeatable).
    pub tags: Vec<String>,
    /// `--build-arg`s (`buildargs=`): a `None` value means "take it from the
    /// client's environment" and was resolved by the CLI; it counts as unset.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`: the stage to build (and stop after).
    pub target: Option<String>,
    /// `--no-cache`: do not look up the cache (results are still recorded).
    pub no_cache: bool,
    /// `--pull`: always pull base images.
    pub pull: bool,
    /// `--label`s, applied to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--cache-from` images. The classic builder uses them as cache sources;
    /// this builder accepts the option and relies on its own cache.
    pub cache_from: Vec<String>,
    /// `-q`: print only the final image id.
    pub quiet: bool,
}

/// The result of a successful build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildResult {
    /// The final image id, `sha256:<hex>`.
    pub image_id: String,
}

/// Builds an image from a Dockerfile in `context`.
///
/// Streams Docker's JSON messages to `out` (`Step N/M : ...`, ` ---> Using
/// cache`, ` ---> <id>`, RUN output through the backend, `{"aux":{"ID":...}}`,
/// `Successfully built <id>` and `Successfully tagged <ref>`), tags the final
/// image with every `opts.tags` entry and returns its id. On failure the
/// error is also sent to `out` as the final `errorDetail` message (so the
/// caller must not send it again) and returned.
pub async fn build(
    backend: &dyn BuildBackend,
    context: BuildContext,
    opts: BuildOptions,
    out: &Output,
) -> Result<BuildResult, BuildError> {
    let res = build_inner(backend, context, &opts, out).await;
    if let Err(e) = &res {
        out.error(&e.to_string(), e.code());
    }
    res
}

async fn build_inner(
    backend: &dyn BuildBackend,
    context: BuildContext,
    opts: &BuildOptions,
    out: &Output,
) -> Result<BuildResult, BuildError> {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    let df_path = opts
        .dockerfile_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "Dockerfile".to_string());
    let df_name = df_path.clone();
    let cache_dir = backend.hash_cache_dir();
    let loaded = tokio::task::spawn_blocking(move || match context {
        BuildContext::Dir(dir) => {
            let loaded = context::load_dir(&dir, &df_name)?;
            let file = cache_dir.map(|c| context::hash_cache_file(&c, &dir));
            if let Some(f) = &file {
                context::load_hash_cache(&loaded.tree, f);
            }
            Ok::<_, BuildError>((loaded, file))
        }
        BuildContext::Tar(r) => Ok((context::load_tar(r, &df_name)?, None)),
    })
    .await
    .map_err(|e| BuildError::Internal {
        message: format!("context task: {e}"),
    })??;
    let (loaded, hash_file) = loaded;
    let text = match (&opts.dockerfile_content, &loaded.dockerfile) {
        (Some(t), _) => t.clone(),
        (None, Some(b)) => String::from_utf8_lossy(b).into_owned(),
        (None, None) => {
            return Err(BuildError::DockerfileMissing { path: df_path });
        }
    };
    let df = dockerfile::parse(&text).map_err(|source| BuildError::Parse {
        file: df_path.clone(),
        source,
    })?;
    // --cache-from: local images whose history may match the steps (as the
    // classic builder, they are not pulled; missing ones are skipped).
    let mut cache_from = Vec::new();
    for name in &opts.cache_from {
        match backend.local_image(name).await {
            Ok(Some(img)) => cache_from.push(img.config),
            Ok(None) => {
                tracing::info!(image = %name, "--cache-from image not found locally; skipped")
            }
            Err(e) => tracing::warn!(image = %name, error = %e, "--cache-from image skipped"),
        }
    }
    let step_out = if opts.quiet {
        Output::discard()
    } else {
        out.clone()
    };
    // Global args.
    // BuildKit's automatic platform args: usable in FROM lines, and in a
    // stage after `ARG TARGETARCH` (etc.) without a value.
    let mut meta: Vec<(String, String)> = platform_args(opts.platform.as_deref());
    let mut used: BTreeSet<String> = meta.iter().map(|(k, _)| k.clone()).collect();
    for a in &df.meta_args {
        used.insert(a.name.clone());
        let v = match opts.build_args.get(&a.name).cloned().flatten() {
            Some(v) => Some(v),
            None => match &a.default {
                Some(d) => Some(
                    dockerfile::expand::expand_word(d, df.escape, &meta)
                        .map_err(|source| BuildError::Expand { line: 0, source })?,
                ),
                None => None,
            },
        };
        if let Some(v) = v {
            meta.push((a.name.clone(), v));
        }
    }
    // Target and the stages it needs.
    let target = match &opts.target {
        Some(t) if !t.is_empty() => {
            df.stage(t)
                .map(|(i, _)| i)
                .ok_or_else(|| BuildError::Invalid {
                    message: format!("failed to reach build target {t} in Dockerfile"),
                })?
        }
        _ => df.stages.len() - 1,
    };
    let bases: Vec<String> = df
        .stages
        .iter()
        .map(|s| {
            s.expanded_base(&meta, df.escape)
                .map_err(|source| BuildError::Expand {
                    line: s.location.start_line,
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            todo.extend(exec::stage_deps(&df, i, &bases));
        }
    }
    // Step numbering (global ARGs are steps too, as in the classic builder).
    let mut numbers = std::collections::BTreeMap::new();
    let mut n = df.meta_args.len();
    for &i in &needed {
        numbers.insert(i, n + 1);
        n += 1 + df.stages[i].instructions.len();
    }
    let total = n + usize::from(!opts.labels.is_empty());
    for (k, a) in df.meta_args.iter().enumerate() {
        let text = match &a.default {
            Some(d) => format!("ARG {}={d}", a.name),
            None => format!("ARG {}", a.name),
        };
        step_out.stream(format!("Step {}/{total} : {text}\n", k + 1));
    }
    // Stages build in parallel; their messages read as if built in order.
    let seq = output::Sequencer::new(step_out.clone(), needed.iter().copied().collect());
    let ctx = exec::Ctx {
        backend,
        tree: Arc::new(loaded.tree),
        opts,
        df: &df,
        out: seq.output(),
        seq: seq.clone(),
        cache_from,
        meta,
        used: Mutex::new(used),
        failed: Mutex::new(None),
        numbers,
        total,
        target,
    };
    let result = exec::run_stages(&ctx, &needed).await;
    seq.flush();
    if let Some(file) = hash_file {
        let tree = ctx.tree.clone();
        let saved =
            tokio::task::spawn_blocking(move || context::save_hash_cache(&tree, &file)).await;
        if let Ok(Err(e)) = saved {
            tracing::warn!(error = %e, "could not save the build context hash cache");
        }
    }
    let result = result?;
    // Unused build args.
    let used = ctx.used.lock().map(|g| g.clone()).unwrap_or_default();
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !used.contains(*k) && !exec::PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        step_out.stream(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            names.join(" ")
        ));
    }
    out.aux(serde_json::json!({ "ID": result.image_id }));
    if opts.quiet {
        out.stream(format!("{}\n", result.image_id));
    } else {
        let short: String = result
            .image_id
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        out.stream(format!("Successfully built {short}\n"));
    }
    for t in &opts.tags {
        backend
            .tag(&result.image_id, t)
            .await
            .map_err(|source| BuildError::Backend { step: None, source })?;
        // moby prints the familiar form with the default tag: "app:latest".
        let shown = oci::Reference::parse(t)
            .map(|r| r.familiar_string())
            .unwrap_or_else(|_| t.clone());
        step_out.stream(format!("Successfully tagged {shown}\n"));
    }
    Ok(result)
}

/// `BUILDPLATFORM`, `TARGETPLATFORM` and their parts.
fn platform_args(target: Option<&str>) -> Vec<(String, String)> {
    let host = format!("linux/{}", config::host_arch());
    let target = target
        .filter(|t| !t.is_empty())
        .unwrap_or(&host)
        .to_string();
    let mut out = Vec::new();
    for (prefix, p) in [("BUILD", host.clone()), ("TARGET", target)] {
        let mut parts = p.split('/');
        out.push((format!("{prefix}PLATFORM"), p.clone()));
        out.push((
            format!("{prefix}OS"),
            parts.next().unwrap_or("linux").to_string(),
        ));
        out.push((
            format!("{prefix}ARCH"),
            parts.next().unwrap_or_default().to_string(),
        ));
        out.push((
            format!("{prefix}VARIANT"),
            parts.next().unwrap_or_default().to_string(),
        ));
    }
    out
}

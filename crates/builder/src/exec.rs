//! The executor: stages as a DAG of shared futures, steps with cache keys,
//! and the backend calls that make the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use dockerfile::{Command, Dockerfile, Healthcheck, Instruction, MountType, Step};
use futures::future::{BoxFuture, FutureExt, Shared};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backend::{
    BackendError, BuildBackend, CacheSharing, LayerHints, MountSource, RunMount, RunNetwork,
    RunRequest,
};
use crate::config::{self, go_duration, go_quote, go_quote_list};
use crate::context::{Kind, Tree};
use crate::copy::{self, Owner, Plan};
use crate::error::BuildError;
use crate::output::Output;
use crate::{BuildOptions, BuildResult};

/// The args Docker predefines (usable without `ARG`, kept out of history).
pub(crate) const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// The result of a stage.
#[derive(Debug)]
pub(crate) struct StageOut {
    image: Option<String>,
    config: Value,
}

type StageFut<'a> = Shared<BoxFuture<'a, Result<Arc<StageOut>, ()>>>;

/// Why a stage stopped.
enum Failed {
    /// This stage's own error.
    Err(BuildError),
    /// A stage it depends on failed (that error is recorded already).
    Dep,
}

impl From<BuildError> for Failed {
    fn from(e: BuildError) -> Self {
        Failed::Err(e)
    }
}

fn backend_err(step: &str) -> impl FnOnce(BackendError) -> BuildError + '_ {
    move |source| BuildError::Backend {
        step: Some(step.to_string()),
        source,
    }
}

/// What all stages share.
pub(crate) struct Ctx<'a> {
    pub backend: &'a dyn BuildBackend,
    pub tree: Arc<Tree>,
    pub opts: &'a BuildOptions,
    pub df: &'a Dockerfile,
    /// Progress sink (discarding in quiet mode), ordered by stage.
    pub out: Output,
    /// Orders the stages' messages (see [`crate::output::Sequencer`]).
    pub seq: Arc<crate::output::Sequencer>,
    /// Configs of the `--cache-from` images found locally.
    pub cache_from: Vec<Value>,
    /// Global ARG values.
    pub meta: Vec<(String, String)>,
    /// Build args that were declared somewhere (consumed).
    pub used: Mutex<BTreeSet<String>>,
    /// The first error.
    pub failed: Mutex<Option<BuildError>>,
    /// Step numbers: stage index -> number of its FROM.
    pub numbers: BTreeMap<usize, usize>,
    /// Total steps shown in `Step N/M`.
    pub total: usize,
    /// The target stage.
    pub target: usize,
}

impl Ctx<'_> {
    fn fail(&self, e: BuildError) {
        if let Ok(mut g) = self.failed.lock() {
            if g.is_none() {
                *g = Some(e);
            }
        }
    }

    fn mark_used(&self, name: &str) {
        if let Ok(mut g) = self.used.lock() {
            g.insert(name.to_string());
        }
    }

    /// A build arg's value from `--build-arg` (set ones only).
    fn build_arg(&self, name: &str) -> Option<String> {
        self.opts.build_args.get(name).cloned().flatten()
    }
}

fn short_id(id: &str) -> String {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    h.chars().take(12).collect()
}

fn sha_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A stage's dependencies on earlier stages (FROM, COPY --from, RUN --mount from=).
pub(crate) fn stage_deps(df: &Dockerfile, i: usize, bases: &[String]) -> BTreeSet<usize> {
    let mut deps = BTreeSet::new();
    let by_name = |n: &str| -> Option<usize> {
        if let Ok(idx) = n.parse::<usize>() {
            return (idx < i).then_some(idx);
        }
        df.stages[..i].iter().position(|s| {
            s.name
                .as_deref()
                .is_some_and(|sn| sn.eq_ignore_ascii_case(n))
        })
    };
    if let Some(j) = df.stages[..i].iter().position(|s| {
        s.name
            .as_deref()
            .is_some_and(|sn| sn.eq_ignore_ascii_case(&bases[i]))
    }) {
        deps.insert(j);
    }
    for st in &df.stages[i].instructions {
        match &st.instruction {
            Instruction::Copy(c) => {
                if let Some(j) = c.from.as_deref().and_then(by_name) {
                    deps.insert(j);
                }
            }
            Instruction::Run(r) => {
                for m in &r.mounts {
                    if let Some(j) = m.from.as_deref().and_then(by_name) {
                        deps.insert(j);
                    }
                }
            }
            _ => {}
        }
    }
    deps
}

/// Builds all stages the target needs and returns the target's image.
pub(crate) async fn run_stages(
    ctx: &Ctx<'_>,
    needed: &BTreeSet<usize>,
) -> Result<BuildResult, BuildError> {
    let mut futs: Vec<StageFut<'_>> = Vec::new();
    for i in 0..ctx.df.stages.len() {
        let prev = futs.clone();
        let is_needed = needed.contains(&i);
        let f: BoxFuture<'_, Result<Arc<StageOut>, ()>> = async move {
            if !is_needed {
                // Referenced only at run time (ONBUILD triggers): build it now.
                tracing::debug!(stage = i, "building a stage not planned ahead");
            }
            let res = crate::output::in_stage(i, run_stage(ctx, i, prev)).await;
            ctx.seq.done(i);
            match res {
                Ok(o) => Ok(Arc::new(o)),
                Err(Failed::Err(e)) => {
                    ctx.fail(e);
                    Err(())
                }
                Err(Failed::Dep) => Err(()),
            }
        }
        .boxed();
        futs.push(f.shared());
    }
    let res = futs[ctx.target].clone().await;
    match res {
        Ok(o) => match &o.image {
            Some(id) => Ok(BuildResult {
                image_id: id.clone(),
            }),
            None => Err(BuildError::Invalid {
                message: "No image was generated. Is your Dockerfile empty?".into(),
            }),
        },
        Err(()) => {
            Err(ctx
                .failed
                .lock()
                .ok()
                .and_then(|mut g| g.take())
                .unwrap_or(BuildError::Internal {
                    message: "a stage failed without an error".into(),
                }))
        }
    }
}

/// The mutable state of a stage.
struct State {
    image: Option<String>,
    config: Value,
    /// The image config may carry timestamps of an older build (cache hits);
    /// refreshed from the backend before the next commit.
    stale: bool,
    /// ARGs declared in this stage, with their values.
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
    platform: Option<String>,
}

impl State {
    /// The expansion environment: args (not overridden by ENV), then Env.
    fn env(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        v.extend(config::env_pairs(&self.config));
        v
    }

    fn shell(&self) -> Vec<String> {
        config::cfg_strs(&self.config, "Shell")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    fn nop(&self, comment: &str) -> String {
        format!("{} #(nop)  {comment}", self.shell().join(" "))
    }

    fn nop_str(&self, comment: &str) -> String {
        format!("{} #(nop) {comment}", self.shell().join(" "))
    }

    fn workdir(&self) -> String {
        config::cfg_str(&self.config, "WorkingDir")
    }
}

/// Config changes a step makes, computed once and applied to the (possibly
/// refreshed) config.
#[derive(Default)]
struct Edits {
    sets: Vec<(String, Value)>,
    author: Option<String>,
}

impl Edits {
    fn set(mut self, field: &str, v: Value) -> Self {
        self.sets.push((field.to_string(), v));
        self
    }

    fn apply(&self, config: &mut Value) {
        for (k, v) in &self.sets {
            if v.is_null() {
                config::cfg(config).remove(k);
            } else {
                config::cfg(config).insert(k.clone(), v.clone());
            }
        }
        if let Some(a) = &self.author {
            if let Some(o) = config.as_object_mut() {
                o.insert("author".into(), Value::String(a.clone()));
            }
        }
    }
}

/// How a step commits.
enum Commit {
    /// Config only (empty layer).
    Config,
    /// A RUN container.
    /// The request, the command as shown in errors, and binds of a tar
    /// context to write out on a miss (mount index, context key).
    Run(RunRequest, String, Vec<(usize, String)>),
    /// A layer of files, made on a miss.
    Layer(LayerJob),
}

enum LayerJob {
    /// The files are known (context COPY/ADD). `dest_check`: a single file
    /// copied to a destination without a trailing `/` goes inside it when it
    /// is an existing directory (checked on a miss: the parent id decides it,
    /// so the cache key need not).
    Ready {
        plan: Plan,
        dest_check: Option<DestCheck>,
        /// `--chown` to resolve and apply on a miss.
        chown: Option<(String, &'static str)>,
    },
    /// WORKDIR: creates the directory unless it exists (checked on a miss).
    Workdir(String),
    /// COPY --from an image or stage: exported on a miss.
    FromImage {
        image: String,
        sources: Vec<String>,
        dest: String,
        dest_dir: bool,
        owner: Owner,
        chmod: Option<u32>,
        instruction: &'static str,
        /// `--chown=...` as moby prints it in history (or empty).
        chown_txt: String,
        /// `--exclude` patterns.
        exclude: Option<dockerfile::IgnoreMatcher>,
        /// `--chown` to resolve on a miss.
        chown: Option<String>,
    },
}

/// See [`LayerJob::Ready`].
struct DestCheck {
    /// The destination, absolute, without a trailing `/`.
    dest: String,
    /// The file name to use inside it.
    base: String,
}

/// Whether `path` is an existing directory in `image`.
async fn is_dir(
    ctx: &Ctx<'_>,
    image: Option<&str>,
    path: &str,
    step: &str,
) -> Result<bool, BuildError> {
    match image {
        None => Ok(false),
        Some(img) => Ok(ctx
            .backend
            .stat(img, path)
            .await
            .map_err(backend_err(step))?
            .is_some_and(|s| s.is_dir)),
    }
}

struct Prepared {
    edits: Edits,
    created_by: String,
    commit: Commit,
    key: String,
}

async fn run_stage<'a>(
    ctx: &'a Ctx<'a>,
    i: usize,
    prev: Vec<StageFut<'a>>,
) -> Result<StageOut, Failed> {
    let df = ctx.df;
    let stage = &df.stages[i];
    let base = stage
        .expanded_base(&ctx.meta, df.escape)
        .map_err(|source| BuildError::Expand {
            line: stage.location.start_line,
            source,
        })?;
    let platform = stage
        .expanded_platform(&ctx.meta, df.escape)
        .map_err(|source| BuildError::Expand {
            line: stage.location.start_line,
            source,
        })?
        .or_else(|| ctx.opts.platform.clone());
    // Wait for the stages this one needs, all at once (they build in parallel).
    let deps = stage_deps(df, i, &base_names(ctx)?);
    let dep_futs: Vec<StageFut<'a>> = deps.iter().map(|&j| prev[j].clone()).collect();
    // The first failure stops the wait (the other stages are dropped).
    if futures::future::try_join_all(dep_futs).await.is_err() {
        return Err(Failed::Dep);
    }
    let n0 = ctx.numbers.get(&i).copied().unwrap_or(0);
    let out = &ctx.out;
    out.stream(format!("Step {n0}/{} : {}\n", ctx.total, stage.original));
    let from_stage = df.stages[..i].iter().position(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&base))
    });
    let (image, mut cfgv) = if let Some(j) = from_stage {
        let o = prev[j].clone().await.map_err(|_| Failed::Dep)?;
        (o.image.clone(), o.config.clone())
    } else if base.eq_ignore_ascii_case("scratch") {
        (None, config::scratch_config(platform.as_deref()))
    } else {
        let b = ctx
            .backend
            .image(&base, platform.as_deref(), ctx.opts.pull, out)
            .await
            .map_err(backend_err(&stage.original))?;
        (Some(b.id), b.config)
    };
    out.stream(format!(
        " ---> {}\n",
        image.as_deref().map(short_id).unwrap_or_default()
    ));
    if !config::env_pairs(&cfgv).iter().any(|(k, _)| k == "PATH") {
        config::set_env(
            &mut cfgv,
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    }
    let mut st = State {
        image,
        config: cfgv,
        stale: false,
        args: Vec::new(),
        cmd_set: false,
        platform,
    };
    // ONBUILD triggers of the base image.
    let triggers = config::cfg_strs(&st.config, "OnBuild").unwrap_or_default();
    if !triggers.is_empty() {
        out.stream(format!(
            "# Executing {} build trigger{}\n",
            triggers.len(),
            if triggers.len() == 1 { "" } else { "s" }
        ));
        config::cfg(&mut st.config).remove("OnBuild");
        for t in &triggers {
            let parsed = dockerfile::parse(&format!("FROM scratch\n{t}\n")).map_err(|source| {
                BuildError::Parse {
                    file: "ONBUILD trigger".into(),
                    source,
                }
            })?;
            let Some(step) = parsed.stages.first().and_then(|s| s.instructions.first()) else {
                continue;
            };
            run_step(ctx, i, &prev, &mut st, step, None).await?;
        }
    }
    let mut n = n0;
    for step in &stage.instructions {
        n += 1;
        run_step(ctx, i, &prev, &mut st, step, Some(n)).await?;
    }
    if i == ctx.target && !ctx.opts.labels.is_empty() {
        let pairs: Vec<String> = ctx
            .opts
            .labels
            .iter()
            .map(|(k, v)| format!("{}='{}'", go_quote(k), v))
            .collect();
        let text = format!("LABEL {}", pairs.join(" "));
        let parsed = dockerfile::parse(&format!("FROM scratch\n{text}\n")).map_err(|source| {
            BuildError::Parse {
                file: "--label".into(),
                source,
            }
        })?;
        if let Some(step) = parsed.stages.first().and_then(|s| s.instructions.first()) {
            // The classic builder shows (and records) the labels unquoted.
            let shown: Vec<String> = ctx
                .opts
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut step = step.clone();
            step.original = format!("LABEL {}", shown.join(" "));
            let step = &step;
            n += 1;
            run_step(ctx, i, &prev, &mut st, step, Some(n)).await?;
        }
    }
    if st.stale {
        if let Some(id) = &st.image {
            // Hand the real config to dependants (and keep ids stable).
            let b = ctx
                .backend
                .image(id, None, false, &Output::discard())
                .await
                .map_err(backend_err("FROM"))?;
            st.config = b.config;
        }
    }
    Ok(StageOut {
        image: st.image,
        config: st.config,
    })
}

fn base_names(ctx: &Ctx<'_>) -> Result<Vec<String>, BuildError> {
    ctx.df
        .stages
        .iter()
        .map(|s| {
            s.expanded_base(&ctx.meta, ctx.df.escape)
                .map_err(|source| BuildError::Expand {
                    line: s.location.start_line,
                    source,
                })
        })
        .collect()
}

/// Runs one step: prepare, look up the cache, commit on a miss.
async fn run_step<'a>(
    ctx: &'a Ctx<'a>,
    i: usize,
    prev: &[StageFut<'a>],
    st: &mut State,
    step: &Step,
    number: Option<usize>,
) -> Result<(), Failed> {
    let out = &ctx.out;
    if let Some(n) = number {
        out.stream(format!("Step {n}/{} : {}\n", ctx.total, step.original));
    }
    let Some(p) = prepare(ctx, i, prev, st, step).await? else {
        return Ok(());
    };
    if !ctx.opts.no_cache {
        let hit = ctx
            .backend
            .cache_get(&p.key)
            .await
            .map_err(backend_err(&step.original))?;
        if let Some(id) = hit {
            out.stream(" ---> Using cache\n");
            out.stream(format!(" ---> {}\n", short_id(&id)));
            p.edits.apply(&mut st.config);
            st.image = Some(id);
            st.stale = true;
            return Ok(());
        }
    }
    if st.stale {
        if let Some(id) = &st.image {
            let b = ctx
                .backend
                .image(id, None, false, &Output::discard())
                .await
                .map_err(backend_err(&step.original))?;
            st.config = b.config;
        }
        st.stale = false;
    }
    let mut newcfg = st.config.clone();
    p.edits.apply(&mut newcfg);
    // A cache source whose history continues the parent's with this step.
    let known_created_by = match &p.commit {
        Commit::Layer(LayerJob::FromImage { .. }) => None, // its text is known later
        _ => Some(p.created_by.as_str()),
    };
    if let (false, Some(created_by)) = (ctx.opts.no_cache, known_created_by) {
        if let Some((entry, diff)) = cache_from_match(&ctx.cache_from, &st.config, created_by) {
            let mut cfg = newcfg.clone();
            if let Some(h) = cfg.get_mut("history").and_then(Value::as_array_mut) {
                h.push(entry.clone());
            } else {
                cfg["history"] = Value::Array(vec![entry.clone()]);
            }
            if let Some(d) = diff {
                let mut ids = config::diff_ids(&st.config);
                ids.push(d);
                cfg["rootfs"] = serde_json::json!({"type": "layers", "diff_ids": ids});
            }
            if let Some(c) = entry.get("created") {
                cfg["created"] = c.clone();
            }
            match ctx.backend.commit_image(cfg.clone()).await {
                Ok(id) => {
                    out.stream(" ---> Using cache\n");
                    out.stream(format!(" ---> {}\n", short_id(&id)));
                    ctx.backend
                        .cache_put(&p.key, &id)
                        .await
                        .map_err(backend_err(&step.original))?;
                    st.config = cfg;
                    st.image = Some(id);
                    return Ok(());
                }
                Err(e) => tracing::debug!(error = %e, "--cache-from layer not usable"),
            }
        }
    }
    let parent = st.image.clone();
    let id = match p.commit {
        Commit::Config => {
            config::push_history(&mut newcfg, &p.created_by, true);
            ctx.backend
                .commit_config(parent.as_deref(), newcfg.clone())
                .await
                .map_err(backend_err(&step.original))?
        }
        Commit::Run(mut req, display, pending) => {
            // Binds of an in-memory context: write them out for this run.
            let mut guards = Vec::new();
            for (idx, key) in pending {
                let tree = ctx.tree.clone();
                let (guard, path) = tokio::task::spawn_blocking(move || {
                    let dir = tempfile::Builder::new()
                        .prefix("berth-build-bind-")
                        .tempdir()?;
                    let path = dir.path().join("src");
                    crate::context::materialize(&tree, &key, &path)?;
                    Ok::<_, std::io::Error>((dir, path))
                })
                .await
                .map_err(|e| BuildError::Internal {
                    message: e.to_string(),
                })?
                .map_err(|source| BuildError::Context {
                    context: "writing a RUN --mount=type=bind source".into(),
                    source,
                })?;
                if let Some(m) = req.mounts.get_mut(idx) {
                    m.source = MountSource::Context { path };
                }
                guards.push(guard);
            }
            config::push_history(&mut newcfg, &p.created_by, false);
            let Some(parent) = parent.as_deref() else {
                // A RUN on scratch: an empty rootfs has no shell; the engine
                // still gets to try (exec form may name a binary from a mount).
                return Err(BuildError::Invalid {
                    message: format!(
                        "The command '{display}' cannot run: the stage has no base image (FROM scratch)"
                    ),
                }
                .into());
            };
            let res = ctx.backend.run(parent, req, newcfg.clone(), out).await;
            drop(guards);
            match res {
                Ok(id) => id,
                Err(BackendError::RunFailed { code, tail }) => {
                    return Err(BuildError::RunFailed {
                        command: display,
                        code,
                        tail,
                    }
                    .into())
                }
                Err(e) => return Err(backend_err(&step.original)(e).into()),
            }
        }
        Commit::Layer(job) => {
            let (plan, created_by, source_image) = match job {
                LayerJob::Ready {
                    mut plan,
                    dest_check,
                    chown,
                } => {
                    if let Some((spec, ins)) = chown {
                        let o = resolve_owner(ctx, st, Some(&spec), ins).await?;
                        for it in plan.items.values_mut() {
                            it.uid = o.uid;
                            it.gid = o.gid;
                        }
                    }
                    if let Some(dc) = dest_check {
                        if is_dir(ctx, parent.as_deref(), &dc.dest, &step.original).await? {
                            let rel = dc.dest.trim_start_matches('/').to_string();
                            if let Some(item) = plan.items.remove(&rel) {
                                plan.items.insert(format!("{rel}/{}", dc.base), item);
                            }
                        }
                    }
                    (plan, p.created_by.clone(), None)
                }
                LayerJob::Workdir(path) => {
                    let plan = if is_dir(ctx, parent.as_deref(), &path, &step.original).await? {
                        Plan::default()
                    } else {
                        copy::dir_plan(&path)
                    };
                    (plan, p.created_by.clone(), None)
                }
                LayerJob::FromImage {
                    image,
                    sources,
                    dest,
                    dest_dir,
                    owner,
                    chmod,
                    instruction,
                    chown_txt,
                    exclude,
                    chown,
                } => {
                    let owner = match chown {
                        Some(spec) => resolve_owner(ctx, st, Some(&spec), instruction).await?,
                        None => owner,
                    };
                    let dest_dir = dest_dir
                        || (sources.len() == 1
                            && is_dir(ctx, parent.as_deref(), &dest, &step.original).await?);
                    let plan = export_plan(
                        ctx,
                        &image,
                        &sources,
                        &dest,
                        dest_dir,
                        owner,
                        chmod,
                        instruction,
                        exclude.as_ref(),
                    )
                    .await?;
                    let digest = copy::plan_digest(&plan);
                    let what = copy_hash_label(&plan, &digest);
                    let cb = st.nop_str(&format!(
                        "{instruction} {chown_txt}{what} in {} ",
                        p.created_by
                    ));
                    (plan, cb, Some(image))
                }
            };
            config::push_history(&mut newcfg, &created_by, false);
            // What this step made on this parent last time: the backend may share
            // its unchanged files. Keyed apart from the cache (no content hashes).
            let sibling_key =
                sha_hex(&["sibling", parent.as_deref().unwrap_or(""), &step.original]);
            let sibling = ctx
                .backend
                .cache_get(&sibling_key)
                .await
                .map_err(backend_err(&step.original))?;
            let source = source_image.map(|img| {
                let files = plan
                    .items
                    .iter()
                    .filter(|(_, it)| it.kind == Kind::File)
                    .filter_map(|(dest, it)| Some((dest.clone(), it.origin.clone()?)))
                    .collect();
                (img, files)
            });
            let hints = LayerHints { sibling, source };
            let tar = copy::plan_tar(plan);
            let id = ctx
                .backend
                .add_layer(parent.as_deref(), tar, newcfg.clone(), &hints)
                .await
                .map_err(backend_err(&step.original))?;
            ctx.backend
                .cache_put(&sibling_key, &id)
                .await
                .map_err(backend_err(&step.original))?;
            id
        }
    };
    ctx.backend
        .cache_put(&p.key, &id)
        .await
        .map_err(backend_err(&step.original))?;
    out.stream(format!(" ---> {}\n", short_id(&id)));
    st.config = newcfg;
    st.image = Some(id);
    Ok(())
}

/// `--cache-from`, as moby's classic builder matches it: a source image whose
/// history and layers start with the parent's (`parent`: its config) and whose
/// next history entry was made by `created_by`. Returns that entry and the
/// layer it added (None for an empty layer).
fn cache_from_match(
    sources: &[Value],
    parent: &Value,
    created_by: &str,
) -> Option<(Value, Option<String>)> {
    let history = |v: &Value| v["history"].as_array().cloned().unwrap_or_default();
    let same = |a: &Value, b: &Value| {
        a["created_by"] == b["created_by"]
            && a["empty_layer"].as_bool().unwrap_or(false)
                == b["empty_layer"].as_bool().unwrap_or(false)
    };
    let (hp, lp) = (history(parent), config::diff_ids(parent));
    sources.iter().find_map(|s| {
        let (hs, ls) = (history(s), config::diff_ids(s));
        let next = hs.get(hp.len())?;
        let prefix = hp.iter().zip(&hs).all(|(a, b)| same(a, b)) && ls.starts_with(&lp);
        if !prefix || next["created_by"].as_str() != Some(created_by) {
            return None;
        }
        let diff = if next["empty_layer"].as_bool().unwrap_or(false) {
            None
        } else {
            Some(ls.get(lp.len())?.clone())
        };
        Some((next.clone(), diff))
    })
}

/// moby's source label in COPY/ADD history: `file:`, `dir:` or `multi:`.
fn copy_hash_label(plan: &Plan, digest: &str) -> String {
    match plan.sources.as_slice() {
        [false] => format!("file:{digest}"),
        [true] => format!("dir:{digest}"),
        _ => format!("multi:{digest}"),
    }
}

fn exp_err(step: &Step) -> impl FnOnce(dockerfile::ExpandError) -> BuildError + '_ {
    move |source| BuildError::Expand {
        line: step.location.start_line,
        source,
    }
}

/// Joins `p` to the working directory and cleans it (absolute result).
fn abs_path(workdir: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", if workdir.is_empty() { "/" } else { workdir })
    };
    let trailing = p.ends_with('/') || p.ends_with("/.") || p == ".";
    let clean = format!(
        "/{}",
        crate::context::clean_rel(&joined).unwrap_or_default()
    );
    if trailing && clean != "/" {
        format!("{clean}/")
    } else {
        clean
    }
}

fn key_of(st: &State, kind: &str, text: &str, extra: &[&str]) -> String {
    let parent = st.image.clone().unwrap_or_default();
    let platform = st.platform.clone().unwrap_or_default();
    let mut parts = vec![
        "berth-build-v1",
        parent.as_str(),
        platform.as_str(),
        kind,
        text,
    ];
    parts.extend_from_slice(extra);
    sha_hex(&parts)
}

async fn prepare<'a>(
    ctx: &'a Ctx<'a>,
    i: usize,
    prev: &[StageFut<'a>],
    st: &mut State,
    step: &Step,
) -> Result<Option<Prepared>, Failed> {
    let env = st.env();
    let ins = step.expand(&env).map_err(exp_err(step))?;
    let cfg_only = |st: &State, edits: Edits, comment: String| -> Option<Prepared> {
        let created_by = st.nop(&comment);
        let key = key_of(st, "config", &created_by, &[]);
        Some(Prepared {
            edits,
            created_by,
            commit: Commit::Config,
            key,
        })
    };
    Ok(match ins {
        Instruction::Env(pairs) => {
            let mut tmp = st.config.clone();
            let mut comment = String::from("ENV");
            for (k, v) in &pairs {
                config::set_env(&mut tmp, k, v);
                comment.push_str(&format!(" {k}={v}"));
            }
            let env = config::cfg(&mut tmp)
                .get("Env")
                .cloned()
                .unwrap_or(Value::Null);
            cfg_only(st, Edits::default().set("Env", env), comment)
        }
        Instruction::Label(pairs) => {
            let mut tmp = st.config.clone();
            let mut comment = String::from("LABEL");
            for (k, v) in &pairs {
                config::set_label(&mut tmp, k, v);
                comment.push_str(&format!(" {k}={v}"));
            }
            let l = config::cfg(&mut tmp)
                .get("Labels")
                .cloned()
                .unwrap_or(Value::Null);
            cfg_only(st, Edits::default().set("Labels", l), comment)
        }
        Instruction::Maintainer(m) => {
            let edits = Edits {
                author: Some(m.clone()),
                ..Default::default()
            };
            cfg_only(st, edits, format!("MAINTAINER {m}"))
        }
        Instruction::Expose(ports) => {
            let mut tmp = st.config.clone();
            for p in &ports {
                for norm in normalize_port(p)? {
                    config::set_add(&mut tmp, "ExposedPorts", &norm);
                }
            }
            let v = config::cfg(&mut tmp)
                .get("ExposedPorts")
                .cloned()
                .unwrap_or(Value::Null);
            let mut sorted = ports.clone();
            sorted.sort();
            cfg_only(
                st,
                Edits::default().set("ExposedPorts", v),
                format!("EXPOSE {}", sorted.join(" ")),
            )
        }
        Instruction::Volume(vols) => {
            let mut tmp = st.config.clone();
            for v in &vols {
                if v.trim().is_empty() {
                    return Err(BuildError::Invalid {
                        message: "VOLUME specified can not be an empty string".into(),
                    }
                    .into());
                }
                config::set_add(&mut tmp, "Volumes", v.trim());
            }
            let v = config::cfg(&mut tmp)
                .get("Volumes")
                .cloned()
                .unwrap_or(Value::Null);
            cfg_only(
                st,
                Edits::default().set("Volumes", v),
                format!("VOLUME [{}]", vols.join(" ")),
            )
        }
        Instruction::User(u) => cfg_only(
            st,
            Edits::default().set("User", json!(u)),
            format!("USER {u}"),
        ),
        Instruction::StopSignal(s) => {
            validate_signal(&s)?;
            cfg_only(
                st,
                Edits::default().set("StopSignal", json!(s)),
                format!("STOPSIGNAL {s}"),
            )
        }
        Instruction::Shell(sh) => {
            // moby records SHELL with the new shell already in effect.
            let created_by = format!("{} #(nop)  SHELL [{}]", sh.join(" "), sh.join(" "));
            let key = key_of(st, "config", &created_by, &[]);
            Some(Prepared {
                edits: Edits::default().set("Shell", json!(sh)),
                created_by,
                commit: Commit::Config,
                key,
            })
        }
        Instruction::Cmd(c) => {
            let cmd = resolve_cmd(st, &c);
            st.cmd_set = true;
            cfg_only(
                st,
                Edits::default().set("Cmd", json!(cmd)),
                format!("CMD {}", go_quote_list(&cmd)),
            )
        }
        Instruction::Entrypoint(c) => {
            let ep = resolve_cmd(st, &c);
            let mut e = Edits::default().set("Entrypoint", json!(ep));
            if !st.cmd_set {
                e = e.set("Cmd", Value::Null);
            }
            cfg_only(st, e, format!("ENTRYPOINT {}", go_quote_list(&ep)))
        }
        Instruction::Onbuild(o) => {
            let mut list = config::cfg_strs(&st.config, "OnBuild").unwrap_or_default();
            let expr = o.expression.trim().to_string();
            list.push(expr.clone());
            cfg_only(
                st,
                Edits::default().set("OnBuild", json!(list)),
                format!("ONBUILD {expr}"),
            )
        }
        Instruction::Healthcheck(h) => {
            let (v, text) = match h {
                Healthcheck::None => (
                    json!({"Test": ["NONE"]}),
                    "&{[\"NONE\"] \"0s\" \"0s\" \"0s\" '\\x00'}".to_string(),
                ),
                Healthcheck::Check(c) => {
                    let test = c.test();
                    let mut o = serde_json::Map::new();
                    o.insert("Test".into(), json!(test));
                    let dur = |d: Option<std::time::Duration>| d.unwrap_or_default();
                    for (name, d) in [
                        ("Interval", c.interval),
                        ("Timeout", c.timeout),
                        ("StartPeriod", c.start_period),
                        ("StartInterval", c.start_interval),
                    ] {
                        if let Some(d) = d {
                            if !d.is_zero() {
                                o.insert(name.into(), json!(d.as_nanos() as u64));
                            }
                        }
                    }
                    if let Some(r) = c.retries {
                        if r > 0 {
                            o.insert("Retries".into(), json!(r));
                        }
                    }
                    let text = format!(
                        "&{{{} {} {} {} '\\x{:02x}'}}",
                        go_quote_list(&test),
                        go_quote(&go_duration(dur(c.interval))),
                        go_quote(&go_duration(dur(c.timeout))),
                        go_quote(&go_duration(dur(c.start_period))),
                        c.retries.unwrap_or(0)
                    );
                    (Value::Object(o), text)
                }
            };
            cfg_only(
                st,
                Edits::default().set("Healthcheck", v),
                format!("HEALTHCHECK {text}"),
            )
        }
        Instruction::Arg(decls) => {
            let mut parts = Vec::new();
            for d in decls {
                ctx.mark_used(&d.name);
                let value = ctx
                    .build_arg(&d.name)
                    .or_else(|| d.default.clone())
                    .or_else(|| {
                        ctx.meta
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == d.name)
                            .map(|(_, v)| v.clone())
                    });
                parts.push(match &d.default {
                    Some(v) => format!("{}={v}", d.name),
                    None => d.name.clone(),
                });
                st.args.retain(|(k, _)| *k != d.name);
                st.args.push((d.name.clone(), value));
            }
            cfg_only(st, Edits::default(), format!("ARG {}", parts.join(" ")))
        }
        Instruction::Workdir(w) => {
            let path = abs_path(&st.workdir(), &w);
            let path = if path.len() > 1 {
                path.trim_end_matches('/').to_string()
            } else {
                path
            };
            let edits = Edits::default().set("WorkingDir", json!(path));
            let created_by = st.nop_str(&format!("WORKDIR {path}"));
            let key = key_of(st, "workdir", &created_by, &[]);
            Some(Prepared {
                edits,
                created_by,
                commit: Commit::Layer(LayerJob::Workdir(path)),
                key,
            })
        }
        Instruction::Run(r) => Some(prepare_run(ctx, i, prev, st, step, &r).await?),
        Instruction::Copy(c) => Some(
            prepare_copy(ctx, i, prev, st, step, {
                if c.parents {
                    return Err(BuildError::NotImplemented {
                        what: "COPY --parents".into(),
                    }
                    .into());
                }
                CopyArgs {
                    instruction: "COPY",
                    sources: c.sources,
                    inline: c.inline,
                    dest: c.dest,
                    from: c.from,
                    chown: c.chown,
                    chmod: c.chmod,
                    exclude: c.exclude,
                    unpack: false,
                    checksum: None,
                }
            })
            .await?,
        ),
        Instruction::Add(a) => {
            if a.keep_git_dir.is_some() {
                return Err(BuildError::NotImplemented {
                    what: "ADD --keep-git-dir".into(),
                }
                .into());
            }
            Some(
                prepare_copy(
                    ctx,
                    i,
                    prev,
                    st,
                    step,
                    CopyArgs {
                        instruction: "ADD",
                        sources: a.sources,
                        inline: a.inline,
                        dest: a.dest,
                        from: None,
                        chown: a.chown,
                        chmod: a.chmod,
                        exclude: a.exclude,
                        unpack: a.unpack.unwrap_or(true),
                        checksum: a.checksum,
                    },
                )
                .await?,
            )
        }
    })
}

fn resolve_cmd(st: &State, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = st.shell();
            v.push(s.clone());
            v
        }
    }
}

fn normalize_port(p: &str) -> Result<Vec<String>, BuildError> {
    let (port, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    let bad = || BuildError::Invalid {
        message: format!("invalid containerPort: {port}"),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(BuildError::Invalid {
            message: format!("invalid proto: {proto}"),
        });
    }
    let (lo, hi) = match port.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let v = port.parse::<u16>().map_err(|_| bad())?;
            (v, v)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

fn validate_signal(s: &str) -> Result<(), BuildError> {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    ];
    if let Ok(n) = s.parse::<u32>() {
        if n > 0 && n < 65 {
            return Ok(());
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if NAMES.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX") {
        return Ok(());
    }
    Err(BuildError::Invalid {
        message: format!("Invalid signal: {s}"),
    })
}

/// Resolves a stage reference (`--from=name|index`) or None for an image.
fn stage_ref(ctx: &Ctx<'_>, i: usize, name: &str) -> Result<Option<usize>, BuildError> {
    if let Ok(idx) = name.parse::<usize>() {
        if idx >= i {
            return Err(BuildError::Invalid {
                message: format!(
                    "invalid from flag value {name}: refers to current or future build stage"
                ),
            });
        }
        return Ok(Some(idx));
    }
    if let Some(j) = ctx.df.stages.iter().position(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) {
        if j >= i {
            return Err(BuildError::Invalid {
                message: format!(
                    "invalid from flag value {name}: refers to current or future build stage"
                ),
            });
        }
        return Ok(Some(j));
    }
    Ok(None)
}

/// The image id of `--from` / `from=` (stage or image).
async fn from_image<'a>(
    ctx: &'a Ctx<'a>,
    i: usize,
    prev: &[StageFut<'a>],
    st: &State,
    name: &str,
) -> Result<String, Failed> {
    match stage_ref(ctx, i, name)? {
        Some(j) => {
            let o = prev[j].clone().await.map_err(|_| Failed::Dep)?;
            o.image.clone().ok_or_else(|| {
                Failed::Err(BuildError::Invalid {
                    message: format!("stage {name} has no image (an empty FROM scratch stage)"),
                })
            })
        }
        None => {
            let b = ctx
                .backend
                .image(name, st.platform.as_deref(), false, &ctx.out)
                .await
                .map_err(backend_err(name))?;
            Ok(b.id)
        }
    }
}

async fn prepare_run<'a>(
    ctx: &'a Ctx<'a>,
    i: usize,
    prev: &[StageFut<'a>],
    st: &State,
    step: &Step,
    r: &dockerfile::Run,
) -> Result<Prepared, Failed> {
    let cmd: Vec<String> = match &r.command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut script = s.clone();
            if !r.heredocs.is_empty() {
                let only_heredoc = r.heredocs.len() == 1 && {
                    let t = s.trim();
                    t.starts_with("<<") && !t.contains(char::is_whitespace)
                };
                if only_heredoc {
                    let body = r.heredocs[0].body();
                    script = if body.starts_with("#!") {
                        // BuildKit runs a script with a shebang as a file.
                        interpreted_script(&body)
                    } else {
                        body
                    };
                } else {
                    for h in &r.heredocs {
                        script.push('\n');
                        script.push_str(&h.content);
                        script.push_str(&h.name);
                    }
                    script.push('\n');
                }
            }
            let mut v = st.shell();
            v.push(script);
            v
        }
    };
    // Build args in effect: declared args with a value, not overridden by ENV.
    let env_keys: BTreeSet<String> = config::env_pairs(&st.config)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut hist_args: Vec<String> = Vec::new();
    let mut run_env: Vec<String> = config::env_pairs(&st.config)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for (k, v) in &st.args {
        if let Some(v) = v {
            if !env_keys.contains(k) {
                hist_args.push(format!("{k}={v}"));
                run_env.push(format!("{k}={v}"));
            }
        }
    }
    for p in PREDEFINED_ARGS {
        if st.args.iter().any(|(k, _)| k == p) || env_keys.contains(*p) {
            continue;
        }
        if let Some(v) = ctx.build_arg(p) {
            ctx.mark_used(p);
            run_env.push(format!("{p}={v}"));
        }
    }
    hist_args.sort();
    let display = cmd.join(" ");
    let created_by = if hist_args.is_empty() {
        display.clone()
    } else {
        format!("|{} {} {display}", hist_args.len(), hist_args.join(" "))
    };
    let mut mounts = Vec::new();
    let mut mount_keys = Vec::new();
    let mut pending = Vec::new();
    for m in &r.mounts {
        let target = m.target.clone().map(|t| abs_path(&st.workdir(), &t));
        let target_or = |d: String| target.clone().unwrap_or(d);
        let source = match m.mount_type {
            MountType::Bind => match &m.from {
                None => {
                    let src = m.source.clone().unwrap_or_else(|| "/".into());
                    let Some(clean) = crate::context::clean_rel(&src) else {
                        return Err(BuildError::OutsideContext {
                            instruction: "RUN --mount",
                            path: src,
                        }
                        .into());
                    };
                    let resolved =
                        ctx.tree
                            .resolve(&clean)
                            .map_err(|_| BuildError::OutsideContext {
                                instruction: "RUN --mount",
                                path: src.clone(),
                            })?;
                    if !ctx.tree.entries.contains_key(&resolved) {
                        return Err(BuildError::SourceNotFound {
                            instruction: "RUN --mount",
                            path: src,
                        }
                        .into());
                    }
                    // Cover the bound files' content in the cache key.
                    let mut plan = Plan::default();
                    let matched = [copy::Matched {
                        key: resolved.clone(),
                        name: resolved.clone(),
                    }];
                    copy::plan_tree(
                        &mut plan,
                        &ctx.tree,
                        &matched,
                        "/",
                        true,
                        Owner {
                            uid: 0,
                            gid: 0,
                            explicit: false,
                        },
                        None,
                        None,
                    )
                    .map_err(|source| BuildError::Context {
                        context: format!("hashing {src}"),
                        source,
                    })?;
                    mount_keys.push(copy::plan_digest(&plan));
                    match &ctx.tree.root {
                        Some(root) => MountSource::Context {
                            path: root.join(&resolved),
                        },
                        None => {
                            pending.push((mounts.len(), resolved.clone()));
                            MountSource::Context {
                                path: std::path::PathBuf::new(),
                            }
                        }
                    }
                }
                Some(f) => {
                    let image = from_image(ctx, i, prev, st, f).await?;
                    let path = format!(
                        "/{}",
                        crate::context::clean_rel(m.source.as_deref().unwrap_or("/"))
                            .unwrap_or_default()
                    );
                    mount_keys.push(image.clone());
                    MountSource::Image { image, path }
                }
            },
            MountType::Cache => {
                let seed = match &m.from {
                    Some(f) => {
                        let image = from_image(ctx, i, prev, st, f).await?;
                        Some((image, m.source.clone().unwrap_or_else(|| "/".into())))
                    }
                    None => None,
                };
                MountSource::Cache {
                    id: m.id.clone().unwrap_or_else(|| target_or(String::new())),
                    sharing: match m.sharing {
                        Some(dockerfile::CacheSharing::Private) => CacheSharing::Private,
                        Some(dockerfile::CacheSharing::Locked) => CacheSharing::Locked,
                        _ => CacheSharing::Shared,
                    },
                    seed,
                }
            }
            MountType::Tmpfs => MountSource::Tmpfs { size: m.size },
            MountType::Secret => {
                let id = m.id.clone().unwrap_or_else(|| {
                    target
                        .as_deref()
                        .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
                        .unwrap_or_default()
                });
                MountSource::Secret {
                    id,
                    required: m.required,
                    env: m.env.clone(),
                }
            }
            MountType::Ssh => MountSource::Ssh {
                id: m.id.clone().unwrap_or_else(|| "default".into()),
                required: m.required,
            },
        };
        let target = match (&source, target.clone()) {
            (_, Some(t)) => t,
            // With env= and no target, the secret is only a variable (BuildKit).
            (MountSource::Secret { env: Some(_), .. }, None) => String::new(),
            (MountSource::Secret { id, .. }, None) => format!("/run/secrets/{id}"),
            (MountSource::Ssh { .. }, None) => "/run/buildkit/ssh_agent.0".into(),
            _ => {
                return Err(BuildError::Invalid {
                    message: format!("mount type {} requires a target", m.mount_type.as_str()),
                }
                .into())
            }
        };
        mounts.push(RunMount {
            source,
            target,
            readonly: m.readonly,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
        });
    }
    let network = match r.network {
        dockerfile::NetworkMode::Default => RunNetwork::Default,
        dockerfile::NetworkMode::None => RunNetwork::None,
        dockerfile::NetworkMode::Host => RunNetwork::Host,
    };
    let privileged = r.security == dockerfile::SecurityMode::Insecure;
    let mounts_dbg = format!(
        "{:?}|{:?}|{privileged}|{}",
        r.mount_flags,
        network,
        mount_keys.join(",")
    );
    let _ = step;
    let key = key_of(st, "run", &created_by, &[&mounts_dbg]);
    let req = RunRequest {
        cmd,
        env: run_env,
        user: config::cfg_str(&st.config, "User"),
        workdir: st.workdir(),
        network,
        privileged,
        mounts,
        platform: st.platform.clone(),
    };
    Ok(Prepared {
        edits: Edits::default(),
        created_by,
        commit: Commit::Run(req, display, pending),
        key,
    })
}

struct CopyArgs {
    instruction: &'static str,
    sources: Vec<String>,
    inline: Vec<dockerfile::InlineSource>,
    dest: String,
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<String>,
    exclude: Vec<String>,
    unpack: bool,
    /// `ADD --checksum` (`sha256:<hex>`), for URL sources.
    checksum: Option<String>,
}

/// Resolves `--chown` against the image's /etc/passwd and /etc/group.
async fn resolve_owner(
    ctx: &Ctx<'_>,
    st: &State,
    chown: Option<&str>,
    instruction: &str,
) -> Result<Owner, BuildError> {
    let Some(spec) = chown.filter(|s| !s.is_empty()) else {
        return Ok(Owner {
            uid: 0,
            gid: 0,
            explicit: false,
        });
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |path: &'static str| async move {
        let Some(img) = &st.image else {
            return Ok::<Option<String>, BuildError>(None);
        };
        let r = match ctx.backend.export_path(img, path).await {
            Ok(r) => r,
            Err(BackendError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(backend_err(instruction)(e)),
        };
        let tree = tokio::task::spawn_blocking(move || crate::context::read_tar(r))
            .await
            .map_err(|e| BuildError::Internal {
                message: e.to_string(),
            })??;
        let mut text = None;
        for (_, e) in tree.entries.iter() {
            if e.kind == Kind::File {
                let mut v = Vec::new();
                use std::io::Read;
                if let Ok(mut r) = e.open() {
                    let _ = r.read_to_end(&mut v);
                }
                text = Some(String::from_utf8_lossy(&v).into_owned());
            }
        }
        Ok(text)
    };
    let err = |what: &str, name: &str, file: &str| {
        BuildError::Invalid {
        message: format!(
            "{instruction} failed: unable to convert uid/gid chown string to host mapping: can't find {what} for {} {name}: no such {} {name} in {file}",
            if what == "uid" { "user" } else { "group" },
            if what == "uid" { "user" } else { "group" },
        ),
    }
    };
    let (uid, primary) = match user.parse::<u64>() {
        Ok(n) => (n, None),
        Err(_) => {
            let passwd = read("/etc/passwd").await?.unwrap_or_default();
            let (u, g) =
                copy::lookup_id(&passwd, user).ok_or_else(|| err("uid", user, "/etc/passwd"))?;
            (u, Some(g))
        }
    };
    let group = group.unwrap_or(user);
    let gid = match group.parse::<u64>() {
        Ok(n) => n,
        Err(_) if group == user && primary.is_some() && spec.split_once(':').is_none() => {
            // `--chown=name`: moby looks the same name up as a group.
            let groups = read("/etc/group").await?.unwrap_or_default();
            match copy::lookup_id(&groups, group) {
                Some((g, _)) => g,
                None => return Err(err("gid", group, "/etc/group")),
            }
        }
        Err(_) => {
            let groups = read("/etc/group").await?.unwrap_or_default();
            copy::lookup_id(&groups, group)
                .map(|(g, _)| g)
                .ok_or_else(|| err("gid", group, "/etc/group"))?
        }
    };
    Ok(Owner {
        uid,
        gid,
        explicit: true,
    })
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn prepare_copy<'a>(
    ctx: &'a Ctx<'a>,
    i: usize,
    prev: &[StageFut<'a>],
    st: &State,
    step: &Step,
    a: CopyArgs,
) -> Result<Prepared, Failed> {
    let ins = a.instruction;
    let exclude = if a.exclude.is_empty() {
        None
    } else {
        Some(
            dockerfile::IgnoreMatcher::new(&a.exclude).map_err(|source| BuildError::Invalid {
                message: format!("{ins} failed: invalid --exclude pattern: {source}"),
            })?,
        )
    };
    let exclude_txt = a.exclude.join("\u{0}");
    let workdir = st.workdir();
    let dest = abs_path(&workdir, &a.dest);
    let nsrc = a.sources.len() + a.inline.len();
    let multi = nsrc > 1 || a.sources.iter().any(|s| crate::glob::has_meta(s));
    let mut dest_dir = dest.ends_with('/');
    if nsrc > 1 && !dest_dir {
        return Err(BuildError::Invalid {
            message: format!("When using {ins} with more than one source file, the destination must be a directory and end with a /"),
        }
        .into());
    }
    let dest_clean = if dest.len() > 1 {
        dest.trim_end_matches('/').to_string()
    } else {
        dest.clone()
    };
    if dest_clean == "/" {
        dest_dir = true;
    }
    let chmod = a
        .chmod
        .as_deref()
        .map(|m| copy::parse_chmod(m, ins))
        .transpose()?;
    // `--chown` names are resolved on a miss (the parent id and the spec
    // decide the result, so the key holds the spec); until then the files
    // are planned as root-owned.
    let chown_spec = a.chown.clone().filter(|c| !c.is_empty());
    let owner = Owner {
        uid: 0,
        gid: 0,
        explicit: chown_spec.is_some(),
    };
    let flags = format!(
        "{:?}|{:?}|{}:{}:{}",
        a.chown, a.chmod, owner.uid, owner.gid, owner.explicit
    );
    // moby writes the --chown flag glued to the hash (`--chown=a:bfile:...`).
    let chown_txt = a
        .chown
        .as_deref()
        .map(|c| format!("--chown={c}"))
        .unwrap_or_default();
    if let Some(from) = &a.from {
        let image = from_image(ctx, i, prev, st, from).await?;
        let key = key_of(
            st,
            "copy-from",
            &step.original,
            &[
                &image,
                &a.sources.join("\u{0}"),
                &dest,
                &flags,
                &dest_dir.to_string(),
                &exclude_txt,
            ],
        );
        return Ok(Prepared {
            edits: Edits::default(),
            created_by: a.dest.clone(),
            commit: Commit::Layer(LayerJob::FromImage {
                image,
                sources: a.sources.clone(),
                dest: dest_clean,
                dest_dir: dest_dir || multi,
                owner,
                chmod,
                instruction: ins,
                chown_txt,
                exclude,
                chown: chown_spec,
            }),
            key,
        });
    }
    let mut plan = Plan::default();
    let mut urls = Vec::new();
    let mut local = Vec::new();
    for s in &a.sources {
        if ins == "ADD" && (s.starts_with("http://") || s.starts_with("https://")) {
            urls.push(s.clone());
        } else if ins == "ADD"
            && (s.starts_with("git@")
                || s.starts_with("git://")
                || (s.contains("://") && s.ends_with(".git")))
        {
            return Err(BuildError::NotImplemented {
                what: format!("ADD of a git repository ({s})"),
            }
            .into());
        } else {
            local.push(s.clone());
        }
    }
    if a.checksum.is_some() && (urls.len() != 1 || !local.is_empty()) {
        return Err(BuildError::Invalid {
            message: "checksum can't be specified for non-HTTP(S) sources".into(),
        }
        .into());
    }
    let mut downloads = Vec::new();
    for u in &urls {
        ctx.out.stream(format!("Downloading {u}\n"));
        let d = crate::fetch::download(u).await?;
        if let Some(want) = &a.checksum {
            let got = format!("sha256:{}", hex::encode(Sha256::digest(&d.data)));
            if !want.starts_with("sha256:") {
                return Err(BuildError::Invalid {
                    message: format!("unsupported digest algorithm in --checksum={want}"),
                }
                .into());
            }
            if *want != got {
                return Err(BuildError::Invalid {
                    message: format!("digest mismatch {got}: {want}"),
                }
                .into());
            }
        }
        downloads.push(d);
    }
    let tree = ctx.tree.clone();
    let matched = copy::match_sources(&tree, &local, ins, true)?;
    // ADD auto-extracts local tar archives into the destination directory.
    let mut archives = Vec::new();
    let mut plain = Vec::new();
    for m in matched {
        let is_archive = a.unpack
            && ins == "ADD"
            && tree
                .entries
                .get(&m.key)
                .is_some_and(|e| e.kind == Kind::File && looks_like_tar(e));
        if is_archive {
            archives.push(m);
        } else {
            plain.push(m);
        }
    }
    // A single file to a destination without a trailing `/`: it goes inside
    // the destination if that is an existing directory (checked on a miss).
    let single_base: Option<String> = if nsrc != 1 || dest_dir || multi || dest_clean == "/" {
        None
    } else if let [m] = plain.as_slice() {
        tree.entries
            .get(&m.key)
            .filter(|e| e.kind != Kind::Dir)
            .map(|_| m.name.rsplit('/').next().unwrap_or(&m.name).to_string())
    } else if let [d] = downloads.as_slice() {
        Some(d.name.clone())
    } else if let [src] = a.inline.as_slice() {
        Some(src.path.clone())
    } else {
        None
    };
    let owner_c = owner;
    let dest_c = dest_clean.clone();
    let tree_c = tree.clone();
    let exclude_c = exclude.clone();
    let dd = dest_dir || multi;
    plan = tokio::task::spawn_blocking(move || -> Result<Plan, BuildError> {
        copy::plan_tree(
            &mut plan,
            &tree_c,
            &plain,
            &dest_c,
            dd,
            owner_c,
            chmod,
            exclude_c.as_ref(),
        )
        .map_err(|source| BuildError::Context {
            context: "reading files to copy".into(),
            source,
        })?;
        for m in &archives {
            let Some(e) = tree_c.entries.get(&m.key) else {
                continue;
            };
            let r = e.open().map_err(|source| BuildError::Context {
                context: format!("opening {}", m.name),
                source,
            })?;
            let sub = crate::context::read_tar(r)?;
            let all = [copy::Matched {
                key: String::new(),
                name: String::new(),
            }];
            let n = plan.sources.len();
            copy::plan_tree(&mut plan, &sub, &all, &dest_c, true, owner_c, chmod, None).map_err(
                |source| BuildError::Context {
                    context: format!("extracting {}", m.name),
                    source,
                },
            )?;
            // An archive counts as a file source in the history text.
            plan.sources.truncate(n);
            plan.sources.push(false);
        }
        Ok(plan)
    })
    .await
    .map_err(|e| BuildError::Internal {
        message: e.to_string(),
    })??;
    for d in downloads {
        // Like moby: mode 0600, named after the URL unless the destination
        // names the file.
        let target = if dest_dir || multi {
            format!("{}/{}", dest_clean.trim_end_matches('/'), d.name)
        } else {
            dest_clean.clone()
        };
        copy::plan_bytes(
            &mut plan,
            &target,
            d.data,
            chmod.unwrap_or(0o600),
            owner,
            now_secs(),
        );
    }
    for src in &a.inline {
        let target = if dest_dir || multi {
            format!("{}/{}", dest_clean.trim_end_matches('/'), src.path)
        } else {
            dest_clean.clone()
        };
        copy::plan_bytes(
            &mut plan,
            &target,
            src.data.clone().into_bytes(),
            chmod.unwrap_or(0o644),
            owner,
            now_secs(),
        );
    }
    let digest = copy::plan_digest(&plan);
    let label = copy_hash_label(&plan, &digest);
    let created_by = st.nop_str(&format!("{ins} {chown_txt}{label} in {} ", a.dest));
    let key = key_of(
        st,
        "copy",
        &created_by,
        &[&dest, &flags, &dest_dir.to_string(), &exclude_txt],
    );
    Ok(Prepared {
        edits: Edits::default(),
        created_by,
        commit: Commit::Layer(LayerJob::Ready {
            plan,
            dest_check: single_base.map(|base| DestCheck {
                dest: dest_clean.clone(),
                base,
            }),
            chown: chown_spec.map(|c| (c, ins)),
        }),
        key,
    })
}

/// Whether a file is a tar archive ADD extracts (plain or gzip).
fn looks_like_tar(e: &crate::context::Entry) -> bool {
    use std::io::Read;
    let Ok(mut r) = e.open() else { return false };
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    head.truncate(n);
    if head.starts_with(&[0x1f, 0x8b]) {
        // gzip: check the tar magic inside.
        let Ok(r) = e.open() else { return false };
        let mut d = flate2::read::GzDecoder::new(r);
        let mut inner = vec![0u8; 512];
        let mut m = 0;
        while m < inner.len() {
            match d.read(&mut inner[m..]) {
                Ok(0) => break,
                Ok(k) => m += k,
                Err(_) => return false,
            }
        }
        return m >= 262 && &inner[257..262] == b"ustar";
    }
    n >= 262 && &head[257..262] == b"ustar"
}

/// Exports `sources` from an image and plans the layer.
#[allow(clippy::too_many_arguments)]
async fn export_plan(
    ctx: &Ctx<'_>,
    image: &str,
    sources: &[String],
    dest: &str,
    dest_dir: bool,
    owner: Owner,
    chmod: Option<u32>,
    instruction: &'static str,
    exclude: Option<&dockerfile::IgnoreMatcher>,
) -> Result<Plan, BuildError> {
    let mut plan = Plan::default();
    for src in sources {
        // Inside an image, `..` stops at the root (as in a container).
        let mut parts: Vec<&str> = Vec::new();
        for seg in src.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        let clean = parts.join("/");
        // Export the directory holding the first glob component (or the path).
        let comps: Vec<&str> = clean.split('/').filter(|c| !c.is_empty()).collect();
        let first_meta = comps.iter().position(|c| crate::glob::has_meta(c));
        let export = match first_meta {
            Some(k) => comps[..k].join("/"),
            None => clean.clone(),
        };
        let export_abs = format!("/{export}");
        let r = match ctx.backend.export_path(image, &export_abs).await {
            Ok(r) => r,
            Err(BackendError::NotFound { .. }) => {
                return Err(BuildError::SourceNotFound {
                    instruction,
                    path: src.clone(),
                })
            }
            Err(e) => return Err(backend_err(instruction)(e)),
        };
        // Glob exports: entries are relative to the export's parent.
        let prefix = crate::context::parent_of(&export).to_string();
        let src_c = src.clone();
        let dest_c = dest.to_string();
        let exclude = exclude.cloned();
        let is_glob = first_meta.is_some();
        let mut p = std::mem::take(&mut plan);
        plan = tokio::task::spawn_blocking(move || -> Result<Plan, BuildError> {
            let mut sub = crate::context::read_tar(r)?;
            // Where each file was in the image, so the engine may share it.
            for (k, e) in sub.entries.iter_mut() {
                if e.kind == Kind::File && !k.is_empty() {
                    e.origin = Some(if prefix.is_empty() {
                        format!("/{k}")
                    } else {
                        format!("/{prefix}/{k}")
                    });
                }
            }
            if !is_glob {
                // The export holds the path itself as its one top-level
                // entry (named after the path, or after the symlink target
                // the backend followed); a root export holds the image's
                // top-level entries.
                let top: Vec<&String> = sub
                    .entries
                    .keys()
                    .filter(|k| !k.is_empty() && !k.contains('/'))
                    .collect();
                let base = clean.rsplit('/').next().unwrap_or("");
                let key = if clean.is_empty() {
                    String::new()
                } else if let [one] = top.as_slice() {
                    (*one).clone()
                } else if let Some(k) = top.iter().find(|k| k.as_str() == base) {
                    (*k).clone()
                } else {
                    return Err(BuildError::SourceNotFound {
                        instruction,
                        path: src_c.clone(),
                    });
                };
                let matched = [copy::Matched {
                    key,
                    name: clean.clone(),
                }];
                copy::plan_tree(
                    &mut p,
                    &sub,
                    &matched,
                    &dest_c,
                    dest_dir,
                    owner,
                    chmod,
                    exclude.as_ref(),
                )
                .map_err(|source| BuildError::Context {
                    context: format!("copying {src_c}"),
                    source,
                })?;
                return Ok(p);
            }
            // Re-root the exported entries at their absolute location.
            let mut tree = Tree {
                rooted: true,
                ..Tree::default()
            };
            tree.entries
                .insert(String::new(), crate::context::Entry::dir_for_root());
            for (k, e) in sub.entries {
                let full = match (prefix.is_empty(), k.is_empty()) {
                    (_, true) if prefix.is_empty() => continue,
                    (_, true) => prefix.clone(),
                    (true, false) => k,
                    (false, false) => format!("{prefix}/{k}"),
                };
                tree.insert(full, e);
            }
            let matched = copy::match_sources(&tree, &[format!("/{clean}")], instruction, false)
                .map_err(|e| match e {
                    BuildError::SourceNotFound { .. } => BuildError::SourceNotFound {
                        instruction,
                        path: src_c.clone(),
                    },
                    other => other,
                })?;
            copy::plan_tree(
                &mut p,
                &tree,
                &matched,
                &dest_c,
                dest_dir,
                owner,
                chmod,
                exclude.as_ref(),
            )
            .map_err(|source| BuildError::Context {
                context: format!("copying {src_c}"),
                source,
            })?;
            Ok(p)
        })
        .await
        .map_err(|e| BuildError::Internal {
            message: e.to_string(),
        })??;
    }
    Ok(plan)
}

/// A shell script that writes `body` (which starts with `#!`) to a temporary
/// file, runs it and removes it, keeping its exit code.
fn interpreted_script(body: &str) -> String {
    let mut delim = String::from("BERTH_SCRIPT_EOF");
    while body.lines().any(|l| l == delim) {
        delim.push('_');
    }
    let nl = if body.ends_with('\n') { "" } else { "\n" };
    format!(
        "__berth_script=$(mktemp) && cat > \"$__berth_script\" <<'{delim}'\n{body}{nl}{delim}\nchmod +x \"$__berth_script\" && \"$__berth_script\"; __berth_rc=$?; rm -f \"$__berth_script\"; exit $__berth_rc\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_scripts_run_from_a_file() {
        let s = interpreted_script("#!/usr/bin/env python3\nprint(1)\n");
        assert!(s.starts_with("__berth_script=$(mktemp) && cat > \"$__berth_script\" <<'BERTH_SCRIPT_EOF'\n#!/usr/bin/env python3\nprint(1)\nBERTH_SCRIPT_EOF\n"));
        assert!(s.ends_with("exit $__berth_rc\n"));
        let s = interpreted_script("#!/bin/sh\nBERTH_SCRIPT_EOF\n");
        assert!(s.contains("<<'BERTH_SCRIPT_EOF_'"));
    }

    #[test]
    fn shebang_script_runs_in_sh() {
        let s = interpreted_script("#!/bin/sh\necho \"hi $0\" | grep -c hi\nexit 3\n");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&s)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    }

    #[test]
    fn ports_and_signals() {
        assert_eq!(normalize_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(normalize_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(normalize_port("1-3/tcp").unwrap().len(), 3);
        assert!(normalize_port("x").is_err());
        assert!(normalize_port("80/foo").is_err());
        assert!(validate_signal("SIGTERM").is_ok());
        assert!(validate_signal("kill").is_ok());
        assert!(validate_signal("9").is_ok());
        assert!(validate_signal("SIGRTMIN+3").is_ok());
        assert!(validate_signal("NOPE").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(abs_path("", "app"), "/app");
        assert_eq!(abs_path("/w", "a/../b/"), "/w/b/");
        assert_eq!(abs_path("/w", "."), "/w/");
        assert_eq!(abs_path("/w", "/x/./y"), "/x/y");
        assert_eq!(abs_path("/", "../.."), "/");
    }
}

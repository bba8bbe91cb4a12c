//! The loaded project: normalisation, validation, canonical output, hashes and ordering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::de::NodeDe;
use crate::error::ComposeError;
use crate::loader::{self, Ctx, FileLoader};
use crate::merge;
use crate::model::{FileObject, Model, Network, RawProject, Service, Volume, VolumeType};
use crate::yaml::{Kind, Node};

/// How to find and read a project (the `docker compose` global flags).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f`, in order; empty = discover `compose.yaml` (and its override) in `working_dir`.
    pub files: Vec<PathBuf>,
    /// `--project-directory`; empty = the directory of the first file.
    pub working_dir: PathBuf,
    /// `-p`; else `COMPOSE_PROJECT_NAME`; else top-level `name`; else the directory name.
    pub project_name: Option<String>,
    /// `--env-file`; empty = `<working_dir>/.env` if it exists.
    pub env_files: Vec<PathBuf>,
    /// The process environment (pass `std::env::vars().collect()`).
    pub environment: BTreeMap<String, String>,
    /// `--profile`; empty = `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
}

/// One typed, validated, normalised Compose project.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Project {
    pub name: String,
    pub working_dir: PathBuf,
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Network>,
    pub volumes: BTreeMap<String, Volume>,
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    pub models: BTreeMap<String, Model>,
    /// Services whose profiles are not active.
    pub disabled_services: BTreeMap<String, Service>,
    /// Top-level `x-*` keys.
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// Active profiles.
    pub profiles: Vec<String>,
    /// The variables used for interpolation (`.env` under the process environment).
    pub environment: BTreeMap<String, String>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// Non-fatal findings (unset variables, missing optional env files, ...).
    pub warnings: Vec<String>,
}

/// Loads the project described by `opts` from disk.
pub fn load(opts: &LoadOptions) -> Result<Project, ComposeError> {
    let mut working_dir = opts.working_dir.clone();
    let mut files = opts.files.clone();
    if files.is_empty() {
        if working_dir.as_os_str().is_empty() {
            working_dir = std::env::current_dir().map_err(|source| ComposeError::Io {
                path: PathBuf::from("."),
                source,
            })?;
        }
        let env = interpolation_env(opts, &working_dir, &mut Vec::new())?;
        files = match env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            Some(list) => {
                let sep = env
                    .get("COMPOSE_PATH_SEPARATOR")
                    .map(String::as_str)
                    .unwrap_or(":");
                list.split(sep).map(|f| working_dir.join(f)).collect()
            }
            None => loader::discover(&working_dir)?,
        };
    } else if working_dir.as_os_str().is_empty() {
        working_dir = files[0]
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
    }
    if working_dir.is_relative() {
        if let Ok(cwd) = std::env::current_dir() {
            working_dir = cwd.join(working_dir);
        }
    }
    let mut sources = Vec::with_capacity(files.len());
    for f in &files {
        sources.push((f.display().to_string(), loader::read(f)?));
    }
    let refs: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let mut opts = opts.clone();
    opts.working_dir = working_dir;
    let mut p = load_from_str(&refs, &opts)?;
    p.files = files;
    Ok(p)
}

fn interpolation_env(
    opts: &LoadOptions,
    working_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let env_files = if opts.env_files.is_empty() {
        let p = working_dir.join(".env");
        if p.is_file() {
            vec![p]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|p| working_dir.join(p)).collect()
    };
    let mut env = BTreeMap::new();
    for f in env_files {
        let text = loader::read(&f)?;
        let known = env.clone();
        let lookup = |k: &str| opts.environment.get(k).or_else(|| known.get(k)).cloned();
        for (k, v) in crate::dotenv::parse(&f, &text, &lookup, false, warnings)? {
            if let Some(v) = v {
                env.insert(k, v);
            }
        }
    }
    env.extend(opts.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// Loads a project from in-memory files `(name, content)`; relative paths resolve against
/// `opts.working_dir` (`opts.files` is ignored).
pub fn load_from_str(files: &[(&str, &str)], opts: &LoadOptions) -> Result<Project, ComposeError> {
    let working_dir = opts.working_dir.clone();
    let mut ctx = Ctx {
        home: opts.environment.get("HOME").map(PathBuf::from),
        warnings: Vec::new(),
    };
    let mut env = interpolation_env(opts, &working_dir, &mut ctx.warnings)?;
    if let Some(name) = &opts.project_name {
        env.entry("COMPOSE_PROJECT_NAME".into())
            .or_insert_with(|| name.clone());
    }
    let mut merged: Option<Node> = None;
    {
        let mut fl = FileLoader {
            ctx: &mut ctx,
            process_env: &opts.environment,
        };
        for (name, text) in files {
            let mut stack = vec![name.to_string()];
            let node = fl.load(name, text, &working_dir, &env, &mut stack)?;
            merged = Some(match merged {
                None => node,
                Some(b) => merge::merge_files(b, node),
            });
        }
    }
    let mut root = merged.unwrap_or_else(|| {
        Node::new(
            Kind::Map(Vec::new()),
            crate::yaml::Pos {
                file: "".into(),
                line: 1,
                col: 1,
            },
        )
    });
    merge::strip_tags(&mut root);
    let raw: RawProject = serde_path_to_error::deserialize(NodeDe(&root)).map_err(|e| {
        let path = e.path().to_string();
        let pos = root.pos_at(&path);
        ComposeError::Invalid {
            file: pos.file.to_string(),
            line: pos.line,
            col: pos.col,
            path,
            message: e.into_inner().0,
        }
    })?;
    let profiles: Vec<String> = if opts.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    let name = project_name(opts, &env, raw.name.as_deref(), &working_dir)?;
    let mut p = Project {
        name,
        working_dir,
        profiles,
        ..Project::default()
    };
    for e in root.as_map().into_iter().flatten() {
        if e.key.starts_with("x-") {
            p.extensions.insert(e.key.clone(), json(&e.value));
        }
    }
    for (svc_name, svc) in raw.services {
        let Some(mut svc) = svc else {
            return Err(invalid(
                &root,
                &format!("services.{svc_name}"),
                "a service needs image or build",
            ));
        };
        if let Some(node) = root.get("services").and_then(|s| s.get(&svc_name)) {
            for e in node.as_map().into_iter().flatten() {
                if e.key.starts_with("x-") {
                    svc.extensions.insert(e.key.clone(), json(&e.value));
                }
            }
        }
        p.services.insert(svc_name, svc);
    }
    p.networks = raw
        .networks
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    p.volumes = raw
        .volumes
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    p.secrets = raw
        .secrets
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    p.configs = raw
        .configs
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    p.models = raw
        .models
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    p.environment = env;
    p.warnings = ctx.warnings;
    crate::normalize::normalize(&mut p, &root)?;
    Ok(p)
}

fn json(node: &Node) -> serde_json::Value {
    serde_json::Value::deserialize(NodeDe(node)).unwrap_or(serde_json::Value::Null)
}

pub(crate) fn invalid(root: &Node, path: &str, message: impl Into<String>) -> ComposeError {
    let pos = root.pos_at(path);
    ComposeError::Invalid {
        file: pos.file.to_string(),
        line: pos.line,
        col: pos.col,
        path: path.to_string(),
        message: message.into(),
    }
}

/// Normalises a directory name into a project name as Compose does.
pub fn normalize_project_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

fn valid_project_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("it is empty");
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err("it must start with a lowercase letter or a digit");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err("it must contain only lowercase letters, digits, dashes and underscores");
    }
    Ok(())
}

fn project_name(
    opts: &LoadOptions,
    env: &BTreeMap<String, String>,
    top: Option<&str>,
    working_dir: &Path,
) -> Result<String, ComposeError> {
    let explicit = opts
        .project_name
        .clone()
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|s| !s.is_empty())
                .cloned()
        })
        .or_else(|| top.filter(|s| !s.is_empty()).map(str::to_string));
    let name = match explicit {
        Some(n) => n,
        None => {
            let base = working_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            normalize_project_name(&base)
        }
    };
    valid_project_name(&name).map_err(|reason| ComposeError::ProjectName {
        name: name.clone(),
        reason,
    })?;
    Ok(name)
}

impl Project {
    /// The canonical JSON form (as `docker compose config --format json`).
    pub fn to_json_value(&self) -> serde_json::Value {
        let mut top = serde_json::Map::new();
        top.insert("name".into(), self.name.clone().into());
        let services: serde_json::Map<String, serde_json::Value> = self
            .services
            .iter()
            .map(|(k, s)| (k.clone(), service_json(s)))
            .collect();
        top.insert("services".into(), services.into());
        let mut section = |key: &str, v: serde_json::Value| {
            if v.as_object().is_some_and(|m| !m.is_empty()) {
                top.insert(key.into(), v);
            }
        };
        section("networks", to_value(&self.networks));
        section("volumes", to_value(&self.volumes));
        section("secrets", to_value(&self.secrets));
        section("configs", to_value(&self.configs));
        section("models", to_value(&self.models));
        for (k, v) in &self.extensions {
            top.insert(k.clone(), v.clone());
        }
        serde_json::Value::Object(top)
    }

    /// Canonical JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_json_value()).unwrap_or_default()
    }

    /// Canonical YAML as `docker compose config` prints it (long syntax, defaults filled
    /// in, `$` escaped as `$$` so the output loads back to the same project).
    pub fn to_yaml(&self) -> String {
        crate::emit::to_yaml(&self.to_json_value())
    }

    /// `com.docker.compose.config-hash`: sha256 of the service's canonical JSON without the
    /// fields that do not require recreating the container (build, pull policy, scale,
    /// replicas, depends_on, profiles).
    pub fn service_hash(&self, service: &str) -> Option<String> {
        let s = self
            .services
            .get(service)
            .or_else(|| self.disabled_services.get(service))?;
        let mut s = s.clone();
        s.build = None;
        s.pull_policy = None;
        s.scale = None;
        if let Some(d) = &mut s.deploy {
            d.replicas = None;
        }
        s.depends_on.clear();
        s.profiles.clear();
        let bytes = serde_json::to_vec(&service_json(&s)).ok()?;
        Some(hex::encode(Sha256::digest(&bytes)))
    }

    /// The services a service needs started first (depends_on, links, `service:` modes,
    /// volumes_from).
    pub fn dependencies(&self, service: &str) -> BTreeSet<String> {
        let Some(s) = self.services.get(service) else {
            return BTreeSet::new();
        };
        service_refs(s)
            .into_iter()
            .map(|(_, name)| name)
            .filter(|n| self.services.contains_key(n))
            .collect()
    }

    /// Enabled services in dependency order (dependencies first, ties by name).
    pub fn dependency_order(&self) -> Result<Vec<String>, ComposeError> {
        let mut remaining: BTreeMap<&str, BTreeSet<String>> = self
            .services
            .keys()
            .map(|k| (k.as_str(), self.dependencies(k)))
            .collect();
        let mut order = Vec::with_capacity(remaining.len());
        while !remaining.is_empty() {
            let ready: Vec<&str> = remaining
                .iter()
                .filter(|(_, deps)| deps.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if ready.is_empty() {
                return Err(ComposeError::DependencyCycle {
                    cycle: find_cycle(&remaining),
                });
            }
            for k in ready {
                remaining.remove(k);
                for deps in remaining.values_mut() {
                    deps.remove(k);
                }
                order.push(k.to_string());
            }
        }
        Ok(order)
    }

    /// Enables services explicitly targeted by a command, with their dependencies, as the
    /// spec says for profiles: their profiles become active.
    pub fn enable_services(&mut self, names: &[String]) -> Result<(), ComposeError> {
        let mut todo: Vec<String> = names.to_vec();
        while let Some(n) = todo.pop() {
            if self.services.contains_key(&n) {
                continue;
            }
            let s = self
                .disabled_services
                .remove(&n)
                .ok_or_else(|| ComposeError::NoSuchService(n.clone()))?;
            for p in &s.profiles {
                if !self.profiles.contains(p) {
                    self.profiles.push(p.clone());
                }
            }
            todo.extend(
                s.depends_on
                    .iter()
                    .filter(|(_, d)| d.required)
                    .map(|(k, _)| k.clone()),
            );
            self.services.insert(n, s);
        }
        Ok(())
    }
}

fn find_cycle(graph: &BTreeMap<&str, BTreeSet<String>>) -> Vec<String> {
    // Every remaining node has a remaining dependency: walk until a node repeats.
    let Some(start) = graph.keys().next() else {
        return Vec::new();
    };
    let mut path: Vec<String> = vec![start.to_string()];
    loop {
        let cur = path.last().cloned().unwrap_or_default();
        let Some(next) = graph
            .get(cur.as_str())
            .and_then(|d| d.iter().next())
            .cloned()
        else {
            return path;
        };
        if let Some(i) = path.iter().position(|p| *p == next) {
            let mut cycle = path[i..].to_vec();
            cycle.push(next);
            return cycle;
        }
        path.push(next);
    }
}

/// References from a service to other services: `(key path, service)`.
pub(crate) fn service_refs(s: &Service) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for k in s.depends_on.keys() {
        out.push((format!("depends_on.{k}"), k.clone()));
    }
    for (i, l) in s.links.iter().enumerate() {
        let name = l.split(':').next().unwrap_or(l);
        out.push((format!("links[{i}]"), name.to_string()));
    }
    for (i, v) in s.volumes_from.iter().enumerate() {
        if !v.starts_with("container:") {
            let name = v.split(':').next().unwrap_or(v);
            out.push((format!("volumes_from[{i}]"), name.to_string()));
        }
    }
    for (key, value) in [
        ("network_mode", &s.network_mode),
        ("ipc", &s.ipc),
        ("pid", &s.pid),
    ] {
        if let Some(name) = value.as_deref().and_then(|v| v.strip_prefix("service:")) {
            out.push((key.to_string(), name.to_string()));
        }
    }
    out
}

fn to_value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn service_json(s: &Service) -> serde_json::Value {
    let mut v = to_value(s);
    if let Some(m) = v.as_object_mut() {
        for (k, x) in &s.extensions {
            m.insert(k.clone(), x.clone());
        }
    }
    v
}

pub(crate) fn is_named_volume(v: &crate::model::ServiceVolume) -> Option<&str> {
    match (v.kind, &v.source) {
        (VolumeType::Volume, Some(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

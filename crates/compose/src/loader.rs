//! Reading files: discovery, `.env`, interpolation, relative paths, `include`, `extends`
//! and merging several files into one node tree.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::ComposeError;
use crate::interpolate::Interpolator;
use crate::merge;
use crate::yaml::{self, Kind, Node};

pub(crate) const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// Finds the default compose file and its override in `dir`.
pub(crate) fn discover(dir: &Path) -> Result<Vec<PathBuf>, ComposeError> {
    let main = DEFAULT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| ComposeError::NoComposeFile {
            dir: dir.to_path_buf(),
        })?;
    let mut files = vec![main];
    if let Some(o) = OVERRIDE_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
    {
        files.push(o);
    }
    Ok(files)
}

pub(crate) fn read(path: &Path) -> Result<String, ComposeError> {
    std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Lexically normalises `p` joined onto `base`, expanding `~`.
pub(crate) fn resolve_path(base: &Path, p: &str, home: Option<&Path>) -> String {
    let joined = if let (Some(rest), Some(home)) = (p.strip_prefix('~'), home) {
        if rest.is_empty() || rest.starts_with('/') {
            home.join(rest.trim_start_matches('/'))
        } else {
            base.join(p)
        }
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out.to_string_lossy().into_owned()
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

fn set_str(node: &mut Node, value: String) {
    if let Kind::Scalar { value: v, .. } = &mut node.kind {
        *v = value;
    }
}

/// Environment used for interpolation, plus collected warnings.
pub(crate) struct Ctx {
    pub home: Option<PathBuf>,
    pub warnings: Vec<String>,
}

impl Ctx {
    fn path(&self, base: &Path, p: &str) -> String {
        resolve_path(base, p, self.home.as_deref())
    }

    fn resolve_in_place(&self, base: &Path, node: Option<&mut Node>) {
        if let Some(n) = node {
            if let Some(s) = n.as_str().filter(|s| !s.is_empty() && !is_remote(s)) {
                let r = self.path(base, s);
                set_str(n, r);
            }
        }
    }

    /// Makes the relative paths of one file absolute against `base`.
    pub fn resolve_paths(&self, file: &mut Node, base: &Path) {
        if let Some(Kind::Map(services)) = file.get_mut("services").map(|n| &mut n.kind) {
            for e in services.iter_mut() {
                self.resolve_service_paths(&mut e.value, base);
            }
        }
        for section in ["secrets", "configs"] {
            if let Some(Kind::Map(objs)) = file.get_mut(section).map(|n| &mut n.kind) {
                for e in objs.iter_mut() {
                    self.resolve_in_place(base, e.value.get_mut("file"));
                }
            }
        }
    }

    fn resolve_service_paths(&self, svc: &mut Node, base: &Path) {
        if let Some(build) = svc.get_mut("build") {
            if build.as_str().is_some() {
                self.resolve_in_place(base, Some(build));
            } else if build.as_map().is_some() {
                if build.get("context").is_none() {
                    build.set("context", Node::string(".", build.pos.clone()));
                }
                self.resolve_in_place(base, build.get_mut("context"));
                if let Some(Kind::Map(ctxs)) =
                    build.get_mut("additional_contexts").map(|n| &mut n.kind)
                {
                    for e in ctxs.iter_mut() {
                        if let Some(s) = e.value.as_str() {
                            if !s.contains(':') || s.starts_with('.') || s.starts_with('/') {
                                self.resolve_in_place(base, Some(&mut e.value));
                            }
                        }
                    }
                }
            }
        }
        if let Some(env_file) = svc.get_mut("env_file") {
            match &mut env_file.kind {
                Kind::Scalar { .. } => self.resolve_in_place(base, Some(env_file)),
                Kind::Seq(items) => {
                    for item in items {
                        if item.as_map().is_some() {
                            self.resolve_in_place(base, item.get_mut("path"));
                        } else {
                            self.resolve_in_place(base, Some(item));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(lf) = svc.get_mut("label_file") {
            match &mut lf.kind {
                Kind::Seq(items) => items
                    .iter_mut()
                    .for_each(|i| self.resolve_in_place(base, Some(i))),
                _ => self.resolve_in_place(base, Some(lf)),
            }
        }
        if let Some(Kind::Seq(vols)) = svc.get_mut("volumes").map(|n| &mut n.kind) {
            for v in vols {
                match &v.kind {
                    Kind::Scalar { value, .. } => {
                        if let Some((src, rest)) = value.split_once(':') {
                            if src.starts_with('.') || src.starts_with('~') {
                                let r = format!("{}:{rest}", self.path(base, src));
                                set_str(v, r);
                            }
                        }
                    }
                    Kind::Map(_) if v.get("type").and_then(Node::as_str) == Some("bind") => {
                        self.resolve_in_place(base, v.get_mut("source"));
                    }
                    _ => {}
                }
            }
        }
        if let Some(Kind::Seq(watches)) = svc
            .get_mut("develop")
            .and_then(|d| d.get_mut("watch"))
            .map(|n| &mut n.kind)
        {
            for w in watches {
                self.resolve_in_place(base, w.get_mut("path"));
            }
        }
    }
}

fn invalid(node: &Node, path: &str, message: impl Into<String>) -> ComposeError {
    let pos = node.pos_at(path);
    ComposeError::Invalid {
        file: pos.file.to_string(),
        line: pos.line,
        col: pos.col,
        path: path.to_string(),
        message: message.into(),
    }
}

/// Reads one file's node: parse, interpolate, resolve paths, apply `include` and `extends`.
pub(crate) struct FileLoader<'a> {
    pub ctx: &'a mut Ctx,
    pub process_env: &'a BTreeMap<String, String>,
}

impl FileLoader<'_> {
    pub fn load(
        &mut self,
        name: &str,
        text: &str,
        base: &Path,
        env: &BTreeMap<String, String>,
        stack: &mut Vec<String>,
    ) -> Result<Node, ComposeError> {
        let mut node = self.parse_file(name, text, base, env)?;
        self.apply_include(&mut node, base, stack)?;
        self.apply_extends(&mut node, name, base, env)?;
        Ok(node)
    }

    fn parse_file(
        &mut self,
        name: &str,
        text: &str,
        base: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Node, ComposeError> {
        let mut node = yaml::parse(name, text)?;
        if node.as_map().is_none() {
            return Err(invalid(
                &node,
                "",
                "the top level of a compose file must be a mapping",
            ));
        }
        let lookup = |k: &str| env.get(k).cloned();
        let mut interp = Interpolator {
            lookup: &lookup,
            warnings: Vec::new(),
        };
        let result = interp.node(&mut node, "");
        self.ctx.warnings.extend(interp.warnings);
        if let Err((path, source)) = result {
            let pos = node.pos_at(&path);
            return Err(ComposeError::Interpolation {
                file: pos.file.to_string(),
                line: pos.line,
                path,
                source,
            });
        }
        self.ctx.resolve_paths(&mut node, base);
        Ok(node)
    }

    fn apply_include(
        &mut self,
        node: &mut Node,
        base: &Path,
        stack: &mut Vec<String>,
    ) -> Result<(), ComposeError> {
        let Some(include) = node.remove("include") else {
            return Ok(());
        };
        let items = match include.kind {
            Kind::Seq(items) => items,
            Kind::Null => Vec::new(),
            _ => return Err(invalid(&include, "", "include must be a list")),
        };
        for (i, item) in items.into_iter().enumerate() {
            let ipath = format!("include[{i}]");
            let strings = |n: Option<&Node>| -> Vec<String> {
                match n.map(|n| &n.kind) {
                    Some(Kind::Scalar { value, .. }) => vec![value.clone()],
                    Some(Kind::Seq(v)) => v
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            let (paths, project_dir, env_files) = match &item.kind {
                Kind::Scalar { value, .. } => (vec![value.clone()], None, Vec::new()),
                Kind::Map(entries) => {
                    if let Some(e) = entries.iter().find(|e| {
                        !matches!(e.key.as_str(), "path" | "project_directory" | "env_file")
                    }) {
                        return Err(invalid(
                            &item,
                            &e.key,
                            format!("unknown key {:?} in include", e.key),
                        ));
                    }
                    (
                        strings(item.get("path")),
                        item.get("project_directory")
                            .and_then(Node::as_str)
                            .map(str::to_string),
                        strings(item.get("env_file")),
                    )
                }
                _ => {
                    return Err(invalid(
                        &item,
                        "",
                        format!("{ipath}: expected a path or a mapping"),
                    ))
                }
            };
            if paths.is_empty() {
                return Err(invalid(&item, "", format!("{ipath}: a path is required")));
            }
            let paths: Vec<PathBuf> = paths
                .iter()
                .map(|p| PathBuf::from(self.ctx.path(base, p)))
                .collect();
            let project_dir = match project_dir {
                Some(d) => PathBuf::from(self.ctx.path(base, &d)),
                None => paths[0]
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| base.to_path_buf()),
            };
            let mut env = BTreeMap::new();
            let env_files: Vec<PathBuf> = if env_files.is_empty() {
                let p = project_dir.join(".env");
                if p.is_file() {
                    vec![p]
                } else {
                    Vec::new()
                }
            } else {
                env_files
                    .iter()
                    .map(|p| PathBuf::from(self.ctx.path(base, p)))
                    .collect()
            };
            for f in env_files {
                let text = read(&f)?;
                let pe = self.process_env;
                let lookup = |k: &str| pe.get(k).cloned();
                for (k, v) in
                    crate::dotenv::parse(&f, &text, &lookup, false, &mut self.ctx.warnings)?
                {
                    if let Some(v) = v {
                        env.insert(k, v);
                    }
                }
            }
            env.extend(self.process_env.iter().map(|(k, v)| (k.clone(), v.clone())));
            let mut merged: Option<Node> = None;
            for p in &paths {
                let key = p.display().to_string();
                if stack.contains(&key) {
                    let mut chain = stack.clone();
                    chain.push(key);
                    return Err(ComposeError::ExtendsCycle { chain });
                }
                stack.push(key.clone());
                let text = read(p)?;
                let n = self.load(&key, &text, &project_dir, &env, stack)?;
                stack.pop();
                merged = Some(match merged {
                    None => n,
                    Some(b) => merge::merge_files(b, n),
                });
            }
            let Some(included) = merged else { continue };
            for section in [
                "services", "networks", "volumes", "secrets", "configs", "models",
            ] {
                let Some(Kind::Map(entries)) = included.get(section).map(|n| n.kind.clone()) else {
                    continue;
                };
                if node.get(section).is_none() {
                    node.set(
                        section,
                        Node::new(Kind::Map(Vec::new()), included.pos.clone()),
                    );
                }
                let Some(target) = node.get_mut(section) else {
                    continue;
                };
                if target.as_map().is_none() {
                    *target = Node::new(Kind::Map(Vec::new()), target.pos.clone());
                }
                for e in entries {
                    match target.get(&e.key) {
                        Some(existing) if !merge::same(existing, &e.value) => {
                            return Err(invalid(
                                node,
                                &format!("{section}.{}", e.key),
                                format!(
                                    "conflicts with the imported resource from {}",
                                    e.key_pos.file
                                ),
                            ))
                        }
                        Some(_) => {}
                        None => target.set(&e.key, e.value),
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_extends(
        &mut self,
        file: &mut Node,
        name: &str,
        base: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<(), ComposeError> {
        let names: Vec<String> = match file.get("services").and_then(Node::as_map) {
            Some(m) => m
                .iter()
                .filter(|e| e.value.get("extends").is_some())
                .map(|e| e.key.clone())
                .collect(),
            None => return Ok(()),
        };
        for svc in names {
            let mut chain = Vec::new();
            let resolved = self.resolve_extends(file, name, base, env, &svc, &mut chain)?;
            if let Some(services) = file.get_mut("services") {
                services.set(&svc, resolved);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve_extends(
        &mut self,
        file: &Node,
        name: &str,
        base: &Path,
        env: &BTreeMap<String, String>,
        svc: &str,
        chain: &mut Vec<String>,
    ) -> Result<Node, ComposeError> {
        let path = format!("services.{svc}");
        let Some(node) = file.get("services").and_then(|s| s.get(svc)) else {
            return Err(invalid(
                file,
                "services",
                format!("extends: no service {svc:?} in {name}"),
            ));
        };
        let link = format!("{name}:{svc}");
        if chain.contains(&link) {
            chain.push(link);
            return Err(ComposeError::ExtendsCycle {
                chain: chain.clone(),
            });
        }
        chain.push(link);
        let mut node = node.clone();
        let Some(ext) = node.remove("extends") else {
            chain.pop();
            return Ok(node);
        };
        let (base_svc, base_file) = match &ext.kind {
            Kind::Scalar { value, .. } => (value.clone(), None),
            Kind::Map(_) => {
                let s = ext.get("service").and_then(Node::as_str).ok_or_else(|| {
                    invalid(file, &format!("{path}.extends"), "extends needs a service")
                })?;
                (
                    s.to_string(),
                    ext.get("file").and_then(Node::as_str).map(str::to_string),
                )
            }
            _ => {
                return Err(invalid(
                    file,
                    &format!("{path}.extends"),
                    "expected a service name or a mapping",
                ))
            }
        };
        let base_node = match base_file {
            None => self.resolve_extends(file, name, base, env, &base_svc, chain)?,
            Some(f) => {
                let fpath = PathBuf::from(self.ctx.path(base, &f));
                let text = read(&fpath)?;
                let fdir = fpath
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| base.to_path_buf());
                let fname = fpath.display().to_string();
                let other = self.parse_file(&fname, &text, &fdir, env)?;
                self.resolve_extends(&other, &fname, &fdir, env, &base_svc, chain)?
            }
        };
        chain.pop();
        if let (Some(b), Some(o)) = (
            base_node.get("healthcheck").and_then(|h| h.get("disable")),
            node.get("healthcheck").and_then(|h| h.get("disable")),
        ) {
            if o.as_str() == Some("true") && b.as_str() != Some("true") {
                return Err(invalid(
                    file,
                    &format!("{path}.healthcheck.disable"),
                    "cannot disable a healthcheck the extended service defines",
                ));
            }
        }
        Ok(merge::merge_service_value("", base_node, node))
    }
}

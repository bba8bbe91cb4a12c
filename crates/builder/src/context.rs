//! The build context, indexed: every file, directory and symlink by its
//! relative path, with metadata and lazily computed content hashes.
//!
//! A directory context is walked (never following symlinks); a tar context is
//! read into memory. Entry names are cleaned; names that would leave the
//! context (`..`) are refused. `.dockerignore` (or `<Dockerfile>.dockerignore`)
//! excludes entries; the Dockerfile is read before exclusion.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use dockerfile::IgnoreMatcher;
use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink(String),
}

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    None,
    Mem(Arc<Vec<u8>>),
    Host(PathBuf),
}

/// One context entry.
#[derive(Debug)]
pub(crate) struct Entry {
    pub kind: Kind,
    /// Permission bits (incl. setuid/setgid/sticky).
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    /// Device/inode/ctime of a host file (for the persistent hash cache).
    pub stat_key: Option<(u64, u64, i64, i64)>,
    pub data: Data,
    /// The absolute path of a file read out of an image (`COPY --from`).
    pub origin: Option<String>,
    hash: OnceLock<[u8; 32]>,
}

impl Entry {
    fn new(kind: Kind, mode: u32, size: u64, mtime: i64, data: Data) -> Self {
        Self {
            kind,
            mode: mode & 0o7777,
            size,
            mtime,
            stat_key: None,
            data,
            origin: None,
            hash: OnceLock::new(),
        }
    }

    /// A root directory entry (0755).
    pub fn dir_for_root() -> Self {
        Self::new(Kind::Dir, 0o755, 0, 0, Data::None)
    }

    /// Opens the content of a file entry.
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match &self.data {
            Data::None => Ok(Box::new(std::io::empty())),
            Data::Mem(v) => Ok(Box::new(std::io::Cursor::new(ArcBytes(v.clone())))),
            Data::Host(p) => Ok(Box::new(std::fs::File::open(p)?)),
        }
    }

    /// The sha256 of the content (files), the link target (symlinks) or
    /// nothing (directories); computed once.
    pub fn content_hash(&self) -> std::io::Result<[u8; 32]> {
        if let Some(h) = self.hash.get() {
            return Ok(*h);
        }
        let h = match &self.kind {
            Kind::File => {
                let mut hasher = Sha256::new();
                match &self.data {
                    Data::Mem(v) => hasher.update(v.as_slice()),
                    _ => {
                        let mut r = self.open()?;
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = r.read(&mut buf)?;
                            if n == 0 {
                                break;
                            }
                            hasher.update(&buf[..n]);
                        }
                    }
                }
                hasher.finalize().into()
            }
            Kind::Symlink(t) => Sha256::digest(t.as_bytes()).into(),
            Kind::Dir => [0u8; 32],
        };
        let _ = self.hash.set(h);
        Ok(h)
    }

    /// Sets a hash known from the persistent cache.
    pub fn preset_hash(&self, h: [u8; 32]) {
        let _ = self.hash.set(h);
    }

    /// The hash, if computed.
    pub fn known_hash(&self) -> Option<[u8; 32]> {
        self.hash.get().copied()
    }

    /// Whether the hash is already known.
    pub fn has_hash(&self) -> bool {
        self.hash.get().is_some()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArcBytes(pub Arc<Vec<u8>>);
impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// An indexed context (or a tree exported from an image).
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// Relative, cleaned paths (`a/b`); the root is `""` (always present, a
    /// directory).
    pub entries: BTreeMap<String, Entry>,
    /// Host directory of a directory context.
    pub root: Option<PathBuf>,
    /// Where file contents past the memory budget of a tar context live.
    pub spill: Option<Arc<tempfile::TempDir>>,
    /// A filesystem root (an image's files): absolute symlinks restart at
    /// the root and `..` stops there, as inside a container. For a build
    /// context (false), links leaving it are refused.
    pub rooted: bool,
}

/// Cleans a relative entry name: strips `/` and `./`, resolves `.`; `None`
/// if it leaves the root.
pub(crate) fn clean_rel(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in name.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(out.join("/"))
}

/// Parent of a relative path (`""` for top-level names).
pub(crate) fn parent_of(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => &p[..i],
        None => "",
    }
}

impl Tree {
    fn with_root_dir() -> Self {
        let mut t = Tree::default();
        t.entries.insert(
            String::new(),
            Entry::new(Kind::Dir, 0o755, 0, 0, Data::None),
        );
        t
    }

    /// Inserts an entry, creating missing parent directories.
    pub fn insert(&mut self, path: String, e: Entry) {
        let mut p = parent_of(&path).to_string();
        let mut missing = Vec::new();
        while !p.is_empty() && !self.entries.contains_key(&p) {
            missing.push(p.clone());
            p = parent_of(&p).to_string();
        }
        for m in missing {
            self.entries
                .insert(m, Entry::new(Kind::Dir, 0o755, 0, e.mtime, Data::None));
        }
        self.entries.insert(path, e);
    }

    /// Entries strictly below `dir` (all when `dir` is the root), in order.
    pub fn children<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> {
        let start = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(start.clone()..)
            .skip_while(move |(k, _)| k.is_empty())
            .take_while(move |(k, _)| k.starts_with(&start))
    }

    /// Resolves symlinks in `path` inside the tree (moby's
    /// `FollowSymlinkInScope`, but refusing links that leave the tree).
    /// Returns the resolved path; `Err(())` when a link leaves the tree.
    pub fn resolve(&self, path: &str) -> Result<String, ()> {
        let mut resolved = String::new();
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .rev()
            .map(str::to_string)
            .collect();
        let mut hops = 0;
        while let Some(seg) = todo.pop() {
            if seg == ".." {
                if resolved.is_empty() {
                    if self.rooted {
                        continue;
                    }
                    return Err(());
                }
                resolved = parent_of(&resolved).to_string();
                continue;
            }
            let cand = if resolved.is_empty() {
                seg.clone()
            } else {
                format!("{resolved}/{seg}")
            };
            match self.entries.get(&cand).map(|e| &e.kind) {
                Some(Kind::Symlink(target)) => {
                    hops += 1;
                    if hops > 255 {
                        return Err(());
                    }
                    if target.starts_with('/') {
                        if !self.rooted {
                            // Absolute links leave the context (moby would
                            // clamp them to it; we refuse).
                            return Err(());
                        }
                        resolved.clear();
                    }
                    for s in target.split('/').rev() {
                        if !s.is_empty() && s != "." {
                            todo.push(s.to_string());
                        }
                    }
                }
                _ => resolved = cand,
            }
        }
        Ok(resolved)
    }
}

/// Reads the patterns of `.dockerignore` (or `<dockerfile>.dockerignore`).
fn ignore_matcher(
    read: impl Fn(&str) -> Option<Vec<u8>>,
    dockerfile: &str,
) -> Result<Option<IgnoreMatcher>, BuildError> {
    let specific = format!("{dockerfile}.dockerignore");
    let content = read(&specific).or_else(|| read(".dockerignore"));
    match content {
        None => Ok(None),
        Some(c) => {
            let text = String::from_utf8_lossy(&c);
            IgnoreMatcher::from_dockerignore(&text)
                .map(Some)
                .map_err(|source| BuildError::Ignore { source })
        }
    }
}

/// Removes ignored entries (entries whose ancestors are ignored go too,
/// unless an exception re-includes them; directories holding kept entries
/// stay).
fn apply_ignore(tree: &mut Tree, m: &IgnoreMatcher) {
    let drop: Vec<String> = tree
        .entries
        .iter()
        .filter(|(k, e)| {
            !k.is_empty() && m.matches(k) && !(e.kind == Kind::Dir && m.has_exclusions())
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in drop {
        tree.entries.remove(&k);
    }
    if m.has_exclusions() {
        // Ignored directories stay only when something below them is kept.
        let dirs: Vec<String> = tree
            .entries
            .iter()
            .filter(|(k, e)| !k.is_empty() && e.kind == Kind::Dir && m.matches(k))
            .map(|(k, _)| k.clone())
            .collect();
        for d in dirs.into_iter().rev() {
            if tree.children(&d).next().is_none() {
                tree.entries.remove(&d);
            }
        }
    }
}

/// A loaded context: the tree after `.dockerignore`, and the Dockerfile text.
pub(crate) struct Loaded {
    pub tree: Tree,
    pub dockerfile: Option<Vec<u8>>,
}

/// Walks a directory context.
pub(crate) fn load_dir(root: &Path, dockerfile: &str) -> Result<Loaded, BuildError> {
    let ctx_err = |context: String| move |source| BuildError::Context { context, source };
    let meta = std::fs::metadata(root)
        .map_err(ctx_err(format!("reading build context {}", root.display())))?;
    if !meta.is_dir() {
        return Err(BuildError::Context {
            context: format!("build context {}", root.display()),
            source: std::io::Error::other("not a directory"),
        });
    }
    let read = |rel: &str| -> Option<Vec<u8>> {
        let rel = clean_rel(rel)?;
        let p = root.join(&rel);
        // Only regular files inside the context (no symlink escapes).
        let m = std::fs::symlink_metadata(&p).ok()?;
        if !m.is_file() {
            return None;
        }
        std::fs::read(p).ok()
    };
    let df = read(dockerfile);
    let matcher = ignore_matcher(read, dockerfile)?;
    let mut tree = Tree::with_root_dir();
    tree.root = Some(root.to_path_buf());
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(ctx_err(format!("reading {}", dir.display())))?;
        for de in rd {
            let de = de.map_err(ctx_err(format!("reading {}", dir.display())))?;
            let name = de.file_name();
            let Some(name) = name.to_str() else {
                return Err(BuildError::UnsafeContextPath {
                    path: de.path().display().to_string(),
                    reason: "file name is not UTF-8".into(),
                });
            };
            let path = de.path();
            let relp = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let m = std::fs::symlink_metadata(&path)
                .map_err(ctx_err(format!("stat {}", path.display())))?;
            let ft = m.file_type();
            if let Some(mt) = &matcher {
                if mt.matches(&relp) && !(ft.is_dir() && mt.may_match_children(&relp)) {
                    continue;
                }
            }
            let kind = if ft.is_dir() {
                stack.push((path.clone(), relp.clone()));
                Kind::Dir
            } else if ft.is_symlink() {
                let t = std::fs::read_link(&path)
                    .map_err(ctx_err(format!("readlink {}", path.display())))?;
                Kind::Symlink(t.to_string_lossy().into_owned())
            } else if ft.is_file() {
                Kind::File
            } else {
                // Sockets, fifos, devices are not part of a context.
                continue;
            };
            let data = if kind == Kind::File {
                Data::Host(path)
            } else {
                Data::None
            };
            let size = if kind == Kind::File { m.len() } else { 0 };
            let mut e = Entry::new(kind, m.mode(), size, m.mtime(), data);
            e.stat_key = Some((
                m.dev(),
                m.ino(),
                m.mtime_nsec() + m.mtime() * 1_000_000_000,
                m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ));
            tree.entries.insert(relp, e);
        }
    }
    if let Some(mt) = &matcher {
        apply_ignore(&mut tree, mt);
    }
    Ok(Loaded {
        tree,
        dockerfile: df,
    })
}

/// File bytes of a tar context kept in memory; the rest goes to a temporary
/// directory.
const MEM_LIMIT: u64 = 512 << 20;

/// Reads a tar stream (plain or gzip) into a tree. Absolute names are made
/// relative; names with `..` leaving the root are refused. Hard links become
/// copies of their target's content.
pub(crate) fn read_tar(reader: Box<dyn Read + Send>) -> Result<Tree, BuildError> {
    read_tar_limited(reader, MEM_LIMIT)
}

fn read_tar_limited(reader: Box<dyn Read + Send>, mem_limit: u64) -> Result<Tree, BuildError> {
    let io = |context: &str| {
        let context = context.to_string();
        move |source| BuildError::Context { context, source }
    };
    let mut buf = std::io::BufReader::with_capacity(256 * 1024, reader);
    let head = {
        use std::io::BufRead;
        buf.fill_buf()
            .map_err(io("reading build context"))?
            .to_vec()
    };
    let inner: Box<dyn Read + Send> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buf))
    } else {
        Box::new(buf)
    };
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let inner = Counting {
        inner,
        count: consumed.clone(),
    };
    let mut ar = tar::Archive::new(inner);
    let mut tree = Tree::with_root_dir();
    let mut in_memory = 0u64;
    let mut spilled = 0u64;
    let entries = ar.entries().map_err(io("reading build context"))?;
    // End of the last entry's data: the docker CLI (`build -f -`) may end the
    // stream right there, without padding or end-of-archive blocks, which Go's
    // tar reader (and so dockerd) accepts.
    let mut data_end = 0u64;
    for ent in entries {
        let mut ent = match ent {
            Ok(e) => e,
            Err(e)
                if e.to_string().contains("unexpected EOF")
                    && consumed.load(std::sync::atomic::Ordering::Relaxed) >= data_end =>
            {
                break
            }
            Err(e) => return Err(io("reading build context")(e)),
        };
        data_end = ent.raw_file_position() + ent.size();
        let raw = ent.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|e| BuildError::UnsafeContextPath {
            path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            reason: "file name is not UTF-8".into(),
        })?;
        let Some(rel) = clean_rel(&name) else {
            return Err(BuildError::UnsafeContextPath {
                path: name,
                reason: "path leaves the build context".into(),
            });
        };
        let h = ent.header();
        let mode = h.mode().unwrap_or(0o644);
        let mtime = h.mtime().unwrap_or(0) as i64;
        let et = h.entry_type();
        let e = if et.is_dir() {
            Entry::new(Kind::Dir, mode, 0, mtime, Data::None)
        } else if et.is_symlink() {
            let t = ent
                .link_name()
                .map_err(io("reading build context"))?
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            Entry::new(Kind::Symlink(t), mode, 0, mtime, Data::None)
        } else if et.is_hard_link() {
            let t = ent
                .link_name()
                .map_err(io("reading build context"))?
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = clean_rel(&t).and_then(|t| tree.entries.get(&t));
            match target {
                Some(te) if te.kind == Kind::File => {
                    Entry::new(Kind::File, mode, te.size, mtime, te.data.clone())
                }
                _ => {
                    return Err(BuildError::UnsafeContextPath {
                        path: name,
                        reason: format!("hard link to missing file {t:?}"),
                    })
                }
            }
        } else if et.is_file() || et == tar::EntryType::Continuous {
            if in_memory + ent.size() <= mem_limit {
                let mut v = Vec::with_capacity(ent.size() as usize);
                ent.read_to_end(&mut v)
                    .map_err(io("reading build context"))?;
                in_memory += v.len() as u64;
                Entry::new(
                    Kind::File,
                    mode,
                    v.len() as u64,
                    mtime,
                    Data::Mem(Arc::new(v)),
                )
            } else {
                // Past the memory budget: spill file contents to a private
                // temporary directory (removed with the tree).
                if tree.spill.is_none() {
                    let dir = tempfile::Builder::new()
                        .prefix("berth-build-context-")
                        .tempdir()
                        .map_err(io("creating a spill directory for the build context"))?;
                    tree.spill = Some(Arc::new(dir));
                }
                let dir = tree
                    .spill
                    .as_ref()
                    .map(|d| d.path().to_path_buf())
                    .unwrap_or_default();
                spilled += 1;
                let path = dir.join(format!("f{spilled}"));
                let mut f =
                    std::fs::File::create(&path).map_err(io("writing the build context"))?;
                let n = std::io::copy(&mut ent, &mut f).map_err(io("writing the build context"))?;
                Entry::new(Kind::File, mode, n, mtime, Data::Host(path))
            }
        } else {
            continue;
        };
        if rel.is_empty() {
            if e.kind == Kind::Dir {
                continue;
            }
            return Err(BuildError::UnsafeContextPath {
                path: name,
                reason: "the context root must be a directory".into(),
            });
        }
        tree.insert(rel, e);
    }
    // Read the request body to its end (trailing zero blocks, the chunked
    // terminator): a client still writing it when the answer ends would see its
    // connection closed under it.
    std::io::copy(&mut ar.into_inner(), &mut std::io::sink())
        .map_err(io("reading build context"))?;
    Ok(tree)
}

/// Loads a tar context: indexes it, takes the Dockerfile out, applies the
/// ignore file.
/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

pub(crate) fn load_tar(
    reader: Box<dyn Read + Send>,
    dockerfile: &str,
) -> Result<Loaded, BuildError> {
    let mut tree = read_tar(reader)?;
    let read = |rel: &str| -> Option<Vec<u8>> {
        let rel = clean_rel(rel)?;
        let e = tree.entries.get(&rel)?;
        if e.kind != Kind::File {
            return None;
        }
        let mut v = Vec::new();
        e.open().ok()?.read_to_end(&mut v).ok()?;
        Some(v)
    };
    let df = read(dockerfile);
    let matcher = ignore_matcher(read, dockerfile)?;
    if let Some(m) = &matcher {
        apply_ignore(&mut tree, m);
    }
    Ok(Loaded {
        tree,
        dockerfile: df,
    })
}

/// Hashes the given file entries, in parallel on the available cores, with
/// the persistent cache `cache` (stat key -> hash) when given.
pub(crate) fn hash_entries(entries: &[&Entry]) -> std::io::Result<()> {
    let todo: Vec<&Entry> = entries
        .iter()
        .copied()
        .filter(|e| e.kind == Kind::File && !e.has_hash())
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let total: u64 = todo.iter().map(|e| e.size).sum();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || total < 1 << 20 {
        for e in todo {
            e.content_hash()?;
        }
        return Ok(());
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..threads {
            handles.push(s.spawn(|| -> std::io::Result<()> {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(e) = todo.get(i) else { return Ok(()) };
                    e.content_hash()?;
                }
            }));
        }
        for h in handles {
            match h.join() {
                Ok(r) => r?,
                Err(_) => return Err(std::io::Error::other("hashing thread panicked")),
            }
        }
        Ok(())
    })
}

/// Writes the entry `key` of `tree` (a file, or a directory with everything
/// below it) to `dst` on the host, never following symlinks; used to bind
/// parts of an in-memory (tar) context into RUN containers.
pub(crate) fn materialize(tree: &Tree, key: &str, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let write_one = |e: &Entry, path: &Path| -> std::io::Result<()> {
        match &e.kind {
            Kind::Dir => std::fs::create_dir_all(path)?,
            Kind::Symlink(t) => std::os::unix::fs::symlink(t, path)?,
            Kind::File => {
                let mut r = e.open()?;
                let mut f = std::fs::File::create(path)?;
                std::io::copy(&mut r, &mut f)?;
            }
        }
        if !matches!(e.kind, Kind::Symlink(_)) {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(e.mode))?;
        }
        Ok(())
    };
    let Some(top) = tree.entries.get(key) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{key} not in the build context"),
        ));
    };
    if top.kind == Kind::Dir {
        std::fs::create_dir_all(dst)?;
        let prefix = if key.is_empty() { 0 } else { key.len() + 1 };
        let children: Vec<(&String, &Entry)> = tree.children(key).collect();
        // Directories first (parents before children), then the rest, then
        // the directory modes (a read-only directory would block writes).
        for (k, e) in children.iter().filter(|(_, e)| e.kind == Kind::Dir) {
            std::fs::create_dir_all(dst.join(&k[prefix..]))?;
            let _ = e;
        }
        for (k, e) in children.iter().filter(|(_, e)| e.kind != Kind::Dir) {
            write_one(e, &dst.join(&k[prefix..]))?;
        }
        for (k, e) in children.iter().filter(|(_, e)| e.kind == Kind::Dir).rev() {
            std::fs::set_permissions(
                dst.join(&k[prefix..]),
                std::fs::Permissions::from_mode(e.mode),
            )?;
        }
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(top.mode))?;
        Ok(())
    } else {
        write_one(top, dst)
    }
}

/// One line of the persistent hash cache: a file's identity and its hash.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedHash {
    path: String,
    dev: u64,
    ino: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    size: u64,
    sha256: String,
}

/// The cache file of a directory context under `dir`.
pub(crate) fn hash_cache_file(dir: &Path, root: &Path) -> PathBuf {
    let h = Sha256::digest(root.as_os_str().as_encoded_bytes());
    dir.join(format!("context-hashes-{}.json", &hex::encode(h)[..16]))
}

/// Presets the hashes of unchanged files (same device, inode, size, mtime
/// and ctime) from `file`. A missing or unreadable cache is ignored.
pub(crate) fn load_hash_cache(tree: &Tree, file: &Path) {
    let Ok(data) = std::fs::read(file) else {
        return;
    };
    let Ok(list) = serde_json::from_slice::<Vec<CachedHash>>(&data) else {
        tracing::debug!(file = %file.display(), "ignoring an unreadable hash cache");
        return;
    };
    for c in list {
        let Some(e) = tree.entries.get(&c.path) else {
            continue;
        };
        if e.kind != Kind::File || e.size != c.size {
            continue;
        }
        if e.stat_key != Some((c.dev, c.ino, c.mtime_ns, c.ctime_ns)) {
            continue;
        }
        let mut h = [0u8; 32];
        if hex::decode_to_slice(&c.sha256, &mut h).is_ok() {
            e.preset_hash(h);
        }
    }
}

/// Writes the known hashes of host files to `file` (atomically).
pub(crate) fn save_hash_cache(tree: &Tree, file: &Path) -> std::io::Result<()> {
    let list: Vec<CachedHash> = tree
        .entries
        .iter()
        .filter_map(|(k, e)| {
            let (dev, ino, mtime_ns, ctime_ns) = e.stat_key?;
            let h = e.known_hash()?;
            (e.kind == Kind::File).then(|| CachedHash {
                path: k.clone(),
                dev,
                ino,
                mtime_ns,
                ctime_ns,
                size: e.size,
                sha256: hex::encode(h),
            })
        })
        .collect();
    if list.is_empty() {
        return Ok(());
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_vec(&list).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn tar_ending_right_after_the_last_data_is_accepted_but_truncated_data_is_not() {
        // What the docker CLI sends for `build -f -`: no padding, no end blocks.
        let raw = tar_of(&[("Dockerfile", b"FROM x\n"), ("last", b"0123456789")]);
        let cut = 1024 + 512 + 10;
        let tree =
            read_tar_limited(Box::new(std::io::Cursor::new(raw[..cut].to_vec())), 1 << 20).unwrap();
        assert!(tree.entries.contains_key("last"));
        // Data cut short is an error, not a shorter file.
        let err = read_tar_limited(
            Box::new(std::io::Cursor::new(raw[..cut - 3].to_vec())),
            1 << 20,
        );
        assert!(err.is_err());
    }

    #[test]
    fn large_tar_contexts_spill_to_disk() {
        let raw = tar_of(&[
            ("a", b"0123456789"),
            ("d/b", b"abcdefghij"),
            ("d/c", b"xyz"),
        ]);
        let tree = read_tar_limited(Box::new(std::io::Cursor::new(raw)), 12).unwrap();
        assert!(matches!(tree.entries["a"].data, Data::Mem(_)));
        let Data::Host(p) = &tree.entries["d/b"].data else {
            panic!("not spilled")
        };
        assert_eq!(std::fs::read(p).unwrap(), b"abcdefghij");
        assert!(matches!(tree.entries["d/c"].data, Data::Host(_)));
        assert_eq!(tree.entries["d"].kind, Kind::Dir);
        let mut s = String::new();
        tree.entries["d/c"]
            .open()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "xyz");
        let spill = tree.spill.as_ref().unwrap().path().to_path_buf();
        assert!(spill.exists());
        drop(tree);
        assert!(!spill.exists());
    }

    #[test]
    fn resolve_in_context_and_rooted_trees() {
        let mut t = Tree::with_root_dir();
        t.insert(
            "a/f".into(),
            Entry::new(Kind::File, 0o644, 0, 0, Data::None),
        );
        t.insert(
            "l".into(),
            Entry::new(Kind::Symlink("a".into()), 0o777, 0, 0, Data::None),
        );
        t.insert(
            "abs".into(),
            Entry::new(Kind::Symlink("/a".into()), 0o777, 0, 0, Data::None),
        );
        t.insert(
            "up".into(),
            Entry::new(Kind::Symlink("../x".into()), 0o777, 0, 0, Data::None),
        );
        assert_eq!(t.resolve("l/f"), Ok("a/f".into()));
        assert_eq!(t.resolve("abs/f"), Err(()));
        assert_eq!(t.resolve("up"), Err(()));
        t.rooted = true;
        assert_eq!(t.resolve("abs/f"), Ok("a/f".into()));
        assert_eq!(t.resolve("up"), Ok("x".into()));
        assert_eq!(clean_rel("./a/../b/"), Some("b".into()));
        assert_eq!(clean_rel("../b"), None);
        assert_eq!(clean_rel("/abs/x"), Some("abs/x".into()));
    }
}

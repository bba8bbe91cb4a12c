//! COPY/ADD: resolving sources in a tree, destination rules, ownership and
//! modes, the cache digest of the copied files, and the layer tar stream.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use sha2::{Digest, Sha256};

use crate::context::{clean_rel, Data, Kind, Tree};
use crate::error::BuildError;
use crate::glob;

/// One file, directory or symlink of a COPY layer.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub size: u64,
    pub data: Data,
    pub hash: [u8; 32],
    /// Where a file copied out of an image was there (absolute path).
    pub origin: Option<String>,
}

/// The files of one COPY/ADD, by destination path (relative to `/`).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub items: BTreeMap<String, Item>,
    /// One flag per source copied (true: a directory), for the history text
    /// (`file:`, `dir:` or `multi:`).
    pub sources: Vec<bool>,
}

/// Options that shape a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pub uid: u64,
    pub gid: u64,
    /// Whether `--chown` was given (then created destination dirs are owned too).
    pub explicit: bool,
}

/// A source resolved in a tree: its key there and the name it was asked by.
pub(crate) struct Matched {
    pub key: String,
    pub name: String,
}

/// Resolves the sources of a COPY in `tree` (context or an image export).
pub(crate) fn match_sources(
    tree: &Tree,
    sources: &[String],
    instruction: &'static str,
    is_context: bool,
) -> Result<Vec<Matched>, BuildError> {
    let mut out = Vec::new();
    for src in sources {
        let outside = || BuildError::OutsideContext {
            instruction,
            path: src.clone(),
        };
        let Some(clean) = clean_rel(src) else {
            if is_context {
                return Err(outside());
            }
            return Err(BuildError::SourceNotFound {
                instruction,
                path: src.clone(),
            });
        };
        if glob::has_meta(&clean) {
            let mut any = false;
            for (k, _) in tree.entries.iter() {
                if k.is_empty() {
                    continue;
                }
                let ok = glob::matches(&clean, k).map_err(|e| BuildError::Invalid {
                    message: format!("{instruction} failed: {src}: {e}"),
                })?;
                if ok {
                    any = true;
                    let resolved = tree.resolve(k).map_err(|_| outside())?;
                    out.push(Matched {
                        key: resolved,
                        name: k.clone(),
                    });
                }
            }
            if !any {
                return Err(BuildError::Invalid {
                    message: format!("{instruction} failed: no source files were specified"),
                });
            }
            continue;
        }
        let resolved = tree.resolve(&clean).map_err(|_| outside())?;
        if !tree.entries.contains_key(&resolved) {
            return Err(BuildError::SourceNotFound {
                instruction,
                path: src.clone(),
            });
        }
        out.push(Matched {
            key: resolved,
            name: clean,
        });
    }
    Ok(out)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        dir.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Adds matched sources of `tree` to `plan` under `dest` (absolute, cleaned;
/// `dest_dir` tells whether it names a directory to copy into).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_tree(
    plan: &mut Plan,
    tree: &Tree,
    matched: &[Matched],
    dest: &str,
    dest_dir: bool,
    owner: Owner,
    chmod: Option<u32>,
    exclude: Option<&dockerfile::IgnoreMatcher>,
) -> std::io::Result<()> {
    let dest_rel = dest.trim_start_matches('/').to_string();
    let excluded = |rel: &str| exclude.is_some_and(|m| m.matches(rel));
    // Hash what will be copied first (in parallel).
    let mut to_hash = Vec::new();
    for m in matched {
        if let Some(e) = tree.entries.get(&m.key) {
            if e.kind == Kind::Dir {
                let pl = if m.key.is_empty() { 0 } else { m.key.len() + 1 };
                to_hash.extend(
                    tree.children(&m.key)
                        .filter(|(k, _)| !excluded(&k[pl..]))
                        .map(|(_, e)| e),
                );
            } else {
                to_hash.push(e);
            }
        }
    }
    crate::context::hash_entries(&to_hash)?;
    let mk = |e: &crate::context::Entry, is_dir_created: bool| -> std::io::Result<Item> {
        let mode = match (chmod, &e.kind) {
            (_, Kind::Symlink(_)) => 0o777,
            (Some(m), _) => m,
            (None, _) if is_dir_created => 0o755,
            (None, _) => e.mode,
        };
        Ok(Item {
            kind: e.kind.clone(),
            mode,
            uid: owner.uid,
            gid: owner.gid,
            mtime: e.mtime,
            size: e.size,
            data: e.data.clone(),
            hash: e.content_hash()?,
            origin: e.origin.clone(),
        })
    };
    for m in matched {
        let Some(e) = tree.entries.get(&m.key) else {
            continue;
        };
        if e.kind != Kind::Dir && excluded(&m.name) {
            continue;
        }
        plan.sources.push(e.kind == Kind::Dir);
        if e.kind == Kind::Dir {
            if (owner.explicit || chmod.is_some()) && !dest_rel.is_empty() {
                // moby creates the destination 0755 (not the source's
                // mode) and gives it the --chown owner.
                plan.items.insert(dest_rel.clone(), mk(e, true)?);
            }
            let prefix_len = if m.key.is_empty() { 0 } else { m.key.len() + 1 };
            for (k, ce) in tree.children(&m.key) {
                let rel = &k[prefix_len..];
                if excluded(rel) {
                    continue;
                }
                plan.items.insert(join(&dest_rel, rel), mk(ce, false)?);
            }
        } else {
            let target = if dest_dir {
                join(&dest_rel, base_name(&m.name))
            } else {
                dest_rel.clone()
            };
            plan.items.insert(target, mk(e, false)?);
        }
    }
    Ok(())
}

/// Adds an inline (heredoc) or downloaded file.
pub(crate) fn plan_bytes(
    plan: &mut Plan,
    dest: &str,
    data: Vec<u8>,
    mode: u32,
    owner: Owner,
    mtime: i64,
) {
    let hash: [u8; 32] = Sha256::digest(&data).into();
    plan.sources.push(false);
    plan.items.insert(
        dest.trim_start_matches('/').to_string(),
        Item {
            kind: Kind::File,
            mode,
            uid: owner.uid,
            gid: owner.gid,
            mtime,
            size: data.len() as u64,
            data: Data::Mem(std::sync::Arc::new(data)),
            hash,
            origin: None,
        },
    );
}

/// The digest of a plan's content and metadata (for the cache key and the
/// `COPY file:<hash>` / `dir:<hash>` history text).
pub(crate) fn plan_digest(plan: &Plan) -> String {
    let mut h = Sha256::new();
    for (path, it) in &plan.items {
        h.update(path.as_bytes());
        h.update([0]);
        let kind = match &it.kind {
            Kind::File => "f".to_string(),
            Kind::Dir => "d".to_string(),
            Kind::Symlink(t) => format!("l{t}"),
        };
        h.update(kind.as_bytes());
        h.update(format!("{:o}:{}:{}", it.mode, it.uid, it.gid).as_bytes());
        h.update(it.hash);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Parses a `--chmod` value (octal).
pub(crate) fn parse_chmod(s: &str, instruction: &str) -> Result<u32, BuildError> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(BuildError::Invalid {
            message: format!("{instruction} failed: invalid chmod parameter: {s}"),
        }),
    }
}

/// Looks `name` up in `/etc/passwd` or `/etc/group` text: (id, primary gid).
pub(crate) fn lookup_id(file: &str, name: &str) -> Option<(u64, u64)> {
    for line in file.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && f[0] == name {
            let id = f[2].parse().ok()?;
            let gid = f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id);
            return Some((id, gid));
        }
    }
    None
}

/// Writes the plan as an uncompressed tar on a thread, returning a reader of
/// the stream.
pub(crate) fn plan_tar(plan: Plan) -> crate::backend::BoxedRead {
    let (tx, rx) = sync_channel::<std::io::Result<Vec<u8>>>(8);
    std::thread::spawn(move || {
        let w = ChanWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_tar(w, &plan) {
            let _ = tx.send(Err(e));
        }
    });
    Box::new(ChanReader {
        rx,
        cur: Vec::new(),
        pos: 0,
    })
}

fn write_tar(w: ChanWriter, plan: &Plan) -> std::io::Result<()> {
    let mut b = tar::Builder::new(w);
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    for (path, it) in &plan.items {
        if path.is_empty() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(it.mode);
        h.set_uid(it.uid);
        h.set_gid(it.gid);
        h.set_mtime(it.mtime.max(0) as u64);
        match &it.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, t)?;
            }
            Kind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(it.size);
                let r: Box<dyn Read> = match &it.data {
                    Data::None => Box::new(std::io::empty()),
                    Data::Mem(v) => {
                        Box::new(std::io::Cursor::new(crate::context::ArcBytes(v.clone())))
                    }
                    Data::Host(p) => Box::new(std::fs::File::open(p)?.take(it.size)),
                };
                b.append_data(&mut h, path, SizedReader { r, left: it.size })?;
            }
        }
    }
    let mut w = b.into_inner()?;
    w.flush()
}

/// Reads exactly `left` bytes, zero-padding a file that shrank meanwhile.
struct SizedReader {
    r: Box<dyn Read>,
    left: u64,
}

impl Read for SizedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = self.r.read(&mut buf[..want])?;
        let n = if n == 0 {
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}

const CHUNK: usize = 256 * 1024;

struct ChanWriter {
    tx: SyncSender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "tar reader dropped"))
    }
}

struct ChanReader {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The tar of a single directory entry (WORKDIR), owned by root, 0755.
pub(crate) fn dir_plan(path: &str) -> Plan {
    let mut plan = Plan::default();
    let rel = path.trim_start_matches('/');
    if !rel.is_empty() {
        plan.items.insert(
            rel.to_string(),
            Item {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
                size: 0,
                data: Data::None,
                hash: [0; 32],
                origin: None,
            },
        );
    }
    plan
}

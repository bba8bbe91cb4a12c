//! An in-memory BuildBackend for tests: images are flattened file maps plus
//! config JSON; `run` interprets a tiny shell.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use builder::{BackendError, BaseImage, BoxedRead, BuildBackend, LayerHints, Output, RunRequest};
use errdefs::ErrorKind;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    File(Vec<u8>),
    Dir,
    Link(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub node: Node,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

pub type Fs = BTreeMap<String, Meta>;

#[derive(Debug, Clone)]
pub struct Img {
    pub fs: Fs,
    pub config: Value,
    pub layers: usize,
    pub parent: Option<String>,
}

#[derive(Default)]
pub struct Fake {
    pub images: Mutex<HashMap<String, Img>>,
    pub refs: Mutex<HashMap<String, String>>,
    pub cache: Mutex<HashMap<String, String>>,
    pub calls: Mutex<Vec<String>>,
    pub runs: Mutex<Vec<RunRequest>>,
    /// The hints of each add_layer call, in order.
    pub hints: Mutex<Vec<LayerHints>>,
    pub hash_dir: Mutex<Option<std::path::PathBuf>>,
    counter: AtomicU64,
}

pub fn dir() -> Meta {
    Meta {
        node: Node::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
    }
}

pub fn file(s: &str) -> Meta {
    Meta {
        node: Node::File(s.as_bytes().to_vec()),
        mode: 0o644,
        uid: 0,
        gid: 0,
    }
}

fn parent(p: &str) -> &str {
    p.rfind('/').map(|i| &p[..i]).unwrap_or("")
}

fn ensure_parents(fs: &mut Fs, p: &str) {
    let mut cur = parent(p).to_string();
    let mut missing = vec![];
    while !cur.is_empty() && !fs.contains_key(&cur) {
        missing.push(cur.clone());
        cur = parent(&cur).to_string();
    }
    for m in missing {
        fs.insert(m, dir());
    }
}

impl Fake {
    pub fn new() -> Arc<Self> {
        let f = Arc::new(Fake::default());
        let mut fs = Fs::new();
        for d in ["bin", "etc", "tmp", "usr", "usr/bin", "home", "home/app"] {
            fs.insert(d.into(), dir());
        }
        fs.get_mut("tmp").unwrap().mode = 0o1777;
        fs.insert(
            "bin/sh".into(),
            Meta {
                mode: 0o755,
                ..file("ELF")
            },
        );
        fs.insert(
            "etc/passwd".into(),
            file("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"),
        );
        fs.insert(
            "etc/group".into(),
            file("root:x:0:\nstaff:x:50:\napp:x:1001:\n"),
        );
        let cfg = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:base"]},
            "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:base in / "}]
        });
        f.add_image("busybox:latest", fs, cfg);
        f
    }

    pub fn add_image(&self, reference: &str, fs: Fs, config: Value) -> String {
        let id = self.new_id();
        self.images.lock().unwrap().insert(
            id.clone(),
            Img {
                fs,
                config,
                layers: 1,
                parent: None,
            },
        );
        self.refs
            .lock()
            .unwrap()
            .insert(reference.to_string(), id.clone());
        id
    }

    fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(n.to_le_bytes()))
        )
    }

    pub fn img(&self, id: &str) -> Img {
        self.images.lock().unwrap().get(id).cloned().unwrap()
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn call(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }

    fn get(&self, id: Option<&str>) -> Result<Img, BackendError> {
        match id {
            None => Ok(Img {
                fs: Fs::new(),
                config: json!({}),
                layers: 0,
                parent: None,
            }),
            Some(id) => {
                self.images
                    .lock()
                    .unwrap()
                    .get(id)
                    .cloned()
                    .ok_or(BackendError::NotFound {
                        what: format!("image {id}"),
                    })
            }
        }
    }

    fn store(&self, parent: Option<&str>, fs: Fs, config: Value, new_layer: bool) -> String {
        let layers = self.get(parent).map(|i| i.layers).unwrap_or(0) + usize::from(new_layer);
        let id = self.new_id();
        self.images.lock().unwrap().insert(
            id.clone(),
            Img {
                fs,
                config,
                layers,
                parent: parent.map(str::to_string),
            },
        );
        id
    }
}

fn resolve(workdir: &str, p: &str) -> String {
    let full = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{workdir}/{p}")
    };
    full.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[async_trait::async_trait]
impl BuildBackend for Fake {
    async fn image(
        &self,
        reference: &str,
        _platform: Option<&str>,
        _pull: bool,
        _out: &Output,
    ) -> Result<BaseImage, BackendError> {
        let id = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            let r = if reference.contains(':') {
                reference.to_string()
            } else {
                format!("{reference}:latest")
            };
            self.call(format!("image {r}"));
            self.refs
                .lock()
                .unwrap()
                .get(&r)
                .cloned()
                .ok_or(BackendError::NotFound {
                    what: format!("pull access denied for {reference}, repository does not exist"),
                })?
        };
        let img = self.get(Some(&id))?;
        Ok(BaseImage {
            id,
            config: img.config,
        })
    }

    async fn run(
        &self,
        parent: &str,
        run: RunRequest,
        config: Value,
        out: &Output,
    ) -> Result<String, BackendError> {
        self.call(format!(
            "run {}",
            run.cmd.last().cloned().unwrap_or_default()
        ));
        self.runs.lock().unwrap().push(run.clone());
        let mut fs = self.get(Some(parent))?.fs;
        let script = if run.cmd.len() == 3 && run.cmd[1] == "-c" {
            run.cmd[2].clone()
        } else {
            run.cmd.join(" ")
        };
        // Heredoc bodies are input, not commands.
        let script = match script.find("<<") {
            Some(i) => script[..script[i..]
                .find('\n')
                .map(|j| i + j)
                .unwrap_or(script.len())]
                .replace("<<EOF", ""),
            None => script,
        };
        let wd = if run.workdir.is_empty() {
            "/".to_string()
        } else {
            run.workdir.clone()
        };
        for line in script.split(['\n', ';']).flat_map(|l| l.split("&&")) {
            let line = line.trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["exit", n] => {
                    let code: i64 = n.parse().unwrap();
                    if code != 0 {
                        return Err(BackendError::RunFailed { code, tail: None });
                    }
                }
                ["sleep", ms] => {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await
                }
                ["touch", p] => {
                    let k = resolve(&wd, p);
                    ensure_parents(&mut fs, &k);
                    fs.entry(k).or_insert_with(|| file(""));
                }
                ["mkdir", "-p", p] | ["mkdir", p] => {
                    let k = resolve(&wd, p);
                    ensure_parents(&mut fs, &k);
                    fs.insert(k, dir());
                }
                ["rm", p] => {
                    fs.remove(&resolve(&wd, p));
                }
                ["env", ">", p] => {
                    let k = resolve(&wd, p);
                    fs.insert(k, file(&(run.env.join("\n") + "\n")));
                }
                ["whoami", ">", p] => {
                    let k = resolve(&wd, p);
                    fs.insert(k, file(&run.user));
                }
                ["echo", rest @ ..] => {
                    if let Some(pos) = rest.iter().position(|w| *w == ">") {
                        let k = resolve(&wd, rest[pos + 1]);
                        ensure_parents(&mut fs, &k);
                        fs.insert(k, file(&(rest[..pos].join(" ") + "\n")));
                    } else {
                        out.stream(rest.join(" ") + "\n");
                    }
                }
                [cmd, ..] if *cmd == "true" => {}
                other => {
                    out.stream(format!("sh: {}: not found\n", other[0]));
                    return Err(BackendError::RunFailed {
                        code: 127,
                        tail: None,
                    });
                }
            }
        }
        Ok(self.store(Some(parent), fs, config, true))
    }

    async fn add_layer(
        &self,
        parent: Option<&str>,
        tar: BoxedRead,
        config: Value,
        hints: &LayerHints,
    ) -> Result<String, BackendError> {
        self.call("add_layer".into());
        self.hints.lock().unwrap().push(hints.clone());
        let mut fs = self.get(parent)?.fs;
        let entries = tokio::task::spawn_blocking(move || {
            let mut ar = tar::Archive::new(tar);
            let mut v = vec![];
            for e in ar.entries().unwrap() {
                let mut e = e.unwrap();
                let path = e
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string();
                let h = e.header().clone();
                let node = if h.entry_type().is_dir() {
                    Node::Dir
                } else if h.entry_type().is_symlink() {
                    Node::Link(
                        e.link_name()
                            .unwrap()
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    )
                } else {
                    let mut d = vec![];
                    e.read_to_end(&mut d).unwrap();
                    Node::File(d)
                };
                v.push((
                    path,
                    Meta {
                        node,
                        mode: h.mode().unwrap(),
                        uid: h.uid().unwrap(),
                        gid: h.gid().unwrap(),
                    },
                ));
            }
            v
        })
        .await
        .unwrap();
        for (p, m) in entries {
            ensure_parents(&mut fs, &p);
            fs.insert(p, m);
        }
        Ok(self.store(parent, fs, config, true))
    }

    async fn commit_config(
        &self,
        parent: Option<&str>,
        config: Value,
    ) -> Result<String, BackendError> {
        self.call("commit_config".into());
        let fs = self.get(parent)?.fs;
        Ok(self.store(parent, fs, config, false))
    }

    async fn export_path(&self, image: &str, path: &str) -> Result<BoxedRead, BackendError> {
        self.call(format!("export {path}"));
        let fs = self.get(Some(image))?.fs;
        let mut key = path.trim_matches('/').to_string();
        // Follow a final symlink (as the daemon does).
        for _ in 0..40 {
            match fs.get(&key).map(|m| &m.node) {
                Some(Node::Link(t)) if t.starts_with('/') => key = t.trim_matches('/').to_string(),
                Some(Node::Link(t)) => {
                    key = format!("{}/{t}", parent(&key))
                        .trim_matches('/')
                        .to_string()
                }
                _ => break,
            }
        }
        if !key.is_empty() && !fs.contains_key(&key) {
            return Err(BackendError::NotFound {
                what: format!("{path} in {image}"),
            });
        }
        let strip = parent(&key).len();
        let mut b = tar::Builder::new(Vec::new());
        for (k, m) in fs.iter() {
            let inside = key.is_empty() || *k == key || k.starts_with(&format!("{key}/"));
            if !inside {
                continue;
            }
            let name = if strip == 0 {
                k.clone()
            } else {
                k[strip + 1..].to_string()
            };
            let mut h = tar::Header::new_gnu();
            h.set_mode(m.mode);
            h.set_uid(m.uid);
            h.set_gid(m.gid);
            match &m.node {
                Node::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{name}/"), std::io::empty())
                        .unwrap();
                }
                Node::File(d) => {
                    h.set_size(d.len() as u64);
                    b.append_data(&mut h, name, d.as_slice()).unwrap();
                }
                Node::Link(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, name, t).unwrap();
                }
            }
        }
        let v = b
            .into_inner()
            .map_err(|e| BackendError::other(ErrorKind::Internal, e.to_string()))?;
        Ok(Box::new(std::io::Cursor::new(v)))
    }

    async fn tag(&self, image: &str, reference: &str) -> Result<(), BackendError> {
        self.call(format!("tag {reference}"));
        self.refs
            .lock()
            .unwrap()
            .insert(reference.to_string(), image.to_string());
        Ok(())
    }

    async fn cache_get(&self, key: &str) -> Result<Option<String>, BackendError> {
        let id = self.cache.lock().unwrap().get(key).cloned();
        Ok(id.filter(|i| self.images.lock().unwrap().contains_key(i)))
    }

    fn hash_cache_dir(&self) -> Option<std::path::PathBuf> {
        self.hash_dir.lock().unwrap().clone()
    }

    async fn cache_put(&self, key: &str, image: &str) -> Result<(), BackendError> {
        self.cache
            .lock()
            .unwrap()
            .insert(key.to_string(), image.to_string());
        Ok(())
    }
}

//! Content-addressed blob store: `content/blobs/sha256/<hex>`. Ingest writes to a
//! temporary file in `content/ingest/` while hashing, fsyncs, then renames: a
//! half-written blob is never visible under its digest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::ImageError;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

static INGEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary name (process id + counter + time), for ingests and unpacks.
pub(crate) fn temp_name(prefix: &str) -> String {
    let n = INGEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// "sha256:<hex>" of a byte slice.
pub(crate) fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of "sha256:<hex>", validated (64 lowercase hex chars).
pub(crate) fn digest_hex(digest: &str) -> Result<&str, ImageError> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if crate::reference::is_full_hex_id(hex) => Ok(hex),
        _ => Err(ImageError::InvalidArgument(format!(
            "invalid digest {digest:?}: expected sha256:<64 hex digits>"
        ))),
    }
}

/// SHA-256 computed on a helper thread from chunks the caller hands over, so a
/// thread that unpacks or tars a layer does not also spend its time hashing
/// (the two run on two cores). Buffers go back and forth and are reused.
pub(crate) struct BackgroundHasher {
    buf: Vec<u8>,
    to_hasher: Option<mpsc::SyncSender<Vec<u8>>>,
    spare: mpsc::Receiver<Vec<u8>>,
    done: Option<std::thread::JoinHandle<Sha256>>,
}

const HASH_CHUNK: usize = 256 * 1024;

impl BackgroundHasher {
    /// None when no thread can be started (hash inline then).
    pub(crate) fn start() -> Option<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
        let (spare_tx, spare) = mpsc::sync_channel::<Vec<u8>>(16);
        let done = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut h = Sha256::new();
                for mut chunk in rx {
                    h.update(&chunk);
                    chunk.clear();
                    let _ = spare_tx.try_send(chunk);
                }
                h
            })
            .ok()?;
        Some(Self {
            buf: Vec::with_capacity(HASH_CHUNK),
            to_hasher: Some(tx),
            spare,
            done: Some(done),
        })
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let k = (HASH_CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..k]);
            data = &data[k..];
            if self.buf.len() == HASH_CHUNK {
                self.send();
            }
        }
    }

    fn send(&mut self) {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        if let Some(tx) = &self.to_hasher {
            // The hasher thread only ends when this sender is dropped.
            let _ = tx.send(full);
        }
    }

    /// `sha256:<hex>` of everything given.
    pub(crate) fn finish(mut self) -> String {
        if !self.buf.is_empty() {
            self.send();
        }
        self.to_hasher = None;
        let h = self
            .done
            .take()
            .and_then(|d| d.join().ok())
            .unwrap_or_default();
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}

/// SHA-256 of a stream: inline, or on a helper thread ([`BackgroundHasher`]).
pub(crate) enum Digester {
    Inline(Sha256),
    Background(BackgroundHasher),
}

impl Digester {
    /// A background digester when a thread can be had, else an inline one.
    pub(crate) fn background() -> Self {
        match BackgroundHasher::start() {
            Some(b) => Digester::Background(b),
            None => Digester::Inline(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Digester::Inline(h) => h.update(data),
            Digester::Background(b) => b.update(data),
        }
    }

    /// `sha256:<hex>` of everything given.
    pub(crate) fn finish(self) -> String {
        match self {
            Digester::Inline(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Digester::Background(b) => b.finish(),
        }
    }
}

/// A reader that hashes and counts everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Digester,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::with(inner, Digester::Inline(Sha256::new()))
    }

    pub(crate) fn with(inner: R, hasher: Digester) -> Self {
        Self {
            inner,
            hasher,
            count: 0,
        }
    }

    /// Reads the rest of the stream (e.g. tar padding) so the digest covers it all.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }

    pub(crate) fn finish(self) -> (String, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that copies everything read through it into a writer (a blob ingest).
pub(crate) struct TeeReader<R, W> {
    pub(crate) inner: R,
    pub(crate) out: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// The blob store.
pub(crate) struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

/// An in-progress blob write. Dropped without `commit`: the temp file is removed.
pub(crate) struct Ingest {
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl ContentStore {
    pub(crate) fn open(root: &Path) -> Result<Self, ImageError> {
        let blobs = root.join("content/blobs/sha256");
        let ingest = root.join("content/ingest");
        fs::create_dir_all(&blobs).map_err(io_err(format!("creating {}", blobs.display())))?;
        // Whatever is in ingest/ was left by a crash: no blob there is visible.
        if ingest.exists() {
            fs::remove_dir_all(&ingest)
                .map_err(io_err(format!("cleaning {}", ingest.display())))?;
        }
        fs::create_dir_all(&ingest).map_err(io_err(format!("creating {}", ingest.display())))?;
        Ok(Self { blobs, ingest })
    }

    /// Directory for temporary files on the same filesystem as the blobs.
    pub(crate) fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    pub(crate) fn path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        Ok(self.blobs.join(digest_hex(digest)?))
    }

    pub(crate) fn exists(&self, digest: &str) -> bool {
        self.path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    pub(crate) fn open_blob(&self, digest: &str) -> Result<File, ImageError> {
        let p = self.path(digest)?;
        File::open(&p).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                ImageError::NotFound(format!("blob {digest} not found in the content store"))
            } else {
                ImageError::Io {
                    context: format!("opening blob {}", p.display()),
                    source,
                }
            }
        })
    }

    pub(crate) fn begin(&self) -> Result<Ingest, ImageError> {
        let path = self.ingest.join(temp_name("blob"));
        let file = File::create(&path).map_err(io_err(format!("creating {}", path.display())))?;
        Ok(Ingest {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Fsyncs and renames the ingest to its digest. `expected` is verified if given.
    pub(crate) fn commit(
        &self,
        mut ingest: Ingest,
        expected: Option<&str>,
    ) -> Result<(String, u64), ImageError> {
        let file = ingest
            .file
            .take()
            .ok_or_else(|| ImageError::Internal("ingest committed twice".into()))?;
        let hasher = std::mem::take(&mut ingest.hasher);
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let tmp = ingest.path.clone();
        let result = (|| {
            if let Some(exp) = expected {
                if exp != digest {
                    return Err(ImageError::InvalidArgument(format!(
                        "blob digest mismatch: expected {exp}, got {digest}"
                    )));
                }
            }
            file.sync_all()
                .map_err(io_err(format!("fsync {}", tmp.display())))?;
            drop(file);
            let dst = self.path(&digest)?;
            fs::rename(&tmp, &dst).map_err(io_err(format!("committing blob {digest}")))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|_| (digest, ingest.size))
    }

    /// Stores `bytes` as a blob; returns its digest.
    pub(crate) fn put(&self, bytes: &[u8]) -> Result<String, ImageError> {
        let digest = digest_of(bytes);
        if self.exists(&digest) {
            return Ok(digest);
        }
        let mut ing = self.begin()?;
        ing.write_all(bytes).map_err(io_err("writing blob"))?;
        Ok(self.commit(ing, Some(&digest))?.0)
    }

    pub(crate) fn delete(&self, digest: &str) -> Result<(), ImageError> {
        let p = self.path(digest)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::Io {
                context: format!("removing blob {}", p.display()),
                source: e,
            }),
        }
    }
}

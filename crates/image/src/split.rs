//! Tar-split: the layout of a layer tar without its file contents, so that a
//! layer unpacked from a tar can give back the very same bytes (the same diff
//! id) without keeping the tar. As moby's tar-split, but for layers made here.
//!
//! While a tar is unpacked, [`SplitReader`] records every byte of the stream
//! except the contents of regular files, which the unpacker marks
//! ([`SplitLog::mark_data`]) as "`size` bytes of the file at `path`". To make
//! the tar again, [`reassemble`] writes the recorded bytes and reads each
//! file's contents from the layer directory. The stored form is zstd-compressed
//! records: `0, u64 len, bytes` or `1, u32 path len, path, u64 size`.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::content::io_err;
use crate::ImageError;

/// Name of the tar-split file beside a layer's `diff` directory.
pub(crate) const FILE_NAME: &str = "tar-split.zst";

enum Record {
    Bytes(Vec<u8>),
    Data { path: Vec<u8>, size: u64 },
}

/// What a [`SplitReader`] saw, shared with the unpacker that marks file data.
#[derive(Default)]
pub(crate) struct SplitLog {
    records: Vec<Record>,
    /// Bytes of marked file data still to come.
    data_left: u64,
}

impl SplitLog {
    /// The next `size` bytes of the stream are the contents of the regular file
    /// `path` (relative to the layer root, cleaned). Called when the stream is
    /// at the start of an entry's data.
    pub(crate) fn mark_data(&mut self, path: Vec<u8>, size: u64) {
        debug_assert_eq!(self.data_left, 0);
        self.records.push(Record::Data { path, size });
        self.data_left = size;
    }

    fn saw(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            if self.data_left > 0 {
                let k = (self.data_left.min(buf.len() as u64)) as usize;
                self.data_left -= k as u64;
                buf = &buf[k..];
                continue;
            }
            match self.records.last_mut() {
                Some(Record::Bytes(b)) => b.extend_from_slice(buf),
                _ => self.records.push(Record::Bytes(buf.to_vec())),
            }
            return;
        }
    }

    /// Writes the log (zstd-compressed) to `path`.
    pub(crate) fn write_to(&self, path: &Path) -> Result<(), ImageError> {
        let ctx = || format!("writing {}", path.display());
        let f = File::create(path).map_err(io_err(ctx()))?;
        let mut z =
            zstd::stream::write::Encoder::new(io::BufWriter::new(f), 1).map_err(io_err(ctx()))?;
        for r in &self.records {
            match r {
                Record::Bytes(b) => {
                    z.write_all(&[0]).map_err(io_err(ctx()))?;
                    z.write_all(&(b.len() as u64).to_le_bytes())
                        .map_err(io_err(ctx()))?;
                    z.write_all(b).map_err(io_err(ctx()))?;
                }
                Record::Data { path: p, size } => {
                    z.write_all(&[1]).map_err(io_err(ctx()))?;
                    z.write_all(&(p.len() as u32).to_le_bytes())
                        .map_err(io_err(ctx()))?;
                    z.write_all(p).map_err(io_err(ctx()))?;
                    z.write_all(&size.to_le_bytes()).map_err(io_err(ctx()))?;
                }
            }
        }
        z.finish()
            .and_then(|mut w| w.flush())
            .map_err(io_err(ctx()))?;
        Ok(())
    }
}

/// A reader that tells a [`SplitLog`] everything read through it.
pub(crate) struct SplitReader<R> {
    pub(crate) inner: R,
    pub(crate) log: Rc<RefCell<SplitLog>>,
}

impl<R: Read> Read for SplitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.log.borrow_mut().saw(&buf[..n]);
        Ok(n)
    }
}

/// Writes the tar that `split` (a tar-split file) describes to `out`, taking
/// file contents from the layer directory `dir`. Files are opened without
/// following symlinks and must have exactly the recorded size.
pub(crate) fn reassemble(split: &Path, dir: &Path, out: &mut dyn Write) -> Result<(), ImageError> {
    let bad = |m: String| {
        ImageError::Internal(format!(
            "the tar-split {} of this layer is unusable: {m}",
            split.display()
        ))
    };
    let f = File::open(split).map_err(io_err(format!("opening {}", split.display())))?;
    let mut z = zstd::stream::read::Decoder::new(f)
        .map_err(io_err(format!("reading {}", split.display())))?;
    let root = rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::Io {
        context: format!("opening {}", dir.display()),
        source: e.into(),
    })?;
    let read_err = |e: io::Error| bad(format!("truncated or corrupt: {e}"));
    loop {
        let mut tag = [0u8; 1];
        match z.read(&mut tag) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        }
        match tag[0] {
            0 => {
                let mut len = [0u8; 8];
                z.read_exact(&mut len).map_err(read_err)?;
                let len = u64::from_le_bytes(len);
                let copied = io::copy(&mut (&mut z).take(len), out)
                    .map_err(io_err("writing the layer tar"))?;
                if copied != len {
                    return Err(bad("truncated".into()));
                }
            }
            1 => {
                let mut plen = [0u8; 4];
                z.read_exact(&mut plen).map_err(read_err)?;
                let mut p = vec![0u8; u32::from_le_bytes(plen) as usize];
                z.read_exact(&mut p).map_err(read_err)?;
                let mut size = [0u8; 8];
                z.read_exact(&mut size).map_err(read_err)?;
                let size = u64::from_le_bytes(size);
                let shown = String::from_utf8_lossy(&p).into_owned();
                let changed = |what: String| {
                    ImageError::InvalidArgument(format!(
                        "layer file {shown} changed on disk: {what}"
                    ))
                };
                let fd = rustix::fs::openat2(
                    &root,
                    std::ffi::OsStr::from_bytes(&p),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
                )
                .map_err(|e| changed(format!("cannot open it: {e}")))?;
                let mut file = File::from(fd);
                let len = file
                    .metadata()
                    .map_err(io_err(format!("stat {shown}")))?
                    .len();
                if len != size {
                    return Err(changed(format!("{len} bytes instead of {size}")));
                }
                let copied = io::copy(&mut (&mut file).take(size), out)
                    .map_err(io_err(format!("reading {shown}")))?;
                if copied != size {
                    return Err(changed("shorter than recorded".into()));
                }
            }
            t => return Err(bad(format!("unknown record {t}"))),
        }
    }
}

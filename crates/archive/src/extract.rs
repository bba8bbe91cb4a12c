//! Copying in: what `PUT /containers/{id}/archive` does with the tar it is sent.
//!
//! Every entry is placed by resolving its parent directory inside the root
//! (symlinks, also ones the archive itself made, are followed but confined to
//! the root) and then working on the parent's fd. Files and links are written
//! under a temporary name in their directory and renamed into place, so a
//! reader never sees half a file; on error, entries already extracted stay.
//!
//! Safer than Docker: character and block devices are refused (Docker creates
//! them), hard links may only point at files this same archive extracted, and
//! entry names or link targets that climb out of the destination are refused.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::error::{ArchiveError, Result};
use crate::root::{show, RequestPath, Root};
use crate::write::{open_child_dir, read_names};

/// `PUT archive` options.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Fail instead of replacing a directory with a non-directory or the other
    /// way round (`noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
    /// Owner for every entry (`copyUIDGID`, resolved by the caller); None keeps
    /// the owners the archive names.
    pub copy_uid_gid: Option<(u32, u32)>,
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    pub entries: u64,
    pub bytes: u64,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_name() -> OsString {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!(".berth-extract-{}-{n}", std::process::id()))
}

/// Extracts the tar `input` into directory `dest_dir` (resolved inside
/// `root`, symlinks followed and confined).
pub fn extract_tar(
    root: &Root,
    dest_dir: &str,
    input: impl Read,
    opts: &ExtractOptions,
) -> Result<ExtractSummary> {
    let req = RequestPath::parse(dest_dir);
    let dest = root.resolve(&req.comps)?;
    match root.open_dir(&dest) {
        Ok(_) => {}
        Err(Errno::NOENT) => {
            return Err(ArchiveError::NotFound {
                path: show(&req.comps),
            })
        }
        Err(Errno::NOTDIR) => {
            return Err(match root.open_in(&dest, OFlags::PATH) {
                Ok(_) => ArchiveError::NotADirectory {
                    path: show(&req.comps),
                },
                Err(_) => ArchiveError::NotFound {
                    path: show(&req.comps),
                },
            })
        }
        Err(e) => return Err(ArchiveError::io(format!("opening {}", show(&dest)), e)),
    }
    let mut x = Extractor {
        root,
        dest,
        opts,
        extracted: HashSet::new(),
        dir_times: Vec::new(),
        summary: ExtractSummary::default(),
    };
    let mut ar = tar::Archive::new(input);
    let entries = ar.entries().map_err(|e| ArchiveError::BadTar {
        context: "reading the archive".into(),
        source: e,
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| ArchiveError::BadTar {
            context: "reading an entry header".into(),
            source: e,
        })?;
        x.entry(entry)?;
    }
    x.set_dir_times()?;
    Ok(x.summary)
}

struct Extractor<'a> {
    root: &'a Root,
    /// The resolved destination directory.
    dest: Vec<OsString>,
    opts: &'a ExtractOptions,
    /// Entries (relative to `dest`) this archive wrote as files or symlinks:
    /// the only hard link targets allowed.
    extracted: HashSet<Vec<OsString>>,
    /// Directories whose times are set at the end (children change them).
    dir_times: Vec<(Vec<OsString>, i64)>,
    summary: ExtractSummary,
}

/// Cleans a tar path lexically into components relative to the extraction
/// root: strips leading `/`, drops `.` and empty components, resolves `..`;
/// `None` if it climbs out (`a/./b/../c` → [a, c]).
pub fn clean_components(name: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    Some(out)
}

fn entry_name(e: &tar::Entry<'_, impl Read>) -> String {
    String::from_utf8_lossy(&e.path_bytes()).into_owned()
}

impl Extractor<'_> {
    fn full(&self, rel: &[OsString]) -> Vec<OsString> {
        let mut v = self.dest.clone();
        v.extend_from_slice(rel);
        v
    }

    fn entry(&mut self, mut e: tar::Entry<'_, impl Read>) -> Result<()> {
        let name = entry_name(&e);
        let kind = e.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName
        ) {
            return Ok(());
        }
        let rel = clean_components(&e.path_bytes()).ok_or_else(|| {
            ArchiveError::refused(&name, "its path climbs out of the destination")
        })?;
        let h = e.header();
        let mode = h.mode().map_err(|err| bad_header(&name, err))? & 0o7777;
        let mtime = h.mtime().map_err(|err| bad_header(&name, err))?;
        let (uid, gid) = match self.opts.copy_uid_gid {
            Some(ids) => ids,
            None => (
                id32(h.uid().map_err(|err| bad_header(&name, err))?),
                id32(h.gid().map_err(|err| bad_header(&name, err))?),
            ),
        };
        let meta = Meta {
            mode,
            uid,
            gid,
            mtime: i64::try_from(mtime).unwrap_or(i64::MAX),
        };
        let Some((last, parent_rel)) = rel.split_last() else {
            // The destination itself (`./`): only a directory may name it.
            if kind != tar::EntryType::Directory {
                return Err(ArchiveError::refused(
                    &name,
                    "a non-directory cannot replace the destination",
                ));
            }
            let fd = self
                .root
                .open_in(&self.dest, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|err| ArchiveError::io(format!("opening {}", show(&self.dest)), err))?;
            set_owner_mode(&fd, &meta, &name)?;
            self.dir_times.push((self.dest.clone(), meta.mtime));
            self.summary.entries += 1;
            return Ok(());
        };
        let parent = self.parent_dir(parent_rel, &name)?;
        let existing =
            match rustix::fs::statat(&parent, last.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::NOENT) => None,
                Err(err) => return Err(ArchiveError::io(format!("stat {name}"), err)),
            };
        let existing_dir = existing
            .as_ref()
            .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        let path = show(&self.full(&rel));
        if kind == tar::EntryType::Directory {
            match existing_dir {
                Some(true) => {}
                Some(false) => {
                    if self.opts.no_overwrite_dir_non_dir {
                        return Err(ArchiveError::Overwrite {
                            existing: "non-directory",
                            path,
                            new: "directory",
                            entry: name,
                        });
                    }
                    rustix::fs::unlinkat(&parent, last.as_os_str(), AtFlags::empty())
                        .map_err(|err| ArchiveError::io(format!("replacing {path}"), err))?;
                    mkdir(&parent, last, &path)?;
                }
                None => mkdir(&parent, last, &path)?,
            }
            let fd = open_child_dir(&parent, last)
                .map_err(|err| ArchiveError::io(format!("opening {path}"), err))?;
            set_owner_mode(&fd, &meta, &name)?;
            self.dir_times.push((self.full(&rel), meta.mtime));
            self.summary.entries += 1;
            return Ok(());
        }
        let tmp = temp_name();
        let made = self.make_temp(&mut e, kind, &parent, &tmp, &meta, &name);
        if let Err(err) = made {
            let _ = rustix::fs::unlinkat(&parent, tmp.as_os_str(), AtFlags::empty());
            return Err(err);
        }
        let placed = self.replace(&parent, &tmp, last, existing_dir, &path, &name);
        if let Err(err) = placed {
            let _ = rustix::fs::unlinkat(&parent, tmp.as_os_str(), AtFlags::empty());
            return Err(err);
        }
        self.extracted.insert(rel);
        self.summary.entries += 1;
        Ok(())
    }

    /// Opens the entry's parent directory, creating missing directories (0755,
    /// as Docker does) inside the root.
    fn parent_dir(&self, parent_rel: &[OsString], name: &str) -> Result<OwnedFd> {
        let full = self.full(parent_rel);
        match self.root.open_dir(&full) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(Errno::NOTDIR) => {
                return Err(ArchiveError::refused(
                    name,
                    "a parent of it is not a directory",
                ))
            }
            Err(e) => return Err(ArchiveError::io(format!("opening {}", show(&full)), e)),
        }
        // Create what is missing along the resolved path (a symlink the archive
        // made may point at a directory that does not exist yet), each step
        // opened without following symlinks.
        let resolved = self.root.resolve(&full)?;
        let mut cur: Vec<OsString> = Vec::new();
        let mut fd = self
            .root
            .open_dir(&cur)
            .map_err(|e| ArchiveError::io("opening the root", e))?;
        for c in resolved {
            cur.push(c.clone());
            match rustix::fs::mkdirat(&fd, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(ArchiveError::io(format!("creating {}", show(&cur)), e)),
            }
            fd = rustix::fs::openat(
                &fd,
                c.as_os_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                Errno::NOTDIR | Errno::LOOP => {
                    ArchiveError::refused(name, "a parent of it is not a directory")
                }
                e => ArchiveError::io(format!("opening {}", show(&cur)), e),
            })?;
        }
        Ok(fd)
    }

    /// Writes the non-directory entry under `tmp` in `parent`, with its owner,
    /// mode and times.
    fn make_temp(
        &mut self,
        e: &mut tar::Entry<'_, impl Read>,
        kind: tar::EntryType,
        parent: &OwnedFd,
        tmp: &OsStr,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rustix::fs::openat(
                    parent,
                    tmp,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|err| ArchiveError::io(format!("creating {name}"), err))?;
                let mut f = File::from(fd);
                let n = io::copy(e, &mut f).map_err(|err| {
                    if err.raw_os_error().is_some() && err.kind() != io::ErrorKind::UnexpectedEof {
                        ArchiveError::io(format!("writing {name}"), err)
                    } else {
                        ArchiveError::BadTar {
                            context: format!("reading the content of {name}"),
                            source: err,
                        }
                    }
                })?;
                self.summary.bytes += n;
                let fd = OwnedFd::from(f);
                set_owner_mode(&fd, meta, name)?;
                apply_xattrs(&fd, e, name)?;
                let t = times(meta.mtime);
                rustix::fs::futimens(&fd, &t)
                    .map_err(|err| ArchiveError::io(format!("setting the times of {name}"), err))?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| ArchiveError::refused(name, "a symlink without a target"))?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, tmp)
                    .map_err(|err| ArchiveError::io(format!("creating {name}"), err))?;
                self.chown_at(parent, tmp, meta, name)?;
                rustix::fs::utimensat(parent, tmp, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| ArchiveError::io(format!("setting the times of {name}"), err))?;
            }
            tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| ArchiveError::refused(name, "a hard link without a target"))?;
                let rel = clean_components(&target).ok_or_else(|| {
                    ArchiveError::refused(name, "its hard link target climbs out of the destination")
                })?;
                if !self.extracted.contains(&rel) {
                    return Err(ArchiveError::refused(
                        name,
                        format!(
                            "its hard link target {:?} is not a file extracted from this archive",
                            String::from_utf8_lossy(&target)
                        ),
                    ));
                }
                let Some((tlast, tparent)) = rel.split_last() else {
                    return Err(ArchiveError::refused(name, "a hard link to the destination"));
                };
                let tdir = self
                    .root
                    .open_dir(&self.full(tparent))
                    .map_err(|err| ArchiveError::io(format!("opening the target of {name}"), err))?;
                rustix::fs::linkat(&tdir, tlast.as_os_str(), parent, tmp, AtFlags::empty())
                    .map_err(|err| ArchiveError::io(format!("linking {name}"), err))?;
                let st = rustix::fs::statat(parent, tmp, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| ArchiveError::io(format!("stat {name}"), err))?;
                if !matches!(
                    FileType::from_raw_mode(st.st_mode),
                    FileType::RegularFile | FileType::Symlink
                ) {
                    return Err(ArchiveError::refused(name, "its hard link target is not a file"));
                }
            }
            tar::EntryType::Fifo => {
                rustix::fs::mknodat(parent, tmp, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                    .map_err(|err| ArchiveError::io(format!("creating {name}"), err))?;
                self.chown_at(parent, tmp, meta, name)?;
                rustix::fs::chmodat(parent, tmp, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                    .map_err(|err| ArchiveError::io(format!("chmod {name}"), err))?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(ArchiveError::refused(
                    name,
                    "it is a device node; Berth does not create device nodes from archives (Docker does)",
                ))
            }
            other => {
                return Err(ArchiveError::refused(
                    name,
                    format!("unsupported entry type {other:?}"),
                ))
            }
        }
        Ok(())
    }

    fn chown_at(&self, parent: &OwnedFd, tmp: &OsStr, meta: &Meta, name: &str) -> Result<()> {
        rustix::fs::chownat(
            parent,
            tmp,
            Some(rustix::fs::Uid::from_raw(meta.uid)),
            Some(rustix::fs::Gid::from_raw(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|err| ArchiveError::io(format!("chown {name}"), err))
    }

    /// Renames `tmp` over `last`, replacing what is there (a directory only
    /// without `noOverwriteDirNonDir`).
    fn replace(
        &self,
        parent: &OwnedFd,
        tmp: &OsStr,
        last: &OsStr,
        existing_dir: Option<bool>,
        path: &str,
        name: &str,
    ) -> Result<()> {
        if existing_dir == Some(true) {
            if self.opts.no_overwrite_dir_non_dir {
                return Err(ArchiveError::Overwrite {
                    existing: "directory",
                    path: path.to_string(),
                    new: "non-directory",
                    entry: name.to_string(),
                });
            }
            remove_all_at(parent, last)
                .map_err(|e| ArchiveError::io(format!("replacing {path}"), e))?;
        }
        rustix::fs::renameat(parent, tmp, parent, last)
            .map_err(|e| ArchiveError::io(format!("placing {path}"), e))
    }

    fn set_dir_times(&self) -> Result<()> {
        for (dir, mtime) in self.dir_times.iter().rev() {
            let fd = match self.root.open_in(dir, OFlags::RDONLY | OFlags::DIRECTORY) {
                Ok(fd) => fd,
                // Replaced by a later entry.
                Err(Errno::NOENT) | Err(Errno::NOTDIR) => continue,
                Err(e) => return Err(ArchiveError::io(format!("opening {}", show(dir)), e)),
            };
            rustix::fs::futimens(&fd, &times(*mtime))
                .map_err(|e| ArchiveError::io(format!("setting the times of {}", show(dir)), e))?;
        }
        Ok(())
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

fn id32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn bad_header(name: &str, e: io::Error) -> ArchiveError {
    ArchiveError::BadTar {
        context: format!("the header of {name}"),
        source: e,
    }
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Owner first, then the mode: a chown clears setuid/setgid bits, which the
/// archive's mode then sets again (as Docker keeps them).
fn set_owner_mode(fd: &OwnedFd, meta: &Meta, name: &str) -> Result<()> {
    rustix::fs::fchown(
        fd,
        Some(rustix::fs::Uid::from_raw(meta.uid)),
        Some(rustix::fs::Gid::from_raw(meta.gid)),
    )
    .map_err(|e| ArchiveError::io(format!("chown {name}"), e))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))
        .map_err(|e| ArchiveError::io(format!("chmod {name}"), e))
}

/// The `security.capability` and `user.*` xattrs of the entry's PAX records.
fn apply_xattrs(fd: &OwnedFd, e: &mut tar::Entry<'_, impl Read>, name: &str) -> Result<()> {
    let Ok(Some(exts)) = e.pax_extensions() else {
        return Ok(());
    };
    for ext in exts.flatten() {
        let Ok(key) = ext.key() else { continue };
        let Some(attr) = key.strip_prefix("SCHILY.xattr.") else {
            continue;
        };
        if attr != "security.capability" && !attr.starts_with("user.") {
            continue;
        }
        rustix::fs::fsetxattr(fd, attr, ext.value_bytes(), rustix::fs::XattrFlags::empty())
            .map_err(|err| ArchiveError::io(format!("setting xattr {attr} of {name}"), err))?;
    }
    Ok(())
}

/// Removes `name` in `dir` and everything below it, without following symlinks.
pub(crate) fn remove_all_at(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<()> {
    let st: Stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
    let sub = open_child_dir(dir, name)?;
    for n in read_names(&sub)? {
        remove_all_at(&sub, &n)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

fn mkdir(parent: &OwnedFd, name: &OsStr, path: &str) -> Result<()> {
    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
        .map_err(|e| ArchiveError::io(format!("creating {path}"), e))
}

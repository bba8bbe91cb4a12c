//! The build context `berth build` sends, made as the docker CLI makes it: a
//! directory tarred with `.dockerignore` applied (the Dockerfile and
//! `.dockerignore` always included), a tar (plain or compressed) or a lone
//! Dockerfile read from stdin (`-`), and a Dockerfile from stdin (`-f -`) or from
//! outside the context added under a random `.dockerfile.<hex>` name.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use dockerfile::IgnoreMatcher;

/// Magic numbers of what `docker build -` takes as a context archive.
fn is_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) // gzip
        || head.starts_with(b"BZh") // bzip2
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) // xz
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) // zstd
        || head.get(257..262) == Some(b"ustar") // tar
}

fn random_dockerfile_name() -> String {
    let mut b = [0u8; 10];
    rand::fill(&mut b);
    format!(
        ".dockerfile.{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn read_stdin() -> Result<Vec<u8>> {
    let mut v = Vec::new();
    std::io::stdin()
        .read_to_end(&mut v)
        .context("reading stdin")?;
    Ok(v)
}

fn append_bytes(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    b.append_data(&mut h, name, data)
        .with_context(|| format!("adding {name} to the build context"))
}

/// A directory context a daemon on this machine can read in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDir {
    /// Absolute, canonical path of the context directory.
    pub dir: PathBuf,
    /// Device and inode of `dir`: the daemon checks it sees the same directory.
    pub dev: u64,
    pub ino: u64,
    /// The Dockerfile's path inside it.
    pub dockerfile: String,
}

/// The context as a [`LocalDir`] when it is a directory holding the Dockerfile
/// (not `-`, not `-f -`, not a Dockerfile from elsewhere).
pub fn local_dir(context: &str, file: Option<&str>) -> Option<LocalDir> {
    use std::os::unix::fs::MetadataExt;
    if context == "-" || file == Some("-") {
        return None;
    }
    let dir = Path::new(context).canonicalize().ok()?;
    let meta = std::fs::metadata(&dir).ok()?;
    if !meta.is_dir() {
        return None;
    }
    let dockerfile = match file {
        None => "Dockerfile".to_string(),
        Some(f) => {
            let abs = std::path::absolute(f).ok()?.canonicalize().ok()?;
            abs.strip_prefix(&dir).ok()?.to_string_lossy().into_owned()
        }
    };
    dir.join(&dockerfile).is_file().then_some(LocalDir {
        dev: meta.dev(),
        ino: meta.ino(),
        dir,
        dockerfile,
    })
}

/// The context tar and the Dockerfile's path inside it.
pub fn prepare(context: &str, file: Option<&str>) -> Result<(Vec<u8>, String)> {
    if context == "-" {
        if file == Some("-") {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let data = read_stdin()?;
        if is_archive(&data) {
            return Ok((data, file.unwrap_or("Dockerfile").to_string()));
        }
        // A lone Dockerfile: the context holds only it.
        let mut b = tar::Builder::new(Vec::new());
        append_bytes(&mut b, "Dockerfile", &data)?;
        return Ok((b.into_inner()?, "Dockerfile".into()));
    }
    let dir = PathBuf::from(context);
    if !dir.is_dir() {
        bail!("unable to prepare context: path {context:?} not found");
    }
    let abs_dir = dir
        .canonicalize()
        .with_context(|| format!("unable to prepare context: {context}"))?;
    // The Dockerfile: stdin, a path relative to the current directory (as the
    // docker CLI resolves -f), or the context's own Dockerfile.
    let (inside, extra): (Option<String>, Option<Vec<u8>>) = match file {
        Some("-") => (None, Some(read_stdin()?)),
        Some(f) => {
            let abs = std::path::absolute(f).with_context(|| format!("resolving {f}"))?;
            let abs = abs.canonicalize().unwrap_or(abs);
            match abs.strip_prefix(&abs_dir) {
                Ok(rel) => (Some(rel.to_string_lossy().into_owned()), None),
                Err(_) => (
                    None,
                    Some(std::fs::read(&abs).with_context(|| {
                        format!("unable to prepare context: unable to read Dockerfile {f}")
                    })?),
                ),
            }
        }
        None => (Some("Dockerfile".into()), None),
    };
    if let Some(rel) = &inside {
        if !abs_dir.join(rel).is_file() {
            bail!(
                "unable to prepare context: the Dockerfile ({}) cannot be found",
                abs_dir.join(rel).display()
            );
        }
    }
    let ignore_text = std::fs::read_to_string(abs_dir.join(".dockerignore")).unwrap_or_default();
    let matcher = IgnoreMatcher::from_dockerignore(&ignore_text)
        .map_err(|e| anyhow!("error checking context: .dockerignore: {e}"))?;
    let keep: Vec<&str> = inside
        .iter()
        .map(String::as_str)
        .chain([".dockerignore"])
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    add_dir(&mut b, &abs_dir, &abs_dir, &matcher, &keep)?;
    let name = match (inside, extra) {
        (Some(rel), _) => rel,
        (None, Some(content)) => {
            let name = random_dockerfile_name();
            append_bytes(&mut b, &name, &content)?;
            name
        }
        (None, None) => "Dockerfile".into(),
    };
    Ok((b.into_inner()?, name))
}

fn add_dir(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    dir: &Path,
    m: &IgnoreMatcher,
    keep: &[&str],
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("error checking context: reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .map_err(|_| anyhow!("bad context path {}", path.display()))?
            .to_string_lossy()
            .into_owned();
        let ft = e.file_type()?;
        let excluded = m.matches(&rel) && !keep.contains(&rel.as_str());
        if ft.is_dir() {
            if !excluded {
                b.append_dir(&rel, &path)
                    .with_context(|| format!("adding {rel} to the build context"))?;
            }
            // An excluded directory may still hold re-included files.
            if !excluded || m.dir_may_have_exceptions(&rel) {
                add_dir(b, root, &path, m, keep)?;
            }
        } else if !excluded {
            b.append_path_with_name(&path, &rel)
                .with_context(|| format!("adding {rel} to the build context"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dockerignore_exceptions_and_outside_dockerfiles() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("node_modules/x")).unwrap();
        std::fs::create_dir_all(p.join("docs")).unwrap();
        for f in [
            "Dockerfile",
            "a.md",
            "keep.md",
            "node_modules/x/y",
            "docs/z",
        ] {
            std::fs::write(p.join(f), "x").unwrap();
        }
        std::fs::write(
            p.join(".dockerignore"),
            "*.md\n!keep.md\nnode_modules\nDockerfile\n",
        )
        .unwrap();
        let (tar, df) = prepare(p.to_str().unwrap(), None).unwrap();
        assert_eq!(df, "Dockerfile");
        let n = names(&tar);
        for want in ["Dockerfile", ".dockerignore", "keep.md", "docs/z"] {
            assert!(n.iter().any(|x| x == want), "{want} in {n:?}");
        }
        assert!(
            !n.iter()
                .any(|x| x == "a.md" || x.starts_with("node_modules")),
            "{n:?}"
        );

        let other = tempfile::tempdir().unwrap();
        let outside = other.path().join("Other.dockerfile");
        std::fs::write(&outside, "FROM scratch\n").unwrap();
        let (tar, df) = prepare(p.to_str().unwrap(), outside.to_str()).unwrap();
        assert!(df.starts_with(".dockerfile."), "{df}");
        assert!(names(&tar).contains(&df));
        assert!(prepare("/nonexistent-dir", None).is_err());
    }

    #[test]
    fn local_dirs_only_for_directories_holding_their_dockerfile() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM x").unwrap();
        let p = d.path().to_str().unwrap();
        let l = local_dir(p, None).unwrap();
        assert_eq!(l.dockerfile, "Dockerfile");
        assert_eq!(l.dir, d.path().canonicalize().unwrap());
        assert!(local_dir(p, Some("-")).is_none());
        assert!(local_dir("-", None).is_none());
        let other = tempfile::NamedTempFile::new().unwrap();
        assert!(
            local_dir(p, other.path().to_str()).is_none(),
            "a Dockerfile from elsewhere"
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(local_dir(empty.path().to_str().unwrap(), None).is_none());
    }

    #[test]
    fn archives_are_recognised() {
        let mut b = tar::Builder::new(Vec::new());
        append_bytes(&mut b, "Dockerfile", b"FROM x").unwrap();
        let t = b.into_inner().unwrap();
        assert!(is_archive(&t));
        assert!(is_archive(&[0x1f, 0x8b, 8]));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
    }
}

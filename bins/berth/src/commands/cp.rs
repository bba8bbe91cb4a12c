//! `berth cp`: copy files between a container and the local filesystem
//! through the archive endpoints (tar streams).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use crate::client::{body_stream, daemon_error, empty, enc, full, query, Client};
use base64::Engine;
use gotemplate::JsonExt;

/// Go's os.ModeDir bit in the archive stat's mode.
const MODE_DIR: u64 = 1 << 31;

/// `berth cp`
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, local path or - (tar on stdin)
    pub src: String,
    /// CONTAINER:DEST_PATH, local path or - (tar on stdout)
    pub dest: String,
}

/// Splits "container:path"; local paths (absolute, ./ or without colon) give None.
pub fn split_container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    if c.is_empty() {
        return None;
    }
    Some((c, p))
}

/// The archive stat of a path in a container: (is_dir, name), or None if missing.
async fn stat(client: &Client, container: &str, path: &str) -> Result<Option<(bool, String)>> {
    let url = format!(
        "/containers/{}/archive{}",
        enc(container),
        query(&[("path", path.to_string())])
    );
    match client.call(Method::HEAD, &url, None, empty()).await {
        Ok(resp) => {
            let header = resp
                .headers()
                .get("x-docker-container-path-stat")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let v: Value = base64::engine::general_purpose::STANDARD
                .decode(header.trim())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let mode = v.ci("mode").and_then(Value::as_u64).unwrap_or(0);
            let name = v
                .ci("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            Ok(Some((mode & MODE_DIR != 0, name)))
        }
        Err(e) if daemon_error(&e).is_some_and(|d| d.status == 404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `berth cp`
pub async fn cp(client: &Client, a: CpArgs) -> Result<i32> {
    match (split_container_path(&a.src), split_container_path(&a.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((c, p)), None) => {
            let n = copy_from(client, c, p, &a.dest).await?;
            report(&a, n, &a.dest);
        }
        (None, Some((c, p))) => {
            let n = copy_to(client, &a.src, c, p).await?;
            report(&a, n, &a.dest);
        }
    }
    Ok(0)
}

/// docker prints the copied size when stderr is a terminal.
fn report(a: &CpArgs, bytes: usize, dest: &str) {
    use std::io::IsTerminal;
    if !a.quiet && a.dest != "-" && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            crate::format::human_size(bytes as f64)
        );
    }
}

/// Copies out of a container; returns the archive size.
async fn copy_from(client: &Client, container: &str, src: &str, dest: &str) -> Result<usize> {
    let url = format!(
        "/containers/{}/archive{}",
        enc(container),
        query(&[("path", src.to_string())])
    );
    let resp = client.call(Method::GET, &url, None, empty()).await?;
    if dest == "-" {
        use std::io::Write;
        let mut s = Box::pin(body_stream(resp));
        let mut out = std::io::stdout().lock();
        let mut n = 0;
        while let Some(c) = s.next().await {
            let c = c?;
            n += c.len();
            out.write_all(&c)?;
        }
        out.flush()?;
        return Ok(n);
    }
    let data = resp.into_body().collect().await?.to_bytes();
    let dest = PathBuf::from(dest);
    // Unpack next to the destination, then move the top entry into place.
    let (parent, final_path) = if dest.is_dir() {
        (dest.clone(), None)
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        if !parent.is_dir() {
            bail!("invalid output path: directory {:?} does not exist", parent);
        }
        (parent, Some(dest.clone()))
    };
    let staging = tempfile_dir_in(&parent)?;
    let result = (|| -> Result<()> {
        let mut ar = tar::Archive::new(std::io::Cursor::new(&data[..]));
        ar.set_preserve_permissions(true);
        ar.set_overwrite(true);
        ar.unpack(&staging)
            .with_context(|| format!("extracting into {}", staging.display()))?;
        let mut entries = std::fs::read_dir(&staging)?.collect::<std::io::Result<Vec<_>>>()?;
        if entries.len() != 1 {
            bail!("unexpected archive layout from the daemon");
        }
        let top = entries.remove(0).path();
        let target = match &final_path {
            Some(p) => p.clone(),
            None => parent.join(top.file_name().ok_or_else(|| anyhow!("empty entry name"))?),
        };
        if target.is_dir() && top.is_dir() {
            // Merge into an existing directory.
            merge_dir(&top, &target)?;
        } else {
            std::fs::rename(&top, &target)
                .with_context(|| format!("moving into {}", target.display()))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|()| data.len())
}

fn merge_dir(from: &Path, to: &Path) -> Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() && dst.is_dir() {
            merge_dir(&e.path(), &dst)?;
        } else {
            if dst.is_dir() {
                std::fs::remove_dir_all(&dst)?;
            }
            std::fs::rename(e.path(), &dst)?;
        }
    }
    Ok(())
}

fn tempfile_dir_in(parent: &Path) -> Result<PathBuf> {
    for i in 0..100u32 {
        let p = parent.join(format!(".berth-cp-{}-{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", p.display())),
        }
    }
    bail!(
        "could not create a staging directory in {}",
        parent.display()
    )
}

/// Copies into a container; returns the archive size.
async fn copy_to(client: &Client, src: &str, container: &str, dest: &str) -> Result<usize> {
    let (upload_dir, body) = if src == "-" {
        // A tar stream on stdin, extracted into the destination directory.
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        (dest.to_string(), Bytes::from(buf))
    } else {
        let src_path = Path::new(src);
        let meta = std::fs::symlink_metadata(src_path)
            .map_err(|e| anyhow!("lstat {src}: {}", crate::format::go_io_error(&e)))?;
        let (upload_dir, name) = match stat(client, container, dest).await? {
            Some((true, _)) => (
                dest.to_string(),
                src_path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| ".".into()),
            ),
            Some((false, _)) if meta.is_dir() => {
                bail!("cannot copy directory to existing file {dest}")
            }
            _ => {
                let d = Path::new(dest);
                let parent = d
                    .parent()
                    .map(|p| p.to_string_lossy().to_string())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".into());
                let name = d
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .ok_or_else(|| anyhow!("invalid destination path {dest}"))?;
                (parent, name)
            }
        };
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        if meta.is_dir() {
            b.append_dir_all(&name, src_path)?;
        } else {
            b.append_path_with_name(src_path, &name)?;
        }
        (upload_dir, Bytes::from(b.into_inner()?))
    };
    let url = format!(
        "/containers/{}/archive{}",
        enc(container),
        query(&[
            ("path", upload_dir),
            ("noOverwriteDirNonDir", "true".into())
        ])
    );
    let n = body.len();
    client
        .call(Method::PUT, &url, Some("application/x-tar"), full(body))
        .await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(
            split_container_path("c1:/etc/hosts"),
            Some(("c1", "/etc/hosts"))
        );
        assert_eq!(split_container_path("/tmp/a:b"), None);
        assert_eq!(split_container_path("./a:b"), None);
        assert_eq!(split_container_path("file"), None);
        assert_eq!(split_container_path(":x"), None);
    }
}

//! `ADD <http url>`: a small HTTP/1.1 GET client (plain HTTP only; HTTPS is
//! refused with a clear error), following redirects.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::BuildError;

/// Maximum number of redirects followed.
const MAX_REDIRECTS: usize = 10;

/// A downloaded file.
#[derive(Debug)]
pub(crate) struct Download {
    /// The body.
    pub data: Vec<u8>,
    /// The file name from the final URL's path.
    pub name: String,
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, BuildError> {
    let bad = |why: &str| BuildError::Invalid {
        message: format!("ADD failed: invalid URL {url}: {why}"),
    };
    if url.starts_with("https://") {
        return Err(BuildError::NotImplemented {
            what: format!("ADD of an https URL ({url})"),
        });
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, p) = h.split_once(']').ok_or_else(|| bad("bad IPv6 host"))?;
        (h.to_string(), p.strip_prefix(':').unwrap_or("80"))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), "80"),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = port.parse().map_err(|_| bad("bad port"))?;
    let path = path.split('#').next().unwrap_or("/").to_string();
    Ok(Url { host, port, path })
}

fn file_name(path: &str) -> Option<String> {
    let p = path.split('?').next().unwrap_or("");
    let name = p.rsplit('/').next().unwrap_or("");
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// GETs `url`, following redirects.
pub(crate) async fn download(url: &str) -> Result<Download, BuildError> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let u = parse_url(&current)?;
        let io = |e: std::io::Error| BuildError::Context {
            context: format!("ADD failed: GET {current}"),
            source: e,
        };
        let mut s = tokio::net::TcpStream::connect((u.host.as_str(), u.port))
            .await
            .map_err(io)?;
        let host = if u.port == 80 {
            u.host.clone()
        } else {
            format!("{}:{}", u.host, u.port)
        };
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: berth-builder\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            u.path
        );
        s.write_all(req.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(io)?;
        let Some(hdr_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Err(BuildError::Invalid {
                message: format!("ADD failed: GET {current}: malformed HTTP response"),
            });
        };
        let head = String::from_utf8_lossy(&raw[..hdr_end]).into_owned();
        let mut body = raw[hdr_end + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let _version = parts.next();
        let code: u16 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let reason = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if (300..400).contains(&code) {
            if let Some(loc) = header("location") {
                current = if loc.starts_with("http://") || loc.starts_with("https://") {
                    loc
                } else if loc.starts_with('/') {
                    format!("http://{host}{loc}")
                } else {
                    let base = u.path.rsplit_once('/').map(|(b, _)| b).unwrap_or("");
                    format!("http://{host}{base}/{loc}")
                };
                continue;
            }
        }
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            body = dechunk(&body).ok_or_else(|| BuildError::Invalid {
                message: format!("ADD failed: GET {current}: malformed chunked body"),
            })?;
        } else if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
            body.truncate(len);
        }
        if code != 200 {
            return Err(BuildError::Invalid {
                message: format!(
                    "failed to GET {current} with status {code} {reason}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            });
        }
        let name = file_name(&u.path).ok_or_else(|| BuildError::Invalid {
            message: format!("cannot determine filename from url: {current}"),
        })?;
        return Ok(Download { data: body, name });
    }
    Err(BuildError::Invalid {
        message: format!("ADD failed: GET {url}: too many redirects"),
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_txt = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_txt.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunks() {
        let u = parse_url("http://127.0.0.1:8080/a/b.txt?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/a/b.txt?x=1")
        );
        assert_eq!(file_name(&u.path).as_deref(), Some("b.txt"));
        assert!(file_name("/").is_none());
        assert!(matches!(
            parse_url("https://x/y"),
            Err(BuildError::NotImplemented { .. })
        ));
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}

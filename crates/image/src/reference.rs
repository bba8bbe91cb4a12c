//! Docker image reference parsing: distribution/reference `ParseNormalizedNamed`,
//! plus Docker's default tag "latest" when neither tag nor digest is given.

use crate::ImageError;

/// The registry that familiar names (no host prefix) resolve to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_MAX: usize = 255;

/// Parsed, normalized image reference: "busybox" -> domain "docker.io", path
/// "library/busybox", tag "latest".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn invalid(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArgument(msg.into())
}

fn format_error() -> ImageError {
    invalid("invalid reference format")
}

/// True for a 64-char lowercase hex string (an image id without algorithm).
pub(crate) fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | __ | [-]+
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator run.
        let start = i;
        while i < b.len() && !is_alnum_lower(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
fn valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

/// domain := host (":" port)?; host := domain-component ("." domain-component)* | "[" ipv6 "]"
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let ip = &rest[..end];
        if ip.is_empty()
            || !ip
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => ("", Some(p)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if d.starts_with('[') {
        return true;
    }
    !host.is_empty() && host.split('.').all(valid_domain_component)
}

/// tag := [\w][\w.-]{0,127}
pub(crate) fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// "sha256:<64 lowercase hex>" (the only algorithm Berth stores).
pub(crate) fn valid_digest(d: &str) -> bool {
    matches!(d.split_once(':'), Some(("sha256", hex)) if is_full_hex_id(hex))
}

impl Reference {
    /// Docker's rules (distribution/reference ParseNormalizedNamed + default tag
    /// "latest" when no tag and no digest).
    pub fn parse(s: &str) -> Result<Self, ImageError> {
        let mut r = Self::parse_normalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".to_string());
        }
        Ok(r)
    }

    /// ParseNormalizedNamed without the default tag.
    pub fn parse_normalized(s: &str) -> Result<Self, ImageError> {
        if is_full_hex_id(s) {
            return Err(invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        if s.is_empty() {
            return Err(invalid("invalid reference format"));
        }
        // splitDockerDomain
        let (mut domain, mut remainder) = match s.find('/') {
            Some(i) => {
                let first = &s[..i];
                if !first.contains(['.', ':'])
                    && first != "localhost"
                    && first.to_lowercase() == first
                {
                    (DEFAULT_DOMAIN.to_string(), s.to_string())
                } else {
                    (first.to_string(), s[i + 1..].to_string())
                }
            }
            None => (DEFAULT_DOMAIN.to_string(), s.to_string()),
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
            remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
        }
        // The repository part (before any tag or digest) must be lowercase.
        let repo_part = remainder
            .split_once('@')
            .map(|(a, _)| a)
            .unwrap_or(&remainder);
        let repo_part = match repo_part.rfind(':') {
            Some(i) => &repo_part[..i],
            None => repo_part,
        };
        if repo_part.to_lowercase() != repo_part {
            return Err(invalid(format!(
                "invalid reference format: repository name ({repo_part}) must be lowercase"
            )));
        }

        // Split off digest, then tag (a ':' after the last '/').
        let (rest, digest) = match remainder.split_once('@') {
            Some((a, d)) => (a.to_string(), Some(d.to_string())),
            None => (remainder.clone(), None),
        };
        let (path, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => {
                (rest[..i].to_string(), Some(rest[i + 1..].to_string()))
            }
            _ => (rest, None),
        };
        if !valid_domain(&domain) {
            return Err(format_error());
        }
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(format_error());
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_MAX {
            return Err(invalid(
                "invalid reference format: repository name must not be more than 255 characters",
            ));
        }
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(format_error());
            }
        }
        if let Some(d) = &digest {
            if !valid_digest(d) {
                return Err(format_error());
            }
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The repository name with domain: "docker.io/library/busybox".
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// "docker.io/library/busybox:latest" (with @digest when present)
    pub fn full(&self) -> String {
        format!("{}{}", self.name(), self.suffix())
    }

    /// Familiar form shown by docker: "busybox:latest", "myreg:5000/x/y:tag"
    pub fn familiar(&self) -> String {
        format!("{}{}", self.familiar_repo(), self.suffix())
    }

    /// Repository only, familiar: "busybox"
    pub fn familiar_repo(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.familiar())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:4b0e2ef32ca9b32ac1a8e5d5b1b7d4d1f6c7c5b1f1a0e6a7d6d0e9b2c3a4f5e6";

    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );

    #[test]
    fn parse_table() {
        let ok: &[Case] = &[
            (
                "busybox",
                "docker.io",
                "library/busybox",
                Some("latest"),
                None,
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io",
                "library/busybox",
                Some("1.36"),
                None,
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io",
                "library/busybox",
                Some("latest"),
                None,
                "busybox:latest",
            ),
            (
                "docker.io/library/busybox:x",
                "docker.io",
                "library/busybox",
                Some("x"),
                None,
                "busybox:x",
            ),
            (
                "index.docker.io/busybox",
                "docker.io",
                "library/busybox",
                Some("latest"),
                None,
                "busybox:latest",
            ),
            (
                "user/app:v1",
                "docker.io",
                "user/app",
                Some("v1"),
                None,
                "user/app:v1",
            ),
            (
                "localhost:5000/a/b:t",
                "localhost:5000",
                "a/b",
                Some("t"),
                None,
                "localhost:5000/a/b:t",
            ),
            (
                "localhost/a",
                "localhost",
                "a",
                Some("latest"),
                None,
                "localhost/a:latest",
            ),
            (
                "myreg.example.com/x/y",
                "myreg.example.com",
                "x/y",
                Some("latest"),
                None,
                "myreg.example.com/x/y:latest",
            ),
            (
                "a-b.c-d/e__f",
                "a-b.c-d",
                "e__f",
                Some("latest"),
                None,
                "a-b.c-d/e__f:latest",
            ),
            (
                "my_app-1.x",
                "docker.io",
                "library/my_app-1.x",
                Some("latest"),
                None,
                "my_app-1.x:latest",
            ),
        ];
        for (input, domain, path, tag, digest, familiar) in ok {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.domain, *domain, "{input}");
            assert_eq!(r.path, *path, "{input}");
            assert_eq!(r.tag.as_deref(), *tag, "{input}");
            assert_eq!(r.digest.as_deref(), *digest, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
        }
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.full(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.familiar(), format!("busybox@{D}"));
        assert_eq!(r.familiar_repo(), "busybox");
        let r = Reference::parse(&format!("localhost:5000/a/b:t@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.full(), format!("localhost:5000/a/b:t@{D}"));
        assert_eq!(
            Reference::parse("busybox").unwrap().full(),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn parse_errors() {
        let e = Reference::parse("BusyBox").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/BusyBox) must be lowercase"
        );
        assert!(Reference::parse("a/B:tag")
            .unwrap_err()
            .to_string()
            .contains("must be lowercase"));
        for bad in [
            "",
            "busybox:",
            "busybox:-x",
            "a//b",
            "-a",
            "a-",
            "busybox@sha256:abc",
            "busybox:tag:tag",
            "bad host:5000/a",
            "a/b c",
            &format!("a:{}", "x".repeat(129)),
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(matches!(e, ImageError::InvalidArgument(_)), "{bad}");
        }
        let hex = "a".repeat(64);
        assert!(Reference::parse(&hex)
            .unwrap_err()
            .to_string()
            .contains("64-byte hexadecimal"));
        // Uppercase in the domain part is fine (hosts are case-insensitive).
        assert!(Reference::parse("MyReg.com/a").is_ok());
    }
}

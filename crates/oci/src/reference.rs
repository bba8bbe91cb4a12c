//! Image references as the docker CLI parses them
//! (`github.com/distribution/reference`: `ParseNormalizedNamed`,
//! `FamiliarString`, `TagNameOnly`).
//!
//! `busybox` normalizes to `docker.io/library/busybox`; a first path component
//! containing `.` or `:`, or equal to `localhost`, or with upper-case letters,
//! names the registry.

use std::fmt;

/// Docker Hub's domain in normalized references.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a reference does not parse; the messages are the reference library's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    Format { reference: String },
    #[error("invalid reference format: repository name ({name}) must be lowercase")]
    NotLowercase { name: String },
    #[error("repository name must not be more than 255 characters")]
    NameTooLong { reference: String },
    #[error("invalid repository name ({reference}), cannot specify 64-byte hexadecimal strings")]
    HexName { reference: String },
    #[error("invalid checksum digest format")]
    Digest { reference: String },
}

/// A normalized named reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// One path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
pub fn valid_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or "-"+, followed by alnum.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !is_alnum_lower(b[i]) {
            return false;
        }
    }
    true
}

/// A domain: host components (`[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` joined
/// by dots) or a bracketed IPv6 address, with an optional `:port`.
pub fn valid_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let (v6, after) = (&rest[..end], &rest[end + 1..]);
        if v6.is_empty() || !v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after.strip_prefix(':') {
            Some(p) => ("v6", Some(p)),
            None if after.is_empty() => ("v6", None),
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
    })
}

/// A tag: `[\w][\w.-]{0,127}`.
pub fn valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A digest: `algorithm:encoded`, sha256 with 64 lower-case hex digits.
pub fn valid_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'.' | b'_' | b'-')
        });
    let hex_ok = match alg {
        "sha256" => hex.len() == 64,
        "sha384" => hex.len() == 96,
        "sha512" => hex.len() == 128,
        _ => hex.len() >= 32,
    } && hex
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    alg_ok && hex_ok
}

/// A repository path: path components joined by `/`.
pub fn valid_repository_path(s: &str) -> bool {
    !s.is_empty() && s.split('/').all(valid_path_component)
}

/// A 64-character lower-case hex string (an image id without its algorithm).
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

impl Reference {
    /// `reference.ParseNormalizedNamed`, then Docker's default tag `latest` when
    /// there is neither tag nor digest (`reference.TagNameOnly`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Self::parse_normalized(s)?.tag_name_only())
    }

    /// `reference.ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        let format = || ReferenceError::Format {
            reference: s.to_string(),
        };
        if is_full_hex_id(s) {
            return Err(ReferenceError::HexName {
                reference: s.to_string(),
            });
        }
        // splitDockerDomain
        let (mut domain, mut remainder) = match s.find('/') {
            Some(i)
                if s[..i].contains(['.', ':'])
                    || &s[..i] == "localhost"
                    || s[..i].to_lowercase() != s[..i] =>
            {
                (s[..i].to_string(), s[i + 1..].to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), s.to_string()),
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
            remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
        }
        // remainder = path[:tag][@digest]
        let (rest, digest) = match remainder.split_once('@') {
            Some((r, d)) => (r.to_string(), Some(d.to_string())),
            None => (remainder.clone(), None),
        };
        let (path, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => {
                (rest[..i].to_string(), Some(rest[i + 1..].to_string()))
            }
            _ => (rest.clone(), None),
        };
        if path.is_empty() || !valid_domain(&domain) {
            return Err(format());
        }
        if !path.split('/').all(valid_path_component) {
            if path.to_lowercase() != path
                && path.to_lowercase().split('/').all(valid_path_component)
            {
                return Err(ReferenceError::NotLowercase { name: path });
            }
            return Err(format());
        }
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(format());
            }
        }
        if let Some(d) = &digest {
            if !valid_digest(d) {
                return Err(if d.contains(':') {
                    ReferenceError::Digest {
                        reference: s.to_string(),
                    }
                } else {
                    format()
                });
            }
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                reference: s.to_string(),
            });
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The fully qualified repository name (`docker.io/library/busybox`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Neither tag nor digest (`reference.IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Adds the `latest` tag to a name-only reference (`reference.TagNameOnly`).
    pub fn tag_name_only(mut self) -> Reference {
        if self.is_name_only() {
            self.tag = Some("latest".into());
        }
        self
    }

    /// The short repository name (`reference.FamiliarName`): `busybox`,
    /// `me/app`, `127.0.0.1:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
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

    /// `reference.FamiliarString`: `busybox:latest`.
    pub fn familiar_string(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }

    /// The fully qualified form with tag and digest:
    /// `docker.io/library/busybox:latest` (same as `Display`).
    pub fn full(&self) -> String {
        format!("{}{}", self.name(), self.suffix())
    }

    /// What the Engine API's `tag` parameter carries: the digest if there is
    /// one, else the tag (`latest` for a name-only reference).
    pub fn api_tag(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        Reference::parse_normalized(s).unwrap()
    }

    #[test]
    fn normalizes_like_docker() {
        let r = p("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert!(r.is_name_only());
        assert_eq!(
            r.clone().tag_name_only().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(r.tag_name_only().familiar_string(), "busybox:latest");
        assert_eq!(p("me/app:1").to_string(), "docker.io/me/app:1");
        assert_eq!(p("me/app:1").familiar_string(), "me/app:1");
        assert_eq!(p("index.docker.io/library/x").familiar_string(), "x");
        assert_eq!(p("docker.io/library/x:2").familiar_string(), "x:2");
        let r = p("127.0.0.1:5000/x:1");
        assert_eq!(r.domain, "127.0.0.1:5000");
        assert_eq!(r.name(), "127.0.0.1:5000/x");
        assert_eq!(r.familiar_string(), "127.0.0.1:5000/x:1");
        assert_eq!(r.api_tag(), "1");
        let r = p("localhost/a/b");
        assert_eq!(r.domain, "localhost");
        assert_eq!(r.path, "a/b");
        let r = p("localhost:5000/a:t");
        assert_eq!((r.path.as_str(), r.tag.as_deref()), ("a", Some("t")));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("127.0.0.1:5000/x:1@{d}"));
        assert_eq!(r.api_tag(), d);
        assert_eq!(r.tag.as_deref(), Some("1"));
        let r = p("[::1]:5000/x");
        assert_eq!(r.domain, "[::1]:5000");
    }

    #[test]
    fn rejects_like_docker() {
        assert_eq!(
            Reference::parse_normalized("Busybox")
                .unwrap_err()
                .to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            Reference::parse_normalized("a b").unwrap_err().to_string(),
            "invalid reference format"
        );
        assert!(Reference::parse_normalized("x:").is_err());
        assert!(Reference::parse_normalized("x@sha256:12").is_err());
        assert!(Reference::parse_normalized("-x").is_err());
        assert!(Reference::parse_normalized(&"a".repeat(64)).is_err());
        assert!(Reference::parse_normalized("a__b/c-_d").is_err());
        assert!(Reference::parse_normalized("a__b/c--d.e_f").is_ok());
    }

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
            assert_eq!(r.familiar_string(), *familiar, "{input}");
        }
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.full(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.familiar_string(), format!("busybox@{D}"));
        assert_eq!(r.familiar_name(), "busybox");
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
            assert!(!e.to_string().is_empty(), "{bad}");
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

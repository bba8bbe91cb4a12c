//! Digests (`sha256:<hex>`, `sha512:<hex>`), streaming hashers and reference syntax.

use sha2::{Digest as _, Sha256, Sha512};

use crate::error::Error;

/// A supported digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// sha256 (the default everywhere).
    Sha256,
    /// sha512 (allowed by the OCI spec).
    Sha512,
}

/// Split and check `algorithm:hex` (lowercase hex of the right length).
pub fn parse_digest(digest: &str) -> Result<(Algorithm, &str), Error> {
    let bad = |reason: &str| Error::invalid(format!("digest {digest:?}"), reason);
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| bad("expected algorithm:hex"))?;
    let (alg, len) = match alg {
        "sha256" => (Algorithm::Sha256, 64),
        "sha512" => (Algorithm::Sha512, 128),
        _ => return Err(bad("unsupported digest algorithm (sha256 or sha512)")),
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad("malformed hex part"));
    }
    Ok((alg, hex))
}

/// A streaming hasher for one algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// sha256 state.
    Sha256(Sha256),
    /// sha512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(alg: Algorithm) -> Hasher {
        match alg {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// `algorithm:hex` of everything fed.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// `algorithm:hex` of `data`.
pub fn digest_of(alg: Algorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finish()
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    digest_of(Algorithm::Sha256, data)
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference<'a> {
    /// A tag ("latest").
    Tag(&'a str),
    /// A digest ("sha256:...").
    Digest(&'a str, Algorithm),
}

impl<'a> Reference<'a> {
    /// Parse a tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest.
    pub fn parse(s: &'a str) -> Result<Reference<'a>, Error> {
        if s.contains(':') {
            let (alg, _) = parse_digest(s)?;
            return Ok(Reference::Digest(s, alg));
        }
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
            });
        if !ok {
            return Err(Error::invalid(
                format!("reference {s:?}"),
                "not a valid tag or digest",
            ));
        }
        Ok(Reference::Tag(s))
    }
}

/// Check a repository path ("library/busybox"): lowercase components of
/// `[a-z0-9]` separated by `.`, `_`, `__` or dashes, joined by `/`.
pub fn check_repository_path(path: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::invalid(format!("repository name {path:?}"), reason);
    if path.is_empty() || path.len() > 255 {
        return Err(bad("must be 1 to 255 characters"));
    }
    if !oci::reference::valid_repository_path(path) {
        return Err(bad(
            "components must be lowercase letters and digits, separated by '.', '_', '__' or dashes, and joined by '/'",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_refs() {
        let d = sha256_digest(b"abc");
        assert_eq!(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(parse_digest(&d).is_ok());
        assert!(parse_digest("sha256:ABC").is_err());
        assert!(parse_digest("md5:00").is_err());
        assert_eq!(
            Reference::parse("latest").unwrap(),
            Reference::Tag("latest")
        );
        assert!(matches!(
            Reference::parse(&d).unwrap(),
            Reference::Digest(_, Algorithm::Sha256)
        ));
        assert!(Reference::parse("-x").is_err());
        assert!(Reference::parse("a/b").is_err());
        assert!(Reference::parse("").is_err());
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), digest_of(Algorithm::Sha512, b"abc"));
    }

    #[test]
    fn repository_paths() {
        for ok in [
            "busybox",
            "library/busybox",
            "a/b-c/d_e/f.g",
            "a__b",
            "x--y",
        ] {
            check_repository_path(ok).unwrap();
        }
        for bad in [
            "", "Busybox", "/a", "a/", "a//b", "a/-b", "a..b", "a?b", "a:b",
        ] {
            assert!(check_repository_path(bad).is_err(), "{bad}");
        }
    }
}

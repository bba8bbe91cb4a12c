//! Name, tag and digest validation per the OCI Distribution spec regexes.

use crate::error::{Error, Result};

/// Repository name: components joined by `/`, at most 255 characters.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() > 255 || !oci::reference::valid_repository_path(name) {
        return Err(Error::NameInvalid {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    if !oci::reference::valid_tag(tag) {
        return Err(Error::TagInvalid {
            tag: tag.to_string(),
        });
    }
    Ok(())
}

/// A parsed `sha256:<hex>` digest; the only algorithm this registry stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Self> {
        let Some((alg, hex)) = s.split_once(':') else {
            return Err(Error::DigestInvalid {
                digest: s.to_string(),
            });
        };
        let hex_ok = hex.len() == 64 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        if alg != "sha256" || !hex_ok {
            return Err(Error::DigestInvalid {
                digest: s.to_string(),
            });
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }

    pub fn from_hex(hex: String) -> Self {
        Digest { hex }
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "-a", "a-", "a..b", "a___b", "_a", "a/", "../x",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_digests() {
        assert!(validate_tag("v1.0_rc-1").is_ok());
        assert!(validate_tag(".x").is_err());
        assert!(validate_tag(&"a".repeat(129)).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(Digest::parse("sha256:../../etc").is_err());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(64))).is_err());
    }
}

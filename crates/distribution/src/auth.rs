//! Credentials, `WWW-Authenticate` challenges and token-server responses.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// What to authenticate with.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials (anonymous token or no auth).
    #[default]
    Anonymous,
    /// Username and password (sent as HTTP Basic to the registry or its token server).
    Basic {
        /// The username.
        username: String,
        /// The password or personal access token.
        password: String,
    },
    /// An identity (refresh) token from an earlier login, sent to the token server
    /// as `grant_type=refresh_token` (token spec `oauth.md`).
    IdentityToken(String),
    /// A bearer token sent to the registry as is.
    RegistryToken(String),
}

impl std::fmt::Debug for Credentials {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// A key that tells credentials apart in the token cache without holding the secret.
    pub(crate) fn cache_key(&self) -> String {
        let h = |s: &str| hex::encode(&Sha256::digest(s.as_bytes())[..8]);
        match self {
            Credentials::Anonymous => "anon".into(),
            Credentials::Basic { username, password } => {
                format!("basic:{username}:{}", h(password))
            }
            Credentials::IdentityToken(t) => format!("id:{}", h(t)),
            Credentials::RegistryToken(t) => format!("reg:{}", h(t)),
        }
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self, Credentials::Anonymous)
    }

    pub(crate) fn basic_header(username: &str, password: &str) -> String {
        let enc =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        format!("Basic {enc}")
    }
}

/// One parsed challenge from `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to send back.
        service: Option<String>,
        /// The scope the registry asked for, if any.
        scope: Option<String>,
    },
}

/// Parse all challenges of one or more `WWW-Authenticate` values, Bearer first.
///
/// Handles quoted values containing commas and escaped quotes, unquoted tokens,
/// several challenges in one header, and scheme names in any case.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for v in values {
        for (scheme, params) in split_challenges(v) {
            match scheme.to_ascii_lowercase().as_str() {
                "basic" => out.push(Challenge::Basic),
                "bearer" => {
                    if let Some(realm) = params.get("realm").filter(|r| !r.is_empty()) {
                        out.push(Challenge::Bearer {
                            realm: realm.clone(),
                            service: params.get("service").cloned(),
                            scope: params.get("scope").cloned(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out.sort_by_key(|c| matches!(c, Challenge::Basic));
    out
}

/// Split `Scheme k=v, k="v,w", Scheme2 k=v` into (scheme, params) pairs.
fn split_challenges(s: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        // A token: either a scheme (followed by space or end) or a param name (followed by '=').
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b',' | b'=') {
            i += 1;
        }
        let token = &s[start..i];
        // Look past spaces for '='.
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    // Push whole UTF-8 characters.
                    let ch_len = utf8_len(b[i]);
                    let end = (i + ch_len).min(b.len());
                    v.push_str(&String::from_utf8_lossy(&b[i..end]));
                    i = end;
                }
                i += 1; // closing quote
                v
            } else {
                let vs = i;
                while i < b.len() && b[i] != b',' && b[i] != b' ' {
                    i += 1;
                }
                s[vs..i].to_string()
            };
            if let Some(last) = out.last_mut() {
                last.1.insert(token.to_ascii_lowercase(), value);
            }
        } else if token.is_empty() {
            i += 1;
        } else {
            out.push((token.to_string(), BTreeMap::new()));
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// A token-server response (`token.md` / `oauth.md`).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The shortest lifetime the token spec allows; also the default.
pub(crate) const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A bearer token in the cache.
#[derive(Clone, Debug)]
pub(crate) struct CachedToken {
    pub token: String,
    pub expires: Instant,
}

impl TokenResponse {
    /// The token and when to stop using it (a little before it really expires).
    pub fn into_cached(self, now: Instant) -> Option<(CachedToken, Option<String>)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        // As Docker: shorter lifetimes than the spec's minimum are raised to it (a
        // token the server expires earlier gets a 401, and the client fetches another).
        let life = self
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(MIN_TOKEN_LIFETIME)
            .max(MIN_TOKEN_LIFETIME);
        // Renew 10% (at most 30 s) early.
        let margin = (life / 10).min(Duration::from_secs(30));
        Some((
            CachedToken {
                token,
                expires: now + life.saturating_sub(margin),
            },
            self.refresh_token.filter(|t| !t.is_empty()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_commas_in_quotes() {
        let c = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        ]);
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            }]
        );
    }

    #[test]
    fn parses_basic_and_multiple() {
        assert_eq!(
            parse_challenges([r#"Basic realm="Registry Realm""#]),
            vec![Challenge::Basic]
        );
        let c = parse_challenges([
            r#"basic realm="x", BEARER realm=http://t/token, service = "s\"q" "#,
        ]);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            Challenge::Bearer {
                realm: "http://t/token".into(),
                service: Some("s\"q".into()),
                scope: None
            }
        );
        assert_eq!(c[1], Challenge::Basic);
        assert!(parse_challenges(["Negotiate"]).is_empty());
        assert!(parse_challenges(["Bearer service=x"]).is_empty());
    }

    #[test]
    fn token_responses() {
        let now = Instant::now();
        let r: TokenResponse =
            serde_json::from_str(r#"{"token":"t","expires_in":300,"refresh_token":"r"}"#).unwrap();
        let (t, refresh) = r.into_cached(now).unwrap();
        assert_eq!(t.token, "t");
        assert_eq!(refresh.as_deref(), Some("r"));
        assert_eq!(t.expires, now + Duration::from_secs(270));
        let r: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        let (t, _) = r.into_cached(now).unwrap();
        assert_eq!(t.token, "a");
        assert_eq!(t.expires, now + Duration::from_secs(54));
        let r: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(r.into_cached(now).is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_ne!(c.cache_key(), Credentials::Anonymous.cache_key());
    }
}

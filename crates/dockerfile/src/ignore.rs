//! `.dockerignore`: reading the file (moby `patternmatcher/ignorefile`) and
//! matching paths (moby `patternmatcher`), with the same quirks.
//!
//! Rules: `#` at the very start of a line is a comment; blank lines are
//! skipped; patterns are trimmed and cleaned (`a//b/../c/` → `a/c`) and a
//! leading `/` is dropped; `!` starts an exception. `*` matches within one path
//! element, `?` one character (not `/`), `**` any number of elements,
//! `[a-z]`/`[^a-z]` a character class, `\` escapes the next character. A
//! pattern also matches everything below a directory it matches. Later
//! patterns override earlier ones.

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid .dockerignore pattern {pattern:?}: {message}")]
pub struct IgnoreError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong (`syntax error in pattern` is Go's `ErrBadPattern`).
    pub message: String,
}

impl errdefs::HasKind for IgnoreError {
    fn kind(&self) -> errdefs::ErrorKind {
        errdefs::ErrorKind::InvalidArgument
    }
}

/// Reads a `.dockerignore` file into its list of patterns (exceptions keep
/// their leading `!`), as moby's `ignorefile.ReadAll`.
pub fn read_dockerignore(content: &str) -> Vec<String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for line in content.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean_path(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

/// Go's `path.Clean`: lexical normalisation of a slash-separated path.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn dir_of(path: &str) -> String {
    match path.rfind('/') {
        None => ".".into(),
        Some(i) => clean_path(&path[..=i]),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: `[^/]*`
    Star,
    /// `?`: `[^/]`
    Quest,
    /// `**` followed by more: `(.*/)?`
    DirStar,
    /// trailing `**` after a wildcard: `.*`
    AnyStar,
    /// `[...]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Tokens(Vec<Tok>),
}

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    dirs: Vec<String>,
    kind: Kind,
}

impl Pattern {
    /// The cleaned pattern without the `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is an exception (`!pattern`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..])
            }
            Kind::Tokens(t) => {
                let chars: Vec<char> = path.chars().collect();
                tokens_match(t, &chars)
            }
        }
    }
}

/// Parses a `[...]` class starting after `[`; returns the token and the index
/// after `]`. Syntax as Go's `filepath.Match`.
fn parse_class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let mut negated = false;
    if chars.get(i) == Some(&'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let get_esc = |i: &mut usize| -> Option<char> {
        let c = *chars.get(*i)?;
        if c == '-' || c == ']' {
            return None;
        }
        if c == '\\' {
            *i += 1;
            let e = *chars.get(*i)?;
            *i += 1;
            return Some(e);
        }
        *i += 1;
        Some(c)
    };
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = get_esc(&mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = get_esc(&mut i)?;
        }
        // Go compiles the class into a regexp, which rejects a reversed range
        // (at match time); reject it up front.
        if lo > hi {
            return None;
        }
        ranges.push((lo, hi));
    }
}

fn compile(pattern: &str) -> Result<Kind, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();

    let mut kind = "exact";
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == "exact" {
                        kind = "prefix";
                    } else {
                        toks.push(Tok::AnyStar);
                        kind = "regexp";
                    }
                } else {
                    toks.push(Tok::DirStar);
                    kind = "regexp";
                }
                if first {
                    kind = "suffix";
                }
            }
            '*' => {
                toks.push(Tok::Star);
                kind = "regexp";
            }
            '?' => {
                toks.push(Tok::Quest);
                kind = "regexp";
            }
            '\\' => {
                if i < chars.len() {
                    toks.push(Tok::Lit(chars[i]));
                    i += 1;
                    kind = "regexp";
                } else {
                    toks.push(Tok::Lit('\\'));
                }
            }
            '[' => {
                let (tok, next) =
                    parse_class(&chars, i).ok_or_else(|| "syntax error in pattern".to_string())?;
                toks.push(tok);
                i = next;
                kind = "regexp";
            }
            c => toks.push(Tok::Lit(c)),
        }
        first = false;
    }

    Ok(match kind {
        "exact" => Kind::Exact,
        "prefix" => Kind::Prefix(pattern.strip_suffix("**").unwrap_or(pattern).to_string()),
        "suffix" => Kind::Suffix(pattern.get(2..).unwrap_or("").to_string()),
        _ => Kind::Tokens(toks),
    })
}

/// Validates a pattern as Go's `filepath.Match(p, ".")` does.
fn validate(pattern: &str) -> Result<(), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("syntax error in pattern".into());
                }
                i += 2;
            }
            '[' => {
                let (_, next) = parse_class(&chars, i + 1)
                    .ok_or_else(|| "syntax error in pattern".to_string())?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn tok_matches_char(t: &Tok, c: char) -> bool {
    match t {
        Tok::Lit(l) => *l == c,
        Tok::Quest => c != '/',
        Tok::Class { negated, ranges } => {
            let inside = ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
            inside != *negated
        }
        _ => false,
    }
}

/// Whole-string match of the token list (the anchored regexp of moby), by
/// dynamic programming over (token, position): no recursion, O(tokens × len²)
/// at worst.
fn tokens_match(toks: &[Tok], s: &[char]) -> bool {
    let n = s.len();
    // `next[si]`: tokens after the current one match `s[si..]`.
    let mut next = vec![false; n + 1];
    next[n] = true;
    for t in toks.iter().rev() {
        let mut cur = vec![false; n + 1];
        match t {
            Tok::Star => {
                for si in (0..=n).rev() {
                    cur[si] = next[si] || (si < n && s[si] != '/' && cur[si + 1]);
                }
            }
            Tok::AnyStar => {
                for si in (0..=n).rev() {
                    cur[si] = next[si] || (si < n && cur[si + 1]);
                }
            }
            Tok::DirStar => {
                // (.*/)? : skip nothing, or anything up to and including a '/'.
                let mut after_slash = false; // some j >= si with s[j]=='/' && next[j+1]
                for si in (0..=n).rev() {
                    if si < n && s[si] == '/' && next[si + 1] {
                        after_slash = true;
                    }
                    cur[si] = next[si] || after_slash;
                }
            }
            t => {
                for si in 0..n {
                    cur[si] = next[si + 1] && tok_matches_char(t, s[si]);
                }
            }
        }
        next = cur;
    }
    next[0]
}

/// Whether one path element matches one pattern element (for
/// [`IgnoreMatcher::may_match_children`]).
fn segment_matches(pattern_seg: &str, seg: &str) -> bool {
    match compile(pattern_seg) {
        Ok(Kind::Exact) => pattern_seg == seg,
        Ok(Kind::Tokens(t)) => {
            let chars: Vec<char> = seg.chars().collect();
            tokens_match(&t, &chars)
        }
        // Prefix/suffix only arise from `**`, handled above; be conservative.
        _ => true,
    }
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl IgnoreMatcher {
    /// Compiles patterns (as returned by [`read_dockerignore`]; `!` marks an
    /// exception), as moby's `patternmatcher.New`.
    pub fn new<I, S>(patterns: I) -> Result<Self, IgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = IgnoreMatcher::default();
        for p in patterns {
            let given = p.as_ref();
            let trimmed = given.trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut p = clean_path(trimmed);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(IgnoreError {
                        pattern: given.to_string(),
                        message: "illegal exclusion pattern: \"!\"".into(),
                    });
                }
                exclusion = true;
                out.exclusions = true;
                p = rest.to_string();
            }
            let err = |message: String| IgnoreError {
                pattern: given.to_string(),
                message,
            };
            validate(&p).map_err(err)?;
            let kind = compile(&p).map_err(err)?;
            out.patterns.push(Pattern {
                dirs: p.split('/').map(str::to_string).collect(),
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(out)
    }

    /// Reads and compiles a `.dockerignore` file's content.
    pub fn from_dockerignore(content: &str) -> Result<Self, IgnoreError> {
        Self::new(read_dockerignore(content))
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exception (`!...`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (relative to the context root, `/`-separated) is
    /// excluded: the last pattern that matches it or one of its ancestor
    /// directories decides. These are the semantics of moby's
    /// `MatchesOrParentMatches` / `MatchesUsingParentResults`, which the
    /// classic builder's context walker and BuildKit's fsutil use.
    pub fn matches(&self, path: &str) -> bool {
        let file = clean_path(path);
        if file == "." {
            return false;
        }
        let parent = dir_of(&file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(&file);
            if !m && parent != "." {
                m = (1..=parent_dirs.len()).any(|i| p.matches(&parent_dirs[..i].join("/")));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// For a directory that [`IgnoreMatcher::matches`]: whether an exception
    /// pattern could re-include something below it, so a walker must descend
    /// instead of skipping it. Conservative: `true` when unsure (e.g. `**`).
    pub fn may_match_children(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir = clean_path(dir);
        let segs: Vec<&str> = if dir == "." {
            vec![]
        } else {
            dir.split('/').collect()
        };
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            for (pseg, seg) in p.dirs.iter().zip(segs.iter()) {
                // `**` can absorb any number of elements: anything may follow.
                if pseg.contains("**") {
                    return true;
                }
                if !segment_matches(pseg, seg) {
                    return false;
                }
            }
            true
        })
    }

    /// Alias of [`IgnoreMatcher::may_match_children`].
    pub fn dir_may_have_exceptions(&self, dir: &str) -> bool {
        self.may_match_children(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean() {
        for (i, o) in [
            ("", "."),
            ("a/b/", "a/b"),
            ("a//b/./c/..", "a/b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("./", "."),
            ("a/../..", ".."),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(compile("foo").unwrap(), Kind::Exact);
        assert_eq!(compile("foo/**").unwrap(), Kind::Prefix("foo/".into()));
        assert_eq!(compile("**/foo").unwrap(), Kind::Suffix("/foo".into()));
        assert!(matches!(compile("**/*.go").unwrap(), Kind::Tokens(_)));
    }
}

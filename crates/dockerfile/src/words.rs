//! Splitting an instruction line: keyword, `--flags`, words, JSON arrays
//! (BuildKit's `split_command.go` and `line_parsers.go`).

/// Whitespace as BuildKit's `[\t\v\f\r ]+` splitter sees it.
pub(crate) fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// Go's `unicode.IsSpace` (used by the word splitters and trimming).
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Splits `s` on runs of [`is_ws`] into at most `n` parts (Go's
/// `regexp.Split(s, n)`); `n == 0` means no limit.
pub(crate) fn split_ws(s: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if n != 0 && out.len() + 1 == n {
            out.push(rest.to_string());
            return out;
        }
        match rest.find(is_ws) {
            None => {
                out.push(rest.to_string());
                return out;
            }
            Some(i) => {
                out.push(rest[..i].to_string());
                let after = &rest[i..];
                let skip = after.find(|c| !is_ws(c)).unwrap_or(after.len());
                rest = &after[skip..];
                if skip == after.len() {
                    // Trailing separator: Go yields a final empty string.
                    out.push(String::new());
                    return out;
                }
            }
        }
    }
}

/// Keyword, flags and the rest of an instruction line.
pub(crate) fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let trimmed = line.trim_matches(is_space);
    let parts = split_ws(trimmed, 2);
    let cmd = parts.first().cloned().unwrap_or_default();
    let (args, flags) = match parts.get(1) {
        Some(rest) => extract_builder_flags(rest, escape),
        None => (String::new(), Vec::new()),
    };
    (cmd, flags, args.trim_matches(is_space).to_string())
}

/// Leading `--name[=value]` words (quotes and escapes processed) and the rest.
pub(crate) fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    let n = chars.len();
    let rest_from = |i: usize| -> String {
        match chars.get(i) {
            Some((b, _)) => line[*b..].to_string(),
            None => String::new(),
        }
    };
    loop {
        let at_end = i >= n;
        let ch = if at_end { '\0' } else { chars[i].1 };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_space(ch) {
                i += 1;
                continue;
            }
            if ch != '-' || i + 1 >= n || chars[i + 1].1 != '-' {
                return (rest_from(i), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(i), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if i + 1 >= n {
                    i += 1;
                    continue;
                }
                i += 1;
                c = chars[i].1;
            }
            word.push(c);
            i += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if i + 1 >= n {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            c = chars[i].1;
        }
        word.push(c);
        i += 1;
    }
    (String::new(), words)
}

/// Splits into words on whitespace, keeping quotes and escapes in the words
/// (they are processed later, by expansion): BuildKit's `parseWords`.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut i = 0;
    loop {
        let at_end = i >= n;
        let mut ch = if at_end { '\0' } else { chars[i] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_space(ch) {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 >= n {
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                ch = chars[i];
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if i + 1 >= n {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(ch);
            ch = chars[i];
        }
        word.push(ch);
        i += 1;
    }
    words
}

/// Result of trying to read a JSON array of strings.
pub(crate) enum Json {
    /// A JSON array of strings.
    Strings(Vec<String>),
    /// Not a JSON array: use the shell/whitespace form.
    Plain,
    /// A JSON array with a non-string element: an error in BuildKit.
    NotStrings,
}

/// BuildKit's `parseJSON`.
pub(crate) fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start_matches(is_space);
    if !rest.starts_with('[') {
        return Json::Plain;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Err(_) => Json::Plain,
        Ok(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Strings(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_ws("a  b\tc", 0), vec!["a", "b", "c"]);
        assert_eq!(split_ws("a  b\tc", 2), vec!["a", "b\tc"]);
        assert_eq!(split_ws("a ", 0), vec!["a", ""]);
        assert_eq!(split_ws("", 0), vec![""]);
    }

    #[test]
    fn flags() {
        let (rest, f) = extract_builder_flags("--from=a --chown=\"x y\" src dst", '\\');
        assert_eq!(f, vec!["--from=a", "--chown=x y"]);
        assert_eq!(rest, "src dst");
        let (rest, f) = extract_builder_flags("-- --notaflag x", '\\');
        assert!(f.is_empty());
        assert_eq!(rest, " --notaflag x");
        let (rest, f) = extract_builder_flags("--link", '\\');
        assert_eq!(f, vec!["--link"]);
        assert_eq!(rest, "");
        let (rest, f) = extract_builder_flags("-x y", '\\');
        assert!(f.is_empty());
        assert_eq!(rest, "-x y");
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words(r#"a="b c" d='e f' g\ h"#, '\\'),
            vec![r#"a="b c""#, "d='e f'", r"g\ h"]
        );
        assert_eq!(parse_words(r#"x="""#, '\\'), vec![r#"x="""#]);
        assert_eq!(parse_words("  ", '\\'), Vec::<String>::new());
    }
}

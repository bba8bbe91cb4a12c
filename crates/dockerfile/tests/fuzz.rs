//! Panic-freedom: thousands of generated and mutated Dockerfiles, words and
//! ignore patterns go through the parser, the expander and the matcher. Any
//! result is fine; a panic fails the test. Deterministic (fixed seeds).

use dockerfile::expand::{expand_word, expand_words};
use dockerfile::{parse, IgnoreMatcher};

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const SEEDS: &[&str] = &[
    "# syntax=docker/dockerfile:1\n# escape=`\nARG BASE=alpine\nFROM --platform=$BUILDPLATFORM ${BASE} AS build\nRUN echo a `\n  b\nCOPY <<EOF /x\nhi $A\nEOF\n",
    "FROM busybox\nRUN --mount=type=cache,target=/c,sharing=locked --network=none <<-'EOT' sh\n\techo hi\n\tEOT\nCMD [\"echo\", \"x\"]\n",
    "FROM a AS b\nENV A=1 B=\"2 3\" C='4'\nLABEL x=y\nEXPOSE 80/tcp $P\nWORKDIR /w\nUSER u:g\nVOLUME [\"/v\"]\nSHELL [\"/bin/sh\",\"-c\"]\nSTOPSIGNAL 9\n",
    "FROM a\nHEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://x/ || exit 1\nONBUILD RUN <<EOF\nx\nEOF\nMAINTAINER me\nADD --checksum=sha256:0 --keep-git-dir https://x /y\n",
    "FROM a\nRUN echo \\\n# comment\n\n  world\nCOPY --from=0 --chown=1:1 --exclude=*.md [\"a b\", \"/c\"]\nENTRYPOINT top -b\nARG X=${Y:-z}\n",
];

const FRAGMENTS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "LABEL",
    "EXPOSE",
    "WORKDIR",
    "USER",
    "VOLUME",
    "SHELL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
    "ENTRYPOINT",
    "NONE",
    "CMD-SHELL",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\\",
    "\\\n",
    "`",
    "`\n",
    "#",
    "# escape=`\n",
    "# syntax=x\n",
    "\"",
    "'",
    "[",
    "]",
    "[\"a\"]",
    ",",
    "=",
    "$",
    "${",
    "}",
    "${A:-",
    "${A#",
    "${A/",
    ":?",
    "<<",
    "<<-",
    "<<EOF",
    "EOF",
    "\nEOF\n",
    "3<<",
    "--",
    "--mount=",
    "type=cache",
    "type=secret",
    "target=/x",
    "--network=",
    "--from=",
    "--chown=",
    "--chmod=",
    "--link",
    "--interval=",
    "1m",
    "30s",
    "-1",
    "AS",
    "as",
    "é",
    "☺",
    "\u{feff}",
    "\u{a0}",
    "\u{2028}",
    "*",
    "?",
    "**",
    "!",
    "/",
    "..",
    ".",
    "a",
    "b",
    "x y",
    "\0",
];

fn generate(rng: &mut Rng) -> String {
    let mut s = String::new();
    let n = 1 + rng.below(40);
    if rng.below(2) == 0 {
        s.push_str("FROM x\n");
    }
    for _ in 0..n {
        s.push_str(rng.pick(FRAGMENTS));
        if rng.below(4) == 0 {
            s.push(' ');
        }
    }
    s
}

fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    let edits = 1 + rng.below(6);
    for _ in 0..edits {
        if chars.is_empty() {
            chars.extend(rng.pick(FRAGMENTS).chars());
            continue;
        }
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 => {
                let frag: Vec<char> = rng.pick(FRAGMENTS).chars().collect();
                chars.splice(at..at, frag);
            }
            1 if at < chars.len() => {
                let end = (at + 1 + rng.below(8)).min(chars.len());
                chars.drain(at..end);
            }
            2 if at < chars.len() => {
                let end = (at + 1 + rng.below(20)).min(chars.len());
                let dup: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, dup);
            }
            _ => {
                let c = char::from_u32(rng.below(0x80) as u32).unwrap_or('x');
                if at < chars.len() {
                    chars[at] = c;
                } else {
                    chars.push(c);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn exercise(src: &str, rng: &mut Rng) -> bool {
    let Ok(df) = parse(src) else {
        return false;
    };
    let env: Vec<(String, String)> = vec![
        ("A".into(), "x y".into()),
        ("P".into(), "80".into()),
        (
            "T".into(),
            rng.pick(&["cache", "bind", "tmpfs", "bogus", ""]).into(),
        ),
    ];
    for stage in &df.stages {
        let _ = stage.expanded_base(&env, df.escape);
        let _ = stage.expanded_platform(&env, df.escape);
        for step in &stage.instructions {
            let _ = step.expand(&env);
            if let dockerfile::Instruction::Run(r) = &step.instruction {
                for h in &r.heredocs {
                    let _ = h.body();
                }
            }
        }
    }
    true
}

#[test]
fn parser_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    let total = 4000;
    for i in 0..total {
        let src = if i % 2 == 0 {
            generate(&mut rng)
        } else {
            let seed = rng.pick(SEEDS);
            mutate(&mut rng, seed)
        };
        if exercise(&src, &mut rng) {
            parsed += 1;
        }
    }
    // The mutations must leave a fair share parseable, or the test
    // exercises only the error paths.
    assert!(parsed > total / 20, "only {parsed} of {total} parsed");
}

#[test]
fn expander_never_panics() {
    let mut rng = Rng(42);
    let env: Vec<(String, String)> =
        vec![("A".into(), "a b*c".into()), ("E".into(), String::new())];
    const W: &[&str] = &[
        "$", "${", "}", "A", "E", ":", "-", "+", "?", "#", "##", "%", "%%", "/", "//", "*", "?",
        "\\", "`", "'", "\"", " ", "x", "é", "{", "$A", "${A", "<<", "<", "\n",
    ];
    for _ in 0..20000 {
        let n = 1 + rng.below(12);
        let w: String = (0..n).map(|_| rng.pick(W)).collect();
        let esc = if rng.below(2) == 0 { '\\' } else { '`' };
        let _ = expand_word(&w, esc, &env);
        let _ = expand_words(&w, esc, &env);
    }
}

#[test]
fn ignore_matcher_never_panics() {
    let mut rng = Rng(7);
    const P: &[&str] = &[
        "*", "**", "?", "[", "]", "^", "-", "\\", "/", "!", "a", "b", ".", "..", "é", " ", "[a-z]",
        "[^a]", "[]", "{", "(", "$",
    ];
    for _ in 0..5000 {
        let pats: Vec<String> = (0..1 + rng.below(4))
            .map(|_| (0..1 + rng.below(8)).map(|_| rng.pick(P)).collect())
            .collect();
        let path: String = (0..rng.below(10))
            .map(|_| rng.pick(&["a", "b", "/", ".", "é", "..", "*"]))
            .collect();
        if let Ok(m) = IgnoreMatcher::new(&pats) {
            let _ = m.matches(&path);
            let _ = m.may_match_children(&path);
        }
        let _ = IgnoreMatcher::from_dockerignore(&pats.join("\n"));
    }
}

#[test]
fn hostile_inputs_are_bounded() {
    // Deep `${...}` nesting is an error, not a stack overflow.
    let deep = "${A:-".repeat(100_000);
    assert!(expand_word(&deep, '\\', &dockerfile::NoEnv).is_err());
    let src = format!("FROM a\nWORKDIR {deep}\n");
    let df = parse(&src).unwrap();
    assert!(df.stages[0].instructions[0]
        .expand(&dockerfile::NoEnv)
        .is_err());
    // Long patterns and paths.
    let pat = "a*".repeat(2_000);
    let m = IgnoreMatcher::new([pat.as_str()]).unwrap();
    assert!(!m.matches(&"ab".repeat(100).replace('b', "/")));
    // Long values in pattern substitutions.
    let env = vec![("V".to_string(), "ab".repeat(2_000))];
    assert_eq!(
        expand_word("${V//b/}", '\\', &env).unwrap(),
        "a".repeat(2_000)
    );
    assert_eq!(expand_word("${V%%b*}", '\\', &env).unwrap(), "a");
    // Many lines, long continuation chains, many heredocs.
    let mut big = String::from("FROM a\n");
    for i in 0..5_000 {
        big.push_str(&format!(
            "RUN echo {i} \\\n  && true\nCOPY <<E{i} /f{i}\nx\nE{i}\n"
        ));
    }
    let df = parse(&big).unwrap();
    assert_eq!(df.stages[0].instructions.len(), 10_000);
}

#[test]
fn value_parsers_never_panic() {
    use dockerfile::mount::parse_mount;
    use dockerfile::units::{
        parse_go_bool, parse_go_duration, parse_go_duration_nanos, parse_go_int32, parse_go_uint,
        parse_ram_in_bytes,
    };
    let mut rng = Rng(99);
    const D: &[&str] = &[
        "0",
        "1",
        "9",
        "99999999999",
        ".",
        "-",
        "+",
        "h",
        "m",
        "s",
        "ms",
        "us",
        "µs",
        "ns",
        "x",
        "k",
        "K",
        "i",
        "B",
        " ",
        "e",
        "=",
        ",",
        "\"",
        "type",
        "cache",
        "tmpfs",
        "secret",
        "ssh",
        "target",
        "size",
        "mode",
        "uid",
        "gid",
        "ro",
        "rw",
        "required",
        "from",
        "$",
        "sharing",
    ];
    for _ in 0..20000 {
        let w: String = (0..1 + rng.below(10)).map(|_| rng.pick(D)).collect();
        let _ = parse_go_duration_nanos(&w);
        let _ = parse_go_duration(&w);
        let _ = parse_ram_in_bytes(&w);
        let _ = parse_go_bool(&w);
        let _ = parse_go_int32(&w);
        let _ = parse_go_uint(&w, 8, 32);
        let _ = parse_go_uint(&w, 10, 64);
        type NoExpand = fn(&str) -> Result<String, String>;
        let _ = parse_mount::<NoExpand>(&w, None);
        let _ = parse_mount(&w, Some(|s: &str| Ok(s.replace('$', ""))));
    }
}

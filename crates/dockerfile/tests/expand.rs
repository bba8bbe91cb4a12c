//! Variable substitution tests. The word tables follow BuildKit's
//! `frontend/dockerfile/shell/envVarTest` and `wordsTest`.

use std::collections::HashMap;

use dockerfile::expand::{expand_word, expand_words, ExpandError, Lexer, NoEnv};
use dockerfile::{parse, Command, Instruction, MountType};

fn env() -> HashMap<String, String> {
    [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn process_word_table() {
    // (input, Some(output)) or (input, None) for an error.
    let cases: &[(&str, Option<&str>)] = &[
        ("hello", Some("hello")),
        ("he'll'o", Some("hello")),
        ("he'llo", None),
        ("he\\'llo", Some("he'llo")),
        ("he\\\\'llo", None),
        ("abc\\tdef", Some("abctdef")),
        ("\"abc\\tdef\"", Some("abc\\tdef")),
        ("\"abc\\\\tdef\"", Some("abc\\tdef")),
        ("'abc\\tdef'", Some("abc\\tdef")),
        ("hello\\", Some("hello")),
        ("hello\\\\", Some("hello\\")),
        ("\"hello", None),
        ("\"hello\\\"", None),
        ("\"hel'lo\"", Some("hel'lo")),
        ("'hello", None),
        ("'hello\\'", Some("hello\\")),
        ("'hello\\there'", Some("hello\\there")),
        ("'hello\\\\there'", Some("hello\\\\there")),
        ("\"''\"", Some("''")),
        ("$.", Some("$.")),
        ("he$1x", Some("hex")),
        ("he$.x", Some("he$.x")),
        ("he$pwd.", Some("he.")),
        ("he$PWD", Some("he/home")),
        ("he\\$PWD", Some("he$PWD")),
        ("he\\\\$PWD", Some("he\\/home")),
        ("\"he\\$PWD\"", Some("he$PWD")),
        ("\"he\\\\$PWD\"", Some("he\\/home")),
        ("\\${}", Some("${}")),
        ("\\${}aaa", Some("${}aaa")),
        ("he\\${}", Some("he${}")),
        ("${}", None),
        ("${}aaa", None),
        ("he${}xx", None),
        ("he${hi}", Some("he")),
        ("he${hi}xx", Some("hexx")),
        ("he${PWD}", Some("he/home")),
        ("he${.}", None),
        ("he${XXX:-000}xx", Some("he000xx")),
        ("he${PWD:-000}xx", Some("he/homexx")),
        ("he${XXX:-$PWD}xx", Some("he/homexx")),
        ("he${XXX:-${PWD:-yyy}}xx", Some("he/homexx")),
        ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")),
        ("he${XXX:YYY}", None),
        ("he${XXX?}", None),
        ("he${XXX:?}", None),
        ("he${PWD?}", Some("he/home")),
        ("he${PWD:?}", Some("he/home")),
        ("he${NULL?}", Some("he")),
        ("he${NULL:?}", None),
        ("he${XXX:+${PWD}}xx", Some("hexx")),
        ("he${PWD:+${XXX}}xx", Some("hexx")),
        ("he${PWD:+${SHELL}}xx", Some("hebashxx")),
        ("he${XXX:+000}xx", Some("hexx")),
        ("he${PWD:+000}xx", Some("he000xx")),
        ("he${NULL-dflt}", Some("he")),
        ("he${NULL:-dflt}", Some("hedflt")),
        ("he${NULL+set}", Some("heset")),
        ("he${NULL:+set}", Some("he")),
        ("he${XXX-dflt}", Some("hedflt")),
        ("he${XXX+set}", Some("he")),
        ("'he${XX}'", Some("he${XX}")),
        ("\"he${PWD}\"", Some("he/home")),
        ("\"he'$PWD'\"", Some("he'/home'")),
        ("\"$PWD\"", Some("/home")),
        ("'$PWD'", Some("$PWD")),
        ("'\\$PWD'", Some("\\$PWD")),
        ("'\"hello\"'", Some("\"hello\"")),
        ("he${PWD", None),
        ("he${PWD:=000}xx", None),
        ("he${PWD:+${PWD}:}xx", Some("he/home:xx")),
        ("he${XXX:-\\$PWD:}xx", Some("he$PWD:xx")),
        ("he${XXX:-\\${PWD}z}xx", Some("he${PWDz}xx")),
        ("안녕하세요", Some("안녕하세요")),
        ("안'녕'하세요", Some("안녕하세요")),
        ("안녕$KOREAN", Some("안녕한국어")),
        ("${{aaa}", None),
        ("${aaa}}", Some("}")),
        ("${aaa", None),
        ("${aaa:-bbb}}", Some("bbb}")),
        ("${aaa:-bbb", None),
        ("${aaa:-${bbb:-ccc}}", Some("ccc")),
        ("${aaa:-bbb ${foo}", None),
        ("${aaa:-bbb {foo}", Some("bbb {foo")),
        ("${:}", None),
        ("${:-bbb}", None),
        ("$1", Some("")),
        ("${1:-bbb}", Some("bbb")),
        ("$999aaa", Some("aaa")),
        ("${001:-bbb}aaa", Some("bbbaaa")),
        ("$@@@", Some("@@")),
        ("${@:-bbb}", Some("bbb")),
        ("$$", Some("")),
        ("${#:+bbb}", Some("")),
        ("$0", Some("")),
        // Pattern modifiers.
        ("${PWD#/}", Some("home")),
        ("${PWD#*o}", Some("me")),
        ("${PWD##*o}", Some("me")),
        ("${PWD%e}", Some("/hom")),
        ("${PWD%%o*}", Some("/h")),
        ("${PWD/o/0}", Some("/h0me")),
        ("${PWD//[o]/0}", Some("/home")),
        ("${PWD:#x}", None),
        ("${PWD#\\x}", None),
        ("${PWD/home}", None),
    ];
    let env = env();
    for (input, want) in cases {
        let got = expand_word(input, '\\', &env);
        match want {
            Some(w) => assert_eq!(got.as_deref().ok(), Some(*w), "{input:?} gave {got:?}"),
            None => assert!(got.is_err(), "{input:?} should fail, gave {got:?}"),
        }
    }
}

#[test]
fn pattern_modifiers_like_the_reference() {
    let env: Vec<(String, String)> = vec![("str".into(), "foobarbaz".into())];
    for (w, want) in [
        ("${str#f*b}", "arbaz"),
        ("${str##f*b}", "az"),
        ("${str%b*}", "foobar"),
        ("${str%%b*}", "foo"),
        ("${str/ba/fo}", "fooforbaz"),
        ("${str//ba/fo}", "fooforfoz"),
        ("${str#x*}", "foobarbaz"),
        ("${str/#/}", "foobarbaz"),
        ("${str//?/x}", "xxxxxxxxx"),
        // Escapes stay in the replacement, as in BuildKit.
        ("${str/b?r/\\}}", "foo\\}baz"),
        ("${str#foo\\*}", "foobarbaz"),
        ("${nope#x}", ""),
    ] {
        assert_eq!(expand_word(w, '\\', &env).unwrap(), want, "{w}");
    }
}

#[test]
fn error_messages() {
    let e = expand_word("${X:?must be set}", '\\', &NoEnv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"${X:?must be set}\": X: must be set"
    );
    let e = expand_word("${X?}", '\\', &NoEnv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"${X?}\": X: is not allowed to be unset"
    );
    let e = expand_word("${X:?}", '\\', &[("X".to_string(), String::new())][..]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"${X:?}\": X: is not allowed to be empty"
    );
    let ExpandError::Word { message, .. } = expand_word("${}", '\\', &NoEnv).unwrap_err() else {
        panic!()
    };
    assert_eq!(message, "syntax error: bad substitution");
    let ExpandError::Word { message, .. } = expand_word("${a", '\\', &NoEnv).unwrap_err() else {
        panic!()
    };
    assert_eq!(message, "syntax error: missing '}'");
    let ExpandError::Word { message, .. } = expand_word("${a:=b}", '\\', &NoEnv).unwrap_err()
    else {
        panic!()
    };
    assert_eq!(message, "unsupported modifier (:=) in substitution");
    let ExpandError::Word { message, .. } = expand_word("'abc", '\\', &NoEnv).unwrap_err() else {
        panic!()
    };
    assert_eq!(
        message,
        "unexpected end of statement while looking for matching single-quote"
    );
    let ExpandError::Word { message, .. } = expand_word("\"abc", '\\', &NoEnv).unwrap_err() else {
        panic!()
    };
    assert_eq!(
        message,
        "unexpected end of statement while looking for matching double-quote"
    );
    use errdefs::HasKind;
    assert_eq!(e.kind(), errdefs::ErrorKind::InvalidArgument);
}

#[test]
fn words_table() {
    // Each step may set variables, then (input, comma-joined words or "error").
    let mut env: Vec<(String, String)> = Vec::new();
    fn set(env: &mut Vec<(String, String)>, k: &str, v: &str) {
        env.push((k.into(), v.into()));
    }
    let check = |env: &Vec<(String, String)>, input: &str, want: &str| {
        let got = match expand_words(input, '\\', env) {
            Ok(w) => w.join(","),
            Err(_) => "error".to_string(),
        };
        assert_eq!(got, want, "{input:?}");
    };
    check(&env, "hello", "hello");
    check(&env, "hello${hi}bye", "hellobye");
    set(&mut env, "hi", "hi");
    check(&env, "hello${hi}bye", "hellohibye");
    set(&mut env, "space", "abc  def");
    check(&env, "hello${space}bye", "helloabc,defbye");
    check(&env, "hello\"${space}\"bye", "helloabc  defbye");
    check(&env, "hello \"${space}\"bye", "hello,abc  defbye");
    set(&mut env, "leading", "  ab c");
    check(&env, "hello${leading}def", "hello,ab,cdef");
    check(&env, "hello\"${leading}\" def", "hello  ab c,def");
    check(&env, "hello\"${leading}\"", "hello  ab c");
    check(&env, "hello${leading}", "hello,ab,c");
    set(&mut env, "trailing", "ab c   ");
    check(&env, "hello${trailing}", "helloab,c");
    check(&env, "hello${trailing}d", "helloab,c,d");
    check(&env, "hello\"${trailing}\"d", "helloab c   d");
    check(&env, "hel\"lo${trailing}\"", "helloab c   ");
    check(&env, "hello\" there  \"", "hello there  ");
    check(&env, "hello there     ", "hello,there");
    check(&env, "hello\\ there", "hello there");
    check(&env, "hello\" there", "error");
    check(&env, "hello\\\" there", "hello\",there");
    check(&env, "hello\"\\\\there\"", "hello\\there");
    check(&env, "hello\"\\there\"", "hello\\there");
    check(&env, "hello'\\\\there'", "hello\\\\there");
    check(&env, "hello'\\there'", "hello\\there");
    check(&env, "hello'$there'", "hello$there");
    check(&env, "a \"\" b", "a,b");
}

#[test]
fn lexer_options() {
    let mut lex = Lexer::new('\\');
    lex.skip_unset_env = true;
    assert_eq!(
        lex.process_word("$A ${B} ${C:-x} ${D/a/b}", &NoEnv)
            .unwrap(),
        "$A ${B} ${C:-x} ${D/a/b}"
    );
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    assert_eq!(lex.process_word("'a' \"b\"", &NoEnv).unwrap(), "'a' \"b\"");
    let mut lex = Lexer::new('\\');
    lex.raw_escapes = true;
    assert_eq!(lex.process_word("a\\ b", &NoEnv).unwrap(), "a\\ b");
    let mut lex = Lexer::new('\\');
    lex.skip_process_quotes = true;
    assert_eq!(
        lex.process_word("'$X' \"y\"", &|n: &str| (n == "X").then(|| "v".to_string()))
            .unwrap(),
        "'v' \"y\""
    );
    // Backtick as the escape character: backslashes are literal.
    assert_eq!(
        expand_word("c:\\dir `$X", '`', &NoEnv).unwrap(),
        "c:\\dir $X"
    );
    // Heredoc markers keep their spacing inside one word.
    assert_eq!(
        expand_words("cat << EOF", '\\', &NoEnv).unwrap(),
        vec!["cat", "<< EOF"]
    );
}

/// Parses `FROM scratch` + body; returns the steps expanded against `env`.
fn expanded(body: &str, env: &[(&str, &str)]) -> Vec<Instruction> {
    let df = parse(&format!("FROM scratch\n{body}")).unwrap();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    df.stages[0]
        .instructions
        .iter()
        .map(|s| s.expand(&env).unwrap())
        .collect()
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn which_instructions_expand() {
    let env = [
        ("A", "1"),
        ("P", "/p"),
        ("PORTS", "80 443/udp"),
        ("U", "app"),
        ("SIG", "SIGINT"),
        ("TARGET", "/cache"),
    ];
    let cases: Vec<(&str, Instruction)> = vec![
        (
            "ENV B=$A C=\"x $A\" ${A}K=v",
            Instruction::Env(kv(&[("B", "1"), ("C", "x 1"), ("1K", "v")])),
        ),
        (
            "ENV LEG two $A  words",
            Instruction::Env(kv(&[("LEG", "two 1  words")])),
        ),
        (
            "LABEL \"k $A\"=\"v $A\"",
            Instruction::Label(kv(&[("k 1", "v 1")])),
        ),
        ("WORKDIR $P/sub", Instruction::Workdir("/p/sub".into())),
        (
            "WORKDIR \"/with space/$A\"",
            Instruction::Workdir("/with space/1".into()),
        ),
        ("USER ${U}:${U}", Instruction::User("app:app".into())),
        ("STOPSIGNAL $SIG", Instruction::StopSignal("SIGINT".into())),
        (
            "VOLUME $P/data ${P}2",
            Instruction::Volume(sv(&["/p/data", "/p2"])),
        ),
        (
            "EXPOSE $PORTS 8080",
            Instruction::Expose(sv(&["80", "443/udp", "8080"])),
        ),
        (
            "EXPOSE \"$PORTS\"",
            Instruction::Expose(sv(&["80 443/udp"])),
        ),
        // Never expanded by the builder.
        (
            "CMD echo $A",
            Instruction::Cmd(Command::Shell("echo $A".into())),
        ),
        (
            "ENTRYPOINT [\"echo\", \"$A\"]",
            Instruction::Entrypoint(Command::Exec(sv(&["echo", "$A"]))),
        ),
        ("SHELL [\"/bin/$A\"]", Instruction::Shell(sv(&["/bin/$A"]))),
        ("MAINTAINER $A", Instruction::Maintainer("$A".into())),
    ];
    for (body, want) in cases {
        assert_eq!(expanded(body, &env)[0], want, "{body}");
    }

    // ARG: the default value is expanded, the name is not.
    let Instruction::Arg(a) = &expanded("ARG $A=${P}/x B", &env)[0] else {
        panic!()
    };
    assert_eq!(
        (a[0].name.as_str(), a[0].default.as_deref()),
        ("$A", Some("/p/x"))
    );
    assert_eq!(a[1].default, None);

    // COPY/ADD: sources, destination, chown, chmod, checksum; not --exclude.
    let Instruction::Copy(c) = &expanded(
        "COPY --chown=$U:$U --chmod=07${A}5 --exclude=$A src/$A $P/",
        &env,
    )[0] else {
        panic!()
    };
    assert_eq!(c.sources, sv(&["src/1"]));
    assert_eq!(c.dest, "/p/");
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("0715"));
    assert_eq!(c.exclude, sv(&["$A"]));
    let Instruction::Add(a) = &expanded("ADD --checksum=sha256:$A http://x/$A.tgz /d", &env)[0]
    else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:1"));
    assert_eq!(a.sources, sv(&["http://x/1.tgz"]));
    // Escaped dollar stays literal.
    let Instruction::Copy(c) = &expanded("COPY \\$A /quux", &env)[0] else {
        panic!()
    };
    assert_eq!(c.sources, sv(&["$A"]));

    // Heredoc bodies: expanded unless the delimiter is quoted; quotes kept.
    let v = expanded(
        "COPY <<EOF /a\necho \"$A\" '$P'\nEOF\nCOPY <<'EOF' /b\necho $A\nEOF\n",
        &env,
    );
    let Instruction::Copy(c) = &v[0] else {
        panic!()
    };
    assert_eq!(c.inline[0].data, "echo \"1\" '/p'\n");
    let Instruction::Copy(c) = &v[1] else {
        panic!()
    };
    assert_eq!(c.inline[0].data, "echo $A\n");

    // RUN: only the mount values.
    let Instruction::Run(r) = &expanded(
        "RUN --mount=type=cache,target=$TARGET,id=c$A,uid=$A echo $A",
        &env,
    )[0] else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("echo $A".into()));
    assert_eq!(r.mounts[0].mount_type, MountType::Cache);
    assert_eq!(r.mounts[0].target.as_deref(), Some("/cache"));
    assert_eq!(r.mounts[0].id.as_deref(), Some("c1"));
    assert_eq!(r.mounts[0].uid, Some(1));
}

#[test]
fn expansion_errors() {
    let df = parse("FROM scratch\nCOPY --from=$STAGE a b\nWORKDIR ${X:?need X}\nRUN --mount=type=$T,target=/x true\n").unwrap();
    let st = &df.stages[0].instructions;
    let e = st[0].expand(&NoEnv).unwrap_err();
    assert!(matches!(e, ExpandError::FromExpansion { .. }), "{e}");
    let e = st[1].expand(&NoEnv).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"${X:?need X}\": X: need X"
    );
    let env = vec![("T".to_string(), "nope".to_string())];
    let e = st[2].expand(&env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid RUN --mount value: unsupported mount type \"nope\""
    );
    let env = vec![("T".to_string(), "tmpfs".to_string())];
    let Instruction::Run(r) = st[2].expand(&env).unwrap() else {
        panic!()
    };
    assert_eq!(r.mounts[0].mount_type, MountType::Tmpfs);
    // A literal --from is fine.
    let df = parse("FROM scratch\nCOPY --from=build a b\n").unwrap();
    assert!(df.stages[0].instructions[0].expand(&NoEnv).is_ok());
}

#[test]
fn lookup_implementations() {
    let map: HashMap<String, String> = [("A".to_string(), "m".to_string())].into();
    assert_eq!(expand_word("$A", '\\', &map).unwrap(), "m");
    let bt: std::collections::BTreeMap<String, String> =
        [("A".to_string(), "b".to_string())].into();
    assert_eq!(expand_word("$A", '\\', &bt).unwrap(), "b");
    // The last pair wins, as with repeated ENV.
    let pairs = vec![
        ("A".to_string(), "1".to_string()),
        ("A".to_string(), "2".to_string()),
    ];
    assert_eq!(expand_word("$A", '\\', &pairs).unwrap(), "2");
    assert_eq!(expand_word("$A", '\\', pairs.as_slice()).unwrap(), "2");
    let f = |n: &str| {
        if n == "A" {
            Some("f".to_string())
        } else {
            None
        }
    };
    assert_eq!(expand_word("$A$B", '\\', &f).unwrap(), "f");
}

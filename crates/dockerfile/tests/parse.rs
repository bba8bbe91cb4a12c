//! Parser tests: instruction forms, flags, errors, directives, continuations and
//! heredocs. Expected values follow BuildKit's parser and its test suites
//! (`frontend/dockerfile/parser/*_test.go`, `instructions/parse_test.go`).

use std::time::Duration;

use dockerfile::{
    parse, ArgDecl, CacheSharing, Command, Healthcheck, Instruction, MountType, NetworkMode,
    SecurityMode,
};

/// Parses `FROM scratch` + `body` and returns the instructions of the stage.
fn instrs(body: &str) -> Vec<Instruction> {
    let src = format!("FROM scratch\n{body}");
    let df = parse(&src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    df.stages[0]
        .instructions
        .iter()
        .map(|s| s.instruction.clone())
        .collect()
}

fn one(body: &str) -> Instruction {
    let mut v = instrs(body);
    assert_eq!(v.len(), 1, "{body:?} gave {v:?}");
    v.remove(0)
}

/// The error message for `FROM scratch` + `body`.
fn err(body: &str) -> String {
    let src = format!("FROM scratch\n{body}");
    match parse(&src) {
        Ok(df) => panic!("{src:?} parsed: {df:?}"),
        Err(e) => e.message,
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (s(k), s(v))).collect()
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| s(x)).collect()
}

#[test]
fn simple_instructions_table() {
    let cases: Vec<(&str, Instruction)> = vec![
        (
            "CMD echo hi",
            Instruction::Cmd(Command::Shell(s("echo hi"))),
        ),
        (
            "cmd [\"echo\", \"hi\"]",
            Instruction::Cmd(Command::Exec(sv(&["echo", "hi"]))),
        ),
        ("CMD []", Instruction::Cmd(Command::Exec(vec![]))),
        (
            "CMD [\"a\" , \"b\"]   ",
            Instruction::Cmd(Command::Exec(sv(&["a", "b"]))),
        ),
        // Not valid JSON: shell form, kept verbatim.
        (
            "CMD ['a', 'b']",
            Instruction::Cmd(Command::Shell(s("['a', 'b']"))),
        ),
        (
            "CMD [\"a\", \"b\"] extra",
            Instruction::Cmd(Command::Shell(s("[\"a\", \"b\"] extra"))),
        ),
        (
            "CMD [\"unterminated",
            Instruction::Cmd(Command::Shell(s("[\"unterminated"))),
        ),
        ("CMD", Instruction::Cmd(Command::Shell(s("")))),
        (
            "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
            Instruction::Entrypoint(Command::Exec(sv(&["/bin/sh", "-c"]))),
        ),
        (
            "EntryPoint top -b",
            Instruction::Entrypoint(Command::Shell(s("top -b"))),
        ),
        ("ENV A=1", Instruction::Env(kv(&[("A", "1")]))),
        (
            "ENV A=1 B=\"two words\" C='x y'",
            Instruction::Env(kv(&[("A", "1"), ("B", "\"two words\""), ("C", "'x y'")])),
        ),
        (
            "ENV A two words",
            Instruction::Env(kv(&[("A", "two words")])),
        ),
        ("ENV A=", Instruction::Env(kv(&[("A", "")]))),
        ("ENV A=a\\ b", Instruction::Env(kv(&[("A", "a\\ b")]))),
        (
            "ENV PATH=$PATH:/x",
            Instruction::Env(kv(&[("PATH", "$PATH:/x")])),
        ),
        (
            "LABEL a=b \"c d\"=e",
            Instruction::Label(kv(&[("a", "b"), ("\"c d\"", "e")])),
        ),
        (
            "LABEL version 1.0",
            Instruction::Label(kv(&[("version", "1.0")])),
        ),
        (
            "LABEL multi.label1=\"value1\" multi.label2=\"value2\" other=\"value3\"",
            Instruction::Label(kv(&[
                ("multi.label1", "\"value1\""),
                ("multi.label2", "\"value2\""),
                ("other", "\"value3\""),
            ])),
        ),
        (
            "ARG A",
            Instruction::Arg(vec![ArgDecl {
                name: s("A"),
                default: None,
            }]),
        ),
        (
            "ARG A=1 B C=\"x y\"",
            Instruction::Arg(vec![
                ArgDecl {
                    name: s("A"),
                    default: Some(s("1")),
                },
                ArgDecl {
                    name: s("B"),
                    default: None,
                },
                ArgDecl {
                    name: s("C"),
                    default: Some(s("\"x y\"")),
                },
            ]),
        ),
        (
            "ARG A=",
            Instruction::Arg(vec![ArgDecl {
                name: s("A"),
                default: Some(s("")),
            }]),
        ),
        ("EXPOSE 80", Instruction::Expose(sv(&["80"]))),
        (
            "EXPOSE 80/tcp 53/udp  8080-8090",
            Instruction::Expose(sv(&["80/tcp", "53/udp", "8080-8090"])),
        ),
        ("EXPOSE $PORT", Instruction::Expose(sv(&["$PORT"]))),
        ("WORKDIR /app", Instruction::Workdir(s("/app"))),
        (
            "WORKDIR /path with spaces",
            Instruction::Workdir(s("/path with spaces")),
        ),
        (
            "WORKDIR \"/quoted\"",
            Instruction::Workdir(s("\"/quoted\"")),
        ),
        ("USER 1000:1000", Instruction::User(s("1000:1000"))),
        ("user nobody", Instruction::User(s("nobody"))),
        ("VOLUME /data", Instruction::Volume(sv(&["/data"]))),
        ("VOLUME /a /b", Instruction::Volume(sv(&["/a", "/b"]))),
        (
            "VOLUME [\"/a\", \"/b c\"]",
            Instruction::Volume(sv(&["/a", "/b c"])),
        ),
        (
            "VOLUME [\" /padded \"]",
            Instruction::Volume(sv(&["/padded"])),
        ),
        (
            "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]",
            Instruction::Shell(sv(&["/bin/bash", "-o", "pipefail", "-c"])),
        ),
        ("STOPSIGNAL SIGKILL", Instruction::StopSignal(s("SIGKILL"))),
        ("STOPSIGNAL 9", Instruction::StopSignal(s("9"))),
        (
            "MAINTAINER Jane Doe <jane@example.com>",
            Instruction::Maintainer(s("Jane Doe <jane@example.com>")),
        ),
        (
            "HEALTHCHECK NONE",
            Instruction::Healthcheck(Healthcheck::None),
        ),
        (
            "healthcheck none",
            Instruction::Healthcheck(Healthcheck::None),
        ),
    ];
    let n = cases.len();
    for (body, want) in cases {
        assert_eq!(one(body), want, "{body}");
    }
    assert!(n >= 40);
}

#[test]
fn run_forms() {
    let Instruction::Run(r) = one("RUN apt-get update && apt-get install -y curl") else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell(s("apt-get update && apt-get install -y curl"))
    );
    assert_eq!(r.network, NetworkMode::Default);
    assert_eq!(r.security, SecurityMode::Sandbox);
    assert!(r.mounts.is_empty() && r.heredocs.is_empty());

    let Instruction::Run(r) = one("RUN [\"echo\", \"a b\"]") else {
        panic!()
    };
    assert_eq!(r.command, Command::Exec(sv(&["echo", "a b"])));

    // A `#` inside a line is not a comment.
    let Instruction::Run(r) = one("RUN echo 'we are running some # of cool things'") else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell(s("echo 'we are running some # of cool things'"))
    );

    // `--` ends the flags.
    let Instruction::Run(r) = one("RUN --network=none -- --weird") else {
        panic!()
    };
    assert_eq!(r.network, NetworkMode::None);
    assert_eq!(r.command, Command::Shell(s("--weird")));

    let Instruction::Run(r) = one("RUN --network=host --security=insecure true") else {
        panic!()
    };
    assert_eq!(
        (r.network, r.security),
        (NetworkMode::Host, SecurityMode::Insecure)
    );

    // Words starting with one dash are not flags.
    let Instruction::Run(r) = one("RUN -x") else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell(s("-x")));
}

#[test]
fn run_mounts() {
    let Instruction::Run(r) = one(
        "RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked,id=pip \\\n    --mount=type=secret,id=token,env=TOKEN,required \\\n    --mount=type=bind,from=build,source=/out,target=/in,rw \\\n    --mount=type=tmpfs,target=/tmp,size=32m \\\n    --mount=type=ssh \\\n    pip install -r requirements.txt",
    ) else {
        panic!()
    };
    assert_eq!(r.mounts.len(), 5);
    assert_eq!(r.mount_flags.len(), 5);
    let c = &r.mounts[0];
    assert_eq!(c.mount_type, MountType::Cache);
    assert_eq!(c.target.as_deref(), Some("/root/.cache/pip"));
    assert_eq!(c.sharing, Some(CacheSharing::Locked));
    assert_eq!(c.id.as_deref(), Some("pip"));
    assert!(!c.readonly);
    let sec = &r.mounts[1];
    assert_eq!(sec.mount_type, MountType::Secret);
    assert!(sec.required && sec.readonly);
    assert_eq!(sec.env.as_deref(), Some("TOKEN"));
    let b = &r.mounts[2];
    assert_eq!(b.mount_type, MountType::Bind);
    assert_eq!(b.from.as_deref(), Some("build"));
    assert!(!b.readonly);
    assert_eq!(r.mounts[3].size, Some(32 << 20));
    assert_eq!(r.mounts[4].mount_type, MountType::Ssh);
    assert_eq!(
        r.command,
        Command::Shell(s("pip install -r requirements.txt"))
    );

    // Quoted flag values (CSV inside).
    let Instruction::Run(r) = one("RUN --mount=\"type=bind,target=/a b\" ls") else {
        panic!()
    };
    assert_eq!(r.mounts[0].target.as_deref(), Some("/a b"));
}

#[test]
fn copy_and_add() {
    let Instruction::Copy(c) = one("COPY --from=build --chown=1000:1000 --chmod=0755 --link --exclude=*.md --exclude=tmp a b /dst/") else { panic!() };
    assert_eq!(c.sources, sv(&["a", "b"]));
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link && !c.parents && !c.json);
    assert_eq!(c.exclude, sv(&["*.md", "tmp"]));

    let Instruction::Copy(c) = one("COPY --parents ./x/**/*.txt /d") else {
        panic!()
    };
    assert!(c.parents);

    let Instruction::Copy(c) = one("COPY [\"a b\", \"/c d/\"]") else {
        panic!()
    };
    assert_eq!(c.sources, sv(&["a b"]));
    assert_eq!(c.dest, "/c d/");
    assert!(c.json);

    let Instruction::Copy(c) = one("copy --link=false . .") else {
        panic!()
    };
    assert!(!c.link);

    let Instruction::Add(a) = one("ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://example.com/x.tar.gz /x/") else { panic!() };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(a.keep_git_dir, Some(true));
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.sources, sv(&["https://example.com/x.tar.gz"]));

    let Instruction::Add(a) = one("ADD a /b") else {
        panic!()
    };
    assert_eq!((a.keep_git_dir, a.unpack, a.checksum), (None, None, None));
}

#[test]
fn healthcheck() {
    let Instruction::Healthcheck(Healthcheck::Check(h)) = one(
        "HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD curl -f http://localhost/",
    ) else {
        panic!()
    };
    assert_eq!(h.interval, Some(Duration::from_secs(30)));
    assert_eq!(h.timeout, Some(Duration::from_secs(90)));
    assert_eq!(h.start_period, Some(Duration::from_millis(500)));
    assert_eq!(h.start_interval, Some(Duration::from_secs(2)));
    assert_eq!(h.retries, Some(3));
    assert_eq!(h.test(), sv(&["CMD-SHELL", "curl -f http://localhost/"]));

    let Instruction::Healthcheck(Healthcheck::Check(h)) =
        one("HEALTHCHECK cmd [\"/bin/check\", \"-q\"]")
    else {
        panic!()
    };
    assert_eq!(h.test(), sv(&["CMD", "/bin/check", "-q"]));
    assert_eq!((h.interval, h.retries), (None, None));

    let Instruction::Healthcheck(Healthcheck::Check(h)) = one("HEALTHCHECK --interval=0s CMD true")
    else {
        panic!()
    };
    assert_eq!(h.interval, None);
}

#[test]
fn onbuild() {
    let Instruction::Onbuild(o) = one("ONBUILD RUN echo hi") else {
        panic!()
    };
    assert_eq!(o.expression, "RUN echo hi");
    assert!(matches!(*o.instruction, Instruction::Run(_)));

    let Instruction::Onbuild(o) = one("onbuild   COPY --chown=1:1 . /app") else {
        panic!()
    };
    assert_eq!(o.expression, "COPY --chown=1:1 . /app");
    let Instruction::Copy(c) = *o.instruction else {
        panic!()
    };
    assert_eq!(c.chown.as_deref(), Some("1:1"));

    let Instruction::Onbuild(o) = one("ONBUILD RUN <<EOF\necho hi\nEOF") else {
        panic!()
    };
    assert_eq!(o.expression, "RUN <<EOF\necho hi\nEOF");
    let Instruction::Run(r) = *o.instruction else {
        panic!()
    };
    assert_eq!(r.heredocs.len(), 1);
    assert_eq!(r.heredocs[0].content, "echo hi\n");

    assert_eq!(
        err("ONBUILD ONBUILD RUN x"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("ONBUILD FROM x"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("ONBUILD maintainer me"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(err("ONBUILD"), "ONBUILD requires at least one argument");
}

#[test]
fn stages_and_meta_args() {
    let df = parse(
        "# syntax=docker/dockerfile:1\nARG BASE=alpine\nARG TAG\nFROM --platform=$BUILDPLATFORM ${BASE}:${TAG} AS Build\nARG TAG\nRUN make\n\nfrom build as final\nCOPY --from=build /out /\n",
    )
    .unwrap();
    assert_eq!(df.directive("syntax"), Some("docker/dockerfile:1"));
    assert_eq!(
        df.meta_args,
        vec![
            ArgDecl {
                name: s("BASE"),
                default: Some(s("alpine"))
            },
            ArgDecl {
                name: s("TAG"),
                default: None
            }
        ]
    );
    assert_eq!(df.stages.len(), 2);
    let b = &df.stages[0];
    assert_eq!(b.name.as_deref(), Some("build"));
    assert_eq!(b.base, "${BASE}:${TAG}");
    assert_eq!(b.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(b.location.start_line, 4);
    assert_eq!(b.instructions.len(), 2);
    assert!(matches!(b.instructions[0].instruction, Instruction::Arg(_)));
    let f = &df.stages[1];
    assert_eq!(f.name.as_deref(), Some("final"));
    assert_eq!(f.base, "build");
    assert_eq!(f.original, "from build as final");
    assert_eq!(f.location.start_line, 8);
    assert_eq!(df.stage("FINAL").map(|(i, _)| i), Some(1));

    let env = vec![
        (s("BASE"), s("alpine")),
        (s("TAG"), s("3.20")),
        (s("BUILDPLATFORM"), s("linux/amd64")),
    ];
    assert_eq!(b.expanded_base(&env, df.escape).unwrap(), "alpine:3.20");
    assert_eq!(
        b.expanded_platform(&env, df.escape).unwrap().as_deref(),
        Some("linux/amd64")
    );
}

#[test]
fn locations_and_original_text() {
    let df = parse(
        "FROM a\n\nRUN echo a \\\n  b \\\n  # comment\n  c\nCOPY <<EOF /x\nline\nEOF\n  env A=1\n",
    )
    .unwrap();
    let st = &df.stages[0].instructions;
    assert_eq!((st[0].location.start_line, st[0].location.end_line), (3, 6));
    assert_eq!(st[0].original, "RUN echo a   b   c");
    assert_eq!(st[0].keyword, "RUN");
    assert_eq!((st[1].location.start_line, st[1].location.end_line), (7, 9));
    assert_eq!(st[1].original, "COPY <<EOF /x");
    assert_eq!(
        (st[2].location.start_line, st[2].location.end_line),
        (10, 10)
    );
    assert_eq!(st[2].keyword, "env");
    assert_eq!(st[2].original, "env A=1");
}

#[test]
fn comments_and_continuations() {
    // Comment lines inside a continuation are dropped and do not end it.
    assert_eq!(
        one("RUN echo hello \\\n# comment\nworld"),
        one("RUN echo hello \\\nworld")
    );
    // Leading whitespace before instructions and comments is ignored.
    assert_eq!(instrs("   # c\n\t RUN true\n").len(), 1);
    // Empty continuation lines are skipped with a warning.
    let df = parse("FROM a\nRUN echo a \\\n\n  b\n").unwrap();
    let Instruction::Run(r) = &df.stages[0].instructions[0].instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell(s("echo a   b")));
    assert_eq!(df.warnings.len(), 1);
    assert!(df.warnings[0]
        .message
        .starts_with("Empty continuation line found in: RUN echo a"));
    // Continuation at end of file.
    assert_eq!(one("RUN echo \\"), one("RUN echo"));
    // Whitespace after the escape still continues.
    assert_eq!(one("RUN a \\  \n b"), one("RUN a  b"));
    // An escaped escape at end of line does not continue.
    assert_eq!(instrs("RUN a \\\\\nRUN b").len(), 2);
    // Whitespace inside arguments is kept.
    assert_eq!(
        one("RUN echo \"\\\n     hello\\\n     world\""),
        Instruction::Run(dockerfile::Run {
            command: Command::Shell(s("echo \"     hello     world\"")),
            heredocs: vec![],
            mounts: vec![],
            mount_flags: vec![],
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
        })
    );
    // CRLF line endings.
    assert_eq!(instrs("RUN a \\\r\n b\r\nCMD x\r\n").len(), 2);
    // BOM.
    assert!(parse("\u{feff}FROM a\n").is_ok());
}

#[test]
fn escape_directive() {
    let df =
        parse("# escape=`\nFROM windows\nRUN dir c:\\ `\n  /s\nCOPY a\\b c:\\dest\\\n").unwrap();
    assert_eq!(df.escape, '`');
    let st = &df.stages[0].instructions;
    assert_eq!(st.len(), 2);
    let Instruction::Run(r) = &st[0].instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell(s("dir c:\\   /s")));
    let Instruction::Copy(c) = &st[1].instruction else {
        panic!()
    };
    assert_eq!(c.sources, sv(&["a\\b"]));
    assert_eq!(c.dest, "c:\\dest\\");
    assert_eq!(st[1].escape, '`');

    // Directive forms: whitespace and case.
    for src in [
        "#escape=`\nFROM a",
        "# escape =`\nFROM a",
        "#\tescape= `\nFROM a",
        "# ESCAPE = `\nFROM a",
        "  # eScApE=`\nFROM a",
    ] {
        assert_eq!(parse(src).unwrap().escape, '`', "{src:?}");
    }
    // Not at the top: a comment.
    for src in [
        "FROM a\n# escape=`\n",
        "# hello\n# escape=`\nFROM a",
        "\n# escape=`\nFROM a",
        "# unknown=x\n# escape=`\nFROM a",
    ] {
        let df = parse(src).unwrap();
        assert_eq!(df.escape, '\\', "{src:?}");
    }
    // Several directives, any order.
    let df = parse("# syntax=docker/dockerfile:1.7\n# check=skip=JSONArgsRecommended;error=true\n# escape=\\\nFROM a\n").unwrap();
    assert_eq!(df.directives.len(), 3);
    assert_eq!(
        df.directive("check"),
        Some("skip=JSONArgsRecommended;error=true")
    );
    assert_eq!(df.directives[2].line, 3);
    // Errors.
    let e = parse("# escape=x\nFROM a").unwrap_err();
    assert_eq!(e.message, "invalid escape token 'x' does not match ` or \\");
    assert_eq!(e.line, 1);
    let e = parse("# syntax=a\n# SYNTAX=b\nFROM a").unwrap_err();
    assert_eq!(e.message, "only one syntax parser directive can be used");
    assert_eq!(e.line, 2);
}

#[test]
fn heredocs_like_buildkit() {
    // (body, [(name, content, expand, chomp, fd)]) for each RUN/COPY below.
    let src = "FROM alpine\n\
RUN <<EMPTY\nEMPTY\n\
RUN 3<<EMPTY2\nEMPTY2\n\
RUN \"<<NOHEREDOC\"\n\
RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\
RUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\
RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\
RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\
RUN <<COMMENT\n# internal comment\necho foo # trailing\nCOMMENT\n\
RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\
COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\
COPY <<X <<Y /dest\nY\nX\nX\nY\n\
RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\
RUN <<eo'f'\necho foo\neof\n\
RUN <<eo\\'f\necho foo\neo'f\n\
RUN <<'e'o\\'f\necho foo\neo'f\n\
RUN <<'one two'\necho bar\none two\n\
RUN <<$EOF\n$EOF\n\
RUN <<  EOF  > foo\nEOF\n";
    type H = (&'static str, &'static str, bool, bool, u32);
    let want: Vec<Vec<H>> = vec![
        vec![("EMPTY", "", true, false, 0)],
        vec![("EMPTY2", "", true, false, 3)],
        vec![],
        vec![("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
        vec![("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![(
            "COMMENT",
            "# internal comment\necho foo # trailing\n",
            true,
            false,
            0,
        )],
        vec![("MOUNT", "echo hello\n", true, false, 0)],
        vec![
            ("FILE1", "content 1\n", true, false, 0),
            ("FILE2", "content 2\n", true, false, 0),
        ],
        vec![("X", "Y\n", true, false, 0), ("Y", "X\n", true, false, 0)],
        vec![("COMPLEX", "print('hello world')\n", true, false, 0)],
        vec![("eof", "echo foo\n", false, false, 0)],
        vec![("eo'f", "echo foo\n", true, false, 0)],
        vec![("eo'f", "echo foo\n", false, false, 0)],
        vec![("one two", "echo bar\n", false, false, 0)],
        vec![("$EOF", "", true, false, 0)],
        vec![("EOF", "", true, false, 0)],
    ];
    let df = parse(src).unwrap();
    let steps = &df.stages[0].instructions;
    assert_eq!(steps.len(), want.len());
    for (i, w) in want.iter().enumerate() {
        type O = (String, String, bool, bool, u32);
        let got: Vec<O> = match &steps[i].instruction {
            Instruction::Run(r) => r
                .heredocs
                .iter()
                .map(|h| (h.name.clone(), h.content.clone(), h.expand, h.chomp, h.fd))
                .collect(),
            Instruction::Copy(c) => c
                .inline
                .iter()
                .map(|s| (s.path.clone(), s.data.clone(), s.expand, false, 0))
                .collect(),
            other => panic!("{other:?}"),
        };
        let w: Vec<O> = w
            .iter()
            .map(|(n, c, e, ch, fd)| (s(n), s(c), *e, *ch, *fd))
            .collect();
        assert_eq!(got, w, "step {i}: {}", steps[i].original);
    }
    // USER does not take heredocs: the next line is an instruction of its own.
    let e = parse("FROM a\nUSER <<INVALID\nINVALID\n").unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (3, "unknown instruction: INVALID")
    );
}

#[test]
fn heredoc_copy_chomp_and_commands() {
    let Instruction::Copy(c) = one("COPY <<-EOT /script.sh\n\techo \"hello ${FOO}\"\n\tEOT") else {
        panic!()
    };
    assert_eq!(c.inline[0].data, "echo \"hello ${FOO}\"\n");
    assert!(c.inline[0].expand);
    assert!(c.sources.is_empty());
    assert_eq!(c.dest, "/script.sh");

    let Instruction::Copy(c) = one("COPY <<-\"EOT\" a.txt /d/\n\tx\nEOT") else {
        panic!()
    };
    assert!(!c.inline[0].expand);
    assert_eq!(c.sources, sv(&["a.txt"]));

    let Instruction::Run(r) = one(
        "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2",
    ) else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell(s("<<FILE1 cat > file1 && <<FILE2 cat > file2"))
    );
    assert_eq!(r.heredocs[0].content, "I am\nfirst\n");
    assert_eq!(r.heredocs[1].content, "I am\nsecond\n");
    assert_eq!(r.heredocs[1].body(), "I am\nsecond\n");

    // Exec form never takes heredocs.
    let v = instrs("RUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n");
    assert_eq!(v.len(), 2);

    // The heredoc body does not end at a line that merely contains the name.
    let Instruction::Run(r) = one("RUN <<EOF\n EOF\nEOF \nEOF") else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, " EOF\nEOF \n");

    assert_eq!(err("RUN <<EOF\nnever ends\n"), "unterminated heredoc");
    assert_eq!(err("COPY <<EOF <<EOF2\nx\nEOF\n"), "unterminated heredoc");
    assert_eq!(
        err("COPY a <<EOF\nx\nEOF"),
        "COPY cannot accept a heredoc as a destination"
    );
    assert_eq!(
        err("ADD a <<EOF\nx\nEOF"),
        "ADD cannot accept a heredoc as a destination"
    );
}

#[test]
fn error_messages_table() {
    let cases: &[(&str, &str)] = &[
        ("RUNN echo", "unknown instruction: RUNN (did you mean RUN?)"),
        ("runn echo", "unknown instruction: runn (did you mean run?)"),
        ("FOOBAR x", "unknown instruction: FOOBAR"),
        ("COPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("COPY", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ADD [\"a\"]", "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("COPY --chmown=1 a b", "unknown flag: --chmown (did you mean chown?)"),
        ("COPY --checksum=x a b", "unknown flag: --checksum"),
        ("ADD --from=x a b", "unknown flag: --from"),
        ("COPY --from a b", "missing a value on flag: --from"),
        ("COPY --link= a b", "missing a value on flag: --link"),
        ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
        ("COPY --from=a --from=b a b", "duplicate flag specified: --from"),
        ("RUN --network=bridge true", "invalid network mode \"bridge\""),
        ("RUN --security=x true", "security \"x\" is not valid"),
        ("RUN --mount=type=foo true", "unsupported mount type \"foo\""),
        ("RUN --mount=type=bind,mode=0700 true", "mode not allowed for \"bind\" type mounts"),
        ("RUN --device=x true", "unknown flag: --device"),
        ("RUN --mount true", "missing a value on flag: --mount"),
        ("CMD --foo=bar x", "unknown flag: --foo"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV PATH", "ENV must have two arguments"),
        ("ENV A=1 B", "Syntax error - can't find = in \"B\". Must be of the form: name=value"),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("LABEL a", "LABEL must have two arguments"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("USER", "USER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("VOLUME []", "VOLUME requires at least one argument"),
        ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
        ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form"),
        ("SHELL []", "SHELL requires at least one argument"),
        ("SHELL", "SHELL requires at least one argument"),
        ("CMD [\"a\", 1]", "when using JSON array syntax, arrays must be comprised of strings only"),
        ("VOLUME [\"a\", {}]", "when using JSON array syntax, arrays must be comprised of strings only"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK FOO bar", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK --interval=1ns CMD x", "Interval \"interval\" cannot be less than 1ms"),
        ("HEALTHCHECK --timeout=-1s CMD x", "Interval \"timeout\" cannot be less than 1ms"),
        ("HEALTHCHECK --interval=30 CMD x", "time: missing unit in duration \"30\""),
        ("HEALTHCHECK --interval=abc CMD x", "time: invalid duration \"abc\""),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
        ("HEALTHCHECK --retries=x CMD x", "strconv.ParseInt: parsing \"x\": invalid syntax"),
        ("HEALTHCHECK --foo=1 CMD x", "unknown flag: --foo"),
        ("FROM", "FROM requires either one or three arguments"),
        ("FROM a b", "FROM requires either one or three arguments"),
        ("FROM a AS b c", "FROM requires either one or three arguments"),
        ("FROM a IS b", "FROM requires either one or three arguments"),
        ("FROM a AS 1stage", "invalid name for build stage: \"1stage\", name can't start with a number or contain symbols"),
        ("FROM a AS st@ge", "invalid name for build stage: \"st@ge\", name can't start with a number or contain symbols"),
        ("FROM --platfrom=x a", "unknown flag: --platfrom (did you mean platform?)"),
    ];
    for (body, want) in cases {
        assert_eq!(err(body), *want, "{body}");
    }
}

#[test]
fn error_lines_and_display() {
    let e = parse("FROM a\nRUN true\n\nRUNN x\n").unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(e.instruction.as_deref(), Some("RUNN"));
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 4: unknown instruction: RUNN (did you mean RUN?)"
    );
    assert_eq!(
        e.with_file("Dockerfile"),
        "Dockerfile:4: unknown instruction: RUNN (did you mean RUN?)"
    );

    let e = parse("FROM a\nCOPY --from=x \\\n  only\n").unwrap_err();
    assert_eq!((e.line, e.end_line), (2, 3));

    let e = parse("RUN x\nFROM a").unwrap_err();
    assert_eq!(e.message, "no build stage in current context");
    assert_eq!(e.line, 1);

    let e = parse("ARG A=1\n").unwrap_err();
    assert_eq!(e.message, "dockerfile contains no stages to build");

    for empty in [
        "",
        "\n\n",
        "# only a comment\n",
        "# escape=`\n",
        "   \n\t\n",
    ] {
        let e = parse(empty).unwrap_err();
        assert_eq!(e.message, "file with no instructions", "{empty:?}");
    }

    use errdefs::HasKind;
    assert_eq!(e.kind(), errdefs::ErrorKind::InvalidArgument);
}

#[test]
fn buildkit_compat_quirks() {
    // ARG and STOPSIGNAL do not look at flags in BuildKit; HEALTHCHECK NONE neither.
    assert!(matches!(one("ARG --foo A"), Instruction::Arg(_)));
    assert!(matches!(
        one("HEALTHCHECK --interval=5s NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    ));
    // ENV legacy form keeps everything after the first whitespace.
    assert_eq!(one("ENV A   b  c "), Instruction::Env(kv(&[("A", "b  c")])));
    // Keywords are case-insensitive, mixed case too.
    assert!(matches!(one("CoPy a b"), Instruction::Copy(_)));
    // A `--` alone ends flags for COPY too.
    let Instruction::Copy(c) = one("COPY -- --a b") else {
        panic!()
    };
    assert_eq!(c.sources, sv(&["--a"]));
    // JSON with leading whitespace and escapes.
    assert_eq!(
        one("CMD   [\"a\\\"b\", \"\\u00e9\"]"),
        Instruction::Cmd(Command::Exec(sv(&["a\"b", "é"])))
    );
    // The escape character before a quote in flags.
    let Instruction::Copy(c) = one("COPY --chown=a\\ b x y") else {
        panic!()
    };
    assert_eq!(c.chown.as_deref(), Some("a b"));
    // An empty string flag counts as unset.
    let Instruction::Copy(c) = one("COPY --from= a b") else {
        panic!()
    };
    assert_eq!(c.from, None);
}

#[test]
fn run_heredoc_scripts() {
    use dockerfile::RunScript;
    let script = |body: &str| {
        let Instruction::Run(r) = one(body) else {
            panic!()
        };
        r.script()
    };
    assert_eq!(
        script("RUN echo hi"),
        RunScript::Command(Command::Shell(s("echo hi")))
    );
    assert_eq!(
        script("RUN [\"a\"]"),
        RunScript::Command(Command::Exec(sv(&["a"])))
    );
    assert_eq!(
        script("RUN <<EOF\n  mkdir -p foo/bar\nEOF"),
        RunScript::Script(s("  mkdir -p foo/bar\n"))
    );
    assert_eq!(
        script("RUN <<-EOF\n\tset -e\n\tEOF"),
        RunScript::Script(s("set -e\n"))
    );
    assert_eq!(
        script("RUN <<EOT\n#!/usr/bin/env python\nprint(\"hello world\")\nEOT"),
        RunScript::ShebangFile {
            name: s("EOT"),
            path: s("/dev/pipes/EOT"),
            body: s("#!/usr/bin/env python\nprint(\"hello world\")\n"),
        }
    );
    assert_eq!(
        script("RUN <<EOT bash\n  set -ex\nEOT"),
        RunScript::Reconstituted(s("<<EOT bash\n  set -ex\nEOT"))
    );
    assert_eq!(
        script("RUN <<FILE1 cat > file1 && <<-FILE2 cat > file2\nI am\nfirst\nFILE1\n\tI am\n\tsecond\n\tFILE2"),
        RunScript::Reconstituted(s("<<FILE1 cat > file1 && <<-FILE2 cat > file2\nI am\nfirst\nFILE1\n\tI am\n\tsecond\nFILE2"))
    );
}

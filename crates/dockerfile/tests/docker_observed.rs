//! Golden results observed from a real Docker (dockerd 20.10.24, classic
//! builder, which uses BuildKit's parser) on 2026-11-28: each Dockerfile below
//! was built with `DOCKER_BUILDKIT=0 docker build` and the image config read
//! with `docker inspect`. A small evaluator here applies the parsed, expanded
//! instructions as a builder would, and must reproduce Docker's config.

use dockerfile::{parse, Command, Healthcheck, Instruction};

#[derive(Default, Debug)]
struct Config {
    env: Vec<String>,
    labels: Vec<(String, String)>,
    workdir: String,
    user: String,
    cmd: Vec<String>,
    entrypoint: Vec<String>,
    shell: Vec<String>,
    exposed: Vec<String>,
    volumes: Vec<String>,
    onbuild: Vec<String>,
    healthcheck: Vec<String>,
    stop_signal: String,
}

fn with_shell(shell: &[String], c: Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v,
        Command::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s);
            v
        }
    }
}

/// Applies the config instructions of the last stage (enough for these files).
fn evaluate(src: &str) -> Config {
    let df = parse(src).unwrap();
    // Global args, each default expanded with the ones before it.
    let mut meta: Vec<(String, String)> = Vec::new();
    for a in &df.meta_args {
        if let Some(d) = &a.default {
            let v = dockerfile::expand::expand_word(d, df.escape, &meta).unwrap();
            meta.push((a.name.clone(), v));
        }
    }
    let stage = df.stages.last().unwrap();
    assert_eq!(stage.expanded_base(&meta, df.escape).unwrap(), "scratch");
    let mut c = Config {
        workdir: "/".into(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        ..Config::default()
    };
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    for step in &stage.instructions {
        let all: Vec<(String, String)> = vars.iter().chain(env.iter()).cloned().collect();
        match step.expand(&all).unwrap() {
            Instruction::Env(kv) => {
                for (k, v) in kv {
                    env.retain(|(ek, _)| *ek != k);
                    env.push((k, v));
                }
            }
            Instruction::Arg(args) => {
                for a in args {
                    // An ARG without default inherits the global value.
                    let v = a.default.or_else(|| {
                        meta.iter()
                            .rev()
                            .find(|(k, _)| *k == a.name)
                            .map(|(_, v)| v.clone())
                    });
                    if let Some(v) = v {
                        vars.push((a.name, v));
                    }
                }
            }
            Instruction::Label(kv) => c.labels.extend(kv),
            Instruction::Workdir(w) => {
                c.workdir = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{}", c.workdir.trim_end_matches('/'), w)
                }
            }
            Instruction::User(u) => c.user = u,
            Instruction::Expose(p) => c.exposed.extend(p),
            Instruction::Volume(v) => c.volumes.extend(v),
            Instruction::StopSignal(s) => c.stop_signal = s,
            Instruction::Cmd(cmd) => c.cmd = with_shell(&c.shell, cmd),
            Instruction::Entrypoint(cmd) => c.entrypoint = with_shell(&c.shell, cmd),
            Instruction::Shell(s) => c.shell = s,
            Instruction::Onbuild(o) => c.onbuild.push(o.expression),
            Instruction::Healthcheck(Healthcheck::Check(h)) => c.healthcheck = h.test(),
            Instruction::Healthcheck(Healthcheck::None) => c.healthcheck = vec!["NONE".into()],
            other => panic!("unexpected {other:?}"),
        }
    }
    c.env = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    c
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn quoting_escapes_and_substitution() {
    let c = evaluate(concat!(
        "FROM scratch\n",
        "ENV A=1 B=\"two words\" C='single $A' D=\\$A E=\"q \\\"x\\\" $A\" F=a\\ b\n",
        "ENV G $A and $B\n",
        "ENV H=${A:-x}${Z:-dflt}${A:+set}${Z:+unset}\n",
        "ENV I=\"${B}\" J=${B}x K=tab\\\tx\n",
        "ENV L=${A}${A} N=$\n",
        "ENV Q=\"a\\\\b\" R='a\\\\b' S=a\\\\b T=\"\\$A\" U=é$A\n",
        "LABEL \"com.example.k 1\"=\"v $A\" plain=$B other='$B'\n",
        "LABEL legacy label with spaces\n",
        "WORKDIR /base/$A\n",
        "WORKDIR sub/${A}x\n",
        "USER ${A}:${Z:-grp}\n",
        "EXPOSE $A/tcp 8$A 9000/udp\n",
        "VOLUME [\"/v/$A\", \"/w\"]\n",
        "VOLUME /x/$A /y\n",
        "STOPSIGNAL SIG${Z:-TERM}\n",
    ));
    assert_eq!(
        c.env,
        sv(&[
            "A=1",
            "B=two words",
            "C=single $A",
            "D=$A",
            "E=q \"x\" ",
            "F=a b",
            "G=1 and two words",
            "H=1dfltset",
            "I=two words",
            "J=two wordsx",
            "K=tab\tx",
            "L=11",
            "N=$",
            "Q=a\\b",
            "R=a\\\\b",
            "S=a\\b",
            "T=$A",
            "U=é1",
        ])
    );
    assert_eq!(
        c.labels,
        kv(&[
            ("com.example.k 1", "v 1"),
            ("plain", "two words"),
            ("other", "$B"),
            ("legacy", "label with spaces")
        ])
    );
    assert_eq!(c.workdir, "/base/1/sub/1x");
    assert_eq!(c.user, "1:grp");
    assert_eq!(c.exposed, sv(&["1/tcp", "81", "9000/udp"]));
    assert_eq!(c.volumes, sv(&["/v/1", "/w", "/x/1", "/y"]));
    assert_eq!(c.stop_signal, "SIGTERM");
}

#[test]
fn backtick_escape() {
    let c = evaluate(concat!(
        "# escape=`\n",
        "FROM scratch\n",
        "ENV A=c:\\dir\\ B=\"x`$y\" C=a` b D=\"q`\"q\" E=``\n",
        "ENV F=$A`\n",
        "  G=$B\n",
        "LABEL x=\"a`\"b\" `\n",
        "   y=z\n",
        "WORKDIR c:\\w\\$A\n",
    ));
    assert_eq!(
        c.env,
        sv(&[
            "A=c:\\dir\\",
            "B=x$y",
            "C=a b",
            "D=q\"q",
            "E=`",
            "F=c:\\dir\\",
            "G=x$y"
        ])
    );
    assert_eq!(c.labels, kv(&[("x", "a\"b"), ("y", "z")]));
    assert_eq!(c.workdir, "/c:\\w\\c:\\dir\\");
    // Docker: failed to process "\"a\\\"b\"    y=z": unexpected end of
    // statement while looking for matching double-quote
    let df = parse("# escape=`\nFROM scratch\nLABEL x=\"a\\\"b\" `\n   y=z\n").unwrap();
    let e = df.stages[0].instructions[0]
        .expand(&dockerfile::NoEnv)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"\\\"a\\\\\\\"b\\\"    y=z\": unexpected end of statement while looking for matching double-quote"
    );
}

#[test]
fn commands_continuations_and_onbuild() {
    let c = evaluate(concat!(
        "FROM scratch\n",
        "CMD echo a \\\n",
        "  # comment\n",
        "\n",
        "    b   \\\n",
        "\t c  \n",
        "ENTRYPOINT   [\"x\",   \"y z\"]  \n",
        "HEALTHCHECK --interval=1m30s --retries=2 CMD   curl  \\\n",
        "  -f x\n",
        "ONBUILD   RUN   echo $A \\\n",
        "  done\n",
        "ONBUILD  ADD . /app\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "   cmd  echo \"a\\\n",
        " b\"\n",
    ));
    assert_eq!(c.cmd, sv(&["/bin/bash", "-c", "echo \"a b\""]));
    assert_eq!(c.entrypoint, sv(&["x", "y z"]));
    assert_eq!(c.healthcheck, sv(&["CMD-SHELL", "curl    -f x"]));
    assert_eq!(c.onbuild, sv(&["RUN   echo $A   done", "ADD . /app"]));
    assert_eq!(c.shell, sv(&["/bin/bash", "-c"]));
    // The first CMD, before SHELL changed: Docker kept "echo a     b   \t c".
    let df = parse("FROM scratch\nCMD echo a \\\n  # comment\n\n    b   \\\n\t c  \n").unwrap();
    assert_eq!(
        df.stages[0].instructions[0].instruction,
        Instruction::Cmd(Command::Shell("echo a     b   \t c".into()))
    );
}

#[test]
fn meta_args_json_and_inline_hashes() {
    let c = evaluate(concat!(
        "ARG X=scr\n",
        "ARG Y=${X}atch\n",
        "FROM ${Y} AS s1\n",
        "ARG X\n",
        "ENV FROMMETA=$X\n",
        "LABEL a=b#c d=\"e#f\" #g=h\n",
        "ENV P=\"a\\\\b\" Q=\"a\\$b\" R=\"a\\tb\" S=a\\$b\n",
        "CMD [\"a\\\\b\", \"c\\\"d\", \"\\u00e9\"]\n",
        "EXPOSE 8000-8002 90/udp\n",
        "ENV A=1 \\\n",
        "  # comment inside\n",
        "  B=2\n",
    ));
    assert_eq!(
        c.env,
        sv(&[
            "FROMMETA=scr",
            "P=a\\b",
            "Q=a$b",
            "R=a\\tb",
            "S=a$b",
            "A=1",
            "B=2"
        ])
    );
    assert_eq!(c.labels, kv(&[("a", "b#c"), ("d", "e#f"), ("#g", "h")]));
    assert_eq!(c.cmd, sv(&["a\\b", "c\"d", "é"]));
    assert_eq!(c.exposed, sv(&["8000-8002", "90/udp"]));
}

#[test]
fn errors_docker_reports_at_parse_time() {
    // (Dockerfile, Docker 20.10's message after "dockerfile parse error line N: "
    // or "failed to parse ...: "), where the wording has not changed since.
    let cases: &[(&str, &str)] = &[
        ("FROM scratch\nENV PATH\n", "ENV must have two arguments"),
        ("FROM scratch\nENV A=1 B\n", "Syntax error - can't find = in \"B\". Must be of the form: name=value"),
        ("FROM scratch\nARG =x\n", "ARG names can not be blank"),
        ("FROM scratch\nCOPY a\n", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM scratch\nCMD [\"a\", 1]\n", "when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM scratch\nVOLUME [\"\"]\n", "VOLUME specified can not be an empty string"),
        ("FROM scratch\nSHELL /bin/sh -c\n", "SHELL requires the arguments to be in JSON form"),
        ("FROM scratch\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM scratch\nHEALTHCHECK --interval=1ns CMD x\n", "Interval \"interval\" cannot be less than 1ms"),
        ("FROM scratch\nHEALTHCHECK --interval=30 CMD x\n", "time: missing unit in duration \"30\""),
        ("FROM scratch\nHEALTHCHECK FOO x\n", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("FROM scratch AS 1x\n", "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
        ("FROM scratch extra\n", "FROM requires either one or three arguments"),
        ("# escape=x\nFROM scratch\n", "invalid escape token 'x' does not match ` or \\"),
        ("# escape=`\n# escape=\\\nFROM scratch\n", "only one escape parser directive can be used"),
        ("LABEL a=b\nFROM scratch\n", "no build stage in current context"),
        ("\n\n", "file with no instructions"),
    ];
    for (src, want) in cases {
        assert_eq!(parse(src).unwrap_err().message, *want, "{src:?}");
    }
    // Accepted by Docker at parse time (validated later or never).
    for src in [
        "FROM scratch\nARG --foo A\n",
        "FROM scratch\nSTOPSIGNAL --foo 9\n",
        "FROM scratch\nHEALTHCHECK --interval=5s NONE\n",
        "FROM scratch\nUSER a b\n",
        "FROM scratch\nCMD [\"a\", \n",
        "FROM scratch\nLABEL a=b \\",
        "FROM scratch\nLABEL a=b\\\\\nLABEL c=d\n",
        "FROM scratch\nCMD\n",
        "FROM scratch\nENTRYPOINT\n",
    ] {
        assert!(parse(src).is_ok(), "{src:?}");
    }
}

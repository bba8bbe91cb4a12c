//! Builder tests against an in-memory backend.

mod fake;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use builder::{build, BuildContext, BuildError, BuildOptions, Output};
use fake::{Fake, Node};
use serde_json::Value;

struct Built {
    res: Result<String, BuildError>,
    msgs: Vec<Value>,
}

impl Built {
    fn text(&self) -> String {
        self.msgs
            .iter()
            .filter_map(|m| m.get("stream").and_then(Value::as_str))
            .collect()
    }
    fn id(&self) -> String {
        match &self.res {
            Ok(id) => id.clone(),
            Err(e) => panic!("build failed: {e}\n{}", self.text()),
        }
    }
    fn err(&self) -> String {
        match &self.res {
            Ok(_) => panic!("build succeeded:\n{}", self.text()),
            Err(e) => e.to_string(),
        }
    }
}

fn write_ctx(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let full = dir.join(p);
        if let Some(target) = c.strip_prefix("->") {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&full);
            std::os::unix::fs::symlink(target, &full).unwrap();
        } else if p.ends_with('/') {
            std::fs::create_dir_all(&full).unwrap();
        } else {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, c).unwrap();
        }
    }
}

async fn run(fake: &Arc<Fake>, dir: &Path, opts: BuildOptions) -> Built {
    let (out, mut rx) = Output::channel();
    let res = build(
        fake.as_ref(),
        BuildContext::Dir(dir.to_path_buf()),
        opts,
        &out,
    )
    .await
    .map(|r| r.image_id);
    drop(out);
    let mut msgs = vec![];
    while let Ok(m) = rx.try_recv() {
        msgs.push(m);
    }
    Built { res, msgs }
}

async fn quick(files: &[(&str, &str)]) -> (Arc<Fake>, tempfile::TempDir, Built) {
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(dir.path(), files);
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    (fake, dir, b)
}

fn cfg(fake: &Fake, id: &str) -> Value {
    fake.img(id).config
}

fn file_of(fake: &Fake, id: &str, path: &str) -> String {
    match &fake
        .img(id)
        .fs
        .get(path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .node
    {
        Node::File(d) => String::from_utf8_lossy(d).into_owned(),
        other => panic!("{path} is {other:?}"),
    }
}

fn history(c: &Value) -> Vec<(String, bool)> {
    c["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["created_by"].as_str().unwrap().to_string(),
                h.get("empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
        })
        .collect()
}

#[tokio::test]
async fn config_instructions() {
    let df = r#"FROM busybox
MAINTAINER someone
ENV A=1 B="two words"
ENV C=${A}x
LABEL version="1.0" desc=$B
EXPOSE 80 53/udp 8000-8001
VOLUME /data /other
USER app:app
WORKDIR /srv
WORKDIR sub
STOPSIGNAL SIGKILL
SHELL ["/bin/bash", "-c"]
CMD echo $A
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD curl -f http://localhost/
ONBUILD RUN echo child
"#;
    let (fake, _d, b) = quick(&[("Dockerfile", df)]).await;
    let id = b.id();
    let c = cfg(&fake, &id);
    let cc = &c["config"];
    assert_eq!(c["author"], "someone");
    let env: Vec<&str> = cc["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        env,
        vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=1",
            "B=two words",
            "C=1x"
        ]
    );
    assert_eq!(cc["Labels"]["version"], "1.0");
    assert_eq!(cc["Labels"]["desc"], "two words");
    for p in ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"] {
        assert!(cc["ExposedPorts"].get(p).is_some(), "{p}");
    }
    assert!(cc["Volumes"].get("/data").is_some());
    assert!(cc["Volumes"].get("/other").is_some());
    assert_eq!(cc["User"], "app:app");
    assert_eq!(cc["WorkingDir"], "/srv/sub");
    assert_eq!(cc["StopSignal"], "SIGKILL");
    assert_eq!(cc["Shell"], serde_json::json!(["/bin/bash", "-c"]));
    assert_eq!(cc["Cmd"], serde_json::json!(["/bin/bash", "-c", "echo $A"]));
    assert_eq!(
        cc["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "curl -f http://localhost/"])
    );
    assert_eq!(cc["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(cc["Healthcheck"]["Timeout"], 3_000_000_000u64);
    assert_eq!(cc["Healthcheck"]["Retries"], 2);
    assert_eq!(cc["OnBuild"], serde_json::json!(["RUN echo child"]));
    // WORKDIR created the directories as layers.
    let img = fake.img(&id);
    assert_eq!(img.fs["srv"].node, Node::Dir);
    assert_eq!(img.fs["srv/sub"].node, Node::Dir);
    let h = history(&c);
    let h: Vec<(String, bool)> = h[1..].to_vec();
    let want: Vec<(&str, bool)> = vec![
        ("/bin/sh -c #(nop)  MAINTAINER someone", true),
        ("/bin/sh -c #(nop)  ENV A=1 B=two words", true),
        ("/bin/sh -c #(nop)  ENV C=1x", true),
        ("/bin/sh -c #(nop)  LABEL version=1.0 desc=two words", true),
        ("/bin/sh -c #(nop)  EXPOSE 53/udp 80 8000-8001", true),
        ("/bin/sh -c #(nop)  VOLUME [/data /other]", true),
        ("/bin/sh -c #(nop)  USER app:app", true),
        ("/bin/sh -c #(nop) WORKDIR /srv", false),
        ("/bin/sh -c #(nop) WORKDIR /srv/sub", false),
        ("/bin/sh -c #(nop)  STOPSIGNAL SIGKILL", true),
        ("/bin/bash -c #(nop)  SHELL [/bin/bash -c]", true),
        ("/bin/bash -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"echo $A\"]", true),
        (
            "/bin/bash -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/\"] \"30s\" \"3s\" \"0s\" '\\x02'}",
            true,
        ),
        ("/bin/bash -c #(nop)  ONBUILD RUN echo child", true),
    ];
    let want: Vec<(String, bool)> = want.into_iter().map(|(a, b)| (a.to_string(), b)).collect();
    assert_eq!(h, want);
    // Layers: base + 2 WORKDIR layers.
    assert_eq!(img.layers, 3);
    let text = b.text();
    assert!(
        text.starts_with("Step 1/15 : FROM busybox\n ---> "),
        "{text}"
    );
    assert!(
        text.contains("Step 15/15 : ONBUILD RUN echo child\n"),
        "{text}"
    );
    assert!(text.contains("Successfully built "), "{text}");
    let aux = b.msgs.iter().find_map(|m| m.get("aux")).unwrap();
    assert_eq!(aux["ID"], id.as_str());
}

#[tokio::test]
async fn entrypoint_resets_cmd_unless_set_in_stage() {
    let (fake, _d, b) = quick(&[("Dockerfile", "FROM busybox\nENTRYPOINT [\"/bin/app\"]\n")]).await;
    let c = cfg(&fake, &b.id());
    assert!(c["config"].get("Cmd").is_none(), "{c}");
    assert_eq!(c["config"]["Entrypoint"], serde_json::json!(["/bin/app"]));
    let (fake, _d, b) =
        quick(&[("Dockerfile", "FROM busybox\nCMD [\"x\"]\nENTRYPOINT top\n")]).await;
    let c = cfg(&fake, &b.id());
    assert_eq!(c["config"]["Cmd"], serde_json::json!(["x"]));
    assert_eq!(
        c["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "top"])
    );
}

#[tokio::test]
async fn args_scoping_and_expansion() {
    let df = r#"ARG BASE=busybox
ARG V=1
FROM $BASE AS one
ARG V
ARG W=w-$V
RUN env > /env1
ENV V=fromenv
RUN env > /env2
FROM busybox
RUN env > /env3
"#;
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(dir.path(), &[("Dockerfile", df)]);
    let mut opts = BuildOptions {
        target: Some("one".into()),
        ..Default::default()
    };
    opts.build_args.insert("W".into(), Some("override".into()));
    opts.build_args.insert("UNUSED".into(), Some("x".into()));
    opts.build_args
        .insert("HTTP_PROXY".into(), Some("http://p".into()));
    let b = run(&fake, dir.path(), opts).await;
    let id = b.id();
    let env1 = file_of(&fake, &id, "env1");
    assert!(env1.contains("V=1\n"), "{env1}");
    assert!(env1.contains("W=override\n"), "{env1}");
    assert!(env1.contains("HTTP_PROXY=http://p\n"), "{env1}");
    let env2 = file_of(&fake, &id, "env2");
    assert!(
        env2.contains("V=fromenv\n") && !env2.contains("V=1\n"),
        "{env2}"
    );
    let h = history(&cfg(&fake, &id));
    assert!(
        h.iter()
            .any(|(c, _)| c == "|2 V=1 W=override /bin/sh -c env > /env1"),
        "{h:?}"
    );
    assert!(
        h.iter()
            .any(|(c, _)| c == "|1 W=override /bin/sh -c env > /env2"),
        "{h:?}"
    );
    assert!(
        h.iter()
            .any(|(c, e)| c == "/bin/sh -c #(nop)  ARG W=w-1" && *e),
        "{h:?}"
    );
    let text = b.text();
    assert!(
        text.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{text}"
    );
    assert!(text.contains("Step 1/8 : ARG BASE=busybox"), "{text}");
    // The second stage is not needed for target one.
    assert_eq!(fake.runs.lock().unwrap().len(), 2);

    // Without the override, W expands against the stage's V.
    let b = run(
        &fake,
        dir.path(),
        BuildOptions {
            target: Some("one".into()),
            ..Default::default()
        },
    )
    .await;
    let env1 = file_of(&fake, &b.id(), "env1");
    assert!(env1.contains("W=w-1\n"), "{env1}");
    // Args do not leak into the next stage.
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    let env3 = file_of(&fake, &b.id(), "env3");
    assert!(!env3.contains("V=") && !env3.contains("W="), "{env3}");
}

#[tokio::test]
async fn multistage_copy_from_and_target() {
    let df = r#"FROM busybox AS build
RUN echo built > /out.txt
FROM busybox AS unused
RUN echo never > /x
FROM scratch
COPY --from=build /out.txt /app/
COPY --from=0 /etc/passwd /passwd
COPY --from=busybox /etc/group /group
"#;
    let (fake, dir, b) = quick(&[("Dockerfile", df)]).await;
    let id = b.id();
    assert_eq!(file_of(&fake, &id, "app/out.txt"), "built\n");
    assert!(file_of(&fake, &id, "passwd").contains("app:x:1000"));
    assert!(file_of(&fake, &id, "group").contains("staff"));
    let runs: Vec<String> = fake
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.cmd[2].clone())
        .collect();
    assert_eq!(runs, vec!["echo built > /out.txt"]);
    let text = b.text();
    assert!(text.contains("Step 1/6 : FROM busybox AS build"), "{text}");
    assert!(text.contains("Step 3/6 : FROM scratch"), "{text}");
    let h = history(&cfg(&fake, &id));
    assert_eq!(h.len(), 3, "{h:?}");
    assert!(
        h[0].0.starts_with("/bin/sh -c #(nop) COPY file:") && h[0].0.ends_with(" in /app/ "),
        "{h:?}"
    );
    // --target stops at a stage and skips the others.
    let fake2 = Fake::new();
    let b = run(
        &fake2,
        dir.path(),
        BuildOptions {
            target: Some("unused".into()),
            ..Default::default()
        },
    )
    .await;
    let id = b.id();
    assert_eq!(file_of(&fake2, &id, "x"), "never\n");
    let runs: Vec<String> = fake2
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.cmd[2].clone())
        .collect();
    assert_eq!(runs, vec!["echo never > /x"]);
    let b = run(
        &fake2,
        dir.path(),
        BuildOptions {
            target: Some("nope".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(b.err(), "failed to reach build target nope in Dockerfile");
}

#[tokio::test]
async fn independent_stages_run_in_parallel() {
    let df = r#"FROM busybox AS a
RUN sleep 400 && echo a > /a
FROM busybox AS b
RUN sleep 400 && echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
"#;
    let start = Instant::now();
    let (fake, _d, b) = quick(&[("Dockerfile", df)]).await;
    let took = start.elapsed();
    let id = b.id();
    assert_eq!(file_of(&fake, &id, "a"), "a\n");
    assert_eq!(file_of(&fake, &id, "b"), "b\n");
    assert!(took < Duration::from_millis(750), "took {took:?}");
}

#[tokio::test]
async fn cache_hits_and_misses() {
    let df = "FROM busybox\nENV X=1\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN echo two > /two\nCOPY b.txt /b.txt\n";
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[("Dockerfile", df), ("a.txt", "A"), ("b.txt", "B")],
    );
    let b1 = run(&fake, dir.path(), BuildOptions::default()).await;
    let id1 = b1.id();
    assert!(!b1.text().contains("Using cache"));
    let b2 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b2.id(), id1);
    assert_eq!(
        b2.text().matches(" ---> Using cache\n").count(),
        5,
        "{}",
        b2.text()
    );
    assert_eq!(fake.runs.lock().unwrap().len(), 2);
    // Change b.txt: only its COPY reruns.
    write_ctx(dir.path(), &[("b.txt", "B2")]);
    let b3 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_ne!(b3.id(), id1);
    assert_eq!(b3.text().matches("Using cache").count(), 4);
    assert_eq!(file_of(&fake, &b3.id(), "b.txt"), "B2");
    // The rerun COPY is told what the same step made last time on the same parent.
    let siblings: Vec<Option<String>> = fake
        .hints
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.sibling.clone())
        .collect();
    assert_eq!(siblings, vec![None, None, Some(id1.clone())]);
    // Change a.txt: its COPY and everything after rerun.
    write_ctx(dir.path(), &[("a.txt", "A2")]);
    let b4 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b4.text().matches("Using cache").count(), 2);
    assert_eq!(fake.runs.lock().unwrap().len(), 3);
    let c4 = cfg(&fake, &b4.id());
    assert_eq!(history(&c4).len(), 6);
    // A mode change is a change too.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("a.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let b5 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b5.text().matches("Using cache").count(), 2);
    assert_eq!(fake.img(&b5.id()).fs["a.txt"].mode, 0o600);
    // --no-cache reruns everything.
    let b6 = run(
        &fake,
        dir.path(),
        BuildOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .await;
    assert!(!b6.text().contains("Using cache"));
    assert_eq!(fake.runs.lock().unwrap().len(), 6);
    // A cached image that disappeared is a miss.
    fake.images.lock().unwrap().remove(&b6.id());
    let b7 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b7.text().matches("Using cache").count(), 4);
}

#[tokio::test]
async fn dockerignore_and_missing_sources() {
    let files = [
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        (".dockerignore", "secret*\n*.log\n!keep.log\nsub/**/*.tmp\n"),
        ("secret.txt", "s"),
        ("a.log", "l"),
        ("keep.log", "k"),
        ("sub/x/y.tmp", "t"),
        ("sub/x/z.txt", "z"),
    ];
    let (fake, dir, b) = quick(&files).await;
    let fs = fake.img(&b.id()).fs;
    assert!(fs.contains_key("ctx/keep.log"));
    assert!(fs.contains_key("ctx/sub/x/z.txt"));
    assert!(fs.contains_key("ctx/Dockerfile"));
    assert!(!fs.contains_key("ctx/secret.txt"));
    assert!(!fs.contains_key("ctx/a.log"));
    assert!(!fs.contains_key("ctx/sub/x/y.tmp"));
    write_ctx(
        dir.path(),
        &[("Dockerfile", "FROM busybox\nCOPY secret.txt /\n")],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(
        b.err(),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat secret.txt: file does not exist"
    );
    let last = b.msgs.last().unwrap();
    assert!(last["error"].as_str().unwrap().contains("secret.txt"));
    // Dockerfile-specific ignore file wins.
    write_ctx(
        dir.path(),
        &[
            ("build.Dockerfile", "FROM busybox\nCOPY secret.txt /\n"),
            ("build.Dockerfile.dockerignore", "a.log\n"),
        ],
    );
    let b = run(
        &fake,
        dir.path(),
        BuildOptions {
            dockerfile_path: Some("build.Dockerfile".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(file_of(&fake, &b.id(), "secret.txt"), "s");
}

#[tokio::test]
async fn errors() {
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("Dockerfile", "FROM busybox\nCOPY ../x /x\n")], "COPY failed: forbidden path outside the build context: ../x ()"),
        (
            vec![("Dockerfile", "FROM busybox\nCOPY link/f /x\n"), ("link", "->../../etc")],
            "COPY failed: forbidden path outside the build context: link/f ()",
        ),
        (vec![("Dockerfile", "FROM busybox\nRUN exit 3\n")], "The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        (vec![("Dockerfile", "FROM busybox\nRUN [\"exit\", \"4\"]\n")], "The command 'exit 4' returned a non-zero code: 4"),
        (vec![("Dockerfile", "FROM busybox\nRUNN x\n")], "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)"),
        (vec![("Dockerfile", "FROM nosuch\n")], "pull access denied for nosuch, repository does not exist: not found"),
        (vec![("Dockerfile", "FROM busybox\nCOPY *.none /x/\n")], "COPY failed: no source files were specified"),
        (vec![("Dockerfile", "FROM busybox\nCOPY a b /x\n"), ("a", ""), ("b", "")], "When using COPY with more than one source file, the destination must be a directory and end with a /"),
        (vec![("Dockerfile", "FROM busybox\nCOPY --chown=nobody a /x\n"), ("a", "")], "COPY failed: unable to convert uid/gid chown string to host mapping: can't find uid for user nobody: no such user nobody in /etc/passwd"),
        (vec![("Dockerfile", "FROM busybox AS first\nCOPY --from=later /a /a\nFROM busybox AS later\nFROM busybox\nCOPY --from=first /a /a\n")], "invalid from flag value later: refers to current or future build stage"),
        (vec![("Dockerfile", "FROM busybox\nSTOPSIGNAL SIGNOPE\n")], "Invalid signal: SIGNOPE"),
        (vec![("Other", "FROM busybox\n")], "Cannot locate specified Dockerfile: Dockerfile"),
    ];
    for (files, want) in cases {
        let (_f, _d, b) = quick(&files).await;
        assert_eq!(b.err(), want, "{files:?}");
        let last = b.msgs.last().unwrap();
        assert_eq!(last["error"], want);
    }
    let (_f, _d, b) = quick(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]).await;
    assert_eq!(b.msgs.last().unwrap()["errorDetail"]["code"], 3);
}

#[tokio::test]
async fn copy_semantics() {
    let df = r#"FROM busybox
WORKDIR /w
COPY dir /d1
COPY dir/ /d2/
COPY file.txt .
COPY file.txt named
COPY *.md /docs/
COPY --chown=app:staff --chmod=600 file.txt /owned
COPY --chown=1234 file.txt /num
COPY --chown=app file.txt /byname
COPY link /linkcopy
COPY <<EOF /inline.txt
hello $HOME
EOF
COPY dir /tmp
"#;
    let files = [
        ("Dockerfile", df),
        ("dir/a", "A"),
        ("dir/sub/b", "B"),
        ("file.txt", "F"),
        ("x.md", "X"),
        ("y.md", "Y"),
        ("link", "->file.txt"),
    ];
    let (fake, _d, b) = quick(&files).await;
    let img = fake.img(&b.id());
    let fs = &img.fs;
    assert_eq!(file_of(&fake, &b.id(), "d1/a"), "A");
    assert_eq!(file_of(&fake, &b.id(), "d1/sub/b"), "B");
    assert_eq!(file_of(&fake, &b.id(), "d2/sub/b"), "B");
    assert_eq!(file_of(&fake, &b.id(), "w/file.txt"), "F");
    assert_eq!(file_of(&fake, &b.id(), "w/named"), "F");
    assert_eq!(file_of(&fake, &b.id(), "docs/x.md"), "X");
    assert_eq!(file_of(&fake, &b.id(), "docs/y.md"), "Y");
    assert_eq!(
        (fs["owned"].uid, fs["owned"].gid, fs["owned"].mode),
        (1000, 50, 0o600)
    );
    assert_eq!((fs["num"].uid, fs["num"].gid), (1234, 1234));
    assert_eq!((fs["byname"].uid, fs["byname"].gid), (1000, 1001));
    // A symlink named as a source is followed.
    assert_eq!(file_of(&fake, &b.id(), "linkcopy"), "F");
    assert_eq!(file_of(&fake, &b.id(), "inline.txt"), "hello \n");
    // Copying into an existing directory keeps it (and its mode).
    assert_eq!(fs["tmp"].mode, 0o1777);
    assert_eq!(file_of(&fake, &b.id(), "tmp/a"), "A");
    assert_eq!(fs["d1"].node, Node::Dir);
}

#[tokio::test]
async fn add_extracts_local_tar_gz() {
    let dir = tempfile::tempdir().unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o640);
    tb.append_data(&mut h, "inner/file", &b"abc"[..]).unwrap();
    let raw = tb.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    std::fs::write(dir.path().join("a.tar.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.path().join("plain.tar"), &raw).unwrap();
    let fake = Fake::new();
    write_ctx(
        dir.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nADD a.tar.gz /x/\nADD plain.tar /y\nCOPY a.tar.gz /z/\n",
        )],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    let id = b.id();
    assert_eq!(file_of(&fake, &id, "x/inner/file"), "abc");
    assert_eq!(fake.img(&id).fs["x/inner/file"].mode, 0o640);
    assert_eq!(file_of(&fake, &id, "y/inner/file"), "abc");
    assert!(fake.img(&id).fs.contains_key("z/a.tar.gz"));
}

#[tokio::test]
async fn tar_context_and_unsafe_entries() {
    let mut tb = tar::Builder::new(Vec::new());
    let df = b"FROM busybox\nCOPY . /c/\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(df.len() as u64);
    h.set_mode(0o644);
    tb.append_data(&mut h, "Dockerfile", &df[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o755);
    tb.append_data(&mut h, "bin/tool", &b"hi"[..]).unwrap();
    let raw = tb.into_inner().unwrap();
    let fake = Fake::new();
    let out = Output::discard();
    let r = build(
        fake.as_ref(),
        BuildContext::Tar(Box::new(std::io::Cursor::new(raw))),
        BuildOptions::default(),
        &out,
    )
    .await
    .unwrap();
    assert_eq!(file_of(&fake, &r.image_id, "c/bin/tool"), "hi");
    assert_eq!(fake.img(&r.image_id).fs["c/bin/tool"].mode, 0o755);
    // An entry escaping the context is refused.
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    let mut raw2 = h.as_bytes().to_vec();
    raw2.extend_from_slice(&[0u8; 1024]);
    let err = build(
        fake.as_ref(),
        BuildContext::Tar(Box::new(std::io::Cursor::new(raw2))),
        BuildOptions::default(),
        &out,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("leaves the build context"),
        "{err}"
    );
}

#[tokio::test]
async fn onbuild_triggers_run_in_child() {
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\nONBUILD RUN echo trig > /t\nONBUILD ENV T=1\n",
            ),
            ("x", ""),
        ],
    );
    let mut opts = BuildOptions::default();
    opts.tags.push("parent:latest".into());
    let b = run(&fake, dir.path(), opts).await;
    b.id();
    assert!(b.text().contains("Successfully tagged parent:latest"));
    write_ctx(dir.path(), &[("Dockerfile", "FROM parent\nRUN true\n")]);
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    let id = b.id();
    assert!(
        b.text().contains("# Executing 2 build triggers\n"),
        "{}",
        b.text()
    );
    assert_eq!(file_of(&fake, &id, "t"), "trig\n");
    let c = cfg(&fake, &id);
    assert!(c["config"].get("OnBuild").is_none(), "{c}");
    assert!(c["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "T=1"));
}

#[tokio::test]
async fn run_details_heredoc_mounts_user_workdir_labels() {
    let df = r#"FROM busybox
USER app
WORKDIR /srv
RUN --network=none --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok <<EOF
echo hi > /h
EOF
RUN cat <<EOF > /x
body
EOF
RUN --mount=type=bind,source=dir,target=/src true
"#;
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(dir.path(), &[("Dockerfile", df), ("dir/f", "1")]);
    let mut labels = BTreeMap::new();
    labels.insert("org.x".to_string(), "y".to_string());
    let b = run(
        &fake,
        dir.path(),
        BuildOptions {
            labels: labels.clone(),
            ..Default::default()
        },
    )
    .await;
    // `cat` is not in the fake shell: the heredoc RUN fails there, which
    // is fine for checking the script; use `true` bodies below.
    let _ = b;
    let df = df.replace(
        "RUN cat <<EOF > /x\nbody\nEOF\n",
        "RUN true <<EOF\nbody\nEOF\n",
    );
    write_ctx(dir.path(), &[("Dockerfile", &df)]);
    let fake = Fake::new();
    let b = run(
        &fake,
        dir.path(),
        BuildOptions {
            labels: labels.clone(),
            ..Default::default()
        },
    )
    .await;
    let id = b.id();
    let runs = fake.runs.lock().unwrap().clone();
    assert_eq!(runs[0].cmd, vec!["/bin/sh", "-c", "echo hi > /h\n"]);
    assert_eq!(runs[0].user, "app");
    assert_eq!(runs[0].workdir, "/srv");
    assert_eq!(runs[0].network, builder::RunNetwork::None);
    assert_eq!(runs[0].mounts.len(), 2);
    assert_eq!(runs[0].mounts[0].target, "/root/.cache");
    assert!(
        matches!(&runs[0].mounts[0].source, builder::MountSource::Cache { id, .. } if id == "/root/.cache")
    );
    assert_eq!(runs[0].mounts[1].target, "/run/secrets/tok");
    assert_eq!(runs[1].cmd[2], "true <<EOF\nbody\nEOF\n");
    assert!(
        matches!(&runs[2].mounts[0].source, builder::MountSource::Context { path } if path.ends_with("dir"))
    );
    assert_eq!(file_of(&fake, &id, "h"), "hi\n");
    let c = cfg(&fake, &id);
    assert_eq!(c["config"]["Labels"]["org.x"], "y");
    assert!(
        b.text().contains("Step 7/7 : LABEL org.x=y"),
        "{}",
        b.text()
    );
    // The bound directory's content is part of the RUN's cache key.
    let b2 = run(
        &fake,
        dir.path(),
        BuildOptions {
            labels: labels.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(b2.text().matches("Using cache").count(), 6, "{}", b2.text());
    write_ctx(dir.path(), &[("dir/f", "2")]);
    let b3 = run(
        &fake,
        dir.path(),
        BuildOptions {
            labels,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(b3.text().matches("Using cache").count(), 4, "{}", b3.text());
}

#[tokio::test]
async fn quiet_prints_only_the_id() {
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[("Dockerfile", "FROM busybox\nRUN echo visible\n")],
    );
    let b = run(
        &fake,
        dir.path(),
        BuildOptions {
            quiet: true,
            ..Default::default()
        },
    )
    .await;
    let id = b.id();
    assert_eq!(b.text(), format!("{id}\n"));
}

#[tokio::test]
async fn scratch_and_empty() {
    let (fake, _d, b) = quick(&[
        ("Dockerfile", "FROM scratch\nCOPY f /f\nCMD [\"/f\"]\n"),
        ("f", "x"),
    ])
    .await;
    let id = b.id();
    let img = fake.img(&id);
    assert_eq!(img.layers, 1);
    assert_eq!(img.config["os"], "linux");
    let (_f, _d, b) = quick(&[("Dockerfile", "FROM scratch\n")]).await;
    assert_eq!(b.err(), "No image was generated. Is your Dockerfile empty?");
}

async fn http_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = req.split(' ').nth(1).unwrap_or("/").to_string();
                let resp = match path.as_str() {
                    "/files/data.txt" => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_string(),
                    "/chunked/c.txt" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_string(),
                    "/r" => "HTTP/1.1 302 Found\r\nLocation: /files/data.txt\r\nContent-Length: 0\r\n\r\n".to_string(),
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope".to_string(),
                };
                s.write_all(resp.as_bytes()).await.unwrap();
            });
        }
    });
    port
}

#[tokio::test]
async fn add_url_downloads() {
    let port = http_server().await;
    let df = format!(
        "FROM busybox\nADD http://127.0.0.1:{port}/files/data.txt /d/\nADD http://127.0.0.1:{port}/r /named\nADD http://127.0.0.1:{port}/chunked/c.txt /c.txt\n"
    );
    let (fake, dir, b) = quick(&[("Dockerfile", &df)]).await;
    let id = b.id();
    assert_eq!(file_of(&fake, &id, "d/data.txt"), "hello");
    assert_eq!(fake.img(&id).fs["d/data.txt"].mode, 0o600);
    assert_eq!(file_of(&fake, &id, "named"), "hello");
    assert_eq!(file_of(&fake, &id, "c.txt"), "abc");
    // Same content: cached.
    let b2 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b2.id(), id);
    write_ctx(
        dir.path(),
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD http://127.0.0.1:{port}/missing /x\n"),
        )],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(
        b.err(),
        format!("failed to GET http://127.0.0.1:{port}/missing with status 404 Not Found: nope")
    );
    write_ctx(
        dir.path(),
        &[("Dockerfile", "FROM busybox\nADD https://127.0.0.1:1/x /x\n")],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(
        b.err(),
        "ADD of an https URL (https://127.0.0.1:1/x) is not supported"
    );
}

#[tokio::test]
async fn bind_mount_from_tar_context_is_written_out() {
    use std::sync::Mutex;
    // A backend wrapper that checks the bound directory during run().
    struct Check {
        inner: Arc<Fake>,
        seen: Mutex<Vec<String>>,
    }
    #[async_trait::async_trait]
    impl builder::BuildBackend for Check {
        async fn image(
            &self,
            r: &str,
            p: Option<&str>,
            pull: bool,
            o: &Output,
        ) -> Result<builder::BaseImage, builder::BackendError> {
            self.inner.image(r, p, pull, o).await
        }
        async fn run(
            &self,
            parent: &str,
            run: builder::RunRequest,
            c: Value,
            o: &Output,
        ) -> Result<String, builder::BackendError> {
            for m in &run.mounts {
                if let builder::MountSource::Context { path } = &m.source {
                    let f = std::fs::read_to_string(path.join("f")).unwrap();
                    let link = std::fs::read_link(path.join("l")).unwrap();
                    self.seen
                        .lock()
                        .unwrap()
                        .push(format!("{f}|{}", link.display()));
                }
            }
            self.inner.run(parent, run, c, o).await
        }
        async fn add_layer(
            &self,
            p: Option<&str>,
            t: builder::BoxedRead,
            c: Value,
            hints: &builder::LayerHints,
        ) -> Result<String, builder::BackendError> {
            self.inner.add_layer(p, t, c, hints).await
        }
        async fn commit_config(
            &self,
            p: Option<&str>,
            c: Value,
        ) -> Result<String, builder::BackendError> {
            self.inner.commit_config(p, c).await
        }
        async fn export_path(
            &self,
            i: &str,
            p: &str,
        ) -> Result<builder::BoxedRead, builder::BackendError> {
            self.inner.export_path(i, p).await
        }
        async fn tag(&self, i: &str, r: &str) -> Result<(), builder::BackendError> {
            self.inner.tag(i, r).await
        }
        async fn cache_get(&self, k: &str) -> Result<Option<String>, builder::BackendError> {
            self.inner.cache_get(k).await
        }
        async fn cache_put(&self, k: &str, i: &str) -> Result<(), builder::BackendError> {
            self.inner.cache_put(k, i).await
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN --mount=type=bind,source=d,target=/d true\n",
            ),
            ("d/f", "content"),
            ("d/l", "->f"),
        ],
    );
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir.path()).unwrap();
    let raw = b.into_inner().unwrap();
    let check = Check {
        inner: Fake::new(),
        seen: Mutex::new(vec![]),
    };
    build(
        &check,
        BuildContext::Tar(Box::new(std::io::Cursor::new(raw))),
        BuildOptions::default(),
        &Output::discard(),
    )
    .await
    .unwrap();
    assert_eq!(*check.seen.lock().unwrap(), vec!["content|f".to_string()]);
    let runs = check.inner.runs.lock().unwrap().clone();
    let builder::MountSource::Context { path } = &runs[0].mounts[0].source else {
        panic!()
    };
    assert!(
        !path.exists(),
        "temporary bind source removed after the run"
    );
}

/// The same Dockerfile built by a real dockerd 20.10 (classic builder,
/// `--build-arg V=3 --label x=y --target base`): its `docker history` and
/// config, recorded by hand on this machine. Hashes differ (moby's tarsum), so
/// they are masked.
#[tokio::test]
async fn history_and_config_match_docker_20_10() {
    let df = r#"ARG G=1
FROM busybox AS base
ARG V=2
ENV A=1 B="two words"
LABEL version="1.0" desc=$B
EXPOSE 80 53/udp
VOLUME /data /other
USER app:app
WORKDIR /srv
WORKDIR sub
USER root
RUN echo $V > /v
COPY file.txt /f
COPY dir /d/
COPY --chown=app:staff file.txt dir/a /multi/
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD echo ok
SHELL ["/bin/sh", "-ec"]
CMD echo $A
ENTRYPOINT ["/bin/sh"]
ONBUILD RUN echo child
FROM scratch
COPY --from=base /v /v
"#;
    let docker_history = r#"/bin/sh -ec #(nop)  LABEL x=y
/bin/sh -ec #(nop)  ONBUILD RUN echo child
/bin/sh -ec #(nop)  ENTRYPOINT ["/bin/sh"]
/bin/sh -ec #(nop)  CMD ["/bin/sh" "-ec" "echo $A"]
/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]
/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "echo ok"] "30s" "3s" "0s" '\x02'}
/bin/sh -c #(nop)  STOPSIGNAL SIGKILL
/bin/sh -c #(nop) COPY --chown=app:staffmulti:HASH in /multi/ 
/bin/sh -c #(nop) COPY dir:HASH in /d/ 
/bin/sh -c #(nop) COPY file:HASH in /f 
|1 V=3 /bin/sh -c echo $V > /v
/bin/sh -c #(nop)  USER root
/bin/sh -c #(nop) WORKDIR /srv/sub
/bin/sh -c #(nop) WORKDIR /srv
/bin/sh -c #(nop)  USER app:app
/bin/sh -c #(nop)  VOLUME [/data /other]
/bin/sh -c #(nop)  EXPOSE 53/udp 80
/bin/sh -c #(nop)  LABEL version=1.0 desc=two words
/bin/sh -c #(nop)  ENV A=1 B=two words
/bin/sh -c #(nop)  ARG V=2"#;
    let docker_config = serde_json::json!({
        "User": "root",
        "ExposedPorts": {"53/udp": {}, "80/tcp": {}},
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two words"],
        "Entrypoint": ["/bin/sh"],
        "Cmd": ["/bin/sh", "-ec", "echo $A"],
        "Volumes": {"/data": {}, "/other": {}},
        "WorkingDir": "/srv/sub",
        "Labels": {"desc": "two words", "version": "1.0", "x": "y"},
        "StopSignal": "SIGKILL",
        "Healthcheck": {"Test": ["CMD-SHELL", "echo ok"], "Interval": 30000000000u64, "Timeout": 3000000000u64, "Retries": 2},
        "OnBuild": ["RUN echo child"],
        "Shell": ["/bin/sh", "-ec"]
    });
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[("Dockerfile", df), ("file.txt", "F\n"), ("dir/a", "A\n")],
    );
    let mut opts = BuildOptions {
        target: Some("base".into()),
        ..Default::default()
    };
    opts.build_args.insert("V".into(), Some("3".into()));
    opts.build_args.insert("UNUSED".into(), Some("1".into()));
    opts.labels.insert("x".into(), "y".into());
    let b = run(&fake, dir.path(), opts).await;
    let id = b.id();
    let c = cfg(&fake, &id);
    let mut ours: Vec<String> = history(&c)[1..]
        .iter()
        .map(|(h, _)| {
            let mut out = String::new();
            let mut rest = h.as_str();
            while let Some(i) = rest
                .find(|c: char| c.is_ascii_hexdigit())
                .filter(|_| rest.len() >= 64)
            {
                let cand = &rest[i..];
                if cand.len() >= 64
                    && cand[..64]
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                {
                    out.push_str(&rest[..i]);
                    out.push_str("HASH");
                    rest = &cand[64..];
                } else {
                    out.push_str(&rest[..i + 1]);
                    rest = &rest[i + 1..];
                }
            }
            out.push_str(rest);
            out
        })
        .collect();
    ours.reverse();
    assert_eq!(ours.join("\n"), docker_history);
    let mut got = c["config"].clone();
    assert_eq!(
        got.as_object_mut().unwrap().len(),
        docker_config.as_object().unwrap().len(),
        "{got}"
    );
    assert_eq!(got, docker_config);
    let text = b.text();
    assert!(
        text.starts_with("Step 1/22 : ARG G=1\nStep 2/22 : FROM busybox AS base\n"),
        "{text}"
    );
    assert!(text.contains("Step 22/22 : LABEL x=y\n"), "{text}");
    assert!(
        text.contains("[Warning] One or more build-args [UNUSED] were not consumed\n"),
        "{text}"
    );
    // The multi-source COPY gave the files the --chown owner.
    let fs = fake.img(&id).fs;
    assert_eq!((fs["multi/a"].uid, fs["multi/a"].gid), (1000, 50));
    // Whole Dockerfile: the scratch stage counts its steps after the first stage.
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    let text = b.text();
    assert!(
        text.contains("Step 22/23 : FROM scratch\n ---> \nStep 23/23 : COPY --from=base /v /v\n"),
        "{text}"
    );
    let c = cfg(&fake, &b.id());
    assert_eq!(
        c["config"],
        serde_json::json!({"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]})
    );
    assert_eq!(history(&c).len(), 1);
    assert!(history(&c)[0].0.starts_with("/bin/sh -c #(nop) COPY file:"));
}

/// A second Dockerfile checked against dockerd 20.10 (`--build-arg G=5
/// --build-arg NOVAL=q`): arg scoping in history, exec-form RUN, WORKDIR on an
/// existing directory, COPY --chown of a directory, ADD of a local archive.
#[tokio::test]
async fn second_dockerfile_matches_docker_20_10() {
    use std::os::unix::fs::PermissionsExt;
    let df = r#"ARG G=1
FROM busybox
ARG G
ARG NOVAL
ENV E 1
RUN ["echo", "hi"]
RUN echo $G
WORKDIR /tmp
COPY f2 /tmp
COPY --chown=1000:1000 d /newdir
ADD a.tgz /ex/
EXPOSE 8000-8001/tcp
"#;
    let docker_history = r#"/bin/sh -c #(nop)  EXPOSE 8000-8001/tcp
/bin/sh -c #(nop) ADD file:HASH in /ex/ 
/bin/sh -c #(nop) COPY --chown=1000:1000dir:HASH in /newdir 
/bin/sh -c #(nop) COPY file:HASH in /tmp 
/bin/sh -c #(nop) WORKDIR /tmp
|2 G=5 NOVAL=q /bin/sh -c echo $G
|2 G=5 NOVAL=q echo hi
/bin/sh -c #(nop)  ENV E=1
/bin/sh -c #(nop)  ARG NOVAL
/bin/sh -c #(nop)  ARG G"#;
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[("Dockerfile", df), ("d/sub/f", "x\n"), ("f2", "y\n")],
    );
    std::fs::set_permissions(dir.path().join("d"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(
        dir.path().join("d/sub"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    tb.append_dir_all("d", dir.path().join("d")).unwrap();
    tb.append_path_with_name(dir.path().join("f2"), "f2")
        .unwrap();
    let raw = tb.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    std::fs::write(dir.path().join("a.tgz"), gz.finish().unwrap()).unwrap();
    // The fake's busybox has /tmp as a directory already.
    let fake = Fake::new();
    let mut opts = BuildOptions::default();
    opts.build_args.insert("G".into(), Some("5".into()));
    opts.build_args.insert("NOVAL".into(), Some("q".into()));
    let b = run(&fake, dir.path(), opts).await;
    let id = b.id();
    let c = cfg(&fake, &id);
    let mut ours: Vec<String> = history(&c)[1..]
        .iter()
        .map(|(h, _)| {
            let words: Vec<String> = h
                .split(':')
                .map(|w| {
                    if w.len() >= 64 && w[..64].chars().all(|c| c.is_ascii_hexdigit()) {
                        format!("HASH{}", &w[64..])
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            words.join(":")
        })
        .collect();
    ours.reverse();
    assert_eq!(ours.join("\n"), docker_history);
    let fs = fake.img(&id).fs;
    let m = |p: &str| (fs[p].mode, fs[p].uid, fs[p].gid);
    assert_eq!(m("tmp"), (0o1777, 0, 0));
    assert_eq!(m("tmp/f2").1, 0);
    assert_eq!(m("newdir"), (0o755, 1000, 1000));
    assert_eq!(m("newdir/sub"), (0o755, 1000, 1000));
    assert_eq!(m("newdir/sub/f").1, 1000);
    assert_eq!(m("ex/d").0, 0o700);
    assert_eq!(file_of(&fake, &id, "ex/d/sub/f"), "x\n");
    assert_eq!(file_of(&fake, &id, "ex/f2"), "y\n");
    let text = b.text();
    assert!(text.contains("Step 3/12 : ARG G\n"), "{text}");
    assert!(
        text.contains("Step 12/12 : EXPOSE 8000-8001/tcp\n"),
        "{text}"
    );
    let runs = fake.runs.lock().unwrap().clone();
    assert_eq!(runs[0].cmd, vec!["echo", "hi"]);
    assert!(runs[1].env.contains(&"G=5".to_string()));
}

#[tokio::test]
async fn copy_exclude_parents_and_add_checksum() {
    let files = [
        ("Dockerfile", "FROM busybox\nCOPY --exclude=*.log --exclude=sub/skip dir /d/\nCOPY --exclude=*.md *.txt *.md /t/\n"),
        ("dir/a.txt", "a"),
        ("dir/b.log", "b"),
        ("dir/sub/skip", "s"),
        ("dir/sub/keep", "k"),
        ("x.txt", "x"),
        ("y.md", "y"),
    ];
    let (fake, dir, b) = quick(&files).await;
    let fs = fake.img(&b.id()).fs;
    assert!(fs.contains_key("d/a.txt") && fs.contains_key("d/sub/keep"));
    assert!(!fs.contains_key("d/b.log") && !fs.contains_key("d/sub/skip"));
    assert!(fs.contains_key("t/x.txt") && !fs.contains_key("t/y.md"));
    write_ctx(
        dir.path(),
        &[("Dockerfile", "FROM busybox\nCOPY --parents dir/a.txt /p/\n")],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b.err(), "COPY --parents is not supported");
    let port = http_server().await;
    let good = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    write_ctx(
        dir.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD --checksum={good} http://127.0.0.1:{port}/files/data.txt /d\n"
            ),
        )],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(file_of(&fake, &b.id(), "d"), "hello");
    let bad = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    write_ctx(
        dir.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD --checksum={bad} http://127.0.0.1:{port}/files/data.txt /d\n"
            ),
        )],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b.err(), format!("digest mismatch {good}: {bad}"));
    write_ctx(
        dir.path(),
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD --checksum={good} x.txt /d\n"),
        )],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(
        b.err(),
        "checksum can't be specified for non-HTTP(S) sources"
    );
}

#[tokio::test]
async fn platform_args() {
    let df = "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH\nARG TARGETPLATFORM\nRUN env > /e\n";
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(dir.path(), &[("Dockerfile", df)]);
    let b = run(
        &fake,
        dir.path(),
        BuildOptions {
            platform: Some("linux/arm64".into()),
            ..Default::default()
        },
    )
    .await;
    let e = file_of(&fake, &b.id(), "e");
    assert!(
        e.contains("TARGETARCH=arm64\n") && e.contains("TARGETPLATFORM=linux/arm64\n"),
        "{e}"
    );
    assert!(!b.text().contains("[Warning]"));
}

#[tokio::test]
async fn failing_stage_stops_the_build_early_and_from_globs() {
    let df = "FROM busybox AS slow\nRUN sleep 3000\nFROM busybox AS bad\nRUN exit 7\nFROM busybox\nCOPY --from=slow /x /x\nCOPY --from=bad /y /y\n";
    let start = Instant::now();
    let (_f, _d, b) = quick(&[("Dockerfile", df)]).await;
    assert_eq!(
        b.err(),
        "The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    let df = "FROM busybox AS s\nRUN mkdir -p /out/sub && echo 1 > /out/a.txt && echo 2 > /out/b.txt && echo 3 > /out/sub/c.txt\nFROM scratch\nCOPY --from=s /out/*.txt /txt/\nCOPY --from=s /../out/sub /sub\nCOPY --from=s /out /all\n";
    let (fake, _d, b) = quick(&[("Dockerfile", df)]).await;
    let id = b.id();
    assert_eq!(file_of(&fake, &id, "txt/a.txt"), "1\n");
    assert_eq!(file_of(&fake, &id, "txt/b.txt"), "2\n");
    assert!(!fake.img(&id).fs.contains_key("txt/c.txt"));
    assert_eq!(file_of(&fake, &id, "sub/c.txt"), "3\n");
    assert_eq!(file_of(&fake, &id, "all/sub/c.txt"), "3\n");
    assert_eq!(file_of(&fake, &id, "all/a.txt"), "1\n");
    let df = "FROM busybox AS s\nFROM scratch\nCOPY --from=s /nope /x\n";
    let (_f, _d, b) = quick(&[("Dockerfile", df)]).await;
    assert_eq!(
        b.err(),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat /nope: file does not exist"
    );
}

#[tokio::test]
async fn copy_from_follows_a_final_symlink_in_the_image() {
    let fake = Fake::new();
    let mut fs = fake
        .img(&fake.refs.lock().unwrap()["busybox:latest"].clone())
        .fs;
    fs.insert(
        "bin/busybox".into(),
        fake::Meta {
            mode: 0o755,
            ..fake::file("BB")
        },
    );
    fs.insert(
        "bin/ls".into(),
        fake::Meta {
            node: Node::Link("/bin/busybox".into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        },
    );
    fake.add_image("tools:latest", fs, serde_json::json!({"config": {}}));
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY --from=tools /bin/ls /x/\nCOPY --from=tools / /root/\n",
        )],
    );
    let b = run(&fake, dir.path(), BuildOptions::default()).await;
    let id = b.id();
    assert_eq!(file_of(&fake, &id, "x/ls"), "BB");
    assert_eq!(fake.img(&id).fs["x/ls"].mode, 0o755);
    assert_eq!(file_of(&fake, &id, "root/bin/busybox"), "BB");
    assert_eq!(
        fake.img(&id).fs["root/bin/ls"].node,
        Node::Link("/bin/busybox".into())
    );
}

#[tokio::test]
async fn persistent_hash_cache_for_dir_contexts() {
    let fake = Fake::new();
    let cache = tempfile::tempdir().unwrap();
    *fake.hash_dir.lock().unwrap() = Some(cache.path().to_path_buf());
    let dir = tempfile::tempdir().unwrap();
    write_ctx(
        dir.path(),
        &[("Dockerfile", "FROM busybox\nCOPY f /f\n"), ("f", "one")],
    );
    let b1 = run(&fake, dir.path(), BuildOptions::default()).await;
    let id1 = b1.id();
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("\"path\":\"f\""), "{text}");
    // Same content, same size, same mtime: still detected (ctime changed).
    let f = dir.path().join("f");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, "two").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let b2 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(file_of(&fake, &b2.id(), "f"), "two");
    assert_eq!(b2.text().matches("Using cache").count(), 0);
    // The cache is consulted: a poisoned entry for an unchanged file changes
    // the key (proving the file was not re-read).
    let b3 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b3.text().matches("Using cache").count(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let poisoned = text.replace(
        "3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3",
        &"0".repeat(64),
    );
    assert_ne!(poisoned, text, "sha256(\"two\") in {text}");
    std::fs::write(&files[0], poisoned).unwrap();
    let b4 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b4.text().matches("Using cache").count(), 0, "{}", b4.text());
    assert_ne!(id1, b4.id());
}

#[tokio::test]
async fn noop_rebuild_asks_the_backend_only_for_cache_entries() {
    let df = "FROM busybox AS a\nWORKDIR /tmp\nCOPY f /tmp\nCOPY --chown=app f /owned\nRUN echo x > /x\nFROM busybox\nCOPY --from=a /tmp/f /tmp\nWORKDIR /w\n";
    let fake = Fake::new();
    let dir = tempfile::tempdir().unwrap();
    write_ctx(dir.path(), &[("Dockerfile", df), ("f", "F")]);
    let b1 = run(&fake, dir.path(), BuildOptions::default()).await;
    let id = b1.id();
    assert_eq!(file_of(&fake, &id, "tmp/f"), "F");
    let before = fake.calls().len();
    let b2 = run(&fake, dir.path(), BuildOptions::default()).await;
    assert_eq!(b2.id(), id);
    let calls: Vec<String> = fake.calls()[before..].to_vec();
    // Only base images by reference (and cache lookups, not recorded).
    assert!(calls.iter().all(|c| c.starts_with("image ")), "{calls:?}");
}

#[test]
fn build_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let fake = Fake::new();
    let out = Output::discard();
    let f = build(
        fake.as_ref(),
        BuildContext::Dir(".".into()),
        BuildOptions::default(),
        &out,
    );
    assert_send(&f);
    drop(f);
}

#[tokio::test]
async fn copy_from_tells_the_backend_where_files_were() {
    let df = "FROM busybox AS a\nCOPY f /out/f\nCOPY f /out/sub/h\nFROM busybox\nCOPY --from=a /out/f /g\nCOPY --from=a /out /o\n";
    let (fake, _dir, b) = quick(&[("Dockerfile", df), ("f", "F")]).await;
    b.id();
    let hints = fake.hints.lock().unwrap().clone();
    assert_eq!(hints.len(), 4, "{hints:?}");
    assert_eq!(
        hints[0].source, None,
        "a COPY from the context has no source"
    );
    let (img, files) = hints[2].source.clone().expect("COPY --from has a source");
    assert!(img.starts_with("sha256:"), "{img}");
    assert_eq!(files, vec![("g".to_string(), "/out/f".to_string())]);
    let (img2, mut files) = hints[3].source.clone().unwrap();
    assert_eq!(img2, img);
    files.sort();
    assert_eq!(
        files,
        vec![
            ("o/f".to_string(), "/out/f".to_string()),
            ("o/sub/h".to_string(), "/out/sub/h".to_string())
        ]
    );
}

//! Builds: `DOCKER_BUILDKIT=0 docker build` and `berth build` against berthd —
//! instructions and the resulting config, multi-stage, the layer cache (a changed
//! file reruns only the steps from its COPY), `.dockerignore`, and errors.

use std::fs;
use std::path::Path;

use integration::*;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(p, content).unwrap();
    }
}

fn build(d: &TestDaemon, dir: &Path, args: &[&str]) -> Out {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    let ctx = dir.to_str().unwrap().to_string();
    full.push(&ctx);
    d.docker(&full)
}

/// A berthd with busybox imported and an empty context directory; None (the
/// test is skipped) without root, or on dockerd, whose classic builder lacks
/// the Berth feature under test (RUN --mount, secrets, ...).
fn berth_with_context() -> Option<(TestDaemon, tempfile::TempDir)> {
    daemon_with_context().filter(|(d, _)| d.is_berth())
}

/// A daemon with busybox imported and an empty context directory; None (the
/// test is skipped) without root.
fn daemon_with_context() -> Option<(TestDaemon, tempfile::TempDir)> {
    let d = TestDaemon::start_or_skip()?;
    d.import_busybox();
    Some((d, tempfile::tempdir().unwrap()))
}

/// `docker run --rm --network none <args>` (image and command).
fn run_none(d: &TestDaemon, args: &[&str]) -> Out {
    let mut full = vec!["run", "--rm", "--network", "none"];
    full.extend_from_slice(args);
    d.docker(&full)
}

/// Steps taken from the cache: the docker CLI shows the classic builder's
/// ` ---> Using cache`, `berth build` says ` ---> CACHED`.
fn cached_steps(out: &Out) -> usize {
    out.out().matches(" ---> Using cache\n").count() + out.out().matches(" ---> CACHED\n").count()
}

#[test]
fn classic_docker_build_instructions_and_config() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 ARG GREETING=hello\n\
                 ENV APP=/app WHO=world\n\
                 WORKDIR $APP\n\
                 COPY hello.txt ./\n\
                 COPY dir/ sub/\n\
                 RUN echo \"$GREETING $WHO\" > made.txt && rm -f /etc/motd\n\
                 LABEL org.example.k=v\n\
                 EXPOSE 8080/tcp\n\
                 USER 1000:1000\n\
                 STOPSIGNAL SIGINT\n\
                 CMD [\"cat\", \"made.txt\", \"hello.txt\", \"sub/a\"]\n",
            ),
            ("hello.txt", "from context\n"),
            ("dir/a", "in dir\n"),
        ],
    );
    let out = build(&d, ctx.path(), &["-t", "built:1"]).ok();
    assert!(out.out().contains("Step 1/12 : FROM busybox"), "{out}");
    assert!(out.out().contains("Successfully tagged built:1"), "{out}");
    let run = run_none(&d, &["built:1"]).ok();
    assert_eq!(run.out(), "hello world\nfrom context\nin dir", "{run}");
    let cfg = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.WorkingDir}}|{{.Config.User}}|{{json .Config.ExposedPorts}}|{{.Config.StopSignal}}|{{index .Config.Labels \"org.example.k\"}}",
            "built:1",
        ])
        .ok();
    assert_eq!(
        cfg.out(),
        "/app|1000:1000|{\"8080/tcp\":{}}|SIGINT|v",
        "{cfg}"
    );
    let history = d.docker(&["history", "--no-trunc", "built:1"]).ok();
    assert!(
        history.out().contains("echo \"$GREETING $WHO\""),
        "{history}"
    );

    // A rebuild is all cache.
    let again = build(&d, ctx.path(), &["-t", "built:1"]).ok();
    assert!(cached_steps(&again) >= 10, "{again}");
    let id1 = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "built:1"])
        .ok();
    // Changing the file of the first COPY reruns from that step on.
    write(ctx.path(), &[("hello.txt", "changed\n")]);
    let changed = build(&d, ctx.path(), &["-t", "built:1"]).ok();
    assert_eq!(
        cached_steps(&changed),
        3,
        "FROM's successors up to WORKDIR: {changed}"
    );
    let id2 = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "built:1"])
        .ok();
    assert_ne!(id1.out(), id2.out());
    let run = run_none(&d, &["built:1"]).ok();
    assert!(run.out().contains("changed"), "{run}");
}

#[test]
fn multi_stage_target_dockerignore_and_berth_build() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox AS builder\n\
                 RUN mkdir /out && echo artifact > /out/bin\n\
                 FROM busybox AS unused\n\
                 RUN exit 9\n\
                 FROM busybox\n\
                 COPY --from=builder /out/bin /usr/local/bin/artifact\n\
                 COPY . /ctx/\n\
                 CMD [\"sh\", \"-c\", \"cat /usr/local/bin/artifact; ls /ctx\"]\n",
            ),
            (".dockerignore", "secret*\n!secret-ok\n"),
            ("secret.key", "no"),
            ("secret-ok", "yes"),
            ("keep.txt", "k"),
        ],
    );
    let out = d
        .berth(&["build", "-t", "ms:1", ctx.path().to_str().unwrap()])
        .ok();
    let all = format!("{}{}", out.out(), out.err());
    assert!(
        !all.contains("exit 9"),
        "the unused stage is skipped: {all}"
    );
    let run = run_none(&d, &["ms:1"]).ok();
    assert!(run.out().starts_with("artifact"), "{run}");
    assert!(
        run.out().contains("keep.txt") && run.out().contains("secret-ok"),
        "{run}"
    );
    assert!(
        !run.out().contains("secret.key"),
        ".dockerignore applies: {run}"
    );

    // --target stops at a stage.
    d.berth(&[
        "build",
        "--target",
        "builder",
        "-t",
        "ms:builder",
        ctx.path().to_str().unwrap(),
    ])
    .ok();
    let run = run_none(&d, &["ms:builder", "cat", "/out/bin"]).ok();
    assert_eq!(run.out(), "artifact");
}

#[test]
fn build_errors_are_clear() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nRUN echo before && exit 3\n")],
    );
    let out = build(&d, ctx.path(), &[]).fail();
    let text = format!("{}{}", out.out(), out.err());
    assert!(
        text.contains("returned a non-zero code: 3"),
        "failing RUN names its code: {text}"
    );
    assert!(text.contains("before"), "its output is shown: {text}");

    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nCOPY missing.txt /\n")],
    );
    let out = build(&d, ctx.path(), &[]).fail();
    assert!(out.err().contains("missing.txt"), "{out}");

    write(ctx.path(), &[("Dockerfile", "FROM busybox\nRUNN true\n")]);
    let out = build(&d, ctx.path(), &[]).fail();
    assert!(
        out.err().contains("line 2") && out.err().to_lowercase().contains("unknown instruction"),
        "{out}"
    );

    write(ctx.path(), &[("Dockerfile", "FROM busybox\nCOPY ../x /\n")]);
    let out = build(&d, ctx.path(), &[]).fail();
    let text = format!("{}{}", out.out(), out.err());
    assert!(text.contains("outside") || text.contains("../x"), "{text}");
    assert!(d.alive());
}

#[test]
fn run_mounts_cache_bind_and_tmpfs() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    let dockerfile = |n: u32| {
        format!(
            "FROM busybox\n\
             RUN --mount=type=cache,target=/cache echo run{n} >> /cache/log && cat /cache/log > /seen\n\
             RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /copied\n\
             RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ! test -e /scratch2\n"
        )
    };
    write(
        ctx.path(),
        &[("Dockerfile", &dockerfile(1)), ("data.txt", "bound\n")],
    );
    d.berth(&["build", "-t", "mounts:1", ctx.path().to_str().unwrap()])
        .ok();
    write(ctx.path(), &[("Dockerfile", &dockerfile(2))]);
    d.berth(&["build", "-t", "mounts:2", ctx.path().to_str().unwrap()])
        .ok();
    let seen = run_none(&d, &["mounts:2", "cat", "/seen", "/copied"]).ok();
    assert_eq!(
        seen.out(),
        "run1\nrun2\nbound",
        "the cache persists across builds: {seen}"
    );
    let ls = run_none(
        &d,
        &[
            "mounts:2",
            "sh",
            "-c",
            "ls /mnt; test -e /cache || echo no-cache; test -e /scratch || echo no-scratch",
        ],
    )
    .ok();
    assert_eq!(
        ls.out(),
        "no-cache\nno-scratch",
        "mount points are not in the image: {ls}"
    );
}

#[test]
fn berth_build_reads_a_local_context_in_place() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox\nCOPY f /f\n"), ("f", "one\n")],
    );
    let dir = ctx.path().to_str().unwrap();
    let out = d.berth(&["build", "-t", "local:1", dir]).ok();
    if d.is_berth() {
        assert!(
            !out.out().contains("Sending build context"),
            "no tar upload: {out}"
        );
    }
    let again = d.berth(&["build", "-t", "local:1", dir]).ok();
    assert!(again.out().contains(" ---> CACHED"), "{again}");
    write(ctx.path(), &[("f", "two\n")]);
    d.berth(&["build", "-t", "local:1", dir]).ok();
    let run = run_none(&d, &["local:1", "cat", "/f"]).ok();
    assert_eq!(run.out(), "two");
    if d.is_berth() {
        // A directory the daemon sees differently is refused before building, so
        // the CLI can send a tar instead.
        let (status, body) = d.api(
            "POST",
            &format!("/build?t=x&berth.contextdir={dir}&berth.contextid=1:2"),
            None,
        );
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("not visible to the daemon"), "{body}");
    }
}

/// Layers a build makes keep no tar (only their files and, for COPY, the tar's
/// layout); save and push make the tar again, and another daemon gets the same
/// image id and files. A rebuild after a one-file change shares the unchanged
/// files with the previous COPY layer.
#[test]
fn built_images_save_load_and_push_to_another_daemon() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    let mut files: Vec<(String, String)> = (0..40)
        .map(|i| {
            (
                format!("src/d{}/f{i}", i % 4),
                format!("file {i}\n").repeat(50),
            )
        })
        .collect();
    files.push((
        "Dockerfile".into(),
        "FROM busybox AS build\nCOPY src/ /src/\nRUN rm /src/d0/f0 && mkdir /out && tar -cf /out/app.tar -C /src . && ln -s app.tar /out/link\n\
         FROM busybox\nCOPY --from=build /out/ /out/\nCOPY --from=build /src/d1 /d1\nRUN rm -rf /etc/passwd && echo done > /done\n"
            .into(),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write(ctx.path(), &refs);
    let dir = ctx.path().to_str().unwrap();
    d.berth(&["build", "-q", "-t", "built:1", dir]).ok();
    write(ctx.path(), &[("src/d2/f2", "changed\n")]);
    d.berth(&["build", "-q", "-t", "built:1", dir]).ok();
    let id = image_id(&d, "built:1");
    let check = |t: &TestDaemon| {
        let out = run_none(t, &["built:1",
                "sh",
                "-c",
                "tar -tf /out/app.tar | wc -l; cat /d1/f1 | wc -c; readlink /out/link; test -e /etc/passwd || echo nopasswd; cat /done; tar -xOf /out/app.tar ./d2/f2",
            ])
            .ok();
        assert_eq!(
            out.lines(),
            ["44", "350", "app.tar", "nopasswd", "done", "changed"],
            "{out}"
        );
    };
    check(&d);

    // save → load elsewhere.
    let file = d.dir.join("built.tar");
    let file = file.to_str().unwrap();
    d.docker(&["save", "-o", file, "built:1"]).ok();
    let other = TestDaemon::start();
    other.docker(&["load", "-i", file]).ok();
    assert_eq!(image_id(&other, "built:1"), id);
    check(&other);

    // push → pull elsewhere.
    let reg = TestRegistry::berth(&[]);
    let r = format!("{}/built/app:1", reg.host());
    d.docker(&["tag", "built:1", &r]).ok();
    d.berth(&["push", &r]).ok();
    let third = TestDaemon::start();
    third.berth(&["pull", &r]).ok();
    assert_eq!(image_id(&third, &r), id);
    third.docker(&["tag", &r, "built:1"]).ok();
    check(&third);
}

/// The image config and `history` (content hashes aside) of a build by berthd
/// are those a real dockerd (Debian's 20.10, classic builder) makes of the same
/// Dockerfile and context.
#[test]
fn same_config_and_history_as_a_real_dockerd() {
    if !is_root() || !have_dockerd() {
        eprintln!("SKIPPED: needs root and Debian's dockerd (docker.io)");
        return;
    }
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "ARG BASE=busybox\n\
                 FROM ${BASE} AS base\n\
                 ARG V=1\n\
                 ENV A=1 B=\"two words\" PATH=/usr/local/bin:/usr/bin:/bin\n\
                 LABEL org.example.x=\"y\" multi=\"a b\"\n\
                 WORKDIR /app\n\
                 COPY f.txt ./\n\
                 COPY dir/ sub/\n\
                 ADD f.txt /added\n\
                 RUN echo \"$V $A\" > /app/v && mkdir -p /data\n\
                 RUN [\"/bin/sh\", \"-c\", \"echo exec form > /app/e\"]\n\
                 EXPOSE 80 443/udp\n\
                 VOLUME [\"/data\"]\n\
                 USER 1000:1000\n\
                 SHELL [\"/bin/sh\", \"-ec\"]\n\
                 STOPSIGNAL SIGTERM\n\
                 HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD true\n\
                 ONBUILD RUN echo onbuild\n\
                 ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
                 CMD [\"echo hi\"]\n\
                 FROM base AS final\n\
                 USER root\n\
                 ENV C=3\n\
                 COPY --from=base /app/v /v\n\
                 RUN echo shell form $C\n\
                 CMD echo shell cmd\n",
            ),
            ("f.txt", "f\n"),
            ("dir/a", "a\n"),
        ],
    );
    let summary = |d: &TestDaemon| {
        d.import_busybox();
        build(
            d,
            ctx.path(),
            &["--network", "none", "--build-arg", "V=7", "-t", "cmp:1"],
        )
        .ok();
        let (status, body) = d.api("GET", "/images/cmp:1/json", None);
        assert_eq!(status, 200, "{body}");
        let img: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut cfg = serde_json::Map::new();
        for k in [
            "Env",
            "Cmd",
            "Entrypoint",
            "WorkingDir",
            "User",
            "ExposedPorts",
            "Volumes",
            "Labels",
            "Healthcheck",
            "StopSignal",
            "Shell",
            "OnBuild",
            "ArgsEscaped",
        ] {
            cfg.insert(k.into(), img["Config"][k].clone());
        }
        cfg.insert("Os".into(), img["Os"].clone());
        cfg.insert("Architecture".into(), img["Architecture"].clone());
        cfg.insert(
            "Layers".into(),
            img["RootFS"]["Layers"].as_array().map(|l| l.len()).into(),
        );
        let (status, body) = d.api("GET", "/images/cmp:1/history", None);
        assert_eq!(status, 200, "{body}");
        let history: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&body)
            .unwrap()
            .iter()
            .map(|h| mask_hashes(h["CreatedBy"].as_str().unwrap_or_default()))
            .collect();
        (serde_json::Value::Object(cfg), history)
    };
    let ours = TestDaemon::start_engine(Engine::Berth);
    let (our_cfg, our_history) = summary(&ours);
    drop(ours);
    let theirs = TestDaemon::start_engine(Engine::Dockerd);
    let (docker_cfg, docker_history) = summary(&theirs);
    assert_eq!(
        serde_json::to_string_pretty(&our_cfg).unwrap(),
        serde_json::to_string_pretty(&docker_cfg).unwrap(),
        "{our_history:#?}\n{docker_history:#?}"
    );
    // The base image's own history entry (import) differs in wording; the
    // build's entries must not.
    let n = docker_history.len().min(our_history.len());
    assert_eq!(
        our_history.len(),
        docker_history.len(),
        "{our_history:#?}\n{docker_history:#?}"
    );
    assert_eq!(our_history[..n - 1], docker_history[..n - 1]);
}

/// `COPY file:<64 hex> in /x` → `COPY file:<hash> in /x` (moby and Berth hash
/// COPY sources differently).
fn mask_hashes(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(':') {
        let (head, tail) = rest.split_at(i + 1);
        out.push_str(head);
        let hex = tail.len() >= 64 && tail.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit);
        if hex
            && ["file:", "dir:", "multi:"]
                .iter()
                .any(|k| head.ends_with(k))
        {
            out.push_str("<hash>");
            rest = &tail[64..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// `RUN --mount=type=secret`: `berth build --secret` sends the values; they are
/// files (or variables) during the step only, never in the image or its history.
#[test]
fn run_mount_secrets() {
    let Some((d, ctx)) = berth_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=secret,id=tok md5sum < /run/secrets/tok > /sum && stat -c %a /run/secrets/tok > /mode\n\
                 RUN --mount=type=secret,id=tok,env=TOK,uid=1000,mode=0440,target=/k echo -n \"$TOK\" | md5sum > /envsum && stat -c '%u %a' /k > /k.meta\n\
                 RUN --mount=type=secret,id=absent echo optional secrets may be missing\n",
            ),
            ("tok.txt", "s3cr3t"),
        ],
    );
    let dir = ctx.path().to_str().unwrap();
    let src = format!("id=tok,src={dir}/tok.txt");
    d.berth(&[
        "build",
        "--network",
        "none",
        "--secret",
        &src,
        "-t",
        "sec:1",
        dir,
    ])
    .ok();
    let run = run_none(
        &d,
        &[
            "sec:1",
            "sh",
            "-c",
            "cat /mode /k.meta /sum /envsum; ls /run/secrets /k 2>&1; true",
        ],
    )
    .ok();
    let md5 = "a4d80eac9ab26a4a2da04125bc2c096a  -";
    assert_eq!(run.lines()[..4], ["400", "1000 440", md5, md5], "{run}");
    assert!(
        !run.out().contains("tok"),
        "no secret file left in the image: {run}"
    );
    let history = d.docker(&["history", "--no-trunc", "sec:1"]).ok();
    assert!(!history.out().contains("s3cr3t"), "{history}");
    // The mount points (/run/secrets/tok, /k) are not in the layers, and the
    // step that changed nothing has no layer (as with moby).
    let layers = d
        .docker(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", "sec:1"])
        .ok();
    assert_eq!(layers.out(), "3", "{layers}");
    let listing = run_none(&d, &["sec:1", "ls", "-a", "/run"]).code_is(1);
    assert!(listing.err().contains("No such file"), "{listing}");

    // A required secret that was not given fails the step, saying how to give it.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=need,required=true true\n",
        )],
    );
    let out = d.berth(&["build", "--network", "none", dir]).fail();
    let text = format!("{}{}", out.out(), out.err());
    assert!(text.contains("secret need not found"), "{text}");
    assert!(text.contains("--secret id=need"), "{text}");
}

/// `RUN --mount=type=bind,from=<stage>` and `type=cache,from=<stage>`: a stage's
/// files without copying them into the layer; a read-write bind's writes are
/// thrown away, a new cache starts as a copy.
#[test]
fn run_mounts_from_a_stage() {
    let Some((d, ctx)) = berth_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox AS tools\n\
             RUN mkdir -p /opt/tool /seed && echo tool > /opt/tool/bin && echo seeded > /seed/s\n\
             FROM busybox\n\
             RUN --mount=type=bind,from=tools,source=/opt/tool,target=/t cat /t/bin > /used\n\
             RUN --mount=type=bind,from=tools,source=/opt/tool,target=/t,rw echo x > /t/scratch && cat /t/bin >> /used\n\
             RUN --mount=type=cache,id=seeded,from=tools,source=/seed,target=/c cat /c/s > /cached\n\
             RUN --mount=type=bind,from=tools,source=/opt/tool,target=/t2 test ! -e /t2/scratch && echo clean >> /used\n",
        )],
    );
    d.berth(&[
        "build",
        "--network",
        "none",
        "-t",
        "from:1",
        ctx.path().to_str().unwrap(),
    ])
    .ok();
    let run = run_none(
        &d,
        &[
            "from:1",
            "sh",
            "-c",
            "cat /used /cached; test -e /t || echo no-mount-point",
        ],
    )
    .ok();
    assert_eq!(
        run.out(),
        "tool\ntool\nclean\nseeded\nno-mount-point",
        "{run}"
    );
    // A missing source is named.
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox AS tools\nFROM busybox\nRUN --mount=type=bind,from=tools,source=/nope,target=/t true\n",
        )],
    );
    let out = d
        .berth(&["build", "--network", "none", ctx.path().to_str().unwrap()])
        .fail();
    assert!(
        format!("{}{}", out.out(), out.err()).contains("/nope"),
        "{out}"
    );
}

/// `RUN --mount=type=ssh`: `berth build --ssh default=<socket>` forwards an
/// agent socket; SSH_AUTH_SOCK points at it during the step only.
#[test]
fn run_mount_ssh_agent() {
    let Some((d, ctx)) = berth_with_context() else {
        return;
    };
    let sock = ctx.path().join("agent.sock");
    let _agent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /agent\n",
        )],
    );
    let dir = ctx.path().to_str().unwrap();
    let spec = format!("default={}", sock.display());
    d.berth(&[
        "build",
        "--network",
        "none",
        "--ssh",
        &spec,
        "-t",
        "ssh:1",
        dir,
    ])
    .ok();
    let run = run_none(
        &d,
        &[
            "ssh:1",
            "sh",
            "-c",
            "cat /agent; test -e /run/buildkit || echo no-socket",
        ],
    )
    .ok();
    assert_eq!(run.out(), "/run/buildkit/ssh_agent.0\nno-socket", "{run}");
    // A required agent that was not forwarded fails the step, saying how to.
    let out = d
        .berth(&["build", "--no-cache", "--network", "none", dir])
        .fail();
    let text = format!("{}{}", out.out(), out.err());
    assert!(text.contains("--ssh default"), "{text}");
}

/// `--cache-from`: on a daemon without a build cache, a loaded image whose
/// history matches the steps provides them (layers and all), as with the
/// classic builder; a changed step and those after it run.
#[test]
fn cache_from_an_image_loaded_elsewhere() {
    let Some((d, ctx)) = daemon_with_context() else {
        return;
    };
    let df = |last: &str| {
        format!(
            "FROM busybox\nRUN echo a > /a\nENV X=1\nCOPY f /f\nRUN echo {last} > /b\nCMD [\"cat\", \"/b\"]\n"
        )
    };
    write(ctx.path(), &[("Dockerfile", &df("b")), ("f", "file\n")]);
    let dir = ctx.path().to_str().unwrap();
    d.berth(&["build", "--network", "none", "-t", "app:1", dir])
        .ok();
    let id = image_id(&d, "app:1");
    let file = d.dir.join("app.tar");
    d.docker(&[
        "save",
        "-o",
        file.to_str().unwrap(),
        "app:1",
        "busybox:latest",
    ])
    .ok();

    // The same base and the cache source on a daemon that never built it.
    let other = TestDaemon::start();
    other.docker(&["load", "-i", file.to_str().unwrap()]).ok();
    let out = other
        .berth(&[
            "build",
            "--network",
            "none",
            "--cache-from",
            "app:1",
            "-t",
            "app:2",
            dir,
        ])
        .ok();
    assert_eq!(
        cached_steps(&out),
        5,
        "every step from the loaded image: {out}"
    );
    assert!(!out.out().contains("Running in"), "{out}");
    assert_eq!(image_id(&other, "app:2"), id, "the very same image");
    // Without --cache-from the steps run; a changed step runs from there on.
    write(ctx.path(), &[("Dockerfile", &df("c"))]);
    let out = other
        .berth(&[
            "build",
            "--network",
            "none",
            "--cache-from",
            "app:1",
            "-t",
            "app:3",
            dir,
        ])
        .ok();
    assert_eq!(cached_steps(&out), 3, "{out}");
    assert_eq!(run_none(&other, &["app:3"]).ok().out(), "c");
}

/// A client that sends `Expect: 100-continue` (curl does for large uploads)
/// gets `100 Continue` before it sends the context, not a final answer it must
/// wait out.
#[test]
fn build_answers_expect_100_continue() {
    use std::io::{Read, Write};
    let Some((d, ctx)) = berth_with_context() else {
        return;
    };
    write(ctx.path(), &[("Dockerfile", "FROM busybox\nENV X=1\n")]);
    let tar = std::process::Command::new("tar")
        .args(["-cf", "-", "-C", ctx.path().to_str().unwrap(), "Dockerfile"])
        .output()
        .unwrap()
        .stdout;
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "POST /build?t=expect:1&q=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        tar.len()
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with("HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    s.write_all(&tar).unwrap();
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&rest).contains("sha256:") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&rest));
        rest.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&rest).contains("200 OK"));
}

/// `RUN --mount=type=cache,sharing=private`: a second user of a cache in use
/// gets its own instance; `sharing=locked` waits for the holder (and a cache
/// mounted twice in one RUN is locked once).
#[test]
fn cache_mount_sharing_modes() {
    let Some((d, ctx)) = berth_with_context() else {
        return;
    };
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=cache,id=p,sharing=private,target=/a --mount=type=cache,id=p,sharing=private,target=/b \
                 echo one > /a/f && ! test -e /b/f && echo private-ok > /p\n\
             RUN --mount=type=cache,id=l,sharing=locked,target=/a --mount=type=cache,id=l,sharing=locked,target=/b \
                 echo two > /a/g && cat /b/g > /l\n",
        )],
    );
    d.berth(&[
        "build",
        "--network",
        "none",
        "-t",
        "sharing:1",
        ctx.path().to_str().unwrap(),
    ])
    .ok();
    let run = run_none(&d, &["sharing:1", "cat", "/p", "/l"]).ok();
    assert_eq!(run.out(), "private-ok\ntwo", "{run}");
}

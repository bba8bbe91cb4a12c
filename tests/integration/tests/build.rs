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

fn cached_steps(out: &Out) -> usize {
    out.out().matches("Using cache").count()
}

#[test]
fn classic_docker_build_instructions_and_config() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
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
    let run = d
        .docker(&["run", "--rm", "--network", "none", "built:1"])
        .ok();
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
    let run = d
        .docker(&["run", "--rm", "--network", "none", "built:1"])
        .ok();
    assert!(run.out().contains("changed"), "{run}");
}

#[test]
fn multi_stage_target_dockerignore_and_berth_build() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
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
    let run = d.docker(&["run", "--rm", "--network", "none", "ms:1"]).ok();
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
    let run = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "ms:builder",
            "cat",
            "/out/bin",
        ])
        .ok();
    assert_eq!(run.out(), "artifact");
}

#[test]
fn build_errors_are_clear() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
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
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
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
    let seen = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "mounts:2",
            "cat",
            "/seen",
            "/copied",
        ])
        .ok();
    assert_eq!(
        seen.out(),
        "run1\nrun2\nbound",
        "the cache persists across builds: {seen}"
    );
    let ls = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "mounts:2",
            "sh",
            "-c",
            "ls /mnt; test -e /cache || echo no-cache; test -e /scratch || echo no-scratch",
        ])
        .ok();
    assert_eq!(
        ls.out(),
        "no-cache\nno-scratch",
        "mount points are not in the image: {ls}"
    );
}

#[test]
fn berth_build_reads_a_local_context_in_place() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
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
    assert!(again.out().contains("Using cache"), "{again}");
    write(ctx.path(), &[("f", "two\n")]);
    d.berth(&["build", "-t", "local:1", dir]).ok();
    let run = d
        .docker(&["run", "--rm", "--network", "none", "local:1", "cat", "/f"])
        .ok();
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
    let d = daemon_or_skip!();
    d.import_busybox();
    let ctx = tempfile::tempdir().unwrap();
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
        let out = t
            .docker(&[
                "run",
                "--rm",
                "--network",
                "none",
                "built:1",
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

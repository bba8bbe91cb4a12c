//! Containment, root only: what a container with Docker's defaults can see and do,
//! under the built-in runtime and under Debian's runc, from the same generated spec.
//!
//! A static probe (`tests/probe/probe.c`, built here with the host's gcc) runs in
//! the container and prints its view (mounts with options, capabilities,
//! no_new_privs, seccomp mode, namespaces, cgroups and their writability, devices,
//! rlimits, oom_score_adj, environment, fds) and a matrix of syscalls. The
//! differential test fails on every difference where the built-in runtime is less
//! confined than runc; the breakout tests try the known escapes and check the host
//! afterwards.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{base_spec, collect, Ctr, Rt};
use runtime::spec::{ContainerSpec, MountSpec, Resources};

/// The hostname the probe insists on before it does anything (it refuses to run
/// on a host).
const PROBE_HOSTNAME: &str = "berth-probe";
const PIDS_LIMIT: i64 = 20;
const MEMORY_LIMIT: i64 = 64 << 20;

/// The probe, compiled once per test process.
fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("berth-containment-probe-{}", std::process::id()));
        let status = std::process::Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("running gcc (Debian's gcc and libc6-dev build the probe)");
        assert!(status.success(), "building the probe failed");
        out
    })
}

/// A Docker-default container running the probe with `args`, limited like
/// `--pids-limit 20 --memory 64m`.
fn probe_spec(dir: &Path, args: &[&str]) -> ContainerSpec {
    let mut spec = base_spec(dir, args);
    std::fs::copy(probe(), spec.rootfs.join("probe")).unwrap();
    for d in ["mnt", "sys/fs/cgroup"] {
        std::fs::create_dir_all(spec.rootfs.join(d)).unwrap();
    }
    for applet in ["date", "cmp"] {
        std::os::unix::fs::symlink("busybox", spec.rootfs.join("bin").join(applet)).unwrap();
    }
    spec.hostname = PROBE_HOSTNAME.into();
    spec.resources = Resources {
        pids_limit: Some(PIDS_LIMIT),
        memory: Some(MEMORY_LIMIT),
        ..Default::default()
    };
    spec
}

/// Runs the probe to completion and returns its `key=value` lines. Keys that hold
/// values which differ from one container to the next (namespace inodes, the
/// container id) are rewritten so that two runs compare.
async fn report(rt: Rt, tweak: impl FnOnce(&mut ContainerSpec)) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = probe_spec(dir.path(), &["/probe", "report"]);
    tweak(&mut spec);
    let id = spec.id.clone();
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let session = c.client.attach(false, true, true).await.unwrap();
    c.client.start().await.unwrap();
    let (out, err, code) = collect(session, 30).await;
    assert_eq!(code, Some(0), "probe failed under {rt:?}: {err}\n{out}");
    assert!(out.contains("probe.done=1"), "{out}");
    let host_ns = |ns: &str| std::fs::read_link(format!("/proc/self/ns/{ns}")).ok();
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.replace(&id, "<id>");
            let v = match k.strip_prefix("ns.") {
                Some(ns) if host_ns(ns).is_some_and(|h| h.to_str() == Some(v.as_str())) => {
                    "host".to_owned()
                }
                Some(_) if v.contains(":[") => "private".to_owned(),
                _ => v,
            };
            (k.to_owned(), v)
        })
        .collect()
}

fn caps(hex: &str) -> u64 {
    u64::from_str_radix(hex, 16).unwrap_or(u64::MAX)
}

fn mount_opts(v: &str) -> Vec<&str> {
    v.split(' ').next().unwrap_or("").split(',').collect()
}

/// Whether `builtin`'s value of `key` is less confined than `runc`'s (`None`: the
/// key is missing on that side).
fn less_confined(key: &str, builtin: Option<&str>, runc: Option<&str>) -> bool {
    let ok = |v: Option<&str>| v == Some("ok");
    if key.starts_with("sys.")
        || key.starts_with("cgroup.mkdir.")
        || key.starts_with("cgroup.write.")
        || key.starts_with("mknod.")
        || key.starts_with("open.")
    {
        return ok(builtin) && !ok(runc);
    }
    if let Some(name) = key.strip_prefix("status.Cap") {
        return name != "Inh"
            && builtin
                .zip(runc)
                .is_some_and(|(b, r)| caps(b) & !caps(r) != 0);
    }
    match key {
        "status.NoNewPrivs" | "status.Seccomp" | "status.Seccomp_filters" => {
            let n = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            return n(builtin) < n(runc);
        }
        "oom_score_adj" => {
            let n = |v: Option<&str>| v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            return n(builtin) < n(runc);
        }
        _ => {}
    }
    if key.starts_with("mount.") {
        return match (builtin, runc) {
            // A mount runc makes (a masked or read-only path) that is missing.
            (None, Some(_)) => true,
            (Some(b), Some(r)) => {
                let (b, r) = (mount_opts(b), mount_opts(r));
                r.iter().any(|o| *o != "rw" && !b.contains(o))
            }
            _ => false,
        };
    }
    if key.starts_with("ns.") {
        return builtin == Some("host") && runc != Some("host");
    }
    if key.starts_with("dev.") || key.starts_with("fd.") {
        // A device node or an open fd runc does not give the container.
        return builtin.is_some() && runc.is_none();
    }
    if let Some(_name) = key.strip_prefix("rlimit.") {
        let hard = |v: Option<&str>| {
            v.and_then(|v| v.split(' ').nth(1))
                .and_then(|h| h.parse::<i64>().ok())
                .map(|h| if h < 0 { i64::MAX } else { h })
        };
        return hard(builtin) > hard(runc);
    }
    false
}

/// The same spec under both runtimes: every difference is printed; the test fails
/// on those where the built-in runtime is less confined.
async fn differential(label: &str, tweak: fn(&mut ContainerSpec)) {
    require_root!();
    let builtin = report(Rt::Builtin, tweak).await;
    let runc = report(Rt::Runc, tweak).await;
    let mut keys: Vec<&String> = builtin.keys().chain(runc.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut worse = Vec::new();
    eprintln!("differences between the built-in runtime and runc ({label}):");
    for key in keys {
        let (b, r) = (
            builtin.get(key).map(String::as_str),
            runc.get(key).map(String::as_str),
        );
        if b == r {
            continue;
        }
        let bad = less_confined(key, b, r);
        eprintln!(
            "  {} {key}: builtin={} runc={}",
            if bad { "LESS CONFINED" } else { "difference" },
            b.unwrap_or("<none>"),
            r.unwrap_or("<none>")
        );
        if bad {
            worse.push(key.clone());
        }
    }
    assert!(
        worse.is_empty(),
        "the built-in runtime is less confined than runc in: {worse:?}"
    );
    // And both are confined as Docker documents it.
    for (name, view) in [("builtin", &builtin), ("runc", &runc)] {
        for key in [
            "sys.clone.newuser",
            "sys.unshare.newuser",
            "sys.unshare.newns",
            "sys.unshare.newcgroup",
            "sys.mount.tmpfs",
            "sys.umount.proc",
            "sys.open_by_handle_at",
            "sys.add_key",
            "sys.keyctl",
            "sys.init_module",
            "sys.finit_module",
            "sys.delete_module",
            "sys.kexec_load",
            "sys.sethostname",
            "sys.setns",
            "sys.sysrq-trigger.open",
            "sys.proc-sys-kernel.open",
            "sys.io_uring_setup",
            "sys.bpf",
            "sys.perf_event_open",
        ] {
            let v = view.get(key).map(String::as_str).unwrap_or("<missing>");
            assert!(v != "ok" && v != "<missing>", "{name}: {key}={v}");
        }
        // Docker lets a container make device nodes (CAP_MKNOD, `b *:* m`) but not
        // open those outside its allow list.
        for key in ["open.block-8-0", "open.char-1-1"] {
            assert_ne!(
                view.get(key).map(String::as_str),
                Some("ok"),
                "{name}: {key}"
            );
        }
        assert_eq!(view["sys.clone.plain"], "ok", "{name}");
        assert_eq!(view["sys.clone3.newuser"], "ENOSYS", "{name}");
        assert_eq!(view["status.Seccomp"], "2", "{name}");
        for (key, value) in view.iter().filter(|(k, _)| k.starts_with("cgroup.write.")) {
            assert_ne!(value, "ok", "{name}: {key} is writable");
        }
        for (key, value) in view.iter().filter(|(k, _)| k.starts_with("cgroup.mkdir.")) {
            assert_ne!(value, "ok", "{name}: {key}");
        }
        // Every cgroup hierarchy is read-only (on cgroup v1 the tmpfs holding them
        // is read-only under the built-in runtime, read-write under runc).
        for (key, value) in view.iter().filter(|(k, v)| {
            k.starts_with("mount./sys/fs/cgroup")
                && (v.contains(" cgroup ") || v.contains(" cgroup2 "))
        }) {
            assert!(mount_opts(value).contains(&"ro"), "{name}: {key}={value}");
        }
    }
}

/// Each class of rule of Docker's seccomp profile that depends on a capability, in
/// both directions: refused without the capability, let through to the kernel with
/// it (where the call may still fail for its arguments, never with EPERM).
async fn capability_rules(rt: Rt) {
    require_root!();
    let default = report(rt, |_| {}).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "CAP_SYS_ADMIN",
            &[
                "sys.clone.newuser",
                "sys.clone3.newuser",
                "sys.unshare.newns",
                "sys.sethostname",
            ],
        ),
        ("CAP_SYS_PACCT", &["sys.acct"]),
        ("CAP_SYS_TIME", &["sys.settimeofday"]),
        ("CAP_SYSLOG", &["sys.syslog"]),
        ("CAP_DAC_READ_SEARCH", &["sys.open_by_handle_at"]),
    ];
    for (cap, keys) in cases {
        let with = report(rt, |s| s.cap_add = vec![cap.to_string()]).await;
        for key in *keys {
            let (without, with) = (&default[*key], &with[*key]);
            assert!(
                without == "EPERM" || without == "ENOSYS",
                "{rt:?}: {key} without {cap}: {without}"
            );
            assert!(
                with != "EPERM" && with != "ENOSYS",
                "{rt:?}: {key} with {cap}: {with}"
            );
        }
    }
}

fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Host files a breakout would change: every hierarchy's release_agent and the
/// berth parent cgroup's notify_on_release.
fn host_breakout_state() -> BTreeMap<String, Option<String>> {
    let mut state = BTreeMap::new();
    for entry in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for file in ["release_agent", "berth/notify_on_release"] {
            let path = entry.path().join(file);
            if path.exists() {
                state.insert(path.display().to_string(), read_trim(&path));
            }
        }
    }
    state
}

/// The known breakouts through the cgroup filesystem and /proc, with the limits
/// checked on the host while the container still runs.
async fn breakouts_are_refused(rt: Rt) {
    require_root!();
    let before = host_breakout_state();
    let dir = tempfile::tempdir().unwrap();
    let spec = probe_spec(
        dir.path(),
        &["sh", "-c", "/probe breakout; echo probe.waiting; sleep 30"],
    );
    let id = spec.id.clone();
    let c = Ctr::create(rt, dir, spec, false, None).await;
    c.client.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.log_text().contains("probe.waiting") {
        assert!(
            Instant::now() < deadline,
            "probe did not finish: {}",
            c.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = c.log_text();
    let results: Vec<(String, String)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["log"].as_str().map(str::to_owned))
        .filter_map(|l| {
            let (k, v) = l.trim_end().split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .filter(|(k, _)| k.starts_with("breakout."))
        .collect();
    assert!(results.len() >= 8, "{log}");
    // On cgroup v1 /sys/fs/cgroup is a tmpfs: a directory there is no cgroup.
    let v1 = Path::new("/sys/fs/cgroup/pids").exists();
    for (key, value) in &results {
        if v1 && key == "breakout.mkdir.root" {
            continue;
        }
        assert_ne!(value, "ok", "{rt:?}: {key} succeeded");
    }
    // On the host: the limits are still in force and nothing else changed.
    let pids = format!("/sys/fs/cgroup/pids/berth/{id}/pids.max");
    let memory = format!("/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes");
    if Path::new("/sys/fs/cgroup/pids/berth").exists() {
        assert_eq!(read_trim(&pids).as_deref(), Some("20"), "{rt:?}: {pids}");
        assert_eq!(
            read_trim(&memory).as_deref(),
            Some(MEMORY_LIMIT.to_string().as_str()),
            "{rt:?}: {memory}"
        );
    } else {
        let v2 = format!("/sys/fs/cgroup/berth/{id}/pids.max");
        assert_eq!(read_trim(&v2).as_deref(), Some("20"), "{rt:?}: {v2}");
    }
    for escape in [
        format!("/sys/fs/cgroup/pids/berth/{id}/escape"),
        format!("/sys/fs/cgroup/berth/{id}/escape"),
    ] {
        assert!(!Path::new(&escape).exists(), "{rt:?}: {escape}");
    }
    assert_eq!(host_breakout_state(), before, "{rt:?}");
    c.client.kill(9).await.unwrap();
    c.client.wait().await.unwrap();
}

#[tokio::test]
async fn differential_docker_defaults() {
    differential("Docker's defaults", |_| {}).await
}

#[tokio::test]
async fn differential_read_only_non_root_with_caps_dropped() {
    differential(
        "--read-only -u nobody --cap-drop ALL --cap-add NET_BIND_SERVICE",
        |s| {
            s.read_only = true;
            s.user = "nobody".into();
            s.cap_drop = vec!["ALL".into()];
            s.cap_add = vec!["NET_BIND_SERVICE".into()];
        },
    )
    .await
}

#[tokio::test]
async fn differential_no_new_privileges() {
    differential("--security-opt no-new-privileges", |s| {
        s.no_new_privileges = true
    })
    .await
}

/// Mount destinations that are symlinks in the image, aimed at a host file by an
/// absolute path and by `..`: the runtime resolves them inside the container's
/// root (the container may fail to start, or gets the mount inside); the host file
/// is never mounted over.
async fn symlinked_mount_destinations_stay_inside(rt: Rt) {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    let victim = host.path().join("victim");
    std::fs::write(&victim, "host\n").unwrap();
    let payload = dir.path().join("payload");
    std::fs::write(&payload, "payload\n").unwrap();
    let mut spec = probe_spec(
        dir.path(),
        &["sh", "-c", "cat /etc/evil-abs /etc/evil-rel; echo done"],
    );
    let etc = spec.rootfs.join("etc");
    std::os::unix::fs::symlink(&victim, etc.join("evil-abs")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../../../..{}", victim.display()),
        etc.join("evil-rel"),
    )
    .unwrap();
    for dest in ["/etc/evil-abs", "/etc/evil-rel"] {
        spec.mounts.push(MountSpec {
            destination: dest.into(),
            source: payload.display().to_string(),
            kind: "bind".into(),
            options: vec!["ro".into()],
        });
    }
    let c = Ctr::create(rt, dir, spec, false, None).await;
    let session = c.client.attach(false, true, true).await.unwrap();
    match c.client.start().await {
        Ok(_) => {
            let (out, err, code) = collect(session, 30).await;
            assert_eq!(code, Some(0), "{rt:?}: {err}");
            assert_eq!(out, "payload\npayload\ndone\n", "{rt:?}");
        }
        Err(err) => eprintln!("{rt:?} refused the symlinked destinations: {err}"),
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "host\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&*victim.to_string_lossy()),
        "{rt:?}: the host file was mounted over"
    );
}

/// CVE-2019-5736: while the runtime enters the container for `exec`, a process of
/// the container must not be able to open the runtime's binary through
/// `/proc/<pid>/exe` (the first step to overwriting it on the host). The container
/// scans /proc for 4 s while the host execs into it again and again; every exe it
/// can open must be its own binary (busybox, compared by content), and the shim's
/// binary is unchanged.
async fn runtime_binary_is_out_of_reach_during_exec(rt: Rt) {
    require_root!();
    let shim_exe = PathBuf::from(env!("CARGO_BIN_EXE_berth-shim"));
    let before = std::fs::read(&shim_exe).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scan = "end=$(( $(date +%s) + 4 )); \
                while [ $(date +%s) -lt $end ]; do \
                  for p in /proc/[0-9]*; do \
                    if cat $p/exe > /tmp/exe 2>/dev/null; then \
                      cmp -s /tmp/exe /bin/busybox || echo \"OPENED $p $(wc -c < /tmp/exe)\"; \
                    fi; \
                  done; \
                done; echo scan.done; sleep 30";
    let spec = probe_spec(dir.path(), &["sh", "-c", scan]);
    let c = Ctr::create(rt, dir, spec, false, None).await;
    c.client.start().await.unwrap();
    let base: oci_spec::runtime::Spec =
        serde_json::from_slice(&std::fs::read(c.cfg.bundle.join("config.json")).unwrap()).unwrap();
    let rootfs = c.dir.path().join("rootfs");
    let mut execs = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.log_text().contains("scan.done") {
        assert!(
            Instant::now() < deadline,
            "the scan did not finish: {}",
            c.log_text()
        );
        let p = runtime::spec::exec_process(
            &base,
            &rootfs,
            &runtime::spec::ExecConfig {
                args: vec!["true".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let (_, s) = c
            .client
            .exec(&format!("e{execs}"), p, false, false)
            .await
            .unwrap();
        collect(s, 20).await;
        execs += 1;
    }
    let log = c.log_text();
    let opened: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("OPENED ").nth(1))
        .map(|l| l.split('"').next().unwrap_or(l).trim_end_matches("\\n"))
        .collect();
    assert!(execs > 5, "{rt:?}: only {execs} execs during the scan");
    assert!(opened.is_empty(), "{rt:?}: opened {opened:?}");
    assert!(
        std::fs::read(&shim_exe).unwrap() == before,
        "{rt:?}: the shim binary changed"
    );
    c.client.kill(9).await.unwrap();
    c.client.wait().await.unwrap();
}

macro_rules! per_runtime {
    ($rt:expr) => {
        #[tokio::test]
        async fn capability_rules() {
            super::capability_rules($rt).await
        }
        #[tokio::test]
        async fn symlinked_mount_destinations_stay_inside() {
            super::symlinked_mount_destinations_stay_inside($rt).await
        }
        #[tokio::test]
        async fn runtime_binary_is_out_of_reach_during_exec() {
            super::runtime_binary_is_out_of_reach_during_exec($rt).await
        }
        #[tokio::test]
        async fn breakouts_are_refused() {
            super::breakouts_are_refused($rt).await
        }
    };
}

mod runc {
    per_runtime!(super::Rt::Runc);
}

mod builtin {
    per_runtime!(super::Rt::Builtin);
}

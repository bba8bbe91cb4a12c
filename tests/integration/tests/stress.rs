//! Nothing left behind under load: many containers created, started, stopped and
//! removed by concurrent clients, with racing operations on the same container
//! (stop during start, rm -f during stop, kill during rm), then the host is
//! audited: no container, shim, cgroup, mount, veth or netns of the daemon's may be
//! left (issue 10: one container's cgroups of all 8 v1 controllers were left behind
//! by such a run).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration::*;

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 13; // 104 containers

fn create(d: &TestDaemon, name: &str) -> String {
    let body = r#"{"Image":"busybox","Cmd":["sleep","30"],"HostConfig":{"PidsLimit":50,"Memory":67108864}}"#;
    let (status, v) = d.api_json(
        "POST",
        &format!("/containers/create?name={name}"),
        Some(body),
    );
    assert_eq!(status, 201, "create {name}: {v}");
    v["Id"].as_str().unwrap_or_default().to_owned()
}

/// One client's loop: each container goes through a lifecycle chosen by its index,
/// some with a second client racing on it.
fn client(d: Arc<TestDaemon>, n: usize) -> Vec<(String, usize)> {
    let mut made = Vec::new();
    for i in 0..PER_CLIENT {
        let name = format!("stress-{n}-{i}");
        let id = create(&d, &name);
        made.push((id.clone(), i % 4));
        match i % 4 {
            // The plain path.
            0 => {
                d.api("POST", &format!("/containers/{id}/start"), None);
                d.api("POST", &format!("/containers/{id}/stop?t=0"), None);
                let (s, b) = d.api("DELETE", &format!("/containers/{id}"), None);
                assert_eq!(s, 204, "rm {name}: {b}");
            }
            // Stop while start is under way.
            1 => {
                let d2 = d.clone();
                let id2 = id.clone();
                let start = std::thread::spawn(move || {
                    d2.api("POST", &format!("/containers/{id2}/start"), None)
                });
                d.api("POST", &format!("/containers/{id}/stop?t=0"), None);
                let _ = start.join();
                d.api("DELETE", &format!("/containers/{id}?force=1"), None);
            }
            // rm -f while stop is under way.
            2 => {
                d.api("POST", &format!("/containers/{id}/start"), None);
                let d2 = d.clone();
                let id2 = id.clone();
                let stop = std::thread::spawn(move || {
                    d2.api("POST", &format!("/containers/{id2}/stop?t=1"), None)
                });
                d.api("DELETE", &format!("/containers/{id}?force=1"), None);
                let _ = stop.join();
            }
            // Kill and rm -f at once on a running container.
            _ => {
                d.api("POST", &format!("/containers/{id}/start"), None);
                let d2 = d.clone();
                let id2 = id.clone();
                let kill = std::thread::spawn(move || {
                    d2.api("POST", &format!("/containers/{id2}/kill"), None)
                });
                d.api("DELETE", &format!("/containers/{id}?force=1"), None);
                let _ = kill.join();
            }
        }
        // Whatever raced, the container must end up removed.
        let gone = wait_until(Duration::from_secs(20), || {
            d.api("GET", &format!("/containers/{id}/json"), None).0 == 404
        });
        if !gone {
            d.api("DELETE", &format!("/containers/{id}?force=1"), None);
        }
    }
    made
}

/// Child cgroups left under `parent` in any hierarchy.
fn leftover_cgroups(parent: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut roots = vec![Path::new("/sys/fs/cgroup").to_path_buf()];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        roots.extend(rd.flatten().map(|e| e.path()));
    }
    for root in roots {
        let dir = root.join(parent.trim_start_matches('/'));
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn nothing_left_behind_after_concurrent_lifecycles() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth(),
        "audits berthd's own cgroups, mounts and veths"
    );
    d.import_busybox();
    let d = Arc::new(d);
    let t0 = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let d = d.clone();
            std::thread::spawn(move || client(d, n))
        })
        .collect();
    let mut cases = std::collections::HashMap::new();
    for c in clients {
        cases.extend(c.join().expect("a client panicked"));
    }
    eprintln!(
        "{} containers through {CLIENTS} clients in {:?}",
        CLIENTS * PER_CLIENT,
        t0.elapsed()
    );

    // The daemon's view: nothing.
    let (_, list) = d.api_json("GET", "/containers/json?all=1", None);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");

    // The host's view, once the last shims are gone.
    let shims = d.exec_root.join("shims");
    let clean = wait_until(Duration::from_secs(20), || {
        std::fs::read_dir(&shims).map_or(true, |mut rd| rd.next().is_none())
            && leftover_cgroups(d.cgroup_parent()).is_empty()
    });
    let entries: Vec<_> = std::fs::read_dir(&shims)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let leaked: std::collections::BTreeSet<String> = leftover_cgroups(d.cgroup_parent())
        .iter()
        .filter_map(|p| p.rsplit('/').next().map(str::to_owned))
        .collect();
    let leaked_cases: Vec<_> = leaked.iter().map(|id| (&id[..12], cases.get(id))).collect();
    assert!(
        clean,
        "left behind: shims {entries:?}, cgroups of {} containers (lifecycle case of each: {leaked_cases:?})\n{}",
        leaked.len(),
        d.log_tail(40)
    );
    for root in [&d.data_root, &d.exec_root] {
        let mounts = mounts_under(root);
        assert!(
            mounts.is_empty(),
            "mounts left under {}: {mounts:?}",
            root.display()
        );
    }
    if let Some(bridge) = d.bridge() {
        let out = std::process::Command::new("ip")
            .args(["-o", "link", "show", "master", bridge])
            .output()
            .expect("ip");
        let links = String::from_utf8_lossy(&out.stdout);
        assert!(links.trim().is_empty(), "veths left on {bridge}: {links}");
    }
    let netns: Vec<_> = walk_files(&d.exec_root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("netns"))
        .collect();
    assert!(netns.is_empty(), "netns files left: {netns:?}");
    let builtin = d.exec_root.join("builtin");
    let states: Vec<_> = std::fs::read_dir(&builtin)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().starts_with('@'))
        .collect();
    assert!(states.is_empty(), "runtime state left: {states:?}");
    let bundles = builtin.join("@bundles");
    let derived: Vec<_> = std::fs::read_dir(&bundles)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(derived.is_empty(), "derived bundles left: {derived:?}");
}

/// Every file below `dir` (not following symlinks).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out
}

//! Networking: default bridge (IP, route, container-to-container), none, host, hostname.
//! Bridge tests need berthd (the dockerd used to validate runs with `--bridge none`).

use integration::*;

fn ip_of(d: &TestDaemon, name: &str) -> String {
    let v = d.inspect(name);
    v["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bridge_ip_route_and_ping_between_containers() {
    let d = daemon_or_skip!();
    skip_if!(!d.has_bridge(), "no bridge network on this daemon");
    let (gw, cidr) = d
        .bip()
        .map(|(g, c)| (g.to_string(), c.to_string()))
        .unwrap();
    let prefix = cidr.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap();
    d.import_busybox();
    d.docker(&["run", "-d", "--name", "na", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["run", "-d", "--name", "nb", "busybox", "sleep", "1000"])
        .ok();
    let a = ip_of(&d, "na");
    let b = ip_of(&d, "nb");
    assert!(a.starts_with(&format!("{prefix}.")), "{a} not in {cidr}");
    assert!(b.starts_with(&format!("{prefix}.")), "{b} not in {cidr}");
    assert_ne!(a, b);
    let v = d.inspect("na");
    assert_eq!(
        v["NetworkSettings"]["Gateway"],
        gw.as_str(),
        "{}",
        v["NetworkSettings"]
    );
    assert_eq!(
        v["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
        a.as_str(),
        "{}",
        v["NetworkSettings"]
    );

    let addr = d
        .docker(&["exec", "na", "ip", "-o", "-4", "addr", "show", "eth0"])
        .ok();
    assert!(addr.stdout.contains(&format!("{a}/")), "{addr}");
    let route = d.docker(&["exec", "na", "ip", "route"]).ok();
    assert!(
        route.stdout.contains(&format!("default via {gw}")),
        "{route}"
    );

    let ping = d
        .docker(&["exec", "na", "ping", "-c", "1", "-W", "2", &b])
        .ok();
    assert!(ping.stdout.contains("1 packets received"), "{ping}");
    let ping = d
        .docker(&["exec", "nb", "ping", "-c", "1", "-W", "2", &gw])
        .ok();
    assert!(ping.stdout.contains("1 packets received"), "{ping}");
    // The host reaches the container through the bridge.
    let host_ping = std::process::Command::new("ping")
        .args(["-c", "1", "-W", "2", &a])
        .output();
    if let Ok(o) = host_ping {
        assert!(o.status.success(), "host -> container ping failed: {o:?}");
    }

    // An address is released when its container goes, and reused without conflict.
    d.docker(&["rm", "-f", "nb"]).ok();
    d.docker(&["run", "-d", "--name", "nc", "busybox", "sleep", "1000"])
        .ok();
    let c = ip_of(&d, "nc");
    assert!(c.starts_with(&format!("{prefix}.")) && c != a, "{c}");
}

#[test]
fn network_none_has_only_loopback() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    let names: Vec<String> = out
        .lines()
        .iter()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect();
    assert_eq!(names, vec!["lo"], "{out}");
    let v = d
        .docker(&[
            "run",
            "--name",
            "nn",
            "--network",
            "none",
            "busybox",
            "true",
        ])
        .ok();
    drop(v);
    assert_eq!(d.inspect("nn")["HostConfig"]["NetworkMode"], "none");
}

#[test]
fn network_host_sees_host_interfaces() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let host = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip -o link");
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    let host_if = host
        .lines()
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        })
        .find(|n| n != "lo" && !n.is_empty())
        .expect("a host interface");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert!(
        out.stdout.contains(&format!(": {host_if}")),
        "{host_if} missing: {out}"
    );
    let hn = d
        .docker(&["run", "--rm", "--network", "host", "busybox", "hostname"])
        .ok();
    let my = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(hn.out(), my.trim());
}

#[test]
fn hostname_and_etc_hosts() {
    let d = daemon_or_skip!();
    d.import_busybox();
    let out = d
        .docker(&["run", "--rm", "-h", "myhost", "busybox", "hostname"])
        .ok();
    assert_eq!(out.out(), "myhost");
    let id = d
        .docker(&["run", "-d", "--name", "hh", "busybox", "sleep", "1000"])
        .ok()
        .out()
        .to_string();
    let hn = d.docker(&["exec", "hh", "hostname"]).ok();
    assert_eq!(hn.out(), &id[..12], "default hostname is the short id");
    let hosts = d.docker(&["exec", "hh", "cat", "/etc/hosts"]).ok();
    assert!(hosts.stdout.contains("localhost"), "{hosts}");
    if d.has_bridge() {
        let ip = ip_of(&d, "hh");
        let line = hosts
            .lines()
            .into_iter()
            .find(|l| l.contains(&id[..12]))
            .unwrap_or_else(|| panic!("no hostname line in /etc/hosts: {hosts}"));
        assert!(line.starts_with(&ip), "{line}");
        let resolv = d.docker(&["exec", "hh", "cat", "/etc/resolv.conf"]).ok();
        assert!(resolv.stdout.contains("nameserver"), "{resolv}");
    }
    let v = d.inspect("hh");
    for key in ["HostnamePath", "HostsPath", "ResolvConfPath"] {
        assert!(v[key].as_str().is_some_and(|p| !p.is_empty()), "{key}: {v}");
    }
    let add = d
        .docker(&[
            "run",
            "--rm",
            "--add-host",
            "db.local:10.9.8.7",
            "busybox",
            "cat",
            "/etc/hosts",
        ])
        .ok();
    assert!(
        add.lines()
            .iter()
            .any(|l| l.starts_with("10.9.8.7") && l.contains("db.local")),
        "{add}"
    );
}

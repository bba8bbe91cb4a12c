//! User-defined networks, embedded DNS, published ports and network modes, driven
//! with the real docker CLI against a berthd of the test's own. Traffic goes only to
//! loopback, the test's own bridges and its containers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use integration::*;

/// Runs `cmd` in container `c` and returns its stdout.
fn sh(d: &TestDaemon, c: &str, cmd: &str) -> Out {
    d.docker(&["exec", c, "sh", "-c", cmd])
}

/// The addresses `name` resolves to inside container `c` (busybox nslookup).
fn resolve(d: &TestDaemon, c: &str, name: &str) -> Vec<String> {
    let out = d.docker(&["exec", c, "nslookup", name]);
    out.stdout
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_owned())
        .collect()
}

/// GET / of a busybox httpd through host port `port` on `host`; the body.
fn http_get(host: &str, port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &format!("{host}:{port}").parse().ok()?,
        Duration::from_secs(3),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

fn host_port(d: &TestDaemon, c: &str, key: &str) -> u16 {
    let v = d.inspect(c);
    v["NetworkSettings"]["Ports"][key][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no host port for {key}: {}", v["NetworkSettings"]["Ports"]))
}

#[test]
fn names_resolve_on_shared_networks_only() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "berthd only");
    d.import_busybox();
    d.docker(&["network", "create", "front"]).ok();
    d.docker(&["network", "create", "back"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "api1",
        "--network",
        "front",
        "--network-alias",
        "api",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "api2",
        "--network",
        "front",
        "--network-alias",
        "api",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "back",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let ip = |c: &str, net: &str| {
        d.inspect(c)["NetworkSettings"]["Networks"][net]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let web = ip("web", "front");
    assert_eq!(resolve(&d, "api1", "web"), vec![web.clone()]);
    assert_eq!(resolve(&d, "api1", "www"), vec![web.clone()]);
    assert_eq!(resolve(&d, "api1", "web.front"), vec![web.clone()]);
    let mut api = resolve(&d, "web", "api");
    api.sort();
    let mut want = vec![ip("api1", "front"), ip("api2", "front")];
    want.sort();
    assert_eq!(api, want, "an alias of two containers answers both");
    // Not across networks, and no route either.
    assert!(resolve(&d, "web", "db").is_empty());
    let db = ip("db", "back");
    assert!(
        !sh(&d, "web", &format!("ping -c1 -W1 {db}")).success(),
        "networks are isolated"
    );
    let rc = sh(&d, "web", "cat /etc/resolv.conf").ok();
    assert!(rc.stdout.contains("nameserver 127.0.0.11"), "{rc}");

    // connect and disconnect a running container.
    d.docker(&["network", "connect", "--alias", "database", "front", "db"])
        .ok();
    let db_front = ip("db", "front");
    assert_eq!(resolve(&d, "web", "database"), vec![db_front.clone()]);
    assert!(sh(&d, "web", &format!("ping -c1 -W2 {db_front}")).success());
    assert!(sh(&d, "db", "ip -o link show eth1").success());
    d.docker(&["network", "disconnect", "front", "db"]).ok();
    assert!(resolve(&d, "web", "database").is_empty());
    assert!(!sh(&d, "db", "ip -o link show eth1").success());

    // A network with containers cannot go; without, it can.
    let rm = d.docker(&["network", "rm", "back"]).fail();
    assert!(rm.stderr.contains("has active endpoints"), "{rm}");
    d.docker(&["rm", "-f", "db"]).ok();
    d.docker(&["network", "rm", "back"]).ok();
    let ls = d.docker(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert_eq!(ls.lines(), vec!["bridge", "front", "host", "none"], "{ls}");
}

#[test]
fn published_ports_from_loopback_host_and_containers() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    d.import_busybox();
    d.docker(&["network", "create", "pub"]).ok();
    // A fixed host port, an ephemeral one (-P from --expose), a loopback-only one.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "pub",
        "--expose",
        "81",
        "-P",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sh",
        "-c",
        "hostname > /www && httpd -p 80 -h / && httpd -f -p 81 -h /",
    ])
    .ok();
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", "srv"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let p80 = host_port(&d, "srv", "80/tcp");
    let p81 = host_port(&d, "srv", "81/tcp");
    assert!(p80 >= 1024 && p81 >= 1024 && p80 != p81);
    let want = id[..12].to_owned();
    let ok = wait_until(Duration::from_secs(10), || {
        http_get("127.0.0.1", p80, "/www").is_some_and(|b| b.trim() == want)
    });
    assert!(ok, "loopback -> published port");
    assert_eq!(
        http_get("127.0.0.1", p81, "/www").map(|b| b.trim().to_owned()),
        Some(want.clone())
    );
    // The loopback-only binding is not on the gateway's address.
    let (gw, _) = d.bip().unwrap();
    assert!(
        http_get(gw, p80, "/www").is_none(),
        "127.0.0.1 binding reached on {gw}"
    );
    assert_eq!(
        http_get(gw, p81, "/www").map(|b| b.trim().to_owned()),
        Some(want.clone())
    );
    // Hairpin: a container reaches the published port through the host's address.
    d.docker(&["run", "-d", "--name", "cli", "busybox", "sleep", "1000"])
        .ok();
    let body = sh(
        &d,
        "cli",
        &format!("echo -e 'GET /www HTTP/1.0\\r\\n' | nc -w3 {gw} {p81}"),
    )
    .ok();
    assert!(body.stdout.contains(&want), "{body}");
    let body = sh(
        &d,
        "srv",
        &format!("echo -e 'GET /www HTTP/1.0\\r\\n' | nc -w3 {gw} {p81}"),
    )
    .ok();
    assert!(body.stdout.contains(&want), "hairpin to itself: {body}");
    let port = d.docker(&["port", "srv", "81"]).ok();
    assert!(port.stdout.contains(&format!("0.0.0.0:{p81}")), "{port}");
    let ps = d
        .docker(&["ps", "--format", "{{.Ports}}", "--filter", "name=srv"])
        .ok();
    assert!(
        ps.stdout.contains(&format!("127.0.0.1:{p80}->80/tcp")),
        "{ps}"
    );

    // A taken port: by another container, and by a host process.
    let taken = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "dup",
            "-p",
            &format!("{p81}:80"),
            "busybox",
            "sleep",
            "9",
        ])
        .fail();
    assert!(taken.stderr.contains("already allocated"), "{taken}");
    let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let hp = l.local_addr().unwrap().port();
    let busy = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "dup2",
            "-p",
            &format!("{hp}:80"),
            "busybox",
            "sleep",
            "9",
        ])
        .fail();
    assert!(busy.stderr.contains("address already in use"), "{busy}");

    // Stopping the container frees its ports and rules.
    d.docker(&["rm", "-f", "srv"]).ok();
    assert!(http_get("127.0.0.1", p81, "/www").is_none());
    let again = d.docker(&[
        "run",
        "-d",
        "--name",
        "again",
        "-p",
        &format!("{p81}:80"),
        "busybox",
        "sleep",
        "100",
    ]);
    assert!(again.success(), "port freed: {again}");
}

#[test]
fn internal_and_no_icc_networks() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    d.import_busybox();
    d.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.231.7.0/24",
        "priv",
    ])
    .ok();
    d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "noicc",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "p1",
        "--network",
        "priv",
        "--ip",
        "10.231.7.77",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "p2",
        "--network",
        "priv",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let addr = sh(&d, "p1", "ip -o -4 addr show eth0").ok();
    assert!(addr.stdout.contains("10.231.7.77/24"), "{addr}");
    assert!(
        sh(&d, "p2", "ping -c1 -W2 p1").success(),
        "inside an internal network"
    );
    let (gw, _) = d.bip().unwrap();
    let route = sh(&d, "p1", "ip route").ok();
    assert!(
        !route.stdout.contains("default"),
        "internal: no default route: {route}"
    );
    assert!(
        !sh(&d, "p1", &format!("ping -c1 -W1 {gw}")).success(),
        "internal reaches out"
    );
    d.docker(&[
        "run",
        "-d",
        "--name",
        "n1",
        "--network",
        "noicc",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "n2",
        "--network",
        "noicc",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert!(!sh(&d, "n2", "ping -c1 -W1 n1").success(), "icc off");
    // The same static address twice.
    let dup = d
        .docker(&[
            "run",
            "-d",
            "--network",
            "priv",
            "--ip",
            "10.231.7.77",
            "busybox",
            "true",
        ])
        .fail();
    assert!(dup.stderr.contains("Address already in use"), "{dup}");
}

#[test]
fn bad_network_requests_get_docker_status_codes() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "berthd only");
    d.import_busybox();
    let mk = |body: &str| d.api_json("POST", "/networks/create", Some(body));
    let (st, v) = mk(r#"{"Name":"a","IPAM":{"Config":[{"Subnet":"10.232.0.0/24"}]}}"#);
    assert_eq!(st, 201, "{v}");
    let (st, v) = mk(r#"{"Name":"b","IPAM":{"Config":[{"Subnet":"10.232.0.128/25"}]}}"#);
    assert_eq!(st, 403, "overlap: {v}");
    assert!(
        v["message"].as_str().unwrap_or("").contains("overlaps"),
        "{v}"
    );
    let (st, v) = mk(r#"{"Name":"c","IPAM":{"Config":[{"Subnet":"10.232.1.0/40"}]}}"#);
    assert_eq!(st, 400, "bad CIDR: {v}");
    let (st, v) = mk(r#"{"Name":"a"}"#);
    assert_eq!(st, 409, "duplicate name: {v}");
    let (st, v) = mk(r#"{"Name":"o","Driver":"overlay"}"#);
    assert_eq!(st, 501, "{v}");
    let (st, _) = d.api_json("DELETE", "/networks/bridge", None);
    assert_eq!(st, 403);
    let (st, v) = d.api_json("GET", "/networks/nonesuch", None);
    assert_eq!(st, 404, "{v}");
    // (Through the API: the docker CLI answers any 404 of a create by pulling.)
    let (st, v) = d.api_json(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"NetworkMode":"nonesuch"}}"#),
    );
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["message"], "network nonesuch not found");
    let run = d
        .docker(&["run", "--ip", "10.1.1.1", "busybox", "true"])
        .fail();
    assert!(run.stderr.contains("user defined networks only"), "{run}");
}

#[test]
fn container_mode_shares_the_network_namespace() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "berthd only");
    d.import_busybox();
    d.docker(&["network", "create", "shared"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "owner",
        "--network",
        "shared",
        "busybox",
        "sh",
        "-c",
        "echo hi > /i && httpd -f -p 8080 -h /",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "container:owner",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let ok = wait_until(Duration::from_secs(10), || {
        sh(
            &d,
            "peer",
            "echo -e 'GET /i HTTP/1.0\\r\\n' | nc -w2 127.0.0.1 8080",
        )
        .stdout
        .contains("hi")
    });
    assert!(ok, "the peer reaches the owner's loopback");
    let a = sh(&d, "owner", "ip -o -4 addr show eth0").ok().stdout;
    let b = sh(&d, "peer", "ip -o -4 addr show eth0").ok().stdout;
    assert_eq!(a, b);
    assert!(sh(&d, "peer", "cat /etc/resolv.conf")
        .ok()
        .stdout
        .contains("127.0.0.11"));
    let stopped = d
        .docker(&[
            "create",
            "--name",
            "late",
            "--network",
            "container:owner",
            "busybox",
            "true",
        ])
        .ok();
    assert!(stopped.success());
    d.docker(&["stop", "-t", "0", "owner"]).ok();
    let st = d.docker(&["start", "late"]).fail();
    assert!(st.stderr.contains("non running container"), "{st}");
}

#[test]
fn restart_keeps_addresses_ports_and_names() {
    let mut d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    d.import_busybox();
    d.docker(&["network", "create", "keep"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "k1",
        "--network",
        "keep",
        "-p",
        "0:80",
        "busybox",
        "sh",
        "-c",
        "echo k1 > /k && httpd -f -p 80 -h /",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "k2",
        "--network",
        "keep",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let port = host_port(&d, "k1", "80/tcp");
    let ip1 = d.inspect("k1")["NetworkSettings"]["Networks"]["keep"]["IPAddress"].clone();
    assert!(wait_until(Duration::from_secs(10), || http_get(
        "127.0.0.1",
        port,
        "/k"
    )
    .is_some()));
    d.restart();
    assert_eq!(
        d.inspect("k1")["NetworkSettings"]["Networks"]["keep"]["IPAddress"],
        ip1
    );
    assert_eq!(
        http_get("127.0.0.1", port, "/k").map(|b| b.trim().to_owned()),
        Some("k1".into())
    );
    assert_eq!(
        resolve(&d, "k2", "k1"),
        vec![ip1.as_str().unwrap_or_default().to_owned()]
    );
    // A new container does not get a restored address.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "k3",
        "--network",
        "keep",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_ne!(
        d.inspect("k3")["NetworkSettings"]["Networks"]["keep"]["IPAddress"],
        ip1
    );
}

#[test]
fn nothing_is_left_behind() {
    let d = daemon_or_skip!();
    skip_if!(!d.is_berth(), "berthd only");
    d.import_busybox();
    let link_names = |args: &[&str]| {
        let o = std::process::Command::new("ip")
            .args(["-o", "link", "show"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            })
            .collect::<Vec<_>>()
    };
    let id = d
        .docker(&["network", "create", "tmpnet"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let dev = format!("br-{}", &id[..12]);
    d.docker(&[
        "run",
        "-d",
        "--name",
        "t1",
        "--network",
        "tmpnet",
        "-p",
        "0:80",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "--rm",
        "--network",
        "tmpnet",
        "busybox",
        "nslookup",
        "t1",
    ])
    .ok();
    let veths = link_names(&["master", &dev]);
    assert_eq!(veths.len(), 1, "{veths:?}");
    d.docker(&["rm", "-f", "t1"]).ok();
    d.docker(&["network", "rm", "tmpnet"]).ok();
    let all = || link_names(&[]);
    assert!(
        wait_until(Duration::from_secs(5), || !all()
            .iter()
            .any(|n| veths.contains(n))),
        "veth {veths:?} left"
    );
    let ns = std::fs::read_dir(d.exec_root.join("netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(ns, 0, "netns files left");
    let o = std::process::Command::new("ip")
        .args(["link", "show", &dev])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{dev} left");
    let rules = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains(&dev),
        "nft rules for {dev} left"
    );
}

/// Builds the static UDP echo server (tests/net/udpecho.c) with the host's gcc.
fn udpecho_binary() -> std::path::PathBuf {
    let src = workspace_root().join("tests/integration/tests/net/udpecho.c");
    let out = std::env::temp_dir().join(format!("berth-udpecho-{}", std::process::id()));
    let st = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("running gcc (Debian's gcc and libc6-dev build the UDP echo server)");
    assert!(st.success(), "gcc failed to build {}", src.display());
    out
}

#[test]
fn published_udp_port_answers_from_the_host() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    d.import_busybox();
    let bin = udpecho_binary();
    d.docker(&["network", "create", "udpnet"]).ok();
    d.docker(&[
        "create",
        "--name",
        "echo",
        "--network",
        "udpnet",
        "-p",
        "127.0.0.1::9999/udp",
        "busybox",
        "/udpecho",
        "9999",
    ])
    .ok();
    d.docker(&["cp", bin.to_str().unwrap(), "echo:/udpecho"])
        .ok();
    let _ = std::fs::remove_file(&bin);
    d.docker(&["start", "echo"]).ok();
    let port = host_port(&d, "echo", "9999/udp");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let got = wait_until(Duration::from_secs(10), || {
        sock.send_to(b"hello", ("127.0.0.1", port)).is_ok()
            && sock
                .recv(&mut buf)
                .is_ok_and(|n| &buf[..n] == b"echo:hello")
    });
    assert!(got, "no UDP answer through 127.0.0.1:{port}");
    let ps = d.docker(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(
        ps.stdout.contains(&format!("127.0.0.1:{port}->9999/udp")),
        "{ps}"
    );
}

#[test]
fn links_on_the_default_bridge_and_on_user_networks() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    d.import_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--expose",
        "80",
        "-e",
        "SECRET_LEVEL=3",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let ip = d.inspect("srv")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--link",
            "srv:db",
            "busybox",
            "sh",
            "-c",
            "grep -w db /etc/hosts; env | sort",
        ])
        .ok();
    assert!(out.stdout.contains(&format!("{ip}\tdb ")), "{out}");
    assert!(
        out.stdout.contains(&format!("DB_PORT=tcp://{ip}:80")),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("DB_PORT_80_TCP_ADDR={ip}")),
        "{out}"
    );
    assert!(out.stdout.contains("DB_ENV_SECRET_LEVEL=3"), "{out}");
    assert!(out.stdout.contains("DB_NAME=/"), "{out}");
    // Not running: refused, as Docker does.
    d.docker(&["create", "--name", "off", "busybox", "true"])
        .ok();
    let e = d
        .docker(&["run", "--rm", "--link", "off:x", "busybox", "true"])
        .fail();
    assert!(e.stderr.contains("non running container"), "{e}");
    let e = d
        .docker(&["run", "--rm", "--link", "nosuch:x", "busybox", "true"])
        .fail();
    assert!(
        e.stderr.contains("could not get container for nosuch"),
        "{e}"
    );
    // On a user network a link is a name only the linking container resolves.
    d.docker(&["network", "create", "lnet"]).ok();
    d.docker(&["network", "connect", "lnet", "srv"]).ok();
    let lip = d.inspect("srv")["NetworkSettings"]["Networks"]["lnet"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "linker",
        "--network",
        "lnet",
        "--link",
        "srv:backend",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "lnet",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(resolve(&d, "linker", "backend"), vec![lip]);
    assert!(resolve(&d, "other", "backend").is_empty());
}

#[test]
fn hostname_domainname_and_add_host_gateway() {
    let d = daemon_or_skip!();
    skip_if!(
        !d.is_berth() || !d.has_bridge(),
        "berthd with a bridge only"
    );
    d.import_busybox();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--hostname",
            "h1",
            "--domainname",
            "example.org",
            "--add-host",
            "gw.internal:host-gateway",
            "--add-host",
            "fixed:10.9.8.7",
            "busybox",
            "sh",
            "-c",
            "hostname; cat /proc/sys/kernel/domainname; cat /etc/hosts",
        ])
        .ok();
    let (gw, _) = d.bip().unwrap();
    let lines = out.lines();
    assert_eq!(lines.first().copied(), Some("h1"), "{out}");
    assert_eq!(lines.get(1).copied(), Some("example.org"), "{out}");
    assert!(out.stdout.contains(&format!("{gw}\tgw.internal")), "{out}");
    assert!(out.stdout.contains("10.9.8.7\tfixed"), "{out}");
}

//! `berth network ...` and `berth volume ...` against the scripted daemon:
//! the exact requests the commands send, and their exact output and exit
//! status for canned answers.

mod common;

use common::{calls, daemon, text, Seen};
use serde_json::{json as j, Value};

fn body(s: &Seen) -> Value {
    serde_json::from_str(&s.body).unwrap()
}

#[test]
fn network_create_sends_dockers_request() {
    let d = daemon(&[(
        "POST /networks/create",
        201,
        r#"{"Id":"0123456789abcdef","Warning":"w"}"#,
    )]);
    let out = d.berth(&[
        "network",
        "create",
        "--subnet",
        "10.5.0.0/16,fd00:5::/64",
        "--gateway",
        "10.5.0.1",
        "--ip-range",
        "10.5.1.7/24",
        "--aux-address",
        "host1=10.5.0.9",
        "--internal",
        "--attachable",
        "--ipv6",
        "--label",
        "tier=front",
        "--label",
        "solo",
        "-o",
        "com.docker.network.bridge.name=br-x",
        "--ipam-opt",
        "k=v",
        "front",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0123456789abcdef\n");
    assert_eq!(text(&out.stderr), "");
    let seen = calls(&d);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/v1.51/networks/create");
    assert_eq!(
        body(&seen[0]),
        j!({
            "Name": "front",
            "Driver": "bridge",
            "Scope": "",
            "Internal": true,
            "Attachable": true,
            "Ingress": false,
            "ConfigOnly": false,
            "EnableIPv6": true,
            "IPAM": {
                "Driver": "default",
                "Config": [
                    {"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1",
                     "AuxiliaryAddresses": {"host1": "10.5.0.9"}},
                    {"Subnet": "fd00:5::/64"}
                ],
                "Options": {"k": "v"}
            },
            "Options": {"com.docker.network.bridge.name": "br-x"},
            "Labels": {"tier": "front", "solo": ""}
        })
    );

    // The plain form: defaults only; --ipv4/--ipv6 are sent only when given.
    let out = d.berth(&["network", "create", "plain"]);
    assert_eq!(out.status.code(), Some(0));
    let seen = calls(&d);
    assert_eq!(
        body(&seen[1]),
        j!({"Name": "plain", "Driver": "bridge", "Scope": "", "Internal": false,
            "Attachable": false, "Ingress": false, "ConfigOnly": false,
            "IPAM": {"Driver": "default", "Config": [], "Options": {}},
            "Options": {}, "Labels": {}})
    );
    let out = d.berth(&[
        "network",
        "create",
        "--ipv4=false",
        "--config-from",
        "base",
        "--scope",
        "local",
        "cf",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let b = body(&calls(&d)[2]);
    assert_eq!(b["EnableIPv4"], j!(false));
    assert_eq!(b["ConfigFrom"], j!({"Network": "base"}));
    assert_eq!(b["Scope"], j!("local"));
}

#[test]
fn network_create_refusals() {
    let d = daemon(&[(
        "POST /networks/create",
        400,
        r#"{"message":"config-only networks are not supported"}"#,
    )]);
    // Checked before anything is sent.
    let out = d.berth(&["network", "create", "--gateway", "10.9.0.1", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "every ip-range or gateway must have a corresponding subnet\n"
    );
    let out = d.berth(&[
        "network",
        "create",
        "--subnet",
        "10.0.0.0/24",
        "--gateway",
        "10.9.0.1",
        "x",
    ]);
    assert_eq!(
        text(&out.stderr),
        "no matching subnet for gateway 10.9.0.1\n"
    );
    let out = d.berth(&["network", "create", "--gateway", "nope", "x"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("invalid string being converted to IP address: nope"),
        "{}",
        text(&out.stderr)
    );
    assert!(calls(&d).is_empty());
    // The daemon's refusal is shown as docker shows it.
    let out = d.berth(&["network", "create", "--config-only", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: config-only networks are not supported\n"
    );
    assert_eq!(body(&calls(&d)[0])["ConfigOnly"], j!(true));
}

const NETWORKS: &str = r#"[
  {"Name":"net10","Id":"aaaaaaaaaaaa1111","Created":"2024-05-06T07:08:09.5Z","Scope":"local",
   "Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":true,
   "Labels":{"tier":"back","a":"1"}},
  {"Name":"bridge","Id":"bbbbbbbbbbbb2222","Created":"2024-05-06T07:08:09Z","Scope":"local",
   "Driver":"bridge","EnableIPv4":true,"EnableIPv6":false,"Internal":false,"Labels":{}},
  {"Name":"net9","Id":"cccccccccccc3333","Created":"2024-05-06T07:08:09Z","Scope":"local",
   "Driver":"macvlan","Labels":null}
]"#;

#[test]
fn network_ls_formats() {
    let d = daemon(&[("GET /networks", 200, NETWORKS)]);
    let out = d.berth(&["network", "ls"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "NETWORK ID     NAME      DRIVER    SCOPE\n\
         bbbbbbbbbbbb   bridge    bridge    local\n\
         cccccccccccc   net9      macvlan   local\n\
         aaaaaaaaaaaa   net10     bridge    local\n"
    );
    let out = d.berth(&["network", "ls", "-q", "--no-trunc"]);
    assert_eq!(
        text(&out.stdout),
        "bbbbbbbbbbbb2222\ncccccccccccc3333\naaaaaaaaaaaa1111\n"
    );
    let out = d.berth(&[
        "network",
        "ls",
        "-f",
        "driver=bridge",
        "--filter",
        "label=tier",
        "--format",
        "{{.Name}} {{.Internal}} {{.IPv6}} {{.Labels}} {{.Label \"tier\"}} {{.CreatedAt}}",
    ]);
    assert_eq!(
        text(&out.stdout),
        "bridge false false   2024-05-06 07:08:09 +0000 UTC\n\
         net9 false false   2024-05-06 07:08:09 +0000 UTC\n\
         net10 true false a=1,tier=back back 2024-05-06 07:08:09.5 +0000 UTC\n"
    );
    let out = d.berth(&["network", "ls", "--format", "json"]);
    let first = text(&out.stdout).lines().next().unwrap_or("").to_string();
    assert_eq!(
        first,
        r#"{"CreatedAt":"2024-05-06 07:08:09 +0000 UTC","Driver":"bridge","ID":"bbbbbbbbbbbb","IPv4":"true","IPv6":"false","Internal":"false","Labels":"","Name":"bridge","Scope":"local"}"#
    );
    let out = d.berth(&["network", "ls", "--format", "raw", "-q"]);
    assert_eq!(
        text(&out.stdout),
        "network_id: bbbbbbbbbbbb\nnetwork_id: cccccccccccc\nnetwork_id: aaaaaaaaaaaa\n"
    );
    let out = d.berth(&["network", "ls", "--format", "table {{.Name}}\t{{.Driver}}"]);
    assert_eq!(
        text(&out.stdout),
        "NAME      DRIVER\nbridge    bridge\nnet9      macvlan\nnet10     bridge\n"
    );
    let targets: Vec<String> = calls(&d).into_iter().map(|s| s.target).collect();
    assert_eq!(targets[0], "/v1.51/networks");
    assert_eq!(
        targets[2],
        "/v1.51/networks?filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%2C%22label%22%3A%7B%22tier%22%3Atrue%7D%7D"
    );
}

#[test]
fn network_connect_disconnect_rm_inspect() {
    let d = daemon(&[
        ("POST /networks/front/connect", 200, ""),
        ("POST /networks/front/disconnect", 200, ""),
        ("DELETE /networks/front", 204, ""),
        (
            "DELETE /networks/busy",
            403,
            r#"{"message":"error while removing network: network busy has active endpoints"}"#,
        ),
        (
            "DELETE /networks/gone",
            404,
            r#"{"message":"network gone not found"}"#,
        ),
        (
            "GET /networks/front",
            200,
            r#"{"Name":"front","Id":"f1","IPAM":{"Config":[{"Subnet":"10.5.0.0/16"}]}}"#,
        ),
    ]);
    let out = d.berth(&[
        "network",
        "connect",
        "--ip",
        "10.5.0.20",
        "--ip6",
        "fd00:5::20",
        "--alias",
        "web,www",
        "--alias",
        "w3",
        "--link",
        "db:database",
        "--driver-opt",
        "com.example.opt=1",
        "front",
        "web1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let out = d.berth(&["network", "connect", "front", "web2"]);
    assert_eq!(out.status.code(), Some(0));
    let out = d.berth(&["network", "disconnect", "-f", "front", "web1"]);
    assert_eq!(out.status.code(), Some(0));
    let seen = calls(&d);
    assert_eq!(seen[0].target, "/v1.51/networks/front/connect");
    assert_eq!(
        body(&seen[0]),
        j!({"Container": "web1", "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": "10.5.0.20", "IPv6Address": "fd00:5::20"},
            "Links": ["db:database"],
            "Aliases": ["web", "www", "w3"],
            "DriverOpts": {"com.example.opt": "1"}
        }})
    );
    assert_eq!(
        body(&seen[1]),
        j!({"Container": "web2", "EndpointConfig": {"IPAMConfig": {}}})
    );
    assert_eq!(seen[2].target, "/v1.51/networks/front/disconnect");
    assert_eq!(body(&seen[2]), j!({"Container": "web1", "Force": true}));

    let out = d.berth(&["network", "rm", "front", "busy", "gone"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "front\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: error while removing network: network busy has active endpoints\n\
         Error response from daemon: network gone not found\n\
         exit status 1\n"
    );
    let out = d.berth(&["network", "rm", "-f", "gone", "front"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "front\n");
    assert_eq!(text(&out.stderr), "");

    let out = d.berth(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "front",
    ]);
    assert_eq!(text(&out.stdout), "front 10.5.0.0/16\n");
    let out = d.berth(&["network", "inspect", "-v", "--format", "{{.Id}}", "front"]);
    assert_eq!(text(&out.stdout), "f1\n");
    assert!(calls(&d)
        .iter()
        .any(|s| s.target == "/v1.51/networks/front?verbose=true"));
    let out = d.berth(&["network", "inspect", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "[]\n");
}

#[test]
fn network_prune_asks_first() {
    let d = daemon(&[(
        "POST /networks/prune",
        200,
        r#"{"NetworksDeleted":["n1","n2"]}"#,
    )]);
    let out = d.berth_in(&["network", "prune"], Some(b"n\n"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "WARNING! This will remove all custom networks not used by at least one container.\n\
         Are you sure you want to continue? [y/N] "
    );
    assert!(calls(&d).is_empty(), "nothing pruned without a yes");
    let out = d.berth_in(&["network", "prune", "--filter", "until=24h"], Some(b"y\n"));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).ends_with("[y/N] Deleted Networks:\nn1\nn2\n\n"),
        "{}",
        text(&out.stdout)
    );
    let out = d.berth(&["network", "prune", "-f"]);
    assert_eq!(text(&out.stdout), "Deleted Networks:\nn1\nn2\n\n");
    let targets: Vec<String> = calls(&d).into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        [
            "/v1.51/networks/prune?filters=%7B%22until%22%3A%7B%2224h%22%3Atrue%7D%7D",
            "/v1.51/networks/prune",
        ]
    );
}

const VOLUMES: &str = r#"{"Volumes":[
  {"Name":"vol10","Driver":"local","Mountpoint":"/v/vol10/_data","Labels":{"k":"v"},"Scope":"local","Options":null,
   "UsageData":{"Size":2048,"RefCount":2}},
  {"Name":"vol9","Driver":"local","Mountpoint":"/v/vol9/_data","Labels":null,"Scope":"local","Options":{}},
  {"Name":"0abc","Driver":"other","Mountpoint":"/v/0abc/_data","Labels":{},"Scope":"global","Options":{}}
 ],"Warnings":["some driver is down"]}"#;

#[test]
fn volume_create_ls_inspect() {
    let vol = r#"{"Name":"data","Driver":"local","Mountpoint":"/v/data/_data","Labels":{"a":"b"},"Scope":"local","Options":{}}"#;
    let d = daemon(&[
        ("POST /volumes/create", 201, vol),
        ("GET /volumes", 200, VOLUMES),
        ("GET /volumes/data", 200, vol),
    ]);
    let out = d.berth(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "--label",
        "a=b",
        "data",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "data\n");
    let out = d.berth(&["volume", "create"]);
    assert_eq!(out.status.code(), Some(0));
    let out = d.berth(&["volume", "create", "--name", "a", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"
    );
    let seen = calls(&d);
    assert_eq!(seen.len(), 2);
    assert_eq!(
        body(&seen[0]),
        j!({"Name": "data", "Driver": "local", "DriverOpts": {"type": "tmpfs"}, "Labels": {"a": "b"}})
    );
    assert_eq!(body(&seen[1]), j!({"Driver": "local"}));

    let out = d.berth(&["volume", "ls"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "DRIVER    VOLUME NAME\nother     0abc\nlocal     vol9\nlocal     vol10\n"
    );
    assert_eq!(text(&out.stderr), "");
    let out = d.berth(&["volume", "ls", "--format", "raw"]);
    assert!(
        text(&out.stdout).starts_with("name: 0abc\ndriver: other\n\nname: vol9\n"),
        "{}",
        text(&out.stdout)
    );
    let out = d.berth(&["volume", "ls", "-q", "-f", "dangling=true"]);
    assert_eq!(text(&out.stdout), "0abc\nvol9\nvol10\n");
    let out = d.berth(&[
        "volume",
        "ls",
        "--format",
        "{{.Name}}|{{.Scope}}|{{.Mountpoint}}|{{.Labels}}|{{.Links}}|{{.Size}}|{{.Label \"k\"}}",
    ]);
    assert_eq!(
        text(&out.stdout),
        "0abc|global|/v/0abc/_data||N/A|N/A|\n\
         vol9|local|/v/vol9/_data||N/A|N/A|\n\
         vol10|local|/v/vol10/_data|k=v|2|2.048kB|v\n"
    );
    let out = d.berth(&["volume", "ls", "--format", "json"]);
    assert_eq!(
        text(&out.stdout).lines().last().unwrap_or(""),
        r#"{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"k=v","Links":"2","Mountpoint":"/v/vol10/_data","Name":"vol10","Scope":"local","Size":"2.048kB","Status":"N/A"}"#
    );
    let out = d.berth(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}} {{.Labels.a}}",
        "data",
    ]);
    assert_eq!(text(&out.stdout), "/v/data/_data b\n");
    let targets: Vec<String> = calls(&d).into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets[4],
        "/v1.51/volumes?filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D"
    );
}

#[test]
fn volume_rm_and_prune() {
    let d = daemon(&[
        ("DELETE /volumes/a", 204, ""),
        (
            "DELETE /volumes/busy",
            409,
            r#"{"message":"remove busy: volume is in use - [c1]"}"#,
        ),
        (
            "DELETE /volumes/gone",
            404,
            r#"{"message":"get gone: no such volume"}"#,
        ),
        (
            "POST /volumes/prune",
            200,
            r#"{"VolumesDeleted":["v1"],"SpaceReclaimed":1500000}"#,
        ),
    ]);
    let out = d.berth(&["volume", "rm", "busy", "a", "gone"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "a\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: remove busy: volume is in use - [c1]\n\
         Error response from daemon: get gone: no such volume\n"
    );
    let out = d.berth(&["volume", "rm", "-f", "a"]);
    assert_eq!(out.status.code(), Some(0));

    // docker takes "y" only: "yes" cancels.
    let out = d.berth_in(&["volume", "prune"], Some(b"yes\n"));
    assert_eq!(
        text(&out.stdout),
        "WARNING! This will remove anonymous local volumes not used by at least one container.\n\
         Are you sure you want to continue? [y/N] "
    );
    let out = d.berth_in(&["volume", "prune", "-a"], Some(b"Y\n"));
    assert_eq!(
        text(&out.stdout),
        "WARNING! This will remove all local volumes not used by at least one container.\n\
         Are you sure you want to continue? [y/N] Deleted Volumes:\nv1\n\nTotal reclaimed space: 1.5MB\n"
    );
    let out = d.berth(&["volume", "prune", "-f", "--filter", "label=x"]);
    assert_eq!(
        text(&out.stdout),
        "Deleted Volumes:\nv1\n\nTotal reclaimed space: 1.5MB\n"
    );
    let out = d.berth(&["volume", "prune", "-a", "-f", "--filter", "all=1"]);
    assert_eq!(out.status.code(), Some(1));
    let targets: Vec<String> = calls(&d)
        .into_iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect();
    assert_eq!(
        targets,
        [
            "DELETE /v1.51/volumes/busy",
            "DELETE /v1.51/volumes/a",
            "DELETE /v1.51/volumes/gone",
            "DELETE /v1.51/volumes/a?force=1",
            "POST /v1.51/volumes/prune?filters=%7B%22all%22%3A%7B%22true%22%3Atrue%7D%7D",
            "POST /v1.51/volumes/prune?filters=%7B%22label%22%3A%7B%22x%22%3Atrue%7D%7D",
        ]
    );
}

#[test]
fn create_sends_the_networking_flags_like_docker() {
    let d = daemon(&[(
        "POST /containers/create",
        201,
        r#"{"Id":"c0ffee","Warnings":[]}"#,
    )]);
    let out = d.berth(common::CREATE_WITH_NETWORKING);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "c0ffee\n");
    let b = body(&calls(&d)[0]);
    assert_eq!(b["Hostname"], j!("h1"));
    assert_eq!(b["Domainname"], j!("example.org"));
    assert_eq!(
        b["ExposedPorts"],
        j!({"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}})
    );
    let hc = &b["HostConfig"];
    assert_eq!(hc["NetworkMode"], j!("front"));
    assert_eq!(
        hc["PortBindings"],
        j!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "", "HostPort": "5353"}]})
    );
    assert_eq!(hc["PublishAllPorts"], j!(true));
    assert_eq!(hc["Links"], j!(["db:database"]));
    assert_eq!(hc["Dns"], j!(["1.1.1.1"]));
    assert_eq!(hc["DnsSearch"], j!(["example.org"]));
    assert_eq!(hc["DnsOptions"], j!(["ndots:2"]));
    assert_eq!(hc["ExtraHosts"], j!(["gw:host-gateway", "v6:fd00::1"]));
    assert_eq!(
        b["NetworkingConfig"],
        j!({"EndpointsConfig": {
            "front": {
                "Aliases": ["web"],
                "Links": ["db:database"],
                "IPAMConfig": {"IPv4Address": "10.5.0.9", "IPv6Address": "fd00:5::9"},
                "MacAddress": "02:42:ac:11:00:09"
            },
            "back": {"Aliases": ["b1"], "DriverOpts": {"com.example": "1"}}
        }})
    );

    // Refusals happen before anything is sent.
    let out = d.berth(&["create", "--network-alias", "x", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "berth: network-scoped aliases are only supported for user-defined networks\n\n\
         Run 'berth create --help' for more information\n"
    );
    let out = d.berth(&["create", "--add-host", "db:nope", "busybox"]);
    assert!(
        text(&out.stderr).contains("invalid IP address in add-host: \"nope\""),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(calls(&d).len(), 1);
}

#[test]
fn port_lists_the_published_ports() {
    let d = daemon(&[(
        "GET /containers/web/json",
        200,
        r#"{"Id":"abc","NetworkSettings":{"Ports":{
            "80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
            "53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],
            "9000/tcp":null}}}"#,
    )]);
    let out = d.berth(&["port", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
    );
    let out = d.berth(&["container", "port", "web", "80/tcp"]);
    assert_eq!(text(&out.stdout), "0.0.0.0:8080\n[::]:8080\n");
    let out = d.berth(&["port", "web", "9000"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error: No public port '9000' published for web\n"
    );
    let out = d.berth(&["port", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

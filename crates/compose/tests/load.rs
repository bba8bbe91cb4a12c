//! End-to-end loading tests over fixtures and in-memory files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use compose::{
    load, load_from_str, Command, ComposeError, DependsCondition, LoadOptions, Project, VolumeType,
};

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

fn opts(dir: &Path) -> LoadOptions {
    LoadOptions {
        working_dir: dir.to_path_buf(),
        environment: BTreeMap::from([("HOME".to_string(), "/home/u".to_string())]),
        ..LoadOptions::default()
    }
}

fn mem(files: &[(&str, &str)]) -> Result<Project, ComposeError> {
    load_from_str(files, &opts(Path::new("/proj/demo")))
}

#[test]
fn basic_fixture_every_form() {
    let dir = fixture("basic");
    let mut o = opts(&dir);
    o.environment.insert("FROM_ENV".into(), "process".into());
    o.environment.insert("PROJECT".into(), "fromprocess".into());
    let p = load(&o).unwrap();
    // Process environment wins over .env.
    assert_eq!(p.name, "fromprocess");
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:1.25"));
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(web.labels["tier"], "back");
    assert_eq!(
        web.command,
        Some(Command::Shell("nginx -g \"daemon off;\"".into()))
    );
    assert_eq!(
        web.command.as_ref().unwrap().argv().unwrap(),
        vec!["nginx", "-g", "daemon off;"]
    );
    let build = web.build.as_ref().unwrap();
    assert_eq!(build.context, dir.join("web").to_string_lossy());
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile"));
    assert_eq!(build.args["VERSION"].as_deref(), Some("1"));
    // Ports: short, ranges expanded, long.
    assert_eq!(web.ports.len(), 4);
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    assert_eq!(web.ports[0].protocol, "tcp");
    assert_eq!(web.ports[0].mode, "ingress");
    assert_eq!(web.ports[2].target, 9001);
    assert_eq!(web.ports[2].published.as_deref(), Some("9001"));
    assert_eq!(web.ports[2].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(web.ports[2].protocol, "udp");
    assert_eq!(web.ports[3].target, 443);
    // Volumes.
    assert_eq!(web.volumes[0].kind, VolumeType::Bind);
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(dir.join("html").to_str().unwrap())
    );
    assert!(web.volumes[0].read_only);
    assert!(web.volumes[0].bind.as_ref().unwrap().create_host_path);
    assert_eq!(web.volumes[1].kind, VolumeType::Volume);
    assert_eq!(web.volumes[2].tmpfs.as_ref().unwrap().size, Some(64 << 20));
    // Environment: env_file under environment, KEY alone from the process environment.
    assert_eq!(web.environment["GREETING"].as_deref(), Some("hello"));
    assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("yes"));
    assert_eq!(web.environment["FROM_ENV"].as_deref(), Some("process"));
    assert_eq!(
        web.depends_on["db"].condition,
        DependsCondition::ServiceHealthy
    );
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test.as_ref().unwrap()[0], "CMD-SHELL");
    assert_eq!(hc.interval, Some(Duration::from_secs(90)));
    assert_eq!(hc.retries, Some(3));
    let limits = web
        .deploy
        .as_ref()
        .unwrap()
        .resources
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(limits.cpus, Some(0.5));
    assert_eq!(limits.memory, Some(512 << 20));
    assert_eq!(web.ulimits["nproc"].soft, 65535);
    assert_eq!(web.ulimits["nofile"].hard, 2048);
    assert_eq!(web.extra_hosts["somehost"], vec!["162.242.195.82"]);
    assert_eq!(web.shm_size, Some(1 << 30));
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(30)));
    assert_eq!(web.extensions["x-custom"]["a"], 1);
    assert!(p.extensions.contains_key("x-common"));
    // Defaults: the implicit default network and scoped names.
    assert!(web.networks.contains_key("default"));
    assert_eq!(
        p.networks["default"].name.as_deref(),
        Some("fromprocess_default")
    );
    assert_eq!(p.networks["back"].name.as_deref(), Some("fromprocess_back"));
    assert_eq!(p.volumes["data"].name.as_deref(), Some("fromprocess_data"));
    let db = &p.services["db"];
    assert_eq!(
        db.networks["back"].as_ref().unwrap().aliases,
        vec!["database"]
    );
    assert_eq!(db.secrets[0].source, "dbpass");
    assert_eq!(
        p.secrets["dbpass"].file.as_deref(),
        Some(dir.join("dbpass.txt").to_str().unwrap())
    );
}

#[test]
fn dotenv_used_when_process_env_lacks_it() {
    let p = load(&opts(&fixture("basic"))).unwrap();
    assert_eq!(p.name, "myproj");
    assert_eq!(p.services["web"].image.as_deref(), Some("nginx:1.25"));
}

#[test]
fn to_yaml_round_trip() {
    let p = load(&opts(&fixture("basic"))).unwrap();
    let yaml = p.to_yaml();
    let again = mem(&[("out.yaml", &yaml)]).unwrap();
    assert_eq!(again.services, p.services, "{yaml}");
    assert_eq!(again.networks, p.networks);
    assert_eq!(again.volumes, p.volumes);
    assert_eq!(again.secrets, p.secrets);
    assert_eq!(again.name, p.name);
    assert_eq!(again.extensions, p.extensions);
    // And the JSON form parses as YAML too.
    let again = mem(&[("out.json", &p.to_json())]).unwrap();
    assert_eq!(again.services, p.services);
}

#[test]
fn dollar_survives_round_trip() {
    let p = mem(&[(
        "c.yaml",
        "services:\n  a:\n    image: x\n    command: echo $$HOME\n",
    )])
    .unwrap();
    assert_eq!(
        p.services["a"].command,
        Some(Command::Shell("echo $HOME".into()))
    );
    let again = mem(&[("o.yaml", &p.to_yaml())]).unwrap();
    assert_eq!(again.services, p.services);
}

#[test]
fn merge_three_files() {
    let a = "services:\n  web:\n    image: a\n    command: [a]\n    ports: ['80:80']\n    environment: [A=1, B=1]\n    volumes: ['/a:/data', '/x:/x']\n    labels: {l1: a}\n    dns: 1.1.1.1\n";
    let b = "services:\n  web:\n    image: b\n    command: b\n    ports: ['80:80', '81:81']\n    environment: {B: 2, C: 2}\n    volumes: ['/b:/data']\n    dns: [8.8.8.8]\n  db:\n    image: pg\n";
    let c = "services:\n  web:\n    labels: !reset {}\n    environment:\n      C: 3\n    ports: !override ['90:90']\n  db:\n    image: pg:16\n";
    let p = mem(&[("a.yaml", a), ("b.yaml", b), ("c.yaml", c)]).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("b"));
    assert_eq!(web.command, Some(Command::Shell("b".into())));
    let env: Vec<_> = web
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(env, vec!["A=1", "B=2", "C=3"]);
    assert_eq!(web.ports.len(), 1);
    assert_eq!(web.ports[0].target, 90);
    assert_eq!(web.volumes.len(), 2);
    assert_eq!(web.volumes[0].source.as_deref(), Some("/b"));
    assert!(web.labels.is_empty());
    assert_eq!(web.dns, vec!["1.1.1.1", "8.8.8.8"]);
    assert_eq!(p.services["db"].image.as_deref(), Some("pg:16"));
}

#[test]
fn extends_other_file() {
    let dir = fixture("extends");
    let p = load(&opts(&dir)).unwrap();
    let cli = &p.services["cli"];
    assert_eq!(cli.image.as_deref(), Some("busybox"));
    assert_eq!(cli.user.as_deref(), Some("root"));
    assert_eq!(cli.environment["PORT"].as_deref(), Some("8080"));
    assert_eq!(cli.environment["TZ"].as_deref(), Some("utc"));
    assert_eq!(cli.security_opt, vec!["label:role:ROLE", "label:user:USER"]);
    // Relative paths in the extended file resolve against that file's directory.
    assert_eq!(
        cli.volumes[0].source.as_deref(),
        Some(dir.join("common-data").to_str().unwrap())
    );
}

#[test]
fn extends_cycle_is_an_error() {
    let e = mem(&[(
        "c.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n",
    )])
    .unwrap_err();
    assert!(matches!(e, ComposeError::ExtendsCycle { .. }), "{e}");
}

#[test]
fn include_with_its_own_env() {
    let dir = fixture("include");
    let p = load(&opts(&dir)).unwrap();
    let db = &p.services["dbsub"];
    assert_eq!(db.image.as_deref(), Some("postgres:16"));
    assert_eq!(
        db.volumes[0].source.as_deref(),
        Some(dir.join("sub/init").to_str().unwrap())
    );
    assert_eq!(p.dependency_order().unwrap(), vec!["dbsub", "app"]);
}

#[test]
fn profiles() {
    let f = "services:\n  foo: {image: foo}\n  bar: {image: bar, profiles: [test]}\n  baz: {image: baz, depends_on: [bar], profiles: [test]}\n  zot: {image: zot, depends_on: [bar], profiles: [debug]}\n";
    let names = |p: &Project| p.services.keys().cloned().collect::<Vec<_>>();
    let p = mem(&[("c.yaml", f)]).unwrap();
    assert_eq!(names(&p), vec!["foo"]);
    assert_eq!(p.disabled_services.len(), 3);
    let mut o = opts(Path::new("/proj/demo"));
    o.profiles = vec!["test".into()];
    let p = load_from_str(&[("c.yaml", f)], &o).unwrap();
    assert_eq!(names(&p), vec!["bar", "baz", "foo"]);
    o.profiles = vec!["debug".into()];
    let e = load_from_str(&[("c.yaml", f)], &o).unwrap_err();
    assert!(e.to_string().contains("disabled by its profiles"), "{e}");
    o.profiles = vec!["debug".into(), "test".into()];
    assert_eq!(
        names(&load_from_str(&[("c.yaml", f)], &o).unwrap()).len(),
        4
    );
    // COMPOSE_PROFILES and `*`.
    o.profiles.clear();
    o.environment.insert("COMPOSE_PROFILES".into(), "*".into());
    assert_eq!(
        names(&load_from_str(&[("c.yaml", f)], &o).unwrap()).len(),
        4
    );
    // A command targeting baz enables it and bar.
    let mut p = mem(&[("c.yaml", f)]).unwrap();
    p.enable_services(&["baz".into()]).unwrap();
    assert_eq!(names(&p), vec!["bar", "baz", "foo"]);
    assert_eq!(p.profiles, vec!["test"]);
}

#[test]
fn error_names_file_line_and_path() {
    let f = "services:\n  web:\n    image: x\n    ports:\n      - \"80:abc\"\n";
    let e = mem(&[("compose.yaml", f)]).unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with("compose.yaml:5: services.web.ports[0]: "),
        "{s}"
    );
    assert!(s.contains("80:abc"), "{s}");
}

#[test]
fn validation_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "services:\n  web:\n    image: x\n    imgae: y\n",
            "c.yaml:4: services.web.imgae: unknown field `imgae`",
        ),
        (
            "services:\n  web:\n    restart: always\n",
            "neither an image nor a build",
        ),
        (
            "services:\n  web:\n    image: x\n    depends_on: [db]\n",
            "undefined service \"db\"",
        ),
        (
            "services:\n  web:\n    image: x\n    links: [db:d]\n",
            "undefined service \"db\"",
        ),
        (
            "services:\n  web:\n    image: x\n    volumes_from: [db]\n",
            "undefined service \"db\"",
        ),
        (
            "services:\n  web:\n    image: x\n    volumes: [data:/d]\n",
            "undefined volume data",
        ),
        (
            "services:\n  web:\n    image: x\n    networks: [front]\n",
            "undefined network front",
        ),
        (
            "services:\n  web:\n    image: x\n    secrets: [s]\n",
            "undefined secret s",
        ),
        (
            "services:\n  web:\n    image: x\n    privileged: maybe\n",
            "services.web.privileged: expected a boolean",
        ),
        (
            "services:\n  web:\n    image: x\n    stop_grace_period: 10\n",
            "invalid duration",
        ),
        (
            "services:\n  web:\n    image: x\n    mem_limit: 1zb\n",
            "invalid size",
        ),
        (
            "services:\n  web:\n    image: x\n    command: echo \"unterminated\n",
            "services.web.command",
        ),
        (
            "services:\n  web:\n    image: x\n    restart: sometimes\n",
            "invalid restart policy",
        ),
        (
            "services:\n  web:\n    image: x\n    network_mode: host\n    networks: [default]\n",
            "cannot be combined",
        ),
        (
            "services:\n  web:\n    image: x\nfoo: bar\n",
            "unknown field `foo`",
        ),
        (
            "services:\n  web:\n    image: x\n  web:\n    image: y\n",
            "already defined",
        ),
        ("name: Bad Name\nservices: {}\n", "not a valid project name"),
    ];
    for (file, want) in cases {
        let e = mem(&[("c.yaml", file)]).unwrap_err().to_string();
        assert!(e.contains(want), "for {file:?}: got {e:?}, want {want:?}");
    }
}

#[test]
fn interpolation_errors_and_warnings() {
    let e = mem(&[(
        "c.yaml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n",
    )])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "c.yaml:3: services.web.image: required variable IMAGE is missing a value: set IMAGE"
    );
    let p = mem(&[("c.yaml", "services:\n  web:\n    image: x${UNSET}\n")]).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("x"));
    assert!(p.warnings.iter().any(|w| w.contains("UNSET")));
}

#[test]
fn short_and_long_syntaxes() {
    let f = r#"
services:
  a:
    image: x
    entrypoint: ["/bin/sh", "-c"]
    env_file:
      - path: ./missing.env
        required: false
    environment: [A=1, B]
    expose: [80, "90"]
    tmpfs: /run
    dns_search: example.com
    labels: [x=1, y]
    extra_hosts: {h1: 10.0.0.1, h2: ["10.0.0.2", "::1"]}
    configs:
      - source: c
        target: /etc/c
        mode: 0440
    devices: ["/dev/fuse", "/dev/sda:/dev/xvda:rwm"]
    healthcheck: {disable: true}
    depends_on: [b]
    networks:
      n: {ipv4_address: 10.1.0.5, priority: 100}
    ulimits: {nofile: 100}
    deploy:
      replicas: 2
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
    init: "true"
    gpus: all
  b:
    build: .
    pull_policy: build
networks:
  n:
    external: true
  m:
    name: custom
    driver: bridge
    internal: true
    attachable: true
    enable_ipv6: true
    driver_opts: {com.docker.network.bridge.name: br0}
    ipam:
      driver: default
      config:
        - subnet: 10.1.0.0/24
          ip_range: 10.1.0.0/25
          gateway: 10.1.0.1
          aux_addresses: {host1: 10.1.0.2}
configs:
  c:
    content: hello
"#;
    let p = mem(&[("c.yaml", f)]).unwrap();
    let a = &p.services["a"];
    assert_eq!(
        a.entrypoint,
        Some(Command::Exec(vec!["/bin/sh".into(), "-c".into()]))
    );
    assert!(!a.env_file[0].required);
    assert!(p.warnings.iter().any(|w| w.contains("missing.env")));
    assert_eq!(a.environment["A"].as_deref(), Some("1"));
    assert_eq!(a.environment["B"], None);
    assert_eq!(a.expose, vec!["80", "90"]);
    assert_eq!(a.tmpfs, vec!["/run"]);
    assert_eq!(a.labels["y"], "");
    assert_eq!(a.extra_hosts["h2"], vec!["10.0.0.2", "::1"]);
    assert_eq!(a.configs[0].mode, Some(0o440));
    assert_eq!(a.devices[0].target, "/dev/fuse");
    assert_eq!(a.devices[1].permissions.as_deref(), Some("rwm"));
    assert!(a.healthcheck.as_ref().unwrap().disable);
    assert!(a.depends_on["b"].required);
    let n = a.networks["n"].as_ref().unwrap();
    assert_eq!(n.ipv4_address.as_deref(), Some("10.1.0.5"));
    assert_eq!(n.priority, Some(100));
    assert_eq!(a.ulimits["nofile"].hard, 100);
    let d = a.deploy.as_ref().unwrap();
    assert_eq!(d.replicas, Some(2));
    let rp = d.restart_policy.as_ref().unwrap();
    assert_eq!(rp.delay, Some(Duration::from_secs(5)));
    assert_eq!(rp.window, Some(Duration::from_secs(120)));
    assert_eq!(a.init, Some(true));
    assert_eq!(a.gpus[0].count, Some(-1));
    assert_eq!(
        p.services["b"].build.as_ref().unwrap().context,
        "/proj/demo"
    );
    assert_eq!(p.networks["n"].name.as_deref(), Some("n"));
    let m = &p.networks["m"];
    assert_eq!(m.name.as_deref(), Some("custom"));
    assert!(m.internal && m.attachable && m.enable_ipv6 == Some(true));
    let pool = &m.ipam.as_ref().unwrap().config[0];
    assert_eq!(pool.gateway.as_deref(), Some("10.1.0.1"));
    assert_eq!(pool.aux_addresses["host1"], "10.1.0.2");
    assert_eq!(p.dependency_order().unwrap(), vec!["b", "a"]);
    let again = mem(&[("o.yaml", &p.to_yaml())]).unwrap();
    assert_eq!(again.services, p.services);
    assert_eq!(again.networks, p.networks);
}

#[test]
fn dependency_order_and_cycles() {
    let f = "services:\n  a: {image: x, depends_on: [b], links: [c]}\n  b: {image: x, network_mode: 'service:d'}\n  c: {image: x, volumes_from: ['d:ro']}\n  d: {image: x}\n";
    let p = mem(&[("c.yaml", f)]).unwrap();
    assert_eq!(p.dependency_order().unwrap(), vec!["d", "b", "c", "a"]);
    let f = "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n  d: {image: x}\n";
    let e = mem(&[("c.yaml", f)])
        .unwrap()
        .dependency_order()
        .unwrap_err();
    match e {
        ComposeError::DependencyCycle { cycle } => {
            assert_eq!(cycle.first(), cycle.last());
            assert_eq!(cycle.len(), 4);
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn hash_stability() {
    let f = "services:\n  a:\n    image: x\n    environment: {A: $VAL}\n    scale: 2\n";
    let with = |val: &str| {
        let mut o = opts(Path::new("/proj/demo"));
        o.environment.insert("VAL".into(), val.into());
        load_from_str(&[("c.yaml", f)], &o).unwrap()
    };
    let h1 = with("1").service_hash("a").unwrap();
    assert_eq!(h1, with("1").service_hash("a").unwrap());
    assert_eq!(h1.len(), 64);
    assert_ne!(h1, with("2").service_hash("a").unwrap());
    // Scale does not force a recreate.
    let scaled = f.replace("scale: 2", "scale: 3");
    let mut o = opts(Path::new("/proj/demo"));
    o.environment.insert("VAL".into(), "1".into());
    let p = load_from_str(&[("c.yaml", scaled.as_str())], &o).unwrap();
    assert_eq!(p.service_hash("a").unwrap(), h1);
    assert_eq!(with("1").service_hash("nope"), None);
}

#[test]
fn project_name_sources() {
    let f = "name: fromfile\nservices: {}\n";
    assert_eq!(mem(&[("c.yaml", f)]).unwrap().name, "fromfile");
    let mut o = opts(Path::new("/proj/My.Dir_1"));
    assert_eq!(
        load_from_str(&[("c.yaml", "services: {}\n")], &o)
            .unwrap()
            .name,
        "mydir_1"
    );
    o.environment
        .insert("COMPOSE_PROJECT_NAME".into(), "envname".into());
    assert_eq!(load_from_str(&[("c.yaml", f)], &o).unwrap().name, "envname");
    o.project_name = Some("flag".into());
    assert_eq!(load_from_str(&[("c.yaml", f)], &o).unwrap().name, "flag");
}

#[test]
fn anchors_and_merge_keys_in_services() {
    let f = "x-base: &base\n  image: busybox\n  environment: &env\n    A: 1\nservices:\n  one:\n    <<: *base\n  two:\n    <<: *base\n    image: alpine\n    environment:\n      <<: *env\n      B: 2\n";
    let p = mem(&[("c.yaml", f)]).unwrap();
    assert_eq!(p.services["one"].image.as_deref(), Some("busybox"));
    assert_eq!(p.services["two"].image.as_deref(), Some("alpine"));
    assert_eq!(p.services["two"].environment.len(), 2);
}

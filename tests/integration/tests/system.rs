//! Ping, version negotiation and info, through raw HTTP and both docker CLIs.

use integration::*;

#[test]
fn ping_answers_get_and_head_with_headers() {
    let d = daemon_or_skip!();
    let r = d.request("GET", "/_ping", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "OK");
    let api = r.header("api-version").expect("Api-Version header");
    assert!(api.starts_with("1."), "Api-Version: {api}");
    assert_eq!(r.header("ostype"), Some("linux"));
    assert!(r.header("docker-experimental").is_some(), "{:?}", r.headers);

    let h = d.request("HEAD", "/_ping", None);
    assert_eq!(h.status, 200);
    assert!(h.header("api-version").is_some());
}

#[test]
fn version_endpoint_has_engine_component() {
    let d = daemon_or_skip!();
    let (status, v) = d.api_json("GET", "/version", None);
    assert_eq!(status, 200, "{v}");
    for key in [
        "Version",
        "ApiVersion",
        "MinAPIVersion",
        "Os",
        "Arch",
        "KernelVersion",
    ] {
        assert!(v[key].is_string(), "missing {key} in {v}");
    }
    assert_eq!(v["Os"], "linux");
    let engine = v["Components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["Name"] == "Engine"))
        .unwrap_or_else(|| panic!("no Engine component in {v}"));
    assert!(engine["Details"]["ApiVersion"].is_string(), "{engine}");
}

#[test]
fn docker_cli_28_version_and_info() {
    let d = daemon_or_skip!();
    let out = d.docker(&["version"]).ok();
    assert!(out.stdout.contains("Server:"), "{out}");
    let api = d
        .docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .ok();
    assert!(api.out().starts_with("1."), "{api}");
    let os = d.docker(&["info", "--format", "{{.OSType}}"]).ok();
    assert_eq!(os.out(), "linux");
    let info = d.docker(&["info"]).ok();
    assert!(info.stdout.contains("Containers:"), "{info}");
    let dir = d.docker(&["info", "--format", "{{.DockerRootDir}}"]).ok();
    assert_eq!(dir.out(), d.data_root.display().to_string());
    if d.is_berth() {
        // The security options every container gets, exactly (issue 9).
        let so = d
            .docker(&["info", "--format", "{{json .SecurityOptions}}"])
            .ok();
        assert_eq!(
            so.out(),
            r#"["name=seccomp,profile=builtin","name=cgroupns"]"#
        );
        assert!(
            info.stdout
                .contains("Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns\n"),
            "{info}"
        );
    }
}

#[test]
fn docker_cli_20_negotiates_1_41() {
    let d = daemon_or_skip!();
    let Some(out) = d.docker20(&[
        "version",
        "--format",
        "{{.Client.APIVersion}} {{.Server.APIVersion}}",
    ]) else {
        return;
    };
    let out = out.ok();
    let parts: Vec<&str> = out.out().split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"1.41"), "{out}");
    assert!(parts.get(1).is_some_and(|v| v.starts_with("1.")), "{out}");
    if let Some(info) = d.docker20(&["info"]) {
        let info = info.ok();
        assert!(info.stdout.contains("Server Version"), "{info}");
    }
}

#[test]
fn berth_cli_version() {
    let d = daemon_or_skip!();
    let out = d.berth(&["version"]).ok();
    assert!(out.stdout.contains("Server"), "{out}");
}

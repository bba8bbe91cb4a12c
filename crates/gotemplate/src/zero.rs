//! Markers standing for Go values JSON cannot carry: the zero values of
//! docker's typed struct fields that the daemon sent as `null` or left out,
//! and the `<no value>` of a missing map key.

use serde_json::{Map, Value};

/// Marker for a missing map key, printed as "<no value>" like Go.
pub(crate) fn no_value() -> Value {
    let mut m = Map::new();
    m.insert("__no_value".into(), Value::Bool(true));
    Value::Object(m)
}

pub(crate) fn is_no_value(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key("__no_value"))
}

/// Fields docker decodes into Go maps (printed "map[]" when null).
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Tmpfs",
    "PortBindings",
    "Sysctls",
    "StorageOpt",
    "Options",
    "DriverOpts",
    "Networks",
    "Ports",
    "Annotations",
    "Data",
    "Args",
    "BuildArgs",
    "EndpointsConfig",
    "DriverOpts",
];

/// Fields docker decodes into Go pointers or structs (printed "<nil>" when null).
const PTR_FIELDS: &[&str] = &[
    "Health",
    "Healthcheck",
    "State",
    "Config",
    "HostConfig",
    "NetworkSettings",
    "GraphDriver",
    "ImageManifestDescriptor",
    "Metadata",
    "Node",
    "RestartPolicy",
    "LogConfig",
    "IPAMConfig",
    "ContainerConfig",
    "RootFS",
    "Platform",
    "Descriptor",
    "Manifests",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Init",
    "StopTimeout",
    "Size",
    "SizeRw",
    "SizeRootFs",
];

/// Well-known string fields of docker's objects (zero value "").
const STR_FIELDS: &[&str] = &[
    "Id",
    "ID",
    "Name",
    "Image",
    "ImageID",
    "Status",
    "Hostname",
    "Domainname",
    "User",
    "WorkingDir",
    "Driver",
    "Path",
    "Created",
    "StartedAt",
    "FinishedAt",
    "Error",
    "IPAddress",
    "Gateway",
    "MacAddress",
    "NetworkMode",
    "Architecture",
    "Os",
    "Variant",
    "Author",
    "Comment",
    "DockerVersion",
    "Parent",
    "StopSignal",
    "Runtime",
    "LogPath",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "Type",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "Cgroup",
    "CgroupParent",
    "Isolation",
    "ContainerIDFile",
    "VolumeDriver",
    "SandboxID",
    "SandboxKey",
    "EndpointID",
    "NetworkID",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "Source",
    "Destination",
    "Mode",
    "Propagation",
    "ExecID",
    "State",
    "Command",
];

/// Well-known numeric fields (zero value 0).
const NUM_FIELDS: &[&str] = &[
    "ExitCode",
    "Pid",
    "RestartCount",
    "VirtualSize",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "ShmSize",
    "IPPrefixLen",
    "MaximumRetryCount",
    "Containers",
    "SharedSize",
];

/// Well-known boolean fields (zero value false).
const BOOL_FIELDS: &[&str] = &[
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Privileged",
    "ReadonlyRootfs",
    "AutoRemove",
    "PublishAllPorts",
    "RW",
    "NetworkDisabled",
];

/// A null or missing JSON value standing for the Go zero value docker's
/// typed structs would print: "slice", "map", "ptr", "str", "num", "bool".
pub(crate) fn nil_marker(name: &str) -> Value {
    let kind = if MAP_FIELDS.contains(&name) {
        "map"
    } else if PTR_FIELDS.contains(&name) {
        "ptr"
    } else {
        "slice"
    };
    nil_of(kind)
}

/// The zero value for a field missing from the daemon's JSON.
pub(crate) fn missing_marker(name: &str) -> Value {
    if STR_FIELDS.contains(&name) {
        nil_of("str")
    } else if NUM_FIELDS.contains(&name) {
        nil_of("num")
    } else if BOOL_FIELDS.contains(&name) {
        nil_of("bool")
    } else {
        nil_marker(name)
    }
}

fn nil_of(kind: &str) -> Value {
    let mut m = Map::new();
    m.insert("__nil".into(), Value::String(kind.into()));
    Value::Object(m)
}

/// The JSON value a zero-value marker stands for: `""`, `0`, `false`, or
/// `null` for a nil slice, map or pointer. `None` for other values.
pub(crate) fn marker_value(v: &Value) -> Option<Value> {
    Some(match nil_kind(v)? {
        "str" => Value::String(String::new()),
        "num" => Value::from(0),
        "bool" => Value::Bool(false),
        _ => Value::Null,
    })
}

pub(crate) fn nil_kind(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("__nil").and_then(Value::as_str),
        _ => None,
    }
}

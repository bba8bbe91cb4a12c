//! Daemon configuration, assembled by `berthd` from its flags and daemon.json.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Name of the built-in runtime (libcontainer inside the shim).
pub const BUILTIN_RUNTIME: &str = "berth";

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The shim binary, run as `<shim_exe> <state dir>` (`berth-shim`, next to berthd).
    pub shim_exe: PathBuf,
    /// Runtime used when a container names none.
    pub default_runtime: String,
    /// OCI runtime binaries by name (`runc` -> /usr/sbin/runc). The built-in
    /// runtime is always available as [`BUILTIN_RUNTIME`].
    pub runtimes: BTreeMap<String, PathBuf>,
    pub bridge: network::BridgeConfig,
    /// Default json-file options (`log-opts` in daemon.json).
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    /// Host path of the init binary for `--init` (docker-init / tini-static).
    pub init_path: Option<PathBuf>,
    pub cgroup_parent: String,
    /// daemon.json `insecure-registries` / `--insecure-registry`.
    pub insecure_registries: Vec<String>,
    /// Per-registry CAs and client certificates: `<dir>/<host[:port]>/ca.crt`.
    pub certs_dir: PathBuf,
    /// Parallel layer downloads of one pull.
    pub max_concurrent_downloads: usize,
    /// Parallel layer uploads of one push.
    pub max_concurrent_uploads: usize,
}

impl DaemonConfig {
    /// Looks up a runtime by name.
    pub fn runtime_spec(&self, name: &str, id: &str) -> Option<runtime::shim::RuntimeSpec> {
        let _ = id;
        if name == BUILTIN_RUNTIME {
            return Some(runtime::shim::RuntimeSpec::Builtin {
                root: self.exec_root.join("builtin"),
            });
        }
        self.runtimes
            .get(name)
            .map(|path| runtime::shim::RuntimeSpec::Oci {
                name: name.to_string(),
                path: path.clone(),
                root: self.exec_root.join(name),
            })
    }
}

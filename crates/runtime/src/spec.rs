//! OCI runtime spec generation with Docker's defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything the daemon decided about a container, turned into an OCI spec by
/// [`generate_spec`].
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub id: String,
    pub rootfs: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub read_only: bool,
    pub mounts: Vec<MountSpec>,
    pub netns: NetNs,
    pub resources: Resources,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    pub ulimits: Vec<Ulimit>,
    pub cgroup_parent: String,
    pub init: Option<PathBuf>,
    pub sysctls: BTreeMap<String, String>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct MountSpec {
    pub destination: String,
    pub source: String,
    pub kind: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub enum NetNs {
    Host,
    Path(PathBuf),
    #[default]
    New,
}

#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub pids_limit: Option<i64>,
    pub cpuset_cpus: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub cwd: String,
    pub tty: bool,
    pub privileged: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("invalid container config: {0}")]
    Invalid(String),
}

impl engine_types::HasKind for SpecError {
    fn kind(&self) -> engine_types::ErrorKind {
        engine_types::ErrorKind::InvalidArgument
    }
}

pub fn generate_spec(spec: &ContainerSpec) -> Result<oci_spec::runtime::Spec, SpecError> {
    let _ = spec;
    todo!()
}

pub fn write_bundle(bundle_dir: &Path, spec: &oci_spec::runtime::Spec) -> Result<(), SpecError> {
    let _ = (bundle_dir, spec);
    todo!()
}

pub fn exec_process(
    base: &oci_spec::runtime::Spec,
    rootfs: &Path,
    exec: &ExecConfig,
) -> Result<oci_spec::runtime::Process, SpecError> {
    let _ = (base, rootfs, exec);
    todo!()
}

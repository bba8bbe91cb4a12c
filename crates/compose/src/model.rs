//! The typed, normalised Compose model. Short syntaxes are read into the long forms;
//! serialization always writes the long forms, which read back to the same values.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::forms::{
    bool_or_string, extra_hosts, file_mode, list_or_dict, list_or_dict_opt, list_or_map_of,
    map_of_string_or_list, scalar_list, short_or_long, string_or_list, ScalarString,
};
use crate::units::{duration_opt, size_opt};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// One service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    #[serde(
        default,
        deserialize_with = "build_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub build: Option<Build>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(
        default,
        deserialize_with = "file_refs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub configs: Vec<ServiceFileRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpec>,
    #[serde(
        default,
        deserialize_with = "depends_on",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<Develop>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(
        default,
        deserialize_with = "devices",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<DeviceMapping>,
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Command>,
    #[serde(
        default,
        deserialize_with = "env_files",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env_file: Vec<EnvFile>,
    /// `KEY` without a value is resolved from the environment at load; `None` if unset there.
    #[serde(
        default,
        deserialize_with = "list_or_dict_opt",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    /// Host name to addresses.
    #[serde(
        default,
        deserialize_with = "extra_hosts",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra_hosts: BTreeMap<String, Vec<String>>,
    #[serde(
        default,
        deserialize_with = "gpus",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gpus: Vec<DeviceRequest>,
    #[serde(
        default,
        deserialize_with = "scalar_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub label_file: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<i64>,
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<i64>,
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<i64>,
    #[serde(
        default,
        deserialize_with = "list_or_map_of",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub models: BTreeMap<String, Option<ServiceModel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_map_of",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(
        default,
        deserialize_with = "ports",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ServicePort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    #[serde(
        default,
        deserialize_with = "file_refs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<ServiceFileRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub stdin_open: bool,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub storage_opt: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctls: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tmpfs: Vec<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub tty: bool,
    #[serde(
        default,
        deserialize_with = "Ulimit::map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub use_api_socket: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(
        default,
        deserialize_with = "volumes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<ServiceVolume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `x-*` keys of the service, kept as written (after interpolation).
    #[serde(skip)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// `command` / `entrypoint`: a string (split like a shell would) or an exec-form list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

impl Command {
    /// The argument vector: the exec form as is, the string form split with shell quoting rules.
    pub fn argv(&self) -> Result<Vec<String>, String> {
        match self {
            Command::Exec(v) => Ok(v.clone()),
            Command::Shell(s) => {
                shell_words::split(s).map_err(|e| format!("invalid command {s:?}: {e}"))
            }
        }
    }
}

/// `build`; the short form is the context.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(default)]
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict_opt",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub args: BTreeMap<String, Option<String>>,
    #[serde(
        default,
        deserialize_with = "ssh",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh: Vec<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub no_cache: bool,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub additional_contexts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<ScalarField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<ScalarField>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub pull: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<i64>,
    #[serde(
        default,
        deserialize_with = "extra_hosts",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra_hosts: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(
        default,
        deserialize_with = "file_refs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<ServiceFileRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(
        default,
        deserialize_with = "Ulimit::map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
}

/// A value Compose accepts as a bool or a string (`provenance`, `sbom`), kept as a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ScalarField(pub String);

impl<'de> Deserialize<'de> for ScalarField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ScalarField(ScalarString::deserialize(d)?.0))
    }
}

fn build_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Build>, D::Error> {
    Option::<BuildForm>::deserialize(d).map(|b| b.map(|b| b.0))
}

struct BuildForm(Build);

impl<'de> Deserialize<'de> for BuildForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        short_or_long(d, "a build context path or a build mapping", |s| {
            Ok(Build {
                context: s.to_string(),
                ..Build::default()
            })
        })
        .map(BuildForm)
    }
}

fn ssh<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(list_or_dict_opt(d)?
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k,
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    pub path: String,
    #[serde(with = "size_req")]
    pub rate: i64,
}

mod size_req {
    use serde::{Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        crate::units::size_opt::deserialize(d)?
            .ok_or_else(|| serde::de::Error::custom("a size is required"))
    }

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// The condition a dependency must reach before the dependent service starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependsCondition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsOn {
    pub condition: DependsCondition,
    #[serde(default = "yes", deserialize_with = "bool_or_string")]
    pub required: bool,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub restart: bool,
}

impl Default for DependsOn {
    fn default() -> Self {
        DependsOn {
            condition: DependsCondition::ServiceStarted,
            required: true,
            restart: false,
        }
    }
}

fn depends_on<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, DependsOn>, D::Error> {
    Ok(list_or_map_of::<D, DependsOn>(d)?
        .into_iter()
        .map(|(k, v)| {
            // The short form implies `restart: true` in Compose v2.
            let v = v.unwrap_or(DependsOn {
                restart: true,
                ..DependsOn::default()
            });
            (k, v)
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub monitor: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericResource {
    pub discrete_resource_spec: DiscreteResource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteResource {
    pub kind: String,
    pub value: i64,
}

/// A device request (`deploy.resources.reservations.devices`, `gpus`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// `-1` means all devices.
    #[serde(
        default,
        deserialize_with = "device_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

fn device_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<ScalarString>::deserialize(d)? {
        None => Ok(None),
        Some(ScalarString(s)) if s == "all" => Ok(Some(-1)),
        Some(ScalarString(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid device count {s:?}"))),
    }
}

fn gpus<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceRequest>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        All(String),
        List(Vec<DeviceRequest>),
    }
    match Form::deserialize(d)? {
        Form::All(s) if s == "all" => Ok(vec![DeviceRequest {
            capabilities: vec!["gpu".into()],
            count: Some(-1),
            ..DeviceRequest::default()
        }]),
        Form::All(s) => Err(serde::de::Error::custom(format!(
            "invalid gpus {s:?}: expected \"all\" or a list"
        ))),
        Form::List(v) => Ok(v),
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub window: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    pub spread: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Develop {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<Watch>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    pub path: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore: Vec<String>,
    #[serde(
        default,
        deserialize_with = "string_or_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub include: Vec<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub initial_sync: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ServiceHook>,
}

/// `devices`: `host[:container[:permissions]]` or the long form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceMapping {
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
}

struct DeviceForm(DeviceMapping);

impl<'de> Deserialize<'de> for DeviceForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        short_or_long(d, "a device string or mapping", |s| {
            let parts: Vec<&str> = s.split(':').collect();
            let (source, target, permissions) = match parts.as_slice() {
                [src] => (*src, *src, None),
                [src, dst] => (*src, *dst, None),
                [src, dst, perm] => (*src, *dst, Some(perm.to_string())),
                _ => {
                    return Err(format!(
                        "invalid device {s:?}: expected host[:container[:permissions]]"
                    ))
                }
            };
            Ok(DeviceMapping {
                source: source.into(),
                target: target.into(),
                permissions,
            })
        })
        .map(DeviceForm)
    }
}

fn devices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeviceMapping>, D::Error> {
    Ok(Vec::<DeviceForm>::deserialize(d)?
        .into_iter()
        .map(|f| f.0)
        .collect())
}

/// One `env_file` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    pub path: String,
    #[serde(
        default = "yes",
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_true"
    )]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

struct EnvFileForm(EnvFile);

impl<'de> Deserialize<'de> for EnvFileForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        short_or_long(d, "a path or an env_file mapping", |s| {
            Ok(EnvFile {
                path: s.to_string(),
                required: true,
                format: None,
            })
        })
        .map(EnvFileForm)
    }
}

fn env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        One(String),
        Many(Vec<EnvFileForm>),
    }
    // Untagged enums buffer their input; only the list form can hold mappings.
    match Form::deserialize(d)? {
        Form::One(path) => Ok(vec![EnvFile {
            path,
            required: true,
            format: None,
        }]),
        Form::Many(v) => Ok(v.into_iter().map(|f| f.0).collect()),
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`; a string is `CMD-SHELL`.
    #[serde(
        default,
        deserialize_with = "health_test",
        skip_serializing_if = "Option::is_none"
    )]
    pub test: Option<Vec<String>>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_period: Option<Duration>,
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub disable: bool,
}

fn health_test<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Option::<Command>::deserialize(d)? {
        None => Ok(None),
        Some(Command::Shell(s)) => Ok(Some(vec!["CMD-SHELL".into(), s])),
        Some(Command::Exec(v)) => Ok(Some(v)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
}

/// A service's attachment to one network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw_priority: Option<i64>,
}

/// One published or exposed port, normalised from the short or long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "ingress")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(deserialize_with = "port_number")]
    pub target: u16,
    /// A port or a range (`"8000-8010"`); `None` lets the engine pick.
    #[serde(
        default,
        deserialize_with = "published",
        skip_serializing_if = "Option::is_none"
    )]
    pub published: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

fn ingress() -> String {
    "ingress".into()
}

fn tcp() -> String {
    "tcp".into()
}

fn port_number<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let ScalarString(s) = ScalarString::deserialize(d)?;
    s.parse()
        .map_err(|_| serde::de::Error::custom(format!("invalid port {s:?}")))
}

fn published<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(ScalarString(s)) = Option::<ScalarString>::deserialize(d)? else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    parse_range(&s).map_err(serde::de::Error::custom)?;
    Ok(Some(s))
}

fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid port range {s:?}");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses the short port syntax `[[ip:]host[-range]:]container[-range][/protocol]`,
/// expanding container ranges into one entry per port.
pub fn parse_port(spec: &str) -> Result<Vec<ServicePort>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    let (host_part, container) = match rest.rfind(':') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let (host_ip, host) = match host_part {
        None => (None, None),
        Some(h) => match h.rfind(':') {
            // `[::1]:80:80` and `127.0.0.1:80:80`; `127.0.0.1::80` leaves the host port empty.
            Some(i) => {
                let ip = h[..i].trim_start_matches('[').trim_end_matches(']');
                (Some(ip.to_string()), Some(&h[i + 1..]))
            }
            None => (None, Some(h)),
        },
    };
    let err = |why: &str| format!("invalid port {spec:?}: {why}");
    let (c_start, c_end) = parse_range(container).map_err(|e| err(&e))?;
    let host = host.filter(|h| !h.is_empty());
    let host_range = match host {
        Some(h) => Some(parse_range(h).map_err(|e| err(&e))?),
        None => None,
    };
    let count = (c_end - c_start) as usize + 1;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let target = c_start + i as u16;
        let published = match (host, host_range) {
            (Some(h), Some((h_start, h_end))) => {
                if count == 1 {
                    Some(h.to_string())
                } else if (h_end - h_start) as usize + 1 == count {
                    Some((h_start + i as u16).to_string())
                } else {
                    return Err(err("host and container port ranges differ in size"));
                }
            }
            _ => None,
        };
        out.push(ServicePort {
            name: None,
            mode: ingress(),
            host_ip: host_ip.clone().filter(|ip| !ip.is_empty()),
            target,
            published,
            protocol: protocol.clone(),
            app_protocol: None,
        });
    }
    Ok(out)
}

fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServicePort>, D::Error> {
    struct Form(PortList);
    impl<'de> Deserialize<'de> for Form {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            short_or_long(d, "a port string, number or mapping", |s| {
                parse_port(s).map(PortList)
            })
            .map(Form)
        }
    }
    Ok(Vec::<Form>::deserialize(d)?
        .into_iter()
        .flat_map(|f| f.0 .0)
        .collect())
}

/// Ports read from one list item: the long form is one port, the short form may be a range.
struct PortList(Vec<ServicePort>);

impl<'de> Deserialize<'de> for PortList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ServicePort::deserialize(d).map(|p| PortList(vec![p]))
    }
}

/// The mount type of a service volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Bind,
    Volume,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

/// One service mount, normalised from `src:dst[:mode]` or the long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Host path (bind, absolute after loading), volume name, or `None` (anonymous, tmpfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOptions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub create_host_path: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOptions {
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(
        default,
        deserialize_with = "file_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// True when a short-syntax volume source is a host path rather than a volume name.
pub fn is_host_path(src: &str) -> bool {
    src.starts_with('/') || src.starts_with('.') || src.starts_with('~')
}

/// Parses the short volume syntax `[source:]target[:mode,...]`.
pub fn parse_volume(spec: &str) -> Result<ServiceVolume, String> {
    let err = |why: &str| format!("invalid volume {spec:?}: {why}");
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, modes) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err(err("too many colons")),
    };
    if target.is_empty() {
        return Err(err("empty container path"));
    }
    if !target.starts_with('/') {
        return Err(err("the container path must be absolute"));
    }
    let source = source.filter(|s| !s.is_empty());
    let kind = match source {
        Some(s) if is_host_path(s) => VolumeType::Bind,
        _ => VolumeType::Volume,
    };
    let mut v = ServiceVolume {
        kind,
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only: false,
        consistency: None,
        bind: None,
        volume: None,
        tmpfs: None,
        image: None,
    };
    if kind == VolumeType::Bind {
        v.bind = Some(BindOptions {
            create_host_path: true,
            ..BindOptions::default()
        });
    }
    for m in modes.into_iter().flat_map(|m| m.split(',')) {
        match m {
            "ro" => v.read_only = true,
            "rw" => v.read_only = false,
            "z" | "Z" => v.bind.get_or_insert_with(BindOptions::default).selinux = Some(m.into()),
            "nocopy" => v.volume.get_or_insert_with(VolumeOptions::default).nocopy = true,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                v.bind.get_or_insert_with(BindOptions::default).propagation = Some(m.into())
            }
            "consistent" | "cached" | "delegated" => v.consistency = Some(m.into()),
            other => return Err(err(&format!("unknown mode {other:?}"))),
        }
    }
    Ok(v)
}

fn volumes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServiceVolume>, D::Error> {
    struct Form(ServiceVolume);
    impl<'de> Deserialize<'de> for Form {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            short_or_long(d, "a volume string or mapping", parse_volume).map(Form)
        }
    }
    Ok(Vec::<Form>::deserialize(d)?
        .into_iter()
        .map(|f| f.0)
        .collect())
}

/// A service's use of a secret or config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFileRef {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub uid: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub gid: Option<String>,
    #[serde(
        default,
        deserialize_with = "file_mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<u32>,
}

fn opt_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<ScalarString>::deserialize(d)?.map(|s| s.0))
}

fn file_refs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServiceFileRef>, D::Error> {
    struct Form(ServiceFileRef);
    impl<'de> Deserialize<'de> for Form {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            short_or_long(d, "a name or a mapping with source", |s| {
                Ok(ServiceFileRef {
                    source: s.to_string(),
                    target: None,
                    uid: None,
                    gid: None,
                    mode: None,
                })
            })
            .map(Form)
        }
    }
    Ok(Vec::<Form>::deserialize(d)?
        .into_iter()
        .map(|f| f.0)
        .collect())
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHook {
    pub command: Command,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict_opt",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: BTreeMap<String, Option<String>>,
}

impl Default for Command {
    fn default() -> Self {
        Command::Exec(Vec::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(
        default,
        deserialize_with = "map_of_string_or_list",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, Vec<String>>,
}

/// A ulimit; the single-value form sets soft and hard to the same value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

struct UlimitForm(Ulimit);

impl<'de> Deserialize<'de> for UlimitForm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        short_or_long(d, "a number or a mapping with soft and hard", |s| {
            let v: i64 = s.parse().map_err(|_| format!("invalid ulimit {s:?}"))?;
            Ok(Ulimit { soft: v, hard: v })
        })
        .map(UlimitForm)
    }
}

impl Ulimit {
    fn map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Ulimit>, D::Error> {
        Ok(BTreeMap::<String, UlimitForm>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }
}

/// `external`: a bool, or the legacy `{name: ...}` mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct External {
    pub external: bool,
    pub name: Option<String>,
}

impl<'de> Deserialize<'de> for External {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Legacy {
            name: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bool(bool),
            Str(String),
            Legacy(Legacy),
        }
        match Form::deserialize(d)? {
            Form::Bool(b) => Ok(External {
                external: b,
                name: None,
            }),
            Form::Str(s) => match s.as_str() {
                "true" | "True" | "TRUE" => Ok(External {
                    external: true,
                    name: None,
                }),
                "false" | "False" | "FALSE" => Ok(External::default()),
                _ => Err(serde::de::Error::custom(format!("invalid external {s:?}"))),
            },
            Form::Legacy(l) => Ok(External {
                external: true,
                name: l.name,
            }),
        }
    }
}

fn external<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(External::deserialize(d)?.external)
}

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The engine-side name (`<project>_<key>` unless set or external).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(
        default,
        deserialize_with = "bool_or_string",
        skip_serializing_if = "is_false"
    )]
    pub attachable: bool,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config (configs may have `content`; secrets `driver`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(
        default,
        deserialize_with = "external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        default,
        deserialize_with = "list_or_dict",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
}

/// A top-level model (AI model runner).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
}

/// The top level as read, before normalisation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    #[serde(default)]
    #[allow(dead_code)]
    pub version: Option<ScalarField>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, Option<Service>>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<Network>>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<Volume>>,
    #[serde(default)]
    pub secrets: BTreeMap<String, Option<FileObject>>,
    #[serde(default)]
    pub configs: BTreeMap<String, Option<FileObject>>,
    #[serde(default)]
    pub models: BTreeMap<String, Option<Model>>,
}

//! `/info` and `/version`.

use std::collections::HashMap;

use engine_types::models::{SystemVersion, SystemVersionComponents, SystemVersionPlatform};
use serde_json::json;

use crate::container::Status;
use crate::Daemon;

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}

fn os_pretty_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// "2" on a pure cgroup v2 host, "1" on v1 or hybrid hosts.
pub fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

impl Daemon {
    pub async fn info(&self) -> serde_json::Value {
        let all = self.all_containers();
        let states: Vec<_> = all.iter().map(|c| c.get().state).collect();
        let up = states
            .iter()
            .filter(|s| s.status == Status::Running)
            .count();
        let paused = states
            .iter()
            .filter(|s| s.status == Status::Running && s.paused)
            .count();
        let running = up - paused;
        let images = self
            .blocking(|s| s.list())
            .await
            .map(|l| l.len())
            .unwrap_or(0);
        let mut runtimes = serde_json::Map::new();
        runtimes.insert(
            crate::config::BUILTIN_RUNTIME.into(),
            json!({ "path": "berthd (built-in, libcontainer)" }),
        );
        for (name, path) in &self.cfg.runtimes {
            runtimes.insert(name.clone(), json!({ "path": path }));
        }
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ncpu = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        json!({
            "ID": self.daemon_id(),
            "Containers": all.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": all.len() - up,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "DockerRootDir": self.cfg.data_root,
            "Plugins": { "Volume": [], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file"] },
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "OomKillDisable": cgroup_version() == "1",
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "NGoroutines": 0,
            "SystemTime": crate::util::now_rfc3339(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version(),
            "NEventsListener": 0,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os_pretty_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "NCPU": ncpu,
            "MemTotal": mem_total(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": self.registry_config_info(),
            "GenericResources": null,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": engine_types::ENGINE_VERSION,
            "Runtimes": runtimes,
            "DefaultRuntime": self.cfg.default_runtime,
            "Swarm": { "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null },
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": self.cfg.init_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            "ContainerdCommit": { "ID": "" },
            "RuncCommit": { "ID": "" },
            "InitCommit": { "ID": "" },
            // What every container gets: Docker's default seccomp profile and a
            // private cgroup namespace (Docker lists "name=cgroupns" when that is
            // its default). No AppArmor, SELinux or user-namespace remapping.
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
            "Warnings": [],
        })
    }

    fn daemon_id(&self) -> String {
        daemon_id_of(&self.db)
    }

    pub fn version(&self) -> SystemVersion {
        let mut details = HashMap::new();
        details.insert(
            "ApiVersion".to_string(),
            engine_types::API_VERSION.to_string(),
        );
        details.insert(
            "MinAPIVersion".to_string(),
            engine_types::MIN_API_VERSION.to_string(),
        );
        details.insert("GitCommit".to_string(), String::new());
        details.insert("GoVersion".to_string(), "rust".to_string());
        details.insert("Os".to_string(), "linux".to_string());
        details.insert("Arch".to_string(), go_arch().to_string());
        details.insert("KernelVersion".to_string(), kernel_version());
        details.insert("BuildTime".to_string(), String::new());
        details.insert("Experimental".to_string(), "false".to_string());
        SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "Berth Engine".into(),
            }),
            components: Some(vec![SystemVersionComponents {
                name: "Engine".into(),
                version: engine_types::ENGINE_VERSION.into(),
                details: Some(details),
            }]),
            version: Some(engine_types::ENGINE_VERSION.into()),
            api_version: Some(engine_types::API_VERSION.into()),
            min_api_version: Some(engine_types::MIN_API_VERSION.into()),
            git_commit: Some(String::new()),
            go_version: Some("rust".into()),
            os: Some("linux".into()),
            arch: Some(go_arch().into()),
            kernel_version: Some(kernel_version()),
            experimental: Some(false),
            build_time: Some(String::new()),
        }
    }
}

/// The daemon's id, made at the first start and kept in the database.
pub(crate) fn daemon_id_of(db: &store::Store) -> String {
    match db.kv_get("daemon_id") {
        Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
        _ => {
            let id = crate::util::new_id();
            let _ = db.kv_put("daemon_id", id.as_bytes());
            id
        }
    }
}

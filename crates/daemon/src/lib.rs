#![forbid(unsafe_code)]
#![recursion_limit = "256"]
//! The Daemon: containers and images as objects, their lifecycle, restore after a
//! restart, and the implementation of the api-server backend.

mod archive;
mod attach;
mod backend;
mod build;
pub mod config;
pub mod container;
mod df;
pub mod error;
mod events;
mod exec;
pub mod health;
mod images;
mod inspect;
mod lifecycle;
mod networks;
mod pause;
pub mod plan;
mod registry;
mod spec;
mod stats;
mod system;
pub mod util;
pub mod volumes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use image::ImageStore;
use network::NetworkManager;
use store::Store;

pub use config::DaemonConfig;
pub use error::{DaemonError, Result};

use container::{Container, ContainerRecord};

/// The engine.
pub struct Daemon {
    pub cfg: DaemonConfig,
    db: Arc<Store>,
    images: Arc<ImageStore>,
    net: Arc<NetworkManager>,
    volumes: Arc<volumes::VolumeStore>,
    containers: RwLock<HashMap<String, Arc<Container>>>,
    /// Serializes name allocation.
    create_lock: tokio::sync::Mutex<()>,
    execs: std::sync::Mutex<HashMap<String, Arc<exec::Exec>>>,
    host_resolv: String,
    /// The registry client, made at the first pull/push/login.
    registry: std::sync::OnceLock<distribution::Client>,
    /// One lock per build cache mount directory (`sharing=locked|private`).
    cache_mount_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Names of running containers on user networks, for the embedded DNS.
    names: Arc<networks::NameIndex>,
    dns: dns::DnsServer,
    /// The embedded DNS server of each running container on a user network.
    dns_listeners: std::sync::Mutex<HashMap<String, dns::Listener>>,
    /// Ids of the `host` and `none` networks (persisted; read once).
    pseudo_ids: std::sync::OnceLock<(String, String)>,
    /// Events: journal and broadcast (`GET /events`).
    bus: Arc<events::EventBus>,
}

impl Daemon {
    /// Opens the stores, sets up the default network, and restores containers
    /// (reconnecting to the shims of those still running).
    pub async fn start(cfg: DaemonConfig) -> Result<Arc<Self>> {
        for dir in [
            cfg.data_root.clone(),
            cfg.data_root.join("containers"),
            cfg.exec_root.clone(),
            cfg.exec_root.join("shims"),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| DaemonError::io(format!("creating {}", dir.display()), e))?;
        }
        let db = Arc::new(Store::open(&cfg.data_root)?);
        let images = {
            let root = cfg.data_root.clone();
            let db = db.clone();
            tokio::task::spawn_blocking(move || ImageStore::open(&root, db))
                .await
                .map_err(|e| DaemonError::Internal(format!("image store task: {e}")))??
        };
        let volumes = Arc::new(volumes::VolumeStore::open(&cfg.data_root, db.clone())?);
        let saved = Self::load_networks(&db)?;
        let net = NetworkManager::start(cfg.bridge.clone(), &cfg.data_root, &saved).await?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let names = Arc::new(networks::NameIndex::new(&host_resolv));
        let bus = Arc::new(events::EventBus::open(
            &cfg.data_root.join("events.log"),
            events::JOURNAL_CAPACITY,
            system::daemon_id_of(&db),
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ));
        let daemon = Arc::new(Self {
            cfg,
            db,
            images: Arc::new(images),
            net: Arc::new(net),
            volumes,
            containers: RwLock::new(HashMap::new()),
            create_lock: tokio::sync::Mutex::new(()),
            execs: std::sync::Mutex::new(HashMap::new()),
            host_resolv,
            registry: std::sync::OnceLock::new(),
            cache_mount_locks: std::sync::Mutex::new(HashMap::new()),
            dns: dns::DnsServer::new(names.clone()),
            names,
            dns_listeners: std::sync::Mutex::new(HashMap::new()),
            pseudo_ids: std::sync::OnceLock::new(),
            bus,
        });
        daemon.restore().await?;
        Ok(daemon)
    }

    /// The API backend view of the daemon.
    pub fn backend(self: &Arc<Self>) -> Arc<dyn api_server::Backend> {
        Arc::new(backend::DaemonBackend(self.clone()))
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_root.join("containers").join(id)
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("shims").join(id)
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    fn all_containers(&self) -> Vec<Arc<Container>> {
        match self.containers.read() {
            Ok(m) => m.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        }
    }

    fn insert_container(&self, c: Arc<Container>) {
        match self.containers.write() {
            Ok(mut m) => m.insert(c.id.clone(), c),
            Err(p) => p.into_inner().insert(c.id.clone(), c),
        };
    }

    fn forget_container(&self, id: &str) {
        match self.containers.write() {
            Ok(mut m) => m.remove(id),
            Err(p) => p.into_inner().remove(id),
        };
    }

    /// Finds a container by full id, name (with or without `/`), or unique id
    /// prefix, as Docker does.
    pub fn find(&self, key: &str) -> Result<Arc<Container>> {
        let all = self.all_containers();
        if key.is_empty() {
            return Err(DaemonError::NoSuchContainer(key.to_string()));
        }
        if let Some(c) = all.iter().find(|c| c.id == key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = all.iter().find(|c| c.name() == name) {
            return Ok(c.clone());
        }
        let matches: Vec<_> = all.iter().filter(|c| c.id.starts_with(key)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(DaemonError::NoSuchContainer(key.to_string())),
            _ => Err(DaemonError::Invalid(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
        }
    }

    /// The daemon's side of every container plan.
    fn plan_defaults(&self) -> plan::PlanDefaults<'_> {
        plan::PlanDefaults {
            cgroup_parent: &self.cfg.cgroup_parent,
            log_max_size: self.cfg.log_max_size,
            log_max_file: self.cfg.log_max_file,
            init_path: self.cfg.init_path.as_deref(),
        }
    }

    fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        let data = serde_json::to_vec(rec)
            .map_err(|e| DaemonError::Internal(format!("encoding container record: {e}")))?;
        self.db.with(|c| {
            c.execute(
                "INSERT INTO containers(id, name, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data",
                (&rec.id, &rec.name, &data),
            )
            .map(|_| ())
        })?;
        Ok(())
    }

    fn unpersist(&self, id: &str) -> Result<()> {
        self.db.with(|c| {
            c.execute("DELETE FROM containers WHERE id = ?1", [id])
                .map(|_| ())
        })?;
        Ok(())
    }

    fn load_records(&self) -> Result<Vec<ContainerRecord>> {
        let rows: Vec<(String, Vec<u8>)> = self.db.with(|c| {
            let mut st = c.prepare("SELECT id, data FROM containers")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        let mut out = Vec::new();
        for (id, data) in rows {
            match serde_json::from_slice::<ContainerRecord>(&data) {
                Ok(mut rec) => {
                    if let Some(ep) = rec.endpoint.take() {
                        // One endpoint, as older versions recorded it.
                        rec.sandbox = Some(network::Sandbox {
                            netns: ep.netns.clone(),
                            endpoints: if ep.network_id.is_empty() {
                                Vec::new()
                            } else {
                                vec![ep]
                            },
                            ports: Vec::new(),
                        });
                    }
                    if rec.plan.is_none() {
                        // A record written before plans existed: plan it now from
                        // its HostConfig, once, and keep the plan.
                        match plan::ContainerPlan::from_host_config(
                            &rec.id,
                            &rec.host_config,
                            &self.plan_defaults(),
                        ) {
                            Ok(p) => {
                                rec.plan = Some(p);
                                if let Err(e) = self.persist(&rec) {
                                    tracing::warn!(container = %id, error = %e, "persisting the migrated plan");
                                }
                            }
                            Err(e) => tracing::error!(container = %id, error = %e,
                                "the container's HostConfig is no longer valid here; it cannot start until recreated"),
                        }
                    }
                    out.push(rec)
                }
                Err(e) => tracing::error!(container = %id, error = %e,
                    "container record is unreadable; leaving it in the database untouched"),
            }
        }
        Ok(out)
    }
}

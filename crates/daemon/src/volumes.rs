//! Volumes: the `local` driver (a directory `<data-root>/volumes/<name>/_data`,
//! or a filesystem mounted there from the driver options while containers use
//! it), records persisted in the `volumes` table, the users of each volume
//! (rebuilt from running containers after a restart), copy-up, and the Volumes
//! API (list, create, inspect, remove, prune) of the daemon.

mod copyup;
pub mod local;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use engine_types::models::{
    MountPoint, Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
    VolumeScopeEnum, VolumeUsageData,
};
use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};
use store::Store;

use crate::error::{DaemonError, Result};
use crate::plan::{ContainerPlan, MountKind, MountPlan};
use crate::Daemon;

pub use copyup::{copy_up, CopyUp};

/// The label Docker puts on anonymous volumes (prune without `all` takes only these).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The one driver Berth has.
pub const LOCAL: &str = "local";

type Filters = HashMap<String, Vec<String>>;

/// A volume as persisted (JSON in the `volumes` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// RFC 3339.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// Driver options as given (`type`, `o`, `device`), validated at create.
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What a container asks for when it needs a volume that may not exist yet.
#[derive(Debug, Clone, Default)]
pub struct VolumeSpec {
    pub name: String,
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// The volume records, their directories and their users.
pub struct VolumeStore {
    root: PathBuf,
    db: Arc<Store>,
    records: Mutex<BTreeMap<String, VolumeRecord>>,
    /// Volume name → containers that have it mounted (running or starting).
    users: Mutex<HashMap<String, BTreeSet<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn no_such_volume(name: &str) -> DaemonError {
    DaemonError::NoSuchVolume(name.to_string())
}

impl VolumeStore {
    /// Loads the records of `<data_root>/volumes`.
    pub fn open(data_root: &Path, db: Arc<Store>) -> Result<Self> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root)
            .map_err(|e| DaemonError::io(format!("creating {}", root.display()), e))?;
        let rows: Vec<(String, Vec<u8>)> = db.with(|c| {
            let mut st = c.prepare("SELECT name, data FROM volumes")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        let mut records = BTreeMap::new();
        for (name, data) in rows {
            match serde_json::from_slice::<VolumeRecord>(&data) {
                Ok(r) => {
                    records.insert(name, r);
                }
                Err(e) => tracing::error!(volume = %name, error = %e,
                    "volume record is unreadable; leaving it in the database untouched"),
            }
        }
        Ok(Self {
            root,
            db,
            records: Mutex::new(records),
            users: Mutex::new(HashMap::new()),
        })
    }

    /// `<root>/<name>/_data`: the volume's content (or the driver's mount point).
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        lock(&self.records)
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_volume(name))
    }

    pub fn all(&self) -> Vec<VolumeRecord> {
        lock(&self.records).values().cloned().collect()
    }

    /// Creates a volume, or returns the existing one of that name (as Docker
    /// does; a different driver is a conflict).
    pub fn create(&self, spec: VolumeSpec) -> Result<VolumeRecord> {
        let driver = spec
            .driver
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| LOCAL.to_string());
        local::validate_name(&spec.name)?;
        let mut records = lock(&self.records);
        if let Some(existing) = records.get(&spec.name) {
            if existing.driver != driver {
                return Err(DaemonError::Conflict(format!(
                    "create {}: a volume with the name {} already exists with driver {:?}",
                    spec.name, spec.name, existing.driver
                )));
            }
            return Ok(existing.clone());
        }
        if driver != LOCAL {
            return Err(DaemonError::Invalid(format!(
                "create {}: error looking up volume plugin {driver}: plugin {driver:?} not found",
                spec.name
            )));
        }
        local::parse_options(&spec.options)
            .map_err(|e| DaemonError::Invalid(format!("create {}: {e}", spec.name)))?;
        let rec = VolumeRecord {
            name: spec.name.clone(),
            driver,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: spec.labels,
            options: spec.options,
        };
        let data = self.mountpoint(&rec.name);
        std::fs::create_dir_all(&data)
            .map_err(|e| DaemonError::io(format!("creating {}", data.display()), e))?;
        let json = serde_json::to_vec(&rec)
            .map_err(|e| DaemonError::Internal(format!("encoding volume record: {e}")))?;
        let stored = self.db.with(|c| {
            c.execute(
                "INSERT INTO volumes(name, data) VALUES (?1, ?2)",
                (&rec.name, &json),
            )
            .map(|_| ())
        });
        if let Err(e) = stored {
            if let Err(cleanup) = std::fs::remove_dir_all(self.root.join(&rec.name)) {
                tracing::warn!(volume = %rec.name, error = %cleanup, "removing the directory of a volume that was not recorded");
            }
            return Err(e.into());
        }
        records.insert(rec.name.clone(), rec.clone());
        tracing::info!(volume = %rec.name, "volume created");
        Ok(rec)
    }

    /// Removes a volume no container uses (the caller checked); unmounts a
    /// driver mount left behind, deletes the directory, then the record.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut records = lock(&self.records);
        if !records.contains_key(name) {
            return Err(no_such_volume(name));
        }
        let data = self.mountpoint(name);
        if is_mountpoint(&data) {
            unmount(&data)?;
        }
        let dir = self.root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DaemonError::io(format!("remove {name}"), e)),
        }
        self.db.with(|c| {
            c.execute("DELETE FROM volumes WHERE name = ?1", [name])
                .map(|_| ())
        })?;
        records.remove(name);
        tracing::info!(volume = %name, "volume removed");
        Ok(())
    }

    /// Container `id` starts using volume `name`: the first user mounts the
    /// driver's filesystem. Returns the volume's mount point.
    pub fn acquire(&self, id: &str, name: &str) -> Result<PathBuf> {
        let rec = self.get(name)?;
        let data = self.mountpoint(name);
        let mut users = lock(&self.users);
        let set = users.entry(name.to_string()).or_default();
        if set.is_empty() {
            if let Some(m) = local::parse_options(&rec.options)? {
                if !is_mountpoint(&data) {
                    mount_driver(&m, &data)
                        .map_err(|e| DaemonError::Internal(format!("mount {name}: {e}")))?;
                    tracing::debug!(volume = %name, "driver filesystem mounted");
                }
            }
        }
        set.insert(id.to_string());
        Ok(data)
    }

    /// Container `id` stopped: it leaves every volume it used; the last user of
    /// a driver-mounted volume unmounts it.
    pub fn release(&self, id: &str) {
        let mut users = lock(&self.users);
        let mut emptied = Vec::new();
        for (name, set) in users.iter_mut() {
            if set.remove(id) && set.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            users.remove(&name);
            let driver_mounted = self
                .get(&name)
                .ok()
                .and_then(|r| local::parse_options(&r.options).ok().flatten())
                .is_some();
            let data = self.mountpoint(&name);
            if driver_mounted && is_mountpoint(&data) {
                match unmount(&data) {
                    Ok(()) => tracing::debug!(volume = %name, "driver filesystem unmounted"),
                    Err(e) => tracing::warn!(volume = %name, error = %e, "unmounting volume"),
                }
            }
        }
    }

    /// After a restart: the users are the running containers' volumes; driver
    /// mounts nobody uses any more (the daemon died before unmounting) go.
    pub fn restore_users(&self, running: &[(String, Vec<String>)]) {
        let mut users = lock(&self.users);
        users.clear();
        for (id, names) in running {
            for n in names {
                users.entry(n.clone()).or_default().insert(id.clone());
            }
        }
        for rec in self.all() {
            if users.contains_key(&rec.name) {
                continue;
            }
            let data = self.mountpoint(&rec.name);
            if local::parse_options(&rec.options).ok().flatten().is_some() && is_mountpoint(&data) {
                if let Err(e) = unmount(&data) {
                    tracing::warn!(volume = %rec.name, error = %e, "unmounting an unused volume");
                }
            }
        }
    }

    /// Containers currently holding the volume mounted.
    pub fn active_users(&self, name: &str) -> usize {
        lock(&self.users).get(name).map_or(0, BTreeSet::len)
    }

    /// Bytes of the volume's content (hard links counted once), as `df -v` shows.
    pub fn size(&self, name: &str) -> i64 {
        dir_size(&self.mountpoint(name)) as i64
    }

    /// The API's view of a record.
    pub fn to_api(&self, rec: &VolumeRecord, usage: Option<VolumeUsageData>) -> Volume {
        Volume {
            name: rec.name.clone(),
            driver: rec.driver.clone(),
            mountpoint: self.mountpoint(&rec.name).display().to_string(),
            created_at: Some(rec.created_at.clone()),
            status: None,
            labels: rec.labels.clone().into_iter().collect(),
            scope: Some(VolumeScopeEnum::LOCAL),
            cluster_volume: None,
            options: rec.options.clone().into_iter().collect(),
            usage_data: usage,
        }
    }
}

/// Whether something is mounted on `path` (per mountinfo, so a bind from the
/// same filesystem counts too).
fn is_mountpoint(path: &Path) -> bool {
    image::is_mount_point(path)
}

fn mount_driver(m: &local::DriverMount, target: &Path) -> nix::Result<()> {
    let bind = m.flags.contains(MsFlags::MS_BIND);
    let fstype = (!bind && m.fstype != "none").then_some(m.fstype.as_str());
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    nix::mount::mount(
        Some(m.device.as_str()),
        target,
        fstype,
        m.flags - MsFlags::MS_RDONLY,
        data,
    )?;
    if m.flags.contains(MsFlags::MS_RDONLY) {
        // A bind ignores MS_RDONLY on the first call: remount it read-only.
        let remount = if bind {
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY
        } else {
            MsFlags::MS_REMOUNT | m.flags
        };
        nix::mount::mount(None::<&str>, target, None::<&str>, remount, data)?;
    }
    Ok(())
}

fn unmount(path: &Path) -> Result<()> {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| DaemonError::io(format!("unmounting {}", path.display()), e.into()))
}

/// Sum of file sizes below `dir` without following symlinks or leaving the
/// filesystem; each inode once.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.dev() != top.dev() {
                continue;
            }
            if m.is_dir() {
                todo.push(e.path());
            } else if m.nlink() < 2 || seen.insert(m.ino()) {
                total += m.len();
            }
        }
    }
    total
}

/// Matches Docker's `label` / `label!` filters (`key` or `key=value`).
pub fn labels_match(labels: &BTreeMap<String, String>, filters: &Filters) -> bool {
    let has = |f: &str| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    };
    let pos = filters.get("label").into_iter().flatten().all(|f| has(f));
    let neg = filters.get("label!").into_iter().flatten().all(|f| !has(f));
    pos && neg
}

fn bool_filter(filters: &Filters, key: &str) -> Result<Option<bool>> {
    match filters.get(key).and_then(|v| v.last()) {
        None => Ok(None),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" => Ok(Some(true)),
            "0" | "false" => Ok(Some(false)),
            _ => Err(DaemonError::Invalid(format!(
                "invalid filter '{key}={v}': expected true or false"
            ))),
        },
    }
}

fn check_filter_keys(filters: &Filters, allowed: &[&str]) -> Result<()> {
    for k in filters.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(DaemonError::Invalid(format!("invalid filter '{k}'")));
        }
    }
    Ok(())
}

/// The volumes a plan mounts.
pub fn plan_volumes(plan: &ContainerPlan) -> impl Iterator<Item = &str> {
    plan.mounts.iter().filter_map(|m| match &m.kind {
        MountKind::Volume { name, .. } => Some(name.as_str()),
        _ => None,
    })
}

/// `Mounts` of inspect for one mount of the plan, as Docker reports it.
pub fn mount_point(m: &MountPlan, volumes: &VolumeStore) -> MountPoint {
    let rw = !m.read_only();
    match &m.kind {
        MountKind::Bind { source, .. } => MountPoint {
            typ: Some("bind".into()),
            source: Some(source.display().to_string()),
            destination: Some(m.destination.clone()),
            mode: Some(if m.read_only() { "ro" } else { "" }.into()),
            rw: Some(rw),
            propagation: Some(m.propagation().unwrap_or("rprivate").into()),
            ..Default::default()
        },
        MountKind::Tmpfs => MountPoint {
            typ: Some("tmpfs".into()),
            source: Some(String::new()),
            destination: Some(m.destination.clone()),
            mode: Some(if m.read_only() { "ro" } else { "" }.into()),
            rw: Some(rw),
            propagation: Some(String::new()),
            ..Default::default()
        },
        MountKind::Volume { name, mode, .. } => MountPoint {
            typ: Some("volume".into()),
            name: Some(name.clone()),
            source: Some(volumes.mountpoint(name).display().to_string()),
            destination: Some(m.destination.clone()),
            driver: Some(LOCAL.into()),
            mode: Some(mode.clone()),
            rw: Some(rw),
            propagation: Some(String::new()),
        },
    }
}

impl Daemon {
    /// Volume name → ids of the containers (running or not) whose plan mounts it.
    pub(crate) fn volume_refs(&self) -> HashMap<String, Vec<String>> {
        let mut refs: HashMap<String, Vec<String>> = HashMap::new();
        for c in self.all_containers() {
            let rec = c.get();
            if let Some(plan) = rec.plan.as_ref() {
                for n in plan_volumes(plan) {
                    let ids = refs.entry(n.to_string()).or_default();
                    if !ids.contains(&rec.id) {
                        ids.push(rec.id.clone());
                    }
                }
            }
        }
        refs
    }

    pub async fn volume_create(&self, req: VolumeCreateRequest) -> Result<Volume> {
        let spec = VolumeSpec {
            name: req
                .name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(crate::util::new_id),
            driver: req.driver,
            options: req.driver_opts.unwrap_or_default().into_iter().collect(),
            labels: req.labels.unwrap_or_default().into_iter().collect(),
        };
        let rec = self.volumes.create(spec)?;
        Ok(self.volumes.to_api(&rec, None))
    }

    pub async fn volume_inspect(&self, name: &str) -> Result<Volume> {
        let rec = self.volumes.get(name)?;
        Ok(self.volumes.to_api(&rec, None))
    }

    pub async fn volume_list(&self, filters: Filters) -> Result<VolumeListResponse> {
        check_filter_keys(&filters, &["name", "driver", "label", "label!", "dangling"])?;
        let dangling = bool_filter(&filters, "dangling")?;
        let refs = self.volume_refs();
        let vols = self
            .volumes
            .all()
            .into_iter()
            .filter(|r| {
                let names = filters.get("name");
                names.is_none_or(|ns| ns.iter().any(|n| r.name.contains(n.as_str())))
                    && filters
                        .get("driver")
                        .is_none_or(|ds| ds.contains(&r.driver))
                    && labels_match(&r.labels, &filters)
                    && dangling.is_none_or(|d| d != refs.contains_key(&r.name))
            })
            .map(|r| self.volumes.to_api(&r, None))
            .collect();
        Ok(VolumeListResponse {
            volumes: Some(vols),
            warnings: Some(Vec::new()),
        })
    }

    /// `DELETE /volumes/{name}`: refused while any container uses the volume
    /// (moby's "volume is in use", 409, also with `force`); `force` makes a
    /// missing volume no error.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if let Err(e) = self.volumes.get(name) {
            return if force { Ok(()) } else { Err(e) };
        }
        let _guard = self.create_lock.lock().await;
        if let Some(ids) = self.volume_refs().get(name) {
            return Err(DaemonError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        let vols = self.volumes.clone();
        let n = name.to_string();
        tokio::task::spawn_blocking(move || vols.remove(&n))
            .await
            .map_err(|e| DaemonError::Internal(format!("volume removal task: {e}")))?
    }

    /// `POST /volumes/prune`: unused volumes, only anonymous ones unless `all`.
    pub async fn volume_prune(&self, filters: Filters) -> Result<VolumePruneResponse> {
        check_filter_keys(&filters, &["label", "label!", "all"])?;
        let all = bool_filter(&filters, "all")?.unwrap_or(false);
        let _guard = self.create_lock.lock().await;
        let refs = self.volume_refs();
        let victims: Vec<VolumeRecord> = self
            .volumes
            .all()
            .into_iter()
            .filter(|r| {
                !refs.contains_key(&r.name)
                    && (all || r.anonymous())
                    && labels_match(&r.labels, &filters)
            })
            .collect();
        let vols = self.volumes.clone();
        tokio::task::spawn_blocking(move || {
            let mut deleted = Vec::new();
            let mut reclaimed = 0i64;
            for r in victims {
                let size = vols.size(&r.name);
                match vols.remove(&r.name) {
                    Ok(()) => {
                        deleted.push(r.name);
                        reclaimed += size;
                    }
                    Err(e) => {
                        tracing::warn!(volume = %r.name, error = %e, "prune: removing volume")
                    }
                }
            }
            VolumePruneResponse {
                volumes_deleted: Some(deleted),
                space_reclaimed: Some(reclaimed),
            }
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("volume prune task: {e}")))
    }

    /// Removes the volumes (anonymous ones of a removed container) that no
    /// container refers to any more; a failure is logged, as Docker does.
    pub(crate) fn remove_volumes(&self, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let refs = self.volume_refs();
        for n in names {
            if refs.contains_key(n) {
                tracing::debug!(volume = %n, "kept: another container uses it");
                continue;
            }
            if let Err(e) = self.volumes.remove(n) {
                tracing::warn!(volume = %n, error = %e, "removing an anonymous volume");
            }
        }
    }

    /// Every volume with its `UsageData` (for `system df`).
    pub(crate) async fn volume_usage(&self) -> Result<Vec<Volume>> {
        let refs = self.volume_refs();
        let vols = self.volumes.clone();
        tokio::task::spawn_blocking(move || {
            vols.all()
                .iter()
                .map(|r| {
                    let usage = VolumeUsageData {
                        size: vols.size(&r.name),
                        ref_count: refs.get(&r.name).map_or(0, |v| v.len() as i64),
                    };
                    vols.to_api(r, Some(usage))
                })
                .collect()
        })
        .await
        .map_err(|e| DaemonError::Internal(format!("volume usage task: {e}")))
    }

    /// At create: mounts from `--volumes-from`, anonymous volumes for the
    /// image's `VOLUME`s and `-v /path` (`Config.Volumes`), where the user named
    /// nothing at that destination; then every volume the plan names is
    /// created (named ones on first use). Returns the anonymous volumes made,
    /// for the caller to remove if the create fails later.
    pub(crate) fn plan_container_volumes(
        &self,
        plan: &mut ContainerPlan,
        volumes_from: &[String],
        config_volumes: &[String],
    ) -> Result<Vec<String>> {
        for spec in volumes_from {
            let (src, mode) = match spec.rsplit_once(':') {
                Some((c, m @ ("ro" | "rw"))) => (c, Some(m)),
                Some((_, m)) if !m.is_empty() && !spec.starts_with(':') && m.len() <= 2 => {
                    return Err(DaemonError::Invalid(format!(
                        "invalid mode for volumes-from: {m}"
                    )))
                }
                _ => (spec.as_str(), None),
            };
            let other = self
                .find(src)
                .map_err(|_| DaemonError::Invalid(format!("No such container: {src}")))?;
            let other_plan = other.get().plan()?.clone();
            for m in other_plan.mounts {
                if matches!(m.kind, MountKind::Tmpfs)
                    || plan.mounts.iter().any(|p| p.destination == m.destination)
                {
                    continue;
                }
                let mut m = m;
                match mode {
                    Some("ro") if !m.read_only() => m.options.push("ro".into()),
                    Some("rw") => m.options.retain(|o| o != "ro"),
                    _ => {}
                }
                if let (MountKind::Volume { mode: vm, .. }, Some(md)) = (&mut m.kind, mode) {
                    *vm = md.to_string();
                }
                plan.mounts.push(m);
            }
        }
        for dst in config_volumes {
            if !dst.starts_with('/') {
                return Err(DaemonError::Invalid(format!(
                    "invalid volume specification: {dst:?}: mount path must be absolute"
                )));
            }
            let clean = dst.trim_end_matches('/');
            let clean = if clean.is_empty() { "/" } else { clean };
            if plan
                .mounts
                .iter()
                .any(|m| m.destination.trim_end_matches('/') == clean.trim_end_matches('/'))
            {
                continue;
            }
            plan.mounts.push(MountPlan::anonymous_volume(clean));
        }
        let mut made = Vec::new();
        for m in &plan.mounts {
            let MountKind::Volume {
                name,
                anonymous,
                labels,
                driver_opts,
                driver,
                ..
            } = &m.kind
            else {
                continue;
            };
            let mut labels = labels.clone();
            if *anonymous {
                labels.insert(ANONYMOUS_LABEL.into(), String::new());
            }
            let exists = self.volumes.get(name).is_ok();
            self.volumes.create(VolumeSpec {
                name: name.clone(),
                driver: driver.clone(),
                options: driver_opts.clone(),
                labels,
            })?;
            if !exists && *anonymous {
                made.push(name.clone());
            }
        }
        Ok(made)
    }

    /// At start, before the spec is written: every volume of the plan is
    /// acquired (driver filesystems mounted by their first user), filled from
    /// the image unless `nocopy`, and a `volume-subpath` checked inside it.
    pub(crate) fn prepare_volumes(
        &self,
        id: &str,
        plan: &ContainerPlan,
        rootfs: &Path,
    ) -> Result<()> {
        for m in &plan.mounts {
            let MountKind::Volume {
                name,
                nocopy,
                subpath,
                driver,
                driver_opts,
                labels,
                ..
            } = &m.kind
            else {
                continue;
            };
            if self.volumes.get(name).is_err() {
                // Removed behind the container's back (a forced prune of a
                // missing container's volume): recreated, as Docker does.
                self.volumes.create(VolumeSpec {
                    name: name.clone(),
                    driver: driver.clone(),
                    options: driver_opts.clone(),
                    labels: labels.clone(),
                })?;
            }
            let data = self.volumes.acquire(id, name)?;
            if let Some(sub) = subpath {
                check_subpath(&data, sub)?;
            } else if !nocopy {
                match copy_up(rootfs, &m.destination, &data)? {
                    CopyUp::Copied => {
                        tracing::debug!(container = %id, volume = %name, "copied the image's content into the new volume")
                    }
                    CopyUp::NotEmpty | CopyUp::NoSource => {}
                }
            }
        }
        Ok(())
    }
}

/// A `volume-subpath` must exist inside the volume without a symlink on the way
/// (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), so the bind cannot leave it.
fn check_subpath(data: &Path, sub: &str) -> Result<()> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let dir = rustix::fs::open(
        data,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| DaemonError::io(format!("opening {}", data.display()), e.into()))?;
    rustix::fs::openat2(
        &dir,
        sub,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map(|_| ())
    .map_err(|e| {
        DaemonError::Invalid(format!(
            "cannot access path {}: {e}",
            data.join(sub).display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let t = tempfile::tempdir().unwrap();
        let db = Arc::new(Store::open(t.path()).unwrap());
        let s = VolumeStore::open(t.path(), db).unwrap();
        (t, s)
    }

    fn spec(name: &str) -> VolumeSpec {
        VolumeSpec {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_get_remove_and_reopen() {
        let (t, s) = store();
        let r = s.create(spec("data")).unwrap();
        assert!(s.mountpoint("data").is_dir());
        assert_eq!(s.create(spec("data")).unwrap(), r, "create is idempotent");
        std::fs::write(s.mountpoint("data").join("f"), b"12345").unwrap();
        assert_eq!(s.size("data"), 5);
        let db = Arc::new(Store::open(t.path()).unwrap());
        let again = VolumeStore::open(t.path(), db).unwrap();
        assert_eq!(again.get("data").unwrap(), r);
        again.remove("data").unwrap();
        assert!(!t.path().join("volumes/data").exists());
        assert!(matches!(
            again.get("data"),
            Err(DaemonError::NoSuchVolume(_))
        ));
    }

    #[test]
    fn bad_names_and_options_are_refused_before_anything_is_made() {
        let (t, s) = store();
        assert!(s.create(spec("a/b")).is_err());
        let mut bad = spec("vol");
        bad.options.insert("type".into(), "tmpfs".into());
        let e = s.create(bad).unwrap_err().to_string();
        assert_eq!(e, "create vol: missing required option: \"device\"");
        assert!(!t.path().join("volumes/vol").exists());
        let mut other = spec("vol");
        other.driver = Some("nfsplugin".into());
        assert!(s.create(other).unwrap_err().to_string().contains("plugin"));
    }

    #[test]
    fn labels_filters() {
        let l: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let f = |k: &str, v: &str| -> Filters { [(k.to_string(), vec![v.to_string()])].into() };
        assert!(labels_match(&l, &f("label", "a")));
        assert!(labels_match(&l, &f("label", "a=1")));
        assert!(!labels_match(&l, &f("label", "a=2")));
        assert!(!labels_match(&l, &f("label!", "a")));
        assert!(labels_match(&l, &f("label!", "b")));
    }

    #[test]
    fn tmpfs_volume_is_mounted_by_its_first_user_and_unmounted_by_its_last() {
        if !nix::unistd::geteuid().is_root() {
            println!("SKIPPED: mounting needs root");
            return;
        }
        let (_t, s) = store();
        let mut v = spec("tmp");
        v.options = [
            ("type".to_string(), "tmpfs".to_string()),
            ("device".to_string(), "tmpfs".to_string()),
            ("o".to_string(), "size=1m".to_string()),
        ]
        .into();
        s.create(v).unwrap();
        let data = s.acquire("c1", "tmp").unwrap();
        assert!(is_mountpoint(&data));
        s.acquire("c2", "tmp").unwrap();
        s.release("c1");
        assert!(is_mountpoint(&data), "c2 still uses it");
        s.release("c2");
        assert!(!is_mountpoint(&data));
        // After a restart with c3 running on it, the mount stays; without users it goes.
        s.acquire("c3", "tmp").unwrap();
        s.restore_users(&[("c3".into(), vec!["tmp".into()])]);
        assert!(is_mountpoint(&data));
        s.restore_users(&[]);
        assert!(!is_mountpoint(&data));
    }
}

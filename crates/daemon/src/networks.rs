//! Networks as daemon objects: the networks API (list, inspect, create, remove,
//! prune, connect, disconnect) over the network crate, their persistence, a
//! container's sandbox at start (attachments, published ports, /etc files), and the
//! name index the embedded DNS server answers from.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use engine_types::models::{
    ContainerCreateBody, EndpointResource, EndpointSettings, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkInspect, NetworkPruneResponse,
};
use network::{NetworkInfo, NetworkRequest, Sandbox};

use crate::container::{Container, ContainerRecord, Status};
use crate::error::{DaemonError, Result};
use crate::plan::{AttachmentPlan, ContainerPlan, NetworkMode};
use crate::Daemon;

/// The networks every Docker engine lists besides the bridge networks.
const PSEUDO: [&str; 2] = ["host", "none"];

/// A network as the API names it: a bridge network or a pseudo network.
#[derive(Debug, Clone)]
pub(crate) enum NetRef {
    Bridge(NetworkInfo),
    /// `host` or `none`, with its id.
    Pseudo {
        name: &'static str,
        id: String,
    },
}

impl NetRef {
    fn id(&self) -> &str {
        match self {
            NetRef::Bridge(i) => &i.id,
            NetRef::Pseudo { id, .. } => id,
        }
    }
    fn name(&self) -> &str {
        match self {
            NetRef::Bridge(i) => &i.name,
            NetRef::Pseudo { name, .. } => name,
        }
    }
}

fn parse_v4(what: &str, s: &str) -> Result<Ipv4Addr> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| match s.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => DaemonError::NotImplemented(format!(
                "IPv6 {what} {s} is not supported by Berth yet (IPv4 only)"
            )),
            _ => DaemonError::Invalid(format!("invalid {what} {s:?}")),
        })
}

fn parse_net(what: &str, s: &str) -> Result<ipnet::Ipv4Net> {
    s.parse::<ipnet::Ipv4Net>()
        .map_err(|_| match s.parse::<ipnet::IpNet>() {
            Ok(ipnet::IpNet::V6(_)) => DaemonError::NotImplemented(format!(
                "IPv6 {what} {s} is not supported by Berth yet (IPv4 only)"
            )),
            _ => DaemonError::Invalid(format!(
                "invalid {what} {s:?}: expected a CIDR such as 10.1.0.0/24"
            )),
        })
}

/// `POST /networks/create` body → the network crate's request, refusing what
/// Berth does not do with a clear message.
fn network_request(req: NetworkCreateRequest) -> Result<NetworkRequest> {
    let name = req.name.trim().to_owned();
    if name.is_empty() {
        return Err(DaemonError::Invalid("network name cannot be empty".into()));
    }
    match req.driver.as_deref().unwrap_or("bridge") {
        "" | "bridge" => {}
        d @ ("host" | "null") => {
            return Err(DaemonError::Forbidden(format!(
                "only one instance of \"{d}\" network is allowed"
            )))
        }
        other => {
            return Err(DaemonError::NotImplemented(format!(
                "network driver {other:?} is not supported by Berth (only \"bridge\")"
            )))
        }
    }
    if req.enable_ipv6 == Some(true) {
        return Err(DaemonError::NotImplemented(
            "IPv6 networks (--ipv6) are not supported by Berth yet".into(),
        ));
    }
    if req.enable_ipv4 == Some(false) {
        return Err(DaemonError::NotImplemented(
            "IPv6-only networks (--ipv4=false) are not supported by Berth yet".into(),
        ));
    }
    if req.ingress == Some(true) || req.config_only == Some(true) || req.config_from.is_some() {
        return Err(DaemonError::NotImplemented(
            "ingress and config-only networks are swarm features, not supported by Berth".into(),
        ));
    }
    if let Some(scope) = req
        .scope
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "local")
    {
        return Err(DaemonError::NotImplemented(format!(
            "network scope {scope:?} is not supported by Berth (only \"local\")"
        )));
    }
    let mut out = NetworkRequest {
        name,
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        labels: req.labels.unwrap_or_default().into_iter().collect(),
        options: req.options.unwrap_or_default().into_iter().collect(),
        ..NetworkRequest::default()
    };
    if let Some(ipam) = req.ipam {
        if let Some(d) = ipam
            .driver
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "default")
        {
            return Err(DaemonError::NotImplemented(format!(
                "IPAM driver {d:?} is not supported by Berth (only \"default\")"
            )));
        }
        let configs = ipam.config.unwrap_or_default();
        if configs.len() > 1 {
            return Err(DaemonError::NotImplemented(
                "several IPAM pools on one network are not supported by Berth yet".into(),
            ));
        }
        if let Some(c) = configs.into_iter().next() {
            out.subnet = c
                .subnet
                .as_deref()
                .map(|s| parse_net("subnet", s))
                .transpose()?;
            out.gateway = c
                .gateway
                .as_deref()
                .map(|s| parse_v4("gateway", s))
                .transpose()?;
            out.ip_range = c
                .ip_range
                .as_deref()
                .map(|s| parse_net("ip range", s))
                .transpose()?;
            for (k, v) in c.auxiliary_addresses.unwrap_or_default() {
                out.aux_addresses
                    .insert(k, parse_v4("auxiliary address", &v)?);
            }
        }
    }
    Ok(out)
}

/// The DNS names of running containers, by container id, as the embedded DNS
/// server asks for them.
#[derive(Default)]
pub struct NameIndex {
    entries: RwLock<HashMap<String, NameEntry>>,
    host_upstreams: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Default)]
struct NameEntry {
    /// Container name and short id.
    names: Vec<String>,
    /// (network id, network name, address, aliases on that network); only
    /// user-defined networks (the default bridge has no name resolution).
    endpoints: Vec<(String, String, Ipv4Addr, Vec<String>)>,
    upstreams: Vec<SocketAddr>,
    /// `--link` aliases only this container resolves: (alias, container id).
    links: Vec<(String, String)>,
}

impl NameIndex {
    pub(crate) fn new(host_resolv: &str) -> Self {
        NameIndex {
            entries: RwLock::new(HashMap::new()),
            host_upstreams: dns::upstreams_from_resolv_conf(host_resolv),
        }
    }

    fn set(&self, id: &str, entry: Option<NameEntry>) {
        let mut m = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match entry {
            Some(e) => m.insert(id.to_owned(), e),
            None => m.remove(id),
        };
    }

    fn shared<R>(
        &self,
        asker: &str,
        mut f: impl FnMut(&NameEntry, &str, &str) -> Option<R>,
    ) -> Vec<R> {
        let m = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let Some(me) = m.get(asker) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (net_id, net_name, _, _) in &me.endpoints {
            for e in m.values() {
                if e.endpoints.iter().any(|(n, ..)| n == net_id) {
                    out.extend(f(e, net_id, net_name));
                }
            }
        }
        out
    }
}

impl dns::Names for NameIndex {
    fn lookup(&self, asker: &str, name: &str) -> Vec<IpAddr> {
        let link = {
            let m = self.entries.read().unwrap_or_else(|p| p.into_inner());
            m.get(asker).and_then(|me| {
                me.links
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
                    .map(|(_, id)| id.clone())
            })
        };
        if let Some(target) = link {
            let m = self.entries.read().unwrap_or_else(|p| p.into_inner());
            let (Some(me), Some(t)) = (m.get(asker), m.get(&target)) else {
                return Vec::new();
            };
            return t
                .endpoints
                .iter()
                .filter(|(n, ..)| me.endpoints.iter().any(|(mine, ..)| mine == n))
                .map(|(_, _, ip, _)| IpAddr::V4(*ip))
                .take(1)
                .collect();
        }
        self.shared(asker, |e, net_id, net_name| {
            let short = name
                .strip_suffix(net_name)
                .and_then(|n| n.strip_suffix('.'))
                .unwrap_or(name);
            let (_, _, ip, aliases) = e.endpoints.iter().find(|(n, ..)| n == net_id)?;
            let hit = e
                .names
                .iter()
                .chain(aliases.iter())
                .any(|n| n.eq_ignore_ascii_case(short));
            hit.then_some(IpAddr::V4(*ip))
        })
    }

    fn reverse(&self, asker: &str, ip: IpAddr) -> Option<String> {
        self.shared(asker, |e, net_id, net_name| {
            let (_, _, eip, _) = e.endpoints.iter().find(|(n, ..)| n == net_id)?;
            let name = e.names.first()?;
            (IpAddr::V4(*eip) == ip).then(|| format!("{name}.{net_name}"))
        })
        .into_iter()
        .next()
    }

    fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        let m = self.entries.read().unwrap_or_else(|p| p.into_inner());
        match m.get(asker) {
            Some(e) if !e.upstreams.is_empty() => e.upstreams.clone(),
            _ => self.host_upstreams.clone(),
        }
    }
}

/// What `--link` on the default bridge adds: hosts entries (names, address) and
/// environment variables.
type LegacyLinks = (Vec<(String, String)>, Vec<String>);

/// The `Aliases` of an endpoint as inspect shows them.
fn endpoint_settings(
    att: Option<&AttachmentPlan>,
    ep: Option<&network::Endpoint>,
    info: Option<&NetworkInfo>,
) -> EndpointSettings {
    let ip = ep
        .and_then(|e| e.ip)
        .map(|i| i.to_string())
        .unwrap_or_default();
    EndpointSettings {
        ipam_config: att
            .and_then(|a| a.ip)
            .map(|ip| engine_types::models::EndpointIpamConfig {
                ipv4_address: Some(ip.to_string()),
                ..Default::default()
            }),
        links: att.map(|a| a.links.clone()).filter(|l| !l.is_empty()),
        aliases: att.map(|a| a.aliases.clone()).filter(|a| !a.is_empty()),
        mac_address: Some(ep.and_then(|e| e.mac.clone()).unwrap_or_default()),
        network_id: Some(
            info.map(|i| i.id.clone())
                .or_else(|| att.map(|a| a.network_id.clone()))
                .unwrap_or_default(),
        ),
        endpoint_id: Some(ep.map(endpoint_id).unwrap_or_default()),
        gateway: Some(
            ep.and_then(|e| e.gateway)
                .map(|g| g.to_string())
                .unwrap_or_default(),
        ),
        ip_address: Some(ip),
        ip_prefix_len: Some(ep.map(|e| i64::from(e.prefix_len)).unwrap_or(0)),
        ipv6_gateway: Some(String::new()),
        global_ipv6_address: Some(String::new()),
        global_ipv6_prefix_len: Some(0),
        ..Default::default()
    }
}

/// A stable endpoint id: the container and network ids hashed together.
fn endpoint_id(ep: &network::Endpoint) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!(
        "{}/{}",
        ep.container_id, ep.network_id
    )))
}

impl Daemon {
    // ----------------------------------------------------------------- persistence

    pub(crate) fn load_networks(db: &store::Store) -> Result<Vec<NetworkInfo>> {
        let rows: Vec<Vec<u8>> = db.with(|c| {
            let mut st = c.prepare("SELECT data FROM networks")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        let mut out = Vec::new();
        for data in rows {
            match serde_json::from_slice::<NetworkInfo>(&data) {
                Ok(i) => out.push(i),
                Err(e) => tracing::error!(error = %e, "unreadable network record; skipped"),
            }
        }
        Ok(out)
    }

    fn save_network(&self, info: &NetworkInfo) -> Result<()> {
        let data = serde_json::to_vec(info)
            .map_err(|e| DaemonError::Internal(format!("encoding network record: {e}")))?;
        self.db.with(|c| {
            c.execute(
                "INSERT INTO networks(id, name, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data",
                (&info.id, &info.name, &data),
            )
            .map(|_| ())
        })?;
        Ok(())
    }

    fn delete_network_row(&self, id: &str) -> Result<()> {
        self.db.with(|c| {
            c.execute("DELETE FROM networks WHERE id = ?1", [id])
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The persisted id of a pseudo network (`host`, `none`).
    fn pseudo_id(&self, name: &str) -> String {
        let ids = self
            .pseudo_ids
            .get_or_init(|| (self.load_pseudo_id("host"), self.load_pseudo_id("none")));
        if name == "host" {
            ids.0.clone()
        } else {
            ids.1.clone()
        }
    }

    /// Reads (or makes and persists) the id of a pseudo network, once per daemon.
    fn load_pseudo_id(&self, name: &str) -> String {
        let key = format!("network.{name}.id");
        if let Ok(Some(v)) = self.db.kv_get(&key) {
            if let Ok(s) = String::from_utf8(v) {
                return s;
            }
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        if let Err(e) = self.db.kv_put(&key, id.as_bytes()) {
            tracing::warn!(error = %e, "persisting the id of network {name}");
        }
        id
    }

    // ------------------------------------------------------------------- lookup

    /// Every network: bridge networks, then `host` and `none`.
    fn all_networks(&self) -> Vec<NetRef> {
        let mut out: Vec<NetRef> = self
            .net
            .networks()
            .into_iter()
            .map(NetRef::Bridge)
            .collect();
        for name in PSEUDO {
            out.push(NetRef::Pseudo {
                name,
                id: self.pseudo_id(name),
            });
        }
        out
    }

    /// A network by full id, name, or unique id prefix (Docker's order).
    pub(crate) fn find_network(&self, key: &str) -> Result<NetRef> {
        let all = self.all_networks();
        if let Some(n) = all.iter().find(|n| n.id() == key) {
            return Ok(n.clone());
        }
        if let Some(n) = all.iter().find(|n| n.name() == key) {
            return Ok(n.clone());
        }
        let m: Vec<_> = all
            .iter()
            .filter(|n| !key.is_empty() && n.id().starts_with(key))
            .collect();
        match m.len() {
            1 => Ok(m[0].clone()),
            0 => Err(DaemonError::NoSuchNetwork(key.to_owned())),
            _ => Err(DaemonError::Invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                m.len()
            ))),
        }
    }

    pub(crate) fn find_bridge_network(&self, key: &str) -> Result<NetworkInfo> {
        match self.find_network(key)? {
            NetRef::Bridge(i) => Ok(i),
            NetRef::Pseudo { name, .. } => Err(DaemonError::Forbidden(format!(
                "container cannot be disconnected from host network or connected to {name} network"
            ))),
        }
    }

    // ---------------------------------------------------------------- inspect

    fn network_doc(&self, n: &NetRef, with_containers: bool) -> NetworkInspect {
        let containers = with_containers.then(|| self.network_containers(n.id()));
        match n {
            NetRef::Pseudo { name, id } => NetworkInspect {
                name: Some((*name).to_owned()),
                id: Some(id.clone()),
                created: Some(crate::util::ZERO_TIME.into()),
                scope: Some("local".into()),
                driver: Some(if *name == "host" { "host" } else { "null" }.into()),
                enable_ipv4: Some(true),
                enable_ipv6: Some(false),
                ipam: Some(Ipam {
                    driver: Some("default".into()),
                    config: Some(Vec::new()),
                    options: None,
                }),
                internal: Some(false),
                attachable: Some(false),
                ingress: Some(false),
                config_only: Some(false),
                options: Some(HashMap::new()),
                labels: Some(HashMap::new()),
                containers,
                ..Default::default()
            },
            NetRef::Bridge(i) => NetworkInspect {
                name: Some(i.name.clone()),
                id: Some(i.id.clone()),
                created: Some(i.created.clone()),
                scope: Some("local".into()),
                driver: Some("bridge".into()),
                enable_ipv4: Some(true),
                enable_ipv6: Some(false),
                ipam: Some(Ipam {
                    driver: Some("default".into()),
                    config: Some(vec![IpamConfig {
                        subnet: Some(i.subnet.to_string()),
                        ip_range: i.ip_range.map(|r| r.to_string()),
                        gateway: Some(i.gateway.to_string()),
                        auxiliary_addresses: (!i.aux_addresses.is_empty()).then(|| {
                            i.aux_addresses
                                .iter()
                                .map(|(k, v)| (k.clone(), v.to_string()))
                                .collect()
                        }),
                    }]),
                    options: None,
                }),
                internal: Some(i.internal),
                attachable: Some(i.attachable),
                ingress: Some(false),
                config_only: Some(false),
                options: Some(i.options.clone().into_iter().collect()),
                labels: Some(i.labels.clone().into_iter().collect()),
                containers,
                ..Default::default()
            },
        }
    }

    /// Running containers attached to a network.
    fn network_containers(&self, net_id: &str) -> HashMap<String, EndpointResource> {
        let mut out = HashMap::new();
        for c in self.all_containers() {
            let rec = c.get();
            let Some(sb) = &rec.sandbox else { continue };
            if let Some(ep) = sb.endpoint(net_id) {
                out.insert(
                    rec.id.clone(),
                    EndpointResource {
                        name: Some(rec.name.clone()),
                        endpoint_id: Some(endpoint_id(ep)),
                        mac_address: Some(ep.mac.clone().unwrap_or_default()),
                        ipv4_address: Some(
                            ep.ip
                                .map(|ip| format!("{ip}/{}", ep.prefix_len))
                                .unwrap_or_default(),
                        ),
                        ipv6_address: Some(String::new()),
                    },
                );
            }
        }
        out
    }

    pub async fn network_list(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<NetworkInspect>> {
        for key in filters.keys() {
            if !["name", "id", "label", "driver", "type", "scope", "dangling"]
                .contains(&key.as_str())
            {
                return Err(DaemonError::Invalid(format!("invalid filter '{key}'")));
            }
        }
        let mut out = Vec::new();
        for n in self.all_networks() {
            if self.network_matches(&n, filters)? {
                out.push(self.network_doc(&n, false));
            }
        }
        Ok(out)
    }

    fn network_matches(&self, n: &NetRef, f: &HashMap<String, Vec<String>>) -> Result<bool> {
        let (driver, labels, predefined) = match n {
            NetRef::Bridge(i) => ("bridge", i.labels.clone(), i.predefined),
            NetRef::Pseudo { name, .. } => (
                if *name == "host" { "host" } else { "null" },
                BTreeMap::new(),
                true,
            ),
        };
        for (key, values) in f {
            let any = |p: &dyn Fn(&str) -> bool| values.iter().any(|v| p(v));
            let ok = match key.as_str() {
                "name" => any(&|v| n.name().contains(v)),
                "id" => any(&|v| n.id().starts_with(v)),
                "driver" => any(&|v| v == driver),
                "scope" => any(&|v| v == "local"),
                "type" => any(&|v| match v {
                    "custom" => !predefined,
                    "builtin" => predefined,
                    _ => false,
                }),
                "label" => any(&|v| match v.split_once('=') {
                    Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
                    None => labels.contains_key(v),
                }),
                "dangling" => {
                    let want = any(&|v| v == "true" || v == "1");
                    let used = !self.network_containers(n.id()).is_empty();
                    want == (!predefined && !used)
                }
                _ => true,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub async fn network_inspect(&self, key: &str) -> Result<NetworkInspect> {
        let n = self.find_network(key)?;
        Ok(self.network_doc(&n, true))
    }

    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let req = network_request(req)?;
        if PSEUDO.contains(&req.name.as_str()) {
            return Err(DaemonError::Forbidden(format!(
                "operation is not permitted on predefined {} network",
                req.name
            )));
        }
        let info = self.net.create_network(req).await?;
        if let Err(e) = self.save_network(&info) {
            let _ = self.net.remove_network(&info.id).await;
            return Err(e);
        }
        self.emit_network("create", &info.id, &info.name, &[]);
        Ok(NetworkCreateResponse {
            id: info.id,
            warning: String::new(),
        })
    }

    pub async fn network_remove(&self, key: &str) -> Result<()> {
        let n = self.find_network(key)?;
        let NetRef::Bridge(info) = n else {
            return Err(DaemonError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name()
            )));
        };
        self.net.remove_network(&info.id).await?;
        self.delete_network_row(&info.id)?;
        self.emit_network("destroy", &info.id, &info.name, &[]);
        Ok(())
    }

    pub async fn network_prune(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<NetworkPruneResponse> {
        let mut deleted = Vec::new();
        for info in self.net.networks() {
            if info.predefined || !self.network_containers(&info.id).is_empty() {
                continue;
            }
            if !self.network_matches(&NetRef::Bridge(info.clone()), &label_filters(filters))? {
                continue;
            }
            if let Some(until) = filters.get("until").and_then(|v| v.first()) {
                if !crate::util::created_before(&info.created, until)? {
                    continue;
                }
            }
            match self.net.remove_network(&info.id).await {
                Ok(()) => {
                    self.delete_network_row(&info.id)?;
                    self.emit_network("destroy", &info.id, &info.name, &[]);
                    deleted.push(info.name);
                }
                Err(e) => tracing::warn!(network = %info.name, error = %e, "prune: not removed"),
            }
        }
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }

    // ------------------------------------------------------- create and connect

    /// Resolves the networks of a new container: the mode's network and the other
    /// `EndpointsConfig` entries become attachments; `container:` names become ids;
    /// the ports to publish are taken from `-p`/`-P`. Returns warnings.
    pub(crate) fn plan_networks(
        &self,
        plan: &mut ContainerPlan,
        body: &ContainerCreateBody,
        exposed: &[String],
    ) -> Result<Vec<String>> {
        let hc = body.host_config.clone().unwrap_or_default();
        let mut warnings = Vec::new();
        plan.network.ports = crate::plan::port_requests(&hc, exposed)?;
        for link in hc.links.iter().flatten() {
            let (name, alias) = crate::plan::parse_link(link)?;
            let c = self.find(&name).map_err(|_| {
                DaemonError::Invalid(format!(
                    "could not get container for {name}: no such container"
                ))
            })?;
            plan.network.links.push(crate::plan::LinkPlan {
                container: c.id.clone(),
                name: c.name(),
                alias,
            });
        }
        if !plan.network.links.is_empty() && !plan.network.mode.has_attachments() {
            return Err(DaemonError::Invalid(
                "conflicting options: links and the host, none or container network mode".into(),
            ));
        }
        let endpoints = body
            .networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        match plan.network.mode.clone() {
            NetworkMode::Host | NetworkMode::None => {
                if !plan.network.ports.is_empty() {
                    warnings
                        .push("Published ports are discarded when using host network mode".into());
                    plan.network.ports.clear();
                }
                if endpoints.keys().any(|k| !PSEUDO.contains(&k.as_str())) {
                    return Err(DaemonError::Invalid(
                        "container cannot be connected to host or none network and to another network at the same time".into(),
                    ));
                }
            }
            NetworkMode::Container(other) => {
                if !plan.network.ports.is_empty() {
                    return Err(DaemonError::Invalid(
                        "conflicting options: port publishing and the container type network mode"
                            .into(),
                    ));
                }
                let c = self.find(&other)?;
                plan.network.mode = NetworkMode::Container(c.id.clone());
            }
            NetworkMode::Bridge | NetworkMode::User => {
                let mode_name = match hc.network_mode.as_deref() {
                    None | Some("" | "default") => "bridge".to_owned(),
                    Some(m) => m.to_owned(),
                };
                let mut names = vec![mode_name.clone()];
                // The CLI names the default network "default" in EndpointsConfig.
                let is_mode = |k: &str| k == mode_name || (mode_name == "bridge" && k == "default");
                let mut rest: Vec<&String> = endpoints.keys().filter(|k| !is_mode(k)).collect();
                rest.sort();
                names.extend(rest.into_iter().cloned());
                for name in names {
                    if name == "bridge" && self.net.default_network_id().is_none() {
                        // `--bridge none`: the default network does not exist.
                        continue;
                    }
                    let info = self.find_bridge_network(&name)?;
                    let es = endpoints
                        .get(&name)
                        .or_else(|| endpoints.get(&info.id))
                        .or_else(|| {
                            (name == mode_name)
                                .then(|| endpoints.get("default"))
                                .flatten()
                        });
                    plan.network.attachments.push(attachment(&info, es)?);
                }
            }
        }
        Ok(warnings)
    }

    /// Makes a starting container's network sandbox: its namespace and interfaces
    /// (or the other container's, for `container:`), its published ports, its /etc
    /// files and, on user networks, its DNS server. Recorded at once so a failure
    /// later releases it. Returns the record and the netns to join.
    pub(crate) async fn connect_sandbox(
        &self,
        c: &Arc<Container>,
        rec: &ContainerRecord,
        plan: &ContainerPlan,
    ) -> Result<(ContainerRecord, Option<PathBuf>, Vec<String>)> {
        let id = rec.id.clone();
        if let NetworkMode::Container(other) = &plan.network.mode {
            let o = self.find(other)?.get();
            if o.state.status != Status::Running {
                return Err(DaemonError::Conflict(format!(
                    "cannot join network namespace of a non running container: container {} is {}",
                    o.name,
                    o.state.status.as_str()
                )));
            }
            let netns = o.sandbox.as_ref().and_then(|s| s.netns.clone());
            self.copy_etc_files(&o.id, &id)?;
            return Ok((rec.clone(), netns, Vec::new()));
        }
        let reqs: Vec<network::AttachRequest> = plan
            .network
            .attachments
            .iter()
            .map(|a| network::AttachRequest {
                network_id: a.network_id.clone(),
                ip: a.ip,
                mac: a.mac,
            })
            .collect();
        let mut sandbox = self
            .net
            .connect(&id, plan.network.mode.net_mode(), &reqs)
            .await?;
        let rec = c.update(|r| r.sandbox = Some(sandbox.clone()));
        if let Some(ep) = sandbox.endpoints.first() {
            let ports = self.net.publish(&id, ep, &plan.network.ports).await?;
            sandbox.ports = ports;
        }
        let rec = if sandbox.ports.is_empty() {
            rec
        } else {
            c.update(|r| r.sandbox = Some(sandbox.clone()))
        };
        let (link_hosts, link_env) = self.legacy_links(&rec, plan, &sandbox)?;
        let user_nets = self.user_network_endpoints(&sandbox);
        self.write_etc_files(&rec, plan, &sandbox, !user_nets.is_empty(), &link_hosts)?;
        if !user_nets.is_empty() {
            self.start_dns(&rec, plan, &sandbox).await?;
        }
        let netns = sandbox.netns.clone();
        Ok((rec, netns, link_env))
    }

    /// `--link` on the default bridge, as Docker does it: for each linked (running)
    /// container a hosts entry "ip alias id name" and the environment variables
    /// `ALIAS_NAME`, `ALIAS_PORT*` for its exposed ports and `ALIAS_ENV_*`.
    fn legacy_links(
        &self,
        rec: &ContainerRecord,
        plan: &ContainerPlan,
        sb: &Sandbox,
    ) -> Result<LegacyLinks> {
        let (mut hosts, mut env) = (Vec::new(), Vec::new());
        let Some(default) = self.net.default_network_id() else {
            return Ok((hosts, env));
        };
        if sb.endpoint(default).is_none() {
            return Ok((hosts, env));
        }
        for l in &plan.network.links {
            let t = self.find(&l.container).map_err(|_| {
                DaemonError::Invalid(format!("could not get container for {}", l.name))
            })?;
            let t = t.get();
            if t.state.status != Status::Running {
                return Err(DaemonError::Conflict(format!(
                    "Cannot link to a non running container: /{} AS /{}/{}",
                    t.name, rec.name, l.alias
                )));
            }
            let ip = t
                .sandbox
                .as_ref()
                .and_then(|s| s.endpoint(default))
                .and_then(|e| e.ip)
                .ok_or_else(|| {
                    DaemonError::Conflict(format!(
                        "Cannot link to /{}, as it does not belong to the default network",
                        t.name
                    ))
                })?;
            hosts.push((
                format!("{} {} {}", l.alias, &t.id[..12.min(t.id.len())], t.name),
                ip.to_string(),
            ));
            let p = l
                .alias
                .to_uppercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>();
            env.push(format!("{p}_NAME=/{}/{}", rec.name, l.alias));
            let mut ports: Vec<(u16, String)> = t
                .config
                .exposed_ports
                .iter()
                .flatten()
                .filter_map(|k| {
                    let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                    Some((port.parse().ok()?, proto.to_owned()))
                })
                .collect();
            ports.sort();
            if let Some((port, proto)) = ports.first() {
                env.push(format!("{p}_PORT={proto}://{ip}:{port}"));
            }
            for (port, proto) in &ports {
                let up = proto.to_uppercase();
                env.push(format!("{p}_PORT_{port}_{up}={proto}://{ip}:{port}"));
                env.push(format!("{p}_PORT_{port}_{up}_ADDR={ip}"));
                env.push(format!("{p}_PORT_{port}_{up}_PORT={port}"));
                env.push(format!("{p}_PORT_{port}_{up}_PROTO={proto}"));
            }
            for kv in t.config.env.iter().flatten() {
                let key = kv.split('=').next().unwrap_or_default();
                if !["HOME", "PATH", "HOSTNAME"].contains(&key) {
                    env.push(format!("{p}_ENV_{kv}"));
                }
            }
        }
        Ok((hosts, env))
    }

    fn user_network_endpoints<'a>(&self, sb: &'a Sandbox) -> Vec<&'a network::Endpoint> {
        let default = self.net.default_network_id();
        sb.endpoints
            .iter()
            .filter(|e| Some(e.network_id.as_str()) != default)
            .collect()
    }

    fn name_entry(&self, rec: &ContainerRecord, plan: &ContainerPlan, sb: &Sandbox) -> NameEntry {
        let endpoints = self
            .user_network_endpoints(sb)
            .into_iter()
            .filter_map(|ep| {
                let info = self.net.network(&ep.network_id)?;
                let aliases = plan
                    .network
                    .attachments
                    .iter()
                    .find(|a| a.network_id == ep.network_id)
                    .map(|a| a.aliases.clone())
                    .unwrap_or_default();
                Some((ep.network_id.clone(), info.name, ep.ip?, aliases))
            })
            .collect();
        NameEntry {
            names: vec![rec.name.clone(), rec.id.chars().take(12).collect()],
            endpoints,
            links: plan
                .network
                .links
                .iter()
                .map(|l| (l.alias.clone(), l.container.clone()))
                .collect(),
            upstreams: plan
                .network
                .dns
                .iter()
                .filter_map(|d| d.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect(),
        }
    }

    async fn start_dns(
        &self,
        rec: &ContainerRecord,
        plan: &ContainerPlan,
        sb: &Sandbox,
    ) -> Result<()> {
        self.names
            .set(&rec.id, Some(self.name_entry(rec, plan, sb)));
        let Some(netns) = &sb.netns else {
            return Ok(());
        };
        let listener =
            self.dns.serve_in(netns, &rec.id).await.map_err(|e| {
                DaemonError::Internal(format!("starting the embedded DNS server: {e}"))
            })?;
        self.dns_listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rec.id.clone(), listener);
        Ok(())
    }

    /// Stops a container's DNS server and forgets its names.
    pub(crate) fn stop_dns(&self, id: &str) {
        self.names.set(id, None);
        self.dns_listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// After a daemon restart: DNS servers of running containers on user networks.
    pub(crate) async fn restore_dns(&self, live: &[Sandbox]) {
        for sb in live {
            let Some(cid) = sb.endpoints.first().map(|e| e.container_id.clone()) else {
                continue;
            };
            if self.user_network_endpoints(sb).is_empty() {
                continue;
            }
            let Ok(c) = self.find(&cid) else { continue };
            let rec = c.get();
            let Some(plan) = rec.plan.clone() else {
                continue;
            };
            if let Err(e) = self.start_dns(&rec, &plan, sb).await {
                tracing::warn!(container = %cid, error = %e, "restoring the DNS server");
            }
        }
    }

    fn copy_etc_files(&self, from: &str, to: &str) -> Result<()> {
        let (src, dst) = (self.container_dir(from), self.container_dir(to));
        for name in ["hostname", "hosts", "resolv.conf"] {
            std::fs::copy(src.join(name), dst.join(name))
                .map_err(|e| DaemonError::io(format!("copying {name} of container {from}"), e))?;
        }
        Ok(())
    }

    fn write_etc_files(
        &self,
        rec: &ContainerRecord,
        plan: &ContainerPlan,
        sb: &Sandbox,
        embedded_dns: bool,
        link_hosts: &[(String, String)],
    ) -> Result<()> {
        let dir = self.container_dir(&rec.id);
        let hostname = rec.config.hostname.clone().unwrap_or_default();
        let net = &plan.network;
        let host_mode = net.mode == NetworkMode::Host;
        let extra: Vec<(String, String)> = net
            .extra_hosts
            .iter()
            .map(|(h, ip)| {
                let ip = if ip == "host-gateway" {
                    sb.endpoints
                        .first()
                        .and_then(|e| e.gateway)
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| "127.0.0.1".into())
                } else {
                    ip.clone()
                };
                (h.clone(), ip)
            })
            .chain(link_hosts.iter().cloned())
            .collect();
        let hosts = if host_mode {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            let ip = sb.endpoints.first().and_then(|e| e.ip);
            network::hosts_file(&hostname, ip, &extra)
        };
        let resolv = if embedded_dns {
            network::resolv_conf_embedded(&self.host_resolv, &net.dns_search, &net.dns_options)
        } else if host_mode && net.dns.is_empty() {
            // The host's resolvers are reachable from the host's network as they are.
            self.host_resolv.clone()
        } else {
            network::resolv_conf(
                &self.host_resolv,
                &net.dns,
                &net.dns_search,
                &net.dns_options,
            )
        };
        for (name, content) in [
            ("hostname", format!("{hostname}\n")),
            ("hosts", hosts),
            ("resolv.conf", resolv),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, content)
                .map_err(|e| DaemonError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(&self, key: &str, req: NetworkConnectRequest) -> Result<()> {
        let info = self.find_bridge_network(key)?;
        let c = self.find(&req.container)?;
        let _op = c.op.lock().await;
        let rec = c.get();
        let mut plan = rec.plan()?.clone();
        if !plan.network.mode.has_attachments() {
            return Err(DaemonError::Forbidden(format!(
                "container {} cannot be connected to network {}: its network mode is {:?}",
                rec.name, info.name, plan.network.mode
            )));
        }
        if plan
            .network
            .attachments
            .iter()
            .any(|a| a.network_id == info.id)
        {
            return Err(DaemonError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, info.name
            )));
        }
        let att = attachment(&info, req.endpoint_config.as_ref())?;
        if rec.state.status == Status::Running {
            let sb = rec.sandbox.clone().unwrap_or_default();
            let netns = sb.netns.clone().ok_or_else(|| {
                DaemonError::Conflict(format!("container {} has no network namespace", rec.name))
            })?;
            let ep = self
                .net
                .attach(
                    &rec.id,
                    &netns,
                    &network::AttachRequest {
                        network_id: info.id.clone(),
                        ip: att.ip,
                        mac: att.mac,
                    },
                    &sb.next_ifname(),
                )
                .await?;
            plan.network.attachments.push(att);
            let mut sb2 = sb.clone();
            sb2.endpoints.push(ep);
            let rec = c.update(|r| {
                r.sandbox = Some(sb2.clone());
                r.plan = Some(plan.clone());
            });
            self.persist(&rec)?;
            self.refresh_dns(&rec, &plan, &sb2).await?;
        } else {
            plan.network.attachments.push(att);
            let rec = c.update(|r| r.plan = Some(plan.clone()));
            self.persist(&rec)?;
        }
        Ok(())
    }

    /// After a running container's networks changed: its names, and a DNS server
    /// if it is now on a user network.
    async fn refresh_dns(
        &self,
        rec: &ContainerRecord,
        plan: &ContainerPlan,
        sb: &Sandbox,
    ) -> Result<()> {
        let on_user = !self.user_network_endpoints(sb).is_empty();
        let serving = self
            .dns_listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&rec.id);
        match (on_user, serving) {
            (true, true) => {
                self.names
                    .set(&rec.id, Some(self.name_entry(rec, plan, sb)));
                Ok(())
            }
            (true, false) => {
                // The resolv.conf was written for the default bridge: Docker keeps
                // it too; names resolve for containers that query 127.0.0.11.
                self.start_dns(rec, plan, sb).await
            }
            (false, _) => {
                self.stop_dns(&rec.id);
                Ok(())
            }
        }
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, key: &str, req: NetworkDisconnectRequest) -> Result<()> {
        let info = self.find_bridge_network(key)?;
        let c = self.find(&req.container)?;
        let _op = c.op.lock().await;
        let rec = c.get();
        let mut plan = rec.plan()?.clone();
        let before = plan.network.attachments.len();
        plan.network.attachments.retain(|a| a.network_id != info.id);
        let sb = rec.sandbox.clone();
        let ep = sb.as_ref().and_then(|s| s.endpoint(&info.id).cloned());
        if before == plan.network.attachments.len() && ep.is_none() {
            return Err(DaemonError::Invalid(format!(
                "container {} is not connected to network {}",
                rec.name, info.name
            )));
        }
        let mut sb2 = sb.clone();
        if let (Some(ep), Some(sb2)) = (ep, sb2.as_mut()) {
            if sb2.endpoints.first().map(|e| &e.network_id) == Some(&info.id)
                && !sb2.ports.is_empty()
            {
                self.net.unpublish(&rec.id).await?;
                sb2.ports.clear();
            }
            self.net.detach(&ep).await;
            sb2.endpoints.retain(|e| e.network_id != info.id);
        }
        let rec = c.update(|r| {
            r.sandbox = sb2.clone();
            r.plan = Some(plan.clone());
        });
        self.persist(&rec)?;
        if let Some(sb2) = &sb2 {
            if rec.state.status == Status::Running {
                self.refresh_dns(&rec, &plan, sb2).await?;
            }
        }
        Ok(())
    }
}

fn label_filters(f: &HashMap<String, Vec<String>>) -> HashMap<String, Vec<String>> {
    f.iter()
        .filter(|(k, _)| k.as_str() == "label")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| DaemonError::Invalid(format!("invalid MAC address {s:?}")))?;
    parts
        .try_into()
        .map_err(|_| DaemonError::Invalid(format!("invalid MAC address {s:?}")))
}

/// One attachment from an `EndpointSettings` (create or connect).
fn attachment(info: &NetworkInfo, es: Option<&EndpointSettings>) -> Result<AttachmentPlan> {
    let ip = es
        .and_then(|e| e.ipam_config.as_ref())
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|s| !s.is_empty())
        .map(|s| parse_v4("IPv4 address", s))
        .transpose()?;
    if es
        .and_then(|e| e.ipam_config.as_ref())
        .and_then(|c| c.ipv6_address.as_deref())
        .is_some_and(|s| !s.is_empty())
    {
        return Err(DaemonError::NotImplemented(
            "IPv6 addresses (--ip6) are not supported by Berth yet".into(),
        ));
    }
    let aliases: Vec<String> = es.and_then(|e| e.aliases.clone()).unwrap_or_default();
    if info.predefined {
        if ip.is_some() {
            return Err(DaemonError::Invalid(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !aliases.is_empty() {
            return Err(DaemonError::Invalid(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
    } else if ip.is_some() && !info.user_subnet {
        return Err(DaemonError::Invalid(
            "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
        ));
    }
    let mac = es
        .and_then(|e| e.mac_address.as_deref())
        .filter(|s| !s.is_empty())
        .map(parse_mac)
        .transpose()?;
    Ok(AttachmentPlan {
        network_id: info.id.clone(),
        network_name: info.name.clone(),
        aliases,
        ip,
        mac,
        links: es.and_then(|e| e.links.clone()).unwrap_or_default(),
    })
}

/// A container's networks as inspect and the list show them: (network mode name,
/// settings by network name, the primary endpoint's settings).
pub(crate) type NetworkView = (String, BTreeMap<String, EndpointSettings>, EndpointSettings);

impl Daemon {
    pub(crate) fn container_networks(&self, rec: &ContainerRecord) -> NetworkView {
        let mode = match rec.host_config.network_mode.as_deref() {
            None | Some("" | "default") => "bridge".to_owned(),
            Some(m) => m.to_owned(),
        };
        let Some(plan) = &rec.plan else {
            return (mode, BTreeMap::new(), endpoint_settings(None, None, None));
        };
        let sb = rec.sandbox.as_ref();
        let mut nets = BTreeMap::new();
        match &plan.network.mode {
            NetworkMode::Host | NetworkMode::None => {
                let name = if plan.network.mode == NetworkMode::Host {
                    "host"
                } else {
                    "none"
                };
                let mut es = endpoint_settings(None, None, None);
                es.network_id = Some(self.pseudo_id(name));
                nets.insert(name.to_owned(), es);
            }
            NetworkMode::Container(_) => {}
            NetworkMode::Bridge | NetworkMode::User => {
                for a in &plan.network.attachments {
                    let ep = sb.and_then(|s| s.endpoint(&a.network_id));
                    let info = self.net.network(&a.network_id);
                    let name = info
                        .as_ref()
                        .map(|i| i.name.clone())
                        .unwrap_or_else(|| a.network_name.clone());
                    nets.insert(name, endpoint_settings(Some(a), ep, info.as_ref()));
                }
            }
        }
        let primary = plan
            .network
            .attachments
            .first()
            .map(|a| {
                let ep = sb.and_then(|s| s.endpoint(&a.network_id));
                endpoint_settings(Some(a), ep, None)
            })
            .unwrap_or_else(|| endpoint_settings(None, None, None));
        (mode, nets, primary)
    }

    /// `NetworkSettings.Ports`: every exposed or published port, with its host
    /// bindings while the container runs (null when not published).
    pub(crate) fn ports_doc(
        &self,
        rec: &ContainerRecord,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for key in rec.config.exposed_ports.iter().flatten() {
            let key = if key.contains('/') {
                key.clone()
            } else {
                format!("{key}/tcp")
            };
            out.insert(key, serde_json::Value::Null);
        }
        for m in rec.sandbox.iter().flat_map(|s| &s.ports) {
            let key = format!("{}/{}", m.container_port, m.proto.as_str());
            let entry = out
                .entry(key)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = serde_json::Value::Array(Vec::new());
            }
            if let serde_json::Value::Array(list) = entry {
                list.push(serde_json::json!({
                    "HostIp": m.host_ip.to_string(),
                    "HostPort": m.host_port.to_string(),
                }));
            }
        }
        out
    }

    /// `Ports` of the container list.
    pub(crate) fn summary_ports(
        &self,
        rec: &ContainerRecord,
    ) -> Vec<engine_types::models::PortSummary> {
        use engine_types::models::{PortSummary as Port, PortSummaryTypeEnum as PortTypeEnum};
        let typ = |p: network::Proto| match p {
            network::Proto::Tcp => PortTypeEnum::TCP,
            network::Proto::Udp => PortTypeEnum::UDP,
            network::Proto::Sctp => PortTypeEnum::SCTP,
        };
        let mut out: Vec<Port> = rec
            .sandbox
            .iter()
            .flat_map(|s| &s.ports)
            .map(|m| Port {
                ip: Some(m.host_ip.to_string()),
                private_port: m.container_port,
                public_port: Some(m.host_port),
                typ: Some(typ(m.proto)),
            })
            .collect();
        for key in rec.config.exposed_ports.iter().flatten() {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let (Ok(port), Some(proto)) = (port.parse::<u16>(), network::Proto::parse(proto))
            else {
                continue;
            };
            if !out
                .iter()
                .any(|p| p.private_port == port && p.typ == Some(typ(proto)))
            {
                out.push(Port {
                    ip: None,
                    private_port: port,
                    public_port: None,
                    typ: Some(typ(proto)),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns::Names;

    fn entry(name: &str, eps: &[(&str, &str, [u8; 4], &[&str])]) -> NameEntry {
        NameEntry {
            names: vec![name.to_owned(), format!("{name}-short")],
            endpoints: eps
                .iter()
                .map(|(id, n, ip, al)| {
                    (
                        (*id).to_owned(),
                        (*n).to_owned(),
                        Ipv4Addr::from(*ip),
                        al.iter().map(|a| (*a).to_owned()).collect(),
                    )
                })
                .collect(),
            upstreams: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn names_resolve_on_shared_networks_only() {
        let idx = NameIndex::new("nameserver 10.0.0.53\n");
        idx.set(
            "a",
            Some(entry("web", &[("n1", "front", [10, 1, 0, 2], &["www"])])),
        );
        idx.set(
            "b",
            Some(entry(
                "db",
                &[
                    ("n1", "front", [10, 1, 0, 3], &[]),
                    ("n2", "back", [10, 2, 0, 3], &["pg"]),
                ],
            )),
        );
        idx.set(
            "c",
            Some(entry("other", &[("n2", "back", [10, 2, 0, 4], &["pg"])])),
        );
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        assert_eq!(idx.lookup("a", "db"), vec![v4("10.1.0.3")]);
        assert_eq!(idx.lookup("a", "DB.front"), vec![v4("10.1.0.3")]);
        assert!(
            idx.lookup("a", "other").is_empty(),
            "not on a shared network"
        );
        assert!(idx.lookup("a", "pg").is_empty(), "alias of another network");
        let mut pg = idx.lookup("b", "pg");
        pg.sort();
        assert_eq!(pg, vec![v4("10.2.0.3"), v4("10.2.0.4")]);
        assert_eq!(idx.lookup("b", "www"), vec![v4("10.1.0.2")]);
        assert_eq!(
            idx.reverse("b", v4("10.2.0.4")).as_deref(),
            Some("other.back")
        );
        assert_eq!(idx.upstreams("a"), vec!["10.0.0.53:53".parse().unwrap()]);
        let mut with_link = entry("web2", &[("n1", "front", [10, 1, 0, 9], &[])]);
        with_link.links = vec![("mydb".into(), "b".into())];
        idx.set("w2", Some(with_link));
        assert_eq!(idx.lookup("w2", "mydb"), vec![v4("10.1.0.3")]);
        assert!(
            idx.lookup("a", "mydb").is_empty(),
            "a link is the linker's own name"
        );
        idx.set("b", None);
        assert!(idx.lookup("a", "db").is_empty());
    }

    #[test]
    fn create_requests_are_checked() {
        let req = |f: &dyn Fn(&mut NetworkCreateRequest)| {
            let mut r = NetworkCreateRequest {
                name: "n".into(),
                ..Default::default()
            };
            f(&mut r);
            network_request(r)
        };
        assert!(req(&|_| {}).is_ok());
        assert!(matches!(
            req(&|r| r.driver = Some("overlay".into())),
            Err(DaemonError::NotImplemented(_))
        ));
        assert!(matches!(
            req(&|r| r.enable_ipv6 = Some(true)),
            Err(DaemonError::NotImplemented(_))
        ));
        let bad_cidr = req(&|r| {
            r.ipam = Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("10.1.0.0/33".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            })
        });
        assert!(matches!(bad_cidr, Err(DaemonError::Invalid(m)) if m.contains("10.1.0.0/33")));
        let ok = req(&|r| {
            r.ipam = Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("10.1.0.0/24".into()),
                    gateway: Some("10.1.0.254".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            })
        })
        .unwrap();
        assert_eq!(ok.gateway, Some("10.1.0.254".parse().unwrap()));
    }
}

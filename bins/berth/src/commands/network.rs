//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, on the
//! client's typed network calls, with the docker CLI's flags, output and
//! exit codes.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use anyhow::{bail, Result};
use clap::{ArgAction, Args};
use serde::Serialize;

use super::container::filters_json;
use super::image::confirm;
use super::opts::kv_map;
use super::{deleted_block, eprint_err, inspect_objects, FetchOpts, InspectKind, PruneOpts};
use crate::client::models::{
    ConfigReference, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest, NetworkSummary,
};
use crate::client::{daemon_error, Client, NetworkInspectOptions};
use crate::format::{self, go_time_rfc3339, labels_joined, natural_cmp, short_id};

// ---------------------------------------------------------------------------
// Flag values
// ---------------------------------------------------------------------------

/// A pflag `ip` value: an IP address in its canonical form.
pub fn parse_ip(s: &str) -> std::result::Result<String, String> {
    s.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("invalid string being converted to IP address: {s}"))
}

/// An address with a prefix length, as Go's `net.ParseCIDR` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (not masked).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses "10.0.0.1/24" or "fd00::/64".
    pub fn parse(s: &str) -> std::result::Result<Cidr, String> {
        let bad = || format!("invalid CIDR address: {s}");
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max || !prefix_digits_ok(s) {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    fn bits(ip: IpAddr) -> (u128, u32) {
        match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    }

    fn mask(&self) -> u128 {
        let (_, width) = Self::bits(self.addr);
        let host_bits = width - u32::from(self.prefix);
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all.checked_shl(host_bits).unwrap_or(0) & all
    }

    /// Whether `ip` is inside this network (same family only, as Go's
    /// `IPNet.Contains` for non-mapped addresses).
    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (net, _) = Self::bits(self.addr);
        let (other, _) = Self::bits(ip);
        net & self.mask() == other & self.mask()
    }

    /// The network in Go's `IPNet.String()` form: the masked address.
    pub fn network(&self) -> String {
        let (net, _) = Self::bits(self.addr);
        let masked = net & self.mask();
        let ip = match self.addr {
            IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(masked as u32)),
            IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(masked)),
        };
        format!("{ip}/{}", self.prefix)
    }
}

/// Go takes at most three decimal digits for a prefix length, no sign.
fn prefix_digits_ok(s: &str) -> bool {
    s.rsplit_once('/').is_some_and(|(_, p)| {
        !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A pflag `ipNet` value, kept in Go's masked form ("10.1.2.0/24").
fn parse_ip_net(s: &str) -> std::result::Result<String, String> {
    Cidr::parse(s.trim()).map(|c| c.network())
}

/// docker's `ValidateLabel`: a non-empty key without whitespace.
pub fn parse_label(s: &str) -> std::result::Result<String, String> {
    let key = s.split_once('=').map_or(s, |(k, _)| k).trim();
    if key.is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    if key.contains(char::is_whitespace) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(s.to_string())
}

/// docker's `ValidateLink`: "name[:alias]" with a name.
pub fn parse_link(s: &str) -> std::result::Result<String, String> {
    let name = s.split_once(':').map_or(s, |(n, _)| n);
    if name.is_empty() {
        return Err("empty string specified for links".into());
    }
    Ok(s.to_string())
}

/// Whether `data` (an address, or an address with a prefix) lies in
/// `subnet`: docker's `subnetMatches`.
fn subnet_matches(subnet: &str, data: &str) -> Result<bool> {
    let net = Cidr::parse(subnet).map_err(|e| anyhow::anyhow!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        Some(Cidr::parse(data).map_err(anyhow::Error::msg)?.addr)
    } else {
        data.parse::<IpAddr>().ok()
    };
    Ok(ip.is_some_and(|ip| net.contains(ip)))
}

/// The IPAM pools of `network create`: every ip-range, gateway and
/// auxiliary address is placed in the subnet that holds it, as docker's
/// `createIPAMConfig` does (subnets keep the order they were given in).
pub fn ipam_pools(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &BTreeMap<String, String>,
) -> Result<Vec<IpamConfig>> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let mut pools: Vec<IpamConfig> = Vec::new();
    for s in subnets {
        for p in &pools {
            let existing = p.subnet.as_deref().unwrap_or_default();
            if subnet_matches(s, existing)? || subnet_matches(existing, s)? {
                bail!("multiple overlapping subnet configuration is not supported");
            }
        }
        pools.push(IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        });
    }
    for r in ranges {
        place(
            &mut pools,
            r,
            "range",
            |p| &mut p.ip_range,
            |taken, s| {
                format!("cannot configure multiple ranges ({r}, {taken}) on the same subnet ({s})")
            },
        )?;
    }
    for g in gateways {
        place(
            &mut pools,
            g,
            "gateway",
            |p| &mut p.gateway,
            |taken, s| {
                format!(
                    "cannot configure multiple gateways ({g}, {taken}) for the same subnet ({s})"
                )
            },
        )?;
    }
    for (name, addr) in aux {
        let mut matched = false;
        for p in pools.iter_mut() {
            let subnet = p.subnet.clone().unwrap_or_default();
            if subnet_matches(&subnet, addr)? {
                p.auxiliary_addresses
                    .get_or_insert_with(HashMap::new)
                    .insert(name.clone(), addr.clone());
                matched = true;
            }
        }
        if !matched {
            bail!("no matching subnet for aux-address {addr}");
        }
    }
    Ok(pools)
}

/// Puts `value` into the one field `slot` of every pool whose subnet holds it.
fn place(
    pools: &mut [IpamConfig],
    value: &str,
    what: &str,
    slot: impl Fn(&mut IpamConfig) -> &mut Option<String>,
    taken_err: impl Fn(&str, &str) -> String,
) -> Result<()> {
    let mut matched = false;
    for p in pools.iter_mut() {
        let subnet = p.subnet.clone().unwrap_or_default();
        if !subnet_matches(&subnet, value)? {
            continue;
        }
        let field = slot(p);
        if let Some(taken) = field.as_deref() {
            bail!("{}", taken_err(taken, &subnet));
        }
        *field = Some(value.to_string());
        matched = true;
    }
    if !matched {
        bail!("no matching subnet for {what} {value}");
    }
    Ok(())
}

fn to_btree(m: HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().collect()
}

// ---------------------------------------------------------------------------
// network create
// ---------------------------------------------------------------------------

/// `berth network create`
#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from")]
    pub config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_delimiter = ',', value_parser = parse_ip)]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_delimiter = ',', value_parser = parse_ip_net)]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          require_equals = true)]
    pub ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true",
          require_equals = true)]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long, value_parser = parse_label)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long)]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_delimiter = ',')]
    pub subnet: Vec<String>,
    pub name: String,
}

impl NetworkCreateArgs {
    /// The request docker's CLI sends for these flags.
    pub fn request(&self) -> Result<NetworkCreateRequest> {
        let aux = to_btree(kv_map(&self.aux_address, "aux-address")?);
        let pools = ipam_pools(&self.subnet, &self.ip_range, &self.gateway, &aux)?;
        Ok(NetworkCreateRequest {
            name: self.name.clone(),
            driver: Some(self.driver.clone()),
            scope: Some(self.scope.clone().unwrap_or_default()),
            internal: Some(self.internal),
            attachable: Some(self.attachable),
            ingress: Some(self.ingress),
            config_only: Some(self.config_only),
            config_from: self.config_from.as_ref().map(|n| ConfigReference {
                network: Some(n.clone()),
            }),
            ipam: Some(Ipam {
                driver: Some(self.ipam_driver.clone()),
                config: Some(pools),
                options: Some(kv_map(&self.ipam_opt, "ipam-opt")?),
            }),
            enable_ipv4: self.ipv4,
            enable_ipv6: self.ipv6,
            options: Some(kv_map(&self.opt, "opt")?),
            labels: Some(kv_map(&self.label, "label")?),
        })
    }
}

/// `berth network create`: prints the new network's id.
pub async fn network_create(client: &Client, a: NetworkCreateArgs) -> Result<i32> {
    let resp = client.network_create(&a.request()?).await?;
    // docker's CLI shows the id only, not the daemon's warning.
    if !resp.warning.is_empty() {
        tracing::debug!(warning = %resp.warning, "network create");
    }
    println!("{}", resp.id);
    Ok(0)
}

// ---------------------------------------------------------------------------
// network ls
// ---------------------------------------------------------------------------

/// `berth network ls`
#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// One row of docker's network formatter.
#[derive(Debug, Serialize)]
struct NetworkRow {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Driver")]
    driver: String,
    #[serde(rename = "Scope")]
    scope: String,
    #[serde(rename = "IPv4")]
    ipv4: String,
    #[serde(rename = "IPv6")]
    ipv6: String,
    #[serde(rename = "Internal")]
    internal: String,
    #[serde(rename = "Labels")]
    labels: String,
    #[serde(rename = "CreatedAt")]
    created_at: String,
    /// Answers `{{.Label "key"}}`.
    #[serde(rename = "__Label")]
    label: BTreeMap<String, String>,
    /// Marks a formatter row for the template engine.
    #[serde(rename = "__json_html")]
    json_html: bool,
}

impl NetworkRow {
    fn headers() -> NetworkRow {
        NetworkRow {
            id: "NETWORK ID".into(),
            name: "NAME".into(),
            driver: "DRIVER".into(),
            scope: "SCOPE".into(),
            ipv4: "IPV4".into(),
            ipv6: "IPV6".into(),
            internal: "INTERNAL".into(),
            labels: "LABELS".into(),
            created_at: "CREATED AT".into(),
            label: BTreeMap::new(),
            json_html: true,
        }
    }

    fn new(n: &NetworkSummary, trunc: bool) -> NetworkRow {
        let id = n.id.clone().unwrap_or_default();
        let labels = n.labels.clone().unwrap_or_default();
        NetworkRow {
            id: if trunc { short_id(&id) } else { id },
            name: n.name.clone().unwrap_or_default(),
            driver: n.driver.clone().unwrap_or_default(),
            scope: n.scope.clone().unwrap_or_default(),
            ipv4: n.enable_ipv4.unwrap_or(false).to_string(),
            ipv6: n.enable_ipv6.unwrap_or(false).to_string(),
            internal: n.internal.unwrap_or(false).to_string(),
            labels: labels_joined(&labels),
            created_at: go_time_rfc3339(n.created.as_deref().unwrap_or_default()),
            label: labels.into_iter().collect(),
            json_html: true,
        }
    }
}

/// `berth network ls`
pub async fn network_ls(client: &Client, a: NetworkLsArgs) -> Result<i32> {
    let filters = filters_json(&a.filter)?;
    let mut nets = client.network_list(filters.as_deref()).await?;
    nets.sort_by(|x, y| {
        natural_cmp(
            x.name.as_deref().unwrap_or_default(),
            y.name.as_deref().unwrap_or_default(),
        )
    });
    let rows: Vec<NetworkRow> = nets
        .iter()
        .map(|n| NetworkRow::new(n, !a.no_trunc))
        .collect();
    let formats = format::ListFormats {
        table: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        quiet: "{{.ID}}",
        raw: Some((
            "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n",
            "network_id: {{.ID}}",
        )),
    };
    let f = format::list_format(a.format.as_deref(), a.quiet, &formats);
    print!(
        "{}",
        format::render_typed(&f, &NetworkRow::headers(), &rows)?
    );
    Ok(0)
}

// ---------------------------------------------------------------------------
// network rm / inspect
// ---------------------------------------------------------------------------

/// `berth network rm`
#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

const INGRESS_WARNING: &str = "WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm run the same docker engine version. Otherwise, removal may not be effective and functionality of newly create ingress networks will be impaired.";

/// `berth network rm`: removes each network in turn, printing its name.
pub async fn network_rm(client: &Client, a: NetworkRmArgs) -> Result<i32> {
    let mut code = 0;
    for n in &a.networks {
        // Like docker, look first: removing a swarm ingress network asks.
        let opts = NetworkInspectOptions::default();
        if let Ok(nw) = client.network_inspect(n, opts).await {
            if nw.ingress == Some(true) && !confirm(INGRESS_WARNING) {
                continue;
            }
        }
        match client.network_remove(n).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                let missing = daemon_error(&e).is_some_and(|d| d.status == 404);
                if !(a.force && missing) {
                    eprint_err(&e.into());
                    code = 1;
                }
            }
        }
    }
    if code != 0 {
        // docker's network rm ends a failed run with this line.
        eprintln!("exit status 1");
    }
    Ok(code)
}

/// `berth network inspect`
#[derive(Args, Debug)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

/// `berth network inspect`
pub async fn network_inspect(client: &Client, a: NetworkInspectArgs) -> Result<i32> {
    let opts = FetchOpts {
        size: false,
        verbose: a.verbose,
    };
    let kind = InspectKind::Network;
    inspect_objects(client, &a.networks, kind, a.format.as_deref(), opts).await
}

// ---------------------------------------------------------------------------
// network connect / disconnect
// ---------------------------------------------------------------------------

/// `berth network connect`
#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway
    #[arg(long = "gw-priority", default_value_t = 0, allow_hyphen_values = true)]
    pub gw_priority: i64,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_parser = parse_ip)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, value_parser = parse_ip)]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_parser = parse_link)]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_delimiter = ',', value_parser = parse_ip)]
    pub link_local_ip: Vec<String>,
    pub network: String,
    pub container: String,
}

/// docker's `convertDriverOpt`: "key=value" pairs, trimmed.
fn driver_opts(items: &[String]) -> Result<HashMap<String, String>> {
    let mut m = HashMap::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                m.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => bail!("invalid key/value pair format in driver options"),
        }
    }
    Ok(m)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    Some(v).filter(|v| !v.is_empty())
}

impl NetworkConnectArgs {
    /// The endpoint settings docker's CLI sends: IPAMConfig always (empty
    /// when no address is asked for), the lists and maps when given.
    pub fn request(&self) -> Result<NetworkConnectRequest> {
        Ok(NetworkConnectRequest {
            container: self.container.clone(),
            endpoint_config: Some(EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: self.ip.clone(),
                    ipv6_address: self.ip6.clone(),
                    link_local_ips: non_empty(self.link_local_ip.clone()),
                }),
                links: non_empty(self.link.clone()),
                aliases: non_empty(self.alias.clone()),
                driver_opts: Some(driver_opts(&self.driver_opt)?).filter(|m| !m.is_empty()),
                gw_priority: Some(self.gw_priority).filter(|p| *p != 0),
                ..Default::default()
            }),
        })
    }
}

/// `berth network connect`
pub async fn network_connect(client: &Client, a: NetworkConnectArgs) -> Result<i32> {
    client.network_connect(&a.network, &a.request()?).await?;
    Ok(0)
}

/// `berth network disconnect`
#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

/// `berth network disconnect`
pub async fn network_disconnect(client: &Client, a: NetworkDisconnectArgs) -> Result<i32> {
    let req = NetworkDisconnectRequest {
        container: a.container,
        force: Some(a.force),
    };
    client.network_disconnect(&a.network, &req).await?;
    Ok(0)
}

// ---------------------------------------------------------------------------
// network prune
// ---------------------------------------------------------------------------

/// `berth network prune`
pub async fn network_prune(client: &Client, a: PruneOpts) -> Result<i32> {
    if !a.confirmed(
        "WARNING! This will remove all custom networks not used by at least one container.",
    ) {
        return Ok(0);
    }
    prune_networks(client, filters_json(&a.filter)?.as_deref()).await?;
    Ok(0)
}

/// Prunes unused networks and prints what went.
pub async fn prune_networks(client: &Client, filters: Option<&str>) -> Result<()> {
    let report = client.network_prune(filters).await?;
    let deleted = report.networks_deleted.as_deref();
    print!("{}", deleted_block("Deleted Networks", deleted));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn cidrs_like_go() {
        let c = Cidr::parse("10.1.2.3/24").unwrap();
        assert!(c.contains("10.1.2.200".parse().unwrap()));
        assert!(!c.contains("10.1.3.1".parse().unwrap()));
        assert_eq!(c.network(), "10.1.2.0/24");
        assert_eq!(Cidr::parse("fd00::1/64").unwrap().network(), "fd00::/64");
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("10.0.0.0/+8").is_err());
        assert_eq!(parse_ip_net("10.1.2.3/24").unwrap(), "10.1.2.0/24");
        assert_eq!(parse_ip("2001:DB8::1").unwrap(), "2001:db8::1");
        assert!(parse_ip("nope").is_err());
        assert!(parse_label("=x").is_err());
        assert!(parse_label("a b=x").is_err());
        assert!(parse_link(":x").is_err());
    }

    #[test]
    fn ipam_pools_place_ranges_gateways_and_aux() {
        let aux: BTreeMap<String, String> = [("router".to_string(), "10.1.0.5".to_string())].into();
        let pools = ipam_pools(
            &s(&["10.1.0.0/16", "fd00::/64"]),
            &s(&["10.1.5.0/24"]),
            &s(&["fd00::1", "10.1.0.1"]),
            &aux,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&pools).unwrap(),
            serde_json::json!([
                {"Subnet": "10.1.0.0/16", "IPRange": "10.1.5.0/24", "Gateway": "10.1.0.1",
                 "AuxiliaryAddresses": {"router": "10.1.0.5"}},
                {"Subnet": "fd00::/64", "Gateway": "fd00::1"}
            ])
        );
        let none = BTreeMap::new();
        let err = |sub: &[&str], r: &[&str], g: &[&str]| {
            ipam_pools(&s(sub), &s(r), &s(g), &none)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[], &[], &["10.0.0.1"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            err(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            err(&["10.0.0.0/24"], &[], &["10.9.0.1"]),
            "no matching subnet for gateway 10.9.0.1"
        );
        assert_eq!(
            err(&["10.0.0.0/24", "10.2.0.0/24"], &["10.0.0.0/25", "10.0.0.128/25"], &[]),
            "cannot configure multiple ranges (10.0.0.128/25, 10.0.0.0/25) on the same subnet (10.0.0.0/24)"
        );
        assert_eq!(
            err(&["10.0.0.0/33"], &[], &["10.0.0.1"]),
            "invalid subnet: invalid CIDR address: 10.0.0.0/33"
        );
        let aux: BTreeMap<String, String> = [("a".to_string(), "192.168.9.9".to_string())].into();
        assert_eq!(
            ipam_pools(&s(&["10.0.0.0/24"]), &[], &[], &aux)
                .unwrap_err()
                .to_string(),
            "no matching subnet for aux-address 192.168.9.9"
        );
    }

    #[test]
    fn driver_opts_need_a_key_and_value() {
        assert_eq!(
            driver_opts(&s(&[" a = 1 "]))
                .unwrap()
                .get("a")
                .map(String::as_str),
            Some("1")
        );
        assert!(driver_opts(&s(&["novalue"])).is_err());
        assert!(driver_opts(&s(&["=x"])).is_err());
    }
}

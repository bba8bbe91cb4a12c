//! Merging compose files (and `extends` bases) by the Compose Specification's rules, on the
//! raw node tree: mappings merge key by key, listed sequences append (some deduplicated,
//! `volumes`/`devices` keyed by target), list-or-dict fields merge as maps, anything else is
//! replaced. `!override` replaces without merging; `!reset` removes the key.

use crate::yaml::{Entry, Kind, MergeTag, Node};

/// Structural equality, ignoring positions, tags and quoting.
pub fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Scalar { value: x, .. }, Kind::Scalar { value: y, .. }) => x == y,
        (Kind::Seq(x), Kind::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Kind::Map(x), Kind::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|e| y.iter().any(|f| f.key == e.key && same(&e.value, &f.value)))
        }
        _ => false,
    }
}

/// Service keys (paths below a service) written as a list of `KEY=VALUE` or a mapping.
const LIST_OR_DICT: &[&str] = &[
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "extra_hosts",
    "storage_opt",
    "build.args",
    "build.labels",
    "build.extra_hosts",
    "build.additional_contexts",
    "deploy.labels",
    "logging.options",
];

/// Service keys written as a list of names or a mapping of name to settings.
const NAMES_OR_MAP: &[&str] = &["networks", "depends_on", "models"];

/// Sequences appended with duplicates removed.
const UNIQUE_SEQ: &[&str] = &[
    "cap_add",
    "cap_drop",
    "configs",
    "secrets",
    "ports",
    "expose",
    "external_links",
    "security_opt",
    "device_cgroup_rules",
    "links",
    "volumes_from",
    "group_add",
    "profiles",
    "dns_opt",
    "deploy.placement.constraints",
    "deploy.placement.preferences",
    "deploy.resources.reservations.generic_resources",
    "build.cache_from",
    "build.cache_to",
    "build.tags",
    "build.secrets",
    "build.platforms",
];

/// Sequences (or single strings) appended with duplicates kept.
const APPEND_SEQ: &[&str] = &["dns", "dns_search", "env_file", "tmpfs", "label_file"];

/// Sequences merged as mappings keyed by the container path.
const BY_TARGET: &[&str] = &["volumes", "devices"];

/// Keys whose value is replaced, never merged.
const REPLACE: &[&str] = &["command", "entrypoint", "healthcheck.test", "build"];

fn to_seq(n: Node) -> Vec<Node> {
    match n.kind {
        Kind::Seq(items) => items,
        Kind::Null => Vec::new(),
        _ => vec![n],
    }
}

/// Converts a list of `KEY=VALUE` (or `host:ip` for extra_hosts) into a mapping node.
fn list_to_map(n: Node, extra_hosts: bool) -> Node {
    match n.kind {
        Kind::Seq(items) => {
            let mut entries: Vec<Entry> = Vec::new();
            for item in items {
                let Some(s) = item.as_str() else { continue };
                let split =
                    s.split_once('=')
                        .or_else(|| if extra_hosts { s.split_once(':') } else { None });
                let (key, value) = match split {
                    Some((k, v)) => (k.to_string(), Node::string(v, item.pos.clone())),
                    None => (s.to_string(), Node::new(Kind::Null, item.pos.clone())),
                };
                entries.retain(|e| e.key != key);
                entries.push(Entry {
                    key,
                    key_pos: item.pos.clone(),
                    value,
                });
            }
            Node::new(Kind::Map(entries), n.pos)
        }
        _ => n,
    }
}

fn names_to_map(n: Node) -> Node {
    match n.kind {
        Kind::Seq(items) => {
            let entries = items
                .into_iter()
                .filter_map(|item| {
                    let key = item.as_str()?.to_string();
                    Some(Entry {
                        key,
                        key_pos: item.pos.clone(),
                        value: Node::new(Kind::Null, item.pos),
                    })
                })
                .collect();
            Node::new(Kind::Map(entries), n.pos)
        }
        _ => n,
    }
}

/// The container path of a `volumes` / `devices` item.
fn target_of(item: &Node, devices: bool) -> Option<String> {
    match &item.kind {
        Kind::Scalar { value, .. } => {
            let parts: Vec<&str> = value.split(':').collect();
            let t = match (devices, parts.as_slice()) {
                (_, [one]) => *one,
                (_, [_, t, ..]) => *t,
                _ => return None,
            };
            Some(t.to_string())
        }
        Kind::Map(_) => item
            .get("target")
            .and_then(Node::as_str)
            .map(str::to_string),
        _ => None,
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Merges `over` onto `base` for the service-relative `path` (`""` is the service itself).
pub fn merge_service_value(path: &str, base: Node, over: Node) -> Node {
    if over.tag == MergeTag::Override || REPLACE.contains(&path) {
        return over;
    }
    if LIST_OR_DICT.contains(&path) {
        let hosts = path.ends_with("extra_hosts");
        return merge_maps(path, list_to_map(base, hosts), list_to_map(over, hosts));
    }
    if NAMES_OR_MAP.contains(&path) {
        return merge_maps(path, names_to_map(base), names_to_map(over));
    }
    if UNIQUE_SEQ.contains(&path) || APPEND_SEQ.contains(&path) {
        let unique = UNIQUE_SEQ.contains(&path);
        let pos = over.pos.clone();
        let mut items = to_seq(base);
        for item in to_seq(over) {
            if !(unique && items.iter().any(|x| same(x, &item))) {
                items.push(item);
            }
        }
        return Node::new(Kind::Seq(items), pos);
    }
    if BY_TARGET.contains(&path) {
        let devices = path == "devices";
        let pos = over.pos.clone();
        let mut items = to_seq(base);
        for item in to_seq(over) {
            let t = target_of(&item, devices);
            match items
                .iter_mut()
                .find(|x| t.is_some() && target_of(x, devices) == t)
            {
                Some(slot) => *slot = item,
                None => items.push(item),
            }
        }
        return Node::new(Kind::Seq(items), pos);
    }
    match (&base.kind, &over.kind) {
        (Kind::Map(_), Kind::Map(_)) => merge_maps(path, base, over),
        // A short `build: ./dir` merged with a long form keeps the other keys.
        _ => over,
    }
}

fn merge_maps(path: &str, base: Node, over: Node) -> Node {
    let Kind::Map(over_entries) = over.kind else {
        return over;
    };
    let mut base = match base.kind {
        Kind::Map(_) => base,
        _ => Node::new(Kind::Map(Vec::new()), over.pos.clone()),
    };
    for e in over_entries {
        if e.value.tag == MergeTag::Reset {
            base.remove(&e.key);
            continue;
        }
        let p = child(path, &e.key);
        let merged = match base.remove(&e.key) {
            Some(b) if path.is_empty() || !is_leaf_map(path) => merge_service_value(&p, b, e.value),
            _ => e.value,
        };
        if let Some(m) = base.as_map_mut() {
            m.push(Entry {
                key: e.key,
                key_pos: e.key_pos,
                value: merged,
            });
        }
    }
    base
}

/// Maps whose values are replaced whole (a map of environment values, labels, ...).
fn is_leaf_map(path: &str) -> bool {
    LIST_OR_DICT.contains(&path) || path == "ulimits" || path.ends_with("driver_opts")
}

/// Merges two whole compose files.
pub fn merge_files(base: Node, over: Node) -> Node {
    let Kind::Map(over_entries) = over.kind else {
        return base;
    };
    let mut base = base;
    for e in over_entries {
        if e.value.tag == MergeTag::Reset {
            base.remove(&e.key);
            continue;
        }
        let merged = match (e.key.as_str(), base.remove(&e.key)) {
            (_, None) => e.value,
            ("services", Some(b)) => merge_named(b, e.value, true),
            ("networks" | "volumes" | "secrets" | "configs" | "models", Some(b)) => {
                merge_named(b, e.value, false)
            }
            ("include", Some(b)) => {
                let pos = e.value.pos.clone();
                let mut items = to_seq(b);
                items.extend(to_seq(e.value));
                Node::new(Kind::Seq(items), pos)
            }
            (_, Some(b)) => match (&b.kind, &e.value.kind) {
                (Kind::Map(_), Kind::Map(_)) if e.value.tag != MergeTag::Override => {
                    merge_generic(b, e.value)
                }
                _ => e.value,
            },
        };
        base.set(&e.key, merged);
    }
    base
}

/// Merges maps of named objects: each service by the service rules, others recursively.
fn merge_named(base: Node, over: Node, services: bool) -> Node {
    if over.tag == MergeTag::Override {
        return over;
    }
    let Kind::Map(over_entries) = over.kind else {
        return over;
    };
    let mut base = match base.kind {
        Kind::Map(_) => base,
        _ => Node::new(Kind::Map(Vec::new()), over.pos.clone()),
    };
    for e in over_entries {
        if e.value.tag == MergeTag::Reset {
            base.remove(&e.key);
            continue;
        }
        let merged = match base.remove(&e.key) {
            None => e.value,
            Some(b) if services => merge_service_value("", b, e.value),
            Some(b) => merge_generic(b, e.value),
        };
        base.set(&e.key, merged);
    }
    base
}

/// Recursive mapping merge; non-mappings are replaced.
fn merge_generic(base: Node, over: Node) -> Node {
    if over.tag == MergeTag::Override {
        return over;
    }
    match (base.kind, over.kind) {
        (Kind::Map(mut b), Kind::Map(o)) => {
            for e in o {
                if e.value.tag == MergeTag::Reset {
                    b.retain(|x| x.key != e.key);
                    continue;
                }
                match b.iter().position(|x| x.key == e.key) {
                    Some(i) => {
                        let old = b.remove(i);
                        b.insert(
                            i,
                            Entry {
                                key: e.key,
                                key_pos: e.key_pos,
                                value: merge_generic(old.value, e.value),
                            },
                        );
                    }
                    None => b.push(e),
                }
            }
            Node::new(Kind::Map(b), over.pos)
        }
        (_, kind) => Node {
            kind,
            pos: over.pos,
            tag: over.tag,
        },
    }
}

/// Drops `!reset` entries left in a single file and clears merge tags.
pub fn strip_tags(node: &mut Node) {
    node.tag = MergeTag::None;
    match &mut node.kind {
        Kind::Map(entries) => {
            entries.retain(|e| e.value.tag != MergeTag::Reset);
            for e in entries {
                strip_tags(&mut e.value);
            }
        }
        Kind::Seq(items) => items.iter_mut().for_each(strip_tags),
        _ => {}
    }
}

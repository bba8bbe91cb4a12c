//! Normalisation and validation after typing: env files, defaults Compose fills in
//! (the `default` network, resource names), profiles and cross references.

use std::path::Path;

use crate::error::ComposeError;
use crate::model::{Command, Network};
use crate::project::{invalid, is_named_volume, service_refs, Project};
use crate::yaml::Node;

pub(crate) fn normalize(p: &mut Project, root: &Node) -> Result<(), ComposeError> {
    let names: Vec<String> = p.services.keys().cloned().collect();
    for name in &names {
        let path = format!("services.{name}");
        let env = p.environment.clone();
        let mut warnings = Vec::new();
        let Some(s) = p.services.get_mut(name) else {
            continue;
        };
        if s.image.is_none() && s.build.is_none() && s.provider.is_none() {
            return Err(invalid(
                root,
                &path,
                "service has neither an image nor a build context specified",
            ));
        }
        for (key, cmd) in [("command", &s.command), ("entrypoint", &s.entrypoint)] {
            if let Some(c @ Command::Shell(_)) = cmd {
                c.argv()
                    .map_err(|m| invalid(root, &format!("{path}.{key}"), m))?;
            }
        }
        if let Some(b) = &mut s.build {
            if b.dockerfile.is_none() && b.dockerfile_inline.is_none() {
                b.dockerfile = Some("Dockerfile".into());
            }
        }
        // env_file values first, `environment` wins; `KEY` alone comes from the environment.
        let mut from_files = std::collections::BTreeMap::new();
        for (i, f) in s.env_file.iter().enumerate() {
            let fpath = Path::new(&f.path);
            let text = match std::fs::read_to_string(fpath) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !f.required => {
                    warnings.push(format!("env file {} not found (not required)", f.path));
                    continue;
                }
                Err(e) => {
                    return Err(invalid(
                        root,
                        &format!("{path}.env_file[{i}]"),
                        format!("env file {}: {e}", f.path),
                    ));
                }
            };
            let raw = match f.format.as_deref() {
                None => false,
                Some("raw") => true,
                Some(other) => {
                    return Err(invalid(
                        root,
                        &format!("{path}.env_file[{i}]"),
                        format!("unsupported env_file format {other:?}"),
                    ))
                }
            };
            let lookup = |k: &str| env.get(k).cloned();
            for (k, v) in crate::dotenv::parse(fpath, &text, &lookup, raw, &mut warnings)? {
                from_files.insert(k, v);
            }
        }
        for (k, v) in from_files {
            s.environment.entry(k).or_insert(v);
        }
        for (k, v) in s.environment.iter_mut() {
            if v.is_none() {
                *v = env.get(k).cloned();
            }
        }
        if let Some(r) = &s.restart {
            let ok = matches!(
                r.as_str(),
                "no" | "always" | "unless-stopped" | "on-failure"
            ) || r
                .strip_prefix("on-failure:")
                .is_some_and(|n| n.parse::<u32>().is_ok());
            if !ok {
                return Err(invalid(
                    root,
                    &format!("{path}.restart"),
                    format!("invalid restart policy {r:?}"),
                ));
            }
        }
        if let Some(pp) = &s.pull_policy {
            let ok = matches!(
                pp.as_str(),
                "always"
                    | "never"
                    | "build"
                    | "if_not_present"
                    | "missing"
                    | "refresh"
                    | "daily"
                    | "weekly"
            ) || pp.strip_prefix("every_").is_some_and(|d| {
                crate::units::parse_duration(&d.replace('w', "h")).is_ok() || d.ends_with('d')
            });
            if !ok {
                return Err(invalid(
                    root,
                    &format!("{path}.pull_policy"),
                    format!("invalid pull_policy {pp:?}"),
                ));
            }
        }
        if let (Some(scale), Some(replicas)) = (s.scale, s.deploy.as_ref().and_then(|d| d.replicas))
        {
            if scale != replicas {
                return Err(invalid(
                    root,
                    &format!("{path}.scale"),
                    format!("scale ({scale}) and deploy.replicas ({replicas}) differ"),
                ));
            }
        }
        if s.network_mode.is_some() && !s.networks.is_empty() {
            return Err(invalid(
                root,
                &format!("{path}.network_mode"),
                "network_mode and networks cannot be combined",
            ));
        }
        if s.network_mode.is_none() && s.networks.is_empty() && s.provider.is_none() {
            s.networks.insert("default".into(), None);
        }
        p.warnings.append(&mut warnings);
    }

    // Profiles: services whose profiles are all inactive are disabled.
    let all = p.profiles.iter().any(|x| x == "*");
    let disabled: Vec<String> = p
        .services
        .iter()
        .filter(|(_, s)| {
            !s.profiles.is_empty() && !all && !s.profiles.iter().any(|x| p.profiles.contains(x))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in disabled {
        if let Some(s) = p.services.remove(&k) {
            p.disabled_services.insert(k, s);
        }
    }

    for (name, s) in &p.services {
        let path = format!("services.{name}");
        for (key, target) in service_refs(s) {
            let optional = key.starts_with("depends_on.")
                && s.depends_on.get(&target).is_some_and(|d| !d.required);
            if p.services.contains_key(&target) || optional {
                continue;
            }
            let msg = if p.disabled_services.contains_key(&target) {
                format!("service {name:?} depends on service {target:?} which is disabled by its profiles")
            } else {
                format!("service {name:?} refers to undefined service {target:?}")
            };
            return Err(invalid(root, &format!("{path}.{key}"), msg));
        }
        for net in s.networks.keys() {
            if net != "default" && !p.networks.contains_key(net) {
                return Err(invalid(
                    root,
                    &format!("{path}.networks.{net}"),
                    format!("service {name:?} refers to undefined network {net}"),
                ));
            }
        }
        for (i, v) in s.volumes.iter().enumerate() {
            if let Some(src) = is_named_volume(v) {
                if !p.volumes.contains_key(src) {
                    return Err(invalid(
                        root,
                        &format!("{path}.volumes[{i}]"),
                        format!("service {name:?} refers to undefined volume {src}"),
                    ));
                }
            }
        }
        for (kind, refs, defined) in [
            ("secret", &s.secrets, &p.secrets),
            ("config", &s.configs, &p.configs),
        ] {
            for (i, r) in refs.iter().enumerate() {
                if !defined.contains_key(&r.source) {
                    return Err(invalid(
                        root,
                        &format!("{path}.{kind}s[{i}]"),
                        format!("service {name:?} refers to undefined {kind} {}", r.source),
                    ));
                }
            }
        }
    }

    let uses_default = p
        .services
        .values()
        .any(|s| s.networks.contains_key("default"));
    if uses_default && !p.networks.contains_key("default") {
        p.networks.insert("default".into(), Network::default());
    }
    let project = p.name.clone();
    let scoped = |key: &str, external: bool| {
        if external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        }
    };
    for (k, n) in p.networks.iter_mut() {
        n.name.get_or_insert_with(|| scoped(k, n.external));
    }
    for (k, v) in p.volumes.iter_mut() {
        v.name.get_or_insert_with(|| scoped(k, v.external));
    }
    for (section, objs) in [("secrets", &mut p.secrets), ("configs", &mut p.configs)] {
        for (k, o) in objs.iter_mut() {
            o.name.get_or_insert_with(|| scoped(k, o.external));
            let sources = [
                o.file.is_some(),
                o.environment.is_some(),
                o.content.is_some(),
                o.external,
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources != 1 {
                return Err(invalid(
                    root,
                    &format!("{section}.{k}"),
                    "exactly one of file, environment, content or external must be set",
                ));
            }
            if section == "secrets" && o.content.is_some() {
                return Err(invalid(
                    root,
                    &format!("{section}.{k}.content"),
                    "secrets cannot have inline content",
                ));
            }
        }
    }
    Ok(())
}

//! The `local` volume driver's options (`docker volume create -o type=tmpfs -o
//! o=size=64m -o device=tmpfs`), parsed once at create into what `mount(2)` takes.

use std::collections::BTreeMap;

use nix::mount::MsFlags;

use crate::error::{DaemonError, Result};

/// Options the local driver accepts (moby `volume/local`: `type`, `o`, `device`;
/// `size` needs project quotas, which Berth does not set up).
const VALID: [&str; 4] = ["type", "o", "device", "size"];

/// An option that needs others: `type` and `device` go together, `o` needs both.
const REQUIRES: [(&str, &[&str]); 3] = [
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

/// A filesystem the driver mounts on the volume's `_data` when a container first
/// uses the volume (None for a plain directory volume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverMount {
    /// `type=` (`tmpfs`, `nfs`, `ext4`, `none` for a bind).
    pub fstype: String,
    /// `device=`.
    pub device: String,
    /// The flag words of `o=` (`ro`, `bind`, `nosuid`, ...).
    pub flags: MsFlags,
    /// The rest of `o=`, passed to the filesystem (`size=64m,uid=1000`).
    pub data: String,
}

/// Validates the driver options of a new volume; Docker's messages.
pub fn parse_options(opts: &BTreeMap<String, String>) -> Result<Option<DriverMount>> {
    if opts.is_empty() {
        return Ok(None);
    }
    for k in opts.keys() {
        if !VALID.contains(&k.as_str()) {
            return Err(DaemonError::Invalid(format!("invalid option: {k:?}")));
        }
    }
    if let Some(size) = opts.get("size") {
        let bytes = crate::util::parse_size(size)
            .ok_or_else(|| DaemonError::Invalid(format!("invalid size: '{size}'")))?;
        if bytes > 0 {
            return Err(DaemonError::Invalid(
                "quota size requested but no quota support".into(),
            ));
        }
    }
    for (opt, needs) in REQUIRES {
        if opts.contains_key(opt) {
            for need in needs {
                if !opts.contains_key(*need) {
                    return Err(DaemonError::Invalid(format!(
                        "missing required option: {need:?}"
                    )));
                }
            }
        }
    }
    let (Some(fstype), Some(device)) = (opts.get("type"), opts.get("device")) else {
        return Ok(None);
    };
    let (flags, data) = split_mount_options(opts.get("o").map(String::as_str).unwrap_or(""));
    Ok(Some(DriverMount {
        fstype: fstype.clone(),
        device: device.clone(),
        flags,
        data,
    }))
}

/// Splits `mount -o` style options into flags and filesystem data, as
/// `mount(8)` (and moby's `mount.Mount`) does.
pub fn split_mount_options(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            other => {
                data.push(other);
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data.join(","))
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`; the
/// messages are moby's, prefixed with the operation as moby's `OpErr` does.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() == 1 {
        return Err(DaemonError::Invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(DaemonError::Invalid(format!(
            "create {name}: {name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_volumes_have_no_mount() {
        assert_eq!(parse_options(&BTreeMap::new()).unwrap(), None);
    }

    #[test]
    fn tmpfs_with_size() {
        let m = parse_options(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=64m,uid=1000,noexec"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(m.fstype, "tmpfs");
        assert_eq!(m.device, "tmpfs");
        assert_eq!(m.flags, MsFlags::MS_NOEXEC);
        assert_eq!(m.data, "size=64m,uid=1000");
    }

    #[test]
    fn bind_type_none() {
        let m = parse_options(&opts(&[
            ("type", "none"),
            ("device", "/srv"),
            ("o", "bind,ro"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(m.flags, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert_eq!(m.data, "");
    }

    #[test]
    fn docker_messages_for_bad_options() {
        let e = parse_options(&opts(&[("foo", "bar")])).unwrap_err();
        assert_eq!(e.to_string(), "invalid option: \"foo\"");
        let e = parse_options(&opts(&[("type", "tmpfs")])).unwrap_err();
        assert_eq!(e.to_string(), "missing required option: \"device\"");
        let e = parse_options(&opts(&[("device", "tmpfs")])).unwrap_err();
        assert_eq!(e.to_string(), "missing required option: \"type\"");
        let e = parse_options(&opts(&[("o", "size=1m"), ("type", "tmpfs")])).unwrap_err();
        assert_eq!(e.to_string(), "missing required option: \"device\"");
        let e = parse_options(&opts(&[("size", "10m")])).unwrap_err();
        assert!(e.to_string().contains("no quota support"), "{e}");
    }

    #[test]
    fn later_flags_win() {
        let (f, d) = split_mount_options("ro,rw,nosuid,suid,nodev");
        assert_eq!(f, MsFlags::MS_NODEV);
        assert!(d.is_empty());
    }

    #[test]
    fn names() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("a1_b.c-d").is_ok());
        let e = validate_name("a/b").unwrap_err().to_string();
        assert_eq!(
            e,
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert!(validate_name("_x").is_err());
        assert!(validate_name("x")
            .unwrap_err()
            .to_string()
            .contains("too short"));
    }
}

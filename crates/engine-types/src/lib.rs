#![forbid(unsafe_code)]
//! Docker Engine API wire types (no IO).
//!
//! The models are bollard's generated stubs of moby's swagger: they tolerate unknown
//! fields (clients send fields from newer API versions) and skip `None` on output.

pub use bollard_stubs::models;

pub mod events;

/// Highest Engine API version we serve (docker 28.3–28.5 send 1.51).
pub const API_VERSION: &str = "1.51";
/// Lowest Engine API version we accept (moby's hard floor).
pub const MIN_API_VERSION: &str = "1.24";
/// The product version reported in `/version`.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parses "1.41" into (1, 41).
pub fn parse_api_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Docker's error body: `{"message": "..."}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

/// The `X-Docker-Container-Path-Stat` header's JSON (base64), Docker's
/// `container.PathStat`: `mode` carries Go `os.FileMode` bits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget", default)]
    pub link_target: String,
}

/// `GET /system/df` as API versions up to 1.51 answer it (the form the docker
/// 20.10 and 28.x CLIs read; 1.52 moved to per-type `*Usage` objects).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SystemDataUsage {
    #[serde(rename = "LayersSize")]
    pub layers_size: i64,
    #[serde(rename = "Images")]
    pub images: Vec<models::ImageSummary>,
    #[serde(rename = "Containers")]
    pub containers: Vec<models::ContainerSummary>,
    #[serde(rename = "Volumes")]
    pub volumes: Vec<models::Volume>,
    #[serde(rename = "BuildCache")]
    pub build_cache: Vec<models::BuildCache>,
}

/// The object types `GET /system/df?type=...` asks for (all when none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DfTypes {
    pub containers: bool,
    pub images: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

impl DfTypes {
    pub const ALL: DfTypes = DfTypes {
        containers: true,
        images: true,
        volumes: true,
        build_cache: true,
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(super::parse_api_version("1.41"), Some((1, 41)));
        assert_eq!(super::parse_api_version("x"), None);
    }
}

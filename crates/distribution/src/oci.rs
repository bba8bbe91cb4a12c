//! OCI image-spec and Docker schema2 wire types (no IO), media types and platform matching.
//!
//! All types accept unknown fields; optional fields are skipped on output so a
//! manifest serialized here is what a registry expects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI empty descriptor (artifacts).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable (foreign) layer, uncompressed (deprecated in the spec, still seen).
pub const OCI_LAYER_NONDIST_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable (foreign) layer, gzip.
pub const OCI_LAYER_NONDIST_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable (foreign) layer, zstd.
pub const OCI_LAYER_NONDIST_TAR_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// Docker schema2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema1 manifest (not supported; recognised to give a clear error).
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema1 signed manifest (not supported).
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (rare, accepted by containerd).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker zstd layer (as written by some builders).
pub const DOCKER_LAYER_TAR_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign layer (Windows base layers), never pushed.
pub const DOCKER_LAYER_FOREIGN_TAR_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The `Accept` list for manifest requests: the four manifest/index types.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// The annotation buildkit sets on attestation manifests in an index.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// The value of [`ANNOTATION_REFERENCE_TYPE`] for attestations.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// True for an index or Docker manifest list.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// True for an (OCI or Docker schema2) image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
}

/// True for a layer media type this engine can unpack (tar, gzip, zstd; OCI or Docker).
pub fn is_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_LAYER_TAR
            | OCI_LAYER_TAR_GZIP
            | OCI_LAYER_TAR_ZSTD
            | OCI_LAYER_NONDIST_TAR
            | OCI_LAYER_NONDIST_TAR_GZIP
            | OCI_LAYER_NONDIST_TAR_ZSTD
            | DOCKER_LAYER_TAR
            | DOCKER_LAYER_TAR_GZIP
            | DOCKER_LAYER_TAR_ZSTD
            | DOCKER_LAYER_FOREIGN_TAR_GZIP
    )
}

/// True for layers that registries do not serve (foreign / non-distributable): the
/// client fetches them from `urls` if at all, and never pushes them.
pub fn is_foreign_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        DOCKER_LAYER_FOREIGN_TAR_GZIP
            | OCI_LAYER_NONDIST_TAR
            | OCI_LAYER_NONDIST_TAR_GZIP
            | OCI_LAYER_NONDIST_TAR_ZSTD
    )
}

fn is_empty_map(m: &BTreeMap<String, String>) -> bool {
    m.is_empty()
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// `algorithm:hex`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Where else the content can be fetched from (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Embedded content, base64 (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// A platform, as in an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// GOARCH value: amd64, arm64, arm, 386, ppc64le, s390x, riscv64, ...
    pub architecture: String,
    /// GOOS value: linux, windows, ...
    pub os: String,
    /// e.g. "10.0.17763.1879" (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// e.g. ["win32k"].
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant: v5, v6, v7, v8 ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// CPU features (Docker manifest lists; reserved in OCI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// An image manifest (OCI or Docker schema2: the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// OCI_MANIFEST or DOCKER_MANIFEST (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// Layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// OCI_INDEX or DOCKER_MANIFEST_LIST (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests, usually one per platform.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub annotations: BTreeMap<String, String>,
}

/// Detect the media type of a manifest body that came without a usable
/// `Content-Type`: its `mediaType` field, else index if it has `manifests`,
/// else OCI manifest if it has `config`, else schema1 if `schemaVersion` is 1.
pub fn detect_media_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        schema_version: Option<u32>,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
        #[serde(default)]
        signatures: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(body).ok()?;
    if let Some(mt) = p.media_type.filter(|m| !m.is_empty()) {
        return Some(mt);
    }
    if p.schema_version == Some(1) {
        return Some(if p.signatures.is_some() {
            DOCKER_MANIFEST_V1_SIGNED.to_string()
        } else {
            DOCKER_MANIFEST_V1.to_string()
        });
    }
    if p.manifests.is_some() {
        return Some(OCI_INDEX.to_string());
    }
    if p.config.is_some() {
        return Some(OCI_MANIFEST.to_string());
    }
    None
}

/// Normalize an architecture name the way containerd does ("x86_64" -> "amd64",
/// "aarch64" -> "arm64"), with the variant it implies.
pub fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant
        .map(|v| v.to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    match arch.as_str() {
        "i386" | "x86" | "i686" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => {
            let v = variant.filter(|v| v != "v1");
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_deref() {
                None | Some("8") | Some("v8") => "v8".to_string(),
                Some(v) if !v.starts_with('v') => format!("v{v}"),
                Some(v) => v.to_string(),
            };
            ("arm64".into(), Some(v))
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => {
            let v = match variant.as_deref() {
                None | Some("7") | Some("v7") => "v7".to_string(),
                Some(v) if !v.starts_with('v') => format!("v{v}"),
                Some(v) => v.to_string(),
            };
            ("arm".into(), Some(v))
        }
        _ => (arch, variant),
    }
}

fn variant_number(v: &str) -> Option<u32> {
    v.strip_prefix('v').unwrap_or(v).parse().ok()
}

/// How well `candidate` fits the wanted platform: None if it does not run there,
/// higher is better (an exact variant beats a compatible older one).
fn platform_score(
    candidate: &Platform,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<u32> {
    if !candidate.os.eq_ignore_ascii_case(os) {
        return None;
    }
    let (want_arch, want_variant) = normalize_arch(arch, variant);
    let (have_arch, have_variant) =
        normalize_arch(&candidate.architecture, candidate.variant.as_deref());
    if want_arch != have_arch {
        return None;
    }
    match (want_variant.as_deref(), have_variant.as_deref()) {
        (None, None) => Some(100),
        (Some(w), Some(h)) if w == h => Some(100),
        // An older variant runs on a newer CPU (arm v7 runs v6 and v5; arm64 v9 runs v8;
        // amd64 v3 runs v2): prefer the newest that fits.
        (Some(w), Some(h)) => {
            let (w, h) = (variant_number(w)?, variant_number(h)?);
            (h < w).then(|| 50 + h.min(49))
        }
        // No variant wanted: only the baseline (no variant) matched above.
        (None, Some(_)) => None,
        // A variant wanted, the image says none: the baseline still runs.
        (Some(_), None) => Some(10),
    }
}

/// Pick the manifest for `os`/`arch`/`variant` from an index, like containerd's
/// platform matcher: `arm64` defaults to variant `v8`, `arm` to `v7`; older arm
/// variants are accepted when no exact one exists; attestation manifests
/// (`vnd.docker.reference.type: attestation-manifest`, platform `unknown/unknown`)
/// and entries without a platform are skipped. Ties go to the first entry.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    let mut best: Option<(u32, &Descriptor)> = None;
    for d in &index.manifests {
        if d.annotations
            .get(ANNOTATION_REFERENCE_TYPE)
            .map(String::as_str)
            == Some(ATTESTATION_MANIFEST)
        {
            continue;
        }
        let Some(p) = &d.platform else { continue };
        if p.os == "unknown" || p.architecture == "unknown" {
            continue;
        }
        if let Some(score) = platform_score(p, os, arch, variant) {
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, d));
            }
        }
    }
    best.map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                variant: variant.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn index(entries: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            artifact_type: None,
            manifests: entries,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn platform_matching() {
        let mut att = entry("unknown", "unknown", None, "att");
        att.annotations.insert(
            ANNOTATION_REFERENCE_TYPE.into(),
            ATTESTATION_MANIFEST.into(),
        );
        let idx = index(vec![
            att,
            entry("linux", "amd64", None, "amd64"),
            entry("linux", "arm", Some("v6"), "armv6"),
            entry("linux", "arm", Some("v7"), "armv7"),
            entry("linux", "arm64", Some("v8"), "arm64"),
            entry("windows", "amd64", None, "win"),
        ]);
        let pick = |os, arch, v| select_platform(&idx, os, arch, v).map(|d| d.digest.as_str());
        assert_eq!(pick("linux", "amd64", None), Some("amd64"));
        assert_eq!(pick("linux", "x86_64", None), Some("amd64"));
        assert_eq!(pick("linux", "arm64", None), Some("arm64"));
        assert_eq!(pick("linux", "aarch64", Some("v8")), Some("arm64"));
        assert_eq!(pick("linux", "arm", None), Some("armv7"));
        assert_eq!(pick("linux", "arm", Some("v6")), Some("armv6"));
        assert_eq!(pick("linux", "arm", Some("v5")), None);
        assert_eq!(pick("windows", "amd64", None), Some("win"));
        assert_eq!(pick("linux", "s390x", None), None);
        assert_eq!(pick("unknown", "unknown", None), None);

        // arm64 without a variant in the index still matches (default v8).
        let idx2 = index(vec![entry("linux", "arm64", None, "a")]);
        assert_eq!(
            select_platform(&idx2, "linux", "arm64", None).map(|d| d.digest.as_str()),
            Some("a")
        );
        // arm v8 host (32-bit) accepts v7 when that is all there is.
        let idx3 = index(vec![entry("linux", "arm", Some("v7"), "v7")]);
        assert_eq!(
            select_platform(&idx3, "linux", "arm", Some("v8")).map(|d| d.digest.as_str()),
            Some("v7")
        );
    }

    #[test]
    fn media_types() {
        assert!(is_index(OCI_INDEX) && is_index(DOCKER_MANIFEST_LIST));
        assert!(is_manifest(OCI_MANIFEST) && is_manifest(DOCKER_MANIFEST));
        assert!(!is_manifest(OCI_INDEX));
        assert!(is_layer(DOCKER_LAYER_TAR_GZIP) && is_foreign_layer(DOCKER_LAYER_FOREIGN_TAR_GZIP));
        assert_eq!(
            detect_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            detect_media_type(br#"{"schemaVersion":1,"fsLayers":[]}"#).as_deref(),
            Some(DOCKER_MANIFEST_V1)
        );
    }

    #[test]
    fn serde_roundtrip_accepts_unknown_fields() {
        let j = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":2,"x":1},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bb","size":3}],
            "future":true}"#;
        let m: ImageManifest = serde_json::from_slice(j).unwrap();
        assert_eq!(m.layers[0].size, 3);
        let out = serde_json::to_value(&m).unwrap();
        assert!(out.get("subject").is_none());
        assert!(out["config"].get("platform").is_none());
        let p: Platform =
            serde_json::from_str(r#"{"architecture":"amd64","os":"windows","os.version":"10.0"}"#)
                .unwrap();
        assert_eq!(p.os_version.as_deref(), Some("10.0"));
    }
}

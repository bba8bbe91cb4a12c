//! `berth pull` and `berth push`, with the registry credentials they send.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use clap::Args;
use hyper::Method;

use super::stream::{display_stream_into, quiet_display};
use crate::auth;
use crate::client::models::OciPlatform;
use crate::client::{daemon_error, empty, query, Client, ReqOpts};
use crate::commands::login;
use crate::jsonmessage::{Aux, AuxDescriptor, JsonDisplay};
use oci::Reference;

/// The `X-Registry-Auth` header for a registry domain, as docker's pull and
/// push resolve it. A credential helper that fails is reported and the
/// request goes out without credentials (docker ignores the error silently).
fn registry_auth_lenient(domain: &str) -> String {
    let store = auth::default_store_for_reading();
    match auth::registry_auth_header(&store, domain) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("WARNING: {e}");
            auth::AuthConfig::default().encode_header()
        }
    }
}

/// Sends `POST /images/create` for a reference, with credentials.
async fn image_create(
    client: &Client,
    r: &Reference,
    all_tags: bool,
    platform: Option<&str>,
    auth_header: String,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    let mut params = vec![("fromImage", r.name())];
    if !all_tags {
        params.push(("tag", r.api_tag()));
    }
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        params.push(("platform", p.to_lowercase()));
    }
    let resp = client
        .request(
            Method::POST,
            &format!("/images/create{}", query(&params)),
            empty(),
            ReqOpts {
                headers: vec![("X-Registry-Auth", auth_header)],
                ..Default::default()
            },
        )
        .await?;
    Ok(crate::client::check(resp).await?)
}

fn is_unauthorized(e: &impl crate::client::MaybeDaemonError) -> bool {
    daemon_error(e).is_some_and(|d| d.status == 401)
}

/// docker's `RegistryAuthenticationPrivilegedFunc`: after a 401 from pull
/// or push, prompt for credentials (stored username as default) and return
/// the header for one retry. Like docker, the prompt and the header use
/// Docker Hub's address whatever the registry.
fn request_privilege(cmd: &str, domain: &str) -> Result<String> {
    println!("\nLogin prior to {cmd}:");
    let key = auth::auth_key_for_domain(domain);
    let key = if key == auth::INDEX_SERVER {
        key
    } else {
        auth::convert_to_hostname(&key)
    };
    let store = auth::default_store_for_reading();
    let default_user = match store.get(&key) {
        Ok(ac) => ac.username,
        Err(e) => {
            eprintln!(
                "Unable to retrieve stored credentials for {}, error: {e}.",
                auth::INDEX_SERVER
            );
            String::new()
        }
    };
    let ac = login::prompt_for_credentials("", "", &default_user, auth::INDEX_SERVER)?;
    Ok(ac.encode_header())
}

/// Pulls an image for `run`/`create` (docker's `pullImage`): progress on
/// stderr, none with `quiet`; credential errors are errors.
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let r = Reference::parse_normalized(image)?;
    let store = auth::default_store_for_reading();
    let header = auth::registry_auth_header(&store, &r.domain)?;
    let resp = image_create(client, &r, false, platform, header).await?;
    let display = if quiet {
        quiet_display()
    } else {
        JsonDisplay::new(true)
    };
    display_stream_into(resp, display).await?;
    Ok(())
}

/// `--disable-content-trust`: accepted for compatibility; Berth does not
/// verify signatures, so it has no effect.
#[derive(Args, Debug, Clone, Copy)]
pub struct ContentTrustArg {
    /// Skip image verification (always skipped: Berth has no content trust)
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
}

/// `berth pull`
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM", hide_env = true)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub trust: ContentTrustArg,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// The reference `pull` and `push` work on: `:latest` when no tag is given
/// (said unless quiet), and none with `--all-tags`.
fn image_reference(image: &str, all_tags: bool, quiet: bool) -> Result<Reference> {
    let r = Reference::parse_normalized(image)?;
    if all_tags && !r.is_name_only() {
        bail!("tag can't be used with --all-tags/-a");
    }
    if !all_tags && r.is_name_only() {
        if !quiet {
            println!("Using default tag: latest");
        }
        return Ok(r.tag_name_only());
    }
    Ok(r)
}

/// `berth pull`
pub async fn pull(client: &Client, a: PullArgs) -> Result<i32> {
    let r = image_reference(&a.image, a.all_tags, a.quiet)?;
    let header = registry_auth_lenient(&r.domain);
    let platform = a.platform.as_deref();
    let resp = match image_create(client, &r, a.all_tags, platform, header).await {
        Err(e) if is_unauthorized(&e) => {
            let header = request_privilege("pull", &r.domain)?;
            image_create(client, &r, a.all_tags, platform, header).await?
        }
        other => other?,
    };
    let display = if a.quiet {
        quiet_display()
    } else {
        JsonDisplay::new(false)
    };
    display_stream_into(resp, display).await?;
    println!("{r}");
    Ok(0)
}

/// `berth push`
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub trust: ContentTrustArg,
    /// NAME[:TAG]
    pub image: String,
}

/// Parses `os[/arch[/variant]]` into the OCI platform JSON docker sends with
/// `push --platform` (containerd's `platforms.Parse` + normalization).
pub fn platform_json(s: &str) -> Result<String> {
    let parts: Vec<String> = s.split('/').map(str::to_lowercase).collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(String::is_empty) {
        bail!("\"{s}\": unknown operating system or architecture: invalid argument");
    }
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let norm_arch = |arch: &str, variant: &str| -> (String, String) {
        match (arch, variant) {
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".into(), v.into()),
            ("i386" | "i686" | "386", v) => ("386".into(), v.into()),
            ("aarch64" | "arm64", "8" | "v8") => ("arm64".into(), String::new()),
            ("aarch64" | "arm64", v) => ("arm64".into(), v.into()),
            ("armhf", _) => ("arm".into(), "v7".into()),
            ("armel", _) => ("arm".into(), "v6".into()),
            ("arm", "" | "7") => ("arm".into(), "v7".into()),
            ("arm", "5" | "6" | "8") => ("arm".into(), format!("v{variant}")),
            (a, v) => (a.into(), v.into()),
        }
    };
    let known_os = [
        "linux",
        "windows",
        "darwin",
        "freebsd",
        "netbsd",
        "openbsd",
        "solaris",
        "illumos",
        "android",
        "ios",
        "plan9",
        "aix",
        "js",
        "wasip1",
        "dragonfly",
    ];
    let (os, arch, variant) = match parts.as_slice() {
        [one] if known_os.contains(&one.as_str()) => {
            (one.clone(), host_arch.to_string(), String::new())
        }
        [one] => {
            let (a, v) = norm_arch(one, "");
            ("linux".to_string(), a, v)
        }
        [os, arch] => {
            let (a, v) = norm_arch(arch, "");
            (os.clone(), a, v)
        }
        [os, arch, variant] => {
            let (a, v) = norm_arch(arch, variant);
            (os.clone(), a, v)
        }
        _ => bail!("\"{s}\": unknown operating system or architecture: invalid argument"),
    };
    let platform = OciPlatform {
        architecture: Some(arch),
        os: Some(os),
        variant: Some(variant).filter(|v| !v.is_empty()),
        ..Default::default()
    };
    Ok(serde_json::to_string(&platform)?)
}

/// docker's notes for push aux messages (a manifest pushed instead of an
/// index, missing content).
fn push_notes(aux: &[Aux]) -> Vec<String> {
    let mut notes = Vec::new();
    for a in aux {
        if a.manifest_pushed_instead_of_index {
            let d = |x: &Option<AuxDescriptor>| {
                x.as_ref().map(|x| x.digest.clone()).unwrap_or_default()
            };
            notes.push(format!(
                "Not all multiplatform-content is present and only the available single-platform image was pushed\n{} -> {}",
                d(&a.original_index),
                d(&a.selected_manifest)
            ));
        }
        if a.content_missing {
            notes.push("You're trying to push a manifest list/index which \n\t\t\t\treferences multiple platform specific manifests, but not all of them are available locally\n\t\t\t\tor available to the remote repository.\n\n\t\t\t\tMake sure you have all the referenced content and try again.\n\n\t\t\t\tYou can also push only a single platform specific manifest directly by specifying the platform you want to push with the --platform flag.".to_string());
        }
    }
    notes
}

/// docker's `tui.Output.PrintNote`: an "Info ->" header, continuation lines
/// indented under it; on a terminal the header is coloured, the text italic
/// and `--platform` bold.
pub fn note_text(msg: &str, tty: bool) -> String {
    const RESET: &str = "\x1b[0m";
    let (header, width) = if tty {
        (
            format!("\x1b[1m\x1b[106m\x1b[30mi{RESET}{RESET} \x1b[96mInfo \u{2192} {RESET}{RESET}"),
            9,
        )
    } else {
        (" Info -> ".to_string(), 9)
    };
    let msg = if tty {
        msg.replace("--platform", &format!("\x1b[1m--platform{RESET}"))
    } else {
        msg.to_string()
    };
    let mut out = format!("\n{header}");
    for (i, line) in msg.split('\n').enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(width));
        }
        if tty {
            out.push_str(&format!("\x1b[3m{line}{RESET}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `berth push`
pub async fn push(client: &Client, a: PushArgs) -> Result<i32> {
    let platform = match a.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let pj = platform_json(p).inspect_err(|_| eprint!("Invalid platform {p}"))?;
            print!(
                "{}",
                note_text(
                    "Using --platform pushes only the specified platform manifest of a multi-platform image index.\nOther components, like attestations, will not be included.\nTo push the complete multi-platform image, remove the --platform flag.\n",
                    std::io::stdout().is_terminal()
                )
            );
            Some(pj)
        }
        None => None,
    };
    let r = image_reference(&a.image, a.all_tags, a.quiet)?;
    let header = registry_auth_lenient(&r.domain);
    if r.digest.is_some() {
        bail!("cannot push a digest reference");
    }
    let mut params = Vec::new();
    if !a.all_tags {
        if let Some(t) = &r.tag {
            params.push(("tag", t.clone()));
        }
    }
    if let Some(pj) = platform {
        if version_less(&client.api_version(), "1.46") {
            bail!(
                "\"platform\" requires API version 1.46, but the Docker daemon API version is {}",
                client.api_version()
            );
        }
        params.push(("platform", pj));
    }
    let path = format!("/images/{}/push{}", r.name(), query(&params));
    let try_push = |header: String| {
        let path = path.clone();
        async move {
            let resp = client
                .request(
                    Method::POST,
                    &path,
                    empty(),
                    ReqOpts {
                        headers: vec![("X-Registry-Auth", header)],
                        ..Default::default()
                    },
                )
                .await?;
            crate::client::check(resp).await
        }
    };
    let resp = match try_push(header).await {
        Err(e) if is_unauthorized(&e) => try_push(request_privilege("push", &r.domain)?).await?,
        other => other?,
    };
    let display = if a.quiet {
        quiet_display()
    } else {
        JsonDisplay::new(false)
    };
    let result = display_stream_into(resp, display).await;
    let d = result?;
    if a.quiet {
        println!("{r}");
    }
    let tty = std::io::stdout().is_terminal();
    for n in push_notes(&d.aux) {
        print!("{}", note_text(&n, tty));
    }
    Ok(0)
}

/// `a < b` for API versions ("1.41" < "1.46").
fn version_less(a: &str, b: &str) -> bool {
    let p = |v: &str| -> Vec<u32> { v.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    p(a) < p(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_platforms_and_notes() {
        assert_eq!(
            platform_json("linux/amd64").unwrap(),
            r#"{"architecture":"amd64","os":"linux"}"#
        );
        assert_eq!(
            platform_json("linux/arm/v6").unwrap(),
            r#"{"architecture":"arm","os":"linux","variant":"v6"}"#
        );
        assert_eq!(
            platform_json("Linux/AArch64").unwrap(),
            r#"{"architecture":"arm64","os":"linux"}"#
        );
        assert!(platform_json("linux//x").is_err());
        assert!(version_less("1.41", "1.46"));
        assert!(!version_less("1.51", "1.46"));
        assert_eq!(note_text("a\nb", false), "\n Info -> a\n         b\n");
        assert_eq!(
            note_text("x --platform", true),
            "\n\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo \u{2192} \x1b[0m\x1b[0m\x1b[3mx \x1b[1m--platform\x1b[0m\x1b[0m\n"
        );
        let aux = |s: &str| -> Aux { serde_json::from_str(s).unwrap() };
        let notes = push_notes(&[aux(r#"{"manifestPushedInsteadOfIndex": true,
            "originalIndex": {"digest": "sha256:i"}, "selectedManifest": {"digest": "sha256:m"}}"#)]);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].ends_with("sha256:i -> sha256:m"));
        assert!(push_notes(&[aux(r#"{"Tag": "1", "Digest": "sha256:d", "Size": 1}"#)]).is_empty());
    }
}

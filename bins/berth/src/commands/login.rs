//! `login` and `logout`, as the docker CLI (28.x) does them: credentials in
//! docker's config file or credential helpers (see [`crate::auth`]),
//! verified by the daemon's `POST /auth`.

use std::io::{IsTerminal, Read, Write};

use anyhow::{bail, Context, Result};
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;

use super::image::note_text;
use crate::auth::{
    self, convert_to_hostname, AuthConfig, ConfigFile, CredentialStore, StoredIn, INDEX_SERVER,
};
use crate::client::models::AuthResponse;
use crate::client::{daemon_error, full, Client};

const REGISTER_SUGGEST: &str =
    "Log in with your Docker ID or email address to push and pull images from Docker Hub. \
If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.";
const PAT_SUGGEST: &str = "You can log in with your password or a Personal Access \
Token (PAT). Using a limited-scope PAT grants better security and is required \
for organizations using SSO. Learn more at https://docs.docker.com/go/access-tokens/";

/// `berth login`
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry server (default: Docker Hub)
    pub server: Option<String>,
}

/// The server address `login` uses: Docker Hub's index for none or
/// `docker.io`, else as given; the credential key is its hostname.
pub fn login_server_key(server: Option<&str>) -> String {
    match server {
        Some(s) if !s.is_empty() && s != "docker.io" => {
            if s == INDEX_SERVER {
                s.to_string()
            } else {
                convert_to_hostname(s)
            }
        }
        _ => INDEX_SERVER.to_string(),
    }
}

/// Whether docker's CLI hints are on (`DOCKER_CLI_HINTS`, default true).
fn hints_enabled() -> bool {
    match std::env::var("DOCKER_CLI_HINTS") {
        Ok(v) if !v.is_empty() => !matches!(v.to_ascii_lowercase().as_str(), "0" | "f" | "false"),
        _ => true,
    }
}

fn read_input_line() -> Result<String> {
    let mut l = String::new();
    std::io::stdin()
        .read_line(&mut l)
        .context("reading from stdin")?;
    Ok(l.trim().to_string())
}

/// docker's `PromptUserForCredentials`.
pub(crate) fn prompt_for_credentials(
    user: &str,
    password: &str,
    default_user: &str,
    server: &str,
) -> Result<AuthConfig> {
    let mut user = user.trim().to_string();
    if user.is_empty() {
        if server == INDEX_SERVER {
            println!("{REGISTER_SUGGEST}");
            if hints_enabled() {
                println!("{PAT_SUGGEST}");
                println!();
            }
        }
        let default_user = default_user.trim();
        if default_user.is_empty() {
            print!("Username: ");
        } else {
            print!("Username ({default_user}): ");
        }
        std::io::stdout().flush()?;
        user = read_input_line()?;
        if user.is_empty() {
            user = default_user.to_string();
        }
        if user.is_empty() {
            bail!("Error: Non-null Username Required");
        }
    }
    let mut password = password.trim().to_string();
    if password.is_empty() {
        if !crate::tty::stdin_is_tty() {
            // docker fails to turn off echo on a non-terminal with this.
            bail!("inappropriate ioctl for device");
        }
        if server == INDEX_SERVER {
            let tty = std::io::stderr().is_terminal();
            let link = if tty {
                "\x1b[4mhttps://app.docker.com/settings\x1b[0m"
            } else {
                "https://app.docker.com/settings"
            };
            eprint!(
                "{}",
                note_text(
                    &format!("A Personal Access Token (PAT) can be used instead.\nTo create a PAT, visit {link}\n\n"),
                    tty
                )
            );
        }
        print!("Password: ");
        std::io::stdout().flush()?;
        password = crate::tty::read_line_no_echo()?.trim().to_string();
        println!();
        if password.is_empty() {
            bail!("Error: Password Required");
        }
    }
    Ok(AuthConfig {
        username: user,
        password,
        server_address: server.to_string(),
        ..Default::default()
    })
}

/// `POST /auth`: (Status, IdentityToken).
async fn registry_login(client: &Client, ac: &AuthConfig) -> Result<(String, String)> {
    let mut body = ac.to_json();
    body.push('\n');
    let resp = client
        .call(Method::POST, "/auth", Some("application/json"), full(body))
        .await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((String::new(), String::new()));
    }
    let r: AuthResponse =
        serde_json::from_slice(&bytes).context("decoding the daemon's /auth response")?;
    Ok((r.status, r.identity_token.unwrap_or_default()))
}

/// Stores credentials after a successful login, with docker's warning when
/// a password went into the config file in plain text.
fn store_credentials(store: &mut CredentialStore, ac: &AuthConfig) -> Result<()> {
    match store.store(ac) {
        Ok(StoredIn::File { changed: true }) if !ac.password.is_empty() => {
            eprintln!("{}", auth::unencrypted_warning(store.config.path()));
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => bail!("Error saving credentials: {e}"),
    }
}

/// Tries the stored credentials (docker's `loginWithStoredCredentials`).
async fn login_with_stored(
    client: &Client,
    store: &mut CredentialStore,
    mut ac: AuthConfig,
) -> Result<String> {
    eprintln!(
        "Authenticating with existing credentials... [Username: {}]",
        ac.username
    );
    eprint!(
        "{}",
        note_text(
            "To login with a different account, run 'berth logout' followed by 'berth login'",
            std::io::stderr().is_terminal()
        )
    );
    eprint!("\n\n");
    let result = registry_login(client, &ac).await;
    let (status, token) = match &result {
        Ok((s, t)) => (s.clone(), t.clone()),
        Err(e) => {
            if daemon_error(e).is_some_and(|d| d.status == 401) {
                eprintln!("Stored credentials invalid or expired");
            } else {
                eprintln!("Login did not succeed, error: {e:#}");
            }
            (String::new(), String::new())
        }
    };
    if !token.is_empty() {
        ac.password.clear();
        ac.identity_token = token;
    }
    store_credentials(store, &ac)?;
    result.map(|_| status)
}

/// `berth login`
pub async fn login(client: &Client, a: LoginArgs) -> Result<i32> {
    if a.password_stdin {
        if a.password.is_some() {
            bail!("conflicting options: cannot specify both --password and --password-stdin");
        }
        if a.username.is_none() {
            bail!("the --password-stdin option requires --username to be set");
        }
    }
    if a.username.as_deref() == Some("") {
        bail!("username is empty");
    }
    if a.password.as_deref() == Some("") {
        bail!("password is empty");
    }
    let user = a.username.clone().unwrap_or_default();
    let mut password = a.password.clone().unwrap_or_default();
    if !password.is_empty() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        let mut all = String::new();
        std::io::stdin()
            .read_to_string(&mut all)
            .context("reading the password from stdin")?;
        let p = all.strip_suffix('\n').unwrap_or(&all);
        password = p.strip_suffix('\r').unwrap_or(p).to_string();
    }
    let key = login_server_key(a.server.as_deref());
    let mut store = CredentialStore::new(ConfigFile::load_default()?);

    let mut stored = AuthConfig::default();
    if user.is_empty() && password.is_empty() {
        match store.get(&key) {
            Ok(ac) => stored = ac,
            Err(e) => eprintln!("WARNING: {e}"),
        }
    }
    stored.server_address = key.clone();
    stored.identity_token.clear();

    let mut msg = None;
    if !stored.username.is_empty() && !stored.password.is_empty() {
        if let Ok(m) = login_with_stored(client, &mut store, stored.clone()).await {
            msg = Some(m);
        }
    }
    let msg = match msg {
        Some(m) => m,
        None => {
            if (user.is_empty() || password.is_empty()) && !crate::tty::stdin_is_tty() {
                bail!("Error: Cannot perform an interactive login from a non TTY device");
            }
            let mut ac = prompt_for_credentials(&user, &password, &stored.username, &key)?;
            let (status, token) = registry_login(client, &ac).await?;
            if !token.is_empty() {
                ac.password.clear();
                ac.identity_token = token;
            }
            store_credentials(&mut store, &ac)?;
            status
        }
    };
    if !msg.is_empty() {
        println!("{msg}");
    }
    Ok(0)
}

/// `berth logout`
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry server (default: Docker Hub)
    pub server: Option<String>,
}

/// `berth logout` (needs no daemon).
pub fn logout(a: LogoutArgs) -> Result<i32> {
    let (server, is_default) = match a.server.filter(|s| !s.is_empty()) {
        Some(s) => (s, false),
        None => (INDEX_SERVER.to_string(), true),
    };
    let mut regs = vec![server.clone()];
    let mut host = server.clone();
    if !is_default {
        host = convert_to_hostname(&server);
        // Older CLIs saved the registry in these forms too.
        regs.push(host.clone());
        regs.push(format!("http://{host}"));
        regs.push(format!("https://{host}"));
    }
    let mut store = CredentialStore::new(ConfigFile::load_default()?);
    println!("Removing login credentials for {host}");
    let mut errs = Vec::new();
    for r in &regs {
        if let Err(e) = store.erase(r) {
            errs.push((r.clone(), e));
        }
    }
    if errs.len() == regs.len() {
        eprintln!("WARNING: could not erase credentials:");
        for (k, v) in errs {
            eprintln!("{k}: {v}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys() {
        assert_eq!(login_server_key(None), INDEX_SERVER);
        assert_eq!(login_server_key(Some("docker.io")), INDEX_SERVER);
        assert_eq!(login_server_key(Some(INDEX_SERVER)), INDEX_SERVER);
        assert_eq!(login_server_key(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(
            login_server_key(Some("http://127.0.0.1:5000/")),
            "127.0.0.1:5000"
        );
        assert_eq!(login_server_key(Some("my.reg/path")), "my.reg");
    }
}

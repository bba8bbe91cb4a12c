//! Our client against our registry's own auth modes (crates/registry): htpasswd
//! Basic, and the token flow with its built-in token endpoint (refresh tokens).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use distribution::{Credentials, Error};
use errdefs::{ErrorKind, HasKind};
use registry::config::{AuthMode, ServerConfig};

fn write_htpasswd(dir: &Path) -> PathBuf {
    let h = bcrypt::hash("alicepw", 4).unwrap();
    write_file(dir, "htpasswd", format!("alice:{h}\n").as_bytes())
}

struct Running {
    addr: String,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(mode: AuthMode) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(dir.path().join("root"));
    cfg.auth.mode = mode;
    cfg.auth.htpasswd = Some(write_htpasswd(dir.path()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(registry::serve_listener_with(listener, cfg, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        dir,
        _stop: tx,
    }
}

fn alice() -> Credentials {
    Credentials::Basic {
        username: "alice".into(),
        password: "alicepw".into(),
    }
}

fn wrong() -> Credentials {
    Credentials::Basic {
        username: "alice".into(),
        password: "nope".into(),
    }
}

/// Push a blob with `push_creds`, read it back with `pull_creds`.
async fn push_pull(r: &Running, push_creds: Credentials, pull_creds: Credentials) {
    let c = client();
    let data = random_bytes(50_000, 51);
    let d = sha256(&data);
    let p = write_file(r.dir.path(), "blob", &data);
    let push = c.repository(&r.addr, "team/app", push_creds, true);
    push.upload_blob(&p, &d, data.len() as u64, &|_| {})
        .await
        .unwrap();
    let pull = c.repository(&r.addr, "team/app", pull_creds, false);
    assert_eq!(pull.blob_exists(&d).await.unwrap(), Some(data.len() as u64));
}

#[tokio::test]
async fn htpasswd_mode() {
    let r = start(AuthMode::Htpasswd).await;
    let c = client();
    assert_eq!(c.login(&r.addr, &alice()).await.unwrap(), None);
    let e = c.login(&r.addr, &wrong()).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    push_pull(&r, alice(), alice()).await;
    let e = c
        .repository(&r.addr, "team/app", Credentials::Anonymous, false)
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(
        e.to_string().contains(&format!("docker login {}", r.addr)),
        "{e}"
    );
}

#[tokio::test]
async fn token_mode_with_identity_token() {
    let r = start(AuthMode::Token).await;
    let c = client();
    let id = c.login(&r.addr, &alice()).await.unwrap();
    let id = id.expect("the token endpoint returns a refresh token on login");
    let e = c.login(&r.addr, &wrong()).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    // Push with the password, pull with the identity token in a new client.
    push_pull(&r, alice(), Credentials::IdentityToken(id.clone())).await;
    push_pull(&r, Credentials::IdentityToken(id), alice()).await;
    let e = c
        .repository(&r.addr, "team/app", Credentials::Anonymous, false)
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let e = c
        .repository(&r.addr, "team/app", wrong(), false)
        .list_tags()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
}

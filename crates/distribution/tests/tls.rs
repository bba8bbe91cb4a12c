//! HTTPS: certs.d roots and client certificates, insecure registries (no verification,
//! HTTP fallback), HTTPS-only for the rest. Uses the reference registry with TLS and
//! certificates made by `openssl`, inside a private network namespace (root) so a
//! non-loopback address (10.77.0.1) exists without touching the host's network.
//! Skipped with a note when root, `openssl` or the registry binary is missing.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use distribution::{Client, ClientConfig, Credentials};
use errdefs::{ErrorKind, HasKind};

const IP: &str = "10.77.0.1";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CA, server cert (IP SANs) and client cert in `dir`.
fn make_certs(dir: &Path) {
    let ossl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=berth test CA",
    ]);
    a.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    ossl(&a);
    for (name, ext) in [
        (
            "server",
            format!("subjectAltName=IP:{IP},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ),
        ("client", "extendedKeyUsage=clientAuth\n".to_string()),
    ] {
        let mut a = vec!["req"];
        a.extend(ec);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.crt");
        let subj = format!("/CN={name}");
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        ossl(&a);
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let extf = format!("{name}.ext");
        ossl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &extf,
        ]);
    }
}

fn client_with(insecure: &[&str], certs_dir: Option<&Path>) -> Client {
    Client::new(ClientConfig {
        insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
        certs_dir: certs_dir.map(Path::to_path_buf),
        ..Default::default()
    })
    .unwrap()
}

async fn scenarios(certs: &Path) {
    let tls_yaml = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        certs.join("server.crt").display(),
        certs.join("server.key").display()
    );
    let https_addr = format!("{IP}:5443");
    let _https = start_reference_at(&https_addr, &tls_yaml, |_| String::new())
        .await
        .unwrap();
    let http_addr = format!("{IP}:5000");
    let _http = start_reference_at(&http_addr, "", |_| String::new())
        .await
        .unwrap();
    let mtls_addr = format!("{IP}:5444");
    let mtls_yaml = format!(
        "{tls_yaml}    clientcas:\n      - {}\n",
        certs.join("ca.pem").display()
    );
    let _mtls = start_reference_at(&mtls_addr, &mtls_yaml, |_| String::new())
        .await
        .unwrap();
    let lo_addr = format!("127.0.0.1:{}", free_port());
    let _lo = start_reference_at(&lo_addr, &tls_yaml, |_| String::new())
        .await
        .unwrap();

    // certs.d: <dir>/<host:port>/ca.crt, client.cert + client.key.
    let certs_d = tempfile::tempdir().unwrap();
    for (addr, mtls) in [(&https_addr, false), (&mtls_addr, true)] {
        let d = certs_d.path().join(addr);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(certs.join("ca.pem"), d.join("ca.crt")).unwrap();
        if mtls {
            std::fs::copy(certs.join("client.crt"), d.join("client.cert")).unwrap();
            std::fs::copy(certs.join("client.key"), d.join("client.key")).unwrap();
        }
    }

    let tags = |c: &Client, addr: &str| {
        let repo = c.repository(addr, "tls/test", Credentials::Anonymous, false);
        async move { repo.list_tags().await }
    };
    let kind =
        |r: Result<Vec<String>, distribution::Error>| r.map_err(|e| (e.kind(), e.to_string()));

    // Verified HTTPS with the certs.d CA: reaches the registry (an unknown repo is NOT_FOUND).
    let c = client_with(&[], Some(certs_d.path()));
    let r = kind(tags(&c, &https_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::NotFound, _))), "{r:?}");
    // Without the CA: TLS fails, and there is no HTTP fallback for a secure registry.
    let c = client_with(&[], None);
    let r = kind(tags(&c, &https_addr).await);
    eprintln!("{r:?}");
    assert!(
        matches!(&r, Err((ErrorKind::Unavailable, m)) if m.contains("https://")),
        "{r:?}"
    );
    // Insecure: TLS without verification.
    let c = client_with(&[&https_addr], None);
    let r = kind(tags(&c, &https_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::NotFound, _))), "{r:?}");
    // Plain HTTP registry: only when listed (here by CIDR) as insecure.
    let c = client_with(&[], None);
    let r = kind(tags(&c, &http_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::Unavailable, _))), "{r:?}");
    let c = client_with(&["10.77.0.0/16"], None);
    let r = kind(tags(&c, &http_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::NotFound, _))), "{r:?}");
    // mTLS: the client certificate from certs.d is presented.
    let c = client_with(&[], Some(certs_d.path()));
    let r = kind(tags(&c, &mtls_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::NotFound, _))), "{r:?}");
    let no_cert = tempfile::tempdir().unwrap();
    let d = no_cert.path().join(&mtls_addr);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(certs.join("ca.pem"), d.join("ca.crt")).unwrap();
    let c = client_with(&[], Some(no_cert.path()));
    let r = kind(tags(&c, &mtls_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::Unavailable, _))), "{r:?}");
    // Loopback is insecure by default: a self-signed HTTPS registry works.
    let c = client_with(&[], None);
    let r = kind(tags(&c, &lo_addr).await);
    eprintln!("{r:?}");
    assert!(matches!(&r, Err((ErrorKind::NotFound, _))), "{r:?}");

    // A full push/pull over verified TLS.
    let c = client_with(&[], Some(certs_d.path()));
    let repo = c.repository(&https_addr, "tls/test", Credentials::Anonymous, true);
    let data = random_bytes(300_000, 31);
    let p = write_file(certs_d.path(), "blob", &data);
    repo.upload_blob(&p, &sha256(&data), data.len() as u64, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        repo.blob_exists(&sha256(&data)).await.unwrap(),
        Some(300_000)
    );
}

#[test]
fn tls_certs_d_insecure_and_fallback() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not root; skipping the TLS test (needs a network namespace)");
        return;
    }
    if Command::new("openssl").arg("version").output().is_err()
        || !Path::new(REFERENCE_REGISTRY).exists()
    {
        eprintln!("note: openssl or {REFERENCE_REGISTRY} missing; skipping the TLS test");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let certs_path = certs.path().to_path_buf();
    // The namespace belongs to this thread (and the processes it spawns) only.
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        run(Command::new("ip").args(["link", "set", "lo", "up"]));
        run(Command::new("ip").args(["addr", "add", &format!("{IP}/32"), "dev", "lo"]));
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(scenarios(&certs_path));
    })
    .join()
    .unwrap();
}

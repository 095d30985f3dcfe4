//! The client against real TLS servers run by `openssl s_server`, and its hot-swap resolver
//! against `openssl s_client`: bootstrap pins the root by fingerprint, a root that does not
//! match is refused with the fingerprint named, and a server whose certificate does not chain
//! to the pinned root is refused even when it hands out the right root file.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mayfly_client::{CaUrl, CertResolver, Client, ClientError, Identity, SignedCertificate};
use mayfly_testkit::{run_ok, temp_dir, tool, write_file};

/// A root and a server certificate for 127.0.0.1 made by openssl in `dir`, named `prefix`.
fn openssl_pki(openssl: &Path, dir: &Path, prefix: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |s: &str| dir.join(format!("{prefix}_{s}"));
    run_ok(
        Command::new(openssl)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN={prefix} Root"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
            ])
            .arg(p("root.key"))
            .arg("-out")
            .arg(p("root.crt")),
    );
    run_ok(
        Command::new(openssl)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "extendedKeyUsage=serverAuth,clientAuth",
                "-addext",
                "keyUsage=critical,digitalSignature",
                "-CA",
            ])
            .arg(p("root.crt"))
            .arg("-CAkey")
            .arg(p("root.key"))
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.crt")),
    );
    (p("root.crt"), p("server.crt"), p("server.key"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl s_server -WWW`: serves files under `docroot` over HTTPS, like the CA's GET routes.
struct Server(Child);

impl Server {
    fn start(openssl: &Path, docroot: &Path, cert: &Path, key: &Path) -> (Self, String) {
        let port = free_port();
        let server = Self(
            Command::new(openssl)
                .args(["s_server", "-quiet", "-WWW", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(cert)
                .arg("-key")
                .arg(key)
                .current_dir(docroot)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (server, format!("https://127.0.0.1:{port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("openssl s_server did not start on port {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fingerprint(root: &Path) -> String {
    let pem = std::fs::read_to_string(root).unwrap();
    mayfly_template::fingerprint_sha256(&mayfly_template::parse_certificate_pem(&pem).unwrap())
        .unwrap()
}

/// The CA's GET routes as files: `/root/{fp}` and `/health`.
fn docroot(dir: &Path, label: &str, served_root: &Path, under: &str) -> PathBuf {
    let docroot = dir.join(format!("www_{label}"));
    std::fs::create_dir_all(docroot.join("root")).unwrap();
    let pem = std::fs::read_to_string(served_root).unwrap();
    write_file(
        &docroot.join("root"),
        under,
        serde_json::json!({"ca": pem}).to_string(),
    );
    write_file(&docroot, "health", r#"{"status":"ok"}"#);
    docroot
}

#[tokio::test]
async fn bootstrap_pins_the_root_and_refuses_everything_else() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let (root, server_crt, server_key) = openssl_pki(&openssl, dir.path(), "good");
    let (other_root, other_crt, other_key) = openssl_pki(&openssl, dir.path(), "other");
    let fp = fingerprint(&root);

    // The genuine CA: bootstrap succeeds, and the client then trusts that root.
    let www = docroot(dir.path(), "good", &root, &fp);
    let (_good, url) = Server::start(&openssl, &www, &server_crt, &server_key);
    let colons = fp
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    let client = Client::bootstrap(&url, &colons).await.unwrap();
    assert_eq!(client.fingerprint(), fp);
    client.health().await.unwrap();

    // A CA that answers /root/{fp} with another root: refused, naming both fingerprints.
    let other_fp = fingerprint(&other_root);
    let www = docroot(dir.path(), "liar", &other_root, &fp);
    let (_liar, liar_url) = Server::start(&openssl, &www, &other_crt, &other_key);
    let err = Client::bootstrap(&liar_url, &fp).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::FingerprintMismatch { expected, actual } if *expected == fp && *actual == other_fp),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("the CA's root does not match fingerprint {fp}"))
    );

    // A server that hands out a copy of the right root but holds a certificate from another
    // root: the fingerprint matches, the TLS check against the pinned root does not.
    let www = docroot(dir.path(), "mitm", &root, &fp);
    let (_mitm, mitm_url) = Server::start(&openssl, &www, &other_crt, &other_key);
    let err = Client::bootstrap(&mitm_url, &fp).await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("TLS handshake"), "{err}");

    // A client built from the pinned root does not trust the other server either (the
    // system store is never consulted).
    let pinned =
        Client::with_root(CaUrl::parse(&mitm_url).unwrap(), client.root().clone()).unwrap();
    assert!(pinned.health().await.is_err());

    // A server that is no CA (s_server answers 200 with text for a missing file): the
    // error quotes what it said.
    let err = Client::bootstrap(&url, &"00".repeat(32)).await.unwrap_err();
    assert!(matches!(err, ClientError::BadResponse { .. }), "{err}");
    assert!(err.to_string().contains("Error opening"), "{err}");
}

/// Serves `resolver` with rustls on an ephemeral port until the task is dropped.
async fn serve(resolver: Arc<CertResolver>) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
                }
            });
        }
    });
    port
}

/// The serial `openssl s_client` sees on 127.0.0.1:`port`, verified against `root`.
fn served_serial(openssl: PathBuf, port: u16, root: PathBuf) -> String {
    let out = Command::new(&openssl)
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(&root)
        .args(["-verify_return_error", "-verify_ip", "127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    let pem_start = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let pem_end = text.find("-----END CERTIFICATE-----").unwrap() + 25;
    let mut x509 = Command::new(&openssl)
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        x509.stdin.as_mut().unwrap(),
        &text.as_bytes()[pem_start..pem_end],
    )
    .unwrap();
    let out = x509.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase()
}

#[tokio::test]
async fn the_resolver_hot_swaps_what_openssl_sees() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let (root, first_crt, first_key) = openssl_pki(&openssl, dir.path(), "one");
    // A second leaf from the same root.
    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    std::fs::copy(&root, second.join("one_root.crt")).unwrap();
    std::fs::copy(dir.path().join("one_root.key"), second.join("one_root.key")).unwrap();
    let identity = |crt: &Path, key: &Path| Identity::from_files(crt, key, None).unwrap();
    let first = identity(&first_crt, &first_key);
    let serial_hex = |id: &Identity| {
        hex::encode(
            id.certificate()
                .certificate
                .tbs_certificate()
                .serial_number()
                .as_bytes(),
        )
    };

    let resolver = Arc::new(CertResolver::new(&first).unwrap());
    let port = serve(Arc::clone(&resolver)).await;
    let seen = tokio::task::spawn_blocking({
        let (openssl, root) = (openssl.clone(), root.clone());
        move || served_serial(openssl, port, root)
    })
    .await
    .unwrap();
    assert_eq!(seen, serial_hex(&first));

    // Issue another leaf under the same root (as a renewal would) and swap it in.
    let (_, second_crt, second_key) = reissue(&openssl, &second);
    let renewed = identity(&second_crt, &second_key);
    assert_ne!(serial_hex(&renewed), serial_hex(&first));
    resolver.update(&renewed).unwrap();
    let seen = tokio::task::spawn_blocking(move || served_serial(openssl, port, root))
        .await
        .unwrap();
    assert_eq!(seen, serial_hex(&renewed));

    // A key that does not match is refused before it could be served.
    let mismatched = Identity::new(
        SignedCertificate::from_file(&first_crt).unwrap(),
        mayfly_keys::read_private_key_file(&second_crt.with_file_name("one_server.key"), None)
            .unwrap(),
    );
    assert!(matches!(mismatched, Err(ClientError::Certificate(_))));
}

/// A new server certificate from the root already in `dir` (`one_root.*`).
fn reissue(openssl: &Path, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let root = dir.join("one_root.crt");
    run_ok(
        Command::new(openssl)
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-CA",
            ])
            .arg(&root)
            .arg("-CAkey")
            .arg(dir.join("one_root.key"))
            .arg("-keyout")
            .arg(dir.join("one_server.key"))
            .arg("-out")
            .arg(dir.join("one_server.crt")),
    );
    (root, dir.join("one_server.crt"), dir.join("one_server.key"))
}

//! Test PKI and client helpers shared by the server's tests (and `bins/mayfly-ca/tests/serve*.rs`
//! through `#[path]`): the step fixtures' root, intermediate (legacy-encrypted key, password
//! `password`) and JWK provisioners, laid out with a ca.json in a temp dir; curl as the client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

use mayfly_authority::Authority;
use mayfly_authority::config::CaConfig;
use mayfly_server::{Server, ServerHandle, ServerOptions};

use mayfly_jwt::{TokenClaims, decrypt_jwk, mint_token};
use mayfly_keys::{Cipher, KeyType, Password, PrivateKey, write_private_key_pem};
use mayfly_template::{San, build_request};
use serde_json::{Value, json};

pub const PASSWORD: &str = "password";

fn fixture(rel: &str) -> PathBuf {
    mayfly_testkit::step_fixtures()
        .join("certificates/ca/testdata")
        .join(rel)
}

fn fixture_config() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("ca.json")).unwrap()).unwrap()
}

/// A provisioner entry of the step fixture ca.json (`key` and `encryptedKey` only).
pub fn provisioner_entry(name: &str) -> Value {
    let config = fixture_config();
    let p = config["authority"]["provisioners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
        .clone();
    json!({"type": "JWK", "name": name, "key": p["key"], "encryptedKey": p["encryptedKey"]})
}

/// The fixture provisioner's private key (decrypted from its `encryptedKey`) and key id.
pub fn provisioner_key(name: &str) -> (PrivateKey, String) {
    let entry = provisioner_entry(name);
    // Passwords from the fixtures' README.
    let password = if name == "mariano" {
        "password"
    } else {
        "pass"
    };
    let jwk = decrypt_jwk(
        entry["encryptedKey"].as_str().unwrap(),
        &Password::from_bytes(password.as_bytes().to_vec()),
    )
    .unwrap();
    (
        jwk.to_private_key().unwrap(),
        entry["key"]["kid"].as_str().unwrap().to_owned(),
    )
}

/// A one-time token of provisioner `name` for `subject` and `operation` (`sign`, `revoke`).
pub fn token(name: &str, subject: &str, operation: &str) -> String {
    let (key, kid) = provisioner_key(name);
    let audience = format!("https://127.0.0.1/1.0/{operation}");
    let claims = TokenClaims::new(name, subject, &audience, SystemTime::now());
    mint_token(&key, &kid, &claims).unwrap()
}

/// A new P-256 key (PEM file written in `dir`) and a CSR PEM for `cn` with that name as SAN.
pub fn key_and_csr(dir: &Path, cn: &str) -> (PathBuf, String) {
    let key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let der = build_request(cn, &[San::guess(cn)], &key).unwrap();
    let pem =
        der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der).unwrap();
    let path = dir.join(format!("{cn}.key"));
    std::fs::write(
        &path,
        write_private_key_pem(&key, None, Cipher::default())
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    (path, pem)
}

/// A CA laid out in a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub password_file: PathBuf,
    pub root: PathBuf,
}

impl Pki {
    /// The step fixtures' CA with provisioner `mariano`, listening on ephemeral loopback
    /// ports; `extra` keys are merged into ca.json.
    pub fn new(extra: Value) -> Self {
        let dir = mayfly_testkit::temp_dir();
        let base = dir.path();
        for sub in ["certs", "secrets", "config", "db"] {
            std::fs::create_dir_all(base.join(sub)).unwrap();
        }
        let root = base.join("certs/root_ca.crt");
        std::fs::copy(fixture("secrets/root_ca.crt"), &root).unwrap();
        std::fs::copy(
            fixture("secrets/intermediate_ca.crt"),
            base.join("certs/intermediate_ca.crt"),
        )
        .unwrap();
        let key = base.join("secrets/intermediate_ca_key");
        std::fs::copy(fixture("secrets/intermediate_ca_key"), &key).unwrap();
        set_mode(&key, 0o600);
        let password_file = base.join("secrets/password.txt");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        set_mode(&password_file, 0o600);
        let pki = Self {
            config: base.join("config/ca.json"),
            dir,
            password_file,
            root,
        };
        pki.write_config(&[provisioner_entry("mariano")], extra);
        pki
    }

    /// Rewrites ca.json with these provisioners and extra keys.
    pub fn write_config(&self, provisioners: &[Value], extra: Value) {
        let base = self.dir.path();
        let mut config = json!({
            "root": self.root,
            "crt": base.join("certs/intermediate_ca.crt"),
            "key": base.join("secrets/intermediate_ca_key"),
            "address": "127.0.0.1:0",
            "insecureAddress": "127.0.0.1:0",
            "metricsAddress": "127.0.0.1:0",
            "dnsNames": ["127.0.0.1", "localhost"],
            "db": {"type": "sqlite", "dataSource": base.join("db/mayfly.db")},
            "authority": {"provisioners": provisioners},
        });
        if let (Some(map), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        std::fs::write(&self.config, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// What curl saw.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub http_version: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Runs curl against `url` (HTTPS verified against `root` when given), with `extra` args.
/// Returns None when curl is not installed (outside CI); panics when curl fails.
pub fn curl(url: &str, root: Option<&Path>, extra: &[&str]) -> Option<Reply> {
    let curl = mayfly_testkit::tool("curl")?;
    Some(run_curl(&curl, url, root, extra).unwrap_or_else(|e| panic!("curl {url} failed: {e}")))
}

/// POSTs JSON with curl; None when curl cannot connect (or is not installed).
pub fn try_post_json(url: &str, root: &Path, body: &Value) -> Option<Reply> {
    let curl = mayfly_testkit::tool("curl")?;
    let body = body.to_string();
    let args = [
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--data-binary",
        body.as_str(),
    ];
    run_curl(&curl, url, Some(root), &args).ok()
}

fn run_curl(curl: &Path, url: &str, root: Option<&Path>, extra: &[&str]) -> Result<Reply, String> {
    let mut cmd = Command::new(curl);
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code} %{http_version}",
    ]);
    if let Some(root) = root {
        cmd.arg("--cacert").arg(root);
    }
    cmd.args(extra).arg(url);
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut stdout = out.stdout;
    let pos = stdout
        .iter()
        .rposition(|b| *b == b'\n')
        .ok_or("no status line")?;
    let trailer = String::from_utf8_lossy(&stdout.split_off(pos)).into_owned();
    let (code, version) = trailer.trim().split_once(' ').ok_or("no status line")?;
    Ok(Reply {
        status: code.parse().map_err(|_| format!("bad status {code}"))?,
        http_version: version.to_owned(),
        body: stdout,
    })
}

/// POSTs JSON with curl.
pub fn post_json(url: &str, root: &Path, body: &Value, extra: &[&str]) -> Option<Reply> {
    let body = body.to_string();
    let mut args = vec![
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "--data-binary",
        body.as_str(),
    ];
    args.extend_from_slice(extra);
    curl(url, Some(root), &args)
}

/// A server running on its own runtime thread.
pub struct Running {
    pub handle: ServerHandle,
    pub api: SocketAddr,
    pub insecure: SocketAddr,
    pub metrics: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn start(pki: &Pki) -> Self {
        Self::start_with(pki, ServerOptions::default())
    }

    pub fn start_with(pki: &Pki, options: ServerOptions) -> Self {
        let config = CaConfig::load(&pki.config).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let password = Password::from_bytes(PASSWORD.as_bytes().to_vec());
                let authority = Arc::new(Authority::open(&config, Some(&password)).await.unwrap());
                let server = Server::bind(authority, &config, options).await.unwrap();
                tx.send((
                    server.handle(),
                    server.local_addr().unwrap(),
                    server.insecure_addr().unwrap(),
                    server.metrics_addr().unwrap(),
                ))
                .unwrap();
                server.run().await.unwrap();
            });
        });
        let (handle, api, insecure, metrics) = rx.recv().unwrap();
        Self {
            handle,
            api,
            insecure,
            metrics,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.api.port())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! A real `mayfly-ca`, initialised into a temporary folder and served on a free port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use mayfly_jwt::{Jwk, Operation, TokenClaims, mint_token};
use mayfly_keys::{KeyType, Password, PrivateKey};
use mayfly_template::{San, build_request};
use mayfly_testkit::{run_ok, write_file};

use crate::https::Https;

/// The CA password written to `pw` (the secrets test greps every log for it).
pub const CA_PASSWORD: &str = "reliability-ca-password-7f3a";
/// The provisioner password written to `ppw`.
pub const PROVISIONER_PASSWORD: &str = "reliability-provisioner-password-91c2";

/// `mayfly-ca`, built into the target folder of the running test.
fn mayfly_ca() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // <target>/<profile>/deps/<test>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps");
    let target = profile.parent().expect("a target folder");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "mayfly-ca", "--bin", "mayfly-ca"])
        .arg("--target-dir")
        .arg(target);
    if profile.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    run_ok(&mut build);
    let bin = profile.join("mayfly-ca");
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A CA in `dir/ca` with a JWK provisioner `ops`, serving on `127.0.0.1:port`; its output
/// goes to `dir/ca.log` (appended across restarts).
#[derive(Debug)]
pub struct Ca {
    /// The working folder (passwords, log, the CA itself under `ca/`).
    pub dir: PathBuf,
    /// The API port.
    pub port: u16,
    bin: PathBuf,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

impl Ca {
    /// Initialises a CA (passwords 0600) and starts it.
    pub fn init(dir: &Path) -> Self {
        let mut ca = Self::init_stopped(dir);
        ca.start();
        ca
    }

    /// Initialises a CA without starting it, so the test can edit `ca.json` first.
    pub fn init_stopped(dir: &Path) -> Self {
        let bin = mayfly_ca();
        let port = free_port();
        write_file(dir, "pw", format!("{CA_PASSWORD}\n"));
        write_file(dir, "ppw", format!("{PROVISIONER_PASSWORD}\n"));
        for f in ["pw", "ppw"] {
            let perms = std::os::unix::fs::PermissionsExt::from_mode(0o600);
            std::fs::set_permissions(dir.join(f), perms).expect("chmod 600");
        }
        run_ok(
            Command::new(&bin)
                .args(["init", "--name", "Reliability", "--dns", "127.0.0.1"])
                .args(["--provisioner", "ops", "--path"])
                .arg(dir.join("ca"))
                .arg("--address")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--password-file")
                .arg(dir.join("pw"))
                .arg("--provisioner-password-file")
                .arg(dir.join("ppw"))
                .stdin(Stdio::null()),
        );
        let ca = Self {
            dir: dir.to_path_buf(),
            port,
            bin,
            child: None,
            env: Vec::new(),
        };
        ca.edit_config(|json| {
            json["authority"]["claims"] = serde_json::json!({"minTLSCertDuration": "5s"});
        });
        ca
    }

    /// `ca/config/ca.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("ca/config/ca.json")
    }

    /// Rewrites `ca.json` through `edit` (takes effect at the next start).
    pub fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).expect("ca.json");
        let mut json: serde_json::Value = serde_json::from_str(&text).expect("ca.json is JSON");
        edit(&mut json);
        std::fs::write(&path, json.to_string()).expect("write ca.json");
    }

    /// Sets an environment variable for the next start (a decoy password, say).
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.into(), value.into()));
    }

    /// Starts `mayfly-ca serve` and waits until the port accepts connections.
    pub fn start(&mut self) {
        let mut child = self.spawn();
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mayfly-ca serve exited with {status}:\n{}", self.log());
            }
            if Instant::now() > deadline {
                // Not left running behind the failed test.
                let _ = child.kill();
                let _ = child.wait();
                panic!("mayfly-ca serve did not start in 120 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.child = Some(child);
    }

    /// Runs `mayfly-ca serve` expecting it to refuse to start; returns its output.
    pub fn start_refused(&mut self) -> String {
        let mut child = self.spawn();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(!status.success(), "mayfly-ca serve exited 0");
                return self.log();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mayfly-ca serve started although it should refuse");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("ca.log"))
            .expect("ca.log");
        Command::new(&self.bin)
            .arg("serve")
            .arg(self.config_path())
            .arg("--password-file")
            .arg(self.dir.join("pw"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn mayfly-ca serve")
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILLs the server (no chance to flush or clean up) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything the server printed so far, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ca.log")).unwrap_or_default()
    }

    /// `https://127.0.0.1:PORT/1.0/<operation>`, the audience tokens carry.
    pub fn audience(&self, operation: Operation) -> String {
        operation.audience(&format!("127.0.0.1:{}", self.port))
    }

    /// A raw HTTPS client trusting this CA's root.
    pub fn https(&self) -> Https {
        Https::new(self.port, &self.dir.join("ca/certs/root_ca.crt"))
    }

    /// The provisioner `ops`: its private key (decrypted from ca.json) and key id.
    pub fn provisioner(&self) -> (PrivateKey, String) {
        let text = std::fs::read_to_string(self.config_path()).expect("ca.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("ca.json is JSON");
        let jwe = json["authority"]["provisioners"][0]["encryptedKey"]
            .as_str()
            .expect("the provisioner's encryptedKey");
        let password = Password::from_bytes(PROVISIONER_PASSWORD.as_bytes().to_vec());
        let jwk: Jwk = mayfly_jwt::decrypt_jwk(jwe, &password).expect("decrypt the provisioner");
        let kid = jwk.thumbprint().expect("kid");
        (jwk.to_private_key().expect("private key"), kid)
    }

    /// Claims the CA accepts for `operation` on `subject`, issued at `now`.
    pub fn claims(&self, operation: Operation, subject: &str, now: SystemTime) -> TokenClaims {
        TokenClaims::new("ops", subject, &self.audience(operation), now)
            .with_root_fingerprint(&self.fingerprint())
    }

    /// A valid one-time sign token for `sans` (the first is the subject).
    pub fn sign_token(&self, key: &(PrivateKey, String), sans: &[String]) -> String {
        let subject = sans.first().map_or("", String::as_str);
        let claims = self
            .claims(Operation::Sign, subject, SystemTime::now())
            .with_sans(sans.to_vec());
        mint_token(&key.0, &key.1, &claims).expect("mint")
    }

    /// A valid one-time revoke token for `serial`.
    pub fn revoke_token(&self, key: &(PrivateKey, String), serial: &str) -> String {
        let mut claims = self.claims(Operation::Revoke, serial, SystemTime::now());
        claims.sans = None;
        mint_token(&key.0, &key.1, &claims).expect("mint")
    }

    /// The root's SHA-256 fingerprint from `defaults.json`.
    pub fn fingerprint(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.join("ca/config/defaults.json")).expect("defaults");
        let json: serde_json::Value = serde_json::from_str(&text).expect("defaults is JSON");
        json["fingerprint"].as_str().unwrap_or_default().to_owned()
    }
}

/// A CSR (PEM) for `name` (also its only SAN) and the key it was made with.
pub fn csr_pem(name: &str) -> (String, PrivateKey) {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let der = build_request(name, &[San::guess(name)], &key).expect("csr");
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
        .expect("pem");
    (pem, key)
}

/// A certificate the CA issued: the chain PEM (leaf first), its key and decimal serial.
#[derive(Debug)]
pub struct Issued {
    /// Leaf then intermediate, PEM.
    pub chain_pem: String,
    /// The leaf's key.
    pub key: PrivateKey,
    /// The serial, decimal.
    pub serial: String,
}

impl Ca {
    /// Signs a certificate for `name` over the API (`notAfter` as given, if any).
    pub fn issue(&self, key: &(PrivateKey, String), name: &str, not_after: Option<&str>) -> Issued {
        let (csr, leaf_key) = csr_pem(name);
        let token = self.sign_token(key, &[name.to_owned()]);
        let mut body = serde_json::json!({"csr": csr, "ott": token});
        if let Some(not_after) = not_after {
            body["notAfter"] = not_after.into();
        }
        let reply = self
            .https()
            .call("POST", "/1.0/sign", body.to_string().as_bytes())
            .expect("sign answers");
        assert_eq!(reply.status, 201, "sign failed: {}", reply.text());
        let json = reply.json().expect("sign reply is JSON");
        let chain: Vec<&str> = json["certChain"]
            .as_array()
            .expect("certChain")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let leaf = mayfly_template::parse_certificate_pem(chain[0]).expect("leaf");
        Issued {
            chain_pem: chain.concat(),
            key: leaf_key,
            serial: decimal(leaf.tbs_certificate().serial_number().as_bytes()),
        }
    }

    /// The raw client presenting `issued` as its client certificate.
    pub fn https_as(&self, issued: &Issued) -> Https {
        let root = self.dir.join("ca/certs/root_ca.crt");
        let key = issued.key.to_pkcs8_der().expect("pkcs8");
        self.https()
            .with_client_cert(&root, &issued.chain_pem, &key)
    }
}

/// A big-endian unsigned integer in decimal.
pub fn decimal(bytes: &[u8]) -> String {
    let mut digits = vec![0u8];
    for byte in bytes {
        let mut carry = u32::from(*byte);
        for d in &mut digits {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

impl Drop for Ca {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Ca {
    /// Another instance of this CA in `dir` (same keys, passwords and ca.json, its own port and
    /// log), not started: the way to run several instances on one shared database.
    pub fn copy_to(&self, dir: &Path) -> Self {
        for entry in ["pw", "ppw", "ca"] {
            run_ok(
                Command::new("cp")
                    .arg("-a")
                    .arg(self.dir.join(entry))
                    .arg(dir),
            );
        }
        let port = free_port();
        let ca = Self {
            dir: dir.to_path_buf(),
            port,
            bin: self.bin.clone(),
            child: None,
            env: self.env.clone(),
        };
        ca.edit_config(|json| json["address"] = format!("127.0.0.1:{port}").into());
        ca
    }

    /// A one-time admin token of provisioner `ops` for admin `subject` (audience
    /// `https://127.0.0.1:PORT/admin`).
    pub fn admin_token(&self, key: &(PrivateKey, String), subject: &str) -> String {
        let mut claims = self.claims(Operation::Admin, subject, SystemTime::now());
        claims.sans = None;
        mint_token(&key.0, &key.1, &claims).expect("mint")
    }
}

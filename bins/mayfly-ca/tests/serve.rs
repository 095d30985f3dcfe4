//! `mayfly-ca serve` as a process: SIGHUP reload, SIGTERM drain under load, file permission
//! checks, the quickstart, and the systemd unit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../crates/mayfly-server/tests/common/mod.rs"]
mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Pki, key_and_csr, post_json, token};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mayfly-ca");

/// A `mayfly-ca` process whose stderr (JSON logs) is read line by line.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn spawn(args: &[&str], cwd: Option<&Path>, stdout: bool) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        command.stdout(if stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx2.send(line);
                }
            });
        }
        Self {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    fn serve(pki: &Pki, extra: &[&str]) -> Self {
        let mut args = vec![
            "serve",
            pki.config.to_str().unwrap(),
            "--password-file",
            pki.password_file.to_str().unwrap(),
            "--log-format",
            "json",
        ];
        args.extend_from_slice(extra);
        Self::spawn(&args, None, false)
    }

    /// Waits (up to 90 s: debug builds decrypt keys slowly) for a line containing `needle`.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!(
                        "no line with {needle:?}; output so far:\n{}",
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// The API port from the "serving the API over TLS" log line.
    fn api_port(&mut self) -> u16 {
        let line = self.wait_for("serving the API over TLS");
        let v: Value = serde_json::from_str(&line).unwrap();
        let address: std::net::SocketAddr = v["address"].as_str().unwrap().parse().unwrap();
        address.port()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mayfly-ca did not exit within {limit:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sign(port: u16, pki: &Pki, provisioner: &str, cn: &str) -> Option<common::Reply> {
    let (_, csr) = key_and_csr(pki.dir.path(), cn);
    let body = json!({"csr": csr, "ott": token(provisioner, cn, "sign")});
    post_json(
        &format!("https://127.0.0.1:{port}/1.0/sign"),
        &pki.root,
        &body,
        &[],
    )
}

#[test]
fn sighup_adds_a_provisioner_and_a_broken_config_keeps_the_old_one() {
    let pki = Pki::new(json!({}));
    let mut daemon = Daemon::serve(&pki, &[]);
    let port = daemon.api_port();
    let Some(before) = sign(port, &pki, "step-cli", "cli.internal") else {
        return;
    };
    assert_eq!(before.status, 401, "step-cli is not configured yet");

    pki.write_config(
        &[
            common::provisioner_entry("mariano"),
            common::provisioner_entry("step-cli"),
        ],
        json!({}),
    );
    daemon.signal("HUP");
    daemon.wait_for("configuration reloaded");
    let after = sign(port, &pki, "step-cli", "cli.internal").unwrap();
    assert_eq!(
        after.status,
        201,
        "{}",
        String::from_utf8_lossy(&after.body)
    );

    std::fs::write(&pki.config, b"{ not json").unwrap();
    daemon.signal("HUP");
    let line = daemon.wait_for("reload refused");
    assert!(line.contains("ca.json"), "{line}");
    let still = sign(port, &pki, "step-cli", "cli.internal").unwrap();
    assert_eq!(still.status, 201, "the old configuration keeps serving");
}

#[test]
fn sigterm_mid_load_loses_no_acknowledged_certificate() {
    let pki = Pki::new(json!({}));
    let mut daemon = Daemon::serve(&pki, &[]);
    let port = daemon.api_port();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let pki = Arc::new(pki);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (acknowledged, pki) = (Arc::clone(&acknowledged), Arc::clone(&pki));
            std::thread::spawn(move || {
                for i in 0..200 {
                    let cn = format!("w{w}-{i}.internal");
                    let (_, csr) = key_and_csr(pki.dir.path(), &cn);
                    let body = json!({"csr": csr, "ott": token("mariano", &cn, "sign")});
                    let url = format!("https://127.0.0.1:{port}/1.0/sign");
                    // After shutdown the listener is gone: curl fails and the worker stops.
                    match common::try_post_json(&url, &pki.root, &body) {
                        Some(reply) if reply.status == 201 => {
                            let pem = reply.json()["crt"].as_str().unwrap().to_owned();
                            let cert = mayfly_template::parse_certificate_pem(&pem).unwrap();
                            acknowledged
                                .lock()
                                .unwrap()
                                .push(mayfly_authority::serial_hex(&cert));
                        }
                        Some(reply) => panic!(
                            "unexpected {}: {}",
                            reply.status,
                            String::from_utf8_lossy(&reply.body)
                        ),
                        None => return,
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 8 {
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait(Duration::from_secs(40)),
        Some(0),
        "SIGTERM exits 0 after draining"
    );
    for w in workers {
        w.join().unwrap();
    }
    daemon.wait_for("stopped");

    let serials = acknowledged.lock().unwrap().clone();
    assert!(serials.len() >= 8);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use mayfly_store::CertificateStore as _;
        let db = mayfly_store::DbConfig::sqlite(&pki.path("db/mayfly.db"));
        let store = mayfly_store::Store::open(&db).await.unwrap();
        for serial in &serials {
            assert!(
                store.certificate(serial).await.unwrap().is_some(),
                "acknowledged {serial} is not in the store"
            );
        }
    });
}

/// `serve` prunes on the schedule of ca.json's `db.prune`, starting at once: a spent token
/// id past its expiry goes, and so does the DER of a certificate expired for longer than
/// `keepExpiredCertificateDer`; live token ids, recent DER and revocations stay.
#[test]
fn serve_prunes_expired_token_ids_and_certificate_der() {
    use mayfly_store::{
        CertificateRecord, CertificateStore as _, RevocationRecord, RevocationStore as _,
        TokenReplay as _,
    };
    let pki = Pki::new(json!({}));
    let db = pki.path("db/mayfly.db");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let cert = |serial: &str, not_after: i64| CertificateRecord {
        serial: serial.into(),
        der: Some(vec![0x30, 0x03, 2, 1, 1]),
        subject: "CN=old.internal".into(),
        sans: vec!["old.internal".into()],
        not_before: not_after - 86_400,
        not_after,
        provisioner: "mariano".into(),
        issuer: "ica".into(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = mayfly_store::DbConfig::sqlite(&db);
    let open = || mayfly_store::Store::open(&config);
    runtime.block_on(async {
        let store = open().await.unwrap();
        assert!(
            store
                .record_token("spent".into(), now - 3_600)
                .await
                .unwrap()
        );
        assert!(
            store
                .record_token("live".into(), now + 3_600)
                .await
                .unwrap()
        );
        store
            .insert_certificate(cert("0a", now - 86_400))
            .await
            .unwrap();
        store
            .insert_certificate(cert("0b", now - 60))
            .await
            .unwrap();
        store
            .revoke(RevocationRecord {
                serial: "0a".into(),
                revoked_at: now - 90_000,
                reason: 1,
                reason_text: "key compromise".into(),
                revoked_by: "admin".into(),
                issuer: "ica".into(),
                not_after: Some(now - 86_400),
            })
            .await
            .unwrap();
    });
    pki.write_config(
        &[common::provisioner_entry("mariano")],
        json!({"db": {
            "type": "sqlite",
            "dataSource": db,
            "prune": {"interval": "1h", "keepExpiredCertificateDer": "1h"},
        }}),
    );
    let mut daemon = Daemon::serve(&pki, &[]);
    let line = daemon.wait_for("pruned expired records");
    assert!(
        line.contains(r#""tokens":1"#) && line.contains(r#""certificate_ders":1"#),
        "{line}"
    );
    runtime.block_on(async {
        let store = open().await.unwrap();
        assert!(
            store.record_token("spent".into(), now + 60).await.unwrap(),
            "the expired token id was pruned"
        );
        assert!(
            !store
                .record_token("live".into(), now + 3_600)
                .await
                .unwrap()
        );
        let der = async |serial| store.certificate(serial).await.unwrap().unwrap().der;
        assert_eq!(der("0a").await, None);
        assert!(der("0b").await.is_some(), "expired for less than an hour");
        assert!(store.revocation("0a").await.unwrap().is_some());
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(40)), Some(0));
}

#[test]
fn group_readable_key_or_password_files_are_refused() {
    let pki = Pki::new(json!({}));
    let key = pki.path("secrets/intermediate_ca_key");
    common::set_mode(&key, 0o640);
    let mut daemon = Daemon::serve(&pki, &[]);
    let line = daemon.wait_for("readable by group or others");
    assert!(
        line.contains(&format!("chmod 600 {}", key.display())),
        "{line}"
    );
    assert_ne!(daemon.wait(Duration::from_secs(20)), Some(0));

    common::set_mode(&key, 0o600);
    common::set_mode(&pki.password_file, 0o644);
    let mut daemon = Daemon::serve(&pki, &[]);
    let line = daemon.wait_for("readable by group or others");
    assert!(
        line.contains(&format!("chmod 600 {}", pki.password_file.display())),
        "{line}"
    );

    let mut daemon = Daemon::serve(&pki, &["--insecure-permissions"]);
    // The step fixtures encrypt provisioner mariano's key with the CA password ("password").
    let warning = daemon.wait_for("encrypted with the CA password");
    assert!(warning.contains("mariano"), "{warning}");
    daemon.api_port();
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(40)), Some(0));
}

#[test]
fn quickstart_creates_a_demo_pki_once_and_serves_it() {
    let cwd = mayfly_testkit::temp_dir();
    let mut daemon = Daemon::spawn(
        &["quickstart", "--address", "127.0.0.1:0"],
        Some(cwd.path()),
        true,
    );
    daemon.wait_for("Created a throwaway PKI");
    let url_line = daemon.wait_for("Mayfly demo CA at https://localhost:");
    let port: u16 = url_line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let fingerprint_line = daemon.wait_for("Root fingerprint: ");
    let command = daemon.wait_for("mayfly ca certificate localhost");
    assert!(
        command.contains("--root ") && command.contains("--ca-url https://localhost:"),
        "{command}"
    );
    let root = cwd.path().join("mayfly-demo/certs/root_ca.crt");
    let Some(health) = common::curl(
        &format!("https://127.0.0.1:{port}/health"),
        Some(&root),
        &[],
    ) else {
        return;
    };
    assert_eq!(health.status, 200);
    let openssl = mayfly_testkit::tool("openssl").unwrap();
    let fp = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&root),
    );
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    assert!(
        fingerprint_line.ends_with(&fp),
        "{fingerprint_line} vs {fp}"
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(40)), Some(0));

    // A second run serves the same PKI.
    let mut again = Daemon::spawn(
        &["quickstart", "--address", "127.0.0.1:0"],
        Some(cwd.path()),
        true,
    );
    let second = again.wait_for("Root fingerprint: ");
    assert_eq!(second, fingerprint_line);
    assert!(
        !again
            .seen
            .iter()
            .any(|l| l.contains("Created a throwaway PKI"))
    );
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = mayfly_testkit::tool("systemd-analyze") else {
        return;
    };
    let unit = std::fs::read_to_string(
        mayfly_testkit::workspace_root().join("dist/systemd/mayfly-ca.service"),
    )
    .unwrap();
    for needle in [
        "User=mayfly",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "ProtectSystem=full",
        "PrivateTmp=true",
        "NoNewPrivileges=true",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=true",
        "ReadWriteDirectories=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(needle), "the unit lacks {needle}");
    }
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = mayfly_testkit::temp_dir();
    let path = dir.path().join("mayfly-ca.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/mayfly-ca", BIN)).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("mayfly-ca.service:"),
        "systemd-analyze complains about the unit: {text}"
    );
}

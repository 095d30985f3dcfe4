//! Crash safety: `mayfly-ca` is SIGKILLed during a steady sign + revoke load (SQLite), then
//! restarted. After every restart the server starts cleanly, every certificate and revocation
//! a client saw acknowledged is in the store, and every token it used stays used.
//! 5 rounds, or 20 with `MAYFLY_TEST_LONG=1` (`scripts/test.sh --long`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mayfly_reliability::{Ca, csr_pem};
use mayfly_testkit::{run_ok, temp_dir, tool};

/// What clients saw acknowledged.
#[derive(Default)]
struct Acked {
    /// Serials (store spelling) answered 201.
    certificates: Vec<String>,
    /// Serials (store spelling) whose revocation was answered 200.
    revocations: Vec<String>,
    /// `(jti, token, csr)` of acknowledged signs.
    tokens: Vec<(String, String, String)>,
}

fn rows(sqlite3: &Path, db: &Path, sql: &str) -> BTreeSet<String> {
    run_ok(Command::new(sqlite3).arg("-readonly").arg(db).arg(sql))
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

/// The store keys serials as lowercase hex without leading zero bytes.
fn store_serial(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    hex::encode(&bytes[start..])
}

fn load(ca: &Ca, key: &(mayfly_keys::PrivateKey, String), acked: &Mutex<Acked>, stop: &AtomicBool) {
    let https = ca.https();
    let mut mine: Vec<(String, String)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let (csr, _) = csr_pem("crash.example");
        let token = ca.sign_token(key, &["crash.example".to_owned()]);
        let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
        if let Ok(reply) = https.call("POST", "/1.0/sign", body.as_bytes())
            && reply.status == 201
        {
            let json = reply.json().unwrap_or_default();
            let leaf = json["crt"].as_str().unwrap_or_default();
            let cert = mayfly_template::parse_certificate_pem(leaf).expect("leaf");
            let bytes = cert.tbs_certificate().serial_number().as_bytes();
            let serial = (mayfly_reliability::decimal(bytes), store_serial(bytes));
            let (_, claims) = mayfly_jwt::decode_unverified(&token).expect("token");
            let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
            let mut a = acked.lock().expect("lock");
            a.certificates.push(serial.1.clone());
            a.tokens.push((jti, token, csr));
            mine.push(serial);
        }
        if mine.len().is_multiple_of(2)
            && let Some((serial, stored)) = mine.pop()
        {
            let token = ca.revoke_token(key, &serial);
            let body = serde_json::json!({"serial": serial, "ott": token, "reasonCode": 4});
            if let Ok(reply) = https.call("POST", "/1.0/revoke", body.to_string().as_bytes())
                && reply.status == 200
            {
                acked.lock().expect("lock").revocations.push(stored);
            }
        }
    }
}

/// `MAYFLY_TEST_LONG=1`, set by `scripts/test.sh --long`.
#[allow(
    clippy::disallowed_methods,
    reason = "a test switch, not a secret or configuration"
)]
fn long() -> bool {
    std::env::var_os("MAYFLY_TEST_LONG").is_some_and(|v| v == "1")
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let Some(sqlite3) = tool("sqlite3") else {
        return;
    };
    let rounds = if long() { 20 } else { 5 };
    let dir = temp_dir();
    let mut ca = Ca::init(dir.path());
    let key = ca.provisioner();
    let db = dir.path().join("ca/db/mayfly.db");
    let acked = Arc::new(Mutex::new(Acked::default()));
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let pid = ca.pid().expect("running").to_string();
        thread::scope(|s| {
            for _ in 0..3 {
                let (ca, key, acked, stop) = (&ca, &key, &acked, &stop);
                s.spawn(move || load(ca, key, acked, stop));
            }
            thread::sleep(Duration::from_millis(400 + (round * 277) % 1100));
            run_ok(Command::new("kill").args(["-KILL", &pid]));
            stop.store(true, Ordering::Relaxed);
        });
        ca.kill(); // reaps the killed process
        ca.start();
        let health = ca.https().call("GET", "/health", b"").expect("health");
        assert_eq!(health.status, 200, "round {round}: {}", health.text());

        let a = acked.lock().expect("lock");
        let certs = rows(&sqlite3, &db, "SELECT serial FROM certificates");
        let revoked = rows(&sqlite3, &db, "SELECT serial FROM revocations");
        let jtis = rows(&sqlite3, &db, "SELECT jti FROM used_tokens");
        for serial in &a.certificates {
            assert!(
                certs.contains(serial),
                "round {round}: certificate {serial} lost"
            );
        }
        for serial in &a.revocations {
            assert!(
                revoked.contains(serial),
                "round {round}: revocation of {serial} lost"
            );
        }
        for (jti, _, _) in &a.tokens {
            assert!(
                jtis.contains(jti),
                "round {round}: used token {jti} forgotten"
            );
        }
        // And the CA itself refuses them again.
        if let Some((_, token, csr)) = a.tokens.last() {
            let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
            let reply = ca
                .https()
                .call("POST", "/1.0/sign", body.as_bytes())
                .expect("replay");
            assert_eq!(reply.status, 401, "round {round}: {}", reply.text());
        }
    }
    let a = acked.lock().expect("lock");
    assert!(!a.certificates.is_empty() && !a.revocations.is_empty());
    println!(
        "crash: {rounds} SIGKILL rounds, {} certificates, {} revocations, {} tokens acknowledged; none lost",
        a.certificates.len(),
        a.revocations.len(),
        a.tokens.len()
    );
}

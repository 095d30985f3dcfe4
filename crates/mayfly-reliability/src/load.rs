//! A steady sign (+ revoke) load against a [`Ca`], recording what clients saw acknowledged
//! and how everything else was answered, for the fault suites (crash, disk full, database
//! down) to check the store against.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mayfly_keys::PrivateKey;

use crate::ca::{Ca, csr_pem, decimal};

/// What the clients of a [`sign_load`] saw.
#[derive(Debug, Default)]
pub struct Acked {
    /// Serials (store spelling, see [`store_serial`]) answered 201.
    pub certificates: Vec<String>,
    /// Serials (store spelling) whose revocation was answered 200.
    pub revocations: Vec<String>,
    /// `(jti, token, csr)` of acknowledged signs.
    pub tokens: Vec<(String, String, String)>,
    /// How many replies of each status (0: no HTTP reply at all).
    pub statuses: BTreeMap<u16, usize>,
    /// The first reply body (or transport error) seen for each status.
    pub first_reply: BTreeMap<u16, String>,
}

impl Acked {
    fn answered(&mut self, status: u16, text: impl FnOnce() -> String) {
        *self.statuses.entry(status).or_default() += 1;
        self.first_reply.entry(status).or_insert_with(text);
    }

    /// How many replies had `status` since the statuses were last taken.
    pub fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Takes the status counts and first replies gathered so far, leaving them empty (one
    /// phase of a test ends).
    pub fn take_statuses(&mut self) -> (BTreeMap<u16, usize>, BTreeMap<u16, String>) {
        (
            std::mem::take(&mut self.statuses),
            std::mem::take(&mut self.first_reply),
        )
    }

    /// Panics unless every acknowledged certificate is among `certificates` and every
    /// acknowledged revocation among `revocations` (serials as the store spells them).
    pub fn assert_stored(&self, certificates: &BTreeSet<String>, revocations: &BTreeSet<String>) {
        let lost: Vec<_> = self
            .certificates
            .iter()
            .filter(|s| !certificates.contains(*s))
            .collect();
        assert!(lost.is_empty(), "acknowledged certificates lost: {lost:?}");
        let lost: Vec<_> = self
            .revocations
            .iter()
            .filter(|s| !revocations.contains(*s))
            .collect();
        assert!(lost.is_empty(), "acknowledged revocations lost: {lost:?}");
    }
}

/// The store keys serials as lowercase hex without leading zero bytes.
pub fn store_serial(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    hex::encode(&bytes[start..])
}

/// Signs certificates for `crash.example` until `stop` (pausing `pace` between requests),
/// revoking every second one it got when `revoke` is set; records everything in `acked`.
pub fn sign_load(
    ca: &Ca,
    key: &(PrivateKey, String),
    acked: &Mutex<Acked>,
    stop: &AtomicBool,
    pace: Duration,
    revoke: bool,
) {
    let https = ca.https();
    let mut mine: Vec<(String, String)> = Vec::new();
    let (csr, _) = csr_pem("crash.example");
    while !stop.load(Ordering::Relaxed) {
        let token = ca.sign_token(key, &["crash.example".to_owned()]);
        let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
        match https.call("POST", "/1.0/sign", body.as_bytes()) {
            Ok(reply) if reply.status == 201 => {
                let json = reply.json().unwrap_or_default();
                let leaf = json["crt"].as_str().unwrap_or_default();
                let cert = mayfly_template::parse_certificate_pem(leaf).expect("leaf");
                let bytes = cert.tbs_certificate().serial_number().as_bytes();
                let serial = (decimal(bytes), store_serial(bytes));
                let (_, claims) = mayfly_jwt::decode_unverified(&token).expect("token");
                let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
                let mut a = acked.lock().expect("lock");
                a.answered(201, String::new);
                a.certificates.push(serial.1.clone());
                a.tokens.push((jti, token, csr.clone()));
                mine.push(serial);
            }
            Ok(reply) => acked
                .lock()
                .expect("lock")
                .answered(reply.status, || reply.text()),
            Err(e) => acked.lock().expect("lock").answered(0, || e),
        }
        if revoke
            && mine.len().is_multiple_of(2)
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
        std::thread::sleep(pace);
    }
}

/// Waits up to `limit` for `done`, polling every 50 ms; whether it came true.
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Sets its flag when dropped, so a test's load threads stop even when an assertion fails
/// before the test stops them (a scoped thread that never stops would hang the test).
#[derive(Debug)]
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

//! Remote management across instances: two `mayfly-ca serve` processes on one MariaDB or
//! PostgreSQL database with `enableAdmin`. A provisioner added through instance A issues on
//! instance B within 5 s, without restart or SIGHUP; removed through A, B refuses it within
//! 5 s. Each test uses its own fresh database (dropped afterwards).
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use mayfly_jwt::{Operation, TokenClaims, mint_token};
use mayfly_keys::{Password, PrivateKey};
use mayfly_reliability::{Backend, Ca, SharedDb, csr_pem};
use serde_json::{Value, json};

/// The longest another instance may take to see a change.
const PROPAGATION: Duration = Duration::from_secs(5);

/// Instances A and B of one CA on `db` with remote management, polling every second.
fn two_instances(dir: &Path, db: &SharedDb) -> (Ca, Ca) {
    for instance in ["a", "b"] {
        std::fs::create_dir_all(dir.join(instance)).unwrap();
    }
    let mut a = Ca::init_stopped(&dir.join("a"));
    a.edit_config(|json| {
        json["db"] = db.db_block();
        json["authority"]["enableAdmin"] = true.into();
        json["authority"]["adminPollInterval"] = "1s".into();
    });
    let mut b = a.copy_to(&dir.join("b"));
    a.start();
    b.start();
    (a, b)
}

/// A sign request on `ca` for `name`, authorized by provisioner `fleet`'s key.
fn sign_with_fleet(ca: &Ca, key: &(PrivateKey, String), name: &str) -> (u16, String) {
    let (csr, _) = csr_pem(name);
    let claims = TokenClaims::new(
        "fleet",
        name,
        &ca.audience(Operation::Sign),
        SystemTime::now(),
    )
    .with_sans(vec![name.to_owned()]);
    let token = mint_token(&key.0, &key.1, &claims).unwrap();
    let body = json!({"csr": csr, "ott": token}).to_string();
    let reply = ca
        .https()
        .call("POST", "/1.0/sign", body.as_bytes())
        .unwrap();
    (reply.status, reply.text())
}

/// An admin API call on `ca` as the seeded super admin "step" (provisioner `ops`).
fn admin_call(ca: &Ca, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let token = ca.admin_token(&ca.provisioner(), "step");
    let headers = [
        format!("Authorization: Bearer {token}"),
        "Content-Type: application/json".to_owned(),
    ];
    let body = body.map(Value::to_string).unwrap_or_default();
    let https = ca.https();
    let reply = https
        .send(&https.request(method, path, &headers, body.as_bytes()))
        .unwrap();
    (reply.status, reply.text())
}

/// Polls `ca` until signing with `fleet` answers `status`; returns how long it took.
fn until_sign_answers(ca: &Ca, key: &(PrivateKey, String), status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let (got, text) = sign_with_fleet(ca, key, "fleet.internal");
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PROPAGATION,
            "instance B still answers {got} after {:?}: {text}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn provisioner_change_reaches_the_other_instance(backend: Backend) {
    let Some(db) = SharedDb::fresh(backend) else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let (a, b) = two_instances(dir.path(), &db);
    let password = Password::from_bytes(b"fleet provisioner password".to_vec());
    let (public, encrypted) = mayfly_jwt::new_provisioner_key(&password).unwrap();
    let private = mayfly_jwt::decrypt_jwk(&encrypted, &password).unwrap();
    let key = (
        private.to_private_key().unwrap(),
        public.kid.clone().unwrap(),
    );

    // Neither instance knows `fleet` yet.
    let (status, text) = sign_with_fleet(&b, &key, "fleet.internal");
    assert_eq!(status, 401, "{text}");

    let fleet = json!({"type": "JWK", "name": "fleet", "key": public, "encryptedKey": encrypted});
    let (status, text) = admin_call(&a, "POST", "/admin/provisioners", Some(&fleet));
    assert_eq!(status, 201, "{text}");
    // A applies its own change at once.
    let (status, text) = sign_with_fleet(&a, &key, "fleet.internal");
    assert_eq!(status, 201, "{text}");
    let delay = until_sign_answers(&b, &key, 201);
    println!(
        "{backend:?}: provisioner added on A issued on B after {} ms",
        delay.as_millis()
    );

    // B's admin API lists it too (the registry is shared).
    let (status, text) = admin_call(&b, "GET", "/admin/provisioners/fleet", None);
    assert_eq!(status, 200, "{text}");

    let (status, text) = admin_call(&a, "DELETE", "/admin/provisioners/fleet", None);
    assert_eq!(status, 200, "{text}");
    let delay = until_sign_answers(&b, &key, 401);
    println!(
        "{backend:?}: provisioner removed on A refused on B after {} ms",
        delay.as_millis()
    );
    let (status, text) = sign_with_fleet(&a, &key, "fleet.internal");
    assert_eq!(status, 401, "{text}");
}

#[test]
fn mariadb_provisioner_added_on_a_issues_on_b_within_5s_and_removal_stops_it() {
    provisioner_change_reaches_the_other_instance(Backend::Mysql);
}

#[test]
fn postgresql_provisioner_added_on_a_issues_on_b_within_5s_and_removal_stops_it() {
    provisioner_change_reaches_the_other_instance(Backend::Postgres);
}

//! Remote management across instances: two `mayfly-ca serve` processes on one MariaDB or
//! PostgreSQL database with `enableAdmin`. A provisioner added through instance A issues on
//! instance B within 5 s, without restart or SIGHUP; removed through A, B refuses it within
//! 5 s. Each test uses its own fresh database (dropped afterwards).
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use mayfly_jwt::{Operation, TokenClaims, mint_token};
use mayfly_keys::{Password, PrivateKey};
use mayfly_reliability::{Ca, csr_pem};
use serde_json::{Value, json};

/// The longest another instance may take to see a change.
const PROPAGATION: Duration = Duration::from_secs(5);

/// A fresh database on a test server, dropped with the `mysql`/`psql` client at the end.
struct SharedDb {
    block: Value,
    drop_command: Option<Command>,
}

impl SharedDb {
    /// `None` (after a skip note; a panic under CI=true) when the server or its client is
    /// missing.
    fn fresh(kind: &str) -> Option<Self> {
        let name = format!(
            "mayfly_t_admin_{}",
            hex::encode(mayfly_keys::random_bytes::<6>())
        );
        let (url, port, client) = match kind {
            "mysql" => (mayfly_testkit::mysql_url(), 3306, "mysql"),
            _ => (mayfly_testkit::postgres_url(), 5432, "psql"),
        };
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            mayfly_testkit::missing(&format!("the database server at {url}"));
            return None;
        }
        let client = mayfly_testkit::tool(client)?;
        let mut drop_command = Command::new(client);
        if kind == "mysql" {
            drop_command.args(["-h", "127.0.0.1", "-u", "root", "-e"]);
            drop_command.arg(format!("DROP DATABASE IF EXISTS `{name}`"));
        } else {
            drop_command.args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"]);
            drop_command.arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
        Some(Self {
            block: json!({"type": kind, "dataSource": url, "database": name}),
            drop_command: Some(drop_command),
        })
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        if let Some(mut command) = self.drop_command.take() {
            let _ = command.output();
        }
    }
}

/// Instances A and B of one CA on `db` with remote management, polling every second.
fn two_instances(dir: &Path, db: &SharedDb) -> (Ca, Ca) {
    std::fs::create_dir_all(dir.join("a")).unwrap();
    let mut a = Ca::init_stopped(&dir.join("a"));
    a.edit_config(|json| {
        json["db"] = db.block.clone();
        json["authority"]["enableAdmin"] = true.into();
        json["authority"]["adminPollInterval"] = "1s".into();
    });
    let mut b = a.second_instance(&dir.join("b"));
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

fn provisioner_change_reaches_the_other_instance(kind: &str) {
    let Some(db) = SharedDb::fresh(kind) else {
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
        "{kind}: provisioner added on A issued on B after {} ms",
        delay.as_millis()
    );

    // B's admin API lists it too (the registry is shared).
    let (status, text) = admin_call(&b, "GET", "/admin/provisioners/fleet", None);
    assert_eq!(status, 200, "{text}");

    let (status, text) = admin_call(&a, "DELETE", "/admin/provisioners/fleet", None);
    assert_eq!(status, 200, "{text}");
    let delay = until_sign_answers(&b, &key, 401);
    println!(
        "{kind}: provisioner removed on A refused on B after {} ms",
        delay.as_millis()
    );
    let (status, text) = sign_with_fleet(&a, &key, "fleet.internal");
    assert_eq!(status, 401, "{text}");
}

#[test]
fn mariadb_provisioner_added_on_a_issues_on_b_within_5s_and_removal_stops_it() {
    provisioner_change_reaches_the_other_instance("mysql");
}

#[test]
fn postgresql_provisioner_added_on_a_issues_on_b_within_5s_and_removal_stops_it() {
    provisioner_change_reaches_the_other_instance("postgresql");
}

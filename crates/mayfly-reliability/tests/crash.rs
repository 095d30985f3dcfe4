//! Crash safety: `mayfly-ca` is SIGKILLed during a steady sign + revoke load, then restarted,
//! on SQLite and on PostgreSQL. After every restart the server starts cleanly, every
//! certificate and revocation a client saw acknowledged is in the store, and every token it
//! used stays used. 5 rounds each, or 20 with `MAYFLY_TEST_LONG=1` (`scripts/test.sh --long`).

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mayfly_reliability::{Acked, Ca, Postgres, sign_load};
use mayfly_testkit::{long_run, run_ok, temp_dir, tool};

/// Kills `ca` under load `rounds` times; after each restart checks the store through `rows`
/// (the first column of a query). Prints the counts under `label`.
fn crash_rounds(label: &str, ca: &mut Ca, rows: impl Fn(&str) -> BTreeSet<String>) {
    let rounds = if long_run() { 20 } else { 5 };
    let key = ca.provisioner();
    let acked = Arc::new(Mutex::new(Acked::default()));
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let pid = ca.pid().expect("running").to_string();
        thread::scope(|s| {
            for _ in 0..3 {
                let (ca, key, acked, stop) = (&*ca, &key, &acked, &stop);
                s.spawn(move || sign_load(ca, key, acked, stop, Duration::ZERO, true));
            }
            thread::sleep(Duration::from_millis(400 + (round * 277) % 1100));
            run_ok(Command::new("kill").args(["-KILL", &pid]));
            stop.store(true, Ordering::Relaxed);
        });
        ca.kill(); // reaps the killed process
        ca.start();
        let health = ca.https().call("GET", "/health", b"").expect("health");
        assert_eq!(
            health.status,
            200,
            "{label} round {round}: {}",
            health.text()
        );

        let a = acked.lock().expect("lock");
        let certs = rows("SELECT serial FROM certificates");
        let revoked = rows("SELECT serial FROM revocations");
        let jtis = rows("SELECT jti FROM used_tokens");
        for serial in &a.certificates {
            assert!(
                certs.contains(serial),
                "{label} round {round}: certificate {serial} lost"
            );
        }
        for serial in &a.revocations {
            assert!(
                revoked.contains(serial),
                "{label} round {round}: revocation of {serial} lost"
            );
        }
        for (jti, _, _) in &a.tokens {
            assert!(
                jtis.contains(jti),
                "{label} round {round}: used token {jti} forgotten"
            );
        }
        // And the CA itself refuses them again.
        if let Some((_, token, csr)) = a.tokens.last() {
            let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
            let reply = ca
                .https()
                .call("POST", "/1.0/sign", body.as_bytes())
                .expect("replay");
            assert_eq!(reply.status, 401, "{label} round {round}: {}", reply.text());
        }
    }
    let a = acked.lock().expect("lock");
    assert!(!a.certificates.is_empty() && !a.revocations.is_empty());
    println!(
        "crash ({label}): {rounds} SIGKILL rounds, {} certificates, {} revocations, {} tokens acknowledged; none lost",
        a.certificates.len(),
        a.revocations.len(),
        a.tokens.len()
    );
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_sqlite() {
    let Some(sqlite3) = tool("sqlite3") else {
        return;
    };
    let dir = temp_dir();
    let mut ca = Ca::init(dir.path());
    let db = dir.path().join("ca/db/mayfly.db");
    crash_rounds("sqlite", &mut ca, |sql| {
        run_ok(Command::new(&sqlite3).arg("-readonly").arg(&db).arg(sql))
            .lines()
            .map(|l| l.trim().to_owned())
            .collect()
    });
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_postgresql() {
    let Some(pg) = Postgres::start_new() else {
        return;
    };
    let dir = temp_dir();
    let mut ca = Ca::start_on_postgres(dir.path(), &pg);
    crash_rounds("postgresql", &mut ca, |sql| pg.rows("mayfly", sql));
}

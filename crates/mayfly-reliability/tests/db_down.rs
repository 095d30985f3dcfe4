//! Database down: a `mayfly-ca` on PostgreSQL (a fresh private cluster, see
//! [`Postgres`]) under a steady sign + revoke load; the server is stopped (`pg_ctl stop -m
//! fast`) for 12 s (longer until a 503 has come back), then started again. Meanwhile signs are refused with 503 and a JSON
//! message naming the storage (after the store's 5 s wait for a connection); afterwards the same `mayfly-ca` process signs again by
//! itself, and everything a client saw acknowledged is in the database.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mayfly_reliability::{Acked, Ca, Postgres, StopOnDrop, sign_load, wait_for};
use mayfly_testkit::temp_dir;

/// How long PostgreSQL stays down at least: over twice the store's 5 s connection acquire
/// timeout.
const OUTAGE: Duration = Duration::from_secs(12);
/// How long the test waits for the first 503 before it fails.
const MAX_OUTAGE: Duration = Duration::from_secs(45);

#[test]
fn postgresql_down_gives_503s_and_the_ca_recovers_without_restart() {
    let Some(pg) = Postgres::start_new() else {
        return;
    };
    let dir = temp_dir();
    let mut ca = Ca::start_on_postgres(dir.path(), &pg);
    let pid = ca.pid();
    let key = ca.provisioner();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = AtomicBool::new(false);
    let take = |acked: &Mutex<Acked>| acked.lock().expect("lock").take_statuses();
    let count = |acked: &Mutex<Acked>, status: u16| acked.lock().expect("lock").count(status);

    let (healthy, down, recovered, recovery) = thread::scope(|s| {
        for _ in 0..2 {
            let (ca, key, acked, stop) = (&ca, &key, &acked, &stop);
            s.spawn(move || sign_load(ca, key, acked, stop, Duration::from_millis(10), true));
        }
        let _stop = StopOnDrop(&stop);
        thread::sleep(Duration::from_secs(1));
        let healthy = take(&acked);
        pg.stop();
        // Down for OUTAGE, and longer if no 503 has come back yet: on a loaded machine the
        // requests in flight at the stop can take most of OUTAGE to be refused.
        let stopped = Instant::now();
        let refused = wait_for(MAX_OUTAGE, || count(&acked, 503) >= 1);
        assert!(
            refused,
            "no 503 within {MAX_OUTAGE:?} of PostgreSQL stopping: {:?}",
            acked.lock().expect("lock").statuses
        );
        thread::sleep(OUTAGE.saturating_sub(stopped.elapsed()));
        let outage = stopped.elapsed();
        let down = take(&acked);
        pg.start();
        let started = Instant::now();
        assert!(
            wait_for(Duration::from_secs(30), || count(&acked, 201) >= 1),
            "no sign succeeded within 30 s of PostgreSQL starting again"
        );
        let recovery = started.elapsed();
        let _ = take(&acked);
        thread::sleep(Duration::from_secs(1));
        (healthy, (down, outage), take(&acked), recovery)
    });
    let (down, outage) = down;
    println!("db down: healthy {:?}", healthy.0);
    println!(
        "db down: PostgreSQL stopped {:.1} s: {:?}; 503 said {:?}",
        outage.as_secs_f64(),
        down.0,
        down.1.get(&503)
    );
    println!(
        "db down: first sign {} ms after PostgreSQL started; then {:?}",
        recovery.as_millis(),
        recovered.0
    );

    assert_eq!(ca.pid(), pid, "the CA restarted");
    assert!(ca.running(), "the CA died:\n{}", ca.log());
    assert!(healthy.0.keys().all(|s| *s == 201), "before: {healthy:?}");
    // A request in flight when the server stopped may still have completed; the others wait
    // for a connection up to the store's 5 s acquire timeout, then get their 503.
    assert!(
        down.0.keys().all(|s| *s == 201 || *s == 503) && down.0.get(&503) >= Some(&1),
        "while PostgreSQL was down: {down:?}"
    );
    let refusal: serde_json::Value =
        serde_json::from_str(&down.1[&503]).expect("the 503 body is JSON");
    assert_eq!(refusal["status"], 503);
    let message = refusal["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("storage"),
        "the 503 message does not name the storage: {message:?}"
    );
    assert!(
        recovered.0.keys().all(|s| *s == 201) && recovered.0.get(&201) >= Some(&1),
        "after PostgreSQL came back: {recovered:?}"
    );

    let a = acked.lock().expect("lock");
    let certs = pg.rows("mayfly", "SELECT serial FROM certificates");
    let revoked = pg.rows("mayfly", "SELECT serial FROM revocations");
    a.assert_stored(&certs, &revoked);
    println!(
        "db down: {} certificates and {} revocations acknowledged, none lost; same process throughout",
        a.certificates.len(),
        a.revocations.len()
    );
    assert!(!ca.log().contains("panicked"), "mayfly-ca panicked");
}

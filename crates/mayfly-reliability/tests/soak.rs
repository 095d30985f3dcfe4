//! Soak (long run only): the sign rate a real `mayfly-ca serve` sustains is measured first
//! (4 clients back to back for 20 s), then it is driven at 80 % of that rate for 10 minutes
//! from a fixed schedule. Every request must succeed; the p50/p99 latency of each minute and
//! the server's RSS are printed, and the RSS may not grow by more than 10 % after the first
//! minute (warm-up). Latencies are reported, never asserted.
//!
//! Runs only under `scripts/test.sh --long`, which invokes this binary by itself with
//! `MAYFLY_TEST_LONG=1`; anywhere else the test fails rather than pass without soaking.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mayfly_reliability::{Ca, csr_pem, rss_kib};
use mayfly_testkit::{long_run, temp_dir};

const MEASURE: Duration = Duration::from_secs(20);
const SOAK_MINUTES: usize = 10;
const CLIENTS: usize = 4;

/// The `q` quantile of sorted `values`.
fn quantile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let at = ((values.len() - 1) as f64 * q).round() as usize;
    values[at]
}

#[test]
fn ten_minutes_at_80_percent_of_the_measured_rate() {
    assert!(
        long_run(),
        "the soak runs only under `scripts/test.sh --long` (MAYFLY_TEST_LONG=1); \
         the short suite does not invoke this binary"
    );
    let dir = temp_dir();
    let ca = Ca::init(dir.path());
    let key = ca.provisioner();
    let pid = ca.pid().expect("running");
    let (csr, _) = csr_pem("soak.example");
    let sign = |https: &mayfly_reliability::Https| -> Result<Duration, String> {
        let token = ca.sign_token(&key, &["soak.example".to_owned()]);
        let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
        let started = Instant::now();
        let reply = https.call("POST", "/1.0/sign", body.as_bytes())?;
        if reply.status != 201 {
            return Err(format!("{}: {}", reply.status, reply.text()));
        }
        Ok(started.elapsed())
    };

    // 1. The maximum rate: clients back to back.
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..CLIENTS {
            s.spawn(|| {
                let https = ca.https();
                while !stop.load(Ordering::Relaxed) {
                    sign(&https).expect("a sign while measuring the rate");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        thread::sleep(MEASURE);
        stop.store(true, Ordering::Relaxed);
    });
    let max_rate = done.load(Ordering::Relaxed) as f64 / MEASURE.as_secs_f64();
    let rate = max_rate * 0.8;
    println!("soak: measured {max_rate:.1} signs/s with {CLIENTS} clients; soaking at {rate:.1}/s");

    // 2. The soak: request i of the whole run is due at start + i / rate; each client takes
    // every CLIENTS-th slot, so a slow answer delays only that client's next request.
    let interval = Duration::from_secs_f64(1.0 / rate);
    let minutes: Arc<Mutex<Vec<Vec<Duration>>>> =
        Arc::new(Mutex::new(vec![Vec::new(); SOAK_MINUTES]));
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let start = Instant::now();
    let end = start + Duration::from_secs(60 * SOAK_MINUTES as u64);
    let mut rss = Vec::new();
    thread::scope(|s| {
        for client in 0..CLIENTS {
            let (minutes, errors, sign, ca) = (&minutes, &errors, &sign, &ca);
            s.spawn(move || {
                let https = ca.https();
                let mut slot = client as u32;
                loop {
                    let due = start + interval * slot;
                    if due >= end {
                        break;
                    }
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                    let minute = ((due - start).as_secs() / 60) as usize;
                    match sign(&https) {
                        Ok(latency) => minutes.lock().expect("lock")[minute].push(latency),
                        Err(e) => errors.lock().expect("lock").push(e),
                    }
                    slot += CLIENTS as u32;
                }
            });
        }
        for minute in 1..=SOAK_MINUTES {
            let at = start + Duration::from_secs(60 * minute as u64);
            thread::sleep(at.saturating_duration_since(Instant::now()));
            rss.push(rss_kib(pid).expect("VmRSS"));
        }
    });

    let mut minutes = minutes.lock().expect("lock").clone();
    for (i, latencies) in minutes.iter_mut().enumerate() {
        latencies.sort();
        println!(
            "soak: minute {:>2}: {} signs ({:.1}/s), p50 {} ms, p99 {} ms, max {} ms, VmRSS {} KiB",
            i + 1,
            latencies.len(),
            latencies.len() as f64 / 60.0,
            quantile(latencies, 0.5).as_millis(),
            quantile(latencies, 0.99).as_millis(),
            latencies.last().copied().unwrap_or_default().as_millis(),
            rss[i]
        );
    }
    let errors = errors.into_inner().expect("lock");
    let total: usize = minutes.iter().map(Vec::len).sum();
    println!("soak: {total} signs, {} errors", errors.len());
    assert!(
        errors.is_empty(),
        "soak errors: {:?}",
        &errors[..errors.len().min(10)]
    );
    let warm = rss[0];
    let peak = rss.iter().copied().max().unwrap_or(warm);
    println!(
        "soak: VmRSS after warm-up {warm} KiB, peak {peak} KiB, last {} KiB",
        rss[rss.len() - 1]
    );
    assert!(
        peak <= warm + warm / 10,
        "VmRSS grew by more than 10 % after warm-up: {rss:?}"
    );
}

//! Crash safety: child processes doing acknowledged writes are SIGKILLed at random moments,
//! over and over; after each kill every acknowledged write must read back whole from the
//! reopened database, which must pass its integrity check, and every nonce use acknowledged must still be
//! refused (nonce uses are relaxed writes: they must survive a process crash). Two children
//! write at once, so on SQLite this also exercises several processes sharing one file.
#![allow(
    clippy::unwrap_used,
    reason = "test and bench code: a failed step must panic"
)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Backend, TestDb};
use mayfly_store::{AcmeStore, CertificateRecord, CertificateStore, DbConfig, Store, TokenReplay};

/// Kill/reopen rounds per backend.
const ROUNDS: usize = 20;
/// Concurrent writers in each child.
const WRITERS: usize = 8;
/// Concurrent nonce users in each child (their own tasks, so some SQLite batches hold only
/// relaxed writes).
const NONCE_USERS: usize = 4;
/// Set (to a JSON `db` block) in the children this suite starts.
const CHILD_ENV: &str = "MAYFLY_STORE_CRASH_CHILD";
/// The serial prefix of a child's writes (hex, distinct per child).
const PREFIX_ENV: &str = "MAYFLY_STORE_CRASH_PREFIX";

#[allow(
    clippy::disallowed_methods,
    reason = "the child's parameters come from the parent test through the environment; no secrets"
)]
fn child_params() -> Option<(DbConfig, String)> {
    let config = std::env::var(CHILD_ENV).ok()?;
    let prefix = std::env::var(PREFIX_ENV).ok()?;
    Some((serde_json::from_str(&config).unwrap(), prefix))
}

fn record(serial: &str) -> CertificateRecord {
    CertificateRecord {
        serial: serial.into(),
        der: Some(serial.as_bytes().to_vec()),
        subject: format!("CN={serial}"),
        sans: vec![format!("{serial}.example")],
        not_before: 1_700_000_000,
        not_after: 4_000_000_000,
        provisioner: "crash".into(),
        issuer: "ica".into(),
    }
}

/// The child side: writes issuance records (token + certificate in one transaction) from
/// several tasks until killed, printing `ACK <serial>` once each write is acknowledged, and
/// records nonce uses from others, printing `NONCE <nonce>` once each is acknowledged.
/// When not started as a child by this suite, it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_entry() {
    let Some((config, prefix)) = child_params() else {
        return;
    };
    let store = Store::open(&config).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let prefix = prefix.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                let serial = format!("{prefix}{w:02x}{n:08x}");
                store
                    .record_issuance(format!("jti-{serial}"), 4_000_000_000, record(&serial))
                    .await
                    .unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {serial}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for w in 0..NONCE_USERS {
        let store = store.clone();
        let prefix = prefix.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                let nonce = format!("nonce-{prefix}{w:02x}{n:08x}");
                assert!(
                    store
                        .record_nonce_use(nonce.clone(), 4_000_000_000)
                        .await
                        .unwrap()
                );
                let mut out = std::io::stdout().lock();
                writeln!(out, "NONCE {nonce}").unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// An acknowledgement from a child.
enum Ack {
    /// An issuance record, by serial.
    Issued(String),
    /// A nonce use.
    Nonce(String),
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

/// Starts one child writing with serial prefix `prefix`; its acknowledgements arrive on
/// `acks`.
fn spawn_child(config: &DbConfig, prefix: &str, acks: mpsc::Sender<Ack>) -> Child {
    let json = serde_json::to_string(config).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, json)
        .env(PREFIX_ENV, prefix)
        .stdout(Stdio::piped())
        // A child that dies before acknowledging anything says why in the failure output.
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // Only whole lines count: a line cut by the kill was never acknowledged.
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let whole = line.strip_suffix('\n');
            if let Some(serial) = whole.and_then(|l| l.strip_prefix("ACK ")) {
                let _ = acks.send(Ack::Issued(serial.to_owned()));
            } else if let Some(nonce) = whole.and_then(|l| l.strip_prefix("NONCE ")) {
                let _ = acks.send(Ack::Nonce(nonce.to_owned()));
            }
            line.clear();
        }
    });
    child
}

/// Every stored certificate, by serial.
async fn all_certificates(store: &Store) -> HashMap<String, CertificateRecord> {
    let mut certificates = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_certificates(after.as_deref(), 5_000)
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return certificates;
        };
        after = Some(last.serial.clone());
        certificates.extend(page.into_iter().map(|c| (c.serial.clone(), c)));
    }
}

async fn kill_and_reopen(db: &TestDb) {
    if db.backend == Backend::Postgres {
        // The integrity check adds amcheck's index and heap checks where the extension is
        // installed (PostgreSQL's contrib modules, which Debian's server package ships).
        drop(db.open().await);
        db.raw(
            "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS amcheck; \
             EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'amcheck is not available'; END $$",
        )
        .await;
    }
    let mut acked: HashSet<String> = HashSet::new();
    let mut nonces = 0usize;
    for round in 0..ROUNDS {
        let (tx, rx) = mpsc::channel();
        let mut children: Vec<Child> = (0..2)
            .map(|c| spawn_child(&db.config, &format!("{round:02x}{c:x}"), tx.clone()))
            .collect();
        drop(tx);
        // Let the children get going, then kill both at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a child acknowledged no write");
        tokio::time::sleep(Duration::from_millis(50 + random_u64() % 400)).await;
        for child in &mut children {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
        let mut seen = Vec::new();
        let mut used = Vec::new();
        for ack in std::iter::once(first).chain(rx.iter()) {
            match ack {
                Ack::Issued(serial) => seen.push(serial),
                Ack::Nonce(nonce) => used.push(nonce),
            }
        }
        acked.extend(seen);

        let store = db.open().await;
        assert_eq!(
            store.integrity_check().await.unwrap(),
            Vec::<String>::new(),
            "round {round}"
        );
        // Every acknowledged write reads back whole.
        let stored = all_certificates(&store).await;
        let lost: Vec<_> = acked
            .iter()
            .filter(|serial| !stored.contains_key(*serial))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged writes lost: {lost:?}"
        );
        for serial in &acked {
            assert_eq!(
                stored.get(serial),
                Some(&record(serial)),
                "round {round}: {serial} differs"
            );
        }
        // The nonces used last before the kill are the likeliest to be lost.
        assert!(!used.is_empty(), "round {round}: no nonce use acknowledged");
        for nonce in used.iter().rev().take(100) {
            assert!(
                !store
                    .record_nonce_use(nonce.clone(), 4_000_000_000)
                    .await
                    .unwrap(),
                "round {round}: acknowledged nonce use {nonce} lost"
            );
        }
        nonces += used.len();
        drop(store);
    }
    // Tokens of acknowledged issuances are all spent.
    let store = db.open().await;
    for serial in acked.iter().take(200) {
        assert!(
            !store
                .record_token(format!("jti-{serial}"), 4_000_000_000)
                .await
                .unwrap()
        );
    }
    eprintln!(
        "{ROUNDS} kill/reopen rounds, {} acknowledged writes and {nonces} nonce uses, \
         none lost",
        acked.len()
    );
}

async fn run(backend: Backend) {
    let Some(db) = common::fresh(backend).await else {
        return;
    };
    kill_and_reopen(&db).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mysql() {
    run(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_postgres() {
    run(Backend::Postgres).await;
}

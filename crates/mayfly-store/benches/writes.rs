//! Acknowledged writes per second: one issuance record (token use + certificate row in one
//! durable transaction) per element, with 1 and 16 concurrent writers, on each backend.
//!
//! `cargo bench -p mayfly-store --bench writes -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    reason = "test and bench code: a failed step must panic"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Backend;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mayfly_store::{CertificateRecord, CertificateStore, Store};

static NEXT: AtomicU64 = AtomicU64::new(0);

fn record(serial: String) -> CertificateRecord {
    CertificateRecord {
        der: Some(vec![0x5a; 700]),
        subject: format!("CN={serial}.example"),
        sans: vec![format!("{serial}.example")],
        not_before: 1_700_000_000,
        not_after: 1_700_086_400,
        provisioner: "bench@example".into(),
        issuer: "ica".into(),
        serial,
    }
}

/// Runs `total` issuance writes spread over `writers` tasks; returns the elapsed time.
async fn issue(store: &Store, writers: u64, total: u64) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let share = total / writers + u64::from(w < total % writers);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let serial = format!("{n:032x}");
                store
                    .record_issuance(format!("jti-{serial}"), 1_700_000_300, record(serial))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn writes(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (name, backend) in [
        ("sqlite", Backend::Sqlite),
        ("mysql", Backend::Mysql),
        ("postgres", Backend::Postgres),
    ] {
        let Some(db) = rt.block_on(common::fresh(backend)) else {
            continue;
        };
        let store = rt.block_on(db.open());
        let mut group = c.benchmark_group(format!("issuance_writes/{name}"));
        group.throughput(Throughput::Elements(1));
        for writers in [1u64, 16] {
            group.bench_function(format!("{writers}_writers"), |b| {
                b.iter_custom(|iters| rt.block_on(issue(&store, writers, iters)));
            });
        }
        group.finish();
        drop(store);
        rt.block_on(db.drop_db());
    }
}

criterion_group!(benches, writes);
criterion_main!(benches);

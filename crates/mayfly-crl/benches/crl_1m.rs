//! `crl_1m`: build (encode every entry, sort) and sign a CRL of 1,000,000 revoked certificates
//! (128-bit random serials, so unsorted; one in three with a reason code). Target: at most 1 s
//! on one core.
//!
//! `cargo bench -p mayfly-crl --bench crl_1m -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mayfly_crl::{CrlBuilder, Reason, RevokedCert, Serial};
use mayfly_keys::KeyType;
use time::{Duration, OffsetDateTime};

const ENTRIES: usize = 1_000_000;

fn entries() -> Vec<RevokedCert> {
    let start = time::macros::datetime!(2026-01-01 00:00:00 UTC);
    (0..ENTRIES)
        .map(|i| {
            let serial = Serial::from_be_bytes(&mayfly_keys::random_bytes::<16>())
                .unwrap_or_else(|e| panic!("{e}"));
            RevokedCert {
                serial,
                revocation_date: start + Duration::seconds(i as i64),
                reason: (i % 3 == 0).then_some(Reason::KeyCompromise),
                invalidity_date: None,
            }
        })
        .collect()
}

fn crl_1m(c: &mut Criterion) {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let ca = common::root(&openssl, tmp.path(), "Bench Root", KeyType::default());
    let entries = entries();
    let now = OffsetDateTime::now_utc();
    let mut group = c.benchmark_group("crl");
    group.sample_size(10);
    group.bench_function("crl_1m", |b| {
        b.iter_batched(
            || entries.clone(),
            |entries| {
                CrlBuilder::new(&ca.info, now, now + Duration::days(7), Serial::from(1))
                    .with_entries(entries)
                    .sign(&ca.key)
                    .map(|crl| crl.as_der().len())
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, crl_1m);
criterion_main!(benches);

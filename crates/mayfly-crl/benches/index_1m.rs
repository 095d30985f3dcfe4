//! `index_1m`: read the CRL entries of a 1,000,000-row index.txt (every row revoked, 16-octet
//! serials, one in three with a reason: the rows `compare_openssl.sh` times), from memory and
//! from a file. What `mayfly-root crl` spends before it signs.
//!
//! `cargo bench -p mayfly-crl --bench index_1m -- --warm-up-time 1 --measurement-time 3`

use std::fmt::Write as _;

use criterion::{Criterion, criterion_group, criterion_main};
use mayfly_crl::Index;

const ROWS: u64 = 1_000_000;

fn index_text() -> String {
    let mut text = String::with_capacity(92 * ROWS as usize);
    for i in 1..=ROWS {
        let reason = if i % 3 == 0 { ",keyCompromise" } else { "" };
        let _ = writeln!(
            text,
            "R\t301231235959Z\t2601{:02}{:02}0000Z{reason}\t7A{:030X}\tunknown\t/CN=cert {i}",
            1 + i % 28,
            i % 24,
            i * 7919
        );
    }
    text
}

fn index_1m(c: &mut Criterion) {
    let text = index_text();
    let tmp = mayfly_testkit::temp_dir();
    let path = mayfly_testkit::write_file(tmp.path(), "index.txt", &text);
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.bench_function("revoked_in_1m", |b| {
        b.iter(|| Index::revoked_in(&text).map(|entries| entries.len()));
    });
    group.bench_function("revoked_in_file_1m", |b| {
        b.iter(|| Index::revoked_in_file(&path).map(|entries| entries.len()));
    });
    group.finish();
}

criterion_group!(benches, index_1m);
criterion_main!(benches);

//! `Authority::sign` end to end in-process: a real token, a real CSR, the SQLite store with
//! durable writes. Requests run 64 at a time on a single-threaded runtime (one core), as a
//! server's would, so the store's group commit is exercised.

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream::{self, StreamExt};
use mayfly_authority::SignRequest;
use mayfly_jwt::Operation;

const BATCH: usize = 256;
const IN_FLIGHT: usize = 64;

fn sign(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ca = runtime.block_on(common::test_ca(r#"{"provisioners": [PROVISIONER]}"#));
    let mut group = c.benchmark_group("authority");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function("sign_p256_sqlite_x256", |b| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|i| {
                        let name = format!("host{i}.example.com");
                        let (csr_der, _) = common::csr(&name, &[&name]);
                        let token = ca.token(Operation::Sign, &name, &[&name]);
                        SignRequest {
                            csr_der,
                            token,
                            ..SignRequest::default()
                        }
                    })
                    .collect::<Vec<_>>()
            },
            |requests| {
                runtime.block_on(async {
                    let results: Vec<_> = stream::iter(requests)
                        .map(|r| ca.authority.sign(r))
                        .buffer_unordered(IN_FLIGHT)
                        .collect()
                        .await;
                    assert!(results.iter().all(Result::is_ok));
                })
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, sign);
criterion_main!(benches);

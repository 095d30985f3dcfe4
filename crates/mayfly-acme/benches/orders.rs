//! Complete ACME orders per second, in process: newOrder -> http-01 (answered by a real
//! responder on 127.0.0.1) -> finalize -> download, through `AcmeService::handle` with a
//! durable SQLite store, 1 / 4 / 8 workers sharing one account. No HTTP or TLS: the
//! end-to-end figure against Pebble comes from `scripts/bench.sh acme`.
#![allow(clippy::unwrap_used, reason = "a bench panics on set-up failure")]
#![allow(
    dead_code,
    reason = "the shared test harness has helpers this bench does not use"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

fn orders(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ca, client) = runtime.block_on(async {
        let ca = common::Ca::new(common::Db::Sqlite).await;
        let mut client = ca.client("acme");
        client.register().await;
        (ca, Arc::new(client))
    });
    let mut group = c.benchmark_group("acme_orders");
    for workers in [1usize, 4, 8] {
        group.throughput(Throughput::Elements(workers as u64));
        group.bench_function(format!("complete_order/{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for round in 0..iters {
                        let mut tasks = tokio::task::JoinSet::new();
                        for w in 0..workers {
                            let (client, responders) =
                                (Arc::clone(&client), Arc::clone(&ca.responders));
                            tasks.spawn(async move {
                                let name = format!("r{round}w{w}-{}.bench.test", rand_label());
                                common::flow::issue(
                                    &client,
                                    &responders,
                                    &[name.as_str()],
                                    "http-01",
                                )
                                .await;
                            });
                        }
                        while let Some(done) = tasks.join_next().await {
                            done.unwrap();
                        }
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

fn rand_label() -> String {
    hex_label(&mayfly_keys::random_bytes::<4>())
}

fn hex_label(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion::criterion_group! { name = benches; config = config(); targets = orders }
criterion::criterion_main!(benches);

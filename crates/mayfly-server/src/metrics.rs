//! Prometheus metrics: certificates issued, renewed, rekeyed and revoked, requests refused by
//! reason, and latency histograms per operation, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The operations the server counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// `POST /sign`.
    Sign,
    /// `POST /renew`.
    Renew,
    /// `POST /rekey`.
    Rekey,
    /// `POST /revoke`.
    Revoke,
    /// `GET /crl`.
    Crl,
    /// OCSP.
    Ocsp,
    /// ACME (`/acme/...`).
    Acme,
    /// Everything else (roots, provisioners, health...).
    Other,
}

impl Operation {
    const ALL: [Self; 8] = [
        Self::Sign,
        Self::Renew,
        Self::Rekey,
        Self::Revoke,
        Self::Crl,
        Self::Ocsp,
        Self::Acme,
        Self::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::Renew => "renew",
            Self::Rekey => "rekey",
            Self::Revoke => "revoke",
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
            Self::Acme => "acme",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The server's counters. Cheap to update from every request.
#[derive(Debug, Default)]
pub struct Metrics {
    succeeded: [AtomicU64; Operation::ALL.len()],
    latency: [Histogram; Operation::ALL.len()],
    refused: Mutex<BTreeMap<(Operation, &'static str), u64>>,
}

impl Metrics {
    /// Records one request of `operation` that took `elapsed`; `refused` is the error kind
    /// when it failed (`unauthorized`, `forbidden`, ...).
    pub fn record(&self, operation: Operation, elapsed: Duration, refused: Option<&'static str>) {
        let i = operation as usize;
        match refused {
            None => {
                self.succeeded[i].fetch_add(1, Ordering::Relaxed);
            }
            Some(kind) => {
                if let Ok(mut map) = self.refused.lock() {
                    *map.entry((operation, kind)).or_default() += 1;
                }
            }
        }
        let h = &self.latency[i];
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        h.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "mayfly_certificates_issued_total",
                "Certificates issued by /sign.",
                Operation::Sign,
            ),
            (
                "mayfly_certificates_renewed_total",
                "Certificates renewed by /renew.",
                Operation::Renew,
            ),
            (
                "mayfly_certificates_rekeyed_total",
                "Certificates reissued by /rekey.",
                Operation::Rekey,
            ),
            (
                "mayfly_certificates_revoked_total",
                "Certificates revoked by /revoke.",
                Operation::Revoke,
            ),
        ];
        for (name, help, op) in counters {
            let value = self.succeeded[op as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out.push_str(
            "# HELP mayfly_requests_refused_total Requests refused, by operation and reason.\n",
        );
        out.push_str("# TYPE mayfly_requests_refused_total counter\n");
        if let Ok(map) = self.refused.lock() {
            for ((op, kind), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "mayfly_requests_refused_total{{operation=\"{}\",reason=\"{kind}\"}} {n}",
                    op.name()
                );
            }
        }
        out.push_str("# HELP mayfly_request_duration_seconds Request latency by operation.\n");
        out.push_str("# TYPE mayfly_request_duration_seconds histogram\n");
        for op in Operation::ALL {
            let h = &self.latency[op as usize];
            let name = op.name();
            for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
                let n = bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "mayfly_request_duration_seconds_bucket{{operation=\"{name}\",le=\"{bound}\"}} {n}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "mayfly_request_duration_seconds_bucket{{operation=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "mayfly_request_duration_seconds_sum{{operation=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "mayfly_request_duration_seconds_count{{operation=\"{name}\"}} {count}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_render_as_prometheus_text() {
        let m = Metrics::default();
        m.record(Operation::Sign, Duration::from_millis(3), None);
        m.record(
            Operation::Sign,
            Duration::from_millis(30),
            Some("unauthorized"),
        );
        let text = m.render();
        assert!(
            text.contains("mayfly_certificates_issued_total 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "mayfly_requests_refused_total{operation=\"sign\",reason=\"unauthorized\"} 1"
        ));
        assert!(
            text.contains(
                "mayfly_request_duration_seconds_bucket{operation=\"sign\",le=\"0.005\"} 1"
            )
        );
        assert!(
            text.contains(
                "mayfly_request_duration_seconds_bucket{operation=\"sign\",le=\"0.05\"} 2"
            )
        );
        assert!(text.contains("mayfly_request_duration_seconds_count{operation=\"sign\"} 2"));
    }
}

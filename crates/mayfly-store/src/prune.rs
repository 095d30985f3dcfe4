//! Pruning: expired token ids and nonces go, expired certificates lose their DER;
//! revocation records are kept forever.

use std::time::Duration;

use mayfly_template::GoDuration;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::store::Store;

/// The `prune` settings of the `db` block: how often expired records are pruned, and how
/// long an expired certificate keeps its DER.
///
/// ```json
/// "db": {"type": "sqlite", "dataSource": "db/mayfly.db",
///        "prune": {"interval": "1h", "keepExpiredCertificateDer": "2160h"}}
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PruneConfig {
    /// How often a pass runs (default [`PruneConfig::DEFAULT_INTERVAL`]); `"0s"` turns
    /// pruning off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// How long after its expiry a certificate keeps its DER (default
    /// [`PruneConfig::DEFAULT_KEEP_EXPIRED_DER`]). Its other columns stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_expired_certificate_der: Option<GoDuration>,
}

impl PruneConfig {
    /// A pass an hour: tokens live minutes, so an hour's worth of spent ids is all that
    /// accumulates, and each pass is small.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
    /// 90 days: long enough to investigate an incident involving a recently expired
    /// certificate, short enough that the DER of short-lived certificates does not grow
    /// without bound. Serial, subject, SANs and validity are kept, as are revocations.
    pub const DEFAULT_KEEP_EXPIRED_DER: Duration = Duration::from_secs(90 * 86_400);

    /// The time between passes, or `None` when pruning is off.
    pub fn interval(&self) -> Option<Duration> {
        let every = self.interval.map_or(Self::DEFAULT_INTERVAL, Duration::from);
        (!every.is_zero()).then_some(every)
    }

    /// How long an expired certificate keeps its DER.
    pub fn keep_expired_certificate_der(&self) -> Duration {
        self.keep_expired_certificate_der
            .map_or(Self::DEFAULT_KEEP_EXPIRED_DER, Duration::from)
    }

    /// Whether every setting is the default (then it is not written out).
    pub(crate) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Used token ids past their expiry.
    pub tokens: u64,
    /// ACME nonces past their expiry.
    pub nonces: u64,
    /// Certificates whose DER was dropped.
    pub certificate_ders: u64,
}

/// How long past its expiry a used token id or nonce is kept, in seconds: well beyond the
/// 60 s clock leeway a token is still accepted with, and any clock skew between instances,
/// so no instance can accept a token or nonce whose use was pruned.
const EXPIRY_GRACE: i64 = 600;

/// Most rows one pruning transaction changes: a large backlog is pruned in many short
/// transactions, which never hold the SQLite writer or server row locks for long.
const BATCH: u64 = 1_000;

impl Store {
    /// Prunes at `now` (unix seconds): token ids and nonces that expired more than ten
    /// minutes before `now`, and the DER of certificates that expired more than
    /// `keep_der_for` before `now`. Revocations are never pruned. Several instances may
    /// prune one database at once: each row goes once, whoever removes it.
    pub async fn prune(&self, now: i64, keep_der_for: Duration) -> Result<PruneReport, StoreError> {
        let expired = now.saturating_sub(EXPIRY_GRACE);
        let keep = i64::try_from(keep_der_for.as_secs()).unwrap_or(i64::MAX);
        let der_cutoff = now.saturating_sub(keep);
        Ok(PruneReport {
            tokens: self
                .prune_batches(
                    "DELETE FROM used_tokens WHERE jti IN",
                    "SELECT jti FROM used_tokens WHERE expires_at < ?",
                    expired,
                )
                .await?,
            nonces: self
                .prune_batches(
                    "DELETE FROM acme_nonces WHERE nonce IN",
                    "SELECT nonce FROM acme_nonces WHERE expires_at < ?",
                    expired,
                )
                .await?,
            certificate_ders: self
                .prune_batches(
                    // Rechecked on the row itself: a row another instance cleared meanwhile is not
                    // counted again (PostgreSQL re-evaluates only the outer condition).
                    "UPDATE certificates SET der = NULL WHERE der IS NOT NULL AND serial IN",
                    "SELECT serial FROM certificates WHERE not_after < ? AND der IS NOT NULL",
                    der_cutoff,
                )
                .await?,
        })
    }

    /// Applies `change` (`... WHERE key IN`) to the rows `select` picks (one time bound to
    /// `before`), [`BATCH`] rows per durable transaction, until none is left; returns how
    /// many rows changed.
    async fn prune_batches(
        &self,
        change: &'static str,
        select: &'static str,
        before: i64,
    ) -> Result<u64, StoreError> {
        // MySQL takes neither a LIMIT in an IN subquery nor the target table in a subquery
        // of its own statement, but a derived table is both materialized and allowed.
        let sql = format!("{change} (SELECT * FROM ({select} LIMIT {BATCH}) AS batch)");
        let d = self.dialect();
        let mut total = 0;
        loop {
            let sql = sql.clone();
            let changed = self
                .write(move |c| {
                    let statement = d.statement(sql.clone()).bind(before);
                    Box::pin(async move { c.exec(statement).await })
                })
                .await?;
            total += changed;
            if changed < BATCH {
                return Ok(total);
            }
        }
    }

    /// Starts the pruning `config` asks for: a background task running [`Store::prune`] at
    /// once and then every interval, until its handle is aborted. `None` when pruning is
    /// off. Failures are logged and retried at the next tick.
    pub fn spawn_pruning(&self, config: &PruneConfig) -> Option<tokio::task::JoinHandle<()>> {
        let every = config.interval()?;
        let keep_der_for = config.keep_expired_certificate_der();
        let store = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.prune(crate::now(), keep_der_for).await {
                    Ok(report) if report == PruneReport::default() => {}
                    Ok(report) => tracing::info!(
                        tokens = report.tokens,
                        nonces = report.nonces,
                        certificate_ders = report.certificate_ders,
                        "store: pruned expired records"
                    ),
                    Err(e) => tracing::warn!(error = %e, "store: pruning failed"),
                }
            }
        }))
    }
}

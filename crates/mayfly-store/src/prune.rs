//! Pruning: expired token ids and nonces go, expired certificates lose their DER;
//! revocation records are kept forever.

use std::time::Duration;

use crate::error::StoreError;
use crate::store::Store;

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

impl Store {
    /// Prunes at `now` (unix seconds): token ids and nonces expired before `now`, and the DER
    /// of certificates that expired more than `keep_der_for` before `now`.
    pub async fn prune(&self, now: i64, keep_der_for: Duration) -> Result<PruneReport, StoreError> {
        let cutoff = now.saturating_sub(i64::try_from(keep_der_for.as_secs()).unwrap_or(i64::MAX));
        let d = self.dialect();
        self.write(move |c| {
            Box::pin(async move {
                let tokens = c
                    .exec(
                        d.statement("DELETE FROM used_tokens WHERE expires_at < ?")
                            .bind(now),
                    )
                    .await?;
                let nonces = c
                    .exec(
                        d.statement("DELETE FROM acme_nonces WHERE expires_at < ?")
                            .bind(now),
                    )
                    .await?;
                let certificate_ders = c
                    .exec(
                        d.statement(
                            "UPDATE certificates SET der = NULL \
                             WHERE not_after < ? AND der IS NOT NULL",
                        )
                        .bind(cutoff),
                    )
                    .await?;
                Ok(PruneReport {
                    tokens,
                    nonces,
                    certificate_ders,
                })
            })
        })
        .await
    }

    /// Runs [`Store::prune`] every `every` in a background task (abort the handle to stop).
    /// Failures are logged and retried at the next tick.
    pub fn spawn_pruning(
        &self,
        every: Duration,
        keep_der_for: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match store.prune(crate::now(), keep_der_for).await {
                    Ok(report) => tracing::debug!(?report, "store: pruned"),
                    Err(e) => tracing::warn!(error = %e, "store: pruning failed"),
                }
            }
        })
    }
}

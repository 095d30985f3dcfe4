//! CRL numbering and the last CRL per issuer, with a lock so one instance builds each CRL.

use crate::certs::MAX_KEY_LEN;
use crate::error::{StoreError, check_len};
use crate::sql::{Statement, WriteConn};
use crate::store::Store;

/// The last CRL published for an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRecord {
    /// Its CRL number.
    pub number: i64,
    /// Its DER.
    pub der: Vec<u8>,
    /// Its thisUpdate, unix seconds.
    pub this_update: i64,
}

/// CRL state shared by all instances.
pub trait CrlStateStore {
    /// Takes (or renews) the CRL lock of `issuer` for `owner` until `until` (unix seconds).
    /// `Ok(false)` when another owner holds an unexpired lock at `now`.
    fn lock_crl(
        &self,
        issuer: String,
        owner: String,
        now: i64,
        until: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Releases the lock if `owner` holds it.
    fn unlock_crl(
        &self,
        issuer: String,
        owner: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Allocates the next CRL number of `issuer` (1, 2, ...), atomically across instances.
    fn next_crl_number(
        &self,
        issuer: String,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Stores the CRL just published for `issuer`.
    fn store_crl(
        &self,
        issuer: String,
        crl: CrlRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The last CRL stored for `issuer`.
    fn last_crl(
        &self,
        issuer: &str,
    ) -> impl Future<Output = Result<Option<CrlRecord>, StoreError>> + Send;
}

/// Creates the issuer's row if missing and locks it until the transaction ends.
async fn ensure_row(
    c: &mut dyn WriteConn,
    d: crate::dialect::Dialect,
    issuer: &str,
) -> Result<(), StoreError> {
    let sql = d.ensure_row(
        "INSERT INTO crl_state (issuer, crl_number) VALUES (?, 0)",
        "issuer",
    );
    c.exec(Statement::new(sql).bind(issuer)).await.map(drop)
}

impl CrlStateStore for Store {
    async fn lock_crl(
        &self,
        issuer: String,
        owner: String,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        check_len("issuer", &issuer, MAX_KEY_LEN)?;
        check_len("lock owner", &owner, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let (issuer, owner) = (issuer.clone(), owner.clone());
            Box::pin(async move {
                ensure_row(c, d, &issuer).await?;
                c.exec(
                    d.statement(
                        "UPDATE crl_state SET lock_owner = ?, lock_until = ? WHERE issuer = ? \
                         AND (lock_owner IS NULL OR lock_until < ? OR lock_owner = ?)",
                    )
                    .bind(&owner)
                    .bind(until)
                    .bind(&issuer)
                    .bind(now)
                    .bind(&owner),
                )
                .await?;
                // Affected-row counts differ between backends for unchanged rows: read back.
                let row = c
                    .fetch_row(
                        d.statement("SELECT lock_owner FROM crl_state WHERE issuer = ?")
                            .bind(&issuer),
                    )
                    .await?;
                Ok(row.opt_text(0)?.as_deref() == Some(owner.as_str()))
            })
        })
        .await
    }

    async fn unlock_crl(&self, issuer: String, owner: String) -> Result<(), StoreError> {
        let d = self.dialect();
        self.write(move |c| {
            let (issuer, owner) = (issuer.clone(), owner.clone());
            Box::pin(async move {
                c.exec(
                    d.statement(
                        "UPDATE crl_state SET lock_owner = NULL, lock_until = NULL \
                         WHERE issuer = ? AND lock_owner = ?",
                    )
                    .bind(&issuer)
                    .bind(&owner),
                )
                .await
                .map(drop)
            })
        })
        .await
    }

    async fn next_crl_number(&self, issuer: String) -> Result<i64, StoreError> {
        check_len("issuer", &issuer, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let issuer = issuer.clone();
            Box::pin(async move {
                ensure_row(c, d, &issuer).await?;
                c.exec(
                    d.statement(
                        "UPDATE crl_state SET crl_number = crl_number + 1 WHERE issuer = ?",
                    )
                    .bind(&issuer),
                )
                .await?;
                c.fetch_row(
                    d.statement("SELECT crl_number FROM crl_state WHERE issuer = ?")
                        .bind(&issuer),
                )
                .await?
                .int(0)
            })
        })
        .await
    }

    async fn store_crl(&self, issuer: String, crl: CrlRecord) -> Result<(), StoreError> {
        check_len("issuer", &issuer, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let (issuer, crl) = (issuer.clone(), crl.clone());
            Box::pin(async move {
                ensure_row(c, d, &issuer).await?;
                c.exec(
                    d.statement(
                        "UPDATE crl_state SET last_number = ?, crl_der = ?, this_update = ? \
                         WHERE issuer = ?",
                    )
                    .bind(crl.number)
                    .bind(&crl.der)
                    .bind(crl.this_update)
                    .bind(&issuer),
                )
                .await
                .map(drop)
            })
        })
        .await
    }

    async fn last_crl(&self, issuer: &str) -> Result<Option<CrlRecord>, StoreError> {
        let row = self
            .dialect()
            .statement("SELECT last_number, crl_der, this_update FROM crl_state WHERE issuer = ?")
            .bind(issuer)
            .fetch_optional(self)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let (number, der, this_update) = (row.opt_int(0)?, row.opt_blob(1)?, row.opt_int(2)?);
        Ok(match (number, der, this_update) {
            (Some(number), Some(der), Some(this_update)) => Some(CrlRecord {
                number,
                der,
                this_update,
            }),
            _ => None,
        })
    }
}

//! The audit log of issuance, revocation and refusal.

use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened, unix seconds.
    pub at: i64,
    /// What happened (`issue`, `renew`, `revoke`, `refuse`, ...).
    pub event: String,
    /// The certificate concerned, if any.
    pub serial: Option<String>,
    /// The subject concerned, if any.
    pub subject: Option<String>,
    /// The provisioner concerned, if any.
    pub provisioner: Option<String>,
    /// Details (the refusal reason, the requester, ...). Never secrets.
    pub detail: String,
}

/// An append-only audit log.
pub trait AuditLog {
    /// Appends an event durably; returns its sequence number.
    fn append_audit(
        &self,
        event: AuditEvent,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Up to `limit` events with a sequence number above `after`, in order.
    fn audit_since(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(i64, AuditEvent)>, StoreError>> + Send;
}

impl AuditLog for Store {
    async fn append_audit(&self, event: AuditEvent) -> Result<i64, StoreError> {
        crate::error::check_len("event", &event.event, crate::MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let event = event.clone();
            Box::pin(async move { insert_audit(c, d, &event).await })
        })
        .await
    }

    async fn audit_since(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError> {
        let rows = sqlx::query(self.dialect().sql(
            "SELECT id, at, event, serial, subject, provisioner, detail FROM audit_log \
             WHERE id > ? ORDER BY id LIMIT ?",
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    AuditEvent {
                        at: r.try_get("at")?,
                        event: r.try_get("event")?,
                        serial: r.try_get("serial")?,
                        subject: r.try_get("subject")?,
                        provisioner: r.try_get("provisioner")?,
                        detail: r.try_get("detail")?,
                    },
                ))
            })
            .collect()
    }
}

/// Appends `event` inside the caller's transaction; returns its sequence number.
pub(crate) async fn insert_audit(
    c: &mut sqlx::AnyConnection,
    d: crate::dialect::Dialect,
    event: &AuditEvent,
) -> Result<i64, StoreError> {
    let mysql = d == crate::dialect::Dialect::Mysql;
    let returning = if mysql { "" } else { " RETURNING id" };
    let sql = d
        .sql(format!(
            "INSERT INTO audit_log (at, event, serial, subject, provisioner, detail) \
             VALUES (?, ?, ?, ?, ?, ?){returning}"
        ))
        .0;
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(event.at)
        .bind(&event.event)
        .bind(event.serial.as_deref())
        .bind(event.subject.as_deref())
        .bind(event.provisioner.as_deref())
        .bind(&event.detail);
    if mysql {
        query.execute(&mut *c).await?;
        let row = sqlx::query("SELECT LAST_INSERT_ID()")
            .fetch_one(&mut *c)
            .await?;
        Ok(row.try_get(0)?)
    } else {
        let row = query.fetch_one(&mut *c).await?;
        Ok(row.try_get(0)?)
    }
}

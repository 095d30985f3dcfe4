//! The audit log of issuance, revocation and refusal.

use crate::error::StoreError;
use crate::sql::WriteConn;
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
        let rows = self
            .dialect()
            .statement(
                "SELECT id, at, event, serial, subject, provisioner, detail FROM audit_log \
             WHERE id > ? ORDER BY id LIMIT ?",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.int(0)?,
                    AuditEvent {
                        at: r.int(1)?,
                        event: r.text(2)?,
                        serial: r.opt_text(3)?,
                        subject: r.opt_text(4)?,
                        provisioner: r.opt_text(5)?,
                        detail: r.text(6)?,
                    },
                ))
            })
            .collect()
    }
}

/// Appends `event` inside the caller's transaction; returns its sequence number.
pub(crate) async fn insert_audit(
    c: &mut dyn WriteConn,
    d: crate::dialect::Dialect,
    event: &AuditEvent,
) -> Result<i64, StoreError> {
    let mysql = d == crate::dialect::Dialect::Mysql;
    let returning = if mysql { "" } else { " RETURNING id" };
    let insert = d
        .statement(format!(
            "INSERT INTO audit_log (at, event, serial, subject, provisioner, detail) \
             VALUES (?, ?, ?, ?, ?, ?){returning}"
        ))
        .bind(event.at)
        .bind(&event.event)
        .bind(event.serial.as_deref())
        .bind(event.subject.as_deref())
        .bind(event.provisioner.as_deref())
        .bind(&event.detail);
    if mysql {
        c.exec(insert).await?;
        c.fetch_row(d.statement("SELECT LAST_INSERT_ID()"))
            .await?
            .int(0)
    } else {
        c.fetch_row(insert).await?.int(0)
    }
}

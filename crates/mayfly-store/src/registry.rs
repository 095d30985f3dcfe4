//! Provisioners and admins for remote management, with a change counter for HA polling.

use crate::certs::MAX_KEY_LEN;
use crate::dialect::Dialect;
use crate::error::{StoreError, check_len};
use crate::sql::{Statement, WriteConn};
use crate::store::Store;

/// Which registry an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// Provisioners (JSON as in ca.json's `authority.provisioners`).
    Provisioner,
    /// Admins.
    Admin,
}

impl RegistryKind {
    fn key(self) -> &'static str {
        match self {
            Self::Provisioner => "provisioner",
            Self::Admin => "admin",
        }
    }
}

/// One stored provisioner or admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// Its unique name.
    pub name: String,
    /// Its JSON document.
    pub data: String,
    /// When it last changed, unix seconds.
    pub updated_at: i64,
}

/// Provisioners and admins managed remotely; every change bumps one revision counter that
/// other instances poll to know when to reload.
pub trait RegistryStore {
    /// Creates or replaces entry `name` with the JSON `data`; returns the new revision.
    fn put_entry(
        &self,
        kind: RegistryKind,
        name: String,
        data: String,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Deletes entry `name`; returns the new revision, or `None` if there was no such entry.
    fn delete_entry(
        &self,
        kind: RegistryKind,
        name: String,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    /// All entries of `kind`, by name.
    fn entries(
        &self,
        kind: RegistryKind,
    ) -> impl Future<Output = Result<Vec<RegistryEntry>, StoreError>> + Send;
    /// The revision counter (0 before any change).
    fn registry_revision(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

const COUNTER: &str = "registry";

async fn bump(conn: &mut dyn WriteConn, d: Dialect) -> Result<i64, StoreError> {
    let create = d.ensure_row("INSERT INTO counters (name, value) VALUES (?, 0)", "name");
    conn.exec(Statement::new(create).bind(COUNTER)).await?;
    conn.exec(
        d.statement("UPDATE counters SET value = value + 1 WHERE name = ?")
            .bind(COUNTER),
    )
    .await?;
    conn.fetch_row(
        d.statement("SELECT value FROM counters WHERE name = ?")
            .bind(COUNTER),
    )
    .await?
    .int(0)
}

impl RegistryStore for Store {
    async fn put_entry(
        &self,
        kind: RegistryKind,
        name: String,
        data: String,
    ) -> Result<i64, StoreError> {
        check_len("name", &name, MAX_KEY_LEN)?;
        serde_json::from_str::<serde_json::Value>(&data).map_err(|e| StoreError::InvalidInput {
            field: "registry entry",
            reason: format!("not JSON: {e}"),
        })?;
        let d = self.dialect();
        self.write(move |c| {
            let (name, data) = (name.clone(), data.clone());
            Box::pin(async move {
                // One upsert, not delete-then-insert: two concurrent puts of a new name would
                // both insert, and one fail on the primary key.
                let put = d.upsert(
                    "INSERT INTO registry (kind, name, data, updated_at) VALUES (?, ?, ?, ?)",
                    "kind, name",
                    &["data", "updated_at"],
                );
                c.exec(
                    Statement::new(put)
                        .bind(kind.key())
                        .bind(&name)
                        .bind(&data)
                        .bind(crate::now()),
                )
                .await?;
                bump(c, d).await
            })
        })
        .await
    }

    async fn delete_entry(
        &self,
        kind: RegistryKind,
        name: String,
    ) -> Result<Option<i64>, StoreError> {
        let d = self.dialect();
        self.write(move |c| {
            let name = name.clone();
            Box::pin(async move {
                let gone = c
                    .exec(
                        d.statement("DELETE FROM registry WHERE kind = ? AND name = ?")
                            .bind(kind.key())
                            .bind(&name),
                    )
                    .await?;
                if gone == 0 {
                    return Ok(None);
                }
                bump(c, d).await.map(Some)
            })
        })
        .await
    }

    async fn entries(&self, kind: RegistryKind) -> Result<Vec<RegistryEntry>, StoreError> {
        let rows = self
            .dialect()
            .statement("SELECT name, data, updated_at FROM registry WHERE kind = ? ORDER BY name")
            .bind(kind.key())
            .fetch_all(self)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RegistryEntry {
                    name: r.text(0)?,
                    data: r.text(1)?,
                    updated_at: r.int(2)?,
                })
            })
            .collect()
    }

    async fn registry_revision(&self) -> Result<i64, StoreError> {
        let row = self
            .dialect()
            .statement("SELECT value FROM counters WHERE name = ?")
            .bind(COUNTER)
            .fetch_optional(self)
            .await?;
        Ok(match row {
            Some(r) => r.int(0)?,
            None => 0,
        })
    }
}

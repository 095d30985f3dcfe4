//! Mayfly's durable storage: issued certificates, revocations, one-time token ids, CRL state,
//! provisioners and admins, ACME state and the audit log, in SQL.
//!
//! SQLite is embedded and the default (zero set-up, crash-safe, several processes on one
//! host); MariaDB/MySQL and PostgreSQL serve several CA instances sharing one database.
//! A [`Store`] is opened from step-ca's `db` block ([`DbConfig`]), applies the versioned
//! schema migrations it lacks (a newer schema than the binary knows is
//! [`StoreError::SchemaTooNew`]), and is used through one trait per concern:
//! [`CertificateStore`], [`RevocationStore`], [`TokenReplay`], [`CrlStateStore`],
//! [`RegistryStore`], [`AcmeStore`] and [`AuditLog`].
//!
//! All three backends share one set of portable SQL; the few differences (placeholders,
//! insert-if-absent, upserts, column types) live in one dialect module. The servers run it
//! through sqlx's `Any` driver; SQLite runs it directly on rusqlite connections, so a
//! statement costs no hand-off to a connection thread. Rows are plain types: serials as
//! lowercase hex, DER as bytes, times as unix seconds, protocol documents (provisioners, ACME
//! objects) as JSON text.
//!
//! Every write returns only once it is durable. On SQLite (WAL) the writes of all tasks are
//! group-committed by one writer thread, which flushes the WAL after each commit (a failed
//! write is rolled back alone, in a savepoint); several processes may share the file. On the servers each
//! write is its own transaction, retried when the server picks it as a deadlock victim. The
//! exceptions are ACME nonce uses and the transient steps of ACME orders and authorizations,
//! which survive a process crash but not necessarily an OS crash or power loss (see
//! [`AcmeStore`]).
//!
//! ```
//! use mayfly_store::{DbConfig, Store, TokenReplay};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("mayfly-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let config: DbConfig = serde_json::from_str(&format!(
//!     r#"{{"type": "sqlite", "dataSource": "{}"}}"#,
//!     dir.join("db.sqlite").display()
//! )).unwrap();
//! let store = Store::open(&config).await.unwrap();
//! assert!(store.record_token("jti-1".into(), 4_000_000_000).await.unwrap());
//! assert!(!store.record_token("jti-1".into(), 4_000_000_000).await.unwrap()); // replay
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```
#![forbid(unsafe_code)]

mod acme;
mod audit;
mod certs;
mod config;
mod crl;
mod dialect;
mod error;
mod prune;
mod registry;
mod sql;
mod store;

pub use acme::{AcmeKind, AcmeObject, AcmeStore, EabKey};
pub use audit::{AuditEvent, AuditLog};
pub use certs::{
    CertificateRecord, CertificateStore, Consumed, MAX_KEY_LEN, RevocationRecord, RevocationStore,
    TokenReplay,
};
pub use config::{DbConfig, DbType};
pub use crl::{CrlRecord, CrlStateStore};
pub use error::StoreError;
pub use prune::{PruneConfig, PruneReport};
pub use registry::{RegistryEntry, RegistryKind, RegistryStore};
pub use store::Store;

/// Every table, for the integrity check on servers.
const TABLES: &[&str] = &[
    "schema_version",
    "certificates",
    "revocations",
    "used_tokens",
    "crl_state",
    "registry",
    "counters",
    "acme_accounts",
    "acme_orders",
    "acme_authzs",
    "acme_challenges",
    "acme_nonces",
    "acme_eab_keys",
    "audit_log",
];

/// The current time in unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `SELECT columns FROM rest` in dialect `d`.
fn select(
    d: dialect::Dialect,
    columns: &str,
    rest: &str,
) -> sqlx::AssertSqlSafe<std::borrow::Cow<'static, str>> {
    d.sql(format!("SELECT {columns} FROM {rest}"))
}

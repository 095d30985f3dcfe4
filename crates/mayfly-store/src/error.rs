//! The crate's one error type.

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The `db` configuration block is unusable (unknown type, bad data source, ...).
    #[error("invalid db configuration: {0}")]
    Config(String),
    /// The configured store type is one Mayfly does not read (step-ca's `badger`/`bbolt`).
    #[error(
        "db type `{0}` is not supported: Mayfly stores its data in SQL only. Use \"sqlite\" \
         (embedded, e.g. {{\"type\": \"sqlite\", \"dataSource\": \"/path/to/db/mayfly.sqlite\"}}), \
         \"mysql\" or \"postgresql\". Certificates issued by step-ca need not be migrated. \
         Mayfly revokes only certificates it recorded, so keep publishing step-ca's last CRL \
         until the certificates step-ca revoked have expired"
    )]
    UnsupportedType(String),
    /// The database holds a schema newer than this binary knows: refusing to downgrade.
    #[error(
        "the database schema is version {found}, newer than version {known} that this Mayfly \
         knows: upgrade Mayfly instead of running an older binary against it"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this binary knows.
        known: i64,
    },
    /// The schema migration lock could not be taken (MySQL `GET_LOCK` timed out or failed):
    /// the migration did not run.
    #[error(
        "could not take the schema migration lock (MySQL GET_LOCK('mayfly_schema')): {0}; \
         another instance may be stuck migrating, or a session holds the lock: find it with \
         `SELECT IS_USED_LOCK('mayfly_schema')` and start again"
    )]
    MigrationLock(String),
    /// A certificate with this serial number is already stored.
    #[error("a certificate with serial {0} is already stored")]
    DuplicateSerial(String),
    /// The one-time token id has already been used.
    #[error("token id {0:?} has already been used")]
    TokenReplayed(String),
    /// A row with this key is already stored (ACME account thumbprint, order id, ...).
    #[error("{what} {key:?} already exists")]
    AlreadyExists {
        /// What kind of record.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// The row was changed by someone else since it was read (optimistic concurrency):
    /// nothing was stored.
    #[error("the {what} {key} was changed meanwhile")]
    Changed {
        /// What kind of record.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// A value does not fit the store's limits (too long, malformed serial, ...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A stored row could not be decoded (corrupt JSON, unexpected value).
    #[error("corrupt stored {what}: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The database driver failed (connection, I/O, constraint, ...).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The embedded SQLite library failed on the write path (I/O, disk full, lock, ...).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction holding this write could not be committed: nothing was stored.
    #[error("the write could not be committed: {0}")]
    Commit(String),
    /// A read was cut short (the runtime is shutting down).
    #[error("the read was interrupted: {0}")]
    Interrupted(String),
    /// SQLite's writer thread is gone (it panicked), so no write can be acknowledged.
    #[error("the store's writer thread has stopped")]
    WriterStopped,
}

impl StoreError {
    /// Whether the database could not be reached or could not take the write (server down,
    /// disk full, writer stopped): a temporary condition, worth a retry (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(_)
                | Self::Sqlite(_)
                | Self::Commit(_)
                | Self::Interrupted(_)
                | Self::WriterStopped
        )
    }
}

/// Checks that `value` is non-empty and at most `max` bytes: the store's key columns are
/// bounded so that MySQL indexes them.
pub(crate) fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() || value.len() > max {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("must be 1 to {max} bytes, got {}", value.len()),
        });
    }
    Ok(())
}

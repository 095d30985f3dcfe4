//! The few places where SQLite, MySQL/MariaDB and PostgreSQL SQL differ, and the schema.

use std::borrow::Cow;

use sqlx::AssertSqlSafe;

use crate::sql::Statement;

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite 3.35+.
    Sqlite,
    /// MySQL 8 / MariaDB 10.5+.
    Mysql,
    /// PostgreSQL 12+.
    Postgres,
}

impl Dialect {
    /// [`Dialect::sql`] as a statement of the write path, to bind values to.
    pub(crate) fn statement(self, portable: impl Into<Cow<'static, str>>) -> Statement {
        Statement::new(self.sql(portable))
    }

    /// Turns portable SQL into this dialect's: `?` placeholders become `$1, $2, ...` on
    /// PostgreSQL, and `INSERT IGNORE INTO` (insert-if-absent) is spelled per backend.
    /// Statements here never hold a literal `?`.
    pub(crate) fn sql(
        self,
        portable: impl Into<Cow<'static, str>>,
    ) -> AssertSqlSafe<Cow<'static, str>> {
        let portable: Cow<'static, str> = portable.into();
        let ignore = portable.starts_with("INSERT IGNORE INTO ");
        let text = match self {
            Self::Mysql => portable,
            Self::Sqlite if !ignore => portable,
            Self::Sqlite => Cow::Owned(portable.replacen("INSERT IGNORE", "INSERT OR IGNORE", 1)),
            Self::Postgres => {
                let mut out = String::with_capacity(portable.len() + 16);
                let mut n = 0;
                let body = if ignore {
                    &portable[7..]
                } else {
                    &portable[..]
                };
                if ignore {
                    out.push_str("INSERT ");
                }
                for ch in body.strip_prefix("IGNORE ").unwrap_or(body).chars() {
                    if ch == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(ch);
                    }
                }
                if ignore {
                    out.push_str(" ON CONFLICT DO NOTHING");
                }
                Cow::Owned(out)
            }
        };
        AssertSqlSafe(text)
    }

    /// `insert` (a portable `INSERT INTO ... VALUES ...` on a table keyed by `key`) made an
    /// insert-if-absent that also locks an existing row for the rest of the transaction, so
    /// a following UPDATE of the row never has to upgrade a shared lock (a MySQL deadlock).
    pub(crate) fn ensure_row(
        self,
        insert: &'static str,
        key: &'static str,
    ) -> AssertSqlSafe<Cow<'static, str>> {
        self.upsert(insert, key, &[key])
    }

    /// `insert` (a portable `INSERT INTO ... VALUES ...` on a table whose primary key is the
    /// columns `key`, comma-separated) made one atomic statement that, when the row exists,
    /// sets its columns `update` to the inserted values instead.
    pub(crate) fn upsert(
        self,
        insert: &str,
        key: &str,
        update: &[&str],
    ) -> AssertSqlSafe<Cow<'static, str>> {
        let set = update
            .iter()
            .map(|c| match self {
                // MariaDB has no row alias for the inserted values, only `VALUES()`.
                Self::Mysql => format!("{c} = VALUES({c})"),
                Self::Sqlite | Self::Postgres => format!("{c} = excluded.{c}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let upsert = match self {
            Self::Mysql => format!("{insert} ON DUPLICATE KEY UPDATE {set}"),
            Self::Sqlite | Self::Postgres => {
                format!("{insert} ON CONFLICT ({key}) DO UPDATE SET {set}")
            }
        };
        self.sql(upsert)
    }

    /// Expands the type placeholders of the schema below for this backend.
    fn ddl(self, portable: &str) -> String {
        let (blob, text, key, id) = match self {
            Self::Sqlite => ("BLOB", "TEXT", "TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            Self::Mysql => (
                "LONGBLOB",
                "LONGTEXT",
                "VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin",
                "BIGINT AUTO_INCREMENT PRIMARY KEY",
            ),
            Self::Postgres => ("BYTEA", "TEXT", "VARCHAR(255)", "BIGSERIAL PRIMARY KEY"),
        };
        let mut out = portable
            .replace("{blob}", blob)
            .replace("{text}", text)
            .replace("{key}", key)
            .replace("{id}", id);
        match self {
            Self::Mysql if out.starts_with("CREATE TABLE") => out.push_str(" ENGINE=InnoDB"),
            // MySQL has no `CREATE INDEX IF NOT EXISTS`: there the migration treats an index
            // that already exists as created (see `store::apply_missing`).
            Self::Sqlite | Self::Postgres if out.starts_with("CREATE INDEX ") => {
                out.insert_str("CREATE INDEX ".len(), "IF NOT EXISTS ");
            }
            _ => {}
        }
        out
    }

    /// The statements of schema version `version` (1-based), for this backend.
    pub(crate) fn migration(self, version: usize) -> Vec<String> {
        MIGRATIONS
            .get(version.wrapping_sub(1))
            .map(|stmts| stmts.iter().map(|s| self.ddl(s)).collect())
            .unwrap_or_default()
    }
}

/// The newest schema version this binary knows.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Versioned schema migrations, applied in order at start. Append, never edit.
///
/// MySQL commits each DDL statement at once, so a first start killed mid-migration leaves
/// part of a version applied without its `schema_version` row, and the next start runs the
/// whole version again: every statement must succeed when what it creates already exists
/// (`CREATE TABLE IF NOT EXISTS`; a `CREATE INDEX` whose index exists counts as done).
///
/// `{key}` is a bounded, index-friendly string (serials, token ids, names), `{text}` unbounded
/// text (JSON), `{blob}` binary, `{id}` an auto-increment primary key. Times are unix seconds.
const MIGRATIONS: &[&[&str]] = &[&[
    "CREATE TABLE IF NOT EXISTS certificates (serial {key} NOT NULL PRIMARY KEY, \
     der {blob}, subject {text} NOT NULL, sans {text} NOT NULL, not_before BIGINT NOT NULL, \
     not_after BIGINT NOT NULL, provisioner {key} NOT NULL, issuer {key} NOT NULL, \
     created_at BIGINT NOT NULL)",
    "CREATE INDEX certificates_not_after ON certificates (not_after)",
    "CREATE TABLE IF NOT EXISTS revocations (serial {key} NOT NULL PRIMARY KEY, \
     revoked_at BIGINT NOT NULL, reason INTEGER NOT NULL, reason_text {text} NOT NULL, \
     revoked_by {key} NOT NULL, issuer {key} NOT NULL, not_after BIGINT)",
    "CREATE INDEX revocations_issuer ON revocations (issuer, not_after)",
    "CREATE TABLE IF NOT EXISTS used_tokens (jti {key} NOT NULL PRIMARY KEY, \
     expires_at BIGINT NOT NULL)",
    "CREATE INDEX used_tokens_expires_at ON used_tokens (expires_at)",
    "CREATE TABLE IF NOT EXISTS crl_state (issuer {key} NOT NULL PRIMARY KEY, \
     crl_number BIGINT NOT NULL, last_number BIGINT, crl_der {blob}, this_update BIGINT, lock_owner {key}, \
     lock_until BIGINT)",
    "CREATE TABLE IF NOT EXISTS registry (kind {key} NOT NULL, name {key} NOT NULL, \
     data {text} NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (kind, name))",
    "CREATE TABLE IF NOT EXISTS counters (name {key} NOT NULL PRIMARY KEY, \
     value BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS acme_accounts (id {key} NOT NULL PRIMARY KEY, \
     owner {key} NOT NULL UNIQUE, status {key} NOT NULL, expires_at BIGINT NOT NULL, \
     data {text} NOT NULL, revision BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS acme_orders (id {key} NOT NULL PRIMARY KEY, \
     owner {key} NOT NULL, status {key} NOT NULL, expires_at BIGINT NOT NULL, \
     data {text} NOT NULL, revision BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE INDEX acme_orders_owner ON acme_orders (owner)",
    "CREATE TABLE IF NOT EXISTS acme_authzs (id {key} NOT NULL PRIMARY KEY, \
     owner {key} NOT NULL, status {key} NOT NULL, expires_at BIGINT NOT NULL, \
     data {text} NOT NULL, revision BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE INDEX acme_authzs_owner ON acme_authzs (owner)",
    "CREATE TABLE IF NOT EXISTS acme_challenges (id {key} NOT NULL PRIMARY KEY, \
     owner {key} NOT NULL, status {key} NOT NULL, expires_at BIGINT NOT NULL, \
     data {text} NOT NULL, revision BIGINT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE INDEX acme_challenges_owner ON acme_challenges (owner)",
    "CREATE TABLE IF NOT EXISTS acme_nonces (nonce {key} NOT NULL PRIMARY KEY, \
     expires_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS acme_eab_keys (key_id {key} NOT NULL PRIMARY KEY, \
     provisioner {key} NOT NULL, hmac_key {blob} NOT NULL, bound_account {key}, \
     created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_log (id {id}, at BIGINT NOT NULL, event {key} NOT NULL, \
     serial {key}, subject {text}, provisioner {key}, detail {text} NOT NULL)",
]];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_insert_ignore_per_backend() {
        let q = "INSERT IGNORE INTO t (a, b) VALUES (?, ?)";
        assert_eq!(Dialect::Mysql.sql(q).0, q);
        assert_eq!(
            Dialect::Sqlite.sql(q).0,
            "INSERT OR IGNORE INTO t (a, b) VALUES (?, ?)"
        );
        assert_eq!(
            Dialect::Postgres.sql(q).0,
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            Dialect::Postgres.sql("SELECT a FROM t WHERE b = ?").0,
            "SELECT a FROM t WHERE b = $1"
        );
    }
}

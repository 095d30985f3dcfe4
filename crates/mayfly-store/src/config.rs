//! step-ca's `db` configuration block and how it becomes a connection URL.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::ConnectOptions;
use sqlx::any::AnyConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::prune::PruneConfig;

/// The `db` block of `ca.json`, as step-ca writes it:
/// `{"type": "sqlite"|"mysql"|"postgresql", "dataSource": "...", "database": "..."}`.
///
/// `dataSource` is a file path (or `sqlite:` URL) for SQLite; a `mysql://` URL or a Go DSN
/// (`user:pass@tcp(host:3306)/`) for MySQL/MariaDB; a `postgresql://` URL for PostgreSQL.
/// `database`, when set, names the database on the server (created if missing). `prune`
/// (Mayfly's own) says how expired records are pruned ([`PruneConfig`]).
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DbConfig {
    /// The backend.
    #[serde(rename = "type")]
    pub db_type: DbType,
    /// Where the data lives: a path for SQLite, a server URL or DSN otherwise.
    pub data_source: String,
    /// The database name on a MySQL/PostgreSQL server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// When expired token ids and certificates' DER are pruned.
    #[serde(default, skip_serializing_if = "PruneConfig::is_default")]
    pub prune: PruneConfig,
}

/// The storage backends Mayfly runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum DbType {
    /// Embedded SQLite (the default).
    Sqlite,
    /// MySQL or MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgresql,
}

impl From<DbType> for &'static str {
    fn from(value: DbType) -> Self {
        match value {
            DbType::Sqlite => "sqlite",
            DbType::Mysql => "mysql",
            DbType::Postgresql => "postgresql",
        }
    }
}

impl TryFrom<String> for DbType {
    type Error = StoreError;

    fn try_from(value: String) -> Result<Self, StoreError> {
        match value.as_str() {
            "sqlite" | "sqlite3" => Ok(Self::Sqlite),
            "mysql" | "mariadb" => Ok(Self::Mysql),
            "postgresql" | "postgres" => Ok(Self::Postgresql),
            "badger" | "badgerv2" | "badgerV2" | "badgerv1" | "bbolt" => {
                Err(StoreError::UnsupportedType(value))
            }
            _ => Err(StoreError::Config(format!(
                "unknown db type `{value}` (expected \"sqlite\", \"mysql\" or \"postgresql\")"
            ))),
        }
    }
}

impl std::fmt::Debug for DbConfig {
    /// Shows the data source without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("db_type", &self.db_type)
            .field("data_source", &redact(&self.data_source))
            .field("database", &self.database)
            .field("prune", &self.prune)
            .finish()
    }
}

impl DbConfig {
    /// An embedded SQLite store in the file at `path`.
    pub fn sqlite(path: &Path) -> Self {
        Self {
            db_type: DbType::Sqlite,
            data_source: path.display().to_string(),
            database: None,
            prune: PruneConfig::default(),
        }
    }

    /// The SQL dialect of the configured backend.
    pub(crate) fn dialect(&self) -> Dialect {
        match self.db_type {
            DbType::Sqlite => Dialect::Sqlite,
            DbType::Mysql => Dialect::Mysql,
            DbType::Postgresql => Dialect::Postgres,
        }
    }

    /// The database name to create and use on a server, checked to be a plain identifier.
    pub(crate) fn database_name(&self) -> Result<Option<String>, StoreError> {
        let name = match (&self.database, self.db_type) {
            (_, DbType::Sqlite) => return Ok(None),
            (Some(name), _) => name.clone(),
            (None, _) => match url_database(&self.server_url()?) {
                Some(name) => name,
                None => return Ok(None),
            },
        };
        let plain = !name.is_empty()
            && name.len() <= 63
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            return Err(StoreError::Config(format!(
                "database name {name:?} must be 1 to 63 letters, digits or underscores"
            )));
        }
        Ok(Some(name))
    }

    /// The URL of the server (MySQL/PostgreSQL) as configured, before choosing the database.
    fn server_url(&self) -> Result<String, StoreError> {
        let ds = self.data_source.trim();
        match self.db_type {
            DbType::Sqlite => Err(StoreError::Config("SQLite has no server".into())),
            DbType::Mysql if ds.starts_with("mysql://") || ds.starts_with("mariadb://") => {
                Ok(ds.replacen("mariadb://", "mysql://", 1))
            }
            DbType::Mysql => go_dsn_to_url(ds),
            DbType::Postgresql
                if ds.starts_with("postgres://") || ds.starts_with("postgresql://") =>
            {
                Ok(ds.to_owned())
            }
            DbType::Postgresql => Err(StoreError::Config(format!(
                "PostgreSQL dataSource must be a postgresql:// URL, got {:?}",
                redact(ds)
            ))),
        }
    }

    /// The SQLite database's options (`dataSource` a path or a `sqlite:` URL).
    fn sqlite_options(&self) -> Result<SqliteConnectOptions, StoreError> {
        let ds = self.data_source.trim();
        if ds.is_empty() {
            return Err(StoreError::Config(
                "SQLite dataSource (a file path) is empty".into(),
            ));
        }
        let opts: SqliteConnectOptions = if ds.starts_with("sqlite:") {
            ds.parse()?
        } else {
            let dir = Path::new(ds).parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                return Err(StoreError::Config(format!(
                    "the SQLite dataSource's directory {} does not exist",
                    dir.display()
                )));
            }
            SqliteConnectOptions::new().filename(ds)
        };
        Ok(opts.create_if_missing(true))
    }

    /// The SQLite database file.
    pub(crate) fn sqlite_path(&self) -> Result<std::path::PathBuf, StoreError> {
        Ok(self.sqlite_options()?.get_filename().to_owned())
    }

    /// Connect options for the store's own database.
    pub(crate) fn connect_options(&self) -> Result<AnyConnectOptions, StoreError> {
        let url = match self.db_type {
            DbType::Sqlite => self.sqlite_options()?.to_url_lossy().to_string(),
            _ => {
                let url = self.server_url()?;
                match self.database_name()? {
                    Some(db) => with_database(&url, Some(&db)),
                    None => url,
                }
            }
        };
        url.parse().map_err(StoreError::from)
    }

    /// Connect options for the server's maintenance database, used to create ours.
    pub(crate) fn admin_options(&self) -> Result<AnyConnectOptions, StoreError> {
        let url = self.server_url()?;
        let admin = match self.db_type {
            DbType::Postgresql => with_database(&url, Some("postgres")),
            _ => with_database(&url, None),
        };
        admin.parse().map_err(StoreError::from)
    }
}

/// Replaces the path (database) of a `scheme://authority/path?query` URL.
fn with_database(url: &str, db: Option<&str>) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{}", &base[..authority_end], db.unwrap_or(""));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The database named in a URL's path, if any.
fn url_database(url: &str) -> Option<String> {
    let base = url.split('?').next().unwrap_or(url);
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let path = &base[after_scheme..];
    let db = path.split_once('/').map(|(_, db)| db)?;
    (!db.is_empty()).then(|| db.to_owned())
}

/// Converts a Go MySQL DSN (`user:pass@tcp(host:port)/db?params`, as step-ca takes) to a URL.
fn go_dsn_to_url(dsn: &str) -> Result<String, StoreError> {
    let bad = || {
        StoreError::Config(format!(
            "MySQL dataSource {:?} is neither a mysql:// URL nor a DSN like \
             user:password@tcp(host:3306)/",
            redact(dsn)
        ))
    };
    let (creds, rest) = dsn.rsplit_once('@').unwrap_or(("", dsn));
    let rest = rest.strip_prefix("tcp(").ok_or_else(bad)?;
    let (addr, rest) = rest.split_once(')').ok_or_else(bad)?;
    let rest = rest.strip_prefix('/').ok_or_else(bad)?;
    // Go DSN parameters (parseTime, ...) mean nothing to sqlx: keep only the database.
    let db = rest.split('?').next().unwrap_or("");
    let creds = if creds.is_empty() {
        String::new()
    } else {
        format!("{}@", creds.replace('/', "%2F"))
    };
    Ok(format!("mysql://{creds}{addr}/{db}"))
}

/// A data source with any password removed, for error messages.
fn redact(ds: &str) -> String {
    match ds.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => ds.to_owned(),
    }
}

#[cfg(test)]
mod tests;

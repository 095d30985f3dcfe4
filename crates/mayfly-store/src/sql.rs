//! Statements written once for every backend, and where they run: on SQLite directly on
//! rusqlite connections (the writer thread's, or a reader's in the calling thread: no
//! hand-off to a connection thread per statement), on the servers through sqlx.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::Value as SqliteValue;
use sqlx::{AnyConnection, AssertSqlSafe, Row as _};

use crate::error::StoreError;
use crate::store::BoxFuture;

/// A value bound to a statement's next `?` (or `$n`), typed even when NULL: a server
/// prepares a statement once, with the types of its first values, so a NULL must carry the
/// column's type too.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An integer, or NULL.
    Int(Option<i64>),
    /// Text, or NULL.
    Text(Option<String>),
    /// Bytes, or NULL.
    Blob(Option<Vec<u8>>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<&Vec<u8>> for Value {
    fn from(v: &Vec<u8>) -> Self {
        Self::Blob(Some(v.clone()))
    }
}

impl From<Option<&Vec<u8>>> for Value {
    fn from(v: Option<&Vec<u8>>) -> Self {
        Self::Blob(v.cloned())
    }
}

/// A statement in the backend's dialect ([`crate::dialect::Dialect::sql`]) and its values.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    sql: Cow<'static, str>,
    args: Vec<Value>,
}

impl Statement {
    /// `sql`, with no values bound yet.
    pub(crate) fn new(sql: AssertSqlSafe<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.0,
            args: Vec::new(),
        }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }
}

/// A row a statement returned, read by column position.
pub(crate) enum Row {
    /// From a MySQL/MariaDB or PostgreSQL server.
    Any(sqlx::any::AnyRow),
    /// From SQLite.
    Sqlite(Vec<SqliteValue>),
}

impl Row {
    /// Column `i` as an integer.
    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        required(i, "an integer", self.opt_int(i)?)
    }

    /// Column `i` as an integer, `None` for NULL.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.column(i, "an integer", |v| match v {
            SqliteValue::Integer(n) => Some(*n),
            _ => None,
        })
    }

    /// Column `i` as text.
    pub(crate) fn text(&self, i: usize) -> Result<String, StoreError> {
        required(i, "text", self.opt_text(i)?)
    }

    /// Column `i` as text, `None` for NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.column(i, "text", |v| match v {
            SqliteValue::Text(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// Column `i` as bytes.
    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        required(i, "bytes", self.opt_blob(i)?)
    }

    /// Column `i` as bytes, `None` for NULL.
    pub(crate) fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.column(i, "bytes", |v| match v {
            SqliteValue::Blob(b) => Some(b.clone()),
            _ => None,
        })
    }

    /// Column `i`, `None` for NULL: decoded by sqlx, or picked from a SQLite value.
    fn column<T>(
        &self,
        i: usize,
        wanted: &str,
        pick: impl FnOnce(&SqliteValue) -> Option<T>,
    ) -> Result<Option<T>, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        match self {
            Self::Any(row) => Ok(row.try_get(i)?),
            Self::Sqlite(values) => match values.get(i) {
                Some(SqliteValue::Null) => Ok(None),
                Some(value) => pick(value)
                    .map(Some)
                    .ok_or_else(|| unexpected(i, wanted, Some(value))),
                None => Err(unexpected(i, wanted, None)),
            },
        }
    }
}

/// `value`, or the error for a NULL where column `i` must hold `wanted`.
fn required<T>(i: usize, wanted: &str, value: Option<T>) -> Result<T, StoreError> {
    value.ok_or_else(|| unexpected(i, wanted, Some(&SqliteValue::Null)))
}

fn unexpected(i: usize, wanted: &str, found: Option<&SqliteValue>) -> StoreError {
    StoreError::Corrupt {
        what: "column",
        reason: format!("column {i}: expected {wanted}, found {found:?}"),
    }
}

/// The connection a write runs on, inside its transaction.
///
/// On SQLite the futures are ready when first polled: the writer thread runs them to
/// completion without a runtime.
pub(crate) trait WriteConn: Send {
    /// Runs `statement`; the number of rows it inserted, updated or deleted.
    fn exec(&mut self, statement: Statement) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Runs `statement`; its first row (an error when it returns none).
    fn fetch_row(&mut self, statement: Statement) -> BoxFuture<'_, Result<Row, StoreError>>;
}

/// Builds the sqlx query of `statement`.
pub(crate) fn any_query(
    statement: Statement,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(AssertSqlSafe(statement.sql));
    for arg in statement.args {
        query = match arg {
            Value::Int(v) => query.bind(v),
            Value::Text(v) => query.bind(v),
            Value::Blob(v) => query.bind(v),
        };
    }
    query
}

impl WriteConn for AnyConnection {
    fn exec(&mut self, statement: Statement) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move { Ok(any_query(statement).execute(self).await?.rows_affected()) })
    }

    fn fetch_row(&mut self, statement: Statement) -> BoxFuture<'_, Result<Row, StoreError>> {
        Box::pin(async move { Ok(Row::Any(any_query(statement).fetch_one(self).await?)) })
    }
}

impl WriteConn for rusqlite::Connection {
    fn exec(&mut self, statement: Statement) -> BoxFuture<'_, Result<u64, StoreError>> {
        let result = sqlite_execute(self, &statement);
        Box::pin(std::future::ready(result))
    }

    fn fetch_row(&mut self, statement: Statement) -> BoxFuture<'_, Result<Row, StoreError>> {
        let result = sqlite_fetch_one(self, &statement);
        Box::pin(std::future::ready(result))
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Self::Int(Some(v)) => ValueRef::Integer(*v),
            Self::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Self::Blob(Some(v)) => ValueRef::Blob(v),
            Self::Int(None) | Self::Text(None) | Self::Blob(None) => ValueRef::Null,
        }))
    }
}

fn sqlite_execute(conn: &rusqlite::Connection, statement: &Statement) -> Result<u64, StoreError> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    let changed = prepared.execute(rusqlite::params_from_iter(&statement.args))?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

fn sqlite_fetch_one(conn: &rusqlite::Connection, statement: &Statement) -> Result<Row, StoreError> {
    sqlite_rows(conn, statement, 1)?
        .pop()
        .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}

/// Runs `statement` on a SQLite connection; its first `limit` rows.
pub(crate) fn sqlite_rows(
    conn: &rusqlite::Connection,
    statement: &Statement,
    limit: usize,
) -> Result<Vec<Row>, StoreError> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    let columns = prepared.column_count();
    let mut rows = prepared.query(rusqlite::params_from_iter(&statement.args))?;
    let mut out = Vec::new();
    while out.len() < limit
        && let Some(row) = rows.next()?
    {
        let values = (0..columns)
            .map(|i| row.get::<_, SqliteValue>(i))
            .collect::<Result<_, _>>()?;
        out.push(Row::Sqlite(values));
    }
    Ok(out)
}

/// Most idle SQLite read connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// SQLite read connections, each used by one read at a time in the calling thread.
pub(crate) struct SqliteReaders {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqliteReaders {
    /// Readers of the database at `path` (opened on first use).
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        Self {
            path,
            busy_timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `statement` on an idle reader (opening one when none is); its first `limit` rows.
    pub(crate) fn rows(&self, statement: &Statement, limit: usize) -> Result<Vec<Row>, StoreError> {
        let idle = self.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = rusqlite::Connection::open(&self.path)?;
                conn.busy_timeout(self.busy_timeout)?;
                conn
            }
        };
        let rows = sqlite_rows(&conn, statement, limit);
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        rows
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        // The list stays consistent whatever a panicking holder was doing.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

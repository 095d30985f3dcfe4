//! The `Store` handle: opening, migrations, and the write path (group commit on SQLite).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::task::{Context, Poll, Waker};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::config::DbConfig;
use crate::dialect::{Dialect, SCHEMA_VERSION};
use crate::error::StoreError;
use crate::sql::{Row, SqliteReaders, Statement, WriteConn, any_query};

/// How durable a write must be when it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// On disk: survives a power loss (SQLite: the WAL flushed after the commit; servers:
    /// commit flushed).
    Full,
    /// Survives a process crash (SIGKILL included) but possibly not an OS crash or power
    /// loss, which can drop the last such writes. On SQLite the commit's frames are in the
    /// OS page cache, and the next durable write's WAL flush takes them to disk too;
    /// PostgreSQL commits with `synchronous_commit = off`; MySQL/MariaDB writes as usual.
    Relaxed,
}

/// A boxed, sendable future borrowing for `'a`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most writes one SQLite transaction carries (group commit).
const MAX_BATCH: usize = 512;
/// How long SQLite waits for another process's lock before failing.
const BUSY_TIMEOUT_MS: u32 = 10_000;
/// How long an instance waits on MySQL for another instance's schema migration to finish.
const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a request waits for a MySQL/PostgreSQL connection before it fails (503): while the
/// server is down, requests are refused after this instead of hanging for sqlx's 30 s default.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to the store: cheap to clone, shared by every task of the process.
///
/// Opened from step-ca's `db` block ([`DbConfig`]). On SQLite every write goes through one
/// writer thread that commits the writes waiting at that moment in a single transaction
/// (WAL; each write in its own savepoint if one fails), then flushes the WAL file to disk
/// (`fdatasync`) and only then acknowledges them: a write is acknowledged once it is on disk.
/// The flush runs after the writer connection is released, so the next writes commit while
/// the disk works, and every write that committed meanwhile shares the next flush (group
/// commit). Reads go through a pool. On MySQL/MariaDB and PostgreSQL each write is its own
/// transaction on a pooled connection.
///
/// ACME nonce uses ([`crate::AcmeStore::record_nonce_use`]) and the transient steps of ACME
/// orders and authorizations ([`crate::AcmeStore`]) are the exceptions: they are written with
/// [`Durability::Relaxed`], which survives a process crash but not an OS crash. Such a write
/// waits for no disk: when the writer connection is free it commits in the calling thread
/// (tens of microseconds) rather than hand over to the writer thread and back, and when it is
/// queued the writer acknowledges it as soon as its batch commits.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Server connections; on SQLite only migrations and integrity checks use it.
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite's writer thread, and the connection it shares with relaxed writes.
    writer: Option<SqliteWriter>,
    /// SQLite's read connections.
    readers: Option<Arc<SqliteReaders>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.inner.dialect)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store described by `config` and brings its schema up
    /// to date. Must run inside a tokio runtime.
    pub async fn open(config: &DbConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = config.dialect();
        if let Some(db) = config.database_name()? {
            create_database(config, dialect, &db).await?;
        }
        let options = config.connect_options()?;
        let pool = match dialect {
            Dialect::Sqlite => {
                enable_wal(&options).await?;
                AnyPoolOptions::new()
                    .max_connections(8)
                    // A file connection does not go stale: no ping (a round trip to the
                    // connection's thread) before each read.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"
                            )))
                            .await?;
                            conn.execute("PRAGMA synchronous=FULL").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            _ => {
                AnyPoolOptions::new()
                    .max_connections(24)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?
            }
        };
        migrate(&pool, dialect, MIGRATION_LOCK_TIMEOUT).await?;
        let (writer, readers) = if dialect == Dialect::Sqlite {
            let conn = Arc::new(Mutex::new(open_sqlite_writer(config)?));
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            let checkpointer = start_checkpointer(config)?;
            let wal = WalFile {
                path: wal_path(&config.sqlite_path()?),
                syncs: Arc::new(AtomicU64::new(0)),
            };
            let (shared, thread_wal) = (Arc::clone(&conn), wal.clone());
            std::thread::Builder::new()
                .name("mayfly-store-writer".into())
                .spawn(move || run_writer(&shared, &thread_wal, rx))
                .map_err(|e| StoreError::Config(format!("cannot start the SQLite writer: {e}")))?;
            let busy = Duration::from_millis(u64::from(BUSY_TIMEOUT_MS));
            let readers = SqliteReaders::new(config.sqlite_path()?, busy);
            let writer = SqliteWriter {
                queue: tx,
                conn,
                wal,
                _checkpointer: checkpointer,
            };
            (Some(writer), Some(Arc::new(readers)))
        } else {
            (None, None)
        };
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                dialect,
                writer,
                readers,
            }),
        })
    }

    /// The sqlx pool: the servers' connections (on SQLite, for migrations and checks only).
    fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// The backend's SQL dialect.
    pub(crate) fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// How many times the SQLite writer has flushed the WAL to disk since the store opened
    /// (one flush acknowledges every durable write committed before it: compare with the
    /// number of durable writes to see group commit at work); 0 on other backends.
    pub fn wal_flushes(&self) -> u64 {
        self.inner
            .writer
            .as_ref()
            .map_or(0, |w| w.wal.syncs.load(Ordering::Relaxed))
    }

    /// The schema version of the database (the newest migration applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        current_version(self.pool(), self.dialect()).await
    }

    /// Checks the database's integrity: `PRAGMA integrity_check` on SQLite, `CHECK TABLE` on
    /// MySQL/MariaDB; on PostgreSQL a full read of every row, a duplicate check of every unique
    /// key over the rows, and `amcheck` when the database has it. Returns the problems found
    /// (empty when sound).
    pub async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        if self.dialect() == Dialect::Sqlite {
            let rows = sqlx::query("PRAGMA integrity_check")
                .fetch_all(self.pool())
                .await?;
            let mut problems = Vec::new();
            for row in rows {
                let line: String = row.try_get(0)?;
                if line != "ok" {
                    problems.push(line);
                }
            }
            return Ok(problems);
        }
        if self.dialect() == Dialect::Mysql {
            // InnoDB checks each table and its indexes.
            let sql = format!("CHECK TABLE {}", crate::TABLES.join(", "));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(self.pool())
                .await?;
            let mut problems = Vec::new();
            for row in rows {
                let (table, kind, text): (String, String, String) =
                    (row.try_get(0)?, row.try_get(2)?, row.try_get(3)?);
                if kind == "error" || (kind == "status" && text != "OK") {
                    problems.push(format!("{table}: {text}"));
                }
            }
            return Ok(problems);
        }
        self.postgres_integrity().await
    }

    /// PostgreSQL's integrity check: every row of every table reads back whole (TOAST
    /// included); the rows themselves, scanned without indexes, hold no duplicate of any
    /// unique key; and, when the database has the `amcheck` extension, every B-tree index is
    /// consistent and indexes every row (`bt_index_check`) and every heap page is sound
    /// (`verify_heapam`). Errors PostgreSQL raises for corrupt data are reported as problems.
    async fn postgres_integrity(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        for table in crate::TABLES {
            let read = format!("SELECT COALESCE(SUM(length(t::text)), 0) FROM {table} AS t");
            if let Err(e) = self.scan_rows(read).await? {
                problems.push(corruption(table, e)?);
            }
        }
        let unique_keys = sqlx::query(
            "SELECT c.relname::text, \
             string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)::text \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indisunique AND c.relnamespace = current_schema()::regnamespace \
             GROUP BY i.indexrelid, c.relname",
        )
        .fetch_all(self.pool())
        .await?;
        for row in unique_keys {
            let (table, columns): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            if !crate::TABLES.contains(&table.as_str()) {
                continue;
            }
            let duplicates = format!(
                "SELECT {columns} FROM {table} GROUP BY {columns} HAVING COUNT(*) > 1 LIMIT 1"
            );
            match self.scan_rows(duplicates).await? {
                Ok(None) => {}
                Ok(Some(_)) => problems.push(format!("{table}: duplicate ({columns})")),
                Err(e) => problems.push(corruption(&table, e)?),
            }
        }
        problems.extend(self.postgres_amcheck().await?);
        Ok(problems)
    }

    /// Runs the PostgreSQL query `sql` with index scans off, so that it reads the rows
    /// themselves rather than indexes under suspicion, in a transaction of its own (a query
    /// failing on corrupt data spoils no other). The inner result is the query's.
    async fn scan_rows(
        &self,
        sql: String,
    ) -> Result<Result<Option<sqlx::any::AnyRow>, sqlx::Error>, StoreError> {
        let mut tx = self.pool().begin().await?;
        tx.execute(
            "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; \
             SET LOCAL enable_bitmapscan = off",
        )
        .await?;
        let result = tx.fetch_optional(sqlx::AssertSqlSafe(sql)).await;
        // Dropping the transaction rolls it back.
        drop(tx);
        Ok(result)
    }

    /// `amcheck`'s verdict on our tables and indexes, when the extension is installed and
    /// this role may run it.
    async fn postgres_amcheck(&self) -> Result<Vec<String>, StoreError> {
        let ours = |column: &str| {
            let names = crate::TABLES
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{column} IN ({names}) AND c.relnamespace = current_schema()::regnamespace")
        };
        let available = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM pg_extension WHERE extname = 'amcheck'), \
             (SELECT COUNT(*) FROM pg_proc WHERE proname = 'verify_heapam')",
        )
        .fetch_one(self.pool())
        .await?;
        let (amcheck, heapam): (i64, i64) = (available.try_get(0)?, available.try_get(1)?);
        if amcheck == 0 {
            return Ok(Vec::new());
        }
        let mut problems = Vec::new();
        // `heapallindexed`: every row must be found in every index of its table.
        let indexes = format!(
            "SELECT COUNT(bt_index_check(i.indexrelid, true)::text) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_am am ON am.oid = ic.relam WHERE am.amname = 'btree' AND {}",
            ours("c.relname")
        );
        let result = sqlx::query(sqlx::AssertSqlSafe(indexes))
            .fetch_one(self.pool())
            .await;
        if is_permission_denied(&result) {
            tracing::info!("store: this role may not run amcheck; skipping its checks");
            return Ok(problems);
        }
        if let Err(e) = result {
            problems.push(corruption("indexes", e)?);
        }
        if heapam > 0 {
            let heap = format!(
                "SELECT c.relname::text, COALESCE(v.msg, '') FROM pg_class c \
                 CROSS JOIN LATERAL verify_heapam(c.oid) AS v WHERE c.relkind = 'r' AND {}",
                ours("c.relname")
            );
            match sqlx::query(sqlx::AssertSqlSafe(heap))
                .fetch_all(self.pool())
                .await
            {
                Ok(rows) => {
                    for row in rows {
                        let (table, msg): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                        problems.push(format!("{table}: {msg}"));
                    }
                }
                Err(e) => problems.push(corruption("heap", e)?),
            }
        }
        Ok(problems)
    }

    /// Runs `op` in a durable write transaction and returns its result once committed.
    /// If `op` fails, none of its writes are kept. On MySQL/PostgreSQL a transaction chosen
    /// as a deadlock victim (or failing serialization) is retried, which is why `op` is `Fn`.
    pub(crate) async fn write<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> Fn(&'c mut dyn WriteConn) -> BoxFuture<'c, Result<R, StoreError>>
            + Send
            + 'static,
    {
        self.write_with(Durability::Full, op).await
    }

    /// [`Store::write`] acknowledged at the given durability.
    pub(crate) async fn write_with<R, F>(
        &self,
        durability: Durability,
        op: F,
    ) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: for<'c> Fn(&'c mut dyn WriteConn) -> BoxFuture<'c, Result<R, StoreError>>
            + Send
            + 'static,
    {
        match &self.inner.writer {
            Some(SqliteWriter { queue, conn, .. }) => {
                let (done, result) = oneshot::channel();
                let job: Box<dyn Job> = Box::new(WriteJob {
                    op,
                    durability,
                    result: None,
                    done,
                });
                let queued = match durability {
                    Durability::Relaxed => commit_here(conn, job).err(),
                    Durability::Full => Some(job),
                };
                if let Some(job) = queued {
                    queue
                        .send(job)
                        .await
                        .map_err(|_| StoreError::WriterStopped)?;
                }
                result.await.map_err(|_| StoreError::WriterStopped)?
            }
            None => {
                let mut attempt = 0u32;
                loop {
                    match self.transaction(durability, &op).await {
                        Err(e) if is_retryable(&e) && attempt < MAX_RETRIES => {
                            attempt += 1;
                            tracing::debug!(attempt, error = %e, "store: retrying write");
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                        result => return result,
                    }
                }
            }
        }
    }

    /// One attempt of a server write: begin, run, commit (or roll back).
    async fn transaction<R, F>(&self, durability: Durability, op: &F) -> Result<R, StoreError>
    where
        F: for<'c> Fn(&'c mut dyn WriteConn) -> BoxFuture<'c, Result<R, StoreError>>,
    {
        let mut tx = self.inner.pool.begin().await?;
        if durability == Durability::Relaxed && self.dialect() == Dialect::Postgres {
            // Only this transaction: the commit returns before its WAL record is flushed.
            tx.execute("SET LOCAL synchronous_commit = off").await?;
        }
        match op(&mut *tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                // Dropping an unfinished transaction rolls it back too; this is the fast path.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}

impl Statement {
    /// The first row this read returns, if any. On SQLite a point read runs in the calling
    /// thread (it takes microseconds; a hand-off to another thread would cost more), on the
    /// writer connection when that is free: SQLite drops a connection's page cache whenever
    /// another connection has written, so a reader re-reads every page of its path through
    /// the B-trees from the file, while the writer's cache already holds what it wrote.
    pub(crate) async fn fetch_optional(self, store: &Store) -> Result<Option<Row>, StoreError> {
        match &store.inner.readers {
            Some(readers) => {
                if let Some(writer) = &store.inner.writer
                    && let Ok(conn) = writer.conn.try_lock()
                {
                    return Ok(crate::sql::sqlite_rows(&conn, &self, 1)?.pop());
                }
                Ok(readers.rows(&self, 1)?.pop())
            }
            None => Ok(any_query(self)
                .fetch_optional(store.pool())
                .await?
                .map(Row::Any)),
        }
    }

    /// Every row this read returns. On SQLite the scan runs on tokio's blocking pool, off the
    /// threads that serve requests.
    pub(crate) async fn fetch_all(self, store: &Store) -> Result<Vec<Row>, StoreError> {
        match &store.inner.readers {
            Some(readers) => {
                let readers = Arc::clone(readers);
                tokio::task::spawn_blocking(move || readers.rows(&self, usize::MAX))
                    .await
                    .map_err(|e| StoreError::Interrupted(e.to_string()))?
            }
            None => Ok(any_query(self)
                .fetch_all(store.pool())
                .await?
                .into_iter()
                .map(Row::Any)
                .collect()),
        }
    }
}

/// Sorts the failure of an integrity query: the problem when PostgreSQL reported corrupt
/// data (SQLSTATE class XX), the error itself otherwise.
fn corruption(what: &str, e: sqlx::Error) -> Result<String, StoreError> {
    match e {
        sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("XX")) => {
            Ok(format!("{what}: {}", d.message()))
        }
        e => Err(e.into()),
    }
}

/// Whether a query failed for want of privilege (SQLSTATE 42501).
fn is_permission_denied<T>(result: &Result<T, sqlx::Error>) -> bool {
    matches!(result, Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42501"))
}

/// How often a deadlocked server write is retried.
const MAX_RETRIES: u32 = 10;

/// True for the errors that mean "the server rolled this transaction back, try again":
/// SQLSTATE 40001 (serialization failure; MySQL deadlock) and 40P01 (PostgreSQL deadlock).
fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(d))
        if matches!(d.code().as_deref(), Some("40001" | "40P01")))
}

/// A short, jittered pause before retry `attempt`.
fn backoff(attempt: u32) -> std::time::Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 1_000);
    std::time::Duration::from_micros(u64::from(attempt) * 2_000 + jitter * 3)
}

/// One queued write.
trait Job: Send {
    /// Runs the write in the open transaction, keeping its result; returns whether it
    /// succeeded. May run again (after a rollback) before [`Job::finish`].
    fn run<'c>(&'c mut self, conn: &'c mut dyn WriteConn) -> BoxFuture<'c, bool>;
    /// The durability its caller asked for.
    fn durability(&self) -> Durability;
    /// Delivers the kept result once `commit` is known, or the commit's failure.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

struct WriteJob<F, R> {
    op: F,
    durability: Durability,
    result: Option<Result<R, StoreError>>,
    done: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> Job for WriteJob<F, R>
where
    R: Send + 'static,
    F: for<'c> Fn(&'c mut dyn WriteConn) -> BoxFuture<'c, Result<R, StoreError>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut dyn WriteConn) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let result = (self.op)(conn).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn durability(&self) -> Durability {
        self.durability
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let Self { result, done, .. } = *self;
        let result = commit.and_then(|()| {
            result.unwrap_or_else(|| Err(StoreError::Commit("the write never ran".into())))
        });
        // The caller may have gone away; the write stands either way.
        let _ = done.send(result);
    }
}

/// Puts the SQLite file in WAL mode (a property of the file, set once before the pool opens).
///
/// Switching the journal mode needs an exclusive lock that SQLite does not wait for with its
/// busy timeout: when several processes open a new database together, a switch racing another
/// gets `SQLITE_BUSY` at once. It is retried here until the busy timeout has passed.
async fn enable_wal(options: &AnyConnectOptions) -> Result<(), StoreError> {
    let mut conn = options.connect().await?;
    let busy_timeout = Duration::from_millis(u64::from(BUSY_TIMEOUT_MS));
    let deadline = tokio::time::Instant::now() + busy_timeout;
    let result = loop {
        match sqlx::query("PRAGMA journal_mode=WAL")
            .fetch_one(&mut conn)
            .await
        {
            Err(sqlx::Error::Database(e))
                if is_sqlite_busy(e.code().as_deref())
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => break other,
        }
    };
    conn.close().await?;
    let mode: String = result?.try_get(0)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
            "SQLite refused WAL journal mode (it stays in {mode:?}); WAL needs shared memory: \
             put the database on a local file system"
        )));
    }
    Ok(())
}

/// Whether an SQLite (extended) result code is `SQLITE_BUSY` or one of its variants.
fn is_sqlite_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

/// Opens the SQLite writer's connection: `synchronous=NORMAL` (the writer thread flushes
/// the WAL itself, outside the connection: [`run_writer`]), the busy timeout, and the file
/// already in WAL mode (set by [`Store::open`]).
fn open_sqlite_writer(config: &DbConfig) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(config.sqlite_path()?)?;
    conn.busy_timeout(Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
    // Checkpoints run in their own thread (`start_checkpointer`), not inside this
    // connection's commits.
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0")?;
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
            "the SQLite database is in journal mode {journal:?}, not WAL"
        )));
    }
    Ok(conn)
}

/// SQLite's write path: the writer thread's queue and its connection.
struct SqliteWriter {
    queue: mpsc::Sender<Box<dyn Job>>,
    /// The writer connection, shared by the writer thread and the relaxed writes that find
    /// it free ([`commit_here`]).
    conn: Arc<Mutex<rusqlite::Connection>>,
    wal: WalFile,
    /// Dropped with the store: the checkpointer thread then stops.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

/// The database's write-ahead log, which the writer thread flushes for durable writes.
#[derive(Clone)]
struct WalFile {
    path: PathBuf,
    /// Flushes done, for [`Store::wal_flushes`].
    syncs: Arc<AtomicU64>,
}

impl WalFile {
    /// Flushes the WAL to disk: every commit made before the call is then durable.
    ///
    /// Equivalent to SQLite's own flush at `synchronous=FULL`, done outside the connection.
    /// The file is opened by name each time, so the flush always reaches the WAL SQLite is
    /// using. Should a checkpoint have copied a commit into the database file and restarted
    /// the WAL before this runs, that checkpoint synced the WAL first and the database file
    /// after: the commit is on disk either way.
    fn flush(&self) -> Result<(), String> {
        std::fs::File::open(&self.path)
            .and_then(|wal| wal.sync_data())
            .map_err(|e| format!("flushing {}: {e}", self.path.display()))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// SQLite's name for the write-ahead log of the database at `db`.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Commits one [`Durability::Relaxed`] write in the calling thread, when the writer thread
/// is not using the connection and no other process holds SQLite's write lock; gives the
/// job back otherwise (to be queued). Such a commit appends to the WAL without an fsync, so
/// it takes tens of microseconds and never waits for the disk or for another process.
fn commit_here(
    shared: &Mutex<rusqlite::Connection>,
    mut job: Box<dyn Job>,
) -> Result<(), Box<dyn Job>> {
    let Ok(mut conn) = shared.try_lock() else {
        return Err(job);
    };
    if !begin_without_waiting(&conn) {
        return Err(job);
    }
    let ok = run_to_end(job.as_mut(), &mut conn);
    let end = conn.execute_batch(if ok { "COMMIT" } else { "ROLLBACK" });
    if let Err(e) = &end {
        tracing::error!(error = %e, "store: relaxed commit failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    drop(conn);
    job.finish(end.map_err(|e| StoreError::Commit(e.to_string())));
    Ok(())
}

/// `BEGIN IMMEDIATE` unless another process holds the write lock (no busy wait).
fn begin_without_waiting(conn: &rusqlite::Connection) -> bool {
    if conn.busy_timeout(Duration::ZERO).is_err() {
        return false;
    }
    let began = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
    // The writer thread's batches wait for other processes as usual.
    let restored = conn
        .busy_timeout(Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))
        .is_ok();
    if began && !restored {
        let _ = conn.execute_batch("ROLLBACK");
    }
    began && restored
}

/// How often the checkpointer moves committed WAL pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Starts the thread that checkpoints the WAL, in place of SQLite's auto-checkpoint: that
/// runs inside the commit that crosses 1,000 WAL pages, where copying pages and syncing the
/// database file held every write behind it (stalls of up to 150 ms under load). A PASSIVE
/// checkpoint blocks no writer, and the writer restarts the WAL once it is all copied. The
/// thread stops when the returned sender is dropped (with the store).
fn start_checkpointer(config: &DbConfig) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    let conn = rusqlite::Connection::open(config.sqlite_path()?)?;
    conn.busy_timeout(Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let checkpoint = move || {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "store: WAL checkpoint failed");
        }
    };
    std::thread::Builder::new()
        .name("mayfly-store-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                checkpoint();
            }
            checkpoint();
        })
        .map_err(|e| StoreError::Config(format!("cannot start the SQLite checkpointer: {e}")))?;
    Ok(stop)
}

/// The SQLite writer thread: takes every write waiting and commits them in one
/// transaction, until every [`Store`] handle is gone. The relaxed writes are acknowledged
/// at once; the durable ones once the WAL is flushed, after the connection is released, so
/// relaxed writes commit in their callers' threads ([`commit_here`]) during the flush and
/// the durable writes arriving meanwhile make up the next batch (group commit).
fn run_writer(
    shared: &Mutex<rusqlite::Connection>,
    wal: &WalFile,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_len = 1;
    while let Some(job) = rx.blocking_recv() {
        batch.push(job);
        take_waiting(&mut rx, &mut batch);
        // The writers the last commit woke are about to send their next write: let them
        // join this batch rather than wait a whole flush for the next one.
        for _ in 0..8 {
            if batch.len() >= last_len {
                break;
            }
            std::thread::yield_now();
            take_waiting(&mut rx, &mut batch);
        }
        last_len = batch.len();
        let commit = {
            let mut conn = shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            commit_batch(&mut conn, &mut batch)
        };
        let (durable, relaxed): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .partition(|job| job.durability() == Durability::Full);
        finish_all(relaxed, &commit);
        if !durable.is_empty() {
            let flushed = commit.and_then(|()| wal.flush());
            if let Err(e) = &flushed {
                tracing::error!(error = %e, "store: durable commit failed");
            }
            finish_all(durable, &flushed);
        }
    }
}

/// Hands each of `jobs` its result, given their commit's outcome.
fn finish_all(jobs: Vec<Box<dyn Job>>, commit: &Result<(), String>) {
    for job in jobs {
        job.finish(
            commit
                .as_ref()
                .map(|_| ())
                .map_err(|m| StoreError::Commit(m.clone())),
        );
    }
}

/// Moves the writes already queued into `batch`, up to [`MAX_BATCH`].
fn take_waiting(rx: &mut mpsc::Receiver<Box<dyn Job>>, batch: &mut Vec<Box<dyn Job>>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Commits `jobs` in one transaction. The fast path runs them back to back; if one fails,
/// the transaction is rolled back and they run again, each in its own savepoint, so a
/// failed write takes none of the others down with it.
fn commit_batch(conn: &mut rusqlite::Connection, jobs: &mut [Box<dyn Job>]) -> Result<(), String> {
    let mut outcome = || {
        if !run_batch(conn, jobs, false)? {
            conn.execute_batch("ROLLBACK")?;
            run_batch(conn, jobs, true)?;
        }
        conn.execute_batch("COMMIT")
    };
    let outcome = outcome();
    if let Err(e) = &outcome {
        tracing::error!(error = %e, "store: group commit failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    outcome.map_err(|e| e.to_string())
}

/// Opens the transaction and runs the jobs; without savepoints it stops at the first
/// failure and returns `false`.
fn run_batch(
    conn: &mut rusqlite::Connection,
    jobs: &mut [Box<dyn Job>],
    savepoints: bool,
) -> Result<bool, rusqlite::Error> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in jobs.iter_mut() {
        if !savepoints {
            if !run_to_end(job.as_mut(), conn) {
                return Ok(false);
            }
            continue;
        }
        conn.execute_batch("SAVEPOINT w")?;
        if !run_to_end(job.as_mut(), conn) {
            conn.execute_batch("ROLLBACK TO w")?;
        }
        conn.execute_batch("RELEASE w")?;
    }
    Ok(true)
}

/// Runs `job` on the writer's connection. Its statements complete synchronously, so one
/// poll finishes it; a job that waits on anything else is a bug, failed rather than hung.
fn run_to_end(job: &mut dyn Job, conn: &mut rusqlite::Connection) -> bool {
    match job
        .run(conn)
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(ok) => ok,
        Poll::Pending => {
            tracing::error!("store: a write waited on something other than its statements");
            false
        }
    }
}

/// Creates the server database `db` when it does not exist yet.
async fn create_database(config: &DbConfig, dialect: Dialect, db: &str) -> Result<(), StoreError> {
    let admin: AnyConnectOptions = config.admin_options()?;
    let mut conn = admin.connect().await?;
    let create = match dialect {
        Dialect::Mysql => Some(format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )),
        _ => {
            let exists = sqlx::query(dialect.sql("SELECT 1 FROM pg_database WHERE datname = ?"))
                .bind(db)
                .fetch_optional(&mut conn)
                .await?
                .is_some();
            (!exists).then(|| format!("CREATE DATABASE \"{db}\""))
        }
    };
    if let Some(sql) = create
        && let Err(e) = conn.execute(sqlx::AssertSqlSafe(sql)).await
    {
        // Another instance may have created it at the same moment.
        let raced = matches!(&e, sqlx::Error::Database(d)
            if d.is_unique_violation() || d.code().as_deref() == Some("42P04"));
        if !raced {
            return Err(e.into());
        }
    }
    conn.close().await?;
    Ok(())
}

/// The newest migration applied (0 for an empty database).
async fn current_version(
    conn: impl Executor<'_, Database = sqlx::Any>,
    dialect: Dialect,
) -> Result<i64, StoreError> {
    let row = sqlx::query(dialect.sql("SELECT MAX(version) FROM schema_version"))
        .fetch_one(conn)
        .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}

/// Applies the migrations the database lacks, under a cross-instance lock taken before any
/// DDL: two PostgreSQL sessions racing on `CREATE TABLE IF NOT EXISTS` can both try to create
/// the table, and one fails. On MySQL the lock is `GET_LOCK`, waited for up to `lock_timeout`;
/// without it nothing is migrated ([`StoreError::MigrationLock`]).
async fn migrate(
    pool: &AnyPool,
    dialect: Dialect,
    lock_timeout: Duration,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    match dialect {
        Dialect::Sqlite => {
            conn.execute("BEGIN IMMEDIATE").await?;
        }
        Dialect::Postgres => {
            conn.execute("BEGIN").await?;
            conn.execute("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7243)) AS l")
                .await?;
        }
        Dialect::Mysql => {
            // 1 = taken, 0 = timed out, NULL = failed.
            let taken: Option<i64> =
                sqlx::query("SELECT CAST(GET_LOCK('mayfly_schema', ?) AS SIGNED)")
                    .bind(i64::try_from(lock_timeout.as_secs()).unwrap_or(i64::MAX))
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
            match taken {
                Some(1) => {}
                Some(_) => {
                    return Err(StoreError::MigrationLock(format!(
                        "still held by another session after {} s",
                        lock_timeout.as_secs()
                    )));
                }
                None => return Err(StoreError::MigrationLock("the server refused it".into())),
            }
        }
    }
    let result = apply_missing(&mut conn, dialect).await;
    let unlock = match (dialect, result.is_ok()) {
        (Dialect::Mysql, _) => "SELECT RELEASE_LOCK('mayfly_schema')",
        (_, true) => "COMMIT",
        (_, false) => "ROLLBACK",
    };
    conn.execute(unlock).await?;
    result
}

async fn apply_missing(conn: &mut AnyConnection, dialect: Dialect) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL PRIMARY KEY, \
         applied_at BIGINT NOT NULL)",
    )
    .await?;
    let found = current_version(&mut *conn, dialect).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for version in found + 1..=SCHEMA_VERSION {
        for stmt in dialect.migration(version as usize) {
            match conn.execute(sqlx::AssertSqlSafe(stmt)).await {
                // MySQL commits DDL at once: a start killed mid-migration left this index.
                Err(e) if is_duplicate_index(&e) => {
                    tracing::info!(version, "store: an index of the migration already exists");
                }
                other => {
                    other?;
                }
            }
        }
        sqlx::query(dialect.sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)"))
            .bind(version)
            .bind(crate::now())
            .execute(&mut *conn)
            .await?;
        tracing::info!(version, "store: applied schema migration");
    }
    Ok(())
}

/// Whether `e` is MySQL's "Duplicate key name" (error 1061): the index already exists.
fn is_duplicate_index(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| m.number() == 1061))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The acknowledged-write guarantee rests on the writer's settings and on its WAL flush:
    /// a durable write returns after a flush, a relaxed one without waiting for any.
    #[tokio::test]
    async fn durable_writes_return_after_a_wal_flush_and_relaxed_ones_without() {
        let dir = mayfly_testkit::temp_dir();
        let store = Store::open(&DbConfig::sqlite(&dir.path().join("s.sqlite")))
            .await
            .unwrap();
        let (journal, sync, busy) = store
            .write(|c| {
                Box::pin(async move {
                    let pragma = |name: &'static str| Dialect::Sqlite.statement(name);
                    let j = c
                        .fetch_row(pragma("PRAGMA journal_mode"))
                        .await?
                        .opt_text(0)?;
                    let s = c.fetch_row(pragma("PRAGMA synchronous")).await?.int(0)?;
                    let b = c.fetch_row(pragma("PRAGMA busy_timeout")).await?.int(0)?;
                    Ok((j.unwrap_or_default(), s, b))
                })
            })
            .await
            .unwrap();
        // NORMAL: SQLite itself never waits for the disk; the writer thread flushes.
        assert_eq!(
            (journal.as_str(), sync, busy),
            ("wal", 1, i64::from(BUSY_TIMEOUT_MS))
        );
        let flushes = store.wal_flushes();
        assert!(flushes >= 1, "the write above was durable");
        use crate::TokenReplay as _;
        store
            .record_token("durable".into(), i64::MAX)
            .await
            .unwrap();
        assert_eq!(store.wal_flushes(), flushes + 1);
        use crate::AcmeStore as _;
        assert!(
            store
                .record_nonce_use("relaxed".into(), i64::MAX)
                .await
                .unwrap()
        );
        assert_eq!(store.wal_flushes(), flushes + 1);

        // A first write holds the writer thread while a relaxed and a durable write queue
        // behind it: the writer takes them together and flushes once for both.
        let hold = store.write(|_| {
            std::thread::sleep(Duration::from_millis(300));
            Box::pin(async { Ok(()) })
        });
        let store = &store;
        let queue_behind = |durability| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            store
                .write_with(durability, |_| Box::pin(async { Ok(()) }))
                .await
        };
        let (held, relaxed, full) = tokio::join!(
            hold,
            queue_behind(Durability::Relaxed),
            queue_behind(Durability::Full)
        );
        held.unwrap();
        relaxed.unwrap();
        full.unwrap();
        assert_eq!(store.wal_flushes(), flushes + 3);
    }

    /// A durable write whose WAL cannot be flushed is refused, not acknowledged; relaxed
    /// writes, which wait for no flush, still go through.
    #[tokio::test]
    async fn a_durable_write_is_refused_when_the_wal_cannot_be_flushed() {
        let dir = mayfly_testkit::temp_dir();
        let path = dir.path().join("s.sqlite");
        let store = Store::open(&DbConfig::sqlite(&path)).await.unwrap();
        use crate::TokenReplay as _;
        store.record_token("before".into(), i64::MAX).await.unwrap();
        // SQLite keeps writing to its open descriptor; the flush, which opens the WAL by
        // name, finds nothing.
        std::fs::remove_file(wal_path(&path)).unwrap();
        let err = store
            .record_token("after".into(), i64::MAX)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("-wal"), "{err}");
        use crate::AcmeStore as _;
        assert!(store.record_nonce_use("n".into(), i64::MAX).await.unwrap());
    }

    /// A relaxed write commits in the calling thread when the writer connection is free, and
    /// queues behind a batch in progress; a durable write always goes to the writer thread
    /// (group commit).
    #[tokio::test]
    async fn relaxed_writes_commit_in_the_calling_thread_when_the_writer_is_free() {
        let dir = mayfly_testkit::temp_dir();
        let store = Store::open(&DbConfig::sqlite(&dir.path().join("s.sqlite")))
            .await
            .unwrap();
        let writer = Some("mayfly-store-writer".to_owned());
        assert_ne!(thread_of(&store, Durability::Relaxed).await, writer);
        assert_eq!(thread_of(&store, Durability::Full).await, writer);
        let hold = store.write(|_| {
            std::thread::sleep(Duration::from_millis(300));
            Box::pin(async { Ok(()) })
        });
        let behind = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            thread_of(&store, Durability::Relaxed).await
        };
        let (held, relaxed) = tokio::join!(hold, behind);
        held.unwrap();
        assert_eq!(relaxed, writer);
        // A relaxed write committed in place is kept (a nonce is used once).
        use crate::AcmeStore as _;
        assert!(store.record_nonce_use("n".into(), i64::MAX).await.unwrap());
        assert!(!store.record_nonce_use("n".into(), i64::MAX).await.unwrap());
    }

    /// A point read runs on the writer connection when it is free and sees what was
    /// committed; while a write holds that connection, reads go to a reader and do not wait.
    #[tokio::test]
    async fn point_reads_see_commits_and_never_wait_for_the_writer() {
        use crate::{AcmeKind, AcmeObject, AcmeStore as _};
        use std::sync::atomic::AtomicBool;
        let dir = mayfly_testkit::temp_dir();
        let store = Store::open(&DbConfig::sqlite(&dir.path().join("s.sqlite")))
            .await
            .unwrap();
        let order = AcmeObject {
            id: "o1".into(),
            owner: "a1".into(),
            status: "pending".into(),
            expires_at: i64::MAX,
            data: "{}".into(),
            revision: 1,
        };
        store
            .create_object(AcmeKind::Order, order.clone())
            .await
            .unwrap();
        assert_eq!(
            store.object(AcmeKind::Order, "o1").await.unwrap(),
            Some(order)
        );
        let released = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&released);
        let hold = store.write(move |_| {
            std::thread::sleep(Duration::from_millis(500));
            flag.store(true, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
        let read = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let found = store.object(AcmeKind::Order, "o1").await.unwrap();
            (found.is_some(), released.load(Ordering::SeqCst))
        };
        let (held, (found, after_release)) = tokio::join!(hold, read);
        held.unwrap();
        assert!(found);
        assert!(!after_release, "the read waited for the writer connection");
    }

    /// With SQLite's auto-checkpoint off, the checkpointer thread copies committed pages
    /// into the database file.
    #[tokio::test]
    async fn the_checkpointer_moves_the_wal_into_the_database_file() {
        let dir = mayfly_testkit::temp_dir();
        let path = dir.path().join("s.sqlite");
        let store = Store::open(&DbConfig::sqlite(&path)).await.unwrap();
        let autocheckpoint = store
            .write(|c| {
                Box::pin(async move {
                    let pragma = Dialect::Sqlite.statement("PRAGMA wal_autocheckpoint");
                    c.fetch_row(pragma).await?.int(0)
                })
            })
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0);
        let before = std::fs::metadata(&path).unwrap().len();
        use crate::TokenReplay as _;
        for n in 0..300 {
            store
                .record_token(format!("jti-{n:04}"), i64::MAX)
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() == before {
            assert!(std::time::Instant::now() < deadline, "never checkpointed");
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    }

    /// The name of the thread a write at `durability` runs in.
    async fn thread_of(store: &Store, durability: Durability) -> Option<String> {
        store
            .write_with(durability, |_| {
                let name = std::thread::current().name().map(str::to_owned);
                Box::pin(async move { Ok(name) })
            })
            .await
            .unwrap()
    }

    /// Instances opening one new database together each switch it to WAL. SQLite answers a
    /// switch that races another with an immediate `SQLITE_BUSY` (its busy timeout does not
    /// apply), which [`enable_wal`] retries.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_wal_switches_on_a_new_file_all_succeed() {
        sqlx::any::install_default_drivers();
        let dir = mayfly_testkit::temp_dir();
        for round in 0..300 {
            let config = DbConfig::sqlite(&dir.path().join(format!("{round}.sqlite")));
            let options = config.connect_options().unwrap();
            let switches = (0..8).map(|_| {
                let options = options.clone();
                tokio::spawn(async move { enable_wal(&options).await })
            });
            for switched in futures_util::future::join_all(switches).await {
                switched
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
        }
    }

    /// On MySQL the schema lock is `GET_LOCK`: while another session holds it past the
    /// timeout, the migration does not run and the error says why.
    #[tokio::test]
    async fn mysql_migration_waits_for_the_lock_and_never_runs_without_it() {
        sqlx::any::install_default_drivers();
        let config = DbConfig {
            db_type: crate::DbType::Mysql,
            data_source: mayfly_testkit::mysql_url(),
            database: None,
            prune: crate::PruneConfig::default(),
        };
        // The server without a database: a migration run without the lock fails otherwise.
        let server = config.admin_options().unwrap();
        let Ok(mut holder) = server.connect().await else {
            mayfly_testkit::missing(&format!("the MySQL server at {}", config.data_source));
            return;
        };
        let held: i64 = sqlx::query("SELECT CAST(GET_LOCK('mayfly_schema', 60) AS SIGNED)")
            .fetch_one(&mut holder)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(held, 1);
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect_with(server)
            .await
            .unwrap();
        let err = migrate(&pool, Dialect::Mysql, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::MigrationLock(_)), "{err:?}");
        assert!(err.to_string().contains("after 1 s"), "{err}");
        holder
            .execute("SELECT RELEASE_LOCK('mayfly_schema')")
            .await
            .unwrap();
    }
}

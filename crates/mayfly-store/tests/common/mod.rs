//! Fresh databases for the suites: a temp SQLite file, or a `mayfly_t_<random>` database on
//! the MariaDB / PostgreSQL test servers, dropped afterwards.
#![allow(dead_code, reason = "each test binary uses part of this module")]

use mayfly_store::{DbConfig, DbType, Store};
use sqlx::{ConnectOptions, Executor};

/// A backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mysql,
    Postgres,
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub config: DbConfig,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

fn random_name() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    format!("mayfly_t_{}", hex::encode(bytes))
}

/// Creates the configuration of a fresh database, or `None` (after a skip note; a panic
/// under CI=true) when the server is not reachable.
pub async fn fresh(backend: Backend) -> Option<TestDb> {
    let (db_type, data_source) = match backend {
        Backend::Sqlite => {
            let dir = mayfly_testkit::temp_dir();
            let config = DbConfig::sqlite(&dir.path().join("mayfly.sqlite"));
            return Some(TestDb {
                config,
                backend,
                _dir: Some(dir),
            });
        }
        Backend::Mysql => (DbType::Mysql, mayfly_testkit::mysql_url()),
        Backend::Postgres => (DbType::Postgresql, mayfly_testkit::postgres_url()),
    };
    sqlx::any::install_default_drivers();
    let reachable = match data_source.parse::<sqlx::any::AnyConnectOptions>() {
        Ok(opts) => opts.connect().await.is_ok(),
        Err(_) => false,
    };
    if !reachable {
        mayfly_testkit::missing(&format!("the database server at {data_source}"));
        return None;
    }
    let config = DbConfig {
        db_type,
        data_source,
        database: Some(random_name()),
        prune: Default::default(),
    };
    Some(TestDb {
        config,
        backend,
        _dir: None,
    })
}

impl TestDb {
    pub async fn open(&self) -> Store {
        Store::open(&self.config).await.unwrap()
    }

    /// Runs raw SQL against the test database (test set-up only).
    pub async fn raw(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let url = match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.config.data_source),
            _ => {
                let base = self.config.data_source.rsplit_once('/').unwrap().0;
                format!("{base}/{}", self.config.database.as_deref().unwrap())
            }
        };
        let mut conn = url
            .parse::<sqlx::any::AnyConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .unwrap();
    }

    /// Creates the database, empty.
    pub async fn create_empty(&self) {
        let Some(name) = self.config.database.as_deref() else {
            std::fs::File::create(&self.config.data_source).unwrap();
            return;
        };
        let sql = match self.backend {
            // As `Store::open` creates it.
            Backend::Mysql => {
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            }
            _ => format!("CREATE DATABASE \"{name}\""),
        };
        self.admin(&sql).await;
    }

    /// Drops the server database.
    pub async fn drop_db(self) {
        let Some(name) = self.config.database.as_deref() else {
            return;
        };
        let sql = match self.backend {
            Backend::Mysql => format!("DROP DATABASE IF EXISTS `{name}`"),
            _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        };
        self.admin(&sql).await;
    }

    /// Runs `sql` on the server's maintenance database.
    async fn admin(&self, sql: &str) {
        let base = self.config.data_source.rsplit_once('/').unwrap().0;
        let admin = match self.backend {
            Backend::Mysql => format!("{base}/"),
            _ => format!("{base}/postgres"),
        };
        let mut conn = admin
            .parse::<sqlx::any::AnyConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .unwrap();
    }
}

/// Runs `body` against a fresh database of each backend, in its own test function.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( $crate::per_backend!(@one $name, Sqlite); )* }
        mod mysql { $( $crate::per_backend!(@one $name, Mysql); )* }
        mod postgres { $( $crate::per_backend!(@one $name, Postgres); )* }
    };
    (@one $name:ident, $backend:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let Some(db) = $crate::common::fresh($crate::common::Backend::$backend).await else {
                return;
            };
            super::$name(&db).await;
            db.drop_db().await;
        }
    };
}

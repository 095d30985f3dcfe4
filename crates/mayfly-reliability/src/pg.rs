//! A private PostgreSQL server (the system's binaries, a fresh cluster in a temporary folder,
//! its own port), for the suites that stop the database: stopping the shared server on 5432
//! would fail every other PostgreSQL test running beside them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_testkit::{missing, run, run_ok, temp_dir};

use crate::ca::free_port;

/// A PostgreSQL cluster in a temporary folder on `127.0.0.1:port`, user `postgres` with trust
/// authentication. Dropping it stops the server (`-m immediate`) and removes the folder.
#[derive(Debug)]
pub struct Postgres {
    /// The port it listens on.
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    /// Held for its removal on drop.
    _dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `pg_ctl`.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `program` run as the `postgres` user when we are root (the server refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    // The effective uid of this process: owner of /proc/self.
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Creates and starts a fresh cluster; `None` (skipped, or a failure under CI) when the
    /// PostgreSQL server binaries are not installed.
    pub fn start_new() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            missing("the PostgreSQL server (/usr/lib/postgresql/*/bin/pg_ctl)");
            return None;
        };
        let dir = temp_dir();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("the data folder");
        let perms = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(dir.path(), perms).expect("chmod the cluster's folder");
        if run(Command::new("id").args(["-u", "postgres"])).0 {
            run_ok(Command::new("chown").arg("postgres:").arg(&data));
        }
        run_ok(
            as_postgres(&bin.join("initdb"))
                .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
                .arg(&data),
        );
        let pg = Self {
            port: free_port(),
            bin,
            data,
            _dir: dir,
        };
        pg.start();
        Some(pg)
    }

    /// `postgresql://postgres@127.0.0.1:PORT/`, the server URL for `ca.json`'s `dataSource`.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.data.display()
        );
        run_ok(
            as_postgres(&self.bin.join("pg_ctl"))
                .args(["start", "-w", "-t", "60", "-l"])
                .arg(self.data.join("server.log"))
                .arg("-D")
                .arg(&self.data)
                .args(["-o", &options]),
        );
    }

    /// Stops the server (`fast`: open connections are cut, as in a database outage).
    pub fn stop(&self) {
        self.pg_ctl_stop("fast");
    }

    fn pg_ctl_stop(&self, mode: &str) -> (bool, String) {
        run(as_postgres(&self.bin.join("pg_ctl"))
            .args(["stop", "-w", "-m", mode, "-D"])
            .arg(&self.data))
    }

    /// The rows (first column, as text) `sql` returns from database `db`.
    pub fn rows(&self, db: &str, sql: &str) -> BTreeSet<String> {
        run_ok(
            Command::new(self.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-U", "postgres", "-Atq", "-p"])
                .arg(self.port.to_string())
                .args(["-d", db, "-c", sql]),
        )
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Always stop it, even when the test failed half-way (stopped already is fine).
        let _ = self.pg_ctl_stop("immediate");
    }
}

impl crate::Ca {
    /// A CA made in `dir` whose store is database `mayfly` on `pg` (created as it starts),
    /// started.
    pub fn start_on_postgres(dir: &std::path::Path, pg: &Postgres) -> Self {
        let mut ca = Self::init_stopped(dir);
        ca.edit_config(|json| {
            json["db"] = serde_json::json!({
                "type": "postgresql",
                "dataSource": pg.url(),
                "database": "mayfly",
            });
        });
        ca.start();
        ca
    }
}

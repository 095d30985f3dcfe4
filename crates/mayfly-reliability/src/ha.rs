//! High availability (issue 12): a fresh database on the MariaDB or PostgreSQL test server
//! that several `mayfly-ca` instances share ([`SharedDb`]), and a small ACME client over
//! HTTPS that can move between instances ([`AcmeClient`]).

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use mayfly_jwt::Jwk;
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_testkit::{run, run_ok, tool};
use serde_json::{Value, json};

use crate::https::{Https, Reply};

/// A database server the instances can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// MariaDB or MySQL (`mayfly_testkit::mysql_url`).
    Mysql,
    /// PostgreSQL (`mayfly_testkit::postgres_url`).
    Postgres,
}

/// A `mayfly_ha_<random>` database on a test server, created by the first instance that
/// opens it (mayfly-store creates a missing database) and dropped when this value drops.
/// Queried with the server's own command-line client.
#[derive(Debug)]
pub struct SharedDb {
    backend: Backend,
    /// The database's name.
    pub name: String,
    url: String,
    client: PathBuf,
    /// `mysql --defaults-extra-file` (the URL's user, password, host and port), in a 0600 file.
    _dir: tempfile::TempDir,
    defaults: PathBuf,
}

impl SharedDb {
    /// A fresh database name on `backend`, or `None` when the server or its client program is
    /// missing (a panic under CI=true).
    pub fn fresh(backend: Backend) -> Option<Self> {
        let (url, client) = match backend {
            Backend::Mysql => (mayfly_testkit::mysql_url(), tool("mysql")?),
            Backend::Postgres => (mayfly_testkit::postgres_url(), tool("psql")?),
        };
        let dir = mayfly_testkit::temp_dir();
        let defaults = dir.path().join("my.cnf");
        if backend == Backend::Mysql {
            mayfly_testkit::write_file(dir.path(), "my.cnf", mysql_defaults(&url));
            let perms = std::os::unix::fs::PermissionsExt::from_mode(0o600);
            std::fs::set_permissions(&defaults, perms).expect("chmod 600");
        }
        let name = format!(
            "mayfly_ha_{}",
            hex::encode(mayfly_keys::random_bytes::<6>())
        );
        let db = Self {
            backend,
            name,
            url,
            client,
            _dir: dir,
            defaults,
        };
        let (reachable, out) = run(&mut db.command(None, "SELECT 1"));
        if !reachable {
            mayfly_testkit::missing(&format!("the database server at {} ({out})", db.url));
            return None;
        }
        Some(db)
    }

    /// The `db` block of ca.json naming this database.
    pub fn db_block(&self) -> Value {
        let db_type = match self.backend {
            Backend::Mysql => "mysql",
            Backend::Postgres => "postgresql",
        };
        json!({"type": db_type, "dataSource": self.url, "database": self.name})
    }

    /// Runs `sql` in this database; one line per row, columns separated by tabs.
    pub fn query(&self, sql: &str) -> Vec<String> {
        run_ok(&mut self.command(Some(&self.name), sql))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn command(&self, database: Option<&str>, sql: &str) -> Command {
        let mut command = Command::new(&self.client);
        match self.backend {
            Backend::Mysql => {
                command
                    .arg(format!("--defaults-extra-file={}", self.defaults.display()))
                    .args(["--batch", "--skip-column-names", "-e", sql]);
                if let Some(database) = database {
                    command.arg(database);
                }
            }
            Backend::Postgres => {
                let url = match database {
                    Some(name) => with_database(&self.url, name),
                    None => self.url.clone(),
                };
                command.arg(url).args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-F",
                    "\t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ]);
            }
        }
        command
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        let sql = match self.backend {
            Backend::Mysql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        };
        let _ = run(&mut self.command(None, &sql));
    }
}

/// `url` with its path (the database) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let base = match url[scheme_end..].find('/') {
        Some(slash) => &url[..scheme_end + slash],
        None => url,
    };
    format!("{base}/{name}")
}

/// A `[client]` option file for `mysql://user[:password]@host[:port]/db`.
fn mysql_defaults(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let (credentials, host_port) = authority.rsplit_once('@').unwrap_or(("root", authority));
    let (user, password) = credentials
        .split_once(':')
        .map_or((credentials, None), |(u, p)| (u, Some(p)));
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "3306"));
    let mut text = format!("[client]\nuser={user}\nhost={host}\nport={port}\nprotocol=tcp\n");
    if let Some(password) = password {
        text.push_str(&format!("password={password}\n"));
    }
    text
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ACME account talking to `mayfly-ca` over HTTPS (RFC 8555 JWS, ES256). Every request
/// carries the same `Host` (`host`), as behind a load balancer, so URLs the CA returns are
/// valid on every instance; [`AcmeClient::via`] picks the instance a request goes to.
#[derive(Debug)]
pub struct AcmeClient {
    host: String,
    provisioner: String,
    key: PrivateKey,
    /// The account URL, once registered.
    pub kid: Option<String>,
}

/// An ACME response: status, `Location`, `Replay-Nonce` and the JSON body.
#[derive(Debug)]
pub struct AcmeReply {
    /// The HTTP status.
    pub status: u16,
    /// The `Location` header.
    pub location: Option<String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The raw response.
    pub raw: Reply,
}

impl AcmeClient {
    /// A new account key for the ACME provisioner `provisioner`, addressing the CA as `host`.
    pub fn new(host: &str, provisioner: &str) -> Self {
        Self {
            host: host.to_owned(),
            provisioner: provisioner.to_owned(),
            key: PrivateKey::generate(KeyType::EcP256).expect("account key"),
            kid: None,
        }
    }

    /// `https://HOST/acme/PROVISIONER`.
    pub fn base(&self) -> String {
        format!("https://{}/acme/{}", self.host, self.provisioner)
    }

    /// The path (under the base) of a URL the CA returned.
    pub fn path_of(&self, url: &str) -> String {
        url.strip_prefix(&self.base())
            .unwrap_or_else(|| panic!("{url} is not under {}", self.base()))
            .to_owned()
    }

    fn raw(&self, via: &Https, method: &str, path: &str, body: &[u8]) -> Reply {
        let mut raw = format!(
            "{method} /acme/{}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/jose+json\r\nContent-Length: {}\r\n\r\n",
            self.provisioner,
            self.host,
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        via.send(&raw)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A fresh nonce from the instance `via`.
    pub fn nonce(&self, via: &Https) -> String {
        let reply = self.raw(via, "HEAD", "/new-nonce", b"");
        assert_eq!(reply.status, 200, "new-nonce: {}", reply.text());
        header(&reply, "replay-nonce").expect("Replay-Nonce")
    }

    /// POSTs `payload` (`None`: POST-as-GET) to `path` on `via` with `nonce`.
    pub fn post_with_nonce(
        &self,
        via: &Https,
        path: &str,
        payload: Option<&Value>,
        nonce: &str,
    ) -> AcmeReply {
        let url = format!("{}{path}", self.base());
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => protected["kid"] = json!(kid),
            None => {
                let jwk = Jwk::from_public_key(self.key.public_key()).expect("jwk");
                protected["jwk"] =
                    serde_json::from_str(&jwk.to_json().expect("jwk json")).expect("jwk is JSON");
            }
        }
        let protected = b64(protected.to_string().as_bytes());
        let payload = payload
            .map(|p| b64(p.to_string().as_bytes()))
            .unwrap_or_default();
        let signature = self
            .key
            .sign_jws(format!("{protected}.{payload}").as_bytes())
            .expect("sign the JWS");
        let body =
            json!({"protected": protected, "payload": payload, "signature": b64(&signature)});
        let raw = self.raw(via, "POST", path, body.to_string().as_bytes());
        AcmeReply {
            status: raw.status,
            location: header(&raw, "location"),
            json: raw.json().unwrap_or(Value::Null),
            raw,
        }
    }

    /// POSTs to `via` with a nonce fetched from `via`.
    pub fn post(&self, via: &Https, path: &str, payload: Option<&Value>) -> AcmeReply {
        let nonce = self.nonce(via);
        self.post_with_nonce(via, path, payload, &nonce)
    }

    /// `newAccount` on `via`; keeps the account URL.
    pub fn register(&mut self, via: &Https, nonce: &str) -> AcmeReply {
        let terms = json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@ha.test"]});
        let reply = self.post_with_nonce(via, "/new-account", Some(&terms), nonce);
        assert_eq!(reply.status, 201, "newAccount: {}", reply.json);
        self.kid.clone_from(&reply.location);
        reply
    }

    /// The key authorization of challenge `token` (RFC 8555 §8.1).
    pub fn key_authorization(&self, token: &str) -> String {
        let jwk = Jwk::from_public_key(self.key.public_key()).expect("jwk");
        mayfly_jwt::key_authorization(token, &jwk).expect("key authorization")
    }

    /// POST-as-GETs `path` on `via` until its status leaves pending/processing.
    pub fn poll(&self, via: &Https, path: &str) -> AcmeReply {
        for _ in 0..300 {
            let reply = self.post(via, path, None);
            let status = reply.json["status"].as_str().unwrap_or("");
            if status != "pending" && status != "processing" {
                return reply;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{path} stayed pending");
    }
}

/// A response header's value (names are lower case in [`Reply`]).
fn header(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            mysql_defaults("mysql://app:s3cret@db.example:3307/test"),
            "[client]\nuser=app\nhost=db.example\nport=3307\nprotocol=tcp\npassword=s3cret\n"
        );
        assert_eq!(
            mysql_defaults("mysql://root@127.0.0.1/test"),
            "[client]\nuser=root\nhost=127.0.0.1\nport=3306\nprotocol=tcp\n"
        );
    }
}

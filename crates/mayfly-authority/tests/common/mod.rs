//! A throwaway two-tier PKI with one JWK provisioner, as the authority tests need it.
#![allow(
    dead_code,
    reason = "each test file uses its own subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    reason = "test set-up: a failure is a test failure"
)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use mayfly_authority::config::CaConfig;
use mayfly_authority::{Authority, CaMaterial};
use mayfly_jwt::{Jwk, Operation, TokenClaims, mint_token};
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_store::{DbConfig, DbType, Store};
use mayfly_template::{
    CA_LIFETIME, Certificate, DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_ROOT_TEMPLATE, Issuer, San,
    TemplateData, ValidityPeriod, build_from_template, build_request,
};

/// The CA's name tokens must name in `aud`.
pub const CA_HOST: &str = "ca.example.com";

/// A test CA: the authority and the provisioner key that mints its tokens.
pub struct TestCa {
    pub authority: Authority,
    pub provisioner_key: PrivateKey,
    pub kid: String,
    pub root: Certificate,
    pub intermediate: Certificate,
    intermediate_key: PrivateKey,
    /// Provisioner "ops" as ca.json lists it, before test-specific fields.
    provisioner: serde_json::Value,
    dir: tempfile::TempDir,
}

fn ca_cert(name: &str, template: &str, key: &PrivateKey, issuer: Issuer<'_>) -> Certificate {
    let data = TemplateData::new(name, &[]).to_value();
    let validity = ValidityPeriod::starting_now(CA_LIFETIME);
    build_from_template(template, &data, key.public_key(), issuer, validity).unwrap()
}

/// Builds a CA whose ca.json authority block is `authority_json` with the provisioner
/// `"ops"` spliced in (`"provisioners": [PROVISIONER, ...extra]`).
pub async fn test_ca(authority_json: &str) -> TestCa {
    test_ca_with_provisioner(authority_json, &serde_json::json!({})).await
}

/// [`test_ca`] with the provisioner's `options` block set.
pub async fn test_ca_with_options(
    authority_json: &str,
    options: Option<serde_json::Value>,
) -> TestCa {
    let fields = options.map_or_else(
        || serde_json::json!({}),
        |options| serde_json::json!({ "options": options }),
    );
    test_ca_with_provisioner(authority_json, &fields).await
}

/// [`test_ca`] with `fields` (`claims`, `policy`, `options`, ...) added to the provisioner.
pub async fn test_ca_with_provisioner(authority_json: &str, fields: &serde_json::Value) -> TestCa {
    let dir = mayfly_testkit::temp_dir();
    let root_key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let root = ca_cert(
        "Test Root",
        DEFAULT_ROOT_TEMPLATE,
        &root_key,
        Issuer::SelfSigned(&root_key),
    );
    let intermediate_key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let intermediate = ca_cert(
        "Test Intermediate",
        DEFAULT_INTERMEDIATE_TEMPLATE,
        &intermediate_key,
        Issuer::Ca(&root, &root_key),
    );
    let provisioner_key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let jwk = Jwk::from_public_key(provisioner_key.public_key()).unwrap();
    let kid = jwk.thumbprint().unwrap();
    let public: serde_json::Value = serde_json::from_str(&jwk.to_json().unwrap()).unwrap();
    let provisioner = serde_json::json!({"type": "JWK", "name": "ops", "key": public, "encryptedKey": "not-a-real-jwe"});
    let config = ca_config(&provisioner, authority_json, fields, &serde_json::json!({}));
    let store = Store::open(&sqlite_db(dir.path())).await.unwrap();
    let material = ca_material(&root, &intermediate, &intermediate_key);
    TestCa {
        authority: Authority::from_parts(&config, material, store).unwrap(),
        provisioner_key,
        kid,
        root,
        intermediate,
        intermediate_key,
        provisioner,
        dir,
    }
}

/// The test CA's database in `dir`.
fn sqlite_db(dir: &Path) -> DbConfig {
    DbConfig::sqlite(&dir.join("db.sqlite"))
}

fn ca_material(root: &Certificate, intermediate: &Certificate, key: &PrivateKey) -> CaMaterial {
    CaMaterial::new(
        vec![root.clone()],
        vec![],
        intermediate.clone(),
        Box::new(key.clone()),
    )
    .unwrap()
}

/// See [`TestCa::config_with`].
fn ca_config(
    provisioner: &serde_json::Value,
    authority_json: &str,
    fields: &serde_json::Value,
    extra: &serde_json::Value,
) -> CaConfig {
    let mut provisioner = provisioner.clone();
    for (key, value) in fields.as_object().unwrap() {
        provisioner[key] = value.clone();
    }
    let authority = authority_json.replace("PROVISIONER", &provisioner.to_string());
    let mut config = serde_json::json!({
        "root": "root.crt", "crt": "int.crt", "key": "int.key", "address": "127.0.0.1:9000",
        "dnsNames": [CA_HOST],
        "authority": serde_json::from_str::<serde_json::Value>(&authority).unwrap(),
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    CaConfig::from_json(&config.to_string()).unwrap()
}
impl TestCa {
    /// ca.json for this CA: `authority_json` as the authority block, `PROVISIONER` in it
    /// standing for provisioner "ops" with `fields` added, and the top-level members of
    /// `extra` (such as `crl`).
    pub fn config_with(
        &self,
        authority_json: &str,
        fields: &serde_json::Value,
        extra: &serde_json::Value,
    ) -> CaConfig {
        ca_config(&self.provisioner, authority_json, fields, extra)
    }

    /// [`TestCa::config_with`] without extra provisioner fields or top-level members.
    pub fn config(&self, authority_json: &str) -> CaConfig {
        let none = serde_json::json!({});
        self.config_with(authority_json, &none, &none)
    }

    /// The SQLite database this CA's authority uses.
    pub fn db_config(&self) -> DbConfig {
        sqlite_db(self.dir.path())
    }

    /// Another authority of this CA (same keys and certificates) configured by `config`
    /// on `store`: a second instance when `store` is this CA's database.
    pub fn instance(&self, config: &CaConfig, store: Store) -> Authority {
        let material = ca_material(&self.root, &self.intermediate, &self.intermediate_key);
        Authority::from_parts(config, material, store).unwrap()
    }

    /// The issuer id keying this CA's CRL state in the store.
    pub fn issuer_id(&self) -> String {
        hex::encode(mayfly_template::subject_key_identifier(&self.intermediate).unwrap())
    }

    /// A token of provisioner "ops" for `subject` with `sans`, valid 5 minutes from `now`.
    pub fn token_at(
        &self,
        operation: Operation,
        subject: &str,
        sans: &[&str],
        now: SystemTime,
    ) -> String {
        let claims = TokenClaims::new("ops", subject, &operation.audience(CA_HOST), now)
            .with_sans(sans.iter().map(|s| (*s).to_owned()).collect());
        mint_token(&self.provisioner_key, &self.kid, &claims).unwrap()
    }

    /// A token for now.
    pub fn token(&self, operation: Operation, subject: &str, sans: &[&str]) -> String {
        self.token_at(operation, subject, sans, SystemTime::now())
    }
}

/// A CSR for a fresh P-256 key with this common name and SANs, and the key.
pub fn csr(common_name: &str, sans: &[&str]) -> (Vec<u8>, PrivateKey) {
    let key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let sans: Vec<San> = sans.iter().map(|s| San::guess(s)).collect();
    (build_request(common_name, &sans, &key).unwrap(), key)
}

/// Lifetime of a certificate.
pub fn lifetime(cert: &Certificate) -> Duration {
    let v = cert.tbs_certificate().validity();
    v.not_after.to_unix_duration() - v.not_before.to_unix_duration()
}

/// Writes a PEM file (for openssl).
pub fn write_pem(dir: &Path, name: &str, cert: &Certificate) -> std::path::PathBuf {
    mayfly_testkit::write_file(
        dir,
        name,
        mayfly_template::certificate_to_pem(cert).unwrap(),
    )
}

/// A fresh database on the MariaDB or PostgreSQL test server, dropped by [`ServerDb::drop`].
pub struct ServerDb {
    pub config: DbConfig,
}

/// Creates a fresh database on the `db_type` test server, or `None` (after a skip note; a
/// failure under CI=true) when the server is not reachable.
pub async fn fresh_server_db(db_type: DbType) -> Option<(ServerDb, Store)> {
    let url = match db_type {
        DbType::Mysql => mayfly_testkit::mysql_url(),
        _ => mayfly_testkit::postgres_url(),
    };
    let database = format!("mayfly_t_{}", hex::encode(mayfly_keys::random_bytes::<8>()));
    let config: DbConfig = serde_json::from_value(serde_json::json!({
        "type": <&str>::from(db_type), "dataSource": url, "database": database,
    }))
    .unwrap();
    match Store::open(&config).await {
        Ok(store) => Some((ServerDb { config }, store)),
        Err(e) => {
            mayfly_testkit::missing(&format!("the database server at {url} ({e})"));
            None
        }
    }
}

impl ServerDb {
    /// Drops the database.
    pub async fn drop(self) {
        use sqlx::{Connection as _, Executor as _};
        let name = self.config.database.unwrap();
        let base = self.config.data_source.rsplit_once('/').unwrap().0;
        let (admin, sql) = match self.config.db_type {
            DbType::Mysql => (format!("{base}/"), format!("DROP DATABASE `{name}`")),
            _ => (
                format!("{base}/postgres"),
                format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
            ),
        };
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    }
}

/// The serials a DER CRL lists, in the store's form (lower-case hex).
pub fn crl_serials(der: &[u8]) -> Vec<String> {
    use der::Decode as _;
    let crl =
        x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der).unwrap();
    crl.tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|entry| {
            let hex = hex::encode(entry.serial_number.as_bytes());
            mayfly_authority::parse_serial(&format!("0x{hex}")).unwrap()
        })
        .collect()
}

//! Test harness: a temporary two-tier PKI behind an Authority with ACME provisioners, a
//! small ACME client that signs JWS with mayfly-keys, and real challenge responders
//! (http-01 over TCP, a UDP DNS server for A and TXT records, tls-alpn-01 over TLS) on
//! 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, missing_docs, reason = "test harness")]

pub mod client;
pub mod flow;
pub mod https;
pub mod responders;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mayfly_acme::{AcmeOptions, AcmeService};
use mayfly_authority::config::CaConfig;
use mayfly_authority::{Authority, CaMaterial};
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_store::{DbConfig, Store};
use mayfly_template::{
    CA_LIFETIME, Certificate, DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_ROOT_TEMPLATE, Issuer,
    TemplateData, ValidityPeriod, build_from_template,
};

pub use client::Client;
pub use responders::Responders;

pub const BASE: &str = "https://ca.test:9000/acme";

pub struct Ca {
    pub service: AcmeService,
    pub authority: Arc<Authority>,
    pub root: Certificate,
    pub dir: tempfile::TempDir,
    pub responders: Arc<Responders>,
}

fn ca_cert(name: &str, template: &str, key: &PrivateKey, issuer: Issuer<'_>) -> Certificate {
    let data = TemplateData::new(name, &[]).to_value();
    let validity = ValidityPeriod::starting_now(CA_LIFETIME);
    build_from_template(template, &data, key.public_key(), issuer, validity).unwrap()
}

/// Which database the CA stores ACME state in.
pub enum Db {
    Sqlite,
    Postgres,
}

impl Ca {
    pub async fn new(db: Db) -> Self {
        Self::with_ports(db, None).await
    }

    /// A CA whose validation dials `ports` (http-01, tls-alpn-01) instead of the
    /// responders' (for clients that answer challenges themselves).
    pub async fn with_ports(db: Db, ports: Option<(u16, u16)>) -> Self {
        let dir = mayfly_testkit::temp_dir();
        let responders = Responders::start(dir.path()).await;
        let (http_port, tls_port) = ports.unwrap_or((responders.http_port, responders.tls_port));
        let root_key = PrivateKey::generate(KeyType::default()).unwrap();
        let root = ca_cert(
            "ACME Test Root",
            DEFAULT_ROOT_TEMPLATE,
            &root_key,
            Issuer::SelfSigned(&root_key),
        );
        let int_key = PrivateKey::generate(KeyType::default()).unwrap();
        let intermediate = ca_cert(
            "ACME Test Intermediate",
            DEFAULT_INTERMEDIATE_TEMPLATE,
            &int_key,
            Issuer::Ca(&root, &root_key),
        );
        let validation = serde_json::json!({
            "httpPort": http_port,
            "tlsAlpnPort": tls_port,
            "resolver": responders.dns_addr.unwrap().to_string(),
        });
        let config = serde_json::json!({
            "root": "unused-root.crt", "crt": "unused-int.crt", "key": "unused-int.key",
            "address": "127.0.0.1:9000", "dnsNames": ["ca.test"],
            "authority": {"policy": {"x509": {"allowWildcardNames": true}}, "provisioners": [
                {"type": "ACME", "name": "acme", "validation": validation,
                 "policy": {"x509": {"allowWildcardNames": true}}},
                {"type": "ACME", "name": "eab", "requireEAB": true, "validation": validation},
                {"type": "ACME", "name": "http-only", "challenges": ["http-01"], "validation": validation},
                // Names under allowed.test only: newOrder refuses the others.
                {"type": "ACME", "name": "restricted", "challenges": ["http-01"], "validation": validation,
                 "policy": {"x509": {"allow": {"dns": ["*.allowed.test"]}}}},
                // A template that would put the first identifier (an IP address here) in the CN.
                {"type": "ACME", "name": "ip-cn", "challenges": ["http-01"], "validation": validation,
                 "options": {"x509": {"template":
                    "{\"subject\": {\"commonName\": {{ toJson (index .SANs 0).value }}}, \"sans\": {{ toJson .SANs }}}"}}},
                // tls-alpn-01 against a responder that speaks TLS 1.2 only.
                {"type": "ACME", "name": "tls12", "challenges": ["tls-alpn-01"],
                 "validation": {"httpPort": http_port, "tlsAlpnPort": responders.tls12_port,
                                "resolver": responders.dns_addr.unwrap().to_string()}},
                // A template that writes one fixed common name, whatever the order holds.
                {"type": "ACME", "name": "fixed-cn", "challenges": ["http-01"], "validation": validation,
                 "options": {"x509": {"template":
                    "{\"subject\": {\"commonName\": \"fixed.example.test\"}, \"sans\": {{ toJson .SANs }}}"}}},
            ]},
        });
        let config = CaConfig::from_json(&config.to_string()).unwrap();
        let db_config: DbConfig = match db {
            Db::Sqlite => DbConfig::sqlite(&dir.path().join("acme.db")),
            Db::Postgres => serde_json::from_value(serde_json::json!({
                "type": "postgresql", "dataSource": mayfly_testkit::postgres_url()
            }))
            .unwrap(),
        };
        let store = Store::open(&db_config).await.unwrap();
        let material =
            CaMaterial::new(vec![root.clone()], vec![], intermediate, Box::new(int_key)).unwrap();
        let authority = Arc::new(Authority::from_parts(&config, material, store).unwrap());
        let mut options = AcmeOptions::from_store(authority.store()).await.unwrap();
        options.retry_delay = Duration::from_millis(200);
        options.validation_timeout = Duration::from_secs(3);
        Self {
            service: AcmeService::new(Arc::clone(&authority), options),
            authority,
            root,
            dir,
            responders,
        }
    }

    pub fn client(&self, provisioner: &str) -> Client {
        Client::new(
            self.service.clone(),
            provisioner,
            PrivateKey::generate(KeyType::default()).unwrap(),
        )
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

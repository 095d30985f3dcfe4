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
use mayfly_store::{DbConfig, Store};
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
    pub _dir: tempfile::TempDir,
}

fn ca_cert(name: &str, template: &str, key: &PrivateKey, issuer: Issuer<'_>) -> Certificate {
    let data = TemplateData::new(name, &[]).to_value();
    let validity = ValidityPeriod::starting_now(CA_LIFETIME);
    build_from_template(template, &data, key.public_key(), issuer, validity).unwrap()
}

/// Builds a CA whose ca.json authority block is `authority_json` with the provisioner
/// `"ops"` spliced in (`"provisioners": [PROVISIONER, ...extra]`).
pub async fn test_ca(authority_json: &str) -> TestCa {
    test_ca_with_options(authority_json, None).await
}

/// [`test_ca`] with the provisioner's `options` block set.
pub async fn test_ca_with_options(
    authority_json: &str,
    options: Option<serde_json::Value>,
) -> TestCa {
    let dir = mayfly_testkit::temp_dir();
    let root_key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let root = ca_cert(
        "Test Root",
        DEFAULT_ROOT_TEMPLATE,
        &root_key,
        Issuer::SelfSigned(&root_key),
    );
    let int_key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let intermediate = ca_cert(
        "Test Intermediate",
        DEFAULT_INTERMEDIATE_TEMPLATE,
        &int_key,
        Issuer::Ca(&root, &root_key),
    );
    let provisioner_key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let jwk = Jwk::from_public_key(provisioner_key.public_key()).unwrap();
    let kid = jwk.thumbprint().unwrap();
    let public: serde_json::Value = serde_json::from_str(&jwk.to_json().unwrap()).unwrap();
    let mut provisioner = serde_json::json!({"type": "JWK", "name": "ops", "key": public, "encryptedKey": "not-a-real-jwe"});
    if let Some(options) = options {
        provisioner["options"] = options;
    }
    let authority_json = authority_json.replace("PROVISIONER", &provisioner.to_string());
    let config = CaConfig::from_json(&format!(
        r#"{{"root": "root.crt", "crt": "int.crt", "key": "int.key", "address": "127.0.0.1:9000",
            "dnsNames": ["{CA_HOST}"], "authority": {authority_json}}}"#
    ))
    .unwrap();
    let ca = CaMaterial::new(
        vec![root.clone()],
        vec![],
        intermediate.clone(),
        Box::new(int_key),
    )
    .unwrap();
    let store = Store::open(&DbConfig::sqlite(&dir.path().join("db.sqlite")))
        .await
        .unwrap();
    let authority = Authority::from_parts(&config, ca, store).unwrap();
    TestCa {
        authority,
        provisioner_key,
        kid,
        root,
        intermediate,
        _dir: dir,
    }
}

impl TestCa {
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

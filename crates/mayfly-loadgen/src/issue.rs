//! `mayfly-loadgen issue N`: the in-process issuance path (token check, template, signature,
//! SQLite write) run N times in a row, for instruction counting under callgrind.

use mayfly_authority::config::CaConfig;
use mayfly_authority::{Authority, CaMaterial, SignRequest};
use mayfly_jwt::{Jwk, Operation};
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_store::{DbConfig, Store};
use mayfly_template::{
    CA_LIFETIME, Certificate, CertificateProfile, DEFAULT_INTERMEDIATE_TEMPLATE,
    DEFAULT_ROOT_TEMPLATE, Issuer, Template, TemplateData, ValidityPeriod, build_certificate,
};

use crate::Error;
use crate::pool::{Minter, csr_pool};

/// The host the in-process CA answers to (tokens name it in `aud`).
const CA_HOST: &str = "ca.bench.test";

/// A CA certificate from one of the default templates.
fn ca_certificate(
    name: &str,
    template: &str,
    key: &PrivateKey,
    issuer: Issuer<'_>,
) -> Result<Certificate, Error> {
    let data = TemplateData::new(name, &[]).to_value();
    let json = Template::parse(name, template)
        .and_then(|t| t.render(&data))
        .map_err(|e| Error::Config(format!("{name} template: {e}")))?;
    let profile = CertificateProfile::from_json(&json)?;
    Ok(build_certificate(
        &profile,
        key.public_key(),
        issuer,
        ValidityPeriod::starting_now(CA_LIFETIME),
    )?)
}

/// Builds a two-tier P-256 CA with one JWK provisioner and a SQLite store in `dir`.
async fn in_process_ca(dir: &std::path::Path) -> Result<(Authority, Minter), Error> {
    let root_key = PrivateKey::generate(KeyType::EcP256)?;
    let root = ca_certificate(
        "Bench Root",
        DEFAULT_ROOT_TEMPLATE,
        &root_key,
        Issuer::SelfSigned(&root_key),
    )?;
    let int_key = PrivateKey::generate(KeyType::EcP256)?;
    let intermediate = ca_certificate(
        "Bench Intermediate",
        DEFAULT_INTERMEDIATE_TEMPLATE,
        &int_key,
        Issuer::Ca(&root, &root_key),
    )?;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let jwk = Jwk::from_public_key(key.public_key()).map_err(mayfly_jwt::Error::from)?;
    let kid = jwk.thumbprint().map_err(mayfly_jwt::Error::from)?;
    let public = jwk.to_json().map_err(mayfly_jwt::Error::from)?;
    let config = CaConfig::from_json(&format!(
        r#"{{"root": "root.crt", "crt": "int.crt", "key": "int.key", "address": "127.0.0.1:9000",
            "dnsNames": ["{CA_HOST}"], "authority": {{"provisioners": [
            {{"type": "JWK", "name": "bench", "key": {}, "encryptedKey": "unused"}}]}}}}"#,
        public.as_str()
    ))
    .map_err(|(path, e)| Error::Config(format!("{path}: {e}")))?;
    let material = CaMaterial::new(vec![root], vec![], intermediate, Box::new(int_key))?;
    let store = Store::open(&DbConfig::sqlite(&dir.join("bench.db"))).await?;
    let authority = Authority::from_parts(&config, material, store)?;
    let minter = Minter {
        key,
        kid,
        issuer: "bench".into(),
        audience: Operation::Sign.audience(CA_HOST),
    };
    Ok((authority, minter))
}

/// Mints a token and issues a certificate `count` times, one after the other.
pub fn run(count: usize) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io(std::path::Path::new("tokio runtime"), e))?;
    let dir = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), e))?;
    runtime.block_on(async {
        let (authority, minter) = in_process_ca(dir.path()).await?;
        let csrs = csr_pool(16)?;
        for i in 0..count {
            let csr = &csrs[i % csrs.len()];
            let request = SignRequest {
                csr_der: csr.der.clone(),
                token: minter.token(&csr.name)?,
                ..SignRequest::default()
            };
            authority.sign(request).await?;
        }
        Ok(())
    })
}

//! Embedding the CA: open an authority from a `mayfly-ca init` folder and issue a certificate
//! in-process, with no server in between.
//!
//! ```sh
//! mayfly-ca init --path /tmp/pki --name "Example CA" --dns localhost --provisioner ops
//! cargo run -p mayfly-authority --example embedded_ca -- /tmp/pki
//! ```
//!
//! It reads `config/ca.json`, the CA password from `secrets/password.txt` and the provisioner
//! password from `secrets/provisioner_password.txt` (the files `init` generates), mints a
//! one-time token with the first JWK provisioner's key, signs a CSR for `embedded.local`
//! and prints the certificate.

use std::error::Error;
use std::path::PathBuf;
use std::time::SystemTime;

use mayfly_authority::config::{CaConfig, ProvisionerConfig};
use mayfly_authority::{Authority, SignRequest};
use mayfly_jwt::{Operation, TokenClaims, decrypt_jwk, mint_token};
use mayfly_keys::{KeyType, Password, PrivateKey};
use mayfly_template::{San, build_request, certificate_to_pem};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let folder = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: embedded_ca <mayfly-ca init folder>")?,
    );
    let config = CaConfig::load(&folder.join("config/ca.json"))?;
    let ca_password = Password::from_file(&folder.join("secrets/password.txt"))?;
    let authority = Authority::open(&config, Some(&ca_password)).await?;

    // The provisioner's own key, as a client holding its password would use it.
    let Some(ProvisionerConfig::Jwk(provisioner)) = config.authority.provisioners.first() else {
        return Err("the first provisioner is not a JWK provisioner".into());
    };
    let encrypted = provisioner
        .encrypted_key
        .as_deref()
        .ok_or("the provisioner has no encrypted key")?;
    let provisioner_password =
        Password::from_file(&folder.join("secrets/provisioner_password.txt"))?;
    let jwk = decrypt_jwk(encrypted, &provisioner_password)?;
    let kid = jwk.thumbprint()?;
    let signing_key = jwk.to_private_key()?;

    let name = "embedded.local";
    let host = config.dns_names.first().ok_or("ca.json has no dnsNames")?;
    let claims = TokenClaims::new(
        &provisioner.name,
        name,
        &Operation::Sign.audience(host),
        SystemTime::now(),
    );
    let token = mint_token(&signing_key, &kid, &claims)?;

    let key = PrivateKey::generate(KeyType::EcP256)?;
    let csr_der = build_request(name, &[San::Dns(name.into())], &key)?;
    let issued = authority
        .sign(SignRequest {
            csr_der,
            token,
            ..SignRequest::default()
        })
        .await?;
    println!("issued serial {} to {name}", issued.serial);
    print!("{}", certificate_to_pem(&issued.certificate)?);
    Ok(())
}

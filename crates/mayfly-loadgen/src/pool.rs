//! What both subcommands need: a pool of CSRs and a provisioner that mints tokens for them.

use std::time::SystemTime;

use mayfly_jwt::{TokenClaims, mint_token};
use mayfly_keys::{KeyType, PrivateKey};
use mayfly_template::{San, build_request};

use crate::Error;

/// One CSR of the pool: the name it asks for and its DER.
pub struct PooledCsr {
    /// The common name and only SAN.
    pub name: String,
    /// The CSR, DER.
    pub der: Vec<u8>,
}

/// `size` CSRs for fresh P-256 keys named `leaf{i}.bench.test` (as the cfssl pool is).
pub fn csr_pool(size: usize) -> Result<Vec<PooledCsr>, Error> {
    (1..=size)
        .map(|i| {
            let name = format!("leaf{i}.bench.test");
            let key = PrivateKey::generate(KeyType::EcP256)?;
            let der = build_request(&name, &[San::guess(&name)], &key)?;
            Ok(PooledCsr { name, der })
        })
        .collect()
}

/// A JWK provisioner's private key and the names a token needs.
pub struct Minter {
    /// The provisioner key.
    pub key: PrivateKey,
    /// Its `kid` (RFC 7638 thumbprint).
    pub kid: String,
    /// The provisioner name (`iss`).
    pub issuer: String,
    /// The sign audience, `https://HOST[:PORT]/1.0/sign`.
    pub audience: String,
}

impl Minter {
    /// A one-time sign token for `name`, valid for five minutes from now.
    pub fn token(&self, name: &str) -> Result<String, Error> {
        let claims = TokenClaims::new(&self.issuer, name, &self.audience, SystemTime::now())
            .with_sans(vec![name.to_owned()]);
        mint_token(&self.key, &self.kid, &claims).map_err(|e| mayfly_jwt::Error::from(e).into())
    }
}

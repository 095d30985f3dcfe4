//! JOSE for Mayfly: one-time tokens (mint and validate), password-encrypted provisioner keys
//! (JWK in a PBES2 JWE) and the JWS of ACME (RFC 8555).
//!
//! - [`Jwk`] converts to and from mayfly-keys' [`PrivateKey`](mayfly_keys::PrivateKey) and
//!   [`PublicKey`](mayfly_keys::PublicKey); its `kid` is the RFC 7638 thumbprint, as step-ca
//!   sets it.
//! - [`encrypt_jwk`] / [`decrypt_jwk`] store the private JWK as step does (compact JWE,
//!   PBES2-HS256+A128KW, A256GCM, p2c 600,000) and read every step serialization; a `p2c`
//!   outside 1,000..=10,000,000 is refused before any work.
//! - [`mint_token`] signs a token through any [`Signer`](mayfly_keys::Signer) (software or HSM);
//!   [`TokenValidator`] runs every check in a fixed order, each failure its own
//!   [`TokenError`] variant, and [`TokenReplay`] refuses a second use of a `jti`.
//! - [`AcmeJws`] and [`verify_eab`] check ACME requests and external account bindings;
//!   [`key_authorization`] builds `token.thumbprint`.
//!
//! ```
//! use std::time::SystemTime;
//! use mayfly_jwt::{CaAddresses, Jwk, Operation, ProvisionerKey, Provisioners, TokenClaims,
//!                  TokenValidator, ValidationContext, mint_token};
//! use mayfly_keys::{KeyType, PrivateKey};
//!
//! // A provisioner key, published as a JWK.
//! let key = PrivateKey::generate(KeyType::EcP256)?;
//! let jwk = Jwk::from_public_key(mayfly_keys::Signer::public_key(&key))?;
//! let kid = jwk.kid.clone().unwrap_or_default();
//!
//! // The client mints a token for `sign` on ca.example.com:9000 ...
//! let audience = Operation::Sign.audience("ca.example.com:9000");
//! let claims = TokenClaims::new("ops", "host.example.com", &audience, SystemTime::now());
//! let token = mint_token(&key, &kid, &claims)?;
//!
//! // ... and the CA validates it.
//! let mut provisioners = Provisioners::new();
//! provisioners.insert("ops", &kid, ProvisionerKey::from_jwk(&jwk)?);
//! let ctx = ValidationContext::new(Operation::Sign, CaAddresses::new(["ca.example.com"]));
//! let validated = TokenValidator::new(&provisioners).validate(&token, &ctx)?;
//! assert_eq!(validated.sans, ["host.example.com"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod acme;
mod b64;
mod error;
mod jwe;
mod jwk;
mod token;
mod validate;

pub use acme::{AcmeHeader, AcmeJws, AcmeKey, MAX_ACME_JWS_LEN, verify_eab};
pub use error::{Error, JweError, JwkError, JwsError, TokenError};
pub use jwe::{
    ContentEncryption, DEFAULT_P2C, MAX_P2C, MIN_P2C, Pbes2Options, compact_to_json, decrypt_jwk,
    decrypt_pbes2, encrypt_jwk, encrypt_pbes2, new_provisioner_key,
};
pub use jwk::{Jwk, jwk_thumbprint, key_authorization};
pub use token::{
    Audience, DEFAULT_TOKEN_LIFETIME, Operation, TokenClaims, decode_unverified, mint_token,
};
pub use validate::{
    CaAddresses, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, KeyLookup, MemoryReplay, ProvisionerKey,
    ProvisionerKeys, Provisioners, ReplayError, TokenReplay, TokenValidator, ValidatedClaims,
    ValidationContext, validate_x5c,
};

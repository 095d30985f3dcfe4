//! The aws-lc-rs signing and verification backend (feature `aws-lc`).
//!
//! Keys are still parsed, generated and written by the RustCrypto crates; only the
//! arithmetic runs in aws-lc, which `benches/sign_verify.rs` measures at several times the
//! pure-Rust speed for P-256, P-384 and RSA. ECDSA nonces are random here (aws-lc), where the
//! pure-Rust path uses RFC 6979: both give valid, interchangeable signatures.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, UnparsedPublicKey};

use crate::{KeyError, KeyType, PublicKey, SignatureAlgorithm};

/// A private key loaded into aws-lc.
pub(crate) enum FastKey {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl FastKey {
    /// Loads an unencrypted PKCS#8 key; `None` when aws-lc refuses it (the pure-Rust path is
    /// then used).
    pub(crate) fn from_pkcs8(key_type: KeyType, der: &[u8]) -> Option<Self> {
        match key_type {
            KeyType::EcP256 => {
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der)
                    .ok()
                    .map(Self::Ecdsa)
            }
            KeyType::EcP384 => {
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, der)
                    .ok()
                    .map(Self::Ecdsa)
            }
            KeyType::Ed25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .ok()
                .map(Self::Ed25519),
            KeyType::Rsa(_) => RsaKeyPair::from_pkcs8(der).ok().map(Self::Rsa),
        }
    }

    /// Signs with the key's default algorithm, returning the X.509 encoding.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Signing("aws-lc refused to sign".into());
        let rng = SystemRandom::new();
        match self {
            Self::Ecdsa(key) => Ok(key.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            Self::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
            Self::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
        }
    }
}

/// Verifies with aws-lc. The caller has checked that `algorithm` fits `public`.
pub(crate) fn verify(
    public: &PublicKey,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), KeyError> {
    let algorithm: &'static dyn signature::VerificationAlgorithm = match algorithm {
        SignatureAlgorithm::EcdsaSha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureAlgorithm::EcdsaSha384 => &signature::ECDSA_P384_SHA384_ASN1,
        SignatureAlgorithm::Ed25519 => &signature::ED25519,
        SignatureAlgorithm::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureAlgorithm::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
    };
    let key = public_key_bytes(public)?;
    UnparsedPublicKey::new(algorithm, key)
        .verify(message, signature)
        .map_err(|_| KeyError::BadSignature)
}

/// The key in the form aws-lc takes: SEC1 point, raw Ed25519 key, PKCS#1 `RSAPublicKey`.
fn public_key_bytes(public: &PublicKey) -> Result<Vec<u8>, KeyError> {
    Ok(match public {
        PublicKey::EcP256(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        PublicKey::EcP384(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        PublicKey::Ed25519(k) => k.as_bytes().to_vec(),
        PublicKey::Rsa(k) => pkcs1::EncodeRsaPublicKey::to_pkcs1_der(k)
            .map_err(|e| KeyError::Malformed(format!("RSA public key: {e}")))?
            .into_vec(),
    })
}

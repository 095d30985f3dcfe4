//! Keys for Mayfly: generation, encoding and the [`Signer`]/[`Verifier`] traits that the
//! certificate, CRL, OCSP and token builders all sign and verify through.
//!
//! A [`PrivateKey`] is a software key (ECDSA P-256 by default, P-384, Ed25519, RSA 2048-4096);
//! it implements [`Signer`], which is object-safe so an HSM-backed key can stand in its place.
//! Signatures come in the encoding X.509 carries; [`Signer::sign_jws`] and
//! [`PublicKey::verify_jws`] speak JOSE's fixed-size ECDSA form.
//!
//! ```
//! use mayfly_keys::{KeyType, PrivateKey, Signer, Verifier};
//!
//! let key = PrivateKey::generate(KeyType::default())?;
//! let signature = key.sign(b"to be signed")?;
//! key.public_key().verify(key.algorithm(), b"to be signed", &signature)?;
//! assert!(key.public_key().verify(key.algorithm(), b"tampered", &signature).is_err());
//! # Ok::<(), mayfly_keys::KeyError>(())
//! ```

mod algorithm;
mod encoding;
mod error;
mod public;
mod rng;
mod signer;
mod software;

pub use algorithm::{ID_ED25519, KeyType, SignatureAlgorithm};
pub use encoding::{jws_signature_to_x509, x509_signature_to_jws};
pub use error::KeyError;
pub use public::{MIN_RSA_BITS, PublicKey};
pub use rng::{fill_random, os_rng, random_bytes};
pub use signer::{Signer, Verifier};
pub use software::PrivateKey;

use const_oid::ObjectIdentifier;

/// id-ecPublicKey (RFC 5480).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / prime256v1 (RFC 5480).
pub const ID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 (RFC 5480).
pub const ID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// rsaEncryption (RFC 8017).
pub const ID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

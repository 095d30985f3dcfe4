//! Keys for Mayfly: generation, key files, passwords, and the [`Signer`]/[`Verifier`] traits
//! that the certificate, CRL, OCSP and token builders all sign and verify through.
//!
//! - A [`PrivateKey`] is a software key (ECDSA P-256 by default, P-384, Ed25519, RSA
//!   2048-4096). A [`Pkcs11Signer`] is a key inside an HSM. Both implement [`Signer`], which is
//!   object-safe; [`load_signer`] opens either from a file path or a `pkcs11:` URI.
//! - Key files: [`read_private_key_pem`] reads PKCS#8 (plain or PBES2-encrypted), SEC1, PKCS#1
//!   (as PEM or bare DER) and OpenSSL's legacy `Proc-Type` encryption; [`write_private_key_pem`]
//!   writes PKCS#8, encrypted with PBKDF2-HMAC-SHA256 and AES-CBC when given a [`Password`];
//!   [`change_password`] re-encrypts; [`write_secret_file`] stores atomically with mode 0600.
//! - A [`Password`] comes from a file, a terminal prompt or [`Password::generate`], never from
//!   the environment, and is zeroized on drop.
//! - Signatures come in the encoding X.509 carries; [`Signer::sign_jws`] and
//!   [`PublicKey::verify_jws`] speak JOSE's fixed-size ECDSA form.
//! - With the `aws-lc` feature, software keys sign and verify through aws-lc-rs.
//!
//! ```
//! use mayfly_keys::{Cipher, KeyType, Password, PrivateKey, Signer, Verifier};
//!
//! let key = PrivateKey::generate(KeyType::default())?;
//! let signature = key.sign(b"to be signed")?;
//! key.public_key().verify(key.algorithm(), b"to be signed", &signature)?;
//! assert!(key.public_key().verify(key.algorithm(), b"tampered", &signature).is_err());
//!
//! let password = Password::generate();
//! let pem = mayfly_keys::write_private_key_pem(&key, Some(&password), Cipher::default())?;
//! let again = mayfly_keys::read_private_key_pem(pem.as_bytes(), Some(&password))?;
//! assert_eq!(again.public_key(), key.public_key());
//! # Ok::<(), mayfly_keys::KeyError>(())
//! ```

#![forbid(unsafe_code)]

mod algorithm;
mod encoding;
mod error;
#[cfg(feature = "aws-lc")]
mod fast;
mod file;
mod legacy;
mod load;
mod password;
mod pem;
mod pkcs11;
mod public;
mod rng;
mod signer;
mod software;

pub use algorithm::{ID_ED25519, KeyType, SignatureAlgorithm};
pub use encoding::{jws_signature_to_x509, x509_signature_to_jws};
pub use error::KeyError;
pub use file::{read_private_key_file, write_public_file, write_secret_file};
pub use load::load_signer;
pub use password::Password;
pub use pem::{
    Cipher, PBKDF2_ITERATIONS, change_password, encryption_cipher, read_private_key_pem,
    write_private_key_pem,
};
pub use pkcs11::{Pkcs11Location, Pkcs11Signer};
pub use public::{MIN_RSA_BITS, PublicKey};
pub use rng::{fill_random, os_rng, random_bytes};
pub use signer::{Signer, Verifier};
pub use software::{PrivateKey, PssSigner};

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

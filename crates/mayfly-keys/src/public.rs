//! Public keys: parsing SubjectPublicKeyInfo, verifying signatures, fingerprints.

use der::Decode;
use sha2::{Digest, Sha256};
use signature::Verifier as _;
use signature::hazmat::PrehashVerifier as _;
use spki::{DecodePublicKey, EncodePublicKey, SubjectPublicKeyInfoOwned};

use crate::{KeyError, KeyType, SignatureAlgorithm, Verifier};

/// A public key of one of the supported types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    EcP256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384.
    EcP384(p384::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA (2048 bits or more).
    Rsa(rsa::PublicKey),
}

/// The smallest RSA modulus Mayfly accepts anywhere.
pub const MIN_RSA_BITS: usize = 2048;

impl PublicKey {
    /// Parses a DER `SubjectPublicKeyInfo`, refusing unknown algorithms and curves and RSA keys
    /// under 2048 bits.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Malformed(format!("SubjectPublicKeyInfo: {e}")))?;
        let oid = spki.algorithm.oid;
        let malformed = |e: spki::Error| KeyError::Malformed(format!("{oid} public key: {e}"));
        match oid {
            crate::ID_EC_PUBLIC_KEY => {
                let curve = spki.algorithm.parameters_oid().map_err(|_| {
                    KeyError::Malformed("EC public key without a named curve".into())
                })?;
                match curve {
                    crate::ID_P256 => Ok(Self::EcP256(
                        p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(malformed)?,
                    )),
                    crate::ID_P384 => Ok(Self::EcP384(
                        p384::ecdsa::VerifyingKey::from_public_key_der(der).map_err(malformed)?,
                    )),
                    other => Err(KeyError::UnsupportedAlgorithm(format!("EC curve {other}"))),
                }
            }
            crate::ID_ED25519 => Ok(Self::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(malformed)?,
            )),
            crate::ID_RSA_ENCRYPTION => {
                let key = rsa::PublicKey::from_public_key_der(der).map_err(malformed)?;
                check_rsa_size(rsa::traits::PublicKeyParts::n_bits_precision(&key))?;
                check_rsa_exponent(&key)?;
                Ok(Self::Rsa(key))
            }
            other => Err(KeyError::UnsupportedAlgorithm(format!(
                "public key algorithm {other}"
            ))),
        }
    }

    /// Parses a PEM `PUBLIC KEY` block.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|e| KeyError::Malformed(format!("PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::Malformed(format!(
                "expected a PUBLIC KEY PEM block, found {label}"
            )));
        }
        Self::from_spki_der(&der)
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        let doc = match self {
            Self::EcP256(k) => k.to_public_key_der(),
            Self::EcP384(k) => k.to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
            Self::Rsa(k) => k.to_public_key_der(),
        }
        .map_err(|e| KeyError::Malformed(format!("encoding public key: {e}")))?;
        Ok(doc.into_vec())
    }

    /// The `SubjectPublicKeyInfo` as x509-cert builders take it.
    pub fn to_spki(&self) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
        SubjectPublicKeyInfoOwned::from_der(&self.to_spki_der()?)
            .map_err(|e| KeyError::Malformed(format!("public key: {e}")))
    }

    /// The PEM `PUBLIC KEY` encoding.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &self.to_spki_der()?)
            .map_err(|e| KeyError::Malformed(format!("PEM: {e}")))
    }

    /// The bytes of the `subjectPublicKey` BIT STRING (what RFC 5280 key identifiers hash).
    pub fn subject_public_key_bytes(&self) -> Result<Vec<u8>, KeyError> {
        let spki = self.to_spki()?;
        spki.subject_public_key
            .as_bytes()
            .map(<[u8]>::to_vec)
            .ok_or_else(|| KeyError::Malformed("public key bit string is not octet-aligned".into()))
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            Self::EcP256(_) => KeyType::EcP256,
            Self::EcP384(_) => KeyType::EcP384,
            Self::Ed25519(_) => KeyType::Ed25519,
            Self::Rsa(k) => KeyType::Rsa(rsa::traits::PublicKeyParts::n_bits_precision(k) as usize),
        }
    }

    /// SHA-256 of the DER `SubjectPublicKeyInfo` (hex), handy for logs and pinning.
    pub fn fingerprint_sha256(&self) -> Result<String, KeyError> {
        let der = self.to_spki_der()?;
        Ok(hex_lower(&Sha256::digest(der)))
    }

    /// Verifies a JWS-encoded signature (ECDSA as fixed-size `r || s`).
    pub fn verify_jws(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        let x509 = crate::encoding::jws_signature_to_x509(algorithm, signature)
            .map_err(|_| KeyError::BadSignature)?;
        self.verify(algorithm, message, &x509)
    }

    fn mismatch(&self, algorithm: SignatureAlgorithm) -> KeyError {
        KeyError::AlgorithmMismatch {
            algorithm: algorithm.to_string(),
            key: self.key_type().to_string(),
        }
    }
}

impl Verifier for PublicKey {
    fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        #[cfg(feature = "aws-lc")]
        if algorithm.fits(self.key_type()) {
            return crate::fast::verify(self, algorithm, message, signature);
        }
        let bad = |_| KeyError::BadSignature;
        match (self, algorithm) {
            (Self::EcP256(k), SignatureAlgorithm::EcdsaSha256) => {
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(bad)?;
                k.verify(message, &sig).map_err(bad)
            }
            (Self::EcP384(k), SignatureAlgorithm::EcdsaSha384) => {
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(bad)?;
                k.verify(message, &sig).map_err(bad)
            }
            (Self::Ed25519(k), SignatureAlgorithm::Ed25519) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(bad)?;
                k.verify_strict(message, &sig).map_err(bad)
            }
            (Self::Rsa(k), SignatureAlgorithm::RsaPkcs1Sha256) => {
                let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone());
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
                key.verify(message, &sig).map_err(bad)
            }
            (Self::Rsa(k), SignatureAlgorithm::RsaPssSha256) => {
                let key = rsa::pss::VerifyingKey::<Sha256>::new(k.clone());
                let sig = rsa::pss::Signature::try_from(signature).map_err(bad)?;
                key.verify(message, &sig).map_err(bad)
            }
            // X.509 allows any SHA-2 with any curve (RFC 5758); OpenSSL signs P-384 CSRs with
            // SHA-256 by default. (JOSE pins the hash to the curve: `fits` keeps that strict.)
            (Self::EcP384(k), SignatureAlgorithm::EcdsaSha256) => {
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(bad)?;
                k.verify_prehash(&Sha256::digest(message), &sig)
                    .map_err(bad)
            }
            (Self::EcP256(k), SignatureAlgorithm::EcdsaSha384) => {
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(bad)?;
                k.verify_prehash(&sha2::Sha384::digest(message), &sig)
                    .map_err(bad)
            }
            _ => Err(self.mismatch(algorithm)),
        }
    }
}

pub(crate) fn check_rsa_size(bits: u32) -> Result<(), KeyError> {
    if (bits as usize) < MIN_RSA_BITS {
        Err(KeyError::UnsupportedAlgorithm(format!(
            "RSA-{bits} is too small: at least {MIN_RSA_BITS} bits are required"
        )))
    } else {
        Ok(())
    }
}

/// Refuses small or even RSA public exponents (e = 3 invites the classic low-exponent
/// attacks; every modern key uses 65537).
fn check_rsa_exponent(key: &rsa::PublicKey) -> Result<(), KeyError> {
    let e = rsa::traits::PublicKeyParts::e(key).to_be_bytes();
    let start = e.iter().position(|&b| b != 0).unwrap_or(e.len());
    let e = &e[start..];
    let small = e.len() < 3 || (e.len() == 3 && u32::from_be_bytes([0, e[0], e[1], e[2]]) < 65_537);
    if small || e.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::UnsupportedAlgorithm(
            "an RSA public exponent below 65537 (or even) is refused".into(),
        ));
    }
    Ok(())
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

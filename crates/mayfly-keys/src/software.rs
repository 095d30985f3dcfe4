//! Software keys: generated in memory, stored as PKCS#8.

use std::fmt;

use p256::elliptic_curve::Generate;
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha2::Sha256;
use signature::{RandomizedSigner, Signer as _};
use zeroize::Zeroizing;

use crate::{KeyError, KeyType, PublicKey, SignatureAlgorithm, Signer};

/// A private key held in memory. Zeroized on drop by the underlying types; `Debug` shows only
/// the key type.
#[derive(Clone)]
pub struct PrivateKey {
    inner: Inner,
    public: PublicKey,
    /// The same key loaded into aws-lc, which then does the signing.
    #[cfg(feature = "aws-lc")]
    fast: Option<std::sync::Arc<crate::fast::FastKey>>,
}

#[derive(Clone)]
enum Inner {
    EcP256(p256::ecdsa::SigningKey),
    EcP384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(rsa::PrivateKey),
}

impl PrivateKey {
    /// Generates a fresh key of `key_type` from the OS RNG.
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let mut rng = crate::os_rng();
        let inner = match key_type {
            KeyType::EcP256 => Inner::EcP256(p256::ecdsa::SigningKey::generate_from_rng(&mut rng)),
            KeyType::EcP384 => Inner::EcP384(p384::ecdsa::SigningKey::generate_from_rng(&mut rng)),
            KeyType::Ed25519 => Inner::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            KeyType::Rsa(bits) => {
                KeyType::rsa(bits)?;
                Inner::Rsa(
                    rsa::PrivateKey::new(&mut rng, bits)
                        .map_err(|e| KeyError::Signing(format!("RSA key generation: {e}")))?,
                )
            }
        };
        Ok(Self::from_inner(inner))
    }

    fn from_inner(inner: Inner) -> Self {
        let public = match &inner {
            Inner::EcP256(k) => PublicKey::EcP256(*k.verifying_key()),
            Inner::EcP384(k) => PublicKey::EcP384(*k.verifying_key()),
            Inner::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            Inner::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        };
        #[cfg_attr(
            not(feature = "aws-lc"),
            expect(unused_mut, reason = "set only with aws-lc")
        )]
        let mut key = Self {
            inner,
            public,
            #[cfg(feature = "aws-lc")]
            fast: None,
        };
        #[cfg(feature = "aws-lc")]
        {
            key.fast = key
                .to_pkcs8_der()
                .ok()
                .and_then(|der| crate::fast::FastKey::from_pkcs8(key.key_type(), &der))
                .map(std::sync::Arc::new);
        }
        key
    }

    /// Reads an unencrypted DER PKCS#8 `PrivateKeyInfo` (RFC 5958 v1 or v2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Malformed(format!("PKCS#8: {e}")))?;
        let oid = info.algorithm.oid;
        let malformed = |e: pkcs8::Error| KeyError::Malformed(format!("PKCS#8 {oid} key: {e}"));
        let inner = match oid {
            crate::ID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| KeyError::Malformed("EC key without a named curve".into()))?;
                match curve {
                    crate::ID_P256 => Inner::EcP256(
                        p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(malformed)?,
                    ),
                    crate::ID_P384 => Inner::EcP384(
                        p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(malformed)?,
                    ),
                    other => {
                        return Err(KeyError::UnsupportedAlgorithm(format!("EC curve {other}")));
                    }
                }
            }
            crate::ID_ED25519 => {
                Inner::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(malformed)?)
            }
            crate::ID_RSA_ENCRYPTION => {
                let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(malformed)?;
                Self::check_rsa(key)?
            }
            other => {
                return Err(KeyError::UnsupportedAlgorithm(format!(
                    "private key algorithm {other}"
                )));
            }
        };
        Ok(Self::from_inner(inner))
    }

    fn check_rsa(key: rsa::PrivateKey) -> Result<Inner, KeyError> {
        crate::public::check_rsa_size(rsa::traits::PublicKeyParts::n_bits_precision(&key))?;
        Ok(Inner::Rsa(key))
    }

    /// Reads a DER SEC1 `ECPrivateKey` (PEM `EC PRIVATE KEY`) on P-256 or P-384.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = sec1::EcPrivateKey::try_from(der)
            .map_err(|e| KeyError::Malformed(format!("SEC1 EC key: {e}")))?;
        let curve = key
            .parameters
            .and_then(sec1::EcParameters::named_curve)
            .ok_or_else(|| KeyError::Malformed("SEC1 EC key without a named curve".into()))?;
        let malformed = |e: ecdsa::Error| KeyError::Malformed(format!("SEC1 EC key: {e}"));
        match curve {
            crate::ID_P256 => Ok(Self::from_p256(
                p256::ecdsa::SigningKey::from_slice(key.private_key).map_err(malformed)?,
            )),
            crate::ID_P384 => Ok(Self::from_p384(
                p384::ecdsa::SigningKey::from_slice(key.private_key).map_err(malformed)?,
            )),
            other => Err(KeyError::UnsupportedAlgorithm(format!("EC curve {other}"))),
        }
    }

    /// Wraps a P-256 key read from another format (SEC1, legacy PEM).
    pub fn from_p256(key: p256::ecdsa::SigningKey) -> Self {
        Self::from_inner(Inner::EcP256(key))
    }

    /// Wraps a P-384 key read from another format (SEC1, legacy PEM).
    pub fn from_p384(key: p384::ecdsa::SigningKey) -> Self {
        Self::from_inner(Inner::EcP384(key))
    }

    /// Wraps an RSA key read from another format (PKCS#1), refusing keys under 2048 bits.
    pub fn from_rsa(key: rsa::PrivateKey) -> Result<Self, KeyError> {
        Ok(Self::from_inner(Self::check_rsa(key)?))
    }

    /// The unencrypted DER PKCS#8 (RFC 5208 v1) encoding, zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = match &self.inner {
            Inner::EcP256(k) => k.to_pkcs8_der(),
            Inner::EcP384(k) => k.to_pkcs8_der(),
            Inner::Ed25519(k) => k.to_pkcs8_der(),
            Inner::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Malformed(format!("encoding PKCS#8: {e}")))?;
        // Write RFC 5208 v1 (no public key field): OpenSSL 3.0 refuses ed25519-dalek's v2.
        let mut info = pkcs8::PrivateKeyInfoRef::try_from(doc.as_bytes())
            .map_err(|e| KeyError::Malformed(format!("encoding PKCS#8: {e}")))?;
        info.public_key = None;
        let der = der::Encode::to_der(&info)
            .map_err(|e| KeyError::Malformed(format!("encoding PKCS#8: {e}")))?;
        Ok(Zeroizing::new(der))
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }
}

impl Signer for PrivateKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.key_type().default_signature_algorithm()
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        #[cfg(feature = "aws-lc")]
        if let Some(fast) = &self.fast {
            return fast.sign(message);
        }
        let failed = |e: signature::Error| KeyError::Signing(e.to_string());
        Ok(match &self.inner {
            Inner::EcP256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            Inner::EcP384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(message).map_err(failed)?;
                sig.to_der().as_bytes().to_vec()
            }
            Inner::Ed25519(k) => k.try_sign(message).map_err(failed)?.to_bytes().to_vec(),
            Inner::Rsa(k) => {
                let key = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.clone());
                let sig = key.try_sign(message).map_err(failed)?;
                signature::SignatureEncoding::to_vec(&sig)
            }
        })
    }
}

impl PrivateKey {
    /// Signs with RSASSA-PSS (SHA-256), for JOSE `PS256`. Only RSA keys can.
    pub fn sign_pss(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let Inner::Rsa(k) = &self.inner else {
            return Err(KeyError::AlgorithmMismatch {
                algorithm: "PS256".into(),
                key: self.key_type().to_string(),
            });
        };
        let key = rsa::pss::SigningKey::<Sha256>::new(k.clone());
        let sig = key
            .try_sign_with_rng(&mut crate::os_rng(), message)
            .map_err(|e| KeyError::Signing(e.to_string()))?;
        Ok(signature::SignatureEncoding::to_vec(&sig))
    }

    /// This RSA key as a [`Signer`] whose algorithm is PS256 (RSASSA-PSS with SHA-256), so
    /// JOSE code that mints through any signer mints PS256. Only RSA keys can.
    pub fn pss_signer(&self) -> Result<PssSigner<'_>, KeyError> {
        if !self.key_type().is_rsa() {
            return Err(KeyError::AlgorithmMismatch {
                algorithm: "PS256".into(),
                key: self.key_type().to_string(),
            });
        }
        Ok(PssSigner(self))
    }
}

/// An RSA [`PrivateKey`] signing with RSASSA-PSS (SHA-256), JOSE `PS256`; made by
/// [`PrivateKey::pss_signer`]. For JOSE only: X.509 output uses PKCS#1 v1.5.
#[derive(Debug, Clone, Copy)]
pub struct PssSigner<'a>(&'a PrivateKey);

impl Signer for PssSigner<'_> {
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaPssSha256
    }

    fn public_key(&self) -> &PublicKey {
        &self.0.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.0.sign_pss(message)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type())
            .finish_non_exhaustive()
    }
}

//! Key types and the signature algorithms that go with them.

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::Null;
use spki::AlgorithmIdentifierOwned;

use crate::KeyError;

/// The kinds of key Mayfly generates and reads.
///
/// `KeyType::default()` is ECDSA P-256, the production guide's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA on NIST P-256 (secp256r1).
    #[default]
    EcP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcP384,
    /// Ed25519 (EdDSA).
    Ed25519,
    /// RSA with the given modulus size in bits: 2048, 3072 or 4096.
    Rsa(usize),
}

impl KeyType {
    /// RSA sizes Mayfly generates. Smaller keys are refused everywhere.
    pub const RSA_SIZES: [usize; 3] = [2048, 3072, 4096];

    /// Picks a key type from step's `--kty`, `--crv` and `--size` flags.
    ///
    /// `kty` is `EC`, `OKP` or `RSA` (case-insensitive); `crv` defaults to P-256 for EC and
    /// Ed25519 for OKP; `size` defaults to 2048 for RSA.
    pub fn from_step_flags(
        kty: &str,
        crv: Option<&str>,
        size: Option<usize>,
    ) -> Result<Self, KeyError> {
        match (kty.to_ascii_uppercase().as_str(), crv) {
            ("EC", None | Some("P-256" | "p256" | "prime256v1")) => Ok(Self::EcP256),
            ("EC", Some("P-384" | "p384" | "secp384r1")) => Ok(Self::EcP384),
            ("OKP", None | Some("Ed25519" | "ed25519")) => Ok(Self::Ed25519),
            ("RSA", None) => Self::rsa(size.unwrap_or(2048)),
            (kty, crv) => Err(KeyError::UnsupportedAlgorithm(match crv {
                Some(crv) => format!("kty {kty} with curve {crv}"),
                None => format!("kty {kty}"),
            })),
        }
    }

    /// An RSA key type, refusing sizes other than 2048, 3072 and 4096 bits.
    pub fn rsa(bits: usize) -> Result<Self, KeyError> {
        if Self::RSA_SIZES.contains(&bits) {
            Ok(Self::Rsa(bits))
        } else {
            Err(KeyError::UnsupportedAlgorithm(format!(
                "RSA-{bits} (use 2048, 3072 or 4096 bits)"
            )))
        }
    }

    /// The signature algorithm Mayfly uses with this key type by default.
    pub fn default_signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::EcP256 => SignatureAlgorithm::EcdsaSha256,
            Self::EcP384 => SignatureAlgorithm::EcdsaSha384,
            Self::Ed25519 => SignatureAlgorithm::Ed25519,
            Self::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
        }
    }

    /// Whether this is an RSA key (leaf certificates get keyEncipherment only for those).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa(_))
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcP256 => f.write_str("EC P-256"),
            Self::EcP384 => f.write_str("EC P-384"),
            Self::Ed25519 => f.write_str("OKP Ed25519"),
            Self::Rsa(bits) => write!(f, "RSA {bits}"),
        }
    }
}

/// Signature algorithms, each with its X.509 algorithm identifier and its JOSE name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ecdsa-with-SHA256 / ES256.
    EcdsaSha256,
    /// ecdsa-with-SHA384 / ES384.
    EcdsaSha384,
    /// Ed25519 / EdDSA.
    Ed25519,
    /// sha256WithRSAEncryption / RS256.
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256 / PS256 (JOSE only; Mayfly's X.509 output uses PKCS#1 v1.5).
    RsaPssSha256,
}

/// id-Ed25519 (RFC 8410).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

impl SignatureAlgorithm {
    /// The X.509 `AlgorithmIdentifier` for certificates, CSRs, CRLs and OCSP responses.
    ///
    /// ECDSA and Ed25519 identifiers carry no parameters; RSA PKCS#1 v1.5 carries NULL
    /// (RFC 4055 §5). PSS has no parameter-free form, so it has none here.
    pub fn algorithm_identifier(self) -> Result<AlgorithmIdentifierOwned, KeyError> {
        let (oid, null_params) = match self {
            Self::EcdsaSha256 => (rfc5912::ECDSA_WITH_SHA_256, false),
            Self::EcdsaSha384 => (rfc5912::ECDSA_WITH_SHA_384, false),
            Self::Ed25519 => (ID_ED25519, false),
            Self::RsaPkcs1Sha256 => (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, true),
            Self::RsaPssSha256 => {
                return Err(KeyError::UnsupportedAlgorithm(
                    "RSASSA-PSS in X.509 (use PKCS#1 v1.5)".into(),
                ));
            }
        };
        Ok(AlgorithmIdentifierOwned {
            oid,
            parameters: null_params.then(|| Null.into()),
        })
    }

    /// Finds the algorithm an X.509 `AlgorithmIdentifier` names.
    pub fn from_algorithm_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self, KeyError> {
        match id.oid {
            rfc5912::ECDSA_WITH_SHA_256 => Ok(Self::EcdsaSha256),
            rfc5912::ECDSA_WITH_SHA_384 => Ok(Self::EcdsaSha384),
            ID_ED25519 => Ok(Self::Ed25519),
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Ok(Self::RsaPkcs1Sha256),
            oid => Err(KeyError::UnsupportedAlgorithm(format!(
                "signature algorithm {oid}"
            ))),
        }
    }

    /// The JOSE `alg` name (RFC 7518 / RFC 8037).
    pub fn jws_name(self) -> &'static str {
        match self {
            Self::EcdsaSha256 => "ES256",
            Self::EcdsaSha384 => "ES384",
            Self::Ed25519 => "EdDSA",
            Self::RsaPkcs1Sha256 => "RS256",
            Self::RsaPssSha256 => "PS256",
        }
    }

    /// Finds the algorithm a JOSE `alg` names; `none` and HMAC algorithms are refused.
    pub fn from_jws_name(name: &str) -> Result<Self, KeyError> {
        match name {
            "ES256" => Ok(Self::EcdsaSha256),
            "ES384" => Ok(Self::EcdsaSha384),
            "EdDSA" => Ok(Self::Ed25519),
            "RS256" => Ok(Self::RsaPkcs1Sha256),
            "PS256" => Ok(Self::RsaPssSha256),
            other => Err(KeyError::UnsupportedAlgorithm(format!("JWS alg {other:?}"))),
        }
    }

    /// Whether this algorithm can be used with keys of `key_type`.
    pub fn fits(self, key_type: KeyType) -> bool {
        matches!(
            (self, key_type),
            (Self::EcdsaSha256, KeyType::EcP256)
                | (Self::EcdsaSha384, KeyType::EcP384)
                | (Self::Ed25519, KeyType::Ed25519)
                | (Self::RsaPkcs1Sha256 | Self::RsaPssSha256, KeyType::Rsa(_))
        )
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jws_name())
    }
}

impl FromStr for KeyType {
    type Err = KeyError;

    /// Parses `P-256`, `P-384`, `Ed25519`, `RSA-2048`, `RSA-3072` or `RSA-4096`.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "P-256" | "EC" => Ok(Self::EcP256),
            "P-384" => Ok(Self::EcP384),
            "Ed25519" | "OKP" => Ok(Self::Ed25519),
            "RSA" => Ok(Self::Rsa(2048)),
            other => match other.strip_prefix("RSA-").map(str::parse::<usize>) {
                Some(Ok(bits)) => Self::rsa(bits),
                _ => Err(KeyError::UnsupportedAlgorithm(format!(
                    "key type {other:?}"
                ))),
            },
        }
    }
}

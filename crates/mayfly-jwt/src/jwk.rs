//! JSON Web Keys (RFC 7517/7518/8037): conversion to and from mayfly-keys types, and the
//! RFC 7638 thumbprint step-ca uses as `kid`.

use std::fmt;

use der::{Decode, Encode};
use mayfly_keys::{KeyType, PrivateKey, PublicKey, Signer};
use pkcs1::DecodeRsaPublicKey as _;
use pkcs8::EncodePublicKey as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::JwkError;
use crate::b64;

/// A JSON Web Key, public or private: EC (P-256, P-384), OKP (Ed25519), RSA, or oct.
///
/// Private members are zeroized on drop, compared in constant time, and never printed by
/// `Debug`.
#[derive(Clone, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Jwk {
    /// Intended use; step writes `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Key type: `EC`, `OKP`, `RSA` or `oct`.
    pub kty: String,
    /// Key id; Mayfly and step set it to the RFC 7638 thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve of EC and OKP keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The algorithm this key is meant for (`ES256`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// EC x coordinate or OKP public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private scalar (EC, OKP) or private exponent (RSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// RSA first prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// RSA second prime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RSA first CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    /// RSA second CRT exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    /// RSA CRT coefficient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
    /// Symmetric key (`oct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("crv", &self.crv)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Jwk {
    fn eq(&self, other: &Self) -> bool {
        let same_secrets = self
            .private_members()
            .into_iter()
            .zip(other.private_members())
            .fold(Choice::from(1), |same, pair| {
                same & match pair {
                    (Some(a), Some(b)) => a.as_bytes().ct_eq(b.as_bytes()),
                    (None, None) => Choice::from(1),
                    _ => Choice::from(0),
                }
            });
        self.public_members() == other.public_members() && bool::from(same_secrets)
    }
}

type PublicMembers<'a> = [&'a Option<String>; 8];

impl Jwk {
    fn public_members(&self) -> (&str, PublicMembers<'_>) {
        let members = [
            &self.use_, &self.kid, &self.crv, &self.alg, &self.x, &self.y, &self.n, &self.e,
        ];
        (&self.kty, members)
    }

    fn private_members(&self) -> [&Option<String>; 7] {
        [
            &self.d, &self.p, &self.q, &self.dp, &self.dq, &self.qi, &self.k,
        ]
    }
}

/// PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7) before its 32 bytes.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl Jwk {
    /// Parses a JWK from JSON.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        serde_json::from_slice(json).map_err(|e| JwkError::Malformed(e.to_string()))
    }

    /// The JSON form (compact, members in declaration order).
    pub fn to_json(&self) -> Result<Zeroizing<String>, JwkError> {
        serde_json::to_string(self)
            .map(Zeroizing::new)
            .map_err(|e| JwkError::Malformed(e.to_string()))
    }

    /// The JSON form, pretty-printed as step writes key files.
    pub fn to_json_pretty(&self) -> Result<Zeroizing<String>, JwkError> {
        serde_json::to_string_pretty(self)
            .map(Zeroizing::new)
            .map_err(|e| JwkError::Malformed(e.to_string()))
    }

    /// Whether private members are present.
    pub fn is_private(&self) -> bool {
        self.d.is_some() || self.k.is_some()
    }

    /// A public JWK for `key` with `use` = `sig`, `alg` = the key type's default and
    /// `kid` = its thumbprint.
    pub fn from_public_key(key: &PublicKey) -> Result<Self, JwkError> {
        let point = key.subject_public_key_bytes()?;
        let mut jwk = Self::empty(match key {
            PublicKey::EcP256(_) | PublicKey::EcP384(_) => "EC",
            PublicKey::Ed25519(_) => "OKP",
            _ => "RSA",
        });
        match key.key_type() {
            KeyType::EcP256 | KeyType::EcP384 => {
                let (curve, size) = match key.key_type() {
                    KeyType::EcP256 => ("P-256", 32),
                    _ => ("P-384", 48),
                };
                if point.len() != 1 + 2 * size || point.first() != Some(&4) {
                    return Err(JwkError::Malformed("EC point is not uncompressed".into()));
                }
                jwk.crv = Some(curve.into());
                jwk.x = Some(b64::encode(&point[1..=size]));
                jwk.y = Some(b64::encode(&point[1 + size..]));
            }
            KeyType::Ed25519 => {
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64::encode(&point));
            }
            KeyType::Rsa(_) => {
                let rsa = pkcs1::RsaPublicKeyRef::from_der(&point)
                    .map_err(|e| JwkError::Malformed(format!("RSA public key: {e}")))?;
                jwk.n = Some(b64::encode(rsa.modulus.as_bytes()));
                jwk.e = Some(b64::encode(rsa.public_exponent.as_bytes()));
            }
        }
        jwk.use_ = Some("sig".into());
        jwk.alg = Some(
            key.key_type()
                .default_signature_algorithm()
                .jws_name()
                .into(),
        );
        jwk.kid = Some(jwk.thumbprint()?);
        Ok(jwk)
    }

    /// A private JWK for `key` (public members, `kid` thumbprint and private members).
    pub fn from_private_key(key: &PrivateKey) -> Result<Self, JwkError> {
        let mut jwk = Self::from_public_key(key.public_key())?;
        let der = key.to_pkcs8_der()?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| JwkError::Malformed(format!("PKCS#8: {e}")))?;
        let inner = info.private_key.as_bytes();
        match key.key_type() {
            KeyType::EcP256 | KeyType::EcP384 => {
                let ec = sec1::EcPrivateKey::from_der(inner)
                    .map_err(|e| JwkError::Malformed(format!("EC private key: {e}")))?;
                jwk.d = Some(b64::encode(ec.private_key));
            }
            KeyType::Ed25519 => {
                let seed = inner
                    .strip_prefix(&[0x04, 0x20][..])
                    .filter(|s| s.len() == 32)
                    .ok_or_else(|| JwkError::Malformed("Ed25519 private key".into()))?;
                jwk.d = Some(b64::encode(seed));
            }
            KeyType::Rsa(_) => {
                let rsa = pkcs1::RsaPrivateKeyRef::from_der(inner)
                    .map_err(|e| JwkError::Malformed(format!("RSA private key: {e}")))?;
                jwk.d = Some(b64::encode(rsa.private_exponent.as_bytes()));
                jwk.p = Some(b64::encode(rsa.prime1.as_bytes()));
                jwk.q = Some(b64::encode(rsa.prime2.as_bytes()));
                jwk.dp = Some(b64::encode(rsa.exponent1.as_bytes()));
                jwk.dq = Some(b64::encode(rsa.exponent2.as_bytes()));
                jwk.qi = Some(b64::encode(rsa.coefficient.as_bytes()));
            }
        }
        Ok(jwk)
    }

    /// The public half: private members dropped, everything else kept.
    pub fn to_public(&self) -> Self {
        let mut public = self.clone();
        for member in [
            &mut public.d,
            &mut public.p,
            &mut public.q,
            &mut public.dp,
            &mut public.dq,
            &mut public.qi,
            &mut public.k,
        ] {
            member.zeroize();
            *member = None;
        }
        public
    }

    /// The public key, refusing unknown curves and RSA keys under 2048 bits.
    pub fn to_public_key(&self) -> Result<PublicKey, JwkError> {
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let size = if crv == "P-256" { 32 } else { 48 };
                let x = self.coordinate("x", size)?;
                let y = self.coordinate("y", size)?;
                let point = [&[4u8][..], &x, &y].concat();
                let bad = |e| JwkError::Malformed(format!("{crv} point: {e}"));
                Ok(if size == 32 {
                    PublicKey::EcP256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad)?,
                    )
                } else {
                    PublicKey::EcP384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad)?,
                    )
                })
            }
            ("OKP", Some("Ed25519")) => {
                let x: [u8; 32] = self
                    .coordinate("x", 32)?
                    .try_into()
                    .map_err(|_| JwkError::Malformed("Ed25519 x".into()))?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map(PublicKey::Ed25519)
                    .map_err(|e| JwkError::Malformed(format!("Ed25519 x: {e}")))
            }
            ("RSA", _) => {
                let n = self.member("n", &self.n)?;
                let e = self.member("e", &self.e)?;
                let der = pkcs1::RsaPublicKeyRef {
                    modulus: uint(&n)?,
                    public_exponent: uint(&e)?,
                }
                .to_der()
                .map_err(|e| JwkError::Malformed(format!("RSA public key: {e}")))?;
                let key = rsa::PublicKey::from_pkcs1_der(&der)
                    .map_err(|e| JwkError::Malformed(format!("RSA public key: {e}")))?;
                let spki = key
                    .to_public_key_der()
                    .map_err(|e| JwkError::Malformed(format!("RSA public key: {e}")))?;
                Ok(PublicKey::from_spki_der(spki.as_bytes())?)
            }
            (kty, crv) => Err(JwkError::Unsupported(match crv {
                Some(crv) => format!("kty {kty} with crv {crv}"),
                None => format!("kty {kty}"),
            })),
        }
    }

    /// The private key, checked against the public members.
    pub fn to_private_key(&self) -> Result<PrivateKey, JwkError> {
        let public = self.to_public_key()?;
        let d = Zeroizing::new(
            self.d
                .as_deref()
                .ok_or(JwkError::NotPrivate)
                .and_then(|d| b64::decode(d).ok_or_else(|| bad_member("d")))?,
        );
        let bad = |e: p256::ecdsa::Error| JwkError::Malformed(format!("d: {e}"));
        let key = match public.key_type() {
            KeyType::EcP256 => {
                PrivateKey::from_p256(p256::ecdsa::SigningKey::from_slice(&d).map_err(bad)?)
            }
            KeyType::EcP384 => {
                PrivateKey::from_p384(p384::ecdsa::SigningKey::from_slice(&d).map_err(bad)?)
            }
            KeyType::Ed25519 => {
                if d.len() != 32 {
                    return Err(bad_member("d"));
                }
                let der = Zeroizing::new([&ED25519_PKCS8_PREFIX[..], &d].concat());
                PrivateKey::from_pkcs8_der(&der)?
            }
            KeyType::Rsa(_) => {
                // dp, dq and qi are recomputed: step writes RSA JWKs without them.
                let uint = |name, value: &Option<String>| -> Result<rsa::BoxedUint, JwkError> {
                    let bytes = Zeroizing::new(self.member(name, value)?);
                    let bits = u32::try_from(bytes.len() * 8)
                        .map_err(|_| JwkError::Malformed(format!("{name} is too large")))?;
                    rsa::BoxedUint::from_be_slice(&bytes, bits)
                        .map_err(|e| JwkError::Malformed(format!("{name}: {e}")))
                };
                let key = rsa::PrivateKey::from_components(
                    uint("n", &self.n)?,
                    uint("e", &self.e)?,
                    uint("d", &self.d)?,
                    vec![uint("p", &self.p)?, uint("q", &self.q)?],
                )
                .map_err(|e| JwkError::Malformed(format!("RSA private key: {e}")))?;
                PrivateKey::from_rsa(key)?
            }
        };
        // Compared as DER: big-integer precision differs between decoding paths.
        if key.public_key().to_spki_der()? != public.to_spki_der()? {
            return Err(JwkError::KeyMismatch);
        }
        Ok(key)
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order,
    /// base64url. step-ca uses it as the provisioner key's `kid`; ACME as the account key's
    /// identity in key authorizations.
    pub fn thumbprint(&self) -> Result<String, JwkError> {
        let need = |name: &'static str, value: &Option<String>| {
            value.clone().ok_or_else(|| JwkError::MissingMember {
                kty: self.kty.clone(),
                member: name,
            })
        };
        // RFC 7638 §3.3: the required members in lexicographic order, written out here rather
        // than trusting a map's order (serde_json's `preserve_order` feature would change it
        // for the whole build).
        let members: Vec<(&str, String)> = match self.kty.as_str() {
            "EC" => vec![
                ("crv", need("crv", &self.crv)?),
                ("kty", self.kty.clone()),
                ("x", need("x", &self.x)?),
                ("y", need("y", &self.y)?),
            ],
            "OKP" => vec![
                ("crv", need("crv", &self.crv)?),
                ("kty", self.kty.clone()),
                ("x", need("x", &self.x)?),
            ],
            "RSA" => vec![
                ("e", need("e", &self.e)?),
                ("kty", self.kty.clone()),
                ("n", need("n", &self.n)?),
            ],
            "oct" => vec![("k", need("k", &self.k)?), ("kty", self.kty.clone())],
            other => return Err(JwkError::Unsupported(format!("kty {other}"))),
        };
        let body: Vec<String> = members
            .iter()
            .map(|(name, value)| {
                format!(
                    "{}:{}",
                    serde_json::Value::from(*name),
                    serde_json::Value::from(value.as_str())
                )
            })
            .collect();
        let json = Zeroizing::new(format!("{{{}}}", body.join(",")));
        Ok(b64::encode(Sha256::digest(json.as_bytes())))
    }

    fn empty(kty: &str) -> Self {
        Self {
            use_: None,
            kty: kty.into(),
            kid: None,
            crv: None,
            alg: None,
            x: None,
            y: None,
            n: None,
            e: None,
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            k: None,
        }
    }

    fn member(&self, name: &'static str, value: &Option<String>) -> Result<Vec<u8>, JwkError> {
        let text = value.as_deref().ok_or_else(|| JwkError::MissingMember {
            kty: self.kty.clone(),
            member: name,
        })?;
        b64::decode(text).ok_or_else(|| bad_member(name))
    }

    fn coordinate(&self, name: &'static str, size: usize) -> Result<Vec<u8>, JwkError> {
        let value = if name == "x" { &self.x } else { &self.y };
        let bytes = self.member(name, value)?;
        if bytes.len() == size {
            Ok(bytes)
        } else {
            Err(JwkError::Malformed(format!(
                "{name} is {} bytes, expected {size}",
                bytes.len()
            )))
        }
    }
}

/// The RFC 7638 thumbprint of `jwk` (see [`Jwk::thumbprint`]).
pub fn jwk_thumbprint(jwk: &Jwk) -> Result<String, JwkError> {
    jwk.thumbprint()
}

/// The ACME key authorization for a challenge `token` (RFC 8555 §8.1): `token.thumbprint`.
pub fn key_authorization(token: &str, account_key: &Jwk) -> Result<String, JwkError> {
    Ok(format!("{token}.{}", account_key.thumbprint()?))
}

fn bad_member(name: &str) -> JwkError {
    JwkError::Malformed(format!("{name} is not base64url"))
}

fn uint(bytes: &[u8]) -> Result<der::asn1::UintRef<'_>, JwkError> {
    der::asn1::UintRef::new(bytes).map_err(|e| JwkError::Malformed(format!("integer: {e}")))
}

#[cfg(test)]
mod tests;

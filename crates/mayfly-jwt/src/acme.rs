//! JWS as ACME uses it (RFC 8555 §6.2): flattened JSON, everything in the protected header,
//! `nonce` + `url` + exactly one of `jwk` / `kid`; and external account binding (§7.3.4).

use hmac::{KeyInit, Mac};
use mayfly_keys::{PublicKey, SignatureAlgorithm};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Jwk, JwsError, b64};

/// The largest ACME request body accepted, in bytes.
pub const MAX_ACME_JWS_LEN: usize = 64 * 1024;

/// How the request names its signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcmeKey {
    /// The key itself (`newAccount`, `revokeCert` with the certificate key).
    Jwk(Box<Jwk>),
    /// The account URL (every other request).
    Kid(String),
}

/// The protected header of an ACME JWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeHeader {
    /// The signature algorithm (never `none` or a MAC).
    pub alg: SignatureAlgorithm,
    /// The anti-replay nonce, for the caller to check and consume.
    pub nonce: String,
    /// The request URL, for the caller to compare with the URL requested.
    pub url: String,
    /// `jwk` or `kid`.
    pub key: AcmeKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
    header: Option<Value>,
}

/// A parsed, not yet verified, ACME request.
#[derive(Clone, Debug)]
pub struct AcmeJws {
    header: AcmeHeader,
    raw_header: Map<String, Value>,
    protected_b64: String,
    payload_b64: String,
    signature: Vec<u8>,
}

impl AcmeJws {
    /// Parses a flattened JSON JWS and checks its header's shape (§6.2): `alg` a signature
    /// algorithm, `nonce`, `url`, exactly one of `jwk` and `kid`, no unprotected header.
    pub fn parse(body: &[u8]) -> Result<Self, JwsError> {
        if body.len() > MAX_ACME_JWS_LEN {
            return Err(JwsError::TooLarge(body.len()));
        }
        let jws: Flattened =
            serde_json::from_slice(body).map_err(|e| JwsError::Malformed(e.to_string()))?;
        if jws.header.is_some() {
            return Err(JwsError::UnprotectedHeader);
        }
        let raw_header = decode_header(&jws.protected)?;
        let alg = match text(&raw_header, "alg")? {
            alg if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") => {
                return Err(JwsError::BadAlg(alg.into()));
            }
            alg => {
                SignatureAlgorithm::from_jws_name(alg).map_err(|_| JwsError::BadAlg(alg.into()))?
            }
        };
        let key = match (raw_header.get("jwk"), raw_header.get("kid")) {
            (Some(jwk), None) => AcmeKey::Jwk(Box::new(
                Jwk::deserialize(jwk).map_err(|e| JwsError::Malformed(format!("jwk: {e}")))?,
            )),
            (None, Some(Value::String(kid))) => AcmeKey::Kid(kid.clone()),
            _ => return Err(JwsError::KeyChoice),
        };
        if let AcmeKey::Jwk(jwk) = &key
            && jwk.is_private()
        {
            return Err(JwsError::Malformed("jwk holds a private key".into()));
        }
        let header = AcmeHeader {
            alg,
            nonce: text(&raw_header, "nonce")?.to_owned(),
            url: text(&raw_header, "url")?.to_owned(),
            key,
        };
        let signature = decode(&jws.signature, "signature")?;
        decode(&jws.payload, "payload")?;
        Ok(Self {
            header,
            raw_header,
            protected_b64: jws.protected,
            payload_b64: jws.payload,
            signature,
        })
    }

    /// The protected header.
    pub fn header(&self) -> &AcmeHeader {
        &self.header
    }

    /// A protected header member beyond the standard ones (say, `kid` for EAB lookups).
    pub fn header_member(&self, name: &str) -> Option<&Value> {
        self.raw_header.get(name)
    }

    /// Verifies the signature with `key` (the account key found by `kid`) and returns the
    /// payload; empty for POST-as-GET.
    pub fn verify(&self, key: &PublicKey) -> Result<Vec<u8>, JwsError> {
        let alg = self.header.alg;
        if !alg.fits(key.key_type()) {
            return Err(JwsError::AlgKeyMismatch {
                alg: alg.to_string(),
                key: key.key_type().to_string(),
            });
        }
        let signing_input = format!("{}.{}", self.protected_b64, self.payload_b64);
        key.verify_jws(alg, signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature)?;
        decode(&self.payload_b64, "payload")
    }

    /// Verifies a request signed with an embedded `jwk` (`newAccount`) and returns the
    /// payload and the key.
    pub fn verify_with_jwk(&self) -> Result<(Vec<u8>, Jwk), JwsError> {
        let AcmeKey::Jwk(jwk) = &self.header.key else {
            return Err(JwsError::WrongKeyKind("jwk"));
        };
        let payload = self.verify(&jwk.to_public_key()?)?;
        Ok((payload, jwk.as_ref().clone()))
    }
}

/// Verifies an external account binding (RFC 8555 §7.3.4): `eab` is the
/// `externalAccountBinding` member of a `newAccount` payload, `account_key` the outer JWS's
/// `jwk`, `outer_url` its `url`, and `mac_key_for` returns the MAC key of an EAB key id.
/// Returns the EAB key id.
pub fn verify_eab(
    eab: &Value,
    account_key: &Jwk,
    outer_url: &str,
    mac_key_for: impl FnOnce(&str) -> Option<Vec<u8>>,
) -> Result<String, JwsError> {
    let jws: Flattened =
        Flattened::deserialize(eab).map_err(|e| JwsError::Malformed(format!("EAB: {e}")))?;
    if jws.header.is_some() {
        return Err(JwsError::UnprotectedHeader);
    }
    let header = decode_header(&jws.protected)?;
    let alg = text(&header, "alg")?;
    if header.contains_key("nonce") {
        return Err(JwsError::EabNonce);
    }
    let kid = text(&header, "kid")?;
    let url = text(&header, "url")?;
    if url != outer_url {
        return Err(JwsError::UrlMismatch {
            inner: url.into(),
            outer: outer_url.into(),
        });
    }
    let signing_input = format!("{}.{}", jws.protected, jws.payload);
    let mac_key = mac_key_for(kid).ok_or(JwsError::BadSignature)?;
    let tag = decode(&jws.signature, "signature")?;
    let verified = match alg {
        "HS256" => verify_mac::<hmac::Hmac<sha2::Sha256>>(&mac_key, &signing_input, &tag),
        "HS384" => verify_mac::<hmac::Hmac<sha2::Sha384>>(&mac_key, &signing_input, &tag),
        "HS512" => verify_mac::<hmac::Hmac<sha2::Sha512>>(&mac_key, &signing_input, &tag),
        other => return Err(JwsError::BadAlg(other.into())),
    };
    if !verified {
        return Err(JwsError::BadSignature);
    }
    let payload =
        Jwk::from_json(&decode(&jws.payload, "payload")?).map_err(|_| JwsError::EabKeyMismatch)?;
    if payload.thumbprint()? != account_key.thumbprint()? {
        return Err(JwsError::EabKeyMismatch);
    }
    Ok(kid.to_owned())
}

fn verify_mac<M: Mac + KeyInit>(key: &[u8], input: &str, tag: &[u8]) -> bool {
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(input.as_bytes());
    mac.verify_slice(tag).is_ok()
}

fn decode(text: &str, what: &str) -> Result<Vec<u8>, JwsError> {
    b64::decode(text).ok_or_else(|| JwsError::Malformed(format!("{what} is not base64url")))
}

fn decode_header(protected: &str) -> Result<Map<String, Value>, JwsError> {
    serde_json::from_slice(&decode(protected, "protected header")?)
        .map_err(|e| JwsError::Malformed(format!("protected header: {e}")))
}

fn text<'a>(header: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JwsError> {
    header
        .get(name)
        .and_then(Value::as_str)
        .ok_or(JwsError::MissingHeader(name))
}

//! [`Client`]: the CA's API, trusting only the root it was bootstrapped with.

use std::sync::Arc;

use der::Encode;
use mayfly_template::{Certificate, certificate_to_der, fingerprint_sha256, parse_certificate_pem};
use rustls::ClientConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{CaUrl, ClientError, Identity, SignedCertificate, http, tls};

/// A client of one CA. It trusts the root it was built with and nothing else: never the
/// system store.
#[derive(Clone, Debug)]
pub struct Client {
    url: CaUrl,
    root: Certificate,
    fingerprint: String,
    tls: Arc<ClientConfig>,
}

/// A provisioner as `GET /provisioners` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provisioner {
    /// `JWK`, `ACME`, `OIDC`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The provisioner name (the token's `iss`).
    pub name: String,
    /// The public JWK of a JWK provisioner.
    #[serde(default)]
    pub key: Option<mayfly_jwt::Jwk>,
    /// The password-encrypted private JWK (compact JWE), when the CA stores it.
    #[serde(
        default,
        rename = "encryptedKey",
        skip_serializing_if = "Option::is_none"
    )]
    pub encrypted_key: Option<String>,
    /// Everything else the CA says about it (claims, options, ...), kept as is.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

impl Provisioner {
    /// The key id (`kid`) of a JWK provisioner.
    pub fn kid(&self) -> Option<&str> {
        self.key.as_ref().and_then(|k| k.kid.as_deref())
    }
}

/// Optional validity bounds for `sign`: step's `notBefore`/`notAfter`, each an RFC 3339 time
/// or a duration from now such as `8h` or `30m`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validity {
    /// When the certificate starts being valid.
    pub not_before: Option<String>,
    /// When it expires.
    pub not_after: Option<String>,
}

/// Why a certificate is revoked: RFC 5280 reason code and free text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocation {
    /// The serial number, in decimal as step prints it (hex with a `0x` prefix also works).
    pub serial: String,
    /// RFC 5280 CRLReason code (0 unspecified, 1 keyCompromise, 4 superseded, ...).
    pub reason_code: u8,
    /// Free text recorded with the revocation.
    pub reason: String,
}

/// How a revocation is authorised.
#[derive(Clone, Copy, Debug)]
pub enum RevokeAuth<'a> {
    /// A one-time token for `/1.0/revoke` whose subject is the serial.
    Token(&'a str),
    /// mTLS with the certificate being revoked and its key.
    Certificate(&'a Identity),
}

#[derive(Deserialize)]
struct SignBody {
    crt: String,
    #[serde(default)]
    ca: Option<String>,
    #[serde(default, rename = "certChain")]
    cert_chain: Vec<String>,
}

#[derive(Deserialize)]
struct RootBody {
    ca: String,
}

#[derive(Deserialize)]
struct RootsBody {
    crts: Vec<String>,
}

#[derive(Deserialize)]
struct ProvisionersBody {
    provisioners: Vec<Provisioner>,
    #[serde(default, rename = "nextCursor")]
    next_cursor: String,
}

#[derive(Deserialize)]
struct EncryptedKeyBody {
    key: String,
}

/// Normalises a fingerprint: lower-case hex, colons allowed, 64 characters.
pub fn parse_fingerprint(fingerprint: &str) -> Result<String, ClientError> {
    let hex: String = fingerprint
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(ClientError::BadFingerprint(fingerprint.to_owned()))
    }
}

impl Client {
    /// Fetches `GET /root/{fingerprint}` from `ca_url`, checks that the root's SHA-256 is
    /// `fingerprint`, and returns a client that trusts only that root. The TLS server is
    /// then checked against the root with `GET /health`.
    pub async fn bootstrap(ca_url: &str, fingerprint: &str) -> Result<Self, ClientError> {
        let url = CaUrl::parse(ca_url)?;
        let expected = parse_fingerprint(fingerprint)?;
        let body: RootBody = http::call(
            &url,
            &tls::unverified()?,
            "GET",
            &format!("/root/{expected}"),
            None,
        )
        .await?;
        let root = parse_certificate_pem(&body.ca)?;
        let actual = fingerprint_sha256(&root)?;
        if actual != expected {
            return Err(ClientError::FingerprintMismatch { expected, actual });
        }
        let client = Self::with_root(url, root)?;
        client.health().await?;
        Ok(client)
    }

    /// A client of `url` that trusts `root` (read from a file the caller already trusts).
    pub fn with_root(url: CaUrl, root: Certificate) -> Result<Self, ClientError> {
        let tls = tls::trusting(&certificate_to_der(&root)?)?;
        Ok(Self {
            fingerprint: fingerprint_sha256(&root)?,
            url,
            root,
            tls,
        })
    }

    /// The CA URL.
    pub fn url(&self) -> &CaUrl {
        &self.url
    }

    /// The trusted root.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// The root's SHA-256 fingerprint (lower-case hex).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The TLS configuration trusting the root (no client certificate).
    pub(crate) fn tls(&self) -> &Arc<ClientConfig> {
        &self.tls
    }

    /// `GET /health`: succeeds when the CA answers `{"status":"ok"}`.
    pub async fn health(&self) -> Result<(), ClientError> {
        let body: Value = self.get("/health").await?;
        match body.get("status").and_then(Value::as_str) {
            Some("ok") => Ok(()),
            _ => Err(ClientError::BadResponse {
                operation: "GET /health".into(),
                reason: format!("status is not ok: {body}"),
            }),
        }
    }

    /// `GET /roots`: every root the CA trusts.
    pub async fn roots(&self) -> Result<Vec<Certificate>, ClientError> {
        let body: RootsBody = self.get("/roots").await?;
        body.crts
            .iter()
            .map(|pem| Ok(parse_certificate_pem(pem)?))
            .collect()
    }

    /// `GET /provisioners`, following `nextCursor` through every page.
    pub async fn provisioners(&self) -> Result<Vec<Provisioner>, ClientError> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let route = format!("/provisioners?cursor={cursor}&limit=100");
            let page: ProvisionersBody = self.get(&route).await?;
            let empty = page.provisioners.is_empty();
            all.extend(page.provisioners);
            if page.next_cursor.is_empty() || page.next_cursor == cursor || empty {
                return Ok(all);
            }
            cursor = page
                .next_cursor
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
        }
    }

    /// `GET /provisioners/{kid}/encrypted-key`: the password-encrypted private JWK.
    pub async fn encrypted_key(&self, kid: &str) -> Result<String, ClientError> {
        if !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ClientError::Provisioner(format!("bad key id {kid:?}")));
        }
        let body: EncryptedKeyBody = self
            .get(&format!("/provisioners/{kid}/encrypted-key"))
            .await?;
        Ok(body.key)
    }

    /// `POST /1.0/sign`: a certificate for the DER `csr`, authorised by `token`.
    pub async fn sign(
        &self,
        csr: &[u8],
        token: &str,
        validity: &Validity,
    ) -> Result<SignedCertificate, ClientError> {
        let csr_pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, csr)
            .map_err(|e| ClientError::Certificate(format!("CSR PEM: {e}")))?;
        let mut body = json!({"csr": csr_pem, "ott": token});
        if let Some(nb) = &validity.not_before {
            body["notBefore"] = json!(nb);
        }
        if let Some(na) = &validity.not_after {
            body["notAfter"] = json!(na);
        }
        let answer: SignBody =
            http::call(&self.url, &self.tls, "POST", "/1.0/sign", Some(&body)).await?;
        signed(answer)
    }

    /// `POST /1.0/renew` over mTLS with `identity`: the same key, a fresh validity period.
    pub async fn renew(&self, identity: &Identity) -> Result<SignedCertificate, ClientError> {
        let tls = tls::trusting_with_identity(&certificate_to_der(&self.root)?, identity)?;
        let answer: SignBody = http::call(&self.url, &tls, "POST", "/1.0/renew", None).await?;
        signed(answer)
    }

    /// `POST /1.0/rekey` over mTLS with `identity`: a certificate for the new key in the
    /// DER `csr`.
    pub async fn rekey(
        &self,
        identity: &Identity,
        csr: &[u8],
    ) -> Result<SignedCertificate, ClientError> {
        let csr_pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, csr)
            .map_err(|e| ClientError::Certificate(format!("CSR PEM: {e}")))?;
        let tls = tls::trusting_with_identity(&certificate_to_der(&self.root)?, identity)?;
        let body = json!({"csr": csr_pem});
        let answer: SignBody =
            http::call(&self.url, &tls, "POST", "/1.0/rekey", Some(&body)).await?;
        signed(answer)
    }

    /// `POST /1.0/revoke`, authorised by a token or by mTLS with the certificate itself.
    pub async fn revoke(
        &self,
        revocation: &Revocation,
        auth: RevokeAuth<'_>,
    ) -> Result<(), ClientError> {
        let mut body = json!({
            "serial": revocation.serial,
            "reasonCode": revocation.reason_code,
            "reason": revocation.reason,
            "passive": true,
        });
        let tls = match auth {
            RevokeAuth::Token(token) => {
                body["ott"] = json!(token);
                Arc::clone(&self.tls)
            }
            RevokeAuth::Certificate(identity) => {
                let serial = identity.certificate().serial_decimal();
                if serial != revocation.serial {
                    return Err(ClientError::Certificate(format!(
                        "the certificate's serial is {serial}, not {}: mTLS can only revoke the certificate presented",
                        revocation.serial
                    )));
                }
                tls::trusting_with_identity(&certificate_to_der(&self.root)?, identity)?
            }
        };
        let _: Value = http::call(&self.url, &tls, "POST", "/1.0/revoke", Some(&body)).await?;
        Ok(())
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, route: &str) -> Result<T, ClientError> {
        http::call(&self.url, &self.tls, "GET", route, None).await
    }
}

fn signed(answer: SignBody) -> Result<SignedCertificate, ClientError> {
    let certificate = parse_certificate_pem(&answer.crt)?;
    let leaf_der = certificate
        .to_der()
        .map_err(|e| ClientError::Certificate(e.to_string()))?;
    let mut intermediates = Vec::new();
    let pems = if answer.cert_chain.is_empty() {
        answer.ca.into_iter().collect()
    } else {
        answer.cert_chain
    };
    for pem in pems {
        let cert = parse_certificate_pem(&pem)?;
        if certificate_to_der(&cert)? != leaf_der {
            intermediates.push(cert);
        }
    }
    Ok(SignedCertificate {
        certificate,
        intermediates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised_or_refused() {
        let fp = "AB".repeat(32);
        assert_eq!(parse_fingerprint(&fp).unwrap(), "ab".repeat(32));
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_fingerprint(&colons).unwrap(), "ab".repeat(32));
        assert!(matches!(
            parse_fingerprint("abc"),
            Err(ClientError::BadFingerprint(_))
        ));
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}

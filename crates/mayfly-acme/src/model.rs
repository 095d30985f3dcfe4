//! The ACME objects as stored (one store row each, the protocol fields as JSON) and as sent.

use std::net::IpAddr;

use mayfly_store::AcmeObject;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{AcmeError, ProblemKind};

/// An identifier (RFC 8555 §7.1.4, RFC 8738).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `dns` or `ip`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name or address.
    pub value: String,
}

impl Identifier {
    /// Checks and normalizes a requested identifier: lower-case DNS names of valid labels
    /// (a leading `*.` for wildcards), IP addresses in canonical form.
    pub fn normalized(&self) -> Result<Self, AcmeError> {
        let reject = |why: String| AcmeError::new(ProblemKind::RejectedIdentifier, why);
        match self.kind.as_str() {
            "dns" => {
                let name = self.value.trim_end_matches('.').to_ascii_lowercase();
                let base = name.strip_prefix("*.").unwrap_or(&name);
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                };
                if name.len() > 253 || !base.split('.').all(label_ok) {
                    return Err(reject(format!("{:?} is not a valid DNS name", self.value)));
                }
                if base.parse::<IpAddr>().is_ok() {
                    return Err(reject(format!(
                        "{:?} is an IP address: use type \"ip\"",
                        self.value
                    )));
                }
                Ok(Self {
                    kind: "dns".into(),
                    value: name,
                })
            }
            "ip" => {
                let ip: IpAddr = self
                    .value
                    .parse()
                    .map_err(|_| reject(format!("{:?} is not an IP address", self.value)))?;
                Ok(Self {
                    kind: "ip".into(),
                    value: ip.to_string(),
                })
            }
            other => Err(AcmeError::new(
                ProblemKind::UnsupportedIdentifier,
                format!("identifier type {other:?} is not supported (dns, ip)"),
            )),
        }
    }

    /// Whether this is a wildcard DNS name.
    pub fn is_wildcard(&self) -> bool {
        self.kind == "dns" && self.value.starts_with("*.")
    }

    /// The subject alternative name the certificate carries for it.
    pub fn to_san(&self) -> mayfly_template::San {
        match self.value.parse::<IpAddr>() {
            Ok(ip) if self.kind == "ip" => mayfly_template::San::Ip(ip),
            _ => mayfly_template::San::Dns(self.value.clone()),
        }
    }
}

/// An account's stored document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AccountDoc {
    pub provisioner: String,
    /// The account key as a public JWK.
    pub key: Value,
    /// Its RFC 7638 thumbprint.
    pub thumbprint: String,
    #[serde(default)]
    pub contact: Vec<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eab_key_id: Option<String>,
    /// Set on rows that only map a rolled-over key's thumbprint to the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
}

/// An order's stored document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OrderDoc {
    pub provisioner: String,
    pub identifiers: Vec<Identifier>,
    /// Authorization ids.
    pub authorizations: Vec<String>,
    pub expires: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// The issued certificate's serial (lowercase hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// A challenge inside its authorization's document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ChallengeDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub token: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// When validation started (unix seconds), while the challenge is `processing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_since: Option<i64>,
}

/// An authorization's stored document (its challenges inside: one row, one revision).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AuthzDoc {
    pub identifier: Identifier,
    pub expires: String,
    pub challenges: Vec<ChallengeDoc>,
}

/// Decodes a stored document.
pub(crate) fn doc<T: for<'de> Deserialize<'de>>(object: &AcmeObject) -> Result<T, AcmeError> {
    serde_json::from_str(&object.data).map_err(|e| {
        AcmeError::Store(mayfly_store::StoreError::Corrupt {
            what: "ACME object",
            reason: format!("{}: {e}", object.id),
        })
    })
}

/// Encodes a document.
pub(crate) fn to_data<T: Serialize>(doc: &T) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

/// RFC 3339 text of unix seconds.
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Unix seconds of RFC 3339 text.
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64, AcmeError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|e| AcmeError::malformed(format!("{text:?} is not an RFC 3339 time: {e}")))
}

/// The JSON a challenge is sent as.
pub(crate) fn challenge_json(c: &ChallengeDoc, url: String) -> Value {
    let mut v = json!({"type": c.kind, "url": url, "status": c.status, "token": c.token});
    if let Some(t) = &c.validated {
        v["validated"] = json!(t);
    }
    if let Some(e) = &c.error {
        v["error"] = e.clone();
    }
    v
}

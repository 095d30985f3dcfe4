//! step-ca's request and response JSON (smallstep/certificates `api/`), and the error body
//! `{"status": N, "message": "..."}`.

use std::time::{Duration, SystemTime};

use mayfly_authority::AuthorityError;
use mayfly_authority::config::GoDuration;
use mayfly_template::{Certificate, certificate_to_pem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A request that failed, as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Message safe to show to the client.
    pub message: String,
    /// Reason label for metrics (`bad_request`, `unauthorized`, ...).
    pub kind: &'static str,
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// Any status, kind and message.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
        }
    }

    /// The JSON body step clients parse.
    pub fn body(&self) -> String {
        serde_json::json!({"status": self.status, "message": self.message}).to_string()
    }
}

impl From<AuthorityError> for ApiError {
    fn from(e: AuthorityError) -> Self {
        Self::new(e.status(), e.kind(), e.to_string())
    }
}

/// Parses a JSON body, naming the field at fault (`notBefore: invalid type ...`).
pub fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("invalid JSON request body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON request body: field {path}: {inner}"))
        }
    })
}

/// `POST /sign`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignBody {
    /// The CSR, PEM.
    pub csr: String,
    /// The one-time token.
    pub ott: String,
    /// RFC 3339 time or a Go duration from now.
    #[serde(default)]
    pub not_before: Option<String>,
    /// RFC 3339 time or a Go duration from now.
    #[serde(default)]
    pub not_after: Option<String>,
    /// User data for the template (`.Insecure.User`).
    #[serde(default)]
    pub template_data: Option<Value>,
}

/// `POST /rekey`.
#[derive(Debug, Deserialize)]
pub struct RekeyBody {
    /// The CSR for the new key, PEM.
    pub csr: String,
}

/// `POST /revoke`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeBody {
    /// The serial, decimal (as step sends it) or hex.
    pub serial: String,
    /// A revoke token; absent or empty when the client authenticates with mTLS.
    #[serde(default)]
    pub ott: Option<String>,
    /// RFC 5280 CRLReason.
    #[serde(default)]
    pub reason_code: Option<u8>,
    /// Free text.
    #[serde(default)]
    pub reason: String,
    /// step only implements passive revocation (`true`); `false` is refused.
    #[serde(default)]
    pub passive: Option<bool>,
}

/// `201` body of sign, renew and rekey.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignResponse {
    /// The leaf, PEM.
    pub crt: String,
    /// The issuing intermediate, PEM.
    pub ca: String,
    /// Leaf then intermediates, PEM each.
    pub cert_chain: Vec<String>,
}

impl SignResponse {
    /// From an issued certificate and its chain.
    pub fn new(leaf: &Certificate, chain: &[Certificate]) -> Result<Self, ApiError> {
        let crt = pem(leaf)?;
        let chain_pem = chain.iter().map(pem).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            ca: chain_pem.first().cloned().unwrap_or_default(),
            cert_chain: std::iter::once(crt.clone()).chain(chain_pem).collect(),
            crt,
        })
    }
}

/// A certificate as PEM, or a 500.
pub fn pem(cert: &Certificate) -> Result<String, ApiError> {
    certificate_to_pem(cert)
        .map_err(|e| ApiError::new(500, "internal", format!("encoding a certificate: {e}")))
}

/// `notBefore`/`notAfter`: empty or absent is none, else RFC 3339 or a Go duration from now.
pub fn parse_time(value: Option<&str>, field: &str) -> Result<Option<SystemTime>, ApiError> {
    let Some(text) = value.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Some(t.into()));
    }
    GoDuration::parse(text)
        .map(|d| Some(SystemTime::now() + Duration::from(d)))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{field} {text:?} is neither an RFC 3339 time nor a duration such as \"5m\""
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<SignBody>(br#"{"csr": "x", "ott": 5}"#).expect_err("bad type");
        assert_eq!(err.status, 400);
        assert!(err.message.contains("field ott"), "{}", err.message);
        let err = parse_json::<SignBody>(br#"{"csr": "x"}"#).expect_err("missing ott");
        assert!(
            err.message.contains("missing field `ott`"),
            "{}",
            err.message
        );
        let body = err.body();
        let v: Value = serde_json::from_str(&body).expect("error body is JSON");
        assert_eq!(v["status"], 400);
    }

    #[test]
    fn times_are_rfc3339_or_go_durations() {
        assert_eq!(parse_time(Some(""), "notBefore").expect("empty"), None);
        let t = parse_time(Some("2030-01-02T03:04:05Z"), "notAfter")
            .expect("rfc3339")
            .expect("some");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after epoch")
                .as_secs(),
            1_893_553_445
        );
        let later = parse_time(Some("5m"), "notAfter")
            .expect("duration")
            .expect("some");
        assert!(later > SystemTime::now() + Duration::from_secs(290));
        let err = parse_time(Some("tomorrow"), "notAfter").expect_err("junk");
        assert!(
            err.message.contains("notAfter \"tomorrow\""),
            "{}",
            err.message
        );
    }
}

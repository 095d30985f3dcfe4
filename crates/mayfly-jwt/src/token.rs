//! One-time tokens: the claims step CLI writes, and minting them with any [`Signer`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mayfly_keys::Signer;
use serde::{Deserialize, Serialize};

use crate::{TokenError, b64};

/// The lifetime Mayfly gives a token, and the longest a provisioner accepts by default.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The CA operation a token is for; it is the last segment of the `aud` URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /1.0/sign`.
    Sign,
    /// `POST /1.0/revoke`.
    Revoke,
    /// `POST /1.0/renew`.
    Renew,
    /// The admin API (`/admin/...`, also served under `/1.0/admin/...`).
    Admin,
}

impl Operation {
    /// The path the `aud` URL ends with (`/1.0/sign`, ...).
    pub fn path(self) -> &'static str {
        match self {
            Self::Sign => "/1.0/sign",
            Self::Revoke => "/1.0/revoke",
            Self::Renew => "/1.0/renew",
            Self::Admin => "/admin",
        }
    }

    /// Whether an `aud` URL's path names this operation (the admin API takes `/admin` and
    /// `/1.0/admin`).
    pub fn accepts_path(self, path: &str) -> bool {
        path == self.path() || (self == Self::Admin && path == "/1.0/admin")
    }

    /// The audience for a CA at `host_port` (`ca.example.com` or `ca.example.com:9000`):
    /// `https://HOST[:PORT]/1.0/OPERATION`.
    pub fn audience(self, host_port: &str) -> String {
        format!("https://{host_port}{}", self.path())
    }
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, as step writes it.
    One(String),
    /// Several audiences; the token is valid if one of them matches.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences as a slice.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

/// The claims of a one-time token, in the shape step CLI writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The provisioner name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The subject: the certificate's common name, or its serial for revoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `https://HOST[:PORT]/1.0/sign` (or `/revoke`, `/renew`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// The names the certificate may carry (defaults to `[sub]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sans: Option<Vec<String>>,
    /// The root certificate's SHA-256 fingerprint (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Not before (seconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at (seconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expires (seconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The token id: 64 hex characters, recorded to refuse a second use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl TokenClaims {
    /// Claims for `subject`, issued by provisioner `issuer` for `audience`, valid from `now`
    /// for [`DEFAULT_TOKEN_LIFETIME`], `sans` = `[subject]` and a fresh random `jti`.
    pub fn new(issuer: &str, subject: &str, audience: &str, now: SystemTime) -> Self {
        let now = unix_seconds(now);
        Self {
            iss: Some(issuer.into()),
            sub: Some(subject.into()),
            aud: Some(Audience::One(audience.into())),
            sans: Some(vec![subject.into()]),
            sha: None,
            nbf: Some(now),
            iat: Some(now),
            exp: Some(now.saturating_add(secs(DEFAULT_TOKEN_LIFETIME))),
            jti: Some(hex::encode(mayfly_keys::random_bytes::<32>())),
        }
    }

    /// Replaces the SANs.
    pub fn with_sans(mut self, sans: Vec<String>) -> Self {
        self.sans = Some(sans);
        self
    }

    /// Sets the root fingerprint (`sha`).
    pub fn with_root_fingerprint(mut self, sha256_hex: &str) -> Self {
        self.sha = Some(sha256_hex.into());
        self
    }

    /// Sets `exp` to `nbf` (or `iat`) plus `lifetime`.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        let start = self.nbf.or(self.iat).unwrap_or_default();
        self.exp = Some(start.saturating_add(secs(lifetime)));
        self
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'static str,
}

/// Mints a compact JWS token: header `alg` (the signer's), `kid`, `typ` JWT; the claims as
/// given. The signer may be a software key or an HSM key.
pub fn mint_token(
    signer: &dyn Signer,
    kid: &str,
    claims: &TokenClaims,
) -> Result<String, TokenError> {
    let header = Header {
        alg: signer.algorithm().jws_name(),
        kid,
        typ: "JWT",
    };
    let signing_input = format!(
        "{}.{}",
        b64::encode(to_json(&header)?),
        b64::encode(to_json(claims)?)
    );
    let signature = signer.sign_jws(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64::encode(signature)))
}

/// Decodes a token's header and claims **without verifying anything** (for inspection).
pub fn decode_unverified(
    token: &str,
) -> Result<(serde_json::Value, serde_json::Value), TokenError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, claims, _signature] = parts[..] else {
        return Err(TokenError::NotCompact);
    };
    let header = b64::decode(header).ok_or(TokenError::BadEncoding("header"))?;
    let claims = b64::decode(claims).ok_or(TokenError::BadEncoding("claims"))?;
    Ok((
        serde_json::from_slice(&header).map_err(|e| TokenError::BadHeader(e.to_string()))?,
        serde_json::from_slice(&claims).map_err(|e| TokenError::BadClaims(e.to_string()))?,
    ))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, TokenError> {
    serde_json::to_string(value).map_err(|e| TokenError::BadClaims(e.to_string()))
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => secs(after),
        Err(before) => -secs(before.duration()),
    }
}

pub(crate) fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

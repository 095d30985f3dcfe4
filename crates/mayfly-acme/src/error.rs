//! The crate's one error type and its mapping to RFC 8555 problem documents (§6.7).

use mayfly_authority::AuthorityError;
use mayfly_jwt::JwsError;
use mayfly_store::StoreError;

/// The RFC 8555 / RFC 8737 problem types Mayfly returns (`urn:ietf:params:acme:error:*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The account does not exist (`onlyReturnExisting`, unknown `kid`).
    AccountDoesNotExist,
    /// The certificate is already revoked.
    AlreadyRevoked,
    /// The CSR is unacceptable.
    BadCsr,
    /// The nonce is unknown, malformed, expired or used.
    BadNonce,
    /// The JWS key is unsupported.
    BadPublicKey,
    /// The revocation reason is not allowed.
    BadRevocationReason,
    /// The JWS algorithm is unsupported.
    BadSignatureAlgorithm,
    /// The validation server could not be reached.
    Connection,
    /// A DNS lookup failed during validation.
    Dns,
    /// The provisioner requires external account binding.
    ExternalAccountRequired,
    /// The challenge response did not match.
    IncorrectResponse,
    /// The request is malformed.
    Malformed,
    /// The order is not ready to be finalized.
    OrderNotReady,
    /// The server failed.
    ServerInternal,
    /// TLS failed during validation.
    Tls,
    /// The client lacks the right.
    Unauthorized,
    /// An identifier type is not supported.
    UnsupportedIdentifier,
    /// The server will not issue for this identifier.
    RejectedIdentifier,
    /// A contact URL is not a `mailto:` address.
    UnsupportedContact,
}

impl ProblemKind {
    /// The problem type's short name (after `urn:ietf:params:acme:error:`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AccountDoesNotExist => "accountDoesNotExist",
            Self::AlreadyRevoked => "alreadyRevoked",
            Self::BadCsr => "badCSR",
            Self::BadNonce => "badNonce",
            Self::BadPublicKey => "badPublicKey",
            Self::BadRevocationReason => "badRevocationReason",
            Self::BadSignatureAlgorithm => "badSignatureAlgorithm",
            Self::Connection => "connection",
            Self::Dns => "dns",
            Self::ExternalAccountRequired => "externalAccountRequired",
            Self::IncorrectResponse => "incorrectResponse",
            Self::Malformed => "malformed",
            Self::OrderNotReady => "orderNotReady",
            Self::ServerInternal => "serverInternal",
            Self::Tls => "tls",
            Self::Unauthorized => "unauthorized",
            Self::UnsupportedIdentifier => "unsupportedIdentifier",
            Self::RejectedIdentifier => "rejectedIdentifier",
            Self::UnsupportedContact => "unsupportedContact",
        }
    }

    /// The full URN.
    pub fn urn(self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.name())
    }

    /// The HTTP status a problem of this type is sent with.
    pub fn status(self) -> u16 {
        match self {
            // As Boulder and Pebble answer (uacme expects 400 for accountDoesNotExist).
            Self::Unauthorized | Self::OrderNotReady => 403,
            Self::ServerInternal => 500,
            _ => 400,
        }
    }
}

/// Everything an ACME request can fail with. [`AcmeError::problem`] turns it into the
/// problem document sent to the client; internal details are logged, not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// A protocol problem with a detail safe to show the client.
    #[error("{kind:?}: {detail}")]
    Problem {
        /// Its RFC 8555 type.
        kind: ProblemKind,
        /// The human-readable detail.
        detail: String,
        /// The HTTP status, when it differs from the type's default (404 for unknown URLs).
        status: Option<u16>,
    },
    /// The CA refused or failed.
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AcmeError {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self::Problem {
            kind,
            detail: detail.into(),
            status: None,
        }
    }

    /// `malformed`.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Malformed, detail)
    }

    /// `malformed` with status 404 (unknown object or URL).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::Problem {
            kind: ProblemKind::Malformed,
            detail: detail.into(),
            status: Some(404),
        }
    }

    /// `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unauthorized, detail)
    }

    /// The problem type, HTTP status and client-safe detail.
    pub fn problem(&self) -> (ProblemKind, u16, String) {
        match self {
            Self::Problem {
                kind,
                detail,
                status,
            } => (*kind, status.unwrap_or(kind.status()), detail.clone()),
            Self::Authority(e) => {
                let kind = match e {
                    AuthorityError::BadRequest(_) => ProblemKind::Malformed,
                    AuthorityError::Unauthorized(_) => ProblemKind::Unauthorized,
                    AuthorityError::Forbidden(_) => ProblemKind::RejectedIdentifier,
                    AuthorityError::NotFound(_) => ProblemKind::Malformed,
                    _ => ProblemKind::ServerInternal,
                };
                let status = if matches!(kind, ProblemKind::ServerInternal) {
                    e.status()
                } else if matches!(e, AuthorityError::NotFound(_)) {
                    404
                } else {
                    kind.status()
                };
                (kind, status, e.to_string())
            }
            Self::Store(e) if e.is_unavailable() => (
                ProblemKind::ServerInternal,
                503,
                "the CA's storage is unavailable; retry later".into(),
            ),
            Self::Store(_) => (ProblemKind::ServerInternal, 500, "storage failure".into()),
        }
    }

    /// The problem document (RFC 7807 JSON).
    pub fn to_json(&self) -> serde_json::Value {
        let (kind, status, detail) = self.problem();
        serde_json::json!({"type": kind.urn(), "detail": detail, "status": status})
    }
}

impl From<JwsError> for AcmeError {
    fn from(e: JwsError) -> Self {
        let kind = match &e {
            JwsError::BadAlg(_) | JwsError::AlgKeyMismatch { .. } => {
                ProblemKind::BadSignatureAlgorithm
            }
            JwsError::Jwk(_) => ProblemKind::BadPublicKey,
            JwsError::BadSignature => ProblemKind::Unauthorized,
            _ => ProblemKind::Malformed,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<mayfly_jwt::JwkError> for AcmeError {
    fn from(e: mayfly_jwt::JwkError) -> Self {
        Self::new(ProblemKind::BadPublicKey, e.to_string())
    }
}

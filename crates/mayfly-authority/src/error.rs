//! The authority's error: what went wrong, and which class of failure it is, so that the
//! server maps it to an HTTP status in one place.

/// A refused or failed CA operation. The message is safe to show to the requester.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The request is malformed (bad CSR, bad options). HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The requester is not authenticated (bad, expired or replayed token; no client
    /// certificate). HTTP 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The requester is authenticated but asks for something not allowed (a name outside
    /// policy, a CA certificate, renewal of a revoked certificate). HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist. HTTP 404.
    #[error("{0}")]
    NotFound(String),
    /// What the request would change was changed by another request meanwhile (an ACME
    /// order finalized twice at once); nothing was stored. HTTP 409.
    #[error("{0}")]
    Conflict(String),
    /// Storage is unreachable or full; the request may be retried. HTTP 503.
    #[error("the CA's storage is unavailable: {0}")]
    Unavailable(String),
    /// The CA is misconfigured (keys, certificates, config). Fails `open`/`reload`.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug or an unexpected failure. HTTP 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthorityError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Unavailable(_) => 503,
            Self::Config(_) | Self::Internal(_) => 500,
        }
    }

    /// A short name of the class, for metrics and the audit log (`bad_request`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Config(_) => "config",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<mayfly_store::StoreError> for AuthorityError {
    fn from(e: mayfly_store::StoreError) -> Self {
        use mayfly_store::StoreError as S;
        let message = e.to_string();
        match e {
            S::TokenReplayed(_) => Self::Unauthorized("the token has already been used".into()),
            S::InvalidInput { .. } => Self::BadRequest(message),
            S::Changed { .. } => Self::Conflict(message),
            S::Config(_) | S::UnsupportedType(_) | S::SchemaTooNew { .. } => Self::Config(message),
            S::DuplicateSerial(_) | S::AlreadyExists { .. } | S::Corrupt { .. } => {
                Self::Internal(message)
            }
            _ => Self::Unavailable(message),
        }
    }
}

impl From<crate::config::ConfigError> for AuthorityError {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::Config(e.to_string())
    }
}

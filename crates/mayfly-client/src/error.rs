//! The one error type of the client, with the server's own message when it sent one.

use std::path::PathBuf;

/// Everything that can go wrong talking to a Mayfly (or step-ca) CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The CA URL cannot be used.
    #[error("bad CA URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A fingerprint is not 64 hex characters.
    #[error("bad root fingerprint {0:?}: expected 64 hex characters (SHA-256 of the DER root)")]
    BadFingerprint(String),
    /// The root the CA sent does not hash to the fingerprint we were given.
    #[error("the CA's root does not match fingerprint {expected} (its SHA-256 is {actual})")]
    FingerprintMismatch {
        /// The fingerprint the caller trusts.
        expected: String,
        /// The fingerprint of what the CA sent.
        actual: String,
    },
    /// The CA could not be reached (connection refused, DNS, TLS handshake, timeout).
    #[error("cannot reach the CA at {url}: {reason}")]
    Unreachable {
        /// The CA URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The CA answered with an error status.
    #[error("the CA refused {operation} ({status}): {message}")]
    Server {
        /// What was asked (`POST /1.0/sign`, ...).
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The CA's `message`, or the body text when it sent no JSON.
        message: String,
    },
    /// The CA answered 2xx with a body we cannot read.
    #[error("unexpected answer from the CA to {operation}: {reason}")]
    BadResponse {
        /// What was asked.
        operation: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// No JWK provisioner of that name (or none at all, or several and no name given).
    #[error("provisioner: {0}")]
    Provisioner(String),
    /// A token given to us cannot be used.
    #[error("token: {0}")]
    Token(String),
    /// A certificate cannot be read, or is not usable for what was asked.
    #[error("certificate: {0}")]
    Certificate(String),
    /// TLS configuration (client certificate, key, root).
    #[error("TLS: {0}")]
    Tls(String),
    /// Keys: loading, generating, writing files.
    #[error(transparent)]
    Key(#[from] mayfly_keys::KeyError),
    /// JOSE: decrypting the provisioner key, minting a token.
    #[error(transparent)]
    Jwt(#[from] mayfly_jwt::Error),
    /// Building a CSR or parsing a certificate.
    #[error(transparent)]
    Template(#[from] mayfly_template::Error),
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The renewal hook failed.
    #[error("renewal hook {command:?}: {reason}")]
    Hook {
        /// The hook command.
        command: String,
        /// What failed.
        reason: String,
    },
}

impl ClientError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether trying again later may help (the CA was unreachable or failed with a 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<mayfly_jwt::JweError> for ClientError {
    fn from(e: mayfly_jwt::JweError) -> Self {
        Self::Jwt(e.into())
    }
}

impl From<mayfly_jwt::JwkError> for ClientError {
    fn from(e: mayfly_jwt::JwkError) -> Self {
        Self::Jwt(e.into())
    }
}

impl From<mayfly_jwt::TokenError> for ClientError {
    fn from(e: mayfly_jwt::TokenError) -> Self {
        Self::Jwt(e.into())
    }
}

//! The one error type of the load generator.

use std::path::PathBuf;

/// Everything that can stop `mayfly-loadgen`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// ca.json is not what `mayfly-ca init` writes.
    #[error("ca.json: {0}")]
    Config(String),
    /// The named provisioner is missing or not a JWK provisioner with an encrypted key.
    #[error("provisioner {0:?}: not found in ca.json or has no encryptedKey")]
    Provisioner(String),
    /// A key operation failed.
    #[error(transparent)]
    Key(#[from] mayfly_keys::KeyError),
    /// Decrypting the provisioner key or minting a token failed.
    #[error(transparent)]
    Jwt(#[from] mayfly_jwt::Error),
    /// Building a certificate or request failed.
    #[error(transparent)]
    Template(#[from] mayfly_template::Error),
    /// The authority refused or failed.
    #[error(transparent)]
    Authority(#[from] mayfly_authority::AuthorityError),
    /// An ACME exchange failed (network, TLS, or an unexpected answer).
    #[error("ACME: {0}")]
    Acme(String),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] mayfly_store::StoreError),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong with a key, a key file or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key uses an algorithm, curve or size Mayfly does not support.
    #[error("unsupported key algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The key is of a kind Mayfly supports but its encoding is broken.
    #[error("malformed key: {0}")]
    Malformed(String),
    /// The signature algorithm does not fit the key (say, ES384 with a P-256 key).
    #[error("signature algorithm {algorithm} cannot be used with a {key} key")]
    AlgorithmMismatch {
        /// The signature algorithm asked for.
        algorithm: String,
        /// The kind of key at hand.
        key: String,
    },
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The signing operation itself failed (RNG, HSM, ...).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The key file is encrypted and no password was given.
    #[error("the private key is encrypted: a password is required")]
    PasswordRequired,
    /// Decryption failed: the password is wrong (or the ciphertext was tampered with).
    #[error("wrong password: the private key could not be decrypted")]
    WrongPassword,
    /// The PKCS#11 token (named by its label) refused the login: the PIN is wrong.
    #[error("wrong PIN: the PKCS#11 token {0:?} refused the login")]
    WrongPin(String),
    /// The key file is encrypted with DES or 3DES, which Mayfly refuses to read.
    #[error(
        "unsupported legacy cipher {0}: re-encrypt the key with AES \
         (`openssl pkcs8 -topk8 -v2 aes-128-cbc`)"
    )]
    UnsupportedLegacyCipher(String),
    /// The file is not a private key format Mayfly reads (OpenSSH, cosign, ...).
    #[error("unsupported key file format: {0}")]
    UnsupportedFormat(String),
    /// The file ends before the key does.
    #[error("truncated key file: {0}")]
    Truncated(String),
    /// A password could not be obtained (empty file, no terminal, ...).
    #[error("password: {0}")]
    Password(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A key file exists already and overwriting was not asked for.
    #[error("{} already exists: refusing to overwrite it (use --force)", .0.display())]
    AlreadyExists(PathBuf),
    /// A `pkcs11:` URI is malformed or lacks a required attribute.
    #[error("invalid PKCS#11 URI: {0}")]
    InvalidUri(String),
    /// The PKCS#11 module or token failed.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
}

impl KeyError {
    /// An [`KeyError::Io`] for `path`.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

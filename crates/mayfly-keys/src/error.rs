//! The error type of this crate.

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
}

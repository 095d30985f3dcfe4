//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong building CRLs, reading index.txt or answering OCSP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// A line of an OpenSSL `index.txt` is malformed.
    #[error("index.txt line {line}: {problem}")]
    IndexLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// No index entry has this serial number.
    #[error("serial {0} is not in the index")]
    UnknownSerial(String),
    /// The certificate with this serial is already revoked.
    #[error("serial {0} is already revoked")]
    AlreadyRevoked(String),
    /// A certificate with this serial is already recorded.
    #[error("serial {0} is already in the index")]
    DuplicateSerial(String),
    /// A serial number or CRL number is not acceptable.
    #[error("invalid serial number: {0}")]
    Serial(String),
    /// A revocation reason name is not one RFC 5280 / OpenSSL knows.
    #[error(
        "unknown revocation reason {0:?} (expected keyCompromise, CACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise or unspecified)"
    )]
    Reason(String),
    /// A time string (index.txt, CRL) is malformed or out of range.
    #[error("invalid time {0:?}: expected YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ")]
    Time(String),
    /// thisUpdate/nextUpdate or a validity period makes no sense.
    #[error("invalid validity: {0}")]
    Validity(String),
    /// A certificate could not be parsed or lacks something required.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The signing key does not belong to the issuer certificate.
    #[error("the signing key does not match the public key of the certificate {0:?}")]
    KeyMismatch(String),
    /// An OCSP request could not be parsed.
    #[error("malformed OCSP request: {0}")]
    OcspRequest(String),
    /// DER encoding or decoding failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// Signing failed.
    #[error("signing: {0}")]
    Key(#[from] mayfly_keys::KeyError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CrlError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

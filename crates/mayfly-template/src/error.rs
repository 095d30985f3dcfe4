//! The crate's error type.

use mayfly_keys::KeyError;

use crate::TemplateError;

/// Everything that can go wrong between a template and a signed certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template failed to parse or render, or called `fail`.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The rendered profile is not a valid certificate profile.
    #[error("invalid certificate profile: {0}")]
    Profile(String),
    /// The certificate signing request is malformed.
    #[error("invalid certificate request: {0}")]
    Request(String),
    /// The certificate signing request's self-signature does not verify.
    #[error("certificate request signature does not verify")]
    RequestSignature,
    /// A key problem: unsupported or weak key, signing failure.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A certificate could not be parsed or built.
    #[error("certificate: {0}")]
    Certificate(String),
    /// DER/PEM encoding failed.
    #[error("encoding: {0}")]
    Encoding(String),
}

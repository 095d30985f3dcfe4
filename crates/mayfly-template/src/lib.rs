//! Certificate templating for Mayfly: Go text/template syntax -> JSON certificate profile ->
//! signed X.509.
//!
//! Operators shape certificates with templates written for step-ca: [`Template`] runs Go
//! text/template syntax (with `toJson`, `fail`, `typeIs` and the sprig functions templates
//! use) under size and step [`Limits`]. The output is a [`CertificateProfile`], which
//! [`build_certificate`] turns into a signed certificate through any
//! [`mayfly_keys::Signer`]. [`CertificateRequest`] parses and verifies CSRs ([`build_request`]
//! makes them); [`lint`] finds where requester data (`.Insecure`) could steer a certificate.
//!
//! ```
//! use mayfly_keys::{KeyType, PrivateKey, Signer};
//! use mayfly_template::{
//!     build_certificate, CertificateProfile, Issuer, San, Template, TemplateData,
//!     ValidityPeriod, DEFAULT_LEAF_TEMPLATE, DEFAULT_ROOT_TEMPLATE, CA_LIFETIME, LEAF_LIFETIME,
//! };
//!
//! // A root, then a leaf it signs.
//! let root_key = PrivateKey::generate(KeyType::default())?;
//! let data = TemplateData::new("Example Root", &[]).to_value();
//! let root_json = Template::parse("root", DEFAULT_ROOT_TEMPLATE)?.render(&data)?;
//! let root_profile = CertificateProfile::from_json(&root_json)?;
//! let root = build_certificate(&root_profile, root_key.public_key(), Issuer::SelfSigned(&root_key),
//!     ValidityPeriod::starting_now(CA_LIFETIME))?;
//!
//! let leaf_key = PrivateKey::generate(KeyType::default())?;
//! let data = TemplateData::new("example.com", &[San::guess("example.com")])
//!     .with_public_key(leaf_key.public_key())
//!     .to_value();
//! let leaf_json = Template::parse("leaf", DEFAULT_LEAF_TEMPLATE)?.render(&data)?;
//! assert!(leaf_json.contains(r#""keyUsage": ["digitalSignature"]"#));
//! let leaf = build_certificate(&CertificateProfile::from_json(&leaf_json)?, leaf_key.public_key(),
//!     Issuer::Ca(&root, &root_key), ValidityPeriod::starting_now(LEAF_LIFETIME))?;
//! assert_eq!(leaf.tbs_certificate().issuer(), root.tbs_certificate().subject());
//! # Ok::<(), mayfly_template::Error>(())
//! ```
#![forbid(unsafe_code)]

mod builder;
mod cert;
mod csr;
mod defaults;
mod duration;
mod engine;
mod error;
mod extensions;
mod lint;
mod profile;

pub use builder::{
    BACKDATE, Issuer, MayflyProfile, ValidityPeriod, build_certificate, build_from_template,
    key_identifier, reissue_certificate, subject_key_identifier,
};
pub use cert::{
    certificate_public_key, certificate_sans, certificate_to_der, certificate_to_pem,
    fingerprint_sha256, inspect, parse_certificate_chain_pem, parse_certificate_der,
    parse_certificate_pem, signature_algorithm_name,
};
pub use csr::{CertificateRequest, build_request, public_key_value, subject_value};
pub use defaults::{
    CA_LIFETIME, DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_LEAF_TEMPLATE, DEFAULT_ROOT_TEMPLATE,
    LEAF_LIFETIME, TemplateData,
};
pub use duration::{DurationError, GoDuration};
pub use engine::value::TYPE_KEY;
pub use engine::{Limits, Template, TemplateError};
pub use error::Error;
pub use extensions::name_from_subject;
pub use lint::{LintKind, LintWarning, SENSITIVE_KEYS, lint};
pub use profile::{
    BasicConstraints, CertificateProfile, MultiString, NameConstraints, RawExtension, San, Subject,
};
pub use x509_cert::Certificate;

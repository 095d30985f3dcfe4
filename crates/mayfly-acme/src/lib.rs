//! Mayfly's ACME server (RFC 8555, with tls-alpn-01 from RFC 8737 and IP identifiers from
//! RFC 8738), over a [`mayfly_authority::Authority`], without HTTP of its own.
//!
//! [`AcmeService::handle`] takes one [`AcmeHttpRequest`] (method, the path under
//! `/acme/{provisioner}`, the absolute base URL, content type, body) and returns an
//! [`AcmeHttpResponse`]; the server mounts it under `/acme/{provisioner}/` and
//! `/2.0/acme/{provisioner}/`. Accounts, orders and authorizations are separate store rows
//! updated with optimistic concurrency, so one account may run any number of orders at once
//! on any number of instances. Nonces are HMAC-signed with a secret the instances share
//! ([`AcmeOptions::from_store`]) and recorded in the store when used, so they are refused
//! only when forged, expired or replayed. Challenges (http-01, dns-01, tls-alpn-01) are
//! validated in the background, with the ports and DNS resolver of the provisioner's
//! `validation` block.
//!
//! ```
//! use mayfly_acme::{Identifier, ProblemKind};
//!
//! let id = Identifier { kind: "dns".into(), value: "*.Example.TEST.".into() };
//! let id = id.normalized()?;
//! assert_eq!(id.value, "*.example.test");
//! assert!(id.is_wildcard());
//! assert_eq!(ProblemKind::BadNonce.urn(), "urn:ietf:params:acme:error:badNonce");
//! # Ok::<(), mayfly_acme::AcmeError>(())
//! ```
#![forbid(unsafe_code)]

mod account;
mod dns;
mod error;
mod jws;
mod model;
mod nonce;
mod order;
mod revoke;
mod service;
mod validate;

pub use error::{AcmeError, ProblemKind};
pub use model::Identifier;
pub use nonce::NONCE_LIFETIME;
pub use order::{CHALLENGE_TYPES, MAX_IDENTIFIERS};
pub use service::{
    AcmeHttpRequest, AcmeHttpResponse, AcmeOptions, AcmeService, add_eab_key, eab_keys_json,
};

/// base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

//! Revocation artefacts for Mayfly: X.509 v2 CRLs, the OpenSSL CA database (`index.txt`) and
//! RFC 6960 OCSP responses.
//!
//! - [`CrlBuilder`] encodes a CRL straight into one buffer (a million entries in well under
//!   a second) and signs it with any [`mayfly_keys::Signer`]; its AKI is the issuer's subject
//!   key identifier, so `openssl verify -crl_check` finds it for intermediates too.
//! - [`Index`] reads, updates (revoke, expire, add) and writes `index.txt` exactly as
//!   `openssl ca` does; [`Index::revoked`] feeds the builder the `R` rows.
//! - [`OcspResponder`] turns request bytes plus a status lookup into signed response bytes,
//!   signed by the CA or a delegated responder.
//! - [`CertInfo`] holds what these need from a certificate (subject, SKI, key, serial).
//!
//! ```
//! use mayfly_crl::{CertInfo, CrlBuilder, CrlError, Index, Reason, Serial};
//! use time::{Duration, OffsetDateTime};
//!
//! /// Publishes a week-long CRL of every revoked row of `index`.
//! fn publish(
//!     ca: &CertInfo,
//!     key: &dyn mayfly_keys::Signer,
//!     index: &Index,
//!     number: Serial,
//! ) -> Result<Vec<u8>, CrlError> {
//!     let now = OffsetDateTime::now_utc();
//!     let mut builder = CrlBuilder::new(ca, now, now + Duration::days(7), number);
//!     builder.extend(index.revoked());
//!     Ok(builder.sign(key)?.into_der())
//! }
//!
//! let mut index = Index::parse("V\t301231235959Z\t\t0A\tunknown\t/CN=leaf\n")?;
//! index.revoke(Serial::from_hex("0a")?, Some(Reason::KeyCompromise), OffsetDateTime::now_utc())?;
//! let revoked: Vec<_> = index.revoked().collect();
//! assert_eq!(revoked[0].serial.to_hex(), "0A");
//! assert_eq!(revoked[0].reason, Some(Reason::KeyCompromise));
//! # let _ = publish;
//! # Ok::<(), CrlError>(())
//! ```
#![forbid(unsafe_code)]

mod asn1_time;
mod cert;
mod crl;
mod encode;
mod error;
mod index;
mod ocsp;
mod ocsp_asn1;
mod reason;
mod serial;

pub use cert::{CertInfo, ID_KP_OCSP_SIGNING};
pub use crl::{Crl, CrlBuilder, CrlEntries, IssuingDistributionPoint, RevokedCert};
pub use error::CrlError;
pub use index::{Index, IndexEntry, Revocation, Status};
pub use ocsp::{
    CertId, CertStatus, HashAlgorithm, OcspError, OcspRequest, OcspResponder, decode_get_path,
};
pub use reason::Reason;
pub use serial::{MAX_SERIAL_LEN, Serial};

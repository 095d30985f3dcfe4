//! RFC 6960 OCSP: parse a request (DER from a POST body, or the base64 path of a GET), answer
//! it with a signed basic response from a status lookup.
//!
//! ```text
//! OCSPResponse ::= SEQUENCE {
//!    responseStatus         OCSPResponseStatus,
//!    responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
//! BasicOCSPResponse       ::= SEQUENCE {
//!    tbsResponseData      ResponseData,
//!    signatureAlgorithm   AlgorithmIdentifier,
//!    signature            BIT STRING,
//!    certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//! ResponseData ::= SEQUENCE {
//!    version              [0] EXPLICIT Version DEFAULT v1,
//!    responderID              ResponderID,
//!    producedAt               GeneralizedTime,
//!    responses                SEQUENCE OF SingleResponse,
//!    responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
//! ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }
//! SingleResponse ::= SEQUENCE {
//!    certID                       CertID,
//!    certStatus                   CertStatus,
//!    thisUpdate                   GeneralizedTime,
//!    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
//!    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
//! CertStatus ::= CHOICE {
//!    good        [0]     IMPLICIT NULL,
//!    revoked     [1]     IMPLICIT RevokedInfo,
//!    unknown     [2]     IMPLICIT UnknownInfo }
//! RevokedInfo ::= SEQUENCE {
//!    revocationTime              GeneralizedTime,
//!    revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
//! ```
//! Responses are written by hand with the same DER helpers as the CRL builder; the responder
//! is identified by key hash.

use base64::Engine as _;
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha1::{Digest, Sha1};
use time::{Duration, OffsetDateTime};

use crate::encode::{extension, push_generalized_time, signed, tag, tlv, tlv_of};
use crate::ocsp_asn1::OcspRequestAsn1;
use crate::{CertInfo, CrlError, Reason, Serial};

/// id-pkix-ocsp-basic.
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// Largest nonce extension value echoed (RFC 8954 allows 1-32 octets of nonce).
const MAX_NONCE_LEN: usize = 34;

/// The hash algorithms a CertID may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1 (what OpenSSL and most clients send).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    const OIDS: [(Self, ObjectIdentifier); 4] = [
        (Self::Sha1, ObjectIdentifier::new_unwrap("1.3.14.3.2.26")),
        (
            Self::Sha256,
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
        ),
        (
            Self::Sha384,
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
        ),
        (
            Self::Sha512,
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        ),
    ];

    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::OIDS.iter().find(|(_, o)| o == oid).map(|(h, _)| *h)
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// One CertID of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    /// The hash algorithm, `None` when the client used one this crate does not know.
    pub hash: Option<HashAlgorithm>,
    /// Hash of the issuer's Name DER.
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's subjectPublicKey.
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number.
    pub serial: Serial,
    der: Vec<u8>,
}

impl CertId {
    /// Whether this CertID names a certificate issued by `issuer`.
    pub fn is_issued_by(&self, issuer: &CertInfo) -> bool {
        self.hash.is_some_and(|h| {
            h.digest(issuer.subject_der()) == self.issuer_name_hash
                && h.digest(issuer.public_key_bits()) == self.issuer_key_hash
        })
    }
}

/// A parsed OCSP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    /// The certificates asked about.
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's value (echoed in the response), if the client sent one.
    pub nonce: Option<Vec<u8>>,
}

impl OcspRequest {
    /// Parses a DER request (the body of an `application/ocsp-request` POST).
    pub fn from_der(der: &[u8]) -> Result<Self, CrlError> {
        let request =
            OcspRequestAsn1::from_der(der).map_err(|e| CrlError::OcspRequest(e.to_string()))?;
        let tbs = request.tbs_request;
        if tbs.version.is_some_and(|v| v != 0) {
            return Err(CrlError::OcspRequest(
                "only version 1 requests exist".into(),
            ));
        }
        if tbs.request_list.is_empty() {
            return Err(CrlError::OcspRequest("empty requestList".into()));
        }
        let nonce = tbs
            .request_extensions
            .iter()
            .flatten()
            .find(|ext| ext.extn_id == ID_PKIX_OCSP_NONCE)
            .map(|ext| ext.extn_value.as_bytes().to_vec());
        if nonce
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.len() > MAX_NONCE_LEN)
        {
            return Err(CrlError::OcspRequest("nonce must be 1 to 32 octets".into()));
        }
        let cert_ids = tbs
            .request_list
            .iter()
            .map(|r| {
                let id = &r.req_cert;
                Ok(CertId {
                    hash: HashAlgorithm::from_oid(&id.hash_algorithm.oid),
                    issuer_name_hash: id.issuer_name_hash.as_bytes().to_vec(),
                    issuer_key_hash: id.issuer_key_hash.as_bytes().to_vec(),
                    serial: Serial::from_der_integer(id.serial_number.as_bytes())?,
                    der: id.to_der()?,
                })
            })
            .collect::<Result<_, CrlError>>()?;
        Ok(Self { cert_ids, nonce })
    }

    /// Parses the last path segment of a GET request: URL-encoded base64 of the DER
    /// (RFC 6960 Appendix A.1). Standard and URL-safe alphabets are accepted.
    pub fn from_get_path(segment: &str) -> Result<Self, CrlError> {
        Self::from_der(&decode_get_path(segment)?)
    }
}

/// The DER request a GET path segment carries (RFC 6960 Appendix A.1: URL-encoded base64,
/// standard or URL-safe alphabet, padding optional).
pub fn decode_get_path(segment: &str) -> Result<Vec<u8>, CrlError> {
    let decoded = percent_decode(segment)?;
    let text = decoded
        .trim_end_matches('/')
        .trim_end_matches('=')
        .replace('-', "+")
        .replace('_', "/");
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|e| CrlError::OcspRequest(format!("GET path is not base64: {e}")))
}

fn percent_decode(s: &str) -> Result<String, CrlError> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: Vec<u8> = bytes.by_ref().take(2).collect();
            let value = std::str::from_utf8(&hex)
                .ok()
                .filter(|h| h.len() == 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| CrlError::OcspRequest("bad %-escape in GET path".into()))?;
            out.push(value);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| CrlError::OcspRequest("GET path is not UTF-8".into()))
}

/// What the lookup says about one serial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued and not revoked.
    Good,
    /// Revoked at `time`, for `reason` when known.
    Revoked {
        /// Revocation time.
        time: OffsetDateTime,
        /// Revocation reason.
        reason: Option<Reason>,
    },
    /// Not known to this responder.
    Unknown,
}

/// Unsuccessful `OCSPResponseStatus` values (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OcspError {
    /// malformedRequest (1).
    MalformedRequest = 1,
    /// internalError (2).
    InternalError = 2,
    /// tryLater (3).
    TryLater = 3,
    /// sigRequired (5).
    SigRequired = 5,
    /// unauthorized (6): not a CA this responder answers for.
    Unauthorized = 6,
}

impl OcspError {
    /// The DER of an `OCSPResponse` carrying only this status.
    pub fn to_der(self) -> Vec<u8> {
        tlv(tag::SEQUENCE, &[tag::ENUMERATED, 1, self as u8])
    }
}

/// Signs OCSP responses for the certificates of one issuing CA, with the CA's own key or a
/// delegated responder's (a certificate with id-kp-OCSPSigning issued by that CA).
pub struct OcspResponder<'a> {
    issuer: &'a CertInfo,
    signer: &'a dyn mayfly_keys::Signer,
    responder: Option<&'a CertInfo>,
    validity: Duration,
}

impl std::fmt::Debug for OcspResponder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder")
            .field("issuer", &self.issuer.subject_oneline())
            .field("delegated", &self.responder.map(CertInfo::subject_oneline))
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl<'a> OcspResponder<'a> {
    /// Responses signed by the issuing CA itself; `signer` must hold the CA key.
    pub fn new(
        issuer: &'a CertInfo,
        signer: &'a dyn mayfly_keys::Signer,
    ) -> Result<Self, CrlError> {
        issuer.check_signer(signer)?;
        Ok(Self {
            issuer,
            signer,
            responder: None,
            validity: Duration::hours(24),
        })
    }

    /// Responses signed by a delegated responder: `responder` must be issued by `issuer` and
    /// carry id-kp-OCSPSigning, and `signer` must hold its key. The responder certificate is
    /// sent in every response.
    pub fn delegated(
        issuer: &'a CertInfo,
        responder: &'a CertInfo,
        signer: &'a dyn mayfly_keys::Signer,
    ) -> Result<Self, CrlError> {
        if responder.issuer_der() != issuer.subject_der() {
            return Err(CrlError::Certificate(format!(
                "the OCSP responder {} is not issued by {}",
                responder.subject_oneline(),
                issuer.subject_oneline()
            )));
        }
        if !responder.is_ocsp_signer() {
            return Err(CrlError::Certificate(format!(
                "the OCSP responder {} lacks extendedKeyUsage id-kp-OCSPSigning",
                responder.subject_oneline()
            )));
        }
        responder.check_signer(signer)?;
        Ok(Self {
            issuer,
            signer,
            responder: Some(responder),
            validity: Duration::hours(24),
        })
    }

    /// How long a response is valid (nextUpdate - thisUpdate); 24 hours by default.
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// Answers raw request bytes: always returns response bytes, an unsuccessful status for
    /// a request that cannot be parsed or that names only other CAs' certificates.
    pub fn respond(
        &self,
        request: &[u8],
        now: OffsetDateTime,
        lookup: impl FnMut(Serial) -> CertStatus,
    ) -> Vec<u8> {
        match OcspRequest::from_der(request) {
            Ok(request) => self
                .respond_to(&request, now, lookup)
                .unwrap_or_else(|_| OcspError::InternalError.to_der()),
            Err(_) => OcspError::MalformedRequest.to_der(),
        }
    }

    /// Answers a parsed request. CertIDs naming another issuer are answered `unknown`; when
    /// none names this issuer the response is `unauthorized`.
    pub fn respond_to(
        &self,
        request: &OcspRequest,
        now: OffsetDateTime,
        mut lookup: impl FnMut(Serial) -> CertStatus,
    ) -> Result<Vec<u8>, CrlError> {
        let ours: Vec<bool> = request
            .cert_ids
            .iter()
            .map(|id| id.is_issued_by(self.issuer))
            .collect();
        if !ours.contains(&true) {
            return Ok(OcspError::Unauthorized.to_der());
        }
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let next = now + self.validity;
        let mut responses = Vec::new();
        for (id, ours) in request.cert_ids.iter().zip(ours) {
            let status = if ours {
                lookup(id.serial)
            } else {
                CertStatus::Unknown
            };
            responses.extend_from_slice(&single_response(id, status, now, next));
        }

        let key_bits = self.responder.unwrap_or(self.issuer).public_key_bits();
        let responder_id = tlv(0xA2, &tlv(tag::OCTET_STRING, &Sha1::digest(key_bits)));
        let mut produced_at = Vec::new();
        push_generalized_time(&mut produced_at, now);
        let extensions = match &request.nonce {
            Some(nonce) => tlv(
                0xA1,
                &tlv(tag::SEQUENCE, &extension(&ID_PKIX_OCSP_NONCE, false, nonce)),
            ),
            None => Vec::new(),
        };
        let tbs = tlv_of(
            tag::SEQUENCE,
            &[
                &responder_id,
                &produced_at,
                &tlv(tag::SEQUENCE, &responses),
                &extensions,
            ],
        );
        let algorithm = self.signer.algorithm().algorithm_identifier()?.to_der()?;
        let signature = self.signer.sign(&tbs)?;
        let mut basic = signed(&tbs, &algorithm, &signature);
        if let Some(responder) = self.responder {
            // certs [0] EXPLICIT SEQUENCE OF Certificate, inside the BasicOCSPResponse.
            let certs = tlv(0xA0, &tlv(tag::SEQUENCE, responder.der()));
            let content = &basic[header_size(&basic)..];
            basic = tlv_of(tag::SEQUENCE, &[content, &certs]);
        }
        let oid = tlv(tag::OID, ID_PKIX_OCSP_BASIC.as_bytes());
        let bytes = tlv_of(tag::SEQUENCE, &[&oid, &tlv(tag::OCTET_STRING, &basic)]);
        Ok(tlv_of(
            tag::SEQUENCE,
            &[&[tag::ENUMERATED, 1, 0], &tlv(0xA0, &bytes)],
        ))
    }
}

/// Size of the tag and length octets of a TLV written by this crate.
fn header_size(der: &[u8]) -> usize {
    match der.get(1) {
        Some(&l) if l & 0x80 != 0 => 2 + usize::from(l & 0x7F),
        _ => 2,
    }
}

fn single_response(
    id: &CertId,
    status: CertStatus,
    now: OffsetDateTime,
    next: OffsetDateTime,
) -> Vec<u8> {
    let status = match status {
        CertStatus::Good => vec![0x80, 0],
        CertStatus::Unknown => vec![0x82, 0],
        CertStatus::Revoked { time, reason } => {
            let mut info = Vec::new();
            push_generalized_time(&mut info, time);
            if let Some(reason) = reason.filter(|r| *r != Reason::Unspecified) {
                info.extend_from_slice(&tlv(0xA0, &[tag::ENUMERATED, 1, reason.code()]));
            }
            tlv(0xA1, &info)
        }
    };
    let mut this_update = Vec::new();
    push_generalized_time(&mut this_update, now);
    let mut next_update = Vec::new();
    push_generalized_time(&mut next_update, next);
    tlv_of(
        tag::SEQUENCE,
        &[&id.der, &status, &this_update, &tlv(0xA0, &next_update)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_statuses_encode() {
        assert_eq!(OcspError::MalformedRequest.to_der(), [0x30, 3, 0x0A, 1, 1]);
        assert_eq!(OcspError::Unauthorized.to_der(), [0x30, 3, 0x0A, 1, 6]);
    }

    #[test]
    fn garbage_requests_are_refused() {
        assert!(OcspRequest::from_der(b"\x30\x00").is_err());
        assert!(OcspRequest::from_get_path("%zz").is_err());
        assert!(OcspRequest::from_get_path("!!!").is_err());
    }
}

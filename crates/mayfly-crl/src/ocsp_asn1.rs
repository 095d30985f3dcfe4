//! RFC 6960 request types, decoded with der's derive. (x509-ocsp 0.2 is on der 0.7, so it
//! cannot be mixed with the 0.3 line.)

use der::Sequence;
use der::asn1::OctetString;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extensions;
use x509_cert::serial_number::SerialNumber;

/// ```text
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct OcspRequestAsn1 {
    pub(crate) tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) optional_signature: Option<der::Any>,
}

/// ```text
/// TBSRequest ::= SEQUENCE {
///     version             [0]     EXPLICIT Version DEFAULT v1,
///     requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
///     requestList                 SEQUENCE OF Request,
///     requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) requestor_name: Option<der::Any>,
    pub(crate) request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) request_extensions: Option<Extensions>,
}

/// ```text
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct Request {
    pub(crate) req_cert: CertIdAsn1,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) single_request_extensions: Option<Extensions>,
}

/// ```text
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(crate) struct CertIdAsn1 {
    pub(crate) hash_algorithm: AlgorithmIdentifierOwned,
    pub(crate) issuer_name_hash: OctetString,
    pub(crate) issuer_key_hash: OctetString,
    pub(crate) serial_number: SerialNumber,
}

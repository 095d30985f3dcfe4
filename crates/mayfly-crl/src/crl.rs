//! The streaming X.509 v2 CRL builder (RFC 5280 §5).
//!
//! ```text
//! CertificateList  ::=  SEQUENCE  {
//!      tbsCertList          TBSCertList,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//!
//! TBSCertList  ::=  SEQUENCE  {
//!      version                 Version OPTIONAL, -- if present, MUST be v2
//!      signature               AlgorithmIdentifier,
//!      issuer                  Name,
//!      thisUpdate              Time,
//!      nextUpdate              Time OPTIONAL,
//!      revokedCertificates     SEQUENCE OF SEQUENCE  {
//!           userCertificate         CertificateSerialNumber,
//!           revocationDate          Time,
//!           crlEntryExtensions      Extensions OPTIONAL }  OPTIONAL,
//!      crlExtensions           [0]  EXPLICIT Extensions OPTIONAL }
//! ```
//!
//! The TBS is written straight into one buffer whose size is computed first, instead of
//! building a vector of x509-cert structs: a million entries encode in well under a second.

use const_oid::ObjectIdentifier;
use der::Encode;
use time::OffsetDateTime;

use crate::encode::{
    extension, push_generalized_time, push_header, push_time, tag, time_len, tlv, tlv_len, tlv_of,
    unsigned_integer,
};
use crate::{CertInfo, CrlError, Reason, Serial};

/// id-ce-authorityKeyIdentifier.
const ID_CE_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// id-ce-cRLNumber.
const ID_CE_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
/// id-ce-issuingDistributionPoint.
const ID_CE_IDP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.28");

/// DER of the reasonCode entry extension up to the ENUMERATED value:
/// `SEQUENCE { id-ce-cRLReasons, OCTET STRING { ENUMERATED n } }`.
const REASON_PREFIX: [u8; 11] = [
    0x30, 0x0A, 0x06, 0x03, 0x55, 0x1D, 0x15, 0x04, 0x03, 0x0A, 0x01,
];
/// DER of the invalidityDate entry extension up to the GeneralizedTime:
/// `SEQUENCE { id-ce-invalidityDate, OCTET STRING { GeneralizedTime } }`.
const INVALIDITY_PREFIX: [u8; 9] = [0x30, 0x18, 0x06, 0x03, 0x55, 0x1D, 0x18, 0x04, 0x11];

/// One revoked certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevokedCert {
    /// The certificate's serial number.
    pub serial: Serial,
    /// When it was revoked.
    pub revocation_date: OffsetDateTime,
    /// Why, when known (`unspecified` is written as no reasonCode, per RFC 5280 §5.3.1).
    pub reason: Option<Reason>,
    /// When the key is known or suspected to have been compromised (invalidityDate).
    pub invalidity_date: Option<OffsetDateTime>,
}

impl RevokedCert {
    fn reason_code(&self) -> Option<u8> {
        self.reason
            .filter(|r| *r != Reason::Unspecified)
            .map(Reason::code)
    }

    fn extensions_len(&self) -> usize {
        let mut len = 0;
        if self.reason_code().is_some() {
            len += REASON_PREFIX.len() + 1;
        }
        if self.invalidity_date.is_some() {
            len += INVALIDITY_PREFIX.len() + 17;
        }
        len
    }

    fn content_len(&self) -> usize {
        let ext = self.extensions_len();
        self.serial.der_len()
            + time_len(self.revocation_date)
            + if ext == 0 { 0 } else { tlv_len(ext) }
    }

    fn push(&self, out: &mut Vec<u8>) {
        push_header(out, tag::SEQUENCE, self.content_len());
        self.serial.push_der(out);
        push_time(out, self.revocation_date);
        let ext = self.extensions_len();
        if ext > 0 {
            push_header(out, tag::SEQUENCE, ext);
            if let Some(code) = self.reason_code() {
                out.extend_from_slice(&REASON_PREFIX);
                out.push(code);
            }
            if let Some(date) = self.invalidity_date {
                out.extend_from_slice(&INVALIDITY_PREFIX);
                push_generalized_time(out, date);
            }
        }
    }
}

/// What an Issuing Distribution Point extension (RFC 5280 §5.2.5, always critical) says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuingDistributionPoint {
    /// The URI the CRL is published at (distributionPoint fullName), if any.
    pub uri: Option<String>,
    /// The CRL covers end-entity certificates only.
    pub only_user_certs: bool,
    /// The CRL covers CA certificates only.
    pub only_ca_certs: bool,
}

impl IssuingDistributionPoint {
    fn to_der_value(&self) -> Result<Vec<u8>, CrlError> {
        if self.only_user_certs && self.only_ca_certs {
            return Err(CrlError::Validity(
                "an IDP cannot be both onlyContainsUserCerts and onlyContainsCACerts".into(),
            ));
        }
        let mut content = Vec::new();
        if let Some(uri) = &self.uri {
            // [0] distributionPoint { [0] fullName GeneralNames { [6] URI } }
            let name = tlv(0x86, uri.as_bytes());
            let full_name = tlv(0xA0, &name);
            content.extend_from_slice(&tlv(0xA0, &full_name));
        }
        if self.only_user_certs {
            content.extend_from_slice(&[0x81, 1, 0xFF]);
        }
        if self.only_ca_certs {
            content.extend_from_slice(&[0x82, 1, 0xFF]);
        }
        Ok(tlv(tag::SEQUENCE, &content))
    }
}

/// Builds and signs one CRL.
///
/// AKI is the issuer's *subject* key identifier (not the AKI of the issuer certificate, which
/// is what x509-cert 0.3's builder copies and what breaks `openssl verify -crl_check` for
/// intermediates).
#[derive(Debug)]
pub struct CrlBuilder<'a> {
    issuer: &'a CertInfo,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    crl_number: Serial,
    idp: Option<IssuingDistributionPoint>,
    entries: Vec<RevokedCert>,
}

impl<'a> CrlBuilder<'a> {
    /// A CRL issued by `issuer`, valid from `this_update` to `next_update`, numbered
    /// `crl_number`.
    pub fn new(
        issuer: &'a CertInfo,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        crl_number: Serial,
    ) -> Self {
        Self {
            issuer,
            this_update,
            next_update,
            crl_number,
            idp: None,
            entries: Vec::new(),
        }
    }

    /// Adds a critical Issuing Distribution Point extension.
    pub fn issuing_distribution_point(mut self, idp: IssuingDistributionPoint) -> Self {
        self.idp = Some(idp);
        self
    }

    /// Reserves room for `additional` entries.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Adds many revoked certificates, taking the vector over without copying when the
    /// builder has none yet (a million entries from [`crate::Index::revoked_in_file`]).
    pub fn with_entries(mut self, mut entries: Vec<RevokedCert>) -> Self {
        if self.entries.is_empty() {
            self.entries = entries;
        } else {
            self.entries.append(&mut entries);
        }
        self
    }

    /// Adds one revoked certificate.
    pub fn push(&mut self, entry: RevokedCert) {
        self.entries.push(entry);
    }

    /// Encodes the CRL and signs it with `signer`, which must hold the issuer's key.
    /// Entries come out sorted by serial number.
    pub fn sign(mut self, signer: &dyn mayfly_keys::Signer) -> Result<Crl, CrlError> {
        if self.next_update <= self.this_update {
            return Err(CrlError::Validity(
                "nextUpdate must be after thisUpdate".into(),
            ));
        }
        self.issuer.check_signer(signer)?;
        self.entries.sort_unstable_by_key(|e| e.serial.sort_key());

        let algorithm = signer.algorithm().algorithm_identifier()?.to_der()?;
        let extensions = self.extensions()?;
        let entries_len: usize = self.entries.iter().map(|e| tlv_len(e.content_len())).sum();
        let tbs_len = 3
            + algorithm.len()
            + self.issuer.subject_der().len()
            + time_len(self.this_update)
            + time_len(self.next_update)
            + if self.entries.is_empty() {
                0
            } else {
                tlv_len(entries_len)
            }
            + extensions.len();

        let mut tbs = Vec::with_capacity(tlv_len(tbs_len));
        push_header(&mut tbs, tag::SEQUENCE, tbs_len);
        tbs.extend_from_slice(&[tag::INTEGER, 1, 1]); // v2
        tbs.extend_from_slice(&algorithm);
        tbs.extend_from_slice(self.issuer.subject_der());
        push_time(&mut tbs, self.this_update);
        push_time(&mut tbs, self.next_update);
        if !self.entries.is_empty() {
            push_header(&mut tbs, tag::SEQUENCE, entries_len);
            for entry in &self.entries {
                entry.push(&mut tbs);
            }
        }
        tbs.extend_from_slice(&extensions);
        debug_assert_eq!(tbs.len(), tlv_len(tbs_len));

        let signature = signer.sign(&tbs)?;
        Ok(Crl {
            der: signed(tbs, &algorithm, &signature),
        })
    }

    /// `[0] EXPLICIT Extensions`: AKI, CRL Number, and the IDP when asked for.
    fn extensions(&self) -> Result<Vec<u8>, CrlError> {
        let key_id = tlv(0x80, self.issuer.key_id());
        let aki = extension(&ID_CE_AKI, false, &tlv(tag::SEQUENCE, &key_id));
        let number = extension(
            &ID_CE_CRL_NUMBER,
            false,
            &unsigned_integer(self.crl_number.as_be_bytes()),
        );
        let idp = match &self.idp {
            Some(idp) => extension(&ID_CE_IDP, true, &idp.to_der_value()?),
            None => Vec::new(),
        };
        let list = tlv_of(tag::SEQUENCE, &[&aki, &number, &idp]);
        Ok(tlv(0xA0, &list))
    }
}

impl Extend<RevokedCert> for CrlBuilder<'_> {
    fn extend<I: IntoIterator<Item = RevokedCert>>(&mut self, iter: I) {
        self.entries.extend(iter);
    }
}

/// `SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }`, reusing the TBS buffer.
pub(crate) fn signed(mut tbs: Vec<u8>, algorithm: &[u8], signature: &[u8]) -> Vec<u8> {
    let tbs_len = tbs.len();
    let content_len = tbs_len + algorithm.len() + tlv_len(signature.len() + 1);
    let mut head = Vec::with_capacity(6);
    push_header(&mut head, tag::SEQUENCE, content_len);
    // Shift the TBS right by the header size instead of copying it into a new buffer.
    tbs.reserve(head.len() + content_len - tbs_len);
    tbs.splice(0..0, head);
    tbs.extend_from_slice(algorithm);
    push_header(&mut tbs, tag::BIT_STRING, signature.len() + 1);
    tbs.push(0);
    tbs.extend_from_slice(signature);
    tbs
}

/// A signed CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    der: Vec<u8>,
}

impl Crl {
    /// The DER encoding (what a CRL distribution point serves).
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The DER encoding, by value.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }

    /// PEM (`-----BEGIN X509 CRL-----`).
    pub fn to_pem(&self) -> Result<String, CrlError> {
        Ok(
            der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &self.der)
                .map_err(der::Error::from)?,
        )
    }
}

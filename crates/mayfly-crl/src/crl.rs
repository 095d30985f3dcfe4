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
//! Each entry is DER-encoded as it is added ([`CrlEntries`]), with a 16-byte sort key; signing
//! sorts the keys and copies the entries in order, or, when they came in serial order (an
//! index.txt of sequential serials), writes the TBS header in front of them in place.

use const_oid::ObjectIdentifier;
use std::io::Write;

use der::Encode;
use time::OffsetDateTime;

use crate::asn1_time::Asn1Time;
use crate::encode::{
    SIGNED_ROOM, extension, finish_signed, push_header, push_time, tag, tlv, tlv_len, tlv_of,
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

/// Bytes kept free in front of the entries for the TBS and outer headers, so that entries
/// added in serial order become the CRL without being copied (issuer names up to ~850 bytes).
const HEADROOM: usize = 1024;

/// The revoked certificates of a CRL, each DER-encoded as it is added (a million take about
/// the size of the CRL, 40 MB), ready for [`CrlBuilder::with_entries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntries {
    /// [`HEADROOM`] spare bytes, then the entries in the order they were added.
    der: Vec<u8>,
    count: usize,
    /// The serials of the first and the last entry.
    first: Option<Serial>,
    last: Option<Serial>,
    /// Some entry was added after one with a larger serial.
    unsorted: bool,
}

/// Where an entry starts in [`CrlEntries::der`], and the first 16 octets of its serial's
/// INTEGER after the tag (length and content, zero-padded): most comparisons need no more.
#[derive(Clone, Copy, Debug)]
struct EntryKey {
    high: u64,
    low: u64,
    at: usize,
}

impl Default for CrlEntries {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl CrlEntries {
    /// Room for `entries` entries without reallocating.
    pub fn with_capacity(entries: usize) -> Self {
        let mut der = Vec::with_capacity(HEADROOM + entries * 48);
        der.resize(HEADROOM, 0);
        Self {
            der,
            count: 0,
            first: None,
            last: None,
            unsorted: false,
        }
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Reserves room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.der.reserve(additional * 48);
    }

    /// Adds one revoked certificate.
    pub fn push(&mut self, entry: RevokedCert) {
        self.push_entry(
            entry.serial,
            &Asn1Time::from_datetime(entry.revocation_date),
            entry.reason,
            entry.invalidity_date.map(Asn1Time::from_datetime).as_ref(),
        );
    }

    /// Encodes `SEQUENCE { serial, revocationDate, [reasonCode, invalidityDate] }`.
    #[inline]
    pub(crate) fn push_entry(
        &mut self,
        serial: Serial,
        date: &Asn1Time,
        reason: Option<Reason>,
        invalidity_date: Option<&Asn1Time>,
    ) {
        // `unspecified` is written as no reasonCode (RFC 5280 §5.3.1).
        let code = reason
            .filter(|r| *r != Reason::Unspecified)
            .map(Reason::code);
        let extensions = code.map_or(0, |_| REASON_PREFIX.len() + 1)
            + invalidity_date.map_or(0, |_| INVALIDITY_PREFIX.len() + 17);
        let content = serial.der_len()
            + date.der_len()
            + if extensions == 0 {
                0
            } else {
                tlv_len(extensions)
            };
        // At most 23 + 17 + 40 octets: the length is always one octet.
        debug_assert!(content < 0x80);
        self.der.extend_from_slice(&[tag::SEQUENCE, content as u8]);
        serial.push_der(&mut self.der);
        date.push_der(&mut self.der);
        if extensions > 0 {
            push_header(&mut self.der, tag::SEQUENCE, extensions);
            if let Some(code) = code {
                self.der.extend_from_slice(&REASON_PREFIX);
                self.der.push(code);
            }
            if let Some(date) = invalidity_date {
                self.der.extend_from_slice(&INVALIDITY_PREFIX);
                date.push_generalized(&mut self.der);
            }
        }
        if self.last.is_some_and(|last| last > serial) {
            self.unsorted = true;
        }
        self.first.get_or_insert(serial);
        self.last = Some(serial);
        self.count += 1;
    }

    /// Adds `other`'s entries after these.
    pub fn append(&mut self, other: Self) {
        if other.is_empty() {
            return;
        }
        self.unsorted |= other.unsorted || self.last > other.first;
        self.der.extend_from_slice(&other.der[HEADROOM..]);
        self.first = self.first.or(other.first);
        self.last = other.last;
        self.count += other.count;
    }

    /// The sort key of the entry at `at`.
    fn key(&self, at: usize) -> EntryKey {
        let tlv = self.serial_tlv(at);
        let mut prefix = [0; 16];
        let take = (tlv.len() - 1).min(16);
        prefix[..take].copy_from_slice(&tlv[1..=take]);
        let prefix = u128::from_be_bytes(prefix);
        EntryKey {
            high: (prefix >> 64) as u64,
            low: prefix as u64,
            at,
        }
    }

    /// Serial order: the keys, then the INTEGER TLVs, which for minimal DER order as the
    /// integers do.
    fn compare(&self, a: &EntryKey, b: &EntryKey) -> std::cmp::Ordering {
        (a.high, a.low)
            .cmp(&(b.high, b.low))
            .then_with(|| self.serial_tlv(a.at).cmp(self.serial_tlv(b.at)))
    }

    /// The INTEGER TLV of the entry at `at` (after its one-octet-length SEQUENCE header).
    fn serial_tlv(&self, at: usize) -> &[u8] {
        let len = usize::from(self.der[at + 3]);
        &self.der[at + 2..at + 4 + len]
    }

    /// Length of all entries' DER.
    fn der_len(&self) -> usize {
        self.der.len() - HEADROOM
    }

    /// A buffer holding `head` followed by the entries in serial order, with at least
    /// [`SIGNED_ROOM`] spare bytes before `head` and `tail` spare capacity after the entries,
    /// and where `head` starts. In place when the entries are sorted and `head` fits.
    fn into_tbs(mut self, head: &[u8], tail: usize) -> (Vec<u8>, usize) {
        if !self.unsorted && head.len() + SIGNED_ROOM <= HEADROOM {
            let start = HEADROOM - head.len();
            self.der[start..HEADROOM].copy_from_slice(head);
            self.der.reserve(tail);
            return (self.der, start);
        }
        let mut keys = Vec::with_capacity(self.count);
        let mut at = HEADROOM;
        while at < self.der.len() {
            keys.push(self.key(at));
            at += 2 + usize::from(self.der[at + 1]);
        }
        keys.sort_unstable_by(|a, b| self.compare(a, b));
        let mut out = Vec::with_capacity(SIGNED_ROOM + head.len() + self.der_len() + tail);
        out.resize(SIGNED_ROOM, 0);
        out.extend_from_slice(head);
        for key in &keys {
            let len = 2 + usize::from(self.der[key.at + 1]);
            out.extend_from_slice(&self.der[key.at..key.at + len]);
        }
        (out, SIGNED_ROOM)
    }
}

impl Extend<RevokedCert> for CrlEntries {
    fn extend<I: IntoIterator<Item = RevokedCert>>(&mut self, iter: I) {
        for entry in iter {
            self.push(entry);
        }
    }
}

impl FromIterator<RevokedCert> for CrlEntries {
    fn from_iter<I: IntoIterator<Item = RevokedCert>>(iter: I) -> Self {
        let mut entries = Self::default();
        entries.extend(iter);
        entries
    }
}

impl From<Vec<RevokedCert>> for CrlEntries {
    fn from(entries: Vec<RevokedCert>) -> Self {
        let mut out = Self::with_capacity(entries.len());
        out.extend(entries);
        out
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
    entries: CrlEntries,
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
            entries: CrlEntries::default(),
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

    /// Adds many revoked certificates: a `Vec<RevokedCert>`, or [`CrlEntries`] (what
    /// [`crate::Index::revoked_in_file`] returns), taken over without copying when the
    /// builder has none yet.
    pub fn with_entries(mut self, entries: impl Into<CrlEntries>) -> Self {
        let entries = entries.into();
        if self.entries.is_empty() {
            self.entries = entries;
        } else {
            self.entries.append(entries);
        }
        self
    }

    /// Adds one revoked certificate.
    pub fn push(&mut self, entry: RevokedCert) {
        self.entries.push(entry);
    }

    /// Encodes the CRL and signs it with `signer`, which must hold the issuer's key.
    /// Entries come out sorted by serial number.
    pub fn sign(self, signer: &dyn mayfly_keys::Signer) -> Result<Crl, CrlError> {
        if self.next_update <= self.this_update {
            return Err(CrlError::Validity(
                "nextUpdate must be after thisUpdate".into(),
            ));
        }
        self.issuer.check_signer(signer)?;
        let algorithm = signer.algorithm().algorithm_identifier()?.to_der()?;
        let extensions = self.extensions()?;

        // Everything of the TBS before the first entry.
        let mut fields = Vec::with_capacity(64 + algorithm.len() + self.issuer.subject_der().len());
        fields.extend_from_slice(&[tag::INTEGER, 1, 1]); // v2
        fields.extend_from_slice(&algorithm);
        fields.extend_from_slice(self.issuer.subject_der());
        push_time(&mut fields, self.this_update);
        push_time(&mut fields, self.next_update);
        let entries_len = self.entries.der_len();
        if !self.entries.is_empty() {
            push_header(&mut fields, tag::SEQUENCE, entries_len);
        }
        let mut head = Vec::with_capacity(6 + fields.len());
        push_header(
            &mut head,
            tag::SEQUENCE,
            fields.len() + entries_len + extensions.len(),
        );
        head.extend_from_slice(&fields);

        // The signature is at most 1,100 octets (RSA 8192).
        let tail = extensions.len() + 2 * algorithm.len() + 1100;
        let (mut der, start) = self.entries.into_tbs(&head, tail);
        der.extend_from_slice(&extensions);
        let signature = signer.sign(&der[start..])?;
        let start = finish_signed(&mut der, start, &algorithm, &signature);
        Ok(Crl { der, start })
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

/// A signed CRL.
#[derive(Clone, Debug)]
pub struct Crl {
    /// The CRL is `der[start..]` (the space before it held the TBS headers' spare room).
    der: Vec<u8>,
    start: usize,
}

impl Crl {
    /// The DER encoding (what a CRL distribution point serves).
    pub fn as_der(&self) -> &[u8] {
        &self.der[self.start..]
    }

    /// The DER encoding, by value (moves it to the front of its buffer: prefer
    /// [`Crl::as_der`] for large CRLs).
    pub fn into_der(mut self) -> Vec<u8> {
        self.der.drain(..self.start);
        self.der
    }

    /// PEM (`-----BEGIN X509 CRL-----`).
    pub fn to_pem(&self) -> Result<String, CrlError> {
        let mut out = Vec::with_capacity(pem_len(self.as_der().len()));
        self.write_pem(&mut out)
            .map_err(|e| CrlError::io(std::path::Path::new("PEM"), e))?;
        // Base64 and the armour are ASCII.
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// Writes the PEM to `out` as it encodes it: 64 base64 characters a line, LF endings.
    pub fn write_pem(&self, out: &mut dyn Write) -> std::io::Result<()> {
        const LINES: usize = 1024;
        out.write_all(b"-----BEGIN X509 CRL-----\n")?;
        let mut buf = vec![0; LINES * 65];
        for block in self.as_der().chunks(LINES * 48) {
            let mut len = 0;
            for line in block.chunks(48) {
                len += base64_encode(line, &mut buf[len..]);
                buf[len] = b'\n';
                len += 1;
            }
            out.write_all(&buf[..len])?;
        }
        out.write_all(b"-----END X509 CRL-----\n")
    }
}

impl PartialEq for Crl {
    fn eq(&self, other: &Self) -> bool {
        self.as_der() == other.as_der()
    }
}

impl Eq for Crl {}

/// Size of the PEM of `der_len` octets.
fn pem_len(der_len: usize) -> usize {
    let chars = der_len.div_ceil(3) * 4;
    25 + chars + chars.div_ceil(64) + 23
}

/// Standard base64 with padding of `input` into the front of `out`; returns the length.
fn base64_encode(input: &[u8], out: &mut [u8]) -> usize {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (triples, rest) = input.as_chunks::<3>();
    let mut len = 0;
    for &[a, b, c] in triples {
        let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
        out[len..len + 4].copy_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
        len += 4;
    }
    if !rest.is_empty() {
        let a = rest[0];
        let b = rest.get(1).copied().unwrap_or(0);
        let n = u32::from(a) << 16 | u32::from(b) << 8;
        out[len..len + 4].copy_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            if rest.len() == 2 {
                ALPHABET[(n >> 6) as usize & 63]
            } else {
                b'='
            },
            b'=',
        ]);
        len += 4;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revoked(hex: &str, reason: Option<Reason>) -> RevokedCert {
        RevokedCert {
            serial: Serial::from_hex(hex).unwrap_or_else(|e| panic!("{e}")),
            revocation_date: time::macros::datetime!(2026-01-02 03:04:05 UTC),
            reason,
            invalidity_date: None,
        }
    }

    /// The revokedCertificates content `entries` sign to, with a TBS head of `head_len` octets.
    fn listed(entries: CrlEntries, head_len: usize) -> Vec<u8> {
        let head = vec![0xEE; head_len];
        let (der, start) = entries.into_tbs(&head, 0);
        assert!(start >= SIGNED_ROOM);
        assert_eq!(der[start..start + head_len], head[..]);
        der[start + head_len..].to_vec()
    }

    #[test]
    fn entries_come_out_in_integer_order_however_they_went_in() {
        // Equal 15-octet prefixes, the 0x00 pad of a high first octet, lengths 1 to 20.
        let prefix = "7A".repeat(15);
        let sorted: Vec<RevokedCert> = [
            "01",
            "7F",
            "80",
            "0100",
            "FF00",
            &format!("{prefix}01"),
            &format!("{prefix}0100"),
            &format!("{prefix}0101"),
            &format!("{prefix}FF00000000"),
            &"F".repeat(40),
        ]
        .iter()
        .enumerate()
        .map(|(i, hex)| revoked(hex, (i % 2 == 0).then_some(Reason::Superseded)))
        .collect();
        let in_order = CrlEntries::from(sorted.clone());
        assert!(!in_order.unsorted);
        let expected = listed(in_order.clone(), 40);
        // A head too long for the headroom takes the copying path, with the same result.
        assert_eq!(listed(in_order, HEADROOM), expected);
        let mut reversed = sorted.clone();
        reversed.reverse();
        let mut shuffled = sorted.clone();
        shuffled.rotate_left(3);
        shuffled.swap(0, 5);
        for order in [reversed, shuffled] {
            let entries = CrlEntries::from(order);
            assert!(entries.unsorted);
            assert_eq!(listed(entries, 40), expected);
        }
        // Appending keeps the order or notices it broke.
        let mut front = CrlEntries::from(sorted[..4].to_vec());
        front.append(CrlEntries::from(sorted[4..].to_vec()));
        assert!(!front.unsorted && front.len() == sorted.len());
        assert_eq!(listed(front, 40), expected);
        let mut back = CrlEntries::from(sorted[4..].to_vec());
        back.append(CrlEntries::from(sorted[..4].to_vec()));
        assert!(back.unsorted);
        assert_eq!(listed(back, 40), expected);
    }

    #[test]
    fn pem_matches_the_der_crate() {
        for len in [1, 2, 3, 47, 48, 49, 95, 96, 97, 1000, 48 * 1024 + 5] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let crl = Crl { der, start: 0 };
            let expected = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl.der)
                .unwrap_or_else(|e| panic!("{e}"));
            let pem = crl.to_pem().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(pem, expected, "{len}");
            assert_eq!(pem.len(), pem_len(len), "{len}");
        }
    }
}

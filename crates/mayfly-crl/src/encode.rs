//! Hand-rolled DER output: headers with precomputed lengths, so large structures (a CRL with a
//! million entries) are written once into a buffer of the right size.

use time::OffsetDateTime;

use crate::asn1_time::Asn1Time;

/// UNIVERSAL tags used here.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const ENUMERATED: u8 = 0x0A;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const SEQUENCE: u8 = 0x30;
}

/// Length of a DER length field for `len` content octets.
pub(crate) const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Total size of a TLV with one-octet tag and `len` content octets.
pub(crate) const fn tlv_len(len: usize) -> usize {
    1 + length_len(len) + len
}

/// Writes a tag and a DER length.
pub(crate) fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let n = length_len(len) - 1;
        out.push(0x80 | n as u8);
        out.extend_from_slice(&len.to_be_bytes()[size_of::<usize>() - n..]);
    }
}

/// Writes a whole TLV.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// A TLV as a fresh vector.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(content.len()));
    push_tlv(&mut out, tag, content);
    out
}

/// Concatenates DER parts into one TLV.
pub(crate) fn tlv_of(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(tlv_len(len));
    push_header(&mut out, tag, len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// The DER content octets of a non-negative INTEGER from its big-endian magnitude.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[start..];
    let mut out = Vec::with_capacity(tlv_len(digits.len() + 1));
    let pad = digits.first().is_none_or(|&b| b & 0x80 != 0);
    push_header(&mut out, tag::INTEGER, digits.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

/// An X.509 extension: `SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }`.
pub(crate) fn extension(
    oid: &const_oid::ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> Vec<u8> {
    let oid = tlv(tag::OID, oid.as_bytes());
    let value = tlv(tag::OCTET_STRING, value);
    let critical: &[u8] = if critical {
        &[tag::BOOLEAN, 1, 0xFF]
    } else {
        &[]
    };
    tlv_of(tag::SEQUENCE, &[&oid, critical, &value])
}

/// Spare octets [`finish_signed`] needs in front of a TBS (the longest DER header).
pub(crate) const SIGNED_ROOM: usize = 2 + size_of::<usize>();

/// Turns `der[tbs_start..]`, a TBS, into `SEQUENCE { tbs, signatureAlgorithm, BIT STRING
/// signature }` in place: appends the algorithm and signature and writes the header into the
/// [`SIGNED_ROOM`] octets before `tbs_start`. Returns where the result starts.
pub(crate) fn finish_signed(
    der: &mut Vec<u8>,
    tbs_start: usize,
    algorithm: &[u8],
    signature: &[u8],
) -> usize {
    let tbs_len = der.len() - tbs_start;
    der.extend_from_slice(algorithm);
    push_header(der, tag::BIT_STRING, signature.len() + 1);
    der.push(0);
    der.extend_from_slice(signature);
    let mut head = Vec::with_capacity(SIGNED_ROOM);
    push_header(
        &mut head,
        tag::SEQUENCE,
        tbs_len + algorithm.len() + tlv_len(signature.len() + 1),
    );
    let start = tbs_start - head.len();
    der[start..tbs_start].copy_from_slice(&head);
    start
}

/// `SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }` as a fresh vector.
pub(crate) fn signed(tbs: &[u8], algorithm: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut der =
        Vec::with_capacity(SIGNED_ROOM + tbs.len() + algorithm.len() + signature.len() + 8);
    der.resize(SIGNED_ROOM, 0);
    der.extend_from_slice(tbs);
    let start = finish_signed(&mut der, SIGNED_ROOM, algorithm, signature);
    der.drain(..start);
    der
}

/// Writes a Time (RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050).
pub(crate) fn push_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    Asn1Time::from_datetime(t).push_der(out);
}

/// Writes a GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub(crate) fn push_generalized_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    Asn1Time::from_datetime(t).push_generalized(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_der_rules() {
        for len in [0, 1, 127, 128, 255, 256, 65_535, 65_536, 40_000_000] {
            let mut out = Vec::new();
            push_header(&mut out, tag::SEQUENCE, len);
            assert_eq!(out.len(), 1 + length_len(len), "len {len}");
        }
        let mut out = Vec::new();
        push_header(&mut out, tag::SEQUENCE, 300);
        assert_eq!(out, [0x30, 0x82, 0x01, 0x2C]);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[]), [2, 1, 0]);
        assert_eq!(unsigned_integer(&[0, 0, 5]), [2, 1, 5]);
        assert_eq!(unsigned_integer(&[0x80]), [2, 2, 0, 0x80]);
    }

    #[test]
    fn times_follow_rfc5280() {
        let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let mut out = Vec::new();
        push_time(&mut out, t);
        assert_eq!(out, b"\x17\x0d260102030405Z");
        let t = time::macros::datetime!(2050-01-02 03:04:05 UTC);
        out.clear();
        push_time(&mut out, t);
        assert_eq!(out, b"\x18\x0f20500102030405Z");
    }
}

//! Hand-rolled DER output: headers with precomputed lengths, so large structures (a CRL with a
//! million entries) are written once into a buffer of the right size.

use time::OffsetDateTime;

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

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
pub(crate) fn time_len(t: OffsetDateTime) -> usize {
    if (1950..2050).contains(&t.year()) {
        15
    } else {
        17
    }
}

/// Writes a Time (UTCTime or GeneralizedTime as RFC 5280 requires).
pub(crate) fn push_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    if (1950..2050).contains(&t.year()) {
        push_header(out, tag::UTC_TIME, 13);
        push_digits(out, t, false);
    } else {
        push_generalized_time(out, t);
    }
}

/// Writes a GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub(crate) fn push_generalized_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    push_header(out, tag::GENERALIZED_TIME, 15);
    push_digits(out, t, true);
}

fn push_digits(out: &mut Vec<u8>, t: OffsetDateTime, four_digit_year: bool) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (year, month, day) = t.to_calendar_date();
    let (hour, minute, second) = t.to_hms();
    let year = year.clamp(0, 9999) as u32;
    if four_digit_year {
        push2(out, year / 100);
    }
    push2(out, year % 100);
    push2(out, u32::from(u8::from(month)));
    for v in [day, hour, minute, second] {
        push2(out, u32::from(v));
    }
    out.push(b'Z');
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
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
        assert_eq!(&out[2..], b"260102030405Z");
        assert_eq!(out.len(), time_len(t));
        let t = time::macros::datetime!(2050-01-02 03:04:05 UTC);
        out.clear();
        push_time(&mut out, t);
        assert_eq!(&out[2..], b"20500102030405Z");
        assert_eq!(out.len(), time_len(t));
    }
}

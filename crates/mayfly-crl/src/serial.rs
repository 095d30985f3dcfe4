//! Serial numbers (and CRL numbers): non-negative integers of at most 20 octets.

use std::cmp::Ordering;
use std::fmt;

use crate::CrlError;
use crate::encode::{push_header, tag, tlv_len};

/// Most octets RFC 5280 §4.1.2.2 allows in a serial number (and §5.2.3 in a CRL number).
pub const MAX_SERIAL_LEN: usize = 20;

/// A certificate serial number or CRL number: a non-negative integer of at most 20 octets,
/// kept inline (no allocation) so a million of them sort fast. Ordered as integers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial {
    len: u8,
    bytes: [u8; MAX_SERIAL_LEN],
}

impl Serial {
    /// From a big-endian magnitude; leading zero octets are ignored.
    pub fn from_be_bytes(magnitude: &[u8]) -> Result<Self, CrlError> {
        let start = magnitude
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(magnitude.len());
        let digits = &magnitude[start..];
        if digits.len() > MAX_SERIAL_LEN {
            return Err(CrlError::Serial(format!(
                "{} octets, at most {MAX_SERIAL_LEN} allowed",
                digits.len()
            )));
        }
        let mut bytes = [0; MAX_SERIAL_LEN];
        bytes[..digits.len()].copy_from_slice(digits);
        Ok(Self {
            len: digits.len() as u8,
            bytes,
        })
    }

    /// From the content octets of a DER INTEGER (as in a certificate); negative values are
    /// refused.
    pub fn from_der_integer(content: &[u8]) -> Result<Self, CrlError> {
        if content.first().is_some_and(|&b| b & 0x80 != 0) {
            return Err(CrlError::Serial("negative serial number".into()));
        }
        Self::from_be_bytes(content)
    }

    /// From hexadecimal digits (either case, as in index.txt or on a command line).
    pub fn from_hex(hex: &str) -> Result<Self, CrlError> {
        Self::from_hex_digits(hex.trim().as_bytes()).map_err(|e| match e {
            HexError::NotHex => CrlError::Serial(format!("{hex:?} is not hexadecimal")),
            HexError::TooLong(len) => {
                CrlError::Serial(format!("{len} octets, at most {MAX_SERIAL_LEN} allowed"))
            }
        })
    }

    /// From hexadecimal digits, nothing else (no surrounding spaces).
    #[inline(always)]
    pub(crate) fn from_hex_digits(all: &[u8]) -> Result<Self, HexError> {
        if all.is_empty() {
            return Err(HexError::NotHex);
        }
        let start = all.iter().position(|&b| b != b'0').unwrap_or(all.len());
        let digits = &all[start..];
        let len = digits.len().div_ceil(2);
        if len > MAX_SERIAL_LEN {
            return Err(HexError::TooLong(len));
        }
        let mut bytes = [0; MAX_SERIAL_LEN];
        // Right-align the digits: an odd count leaves the first octet's high nibble zero.
        let (first, pairs) = digits.split_at(digits.len() % 2);
        let mut seen = 0;
        if let [digit] = first {
            bytes[0] = HEX[usize::from(*digit)];
            seen |= bytes[0];
        }
        let (pairs, _) = pairs.as_chunks::<2>();
        for (octet, [high, low]) in bytes[first.len()..].iter_mut().zip(pairs) {
            let (high, low) = (HEX[usize::from(*high)], HEX[usize::from(*low)]);
            seen |= high | low;
            *octet = high << 4 | low;
        }
        if seen > 15 {
            return Err(HexError::NotHex);
        }
        Ok(Self {
            len: len as u8,
            bytes,
        })
    }

    /// The magnitude, big-endian, without leading zeros (empty for zero).
    pub fn as_be_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// OpenSSL's spelling: upper-case hex, two digits per octet, `00` for zero.
    pub fn to_hex(&self) -> String {
        if self.len == 0 {
            return "00".into();
        }
        let mut out = String::with_capacity(2 * usize::from(self.len));
        for b in self.as_be_bytes() {
            out.push_str(&format!("{b:02X}"));
        }
        out
    }

    /// The next integer (how `crlnumber` files are advanced).
    pub fn next(&self) -> Result<Self, CrlError> {
        let mut magnitude = Vec::with_capacity(usize::from(self.len) + 1);
        magnitude.push(0);
        magnitude.extend_from_slice(self.as_be_bytes());
        for b in magnitude.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        Self::from_be_bytes(&magnitude)
    }

    /// Length of the DER INTEGER content octets.
    fn content_len(&self) -> usize {
        match self.as_be_bytes().first() {
            None => 1,
            Some(&b) => usize::from(self.len) + usize::from(b & 0x80 != 0),
        }
    }

    /// Size of the encoded INTEGER TLV.
    #[inline(always)]
    pub(crate) fn der_len(&self) -> usize {
        tlv_len(self.content_len())
    }

    /// Writes the INTEGER TLV.
    #[inline(always)]
    pub(crate) fn push_der(&self, out: &mut Vec<u8>) {
        push_header(out, tag::INTEGER, self.content_len());
        if self.as_be_bytes().first().is_none_or(|&b| b & 0x80 != 0) {
            out.push(0);
        }
        out.extend_from_slice(self.as_be_bytes());
    }
}

/// Why [`Serial::from_hex_digits`] refused its input.
#[derive(Debug)]
pub(crate) enum HexError {
    /// Not only hex digits, or none.
    NotHex,
    /// This many octets, more than [`MAX_SERIAL_LEN`].
    TooLong(usize),
}

/// Hex digit values; 0xFF marks a non-digit.
const HEX: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

impl From<u64> for Serial {
    fn from(value: u64) -> Self {
        let mut bytes = [0; MAX_SERIAL_LEN];
        let be = value.to_be_bytes();
        let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
        bytes[..be.len() - start].copy_from_slice(&be[start..]);
        Self {
            len: (be.len() - start) as u8,
            bytes,
        }
    }
}

/// Integer order: a longer magnitude is larger, equal lengths compare by their left-aligned,
/// zero-padded octets (as integers rather than with `memcmp`).
impl Ord for Serial {
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |s: &Self| {
            let (high, low) = s.bytes.split_at(16);
            let high: [u8; 16] = high.try_into().unwrap_or_default();
            let low: [u8; 4] = low.try_into().unwrap_or_default();
            (s.len, u128::from_be_bytes(high), u32::from_be_bytes(low))
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for Serial {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl std::str::FromStr for Serial {
    type Err = CrlError;
    fn from_str(s: &str) -> Result<Self, CrlError> {
        Self::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_in_openssl_spelling() {
        assert_eq!(
            Serial::from_hex("a").map(|s| s.to_hex()).ok(),
            Some("0A".into())
        );
        assert_eq!(
            Serial::from_hex("000").map(|s| s.to_hex()).ok(),
            Some("00".into())
        );
        let s = Serial::from_hex("01ff").map(|s| s.to_hex()).ok();
        assert_eq!(s, Some("01FF".into()));
        assert!(Serial::from_hex("xyz").is_err());
        assert!(Serial::from_hex(&"1".repeat(41)).is_err());
        assert!(Serial::from_hex(&"F".repeat(40)).is_ok());
    }

    #[test]
    fn orders_as_integers_and_increments() {
        let small = Serial::from(0xFFu64);
        let big = Serial::from(0x100u64);
        assert!(small < big);
        assert_eq!(small.next().ok(), Some(big));
        assert!(
            Serial::from_hex(&"F".repeat(40))
                .and_then(|s| s.next())
                .is_err()
        );
    }

    #[test]
    fn der_encoding_is_minimal() {
        for (value, der) in [
            (0u64, vec![2, 1, 0]),
            (0x80, vec![2, 2, 0, 0x80]),
            (0x7F, vec![2, 1, 0x7F]),
        ] {
            let serial = Serial::from(value);
            let mut out = Vec::new();
            serial.push_der(&mut out);
            assert_eq!(out, der);
            assert_eq!(serial.der_len(), der.len());
        }
    }
}

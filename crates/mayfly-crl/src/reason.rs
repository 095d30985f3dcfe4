//! Revocation reasons (RFC 5280 §5.3.1 `CRLReason`) with OpenSSL's names.

use std::fmt;
use std::str::FromStr;

use crate::CrlError;

/// `CRLReason ::= ENUMERATED { ... }` (RFC 5280 §5.3.1; value 7 is unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// unspecified (0). Written as an absent reasonCode in CRLs (RFC 5280 SHOULD).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8), for delta CRLs.
    RemoveFromCrl,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

const NAMES: [(Reason, &str, u8); 10] = [
    (Reason::Unspecified, "unspecified", 0),
    (Reason::KeyCompromise, "keyCompromise", 1),
    (Reason::CaCompromise, "CACompromise", 2),
    (Reason::AffiliationChanged, "affiliationChanged", 3),
    (Reason::Superseded, "superseded", 4),
    (Reason::CessationOfOperation, "cessationOfOperation", 5),
    (Reason::CertificateHold, "certificateHold", 6),
    (Reason::RemoveFromCrl, "removeFromCRL", 8),
    (Reason::PrivilegeWithdrawn, "privilegeWithdrawn", 9),
    (Reason::AaCompromise, "aACompromise", 10),
];

impl Reason {
    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        NAMES
            .iter()
            .find(|(r, _, _)| *r == self)
            .map_or(0, |(_, _, c)| *c)
    }

    /// The name OpenSSL writes in index.txt (`keyCompromise`, `CACompromise`, ...).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(r, _, _)| *r == self)
            .map_or("unspecified", |(_, n, _)| n)
    }

    /// From the ENUMERATED value.
    pub fn from_code(code: u8) -> Option<Self> {
        NAMES
            .iter()
            .find(|(_, _, c)| *c == code)
            .map(|(r, _, _)| *r)
    }
}

impl FromStr for Reason {
    type Err = CrlError;

    /// Case-insensitive, as `openssl ca` compares.
    fn from_str(s: &str) -> Result<Self, CrlError> {
        Self::from_name(s.as_bytes()).ok_or_else(|| CrlError::Reason(s.to_owned()))
    }
}

impl Reason {
    /// From a name, case-insensitively (OpenSSL's own spelling, what index.txt files hold,
    /// is tried first).
    pub(crate) fn from_name(name: &[u8]) -> Option<Self> {
        NAMES
            .iter()
            .find(|(_, n, _)| n.as_bytes() == name)
            .or_else(|| {
                NAMES
                    .iter()
                    .find(|(_, n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            })
            .map(|(r, _, _)| *r)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for (reason, name, code) in NAMES {
            assert_eq!(name.to_uppercase().parse::<Reason>().ok(), Some(reason));
            assert_eq!(Reason::from_code(code), Some(reason));
            assert_eq!(reason.code(), code);
            assert_eq!(reason.to_string(), name);
        }
        assert!("stolen".parse::<Reason>().is_err());
        assert_eq!(Reason::from_code(7), None);
    }
}

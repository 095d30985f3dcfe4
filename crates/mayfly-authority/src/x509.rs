//! Small X.509 helpers the operations share: signature checks, serials, times and step's
//! provisioner extension.

use der::asn1::OctetString;
use der::{Decode, Encode, Sequence};
use mayfly_keys::{SignatureAlgorithm, Verifier};
use mayfly_template::{Certificate, certificate_public_key};

use crate::AuthorityError;

/// step's provisioner extension (1.3.6.1.4.1.37476.9000.64.1): which provisioner authorized a
/// certificate, so renewals apply that provisioner's claims.
pub const PROVISIONER_EXTENSION_OID: &str = "1.3.6.1.4.1.37476.9000.64.1";

/// ```text
/// StepProvisioner ::= SEQUENCE {
///     type          INTEGER,       -- 1 JWK, 6 ACME
///     name          OCTET STRING,
///     credentialID  OCTET STRING,  -- the JWK's kid
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct StepProvisioner {
    kind: u8,
    name: OctetString,
    credential_id: OctetString,
}

/// The DER value of the provisioner extension.
pub fn provisioner_extension(
    kind: u8,
    name: &str,
    credential_id: &str,
) -> Result<Vec<u8>, AuthorityError> {
    let internal = |e: der::Error| AuthorityError::Internal(format!("provisioner extension: {e}"));
    StepProvisioner {
        kind,
        name: OctetString::new(name.as_bytes()).map_err(internal)?,
        credential_id: OctetString::new(credential_id.as_bytes()).map_err(internal)?,
    }
    .to_der()
    .map_err(internal)
}

/// The provisioner name a certificate's provisioner extension names, if it has one.
pub fn provisioner_of(cert: &Certificate) -> Option<String> {
    let oid = der::asn1::ObjectIdentifier::new(PROVISIONER_EXTENSION_OID).ok()?;
    let ext = cert
        .tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id == oid)?;
    let value = StepProvisioner::from_der(ext.extn_value.as_bytes()).ok()?;
    String::from_utf8(value.name.as_bytes().to_vec()).ok()
}

/// Checks that `issuer` issued `cert`: names chain and the signature verifies.
pub fn verify_issued_by(cert: &Certificate, issuer: &Certificate) -> Result<(), AuthorityError> {
    let refused = |why: String| AuthorityError::Unauthorized(why);
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(refused("the certificate was not issued by this CA".into()));
    }
    let algorithm = SignatureAlgorithm::from_algorithm_identifier(cert.signature_algorithm())
        .map_err(|e| refused(format!("certificate signature: {e}")))?;
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| refused(format!("certificate encoding: {e}")))?;
    let signature = cert
        .signature()
        .as_bytes()
        .ok_or_else(|| refused("certificate signature is not octet-aligned".into()))?;
    certificate_public_key(issuer)
        .map_err(|e| AuthorityError::Internal(e.to_string()))?
        .verify(algorithm, &tbs, signature)
        .map_err(|_| refused("the certificate's signature does not verify against this CA".into()))
}

/// The serial number as the store keys it: lowercase hex without leading zero bytes.
pub fn serial_hex(cert: &Certificate) -> String {
    normalize_serial_bytes(cert.tbs_certificate().serial_number().as_bytes())
}

/// Lowercase hex of a big-endian serial without leading zero bytes (`"0"` for zero).
pub fn normalize_serial_bytes(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let hex = hex::encode(&bytes[start..]);
    if hex.is_empty() { "0".into() } else { hex }
}

/// Parses a serial given by a user: hex (`0x` optional, any case, colons allowed) or, as step
/// sends it, decimal. Returns the store's form.
pub fn parse_serial(text: &str) -> Result<String, AuthorityError> {
    let bad = || AuthorityError::BadRequest(format!("invalid serial number {text:?}"));
    let cleaned: String = text.trim().chars().filter(|c| *c != ':').collect();
    if cleaned.is_empty() || cleaned.len() > 128 {
        return Err(bad());
    }
    let bytes = if let Some(hex_digits) = cleaned.strip_prefix("0x").or(cleaned.strip_prefix("0X"))
    {
        let padded = if hex_digits.len() % 2 == 1 {
            format!("0{hex_digits}")
        } else {
            hex_digits.to_owned()
        };
        hex::decode(padded).map_err(|_| bad())?
    } else if cleaned.bytes().all(|b| b.is_ascii_digit()) {
        decimal_to_bytes(&cleaned)
    } else {
        let padded = if cleaned.len() % 2 == 1 {
            format!("0{cleaned}")
        } else {
            cleaned.clone()
        };
        hex::decode(padded).map_err(|_| bad())?
    };
    Ok(normalize_serial_bytes(&bytes))
}

/// Decimal digits to big-endian bytes (serials are up to 20 octets; schoolbook is plenty).
fn decimal_to_bytes(digits: &str) -> Vec<u8> {
    let mut out: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in out.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    out
}

/// notBefore and notAfter as unix seconds.
pub fn validity_unix(cert: &Certificate) -> (i64, i64) {
    let v = cert.tbs_certificate().validity();
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    (secs(&v.not_before), secs(&v.not_after))
}

/// The subject's common name, if any.
pub fn common_name(cert: &Certificate) -> Option<String> {
    name_common_name(cert.tbs_certificate().subject())
}

/// The common name of `name` (a certificate's or a CSR's subject), if any.
pub fn name_common_name(name: &x509_cert::name::Name) -> Option<String> {
    let cn = const_oid::db::rfc4519::CN;
    name.iter().find(|atv| atv.oid == cn).and_then(|atv| {
        der::asn1::Utf8StringRef::try_from(&atv.value)
            .map(|s| s.as_str().to_owned())
            .or_else(|_| {
                der::asn1::PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_owned())
            })
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_parse_from_hex_and_decimal() {
        assert_eq!(parse_serial("0x00FF").unwrap(), "ff");
        assert_eq!(parse_serial("ab:cd").unwrap(), "abcd");
        assert_eq!(parse_serial("255").unwrap(), "ff");
        assert_eq!(
            parse_serial("340282366920938463463374607431768211455").unwrap(),
            "f".repeat(32)
        );
        assert_eq!(parse_serial("0").unwrap(), "0");
        assert!(parse_serial("xyz").is_err());
        assert!(parse_serial("").is_err());
    }

    #[test]
    fn provisioner_extension_round_trips() {
        let der = provisioner_extension(1, "ops@example.com", "kid-1").unwrap();
        let value = StepProvisioner::from_der(&der).unwrap();
        assert_eq!(value.kind, 1);
        assert_eq!(value.name.as_bytes(), b"ops@example.com");
    }
}

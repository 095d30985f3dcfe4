//! The few facts this crate needs from an X.509 certificate (issuer, responder, or one being
//! recorded in index.txt), read with x509-cert.

use const_oid::ObjectIdentifier;
use der::{Decode, DecodePem, Encode};
use sha1::{Digest, Sha1};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};

use crate::{CrlError, Serial};

/// id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
pub const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");

/// A parsed certificate with what CRL, OCSP and index.txt work needs.
#[derive(Clone, Debug)]
pub struct CertInfo {
    der: Vec<u8>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    subject_oneline: String,
    serial: Serial,
    not_after: OffsetDateTime,
    public_key_bits: Vec<u8>,
    key_id: Vec<u8>,
    ocsp_signing: bool,
}

impl CertInfo {
    /// Parses a certificate in DER or PEM.
    pub fn parse(bytes: &[u8]) -> Result<Self, CrlError> {
        let cert = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            Certificate::from_pem(bytes)
        } else {
            Certificate::from_der(bytes)
        }
        .map_err(|e| CrlError::Certificate(format!("cannot parse: {e}")))?;
        Self::from_certificate(&cert)
    }

    /// From an x509-cert certificate.
    pub fn from_certificate(cert: &Certificate) -> Result<Self, CrlError> {
        let tbs = cert.tbs_certificate();
        let public_key_bits = tbs
            .subject_public_key_info()
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| CrlError::Certificate("public key is not whole octets".into()))?
            .to_vec();
        let key_id = match tbs.get_extension::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
            // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value.
            _ => Sha1::digest(&public_key_bits).to_vec(),
        };
        let ocsp_signing = matches!(
            tbs.get_extension::<ExtendedKeyUsage>(),
            Ok(Some((_, eku))) if eku.0.contains(&ID_KP_OCSP_SIGNING)
        );
        let not_after = tbs.validity().not_after.to_unix_duration();
        let not_after = i64::try_from(not_after.as_secs())
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| CrlError::Certificate("notAfter out of range".into()))?;
        Ok(Self {
            der: cert.to_der()?,
            subject_der: tbs.subject().to_der()?,
            issuer_der: tbs.issuer().to_der()?,
            subject_oneline: oneline(tbs.subject()),
            serial: Serial::from_der_integer(tbs.serial_number().as_bytes())?,
            not_after,
            public_key_bits,
            key_id,
            ocsp_signing,
        })
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER of the subject Name.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The DER of the issuer Name.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// The subject in OpenSSL's one-line form (`/C=US/O=Example/CN=name`), as index.txt has it.
    pub fn subject_oneline(&self) -> &str {
        &self.subject_oneline
    }

    /// The serial number.
    pub fn serial(&self) -> Serial {
        self.serial
    }

    /// notAfter.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The subjectPublicKey BIT STRING value (what OCSP key hashes cover).
    pub fn public_key_bits(&self) -> &[u8] {
        &self.public_key_bits
    }

    /// The subject key identifier: the SKI extension, or the RFC 5280 method-1 SHA-1 of the
    /// key when the certificate has none. A CRL's AKI must carry this value.
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// Whether extendedKeyUsage lists id-kp-OCSPSigning (a delegated OCSP responder).
    pub fn is_ocsp_signer(&self) -> bool {
        self.ocsp_signing
    }

    /// Checks that `signer` holds the private half of this certificate's key.
    pub fn check_signer(&self, signer: &dyn mayfly_keys::Signer) -> Result<(), CrlError> {
        if signer.public_key().subject_public_key_bytes()? == self.public_key_bits {
            Ok(())
        } else {
            Err(CrlError::KeyMismatch(self.subject_oneline.clone()))
        }
    }
}

/// OpenSSL's `X509_NAME_oneline` form: `/SN=value` per attribute, bytes outside printable ASCII
/// as `\xHH`.
fn oneline(name: &x509_cert::name::Name) -> String {
    const SHORT: [(&str, &str); 14] = [
        ("2.5.4.3", "CN"),
        ("2.5.4.6", "C"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.5", "serialNumber"),
        ("2.5.4.4", "SN"),
        ("2.5.4.42", "GN"),
        ("2.5.4.12", "title"),
        ("2.5.4.97", "organizationIdentifier"),
        ("1.2.840.113549.1.9.1", "emailAddress"),
        ("0.9.2342.19200300.100.1.25", "DC"),
        ("0.9.2342.19200300.100.1.1", "UID"),
    ];
    let mut out = String::new();
    for atv in name.iter() {
        let oid = atv.oid.to_string();
        let short = SHORT
            .iter()
            .find(|(o, _)| *o == oid)
            .map_or(oid.as_str(), |(_, s)| s);
        out.push('/');
        out.push_str(short);
        out.push('=');
        for &b in atv.value.value() {
            if (0x20..0x7F).contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\x{b:02X}"));
            }
        }
    }
    out
}

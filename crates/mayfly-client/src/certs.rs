//! What the client holds: a signed certificate with its chain, and an identity (certificate
//! plus key) for mTLS.

use std::path::Path;
use std::time::{Duration, SystemTime};

use mayfly_keys::{Password, PrivateKey};
use mayfly_template::{Certificate, certificate_to_der, certificate_to_pem};
use rustls::pki_types::CertificateDer;

use crate::ClientError;

/// A certificate the CA issued, with the intermediates that chain it to the root.
#[derive(Clone, Debug)]
pub struct SignedCertificate {
    /// The leaf.
    pub certificate: Certificate,
    /// The intermediates, leaf-side first (never the root).
    pub intermediates: Vec<Certificate>,
}

impl SignedCertificate {
    /// Reads a PEM bundle: the leaf first, then its intermediates (what [`Self::to_pem`]
    /// writes and step writes to `CRT`).
    pub fn from_pem(pem: &str) -> Result<Self, ClientError> {
        let mut certs = mayfly_template::parse_certificate_chain_pem(pem)?.into_iter();
        let certificate = certs
            .next()
            .ok_or_else(|| ClientError::Certificate("no certificate in the bundle".into()))?;
        Ok(Self {
            certificate,
            intermediates: certs.collect(),
        })
    }

    /// Reads a PEM bundle file.
    pub fn from_file(path: &Path) -> Result<Self, ClientError> {
        let pem = std::fs::read_to_string(path).map_err(|e| ClientError::io(path, e))?;
        Self::from_pem(&pem).map_err(|e| match e {
            ClientError::Template(e) => {
                ClientError::Certificate(format!("{}: {e}", path.display()))
            }
            e => e,
        })
    }

    /// The leaf and the intermediates as one PEM bundle.
    pub fn to_pem(&self) -> Result<String, ClientError> {
        let mut out = certificate_to_pem(&self.certificate)?;
        for cert in &self.intermediates {
            out.push_str(&certificate_to_pem(cert)?);
        }
        Ok(out)
    }

    /// The leaf's validity period.
    pub fn validity(&self) -> (SystemTime, SystemTime) {
        let validity = self.certificate.tbs_certificate().validity();
        (
            validity.not_before.to_system_time(),
            validity.not_after.to_system_time(),
        )
    }

    /// The leaf's serial number as decimal digits (how step prints and revokes serials).
    pub fn serial_decimal(&self) -> String {
        decimal(
            self.certificate
                .tbs_certificate()
                .serial_number()
                .as_bytes(),
        )
    }

    /// The leaf's lifetime.
    pub fn lifetime(&self) -> Duration {
        let (from, to) = self.validity();
        to.duration_since(from).unwrap_or_default()
    }
}

/// A certificate and its private key: what the client presents for mTLS renew, rekey and
/// revoke.
#[derive(Debug)]
pub struct Identity {
    certificate: SignedCertificate,
    key: PrivateKey,
}

impl Identity {
    /// Pairs a certificate with its key, refusing a key that does not match.
    pub fn new(certificate: SignedCertificate, key: PrivateKey) -> Result<Self, ClientError> {
        let cert_key = mayfly_template::certificate_public_key(&certificate.certificate)?;
        if &cert_key != mayfly_keys::Signer::public_key(&key) {
            return Err(ClientError::Certificate(
                "the private key does not match the certificate's public key".into(),
            ));
        }
        Ok(Self { certificate, key })
    }

    /// Reads a PEM certificate bundle and a PEM key (decrypted with `password` if encrypted).
    pub fn from_files(
        cert: &Path,
        key: &Path,
        password: Option<&Password>,
    ) -> Result<Self, ClientError> {
        let certificate = SignedCertificate::from_file(cert)?;
        let key = mayfly_keys::read_private_key_file(key, password)?;
        Self::new(certificate, key)
    }

    /// The certificate.
    pub fn certificate(&self) -> &SignedCertificate {
        &self.certificate
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The chain in DER, leaf first, for rustls.
    pub(crate) fn chain_der(&self) -> Result<Vec<CertificateDer<'static>>, ClientError> {
        std::iter::once(&self.certificate.certificate)
            .chain(&self.certificate.intermediates)
            .map(|c| Ok(CertificateDer::from(certificate_to_der(c)?)))
            .collect()
    }
}

/// Big-endian unsigned bytes as decimal digits.
pub(crate) fn decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for d in &mut digits {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_print_in_decimal() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0]), "0");
        assert_eq!(decimal(&[1, 0]), "256");
        assert_eq!(decimal(&[0xff; 16]), u128::MAX.to_string());
        assert_eq!(
            decimal(&0x0123_4567_89ab_cdefu64.to_be_bytes()),
            0x0123_4567_89ab_cdefu64.to_string()
        );
    }
}

//! Small certificate helpers other crates need: PEM in and out, fingerprints, inspection.

use const_oid::db::rfc5280 as oids;
use der::{Decode, DecodePem, Encode, EncodePem};
use mayfly_keys::{PublicKey, SignatureAlgorithm};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    SubjectAltName,
};

use crate::Error;
use crate::builder::subject_key_identifier;
use crate::csr::subject_value;
use crate::extensions::{EXT_KEY_USAGES, KEY_USAGES};
use crate::profile::San;

/// Parses one PEM `CERTIFICATE`.
pub fn parse_certificate_pem(pem: &str) -> Result<Certificate, Error> {
    Certificate::from_pem(pem).map_err(|e| Error::Certificate(format!("PEM certificate: {e}")))
}

/// Parses every PEM `CERTIFICATE` in `pem`, in order (a chain or bundle).
pub fn parse_certificate_chain_pem(pem: &str) -> Result<Vec<Certificate>, Error> {
    let certs = Certificate::load_pem_chain(pem.as_bytes())
        .map_err(|e| Error::Certificate(format!("PEM chain: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Certificate("no CERTIFICATE PEM block found".into()));
    }
    Ok(certs)
}

/// Parses a DER certificate.
pub fn parse_certificate_der(der: &[u8]) -> Result<Certificate, Error> {
    Certificate::from_der(der).map_err(|e| Error::Certificate(format!("DER certificate: {e}")))
}

/// The PEM encoding (LF line endings).
pub fn certificate_to_pem(cert: &Certificate) -> Result<String, Error> {
    cert.to_pem(der::pem::LineEnding::LF)
        .map_err(|e| Error::Encoding(e.to_string()))
}

/// The DER encoding.
pub fn certificate_to_der(cert: &Certificate) -> Result<Vec<u8>, Error> {
    cert.to_der().map_err(|e| Error::Encoding(e.to_string()))
}

/// SHA-256 of the DER certificate, lower-case hex (step's root fingerprint).
pub fn fingerprint_sha256(cert: &Certificate) -> Result<String, Error> {
    Ok(hex::encode(Sha256::digest(certificate_to_der(cert)?)))
}

/// The certificate's public key.
pub fn certificate_public_key(cert: &Certificate) -> Result<PublicKey, Error> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Error::Encoding(e.to_string()))?;
    Ok(PublicKey::from_spki_der(&spki)?)
}

fn general_name_text(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(d) => format!("DNS:{d}"),
        GeneralName::Rfc822Name(e) => format!("email:{e}"),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{u}"),
        GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
            4 | 16 => {
                let b = ip.as_bytes();
                let addr: std::net::IpAddr = if b.len() == 4 {
                    std::net::IpAddr::from(<[u8; 4]>::try_from(b).unwrap_or_default())
                } else {
                    std::net::IpAddr::from(<[u8; 16]>::try_from(b).unwrap_or_default())
                };
                format!("IP:{addr}")
            }
            _ => format!("IP:{}", hex::encode(ip.as_bytes())),
        },
        other => format!("{other:?}"),
    }
}

/// Go's name for a signature algorithm (`x509.SignatureAlgorithm.String()`), as step prints it.
pub fn signature_algorithm_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::EcdsaSha256 => "ECDSA-SHA256",
        SignatureAlgorithm::EcdsaSha384 => "ECDSA-SHA384",
        SignatureAlgorithm::Ed25519 => "Ed25519",
        SignatureAlgorithm::RsaPkcs1Sha256 => "SHA256-RSA",
        SignatureAlgorithm::RsaPssSha256 => "SHA256-RSAPSS",
    }
}

/// A JSON description of a certificate (what `mayfly certificate inspect --format json` prints).
pub fn inspect(cert: &Certificate) -> Result<Value, Error> {
    let tbs = cert.tbs_certificate();
    let validity = tbs.validity();
    let key = certificate_public_key(cert)?;
    let mut out = json!({
        "version": 3,
        "serialNumber": hex::encode(tbs.serial_number().as_bytes()),
        "signatureAlgorithm": SignatureAlgorithm::from_algorithm_identifier(cert.signature_algorithm())
            .map_or_else(|_| cert.signature_algorithm().oid.to_string(), |a| {
                signature_algorithm_name(a).to_owned()
            }),
        "issuer": tbs.issuer().to_string(),
        "issuerFields": subject_value(tbs.issuer()),
        "subject": tbs.subject().to_string(),
        "subjectFields": subject_value(tbs.subject()),
        "notBefore": validity.not_before.to_string(),
        "notAfter": validity.not_after.to_string(),
        "publicKey": key.key_type().to_string(),
        "subjectKeyId": hex::encode(subject_key_identifier(cert)?),
        "fingerprintSha256": fingerprint_sha256(cert)?,
    });
    let set = |out: &mut Value, k: &str, v: Value| {
        if let Value::Object(m) = out {
            m.insert(k.to_owned(), v);
        }
    };
    let bad = |e: der::Error| Error::Certificate(format!("extension: {e}"));
    if let Some((critical, bc)) = tbs.get_extension::<BasicConstraints>().map_err(bad)? {
        let v = json!({"critical": critical, "isCA": bc.ca, "maxPathLen": bc.path_len_constraint});
        set(&mut out, "basicConstraints", v);
    }
    if let Some((_, ku)) = tbs.get_extension::<KeyUsage>().map_err(bad)? {
        let names: Vec<&str> = KEY_USAGES
            .iter()
            .filter(|(_, bit)| ku.0.contains(*bit))
            .map(|(n, _)| *n)
            .collect();
        set(&mut out, "keyUsage", json!(names));
    }
    if let Some((_, eku)) = tbs.get_extension::<ExtendedKeyUsage>().map_err(bad)? {
        let names: Vec<String> = eku
            .0
            .iter()
            .map(|oid| {
                let dotted = oid.to_string();
                EXT_KEY_USAGES
                    .iter()
                    .find(|(_, d)| *d == dotted)
                    .map_or(dotted.clone(), |(n, _)| (*n).to_owned())
            })
            .collect();
        set(&mut out, "extKeyUsage", json!(names));
    }
    if let Some((_, san)) = tbs.get_extension::<SubjectAltName>().map_err(bad)? {
        let names: Vec<String> = san.0.iter().map(general_name_text).collect();
        set(&mut out, "subjectAltNames", json!(names));
    }
    if let Some((_, aki)) = tbs.get_extension::<AuthorityKeyIdentifier>().map_err(bad)?
        && let Some(id) = aki.key_identifier
    {
        set(
            &mut out,
            "authorityKeyId",
            json!(hex::encode(id.as_bytes())),
        );
    }
    if let Some((_, dps)) = tbs.get_extension::<CrlDistributionPoints>().map_err(bad)? {
        let urls: Vec<String> = dps
            .0
            .iter()
            .filter_map(|dp| match &dp.distribution_point {
                Some(x509_cert::ext::pkix::name::DistributionPointName::FullName(names)) => {
                    Some(names.iter().map(general_name_text).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect();
        set(&mut out, "crlDistributionPoints", json!(urls));
    }
    let others: Vec<String> = tbs
        .extensions()
        .into_iter()
        .flatten()
        .map(|e| e.extn_id)
        .filter(|id| {
            ![
                oids::ID_CE_BASIC_CONSTRAINTS,
                oids::ID_CE_KEY_USAGE,
                oids::ID_CE_EXT_KEY_USAGE,
                oids::ID_CE_SUBJECT_ALT_NAME,
                oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
                oids::ID_CE_CRL_DISTRIBUTION_POINTS,
            ]
            .contains(id)
        })
        .map(|id| id.to_string())
        .collect();
    if !others.is_empty() {
        set(&mut out, "otherExtensions", json!(others));
    }
    Ok(out)
}

/// The subject alternative names of a certificate (DNS, IP, email, URI; other kinds skipped).
pub fn certificate_sans(cert: &Certificate) -> Result<Vec<San>, Error> {
    let bad = |e: der::Error| Error::Certificate(format!("subjectAltName: {e}"));
    let Some((_, san)) = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(bad)?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(san.0.len());
    for name in &san.0 {
        if let Some(san) = crate::csr::san_from_general_name(name)? {
            out.push(san);
        }
    }
    Ok(out)
}

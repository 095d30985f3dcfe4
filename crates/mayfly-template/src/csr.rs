//! Certificate signing requests: parse, verify the self-signature, refuse weak keys, and
//! expose what templates read as `.Insecure.CR`.

use base64::Engine as _;
use der::asn1::{AnyRef, BitString};
use der::{Decode, Encode, Reader, SliceReader};
use mayfly_keys::{KeyType, PublicKey, SignatureAlgorithm, Signer, Verifier};
use serde_json::{Map, Value, json};
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};

use crate::Error;
use crate::builder::{SignerInfo, SpkiDer};
use crate::extensions::{attribute_field, attribute_text, general_name, name_from_subject};
use crate::profile::{San, Subject};

/// PKCS#9 extensionRequest.
const EXTENSION_REQUEST: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

/// A parsed PKCS#10 request whose self-signature has been verified.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    der: Vec<u8>,
    subject: Name,
    public_key: PublicKey,
    signature_algorithm: SignatureAlgorithm,
    sans: Vec<San>,
}

impl CertificateRequest {
    /// Parses a DER request, verifies its signature and checks its key (RSA >= 2048 bits,
    /// P-256/P-384/Ed25519 only).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let req = CertReq::from_der(der)
            .map_err(|e| Error::Request(format!("not a PKCS#10 request: {e}")))?;
        let spki = req
            .info
            .public_key
            .to_der()
            .map_err(|e| Error::Request(format!("public key: {e}")))?;
        let public_key = PublicKey::from_spki_der(&spki)?;
        let signature_algorithm = SignatureAlgorithm::from_algorithm_identifier(&req.algorithm)?;
        let signature = req
            .signature
            .as_bytes()
            .ok_or_else(|| Error::Request("signature bit string is not octet-aligned".into()))?;
        public_key
            .verify(signature_algorithm, signed_part(der)?, signature)
            .map_err(|_| Error::RequestSignature)?;
        let mut sans = Vec::new();
        for attr in req
            .info
            .attributes
            .iter()
            .filter(|a| a.oid == EXTENSION_REQUEST)
        {
            for value in attr.values.iter() {
                let bytes = value.to_der().map_err(|e| Error::Request(e.to_string()))?;
                let exts = ExtensionReq::from_der(&bytes)
                    .map_err(|e| Error::Request(format!("extensionRequest: {e}")))?;
                for ext in exts
                    .0
                    .iter()
                    .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
                {
                    let names = SubjectAltName::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| Error::Request(format!("subjectAltName: {e}")))?;
                    for name in names.0 {
                        if let Some(san) = san_from_general_name(&name)? {
                            sans.push(san);
                        }
                    }
                }
            }
        }
        Ok(Self {
            der: der.to_vec(),
            subject: req.info.subject,
            public_key,
            signature_algorithm,
            sans,
        })
    }

    /// Parses a PEM `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|e| Error::Request(format!("PEM: {e}")))?;
        if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
            return Err(Error::Request(format!(
                "expected a CERTIFICATE REQUEST PEM block, found {label}"
            )));
        }
        Self::from_der(&der)
    }

    /// The DER encoding.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The requested subject name.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The requested public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The algorithm the request was signed with.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// The SANs in the request's extensionRequest attribute.
    pub fn sans(&self) -> &[San] {
        &self.sans
    }

    /// The request as templates see it under `.Insecure.CR` (step's field names; the public
    /// key reports `*rsa.PublicKey` / `*ecdsa.PublicKey` / `ed25519.PublicKey` to `typeIs`).
    /// The public key and its algorithm are hidden members (`$publicKey`,
    /// `$publicKeyAlgorithm`): templates read them as `.PublicKey` and `.PublicKeyAlgorithm`,
    /// but `toJson` leaves them out, as step's `json:"-"` fields.
    pub fn to_template_value(&self) -> Result<Value, Error> {
        let pick = |f: fn(&San) -> Option<String>| -> Value {
            Value::Array(self.sans.iter().filter_map(f).map(Value::from).collect())
        };
        let raw = self
            .subject
            .to_der()
            .map_err(|e| Error::Encoding(e.to_string()))?;
        Ok(json!({
            "version": 0,
            "subject": subject_value(&self.subject),
            "rawSubject": base64::engine::general_purpose::STANDARD.encode(raw),
            "dnsNames": pick(|s| if let San::Dns(d) = s { Some(d.clone()) } else { None }),
            "emailAddresses": pick(|s| if let San::Email(d) = s { Some(d.clone()) } else { None }),
            "ipAddresses": pick(|s| if let San::Ip(d) = s { Some(d.to_string()) } else { None }),
            "uris": pick(|s| if let San::Uri(d) = s { Some(d.clone()) } else { None }),
            "$publicKey": public_key_value(&self.public_key),
            "$publicKeyAlgorithm": public_key_algorithm(&self.public_key),
            "signatureAlgorithm": crate::cert::signature_algorithm_name(self.signature_algorithm),
        }))
    }
}

/// Builds a PKCS#10 request (DER) for `signer`'s key with this common name and SANs, signed
/// by that key (what a client sends to the CA).
pub fn build_request(
    common_name: &str,
    sans: &[San],
    signer: &dyn Signer,
) -> Result<Vec<u8>, Error> {
    let fail = |e: x509_cert::builder::Error| Error::Request(format!("building request: {e}"));
    let subject = name_from_subject(&Subject {
        common_name: common_name.to_owned(),
        ..Subject::default()
    })?;
    let mut builder = RequestBuilder::new(subject).map_err(fail)?;
    if !sans.is_empty() {
        let names = sans
            .iter()
            .map(general_name)
            .collect::<Result<Vec<_>, _>>()?;
        builder
            .add_extension(&SubjectAltName(names))
            .map_err(|e| Error::Request(format!("subjectAltName: {e}")))?;
    }
    let info = SignerInfo(signer, SpkiDer(signer.public_key().to_spki_der()?));
    let tbs = builder.finalize(&info).map_err(fail)?;
    let signature = signer.sign(&tbs)?;
    let signature =
        BitString::from_bytes(&signature).map_err(|e| Error::Encoding(e.to_string()))?;
    let request = builder.assemble(signature, &info).map_err(fail)?;
    request.to_der().map_err(|e| Error::Encoding(e.to_string()))
}

/// The bytes the request signature covers: the encoded `certificationRequestInfo`.
fn signed_part(der: &[u8]) -> Result<&[u8], Error> {
    let bad = |e: der::Error| Error::Request(format!("malformed request: {e}"));
    let outer = AnyRef::from_der(der).map_err(bad)?;
    let value = outer.value();
    let mut reader = SliceReader::new(value).map_err(bad)?;
    let info = reader.tlv_bytes().map_err(bad)?;
    Ok(info)
}

pub(crate) fn san_from_general_name(name: &GeneralName) -> Result<Option<San>, Error> {
    Ok(match name {
        GeneralName::DnsName(d) => Some(San::Dns(d.to_string())),
        GeneralName::Rfc822Name(e) => Some(San::Email(e.to_string())),
        GeneralName::UniformResourceIdentifier(u) => Some(San::Uri(u.to_string())),
        GeneralName::IpAddress(ip) => {
            let b = ip.as_bytes();
            let ip = match b.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(b).unwrap_or_default()),
                16 => std::net::IpAddr::from(<[u8; 16]>::try_from(b).unwrap_or_default()),
                n => return Err(Error::Request(format!("IP address SAN of {n} bytes"))),
            };
            Some(San::Ip(ip))
        }
        _ => None,
    })
}

/// A name as step's subject object: `commonName` and `serialNumber` strings, the rest lists.
pub fn subject_value(name: &Name) -> Value {
    let mut m = Map::new();
    for atv in name.iter() {
        let (Some(field), Some(text)) = (attribute_field(atv.oid), attribute_text(&atv.value))
        else {
            continue;
        };
        if field == "commonName" || field == "serialNumber" {
            m.insert(field.to_owned(), Value::from(text));
        } else if let Value::Array(list) =
            m.entry(field).or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(Value::from(text));
        }
    }
    Value::Object(m)
}

/// How templates see a public key (`typeIs "*rsa.PublicKey"`, `.Size` in bytes for RSA).
pub fn public_key_value(key: &PublicKey) -> Value {
    match key.key_type() {
        KeyType::Rsa(bits) => json!({"$type": "*rsa.PublicKey", "size": bits.div_ceil(8)}),
        KeyType::EcP256 => json!({"$type": "*ecdsa.PublicKey", "curve": "P-256"}),
        KeyType::EcP384 => json!({"$type": "*ecdsa.PublicKey", "curve": "P-384"}),
        KeyType::Ed25519 => json!({"$type": "ed25519.PublicKey"}),
    }
}

fn public_key_algorithm(key: &PublicKey) -> &'static str {
    match key.key_type() {
        KeyType::Rsa(_) => "RSA",
        KeyType::EcP256 | KeyType::EcP384 => "ECDSA",
        KeyType::Ed25519 => "Ed25519",
    }
}

//! Profile + subject key + issuer -> signed X.509 v3 certificate.
//!
//! [`MayflyProfile`] is the x509-cert `BuilderProfile` that carries a rendered
//! [`CertificateProfile`]; any [`Signer`] (software or HSM) signs through a small adapter.

use std::time::{Duration, SystemTime};

use const_oid::db::rfc5280 as oids;
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use mayfly_keys::{PublicKey, Signer};
use sha1::{Digest, Sha1};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SubjectPublicKeyInfoRef,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::Error;
use crate::extensions::{name_is_empty, profile_extensions, subject_name};
use crate::profile::CertificateProfile;

/// How far notBefore is set in the past to absorb clock skew.
pub const BACKDATE: Duration = Duration::from_secs(60);

/// Who signs the certificate.
#[derive(Clone, Copy)]
pub enum Issuer<'a> {
    /// Self-signed with the subject's own key (a root).
    SelfSigned(&'a dyn Signer),
    /// Signed by a CA: its certificate and its key.
    Ca(&'a Certificate, &'a dyn Signer),
}

/// The validity window of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityPeriod {
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

impl ValidityPeriod {
    /// From `now - BACKDATE` to `now + lifetime`.
    pub fn starting_now(lifetime: Duration) -> Self {
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        Self {
            not_before: now - BACKDATE,
            not_after: now + lifetime,
        }
    }

    /// The window a profile asks for (`notBefore`/`notAfter`, RFC 3339), each defaulting to
    /// [`ValidityPeriod::starting_now`]. Callers that do not let templates choose validity
    /// use `starting_now` directly.
    pub fn from_profile(profile: &CertificateProfile, lifetime: Duration) -> Result<Self, Error> {
        let default = Self::starting_now(lifetime);
        let parse = |s: &Option<String>, what: &str, d: OffsetDateTime| match s {
            None => Ok(d),
            Some(s) if s.is_empty() => Ok(d),
            Some(s) => OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| Error::Profile(format!("{what} {s:?} is not RFC 3339: {e}"))),
        };
        let period = Self {
            not_before: parse(&profile.not_before, "notBefore", default.not_before)?,
            not_after: parse(&profile.not_after, "notAfter", default.not_after)?,
        };
        if period.not_after <= period.not_before {
            return Err(Error::Profile("notAfter is not after notBefore".into()));
        }
        Ok(period)
    }

    /// The same window ending at `not_after` (RFC 3339), which must be after `not_before`.
    pub fn until(self, not_after: &str) -> Result<Self, Error> {
        let end = OffsetDateTime::parse(not_after, &Rfc3339)
            .map_err(|e| Error::Profile(format!("notAfter {not_after:?} is not RFC 3339: {e}")))?;
        if end <= self.not_before {
            return Err(Error::Profile(format!(
                "notAfter {not_after} is not after notBefore"
            )));
        }
        Ok(Self {
            not_after: end,
            ..self
        })
    }

    fn to_x509(self) -> Result<Validity, Error> {
        let t = |dt: OffsetDateTime| {
            let st = SystemTime::from(dt);
            Time::try_from(st).map_err(|e| Error::Profile(format!("time {dt}: {e}")))
        };
        let mut v =
            Validity::from_now(Duration::ZERO).map_err(|e| Error::Encoding(e.to_string()))?;
        v.not_before = t(self.not_before)?;
        v.not_after = t(self.not_after)?;
        Ok(v)
    }
}

/// The x509-cert builder profile for one Mayfly certificate.
pub struct MayflyProfile {
    subject: Name,
    issuer: Option<Name>,
    authority_key_id: Option<Vec<u8>>,
    extensions: Vec<Extension>,
}

impl BuilderProfile for MayflyProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut out = Vec::with_capacity(self.extensions.len() + 2);
        let ski = key_identifier(spk.subject_public_key.raw_bytes());
        let has = |id| self.extensions.iter().any(|e: &Extension| e.extn_id == id);
        if !has(oids::ID_CE_SUBJECT_KEY_IDENTIFIER) {
            let value = SubjectKeyIdentifier(OctetString::new(ski)?);
            out.push(Extension {
                extn_id: oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
                critical: false,
                extn_value: OctetString::new(value.to_der()?)?,
            });
        }
        if let Some(aki) = &self.authority_key_id
            && !has(oids::ID_CE_AUTHORITY_KEY_IDENTIFIER)
        {
            let value = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki.clone())?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            out.push(Extension {
                extn_id: oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                critical: false,
                extn_value: OctetString::new(value.to_der()?)?,
            });
        }
        out.extend(self.extensions.iter().cloned());
        Ok(out)
    }
}

/// RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes.
pub fn key_identifier(subject_public_key: &[u8]) -> Vec<u8> {
    Sha1::digest(subject_public_key).to_vec()
}

/// The SKI a certificate carries, or its method-1 key identifier when it has none.
pub fn subject_key_identifier(cert: &Certificate) -> Result<Vec<u8>, Error> {
    let tbs = cert.tbs_certificate();
    if let Ok(Some((_, ski))) = tbs.get_extension::<SubjectKeyIdentifier>() {
        return Ok(ski.0.as_bytes().to_vec());
    }
    Ok(key_identifier(
        tbs.subject_public_key_info().subject_public_key.raw_bytes(),
    ))
}

/// Adapts a `dyn Signer` to what x509-cert's builder needs to know about the signer.
pub(crate) struct SignerInfo<'a>(pub(crate) &'a dyn Signer, pub(crate) SpkiDer);

#[derive(Clone)]
pub(crate) struct SpkiDer(pub(crate) Vec<u8>);

impl EncodePublicKey for SpkiDer {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::from_der(&self.0)?)
    }
}

impl signature::Keypair for SignerInfo<'_> {
    type VerifyingKey = SpkiDer;
    fn verifying_key(&self) -> SpkiDer {
        self.1.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for SignerInfo<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.0
            .algorithm()
            .algorithm_identifier()
            .map_err(|_| spki::Error::AlgorithmParametersMissing)
    }
}

/// Renders `template` with `data` and builds the certificate its profile describes: how a CA
/// certificate comes from one of the default templates (`DEFAULT_ROOT_TEMPLATE`, ...).
pub fn build_from_template(
    template: &str,
    data: &serde_json::Value,
    subject_key: &PublicKey,
    issuer: Issuer<'_>,
    validity: ValidityPeriod,
) -> Result<Certificate, Error> {
    let rendered = crate::Template::parse("certificate", template)?.render(data)?;
    let profile = CertificateProfile::from_json(&rendered)?;
    build_certificate(&profile, subject_key, issuer, validity)
}

/// Builds and signs a certificate for `subject_key` as `profile` describes.
///
/// Adds a 128-bit random serial, the SKI (method 1) and, unless self-signed, the AKI (the
/// issuer's SKI). A CA issuer must be a CA certificate whose key is the signer's.
pub fn build_certificate(
    profile: &CertificateProfile,
    subject_key: &PublicKey,
    issuer: Issuer<'_>,
    validity: ValidityPeriod,
) -> Result<Certificate, Error> {
    let subject = subject_name(profile)?;
    let extensions = profile_extensions(profile, name_is_empty(&subject))?;
    sign_certificate(subject, extensions, subject_key, issuer, validity)
}

/// Issues a new certificate like `old`: the same subject and extensions (SKI and AKI
/// recomputed for `subject_key` and `issuer`), a fresh serial and the given validity. This is
/// renewal (same key) and rekey (a new key).
pub fn reissue_certificate(
    old: &Certificate,
    subject_key: &PublicKey,
    issuer: Issuer<'_>,
    validity: ValidityPeriod,
) -> Result<Certificate, Error> {
    let tbs = old.tbs_certificate();
    let recomputed = [
        oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
        oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    ];
    let extensions = tbs
        .extensions()
        .map(|exts| {
            exts.iter()
                .filter(|e| !recomputed.contains(&e.extn_id))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    sign_certificate(
        tbs.subject().clone(),
        extensions,
        subject_key,
        issuer,
        validity,
    )
}

/// The common tail of [`build_certificate`] and [`reissue_certificate`]: checks the issuer,
/// draws the serial, adds SKI/AKI and signs.
fn sign_certificate(
    subject: Name,
    extensions: Vec<Extension>,
    subject_key: &PublicKey,
    issuer: Issuer<'_>,
    validity: ValidityPeriod,
) -> Result<Certificate, Error> {
    let subject_spki = subject_key.to_spki()?;
    let signer: &dyn Signer = match issuer {
        Issuer::SelfSigned(signer) | Issuer::Ca(_, signer) => signer,
    };
    let signer_der = signer.public_key().to_spki_der()?;
    let (issuer_name, authority_key_id) = match issuer {
        Issuer::SelfSigned(signer) => {
            if signer.public_key() != subject_key {
                return Err(Error::Certificate(
                    "a self-signed certificate must be signed by the subject's own key".into(),
                ));
            }
            (None, None)
        }
        Issuer::Ca(cert, _) => {
            check_issuer(cert, &signer_der)?;
            let name = cert.tbs_certificate().subject().clone();
            (Some(name), Some(subject_key_identifier(cert)?))
        }
    };
    let mut serial = mayfly_keys::random_bytes::<16>();
    if serial[0] == 0 {
        serial[0] = 1; // keep the encoding a full 16 octets of entropy-bearing bytes
    }
    let serial = SerialNumber::new(&serial).map_err(|e| Error::Encoding(e.to_string()))?;
    let mayfly = MayflyProfile {
        subject,
        issuer: issuer_name,
        authority_key_id,
        extensions,
    };
    let mut builder = CertificateBuilder::new(mayfly, serial, validity.to_x509()?, subject_spki)
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let info = SignerInfo(signer, SpkiDer(signer_der));
    let tbs = builder
        .finalize(&info)
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let signature = signer.sign(&tbs)?;
    let signature =
        BitString::from_bytes(&signature).map_err(|e| Error::Encoding(e.to_string()))?;
    builder
        .assemble(signature, &info)
        .map_err(|e| Error::Certificate(e.to_string()))
}

fn check_issuer(cert: &Certificate, signer_spki: &[u8]) -> Result<(), Error> {
    let tbs = cert.tbs_certificate();
    let is_ca = matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca);
    if !is_ca {
        return Err(Error::Certificate(format!(
            "issuer {} is not a CA certificate",
            tbs.subject()
        )));
    }
    let cert_key = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Error::Encoding(e.to_string()))?;
    if cert_key != signer_spki {
        return Err(Error::Certificate(format!(
            "the issuer key does not match the certificate of {}",
            tbs.subject()
        )));
    }
    Ok(())
}

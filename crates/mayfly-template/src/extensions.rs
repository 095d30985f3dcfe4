//! Turns a [`CertificateProfile`] into an X.509 name and extensions.

use std::net::IpAddr;

use base64::Engine as _;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::asn1::{Any, Ia5String, OctetString, PrintableString, Utf8StringRef};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, NameConstraints, SubjectAltName,
};
use x509_cert::name::{Name, RelativeDistinguishedName};

use crate::Error;
use crate::profile::{CertificateProfile, MultiString, San, Subject};

const fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

/// Subject attributes in the order Go's `pkix.Name` writes them.
const ATTRIBUTES: [(&str, ObjectIdentifier); 9] = [
    ("country", oid("2.5.4.6")),
    ("organization", oid("2.5.4.10")),
    ("organizationalUnit", oid("2.5.4.11")),
    ("locality", oid("2.5.4.7")),
    ("province", oid("2.5.4.8")),
    ("streetAddress", oid("2.5.4.9")),
    ("postalCode", oid("2.5.4.17")),
    ("serialNumber", oid("2.5.4.5")),
    ("commonName", oid("2.5.4.3")),
];

/// extKeyUsage names as step spells them (compared case-insensitively).
pub(crate) const EXT_KEY_USAGES: [(&str, &str); 14] = [
    ("any", "2.5.29.37.0"),
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("ipsecEndSystem", "1.3.6.1.5.5.7.3.5"),
    ("ipsecTunnel", "1.3.6.1.5.5.7.3.6"),
    ("ipsecUser", "1.3.6.1.5.5.7.3.7"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("ocspSigning", "1.3.6.1.5.5.7.3.9"),
    ("microsoftServerGatedCrypto", "1.3.6.1.4.1.311.10.3.3"),
    ("netscapeServerGatedCrypto", "2.16.840.1.113730.4.1"),
    ("microsoftCommercialCodeSigning", "1.3.6.1.4.1.311.2.1.22"),
    ("microsoftKernelCodeSigning", "1.3.6.1.4.1.311.61.1.1"),
];

/// keyUsage names as step spells them, with their bits.
pub(crate) const KEY_USAGES: [(&str, KeyUsages); 9] = [
    ("digitalSignature", KeyUsages::DigitalSignature),
    ("contentCommitment", KeyUsages::NonRepudiation),
    ("keyEncipherment", KeyUsages::KeyEncipherment),
    ("dataEncipherment", KeyUsages::DataEncipherment),
    ("keyAgreement", KeyUsages::KeyAgreement),
    ("certSign", KeyUsages::KeyCertSign),
    ("crlSign", KeyUsages::CRLSign),
    ("encipherOnly", KeyUsages::EncipherOnly),
    ("decipherOnly", KeyUsages::DecipherOnly),
];

fn der_err(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| Error::Profile(format!("{what}: {e}"))
}

/// Builds the subject name (from `rawSubject` when given).
pub(crate) fn subject_name(profile: &CertificateProfile) -> Result<Name, Error> {
    if let Some(raw) = &profile.raw_subject {
        let der = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| Error::Profile(format!("rawSubject is not base64: {e}")))?;
        return Name::from_der(&der).map_err(der_err("rawSubject"));
    }
    name_from_subject(&profile.subject)
}

/// Builds an X.509 name from step's subject object.
pub fn name_from_subject(subject: &Subject) -> Result<Name, Error> {
    let mut rdns: Vec<RelativeDistinguishedName> = Vec::new();
    for (field, oid) in ATTRIBUTES {
        let values: Vec<&str> = match field {
            "country" => refs(&subject.country),
            "organization" => refs(&subject.organization),
            "organizationalUnit" => refs(&subject.organizational_unit),
            "locality" => refs(&subject.locality),
            "province" => refs(&subject.province),
            "streetAddress" => refs(&subject.street_address),
            "postalCode" => refs(&subject.postal_code),
            "serialNumber" => single(&subject.serial_number),
            _ => single(&subject.common_name),
        };
        for value in values {
            let value = if matches!(field, "country" | "serialNumber") {
                let p = PrintableString::new(value).map_err(|_| {
                    Error::Profile(format!(
                        "subject {field} {value:?} is not a PrintableString"
                    ))
                })?;
                Any::encode_from(&p)
            } else {
                Any::encode_from(&Utf8StringRef::new(value).map_err(der_err(field))?)
            }
            .map_err(der_err(field))?;
            let atv = AttributeTypeAndValue { oid, value };
            rdns.push(RelativeDistinguishedName::try_from(vec![atv]).map_err(der_err(field))?);
        }
    }
    let der = rdns.to_der().map_err(der_err("subject"))?;
    Name::from_der(&der).map_err(der_err("subject"))
}

fn refs(m: &MultiString) -> Vec<&str> {
    m.0.iter().map(String::as_str).collect()
}

fn single(s: &str) -> Vec<&str> {
    if s.is_empty() { Vec::new() } else { vec![s] }
}

fn ia5(s: &str, what: &str) -> Result<Ia5String, Error> {
    Ia5String::new(s).map_err(|_| Error::Profile(format!("{what} {s:?} is not ASCII")))
}

/// A SAN as an X.509 `GeneralName`.
pub(crate) fn general_name(san: &San) -> Result<GeneralName, Error> {
    Ok(match san {
        San::Dns(d) => GeneralName::DnsName(ia5(d, "DNS name")?),
        San::Email(e) => GeneralName::Rfc822Name(ia5(e, "e-mail address")?),
        San::Uri(u) => GeneralName::UniformResourceIdentifier(ia5(u, "URI")?),
        San::Ip(ip) => GeneralName::IpAddress(ip_octets(*ip, None)?),
    })
}

fn ip_octets(ip: IpAddr, prefix: Option<u8>) -> Result<OctetString, Error> {
    let mut bytes = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    if let Some(prefix) = prefix {
        let bits = bytes.len() * 8;
        if usize::from(prefix) > bits {
            return Err(Error::Profile(format!("IP prefix /{prefix} is too long")));
        }
        let mask: Vec<u8> = (0..bytes.len())
            .map(|i| {
                let on = usize::from(prefix).saturating_sub(i * 8).min(8);
                (0xff_u16 << (8 - on)) as u8
            })
            .collect();
        bytes.extend(mask);
    }
    OctetString::new(bytes).map_err(der_err("IP address"))
}

fn ext(id: ObjectIdentifier, critical: bool, value: &impl Encode) -> Result<Extension, Error> {
    let der = value.to_der().map_err(der_err("extension"))?;
    Ok(Extension {
        extn_id: id,
        critical,
        extn_value: OctetString::new(der).map_err(der_err("extension"))?,
    })
}

fn key_usage(names: &MultiString) -> Result<KeyUsage, Error> {
    let mut flags = flagset::FlagSet::<KeyUsages>::default();
    for name in &names.0 {
        let (_, bit) = KEY_USAGES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::Profile(format!("unknown keyUsage {name:?}")))?;
        flags |= *bit;
    }
    Ok(KeyUsage(flags))
}

fn ext_key_usage(profile: &CertificateProfile) -> Result<ExtendedKeyUsage, Error> {
    let mut out = Vec::new();
    for name in &profile.ext_key_usage.0 {
        let (_, dotted) = EXT_KEY_USAGES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::Profile(format!("unknown extKeyUsage {name:?}")))?;
        out.push(parse_oid(dotted)?);
    }
    for dotted in &profile.unknown_ext_key_usage.0 {
        out.push(parse_oid(dotted)?);
    }
    Ok(ExtendedKeyUsage(out))
}

fn parse_oid(s: &str) -> Result<ObjectIdentifier, Error> {
    ObjectIdentifier::new(s).map_err(|_| Error::Profile(format!("bad OID {s:?}")))
}

fn uri_names(list: &MultiString, what: &str) -> Result<Vec<GeneralName>, Error> {
    list.0
        .iter()
        .map(|u| Ok(GeneralName::UniformResourceIdentifier(ia5(u, what)?)))
        .collect()
}

fn subtrees(
    dns: &MultiString,
    ips: &MultiString,
    emails: &MultiString,
    uris: &MultiString,
) -> Result<Option<Vec<GeneralSubtree>>, Error> {
    let mut bases = Vec::new();
    for d in &dns.0 {
        bases.push(GeneralName::DnsName(ia5(d, "DNS domain")?));
    }
    for r in &ips.0 {
        let (addr, prefix) = r
            .split_once('/')
            .ok_or_else(|| Error::Profile(format!("IP range {r:?} needs a /prefix")))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| Error::Profile(format!("bad IP range {r:?}")))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| Error::Profile(format!("bad IP range {r:?}")))?;
        bases.push(GeneralName::IpAddress(ip_octets(ip, Some(prefix))?));
    }
    for e in &emails.0 {
        bases.push(GeneralName::Rfc822Name(ia5(e, "e-mail constraint")?));
    }
    bases.extend(uri_names(uris, "URI domain")?);
    Ok((!bases.is_empty()).then(|| {
        bases
            .into_iter()
            .map(|base| GeneralSubtree {
                base,
                minimum: 0,
                maximum: None,
            })
            .collect()
    }))
}

/// The extensions the profile asks for (SKI and AKI are added by the builder).
pub(crate) fn profile_extensions(
    profile: &CertificateProfile,
    subject_is_empty: bool,
) -> Result<Vec<Extension>, Error> {
    let mut out = Vec::new();
    if let Some(bc) = profile.basic_constraints {
        let path_len = match (bc.is_ca, bc.max_path_len) {
            (false, _) => None,
            (true, n) if n < 0 => None,
            (true, n) => Some(
                u8::try_from(n)
                    .map_err(|_| Error::Profile(format!("maxPathLen {n} is too large")))?,
            ),
        };
        let value = BasicConstraints {
            ca: bc.is_ca,
            path_len_constraint: path_len,
        };
        out.push(ext(oids::ID_CE_BASIC_CONSTRAINTS, true, &value)?);
    }
    if !profile.key_usage.0.is_empty() {
        out.push(ext(
            oids::ID_CE_KEY_USAGE,
            true,
            &key_usage(&profile.key_usage)?,
        )?);
    }
    if !profile.ext_key_usage.0.is_empty() || !profile.unknown_ext_key_usage.0.is_empty() {
        out.push(ext(
            oids::ID_CE_EXT_KEY_USAGE,
            false,
            &ext_key_usage(profile)?,
        )?);
    }
    let sans = profile
        .all_sans()?
        .iter()
        .map(general_name)
        .collect::<Result<Vec<_>, _>>()?;
    if !sans.is_empty() {
        // RFC 5280 4.2.1.6: critical when the subject is empty.
        out.push(ext(
            oids::ID_CE_SUBJECT_ALT_NAME,
            subject_is_empty,
            &SubjectAltName(sans),
        )?);
    }
    if !profile.crl_distribution_points.0.is_empty() {
        let points = uri_names(&profile.crl_distribution_points, "CRL URL")?
            .into_iter()
            .map(|n| DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![n])),
                reasons: None,
                crl_issuer: None,
            })
            .collect();
        out.push(ext(
            oids::ID_CE_CRL_DISTRIBUTION_POINTS,
            false,
            &CrlDistributionPoints(points),
        )?);
    }
    let mut access = Vec::new();
    for n in uri_names(&profile.ocsp_server, "OCSP URL")? {
        access.push(AccessDescription {
            access_method: oids::ID_AD_OCSP,
            access_location: n,
        });
    }
    for n in uri_names(&profile.issuing_certificate_url, "issuer URL")? {
        access.push(AccessDescription {
            access_method: oids::ID_AD_CA_ISSUERS,
            access_location: n,
        });
    }
    if !access.is_empty() {
        let aia = AuthorityInfoAccessSyntax(access);
        out.push(ext(oids::ID_PE_AUTHORITY_INFO_ACCESS, false, &aia)?);
    }
    if !profile.policy_identifiers.0.is_empty() {
        let policies = profile
            .policy_identifiers
            .0
            .iter()
            .map(|p| {
                Ok(PolicyInformation {
                    policy_identifier: parse_oid(p)?,
                    policy_qualifiers: None,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        out.push(ext(
            oids::ID_CE_CERTIFICATE_POLICIES,
            false,
            &CertificatePolicies(policies),
        )?);
    }
    if let Some(nc) = &profile.name_constraints {
        let value = NameConstraints {
            permitted_subtrees: subtrees(
                &nc.permitted_dns_domains,
                &nc.permitted_ip_ranges,
                &nc.permitted_email_addresses,
                &nc.permitted_uri_domains,
            )?,
            excluded_subtrees: subtrees(
                &nc.excluded_dns_domains,
                &nc.excluded_ip_ranges,
                &nc.excluded_email_addresses,
                &nc.excluded_uri_domains,
            )?,
        };
        if value.permitted_subtrees.is_some() || value.excluded_subtrees.is_some() {
            out.push(ext(oids::ID_CE_NAME_CONSTRAINTS, nc.critical, &value)?);
        }
    }
    for raw in &profile.extensions {
        let id = parse_oid(&raw.id)?;
        let value = base64::engine::general_purpose::STANDARD
            .decode(&raw.value)
            .map_err(|e| Error::Profile(format!("extension {id} value is not base64: {e}")))?;
        out.retain(|e| e.extn_id != id);
        out.push(Extension {
            extn_id: id,
            critical: raw.critical,
            extn_value: OctetString::new(value).map_err(der_err("extension"))?,
        });
    }
    Ok(out)
}

/// Whether `name` holds no attribute.
pub(crate) fn name_is_empty(name: &Name) -> bool {
    name.is_empty()
}

/// Reads a DirectoryString-ish attribute value as text.
pub(crate) fn attribute_text(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            std::str::from_utf8(value.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// The attribute name step's JSON uses for an attribute OID, if any.
pub(crate) fn attribute_field(oid: ObjectIdentifier) -> Option<&'static str> {
    ATTRIBUTES.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
}

//! The certificate profile: the JSON that step templates render (`x509util.Certificate`).
//!
//! Names, spellings and shapes follow step: `subject` is a string (the common name) or an
//! object; list fields take a string or an array; key usages are matched case-insensitively.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

use crate::Error;

/// A string or a list of strings (step's `MultiString`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MultiString(pub Vec<String>);

impl<'de> Deserialize<'de> for MultiString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Option::<Either>::deserialize(d)? {
            None => Self(Vec::new()),
            Some(Either::One(s)) if s.is_empty() => Self(Vec::new()),
            Some(Either::One(s)) => Self(vec![s]),
            Some(Either::Many(v)) => Self(v),
        })
    }
}

/// The subject (or issuer) name. A bare JSON string is the common name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "SubjectRepr")]
pub struct Subject {
    /// CN.
    pub common_name: String,
    /// C.
    pub country: MultiString,
    /// O.
    pub organization: MultiString,
    /// OU.
    pub organizational_unit: MultiString,
    /// L.
    pub locality: MultiString,
    /// ST.
    pub province: MultiString,
    /// STREET.
    pub street_address: MultiString,
    /// postalCode.
    pub postal_code: MultiString,
    /// serialNumber (the subject attribute, not the certificate serial).
    pub serial_number: String,
}

/// What a `subject` may be in JSON: a common name or an object with step's field names.
#[derive(Deserialize)]
#[serde(try_from = "serde_json::Value")]
enum SubjectRepr {
    Name(String),
    Full(SubjectFields),
}

impl TryFrom<serde_json::Value> for SubjectRepr {
    type Error = String;

    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        match v {
            serde_json::Value::String(s) => Ok(Self::Name(s)),
            serde_json::Value::Null => Ok(Self::Name(String::new())),
            obj @ serde_json::Value::Object(_) => serde_json::from_value(obj)
                .map(Self::Full)
                .map_err(|e| format!("subject: {e}")),
            other => Err(format!(
                "subject must be a string or an object, not {other}"
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubjectFields {
    #[serde(default)]
    common_name: String,
    #[serde(default)]
    country: MultiString,
    #[serde(default)]
    organization: MultiString,
    #[serde(default)]
    organizational_unit: MultiString,
    #[serde(default)]
    locality: MultiString,
    #[serde(default)]
    province: MultiString,
    #[serde(default)]
    street_address: MultiString,
    #[serde(default)]
    postal_code: MultiString,
    #[serde(default)]
    serial_number: String,
}

impl From<SubjectRepr> for Subject {
    fn from(r: SubjectRepr) -> Self {
        match r {
            SubjectRepr::Name(common_name) => Self {
                common_name,
                ..Self::default()
            },
            SubjectRepr::Full(f) => Self {
                common_name: f.common_name,
                country: f.country,
                organization: f.organization,
                organizational_unit: f.organizational_unit,
                locality: f.locality,
                province: f.province,
                street_address: f.street_address,
                postal_code: f.postal_code,
                serial_number: f.serial_number,
            },
        }
    }
}

impl Subject {
    /// Whether no attribute is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One subject alternative name, typed as step types them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    /// dNSName.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
}

impl San {
    /// Types a bare name like step's `CreateSANs`: IP, then e-mail (`@`), then URI
    /// (`scheme:`), else DNS.
    pub fn guess(name: &str) -> Self {
        if let Ok(ip) = name.parse::<IpAddr>() {
            Self::Ip(ip)
        } else if name.contains('@') {
            Self::Email(name.to_owned())
        } else if name.contains("://") || name.starts_with("urn:") {
            Self::Uri(name.to_owned())
        } else {
            Self::Dns(name.to_owned())
        }
    }

    /// The step JSON form, `{"type": "dns", "value": "..."}`.
    pub fn to_json(&self) -> serde_json::Value {
        let (t, v) = match self {
            Self::Dns(v) => ("dns", v.clone()),
            Self::Ip(ip) => ("ip", ip.to_string()),
            Self::Email(v) => ("email", v.clone()),
            Self::Uri(v) => ("uri", v.clone()),
        };
        serde_json::json!({"type": t, "value": v})
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SanRepr {
    #[serde(rename = "type", default)]
    kind: String,
    value: String,
}

/// `basicConstraints`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BasicConstraints {
    /// cA.
    #[serde(default, rename = "isCA")]
    pub is_ca: bool,
    /// pathLenConstraint; for a CA, 0 or absent means 0 and a negative value means no limit
    /// (step's rule).
    #[serde(default)]
    pub max_path_len: i64,
}

/// `nameConstraints`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct NameConstraints {
    /// Whether the extension is marked critical.
    #[serde(default)]
    pub critical: bool,
    #[serde(default, rename = "permittedDNSDomains")]
    pub permitted_dns_domains: MultiString,
    #[serde(default, rename = "excludedDNSDomains")]
    pub excluded_dns_domains: MultiString,
    #[serde(default, rename = "permittedIPRanges")]
    pub permitted_ip_ranges: MultiString,
    #[serde(default, rename = "excludedIPRanges")]
    pub excluded_ip_ranges: MultiString,
    #[serde(default)]
    pub permitted_email_addresses: MultiString,
    #[serde(default)]
    pub excluded_email_addresses: MultiString,
    #[serde(default, rename = "permittedURIDomains")]
    pub permitted_uri_domains: MultiString,
    #[serde(default, rename = "excludedURIDomains")]
    pub excluded_uri_domains: MultiString,
}

/// A raw extension: OID, criticality and the DER value (base64 in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtension {
    /// Dotted OID.
    pub id: String,
    /// Critical flag.
    #[serde(default)]
    pub critical: bool,
    /// Base64 of the extension value's DER.
    pub value: String,
}

/// The certificate profile a template renders: what the certificate should say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateProfile {
    /// 3, or 0 (Go's zero value, what `{{ toJson .Insecure.CR }}` prints) for "not set".
    #[serde(default)]
    pub version: Option<u8>,
    /// The subject name.
    #[serde(default)]
    pub subject: Subject,
    /// DER of a subject name (base64), used instead of `subject` when present.
    #[serde(default)]
    pub raw_subject: Option<String>,
    /// Ignored: the issuer name always comes from the issuing certificate.
    #[serde(default)]
    pub issuer: Option<Subject>,
    /// Ignored: Mayfly always draws 128 random bits.
    #[serde(default)]
    pub serial_number: Option<serde_json::Value>,
    /// Typed SANs.
    #[serde(default, deserialize_with = "sans")]
    pub sans: Vec<San>,
    /// dNSName SANs.
    #[serde(default)]
    pub dns_names: MultiString,
    /// iPAddress SANs.
    #[serde(default)]
    pub ip_addresses: MultiString,
    /// rfc822Name SANs.
    #[serde(default)]
    pub email_addresses: MultiString,
    /// URI SANs.
    #[serde(default)]
    pub uris: MultiString,
    /// RFC 3339 start of validity, when the caller allows templates to set it.
    #[serde(default)]
    pub not_before: Option<String>,
    /// RFC 3339 end of validity, when the caller allows templates to set it.
    #[serde(default)]
    pub not_after: Option<String>,
    /// keyUsage names (`digitalSignature`, `certSign`, ...).
    #[serde(default)]
    pub key_usage: MultiString,
    /// extKeyUsage names (`serverAuth`, `clientAuth`, ...).
    #[serde(default)]
    pub ext_key_usage: MultiString,
    /// extKeyUsage OIDs not in step's list.
    #[serde(default)]
    pub unknown_ext_key_usage: MultiString,
    /// Ignored: Mayfly computes the SKI (RFC 5280 method 1).
    #[serde(default)]
    pub subject_key_id: Option<String>,
    /// Ignored: Mayfly takes the AKI from the issuer's SKI.
    #[serde(default)]
    pub authority_key_id: Option<String>,
    /// OCSP responder URLs (AIA).
    #[serde(default)]
    pub ocsp_server: MultiString,
    /// CA issuer URLs (AIA).
    #[serde(default, rename = "issuingCertificateURL")]
    pub issuing_certificate_url: MultiString,
    /// CRL distribution point URLs.
    #[serde(default)]
    pub crl_distribution_points: MultiString,
    /// certificatePolicies OIDs.
    #[serde(default)]
    pub policy_identifiers: MultiString,
    /// basicConstraints; absent means no extension.
    #[serde(default)]
    pub basic_constraints: Option<BasicConstraints>,
    /// nameConstraints.
    #[serde(default)]
    pub name_constraints: Option<NameConstraints>,
    /// Raw extensions; one with the OID of a generated extension replaces it.
    #[serde(default)]
    pub extensions: Vec<RawExtension>,
    /// Ignored: the algorithm follows the issuer's key.
    #[serde(default)]
    pub signature_algorithm: Option<String>,
}

fn sans<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<San>, D::Error> {
    use serde::de::Error as _;
    let raw = Option::<Vec<SanRepr>>::deserialize(d)?.unwrap_or_default();
    raw.into_iter()
        .map(|s| match s.kind.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(San::guess(&s.value)),
            "dns" => Ok(San::Dns(s.value)),
            "email" => Ok(San::Email(s.value)),
            "uri" => Ok(San::Uri(s.value)),
            "ip" => s
                .value
                .parse()
                .map(San::Ip)
                .map_err(|_| D::Error::custom(format!("bad IP address SAN {:?}", s.value))),
            other => Err(D::Error::custom(format!("unsupported SAN type {other:?}"))),
        })
        .collect()
}

impl CertificateProfile {
    /// Parses a rendered template. Unknown keys are errors naming the key.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let profile: Self =
            serde_json::from_str(json).map_err(|e| Error::Profile(e.to_string()))?;
        profile.check()?;
        Ok(profile)
    }

    /// Reads a profile from an already-parsed JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let profile: Self =
            serde_json::from_value(value).map_err(|e| Error::Profile(e.to_string()))?;
        profile.check()?;
        Ok(profile)
    }

    fn check(&self) -> Result<(), Error> {
        match self.version {
            None | Some(0 | 3) => Ok(()),
            Some(v) => Err(Error::Profile(format!(
                "version {v}: only version 3 is issued (give 3, 0 or nothing)"
            ))),
        }
    }

    /// Every SAN: the typed `sans` list then the per-type lists, without duplicates.
    pub fn all_sans(&self) -> Result<Vec<San>, Error> {
        let mut out: Vec<San> = self.sans.clone();
        out.extend(self.dns_names.0.iter().cloned().map(San::Dns));
        for ip in &self.ip_addresses.0 {
            let ip = ip
                .parse()
                .map_err(|_| Error::Profile(format!("bad IP address {ip:?}")))?;
            out.push(San::Ip(ip));
        }
        out.extend(self.email_addresses.0.iter().cloned().map(San::Email));
        out.extend(self.uris.0.iter().cloned().map(San::Uri));
        let mut seen = Vec::with_capacity(out.len());
        out.retain(|s| {
            let new = !seen.contains(s);
            if new {
                seen.push(s.clone());
            }
            new
        });
        Ok(out)
    }

    /// Whether the profile asks for a CA certificate.
    pub fn is_ca(&self) -> bool {
        self.basic_constraints.is_some_and(|b| b.is_ca)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        match CertificateProfile::from_json(r#"{"subjekt": "x"}"#) {
            Err(Error::Profile(m)) => assert!(m.contains("subjekt"), "{m}"),
            other => panic!("{other:?}"),
        }
        match CertificateProfile::from_json(r#"{"sans": [{"type": "ip", "value": "nope"}]}"#) {
            Err(Error::Profile(m)) => assert!(m.contains("nope"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(CertificateProfile::from_json(r#"{"version": 1}"#).is_err());
        match CertificateProfile::from_json(r#"{"subject": {"comonName": "x"}}"#) {
            Err(Error::Profile(m)) => assert!(m.contains("comonName"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn step_shapes_are_accepted() {
        let p = CertificateProfile::from_json(
            r#"{"subject": {"commonName": "a", "organization": "O", "country": ["US", "FR"]},
                "dnsNames": "a.example", "ipAddresses": ["::1"], "sans": [{"value": "b@example.com"}],
                "keyUsage": "digitalSignature"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.subject.organization.0, vec!["O".to_owned()]);
        assert_eq!(p.subject.country.0.len(), 2);
        assert_eq!(
            p.all_sans().unwrap_or_default(),
            vec![
                San::Email("b@example.com".into()),
                San::Dns("a.example".into()),
                San::Ip("::1".parse().unwrap_or(IpAddr::from([0; 4]))),
            ]
        );
        let s = CertificateProfile::from_json(r#"{"subject": "cn only"}"#).unwrap_or_default();
        assert_eq!(s.subject.common_name, "cn only");
    }
}

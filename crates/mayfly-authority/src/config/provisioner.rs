//! Provisioner entries of ca.json: `{"type": "JWK" | "ACME", "name": ..., ...}`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::claims::ClaimsConfig;
use crate::policy::PolicyConfig;

/// One provisioner, by type. The `type` key is matched case-insensitively (step writes both
/// `JWK` and `jwk`).
#[derive(Clone, Debug, PartialEq)]
pub enum ProvisionerConfig {
    /// Issues to one-time tokens signed by the provisioner's JWK.
    Jwk(JwkProvisionerConfig),
    /// Issues to ACME clients.
    Acme(AcmeProvisionerConfig),
}

/// A JWK provisioner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwkProvisionerConfig {
    /// The name tokens carry as `iss`.
    pub name: String,
    /// The public JWK tokens are verified with (its `kid` is the RFC 7638 thumbprint).
    pub key: serde_json::Value,
    /// The private JWK, encrypted as a compact JWE, served to clients that know the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_key: Option<String>,
    /// Claims overriding the authority's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsConfig>,
    /// Template options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ProvisionerOptions>,
    /// Name policy added to the authority's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
}

/// An ACME provisioner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcmeProvisionerConfig {
    /// The name in the directory URL (`/acme/{name}/directory`).
    pub name: String,
    /// Put the first name into the subject common name (never an IP address).
    #[serde(default, rename = "forceCN")]
    pub force_cn: bool,
    /// Allowed challenge types (`http-01`, `dns-01`, `tls-alpn-01`); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub challenges: Vec<String>,
    /// Require External Account Binding on newAccount.
    #[serde(default, rename = "requireEAB")]
    pub require_eab: bool,
    /// Claims overriding the authority's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsConfig>,
    /// Template options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ProvisionerOptions>,
    /// Name policy added to the authority's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    /// Where the validation authority connects (ports, DNS resolver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<AcmeValidation>,
}

/// `validation` of an ACME provisioner: the ports and resolver challenges are checked with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcmeValidation {
    /// Port http-01 connects to (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    /// Port tls-alpn-01 connects to (default 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_alpn_port: Option<u16>,
    /// DNS resolver (`host:port`) for A/AAAA/TXT lookups (default: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
}

/// `options` of a provisioner.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionerOptions {
    /// X.509 template options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Options>,
}

/// `options.x509`: the certificate template of a provisioner.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct X509Options {
    /// An inline template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// A template file (resolved like other paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_file: Option<PathBuf>,
    /// Values available to the template as `.` fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_data: Option<serde_json::Value>,
}

impl ProvisionerConfig {
    /// The provisioner's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Jwk(p) => &p.name,
            Self::Acme(p) => &p.name,
        }
    }

    /// The type as ca.json spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Jwk(_) => "JWK",
            Self::Acme(_) => "ACME",
        }
    }

    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        let options = match self {
            Self::Jwk(p) => p.options.as_mut(),
            Self::Acme(p) => p.options.as_mut(),
        };
        if let Some(file) = options
            .and_then(|o| o.x509.as_mut())
            .and_then(|x| x.template_file.as_mut())
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
    }
}

impl ProvisionerConfig {
    /// Parses one provisioner object. Errors come as (path inside the object, message).
    pub fn from_value(mut value: serde_json::Value) -> Result<Self, (String, String)> {
        let fail = |path: &str, message: String| Err((path.to_owned(), message));
        let Some(object) = value.as_object_mut() else {
            return fail("", "a provisioner must be a JSON object".into());
        };
        let Some(kind) = object.remove("type") else {
            return fail("", "missing field `type`".into());
        };
        let Some(kind) = kind.as_str().map(str::to_ascii_uppercase) else {
            return fail("type", "provisioner `type` must be a string".into());
        };
        let located = |e: serde_path_to_error::Error<serde_json::Error>| {
            (e.path().to_string(), e.into_inner().to_string())
        };
        match kind.as_str() {
            "JWK" => serde_path_to_error::deserialize(value)
                .map(Self::Jwk)
                .map_err(located),
            "ACME" => serde_path_to_error::deserialize(value)
                .map(Self::Acme)
                .map_err(located),
            other => fail(
                "type",
                format!(
                    "provisioner type {other:?} is not supported (Mayfly has JWK and ACME provisioners)"
                ),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for ProvisionerConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(|(path, message)| {
            serde::de::Error::custom(if path.is_empty() || path == "." {
                message
            } else {
                format!("{path}: {message}")
            })
        })
    }
}

impl Serialize for ProvisionerConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut value = match self {
            Self::Jwk(p) => serde_json::to_value(p),
            Self::Acme(p) => serde_json::to_value(p),
        }
        .map_err(S::Error::custom)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("type".into(), self.type_name().into());
        }
        value.serialize(serializer)
    }
}

//! step's default templates and the data they are rendered with.

use mayfly_keys::PublicKey;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::csr::{CertificateRequest, public_key_value};
use crate::profile::San;

/// step's default leaf template: keyEncipherment only for RSA keys, serverAuth + clientAuth.
pub const DEFAULT_LEAF_TEMPLATE: &str = r#"{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["keyEncipherment", "digitalSignature"],
{{- else }}
	"keyUsage": ["digitalSignature"],
{{- end }}
	"extKeyUsage": ["serverAuth", "clientAuth"]
}"#;

/// The intermediate template: pathlen 0, certSign + cRLSign, and an optional CRL
/// distribution point from `.CRLDistributionPoints` (as the production guide's
/// `intermediate.tpl` carries one).
pub const DEFAULT_INTERMEDIATE_TEMPLATE: &str = r#"{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
{{- if .CRLDistributionPoints }}
	"crlDistributionPoints": {{ toJson .CRLDistributionPoints }},
{{- end }}
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	}
}"#;

/// step's default root template: pathlen 1, certSign + cRLSign.
pub const DEFAULT_ROOT_TEMPLATE: &str = r#"{
	"subject": {{ toJson .Subject }},
	"issuer": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 1
	}
}"#;

/// Default lifetimes: roots and intermediates 10 years, leaves 24 hours.
pub const CA_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);
/// Default leaf lifetime: 24 hours.
pub const LEAF_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The data a template is rendered with, shaped like step's `TemplateData`:
/// `.Subject`, `.SANs`, `.Token`, `.Insecure.CR`, `.Insecure.User` and operator-set keys.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateData {
    top: Map<String, Value>,
    cr: Map<String, Value>,
    user: Value,
}

impl TemplateData {
    /// Data for a certificate with this common name and these SANs.
    pub fn new(common_name: &str, sans: &[San]) -> Self {
        let mut top = Map::new();
        top.insert("Subject".into(), json!({ "commonName": common_name }));
        top.insert(
            "SANs".into(),
            Value::Array(sans.iter().map(San::to_json).collect()),
        );
        Self {
            top,
            cr: Map::new(),
            user: json!({}),
        }
    }

    /// Exposes a verified CSR as `.Insecure.CR` (requester-controlled data).
    pub fn with_request(mut self, request: &CertificateRequest) -> Result<Self, Error> {
        if let Value::Object(cr) = request.to_template_value()? {
            self.cr = cr;
        }
        Ok(self)
    }

    /// Sets `.Insecure.CR.PublicKey` when there is no CSR (e.g. `certificate create`).
    pub fn with_public_key(mut self, key: &PublicKey) -> Self {
        self.cr.insert("$publicKey".into(), public_key_value(key));
        self
    }

    /// Sets `.Token` (the validated token's claims).
    pub fn with_token(self, claims: Value) -> Self {
        self.set("Token", claims)
    }

    /// Sets `.Insecure.User` (values the requester supplied).
    pub fn with_user(mut self, user: Value) -> Self {
        self.user = user;
        self
    }

    /// Sets a top-level key (operator data, `--set key=value`).
    pub fn set(mut self, key: &str, value: Value) -> Self {
        self.top.insert(key.to_owned(), value);
        self
    }

    /// The JSON value templates see as `.`.
    pub fn to_value(&self) -> Value {
        let mut m = self.top.clone();
        m.insert(
            "Insecure".into(),
            json!({ "CR": Value::Object(self.cr.clone()), "User": self.user.clone() }),
        );
        Value::Object(m)
    }
}

//! `ca.json`: the CA's configuration, with step-ca's key names.
//!
//! Unknown keys are errors that name the key and where it is (`authority.provisioners[2].
//! claim`), so a typo never silently weakens a CA. Keys starting with `_` are comments and
//! are skipped (step's own test configs use `_logger`). Relative paths are resolved against
//! the folder holding ca.json's parent when that parent is `config/` (step's layout), else
//! against ca.json's own folder.

mod provisioner;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use mayfly_template::{DurationError, GoDuration};
pub use provisioner::{
    AcmeProvisionerConfig, AcmeValidation, JwkProvisionerConfig, ProvisionerConfig,
    ProvisionerOptions, X509Options,
};

use crate::claims::ClaimsConfig;
use crate::policy::PolicyConfig;

/// The whole of ca.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaConfig {
    /// The root certificate(s) clients trust (a path, or a list of paths).
    pub root: OneOrMany,
    /// Other roots accepted for client certificates (mTLS renewal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_roots: Option<Vec<PathBuf>>,
    /// The intermediate certificate the CA issues with.
    pub crt: PathBuf,
    /// The intermediate key: a PEM file path or a `pkcs11:` URI.
    pub key: String,
    /// The HTTPS API listen address (`127.0.0.1:9000`, `:443`).
    pub address: String,
    /// The plain-HTTP address serving only CRLs and OCSP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_address: Option<String>,
    /// The Prometheus metrics address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<String>,
    /// The names the CA's own TLS certificate carries; token audiences must use one of them.
    pub dns_names: Vec<String>,
    /// Storage (`{"type": "sqlite", "dataSource": "db/mayfly.db"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<serde_json::Value>,
    /// Logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<LoggerConfig>,
    /// Request and connection limits of the listeners (server defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsConfig>,
    /// TLS versions and cipher suites of the API listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// PROXY protocol on the API listener, behind a layer-4 load balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocolConfig>,
    /// Provisioners, claims, policy and templates.
    pub authority: AuthorityConfig,
    /// CRL publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<CrlConfig>,
    /// A password in ca.json, as step-ca allows. Mayfly never uses it: passwords come from
    /// `--password-file` or a prompt. It is read only so step configs load, then dropped.
    #[serde(default, skip_serializing, deserialize_with = "drop_secret")]
    pub password: IgnoredPassword,
    /// The folder relative paths were resolved against (`$MAYFLY_PATH` in step's layout).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Marks that ca.json contained a `password` key (its value is discarded at once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IgnoredPassword(pub bool);

fn drop_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IgnoredPassword, D::Error> {
    let value = zeroize::Zeroizing::new(String::deserialize(d)?);
    Ok(IgnoredPassword(!value.is_empty()))
}

/// A string or a list of strings (step's `root` takes both).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One path.
    One(PathBuf),
    /// Several paths.
    Many(Vec<PathBuf>),
}

impl OneOrMany {
    /// The paths, in order.
    pub fn paths(&self) -> Vec<&Path> {
        match self {
            Self::One(p) => vec![p.as_path()],
            Self::Many(ps) => ps.iter().map(PathBuf::as_path).collect(),
        }
    }
}

/// `logger`: `{"format": "text" | "json"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggerConfig {
    /// `text` (default) or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `limits`: request and connection limits of the listeners. An absent member keeps the
/// server's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LimitsConfig {
    /// Largest request body in bytes (default 1048576).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Time allowed for a request's headers, HTTP/1 (default "10s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_timeout: Option<GoDuration>,
    /// Time allowed for the TLS handshake (default "10s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout: Option<GoDuration>,
    /// A connection without traffic for this long is closed (default "90s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<GoDuration>,
    /// Open connections across all listeners; more wait in the kernel backlog (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
}

/// `tls`: the API listener's protocol versions and cipher suites.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// Lowest TLS version (1.2 or 1.3).
    #[serde(default = "tls12")]
    pub min_version: f32,
    /// Highest TLS version (1.2 or 1.3).
    #[serde(default = "tls12")]
    pub max_version: f32,
    /// Whether renegotiation is allowed. Mayfly never renegotiates: `true` is refused.
    #[serde(default)]
    pub renegotiation: bool,
    /// Allowed cipher suites, by IANA/Go name.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
}

fn tls12() -> f32 {
    1.2
}

/// `proxyProtocol`: the API listener expects a PROXY protocol (v1 or v2) header before TLS,
/// from a load balancer that passes TLS through (`{"enabled": true, "trustedProxies":
/// ["10.0.0.0/8"]}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyProtocolConfig {
    /// Whether every connection must start with a PROXY header.
    #[serde(default)]
    pub enabled: bool,
    /// The load balancers' addresses (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`); connections
    /// from anywhere else are refused while enabled.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `crl`: how the CA publishes its CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CrlConfig {
    /// Whether the CA publishes a CRL at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Regenerate the CRL on every revocation (default true).
    #[serde(default = "yes")]
    pub generate_on_revoke: bool,
    /// How long a CRL is valid (nextUpdate - thisUpdate); default 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_duration: Option<GoDuration>,
    /// How often the CRL is regenerated; default 2/3 of cacheDuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_period: Option<GoDuration>,
    /// The URL written into the Issuing Distribution Point, if any.
    #[serde(default, rename = "idpURL", skip_serializing_if = "Option::is_none")]
    pub idp_url: Option<String>,
}

fn yes() -> bool {
    true
}

/// `authority`: provisioners, claims, policy and the subject template.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorityConfig {
    /// The provisioners, in order.
    #[serde(default)]
    pub provisioners: Vec<ProvisionerConfig>,
    /// Claims for every provisioner that does not override them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimsConfig>,
    /// Name policy for every provisioner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    /// Subject attributes (country, organization, ...) added to issued certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SubjectTemplate>,
    /// How far notBefore is moved into the past (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backdate: Option<GoDuration>,
    /// Keep provisioners and admins in the database and serve the admin API.
    #[serde(default)]
    pub enable_admin: bool,
    /// With `enableAdmin`, how often each instance checks the database for provisioner
    /// changes (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_poll_interval: Option<GoDuration>,
}

/// `authority.template`: default subject attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubjectTemplate {
    /// C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// OU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    /// L.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// ST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
}

impl SubjectTemplate {
    /// Fills the attributes `subject` leaves empty with these defaults (step-ca's
    /// `withDefaultASN1DN`): what a template or CSR sets wins.
    pub fn fill(&self, subject: &mut mayfly_template::Subject) {
        let fields = [
            (&mut subject.country, &self.country),
            (&mut subject.organization, &self.organization),
            (&mut subject.organizational_unit, &self.organizational_unit),
            (&mut subject.locality, &self.locality),
            (&mut subject.province, &self.province),
            (&mut subject.street_address, &self.street_address),
        ];
        for (field, default) in fields {
            if let (true, Some(value)) = (field.0.is_empty(), default) {
                field.0.push(value.clone());
            }
        }
    }
}

/// Why ca.json could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON, has an unknown key or a bad value.
    #[error("{path}: {location}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the document (`authority.provisioners[0].claims`), or the line.
        location: String,
        /// What is wrong.
        message: String,
    },
}

/// Largest ca.json Mayfly reads (a guard against reading a wrong, huge file).
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

impl CaConfig {
    /// Reads and parses ca.json, resolving relative paths (see the module docs).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                location: "file".into(),
                message: format!("{len} bytes is larger than the {MAX_CONFIG_BYTES}-byte limit"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        let mut config =
            Self::from_json(&text).map_err(|(location, message)| ConfigError::Invalid {
                path: path.to_owned(),
                location,
                message,
            })?;
        config.base_dir = base_dir(path);
        config.resolve_paths(&config.base_dir.clone());
        Ok(config)
    }

    /// Parses ca.json text. Errors come as (location, message).
    pub fn from_json(text: &str) -> Result<Self, (String, String)> {
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            (
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        strip_comment_keys(&mut value);
        // Provisioners are parsed on their own first, so an error inside one is located
        // precisely (their `type` decides the shape, which serde cannot track a path through).
        let provisioners = value
            .pointer("/authority/provisioners")
            .and_then(serde_json::Value::as_array);
        for (i, p) in provisioners.into_iter().flatten().enumerate() {
            ProvisionerConfig::from_value(p.clone()).map_err(|(path, message)| {
                let inner = if path.is_empty() || path == "." {
                    String::new()
                } else {
                    format!(".{path}")
                };
                (format!("authority.provisioners[{i}]{inner}"), message)
            })?;
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let location = if path == "." {
                "top level".into()
            } else {
                path
            };
            (location, e.into_inner().to_string())
        })
    }

    /// Where the store lives when ca.json has no `db` block: SQLite in `db/mayfly.db` under
    /// [`CaConfig::base_dir`].
    pub fn default_db_path(&self) -> PathBuf {
        self.base_dir.join("db").join("mayfly.db")
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        match &mut self.root {
            OneOrMany::One(p) => resolve(p),
            OneOrMany::Many(ps) => ps.iter_mut().for_each(resolve),
        }
        self.federated_roots.iter_mut().flatten().for_each(resolve);
        resolve(&mut self.crt);
        if !self.key.starts_with("pkcs11:") && Path::new(&self.key).is_relative() {
            self.key = base.join(&self.key).to_string_lossy().into_owned();
        }
        for p in &mut self.authority.provisioners {
            p.resolve_paths(base);
        }
    }
}

/// step's layout keeps ca.json in `$STEPPATH/config/` and writes paths relative to
/// `$STEPPATH`; other configs use paths relative to their own folder.
fn base_dir(config_path: &Path) -> PathBuf {
    let dir = config_path.parent().unwrap_or(Path::new("."));
    match dir.file_name() {
        Some(name) if name == "config" => dir.parent().unwrap_or(dir).to_owned(),
        _ => dir.to_owned(),
    }
}

/// Removes `_comment` keys from configuration objects (not from JWKs or template data).
fn strip_comment_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('_'));
            for (key, v) in map.iter_mut() {
                if key != "key" && key != "templateData" {
                    strip_comment_keys(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_comment_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests;

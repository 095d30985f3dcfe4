//! Provisioners as the authority uses them: compiled from ca.json once per (re)load.

use std::collections::HashMap;
use std::sync::Arc;

use mayfly_jwt::{Jwk, KeyLookup, ProvisionerKey, ProvisionerKeys};
use mayfly_template::Template;
use serde_json::Value;

use crate::AuthorityError;
use crate::claims::Claims;
use crate::config::{ProvisionerConfig, ProvisionerOptions};
use crate::policy::NamePolicy;

/// step's provisioner type numbers, written into the provisioner extension.
const STEP_TYPE_JWK: u8 = 1;
const STEP_TYPE_ACME: u8 = 6;

/// One provisioner, ready to authorize requests.
#[derive(Debug)]
pub struct Provisioner {
    /// Its name (`iss` of its tokens).
    pub name: String,
    /// What kind of provisioner, with its credentials.
    pub kind: ProvisionerKind,
    /// Claims after layering over the authority's.
    pub claims: Claims,
    /// Its own name policy (the authority's applies too).
    pub policy: NamePolicy,
    /// Its certificate template, if it has one (else the default leaf template).
    pub template: Option<Template>,
    /// `options.x509.templateData`, available to the template at the top level.
    pub template_data: Option<Value>,
    /// The entry as configured (for `/provisioners`).
    pub config: ProvisionerConfig,
}

/// The credentials of a provisioner.
#[derive(Debug)]
pub enum ProvisionerKind {
    /// A JWK provisioner.
    Jwk {
        /// The key id (RFC 7638 thumbprint).
        kid: String,
        /// The verification key.
        key: Box<ProvisionerKey>,
        /// The encrypted private JWK served to clients.
        encrypted_key: Option<String>,
    },
    /// An ACME provisioner.
    Acme,
}

impl Provisioner {
    /// Compiles one ca.json entry, layering its claims over `authority_claims`.
    pub fn compile(
        config: &ProvisionerConfig,
        authority_claims: Claims,
    ) -> Result<Self, AuthorityError> {
        let name = config.name().to_owned();
        let fail = |what: String| AuthorityError::Config(format!("provisioner {name:?}: {what}"));
        let (kind, claims, policy, options) = match config {
            ProvisionerConfig::Jwk(p) => {
                let jwk_json = serde_json::to_vec(&p.key).map_err(|e| fail(e.to_string()))?;
                let jwk = Jwk::from_json(&jwk_json).map_err(|e| fail(format!("key: {e}")))?;
                let thumbprint = jwk.thumbprint().map_err(|e| fail(format!("key: {e}")))?;
                let kid = jwk.kid.clone().unwrap_or(thumbprint);
                let key = ProvisionerKey::from_jwk(&jwk).map_err(|e| fail(format!("key: {e}")))?;
                let kind = ProvisionerKind::Jwk {
                    kid,
                    key: Box::new(key),
                    encrypted_key: p.encrypted_key.clone(),
                };
                (
                    kind,
                    p.claims.as_ref(),
                    p.policy.as_ref(),
                    p.options.as_ref(),
                )
            }
            ProvisionerConfig::Acme(p) => (
                ProvisionerKind::Acme,
                p.claims.as_ref(),
                p.policy.as_ref(),
                p.options.as_ref(),
            ),
        };
        let claims = authority_claims
            .merge(claims)
            .map_err(|e| fail(e.to_string()))?;
        let policy = NamePolicy::compile(policy.and_then(|p| p.x509.as_ref()))
            .map_err(|e| fail(e.to_string()))?;
        let (template, template_data) = compile_template(&name, options).map_err(fail)?;
        Ok(Self {
            name,
            kind,
            claims,
            policy,
            template,
            template_data,
            config: config.clone(),
        })
    }

    /// step's provisioner type number (1 JWK, 6 ACME) for the provisioner extension.
    pub fn step_type(&self) -> u8 {
        match self.kind {
            ProvisionerKind::Jwk { .. } => STEP_TYPE_JWK,
            ProvisionerKind::Acme => STEP_TYPE_ACME,
        }
    }

    /// The credential id written into the provisioner extension (the JWK's kid).
    pub fn credential_id(&self) -> &str {
        match &self.kind {
            ProvisionerKind::Jwk { kid, .. } => kid,
            ProvisionerKind::Acme => "",
        }
    }
}

fn compile_template(
    name: &str,
    options: Option<&ProvisionerOptions>,
) -> Result<(Option<Template>, Option<Value>), String> {
    let Some(x509) = options.and_then(|o| o.x509.as_ref()) else {
        return Ok((None, None));
    };
    let text = match (&x509.template, &x509.template_file) {
        (Some(_), Some(_)) => return Err("set template or templateFile, not both".into()),
        (Some(text), None) => Some(text.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("templateFile {}: {e}", file.display()))?,
        ),
        (None, None) => None,
    };
    let template = text
        .map(|text| Template::parse(name, &text).map_err(|e| format!("template: {e}")))
        .transpose()?;
    if let Some(template) = &template {
        for warning in mayfly_template::lint(template) {
            tracing::warn!(provisioner = name, "template: {warning}");
        }
    }
    Ok((template, x509.template_data.clone()))
}

/// All provisioners of the authority, by name and by key id.
#[derive(Debug, Default)]
pub struct ProvisionerSet {
    list: Vec<Arc<Provisioner>>,
    by_name: HashMap<String, usize>,
    by_kid: HashMap<String, usize>,
}

impl ProvisionerSet {
    /// Compiles every provisioner of ca.json; names must be unique.
    pub fn compile(
        configs: &[ProvisionerConfig],
        authority_claims: Claims,
    ) -> Result<Self, AuthorityError> {
        let mut set = Self::default();
        for config in configs {
            let provisioner = Provisioner::compile(config, authority_claims)?;
            let index = set.list.len();
            if set
                .by_name
                .insert(provisioner.name.clone(), index)
                .is_some()
            {
                return Err(AuthorityError::Config(format!(
                    "two provisioners are named {:?}",
                    provisioner.name
                )));
            }
            if let ProvisionerKind::Jwk { kid, .. } = &provisioner.kind {
                set.by_kid.insert(kid.clone(), index);
            }
            set.list.push(Arc::new(provisioner));
        }
        Ok(set)
    }

    /// The provisioner named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Provisioner>> {
        self.by_name.get(name).map(|&i| &self.list[i])
    }

    /// The JWK provisioner whose key id is `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<&Arc<Provisioner>> {
        self.by_kid.get(kid).map(|&i| &self.list[i])
    }

    /// All provisioners in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provisioner>> {
        self.list.iter()
    }

    /// How many provisioners there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl ProvisionerKeys for ProvisionerSet {
    fn find(&self, issuer: &str, kid: &str) -> KeyLookup<'_> {
        match self.by_name(issuer).map(|p| &p.kind) {
            None => KeyLookup::UnknownIssuer,
            Some(ProvisionerKind::Jwk { kid: own, key, .. }) if own == kid => KeyLookup::Found(key),
            Some(_) => KeyLookup::UnknownKid,
        }
    }
}

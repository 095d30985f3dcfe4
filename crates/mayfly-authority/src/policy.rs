//! Name policy: which names a certificate may carry (`policy.x509` in ca.json, at authority
//! and provisioner level).
//!
//! Semantics, as in step-ca: deny rules win over allow rules; as soon as an allow list exists,
//! every name not matched by it is refused (names of a kind with no allow rule included);
//! wildcard names (`*.example.com`) in requests are refused unless `allowWildcardNames`.
//! Rules:
//! - `dns`: `example.com` matches exactly that name; `*.example.com` matches any name below
//!   it (at any depth), not `example.com` itself. Case-insensitive.
//! - `ip`: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address.
//! - `email`: `user@example.com` exactly, or `example.com` / `@example.com` for a whole domain.
//! - `uri`: a host rule as for `dns`, matched against the URI's host (`spiffe://example.org/x`
//!   has host `example.org`).
//! - `cn`: exact common names. A common name not listed is still allowed when it equals one of
//!   the certificate's SANs (which pass the rules above), so `CN=host, DNS:host` needs no
//!   separate `cn` rule.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The `policy` block of ca.json.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rules for X.509 certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Policy>,
}

/// `policy.x509`: allow and deny lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct X509Policy {
    /// Names that may be issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<NameRules>,
    /// Names that may never be issued (wins over `allow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<NameRules>,
    /// Whether wildcard DNS names (`*.example.com`) may appear in certificates.
    #[serde(default)]
    pub allow_wildcard_names: bool,
}

/// One list of rules, by kind of name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRules {
    /// Common names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cn: Vec<String>,
    /// DNS names and domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// IP addresses and CIDR ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<String>,
    /// Email addresses and domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
    /// URI host domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uri: Vec<String>,
}

/// A name a certificate would carry, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// The subject common name.
    CommonName(&'a str),
    /// A dNSName SAN.
    Dns(&'a str),
    /// An iPAddress SAN.
    Ip(IpAddr),
    /// An rfc822Name SAN.
    Email(&'a str),
    /// A uniformResourceIdentifier SAN.
    Uri(&'a str),
}

/// Why a policy refused a name, or why a policy could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A rule in the configuration is malformed.
    #[error("invalid {kind} policy rule {rule:?}: {reason}")]
    InvalidRule {
        /// dns, ip, email, uri or cn.
        kind: &'static str,
        /// The rule as written.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name matched a deny rule.
    #[error("{name} is denied by policy rule {rule:?}")]
    Denied {
        /// The refused name, with its kind.
        name: String,
        /// The deny rule that matched.
        rule: String,
    },
    /// An allow list exists and the name is not on it.
    #[error("{name} is not allowed by policy")]
    NotAllowed {
        /// The refused name, with its kind.
        name: String,
    },
    /// A wildcard name without `allowWildcardNames`.
    #[error("wildcard name {0:?} is not allowed by policy (set allowWildcardNames)")]
    Wildcard(String),
}

/// A compiled policy, ready to check names.
#[derive(Clone, Debug, Default)]
pub struct NamePolicy {
    allow: Option<CompiledRules>,
    deny: CompiledRules,
    allow_wildcard_names: bool,
}

#[derive(Clone, Debug, Default)]
struct CompiledRules {
    cn: Vec<String>,
    dns: Vec<DomainRule>,
    ip: Vec<IpRange>,
    email: Vec<EmailRule>,
    uri: Vec<DomainRule>,
}

#[derive(Clone, Debug)]
struct DomainRule {
    text: String,
    /// Lower-case domain, without the `*.` prefix.
    domain: String,
    subdomains: bool,
}

#[derive(Clone, Debug)]
struct IpRange {
    text: String,
    network: IpAddr,
    prefix: u8,
}

#[derive(Clone, Debug)]
enum EmailRule {
    Address(String),
    Domain(String),
}

impl NamePolicy {
    /// Compiles a `policy.x509` block, refusing malformed rules.
    pub fn compile(config: Option<&X509Policy>) -> Result<Self, PolicyError> {
        let Some(config) = config else {
            return Ok(Self::default());
        };
        Ok(Self {
            allow: config
                .allow
                .as_ref()
                .map(CompiledRules::compile)
                .transpose()?,
            deny: config
                .deny
                .as_ref()
                .map(CompiledRules::compile)
                .transpose()?
                .unwrap_or_default(),
            allow_wildcard_names: config.allow_wildcard_names,
        })
    }

    /// Checks every name of a certificate: the common name (if any) and all SANs.
    pub fn check(&self, common_name: Option<&str>, sans: &[Name<'_>]) -> Result<(), PolicyError> {
        for san in sans {
            self.check_name(san)?;
        }
        if let Some(cn) = common_name.filter(|cn| !cn.is_empty()) {
            if let Some(rule) = self.deny.cn.iter().find(|rule| rule.as_str() == cn) {
                return Err(PolicyError::Denied {
                    name: describe(&Name::CommonName(cn)),
                    rule: rule.clone(),
                });
            }
            let allowed_by_rule = self
                .allow
                .as_ref()
                .is_none_or(|allow| allow.cn.iter().any(|rule| rule == cn));
            let is_a_san = sans.iter().any(|san| san_text_equals(san, cn));
            if !allowed_by_rule && !is_a_san {
                return Err(PolicyError::NotAllowed {
                    name: describe(&Name::CommonName(cn)),
                });
            }
        }
        Ok(())
    }

    fn check_name(&self, name: &Name<'_>) -> Result<(), PolicyError> {
        if let Name::Dns(dns) = name
            && dns.starts_with("*.")
            && !self.allow_wildcard_names
        {
            return Err(PolicyError::Wildcard((*dns).to_owned()));
        }
        if let Some(rule) = self.deny.matching_rule(name) {
            return Err(PolicyError::Denied {
                name: describe(name),
                rule: rule.to_owned(),
            });
        }
        match &self.allow {
            Some(allow) if allow.matching_rule(name).is_none() => Err(PolicyError::NotAllowed {
                name: describe(name),
            }),
            _ => Ok(()),
        }
    }

    /// Whether this policy restricts anything at all.
    pub fn is_empty(&self) -> bool {
        self.allow.is_none() && self.deny.is_empty()
    }
}

fn describe(name: &Name<'_>) -> String {
    match name {
        Name::CommonName(v) => format!("common name {v:?}"),
        Name::Dns(v) => format!("DNS name {v:?}"),
        Name::Ip(v) => format!("IP address {v}"),
        Name::Email(v) => format!("email address {v:?}"),
        Name::Uri(v) => format!("URI {v:?}"),
    }
}

fn san_text_equals(san: &Name<'_>, cn: &str) -> bool {
    match san {
        Name::Dns(v) => v.eq_ignore_ascii_case(cn),
        Name::Email(v) | Name::Uri(v) | Name::CommonName(v) => *v == cn,
        Name::Ip(ip) => cn.parse::<IpAddr>().is_ok_and(|parsed| parsed == *ip),
    }
}

impl CompiledRules {
    fn compile(rules: &NameRules) -> Result<Self, PolicyError> {
        Ok(Self {
            cn: rules.cn.clone(),
            dns: rules
                .dns
                .iter()
                .map(|r| DomainRule::compile("dns", r))
                .collect::<Result<_, _>>()?,
            ip: rules
                .ip
                .iter()
                .map(|r| IpRange::compile(r))
                .collect::<Result<_, _>>()?,
            email: rules
                .email
                .iter()
                .map(|r| EmailRule::compile(r))
                .collect::<Result<_, _>>()?,
            uri: rules
                .uri
                .iter()
                .map(|r| DomainRule::compile("uri", r))
                .collect::<Result<_, _>>()?,
        })
    }

    fn is_empty(&self) -> bool {
        self.cn.is_empty()
            && self.dns.is_empty()
            && self.ip.is_empty()
            && self.email.is_empty()
            && self.uri.is_empty()
    }

    /// The first rule matching `name`, as written in the configuration.
    fn matching_rule(&self, name: &Name<'_>) -> Option<&str> {
        match name {
            Name::CommonName(cn) => self.cn.iter().find(|r| r == cn).map(String::as_str),
            Name::Dns(dns) => find_domain(&self.dns, dns),
            Name::Ip(ip) => self
                .ip
                .iter()
                .find(|r| r.contains(*ip))
                .map(|r| r.text.as_str()),
            Name::Email(email) => self
                .email
                .iter()
                .find(|r| r.matches(email))
                .map(EmailRule::text),
            Name::Uri(uri) => uri_host(uri).and_then(|host| find_domain(&self.uri, host)),
        }
    }
}

fn find_domain<'r>(rules: &'r [DomainRule], name: &str) -> Option<&'r str> {
    rules
        .iter()
        .find(|r| r.matches(name))
        .map(|r| r.text.as_str())
}

impl DomainRule {
    fn compile(kind: &'static str, rule: &str) -> Result<Self, PolicyError> {
        let invalid = |reason: &str| PolicyError::InvalidRule {
            kind,
            rule: rule.to_owned(),
            reason: reason.to_owned(),
        };
        let (domain, subdomains) = match rule.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (rule, false),
        };
        if domain.is_empty() || domain.contains('*') {
            return Err(invalid("use `example.com` or `*.example.com`"));
        }
        if domain
            .split('.')
            .any(|label| label.is_empty() || label.len() > 63)
        {
            return Err(invalid("empty or over-long label"));
        }
        Ok(Self {
            text: rule.to_owned(),
            domain: domain.to_ascii_lowercase(),
            subdomains,
        })
    }

    fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if self.subdomains {
            // `*.example.com` matches names strictly below example.com; a requested wildcard
            // `*.example.com` is itself below it.
            name.len() > self.domain.len() + 1
                && name.ends_with(&self.domain)
                && name.as_bytes()[name.len() - self.domain.len() - 1] == b'.'
        } else {
            name == self.domain
        }
    }
}

impl IpRange {
    fn compile(rule: &str) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::InvalidRule {
            kind: "ip",
            rule: rule.to_owned(),
            reason,
        };
        let (addr, prefix) = match rule.split_once('/') {
            Some((addr, prefix)) => (
                addr,
                Some(
                    prefix
                        .parse::<u8>()
                        .map_err(|_| invalid("bad prefix length".into()))?,
                ),
            ),
            None => (rule, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| invalid("not an IP address or CIDR".into()))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(invalid(format!("prefix longer than {max} bits")));
        }
        Ok(Self {
            text: rule.to_owned(),
            network,
            prefix,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(n.to_bits()) << 96,
                u128::from(i.to_bits()) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), self.prefix),
            _ => return false,
        };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(bits))
        };
        net & mask == ip & mask
    }
}

impl EmailRule {
    fn compile(rule: &str) -> Result<Self, PolicyError> {
        let invalid = |reason: &str| PolicyError::InvalidRule {
            kind: "email",
            rule: rule.to_owned(),
            reason: reason.to_owned(),
        };
        match rule.rsplit_once('@') {
            Some(("", domain)) if !domain.is_empty() => {
                Ok(Self::Domain(domain.to_ascii_lowercase()))
            }
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(Self::Address(
                format!("{local}@{}", domain.to_ascii_lowercase()),
            )),
            None if !rule.is_empty() => Ok(Self::Domain(rule.to_ascii_lowercase())),
            _ => Err(invalid("use user@example.com, @example.com or example.com")),
        }
    }

    fn matches(&self, email: &str) -> bool {
        let Some((local, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let domain = domain.to_ascii_lowercase();
        match self {
            Self::Domain(d) => *d == domain,
            Self::Address(a) => *a == format!("{local}@{domain}"),
        }
    }

    fn text(&self) -> &str {
        match self {
            Self::Domain(d) => d,
            Self::Address(a) => a,
        }
    }
}

/// The host part of a URI (`scheme://[userinfo@]host[:port]/...`), without brackets.
fn uri_host(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests;

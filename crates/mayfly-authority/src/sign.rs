//! `Authority::sign`: the path of one certificate (see docs/architecture.md).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use mayfly_jwt::{Operation, TokenValidator, ValidatedClaims, ValidationContext};
use mayfly_keys::PublicKey;
use mayfly_store::{AcmeObject, CertificateRecord, Consumed};
use mayfly_template::{
    CertificateProfile, CertificateRequest, DEFAULT_LEAF_TEMPLATE, Issuer, RawExtension, San,
    Template, TemplateData, ValidityPeriod, build_certificate,
};
use serde_json::Value;

use crate::AuthorityError;
use crate::authority::{Authority, IssuedCertificate};
use crate::claims::Claims;
use crate::policy::Name;
use crate::provisioner::Provisioner;
use crate::state::AuthorityState;
use crate::x509;

/// A signing request: a CSR, the one-time token that authorizes it, and options.
#[derive(Clone, Debug, Default)]
pub struct SignRequest {
    /// The CSR, DER.
    pub csr_der: Vec<u8>,
    /// The one-time token (JWT).
    pub token: String,
    /// Requested notBefore (default: now, backdated).
    pub not_before: Option<SystemTime>,
    /// Requested notAfter (default: notBefore + the provisioner's default duration).
    pub not_after: Option<SystemTime>,
    /// Values the requester supplies to the template, as `.Insecure.User`.
    pub template_data: Option<Value>,
}

/// A requested validity window, as an ACME order's `notBefore`/`notAfter` carry it: either end
/// may be left to the provisioner's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidityWindow {
    /// Requested notBefore (default: now, backdated).
    pub not_before: Option<SystemTime>,
    /// Requested notAfter (default: notBefore + the provisioner's default duration).
    pub not_after: Option<SystemTime>,
}

/// id-kp-OCSPSigning.
const ID_KP_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

/// Key usages a leaf may never carry.
const CA_KEY_USAGES: [&str; 2] = ["certSign", "crlSign"];
/// Extensions a template may not set by raw OID on a leaf: basicConstraints,
/// nameConstraints, and the provisioner extension (the authority writes that one).
const RESERVED_RAW_EXTENSIONS: [&str; 3] =
    ["2.5.29.19", "2.5.29.30", x509::PROVISIONER_EXTENSION_OID];

impl Authority {
    /// Issues a certificate for a CSR authorized by a one-time token.
    ///
    /// In order: the CSR's signature and key strength; the token (signature, audience, times,
    /// lifetime, provisioner); the template renders; then what no template may override:
    /// validity within the provisioner's claims, no CA certificate, every name within the
    /// token's `sans` and the name policies. The token id and the certificate are recorded in
    /// one durable transaction, so a token buys exactly one certificate.
    pub async fn sign(&self, request: SignRequest) -> Result<IssuedCertificate, AuthorityError> {
        let state = self.state()?;
        let claims = match self.validate_token(&state, &request.token, Operation::Sign) {
            Ok(claims) => claims,
            Err(e) => {
                self.audit("refuse", None, None, None, format!("sign: {e}"))
                    .await;
                return Err(e);
            }
        };
        let Some(provisioner) = state.provisioners.by_name(&claims.issuer).cloned() else {
            return Err(AuthorityError::Unauthorized(format!(
                "unknown provisioner {:?}",
                claims.issuer
            )));
        };
        let issued = self.issue(&state, &provisioner, &claims, &request);
        let detail = format!("sans={:?}", claims.sans);
        self.record_issued(&provisioner, issued, detail, |_| {
            Some(Consumed::Token {
                jti: claims.jti.clone(),
                expires_at: claims.expires_at,
            })
        })
        .await
    }

    /// Stores a certificate `issue` produced, with what it used up (`consumed`, given its
    /// serial) in the same transaction, and audits the outcome either way.
    async fn record_issued(
        &self,
        provisioner: &Provisioner,
        issued: Result<(mayfly_template::Certificate, CertificateRecord), AuthorityError>,
        detail: String,
        consumed: impl FnOnce(&str) -> Option<Consumed>,
    ) -> Result<IssuedCertificate, AuthorityError> {
        let (certificate, record) = match issued {
            Ok(issued) => issued,
            Err(e) => {
                self.audit(
                    "refuse",
                    Some(provisioner),
                    None,
                    None,
                    format!("{detail}: {e}"),
                )
                .await;
                return Err(e);
            }
        };
        let serial = record.serial.clone();
        let audit = self.audit_event(
            "issue",
            Some(provisioner),
            Some(&serial),
            Some(&record.subject),
            detail,
        );
        self.store_issued(consumed(&serial), record, audit).await?;
        Ok(IssuedCertificate {
            certificate,
            chain: vec![self.ca.intermediate.clone()],
            serial,
        })
    }

    pub(crate) fn validate_token(
        &self,
        state: &AuthorityState,
        token: &str,
        operation: Operation,
    ) -> Result<ValidatedClaims, AuthorityError> {
        let ctx = ValidationContext::new(operation, state.addresses.clone());
        TokenValidator::new(&state.provisioners)
            .validate(token, &ctx)
            .map_err(|e| AuthorityError::Unauthorized(format!("invalid token: {e}")))
    }

    /// Everything between a valid token and a signed certificate (no I/O).
    fn issue(
        &self,
        state: &AuthorityState,
        provisioner: &Provisioner,
        claims: &ValidatedClaims,
        request: &SignRequest,
    ) -> Result<(mayfly_template::Certificate, CertificateRecord), AuthorityError> {
        let csr = CertificateRequest::from_der(&request.csr_der)
            .map_err(|e| AuthorityError::BadRequest(format!("invalid certificate request: {e}")))?;
        // The CSR may not ask for more than the token allows (step's SANs validator), even
        // though the default template takes the names from the token.
        check_token_names(claims, None, csr.sans())?;
        let token_sans: Vec<San> = claims.sans.iter().map(|s| San::guess(s)).collect();
        let mut data = TemplateData::new(&claims.subject, &token_sans)
            .with_request(&csr)
            .map_err(|e| AuthorityError::BadRequest(e.to_string()))?
            .with_token(token_value(claims));
        if let Some(Value::Object(operator)) = &provisioner.template_data {
            for (key, value) in operator {
                data = data.set(key, value.clone());
            }
        }
        if let Some(user) = &request.template_data {
            data = data.with_user(user.clone());
        }
        let profile = render_profile(provisioner.template.as_ref(), &data.to_value())?;
        let mut profile = enforce_leaf(profile)?;
        state.subject_defaults.fill(&mut profile.subject);
        let sans = profile
            .all_sans()
            .map_err(|e| AuthorityError::BadRequest(e.to_string()))?;
        let common_name = Some(profile.subject.common_name.clone()).filter(|cn| !cn.is_empty());
        check_name_syntax(common_name.as_deref(), &sans)?;
        check_token_names(claims, common_name.as_deref(), &sans)?;
        check_policies(state, provisioner, common_name.as_deref(), &sans)?;
        let window = ValidityWindow {
            not_before: request.not_before,
            not_after: request.not_after,
        };
        self.sign_leaf(state, provisioner, profile, &csr, &window, &sans)
    }

    /// Signs a checked leaf `profile` for the key of `csr`: the validity the claims allow
    /// for `window`, the provisioner extension, then the record the store keeps.
    fn sign_leaf(
        &self,
        state: &AuthorityState,
        provisioner: &Provisioner,
        mut profile: CertificateProfile,
        csr: &CertificateRequest,
        window: &ValidityWindow,
        sans: &[San],
    ) -> Result<(mayfly_template::Certificate, CertificateRecord), AuthorityError> {
        let validity = validity(state, &provisioner.claims, &profile, window)?;
        profile
            .extensions
            .push(provisioner_raw_extension(provisioner)?);
        let certificate = build_certificate(
            &profile,
            csr.public_key(),
            Issuer::Ca(&self.ca.intermediate, self.ca.signer.as_ref()),
            validity,
        )
        .map_err(|e| AuthorityError::BadRequest(format!("cannot build the certificate: {e}")))?;
        let record = self.record_for(&certificate, &provisioner.name, sans)?;
        Ok((certificate, record))
    }

    pub(crate) fn record_for(
        &self,
        certificate: &mayfly_template::Certificate,
        provisioner: &str,
        sans: &[San],
    ) -> Result<CertificateRecord, AuthorityError> {
        let (not_before, not_after) = x509::validity_unix(certificate);
        Ok(CertificateRecord {
            serial: x509::serial_hex(certificate),
            der: Some(
                mayfly_template::certificate_to_der(certificate)
                    .map_err(|e| AuthorityError::Internal(e.to_string()))?,
            ),
            subject: certificate.tbs_certificate().subject().to_string(),
            sans: sans.iter().map(san_text).collect(),
            not_before,
            not_after,
            provisioner: provisioner.to_owned(),
            issuer: self.ca.issuer_id.clone(),
        })
    }
}

fn token_value(claims: &ValidatedClaims) -> Value {
    serde_json::json!({
        "iss": claims.issuer, "sub": claims.subject, "sans": claims.sans,
        "aud": claims.audience, "jti": claims.jti, "exp": claims.expires_at,
        "nbf": claims.not_before, "iat": claims.issued_at, "sha": claims.root_fingerprint,
    })
}

/// The default leaf template, parsed once.
fn default_leaf_template() -> Result<&'static Template, AuthorityError> {
    static LEAF: std::sync::OnceLock<Result<Template, String>> = std::sync::OnceLock::new();
    LEAF.get_or_init(|| Template::parse("leaf", DEFAULT_LEAF_TEMPLATE).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| AuthorityError::Internal(format!("default leaf template: {e}")))
}

/// Renders the provisioner's template (or the default leaf template) into a profile.
pub(crate) fn render_profile(
    template: Option<&Template>,
    data: &Value,
) -> Result<CertificateProfile, AuthorityError> {
    let rendered = match template {
        Some(template) => template.render(data),
        None => default_leaf_template()?.render(data),
    }
    .map_err(|e| AuthorityError::BadRequest(format!("template: {e}")))?;
    CertificateProfile::from_json(&rendered)
        .map_err(|e| AuthorityError::BadRequest(format!("template output: {e}")))
}

/// What no template may put in a leaf: CA flags, CA key usages, reserved raw extensions.
pub(crate) fn enforce_leaf(
    profile: CertificateProfile,
) -> Result<CertificateProfile, AuthorityError> {
    let forbidden = |what: String| {
        Err(AuthorityError::Forbidden(format!(
            "the template asks for {what}, which a leaf certificate may not have"
        )))
    };
    if profile.is_ca() {
        return forbidden("a CA certificate (basicConstraints isCA)".into());
    }
    if profile.name_constraints.is_some() {
        return forbidden("name constraints".into());
    }
    if let Some(usage) = profile
        .key_usage
        .0
        .iter()
        .find(|u| CA_KEY_USAGES.iter().any(|ca| ca.eq_ignore_ascii_case(u)))
    {
        return forbidden(format!("key usage {usage}"));
    }
    if let Some(eku) = profile
        .ext_key_usage
        .0
        .iter()
        .chain(&profile.unknown_ext_key_usage.0)
        .find(|u| u.eq_ignore_ascii_case("ocspSigning") || u.as_str() == ID_KP_OCSP_SIGNING)
    {
        // A leaf with OCSPSigning could answer OCSP for the intermediate: only the CA decides that.
        return forbidden(format!("extended key usage {eku}"));
    }
    if let Some(ext) = profile
        .extensions
        .iter()
        .find(|e| RESERVED_RAW_EXTENSIONS.contains(&e.id.as_str()))
    {
        return forbidden(format!("the raw extension {}", ext.id));
    }
    Ok(profile)
}

/// Every name a certificate carries must be well formed: DNS names are LDH labels (1-63
/// octets, no leading or trailing hyphen, at most 253 octets, `*.` only as a whole first
/// label; `xn--` labels must decode as Punycode to a non-ASCII label), and no name carries
/// control characters or spaces.
pub(crate) fn check_name_syntax(
    common_name: Option<&str>,
    sans: &[San],
) -> Result<(), AuthorityError> {
    let bad = |what: &str, name: &str, why: &str| {
        Err(AuthorityError::BadRequest(format!(
            "invalid {what} {name:?}: {why}"
        )))
    };
    if let Some(cn) = common_name
        && cn.chars().any(char::is_control)
    {
        return bad("common name", cn, "it contains control characters");
    }
    for san in sans {
        match san {
            San::Dns(name) => {
                let host = name.strip_prefix("*.").unwrap_or(name);
                if name.len() > 253 {
                    return bad("DNS name", name, "longer than 253 octets");
                }
                for label in host.split('.') {
                    let why = if label.is_empty() {
                        Some("empty label")
                    } else if label.len() > 63 {
                        Some("a label longer than 63 octets")
                    } else if !label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        Some(
                            "only letters, digits and hyphens are allowed (IDNs go as xn-- labels)",
                        )
                    } else if label.starts_with('-') || label.ends_with('-') {
                        Some("a label starts or ends with a hyphen")
                    } else if label.len() <= 4 && label.to_ascii_lowercase().starts_with("xn--") {
                        Some("an empty punycode label")
                    } else if label
                        .get(..4)
                        .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
                        && !crate::punycode::is_a_label_body(&label[4..])
                    {
                        Some("an xn-- label that is not valid punycode for a non-ASCII name")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        return bad("DNS name", name, why);
                    }
                }
            }
            San::Email(v) | San::Uri(v) if v.chars().any(|c| c.is_control() || c == ' ') => {
                return bad("name", v, "it contains control characters or spaces");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every name of the certificate must be one the token allows: the SANs within `sans`, the
/// common name equal to the token's subject or one of its SANs.
fn check_token_names(
    claims: &ValidatedClaims,
    common_name: Option<&str>,
    sans: &[San],
) -> Result<(), AuthorityError> {
    let allowed: Vec<San> = claims.sans.iter().map(|s| San::guess(s)).collect();
    for san in sans {
        if !allowed.iter().any(|a| same_name(a, san)) {
            return Err(AuthorityError::Forbidden(format!(
                "{} is not among the names the token allows ({})",
                san_text(san),
                claims.sans.join(", ")
            )));
        }
    }
    if let Some(cn) = common_name.filter(|cn| !cn.is_empty())
        && cn != claims.subject
        && !claims.sans.iter().any(|s| s == cn)
    {
        return Err(AuthorityError::Forbidden(format!(
            "common name {cn:?} is neither the token's subject nor one of its names"
        )));
    }
    Ok(())
}

fn same_name(a: &San, b: &San) -> bool {
    match (a, b) {
        (San::Dns(x), San::Dns(y)) => x.eq_ignore_ascii_case(y),
        (San::Email(x), San::Email(y)) => x.eq_ignore_ascii_case(y),
        (a, b) => a == b,
    }
}

pub(crate) fn san_text(san: &San) -> String {
    match san {
        San::Dns(v) | San::Email(v) | San::Uri(v) => v.clone(),
        San::Ip(ip) => ip.to_string(),
    }
}

/// The authority's and the provisioner's name policies both apply.
pub(crate) fn check_policies(
    state: &AuthorityState,
    provisioner: &Provisioner,
    common_name: Option<&str>,
    sans: &[San],
) -> Result<(), AuthorityError> {
    let names: Vec<Name<'_>> = sans
        .iter()
        .map(|san| match san {
            San::Dns(v) => Name::Dns(v),
            San::Email(v) => Name::Email(v),
            San::Uri(v) => Name::Uri(v),
            San::Ip(ip) => Name::Ip(*ip),
        })
        .collect();
    for policy in [&state.policy, &provisioner.policy] {
        policy
            .check(common_name, &names)
            .map_err(|e| AuthorityError::Forbidden(e.to_string()))?;
    }
    Ok(())
}

/// The validity window: request over template over the provisioner's default, and always
/// within [min, max] of the provisioner's claims.
fn validity(
    state: &AuthorityState,
    claims: &Claims,
    profile: &CertificateProfile,
    request: &ValidityWindow,
) -> Result<ValidityPeriod, AuthorityError> {
    let from_profile = |s: &Option<String>| -> Result<Option<SystemTime>, AuthorityError> {
        s.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map(SystemTime::from)
                    .map_err(|e| {
                        AuthorityError::BadRequest(format!(
                            "template notBefore/notAfter {s:?}: {e}"
                        ))
                    })
            })
            .transpose()
    };
    let now = SystemTime::now();
    let start = request.not_before.or(from_profile(&profile.not_before)?);
    let end = request.not_after.or(from_profile(&profile.not_after)?);
    let start_or_now = start.unwrap_or(now);
    let end = match end {
        Some(end) => end,
        None => start_or_now
            .checked_add(claims.default_duration)
            .ok_or_else(|| AuthorityError::BadRequest("notBefore is out of range".into()))?,
    };
    let lifetime = end
        .duration_since(start_or_now)
        .map_err(|_| AuthorityError::BadRequest("notAfter is before notBefore".into()))?;
    check_lifetime(claims, lifetime)?;
    if end <= now {
        return Err(AuthorityError::BadRequest("notAfter is in the past".into()));
    }
    let not_before = start.unwrap_or(now - state.backdate);
    Ok(ValidityPeriod {
        not_before: to_offset(not_before)?,
        not_after: to_offset(end)?,
    })
}

pub(crate) fn check_lifetime(claims: &Claims, lifetime: Duration) -> Result<(), AuthorityError> {
    // Whole seconds: a 1-minute request measured against a backdated start is 59.999 s.
    let show = |d: Duration| {
        crate::config::GoDuration(Duration::from_secs(d.as_secs_f64().round() as u64)).to_string()
    };
    if lifetime > claims.max_duration {
        return Err(AuthorityError::Forbidden(format!(
            "requested validity {} is longer than the provisioner's maximum {}",
            show(lifetime),
            show(claims.max_duration)
        )));
    }
    if lifetime < claims.min_duration {
        return Err(AuthorityError::Forbidden(format!(
            "requested validity {} is shorter than the provisioner's minimum {}",
            show(lifetime),
            show(claims.min_duration)
        )));
    }
    Ok(())
}

/// A certificate time; refused (never wrapped) when X.509 cannot carry it (after 9999).
pub(crate) fn to_offset(t: SystemTime) -> Result<time::OffsetDateTime, AuthorityError> {
    let out_of_range = || AuthorityError::BadRequest("a validity time is outside 1970-9999".into());
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| out_of_range())?
        .as_secs();
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(out_of_range)?;
    if at.year() > 9999 {
        return Err(out_of_range());
    }
    Ok(at)
}

impl Authority {
    /// Issues a certificate to an ACME client whose order for `identifiers` is ready: the
    /// CSR must name exactly those identifiers; the ACME provisioner's template, claims and
    /// policy apply as for tokens. A DNS identifier becomes the common name when the
    /// provisioner sets `forceCN` (never an IP address).
    ///
    /// `valid_order` gives the order's new state for the certificate's serial (valid, naming
    /// it, at the revision the order was read at); it is written in the certificate's own
    /// transaction, so an order gets one certificate: if the order changed meanwhile nothing
    /// is stored and the result is [`AuthorityError::Conflict`].
    pub async fn sign_acme(
        &self,
        provisioner_name: &str,
        csr_der: &[u8],
        identifiers: &[San],
        window: ValidityWindow,
        account_key: &PublicKey,
        valid_order: impl FnOnce(&str) -> AcmeObject,
    ) -> Result<IssuedCertificate, AuthorityError> {
        let state = self.state()?;
        let provisioner = acme_provisioner(&state, provisioner_name)?;
        let request = AcmeRequest {
            csr_der,
            identifiers,
            window,
            account_key,
        };
        let issued = self.issue_acme(&state, &provisioner, &request);
        self.record_issued(&provisioner, issued, "acme".into(), |serial| {
            Some(Consumed::AcmeOrder(valid_order(serial)))
        })
        .await
    }

    /// Checks an ACME order's identifiers against the authority's and the provisioner's name
    /// policies, so that newOrder refuses what finalize could never issue
    /// ([`AuthorityError::Forbidden`] naming the name).
    pub fn check_acme_identifiers(
        &self,
        provisioner_name: &str,
        identifiers: &[San],
    ) -> Result<(), AuthorityError> {
        let state = self.state()?;
        let provisioner = acme_provisioner(&state, provisioner_name)?;
        check_policies(&state, &provisioner, None, identifiers)
    }

    /// Checks an ACME order's requested validity window against the provisioner's claims,
    /// so that newOrder refuses what finalize could never issue.
    pub fn check_acme_validity(
        &self,
        provisioner_name: &str,
        window: ValidityWindow,
    ) -> Result<(), AuthorityError> {
        let state = self.state()?;
        let provisioner = acme_provisioner(&state, provisioner_name)?;
        validity(
            &state,
            &provisioner.claims,
            &CertificateProfile::default(),
            &window,
        )
        .map(drop)
    }

    fn issue_acme(
        &self,
        state: &AuthorityState,
        provisioner: &Provisioner,
        request: &AcmeRequest<'_>,
    ) -> Result<(mayfly_template::Certificate, CertificateRecord), AuthorityError> {
        let AcmeRequest {
            csr_der,
            identifiers,
            window,
            account_key,
        } = *request;
        let csr = CertificateRequest::from_der(csr_der)
            .map_err(|e| AuthorityError::BadRequest(format!("invalid certificate request: {e}")))?;
        // An account key that is also a certificate key would let whoever holds the
        // certificate's key act for the account (RFC 8555 section 11.1).
        if csr.public_key() == account_key {
            return Err(AuthorityError::BadRequest(
                "the CSR's key is the ACME account key: a certificate needs a key of its own"
                    .into(),
            ));
        }
        // The names the CSR asks for: its SANs and its common name, where RFC 8555 section
        // 7.4 lets a client put a DNS identifier too.
        let mut requested: Vec<San> = csr.sans().to_vec();
        if let Some(cn) = x509::name_common_name(csr.subject()).filter(|cn| !cn.is_empty()) {
            let cn = San::guess(&cn);
            if !requested.iter().any(|r| same_name(r, &cn)) {
                requested.push(cn);
            }
        }
        let same_set = requested.len() == identifiers.len()
            && identifiers
                .iter()
                .all(|id| requested.iter().any(|r| same_name(r, id)));
        if !same_set {
            return Err(AuthorityError::BadRequest(
                "the CSR's names (common name and SANs) are not exactly the order's identifiers"
                    .into(),
            ));
        }
        let force_cn =
            matches!(&provisioner.config, crate::config::ProvisionerConfig::Acme(p) if p.force_cn);
        let common_name = identifiers
            .iter()
            .find_map(|id| match id {
                San::Dns(name) if force_cn => Some(name.as_str()),
                _ => None,
            })
            .unwrap_or("");
        let mut data = TemplateData::new(common_name, identifiers)
            .with_request(&csr)
            .map_err(|e| AuthorityError::BadRequest(e.to_string()))?;
        if let Some(Value::Object(operator)) = &provisioner.template_data {
            for (key, value) in operator {
                data = data.set(key, value.clone());
            }
        }
        let mut profile = enforce_leaf(render_profile(
            provisioner.template.as_ref(),
            &data.to_value(),
        )?)?;
        state.subject_defaults.fill(&mut profile.subject);
        let sans = profile
            .all_sans()
            .map_err(|e| AuthorityError::BadRequest(e.to_string()))?;
        if let Some(extra) = sans
            .iter()
            .find(|s| !identifiers.iter().any(|id| same_name(id, s)))
        {
            return Err(AuthorityError::Forbidden(format!(
                "{} is not an identifier of the order",
                san_text(extra)
            )));
        }
        let cn = Some(profile.subject.common_name.clone()).filter(|cn| !cn.is_empty());
        if let Some(ip) = cn.as_deref().filter(|cn| cn.parse::<IpAddr>().is_ok()) {
            return Err(AuthorityError::Forbidden(format!(
                "the common name may not be an IP address ({ip}): IP identifiers go in the \
                 subject alternative names only"
            )));
        }
        // Only validated names: a template copying the CSR's common name cannot carry
        // another one into the certificate.
        if let Some(cn) = cn.as_deref()
            && !identifiers
                .iter()
                .any(|id| same_name(id, &San::Dns(cn.to_owned())))
        {
            return Err(AuthorityError::Forbidden(format!(
                "the common name {cn} is not an identifier of the order"
            )));
        }
        check_name_syntax(cn.as_deref(), &sans)?;
        check_policies(state, provisioner, cn.as_deref(), &sans)?;
        self.sign_leaf(state, provisioner, profile, &csr, &window, &sans)
    }
}

/// What an ACME finalization asks for.
#[derive(Clone, Copy)]
struct AcmeRequest<'a> {
    csr_der: &'a [u8],
    /// The order's identifiers: the certificate names exactly these.
    identifiers: &'a [San],
    window: ValidityWindow,
    /// The account's key, which the certificate may not reuse.
    account_key: &'a PublicKey,
}

/// The ACME provisioner `name`.
fn acme_provisioner(
    state: &AuthorityState,
    name: &str,
) -> Result<std::sync::Arc<Provisioner>, AuthorityError> {
    state
        .provisioners
        .by_name(name)
        .filter(|p| matches!(p.kind, crate::ProvisionerKind::Acme))
        .cloned()
        .ok_or_else(|| AuthorityError::NotFound(format!("no ACME provisioner {name:?}")))
}

/// The provisioner extension as a template raw extension.
fn provisioner_raw_extension(provisioner: &Provisioner) -> Result<RawExtension, AuthorityError> {
    Ok(RawExtension {
        id: x509::PROVISIONER_EXTENSION_OID.into(),
        critical: false,
        value: base64::engine::general_purpose::STANDARD.encode(x509::provisioner_extension(
            provisioner.step_type(),
            &provisioner.name,
            provisioner.credential_id(),
        )?),
    })
}

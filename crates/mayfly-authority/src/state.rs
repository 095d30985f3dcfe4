//! What `Authority::reload` swaps: everything derived from ca.json except the CA's keys.

use std::time::Duration;

use mayfly_jwt::CaAddresses;

use crate::AuthorityError;
use crate::claims::{Claims, DEFAULT_CLAIMS};
use crate::config::{CaConfig, GoDuration, SubjectTemplate};
use crate::policy::NamePolicy;
use crate::provisioner::ProvisionerSet;

/// The default backdate of notBefore.
pub const DEFAULT_BACKDATE: Duration = Duration::from_secs(60);

/// The reloadable part of the authority.
#[derive(Debug)]
pub struct AuthorityState {
    /// Provisioners by name and kid.
    pub provisioners: ProvisionerSet,
    /// The authority-wide name policy.
    pub policy: NamePolicy,
    /// The authority-wide claims (provisioners layer theirs over these).
    pub claims: Claims,
    /// How far notBefore is moved into the past.
    pub backdate: Duration,
    /// The hosts token audiences may name.
    pub addresses: CaAddresses,
    /// CRL validity (nextUpdate - thisUpdate).
    pub crl_validity: Duration,
    /// How long after its thisUpdate a CRL is regenerated (`crl.renewPeriod`).
    pub crl_renew_period: Duration,
    /// Whether revocations regenerate the CRL at once.
    pub crl_on_revoke: bool,
    /// Subject attributes issued certificates get where their template leaves them empty
    /// (`authority.template`).
    pub subject_defaults: SubjectTemplate,
}

/// CRLs are valid 24 h unless `crl.cacheDuration` says otherwise.
pub const DEFAULT_CRL_VALIDITY: Duration = Duration::from_secs(24 * 3600);

impl AuthorityState {
    /// Compiles the reloadable state from a configuration.
    pub fn from_config(config: &CaConfig) -> Result<Self, AuthorityError> {
        let authority = &config.authority;
        let claims = DEFAULT_CLAIMS
            .merge(authority.claims.as_ref())
            .map_err(|e| AuthorityError::Config(format!("authority.claims: {e}")))?;
        let policy = NamePolicy::compile(authority.policy.as_ref().and_then(|p| p.x509.as_ref()))
            .map_err(|e| AuthorityError::Config(format!("authority.policy: {e}")))?;
        let provisioners = ProvisionerSet::compile(&authority.provisioners, claims)?;
        let mut hosts: Vec<String> = config.dns_names.clone();
        if let Some(host) = host_of_address(&config.address) {
            hosts.push(host);
        }
        let crl = config.crl.as_ref();
        let crl_validity = crl
            .and_then(|c| c.cache_duration)
            .map_or(DEFAULT_CRL_VALIDITY, Into::into);
        let crl_renew_period = crl_renew_period(crl.and_then(|c| c.renew_period), crl_validity)?;
        Ok(Self {
            provisioners,
            policy,
            claims,
            backdate: authority.backdate.map_or(DEFAULT_BACKDATE, Into::into),
            addresses: CaAddresses::new(hosts),
            crl_validity,
            crl_renew_period,
            crl_on_revoke: crl.is_none_or(|c| c.enabled && c.generate_on_revoke),
            subject_defaults: authority.template.clone().unwrap_or_default(),
        })
    }

    /// Whether a CRL whose thisUpdate is `this_update` is due for regeneration at `now`
    /// (unix seconds): once `crl.renewPeriod` has passed.
    pub fn crl_due(&self, this_update: i64, now: i64) -> bool {
        let period = i64::try_from(self.crl_renew_period.as_secs()).unwrap_or(i64::MAX);
        now >= this_update.saturating_add(period)
    }
}

/// `crl.renewPeriod`, checked against the CRL validity; 2/3 of it when unset.
fn crl_renew_period(
    configured: Option<GoDuration>,
    validity: Duration,
) -> Result<Duration, AuthorityError> {
    let Some(period) = configured else {
        return Ok(validity * 2 / 3);
    };
    if period.0.as_secs() == 0 || period.0 >= validity {
        return Err(AuthorityError::Config(format!(
            "crl.renewPeriod {period} must be at least 1s and shorter than crl.cacheDuration {}",
            GoDuration(validity)
        )));
    }
    Ok(period.0)
}

/// The host of a listen address (`127.0.0.1:9000` -> `127.0.0.1`); none for `:9000`.
fn host_of_address(address: &str) -> Option<String> {
    let host = match address.rsplit_once(':') {
        Some((host, _port)) => host,
        None => address,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && host != "0.0.0.0" && host != "::").then(|| host.to_owned())
}

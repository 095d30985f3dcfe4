//! Claims: how long certificates may live and whether they may be renewed, at authority and
//! provisioner level, with step-ca's defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::GoDuration;

/// The `claims` block of ca.json (authority or provisioner). Unset fields inherit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimsConfig {
    /// Shortest validity a request may ask for.
    #[serde(
        default,
        rename = "minTLSCertDuration",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_tls_cert_duration: Option<GoDuration>,
    /// Longest validity a request may ask for.
    #[serde(
        default,
        rename = "maxTLSCertDuration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tls_cert_duration: Option<GoDuration>,
    /// Validity when the request names none.
    #[serde(
        default,
        rename = "defaultTLSCertDuration",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_tls_cert_duration: Option<GoDuration>,
    /// Refuse renewals of certificates from this provisioner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_renewal: Option<bool>,
    /// Allow renewing a certificate after it expired (with an x5c token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_renewal_after_expiry: Option<bool>,
}

/// Claims with every value decided: provisioner over authority over step's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Shortest validity.
    pub min_duration: Duration,
    /// Longest validity.
    pub max_duration: Duration,
    /// Validity when none is asked for.
    pub default_duration: Duration,
    /// Renewal refused.
    pub disable_renewal: bool,
    /// Renewal after expiry allowed.
    pub allow_renewal_after_expiry: bool,
}

/// step-ca's defaults: 5 minutes minimum, 24 hours maximum and default.
pub const DEFAULT_CLAIMS: Claims = Claims {
    min_duration: Duration::from_secs(5 * 60),
    max_duration: Duration::from_secs(24 * 3600),
    default_duration: Duration::from_secs(24 * 3600),
    disable_renewal: false,
    allow_renewal_after_expiry: false,
};

/// Claims that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent claims: {0}")]
pub struct ClaimsError(String);

impl Claims {
    /// Layers `config` over `self` and checks that min <= default <= max.
    pub fn merge(self, config: Option<&ClaimsConfig>) -> Result<Self, ClaimsError> {
        let Some(c) = config else {
            return Ok(self);
        };
        let merged = Self {
            min_duration: c
                .min_tls_cert_duration
                .map_or(self.min_duration, Into::into),
            max_duration: c
                .max_tls_cert_duration
                .map_or(self.max_duration, Into::into),
            default_duration: c
                .default_tls_cert_duration
                .map_or(self.default_duration, Into::into),
            disable_renewal: c.disable_renewal.unwrap_or(self.disable_renewal),
            allow_renewal_after_expiry: c
                .allow_renewal_after_expiry
                .unwrap_or(self.allow_renewal_after_expiry),
        };
        merged.validate()?;
        Ok(merged)
    }

    fn validate(&self) -> Result<(), ClaimsError> {
        let show = |d: Duration| GoDuration(d).to_string();
        if self.min_duration > self.max_duration {
            return Err(ClaimsError(format!(
                "minTLSCertDuration {} is longer than maxTLSCertDuration {}",
                show(self.min_duration),
                show(self.max_duration)
            )));
        }
        if self.default_duration < self.min_duration || self.default_duration > self.max_duration {
            return Err(ClaimsError(format!(
                "defaultTLSCertDuration {} is outside [{}, {}]",
                show(self.default_duration),
                show(self.min_duration),
                show(self.max_duration)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioner_overrides_authority_overrides_defaults() {
        let authority: ClaimsConfig =
            serde_json::from_str(r#"{"maxTLSCertDuration": "48h"}"#).unwrap();
        let provisioner: ClaimsConfig = serde_json::from_str(
            r#"{"minTLSCertDuration": "1m0s", "defaultTLSCertDuration": "2m0s"}"#,
        )
        .unwrap();
        let claims = DEFAULT_CLAIMS
            .merge(Some(&authority))
            .and_then(|c| c.merge(Some(&provisioner)))
            .unwrap();
        assert_eq!(claims.max_duration, Duration::from_secs(48 * 3600));
        assert_eq!(claims.min_duration, Duration::from_secs(60));
        assert_eq!(claims.default_duration, Duration::from_secs(120));
    }

    #[test]
    fn contradictions_are_refused() {
        let bad: ClaimsConfig =
            serde_json::from_str(r#"{"defaultTLSCertDuration": "87600h"}"#).unwrap();
        let err = DEFAULT_CLAIMS.merge(Some(&bad)).unwrap_err();
        assert!(
            err.to_string().contains("defaultTLSCertDuration 87600h"),
            "{err}"
        );
    }
}

//! `Authority::renew` and `Authority::rekey`: a new certificate for the holder of a current one.

use std::time::{Duration, SystemTime};

use mayfly_jwt::{DEFAULT_TOKEN_LIFETIME, Operation, TokenError, ValidationContext};
use mayfly_store::{Consumed, RevocationStore};
use mayfly_template::{
    Certificate, CertificateRequest, Issuer, ValidityPeriod, certificate_public_key,
    certificate_sans, parse_certificate_der, reissue_certificate,
};

use crate::AuthorityError;
use crate::authority::{Authority, IssuedCertificate};
use crate::sign::to_offset;
use crate::x509;

impl Authority {
    /// Renews `peer` (the client certificate of an mTLS connection): same subject, names,
    /// extensions and key, a new serial, and a validity of the same length starting now.
    ///
    /// Refused when `peer` was not issued by this CA, is revoked, its provisioner is gone or
    /// disables renewal, or it has expired (unless the provisioner allows renewal after
    /// expiry).
    pub async fn renew(&self, peer: &Certificate) -> Result<IssuedCertificate, AuthorityError> {
        self.reissue(peer, None, None).await
    }

    /// Renews the certificate in the `x5c` header of `token`: step's renewal token, signed
    /// by that certificate's key, audience `https://<ca>/1.0/renew`, sent as
    /// `Authorization: Bearer` by a client that cannot present the certificate over mTLS
    /// (typically because it expired). The same checks as [`Authority::renew`] follow, so an
    /// expired certificate is renewed only when its provisioner's claims set
    /// `allowRenewalAfterExpiry`; the token's `jti` is recorded with the new certificate, so
    /// a token renews once.
    pub async fn renew_with_token(&self, token: &str) -> Result<IssuedCertificate, AuthorityError> {
        let state = self.state()?;
        let ctx = ValidationContext::new(Operation::Renew, state.addresses.clone());
        let validated = mayfly_jwt::validate_x5c(token, &ctx, DEFAULT_TOKEN_LIFETIME, |chain| {
            let untrusted = |why: String| TokenError::UntrustedCertificate(why);
            let leaf = chain
                .first()
                .ok_or_else(|| untrusted("x5c is empty".into()))
                .and_then(|der| parse_certificate_der(der).map_err(|e| untrusted(e.to_string())))?;
            x509::verify_issued_by(&leaf, &self.ca.intermediate)
                .map_err(|e| untrusted(e.to_string()))?;
            let key = certificate_public_key(&leaf).map_err(|e| untrusted(e.to_string()))?;
            Ok((key, leaf))
        });
        let (peer, claims) = match validated {
            Ok(validated) => validated,
            Err(e) => {
                let detail = format!("renew with a token: {e}");
                self.audit("refuse", None, None, None, detail).await;
                return Err(AuthorityError::Unauthorized(format!(
                    "invalid renewal token: {e}"
                )));
            }
        };
        self.reissue(&peer, None, Some((claims.jti, claims.expires_at)))
            .await
    }

    /// Like [`Authority::renew`], but for the new key in `csr_der` (whose signature proves
    /// possession).
    pub async fn rekey(
        &self,
        peer: &Certificate,
        csr_der: &[u8],
    ) -> Result<IssuedCertificate, AuthorityError> {
        let csr = CertificateRequest::from_der(csr_der)
            .map_err(|e| AuthorityError::BadRequest(format!("invalid certificate request: {e}")))?;
        self.reissue(peer, Some(&csr), None).await
    }

    /// Reissues `peer` (for the key of `csr` when given), recording `token` (jti, exp) with
    /// the new certificate when the request came with one.
    async fn reissue(
        &self,
        peer: &Certificate,
        csr: Option<&CertificateRequest>,
        token: Option<(String, i64)>,
    ) -> Result<IssuedCertificate, AuthorityError> {
        let result = self.reissue_checked(peer, csr, token).await;
        if let Err(e) = &result {
            let operation = if csr.is_some() { "rekey" } else { "renew" };
            let serial = x509::serial_hex(peer);
            let subject = x509::common_name(peer);
            let detail = format!("{operation} of {serial}: {e}");
            self.audit_refusal(e, Some(&serial), subject.as_deref(), detail)
                .await;
        }
        result
    }

    async fn reissue_checked(
        &self,
        peer: &Certificate,
        csr: Option<&CertificateRequest>,
        token: Option<(String, i64)>,
    ) -> Result<IssuedCertificate, AuthorityError> {
        x509::verify_issued_by(peer, &self.ca.intermediate)?;
        let serial = x509::serial_hex(peer);
        if self.store.revocation(&serial).await?.is_some() {
            return Err(AuthorityError::Forbidden(format!(
                "certificate {serial} is revoked: renewal refused"
            )));
        }
        let state = self.state()?;
        let provisioner_name = x509::provisioner_of(peer).ok_or_else(|| {
            AuthorityError::Forbidden(format!(
                "certificate {serial} names no provisioner: renewal refused"
            ))
        })?;
        let provisioner = state
            .provisioners
            .by_name(&provisioner_name)
            .ok_or_else(|| {
                AuthorityError::Forbidden(format!(
                    "provisioner {provisioner_name:?} no longer exists: renewal refused"
                ))
            })?;
        let claims = provisioner.claims;
        if claims.disable_renewal {
            return Err(AuthorityError::Forbidden(format!(
                "provisioner {provisioner_name:?} disables renewal"
            )));
        }
        let (not_before, not_after) = x509::validity_unix(peer);
        let now = crate::now_unix();
        if now > not_after && !claims.allow_renewal_after_expiry {
            return Err(AuthorityError::Unauthorized(format!(
                "certificate {serial} expired {} s ago and provisioner {provisioner_name:?} does not allow renewal after expiry",
                now - not_after
            )));
        }
        let lifetime = Duration::from_secs(u64::try_from(not_after - not_before).unwrap_or(0));
        let start = SystemTime::now() - state.backdate;
        let validity = ValidityPeriod {
            not_before: to_offset(start)?,
            not_after: to_offset(start + lifetime)?,
        };
        let key = match csr {
            Some(csr) => csr.public_key().clone(),
            None => certificate_public_key(peer)
                .map_err(|e| AuthorityError::BadRequest(e.to_string()))?,
        };
        let certificate = reissue_certificate(
            peer,
            &key,
            Issuer::Ca(&self.ca.intermediate, self.ca.signer.as_ref()),
            validity,
        )
        .map_err(|e| AuthorityError::Internal(format!("cannot reissue the certificate: {e}")))?;
        let sans =
            certificate_sans(&certificate).map_err(|e| AuthorityError::Internal(e.to_string()))?;
        let record = self.record_for(&certificate, &provisioner_name, &sans)?;
        let operation = if csr.is_some() { "rekey" } else { "renew" };
        let audit = self.audit_event(
            operation,
            Some(provisioner),
            Some(&record.serial),
            x509::common_name(peer).as_deref(),
            format!("{operation} of {serial}"),
        );
        let serial = record.serial.clone();
        let consumed = token.map(|(jti, expires_at)| Consumed::Token { jti, expires_at });
        self.store_issued(consumed, record, audit).await?;
        Ok(IssuedCertificate {
            certificate,
            chain: vec![self.ca.intermediate.clone()],
            serial,
        })
    }
}

//! revokeCert (RFC 8555 §7.6): by the account that ordered the certificate, by an account
//! holding a valid, unexpired authorization for every name of the certificate (DNS names
//! and IP addresses, a wildcard name covered only by its wildcard authorization), or by a
//! JWS signed with the certificate's own key.

use mayfly_authority::{RevokeAuth, RevokeRequest};
use mayfly_store::{AcmeKind, AcmeStore, CertificateStore, RevocationStore};
use mayfly_template::Certificate;
use serde_json::Value;

use crate::error::{AcmeError, ProblemKind};
use crate::model::{AuthzDoc, OrderDoc, doc};
use crate::service::{AcmeHttpResponse, AcmeService, Request};

impl AcmeService {
    pub(crate) async fn revoke_cert(&self, r: &Request<'_>) -> Result<AcmeHttpResponse, AcmeError> {
        let payload = r.json()?;
        let der = payload
            .get("certificate")
            .and_then(Value::as_str)
            .and_then(crate::unb64)
            .ok_or_else(|| AcmeError::malformed("revokeCert needs certificate: base64url DER"))?;
        let cert = mayfly_template::parse_certificate_der(&der)
            .map_err(|e| AcmeError::malformed(format!("certificate: {e}")))?;
        let serial = mayfly_authority::serial_hex(&cert);
        let reason = match payload.get("reason") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|n| *n <= 10 && *n != 7)
                    .ok_or_else(|| {
                        AcmeError::new(
                            ProblemKind::BadRevocationReason,
                            format!("reason {v} is not allowed"),
                        )
                    })?,
            ),
        };
        let stored = self.store().certificate(&serial).await?;
        if stored.and_then(|c| c.der).as_deref() != Some(der.as_slice()) {
            return Err(AcmeError::not_found(
                "this CA did not issue this certificate",
            ));
        }
        if self.store().revocation(&serial).await?.is_some() {
            return Err(AcmeError::new(
                ProblemKind::AlreadyRevoked,
                format!("certificate {serial} is already revoked"),
            ));
        }
        let who = match (&r.jwk, &r.account) {
            (Some(jwk), _) => {
                let cert_key = mayfly_template::certificate_public_key(&cert)
                    .map_err(|e| AcmeError::malformed(format!("certificate key: {e}")))?;
                if jwk.to_public_key()? != cert_key {
                    return Err(AcmeError::unauthorized(
                        "the JWS key is not the certificate's key",
                    ));
                }
                "acme certificate key".to_owned()
            }
            (None, Some((account, _))) => {
                let mut owns = false;
                for order in self
                    .store()
                    .objects_of(AcmeKind::Order, &account.id)
                    .await?
                {
                    let order: OrderDoc = doc(&order)?;
                    owns |= order.certificate.as_deref() == Some(serial.as_str());
                }
                if owns {
                    format!("acme account {}", account.id)
                } else {
                    self.authorized_for_every_name(&account.id, &cert).await?;
                    format!("acme account {} (authorized for every name)", account.id)
                }
            }
            (None, None) => return Err(AcmeError::malformed("revokeCert must be signed")),
        };
        self.inner
            .authority
            .revoke(RevokeRequest {
                serial,
                reason_code: reason,
                reason: String::new(),
                auth: RevokeAuth::Verified(who),
            })
            .await?;
        Ok(AcmeHttpResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        })
    }

    /// Checks that `account` holds a valid, unexpired authorization for every name of
    /// `cert` (compared as the identifiers' SANs, so `*.a.test` only covers `*.a.test`);
    /// otherwise the `unauthorized` error names the first name it lacks.
    async fn authorized_for_every_name(
        &self,
        account: &str,
        cert: &Certificate,
    ) -> Result<(), AcmeError> {
        let sans = mayfly_template::certificate_sans(cert)
            .map_err(|e| AcmeError::malformed(format!("certificate: {e}")))?;
        // A certificate without names would be covered vacuously.
        if sans.is_empty() {
            return Err(AcmeError::unauthorized(
                "the account did not order this certificate, which names no identifier",
            ));
        }
        let now = crate::service::now();
        let mut authorized = Vec::new();
        for object in self
            .store()
            .objects_of(AcmeKind::Authorization, account)
            .await?
        {
            if object.status == "valid" && object.expires_at > now {
                authorized.push(doc::<AuthzDoc>(&object)?.identifier.to_san());
            }
        }
        match sans.iter().find(|san| !authorized.contains(san)) {
            None => Ok(()),
            Some(san) => Err(AcmeError::unauthorized(format!(
                "the account did not order this certificate and holds no valid authorization for {}",
                san.to_json()
            ))),
        }
    }
}

//! Revocation and its publication: `Authority::revoke`, the CRL and OCSP answers.

use std::collections::{HashMap, HashSet};

use mayfly_crl::{CertStatus, CrlBuilder, OcspRequest, OcspResponder, Reason, RevokedCert, Serial};
use mayfly_jwt::Operation;
use mayfly_store::{
    CertificateStore, CrlRecord, CrlStateStore, RevocationRecord, RevocationStore, TokenReplay,
};
use mayfly_template::Certificate;
use time::OffsetDateTime;

use crate::AuthorityError;
use crate::authority::Authority;
use crate::{lock, x509};

/// How a revocation is authorized.
#[derive(Clone, Debug)]
pub enum RevokeAuth {
    /// A one-time token for `/1.0/revoke` whose subject is the serial.
    Token(String),
    /// The certificate itself, presented over mTLS (its serial must be the one revoked).
    Certificate(Box<Certificate>),
    /// The caller checked the requester's right itself (the ACME layer: the account owns
    /// the certificate, or the request is signed by its key); the text says who.
    Verified(String),
}

/// A revocation request.
#[derive(Clone, Debug)]
pub struct RevokeRequest {
    /// The serial to revoke: hex (`0x` optional) or decimal, as step sends it.
    pub serial: String,
    /// The RFC 5280 CRLReason code (0 unspecified when absent).
    pub reason_code: Option<u8>,
    /// A free-text reason, kept in the store.
    pub reason: String,
    /// The proof that the requester may revoke it.
    pub auth: RevokeAuth,
}

impl Authority {
    /// Revokes a certificate this CA issued, durably, then publishes a new CRL (unless
    /// `crl.generateOnRevoke` is false). Revoking again is idempotent.
    ///
    /// A serial the store has no certificate for is refused (404), whoever asks: a token would
    /// otherwise put any number it names on the CRL for good, with no expiry to drop it by
    /// (the hostile corpus in `tests/corpus` holds such requests).
    pub async fn revoke(&self, request: RevokeRequest) -> Result<RevocationRecord, AuthorityError> {
        let result = self.revoke_checked(&request).await;
        match &result {
            Ok(record) => {
                self.audit(
                    "revoke",
                    None,
                    Some(&record.serial),
                    None,
                    format!(
                        "by {}: reason {} {}",
                        record.revoked_by, record.reason, record.reason_text
                    ),
                )
                .await;
            }
            Err(e) => {
                self.audit_refusal(e, Some(&request.serial), None, format!("revoke: {e}"))
                    .await;
            }
        }
        result
    }

    /// Checks and stores the revocation, then publishes the CRL.
    async fn revoke_checked(
        &self,
        request: &RevokeRequest,
    ) -> Result<RevocationRecord, AuthorityError> {
        let serial = x509::parse_serial(&request.serial)?;
        let reason = request.reason_code.unwrap_or(0);
        if reason == 7 || Reason::from_code(reason).is_none() {
            return Err(AuthorityError::BadRequest(format!(
                "invalid revocation reason code {reason}"
            )));
        }
        if request.reason.len() > 1024 {
            return Err(AuthorityError::BadRequest(
                "the revocation reason is longer than 1024 bytes".into(),
            ));
        }
        let revoked_by = match &request.auth {
            RevokeAuth::Token(token) => {
                let state = self.state()?;
                let claims = self.validate_token(&state, token, Operation::Revoke)?;
                if x509::parse_serial(&claims.subject).ok().as_deref() != Some(serial.as_str()) {
                    return Err(AuthorityError::Unauthorized(format!(
                        "the token's subject {:?} is not the serial being revoked",
                        claims.subject
                    )));
                }
                if !self
                    .store
                    .record_token(claims.jti.clone(), claims.expires_at)
                    .await?
                {
                    return Err(AuthorityError::Unauthorized(
                        "the token has already been used".into(),
                    ));
                }
                format!("provisioner {}", claims.issuer)
            }
            RevokeAuth::Certificate(peer) => {
                x509::verify_issued_by(peer, &self.ca.intermediate)?;
                if x509::serial_hex(peer) != serial {
                    return Err(AuthorityError::Forbidden(
                        "a client certificate can only revoke itself".into(),
                    ));
                }
                "mtls".to_owned()
            }
            RevokeAuth::Verified(who) => who.clone(),
        };
        let certificate = self.store.certificate(&serial).await?.ok_or_else(|| {
            AuthorityError::NotFound(format!(
                "no certificate with serial {serial} was issued by this CA"
            ))
        })?;
        if certificate.issuer != self.ca.issuer_id {
            return Err(AuthorityError::NotFound(format!(
                "certificate {serial} was issued by another intermediate of this CA"
            )));
        }
        let record = self
            .store
            .revoke(RevocationRecord {
                serial,
                revoked_at: crate::now_unix(),
                reason: i64::from(reason),
                reason_text: request.reason.clone(),
                revoked_by,
                issuer: self.ca.issuer_id.clone(),
                not_after: Some(certificate.not_after),
            })
            .await?;
        if self.state()?.crl_on_revoke {
            self.publish_crl().await?;
        }
        Ok(record)
    }

    /// The current CRL (DER), building one when none exists or the last is due for renewal
    /// (`crl.renewPeriod` after its thisUpdate).
    pub async fn crl(&self) -> Result<Vec<u8>, AuthorityError> {
        match self.store.last_crl(&self.ca.issuer_id).await? {
            Some(last) if !self.state()?.crl_due(last.this_update, crate::now_unix()) => {
                Ok(last.der)
            }
            _ => self.publish_crl().await,
        }
    }

    /// Regenerates the CRL when it is due (call it periodically).
    pub async fn refresh_crl_if_due(&self) -> Result<(), AuthorityError> {
        self.crl().await.map(drop)
    }

    /// Publishes a CRL of every unexpired revocation, under the store's CRL lock so instances
    /// sharing a database (and concurrent calls in one) number their CRLs monotonically. When the last CRL (typically one
    /// another instance published while this one waited for the lock) is not due and already
    /// lists every revocation, it is returned instead of a redundant new one.
    pub async fn publish_crl(&self) -> Result<Vec<u8>, AuthorityError> {
        let issuer = &self.ca.issuer_id;
        lock::while_locked(&self.store, issuer, async {
            let now = crate::now_unix();
            let revoked = self.store.list_revoked(issuer, now).await?;
            if let Some(last) = self.store.last_crl(issuer).await?
                && !self.state()?.crl_due(last.this_update, now)
                && lists_all(&last.der, &revoked)?
            {
                return Ok(last.der);
            }
            self.build_crl(now, &revoked).await
        })
        .await
    }

    /// Builds, signs and stores a new CRL listing `revoked`, with thisUpdate `now`.
    async fn build_crl(
        &self,
        now: i64,
        revoked: &[RevocationRecord],
    ) -> Result<Vec<u8>, AuthorityError> {
        let internal = |e: mayfly_crl::CrlError| AuthorityError::Internal(format!("CRL: {e}"));
        let number = self
            .store
            .next_crl_number(self.ca.issuer_id.clone())
            .await?;
        let number_bytes = u64::try_from(number).unwrap_or_default().to_be_bytes();
        let this_update = unix_to_offset(now);
        let next_update = this_update + self.state()?.crl_validity;
        let entries = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCert {
                    serial: serial_of(&r.serial)?,
                    revocation_date: unix_to_offset(r.revoked_at),
                    reason: u8::try_from(r.reason).ok().and_then(Reason::from_code),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, AuthorityError>>()?;
        let crl = CrlBuilder::new(
            &self.ca.cert_info,
            this_update,
            next_update,
            Serial::from_be_bytes(&number_bytes).map_err(internal)?,
        )
        .with_entries(entries)
        .sign(self.ca.signer.as_ref())
        .map_err(internal)?;
        let der = crl.into_der();
        self.store
            .store_crl(
                self.ca.issuer_id.clone(),
                CrlRecord {
                    number,
                    der: der.clone(),
                    this_update: now,
                },
            )
            .await?;
        Ok(der)
    }

    /// Answers an OCSP request (DER) with a DER response signed by the intermediate:
    /// `good` for certificates in the store, `revoked` with time and reason, `unknown` else.
    pub async fn ocsp(&self, request_der: &[u8]) -> Result<Vec<u8>, AuthorityError> {
        let Ok(request) = OcspRequest::from_der(request_der) else {
            return Ok(mayfly_crl::OcspError::MalformedRequest.to_der());
        };
        let mut statuses: HashMap<Serial, CertStatus> = HashMap::new();
        for id in request
            .cert_ids
            .iter()
            .filter(|id| id.is_issued_by(&self.ca.cert_info))
        {
            let serial = x509::normalize_serial_bytes(id.serial.as_be_bytes());
            let status = match self.store.revocation(&serial).await? {
                Some(r) => CertStatus::Revoked {
                    time: unix_to_offset(r.revoked_at),
                    reason: u8::try_from(r.reason).ok().and_then(Reason::from_code),
                },
                None if self.store.certificate(&serial).await?.is_some() => CertStatus::Good,
                None => CertStatus::Unknown,
            };
            statuses.insert(id.serial, status);
        }
        let validity = self.state()?.crl_validity;
        let responder = OcspResponder::new(&self.ca.cert_info, self.ca.signer.as_ref())
            .map_err(|e| AuthorityError::Internal(format!("OCSP: {e}")))?
            .with_validity(time::Duration::try_from(validity).unwrap_or(time::Duration::DAY));
        responder
            .respond_to(&request, OffsetDateTime::now_utc(), |serial| {
                statuses
                    .get(&serial)
                    .copied()
                    .unwrap_or(CertStatus::Unknown)
            })
            .map_err(|e| AuthorityError::Internal(format!("OCSP: {e}")))
    }
}

/// Whether the CRL `der` lists every serial of `revoked`.
fn lists_all(der: &[u8], revoked: &[RevocationRecord]) -> Result<bool, AuthorityError> {
    use der::Decode as _;
    let crl = x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der)
        .map_err(|e| AuthorityError::Internal(format!("the stored CRL does not parse: {e}")))?;
    let listed: HashSet<String> = crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|entry| x509::normalize_serial_bytes(entry.serial_number.as_bytes()))
        .collect();
    Ok(revoked.iter().all(|r| listed.contains(&r.serial)))
}

fn serial_of(hex_serial: &str) -> Result<Serial, AuthorityError> {
    Serial::from_hex(hex_serial)
        .map_err(|e| AuthorityError::Internal(format!("stored serial {hex_serial}: {e}")))
}

fn unix_to_offset(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

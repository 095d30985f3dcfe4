//! Orders, authorizations and challenges (RFC 8555 §7.4, §7.5), finalize and download.
//!
//! Every order and authorization is its own store row owned by the account, updated with
//! optimistic concurrency: one account may run any number of orders at once, on any number
//! of instances, and none is lost (no per-account order list to rewrite).

use std::time::{Duration, UNIX_EPOCH};

use mayfly_authority::{AuthorityError, ValidityWindow};
use mayfly_store::{AcmeKind, AcmeObject, AcmeStore, CertificateStore};
use serde_json::{Value, json};

use crate::account::UPDATE_RETRIES;
use crate::error::{AcmeError, ProblemKind};
use crate::model::{
    AuthzDoc, ChallengeDoc, Identifier, OrderDoc, challenge_json, doc, parse_rfc3339, rfc3339,
    to_data,
};
use crate::service::{AcmeHttpResponse, AcmeService, Request, now};

/// The most identifiers one order may hold.
pub const MAX_IDENTIFIERS: usize = 100;

/// The challenge types Mayfly validates.
pub const CHALLENGE_TYPES: [&str; 3] = ["http-01", "dns-01", "tls-alpn-01"];

/// Seconds a client should wait before polling a processing object.
const RETRY_AFTER: &str = "1";

/// How long a challenge POST waits for a validation's first check before answering
/// `processing`.
const FIRST_CHECK_WAIT: Duration = Duration::from_secs(3);

/// Where a validation that ends at its first check sends the authorization it recorded.
type FirstCheck = tokio::sync::oneshot::Receiver<(AcmeObject, AuthzDoc)>;

/// Seconds after its longest validation (every attempt and pause) a challenge still
/// `processing` is taken as abandoned by a CA that stopped mid-way, and validated again.
const ABANDONED_AFTER_SECS: i64 = 60;

impl AcmeService {
    pub(crate) async fn new_order(&self, r: &Request<'_>) -> Result<AcmeHttpResponse, AcmeError> {
        let (account, _) = r.account()?;
        let payload = r.json()?;
        let requested: Vec<Identifier> = payload
            .get("identifiers")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| AcmeError::malformed(format!("identifiers: {e}")))?
            .unwrap_or_default();
        if requested.is_empty() || requested.len() > MAX_IDENTIFIERS {
            return Err(AcmeError::malformed(format!(
                "an order needs 1 to {MAX_IDENTIFIERS} identifiers"
            )));
        }
        let mut identifiers: Vec<Identifier> = Vec::with_capacity(requested.len());
        for id in &requested {
            let id = id.normalized()?;
            if !identifiers.contains(&id) {
                identifiers.push(id);
            }
        }
        let time_field = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_str)
                .map(parse_rfc3339)
                .transpose()
        };
        // Refuse now the names finalize could never issue, before any challenge is solved.
        let sans: Vec<_> = identifiers.iter().map(Identifier::to_san).collect();
        self.inner
            .authority
            .check_acme_identifiers(&r.provisioner.name, &sans)
            .map_err(|e| AcmeError::new(ProblemKind::RejectedIdentifier, e.to_string()))?;
        let (not_before, not_after) = (time_field("notBefore")?, time_field("notAfter")?);
        // Refuse now what finalize could never issue (RFC 8555 section 7.4).
        self.inner
            .authority
            .check_acme_validity(&r.provisioner.name, window(not_before, not_after))
            .map_err(|e| AcmeError::malformed(format!("notBefore/notAfter: {e}")))?;
        let (not_before, not_after) = (not_before.map(rfc3339), not_after.map(rfc3339));
        let expires_at =
            now() + i64::try_from(self.inner.options.order_lifetime.as_secs()).unwrap_or(86_400);
        let expires = rfc3339(expires_at);
        let mut authz_ids = Vec::with_capacity(identifiers.len());
        // The order and its authorizations, created in one transaction.
        let mut objects = Vec::with_capacity(identifiers.len() + 1);
        for identifier in &identifiers {
            let kinds = self.challenge_types(r, identifier)?;
            let authz = AuthzDoc {
                identifier: identifier.clone(),
                expires: expires.clone(),
                challenges: kinds
                    .into_iter()
                    .map(|kind| ChallengeDoc {
                        kind: kind.into(),
                        token: crate::b64(&mayfly_keys::random_bytes::<32>()),
                        status: "pending".into(),
                        validated: None,
                        error: None,
                        processing_since: None,
                    })
                    .collect(),
            };
            let id = crate::b64(&mayfly_keys::random_bytes::<16>());
            objects.push((
                AcmeKind::Authorization,
                AcmeObject {
                    id: id.clone(),
                    owner: account.id.clone(),
                    status: "pending".into(),
                    expires_at,
                    data: to_data(&authz),
                    revision: 1,
                },
            ));
            authz_ids.push(id);
        }
        let order = OrderDoc {
            provisioner: r.provisioner.name.clone(),
            identifiers,
            authorizations: authz_ids,
            expires,
            not_before,
            not_after,
            certificate: None,
            error: None,
        };
        let object = AcmeObject {
            id: crate::b64(&mayfly_keys::random_bytes::<16>()),
            owner: account.id.clone(),
            status: "pending".into(),
            expires_at,
            data: to_data(&order),
            revision: 1,
        };
        objects.push((AcmeKind::Order, object.clone()));
        self.store().create_objects(objects).await?;
        let url = r.url_of(&format!("/order/{}", object.id));
        Ok(AcmeHttpResponse::json(201, &order_json(r, &object, &order)).with("Location", url))
    }

    /// The challenge types offered for `identifier`: the provisioner's list (all when empty),
    /// dns-01 only for wildcards, no dns-01 for IP addresses (RFC 8738).
    fn challenge_types(
        &self,
        r: &Request<'_>,
        identifier: &Identifier,
    ) -> Result<Vec<&'static str>, AcmeError> {
        let allowed = &r.provisioner.challenges;
        let kinds: Vec<&'static str> = CHALLENGE_TYPES
            .into_iter()
            .filter(|k| allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(k)))
            .filter(|k| !identifier.is_wildcard() || *k == "dns-01")
            .filter(|k| identifier.kind != "ip" || *k != "dns-01")
            .collect();
        if kinds.is_empty() {
            return Err(AcmeError::new(
                ProblemKind::RejectedIdentifier,
                format!(
                    "no challenge type this provisioner allows can validate {:?}",
                    identifier.value
                ),
            ));
        }
        Ok(kinds)
    }

    /// An object of the requester's account (404 for others').
    async fn owned(
        &self,
        r: &Request<'_>,
        kind: AcmeKind,
        id: &str,
    ) -> Result<AcmeObject, AcmeError> {
        let (account, _) = r.account()?;
        self.store()
            .object(kind, id)
            .await?
            .filter(|o| o.owner == account.id)
            .ok_or_else(|| AcmeError::not_found(format!("no such object {id:?}")))
    }

    /// Loads an order and the status its authorizations and expiry give it now (pending ->
    /// ready / invalid), which may not be stored yet.
    async fn order_as_is(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<(AcmeObject, OrderDoc, String), AcmeError> {
        let object = self.owned(r, AcmeKind::Order, id).await?;
        let order: OrderDoc = doc(&object)?;
        if order.provisioner != r.provisioner.name {
            return Err(AcmeError::not_found(format!("no such order {id:?}")));
        }
        let status = match object.status.as_str() {
            "pending" | "ready" if object.expires_at <= now() => "invalid",
            "pending" => {
                let mut all_valid = true;
                let mut any_invalid = false;
                for authz_id in &order.authorizations {
                    let status = self
                        .store()
                        .object(AcmeKind::Authorization, authz_id)
                        .await?
                        .map(|a| a.status);
                    all_valid &= status.as_deref() == Some("valid");
                    any_invalid |= matches!(
                        status.as_deref(),
                        Some("invalid" | "deactivated" | "revoked" | "expired") | None
                    );
                }
                if any_invalid {
                    "invalid"
                } else if all_valid {
                    "ready"
                } else {
                    "pending"
                }
            }
            other => other,
        }
        .to_owned();
        Ok((object, order, status))
    }

    /// Loads an order and stores its status brought up to date ([`Self::order_as_is`]).
    async fn current_order(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<(AcmeObject, OrderDoc), AcmeError> {
        for _ in 0..UPDATE_RETRIES {
            let (mut object, order, new_status) = self.order_as_is(r, id).await?;
            if new_status == object.status {
                return Ok((object, order));
            }
            object.status = new_status;
            if self
                .store()
                .update_object(AcmeKind::Order, object.clone())
                .await?
            {
                object.revision += 1;
                return Ok((object, order));
            }
        }
        Err(AcmeError::new(
            ProblemKind::ServerInternal,
            "the order is being changed concurrently",
        ))
    }

    pub(crate) async fn get_order(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        let (object, order) = self.current_order(r, id).await?;
        Ok(AcmeHttpResponse::json(200, &order_json(r, &object, &order)))
    }

    pub(crate) async fn finalize(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        // A pending order whose authorizations are all valid goes to `valid` in the
        // certificate's transaction without storing `ready` first.
        let (mut object, mut order, status) = self.order_as_is(r, id).await?;
        if status != "ready" {
            return Err(AcmeError::new(
                ProblemKind::OrderNotReady,
                format!("the order is {status}, not ready"),
            ));
        }
        let csr = r
            .json()?
            .get("csr")
            .and_then(Value::as_str)
            .and_then(crate::unb64)
            .ok_or_else(|| AcmeError::malformed("finalize needs csr: base64url DER"))?;
        let sans: Vec<_> = order.identifiers.iter().map(Identifier::to_san).collect();
        let stored_time = |t: &Option<String>| t.as_deref().map(parse_rfc3339).transpose();
        let window = window(
            stored_time(&order.not_before)?,
            stored_time(&order.not_after)?,
        );
        // Issued synchronously: the order turns valid in the certificate's own transaction,
        // if it is still at the revision read above, so it is never seen `processing` and a
        // CA stopping mid-way leaves it `ready`.
        let account_key = crate::service::stored_jwk(&r.account()?.1.key)?.to_public_key()?;
        let mut valid = order.clone();
        let issued = self
            .inner
            .authority
            .sign_acme(
                &r.provisioner.name,
                &csr,
                &sans,
                window,
                &account_key,
                |serial| {
                    valid.certificate = Some(serial.to_owned());
                    AcmeObject {
                        status: "valid".into(),
                        data: to_data(&valid),
                        ..object.clone()
                    }
                },
            )
            .await;
        match issued {
            Ok(_) => {
                object.status = "valid".into();
                object.revision += 1;
                order = valid;
            }
            Err(AuthorityError::Conflict(_)) => {
                return Err(AcmeError::new(
                    ProblemKind::OrderNotReady,
                    "the order was finalized by another request meanwhile",
                ));
            }
            // A bad CSR leaves the order ready for another attempt.
            Err(AuthorityError::Forbidden(detail)) => {
                return Err(AcmeError::new(ProblemKind::RejectedIdentifier, detail));
            }
            Err(e) if e.status() < 500 => {
                return Err(AcmeError::new(ProblemKind::BadCsr, e.to_string()));
            }
            // Storage unavailable: nothing was stored, the order stays ready for a retry.
            Err(e @ AuthorityError::Unavailable(_)) => return Err(e.into()),
            // Any other CA failure ends the order (RFC 8555 section 7.4).
            Err(e) => {
                let error = AcmeError::from(e);
                object.status = "invalid".into();
                order.error = Some(error.to_json());
                object.data = to_data(&order);
                self.store().update_object(AcmeKind::Order, object).await?;
                return Err(error);
            }
        }
        let url = r.url_of(&format!("/order/{}", object.id));
        Ok(AcmeHttpResponse::json(200, &order_json(r, &object, &order)).with("Location", url))
    }

    pub(crate) async fn get_authz(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        let mut object = self.owned(r, AcmeKind::Authorization, id).await?;
        let mut authz: AuthzDoc = doc(&object)?;
        let payload = r.json()?;
        if payload.get("status").and_then(Value::as_str) == Some("deactivated") {
            object.status = "deactivated".into();
            if !self
                .store()
                .update_object(AcmeKind::Authorization, object.clone())
                .await?
            {
                return Err(AcmeError::malformed(
                    "the authorization changed meanwhile: retry",
                ));
            }
        } else if object.status == "pending" && object.expires_at <= now() {
            object.status = "expired".into();
        } else if let Some(index) = self.abandoned_validation(&object, &authz) {
            (object, authz, _) = self.start_validation(r, object, authz, index).await?;
        }
        Ok(AcmeHttpResponse::json(200, &authz_json(r, &object, &authz)))
    }

    pub(crate) async fn challenge(
        &self,
        r: &Request<'_>,
        authz_id: &str,
        kind: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        let object = self.owned(r, AcmeKind::Authorization, authz_id).await?;
        let mut authz: AuthzDoc = doc(&object)?;
        let index = authz
            .challenges
            .iter()
            .position(|c| c.kind == kind)
            .ok_or_else(|| AcmeError::not_found(format!("no {kind} challenge here")))?;
        let respond = r.payload.as_slice() != b"" && r.json()?.is_object();
        if respond && object.status == "pending" && authz.challenges[index].status == "pending" {
            if object.expires_at <= now() {
                return Err(AcmeError::malformed("the authorization has expired"));
            }
            authz = self.validate_and_wait(r, object, authz, index).await?;
        } else if let Some(abandoned) = self.abandoned_validation(&object, &authz) {
            authz = self.validate_and_wait(r, object, authz, abandoned).await?;
        }
        let challenge = &authz.challenges[index];
        let url = r.url_of(&format!("/chall/{authz_id}/{kind}"));
        let up = format!("<{}>;rel=\"up\"", r.url_of(&format!("/authz/{authz_id}")));
        let response =
            AcmeHttpResponse::json(200, &challenge_json(challenge, url)).with("Link", up);
        Ok(if challenge.status == "processing" {
            response.with("Retry-After", RETRY_AFTER)
        } else {
            response
        })
    }

    /// [`Self::start_validation`], then up to [`FIRST_CHECK_WAIT`] for a validation that ends
    /// at its first check: the authorization as it then stands. Most validations take a few
    /// milliseconds, so the client's first poll usually finds the outcome instead of waiting
    /// its poll interval (seconds, for most clients).
    async fn validate_and_wait(
        &self,
        r: &Request<'_>,
        object: AcmeObject,
        authz: AuthzDoc,
        index: usize,
    ) -> Result<AuthzDoc, AcmeError> {
        let (_, started, outcome) = self.start_validation(r, object, authz, index).await?;
        let Some(outcome) = outcome else {
            return Ok(started);
        };
        Ok(
            match tokio::time::timeout(FIRST_CHECK_WAIT, outcome).await {
                Ok(Ok((_, done))) => done,
                // Retrying, or slower than the wait: `processing`.
                _ => started,
            },
        )
    }

    /// Marks challenge `index` `processing` and validates it in the background (see
    /// [`Self::spawn_validation`] for the receiver), unless another request or instance won
    /// the race to change the authorization (then returns its current state).
    async fn start_validation(
        &self,
        r: &Request<'_>,
        mut object: AcmeObject,
        mut authz: AuthzDoc,
        index: usize,
    ) -> Result<(AcmeObject, AuthzDoc, Option<FirstCheck>), AcmeError> {
        let challenge = &mut authz.challenges[index];
        challenge.status = "processing".into();
        challenge.processing_since = Some(now());
        object.data = to_data(&authz);
        if !self
            .store()
            .update_object(AcmeKind::Authorization, object.clone())
            .await?
        {
            let current = self.owned(r, AcmeKind::Authorization, &object.id).await?;
            let authz = doc(&current)?;
            return Ok((current, authz, None));
        }
        object.revision += 1;
        let (account, account_doc) = r.account()?;
        let kind = &authz.challenges[index].kind;
        tracing::debug!(account = %account.id, authz = %object.id, kind = %kind, "validating");
        let outcome = self.spawn_validation(
            object.clone(),
            index,
            crate::service::stored_jwk(&account_doc.key)?,
            r.provisioner.validation.clone().unwrap_or_default(),
        );
        Ok((object, authz, Some(outcome)))
    }

    /// The challenge of a pending authorization left `processing` by a CA that stopped
    /// before recording the outcome: longer than every attempt and pause of a validation,
    /// plus [`ABANDONED_AFTER_SECS`].
    fn abandoned_validation(&self, object: &AcmeObject, authz: &AuthzDoc) -> Option<usize> {
        if object.status != "pending" || object.expires_at <= now() {
            return None;
        }
        let options = &self.inner.options;
        let attempts = options.validation_attempts.max(1);
        let longest = options.validation_timeout * attempts + options.retry_delay * (attempts - 1);
        let after = i64::try_from(longest.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(ABANDONED_AFTER_SECS);
        authz.challenges.iter().position(|c| {
            c.status == "processing" && c.processing_since.is_some_and(|t| now() - t > after)
        })
    }

    /// The certificate chain of order `id` (PEM: leaf, then intermediates).
    pub(crate) async fn certificate(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        let object = self.owned(r, AcmeKind::Order, id).await?;
        let order: OrderDoc = doc(&object)?;
        if order.provisioner != r.provisioner.name {
            return Err(AcmeError::not_found(format!("no such order {id:?}")));
        }
        let serial = order
            .certificate
            .ok_or_else(|| AcmeError::not_found("the order has no certificate yet"))?;
        let der = self
            .store()
            .certificate(&serial)
            .await?
            .and_then(|c| c.der)
            .ok_or_else(|| AcmeError::not_found("the certificate is no longer stored"))?;
        let mut pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
            .map_err(|e| AcmeError::new(ProblemKind::ServerInternal, e.to_string()))?;
        for intermediate in self.inner.authority.intermediates() {
            pem.push_str(
                &mayfly_template::certificate_to_pem(intermediate)
                    .map_err(|e| AcmeError::new(ProblemKind::ServerInternal, e.to_string()))?,
            );
        }
        Ok(AcmeHttpResponse {
            status: 200,
            headers: vec![(
                "Content-Type".into(),
                "application/pem-certificate-chain".into(),
            )],
            body: pem.into_bytes(),
        })
    }
}

fn order_json(r: &Request<'_>, object: &AcmeObject, order: &OrderDoc) -> Value {
    let mut v = json!({
        "status": object.status,
        "expires": order.expires,
        "identifiers": order.identifiers,
        "authorizations": order.authorizations.iter().map(|a| r.url_of(&format!("/authz/{a}"))).collect::<Vec<_>>(),
        "finalize": r.url_of(&format!("/order/{}/finalize", object.id)),
    });
    if let Some(t) = &order.not_before {
        v["notBefore"] = json!(t);
    }
    if let Some(t) = &order.not_after {
        v["notAfter"] = json!(t);
    }
    if order.certificate.is_some() {
        v["certificate"] = json!(r.url_of(&format!("/cert/{}", object.id)));
    }
    if let Some(e) = &order.error {
        v["error"] = e.clone();
    }
    v
}

fn authz_json(r: &Request<'_>, object: &AcmeObject, authz: &AuthzDoc) -> Value {
    let wildcard = authz.identifier.is_wildcard();
    let identifier = Identifier {
        kind: authz.identifier.kind.clone(),
        value: authz.identifier.value.trim_start_matches("*.").to_owned(),
    };
    let challenges: Vec<Value> = authz
        .challenges
        .iter()
        .filter(|c| object.status == "pending" || c.status != "pending")
        .map(|c| challenge_json(c, r.url_of(&format!("/chall/{}/{}", object.id, c.kind))))
        .collect();
    let mut v = json!({
        "identifier": identifier,
        "status": object.status,
        "expires": authz.expires,
        "challenges": challenges,
    });
    if wildcard {
        v["wildcard"] = json!(true);
    }
    v
}

/// The validity window of an order's `notBefore`/`notAfter` (unix seconds).
fn window(not_before: Option<i64>, not_after: Option<i64>) -> ValidityWindow {
    let at = |t: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    ValidityWindow {
        not_before: not_before.map(at),
        not_after: not_after.map(at),
    }
}

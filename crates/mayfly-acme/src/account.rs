//! Accounts (RFC 8555 §7.3): newAccount (with `onlyReturnExisting` and external account
//! binding), update, deactivation, key rollover, the orders list.

use mayfly_jwt::{Jwk, verify_eab};
use mayfly_store::{AcmeKind, AcmeObject, AcmeStore, StoreError};
use serde_json::{Value, json};

use crate::error::{AcmeError, ProblemKind};
use crate::model::{AccountDoc, OrderDoc, doc, rfc3339, to_data};
use crate::service::{AcmeHttpResponse, AcmeService, Request, now, stored_jwk};

/// How many times a conflicting update is re-read and retried.
pub(crate) const UPDATE_RETRIES: usize = 16;

fn account_json(r: &Request<'_>, id: &str, object: &AcmeObject, account: &AccountDoc) -> Value {
    json!({
        "status": object.status,
        "contact": account.contact,
        "orders": r.url_of(&format!("/account/{id}/orders")),
        "createdAt": account.created_at,
    })
}

/// The store's unique key of an account key: one account per key and provisioner.
fn key_owner(provisioner: &str, thumbprint: &str) -> String {
    format!("{provisioner}/{thumbprint}")
}

fn contacts(payload: &Value) -> Result<Option<Vec<String>>, AcmeError> {
    let Some(list) = payload.get("contact") else {
        return Ok(None);
    };
    let list: Vec<String> = serde_json::from_value(list.clone())
        .map_err(|_| AcmeError::malformed("contact must be a list of URLs"))?;
    for c in &list {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(AcmeError::new(
                ProblemKind::UnsupportedContact,
                format!("{c:?} is not a mailto: URL"),
            ));
        };
        if addr.contains(',') || !addr.contains('@') || addr.len() > 254 {
            return Err(AcmeError::new(
                ProblemKind::UnsupportedContact,
                format!("{c:?} is not one e-mail address"),
            ));
        }
    }
    Ok(Some(list))
}

impl AcmeService {
    /// The account whose current key has this thumbprint (following rollover aliases).
    async fn account_by_thumbprint(
        &self,
        thumbprint: &str,
        provisioner: &str,
    ) -> Result<Option<(AcmeObject, AccountDoc)>, AcmeError> {
        for row in self
            .store()
            .objects_of(AcmeKind::Account, &key_owner(provisioner, thumbprint))
            .await?
        {
            let d: AccountDoc = doc(&row)?;
            let (object, account) = match &d.alias_of {
                Some(target) => match self.load_account(target, provisioner).await {
                    Ok(found) => found,
                    Err(AcmeError::Problem {
                        kind: ProblemKind::AccountDoesNotExist,
                        ..
                    }) => continue,
                    Err(e) => return Err(e),
                },
                None => (row, d),
            };
            if account.thumbprint == thumbprint && account.provisioner == provisioner {
                return Ok(Some((object, account)));
            }
        }
        Ok(None)
    }

    pub(crate) async fn new_account(&self, r: &Request<'_>) -> Result<AcmeHttpResponse, AcmeError> {
        let jwk = r
            .jwk
            .as_ref()
            .ok_or_else(|| AcmeError::malformed("newAccount must be signed with a jwk"))?;
        let thumbprint = jwk.thumbprint()?;
        let payload = r.json()?;
        let name = &r.provisioner.name;
        if let Some((object, account)) = self.account_by_thumbprint(&thumbprint, name).await? {
            // RFC 8555 section 7.3.6: a deactivated account's requests are unauthorized.
            if object.status != "valid" {
                return Err(AcmeError::unauthorized(format!(
                    "the account with this key is {}",
                    object.status
                )));
            }
            let url = r.url_of(&format!("/account/{}", object.id));
            return Ok(AcmeHttpResponse::json(
                200,
                &account_json(r, &object.id, &object, &account),
            )
            .with("Location", url));
        }
        if payload.get("onlyReturnExisting").and_then(Value::as_bool) == Some(true) {
            return Err(AcmeError::new(
                ProblemKind::AccountDoesNotExist,
                "no account has this key",
            ));
        }
        let contact = contacts(&payload)?.unwrap_or_default();
        let id = crate::b64(&mayfly_keys::random_bytes::<16>());
        let eab_key_id = match payload.get("externalAccountBinding") {
            Some(eab) => Some(self.check_eab(r, eab, jwk).await?),
            None if r.provisioner.require_eab => {
                return Err(AcmeError::new(
                    ProblemKind::ExternalAccountRequired,
                    format!("provisioner {name:?} requires an external account binding"),
                ));
            }
            None => None,
        };
        let account = AccountDoc {
            provisioner: name.clone(),
            key: serde_json::from_str(&jwk.to_public().to_json()?)
                .map_err(|e| AcmeError::malformed(format!("jwk: {e}")))?,
            thumbprint: thumbprint.clone(),
            contact,
            created_at: rfc3339(now()),
            eab_key_id,
            alias_of: None,
        };
        let object = AcmeObject {
            id: id.clone(),
            owner: key_owner(&r.provisioner.name, &thumbprint),
            status: "valid".into(),
            expires_at: 0,
            data: to_data(&account),
            revision: 1,
        };
        // Bound to its EAB key in the same transaction: a failed insert leaves the key unused.
        match self
            .store()
            .create_account(object.clone(), account.eab_key_id.clone())
            .await
        {
            Ok(()) => {}
            Err(StoreError::Changed { .. }) => {
                return Err(AcmeError::unauthorized(
                    "external account binding: the key has already been used",
                ));
            }
            Err(StoreError::AlreadyExists { .. }) => {
                // The same key registered concurrently: answer with that account.
                let (object, account) = self
                    .account_by_thumbprint(&thumbprint, name)
                    .await?
                    .ok_or_else(|| {
                        AcmeError::malformed("this key is already used by another account")
                    })?;
                let url = r.url_of(&format!("/account/{}", object.id));
                return Ok(AcmeHttpResponse::json(
                    200,
                    &account_json(r, &object.id, &object, &account),
                )
                .with("Location", url));
            }
            Err(e) => return Err(e.into()),
        }
        let url = r.url_of(&format!("/account/{id}"));
        Ok(
            AcmeHttpResponse::json(201, &account_json(r, &id, &object, &account))
                .with("Location", url),
        )
    }

    /// Verifies an external account binding and returns its key id, to be bound when the
    /// account is stored.
    async fn check_eab(
        &self,
        r: &Request<'_>,
        eab: &Value,
        jwk: &Jwk,
    ) -> Result<String, AcmeError> {
        let unauthorized =
            |why: &str| AcmeError::unauthorized(format!("external account binding: {why}"));
        let protected = eab
            .get("protected")
            .and_then(Value::as_str)
            .and_then(crate::unb64)
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .ok_or_else(|| {
                AcmeError::malformed("external account binding has no readable protected header")
            })?;
        let kid = protected
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| AcmeError::malformed("external account binding has no kid"))?;
        let key = self
            .store()
            .eab_key(kid)
            .await?
            .filter(|k| k.provisioner == r.provisioner.name)
            .ok_or_else(|| unauthorized("unknown key id"))?;
        if key.bound_account.is_some() {
            return Err(unauthorized("the key has already been used"));
        }
        verify_eab(eab, jwk, &r.url, |_| Some(key.hmac_key.clone()))
            .map_err(|e| unauthorized(&e.to_string()))
    }

    /// Applies `change` to account `id` with optimistic concurrency.
    async fn modify_account(
        &self,
        r: &Request<'_>,
        id: &str,
        change: impl Fn(&mut AcmeObject, &mut AccountDoc),
    ) -> Result<(AcmeObject, AccountDoc), AcmeError> {
        let mut current = r.account()?.clone();
        for _ in 0..UPDATE_RETRIES {
            let (mut object, mut account) = current;
            change(&mut object, &mut account);
            object.data = to_data(&account);
            if self
                .store()
                .update_object(AcmeKind::Account, object.clone())
                .await?
            {
                object.revision += 1;
                return Ok((object, account));
            }
            current = self.load_account(id, &r.provisioner.name).await?;
        }
        Err(AcmeError::new(
            ProblemKind::ServerInternal,
            "the account is being changed concurrently",
        ))
    }

    fn own_account<'r>(
        r: &'r Request<'_>,
        id: &str,
    ) -> Result<&'r (AcmeObject, AccountDoc), AcmeError> {
        let own = r.account()?;
        if own.0.id != id {
            return Err(AcmeError::unauthorized(
                "this is not the requester's account",
            ));
        }
        Ok(own)
    }

    pub(crate) async fn update_account(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        let (object, account) = Self::own_account(r, id)?;
        let payload = r.json()?;
        let contact = contacts(&payload)?;
        let deactivate = match payload.get("status") {
            None => false,
            Some(Value::String(s)) if s == "deactivated" => true,
            Some(Value::String(s)) if s == "valid" => false,
            Some(other) => {
                return Err(AcmeError::malformed(format!(
                    "cannot set the account status to {other}"
                )));
            }
        };
        let (object, account) = if contact.is_some() || deactivate {
            self.modify_account(r, id, |o, a| {
                if let Some(c) = &contact {
                    a.contact.clone_from(c);
                }
                if deactivate {
                    o.status = "deactivated".into();
                }
            })
            .await?
        } else {
            (object.clone(), account.clone())
        };
        if deactivate {
            self.cancel_pending_work(id).await?;
        }
        Ok(AcmeHttpResponse::json(
            200,
            &account_json(r, id, &object, &account),
        ))
    }

    /// RFC 8555 section 7.3.6: the pending operations of a deactivated account are
    /// cancelled. Its pending authorizations are deactivated (a validation still running then
    /// records nothing) and its unfinished orders become invalid. A concurrent change to one
    /// of them wins: the account can no longer act on it anyway.
    async fn cancel_pending_work(&self, account_id: &str) -> Result<(), AcmeError> {
        for mut authz in self
            .store()
            .objects_of(AcmeKind::Authorization, account_id)
            .await?
        {
            if authz.status == "pending" {
                authz.status = "deactivated".into();
                self.store()
                    .update_object(AcmeKind::Authorization, authz)
                    .await?;
            }
        }
        let error = AcmeError::unauthorized("the account was deactivated").to_json();
        for mut order in self.store().objects_of(AcmeKind::Order, account_id).await? {
            if matches!(order.status.as_str(), "pending" | "ready") {
                let mut d: OrderDoc = doc(&order)?;
                d.error = Some(error.clone());
                order.status = "invalid".into();
                order.data = to_data(&d);
                self.store().update_object(AcmeKind::Order, order).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn list_orders(
        &self,
        r: &Request<'_>,
        id: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        Self::own_account(r, id)?;
        let t = now();
        let mut urls = Vec::new();
        for order in self.store().objects_of(AcmeKind::Order, id).await? {
            let d: OrderDoc = doc(&order)?;
            if d.provisioner == r.provisioner.name
                && (order.expires_at == 0 || order.expires_at > t)
            {
                urls.push(r.url_of(&format!("/order/{}", order.id)));
            }
        }
        Ok(AcmeHttpResponse::json(200, &json!({ "orders": urls })))
    }

    /// Key rollover (§7.3.5): the payload is a JWS by the new key over
    /// `{"account": <url>, "oldKey": <jwk>}`.
    pub(crate) async fn key_change(&self, r: &Request<'_>) -> Result<AcmeHttpResponse, AcmeError> {
        let (object, account) = r.account()?;
        let inner: Value = serde_json::from_slice(&r.payload)
            .map_err(|e| AcmeError::malformed(format!("key change payload: {e}")))?;
        let (new_key, inner_url, payload) = crate::jws::verify_inner(&inner)?;
        if inner_url != r.url {
            return Err(AcmeError::malformed(
                "the inner JWS url differs from the outer one",
            ));
        }
        let account_url = r.url_of(&format!("/account/{}", object.id));
        if payload.get("account").and_then(Value::as_str) != Some(account_url.as_str()) {
            return Err(AcmeError::malformed(
                "key change payload names another account",
            ));
        }
        let old = payload
            .get("oldKey")
            .map(|k| Jwk::from_json(k.to_string().as_bytes()))
            .transpose()?
            .ok_or_else(|| AcmeError::malformed("key change payload lacks oldKey"))?;
        if old.thumbprint()? != stored_jwk(&account.key)?.thumbprint()? {
            return Err(AcmeError::unauthorized(
                "oldKey is not the account's current key",
            ));
        }
        let thumbprint = new_key.thumbprint()?;
        let conflict = |url: String| {
            AcmeHttpResponse::json(409, &json!({"type": ProblemKind::Malformed.urn(), "detail": "the new key is already in use", "status": 409}))
                .with("Location", url)
        };
        if let Some((other, _)) = self
            .account_by_thumbprint(&thumbprint, &r.provisioner.name)
            .await?
        {
            return Ok(conflict(r.url_of(&format!("/account/{}", other.id))));
        }
        // Reserve the new thumbprint (unique across accounts), then switch the key.
        let alias = AccountDoc {
            alias_of: Some(object.id.clone()),
            ..account.clone()
        };
        let created = self
            .store()
            .create_object(
                AcmeKind::Account,
                AcmeObject {
                    id: format!("alias-{}", crate::b64(&mayfly_keys::random_bytes::<16>())),
                    owner: key_owner(&r.provisioner.name, &thumbprint),
                    status: "alias".into(),
                    expires_at: 0,
                    data: to_data(&alias),
                    revision: 1,
                },
            )
            .await;
        if let Err(StoreError::AlreadyExists { .. }) = created {
            return Ok(conflict(account_url));
        }
        created?;
        let key: Value = serde_json::from_str(&new_key.to_public().to_json()?)
            .map_err(|e| AcmeError::malformed(format!("jwk: {e}")))?;
        let (object, account) = self
            .modify_account(r, &object.id.clone(), |_, a| {
                a.key = key.clone();
                a.thumbprint.clone_from(&thumbprint);
            })
            .await?;
        Ok(AcmeHttpResponse::json(
            200,
            &account_json(r, &object.id, &object, &account),
        ))
    }
}

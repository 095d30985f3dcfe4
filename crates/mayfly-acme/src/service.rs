//! [`AcmeService`]: the HTTP-agnostic front door. The server hands it each request under
//! `/acme/{provisioner}/` and sends back what it returns.

use std::sync::Arc;
use std::time::Duration;

use mayfly_authority::Authority;
use mayfly_authority::config::AcmeProvisionerConfig;
use mayfly_jwt::{AcmeJws, AcmeKey, Jwk, JwsError};
use mayfly_store::{AcmeKind, AcmeObject, AcmeStore, EabKey, Store, StoreError};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{AcmeError, ProblemKind};
use crate::model::{AccountDoc, doc};
use crate::nonce::Nonces;

/// Settings of the ACME service.
pub struct AcmeOptions {
    /// The secret nonces are signed with; every instance behind one URL must share it
    /// (see [`AcmeOptions::from_store`]).
    pub nonce_secret: Zeroizing<Vec<u8>>,
    /// How long a new order (and its authorizations) stays usable.
    pub order_lifetime: Duration,
    /// How many times a failing challenge is checked before it is declared invalid.
    pub validation_attempts: u32,
    /// The pause between two checks of a failing challenge.
    pub retry_delay: Duration,
    /// The time limit of one check (connect + response, or one DNS query).
    pub validation_timeout: Duration,
}

impl std::fmt::Debug for AcmeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeOptions")
            .field("order_lifetime", &self.order_lifetime)
            .field("validation_attempts", &self.validation_attempts)
            .field("retry_delay", &self.retry_delay)
            .field("validation_timeout", &self.validation_timeout)
            .finish_non_exhaustive()
    }
}

/// Stores a new external account binding key for `provisioner` (not checked: the caller
/// knows it is an ACME provisioner) and returns its key id and base64url HMAC key.
///
/// Both are pasted into client command lines (`certbot --eab-kid ID --eab-hmac-key KEY`),
/// where a value starting with `-` reads as an option: the id is hex and a key whose
/// encoding would start with `-` is drawn again.
pub async fn add_eab_key(store: &Store, provisioner: &str) -> Result<(String, String), AcmeError> {
    let key_id = hex::encode(mayfly_keys::random_bytes::<16>());
    let (hmac, hmac_b64) = new_eab_hmac_key();
    store
        .add_eab_key(EabKey {
            key_id: key_id.clone(),
            provisioner: provisioner.into(),
            hmac_key: hmac.to_vec(),
            bound_account: None,
        })
        .await?;
    Ok((key_id, hmac_b64))
}

/// A 256-bit HMAC key and its base64url spelling, which never starts with `-`.
fn new_eab_hmac_key() -> (Zeroizing<[u8; 32]>, String) {
    loop {
        let key = Zeroizing::new(mayfly_keys::random_bytes::<32>());
        let encoded = crate::b64(&*key);
        if !encoded.starts_with('-') {
            return (key, encoded);
        }
    }
}

/// The EAB keys of `provisioner` as the admin API and CLI list them (step-ca's shape; the
/// HMAC key is never shown again): `[{"id", "provisioner", "account"}]`.
pub async fn eab_keys_json(store: &Store, provisioner: &str) -> Result<Vec<Value>, AcmeError> {
    Ok(store
        .eab_keys(provisioner)
        .await?
        .iter()
        .map(|k| {
            json!({
                "id": k.key_id,
                "provisioner": k.provisioner,
                "account": k.bound_account.clone().unwrap_or_default(),
            })
        })
        .collect())
}

/// The EAB key id under which the shared nonce secret is kept, already bound and owned by
/// no provisioner (ACME provisioner names cannot contain `:`), so it never binds an account.
const NONCE_SECRET_KEY_ID: &str = "mayfly:acme-nonce-secret";
const NONCE_SECRET_OWNER: &str = "mayfly:internal";

impl AcmeOptions {
    /// Default settings with `nonce_secret`: orders live 24 h; a challenge is checked up to
    /// 3 times, 2 s apart, 10 s each.
    pub fn new(nonce_secret: Zeroizing<Vec<u8>>) -> Self {
        Self {
            nonce_secret,
            order_lifetime: Duration::from_secs(24 * 3600),
            validation_attempts: 3,
            retry_delay: Duration::from_secs(2),
            validation_timeout: Duration::from_secs(10),
        }
    }

    /// Default settings with the nonce secret all instances sharing `store` agree on: the
    /// first instance creates it (32 random bytes), the others read it.
    pub async fn from_store(store: &Store) -> Result<Self, AcmeError> {
        if let Some(key) = store.eab_key(NONCE_SECRET_KEY_ID).await? {
            return Ok(Self::new(Zeroizing::new(key.hmac_key.clone())));
        }
        let created = store
            .add_eab_key(EabKey {
                key_id: NONCE_SECRET_KEY_ID.into(),
                provisioner: NONCE_SECRET_OWNER.into(),
                hmac_key: mayfly_keys::random_bytes::<32>().to_vec(),
                bound_account: Some(NONCE_SECRET_OWNER.into()),
            })
            .await;
        match created {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let key = store.eab_key(NONCE_SECRET_KEY_ID).await?.ok_or_else(|| {
            AcmeError::new(ProblemKind::ServerInternal, "the nonce secret vanished")
        })?;
        Ok(Self::new(Zeroizing::new(key.hmac_key.clone())))
    }
}

/// One HTTP request, as the server received it.
#[derive(Clone, Debug)]
pub struct AcmeHttpRequest {
    /// `GET`, `HEAD` or `POST`.
    pub method: String,
    /// The path after the provisioner prefix, with its leading `/` (`/new-order`).
    pub path: String,
    /// The provisioner named in the URL.
    pub provisioner: String,
    /// The absolute URL of the provisioner prefix, without a trailing `/`
    /// (`https://ca.example:9000/acme/acme`): every URL the service hands out starts with it,
    /// and a JWS `url` must equal it plus `path`.
    pub base_url: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The response to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeHttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers (`Replay-Nonce`, `Location`, `Link`, `Retry-After`, `Content-Type`, ...).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl AcmeHttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The ACME server of every ACME provisioner of one [`Authority`]. Cheap to clone.
#[derive(Clone)]
pub struct AcmeService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AcmeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeService").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub authority: Arc<Authority>,
    pub nonces: Nonces,
    pub options: AcmeOptions,
}

/// A verified POST: who sent it and what.
pub(crate) struct Request<'a> {
    pub base: &'a str,
    pub provisioner: AcmeProvisionerConfig,
    pub url: String,
    pub payload: Vec<u8>,
    pub jws: AcmeJws,
    /// The account (`kid` requests).
    pub account: Option<(AcmeObject, AccountDoc)>,
    /// The embedded key (`jwk` requests).
    pub jwk: Option<Jwk>,
}

impl Request<'_> {
    /// The payload as JSON (`{}` for POST-as-GET).
    pub fn json(&self) -> Result<Value, AcmeError> {
        if self.payload.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.payload)
            .map_err(|e| AcmeError::malformed(format!("payload is not JSON: {e}")))
    }

    /// The account a `kid` request was signed by.
    pub fn account(&self) -> Result<&(AcmeObject, AccountDoc), AcmeError> {
        self.account
            .as_ref()
            .ok_or_else(|| AcmeError::malformed("this request must be signed with a kid"))
    }

    pub fn url_of(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl AcmeService {
    /// A service issuing through `authority`.
    pub fn new(authority: Arc<Authority>, options: AcmeOptions) -> Self {
        let nonces = Nonces::new(options.nonce_secret.clone());
        Self {
            inner: Arc::new(Inner {
                authority,
                nonces,
                options,
            }),
        }
    }

    /// Adds an external account binding key for `provisioner` and returns its key id and
    /// base64url HMAC key (what `certbot --eab-kid/--eab-hmac-key` and `lego --kid/--hmac`
    /// take).
    pub async fn create_eab_key(&self, provisioner: &str) -> Result<(String, String), AcmeError> {
        if self.inner.authority.acme_provisioner(provisioner).is_none() {
            return Err(AcmeError::not_found(format!(
                "no ACME provisioner {provisioner:?}"
            )));
        }
        add_eab_key(self.store(), provisioner).await
    }

    pub(crate) fn store(&self) -> &Store {
        self.inner.authority.store()
    }

    /// Answers one request. Never fails: errors become problem documents.
    pub async fn handle(&self, req: AcmeHttpRequest) -> AcmeHttpResponse {
        let base = req.base_url.trim_end_matches('/').to_owned();
        let result = self.route(&req, &base).await;
        let mut response = result.unwrap_or_else(|e| {
            if let AcmeError::Store(_) | AcmeError::Authority(_) = &e {
                tracing::warn!(path = %req.path, "ACME request failed: {e}");
            }
            let (_, status, _) = e.problem();
            AcmeHttpResponse {
                status,
                headers: vec![("Content-Type".into(), "application/problem+json".into())],
                body: e.to_json().to_string().into_bytes(),
            }
        });
        if let Ok(nonce) = self.inner.nonces.issue(now()) {
            response.headers.push(("Replay-Nonce".into(), nonce));
        }
        response
            .headers
            .push(("Link".into(), format!("<{base}/directory>;rel=\"index\"")));
        response
    }

    async fn route(
        &self,
        req: &AcmeHttpRequest,
        base: &str,
    ) -> Result<AcmeHttpResponse, AcmeError> {
        let provisioner = self
            .inner
            .authority
            .acme_provisioner(&req.provisioner)
            .ok_or_else(|| {
                AcmeError::not_found(format!("no ACME provisioner {:?}", req.provisioner))
            })?;
        let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("GET", ["directory"]) => Ok(self.directory(base, &provisioner)),
            ("HEAD", ["new-nonce"]) => Ok(nonce_response(200)),
            ("GET", ["new-nonce"]) => Ok(nonce_response(204)),
            ("POST", _) => {
                let request = self.authenticate(req, base, provisioner).await?;
                self.dispatch(&request, &segments).await
            }
            (_, ["directory" | "new-nonce"]) | ("GET" | "HEAD", _) => Err(AcmeError::Problem {
                kind: ProblemKind::Malformed,
                detail: format!("{} is not allowed here (ACME uses POST-as-GET)", req.method),
                status: Some(405),
            }),
            _ => Err(AcmeError::not_found(format!(
                "no ACME resource {}",
                req.path
            ))),
        }
    }

    async fn dispatch(
        &self,
        r: &Request<'_>,
        segments: &[&str],
    ) -> Result<AcmeHttpResponse, AcmeError> {
        match segments {
            ["new-account"] => self.new_account(r).await,
            ["account", id] => self.update_account(r, id).await,
            ["account", id, "orders"] => self.list_orders(r, id).await,
            ["key-change"] => self.key_change(r).await,
            ["new-order"] => self.new_order(r).await,
            ["order", id] => self.get_order(r, id).await,
            ["order", id, "finalize"] => self.finalize(r, id).await,
            ["authz", id] => self.get_authz(r, id).await,
            ["chall", authz, kind] => self.challenge(r, authz, kind).await,
            ["cert", id] => self.certificate(r, id).await,
            ["revoke-cert"] => self.revoke_cert(r).await,
            _ => Err(AcmeError::not_found(format!(
                "no ACME resource /{}",
                segments.join("/")
            ))),
        }
    }

    fn directory(&self, base: &str, provisioner: &AcmeProvisionerConfig) -> AcmeHttpResponse {
        AcmeHttpResponse::json(
            200,
            &json!({
                "newNonce": format!("{base}/new-nonce"),
                "newAccount": format!("{base}/new-account"),
                "newOrder": format!("{base}/new-order"),
                "revokeCert": format!("{base}/revoke-cert"),
                "keyChange": format!("{base}/key-change"),
                "meta": {"externalAccountRequired": provisioner.require_eab},
            }),
        )
    }

    /// Checks a POST: content type, JWS shape, `url`, nonce, and the signature with the
    /// embedded key or the `kid` account's key.
    async fn authenticate<'a>(
        &self,
        req: &AcmeHttpRequest,
        base: &'a str,
        provisioner: AcmeProvisionerConfig,
    ) -> Result<Request<'a>, AcmeError> {
        let content_type = req.content_type.as_deref().unwrap_or("");
        if !content_type
            .trim()
            .eq_ignore_ascii_case("application/jose+json")
        {
            return Err(AcmeError::Problem {
                kind: ProblemKind::Malformed,
                detail: format!("Content-Type must be application/jose+json, not {content_type:?}"),
                status: Some(415),
            });
        }
        let jws = AcmeJws::parse(&req.body)?;
        let url = format!("{base}{}", req.path);
        if jws.header().url != url {
            return Err(AcmeError::unauthorized(format!(
                "the JWS url {:?} is not the request URL {url:?}",
                jws.header().url
            )));
        }
        self.inner
            .nonces
            .consume(&jws.header().nonce, self.store(), now())
            .await?;
        let mut request = Request {
            base,
            provisioner,
            url,
            payload: Vec::new(),
            jws,
            account: None,
            jwk: None,
        };
        match request.jws.header().key.clone() {
            AcmeKey::Jwk(_) => {
                let (payload, jwk) = request.jws.verify_with_jwk()?;
                request.payload = payload;
                request.jwk = Some(jwk);
            }
            AcmeKey::Kid(kid) => {
                let id = kid
                    .rsplit_once("/account/")
                    .map(|(_, id)| id)
                    .filter(|id| !id.is_empty() && !id.contains('/'))
                    .ok_or_else(|| {
                        AcmeError::new(
                            ProblemKind::AccountDoesNotExist,
                            format!("{kid:?} is not an account URL"),
                        )
                    })?;
                let (object, account) = self.load_account(id, &request.provisioner.name).await?;
                let key = stored_jwk(&account.key)?;
                request.payload =
                    request
                        .jws
                        .verify(&key.to_public_key()?)
                        .map_err(|e| match e {
                            JwsError::AlgKeyMismatch { .. } | JwsError::BadSignature => {
                                AcmeError::unauthorized("the JWS is not signed by the account key")
                            }
                            other => other.into(),
                        })?;
                if object.status != "valid" {
                    return Err(AcmeError::unauthorized(format!(
                        "the account is {}",
                        object.status
                    )));
                }
                request.account = Some((object, account));
            }
        }
        Ok(request)
    }

    /// The account `id` of `provisioner`.
    pub(crate) async fn load_account(
        &self,
        id: &str,
        provisioner: &str,
    ) -> Result<(AcmeObject, AccountDoc), AcmeError> {
        let missing = || {
            AcmeError::new(
                ProblemKind::AccountDoesNotExist,
                format!("no account {id:?}"),
            )
        };
        let object = self
            .store()
            .object(AcmeKind::Account, id)
            .await?
            .ok_or_else(missing)?;
        let account: AccountDoc = doc(&object)?;
        if account.provisioner != provisioner || account.alias_of.is_some() {
            return Err(missing());
        }
        Ok((object, account))
    }
}

fn nonce_response(status: u16) -> AcmeHttpResponse {
    AcmeHttpResponse {
        status,
        headers: vec![("Cache-Control".into(), "no-store".into())],
        body: Vec::new(),
    }
}

/// The account key stored as JSON.
pub(crate) fn stored_jwk(v: &Value) -> Result<Jwk, AcmeError> {
    Jwk::from_json(v.to_string().as_bytes()).map_err(|e| {
        AcmeError::new(
            ProblemKind::ServerInternal,
            format!("stored account key: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eab_hmac_keys_never_read_as_a_command_line_option() {
        // One encoding in 64 starts with `-`: 2,000 draws would meet ~31 of them.
        for _ in 0..2_000 {
            let (key, encoded) = new_eab_hmac_key();
            assert!(!encoded.starts_with('-'), "{encoded}");
            assert_eq!(crate::unb64(&encoded).unwrap(), key.to_vec());
        }
    }
}

//! The admin API (`/admin/...` and `/1.0/admin/...`), served when `authority.enableAdmin` is
//! on: provisioners, admins and ACME EAB keys, shaped like step-ca's.
//!
//! Every request is authenticated first, by `Authorization: Bearer <admin token>` or else by
//! the mTLS client certificate (see `Authority::authenticate_admin_*`). `ADMIN` manages
//! provisioners and EAB keys; only `SUPER_ADMIN` lists and manages admins.

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request};
use mayfly_authority::{Admin, AdminType, parse_provisioner};
use mayfly_store::AcmeStore;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Api, Peer, Reply, json_reply};
use crate::wire::{ApiError, parse_json};

/// `POST /admin/admins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAdmin {
    subject: String,
    provisioner: String,
    #[serde(rename = "type", default = "plain_admin")]
    kind: AdminType,
}

fn plain_admin() -> AdminType {
    AdminType::Admin
}

impl Api {
    /// Answers one admin API request; `route` is the path after `/admin/`.
    pub(crate) async fn admin(
        &self,
        request: Request<Incoming>,
        peer: &Peer,
        route: &[&str],
    ) -> Reply {
        let a = &self.authority;
        let bearer = request
            .headers()
            .get(AUTHORIZATION)
            .map(|h| {
                h.to_str()
                    .ok()
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::trim)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ApiError::new(
                            401,
                            "unauthorized",
                            "the Authorization header must be `Bearer <admin token>`",
                        )
                    })
            })
            .transpose();
        // The body is read (up to the limit) before any refusal, so a refused client that is
        // still sending gets the answer rather than a reset stream.
        let method = request.method().clone();
        let body = self.body(request).await?;
        if !a.admin_enabled() {
            return Err(ApiError::new(
                404,
                "not_found",
                "remote management is disabled (authority.enableAdmin)",
            ));
        }
        let admin = match (bearer?, &peer.certificate) {
            (Some(token), _) => a.authenticate_admin_token(&token).await?,
            (None, Some(cert)) => a.authenticate_admin_certificate(cert).await?,
            (None, None) => {
                return Err(ApiError::new(
                    401,
                    "unauthorized",
                    "the admin API needs an admin's client certificate (mTLS) or an admin token (Authorization: Bearer)",
                ));
            }
        };
        let reply = self.admin_route(&admin, &method, route, &body).await;
        let outcome = match &reply {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("{} {}", e.status, e.message),
        };
        if method != Method::GET && method != Method::HEAD {
            a.audit_admin(
                &admin,
                format!("{method} /admin/{}: {outcome}", route.join("/")),
            )
            .await;
        }
        reply
    }

    async fn admin_route(
        &self,
        admin: &Admin,
        method: &Method,
        route: &[&str],
        body: &[u8],
    ) -> Reply {
        let a = &self.authority;
        let get = *method == Method::GET || *method == Method::HEAD;
        match route {
            ["provisioners"] if get => json_reply(
                200,
                &json!({"provisioners": a.provisioner_configs()?, "nextCursor": ""}),
            ),
            ["provisioners"] if *method == Method::POST => {
                let provisioner = parse_provisioner(parse_json::<Value>(body)?)?;
                a.put_provisioner(provisioner.clone(), false).await?;
                json_reply(201, &provisioner)
            }
            ["provisioners", name] if get => json_reply(200, &a.provisioner_config(name)?),
            ["provisioners", name] if *method == Method::PUT => {
                let provisioner = parse_provisioner(parse_json::<Value>(body)?)?;
                if provisioner.name() != *name {
                    return Err(ApiError::bad_request(format!(
                        "field name: {:?} is not the provisioner being updated ({name:?}); a provisioner cannot be renamed",
                        provisioner.name()
                    )));
                }
                a.put_provisioner(provisioner.clone(), true).await?;
                json_reply(200, &provisioner)
            }
            ["provisioners", name] if *method == Method::DELETE => {
                a.remove_provisioner(name).await?;
                json_reply(200, &json!({"status": "ok"}))
            }
            ["admins", ..] if admin.kind != AdminType::SuperAdmin => Err(ApiError::new(
                403,
                "forbidden",
                format!(
                    "only a SUPER_ADMIN may manage admins ({:?} is an ADMIN)",
                    admin.subject
                ),
            )),
            ["admins"] if get => {
                json_reply(200, &json!({"admins": a.admins().await?, "nextCursor": ""}))
            }
            ["admins"] if *method == Method::POST => {
                let new: NewAdmin = parse_json(body)?;
                json_reply(
                    201,
                    &a.add_admin(&new.subject, &new.provisioner, new.kind)
                        .await?,
                )
            }
            ["admins", who] if *method == Method::DELETE => {
                json_reply(200, &a.remove_admin(who).await?)
            }
            ["acme", "eab", provisioner] if get => {
                self.acme_provisioner(provisioner)?;
                let keys = mayfly_acme::eab_keys_json(a.store(), provisioner)
                    .await
                    .map_err(acme_error)?;
                json_reply(200, &json!({"eaks": keys, "nextCursor": ""}))
            }
            ["acme", "eab", provisioner] if *method == Method::POST => {
                self.acme_provisioner(provisioner)?;
                let (id, hmac) = mayfly_acme::add_eab_key(a.store(), provisioner)
                    .await
                    .map_err(acme_error)?;
                json_reply(
                    201,
                    &json!({"id": id, "provisioner": provisioner, "hmacKey": hmac}),
                )
            }
            ["acme", "eab", provisioner, key_id] if *method == Method::DELETE => {
                self.acme_provisioner(provisioner)?;
                let deleted = a
                    .store()
                    .delete_eab_key((*provisioner).to_owned(), (*key_id).to_owned())
                    .await
                    .map_err(store_error)?;
                if !deleted {
                    return Err(ApiError::new(
                        404,
                        "not_found",
                        format!("provisioner {provisioner:?} has no EAB key {key_id:?}"),
                    ));
                }
                json_reply(200, &json!({"status": "ok"}))
            }
            ["provisioners"]
            | ["provisioners", _]
            | ["admins"]
            | ["admins", _]
            | ["acme", "eab", _]
            | ["acme", "eab", _, _] => Err(ApiError::new(
                405,
                "method_not_allowed",
                format!(
                    "method {method} is not allowed on /admin/{}",
                    route.join("/")
                ),
            )),
            _ => Err(ApiError::new(
                404,
                "not_found",
                format!("/admin/{} not found", route.join("/")),
            )),
        }
    }

    fn acme_provisioner(&self, name: &str) -> Result<(), ApiError> {
        self.authority
            .acme_provisioner(name)
            .map(drop)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "not_found",
                    format!("no ACME provisioner named {name:?}"),
                )
            })
    }
}

/// The store failures of the EAB helpers (their only errors) as API errors.
fn acme_error(e: mayfly_acme::AcmeError) -> ApiError {
    let (_, status, detail) = e.problem();
    let kind = if status == 503 {
        "unavailable"
    } else {
        "internal"
    };
    ApiError::new(status, kind, detail)
}

fn store_error(e: mayfly_store::StoreError) -> ApiError {
    mayfly_authority::AuthorityError::from(e).into()
}

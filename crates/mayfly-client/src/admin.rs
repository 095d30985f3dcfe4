//! The admin API (`/admin/...`) of a CA with remote management: provisioners, admins and
//! ACME EAB keys, authenticated as an admin.

use std::sync::Arc;

use mayfly_jwt::{Jwk, Operation};
use mayfly_template::certificate_to_der;
use serde_json::Value;

use crate::token::TokenRequest;
use crate::{Client, ClientError, Identity, http, tls};

/// How a caller proves it is an admin.
pub enum AdminAuth {
    /// An admin's certificate and key, presented over mTLS.
    Certificate(Box<Identity>),
    /// An admin's JWK provisioner key: each request carries a fresh one-time admin token
    /// (`sub` the admin's subject) as `Authorization: Bearer`.
    Token {
        /// The provisioner's name.
        provisioner: String,
        /// Its private key (decrypted).
        key: Box<Jwk>,
        /// The admin's subject.
        subject: String,
    },
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Certificate(_) => f.write_str("AdminAuth::Certificate"),
            Self::Token {
                provisioner,
                subject,
                ..
            } => f
                .debug_struct("AdminAuth::Token")
                .field("provisioner", provisioner)
                .field("subject", subject)
                .finish_non_exhaustive(),
        }
    }
}

impl Client {
    /// One admin API request: `method` on `/admin{route}` (`route` starts with `/`), with an
    /// optional JSON body; returns the JSON answer.
    pub async fn admin(
        &self,
        auth: &AdminAuth,
        method: &str,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let route = format!("/admin{route}");
        match auth {
            AdminAuth::Certificate(identity) => {
                let tls = tls::trusting_with_identity(&certificate_to_der(self.root())?, identity)?;
                http::call(self.url(), &tls, method, &route, body).await
            }
            AdminAuth::Token {
                provisioner,
                key,
                subject,
            } => {
                let request = TokenRequest {
                    operation: Operation::Admin,
                    subject: subject.clone(),
                    sans: Vec::new(),
                };
                let token = self.mint_token(provisioner, key, &request)?;
                let header = format!("Bearer {token}");
                let tls = Arc::clone(self.tls());
                http::call_authorized(self.url(), &tls, method, &route, body, Some(&header)).await
            }
        }
    }
}

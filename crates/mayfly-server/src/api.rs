//! The routes: step-ca's API at `/X` and `/1.0/X`, and the plain-HTTP subset (CRL, OCSP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use mayfly_acme::{AcmeHttpRequest, AcmeService};
use mayfly_authority::{Authority, RevokeAuth, RevokeRequest, SignRequest};
use mayfly_template::{Certificate, CertificateRequest};
use serde_json::json;

use crate::metrics::{Metrics, Operation};
use crate::wire::{
    ApiError, RekeyBody, RevokeBody, SignBody, SignResponse, parse_json, parse_time, pem,
};

/// Which listener a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listener {
    /// The TLS API.
    Tls,
    /// `insecureAddress`: CRL and OCSP only.
    Insecure,
}

/// The connection a request arrived on.
#[derive(Clone, Debug)]
pub(crate) struct Peer {
    /// The client's address (from the PROXY protocol header behind a load balancer).
    pub addr: SocketAddr,
    /// The load balancer the connection came through, with PROXY protocol on.
    pub proxy: Option<SocketAddr>,
    /// The verified client certificate (mTLS), if the client sent one.
    pub certificate: Option<Arc<Certificate>>,
}

/// Shared request state: the CA, its ACME service, the counters and limits.
pub(crate) struct Api {
    pub authority: Arc<Authority>,
    pub acme: AcmeService,
    pub metrics: Arc<Metrics>,
    pub body_limit: usize,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

pub(crate) type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// The prefixes ACME directories live under: `/acme/{provisioner}/...` (and step's
/// `/2.0/acme/...`).
const ACME_PREFIXES: [&str; 2] = ["/2.0/acme/", "/acme/"];

impl Api {
    /// Answers one request, counts it and logs one line with its request id.
    pub async fn serve(
        &self,
        request: Request<Incoming>,
        peer: &Peer,
        listener: Listener,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let id = hex::encode(mayfly_keys::random_bytes::<8>());
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let (operation, result) =
            mayfly_authority::on_behalf_of(peer.addr, self.route(request, peer, listener)).await;
        let (mut response, refused) = match result {
            Ok(response) => (response, None),
            Err(e) => {
                let kind = e.kind;
                (
                    reply(e.status, "application/json", e.body().into()),
                    Some(kind),
                )
            }
        };
        let elapsed = started.elapsed();
        self.metrics.record(operation, elapsed, refused);
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", value);
        }
        tracing::info!(
            request_id = %id,
            remote = %peer.addr,
            via = peer.proxy.map(tracing::field::display),
            %method,
            path,
            status = response.status().as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            client_cert = peer.certificate.is_some(),
            "request"
        );
        response
    }

    async fn route(
        &self,
        request: Request<Incoming>,
        peer: &Peer,
        listener: Listener,
    ) -> (Operation, Reply) {
        let full = request.uri().path().to_owned();
        if listener == Listener::Tls
            && let Some(prefix) = ACME_PREFIXES.iter().find(|p| full.starts_with(*p))
        {
            return (Operation::Acme, self.acme(request, prefix).await);
        }
        let path = full
            .strip_prefix("/1.0")
            .filter(|p| p.starts_with('/'))
            .unwrap_or(&full);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = request.method().clone();
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST;
        let query = request.uri().query().unwrap_or("").to_owned();
        match (listener, segments.as_slice()) {
            (_, ["crl"]) if get => (Operation::Crl, self.crl(&query).await),
            (_, ["ocsp"]) if post => (Operation::Ocsp, self.ocsp_post(request).await),
            (_, ["ocsp", ..]) if get => (Operation::Ocsp, self.ocsp_get(&full).await),
            (Listener::Insecure, _) => (Operation::Other, Err(not_found(&full))),
            (_, ["sign"]) if post => (Operation::Sign, self.sign(request).await),
            (_, ["renew"]) if post => (Operation::Renew, self.renew(&request, peer).await),
            (_, ["rekey"]) if post => (Operation::Rekey, self.rekey(request, peer).await),
            (_, ["revoke"]) if post => (Operation::Revoke, self.revoke(request, peer).await),
            (_, ["sign" | "renew" | "rekey" | "revoke"]) => {
                (Operation::Other, Err(not_allowed(&method, &full)))
            }
            (_, ["admin", route @ ..]) => {
                (Operation::Other, self.admin(request, peer, route).await)
            }
            (_, route) if get => (Operation::Other, self.get(route, &query).await),
            (
                _,
                [
                    "crl" | "ocsp" | "health" | "version" | "roots" | "roots.pem" | "intermediates"
                    | "intermediates.pem" | "provisioners" | "root",
                    ..,
                ],
            ) => (Operation::Other, Err(not_allowed(&method, &full))),
            _ => (Operation::Other, Err(not_found(&full))),
        }
    }

    async fn get(&self, route: &[&str], query: &str) -> Reply {
        let a = &self.authority;
        match route {
            ["health"] => {
                a.health().await?;
                json_reply(200, &json!({"status": "ok"}))
            }
            ["version"] => json_reply(
                200,
                &json!({"version": env!("CARGO_PKG_VERSION"), "requireClientAuthentication": false}),
            ),
            ["root", sha] => {
                let root = a.root_by_fingerprint(sha).ok_or_else(|| {
                    ApiError::new(404, "not_found", format!("no root has fingerprint {sha}"))
                })?;
                json_reply(200, &json!({"ca": pem(root)?}))
            }
            ["roots"] => json_reply(200, &json!({"crts": pems(a.roots())?})),
            ["roots.pem"] => Ok(reply(
                200,
                "application/x-pem-file",
                pems(a.roots())?.concat().into(),
            )),
            ["intermediates"] => json_reply(200, &json!({"crts": pems(a.intermediates())?})),
            ["intermediates.pem"] => Ok(reply(
                200,
                "application/x-pem-file",
                pems(a.intermediates())?.concat().into(),
            )),
            ["provisioners"] => {
                let cursor = query_param(query, "cursor").unwrap_or_default();
                let cursor: usize = if cursor.is_empty() {
                    0
                } else {
                    cursor.parse().map_err(|_| {
                        ApiError::bad_request(format!("cursor {cursor:?} is not a number"))
                    })?
                };
                let limit = match query_param(query, "limit").filter(|l| !l.is_empty()) {
                    None => 20,
                    Some(l) => l.parse().map_err(|_| {
                        ApiError::bad_request(format!("limit {l:?} is not a number"))
                    })?,
                };
                let (page, next) = a.provisioners(cursor, limit)?;
                let next = next.map(|n| n.to_string()).unwrap_or_default();
                json_reply(200, &json!({"provisioners": page, "nextCursor": next}))
            }
            ["provisioners", kid, "encrypted-key"] => {
                json_reply(200, &json!({"key": a.provisioner_encrypted_key(kid)?}))
            }
            _ => Err(not_found(&format!("/{}", route.join("/")))),
        }
    }

    async fn sign(&self, request: Request<Incoming>) -> Reply {
        let body: SignBody = parse_json(&self.body(request).await?)?;
        let csr = parse_csr(&body.csr)?;
        let issued = self
            .authority
            .sign(SignRequest {
                csr_der: csr,
                token: body.ott,
                not_before: parse_time(body.not_before.as_deref(), "notBefore")?,
                not_after: parse_time(body.not_after.as_deref(), "notAfter")?,
                template_data: body.template_data,
            })
            .await?;
        json_reply(201, &SignResponse::new(&issued.certificate, &issued.chain)?)
    }

    /// Renews the mTLS client certificate, or the certificate of an `Authorization: Bearer`
    /// x5c token (renewal after expiry) when the request carries one.
    async fn renew(&self, request: &Request<Incoming>, peer: &Peer) -> Reply {
        let bearer = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .map(|value| {
                value
                    .to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| {
                        ApiError::new(
                            401,
                            "unauthorized",
                            "the Authorization header is not \"Bearer <token>\"",
                        )
                    })
            })
            .transpose()?;
        let issued = match bearer {
            Some(token) => self.authority.renew_with_token(token).await?,
            None => {
                let cert = client_certificate(peer, "renew")?;
                self.authority.renew(cert).await?
            }
        };
        json_reply(201, &SignResponse::new(&issued.certificate, &issued.chain)?)
    }

    async fn rekey(&self, request: Request<Incoming>, peer: &Peer) -> Reply {
        let cert = client_certificate(peer, "rekey")?;
        let body: RekeyBody = parse_json(&self.body(request).await?)?;
        let csr = parse_csr(&body.csr)?;
        let issued = self.authority.rekey(cert, &csr).await?;
        json_reply(201, &SignResponse::new(&issued.certificate, &issued.chain)?)
    }

    async fn revoke(&self, request: Request<Incoming>, peer: &Peer) -> Reply {
        let body: RevokeBody = parse_json(&self.body(request).await?)?;
        if body.passive == Some(false) {
            return Err(ApiError::new(
                501,
                "not_implemented",
                "non-passive revocation is not implemented",
            ));
        }
        let auth = match (body.ott.filter(|t| !t.is_empty()), &peer.certificate) {
            (Some(token), _) => RevokeAuth::Token(token),
            (None, Some(cert)) => RevokeAuth::Certificate(Box::new(Certificate::clone(cert))),
            (None, None) => {
                return Err(ApiError::new(
                    401,
                    "unauthorized",
                    "revoke needs a token (ott) or a client certificate",
                ));
            }
        };
        self.authority
            .revoke(RevokeRequest {
                serial: body.serial,
                reason_code: body.reason_code,
                reason: body.reason,
                auth,
            })
            .await?;
        json_reply(200, &json!({"status": "ok"}))
    }

    async fn crl(&self, query: &str) -> Reply {
        let der = self.authority.crl().await?;
        let wants_pem = query
            .split('&')
            .any(|p| p == "pem" || p.starts_with("pem="));
        if wants_pem {
            let text = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der)
                .map_err(|e| ApiError::new(500, "internal", format!("encoding the CRL: {e}")))?;
            Ok(reply(200, "application/x-pem-file", text.into()))
        } else {
            Ok(reply(200, "application/pkix-crl", der.into()))
        }
    }

    async fn ocsp_post(&self, request: Request<Incoming>) -> Reply {
        let body = self.body(request).await?;
        let response = self.authority.ocsp(&body).await?;
        Ok(reply(200, "application/ocsp-response", response.into()))
    }

    async fn ocsp_get(&self, full_path: &str) -> Reply {
        // RFC 6960 A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}.
        let encoded = full_path
            .split_once("/ocsp/")
            .map(|(_, rest)| rest)
            .ok_or_else(|| not_found(full_path))?;
        let der = mayfly_crl::decode_get_path(encoded)
            .map_err(|e| ApiError::bad_request(format!("invalid OCSP GET request: {e}")))?;
        let response = self.authority.ocsp(&der).await?;
        Ok(reply(200, "application/ocsp-response", response.into()))
    }

    /// Hands an ACME request to the ACME service: `/acme/{provisioner}/{rest}`.
    async fn acme(&self, request: Request<Incoming>, prefix: &str) -> Reply {
        let full = request.uri().path().to_owned();
        let rest = &full[prefix.len()..];
        let (provisioner, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = request
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .ok_or_else(|| ApiError::bad_request("an ACME request needs a Host header"))?
            .to_owned();
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let method = request.method().to_string();
        let body = self.body(request).await?;
        let response = self
            .acme
            .handle(AcmeHttpRequest {
                method,
                path: format!("/{path}"),
                provisioner: provisioner.to_owned(),
                base_url: format!("https://{host}{}{provisioner}", prefix),
                content_type,
                body: body.to_vec(),
            })
            .await;
        let status =
            StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut reply = Response::new(Full::new(Bytes::from(response.body)));
        *reply.status_mut() = status;
        for (name, value) in response.headers {
            if let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                reply.headers_mut().append(name, value);
            }
        }
        Ok(reply)
    }

    /// Reads a body of at most `body_limit` bytes.
    pub(crate) async fn body(&self, request: Request<Incoming>) -> Result<Bytes, ApiError> {
        let mut body = request.into_body();
        let mut collected = Vec::new();
        let mut seen = 0usize;
        // Past the limit the rest is read and dropped (up to a cap) before answering 413, so
        // the client finishes sending and reads the answer instead of a connection reset.
        let drain_cap = self.body_limit.saturating_mul(8);
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen = seen.saturating_add(data.len());
            if seen <= self.body_limit {
                collected.extend_from_slice(&data);
            } else if seen > drain_cap {
                break;
            }
        }
        if seen > self.body_limit {
            return Err(ApiError::new(
                413,
                "body_too_large",
                format!("the request body exceeds {} bytes", self.body_limit),
            ));
        }
        Ok(Bytes::from(collected))
    }
}

fn client_certificate<'a>(peer: &'a Peer, operation: &str) -> Result<&'a Certificate, ApiError> {
    peer.certificate.as_deref().ok_or_else(|| {
        ApiError::new(
            401,
            "unauthorized",
            format!("{operation} requires a client certificate issued by this CA (mTLS)"),
        )
    })
}

fn parse_csr(text: &str) -> Result<Vec<u8>, ApiError> {
    CertificateRequest::from_pem(text)
        .map(|csr| csr.to_der().to_vec())
        .map_err(|e| ApiError::bad_request(format!("field csr: {e}")))
}

fn pems(certs: &[Certificate]) -> Result<Vec<String>, ApiError> {
    certs.iter().map(pem).collect()
}

fn not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("method {method} is not allowed on {path}"),
    )
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(404, "not_found", format!("{path} not found"))
}

pub(crate) fn json_reply<T: serde::Serialize>(status: u16, value: &T) -> Reply {
    let body =
        serde_json::to_vec(value).map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    Ok(reply(status, "application/json", body.into()))
}

/// A response with a status, a content type and a body.
pub(crate) fn reply(status: u16, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        assert_eq!(query_param("cursor=3&limit=5", "limit"), Some("5"));
        assert_eq!(query_param("pem", "pem"), Some(""));
    }
}

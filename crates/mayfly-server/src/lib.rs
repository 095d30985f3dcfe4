//! The Mayfly TLS server: step-ca's HTTP API over hyper 1 and rustls, in front of a
//! [`mayfly_authority::Authority`].
//!
//! - The API (`/sign`, `/renew`, `/rekey`, `/revoke`, `/roots`, `/provisioners`, `/crl`, ...)
//!   is served at `/X` and `/1.0/X` with step-ca's request and response JSON, over TLS with
//!   HTTP/1.1 and HTTP/2 by ALPN. Client certificates are optional at the handshake, verified
//!   against the CA's roots, and required by `/renew` and `/rekey`.
//! - TLS posture comes from ca.json's `tls` block ([`TlsPolicy`]): TLS 1.2 only and two
//!   ECDHE-ECDSA AEAD suites by default; CBC suites are refused at load; rustls never
//!   renegotiates. The server's own certificate is issued by the intermediate at start and
//!   renewed in place at two thirds of its life.
//! - `insecureAddress` serves only the CRL and OCSP over plain HTTP; `metricsAddress` serves
//!   Prometheus text at `/metrics`.
//! - `proxyProtocol` in ca.json ([`ProxyPolicy`]): behind a layer-4 load balancer, each TLS
//!   connection starts with a PROXY protocol v1/v2 header from a trusted proxy, and the
//!   client address it carries is the one request logs and audit records show.
//! - [`ServerHandle::reload`] applies a new ca.json without dropping connections;
//!   [`ServerHandle::shutdown`] drains in-flight requests.
//!
//! ```
//! use mayfly_server::{ServerOptions, TlsPolicy};
//!
//! // No `tls` block in ca.json: TLS 1.2 with the production guide's two suites.
//! let policy = TlsPolicy::from_config(None)?;
//! assert_eq!(
//!     policy.cipher_suite_names(),
//!     ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
//! );
//! assert_eq!(ServerOptions::default().body_limit, 1024 * 1024);
//! # Ok::<(), mayfly_server::ServerError>(())
//! ```
//!
//! Serving (with an opened authority and its ca.json):
//!
//! ```no_run
//! # async fn example(authority: std::sync::Arc<mayfly_authority::Authority>,
//! #                  config: mayfly_authority::config::CaConfig) -> Result<(), mayfly_server::ServerError> {
//! let server = mayfly_server::Server::bind(authority, &config, Default::default()).await?;
//! let handle = server.handle(); // handle.reload(&new_config), handle.shutdown()
//! server.run().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod admin;
mod api;
mod error;
mod metrics;
mod proxy;
mod server;
mod tls;
mod wire;

pub use error::ServerError;
pub use metrics::{Metrics, Operation};
pub use proxy::{ProxyError, ProxyHeader, ProxyPolicy, parse_v1, parse_v2, read_header};
pub use server::{Server, ServerHandle, ServerOptions};
pub use tls::{
    DEFAULT_CIPHER_SUITES, SERVER_CERT_LIFETIME, ServerCertResolver, ServerCertificate, TlsPolicy,
    issue_server_certificate,
};

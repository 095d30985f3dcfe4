//! The Mayfly client: what a Rust service embeds to get and keep a certificate from a Mayfly
//! (or step-ca) CA, and what the `mayfly ca ...` commands are built on.
//!
//! - [`Client::bootstrap`] fetches `/root/{sha256}`, checks the fingerprint and from then on
//!   trusts only that root, never the system store. [`Client::with_root`] starts from a
//!   root file already trusted ([`Defaults`] records both).
//! - [`Client::sign`], [`Client::renew`] and [`Client::rekey`] (over mTLS with an
//!   [`Identity`]), [`Client::revoke`], [`Client::roots`], [`Client::provisioners`]; a refusal
//!   is [`ClientError::Server`] carrying the CA's own message.
//! - [`Client::provisioner_token`] mints a one-time token from a JWK provisioner's
//!   password-encrypted key; [`check_token_times`] explains a stale token before it is sent.
//! - [`Renewer`] keeps a certificate fresh (2/3 of the lifetime with jitter, backoff while the
//!   CA is down, atomic file writes, `--exec` hooks and signals), and [`CertResolver`] hot-swaps
//!   it in a rustls server.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use mayfly_client::{CaUrl, renewal_time};
//!
//! let url = CaUrl::parse("https://ca.internal:9000")?;
//! assert_eq!(url.audience(mayfly_jwt::Operation::Sign), "https://ca.internal:9000/1.0/sign");
//!
//! // A 24 h certificate is renewed 16 h in (less up to 72 min of jitter).
//! let start = SystemTime::now();
//! let at = renewal_time(start, start + Duration::from_secs(24 * 3600), 0.0);
//! assert_eq!(at, start + Duration::from_secs(16 * 3600));
//! # Ok::<(), mayfly_client::ClientError>(())
//! ```
//!
//! Against a running CA (see `examples/mtls_service.rs` for a whole service):
//!
//! ```no_run
//! # async fn demo() -> Result<(), mayfly_client::ClientError> {
//! use mayfly_client::{Client, Identity, Renewer, TokenRequest, Validity};
//! use mayfly_keys::{KeyType, Password, PrivateKey};
//! use mayfly_template::San;
//!
//! let client = Client::bootstrap("https://ca.internal:9000", "e3b0c442...").await?;
//! let password = Password::from_file("provisioner.pass".as_ref())?;
//! let request = TokenRequest::sign("svc.internal", vec![]);
//! let token = client.provisioner_token(Some("ops"), &password, &request).await?;
//! let key = PrivateKey::generate(KeyType::default())?;
//! let csr = mayfly_template::build_request("svc.internal", &[San::guess("svc.internal")], &key)?;
//! let cert = client.sign(&csr, &token, &Validity::default()).await?;
//! let renewer = Renewer::new(client, Identity::new(cert, key)?);
//! renewer.run(std::future::pending()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod admin;
mod certs;
mod client;
mod config;
mod error;
mod http;
mod renew;
mod resolver;
mod tls;
mod token;
mod url;

pub use admin::AdminAuth;
pub use certs::{Identity, SignedCertificate};
pub use client::{Client, Provisioner, Revocation, RevokeAuth, Validity, parse_fingerprint};
pub use config::{Defaults, mayfly_path};
pub use error::ClientError;
pub use renew::{Backoff, Notify, Renewer, renewal_time};
pub use resolver::CertResolver;
pub use token::{
    TokenRequest, check_token_times, choose_provisioner, is_encrypted_key, read_provisioner_key,
};
pub use url::CaUrl;

//! In-process hot swap: a rustls server certificate resolver the [`Renewer`](crate::Renewer)
//! updates after each renewal, so a Rust server never serves an expired certificate.

use std::sync::{Arc, RwLock};

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::{ClientError, Identity};

/// Serves the current certificate and key to every TLS handshake; [`CertResolver::update`]
/// swaps them atomically without touching open connections.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    /// A resolver serving `identity`.
    pub fn new(identity: &Identity) -> Result<Self, ClientError> {
        Ok(Self {
            current: RwLock::new(certified_key(identity)?),
        })
    }

    /// Serves `identity` from the next handshake on.
    pub fn update(&self, identity: &Identity) -> Result<(), ClientError> {
        let next = certified_key(identity)?;
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }

    /// The certificate chain and key now being served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, ClientError> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        identity.key().to_pkcs8_der()?.to_vec(),
    ));
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| ClientError::Tls(format!("server key: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(
        identity.chain_der()?,
        signing_key,
    )))
}

//! rustls configurations: trust only the bootstrapped root, optionally present a client
//! certificate; and the one unverified configuration bootstrap needs before it knows the root.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{ClientError, Identity};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, ClientError> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))
}

fn root_store(root_der: &[u8]) -> Result<RootCertStore, ClientError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(root_der.to_vec()))
        .map_err(|e| ClientError::Tls(format!("the root cannot be a trust anchor: {e}")))?;
    Ok(roots)
}

/// A configuration that trusts `root_der` and nothing else (never the system store).
pub(crate) fn trusting(root_der: &[u8]) -> Result<Arc<ClientConfig>, ClientError> {
    Ok(Arc::new(
        builder()?
            .with_root_certificates(root_store(root_der)?)
            .with_no_client_auth(),
    ))
}

/// Like [`trusting`], presenting `identity` as the client certificate (mTLS).
pub(crate) fn trusting_with_identity(
    root_der: &[u8],
    identity: &Identity,
) -> Result<Arc<ClientConfig>, ClientError> {
    let chain = identity.chain_der()?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        identity.key().to_pkcs8_der()?.to_vec(),
    ));
    let config = builder()?
        .with_root_certificates(root_store(root_der)?)
        .with_client_auth_cert(chain, key)
        .map_err(|e| ClientError::Tls(format!("client certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// A configuration that accepts any server certificate (handshake signatures are still
/// checked). Used only by bootstrap to fetch the root, whose fingerprint is then checked.
pub(crate) fn unverified() -> Result<Arc<ClientConfig>, ClientError> {
    let verifier = AnyServerCert(provider().signature_verification_algorithms);
    Ok(Arc::new(
        builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    ))
}

#[derive(Debug)]
struct AnyServerCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

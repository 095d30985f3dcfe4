//! TLS posture: protocol versions and cipher suites from ca.json's `tls` block, optional client
//! certificates verified against the CA's roots, and the server's own certificate, issued by
//! the intermediate and swapped in place when it is renewed.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use mayfly_authority::Authority;
use mayfly_authority::config::TlsConfig;
use mayfly_keys::{KeyType, PrivateKey, Signer as _};
use mayfly_template::{
    Certificate, CertificateProfile, Issuer, ValidityPeriod, build_certificate, certificate_to_der,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ProtocolVersion, RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion,
};

use crate::ServerError;

/// The production guide's cipher suites, used when `tls.cipherSuites` is empty.
pub const DEFAULT_CIPHER_SUITES: [&str; 2] = [
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/// Lifetime of the server's own certificate.
pub const SERVER_CERT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The protocol versions and cipher suites the API listener accepts.
#[derive(Clone, Debug)]
pub struct TlsPolicy {
    versions: Vec<&'static SupportedProtocolVersion>,
    suites: Vec<SupportedCipherSuite>,
}

impl TlsPolicy {
    /// Reads ca.json's `tls` block (absent: TLS 1.2 only, the two default suites).
    ///
    /// Refused: versions other than 1.2 and 1.3, `minVersion > maxVersion`, renegotiation,
    /// CBC suites (rustls does not implement them) and unknown suite names. When TLS 1.3 is
    /// enabled and no 1.3 suite is listed, all 1.3 suites are allowed (as Go does).
    pub fn from_config(config: Option<&TlsConfig>) -> Result<Self, ServerError> {
        let (min, max, names, renegotiation) = match config {
            Some(c) => (
                version(c.min_version, "minVersion")?,
                version(c.max_version, "maxVersion")?,
                c.cipher_suites.clone(),
                c.renegotiation,
            ),
            None => (12, 12, Vec::new(), false),
        };
        if renegotiation {
            return Err(ServerError::TlsConfig(
                "renegotiation is not supported: remove \"renegotiation\" or set it to false"
                    .into(),
            ));
        }
        if min > max {
            return Err(ServerError::TlsConfig(format!(
                "minVersion 1.{} is above maxVersion 1.{}",
                min - 10,
                max - 10
            )));
        }
        let versions: Vec<&'static SupportedProtocolVersion> =
            [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
                .into_iter()
                .filter(|(v, _)| (min..=max).contains(v))
                .map(|(_, p)| p)
                .collect();
        let names: Vec<String> = if names.is_empty() {
            DEFAULT_CIPHER_SUITES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            names
        };
        let available = provider_suites();
        let mut suites = Vec::new();
        for name in &names {
            suites.push(suite_by_name(&available, name)?);
        }
        let enabled = |v: ProtocolVersion| versions.iter().any(|p| p.version == v);
        suites.retain(|s| enabled(s.version().version));
        if enabled(ProtocolVersion::TLSv1_3) && !suites.iter().any(is_tls13) {
            suites.extend(available.iter().filter(|s| is_tls13(s)).copied());
        }
        if enabled(ProtocolVersion::TLSv1_2) && !suites.iter().any(|s| !is_tls13(s)) {
            return Err(ServerError::TlsConfig(
                "TLS 1.2 is enabled but cipherSuites lists no TLS 1.2 suite".into(),
            ));
        }
        Ok(Self { versions, suites })
    }

    /// The IANA names of the enabled cipher suites, in preference order.
    pub fn cipher_suite_names(&self) -> Vec<String> {
        self.suites.iter().map(iana_name).collect()
    }

    /// Builds the listener's rustls configuration: these versions and suites, optional client
    /// certificates verified against `trust` (roots and intermediates), ALPN h2 + http/1.1.
    pub fn server_config(
        &self,
        trust: &[Certificate],
        resolver: Arc<ServerCertResolver>,
    ) -> Result<Arc<ServerConfig>, ServerError> {
        let provider = Arc::new(CryptoProvider {
            cipher_suites: self.suites.clone(),
            ..rustls::crypto::aws_lc_rs::default_provider()
        });
        let mut store = RootCertStore::empty();
        for cert in trust {
            let der =
                certificate_to_der(cert).map_err(|e| ServerError::Certificate(e.to_string()))?;
            store.add(CertificateDer::from(der))?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| ServerError::TlsConfig(format!("client certificate verifier: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.ignore_client_order = true;
        Ok(Arc::new(config))
    }
}

fn version(v: f32, field: &str) -> Result<u8, ServerError> {
    // ca.json writes versions as JSON numbers (1.2, 1.3); compare in tenths.
    let tenths = (v * 10.0).round();
    if tenths == 12.0 {
        Ok(12)
    } else if tenths == 13.0 {
        Ok(13)
    } else {
        Err(ServerError::TlsConfig(format!(
            "{field} {v} is not supported: use 1.2 or 1.3"
        )))
    }
}

fn provider_suites() -> Vec<SupportedCipherSuite> {
    rustls::crypto::aws_lc_rs::default_provider().cipher_suites
}

fn is_tls13(suite: &SupportedCipherSuite) -> bool {
    suite.version().version == ProtocolVersion::TLSv1_3
}

/// The IANA name of a suite (rustls spells the TLS 1.3 ones `TLS13_...`).
fn iana_name(suite: &SupportedCipherSuite) -> String {
    let name = format!("{:?}", suite.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// Finds a suite by IANA name or Go's name (Go drops `_SHA256` from the ChaCha20 suites).
fn suite_by_name(
    available: &[SupportedCipherSuite],
    name: &str,
) -> Result<SupportedCipherSuite, ServerError> {
    let wanted = name.trim().to_ascii_uppercase();
    if let Some(found) = available.iter().find(|s| {
        let iana = iana_name(s);
        iana == wanted || iana.strip_suffix("_SHA256") == Some(wanted.as_str())
    }) {
        return Ok(*found);
    }
    if wanted.contains("_CBC_") {
        return Err(ServerError::TlsConfig(format!(
            "cipher suite {name} uses CBC mode, which Mayfly refuses (rustls does not implement CBC suites); \
             use an AEAD suite such as {}",
            DEFAULT_CIPHER_SUITES.join(" or ")
        )));
    }
    let known: Vec<String> = available.iter().map(iana_name).collect();
    Err(ServerError::TlsConfig(format!(
        "unknown cipher suite {name}; supported: {}",
        known.join(", ")
    )))
}

/// The server's own certificate, swapped atomically when it is renewed: handshakes in
/// progress keep the one they started with, new ones get the new one.
#[derive(Debug)]
pub struct ServerCertResolver {
    current: RwLock<(Arc<CertifiedKey>, SystemTime)>,
}

impl ServerCertResolver {
    /// A resolver serving `key`, due for renewal at `renew_at`.
    pub fn new(key: Arc<CertifiedKey>, renew_at: SystemTime) -> Self {
        Self {
            current: RwLock::new((key, renew_at)),
        }
    }

    /// Replaces the served certificate.
    pub fn replace(&self, key: Arc<CertifiedKey>, renew_at: SystemTime) {
        if let Ok(mut guard) = self.current.write() {
            *guard = (key, renew_at);
        }
    }

    /// When the served certificate should be renewed.
    pub fn renew_at(&self) -> SystemTime {
        self.current
            .read()
            .map_or_else(|_| SystemTime::now(), |g| g.1)
    }

    /// Moves the renewal time `delay` from now (after a failed renewal).
    pub fn postpone(&self, delay: Duration) {
        if let Ok(mut guard) = self.current.write() {
            guard.1 = SystemTime::now() + delay;
        }
    }
}

impl ResolvesServerCert for ServerCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|g| Arc::clone(&g.0))
    }
}

/// A freshly issued server certificate and when it should be renewed.
#[derive(Debug)]
pub struct ServerCertificate {
    /// The certificate chain (leaf, intermediate) and its key, ready for rustls.
    pub key: Arc<CertifiedKey>,
    /// When to renew: two thirds into the certificate's life.
    pub renew_at: SystemTime,
}

/// Issues the server's TLS certificate from the intermediate: a new P-256 key (the default
/// suites are ECDSA), SANs = `dns_names`, serverAuth, valid for `lifetime`.
pub fn issue_server_certificate(
    authority: &Authority,
    dns_names: &[String],
    lifetime: Duration,
) -> Result<ServerCertificate, ServerError> {
    let first = dns_names.first().ok_or_else(|| {
        ServerError::Certificate("ca.json has no dnsNames to put in the server certificate".into())
    })?;
    let sans: Vec<serde_json::Value> = dns_names
        .iter()
        .map(|n| mayfly_template::San::guess(n).to_json())
        .collect();
    let profile: CertificateProfile = serde_json::from_value(serde_json::json!({
        "subject": {"commonName": first},
        "sans": sans,
        "keyUsage": ["digitalSignature"],
        "extKeyUsage": ["serverAuth"],
    }))
    .map_err(|e| ServerError::Certificate(e.to_string()))?;
    let intermediate = authority
        .intermediates()
        .first()
        .ok_or_else(|| ServerError::Certificate("the CA has no intermediate".into()))?;
    let key = PrivateKey::generate(KeyType::EcP256)
        .map_err(|e| ServerError::Certificate(e.to_string()))?;
    let validity = ValidityPeriod::starting_now(lifetime);
    let cert = build_certificate(
        &profile,
        key.public_key(),
        Issuer::Ca(intermediate, authority.signer()),
        validity,
    )
    .map_err(|e| ServerError::Certificate(e.to_string()))?;
    let chain = [&cert, intermediate]
        .into_iter()
        .map(|c| certificate_to_der(c).map(CertificateDer::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::Certificate(e.to_string()))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| ServerError::Certificate(e.to_string()))?;
    let signing_key = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            pkcs8.to_vec(),
        )))?;
    Ok(ServerCertificate {
        key: Arc::new(CertifiedKey::new(chain, signing_key)),
        renew_at: SystemTime::now() + lifetime * 2 / 3,
    })
}

#[cfg(test)]
mod tests;

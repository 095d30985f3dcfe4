//! The validation authority: http-01 (RFC 8555 §8.3), dns-01 (§8.4) and tls-alpn-01
//! (RFC 8737), with the ports and resolver of the provisioner's `validation` block, run in
//! the background with retries and time limits. The outcome of a validation that ends at its
//! first check is handed back to the request that started it, so the client's challenge POST
//! can answer with it (see `AcmeService::challenge`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mayfly_authority::config::AcmeValidation;
use mayfly_jwt::{Jwk, key_authorization};
use mayfly_store::{AcmeKind, AcmeStore};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dns;
use crate::error::{AcmeError, ProblemKind};
use crate::model::{AuthzDoc, Identifier, doc, rfc3339, to_data};
use crate::service::{AcmeService, now};
use mayfly_store::AcmeObject;
use tokio::sync::oneshot;

/// The largest http-01 response read.
const MAX_HTTP_RESPONSE: usize = 16 * 1024;

/// The acmeIdentifier extension (RFC 8737 §3).
const ACME_IDENTIFIER_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");

/// What one challenge check needs.
struct Check {
    kind: String,
    identifier: Identifier,
    token: String,
    key_authorization: String,
    config: AcmeValidation,
    timeout: Duration,
}

impl AcmeService {
    /// Validates challenge `index` of authorization `authz` (as just stored, challenge
    /// `processing`) in the background and records the outcome. The receiver gets the
    /// authorization as recorded when the validation ends at its first check (valid, or
    /// invalid with no retry left); it is dropped unanswered when retries go on.
    pub(crate) fn spawn_validation(
        &self,
        authz: AcmeObject,
        index: usize,
        account_key: Jwk,
        config: AcmeValidation,
    ) -> oneshot::Receiver<(AcmeObject, AuthzDoc)> {
        let service = self.clone();
        let (first, outcome) = oneshot::channel();
        tokio::spawn(async move {
            let authz_id = authz.id.clone();
            if let Err(e) = service
                .validate(authz, index, &account_key, config, first)
                .await
            {
                tracing::warn!(authz = %authz_id, "recording the validation failed: {e}");
            }
        });
        outcome
    }

    async fn validate(
        &self,
        started: AcmeObject,
        index: usize,
        account_key: &Jwk,
        config: AcmeValidation,
        first: oneshot::Sender<(AcmeObject, AuthzDoc)>,
    ) -> Result<(), AcmeError> {
        let authz: AuthzDoc = doc(&started)?;
        let challenge = authz
            .challenges
            .get(index)
            .ok_or_else(|| AcmeError::not_found("challenge vanished"))?;
        let options = &self.inner.options;
        let check = Check {
            kind: challenge.kind.clone(),
            identifier: authz.identifier.clone(),
            token: challenge.token.clone(),
            key_authorization: key_authorization(&challenge.token, account_key)?,
            config,
            timeout: options.validation_timeout,
        };
        let mut outcome = check.run().await;
        let mut first = Some(first);
        for _ in 1..options.validation_attempts.max(1) {
            if outcome.is_ok() {
                break;
            }
            // The request that started it answers `processing` now.
            first = None;
            tokio::time::sleep(options.retry_delay).await;
            outcome = check.run().await;
        }
        let authz_id = started.id.clone();
        if let Err(e) = &outcome {
            tracing::info!(authz = %authz_id, kind = %check.kind, "challenge failed: {e}");
        }
        // The authorization as stored when the validation started is usually still current:
        // the outcome is then recorded without reading it again.
        let mut in_hand = Some((started, authz));
        for _ in 0..crate::account::UPDATE_RETRIES {
            let (mut object, mut authz) = match in_hand.take() {
                Some(both) => both,
                None => {
                    let object = self
                        .store()
                        .object(AcmeKind::Authorization, &authz_id)
                        .await?
                        .ok_or_else(|| AcmeError::not_found("authorization vanished"))?;
                    let authz = doc(&object)?;
                    (object, authz)
                }
            };
            let Some(challenge) = authz.challenges.get_mut(index) else {
                return Ok(());
            };
            if object.status != "pending" || challenge.status != "processing" {
                return Ok(());
            }
            challenge.processing_since = None;
            match &outcome {
                Ok(()) => {
                    challenge.status = "valid".into();
                    challenge.validated = Some(rfc3339(now()));
                    object.status = "valid".into();
                }
                Err(e) => {
                    challenge.status = "invalid".into();
                    challenge.error = Some(e.to_json());
                    object.status = "invalid".into();
                }
            }
            object.data = to_data(&authz);
            if self
                .store()
                .update_object(AcmeKind::Authorization, object.clone())
                .await?
            {
                if let Some(first) = first {
                    object.revision += 1;
                    // The request may have stopped waiting.
                    let _ = first.send((object, authz));
                }
                return Ok(());
            }
        }
        Err(AcmeError::new(
            ProblemKind::ServerInternal,
            "the authorization is being changed concurrently",
        ))
    }
}

impl Check {
    async fn run(&self) -> Result<(), AcmeError> {
        match self.kind.as_str() {
            "http-01" => self.http01().await,
            "dns-01" => self.dns01().await,
            "tls-alpn-01" => self.tls_alpn01().await,
            other => Err(AcmeError::malformed(format!(
                "unknown challenge type {other}"
            ))),
        }
    }

    /// The addresses to try, IPv6 first (as Let's Encrypt does), then IPv4.
    async fn addresses(&self) -> Result<Vec<IpAddr>, AcmeError> {
        let name = self.identifier.value.trim_start_matches("*.");
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if self.config.resolver.is_some() {
            let server = dns::resolver_address(self.config.resolver.as_deref())?;
            return dns::addresses(server, name, self.timeout).await;
        }
        let found = tokio::time::timeout(self.timeout, tokio::net::lookup_host((name, 0)))
            .await
            .map_err(|_| AcmeError::new(ProblemKind::Dns, format!("looking up {name} timed out")))?
            .map_err(|e| AcmeError::new(ProblemKind::Dns, format!("looking up {name}: {e}")))?;
        let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
        ips.sort_by_key(IpAddr::is_ipv4);
        ips.dedup();
        Ok(ips)
    }

    /// Connects to the first address that accepts on `port`.
    async fn connect(&self, port: u16) -> Result<TcpStream, AcmeError> {
        let mut last = String::from("no address");
        for ip in self.addresses().await? {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: timed out"),
            }
        }
        Err(AcmeError::new(
            ProblemKind::Connection,
            format!("cannot connect to {}: {last}", self.identifier.value),
        ))
    }

    async fn http01(&self) -> Result<(), AcmeError> {
        let port = self.config.http_port.unwrap_or(80);
        let mut stream = self.connect(port).await?;
        let host = match self.identifier.value.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.identifier.value.clone(),
        };
        let request = format!(
            "GET /.well-known/acme-challenge/{} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mayfly-acme\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            self.token
        );
        let connection = |e: std::io::Error| {
            AcmeError::new(
                ProblemKind::Connection,
                format!("http-01 to {host}:{port}: {e}"),
            )
        };
        let exchange = async {
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(connection)?;
            let mut response = Vec::new();
            (&mut stream)
                .take(MAX_HTTP_RESPONSE as u64)
                .read_to_end(&mut response)
                .await
                .map_err(connection)?;
            Ok::<_, AcmeError>(response)
        };
        let response = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                AcmeError::new(
                    ProblemKind::Connection,
                    format!("http-01 to {host}:{port} timed out"),
                )
            })??;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(AcmeError::new(
                ProblemKind::IncorrectResponse,
                format!("http-01: {host}:{port} answered status {status:?}, wanted 200"),
            ));
        }
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("transfer-encoding:")
                && l.to_ascii_lowercase().contains("chunked")
        });
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        if body.trim() != self.key_authorization {
            return Err(AcmeError::new(
                ProblemKind::IncorrectResponse,
                format!(
                    "http-01: the response is not the key authorization for token {}",
                    self.token
                ),
            ));
        }
        Ok(())
    }

    async fn dns01(&self) -> Result<(), AcmeError> {
        let name = format!(
            "_acme-challenge.{}",
            self.identifier.value.trim_start_matches("*.")
        );
        let server = dns::resolver_address(self.config.resolver.as_deref())?;
        let expected = crate::b64(&Sha256::digest(self.key_authorization.as_bytes()));
        let found = dns::txt(server, &name, self.timeout).await?;
        if found.iter().any(|t| t.trim() == expected) {
            return Ok(());
        }
        Err(AcmeError::new(
            ProblemKind::IncorrectResponse,
            format!(
                "dns-01: no TXT record of {name} holds the key authorization digest ({} found)",
                found.len()
            ),
        ))
    }

    async fn tls_alpn01(&self) -> Result<(), AcmeError> {
        let port = self.config.tls_alpn_port.unwrap_or(443);
        let stream = self.connect(port).await?;
        let tls_err = |why: String| {
            AcmeError::new(
                ProblemKind::Tls,
                format!("tls-alpn-01 to {}:{port}: {why}", self.identifier.value),
            )
        };
        let sni = match self.identifier.value.parse::<IpAddr>() {
            Ok(ip) => reverse_name(ip),
            Err(_) => self.identifier.value.clone(),
        };
        let server_name =
            rustls::pki_types::ServerName::try_from(sni).map_err(|e| tls_err(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(
            tls_alpn_config().map_err(|e| tls_err(e.to_string()))?,
        ));
        let tls = tokio::time::timeout(self.timeout, connector.connect(server_name, stream))
            .await
            .map_err(|_| tls_err("handshake timed out".into()))?
            .map_err(|e| tls_err(e.to_string()))?;
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(b"acme-tls/1".as_slice()) {
            return Err(tls_err("the server did not negotiate acme-tls/1".into()));
        }
        let der = session
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| tls_err("no certificate".into()))?;
        let cert =
            mayfly_template::parse_certificate_der(der).map_err(|e| tls_err(e.to_string()))?;
        let incorrect = |why: String| {
            AcmeError::new(
                ProblemKind::IncorrectResponse,
                format!("tls-alpn-01: {why}"),
            )
        };
        let sans =
            mayfly_template::certificate_sans(&cert).map_err(|e| incorrect(e.to_string()))?;
        if sans != [self.identifier.to_san()] {
            return Err(incorrect(format!(
                "the certificate must name only {}",
                self.identifier.value
            )));
        }
        let digest = Sha256::digest(self.key_authorization.as_bytes());
        let mut expected = vec![0x04, 0x20];
        expected.extend_from_slice(&digest);
        let extension = cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == ACME_IDENTIFIER_OID)
            .ok_or_else(|| incorrect("the certificate has no acmeIdentifier extension".into()))?;
        if !extension.critical || extension.extn_value.as_bytes() != expected.as_slice() {
            return Err(incorrect(
                "the acmeIdentifier extension is not critical or not the key authorization digest"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The reverse-mapping name RFC 8738 §6 sends as SNI for an IP address.
fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = v6
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0xF])
                .map(|n| format!("{n:x}"))
                .collect();
            labels.reverse();
            format!("{}.ip6.arpa", labels.join("."))
        }
    }
}

/// Decodes an HTTP/1.1 chunked body (enough for a key authorization).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A TLS 1.3 client offering only `acme-tls/1` that accepts any certificate (the challenge
/// certificate is self-signed; its content is checked instead) but still verifies the
/// handshake signature with its key.
fn tls_alpn_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

/// The public key of the responder's certificate.
fn certificate_spki(
    cert: &rustls::pki_types::CertificateDer<'_>,
) -> Result<x509_cert::spki::SubjectPublicKeyInfoOwned, rustls::Error> {
    mayfly_template::parse_certificate_der(cert)
        .map(|c| c.tbs_certificate().subject_public_key_info().clone())
        .map_err(|_| bad_encoding(()))
}

fn bad_encoding<E>(_: E) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        // rustls has no raw-key check for TLS 1.2 (its schemes do not fix the curve): the
        // algorithm is the one of the scheme that fits the key's algorithm identifier.
        let spki = certificate_spki(cert)?;
        let mut key_algorithm = der::Encode::to_der(&spki.algorithm.oid).map_err(bad_encoding)?;
        if let Some(parameters) = &spki.algorithm.parameters {
            key_algorithm.extend(der::Encode::to_der(parameters).map_err(bad_encoding)?);
        }
        self.0
            .signature_verification_algorithms
            .mapping
            .iter()
            .filter(|(scheme, _)| *scheme == dss.scheme)
            .flat_map(|(_, algorithms)| algorithms.iter())
            .find(|algorithm| algorithm.public_key_alg_id().as_ref() == key_algorithm.as_slice())
            .ok_or(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ))?
            .verify_signature(
                spki.subject_public_key.raw_bytes(),
                message,
                dss.signature(),
            )
            .map(|()| rustls::client::danger::HandshakeSignatureValid::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        // webpki refuses to parse a certificate with the critical acmeIdentifier extension,
        // so the handshake signature is checked against the bare public key.
        let spki = der::Encode::to_der(&certificate_spki(cert)?).map_err(bad_encoding)?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &rustls::pki_types::SubjectPublicKeyInfoDer::from(spki),
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_follow_rfc_8738() {
        assert_eq!(
            reverse_name("127.0.0.1".parse().unwrap_or(IpAddr::from([0; 4]))),
            "1.0.0.127.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4])));
        assert!(
            v6.starts_with("1.0.0.0.") && v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa"),
            "{v6}"
        );
    }

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(dechunk("5\r\nhello\r\n3\r\n.ab\r\n0\r\n\r\n"), "hello.ab");
    }
}

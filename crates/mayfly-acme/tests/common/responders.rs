//! Real challenge responders on 127.0.0.1: http-01 (TCP), DNS (UDP: every A query answers
//! 127.0.0.1, AAAA ::1 for the names under v6.test, TXT from a table) and tls-alpn-01 (TLS
//! with ALPN acme-tls/1).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_template::{
    CertificateProfile, Issuer, ValidityPeriod, build_certificate, certificate_to_der,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

type Certified = Arc<rustls::sign::CertifiedKey>;

static TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

#[derive(Default)]
pub struct Responders {
    /// Files served at `/.well-known/acme-challenge/<token>` when no token is set in code
    /// (for clients that write a webroot: uacme, dehydrated, acme-tiny).
    pub webroot: std::path::PathBuf,
    /// TXT records written by client hooks: one file per name, one value per line.
    pub txt_dir: std::path::PathBuf,
    pub http_port: u16,
    pub tls_port: u16,
    /// The same tls-alpn-01 certificates, over TLS 1.2 only.
    pub tls12_port: u16,
    pub dns_addr: Option<SocketAddr>,
    http: Mutex<HashMap<String, String>>,
    txt: Mutex<HashMap<String, Vec<String>>>,
    tls: Mutex<HashMap<String, Certified>>,
}

impl Responders {
    pub async fn start(dir: &std::path::Path) -> Arc<Self> {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls12 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dns = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let this = Arc::new(Self {
            http_port: http.local_addr().unwrap().port(),
            tls_port: tls.local_addr().unwrap().port(),
            tls12_port: tls12.local_addr().unwrap().port(),
            dns_addr: Some(dns.local_addr().unwrap()),
            webroot: dir.join("webroot"),
            txt_dir: dir.join("txt"),
            ..Self::default()
        });
        std::fs::create_dir_all(this.webroot.join(".well-known/acme-challenge")).unwrap();
        std::fs::create_dir_all(&this.txt_dir).unwrap();
        tokio::spawn(Arc::clone(&this).serve_http(http));
        tokio::spawn(Arc::clone(&this).serve_dns(dns));
        tokio::spawn(Arc::clone(&this).serve_tls(tls, rustls::DEFAULT_VERSIONS));
        tokio::spawn(Arc::clone(&this).serve_tls(tls12, TLS12_ONLY));
        this
    }

    pub fn set_http(&self, token: &str, key_authorization: &str) {
        self.http
            .lock()
            .unwrap()
            .insert(token.into(), key_authorization.into());
    }

    /// Publishes the dns-01 TXT record for `name` (without `_acme-challenge.`).
    pub fn set_txt(&self, name: &str, key_authorization: &str) {
        let digest = super::client::b64(&Sha256::digest(key_authorization.as_bytes()));
        self.txt
            .lock()
            .unwrap()
            .entry(format!("_acme-challenge.{name}"))
            .or_default()
            .push(digest);
    }

    /// Serves a tls-alpn-01 certificate for `name` (RFC 8737 §3).
    pub fn set_tls(&self, name: &str, key_authorization: &str) {
        self.set_tls_certificate(name, &acme_identifier_profile(name, key_authorization));
    }

    /// Serves a self-signed certificate made from `profile` (step's JSON shape) to
    /// handshakes naming `name` (SNI).
    pub fn set_tls_certificate(&self, name: &str, profile: &serde_json::Value) {
        let key = PrivateKey::generate(KeyType::default()).unwrap();
        let profile = CertificateProfile::from_json(&profile.to_string()).unwrap();
        let cert = build_certificate(
            &profile,
            key.public_key(),
            Issuer::SelfSigned(&key),
            ValidityPeriod::starting_now(std::time::Duration::from_secs(3600)),
        )
        .unwrap();
        let der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.to_pkcs8_der().unwrap().to_vec().into());
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der).unwrap();
        let certified = rustls::sign::CertifiedKey::new(
            vec![certificate_to_der(&cert).unwrap().into()],
            signing,
        );
        self.tls
            .lock()
            .unwrap()
            .insert(name.into(), Arc::new(certified));
    }

    /// Also serves http-01 (code-set tokens and the webroot) on `port`.
    pub async fn listen_http(self: &Arc<Self>, port: u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        tokio::spawn(Arc::clone(self).serve_http(listener));
    }

    async fn serve_http(self: Arc<Self>, listener: TcpListener) {
        while let Ok((mut stream, _)) = listener.accept().await {
            let this = Arc::clone(&self);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let token = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .unwrap_or("");
                let found = this.http.lock().unwrap().get(token).cloned().or_else(|| {
                    let safe = !token.is_empty() && !token.contains(['/', '.']);
                    safe.then(|| {
                        std::fs::read_to_string(
                            this.webroot.join(".well-known/acme-challenge").join(token),
                        )
                        .ok()
                    })
                    .flatten()
                });
                let response = match found {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .into()
                    }
                };
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    }

    async fn serve_dns(self: Arc<Self>, socket: UdpSocket) {
        let mut buf = vec![0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let query = &buf[..n];
            // Question: labels from byte 12, then qtype.
            let mut pos = 12;
            let mut labels = Vec::new();
            while pos < n && query[pos] != 0 {
                let len = usize::from(query[pos]);
                labels.push(
                    String::from_utf8_lossy(&query[pos + 1..pos + 1 + len]).to_ascii_lowercase(),
                );
                pos += 1 + len;
            }
            let question_end = pos + 5;
            let qtype = u16::from_be_bytes([query[pos + 1], query[pos + 2]]);
            let name = labels.join(".");
            // Every name has A 127.0.0.1 but those under v6only.test; names under v6.test
            // and v6only.test also have AAAA ::1.
            let v6only = name.ends_with(".v6only.test");
            let v6 = v6only || name.ends_with(".v6.test");
            let answers: Vec<Vec<u8>> = match qtype {
                1 if !v6only => vec![vec![127, 0, 0, 1]],
                28 if v6 => vec![std::net::Ipv6Addr::LOCALHOST.octets().to_vec()],
                16 => self
                    .txt
                    .lock()
                    .unwrap()
                    .get(&name)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .chain(
                        std::fs::read_to_string(self.txt_dir.join(&name))
                            .unwrap_or_default()
                            .lines()
                            .map(|l| l.trim().to_owned())
                            .filter(|l| !l.is_empty()),
                    )
                    .map(|t| {
                        let mut rdata = vec![u8::try_from(t.len()).unwrap()];
                        rdata.extend_from_slice(t.as_bytes());
                        rdata
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let mut reply = query[..question_end].to_vec();
            reply[2] = 0x81;
            reply[3] = 0x80;
            reply[6..8].copy_from_slice(&u16::try_from(answers.len()).unwrap().to_be_bytes());
            reply[8..12].fill(0);
            for rdata in answers {
                reply.extend_from_slice(&[0xC0, 12]);
                reply.extend_from_slice(&qtype.to_be_bytes());
                reply.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
                reply.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
                reply.extend_from_slice(&rdata);
            }
            let _ = socket.send_to(&reply, peer).await;
        }
    }

    async fn serve_tls(
        self: Arc<Self>,
        listener: TcpListener,
        versions: &'static [&'static rustls::SupportedProtocolVersion],
    ) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni(Arc::clone(&self))));
        config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    }
}

#[derive(Debug)]
struct BySni(Arc<Responders>);

impl std::fmt::Debug for Responders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responders")
    }
}

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Certified> {
        let name = hello.server_name()?.to_owned();
        self.0.tls.lock().unwrap().get(&name).cloned()
    }
}

/// The profile of a correct tls-alpn-01 certificate for `name`: that one name and the
/// critical acmeIdentifier extension holding the key authorization's SHA-256 digest.
pub fn acme_identifier_profile(name: &str, key_authorization: &str) -> serde_json::Value {
    let mut value = vec![0x04, 0x20];
    value.extend_from_slice(&Sha256::digest(key_authorization.as_bytes()));
    serde_json::json!({
        "dnsNames": [name],
        "extensions": [{"id": "1.3.6.1.5.5.7.1.31", "critical": true,
            "value": base64::engine::general_purpose::STANDARD.encode(&value)}],
    })
}

//! A small HTTPS service that gets its certificate from Mayfly and renews it in-process.
//!
//! It bootstraps trust in the CA by fingerprint, mints a token with a JWK provisioner, gets
//! a certificate for a fresh key, and serves HTTPS through a [`CertResolver`] that the
//! [`Renewer`] updates at 2/3 of each certificate's lifetime: no restart, no dropped request,
//! never an expired certificate. Each response names the serial being served.
//!
//! ```text
//! cargo run -p mayfly-client --example mtls_service -- \
//!     https://127.0.0.1:9000 FINGERPRINT PROVISIONER PASSWORD_FILE localhost 127.0.0.1:8443 [NOT_AFTER]
//! curl --cacert ~/.mayfly/certs/root_ca.crt https://localhost:8443/
//! ```

use std::sync::Arc;

use mayfly_client::{CertResolver, Client, Identity, Renewer, TokenRequest, Validity};
use mayfly_keys::{KeyType, Password, PrivateKey};
use mayfly_template::San;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        ca_url,
        fingerprint,
        provisioner,
        password_file,
        name,
        listen,
        rest @ ..,
    ] = &args[..]
    else {
        return Err("usage: mtls_service CA_URL FINGERPRINT PROVISIONER PASSWORD_FILE NAME LISTEN [NOT_AFTER]".into());
    };

    // Get a certificate.
    let client = Client::bootstrap(ca_url, fingerprint).await?;
    let password = Password::from_file(password_file.as_ref())?;
    let request = TokenRequest::sign(name, vec![name.clone()]);
    let token = client
        .provisioner_token(Some(provisioner), &password, &request)
        .await?;
    let key = PrivateKey::generate(KeyType::default())?;
    let csr = mayfly_template::build_request(name, &[San::guess(name)], &key)?;
    let validity = Validity {
        not_after: rest.first().cloned(),
        ..Validity::default()
    };
    let identity = Identity::new(client.sign(&csr, &token, &validity).await?, key)?;
    println!("serving serial {}", identity.certificate().serial_decimal());

    // Keep it fresh in-process.
    let resolver = Arc::new(CertResolver::new(&identity)?);
    let renewer = Renewer::new(client, identity).with_resolver(Arc::clone(&resolver));
    tokio::spawn(async move {
        if let Err(e) = renewer.run(std::future::pending()).await {
            eprintln!("renewal stopped: {e}");
        }
    });

    // Serve HTTPS with whatever certificate the resolver holds now.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn rustls::server::ResolvesServerCert>);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    println!("listening on https://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let resolver = Arc::clone(&resolver);
        tokio::spawn(async move {
            if let Err(e) = respond(acceptor, tcp, &resolver).await {
                eprintln!("request failed: {e}");
            }
        });
    }
}

/// Answers one HTTP/1.1 request with the serial of the certificate being served.
async fn respond(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    resolver: &CertResolver,
) -> Result<(), Error> {
    let mut tls = acceptor.accept(tcp).await?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let leaf = resolver
        .current()
        .end_entity_cert()
        .map(|der| der.to_vec())
        .unwrap_or_default();
    let cert = mayfly_template::parse_certificate_der(&leaf)?;
    let serial = mayfly_client::SignedCertificate {
        certificate: cert,
        intermediates: Vec::new(),
    }
    .serial_decimal();
    let body = format!("hello from serial {serial}\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await?;
    Ok(())
}

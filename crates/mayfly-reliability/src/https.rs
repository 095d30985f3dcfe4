//! A raw HTTPS/1.1 client: it sends exactly the bytes it is given (broken JSON, traversal
//! paths, odd methods) and reads whatever comes back until the server closes.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A response: status, lower-cased headers and the (de-chunked) body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses an HTTP/1.1 response (`Content-Length` or chunked or read-to-close body).
pub fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest.get(..len)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// The client: the CA's port, its root and an optional client certificate.
#[derive(Debug, Clone)]
pub struct Https {
    port: u16,
    config: Arc<ClientConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(root_pem: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(root_pem).expect("the root PEM") {
        roots
            .add(cert.expect("a root certificate"))
            .expect("add root");
    }
    roots
}

impl Https {
    /// Trusts `root_pem` only; no client certificate.
    pub fn new(port: u16, root_pem: &Path) -> Self {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots(root_pem))
            .with_no_client_auth();
        Self {
            port,
            config: Arc::new(config),
        }
    }

    /// The same client presenting `chain_pem` (leaf first) with the PKCS#8 DER `key`.
    pub fn with_client_cert(&self, root_pem: &Path, chain_pem: &str, key_pkcs8: &[u8]) -> Self {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the client chain PEM");
        let key = PrivateKeyDer::Pkcs8(key_pkcs8.to_vec().into());
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots(root_pem))
            .with_client_auth_cert(chain, key)
            .expect("client certificate");
        Self {
            port: self.port,
            config: Arc::new(config),
        }
    }

    /// Builds `METHOD PATH HTTP/1.1` with Host, Content-Length, `Connection: close`, `headers`
    /// and `body`.
    pub fn request(&self, method: &str, path: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
        let mut raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        if !body.is_empty() || method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(body);
        raw
    }

    /// A fresh TLS connection (handshake done on first write or read).
    pub fn connect(&self) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
        self.connect_after(b"")
    }

    /// A fresh TLS connection that first sends `prefix` in the clear (a PROXY protocol
    /// header, as a load balancer would).
    pub fn connect_after(
        &self,
        prefix: &[u8],
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
        let mut tcp =
            TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| format!("connect: {e}"))?;
        tcp.write_all(prefix).map_err(|e| format!("write: {e}"))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let conn = ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| format!("TLS: {e}"))?;
        Ok(StreamOwned::new(conn, tcp))
    }

    /// Sends one raw request on a fresh connection and reads the response; `Err` names what
    /// went wrong at the transport (refused, reset, no response).
    pub fn send(&self, raw: &[u8]) -> Result<Reply, String> {
        self.send_after(b"", raw)
    }

    /// [`Https::send`] on a connection that starts with `prefix` ([`Https::connect_after`]).
    pub fn send_after(&self, prefix: &[u8], raw: &[u8]) -> Result<Reply, String> {
        let mut tls = self.connect_after(prefix)?;
        // The server may answer (413, 400) and close before it has read everything: keep
        // whatever it sent even when the write fails.
        let written = tls.write_all(raw).and_then(|()| tls.flush());
        let mut out = Vec::new();
        let read = tls.read_to_end(&mut out);
        match (parse_reply(&out), written, read) {
            (Some(reply), _, _) => Ok(reply),
            (None, Err(w), _) => Err(format!("write: {w}")),
            (None, Ok(()), Err(r)) if r.kind() != ErrorKind::UnexpectedEof => {
                Err(format!("read: {r}"))
            }
            (None, _, _) => Err(format!(
                "no HTTP response ({} bytes: {:?})",
                out.len(),
                String::from_utf8_lossy(&out[..out.len().min(200)])
            )),
        }
    }

    /// `send(request(...))`.
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Reply, String> {
        let headers = ["Content-Type: application/json".to_owned()];
        self.send(&self.request(method, path, &headers, body))
    }
}

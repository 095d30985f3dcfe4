//! `mayfly-loadgen acme`: complete ACME orders per second against any RFC 8555 server, with
//! one client for every server measured (Mayfly and Pebble alike).
//!
//! One account (P-256) is registered once; `workers` tasks share it (same key, same kid), each
//! over its own keep-alive HTTPS connection, and loop newOrder -> authorization -> http-01
//! challenge -> poll -> finalize (CSR) -> poll -> download. Every order names a fresh DNS name,
//! so no server can reuse an authorization. The process also runs the challenge side on
//! loopback: an http-01 responder that answers every token with its key authorization (it
//! knows the account key) and a DNS responder that resolves every name to 127.0.0.1, so a
//! server that really validates (Mayfly) does the whole http-01 exchange, while Pebble
//! (`PEBBLE_VA_ALWAYS_VALID=1`) skips it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mayfly_jwt::Jwk;
use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_template::San;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use crate::Error;

/// The largest response body read from the ACME server.
const MAX_BODY: usize = 1 << 20;
/// How long one order may take before it counts as failed.
const ORDER_TIMEOUT: Duration = Duration::from_secs(30);

/// What `mayfly-loadgen acme` measures.
pub struct Settings {
    /// The directory URL, e.g. `https://127.0.0.1:9000/acme/acme/directory`.
    pub directory: String,
    /// PEM file with the root(s) the server's TLS certificate chains to.
    pub ca_file: PathBuf,
    /// Concurrent order loops sharing the one account.
    pub workers: usize,
    /// Warm-up before the measured window (orders finished in it are not counted).
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// Sleep between two polls of a pending object.
    pub poll: Duration,
    /// Port of the http-01 responder on 127.0.0.1 (0: none).
    pub http_port: u16,
    /// Port of the DNS responder on 127.0.0.1 (0: none).
    pub dns_port: u16,
}

fn acme_err(what: impl std::fmt::Display) -> Error {
    Error::Acme(what.to_string())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs the benchmark and prints one `RESULT {json}` line.
pub fn run(settings: &Settings) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io(Path::new("tokio runtime"), e))?;
    runtime.block_on(bench(settings))
}

async fn bench(settings: &Settings) -> Result<(), Error> {
    let key = PrivateKey::generate(KeyType::EcP256)?;
    let jwk = Jwk::from_public_key(key.public_key()).map_err(mayfly_jwt::Error::from)?;
    let thumbprint = jwk.thumbprint().map_err(mayfly_jwt::Error::from)?;
    let jwk: Value =
        serde_json::from_str(&jwk.to_json().map_err(mayfly_jwt::Error::from)?).map_err(acme_err)?;
    if settings.http_port != 0 || settings.dns_port != 0 {
        start_responders(settings, Arc::from(thumbprint.as_str()))?;
    }
    let origin = Origin::parse(&settings.directory, &settings.ca_file)?;
    let mut first = Conn::new(Arc::clone(&origin));
    let directory = first.get_json(&settings.directory).await?;
    let url = |name: &str| {
        directory[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| acme_err(format!("the directory has no {name}")))
    };
    let mut account = Account {
        key,
        jwk,
        kid: None,
        new_nonce: url("newNonce")?,
        new_order: url("newOrder")?,
    };
    let created = first
        .post(
            &account,
            &url("newAccount")?,
            Some(&json!({"termsOfServiceAgreed": true, "contact": ["mailto:bench@bench.test"]})),
        )
        .await?;
    created.expect(&[200, 201], "newAccount")?;
    account.kid = Some(
        created
            .location
            .ok_or_else(|| acme_err("newAccount answered without a Location"))?,
    );
    let account = Arc::new(account);

    let start = Instant::now() + Duration::from_millis(100);
    let counted_from = start + settings.warmup;
    let end = counted_from + settings.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..settings.workers {
        let (account, origin, poll) = (Arc::clone(&account), Arc::clone(&origin), settings.poll);
        tasks.spawn(async move {
            let mut conn = Conn::new(origin);
            let csr_key = PrivateKey::generate(KeyType::EcP256)?;
            tokio::time::sleep_until(start.into()).await;
            let mut outcome = Outcome::default();
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let name = format!(
                    "w{worker}-{n}-{}.bench.test",
                    hex::encode(mayfly_keys::random_bytes::<6>())
                );
                let t0 = Instant::now();
                let result = tokio::time::timeout(
                    ORDER_TIMEOUT,
                    conn.order(&account, &csr_key, &name, poll),
                )
                .await
                .unwrap_or_else(|_| Err(acme_err("order timed out")));
                let t1 = Instant::now();
                let counted = t0 >= counted_from && t1 <= end;
                match result {
                    Ok(()) if counted => outcome.latencies.push(t1 - t0),
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            outcome.errors += 1;
                        }
                        if outcome.samples.len() < 3 {
                            outcome.samples.push(e.to_string());
                        }
                        // A failed exchange may leave the connection mid-response.
                        conn.sender = None;
                    }
                }
            }
            Ok::<_, Error>(outcome)
        });
    }
    let mut all = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        let outcome = done.map_err(acme_err)??;
        all.latencies.extend(outcome.latencies);
        all.errors += outcome.errors;
        all.samples.extend(outcome.samples);
    }
    all.latencies.sort();
    let percentile = |p: f64| {
        all.latencies
            .get(((all.latencies.len() as f64 * p) as usize).min(all.latencies.len().max(1) - 1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "RESULT {}",
        json!({
            "orders": all.latencies.len(),
            "errors": all.errors,
            "orders_per_s": all.latencies.len() as f64 / settings.duration.as_secs_f64(),
            "p50_ms": percentile(0.5),
            "p99_ms": percentile(0.99),
            "workers": settings.workers,
            "err_samples": all.samples,
        })
    );
    Ok(())
}

/// What one worker measured.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    errors: u64,
    samples: Vec<String>,
}

/// The shared account: its key, public JWK and (once registered) kid URL.
struct Account {
    key: PrivateKey,
    jwk: Value,
    kid: Option<String>,
    new_nonce: String,
    new_order: String,
}

impl Account {
    /// A flattened JWS (RFC 8555 §6.2) of `payload` (None: POST-as-GET) for `url`.
    fn jws(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Result<Bytes, Error> {
        let mut header = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => header["kid"] = json!(kid),
            None => header["jwk"] = self.jwk.clone(),
        }
        let protected = b64(header.to_string().as_bytes());
        let payload = payload
            .map(|p| b64(p.to_string().as_bytes()))
            .unwrap_or_default();
        let signature = self
            .key
            .sign_jws(format!("{protected}.{payload}").as_bytes())?;
        let body =
            json!({"protected": protected, "payload": payload, "signature": b64(&signature)});
        Ok(Bytes::from(body.to_string()))
    }
}

/// The server every URL points at (one origin), and the TLS settings to reach it.
struct Origin {
    host: String,
    port: u16,
    tls: tokio_rustls::TlsConnector,
}

impl Origin {
    fn parse(directory: &str, ca_file: &Path) -> Result<Arc<Self>, Error> {
        let rest = directory
            .strip_prefix("https://")
            .ok_or_else(|| acme_err(format!("{directory}: not an https:// URL")))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| acme_err(format!("{directory}: bad port")))?,
            ),
            None => (authority, 443),
        };
        let pem = std::fs::read(ca_file).map_err(|e| Error::io(ca_file, e))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in x509_cert::Certificate::load_pem_chain(&pem)
            .map_err(|e| acme_err(format!("{}: {e}", ca_file.display())))?
        {
            let der = der::Encode::to_der(&cert).map_err(acme_err)?;
            roots.add(der.into()).map_err(acme_err)?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(acme_err)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(Self {
            host: host.trim_start_matches('[').trim_end_matches(']').into(),
            port,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }))
    }
}

/// An answer from the ACME server.
struct Reply {
    status: u16,
    location: Option<String>,
    nonce: Option<String>,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| acme_err(format!("bad JSON: {e}")))
    }

    /// Fails unless the status is one of `ok`, quoting the server's problem document.
    fn expect(&self, ok: &[u16], what: &str) -> Result<&Self, Error> {
        if ok.contains(&self.status) {
            return Ok(self);
        }
        Err(acme_err(format!(
            "{what}: HTTP {} {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )))
    }
}

/// One keep-alive HTTPS connection (reopened after an error) and the last nonce it received.
struct Conn {
    origin: Arc<Origin>,
    sender: Option<SendRequest<Full<Bytes>>>,
    nonce: Option<String>,
}

impl Conn {
    fn new(origin: Arc<Origin>) -> Self {
        Self {
            origin,
            sender: None,
            nonce: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let tcp = tokio::net::TcpStream::connect((self.origin.host.as_str(), self.origin.port))
            .await
            .map_err(|e| acme_err(format!("connect: {e}")))?;
        tcp.set_nodelay(true).map_err(acme_err)?;
        let name = ServerName::try_from(self.origin.host.clone()).map_err(acme_err)?;
        let tls = self
            .origin
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| acme_err(format!("TLS handshake: {e}")))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(acme_err)?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn send(&mut self, method: &str, url: &str, body: Option<Bytes>) -> Result<Reply, Error> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await.map_err(acme_err)?;
        // Origin-form request target: the path (and query) of the absolute URL.
        let target = url
            .strip_prefix("https://")
            .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(url);
        let mut request = Request::builder().method(method).uri(target).header(
            hyper::header::HOST,
            format!("{}:{}", self.origin.host, self.origin.port),
        );
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/jose+json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(acme_err)?;
        let response = sender.send_request(request).await.map_err(acme_err)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, location, nonce) = (
            response.status().as_u16(),
            header("location"),
            header("replay-nonce"),
        );
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| acme_err(format!("reading the body: {e}")))?
            .to_bytes();
        self.sender = Some(sender);
        Ok(Reply {
            status,
            location,
            nonce,
            body,
        })
    }

    async fn get_json(&mut self, url: &str) -> Result<Value, Error> {
        let reply = self.send("GET", url, None).await?;
        reply.expect(&[200], url)?.json()
    }

    /// POSTs a JWS of `payload` to `url` with the last nonce (fetching one when there is
    /// none) and retries on `badNonce`.
    async fn post(
        &mut self,
        account: &Account,
        url: &str,
        payload: Option<&Value>,
    ) -> Result<Reply, Error> {
        let mut last = None;
        for _ in 0..3 {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => {
                    let reply = self.send("HEAD", &account.new_nonce, None).await?;
                    reply
                        .nonce
                        .ok_or_else(|| acme_err("newNonce answered without Replay-Nonce"))?
                }
            };
            let reply = self
                .send("POST", url, Some(account.jws(url, &nonce, payload)?))
                .await?;
            self.nonce.clone_from(&reply.nonce);
            let bad_nonce =
                reply.status == 400 && String::from_utf8_lossy(&reply.body).contains("badNonce");
            if !bad_nonce {
                return Ok(reply);
            }
            last = Some(reply);
        }
        last.ok_or_else(|| acme_err("no attempt made"))
    }

    /// POST-as-GET of `url` until its status is not one of `waiting`.
    async fn poll(
        &mut self,
        account: &Account,
        url: &str,
        waiting: &[&str],
        every: Duration,
    ) -> Result<Value, Error> {
        loop {
            let object = self
                .post(account, url, None)
                .await?
                .expect(&[200], url)?
                .json()?;
            let status = object["status"].as_str().unwrap_or("");
            if !waiting.contains(&status) {
                return Ok(object);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One complete order for `name`.
    async fn order(
        &mut self,
        account: &Account,
        csr_key: &PrivateKey,
        name: &str,
        poll: Duration,
    ) -> Result<(), Error> {
        let created = self
            .post(
                account,
                &account.new_order,
                Some(&json!({"identifiers": [{"type": "dns", "value": name}]})),
            )
            .await?;
        let order = created.expect(&[201], "newOrder")?.json()?;
        let order_url = created
            .location
            .clone()
            .ok_or_else(|| acme_err("newOrder answered without a Location"))?;
        let str_of = |v: &Value, what: &str| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| acme_err(format!("missing {what}")))
        };
        for authz_url in order["authorizations"].as_array().into_iter().flatten() {
            let authz_url = str_of(authz_url, "authorization URL")?;
            let authz = self
                .post(account, &authz_url, None)
                .await?
                .expect(&[200], "authorization")?
                .json()?;
            if authz["status"] == "valid" {
                continue;
            }
            let challenge = authz["challenges"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "http-01")
                .ok_or_else(|| acme_err("no http-01 challenge offered"))?;
            let challenge_url = str_of(&challenge["url"], "challenge URL")?;
            self.post(account, &challenge_url, Some(&json!({})))
                .await?
                .expect(&[200], "challenge")?;
            let done = self
                .poll(account, &authz_url, &["pending", "processing"], poll)
                .await?;
            if done["status"] != "valid" {
                return Err(acme_err(format!("authorization ended {}", done["status"])));
            }
        }
        let csr = mayfly_template::build_request(name, &[San::Dns(name.into())], csr_key)?;
        let finalize = str_of(&order["finalize"], "finalize URL")?;
        let payload = json!({"csr": b64(&csr)});
        loop {
            let reply = self.post(account, &finalize, Some(&payload)).await?;
            // An order whose authorizations just turned valid may not be ready yet.
            if reply.status == 403 && String::from_utf8_lossy(&reply.body).contains("orderNotReady")
            {
                tokio::time::sleep(poll).await;
                continue;
            }
            reply.expect(&[200], "finalize")?;
            break;
        }
        let valid = self
            .poll(
                account,
                &order_url,
                &["pending", "ready", "processing"],
                poll,
            )
            .await?;
        let certificate = str_of(&valid["certificate"], "certificate URL")?;
        let chain = self.post(account, &certificate, None).await?;
        chain.expect(&[200], "certificate")?;
        if !chain.body.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err(acme_err("the certificate download is not PEM"));
        }
        Ok(())
    }
}

/// Starts the challenge side (the http-01 and DNS responders of `settings`) on a thread and
/// runtime of its own: the client's web server and DNS are other machines in real life, and
/// must not wait behind the order loops' work to answer the server's validation.
fn start_responders(settings: &Settings, thumbprint: Arc<str>) -> Result<(), Error> {
    let (http_port, dns_port) = (settings.http_port, settings.dns_port);
    let http = (http_port != 0)
        .then(|| std::net::TcpListener::bind(("127.0.0.1", http_port)))
        .transpose()
        .map_err(|e| acme_err(format!("http-01 responder: {e}")))?;
    let dns = (dns_port != 0)
        .then(|| std::net::UdpSocket::bind(("127.0.0.1", dns_port)))
        .transpose()
        .map_err(|e| acme_err(format!("DNS responder: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io(Path::new("tokio runtime"), e))?;
    std::thread::Builder::new()
        .name("responders".into())
        .spawn(move || {
            let served = runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                if let Some(listener) = http {
                    listener.set_nonblocking(true)?;
                    tasks.spawn(serve_http01(TcpListener::from_std(listener)?, thumbprint));
                }
                if let Some(socket) = dns {
                    socket.set_nonblocking(true)?;
                    tasks.spawn(serve_dns(UdpSocket::from_std(socket)?));
                }
                tasks.join_all().await;
                Ok::<_, std::io::Error>(())
            });
            if let Err(e) = served {
                eprintln!("mayfly-loadgen: the challenge responders stopped: {e}");
            }
        })
        .map_err(|e| acme_err(format!("responder thread: {e}")))?;
    Ok(())
}

/// Answers every `GET /.well-known/acme-challenge/{token}` with `{token}.{thumbprint}`.
async fn serve_http01(listener: TcpListener, thumbprint: Arc<str>) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let thumbprint = Arc::clone(&thumbprint);
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut len = 0;
            while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => len += n,
                }
            }
            let request = String::from_utf8_lossy(&buf[..len]);
            let token = request
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.strip_prefix("/.well-known/acme-challenge/"));
            let response = match token {
                Some(token) => {
                    let body = format!("{token}.{thumbprint}");
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                }
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .into(),
            };
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Answers every DNS A query with 127.0.0.1 and every other type with no records.
async fn serve_dns(socket: UdpSocket) {
    let mut buf = [0u8; 512];
    while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
        if let Some(reply) = dns_reply(&buf[..n]) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// The answer to one DNS query (None for a datagram that is not one).
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 12;
    while *query.get(pos)? != 0 {
        pos += 1 + usize::from(query[pos]);
    }
    let qtype = u16::from_be_bytes([*query.get(pos + 1)?, *query.get(pos + 2)?]);
    let question_end = pos + 5;
    let mut reply = query.get(..question_end)?.to_vec();
    reply[2] = 0x81;
    reply[3] = 0x80;
    reply[6..8].copy_from_slice(&u16::from(qtype == 1).to_be_bytes());
    reply[8..12].fill(0);
    if qtype == 1 {
        reply.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some(reply)
}

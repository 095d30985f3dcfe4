//! High availability (issue 12): two `mayfly-ca` processes with the same ca.json and keys,
//! on different ports, sharing one fresh MariaDB or PostgreSQL database.
//!
//! - A token used on one instance is refused on the other.
//! - An ACME order created on A is finalized on B; nonces of A are good on B, once.
//! - SIGKILL of A during a sign load spread over both: clients retry on B; every acknowledged
//!   certificate is in the database and no serial is acknowledged twice.
//! - A real nginx in stream mode with `proxy_protocol on` in front of both: the client's own
//!   address reaches the request logs and the audit records; a connection without a PROXY
//!   header is refused; v2 headers (HAProxy `send-proxy-v2`) work too.
//! - Both instances revoke concurrently, each regenerating the CRL: the CRL numbers either
//!   serves never go down, no number names two different CRLs, and the last CRL is complete.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mayfly_reliability::{AcmeClient, Backend, Ca, Https, Reply, SharedDb, csr_pem};
use mayfly_testkit::{run_ok, temp_dir, tool, write_file};
use serde_json::{Value, json};

/// Two instances of one CA on one database, both running.
struct Pair {
    a: Ca,
    b: Ca,
    db: SharedDb,
    _dirs: [tempfile::TempDir; 2],
}

/// Initialises a CA, points it at a fresh database of `backend`, applies `edit` to its
/// ca.json, copies it to a second folder and starts both (A first: it creates the schema).
fn pair(backend: Backend, edit: impl Fn(&mut Value)) -> Option<Pair> {
    let db = SharedDb::fresh(backend)?;
    let dirs = [temp_dir(), temp_dir()];
    let mut a = Ca::init_stopped(dirs[0].path());
    a.edit_config(|json| {
        json["db"] = db.db_block();
        edit(json);
    });
    let mut b = a.copy_to(dirs[1].path());
    a.start();
    b.start();
    Some(Pair {
        a,
        b,
        db,
        _dirs: dirs,
    })
}

fn sign_body(ca: &Ca, key: &(mayfly_keys::PrivateKey, String), name: &str) -> String {
    let (csr, _) = csr_pem(name);
    let token = ca.sign_token(key, &[name.to_owned()]);
    json!({"csr": csr, "ott": token}).to_string()
}

/// The serial of the leaf in a `/sign` reply, as the store keys it (lowercase hex).
fn stored_serial(reply: &Reply) -> String {
    let json = reply.json().expect("sign reply is JSON");
    let leaf =
        mayfly_template::parse_certificate_pem(json["crt"].as_str().expect("crt")).expect("leaf");
    let bytes = leaf.tbs_certificate().serial_number().as_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    hex::encode(&bytes[start..])
}

fn replay_refused_on_the_other_instance(backend: Backend) {
    let Some(p) = pair(backend, |_| {}) else {
        return;
    };
    let key = p.a.provisioner();
    for (first, second) in [(&p.a, &p.b), (&p.b, &p.a)] {
        let body = sign_body(first, &key, "replay.ha.test");
        let used = first
            .https()
            .call("POST", "/1.0/sign", body.as_bytes())
            .expect("sign");
        assert_eq!(used.status, 201, "{}", used.text());
        let replay = second
            .https()
            .call("POST", "/1.0/sign", body.as_bytes())
            .expect("replay");
        assert_eq!(replay.status, 401, "{}", replay.text());
        let json = replay.json().expect("a JSON error");
        assert_eq!(json["status"], 401, "{json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains("already been used"), "{json}");
    }
    let used = p.db.query("SELECT COUNT(*) FROM used_tokens");
    assert_eq!(used, ["2"], "one used-token row per token");
}

/// Answers http-01 challenges on a port of 127.0.0.1 until dropped.
struct Responder {
    port: u16,
    answers: Arc<Mutex<HashMap<String, String>>>,
    stop: Arc<AtomicBool>,
}

impl Responder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the responder");
        let port = listener.local_addr().expect("address").port();
        let answers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (map, done) = (Arc::clone(&answers), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split(' ').nth(1).unwrap_or_default();
                let token = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .unwrap_or_default();
                let answer = map.lock().expect("lock").get(token).cloned();
                let response = match answer {
                    Some(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
                };
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Self {
            port,
            answers,
            stop,
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn acme_order_moves_between_instances(backend: Backend) {
    let responder = Responder::start();
    let provisioner = json!({
        "type": "ACME", "name": "acme", "challenges": ["http-01"],
        "validation": {"httpPort": responder.port},
    });
    let Some(p) = pair(backend, |json| {
        json["authority"]["provisioners"]
            .as_array_mut()
            .expect("provisioners")
            .push(provisioner.clone());
    }) else {
        return;
    };
    let (a, b) = (p.a.https(), p.b.https());
    // The same Host on both, as behind a load balancer: URLs from A are valid on B.
    let mut client = AcmeClient::new("127.0.0.1", "acme");

    // A nonce of A is good on B, once, and then neither instance takes it again.
    let nonce = client.nonce(&a);
    client.register(&b, &nonce);
    let again = client.post_with_nonce(&b, "/new-order", Some(&json!({})), &nonce);
    assert_eq!(again.status, 400, "{}", again.json);
    assert_eq!(again.json["type"], "urn:ietf:params:acme:error:badNonce");
    let again = client.post_with_nonce(&a, "/new-order", Some(&json!({})), &nonce);
    assert_eq!(again.json["type"], "urn:ietf:params:acme:error:badNonce");

    // newOrder on A, the challenge on A, finalize on B.
    let ids = json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]});
    let created = client.post(&a, "/new-order", Some(&ids));
    assert_eq!(created.status, 201, "{}", created.json);
    let order = client.path_of(created.location.as_deref().expect("order Location"));
    let authz_url = created.json["authorizations"][0].as_str().expect("authz");
    let authz_path = client.path_of(authz_url);
    let nonce_of_a = client.nonce(&a);
    let authz = client.post_with_nonce(&b, &authz_path, None, &nonce_of_a);
    assert_eq!(
        authz.status, 200,
        "B reads A's authorization: {}",
        authz.json
    );
    let challenge = authz.json["challenges"]
        .as_array()
        .expect("challenges")
        .iter()
        .find(|c| c["type"] == "http-01")
        .expect("http-01")
        .clone();
    let token = challenge["token"].as_str().expect("token");
    responder
        .answers
        .lock()
        .expect("lock")
        .insert(token.to_owned(), client.key_authorization(token));
    let started = client.post(
        &a,
        &client.path_of(challenge["url"].as_str().expect("url")),
        Some(&json!({})),
    );
    assert_eq!(started.status, 200, "{}", started.json);
    let valid = client.poll(&b, &authz_path);
    assert_eq!(valid.json["status"], "valid", "{}", valid.json);

    let ready = client.poll(&b, &order);
    assert_eq!(ready.json["status"], "ready", "{}", ready.json);
    let leaf_key = mayfly_keys::PrivateKey::generate(mayfly_keys::KeyType::EcP256).expect("key");
    let csr =
        mayfly_template::build_request("", &[mayfly_template::San::guess("127.0.0.1")], &leaf_key)
            .expect("csr");
    let finalize = client.path_of(ready.json["finalize"].as_str().expect("finalize"));
    let csr = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &csr);
    let finalized = client.post(&b, &finalize, Some(&json!({"csr": csr})));
    assert_eq!(finalized.status, 200, "finalize on B: {}", finalized.json);
    let done = client.poll(&a, &order);
    assert_eq!(
        done.json["status"], "valid",
        "A sees B's finalization: {}",
        done.json
    );
    let cert = client.path_of(done.json["certificate"].as_str().expect("certificate"));
    let from_a = client.post(&a, &cert, None);
    let from_b = client.post(&b, &cert, None);
    assert_eq!(from_a.status, 200, "{}", from_a.raw.text());
    assert_eq!(from_b.status, 200, "{}", from_b.raw.text());
    assert_eq!(
        from_a.raw.body, from_b.raw.body,
        "both serve the same chain"
    );
    let chain = from_a.raw.text();
    let end = "-----END CERTIFICATE-----";
    let leaf_pem = &chain[..chain.find(end).expect("a PEM chain") + end.len()];
    let leaf = mayfly_template::parse_certificate_pem(leaf_pem).expect("the leaf");
    let bytes = leaf.tbs_certificate().serial_number().as_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let serial = hex::encode(&bytes[start..]);
    let stored = p.db.query(&format!(
        "SELECT serial FROM certificates WHERE serial = '{serial}'"
    ));
    assert_eq!(
        stored,
        [serial],
        "the ACME certificate is in the shared database"
    );
}

/// What the load clients saw.
#[derive(Default, Debug)]
struct Tally {
    /// Serials answered 201 (store spelling).
    acked: Vec<String>,
    /// Acknowledgements per instance: A, B.
    by_instance: [usize; 2],
    /// Requests that failed on one instance and were retried on the other.
    retried: usize,
    /// Retries refused as replays: the dying instance committed but could not answer.
    committed_unacknowledged: usize,
}

/// One client thread: alternates between the instances; a request that fails at the
/// transport or with a 5xx is retried once on the other instance with the same body.
fn client_load(
    cas: [&Ca; 2],
    key: &(mayfly_keys::PrivateKey, String),
    first: usize,
    tally: &Mutex<Tally>,
    stop: &AtomicBool,
) {
    let https = [cas[0].https(), cas[1].https()];
    let mut next = first;
    while !stop.load(Ordering::Relaxed) {
        let body = sign_body(cas[next], key, "load.ha.test");
        let reply = https[next].call("POST", "/1.0/sign", body.as_bytes());
        let (served_by, reply) = match reply {
            Ok(r) if r.status < 500 => (next, r),
            failed => {
                let other = 1 - next;
                let retry = https[other]
                    .call("POST", "/1.0/sign", body.as_bytes())
                    .unwrap_or_else(|e| panic!("retry on instance {other} after {failed:?}: {e}"));
                tally.lock().expect("lock").retried += 1;
                (other, retry)
            }
        };
        match reply.status {
            201 => {
                let serial = stored_serial(&reply);
                let mut t = tally.lock().expect("lock");
                t.acked.push(serial);
                t.by_instance[served_by] += 1;
            }
            401 if reply.text().contains("already been used") => {
                tally.lock().expect("lock").committed_unacknowledged += 1;
            }
            status => panic!("instance {served_by} answered {status}: {}", reply.text()),
        }
        next = 1 - next;
    }
}

fn sigkill_one_instance_under_load(backend: Backend) {
    let Some(mut p) = pair(backend, |_| {}) else {
        return;
    };
    let key = p.a.provisioner();
    let tally = Mutex::new(Tally::default());
    let stop = AtomicBool::new(false);
    let pid = p.a.pid().expect("A runs").to_string();
    let acked_before_kill = thread::scope(|s| {
        for i in 0..4 {
            let (cas, key, tally, stop) = ([&p.a, &p.b], &key, &tally, &stop);
            s.spawn(move || client_load(cas, key, i % 2, tally, stop));
        }
        thread::sleep(Duration::from_millis(1500));
        run_ok(Command::new("kill").args(["-KILL", &pid]));
        let before = tally.lock().expect("lock").acked.len();
        thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        before
    });
    p.a.kill(); // reaps it
    let tally = tally.into_inner().expect("lock");
    let stored: BTreeSet<String> =
        p.db.query("SELECT serial FROM certificates")
            .into_iter()
            .collect();
    for serial in &tally.acked {
        assert!(
            stored.contains(serial),
            "acknowledged certificate {serial} is missing"
        );
    }
    let distinct: BTreeSet<&String> = tally.acked.iter().collect();
    assert_eq!(
        distinct.len(),
        tally.acked.len(),
        "a serial was acknowledged twice"
    );
    let duplicates =
        p.db.query("SELECT serial FROM certificates GROUP BY serial HAVING COUNT(*) > 1");
    assert!(duplicates.is_empty(), "duplicated serials: {duplicates:?}");
    assert!(
        tally.by_instance[0] > 0 && tally.by_instance[1] > 0,
        "{tally:?}"
    );
    assert!(
        tally.retried > 0,
        "no request was retried after the kill: {tally:?}"
    );
    assert!(
        tally.acked.len() > acked_before_kill,
        "B kept issuing after A died: {tally:?}"
    );
    let health = p.b.https().call("GET", "/health", b"").expect("B answers");
    assert_eq!(health.status, 200);
    println!(
        "ha sigkill ({backend:?}): {} acknowledged ({} by A, {} by B; {} before the kill), \
         {} retried on the other instance, {} committed by A but unacknowledged, {} rows; \
         none missing, no serial twice",
        tally.acked.len(),
        tally.by_instance[0],
        tally.by_instance[1],
        acked_before_kill,
        tally.retried,
        tally.committed_unacknowledged,
        stored.len()
    );
}

/// nginx in the foreground (`daemon off`, one process) with its own files in `dir`.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(nginx: &Path, dir: &Path, upstreams: &[u16]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Debian builds the stream module as a dynamic module; load it when it is one.
        let version = run_ok(Command::new(nginx).arg("-V"));
        let load = if version.contains("--with-stream=dynamic") {
            let modules = version
                .split_whitespace()
                .find_map(|a| a.strip_prefix("--modules-path="))
                .unwrap_or("/usr/lib/nginx/modules");
            format!("load_module {modules}/ngx_stream_module.so;")
        } else {
            String::new()
        };
        let servers: String = upstreams
            .iter()
            .map(|p| format!("server 127.0.0.1:{p};"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "{load}\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\n\
             stream {{\n  upstream mayfly {{ {servers} }}\n  server {{\n    \
             listen 127.0.0.1:{port};\n    proxy_pass mayfly;\n    proxy_protocol on;\n  }}\n}}\n"
        );
        let conf = write_file(dir, "nginx.conf", conf);
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx exited with {status}:\n{log}");
            }
            assert!(Instant::now() < deadline, "nginx did not listen");
            thread::sleep(Duration::from_millis(25));
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `raw` on a fresh connection; returns the reply and the client's own port.
fn exchange(https: &Https, raw: &[u8]) -> (Reply, u16) {
    let mut tls = https.connect().expect("connect");
    let port = tls.sock.local_addr().expect("local address").port();
    tls.write_all(raw).expect("write");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let reply = mayfly_reliability::parse_reply(&out)
        .unwrap_or_else(|| panic!("no HTTP reply: {}", String::from_utf8_lossy(&out)));
    (reply, port)
}

fn audit_detail(db: &SharedDb, serial: &str) -> String {
    db.query(&format!(
        "SELECT detail FROM audit_log WHERE event = 'issue' AND serial = '{serial}'"
    ))
    .concat()
}

fn nginx_proxy_protocol_keeps_client_addresses(backend: Backend) {
    let Some(nginx_bin) = tool("nginx") else {
        return;
    };
    let Some(p) = pair(backend, |json| {
        json["proxyProtocol"] = json!({"enabled": true, "trustedProxies": ["127.0.0.1/32"]});
    }) else {
        return;
    };
    let dir = temp_dir();
    let nginx = Nginx::start(&nginx_bin, dir.path(), &[p.a.port, p.b.port]);
    let key = p.a.provisioner();
    let lb = Https::new(nginx.port, &p.a.dir.join("ca/certs/root_ca.crt"));

    let health = lb
        .call("GET", "/health", b"")
        .expect("health through nginx");
    assert_eq!(health.status, 200, "{}", health.text());
    // Round robin: four signs reach both instances.
    let mut ports = Vec::new();
    for _ in 0..4 {
        let body = sign_body(&p.a, &key, "proxied.ha.test");
        let headers = ["Content-Type: application/json".to_owned()];
        let raw = lb.request("POST", "/1.0/sign", &headers, body.as_bytes());
        let (reply, port) = exchange(&lb, &raw);
        assert_eq!(reply.status, 201, "{}", reply.text());
        let detail = audit_detail(&p.db, &stored_serial(&reply));
        assert!(
            detail.ends_with(&format!("client=127.0.0.1:{port}")),
            "the audit record names the client's own socket 127.0.0.1:{port}, not nginx's: {detail:?}"
        );
        ports.push(port);
    }
    for (name, ca) in [("A", &p.a), ("B", &p.b)] {
        let log = ca.log();
        let proxied = ports
            .iter()
            .filter(|port| log.contains(&format!("remote=127.0.0.1:{port} via=127.0.0.1:")))
            .count();
        assert!(
            proxied > 0,
            "instance {name} logged no proxied request:\n{log}"
        );
    }

    // Straight to an instance, without a header: refused before TLS, and logged.
    let direct = p.a.https().call("GET", "/health", b"");
    assert!(
        direct.is_err(),
        "a connection without a PROXY header was served: {direct:?}"
    );
    assert!(
        p.a.log()
            .contains("connection refused: no PROXY protocol header"),
        "{}",
        p.a.log()
    );

    // HAProxy's send-proxy-v2 (binary) and send-proxy (v1) headers, written by hand.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[192, 0, 2, 7, 127, 0, 0, 1]);
    v2.extend_from_slice(&4242u16.to_be_bytes());
    v2.extend_from_slice(&p.b.port.to_be_bytes());
    let v1 = format!("PROXY TCP6 2001:db8::7 ::1 4343 {}\r\n", p.b.port);
    for (header, client) in [
        (v2, "192.0.2.7:4242"),
        (v1.into_bytes(), "[2001:db8::7]:4343"),
    ] {
        let body = sign_body(&p.b, &key, "haproxy.ha.test");
        let headers = ["Content-Type: application/json".to_owned()];
        let raw =
            p.b.https()
                .request("POST", "/1.0/sign", &headers, body.as_bytes());
        let reply =
            p.b.https()
                .send_after(&header, &raw)
                .expect("sign with a header");
        assert_eq!(reply.status, 201, "{}", reply.text());
        let detail = audit_detail(&p.db, &stored_serial(&reply));
        assert!(detail.ends_with(&format!("client={client}")), "{detail:?}");
        assert!(
            p.b.log()
                .contains(&format!("remote={client} via=127.0.0.1:"))
        );
    }
    drop(nginx);
}

/// What one `GET /crl` served: its CRL number, a SHA-256 of its revoked entries (DER) and
/// the revoked serials (decimal).
#[derive(Debug, Clone)]
struct Served {
    number: u64,
    entries: [u8; 32],
    serials: BTreeSet<String>,
}

/// Fetches `/crl` (DER) from `ca` and reads its number and entries.
fn served_crl(ca: &Ca) -> Served {
    use der::Encode;
    use der::oid::AssociatedOid;
    use sha2::Digest;
    use x509_cert::ext::pkix::CrlNumber;

    let reply = ca.https().call("GET", "/crl", b"").expect("GET /crl");
    assert_eq!(reply.status, 200, "GET /crl: {}", reply.text());
    let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&reply.body)
        .expect("/crl serves a DER CRL");
    let tbs = crl.tbs_cert_list;
    let number = tbs
        .crl_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == CrlNumber::OID)
        .map(|e| {
            let number =
                <CrlNumber as der::Decode>::from_der(e.extn_value.as_bytes()).expect("a CRLNumber");
            let bytes = number.0.as_bytes();
            assert!(bytes.len() <= 8, "CRL number {bytes:02x?} is over 64 bits");
            bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b))
        })
        .expect("the CRL has a CRL number");
    let mut entries = sha2::Sha256::new();
    let mut serials = BTreeSet::new();
    for entry in tbs.revoked_certificates.iter().flatten() {
        entries.update(entry.to_der().expect("re-encode an entry"));
        serials.insert(mayfly_reliability::decimal(entry.serial_number.as_bytes()));
    }
    Served {
        number,
        entries: entries.finalize().into(),
        serials,
    }
}

/// Revokes `serials` (decimal) on `ca` one after the other; after each acknowledgement the
/// CRL `other` serves must already list it (`generateOnRevoke` publishes before answering).
/// Those CRLs go to `fetched`.
fn revoke_all(
    [ca, other]: [&Ca; 2],
    key: &(mayfly_keys::PrivateKey, String),
    serials: &[String],
    fetched: &Mutex<Vec<Served>>,
) {
    for serial in serials {
        let token = ca.revoke_token(key, serial);
        let body = json!({"serial": serial, "ott": token, "reasonCode": 1}).to_string();
        let reply = ca
            .https()
            .call("POST", "/1.0/revoke", body.as_bytes())
            .expect("revoke");
        assert_eq!(reply.status, 200, "revoke {serial}: {}", reply.text());
        let crl = served_crl(other);
        assert!(
            crl.serials.contains(serial),
            "revocation of {serial} was acknowledged but CRL {} of the other instance does \
             not list it",
            crl.number
        );
        fetched.lock().expect("lock").push(crl);
    }
}

/// Both instances regenerate the CRL on revocation, concurrently: the numbers each serves
/// never go down, one number never names two different CRLs, a higher number never drops a
/// serial a lower one listed, and the last CRL lists every revocation.
fn crl_numbers_grow_across_instances(backend: Backend) {
    let Some(p) = pair(backend, |json| {
        json["crl"] = json!({"enabled": true, "generateOnRevoke": true});
    }) else {
        return;
    };
    let key = p.a.provisioner();
    let (threads, per_thread) = (4, 3);
    let serials: Vec<String> = (0..2 * threads * per_thread)
        .map(|i| {
            let ca = if i % 2 == 0 { &p.a } else { &p.b };
            ca.issue(&key, "crl.ha.test", None).serial
        })
        .collect();
    let first = served_crl(&p.a);
    assert!(first.serials.is_empty(), "{first:?}");

    let stop = AtomicBool::new(false);
    // In the order each instance's observer fetched them, then those the revokers fetched.
    let seen: [Mutex<Vec<Served>>; 2] = Default::default();
    let fetched = Mutex::new(vec![first]);
    thread::scope(|s| {
        let _stop = mayfly_reliability::StopOnDrop(&stop);
        for (ca, seen) in [(&p.a, &seen[0]), (&p.b, &seen[1])] {
            let stop = &stop;
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let crl = served_crl(ca);
                    seen.lock().expect("lock").push(crl);
                    thread::sleep(Duration::from_millis(5));
                }
            });
        }
        let revokers: Vec<_> = serials
            .chunks(per_thread)
            .enumerate()
            .map(|(i, chunk)| {
                let cas = if i % 2 == 0 {
                    [&p.a, &p.b]
                } else {
                    [&p.b, &p.a]
                };
                let (key, fetched) = (&key, &fetched);
                s.spawn(move || revoke_all(cas, key, chunk, fetched))
            })
            .collect();
        for revoker in revokers {
            if let Err(panic) = revoker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });

    let mut seen = seen.map(|m| m.into_inner().expect("lock"));
    let fetched = fetched.into_inner().expect("lock");
    let first = &fetched[0];
    for ((name, ca), seen) in [("A", &p.a), ("B", &p.b)].into_iter().zip(&mut seen) {
        seen.push(served_crl(ca));
        let last = seen.last().expect("a CRL");
        let missing: Vec<_> = serials
            .iter()
            .filter(|s| !last.serials.contains(*s))
            .collect();
        assert!(
            missing.is_empty(),
            "the last CRL of {name} (number {}) misses revoked serials {missing:?}",
            last.number
        );
        for pair in seen.windows(2) {
            assert!(
                pair[0].number <= pair[1].number,
                "instance {name} served CRL {} after CRL {}",
                pair[1].number,
                pair[0].number
            );
        }
        assert!(last.number > first.number, "{name}: no CRL was published");
    }
    let mut by_number: std::collections::BTreeMap<u64, &Served> = Default::default();
    for crl in seen.iter().flatten().chain(&fetched) {
        let known = by_number.entry(crl.number).or_insert(crl);
        assert_eq!(
            known.entries, crl.entries,
            "CRL number {} names two different CRLs: {:?} and {:?}",
            crl.number, known.serials, crl.serials
        );
    }
    for pair in by_number.values().collect::<Vec<_>>().windows(2) {
        let dropped: Vec<_> = pair[0].serials.difference(&pair[1].serials).collect();
        assert!(
            dropped.is_empty(),
            "CRL {} dropped {dropped:?} that CRL {} listed",
            pair[1].number,
            pair[0].number
        );
    }
    println!(
        "ha crl ({backend:?}): {} revocations over {} threads; {} CRLs fetched, {} distinct \
         numbers {}..={}",
        serials.len(),
        2 * threads,
        seen[0].len() + seen[1].len() + fetched.len(),
        by_number.len(),
        first.number,
        by_number.keys().last().copied().unwrap_or_default()
    );
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod mariadb {
            $( #[test] fn $name() { super::$name(mayfly_reliability::Backend::Mysql); } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(mayfly_reliability::Backend::Postgres); } )*
        }
    };
}

per_backend!(
    replay_refused_on_the_other_instance,
    acme_order_moves_between_instances,
    sigkill_one_instance_under_load,
    nginx_proxy_protocol_keeps_client_addresses,
    crl_numbers_grow_across_instances,
);

//! Replays every hostile request of `tests/corpus/` against a real `mayfly-ca serve` over TLS:
//! each gets a 4xx with a JSON `{status, message}` body (never a 5xx), the server stays up
//! without panicking, its RSS stays flat across a second replay, and a normal sign right
//! after each request succeeds.

use std::collections::BTreeMap;

use mayfly_jwt::Operation;
use mayfly_keys::{KeyType, PrivateKey};
use mayfly_reliability::{
    Ca, Corpus, CorpusEntry, Https, JWS_KINDS, TOKEN_KINDS, hostile_jws, hostile_token, rss_kib,
};
use mayfly_template::{San, build_request};
use mayfly_testkit::temp_dir;

/// Corpus requests the CA accepts today although it should not: product bugs, reported by
/// name on every run (and flagged when one gets fixed) instead of failing the suite.
const KNOWN_BUGS: &[(&str, &str)] = &[];

/// A CSR for `corpus.example`, PEM.
fn good_csr() -> String {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let der = build_request("corpus.example", &[San::guess("corpus.example")], &key).expect("csr");
    der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der).expect("pem")
}

/// A normal sign; returns the token it spent.
fn sign_ok(ca: &Ca, https: &Https, key: &(PrivateKey, String), csr: &str) -> String {
    let token = ca.sign_token(key, &["corpus.example".to_owned()]);
    let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
    let reply = https
        .call("POST", "/1.0/sign", body.as_bytes())
        .expect("a normal sign gets an answer");
    assert_eq!(reply.status, 201, "a normal sign failed: {}", reply.text());
    token
}

/// Sends one entry; returns its status, or a description of what was wrong with the reply.
fn replay(
    ca: &Ca,
    https: &Https,
    key: &(PrivateKey, String),
    entry: &CorpusEntry,
    spent: &str,
) -> Result<u16, String> {
    let operation = if entry.path.contains("revoke") {
        Operation::Revoke
    } else {
        Operation::Sign
    };
    let subject = if operation == Operation::Revoke {
        "1234567890"
    } else {
        "corpus.example"
    };
    let (headers, body) = entry.render(|placeholder| match placeholder.split_once(':') {
        None if placeholder == "OTT" => ca.sign_token(key, &entry.sans),
        Some(("TOKEN", kind)) => hostile_token(ca, key, kind, operation, subject, spent),
        Some(("REVOKE_OTT", serial)) => ca.revoke_token(key, serial),
        Some(("PAD", n)) => "A".repeat(n.parse().expect("PAD:n")),
        Some(("JWS", kind)) => hostile_jws(ca, https, kind, &entry.path),
        _ => panic!("{}: unknown placeholder {placeholder:?}", entry.name),
    });
    let raw = https.request(&entry.method, &entry.path, &headers, &body);
    let reply = match https.send(&raw) {
        // Over the 1 MiB body limit, or on /rekey and /renew without a client certificate
        // (refused before the body is read), the server answers early and closes with body
        // bytes unread: the reset can reach the client before the answer does. A refusal too.
        Err(e)
            if e.starts_with("write:")
                && (body.len() > 1 << 20
                    || entry.path.ends_with("/rekey")
                    || entry.path.ends_with("/renew")) =>
        {
            return Ok(0);
        }
        other => other?,
    };
    let snippet: String = reply.text().chars().take(140).collect();
    if !(400..500).contains(&reply.status) {
        return Err(format!("status {}: {snippet}", reply.status));
    }
    if entry.name.starts_with("headers/") && reply.body.is_empty() {
        // Refused by hyper's HTTP/1 parser before routing (431): no JSON body.
        return Ok(reply.status);
    }
    let json = reply
        .json()
        .ok_or_else(|| format!("status {} without a JSON body: {snippet}", reply.status))?;
    // ACME routes answer RFC 7807 problem documents (`detail`), the rest step's `message`.
    let message = json["message"].as_str().or(json["detail"].as_str());
    if json["status"] != reply.status || message.is_none_or(str::is_empty) {
        return Err(format!("status {} with body {snippet}", reply.status));
    }
    Ok(reply.status)
}

/// How often the corpus is replayed: once with a good request after each entry, then bare.
const PASSES: usize = 4;

#[test]
fn hostile_corpus_is_refused_with_4xx_and_the_ca_keeps_serving() {
    let dir = temp_dir();
    let mut ca = Ca::init_stopped(dir.path());
    ca.edit_config(|json| {
        let provisioners = json["authority"]["provisioners"]
            .as_array_mut()
            .expect("provisioners");
        provisioners.push(serde_json::json!({"type": "ACME", "name": "acme"}));
    });
    ca.start();
    let https = ca.https();
    let key = ca.provisioner();
    let csr = good_csr();
    let corpus = Corpus::load(&Corpus::dir());
    assert!(
        corpus.entries.len() >= 300,
        "the corpus has {} requests",
        corpus.entries.len()
    );
    for (placeholder, kinds) in [("TOKEN", TOKEN_KINDS), ("JWS", JWS_KINDS)] {
        for kind in kinds {
            let needle = format!("@@{placeholder}:{kind}@@");
            assert!(
                corpus
                    .entries
                    .iter()
                    .any(|e| e.body.windows(needle.len()).any(|w| w == needle.as_bytes())),
                "no corpus request uses {needle}: rerun tests/corpus/generate.py"
            );
        }
    }

    // Warm up, and keep one spent token for the replay rows.
    let mut spent = String::new();
    for _ in 0..20 {
        spent = sign_ok(&ca, &https, &key, &csr);
    }
    let pid = ca.pid().expect("running");
    let warm = rss_kib(pid).expect("VmRSS");

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut fixed = Vec::new();
    let mut bugs = 0;
    let mut rss = Vec::new();
    for pass in 0..PASSES {
        for entry in &corpus.entries {
            let known = KNOWN_BUGS.iter().find(|(n, _)| *n == entry.name);
            match (replay(&ca, &https, &key, entry, &spent), known) {
                (Ok(status), None) => *statuses.entry(status).or_default() += 1,
                (Ok(_), Some((name, _))) if pass == 0 => fixed.push(*name),
                (Err(e), None) if pass == 0 => failures.push(format!("{}: {e}", entry.name)),
                (Err(_), Some(_)) if pass == 0 => bugs += 1,
                _ => {}
            }
            assert!(
                ca.running(),
                "mayfly-ca died on {}:\n{}",
                entry.name,
                ca.log()
            );
            if pass == 0 {
                sign_ok(&ca, &https, &key, &csr);
            }
        }
        rss.push(rss_kib(pid).expect("VmRSS"));
    }
    let log = ca.log();
    println!(
        "corpus: {} requests x {PASSES} passes; statuses (all passes, 0 = closed after an early refusal) {statuses:?}; {} not refused; {bugs} known product bugs still accepted",
        corpus.entries.len(),
        failures.len()
    );
    for (name, what) in KNOWN_BUGS {
        println!("corpus: KNOWN BUG {name}: {what}");
    }
    if !fixed.is_empty() {
        println!("corpus: now refused, remove from KNOWN_BUGS: {fixed:?}");
    }
    println!("corpus: VmRSS warm {warm} KiB, after each pass {rss:?} KiB");
    assert!(!log.contains("panicked"), "mayfly-ca panicked:\n{log}");
    assert!(
        failures.is_empty(),
        "{} corpus requests were not refused with a 4xx JSON error:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Flat memory: once the first replay has warmed the caches, pools and allocator arenas, two
    // more replays of the same requests add at most 10 %. A leak grows with every replay; the
    // first replays are left out because allocator arenas on other worker threads still fill.
    let (settled, last) = (rss[1], rss[PASSES - 1]);
    assert!(
        last <= settled + settled / 10,
        "VmRSS grew from {settled} to {last} KiB over the last {} replays",
        PASSES - 2
    );
    sign_ok(&ca, &https, &key, &csr);
}

//! End to end over real sockets: the server on loopback, curl as the client, openssl to check
//! what comes back. The CA is the step fixtures' (root, intermediate, provisioner `mariano`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Pki, Reply, Running, curl, key_and_csr, post_json, token};
use mayfly_authority::config::CaConfig;
use serde_json::{Value, json};

fn serial_of(pem_file: &std::path::Path) -> Option<String> {
    let openssl = mayfly_testkit::tool("openssl")?;
    let out = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(pem_file),
    );
    Some(out.trim().trim_start_matches("serial=").to_owned())
}

fn sign(server: &Running, pki: &Pki, cn: &str) -> Option<(Reply, std::path::PathBuf)> {
    let (key, csr) = key_and_csr(pki.dir.path(), cn);
    let body = json!({"csr": csr, "ott": token("mariano", cn, "sign")});
    Some((
        post_json(&server.url("/1.0/sign"), &pki.root, &body, &[])?,
        key,
    ))
}

#[test]
fn sign_renew_revoke_and_the_crl_lists_the_serial() {
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let Some((reply, key)) = sign(&server, &pki, "app.internal") else {
        return;
    };
    assert_eq!(
        reply.status,
        201,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let signed = reply.json();
    let chain: Vec<&str> = signed["certChain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0], signed["crt"]);
    assert_eq!(chain[1], signed["ca"]);
    let leaf = pki.path("leaf.crt");
    std::fs::write(&leaf, chain.concat()).unwrap();
    let intermediate = pki.path("intermediate.crt");
    std::fs::write(&intermediate, chain[1]).unwrap();

    // openssl agrees that the leaf chains to the fixture root.
    let openssl = mayfly_testkit::tool("openssl").unwrap();
    let verified = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["verify", "-CAfile"])
            .arg(&pki.root)
            .arg("-untrusted")
            .arg(&intermediate)
            .arg(&leaf),
    );
    assert!(verified.contains(": OK"), "{verified}");
    let first_serial = serial_of(&leaf).unwrap();

    // Renew over mTLS with the new certificate (the client sends leaf + intermediate).
    let mtls = [
        "--cert",
        leaf.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let renewed = curl(
        &server.url("/1.0/renew"),
        Some(&pki.root),
        &[&["-X", "POST"][..], &mtls].concat(),
    )
    .unwrap();
    assert_eq!(
        renewed.status,
        201,
        "{}",
        String::from_utf8_lossy(&renewed.body)
    );
    let renewed_leaf = pki.path("renewed.crt");
    std::fs::write(&renewed_leaf, renewed.json()["crt"].as_str().unwrap()).unwrap();
    assert_ne!(serial_of(&renewed_leaf).unwrap(), first_serial);

    // Renew without a client certificate: 401 with step's error body.
    let refused = curl(&server.url("/renew"), Some(&pki.root), &["-X", "POST"]).unwrap();
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["status"], 401);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("client certificate")
    );

    // Revoke the first certificate with a revoke token (subject = serial).
    let serial_hex = first_serial.to_ascii_lowercase();
    let body = json!({"serial": serial_hex, "ott": token("mariano", &serial_hex, "revoke"),
                      "reasonCode": 4, "reason": "superseded", "passive": true});
    let revoked = post_json(&server.url("/1.0/revoke"), &pki.root, &body, &[]).unwrap();
    assert_eq!(
        revoked.status,
        200,
        "{}",
        String::from_utf8_lossy(&revoked.body)
    );
    assert_eq!(revoked.json()["status"], "ok");

    // Renewal with the revoked certificate is now refused.
    let again = curl(
        &server.url("/1.0/renew"),
        Some(&pki.root),
        &[&["-X", "POST"][..], &mtls].concat(),
    )
    .unwrap();
    assert_eq!(
        again.status,
        403,
        "{}",
        String::from_utf8_lossy(&again.body)
    );

    // The CRL from the plain-HTTP listener lists the serial, and openssl checks its signature.
    let crl_file = pki.path("crl.der");
    let crl = curl(
        &format!("http://127.0.0.1:{}/1.0/crl", server.insecure.port()),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(crl.status, 200);
    std::fs::write(&crl_file, &crl.body).unwrap();
    let text = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["crl", "-inform", "DER", "-noout", "-text", "-CAfile"])
            .arg(&intermediate)
            .arg("-in")
            .arg(&crl_file),
    );
    assert!(
        text.contains(&format!("Serial Number: {first_serial}")),
        "{text}"
    );
    let pem = curl(&server.url("/crl?pem"), Some(&pki.root), &[]).unwrap();
    assert!(String::from_utf8_lossy(&pem.body).starts_with("-----BEGIN X509 CRL-----"));

    // The plain-HTTP listener serves nothing else.
    let api_over_http = curl(
        &format!("http://127.0.0.1:{}/1.0/roots", server.insecure.port()),
        None,
        &[],
    )
    .unwrap();
    assert_eq!(api_over_http.status, 404);

    // OCSP over plain HTTP: openssl asks, the responder says revoked.
    let ocsp_url = format!("http://127.0.0.1:{}/ocsp", server.insecure.port());
    let ocsp = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["ocsp", "-issuer"])
            .arg(&intermediate)
            .arg("-cert")
            .arg(&leaf)
            .args(["-url", &ocsp_url, "-CAfile"])
            .arg(&pki.root),
    );
    assert!(ocsp.contains(": revoked"), "{ocsp}");

    // Metrics count what happened.
    let metrics = curl(
        &format!("http://127.0.0.1:{}/metrics", server.metrics.port()),
        None,
        &[],
    )
    .unwrap();
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("mayfly_certificates_issued_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("mayfly_certificates_renewed_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("mayfly_certificates_revoked_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("operation=\"renew\",reason=\"unauthorized\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("operation=\"renew\",reason=\"forbidden\"} 1"),
        "{text}"
    );
}

#[test]
fn tokens_are_single_use_and_bad_requests_get_step_errors() {
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let (_, csr) = key_and_csr(pki.dir.path(), "once.internal");
    let body = json!({"csr": csr, "ott": token("mariano", "once.internal", "sign")});
    let Some(first) = post_json(&server.url("/sign"), &pki.root, &body, &[]) else {
        return;
    };
    assert_eq!(first.status, 201);
    let replay = post_json(&server.url("/sign"), &pki.root, &body, &[]).unwrap();
    assert_eq!(
        replay.status,
        401,
        "{}",
        String::from_utf8_lossy(&replay.body)
    );

    let bad = post_json(
        &server.url("/1.0/sign"),
        &pki.root,
        &json!({"csr": csr, "ott": 7}),
        &[],
    )
    .unwrap();
    assert_eq!(bad.status, 400);
    let message = bad.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("field ott"), "{message}");

    let huge = json!({"csr": "x".repeat(2 * 1024 * 1024), "ott": ""});
    let file = pki.path("huge.json");
    std::fs::write(&file, huge.to_string()).unwrap();
    let data = format!("@{}", file.display());
    let too_big = curl(
        &server.url("/1.0/sign"),
        Some(&pki.root),
        &["--http1.1", "-X", "POST", "--data-binary", &data],
    )
    .unwrap();
    assert_eq!(too_big.status, 413);

    let missing = curl(&server.url("/1.0/nope"), Some(&pki.root), &[]).unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["status"], 404);
    let wrong_method = curl(&server.url("/1.0/sign"), Some(&pki.root), &[]).unwrap();
    assert_eq!(wrong_method.status, 405);
}

#[test]
fn read_only_routes_speak_steps_json_over_http1_and_http2() {
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let Some(health) = curl(&server.url("/health"), Some(&pki.root), &["--http2"]) else {
        return;
    };
    assert_eq!((health.status, health.http_version.as_str()), (200, "2"));
    assert_eq!(health.json(), json!({"status": "ok"}));
    let h1 = curl(&server.url("/1.0/health"), Some(&pki.root), &["--http1.1"]).unwrap();
    assert_eq!(h1.http_version, "1.1");

    let root_pem = std::fs::read_to_string(&pki.root).unwrap();
    let roots = curl(&server.url("/1.0/roots"), Some(&pki.root), &[])
        .unwrap()
        .json();
    assert_eq!(roots["crts"].as_array().unwrap().len(), 1);
    assert_eq!(
        normalize(roots["crts"][0].as_str().unwrap()),
        normalize(&root_pem)
    );
    let roots_pem = curl(&server.url("/roots.pem"), Some(&pki.root), &[]).unwrap();
    assert_eq!(
        normalize(&String::from_utf8(roots_pem.body).unwrap()),
        normalize(&root_pem)
    );

    let openssl = mayfly_testkit::tool("openssl").unwrap();
    let fp = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&pki.root),
    );
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    let root = curl(&server.url(&format!("/root/{fp}")), Some(&pki.root), &[]).unwrap();
    assert_eq!(root.status, 200);
    assert_eq!(
        normalize(root.json()["ca"].as_str().unwrap()),
        normalize(&root_pem)
    );
    let unknown = curl(&server.url("/root/00"), Some(&pki.root), &[]).unwrap();
    assert_eq!(unknown.status, 404);

    let intermediates = curl(&server.url("/intermediates"), Some(&pki.root), &[])
        .unwrap()
        .json();
    assert_eq!(intermediates["crts"].as_array().unwrap().len(), 1);

    let provisioners = curl(
        &server.url("/1.0/provisioners?limit=1"),
        Some(&pki.root),
        &[],
    )
    .unwrap()
    .json();
    assert_eq!(provisioners["provisioners"][0]["name"], "mariano");
    assert_eq!(provisioners["nextCursor"], "");
    let kid = provisioners["provisioners"][0]["key"]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = curl(
        &server.url(&format!("/provisioners/{kid}/encrypted-key")),
        Some(&pki.root),
        &[],
    )
    .unwrap();
    assert_eq!(
        key.json()["key"],
        common::provisioner_entry("mariano")["encryptedKey"]
    );
    let bad_cursor = curl(&server.url("/provisioners?cursor=x"), Some(&pki.root), &[]).unwrap();
    assert_eq!(bad_cursor.status, 400);

    let version: Value = curl(&server.url("/version"), Some(&pki.root), &[])
        .unwrap()
        .json();
    assert!(version["version"].is_string());
}

#[test]
fn reload_adds_a_provisioner_and_a_broken_config_keeps_the_old_one() {
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let (_, csr) = key_and_csr(pki.dir.path(), "cli.internal");
    let body = json!({"csr": csr, "ott": token("step-cli", "cli.internal", "sign")});
    let Some(before) = post_json(&server.url("/1.0/sign"), &pki.root, &body, &[]) else {
        return;
    };
    assert_eq!(before.status, 401, "step-cli is not configured yet");

    pki.write_config(
        &[
            common::provisioner_entry("mariano"),
            common::provisioner_entry("step-cli"),
        ],
        json!({}),
    );
    server
        .handle
        .reload(&CaConfig::load(&pki.config).unwrap())
        .unwrap();
    let body = json!({"csr": csr, "ott": token("step-cli", "cli.internal", "sign")});
    let after = post_json(&server.url("/1.0/sign"), &pki.root, &body, &[]).unwrap();
    assert_eq!(
        after.status,
        201,
        "{}",
        String::from_utf8_lossy(&after.body)
    );

    // A CBC suite is refused at reload; the old TLS settings and provisioners keep serving.
    pki.write_config(
        &[],
        json!({"tls": {"cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"]}}),
    );
    let err = server
        .handle
        .reload(&CaConfig::load(&pki.config).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("CBC"), "{err}");
    let body = json!({"csr": csr, "ott": token("step-cli", "cli.internal", "sign")});
    let still = post_json(&server.url("/1.0/sign"), &pki.root, &body, &[]).unwrap();
    assert_eq!(still.status, 201);
}

fn normalize(pem: &str) -> String {
    pem.split_whitespace().collect()
}

/// step's renewal token: the certificate in `x5c`, signed by its key, audience `/1.0/renew`.
fn x5c_token(cert_pem: &str, key_file: &std::path::Path, audience: &str) -> String {
    use base64::Engine as _;
    let (_, der) = der::pem::decode_vec(cert_pem.as_bytes()).unwrap();
    let key = mayfly_keys::read_private_key_file(key_file, None).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = json!({"alg": "ES256", "typ": "JWT",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&der)]});
    let claims = mayfly_jwt::TokenClaims::new(
        "step-ca-client/1.0",
        "expiring.internal",
        audience,
        std::time::SystemTime::now(),
    );
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(&serde_json::to_vec(&claims).unwrap())
    );
    let signature = mayfly_keys::Signer::sign_jws(&key, input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

#[test]
fn an_expired_certificate_renews_with_an_x5c_token_when_the_claims_allow_it() {
    let claims = json!({"minTLSCertDuration": "1s", "allowRenewalAfterExpiry": true});
    let pki = Pki::new(json!({"authority": {
        "provisioners": [common::provisioner_entry("mariano")], "claims": claims}}));
    let server = Running::start(&pki);
    let (key, csr) = key_and_csr(pki.dir.path(), "expiring.internal");
    let body = json!({"csr": csr, "ott": token("mariano", "expiring.internal", "sign"),
                      "notAfter": "2s"});
    let Some(signed) = post_json(&server.url("/1.0/sign"), &pki.root, &body, &[]) else {
        return;
    };
    assert_eq!(
        signed.status,
        201,
        "{}",
        String::from_utf8_lossy(&signed.body)
    );
    let crt = signed.json()["crt"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_secs(3));

    // The expired certificate cannot renew over mTLS any more (the handshake refuses it) ...
    let renew = server.url("/1.0/renew");
    let audience = "https://127.0.0.1/1.0/renew";
    let bearer = |token: &str| format!("Authorization: Bearer {token}");
    let token = x5c_token(&crt, &key, audience);
    let renewed = curl(
        &renew,
        Some(&pki.root),
        &["-X", "POST", "-H", &bearer(&token)],
    )
    .unwrap();
    assert_eq!(
        renewed.status,
        201,
        "{}",
        String::from_utf8_lossy(&renewed.body)
    );
    let new_crt = renewed.json()["crt"].as_str().unwrap().to_owned();
    assert_ne!(normalize(&new_crt), normalize(&crt));

    // ... a token renews once ...
    let again = curl(
        &renew,
        Some(&pki.root),
        &["-X", "POST", "-H", &bearer(&token)],
    )
    .unwrap();
    assert_eq!(
        again.status,
        401,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert!(
        again.json()["message"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );

    // ... a token for another operation or signed by another key is refused ...
    let wrong_aud = x5c_token(&crt, &key, "https://127.0.0.1/1.0/sign");
    let refused = curl(
        &renew,
        Some(&pki.root),
        &["-X", "POST", "-H", &bearer(&wrong_aud)],
    )
    .unwrap();
    assert_eq!(refused.status, 401);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("renewal token")
    );
    let (other_key, _) = key_and_csr(pki.dir.path(), "other.internal");
    let forged = x5c_token(&crt, &other_key, audience);
    let refused = curl(
        &renew,
        Some(&pki.root),
        &["-X", "POST", "-H", &bearer(&forged)],
    )
    .unwrap();
    assert_eq!(refused.status, 401);

    // ... and without allowRenewalAfterExpiry the expired certificate is refused.
    drop(server);
    pki.write_config(
        &[common::provisioner_entry("mariano")],
        json!({"authority": {
        "provisioners": [common::provisioner_entry("mariano")],
        "claims": {"minTLSCertDuration": "1s"}}}),
    );
    let server = Running::start(&pki);
    let token = x5c_token(&crt, &key, audience);
    let refused = curl(
        &server.url("/1.0/renew"),
        Some(&pki.root),
        &["-X", "POST", "-H", &bearer(&token)],
    )
    .unwrap();
    assert_eq!(
        refused.status,
        401,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("renewal after expiry"),
        "{}",
        refused.json()
    );
}

#[test]
fn limits_from_ca_json_replace_the_defaults_and_zero_is_refused() {
    let config = CaConfig::from_json(
        &json!({"root": "r.crt", "crt": "i.crt", "key": "i.key", "address": "127.0.0.1:0",
                "dnsNames": ["127.0.0.1"], "authority": {},
                "limits": {"maxBodyBytes": 2048, "idleTimeout": "5s", "maxConnections": 7}})
        .to_string(),
    )
    .unwrap();
    let options = mayfly_server::ServerOptions::default()
        .with_limits(config.limits.as_ref())
        .unwrap();
    assert_eq!(options.body_limit, 2048);
    assert_eq!(options.max_connections, 7);
    assert_eq!(options.idle_timeout, std::time::Duration::from_secs(5));
    assert_eq!(
        options.header_read_timeout,
        std::time::Duration::from_secs(10)
    );
    let zero = mayfly_authority::config::LimitsConfig {
        max_connections: Some(0),
        ..Default::default()
    };
    let refused = mayfly_server::ServerOptions::default()
        .with_limits(Some(&zero))
        .unwrap_err();
    assert!(refused.to_string().contains("maxConnections"), "{refused}");
}

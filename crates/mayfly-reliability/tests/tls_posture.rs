//! TLS posture, checked with `openssl s_client`: by default only TLS 1.2 with the two ECDSA
//! AEAD suites negotiates, renegotiation is refused, TLS 1.3 only when configured; and
//! `/renew` refuses expired, revoked and foreign-CA client certificates.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mayfly_reliability::Ca;
use mayfly_testkit::{temp_dir, tool};

/// Runs `openssl s_client` with `args`; returns whether the handshake completed, and the
/// output.
fn s_client(openssl: &Path, ca: &Ca, args: &[&str], stdin: &[u8]) -> (bool, String) {
    let mut child = Command::new(openssl)
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", ca.port))
        .arg("-CAfile")
        .arg(ca.dir.join("ca/certs/root_ca.crt"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output().expect("s_client output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let established = text.contains("Verify return code: 0 (ok)")
        && !text.contains("Cipher is (NONE)")
        && !text.contains("Cipher    : 0000");
    (established, text)
}

const ALLOWED: [&str; 2] = [
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
];
const REFUSED: [&str; 6] = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES128-GCM-SHA256",
];

#[test]
fn only_the_configured_versions_and_suites_negotiate() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let mut ca = Ca::init(dir.path());
    let (ok, out) = s_client(&openssl, &ca, &[], b"");
    assert!(ok, "default handshake failed:\n{out}");
    assert!(out.contains("TLSv1.2"), "{out}");
    for suite in ALLOWED {
        let (ok, out) = s_client(&openssl, &ca, &["-tls1_2", "-cipher", suite], b"");
        assert!(ok, "{suite} refused:\n{out}");
    }
    for suite in REFUSED {
        let (ok, out) = s_client(&openssl, &ca, &["-tls1_2", "-cipher", suite], b"");
        assert!(!ok, "{suite} negotiated:\n{out}");
    }
    for version in ["-tls1_3", "-tls1_1", "-tls1"] {
        let args = [version, "-cipher", "DEFAULT@SECLEVEL=0"];
        let (ok, out) = s_client(&openssl, &ca, &args, b"");
        assert!(!ok, "{version} negotiated:\n{out}");
    }
    // Renegotiation ("R" asks s_client to renegotiate): refused, no second handshake.
    let (_, out) = s_client(&openssl, &ca, &["-tls1_2"], b"R\n");
    assert!(out.contains("RENEGOTIATING"), "{out}");
    assert!(
        out.contains("no renegotiation"),
        "renegotiation was not refused:\n{out}"
    );

    // TLS 1.3 once configured.
    ca.kill();
    ca.edit_config(|json| {
        json["tls"] = serde_json::json!({"minVersion": 1.2, "maxVersion": 1.3});
    });
    ca.start();
    let (ok, out) = s_client(&openssl, &ca, &["-tls1_3"], b"");
    assert!(ok, "TLS 1.3 refused although configured:\n{out}");
    let (ok, out) = s_client(&openssl, &ca, &["-tls1_2", "-cipher", ALLOWED[0]], b"");
    assert!(ok, "TLS 1.2 refused with 1.2..1.3 configured:\n{out}");
    println!(
        "tls: {} allowed suites negotiate, {} suites and 3 versions refused, renegotiation refused, TLS 1.3 only when configured",
        ALLOWED.len(),
        REFUSED.len()
    );
}

/// `/renew` with `client`: `Err` (handshake refused) or the reply's status and body.
fn renew(client: &mayfly_reliability::Https) -> Result<(u16, String), String> {
    client
        .call("POST", "/1.0/renew", b"")
        .map(|r| (r.status, r.text()))
}

#[test]
fn renew_refuses_expired_revoked_and_foreign_client_certificates() {
    let dir = temp_dir();
    let ca = Ca::init(dir.path());
    let key = ca.provisioner();

    // Control: a valid certificate renews.
    let good = ca.issue(&key, "good.example", Some("1h"));
    let (status, body) = renew(&ca.https_as(&good)).expect("renew answers");
    assert_eq!(status, 201, "{body}");

    // Revoked.
    let revoked = ca.issue(&key, "revoked.example", Some("1h"));
    let token = ca.revoke_token(&key, &revoked.serial);
    let body = serde_json::json!({"serial": revoked.serial, "ott": token, "reasonCode": 1});
    let reply = ca
        .https()
        .call("POST", "/1.0/revoke", body.to_string().as_bytes())
        .expect("revoke answers");
    assert_eq!(reply.status, 200, "{}", reply.text());
    match renew(&ca.https_as(&revoked)) {
        Ok((status, body)) => {
            assert!((400..500).contains(&status), "{status} {body}");
            assert!(body.contains("revoked"), "{body}");
        }
        Err(e) => panic!("a revoked certificate should get a 4xx naming it: {e}"),
    }

    // Expired (an 8 s certificate, 10 s later).
    let expired = ca.issue(&key, "expired.example", Some("8s"));
    std::thread::sleep(Duration::from_secs(10));
    if let Ok((status, body)) = renew(&ca.https_as(&expired)) {
        assert!(
            (400..500).contains(&status),
            "expired renewed: {status} {body}"
        );
    }

    // Issued by another CA.
    let other_dir = temp_dir();
    let other = Ca::init(other_dir.path());
    let okey = other.provisioner();
    let foreign = other.issue(&okey, "good.example", Some("1h"));
    let root = ca.dir.join("ca/certs/root_ca.crt");
    let pkcs8 = foreign.key.to_pkcs8_der().expect("pkcs8");
    let client = ca
        .https()
        .with_client_cert(&root, &foreign.chain_pem, &pkcs8);
    if let Ok((status, body)) = renew(&client) {
        assert!(
            (400..500).contains(&status),
            "foreign renewed: {status} {body}"
        );
    }
    println!("renew: valid renewed; revoked, expired and foreign-CA certificates refused");
}

//! The TLS posture, checked from outside with `openssl s_client`: TLS 1.2 only and the two
//! ECDHE-ECDSA suites by default, no renegotiation, TLS 1.3 only when configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Pki, Running};
use serde_json::json;

/// Runs `openssl s_client` against the server with `args`; `script` is a shell snippet whose
/// output feeds s_client's stdin (`(echo R; sleep 2)`). Returns (success, stdout + stderr).
fn s_client(port: u16, root: &Path, args: &[&str], script: Option<&str>) -> Option<(bool, String)> {
    let openssl = mayfly_testkit::tool("openssl")?;
    let mut command = format!(
        "{} s_client -connect 127.0.0.1:{port} -servername localhost -CAfile {} -verify_return_error {}",
        openssl.display(),
        root.display(),
        args.join(" ")
    );
    command = match script {
        Some(script) => format!("{script} | timeout 20 {command}"),
        None => format!("timeout 20 {command} </dev/null"),
    };
    let out = Command::new("sh")
        .args(["-c", &command])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn default_posture_is_tls12_with_two_suites_and_no_renegotiation() {
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let port = server.api.port();
    let Some((ok, text)) = s_client(port, &pki.root, &[], None) else {
        return;
    };
    assert!(ok, "{text}");
    assert!(
        text.contains("Protocol  : TLSv1.2") || text.contains("TLSv1.2"),
        "{text}"
    );
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");

    let (ok, text) = s_client(port, &pki.root, &["-tls1_3"], None).unwrap();
    assert!(!ok, "TLS 1.3 must be refused by default: {text}");
    assert!(text.contains("protocol version"), "{text}");

    for cipher in [
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ] {
        let (ok, text) = s_client(port, &pki.root, &["-tls1_2", "-cipher", cipher], None).unwrap();
        assert!(ok && text.contains(cipher), "{cipher}: {text}");
    }
    for cipher in [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES128-SHA256",
    ] {
        let (ok, text) = s_client(port, &pki.root, &["-tls1_2", "-cipher", cipher], None).unwrap();
        assert!(!ok, "{cipher} must be refused: {text}");
        assert!(text.contains("handshake failure"), "{cipher}: {text}");
    }

    let (_, text) = s_client(port, &pki.root, &["-tls1_2"], Some("(echo R; sleep 2)")).unwrap();
    assert!(text.contains("RENEGOTIATING"), "{text}");
    assert!(text.contains("no renegotiation"), "{text}");

    // The served chain is the server certificate (SAN 127.0.0.1 and localhost) + intermediate.
    let (ok, text) = s_client(port, &pki.root, &["-verify_hostname", "localhost"], None).unwrap();
    assert!(ok, "{text}");
    assert!(text.contains(" 0 s:CN = 127.0.0.1\n"), "{text}");
    assert!(
        text.contains(" 1 s:CN = Smallstep Test Intermediate CA\n"),
        "{text}"
    );
    assert!(!text.contains(" 2 s:"), "{text}");
}

#[test]
fn tls13_is_served_when_configured() {
    let pki = Pki::new(json!({"tls": {"minVersion": 1.2, "maxVersion": 1.3}}));
    let server = Running::start(&pki);
    let Some((ok, text)) = s_client(server.api.port(), &pki.root, &["-tls1_3"], None) else {
        return;
    };
    assert!(ok, "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    let (ok, text) = s_client(server.api.port(), &pki.root, &["-tls1_2"], None).unwrap();
    assert!(ok && text.contains("TLSv1.2"), "{text}");
}

/// The serial of the certificate the server presents now.
fn served_serial(port: u16, root: &Path) -> String {
    let openssl = mayfly_testkit::tool("openssl").unwrap();
    let script = format!(
        "{o} s_client -connect 127.0.0.1:{port} -CAfile {r} </dev/null 2>/dev/null | {o} x509 -noout -serial",
        o = openssl.display(),
        r = root.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_server_certificate_is_renewed_in_place_without_dropping_connections() {
    let pki = Pki::new(json!({}));
    let options = mayfly_server::ServerOptions {
        server_cert_lifetime: std::time::Duration::from_secs(3),
        ..Default::default()
    };
    let server = Running::start_with(&pki, options);
    let port = server.api.port();
    if mayfly_testkit::tool("openssl").is_none() {
        return;
    }
    let first = served_serial(port, &pki.root);
    assert!(first.starts_with("serial="), "{first}");
    // One keep-alive connection: a request, a pause across the renewal (2 s), another request.
    let request = "GET /health HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n";
    let last = "GET /1.0/health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n";
    let script = format!("(printf '{request}'; sleep 4; printf '{last}'; sleep 1)");
    let (_, text) = s_client(port, &pki.root, &["-quiet"], Some(&script)).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let second = served_serial(port, &pki.root);
    assert!(second.starts_with("serial="), "{second}");
    assert_ne!(
        first, second,
        "a new certificate is served after two thirds of the lifetime"
    );
}

#[test]
fn reload_applies_new_tls_versions_to_new_connections() {
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let port = server.api.port();
    let Some((ok, _)) = s_client(port, &pki.root, &["-tls1_3"], None) else {
        return;
    };
    assert!(!ok, "TLS 1.3 is off by default");
    pki.write_config(
        &[common::provisioner_entry("mariano")],
        json!({"tls": {"minVersion": 1.3, "maxVersion": 1.3}}),
    );
    let config = mayfly_authority::config::CaConfig::load(&pki.config).unwrap();
    server.handle.reload(&config).unwrap();
    let (ok, text) = s_client(port, &pki.root, &["-tls1_3"], None).unwrap();
    assert!(ok && text.contains("TLSv1.3"), "{text}");
    let (ok, text) = s_client(port, &pki.root, &["-tls1_2"], None).unwrap();
    assert!(!ok, "TLS 1.2 is now off: {text}");
}

//! OCSP responses checked by `openssl ocsp -respin` and pkilint's `lint_ocsp_response`,
//! for requests made by `openssl ocsp -reqout`.

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{INT_EXT, Issued, LEAF_EXT, RESPONDER_EXT, issue, pkilint, root};
use mayfly_crl::{CertStatus, Index, IndexEntry, OcspError, OcspRequest, OcspResponder, Reason};
use mayfly_keys::KeyType;
use mayfly_testkit::{run_ok, tool, venv_tool};
use time::OffsetDateTime;

struct Pki {
    _tmp: tempfile::TempDir,
    root: Issued,
    int: Issued,
    good: Issued,
    revoked: Issued,
    responder: Issued,
    index: Index,
}

fn pki(openssl: &Path) -> Pki {
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    let root = root(openssl, dir, "OCSP Root", KeyType::default());
    let int = issue(openssl, dir, &root, "OCSP Int", "10", INT_EXT);
    let good = issue(openssl, dir, &int, "good.example", "01AB", LEAF_EXT);
    let revoked = issue(openssl, dir, &int, "revoked.example", "8001CD", LEAF_EXT);
    let responder = issue(openssl, dir, &int, "OCSP Responder", "5151", RESPONDER_EXT);
    let mut index = Index::default();
    for cert in [&good, &revoked] {
        index
            .add(IndexEntry::for_certificate(&cert.info))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    index
        .revoke(
            revoked.info.serial(),
            Some(Reason::KeyCompromise),
            OffsetDateTime::now_utc(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    Pki {
        _tmp: tmp,
        root,
        int,
        good,
        revoked,
        responder,
        index,
    }
}

/// `openssl ocsp -reqout` for `cert`, with or without a nonce.
fn request(openssl: &Path, pki: &Pki, cert: &Issued, nonce: bool) -> Vec<u8> {
    let out = cert.cert.with_extension(if nonce { "nreq" } else { "req" });
    run_ok(
        Command::new(openssl)
            .args(["ocsp", "-issuer"])
            .arg(&pki.int.cert)
            .arg("-cert")
            .arg(&cert.cert)
            .arg(if nonce { "-nonce" } else { "-no_nonce" })
            .arg("-reqout")
            .arg(&out),
    );
    std::fs::read(&out).unwrap_or_else(|e| panic!("{e}"))
}

/// `openssl ocsp -respin` on `response`; returns the text it printed.
fn check(
    openssl: &Path,
    pki: &Pki,
    cert: &Issued,
    response: &[u8],
    reqin: Option<&[u8]>,
) -> String {
    let resp = cert.cert.with_extension("resp");
    std::fs::write(&resp, response).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(openssl);
    cmd.args(["ocsp", "-respin"])
        .arg(&resp)
        .arg("-CAfile")
        .arg(&pki.root.cert)
        .arg("-verify_other")
        .arg(&pki.int.cert);
    match reqin {
        Some(req) => {
            let path = cert.cert.with_extension("nreq");
            std::fs::write(&path, req).unwrap_or_else(|e| panic!("{e}"));
            // Only without -cert does openssl compare against this request's nonce (with
            // -cert it builds a fresh request with a fresh nonce).
            cmd.arg("-reqin").arg(path);
        }
        None => {
            cmd.arg("-no_nonce")
                .arg("-issuer")
                .arg(&pki.int.cert)
                .arg("-cert")
                .arg(&cert.cert);
        }
    }
    let out = run_ok(&mut cmd);
    if let Some(lint) = venv_tool("lint_ocsp_response") {
        let findings = pkilint(&lint, &[], &resp);
        assert!(findings.trim().is_empty(), "pkilint: {findings}");
    }
    out
}

#[test]
fn ca_signed_responses_for_good_and_revoked() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let pki = pki(&openssl);
    let responder =
        OcspResponder::new(&pki.int.info, &pki.int.key).unwrap_or_else(|e| panic!("{e}"));
    let now = OffsetDateTime::now_utc();

    let req = request(&openssl, &pki, &pki.good, false);
    let resp = responder.respond(&req, now, |s| pki.index.ocsp_status(s));
    let out = check(&openssl, &pki, &pki.good, &resp, None);
    assert!(
        out.contains("Response verify OK") && out.contains("good.example.crt: good"),
        "{out}"
    );
    assert!(
        out.contains("This Update:") && out.contains("Next Update:"),
        "{out}"
    );

    let req = request(&openssl, &pki, &pki.revoked, false);
    let resp = responder.respond(&req, now, |s| pki.index.ocsp_status(s));
    let out = check(&openssl, &pki, &pki.revoked, &resp, None);
    assert!(
        out.contains("Response verify OK") && out.contains("revoked.example.crt: revoked"),
        "{out}"
    );
    assert!(
        out.contains("Reason: keyCompromise") && out.contains("Revocation Time:"),
        "{out}"
    );

    // Not in the index: unknown.
    let resp = responder.respond(&req, now, |_| CertStatus::Unknown);
    let out = check(&openssl, &pki, &pki.revoked, &resp, None);
    assert!(out.contains("revoked.example.crt: unknown"), "{out}");
}

#[test]
fn nonce_is_echoed_and_get_requests_parse() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let pki = pki(&openssl);
    let responder =
        OcspResponder::new(&pki.int.info, &pki.int.key).unwrap_or_else(|e| panic!("{e}"));
    let req = request(&openssl, &pki, &pki.good, true);
    let parsed = OcspRequest::from_der(&req).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.nonce.is_some());
    assert_eq!(parsed.cert_ids[0].serial, pki.good.info.serial());
    assert!(parsed.cert_ids[0].is_issued_by(&pki.int.info));
    assert!(!parsed.cert_ids[0].is_issued_by(&pki.root.info));

    let resp = responder.respond(&req, OffsetDateTime::now_utc(), |s| {
        pki.index.ocsp_status(s)
    });
    // With -reqin, openssl compares the nonces ("Nonce Verify error" otherwise).
    let out = check(&openssl, &pki, &pki.good, &resp, Some(&req));
    assert!(
        out.contains("Response verify OK") && !out.contains("Nonce"),
        "{out}"
    );
    // And a different request's nonce is caught: the echo is real.
    let other = request(&openssl, &pki, &pki.revoked, true);
    let path = pki.good.cert.with_extension("other");
    std::fs::write(&path, &other).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = mayfly_testkit::run(
        Command::new(&openssl)
            .args(["ocsp", "-respin"])
            .arg(pki.good.cert.with_extension("resp"))
            .arg("-reqin")
            .arg(&path)
            .arg("-CAfile")
            .arg(&pki.root.cert)
            .arg("-verify_other")
            .arg(&pki.int.cert),
    );
    assert!(!ok || out.contains("Nonce Verify error"), "{out}");

    // GET: URL-encoded base64 of the same DER.
    let b64 = base64::engine::general_purpose::STANDARD.encode(&req);
    let encoded = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert_eq!(
        OcspRequest::from_get_path(&encoded).ok(),
        Some(parsed.clone())
    );
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&req);
    assert_eq!(OcspRequest::from_get_path(&url_safe).ok(), Some(parsed));
}

#[test]
fn delegated_responder_is_accepted() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let pki = pki(&openssl);
    let responder =
        OcspResponder::delegated(&pki.int.info, &pki.responder.info, &pki.responder.key)
            .unwrap_or_else(|e| panic!("{e}"));
    let req = request(&openssl, &pki, &pki.revoked, false);
    let resp = responder.respond(&req, OffsetDateTime::now_utc(), |s| {
        pki.index.ocsp_status(s)
    });
    let out = check(&openssl, &pki, &pki.revoked, &resp, None);
    assert!(
        out.contains("Response verify OK") && out.contains("revoked.example.crt: revoked"),
        "{out}"
    );

    // A certificate without id-kp-OCSPSigning, or a key that is not the responder's, is refused.
    assert!(OcspResponder::delegated(&pki.int.info, &pki.good.info, &pki.good.key).is_err());
    assert!(OcspResponder::delegated(&pki.int.info, &pki.responder.info, &pki.int.key).is_err());
}

#[test]
fn bad_requests_get_error_statuses() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let pki = pki(&openssl);
    let responder =
        OcspResponder::new(&pki.root.info, &pki.root.key).unwrap_or_else(|e| panic!("{e}"));
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        responder.respond(b"not DER", now, |_| CertStatus::Good),
        OcspError::MalformedRequest.to_der()
    );
    // A request about another CA's certificate.
    let req = request(&openssl, &pki, &pki.good, false);
    assert_eq!(
        responder.respond(&req, now, |_| CertStatus::Good),
        OcspError::Unauthorized.to_der()
    );
}

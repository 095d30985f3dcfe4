//! The authority end to end in-process: issuance, every refusal the issue names, renewal,
//! rekey, revocation, CRL and OCSP, checked with openssl where a second opinion matters.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{crl_serials, csr, lifetime, test_ca, write_pem};
use mayfly_authority::{AuthorityError, RevokeAuth, RevokeRequest, SignRequest};
use mayfly_jwt::Operation;
use mayfly_template::{San, certificate_sans};

const PLAIN: &str = r#"{"provisioners": [PROVISIONER]}"#;

/// Signs a fresh CSR for `name` with a token for exactly that name.
async fn sign_for(
    ca: &common::TestCa,
    name: &str,
) -> Result<mayfly_authority::IssuedCertificate, AuthorityError> {
    let (csr_der, _) = csr(name, &[name]);
    let token = ca.token(Operation::Sign, name, &[name]);
    ca.authority.sign(sign_request(csr_der, token)).await
}

fn sign_request(csr_der: Vec<u8>, token: String) -> SignRequest {
    SignRequest {
        csr_der,
        token,
        ..SignRequest::default()
    }
}

#[tokio::test]
async fn signs_a_leaf_that_openssl_verifies() {
    let ca = test_ca(PLAIN).await;
    let (csr_der, _key) = csr("app.example.com", &["app.example.com", "10.0.0.7"]);
    let token = ca.token(
        Operation::Sign,
        "app.example.com",
        &["app.example.com", "10.0.0.7"],
    );
    let issued = ca
        .authority
        .sign(sign_request(csr_der, token))
        .await
        .unwrap();

    let sans = certificate_sans(&issued.certificate).unwrap();
    assert_eq!(
        sans,
        [
            San::Dns("app.example.com".into()),
            San::Ip("10.0.0.7".parse().unwrap())
        ]
    );
    assert_eq!(
        lifetime(&issued.certificate),
        Duration::from_secs(24 * 3600 + 60),
        "24 h, backdated 1 min"
    );
    assert_eq!(
        mayfly_authority::provisioner_of(&issued.certificate).as_deref(),
        Some("ops")
    );
    assert_eq!(
        issued.serial,
        mayfly_authority::serial_hex(&issued.certificate)
    );

    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let root = write_pem(dir.path(), "root.crt", &ca.root);
    let int = write_pem(dir.path(), "int.crt", &ca.intermediate);
    let leaf = write_pem(dir.path(), "leaf.crt", &issued.certificate);
    let out = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
            .arg(&root)
            .arg("-untrusted")
            .arg(&int)
            .arg(&leaf),
    );
    assert!(out.contains("leaf.crt: OK"), "{out}");
}

#[tokio::test]
async fn a_token_buys_one_certificate() {
    let ca = test_ca(PLAIN).await;
    let token = ca.token(Operation::Sign, "a.example.com", &["a.example.com"]);
    let (first, _) = csr("a.example.com", &["a.example.com"]);
    ca.authority
        .sign(sign_request(first, token.clone()))
        .await
        .unwrap();
    let (second, _) = csr("a.example.com", &["a.example.com"]);
    let err = ca
        .authority
        .sign(sign_request(second, token))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorityError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("already been used"), "{err}");
}

#[tokio::test]
async fn expired_and_wrong_operation_tokens_are_refused() {
    let ca = test_ca(PLAIN).await;
    let (csr_der, _) = csr("a.example.com", &["a.example.com"]);
    let old = ca.token_at(
        Operation::Sign,
        "a.example.com",
        &["a.example.com"],
        SystemTime::now() - Duration::from_secs(600),
    );
    let err = ca
        .authority
        .sign(sign_request(csr_der.clone(), old))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(err.to_string().contains("expired"), "{err}");

    let revoke_token = ca.token(Operation::Revoke, "a.example.com", &["a.example.com"]);
    let err = ca
        .authority
        .sign(sign_request(csr_der, revoke_token))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401, "{err}");
}

#[tokio::test]
async fn names_beyond_the_token_are_refused() {
    let ca = test_ca(PLAIN).await;
    let (csr_der, _) = csr("a.example.com", &["a.example.com", "admin.example.com"]);
    let token = ca.token(Operation::Sign, "a.example.com", &["a.example.com"]);
    let err = ca
        .authority
        .sign(sign_request(csr_der, token))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403, "{err}");
    assert!(err.to_string().contains("admin.example.com"), "{err}");
}

#[tokio::test]
async fn names_outside_policy_are_refused() {
    let ca = test_ca(r#"{"provisioners": [PROVISIONER], "policy": {"x509": {"allow": {"dns": ["*.example.com"]}}}}"#).await;
    let err = sign_for(&ca, "evil.org").await.unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(
        err.to_string()
            .contains("DNS name \"evil.org\" is not allowed by policy"),
        "{err}"
    );

    sign_for(&ca, "ok.example.com").await.unwrap();
}

#[tokio::test]
async fn authority_template_fills_subject_attributes_the_template_leaves_empty() {
    let with_defaults = r#"{"provisioners": [PROVISIONER],
        "template": {"country": "US", "organization": "Smallstep", "locality": "San Francisco"}}"#;
    let ca = test_ca(with_defaults).await;
    let issued = sign_for(&ca, "app.example.com").await.unwrap();
    let subject = issued.certificate.tbs_certificate().subject().to_string();
    assert_eq!(
        subject,
        "CN=app.example.com,L=San Francisco,O=Smallstep,C=US"
    );

    // What the provisioner's template sets wins over the authority-wide default.
    let template = r#"{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": "Ops"}, "sans": {{ toJson .SANs }}}"#;
    let options = serde_json::json!({"x509": {"template": template}});
    let ca = common::test_ca_with_options(with_defaults, Some(options)).await;
    let issued = sign_for(&ca, "app.example.com").await.unwrap();
    let subject = issued.certificate.tbs_certificate().subject().to_string();
    assert_eq!(subject, "CN=app.example.com,L=San Francisco,O=Ops,C=US");
}

#[tokio::test]
async fn a_template_cannot_make_a_ca() {
    let template = r#"{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}, "basicConstraints": {"isCA": true, "maxPathLen": 0}}"#;
    let options = serde_json::json!({"x509": {"template": template}});
    let ca = common::test_ca_with_options(PLAIN, Some(options)).await;
    let err = sign_for(&ca, "a.example.com").await.unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(err.to_string().contains("a CA certificate"), "{err}");
}

#[tokio::test]
async fn a_template_cannot_smuggle_ca_key_usage_or_raw_basic_constraints() {
    for body in [
        r#""keyUsage": ["certSign"]"#,
        r#""extensions": [{"id": "2.5.29.19", "critical": true, "value": "MAMBAf8="}]"#,
    ] {
        let template = format!(
            r#"{{"subject": {{{{ toJson .Subject }}}}, "sans": {{{{ toJson .SANs }}}}, {body}}}"#
        );
        let ca = common::test_ca_with_options(
            PLAIN,
            Some(serde_json::json!({"x509": {"template": template}})),
        )
        .await;
        let err = sign_for(&ca, "a.example.com").await.unwrap_err();
        assert_eq!(err.status(), 403, "{body}: {err}");
    }
}

#[tokio::test]
async fn validity_outside_the_claims_is_refused() {
    let ca = test_ca(PLAIN).await;
    let (csr_der, _) = csr("a.example.com", &["a.example.com"]);
    let token = ca.token(Operation::Sign, "a.example.com", &["a.example.com"]);
    let request = SignRequest {
        not_after: Some(SystemTime::now() + Duration::from_secs(48 * 3600)),
        ..sign_request(csr_der, token)
    };
    let err = ca.authority.sign(request).await.unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(
        err.to_string()
            .contains("longer than the provisioner's maximum 24h"),
        "{err}"
    );

    let (csr_der, _) = csr("a.example.com", &["a.example.com"]);
    let token = ca.token(Operation::Sign, "a.example.com", &["a.example.com"]);
    let request = SignRequest {
        not_after: Some(SystemTime::now() + Duration::from_secs(3600)),
        ..sign_request(csr_der, token)
    };
    let issued = ca.authority.sign(request).await.unwrap();
    assert_eq!(
        lifetime(&issued.certificate),
        Duration::from_secs(3600 + 60)
    );
}

#[tokio::test]
async fn renew_rekey_revoke_then_renewal_is_refused_and_the_crl_lists_it() {
    let ca = test_ca(PLAIN).await;
    let (csr_der, _) = csr("svc.example.com", &["svc.example.com"]);
    let token = ca.token(Operation::Sign, "svc.example.com", &["svc.example.com"]);
    let issued = ca
        .authority
        .sign(sign_request(csr_der, token))
        .await
        .unwrap();

    let renewed = ca.authority.renew(&issued.certificate).await.unwrap();
    assert_ne!(renewed.serial, issued.serial);
    assert_eq!(
        certificate_sans(&renewed.certificate).unwrap(),
        certificate_sans(&issued.certificate).unwrap()
    );
    assert_eq!(
        lifetime(&renewed.certificate),
        lifetime(&issued.certificate)
    );
    assert_eq!(
        renewed
            .certificate
            .tbs_certificate()
            .subject_public_key_info(),
        issued
            .certificate
            .tbs_certificate()
            .subject_public_key_info()
    );

    let (new_csr, _) = csr("svc.example.com", &["svc.example.com"]);
    let rekeyed = ca
        .authority
        .rekey(&renewed.certificate, &new_csr)
        .await
        .unwrap();
    assert_ne!(
        rekeyed
            .certificate
            .tbs_certificate()
            .subject_public_key_info(),
        renewed
            .certificate
            .tbs_certificate()
            .subject_public_key_info()
    );

    let revoke_token = ca.token(Operation::Revoke, &issued.serial, &[&issued.serial]);
    let record = ca
        .authority
        .revoke(RevokeRequest {
            serial: issued.serial.clone(),
            reason_code: Some(1),
            reason: "key compromise".into(),
            auth: RevokeAuth::Token(revoke_token),
        })
        .await
        .unwrap();
    assert_eq!(record.reason, 1);

    let err = ca.authority.renew(&issued.certificate).await.unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(err.to_string().contains("revoked"), "{err}");

    // mTLS revocation of another certificate with the certificate itself.
    ca.authority
        .revoke(RevokeRequest {
            serial: renewed.serial.clone(),
            reason_code: None,
            reason: String::new(),
            auth: RevokeAuth::Certificate(Box::new(renewed.certificate.clone())),
        })
        .await
        .unwrap();
    // A certificate cannot revoke another one.
    let err = ca
        .authority
        .revoke(RevokeRequest {
            serial: rekeyed.serial.clone(),
            reason_code: None,
            reason: String::new(),
            auth: RevokeAuth::Certificate(Box::new(issued.certificate.clone())),
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403, "{err}");

    let crl = ca.authority.crl().await.unwrap();
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let crl_path = mayfly_testkit::write_file(dir.path(), "ca.crl", &crl);
    let int = write_pem(dir.path(), "int.crt", &ca.intermediate);
    let root = write_pem(dir.path(), "root.crt", &ca.root);
    let text = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&crl_path),
    );
    assert!(text.to_lowercase().contains(&issued.serial), "{text}");
    assert!(text.to_lowercase().contains(&renewed.serial), "{text}");
    assert!(!text.to_lowercase().contains(&rekeyed.serial), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    let leaf = write_pem(dir.path(), "leaf.crt", &issued.certificate);
    let chain = {
        let mut both = std::fs::read_to_string(&root).unwrap();
        both.push_str(&std::fs::read_to_string(&int).unwrap());
        mayfly_testkit::write_file(dir.path(), "chain.pem", both)
    };
    let (ok, out) = mayfly_testkit::run(
        Command::new(&openssl)
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&chain)
            .arg("-CRLfile")
            .arg(&crl_path)
            .arg(&leaf),
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    // OCSP: revoked for the revoked one, good for the rekeyed one.
    let rekeyed_path = write_pem(dir.path(), "rekeyed.crt", &rekeyed.certificate);
    for (cert, expected) in [(&leaf, "revoked"), (&rekeyed_path, "good")] {
        let out = ocsp_status(
            &ca,
            &openssl,
            dir.path(),
            &["-cert".as_ref(), cert.as_ref()],
        )
        .await;
        assert!(out.contains(&format!(": {expected}")), "{out}");
    }
}

/// Asks the authority, through an openssl-built OCSP request, for the status of the
/// certificate `target` names (`-cert FILE` or `-serial 0xHEX`); returns openssl's reading of
/// the answer, checked to verify against the CA chain.
async fn ocsp_status(
    ca: &common::TestCa,
    openssl: &std::path::Path,
    dir: &std::path::Path,
    target: &[&std::ffi::OsStr],
) -> String {
    let int = write_pem(dir, "ocsp-int.crt", &ca.intermediate);
    let root = write_pem(dir, "ocsp-root.crt", &ca.root);
    let mut chain_pem = std::fs::read_to_string(&root).unwrap();
    chain_pem.push_str(&std::fs::read_to_string(&int).unwrap());
    let chain = mayfly_testkit::write_file(dir, "ocsp-chain.pem", chain_pem);
    let req = dir.join("ocsp-req.der");
    mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["ocsp", "-no_nonce", "-issuer"])
            .arg(&int)
            .args(target)
            .arg("-reqout")
            .arg(&req),
    );
    let response = ca
        .authority
        .ocsp(&std::fs::read(&req).unwrap())
        .await
        .unwrap();
    let resp = mayfly_testkit::write_file(dir, "ocsp-resp.der", response);
    let out = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["ocsp", "-no_nonce", "-respin"])
            .arg(&resp)
            .arg("-issuer")
            .arg(&int)
            .args(target)
            .arg("-CAfile")
            .arg(&chain),
    );
    assert!(out.contains("Response verify OK"), "{out}");
    out
}

#[tokio::test]
async fn a_serial_the_store_never_recorded_is_not_revoked_and_stays_off_the_crl() {
    use mayfly_store::AuditLog;
    const SERIAL: &str = "7d1e0a2b3c4d5e6f";
    let ca = test_ca(PLAIN).await;
    let revoke = |serial: &str| {
        let token = ca.token(Operation::Revoke, serial, &[serial]);
        ca.authority.revoke(RevokeRequest {
            serial: serial.into(),
            reason_code: Some(1),
            reason: String::new(),
            auth: RevokeAuth::Token(token),
        })
    };
    // A valid revoke token for a number this CA never issued: no CRL entry for ever after.
    let err = revoke(&format!("0x{SERIAL}")).await.unwrap_err();
    assert_eq!(err.status(), 404, "{err}");
    assert!(err.to_string().contains("was issued by this CA"), "{err}");
    assert!(crl_serials(&ca.authority.crl().await.unwrap()).is_empty());
    let events = ca.authority.store().audit_since(0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|(_, e)| e.event == "refuse" && e.serial == Some(format!("0x{SERIAL}"))),
        "the refusal is audited: {events:?}"
    );
    assert!(
        !events.iter().any(|(_, e)| e.event == "revoke"),
        "{events:?}"
    );

    // A malformed serial is refused as such.
    let err = revoke("0xnothex").await.unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
}

#[tokio::test]
async fn audit_records_name_the_client_an_operation_runs_for() {
    use mayfly_store::AuditLog;
    let ca = test_ca(PLAIN).await;
    let client: std::net::SocketAddr = "192.0.2.7:4242".parse().unwrap();
    let issued = mayfly_authority::on_behalf_of(client, sign_for(&ca, "audited.example.com"))
        .await
        .unwrap();
    let refused = mayfly_authority::on_behalf_of(client, async {
        let (csr_der, _) = csr("audited.example.com", &["audited.example.com"]);
        ca.authority
            .sign(sign_request(csr_der, "not-a-token".into()))
            .await
    })
    .await;
    assert!(refused.is_err());
    sign_for(&ca, "unattributed.example.com").await.unwrap();

    let events = ca.authority.store().audit_since(0, 100).await.unwrap();
    let details: Vec<(&str, &str)> = events
        .iter()
        .map(|(_, e)| (e.event.as_str(), e.detail.as_str()))
        .collect();
    let issue = events
        .iter()
        .find(|(_, e)| e.serial.as_deref() == Some(issued.serial.as_str()))
        .map(|(_, e)| e.detail.as_str())
        .unwrap();
    assert!(issue.ends_with(" client=192.0.2.7:4242"), "{details:?}");
    assert!(
        details
            .iter()
            .any(|(event, d)| *event == "refuse" && d.ends_with(" client=192.0.2.7:4242")),
        "{details:?}"
    );
    let (_, last) = details.last().unwrap();
    assert!(
        !last.contains("client="),
        "outside on_behalf_of: {details:?}"
    );
}

#[tokio::test]
async fn renewal_is_refused_when_the_provisioner_disables_it() {
    let fields = serde_json::json!({"claims": {"disableRenewal": true}});
    let ca = common::test_ca_with_provisioner(PLAIN, &fields).await;
    let issued = sign_for(&ca, "pinned.example.com").await.unwrap();
    let err = ca.authority.renew(&issued.certificate).await.unwrap_err();
    assert!(matches!(err, AuthorityError::Forbidden(_)), "{err:?}");
    assert_eq!((err.status(), err.kind()), (403, "forbidden"));
    assert_eq!(
        err.to_string(),
        "provisioner \"ops\" disables renewal",
        "{err}"
    );
    let (new_csr, _) = csr("pinned.example.com", &["pinned.example.com"]);
    let err = ca
        .authority
        .rekey(&issued.certificate, &new_csr)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403, "{err}");
}

#[tokio::test]
async fn a_provisioner_policy_narrows_the_authority_policy() {
    const ALLOW_EXAMPLE: &str = r#"{"provisioners": [PROVISIONER],
        "policy": {"x509": {"allow": {"dns": ["*.example.com"]}}}}"#;

    // A provisioner deny refuses a name the authority allows.
    let deny = serde_json::json!({"policy": {"x509": {"deny": {"dns": ["secret.example.com"]}}}});
    let ca = common::test_ca_with_provisioner(ALLOW_EXAMPLE, &deny).await;
    let err = sign_for(&ca, "secret.example.com").await.unwrap_err();
    assert_eq!(err.status(), 403, "{err}");
    assert!(
        err.to_string()
            .contains("\"secret.example.com\" is denied by policy rule"),
        "{err}"
    );
    sign_for(&ca, "public.example.com").await.unwrap();

    // A provisioner allow admits only part of what the authority allows.
    let allow =
        serde_json::json!({"policy": {"x509": {"allow": {"dns": ["*.internal.example.com"]}}}});
    let ca = common::test_ca_with_provisioner(ALLOW_EXAMPLE, &allow).await;
    let err = sign_for(&ca, "public.example.com").await.unwrap_err();
    assert_eq!(err.status(), 403, "{err}");
    assert!(
        err.to_string()
            .contains("\"public.example.com\" is not allowed by policy"),
        "{err}"
    );
    sign_for(&ca, "db.internal.example.com").await.unwrap();
    // And the authority's policy still applies on top of the provisioner's.
    let allow_other =
        serde_json::json!({"policy": {"x509": {"allow": {"dns": ["*.example.org"]}}}});
    let ca = common::test_ca_with_provisioner(ALLOW_EXAMPLE, &allow_other).await;
    let err = sign_for(&ca, "www.example.org").await.unwrap_err();
    assert_eq!(err.status(), 403, "{err}");
}

/// ca.json before the reload: 24 h at most, 1 h by default, no policy, default template.
const BEFORE_RELOAD: &str = r#"{"provisioners": [PROVISIONER],
    "claims": {"maxTLSCertDuration": "24h", "defaultTLSCertDuration": "1h"}}"#;
/// ... and after: 48 h at most, 2 h by default, a deny rule, and a template naming an O.
const AFTER_RELOAD: &str = r#"{"provisioners": [PROVISIONER],
    "claims": {"maxTLSCertDuration": "48h", "defaultTLSCertDuration": "2h"},
    "policy": {"x509": {"deny": {"dns": ["blocked.example.com"]}}}}"#;
const ORG_TEMPLATE: &str = r#"{"subject": {"commonName": {{ toJson .Subject.CommonName }}, "organization": "Reloaded"}, "sans": {{ toJson .SANs }}}"#;

/// The two configurations of the reload tests.
fn reload_configs(ca: &common::TestCa) -> [mayfly_authority::config::CaConfig; 2] {
    let none = serde_json::json!({});
    let template = serde_json::json!({"options": {"x509": {"template": ORG_TEMPLATE}}});
    [
        ca.config_with(BEFORE_RELOAD, &none, &none),
        ca.config_with(AFTER_RELOAD, &template, &none),
    ]
}

/// The organization of an issued certificate's subject, if any.
fn organization(issued: &mayfly_authority::IssuedCertificate) -> Option<String> {
    let subject = issued.certificate.tbs_certificate().subject().to_string();
    subject
        .split(',')
        .find_map(|rdn| rdn.strip_prefix("O=").map(str::to_owned))
}

/// Signs for `name` asking for `hours` of validity.
async fn sign_for_hours(
    ca: &common::TestCa,
    name: &str,
    hours: u64,
) -> Result<mayfly_authority::IssuedCertificate, AuthorityError> {
    let (csr_der, _) = csr(name, &[name]);
    let token = ca.token(Operation::Sign, name, &[name]);
    let request = SignRequest {
        not_after: Some(SystemTime::now() + Duration::from_secs(hours * 3600)),
        ..sign_request(csr_der, token)
    };
    ca.authority.sign(request).await
}

#[tokio::test]
async fn reload_swaps_claims_policy_and_templates() {
    let ca = test_ca(BEFORE_RELOAD).await;
    let [before, after] = reload_configs(&ca);

    let err = sign_for_hours(&ca, "long.example.com", 30)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("maximum 24h"), "{err}");
    let issued = sign_for(&ca, "blocked.example.com").await.unwrap();
    assert_eq!(
        lifetime(&issued.certificate),
        Duration::from_secs(3600 + 60)
    );
    assert_eq!(organization(&issued), None);

    ca.authority.reload(&after).unwrap();
    let long = sign_for_hours(&ca, "long.example.com", 30).await.unwrap();
    assert_eq!(
        lifetime(&long.certificate),
        Duration::from_secs(30 * 3600 + 60)
    );
    let err = sign_for(&ca, "blocked.example.com").await.unwrap_err();
    assert_eq!(err.status(), 403, "{err}");
    assert!(err.to_string().contains("denied by policy"), "{err}");
    let issued = sign_for(&ca, "app.example.com").await.unwrap();
    assert_eq!(
        lifetime(&issued.certificate),
        Duration::from_secs(2 * 3600 + 60)
    );
    assert_eq!(organization(&issued).as_deref(), Some("Reloaded"));

    ca.authority.reload(&before).unwrap();
    let err = sign_for_hours(&ca, "long.example.com", 30)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("maximum 24h"), "{err}");
    assert_eq!(
        organization(&sign_for(&ca, "app.example.com").await.unwrap()),
        None
    );

    // A configuration that does not compile leaves the current one serving.
    let broken =
        ca.config(r#"{"provisioners": [PROVISIONER], "claims": {"minTLSCertDuration": "48h"}}"#);
    let err = ca.authority.reload(&broken).unwrap_err();
    assert_eq!(err.kind(), "config", "{err}");
    assert_eq!(
        lifetime(&sign_for(&ca, "app.example.com").await.unwrap().certificate),
        Duration::from_secs(3600 + 60)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_during_reloads_get_the_old_or_the_new_configuration_whole() {
    let ca = std::sync::Arc::new(test_ca(BEFORE_RELOAD).await);
    let configs = reload_configs(&ca);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reloader = {
        let (ca, stop) = (std::sync::Arc::clone(&ca), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reloads = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ca.authority.reload(&configs[reloads % 2]).unwrap();
                reloads += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            reloads
        })
    };
    let mut signs = tokio::task::JoinSet::new();
    for i in 0..64 {
        let ca = std::sync::Arc::clone(&ca);
        signs.spawn(async move { sign_for(&ca, &format!("c{i}.example.com")).await });
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(result) = signs.join_next().await {
        let issued = result
            .unwrap()
            .unwrap_or_else(|e| panic!("a sign failed: {e:?}"));
        let shape = (
            lifetime(&issued.certificate).as_secs(),
            organization(&issued),
        );
        assert!(
            shape == (3600 + 60, None) || shape == (2 * 3600 + 60, Some("Reloaded".into())),
            "a certificate mixes the two configurations: {shape:?}"
        );
        seen.insert(shape);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reloads = reloader.join().unwrap();
    assert!(reloads > 1, "{reloads} reloads");
    eprintln!("{reloads} reloads; configurations seen: {seen:?}");
}

/// The last CRL the store holds for this CA.
async fn last_crl(ca: &common::TestCa) -> mayfly_store::CrlRecord {
    use mayfly_store::CrlStateStore as _;
    ca.authority
        .store()
        .last_crl(&ca.issuer_id())
        .await
        .unwrap()
        .unwrap()
}

/// Moves the last CRL's thisUpdate `seconds` into the past, as if it had been published then.
async fn age_last_crl(ca: &common::TestCa, seconds: i64) {
    use mayfly_store::CrlStateStore as _;
    let mut last = last_crl(ca).await;
    last.this_update -= seconds;
    ca.authority
        .store()
        .store_crl(ca.issuer_id(), last)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_crl_is_regenerated_once_its_renew_period_has_passed() {
    let ca = test_ca(PLAIN).await;
    let first = ca.authority.crl().await.unwrap();
    let number = last_crl(&ca).await.number;
    assert!(ca.authority.crl().await.unwrap() == first, "not due yet");

    // Two hours old: not due under the default period (2/3 of 24 h = 16 h).
    age_last_crl(&ca, 2 * 3600).await;
    ca.authority.refresh_crl_if_due().await.unwrap();
    assert_eq!(last_crl(&ca).await.number, number);

    // A renewPeriod of 1 h, applied by reload, makes the same CRL due.
    let hourly = ca.config_with(
        PLAIN,
        &serde_json::json!({}),
        &serde_json::json!({"crl": {"renewPeriod": "1h"}}),
    );
    ca.authority.reload(&hourly).unwrap();
    let renewed = ca.authority.crl().await.unwrap();
    let record = last_crl(&ca).await;
    assert_eq!(record.number, number + 1, "the 2 h old CRL was not renewed");
    assert!(renewed == record.der);
    assert!(unix_now() - record.this_update < 60);

    // 59 minutes old: not due; 61: due.
    age_last_crl(&ca, 59 * 60).await;
    ca.authority.refresh_crl_if_due().await.unwrap();
    assert_eq!(last_crl(&ca).await.number, number + 1);
    age_last_crl(&ca, 2 * 60).await;
    ca.authority.refresh_crl_if_due().await.unwrap();
    assert_eq!(last_crl(&ca).await.number, number + 2);
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn crl_renew_period_must_be_positive_and_shorter_than_the_cache_duration() {
    let ca = test_ca(PLAIN).await;
    let state = |crl: serde_json::Value| {
        let config = ca.config_with(
            PLAIN,
            &serde_json::json!({}),
            &serde_json::json!({"crl": crl}),
        );
        mayfly_authority::AuthorityState::from_config(&config)
    };
    for crl in [
        serde_json::json!({"renewPeriod": "0s"}),
        serde_json::json!({"renewPeriod": "24h"}),
        serde_json::json!({"renewPeriod": "2h", "cacheDuration": "1h"}),
    ] {
        let err = state(crl.clone()).unwrap_err();
        assert_eq!(err.kind(), "config", "{crl}: {err}");
        assert!(err.to_string().contains("crl.renewPeriod"), "{crl}: {err}");
        // A reload with it is refused and the running configuration stays.
        let config = ca.config_with(
            PLAIN,
            &serde_json::json!({}),
            &serde_json::json!({"crl": crl}),
        );
        assert!(ca.authority.reload(&config).is_err());
    }

    let t = 1_700_000_000;
    let hourly = state(serde_json::json!({"renewPeriod": "1h"})).unwrap();
    assert!(!hourly.crl_due(t, t + 3599));
    assert!(hourly.crl_due(t, t + 3600));
    let default = state(serde_json::json!({"cacheDuration": "6h"})).unwrap();
    assert!(!default.crl_due(t, t + 4 * 3600 - 1));
    assert!(default.crl_due(t, t + 4 * 3600));
}

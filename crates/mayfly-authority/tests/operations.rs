//! The authority end to end in-process: issuance, every refusal the issue names, renewal,
//! rekey, revocation, CRL and OCSP, checked with openssl where a second opinion matters.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime};

use common::{csr, lifetime, test_ca, write_pem};
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
        let req = dir.path().join("req.der");
        mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["ocsp", "-no_nonce", "-issuer"])
                .arg(&int)
                .arg("-cert")
                .arg(cert)
                .arg("-reqout")
                .arg(&req),
        );
        let response = ca
            .authority
            .ocsp(&std::fs::read(&req).unwrap())
            .await
            .unwrap();
        let resp = mayfly_testkit::write_file(dir.path(), "resp.der", response);
        let out = mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["ocsp", "-no_nonce", "-respin"])
                .arg(&resp)
                .arg("-issuer")
                .arg(&int)
                .arg("-cert")
                .arg(cert)
                .arg("-CAfile")
                .arg(&chain),
        );
        assert!(out.contains(&format!(": {expected}")), "{out}");
        assert!(out.contains("Response verify OK"), "{out}");
    }
}

#[tokio::test]
async fn revoking_an_unknown_serial_is_not_found() {
    let ca = test_ca(PLAIN).await;
    let token = ca.token(Operation::Revoke, "abcdef", &["abcdef"]);
    let err = ca
        .authority
        .revoke(RevokeRequest {
            serial: "abcdef".into(),
            reason_code: None,
            reason: String::new(),
            auth: RevokeAuth::Token(token),
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404, "{err}");
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

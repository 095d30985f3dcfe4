//! Every step fixture template renders to what step would produce (expected output written by
//! reading each template); the broken ones fail the way they should. CSR fixtures are checked
//! against OpenSSL's reading of them. The templates in `tests/step_docs/` follow the examples
//! of step-ca's template documentation (see its README).

use std::path::PathBuf;
use std::process::Command;

use mayfly_keys::KeyError;
use mayfly_template::{
    CertificateProfile, CertificateRequest, Error, San, Template, TemplateData, TemplateError,
};
use mayfly_testkit::{run_ok, step_fixtures, tool};
use serde_json::{Value, json};

fn fixture(path: &str) -> PathBuf {
    step_fixtures().join(path)
}

fn template(path: &str) -> Template {
    let p = fixture(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Template::parse(path, &text).unwrap_or_else(|e| panic!("{e}"))
}

fn render(path: &str, data: &Value) -> String {
    template(path)
        .render(data)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn csr(path: &str) -> Result<CertificateRequest, Error> {
    let pem = std::fs::read_to_string(fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    CertificateRequest::from_pem(&pem)
}

const SSH: &str = "certificates/authority/testdata/templates/";

fn user(goos: &str, step_path: &str) -> Value {
    json!({"User": {"GOOS": goos, "StepPath": step_path, "User": "alice",
                    "Certificate": "host.crt", "Key": "host.key"}})
}

#[test]
fn ssh_config_templates_render_like_step() {
    let linux = user("linux", "/home/alice/.step");
    let windows = user("windows", r"C:\Users\alice\.step");
    assert_eq!(
        render(&format!("{SSH}config.tpl"), &linux),
        "Match exec \"step ssh check-host %h\"\n\tUser alice\n\tUserKnownHostsFile /home/alice/.step/ssh/known_hosts\n\tProxyCommand step ssh proxycommand %r %h %p\n"
    );
    assert_eq!(
        render(&format!("{SSH}config.tpl"), &windows),
        "Match exec \"step ssh check-host %h\"\n\tUser alice\n\tUserKnownHostsFile C:\\Users\\alice\\.step\\ssh\\known_hosts\n\tProxyCommand C:\\Windows\\System32\\cmd.exe /c step ssh proxycommand %r %h %p\n"
    );
    assert_eq!(
        render(&format!("{SSH}include.tpl"), &linux),
        "Host *\n\tInclude /home/alice/.step/ssh/config"
    );
    assert_eq!(
        render(&format!("{SSH}include.tpl"), &windows),
        "Host *\n\tInclude /Users/alice/.step/ssh/config"
    );
    assert_eq!(
        render(&format!("{SSH}step_includes.tpl"), &windows),
        "Include \"/Users/alice/.step/ssh/config\"\n"
    );
    assert_eq!(
        render(&format!("{SSH}step_includes.tpl"), &linux),
        "Include \"/home/alice/.step/ssh/config\"\n"
    );
    assert_eq!(
        render(&format!("{SSH}sshd_config.tpl"), &linux),
        "Match all\n\tTrustedUserCAKeys /etc/ssh/ca.pub\n\tHostCertificate /etc/ssh/host.crt\n\tHostKey /etc/ssh/host.key"
    );
    // GOOS missing: `or .User.GOOS "none"` picks "none".
    let no_goos = json!({"User": {"StepPath": "/s"}});
    assert_eq!(
        render(&format!("{SSH}step_includes.tpl"), &no_goos),
        "Include \"/s/ssh/config\"\n"
    );
}

#[test]
fn ssh_key_templates_render_like_step() {
    let data = json!({"Step": {"SSH": {
        "UserKey": {"Type": "ecdsa-sha2-nistp256", "Marshal": "raw-bytes"},
        "HostKey": {"Type": "ssh-ed25519", "Marshal": "host"},
        "UserFederatedKeys": [{"Type": "ssh-ed25519", "Marshal": "k2"}],
        "HostFederatedKeys": [{"Type": "ssh-rsa", "Marshal": "k3"}, {"Type": "ssh-rsa", "Marshal": "k4"}]
    }}});
    assert_eq!(
        render(&format!("{SSH}ca.tpl"), &data),
        "ecdsa-sha2-nistp256 cmF3LWJ5dGVz\nssh-ed25519 azI="
    );
    assert_eq!(
        render(&format!("{SSH}known_hosts.tpl"), &data),
        "@cert-authority * ssh-ed25519 aG9zdA==\n@cert-authority * ssh-rsa azM=\n@cert-authority * ssh-rsa azQ="
    );
}

#[test]
fn broken_templates_fail_clearly() {
    match Template::parse(
        "error.tpl",
        &std::fs::read_to_string(fixture(&format!("{SSH}error.tpl"))).unwrap_or_default(),
    ) {
        Err(TemplateError::Syntax {
            template,
            line: 1,
            column: 20,
            message,
        }) => {
            assert_eq!(template, "error.tpl");
            assert!(message.contains("Function"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match template(&format!("{SSH}fail.tpl")).render(&json!({})) {
        Err(e @ TemplateError::Failed { line: 1, .. }) => {
            assert_eq!(e.to_string(), "This template will fail");
        }
        other => panic!("{other:?}"),
    }
    match template(&format!("{SSH}badjsonsyntax.tpl")).render_json(&json!({})) {
        Err(e @ TemplateError::InvalidJson { .. }) => {
            let shown = e.to_string();
            assert!(
                shown.contains("\"subject\": \"badjson.localhost,"),
                "{shown}"
            );
            assert!(shown.contains("line 3"), "{shown}");
        }
        other => panic!("{other:?}"),
    }
    let data = TemplateData::new("x", &[]).to_value();
    let out = render(&format!("{SSH}badjsonvalue.tpl"), &data);
    match CertificateProfile::from_json(&out) {
        Err(Error::Profile(m)) => assert!(m.contains("line 2"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn example_template_renders_like_step() {
    let ec = csr("certificates/authority/provisioner/testdata/certs/ecdsa.csr")
        .unwrap_or_else(|e| panic!("{e}"));
    let data = TemplateData::new("foo", &[San::guess("foo.example.com")])
        .with_request(&ec)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_token(json!({"iss": "https://ca.example", "sub": "foo", "nbf": 1_234_567_890}))
        .set(
            "Webhooks",
            json!({"Test": {"notAfter": "2030-01-01T00:00:00Z"}}),
        );
    let mut value = data.to_value();
    value["Insecure"]["CR"]["emailAddresses"] = json!(["jane@doe.com"]);
    let t = template("crypto/x509util/testdata/example.tpl");
    let got = t.render_json(&value).unwrap_or_else(|e| panic!("{e}"));
    let expected = json!({
        "subject": value["Insecure"]["CR"]["subject"],
        "sans": [{"type": "dns", "value": "foo.example.com"}],
        "emailAddresses": ["jane@doe.com"],
        "uris": "https://ca.example#foo",
        "notBefore": "2009-02-13T23:31:30Z",
        "notAfter": "2030-01-01T00:00:00Z",
        "keyUsage": ["digitalSignature"],
        "extKeyUsage": ["serverAuth", "clientAuth"]
    });
    assert_eq!(got, expected);
    let profile = CertificateProfile::from_value(got).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(profile.uris.0, vec!["https://ca.example#foo".to_owned()]);

    // An RSA-2048 request trips the template's own 3072-bit rule.
    let rsa = csr("certificates/authority/provisioner/testdata/certs/rsa.csr")
        .unwrap_or_else(|e| panic!("{e}"));
    value["Insecure"]["CR"] = rsa.to_template_value().unwrap_or_else(|e| panic!("{e}"));
    match t.render(&value) {
        Err(TemplateError::Failed { message, line, .. }) => {
            assert_eq!(message, "Key length must be at least 3072 bits");
            assert_eq!(line, 14);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn static_and_data_templates_render_like_step() {
    let full = render("crypto/x509util/testdata/fullsimple.tpl", &json!({}));
    let p = CertificateProfile::from_json(&full).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.subject.common_name, "subjectCommonName");
    assert_eq!(p.dns_names.0, vec!["doe.com".to_owned()]);
    assert_eq!(p.all_sans().map(|s| s.len()).ok(), Some(5));
    assert_eq!(
        p.crl_distribution_points.0,
        vec!["https://ca.com/ca.crl".to_owned()]
    );
    let nc = p.name_constraints.clone().unwrap_or_default();
    assert!(nc.critical);
    assert_eq!(nc.permitted_ip_ranges.0, vec!["127.0.0.1/32".to_owned()]);

    let data =
        TemplateData::new("opc", &[San::guess("urn:opc:x"), San::guess("10.0.0.1")]).to_value();
    let got: Value = serde_json::from_str(&render("crypto/x509util/testdata/opcua.tpl", &data))
        .unwrap_or_default();
    assert_eq!(
        got,
        json!({
            "subject": {"commonName": "opc"},
            "sans": [{"type": "uri", "value": "urn:opc:x"}, {"type": "ip", "value": "10.0.0.1"}],
            "basicConstraints": {"isCA": false},
            "keyUsage": ["digitalSignature", "keyEncipherment", "keyAgreement", "certSign"],
            "extKeyUsage": ["serverAuth", "clientAuth"]
        })
    );
}

/// Builds a self-signed certificate from a rendered profile, for templates whose output
/// must also be usable as a certificate.
fn build(json: &str) -> mayfly_template::Certificate {
    use mayfly_keys::{KeyType, PrivateKey, Signer};
    let profile = CertificateProfile::from_json(json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    let key = PrivateKey::generate(KeyType::EcP256).unwrap_or_else(|e| panic!("{e}"));
    mayfly_template::build_certificate(
        &profile,
        key.public_key(),
        mayfly_template::Issuer::SelfSigned(&key),
        mayfly_template::ValidityPeriod::starting_now(mayfly_template::LEAF_LIFETIME),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn inspect(cert: &mayfly_template::Certificate) -> Value {
    mayfly_template::inspect(cert).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cr_template_prints_the_request_like_step() {
    let ec = csr("certificates/authority/provisioner/testdata/certs/ecdsa.csr")
        .unwrap_or_else(|e| panic!("{e}"));
    let data = TemplateData::new("foobar", &[San::guess("foo.com")])
        .with_request(&ec)
        .map(|d| d.to_value())
        .unwrap_or_else(|e| panic!("{e}"));
    let out = render(
        "certificates/authority/provisioner/testdata/templates/cr.tpl",
        &data,
    );
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    // step prints, for this CSR (authority/provisioner/options_test.go):
    //   {"version":0,"subject":{"commonName":"foo"},"dnsNames":["foo"],"emailAddresses":null,
    //    "ipAddresses":null,"uris":null,"sans":null,"extensions":[{"id":"2.5.29.17",...}],
    //    "signatureAlgorithm":""}
    // Mayfly prints the same subject and names (empty lists, not null), the subject's DER
    // (rawSubject, as newer step versions do; read with `openssl asn1parse`: the 16 bytes at
    // offset 9 of the request), and the request's signature algorithm. As in step, the public
    // key is not printed; unlike step, the request's raw extensions are not copied.
    let expected = json!({
        "version": 0,
        "subject": {"commonName": "foo"},
        "rawSubject": "MA4xDDAKBgNVBAMTA2Zvbw==",
        "dnsNames": ["foo"],
        "emailAddresses": [],
        "ipAddresses": [],
        "uris": [],
        "signatureAlgorithm": "ECDSA-SHA256"
    });
    assert_eq!(got, expected, "{out}");
    // The key is still there for templates, with the type names Go's %T prints.
    let t = Template::parse(
        "key",
        "{{ typeOf .Insecure.CR.PublicKey }} {{ .Insecure.CR.PublicKey.Curve }} {{ .Insecure.CR.PublicKeyAlgorithm }}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.render(&data).unwrap_or_else(|e| panic!("{e}")),
        "*ecdsa.PublicKey P-256 ECDSA"
    );
    // As step documents it, the output is a profile: the certificate says what the CSR asked.
    let cert = inspect(&build(&out));
    assert_eq!(cert["subject"], "CN=foo");
    assert_eq!(cert["subjectAltNames"], json!(["DNS:foo"]));
}

#[test]
fn raw_subject_template_renders_like_step() {
    let req = csr("crypto/x509util/testdata/rawSubject.csr").unwrap_or_else(|e| panic!("{e}"));
    let data = TemplateData::new("Test", &[San::guess("test.smallstep.com")])
        .with_request(&req)
        .map(|d| d.to_value())
        .unwrap_or_else(|e| panic!("{e}"));
    let out = render("crypto/x509util/testdata/rawSubject.tpl", &data);
    // The subject's DER (C, ST, L, O, CN in that order, UTF8String values) as `openssl
    // asn1parse` shows it: the 106 bytes at offset 10 of the request.
    let raw = "MGgxCzAJBgNVBAYTAlVTMRMwEQYDVQQIDApDYWxpZm9ybmlhMRYwFAYDVQQHDA1TYW4gRnJhbmNpc2NvMR0wGwYDVQQKDBRTbWFsbHN0ZXAgTGFicywgSW5jLjENMAsGA1UEAwwEVGVzdA==";
    assert_eq!(
        out,
        format!(
            "{{\n\t\"rawSubject\": \"{raw}\",\n\t\"sans\": [{{\"type\":\"dns\",\"value\":\"test.smallstep.com\"}}],\n\t\"keyUsage\": [\"digitalSignature\"],\n\t\"extKeyUsage\": [\"serverAuth\", \"clientAuth\"]\n}}"
        )
    );
    // The certificate carries the subject byte for byte, order and string types kept.
    use base64::Engine as _;
    use der::Encode as _;
    let cert = build(&out);
    let subject = cert
        .tbs_certificate()
        .subject()
        .to_der()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(subject),
        raw
    );
}

/// A template from `tests/step_docs/`.
fn doc_template(name: &str) -> Template {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/step_docs")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = Template::parse(name, &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        mayfly_template::lint(&t).is_empty(),
        "{name}: {:?}",
        mayfly_template::lint(&t)
    );
    t
}

fn render_doc(name: &str, data: &Value) -> Value {
    doc_template(name)
        .render_json(data)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn documentation_style_templates_render_as_written() {
    use mayfly_keys::{KeyType, PrivateKey, Signer};
    let rsa = PrivateKey::generate(KeyType::Rsa(2048)).unwrap_or_else(|e| panic!("{e}"));
    let ec = csr("certificates/authority/provisioner/testdata/certs/ecdsa.csr")
        .unwrap_or_else(|e| panic!("{e}"));
    let sans = [San::guess("web.example.com")];

    // A token claim becomes the subject; no claim, no certificate.
    let data = TemplateData::new("ignored", &[])
        .with_token(json!({"sub": "1234", "email": "jane.doe@example.com"}))
        .to_value();
    let got = render_doc("token_email.tpl", &data);
    assert_eq!(
        got,
        json!({
            "subject": {"commonName": "jane.doe"},
            "emailAddresses": "jane.doe@example.com",
            "keyUsage": ["digitalSignature"],
            "extKeyUsage": ["clientAuth"]
        })
    );
    let cert = inspect(&build(&got.to_string()));
    assert_eq!(
        cert["subjectAltNames"],
        json!(["email:jane.doe@example.com"])
    );
    assert_eq!(cert["extKeyUsage"], json!(["clientAuth"]));
    let no_email = TemplateData::new("x", &[])
        .with_token(json!({"sub": "1234"}))
        .to_value();
    match doc_template("token_email.tpl").render(&no_email) {
        Err(e @ TemplateError::Failed { line: 2, .. }) => {
            assert_eq!(e.to_string(), "the token has no email claim");
        }
        other => panic!("{other:?}"),
    }

    // The requester's dnsName replaces the SANs; without it the SANs stay. An RSA key gets
    // keyEncipherment.
    let plain = TemplateData::new("web", &sans).with_public_key(rsa.public_key());
    let got = render_doc("user_dnsname.tpl", &plain.to_value());
    assert_eq!(
        got,
        json!({
            "subject": {"commonName": "web"},
            "sans": [{"type": "dns", "value": "web.example.com"}],
            "keyUsage": ["keyEncipherment", "digitalSignature"],
            "extKeyUsage": ["serverAuth", "clientAuth"]
        })
    );
    let data = plain
        .clone()
        .with_request(&ec)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_user(json!({"dnsName": "backend.example.com"}))
        .to_value();
    assert_eq!(
        render_doc("user_dnsname.tpl", &data),
        json!({
            "subject": {"commonName": "web"},
            "dnsNames": "backend.example.com",
            "keyUsage": ["digitalSignature"],
            "extKeyUsage": ["serverAuth", "clientAuth"]
        })
    );

    // Operator data (templateData) and user data shape the subject; `default` fills a gap.
    let data = TemplateData::new("web", &sans)
        .set("OrganizationalUnit", json!("Engineering Team"))
        .with_user(json!({"organization": "Acme <Labs>"}))
        .to_value();
    let got = render_doc("template_data_org.tpl", &data);
    assert_eq!(
        got,
        json!({
            "subject": {"commonName": "web", "organization": "Acme <Labs>",
                        "organizationalUnit": "Engineering Team"},
            "sans": [{"type": "dns", "value": "web.example.com"}],
            "keyUsage": ["digitalSignature"],
            "extKeyUsage": ["serverAuth", "clientAuth"]
        })
    );
    assert_eq!(
        inspect(&build(&got.to_string()))["subjectFields"],
        json!({"commonName": "web", "organization": ["Acme <Labs>"],
               "organizationalUnit": ["Engineering Team"]})
    );
    let data = TemplateData::new("web", &sans)
        .set("OrganizationalUnit", json!(["Ops", "Dev"]))
        .to_value();
    assert_eq!(
        render_doc("template_data_org.tpl", &data)["subject"],
        json!({"commonName": "web", "organization": "Example Inc.",
               "organizationalUnit": ["Ops", "Dev"]})
    );

    // An OpenVPN client: the CSR's common name, digitalSignature + keyAgreement, clientAuth.
    let data = TemplateData::new("ignored", &[San::guess("foo")])
        .with_request(&ec)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_value();
    let got = render_doc("openvpn_client.tpl", &data);
    assert_eq!(
        got,
        json!({
            "subject": {"commonName": "foo"},
            "sans": [{"type": "dns", "value": "foo"}],
            "keyUsage": ["digitalSignature", "keyAgreement"],
            "extKeyUsage": ["clientAuth"]
        })
    );
    let cert = inspect(&build(&got.to_string()));
    assert_eq!(
        cert["keyUsage"],
        json!(["digitalSignature", "keyAgreement"])
    );
    assert_eq!(cert["extKeyUsage"], json!(["clientAuth"]));

    // An intermediate limited to one domain.
    let data = TemplateData::new("Example Intermediate", &[])
        .set("PermittedDomain", json!("example.com"))
        .to_value();
    let got = render_doc("name_constraints.tpl", &data);
    assert_eq!(
        got,
        json!({
            "subject": {"commonName": "Example Intermediate"},
            "keyUsage": ["certSign", "crlSign"],
            "basicConstraints": {"isCA": true, "maxPathLen": 0},
            "nameConstraints": {"critical": true, "permittedDNSDomains": "example.com"}
        })
    );
    let profile = CertificateProfile::from_value(got).unwrap_or_else(|e| panic!("{e}"));
    let nc = profile.name_constraints.unwrap_or_default();
    assert!(nc.critical);
    assert_eq!(nc.permitted_dns_domains.0, vec!["example.com".to_owned()]);
}

#[test]
fn unsupported_curves_are_refused_by_name() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let out = dir.path().join("p521.csr");
    run_ok(
        Command::new(openssl)
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-521",
                "-nodes",
                "-subj",
                "/CN=p521.example.com",
                "-keyout",
            ])
            .arg(dir.path().join("p521.key"))
            .arg("-out")
            .arg(&out),
    );
    let pem = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    match CertificateRequest::from_pem(&pem) {
        // secp521r1 = 1.3.132.0.35
        Err(Error::Key(KeyError::UnsupportedAlgorithm(m))) => {
            assert_eq!(m, "EC curve 1.3.132.0.35");
        }
        other => panic!("{other:?}"),
    }
}

fn openssl_req(path: &str, what: &str) -> String {
    let Some(openssl) = tool("openssl") else {
        return String::new();
    };
    run_ok(
        Command::new(openssl)
            .args(["req", "-noout", what, "-nameopt", "RFC2253", "-in"])
            .arg(fixture(path)),
    )
}

#[test]
fn csr_fixtures_parse_verify_and_match_openssl() {
    for (path, key) in [
        (
            "certificates/authority/provisioner/testdata/certs/ecdsa.csr",
            "*ecdsa.PublicKey",
        ),
        (
            "certificates/authority/provisioner/testdata/certs/ed25519.csr",
            "ed25519.PublicKey",
        ),
        (
            "certificates/authority/provisioner/testdata/certs/rsa.csr",
            "*rsa.PublicKey",
        ),
        (
            "certificates/authority/testdata/certs/foo.csr",
            "*ecdsa.PublicKey",
        ),
    ] {
        let req = csr(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v = req.to_template_value().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["$publicKey"]["$type"], key, "{path}");
        let subject = openssl_req(path, "-subject");
        if let Some(cn) = v["subject"]["commonName"].as_str() {
            assert!(
                subject.contains(&format!("CN={cn}")),
                "{path}: {subject} vs {cn}"
            );
        }
        let text = openssl_req(path, "-text");
        for name in v["dnsNames"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            assert!(text.contains(&format!("DNS:{name}")), "{path}: {name}");
        }
        let verify = openssl_req(path, "-verify");
        assert!(
            verify.contains("verify OK") || verify.is_empty(),
            "{verify}"
        );
    }
    match csr("certificates/authority/provisioner/testdata/certs/short-rsa.csr") {
        Err(Error::Key(KeyError::UnsupportedAlgorithm(m))) => {
            assert!(m.contains("too small"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        csr("certificates/authority/testdata/certs/badsig.csr"),
        Err(Error::RequestSignature)
    ));
    assert!(matches!(
        CertificateRequest::from_pem("nonsense"),
        Err(Error::Request(_))
    ));
}

#[test]
fn built_requests_round_trip_and_satisfy_openssl() {
    use mayfly_keys::{KeyType, PrivateKey, Signer};
    let sans = [
        San::guess("a.example.com"),
        San::guess("10.1.2.3"),
        San::guess("me@example.com"),
    ];
    for kty in [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::Ed25519,
        KeyType::Rsa(2048),
    ] {
        let key = PrivateKey::generate(kty).unwrap_or_else(|e| panic!("{e}"));
        let der = mayfly_template::build_request("a.example.com", &sans, &key)
            .unwrap_or_else(|e| panic!("{kty}: {e}"));
        let req = CertificateRequest::from_der(&der).unwrap_or_else(|e| panic!("{kty}: {e}"));
        assert_eq!(req.sans(), &sans);
        assert_eq!(req.public_key(), key.public_key());
        assert_eq!(req.subject().to_string(), "CN=a.example.com");
        let mut tampered = der.clone();
        if let Some(b) = tampered.iter_mut().rev().nth(40) {
            *b ^= 1;
        }
        assert!(CertificateRequest::from_der(&tampered).is_err(), "{kty}");
        let Some(openssl) = tool("openssl") else {
            continue;
        };
        let dir = mayfly_testkit::temp_dir();
        let file = mayfly_testkit::write_file(dir.path(), "req.der", &der);
        let out = run_ok(
            Command::new(openssl)
                .args(["req", "-inform", "DER", "-noout", "-verify", "-text", "-in"])
                .arg(file),
        );
        assert!(
            out.contains("verify OK")
                || out.contains("Certificate request self-signature verify OK"),
            "{out}"
        );
        assert!(
            out.contains("DNS:a.example.com") && out.contains("IP Address:10.1.2.3"),
            "{out}"
        );
    }
}

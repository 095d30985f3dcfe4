//! root -> intermediate -> leaf built from the default templates, checked by OpenSSL, GnuTLS
//! certtool, Python `cryptography` path validation and pkilint.

use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_keys::{KeyType, PrivateKey, Signer};
use mayfly_template::{
    CA_LIFETIME, Certificate, CertificateProfile, DEFAULT_INTERMEDIATE_TEMPLATE,
    DEFAULT_LEAF_TEMPLATE, DEFAULT_ROOT_TEMPLATE, Issuer, LEAF_LIFETIME, San, Template,
    TemplateData, ValidityPeriod, build_certificate, certificate_to_pem, inspect,
    subject_key_identifier,
};
use mayfly_testkit::{run, run_ok, temp_dir, tool, venv_tool, workspace_root};
use serde_json::{Value, json};

fn key(kty: KeyType) -> PrivateKey {
    PrivateKey::generate(kty).unwrap_or_else(|e| panic!("{e}"))
}

fn issue(
    template: &str,
    data: Value,
    subject: &PrivateKey,
    issuer: Issuer<'_>,
    life: std::time::Duration,
) -> Certificate {
    let t = Template::parse("t", template).unwrap_or_else(|e| panic!("{e}"));
    let json = t.render(&data).unwrap_or_else(|e| panic!("{e}"));
    let profile = CertificateProfile::from_json(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    build_certificate(
        &profile,
        subject.public_key(),
        issuer,
        ValidityPeriod::starting_now(life),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

struct Pki {
    dir: tempfile::TempDir,
    certs: Vec<Certificate>,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn write(dir: &Path, name: &str, certs: &[&Certificate]) -> PathBuf {
    let pem: String = certs
        .iter()
        .map(|c| certificate_to_pem(c).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn build_pki(leaf_kty: KeyType) -> Pki {
    let (root_key, int_key, leaf_key) = (key(KeyType::EcP256), key(KeyType::EcP256), key(leaf_kty));
    let root = issue(
        DEFAULT_ROOT_TEMPLATE,
        TemplateData::new("Mayfly Test Root", &[]).to_value(),
        &root_key,
        Issuer::SelfSigned(&root_key),
        CA_LIFETIME,
    );
    let int_data = TemplateData::new("Mayfly Test Intermediate", &[])
        .set(
            "CRLDistributionPoints",
            json!(["http://ca.example.com/intermediate.crl"]),
        )
        .to_value();
    let int = issue(
        DEFAULT_INTERMEDIATE_TEMPLATE,
        int_data,
        &int_key,
        Issuer::Ca(&root, &root_key),
        CA_LIFETIME,
    );
    let sans = [San::guess("localhost"), San::guess("127.0.0.1")];
    let leaf_data = TemplateData::new("localhost", &sans)
        .with_public_key(leaf_key.public_key())
        .to_value();
    let leaf = issue(
        DEFAULT_LEAF_TEMPLATE,
        leaf_data,
        &leaf_key,
        Issuer::Ca(&int, &int_key),
        LEAF_LIFETIME,
    );
    let dir = temp_dir();
    write(dir.path(), "root.crt", &[&root]);
    write(dir.path(), "int.crt", &[&int]);
    write(dir.path(), "leaf.crt", &[&leaf]);
    write(dir.path(), "chain.pem", &[&leaf, &int]);
    Pki {
        dir,
        certs: vec![root, int, leaf],
    }
}

#[test]
fn profiles_come_out_as_asked() {
    let pki = build_pki(KeyType::EcP256);
    let [root, int, leaf] =
        [0, 1, 2].map(|i| inspect(&pki.certs[i]).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        root["basicConstraints"],
        json!({"critical": true, "isCA": true, "maxPathLen": 1})
    );
    assert_eq!(root["keyUsage"], json!(["certSign", "crlSign"]));
    assert!(
        root.get("authorityKeyId").is_none(),
        "self-signed root carries no AKI"
    );
    assert_eq!(int["basicConstraints"]["maxPathLen"], 0);
    assert_eq!(
        int["crlDistributionPoints"],
        json!(["URI:http://ca.example.com/intermediate.crl"])
    );
    assert_eq!(int["authorityKeyId"], root["subjectKeyId"]);
    assert_eq!(leaf["authorityKeyId"], int["subjectKeyId"]);
    assert_eq!(leaf["keyUsage"], json!(["digitalSignature"]));
    assert_eq!(leaf["signatureAlgorithm"], "ECDSA-SHA256");
    assert_eq!(leaf["extKeyUsage"], json!(["serverAuth", "clientAuth"]));
    assert_eq!(
        leaf["subjectAltNames"],
        json!(["DNS:localhost", "IP:127.0.0.1"])
    );
    assert!(leaf.get("basicConstraints").is_none());
    let ski = subject_key_identifier(&pki.certs[2]).unwrap_or_default();
    assert_eq!(ski.len(), 20);
    // 128-bit serials: 16 bytes, or 17 with a sign-padding zero.
    let serial = pki.certs[2]
        .tbs_certificate()
        .serial_number()
        .as_bytes()
        .len();
    assert!((16..=17).contains(&serial), "{serial}");

    let rsa = build_pki(KeyType::Rsa(2048));
    let leaf = inspect(&rsa.certs[2]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        leaf["keyUsage"],
        json!(["digitalSignature", "keyEncipherment"])
    );
}

#[test]
fn openssl_verifies_the_chain_strictly() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let pki = build_pki(KeyType::EcP256);
    let out = run_ok(
        Command::new(&openssl)
            .args([
                "verify",
                "-x509_strict",
                "-purpose",
                "sslserver",
                "-verify_hostname",
                "localhost",
                "-CAfile",
            ])
            .arg(pki.path("root.crt"))
            .arg("-untrusted")
            .arg(pki.path("int.crt"))
            .arg(pki.path("leaf.crt")),
    );
    assert!(out.contains(": OK"), "{out}");
    // The leaf is not a CA: using it as an issuer must fail.
    let (ok, out) = run(Command::new(&openssl)
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(pki.path("leaf.crt"))
        .arg(pki.path("leaf.crt")));
    assert!(!ok, "{out}");
}

#[test]
fn gnutls_certtool_verifies_the_chain() {
    let Some(certtool) = tool("certtool") else {
        return;
    };
    let pki = build_pki(KeyType::EcP256);
    let out = run_ok(
        Command::new(certtool)
            .args([
                "--verify",
                "--verify-hostname",
                "localhost",
                "--load-ca-certificate",
            ])
            .arg(pki.path("root.crt"))
            .arg("--infile")
            .arg(pki.path("chain.pem")),
    );
    assert!(out.contains("Verified."), "{out}");
}

#[test]
fn python_cryptography_validates_the_path() {
    let Some(python) = venv_tool("python") else {
        return;
    };
    let pki = build_pki(KeyType::EcP256);
    let script = workspace_root().join("../shared/interop/verify_pki.py");
    let out = run_ok(
        Command::new(&python)
            .arg(script)
            .arg(pki.path("root.crt"))
            .arg(pki.path("int.crt"))
            .arg(pki.path("leaf.crt")),
    );
    assert_eq!(out.matches("sig OK").count(), 2, "{out}");
    // Full RFC 5280 path validation with the webpki-like policy, server auth, hostname.
    let check = "import sys\nfrom cryptography import x509\nfrom cryptography.x509 import verification as v\n\
        ld = lambda p: x509.load_pem_x509_certificate(open(p, 'rb').read())\n\
        root, inter, leaf = (ld(p) for p in sys.argv[1:4])\n\
        chain = v.PolicyBuilder().store(v.Store([root])).build_server_verifier(x509.DNSName('localhost')).verify(leaf, [inter])\n\
        print('path OK', len(chain))\n";
    let out = run_ok(
        Command::new(&python)
            .args(["-c", check])
            .arg(pki.path("root.crt"))
            .arg(pki.path("int.crt"))
            .arg(pki.path("leaf.crt")),
    );
    assert!(out.contains("path OK 3"), "{out}");
}

/// pkilint findings at ERROR level, minus the expected ones for a `localhost` test leaf.
fn pkilint_errors(tool_name: &str, files: &[PathBuf]) -> Vec<Value> {
    let Some(lint) = venv_tool(tool_name) else {
        return Vec::new();
    };
    let out = Command::new(lint)
        .args(["lint", "-s", "ERROR", "-f", "JSON"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut findings = Vec::new();
    collect_findings(&report, &mut findings);
    findings.retain(|f| {
        let code = f.to_string();
        let expected = (code.contains("pkix.invalid_domain_name_syntax")
            && code.contains("localhost"))
            || code.contains("cabf.internal_domain_name")
            || code.contains("cabf.internal_ip_address");
        !expected
    });
    findings
}

/// pkilint's JSON nests results; every object with a `code` is a finding.
fn collect_findings(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("code") && m.contains_key("severity") {
                out.push(v.clone());
            }
            m.values().for_each(|x| collect_findings(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_findings(x, out)),
        _ => {}
    }
}

#[test]
fn pkilint_finds_no_errors() {
    for kty in [KeyType::EcP256, KeyType::Rsa(2048)] {
        let pki = build_pki(kty);
        for name in ["root.crt", "int.crt", "leaf.crt"] {
            let errors = pkilint_errors("lint_pkix_cert", &[pki.path(name)]);
            assert!(errors.is_empty(), "{kty} {name}: {errors:#?}");
        }
        for (issuer, subject) in [("root.crt", "int.crt"), ("int.crt", "leaf.crt")] {
            let errors = pkilint_errors(
                "lint_pkix_signer_signee_cert_chain",
                &[pki.path(issuer), pki.path(subject)],
            );
            assert!(errors.is_empty(), "{issuer} -> {subject}: {errors:#?}");
        }
    }
}

#[test]
fn every_profile_field_reaches_the_certificate() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let path = mayfly_testkit::step_fixtures().join("crypto/x509util/testdata/fullsimple.tpl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let json = Template::parse("fullsimple", &text)
        .and_then(|t| t.render(&json!({})))
        .unwrap_or_else(|e| panic!("{e}"));
    let profile = CertificateProfile::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
    let k = key(KeyType::Ed25519);
    let validity =
        ValidityPeriod::from_profile(&profile, LEAF_LIFETIME).unwrap_or_else(|e| panic!("{e}"));
    let cert = build_certificate(&profile, k.public_key(), Issuer::SelfSigned(&k), validity)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = temp_dir();
    let file = write(dir.path(), "full.crt", &[&cert]);
    let out = run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(file),
    );
    for needle in [
        "Subject: CN = subjectCommonName",
        "Not Before: Feb 13 23:31:30 2009 GMT",
        "Not After : Feb 14 23:31:30 2009 GMT",
        "DNS:doe.com",
        "email:jane@doe.com",
        "IP Address:127.0.0.1",
        "URI:https://doe.com",
        "DNS:www.doe.com",
        "Digital Signature",
        "TLS Web Server Authentication, 1.3.6.1.4.1.44924.1.6, 1.3.6.1.4.1.44924.1.7",
        "OCSP - URI:https://ocsp.server",
        "CA Issuers - URI:https://ca.com",
        "URI:https://ca.com/ca.crl",
        "Policy: 1.2.3.4.5.6",
        "CA:FALSE",
        "X509v3 Name Constraints: critical",
        "DNS:jane.doe.com",
        "IP:127.0.0.1/255.255.255.255",
        "IP:0.0.0.0/0.0.0.0",
        "1.2.3.4: critical",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

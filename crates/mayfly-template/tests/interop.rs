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
use mayfly_testkit::{pkilint_errors, run, run_ok, temp_dir, tool, venv_tool, workspace_root};
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

#[test]
fn validity_windows_are_the_defaults_with_a_one_minute_backdate() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let pki = build_pki(KeyType::EcP256);
    let window = |c: &Certificate| {
        let v = c.tbs_certificate().validity();
        (
            v.not_before.to_unix_duration(),
            v.not_after.to_unix_duration(),
        )
    };
    let minute = std::time::Duration::from_secs(60);
    for (cert, life) in [
        (&pki.certs[0], CA_LIFETIME),
        (&pki.certs[1], CA_LIFETIME),
        (&pki.certs[2], LEAF_LIFETIME),
    ] {
        let (not_before, not_after) = window(cert);
        assert_eq!(not_after - not_before, life + minute);
        // notBefore is one minute before issuance (whole seconds).
        let issued = not_before + minute;
        assert!(
            issued + std::time::Duration::from_secs(1) >= before && issued <= before + minute,
            "{issued:?} vs {before:?}"
        );
    }
    assert_eq!(CA_LIFETIME, std::time::Duration::from_secs(3650 * 86_400));
    assert_eq!(LEAF_LIFETIME, std::time::Duration::from_secs(86_400));
    assert_eq!(mayfly_template::BACKDATE, minute);
}

/// The contents of the subjectPublicKey BIT STRING in a DER SubjectPublicKeyInfo, read with
/// a minimal DER walk (SEQUENCE { AlgorithmIdentifier, BIT STRING }).
fn spki_bit_string(der: &[u8]) -> &[u8] {
    fn tlv(d: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (d[0], d[1]);
        let (len, start) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            (
                d[2..2 + n].iter().fold(0, |a, b| a << 8 | usize::from(*b)),
                2 + n,
            )
        };
        (tag, &d[start..start + len], &d[start + len..])
    }
    let (tag, spki, _) = tlv(der);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = tlv(spki);
    let (tag, bits, _) = tlv(rest);
    assert_eq!(
        (tag, bits[0]),
        (0x03, 0),
        "a BIT STRING without unused bits"
    );
    &bits[1..]
}

#[test]
fn subject_key_id_is_sha1_of_the_public_key_bits() {
    use sha1::{Digest, Sha1};
    let Some(openssl) = tool("openssl") else {
        return;
    };
    for kty in [KeyType::EcP256, KeyType::Rsa(2048), KeyType::Ed25519] {
        let pki = build_pki(kty);
        for (name, index) in [("int.crt", 1), ("leaf.crt", 2)] {
            // The public key as OpenSSL reads it from the certificate.
            let pem = pki.path(&format!("{name}.pub.pem"));
            let der = pki.path(&format!("{name}.pub.der"));
            run_ok(
                Command::new(&openssl)
                    .args(["x509", "-noout", "-pubkey", "-in"])
                    .arg(pki.path(name))
                    .arg("-out")
                    .arg(&pem),
            );
            run_ok(
                Command::new(&openssl)
                    .args(["pkey", "-pubin", "-outform", "DER", "-in"])
                    .arg(&pem)
                    .arg("-out")
                    .arg(&der),
            );
            let spki = std::fs::read(&der).unwrap_or_else(|e| panic!("{e}"));
            let expected = Sha1::digest(spki_bit_string(&spki)).to_vec();
            let cert = &pki.certs[index];
            assert_eq!(
                subject_key_identifier(cert).ok(),
                Some(expected.clone()),
                "{kty} {name}"
            );
            // OpenSSL prints the SKI the certificate carries.
            let text = run_ok(
                Command::new(&openssl)
                    .args(["x509", "-noout", "-ext", "subjectKeyIdentifier", "-in"])
                    .arg(pki.path(name)),
            );
            let shown: String = text
                .lines()
                .nth(1)
                .unwrap_or_default()
                .trim()
                .replace(':', "");
            assert_eq!(
                shown.to_lowercase(),
                hex::encode(&expected),
                "{kty} {name}: {text}"
            );
        }
        // The leaf's AKI is the intermediate's SKI.
        let leaf = inspect(&pki.certs[2]).unwrap_or_else(|e| panic!("{e}"));
        let int = inspect(&pki.certs[1]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(leaf["authorityKeyId"], int["subjectKeyId"]);
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

//! CRLs checked by openssl (against `openssl ca -gencrl` on the same index.txt, signature,
//! `verify -crl_check`), GnuTLS certtool and pkilint.

mod common;

use std::path::Path;
use std::process::Command;

use common::{INT_EXT, Issued, LEAF_EXT, issue, pkilint, root};
use mayfly_crl::{CrlBuilder, Index, IssuingDistributionPoint, Serial};
use mayfly_keys::KeyType;
use mayfly_testkit::{run, run_ok, tool, venv_tool, write_file};
use time::{Duration, OffsetDateTime};

/// Builds a CRL of `index`'s R rows, signed by `ca`, written as DER to `dir/name`.
fn our_crl(
    ca: &Issued,
    index: &Index,
    number: u64,
    idp: Option<IssuingDistributionPoint>,
    path: &Path,
) {
    let now = OffsetDateTime::now_utc();
    let mut builder = CrlBuilder::new(
        &ca.info,
        now - Duration::minutes(1),
        now + Duration::days(7),
        Serial::from(number),
    );
    if let Some(idp) = idp {
        builder = builder.issuing_distribution_point(idp);
    }
    builder.extend(index.revoked());
    let crl = builder
        .sign(&ca.key)
        .unwrap_or_else(|e| panic!("sign: {e}"));
    std::fs::write(path, crl.as_der()).unwrap_or_else(|e| panic!("write: {e}"));
    let pem = crl.to_pem().unwrap_or_else(|e| panic!("pem: {e}"));
    std::fs::write(path.with_extension("pem"), pem).unwrap_or_else(|e| panic!("write: {e}"));
}

/// `(serial, reason, invalidity date)` per entry, from `openssl crl -text`.
fn entries(openssl: &Path, crl: &Path) -> Vec<(String, String, String)> {
    let text = run_ok(
        Command::new(openssl)
            .args(["crl", "-noout", "-text", "-in"])
            .arg(crl),
    );
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if let Some(serial) = line.strip_prefix("Serial Number: ") {
            out.push((serial.to_owned(), String::new(), String::new()));
        } else if line.starts_with("X509v3 CRL Reason Code") {
            let reason = lines.next().unwrap_or_default().to_owned();
            if let Some(last) = out.last_mut() {
                last.1 = reason;
            }
        } else if line.starts_with("Invalidity Date") {
            let date = lines.next().unwrap_or_default().to_owned();
            if let Some(last) = out.last_mut() {
                last.2 = date;
            }
        }
    }
    out
}

/// A root and two intermediates it issued: the one `index_text` revokes, and a good one.
fn root_with_two_intermediates(openssl: &Path, dir: &Path) -> (Issued, Issued, Issued) {
    let ca = root(openssl, dir, "Mayfly Test Root", KeyType::default());
    let int = issue(openssl, dir, &ca, "revoked int", "5EEDF00D", INT_EXT);
    let good_int = issue(openssl, dir, &ca, "good int", "600D", INT_EXT);
    (ca, int, good_int)
}

fn index_text(int: &Issued) -> String {
    format!(
        "R\t301231235959Z\t260101000000Z,keyCompromise\t{}\tunknown\t/CN=Test int\n\
         V\t301231235959Z\t\t0A\tunknown\t/CN=still valid\n\
         R\t301231235959Z\t250615120000Z\t0B\tunknown\t/CN=revoked no reason\n\
         E\t200101000000Z\t\t0C\tunknown\t/CN=expired\n\
         R\t301231235959Z\t250615120000Z,superseded\t03\tunknown\t/CN=superseded\n\
         R\t301231235959Z\t250615120000Z,CAkeyTime,20250601000000Z\tFF00AA\tunknown\t/CN=ca compromise\n\
         R\t301231235959Z\t250615120000Z,cessationOfOperation\t7F\tunknown\t/CN=ceased\n\
         R\t301231235959Z\t250615120000Z,affiliationChanged\t80\tunknown\t/CN=moved\n\
         R\t301231235959Z\t250615120000Z,keyCompromise\t00A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3\tunknown\t/CN=big\n",
        int.info.serial()
    )
}

#[test]
fn same_entries_as_openssl_ca_gencrl_and_verifies_everywhere() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    let (ca, int, good_int) = root_with_two_intermediates(&openssl, dir);
    let index_path = write_file(dir, "index.txt", index_text(&int));
    let index = Index::load(&index_path).unwrap_or_else(|e| panic!("{e}"));

    // The reference: openssl ca -gencrl on the same index (INTEROP.md §4).
    write_file(dir, "crlnumber", "1000\n");
    let cnf = write_file(
        dir,
        "ca.cnf",
        format!(
            "[ca]\ndefault_ca=d\n[d]\ndatabase={}\ncrlnumber={}\ncertificate={}\nprivate_key={}\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n",
            index_path.display(),
            dir.join("crlnumber").display(),
            ca.cert.display(),
            ca.key_path.display()
        ),
    );
    let theirs = dir.join("openssl.crl");
    run_ok(
        Command::new(&openssl)
            .args(["ca", "-gencrl", "-config"])
            .arg(&cnf)
            .arg("-out")
            .arg(&theirs),
    );
    let ours = dir.join("ours.crl");
    our_crl(&ca, &index, 0x1000, None, &ours);

    // A second parser (x509-cert) agrees on the structure and the serial order.
    let der = std::fs::read(&ours).unwrap_or_default();
    let list = <x509_cert::crl::CertificateList as der::Decode>::from_der(&der)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(list.tbs_cert_list.issuer.to_string(), "CN=Mayfly Test Root");
    let serials: Vec<Serial> = list
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|r| {
            Serial::from_der_integer(r.serial_number.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    assert!(serials.is_sorted() && serials.len() == 7, "{serials:?}");

    let expected = entries(&openssl, &theirs);
    assert_eq!(expected.len(), 7, "{expected:?}");
    assert_eq!(entries(&openssl, &ours), expected);

    // Signature, issuer and AKI as openssl sees them.
    let out = run_ok(
        Command::new(&openssl)
            .args(["crl", "-noout", "-inform", "DER", "-CAfile"])
            .arg(&ca.cert)
            .arg("-in")
            .arg(&ours),
    );
    assert!(out.contains("verify OK"), "{out}");
    let text = run_ok(
        Command::new(&openssl)
            .args(["crl", "-noout", "-text", "-in"])
            .arg(&ours),
    );
    assert!(
        text.contains("Version 2") && text.contains("X509v3 CRL Number: \n                4096"),
        "{text}"
    );

    // Revocation of an intermediate: error 23; a good intermediate stays OK.
    let (ok, out) = run(Command::new(&openssl)
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(&ca.cert)
        .arg("-CRLfile")
        .arg(&ours)
        .arg(&int.cert));
    assert!(!ok && out.contains("error 23"), "{out}");
    let out = run_ok(
        Command::new(&openssl)
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&ca.cert)
            .arg("-CRLfile")
            .arg(&ours)
            .arg(&good_int.cert),
    );
    assert!(out.contains(": OK"), "{out}");

    // GnuTLS.
    if let Some(certtool) = tool("certtool") {
        let out = run_ok(
            Command::new(certtool)
                .args(["--verify-crl", "--load-ca-certificate"])
                .arg(&ca.cert)
                .arg("--infile")
                .arg(ours.with_extension("pem")),
        );
        assert!(out.contains("Verified"), "{out}");
    }

    // pkilint.
    if let Some(lint) = venv_tool("lint_crl") {
        for file in [ours.clone(), ours.with_extension("pem")] {
            let findings = pkilint(&lint, &["-t", "CRL", "-p", "PKIX"], &file);
            assert!(findings.trim().is_empty(), "pkilint: {findings}");
        }
    }
}

/// x509-cert 0.3's CrlBuilder copies the issuer's AKI; ours must carry the issuer's SKI, or
/// openssl cannot match an intermediate's CRL to it.
#[test]
fn intermediate_crl_revokes_a_leaf_with_idp() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    let ca = root(&openssl, dir, "Mayfly Test Root", KeyType::default());
    let int = issue(&openssl, dir, &ca, "Mayfly Test Int", "1234", INT_EXT);
    let leaf = issue(&openssl, dir, &int, "leaf.example", "00C0FFEE", LEAF_EXT);
    let good = issue(&openssl, dir, &int, "good.example", "0BAD", LEAF_EXT);
    let mut index = Index::default();
    for cert in [&leaf, &good] {
        index
            .add(mayfly_crl::IndexEntry::for_certificate(&cert.info))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    index
        .revoke(
            leaf.info.serial(),
            Some(mayfly_crl::Reason::KeyCompromise),
            OffsetDateTime::now_utc(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let crl = dir.join("int.crl");
    let idp = IssuingDistributionPoint {
        uri: Some("http://ca.example/int.crl".into()),
        only_user_certs: true,
        only_ca_certs: false,
    };
    our_crl(&int, &index, 7, Some(idp), &crl);

    let chain = |cert: &Path| {
        run(Command::new(&openssl)
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&ca.cert)
            .arg("-untrusted")
            .arg(&int.cert)
            .arg("-CRLfile")
            .arg(&crl)
            .arg(cert))
    };
    let (ok, out) = chain(&leaf.cert);
    assert!(!ok && out.contains("error 23"), "{out}");
    let (ok, out) = chain(&good.cert);
    assert!(ok && out.contains(": OK"), "{out}");
    let text = run_ok(
        Command::new(&openssl)
            .args(["crl", "-noout", "-text", "-in"])
            .arg(&crl),
    );
    assert!(
        text.contains("Issuing Distribution Point: critical")
            && text.contains("Only User Certificates"),
        "{text}"
    );
    if let Some(lint) = venv_tool("lint_crl") {
        let findings = pkilint(&lint, &["-t", "CRL", "-p", "PKIX"], &crl);
        assert!(findings.trim().is_empty(), "pkilint: {findings}");
    }
}

/// A root's CRL scoped to CA certificates (IDP onlyContainsCACerts) still covers its
/// intermediates for openssl.
#[test]
fn root_crl_with_only_ca_certs_idp() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    let (ca, int, good_int) = root_with_two_intermediates(&openssl, dir);
    let index = Index::parse(&index_text(&int)).unwrap_or_else(|e| panic!("{e}"));
    let crl = dir.join("root.crl");
    let idp = IssuingDistributionPoint {
        uri: None,
        only_user_certs: false,
        only_ca_certs: true,
    };
    our_crl(&ca, &index, 9, Some(idp), &crl);

    let text = run_ok(
        Command::new(&openssl)
            .args(["crl", "-noout", "-text", "-CAfile"])
            .arg(&ca.cert)
            .arg("-in")
            .arg(&crl),
    );
    assert!(
        text.contains("verify OK")
            && text.contains("Issuing Distribution Point: critical")
            && text.contains("Only CA Certificates")
            && !text.contains("Only User Certificates"),
        "{text}"
    );
    let check = |cert: &Path| {
        run(Command::new(&openssl)
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&ca.cert)
            .arg("-CRLfile")
            .arg(&crl)
            .arg(cert))
    };
    let (ok, out) = check(&int.cert);
    assert!(!ok && out.contains("error 23"), "{out}");
    let (ok, out) = check(&good_int.cert);
    assert!(ok && out.contains(": OK"), "{out}");
    if let Some(lint) = venv_tool("lint_crl") {
        let findings = pkilint(&lint, &["-t", "CRL", "-p", "PKIX"], &crl);
        assert!(findings.trim().is_empty(), "pkilint: {findings}");
    }
}

#[test]
fn every_key_type_signs_crls_openssl_verifies() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    for (i, key_type) in [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::Ed25519,
        KeyType::Rsa(2048),
    ]
    .into_iter()
    .enumerate()
    {
        let ca = root(&openssl, dir, &format!("root{i}"), key_type);
        let crl = dir.join(format!("root{i}.crl"));
        // An empty CRL: no revokedCertificates field at all.
        our_crl(&ca, &Index::default(), 1, None, &crl);
        let out = run_ok(
            Command::new(&openssl)
                .args(["crl", "-noout", "-inform", "DER", "-CAfile"])
                .arg(&ca.cert)
                .arg("-in")
                .arg(&crl),
        );
        assert!(out.contains("verify OK"), "{key_type:?}: {out}");
    }
}

#[test]
fn wrong_key_and_bad_validity_are_refused() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let ca = root(&openssl, tmp.path(), "root", KeyType::default());
    let other = root(&openssl, tmp.path(), "other", KeyType::default());
    let now = OffsetDateTime::now_utc();
    let builder = CrlBuilder::new(&ca.info, now, now + Duration::days(1), Serial::from(1));
    assert!(matches!(
        builder.sign(&other.key),
        Err(mayfly_crl::CrlError::KeyMismatch(_))
    ));
    let builder = CrlBuilder::new(&ca.info, now, now, Serial::from(1));
    assert!(matches!(
        builder.sign(&ca.key),
        Err(mayfly_crl::CrlError::Validity(_))
    ));
}

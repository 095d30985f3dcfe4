//! `mayfly-root index add`, `revoke` and `crl` end to end, checked with openssl.

use std::path::Path;
use std::process::Command;

use mayfly_keys::{KeyType, Password, PrivateKey};
use mayfly_testkit::{run, run_ok, tool, write_file};

mod common;
use common::{mayfly_root, offline, offline_ok};

/// An `openssl ca` configuration for the `pki` root, its database `index.txt` and `crlnumber`.
fn openssl_ca_config(dir: &Path) {
    write_file(
        dir,
        "ca.cnf",
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ncertificate=root.crt\nprivate_key=root.key\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n",
    );
}

/// `openssl ca -gencrl` on the `pki` root and `index.txt`, as PEM in `out`.
fn openssl_gencrl(openssl: &Path, dir: &Path, out: &str) {
    openssl_ca_config(dir);
    write_file(dir, "crlnumber", "2000\n");
    run_ok(Command::new(openssl).current_dir(dir).args([
        "ca",
        "-gencrl",
        "-config",
        "ca.cnf",
        "-passin",
        "file:pass.txt",
        "-out",
        out,
    ]));
}

/// What `openssl ca -status` says of `serial` (it exits 1 even when it finds it).
fn openssl_status(openssl: &Path, dir: &Path, serial: &str) -> String {
    run(Command::new(openssl)
        .current_dir(dir)
        .args(["ca", "-config", "ca.cnf", "-status", serial]))
    .1
}

/// Each entry of a CRL as `openssl crl -text` prints it: serial, revocation date, reason and
/// invalidity date. OpenSSL writes `unspecified` as a reasonCode where RFC 5280 §5.3.1 (and
/// Mayfly) leave it out, so it reads as none.
fn crl_entries(openssl: &Path, dir: &Path, crl: &str) -> Vec<[String; 4]> {
    let text = run_ok(
        Command::new(openssl)
            .current_dir(dir)
            .args(["crl", "-noout", "-text", "-in", crl]),
    );
    let mut entries: Vec<[String; 4]> = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let field = if line.starts_with("Serial Number: ") {
            entries.push(Default::default());
            Some((0, line.trim_start_matches("Serial Number: ").to_owned()))
        } else if let Some(date) = line.strip_prefix("Revocation Date: ") {
            Some((1, date.to_owned()))
        } else if line.starts_with("X509v3 CRL Reason Code") {
            let reason = lines.next().unwrap_or_default();
            (reason != "Unspecified").then(|| (2, reason.to_owned()))
        } else if line.starts_with("Invalidity Date") {
            Some((3, lines.next().unwrap_or_default().to_owned()))
        } else {
            None
        };
        if let (Some((i, value)), Some(entry)) = (field, entries.last_mut()) {
            entry[i] = value;
        }
    }
    entries
}

const EXT: &str = "[req]\ndistinguished_name=dn\n[dn]\n[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n[int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n";

/// A root with an encrypted key (PKCS#8 PBES2 written by mayfly-keys) and two intermediates.
fn pki(openssl: &Path, dir: &Path) {
    let key = PrivateKey::generate(KeyType::default()).unwrap_or_else(|e| panic!("{e}"));
    let password = Password::from_bytes(b"correct horse".to_vec());
    let pem =
        mayfly_keys::write_private_key_pem(&key, Some(&password), mayfly_keys::Cipher::default())
            .unwrap_or_else(|e| panic!("{e}"));
    write_file(dir, "root.key", pem.as_bytes());
    write_file(dir, "pass.txt", "correct horse\n");
    write_file(dir, "ext.cnf", EXT);
    run_ok(Command::new(openssl).current_dir(dir).args([
        "req",
        "-x509",
        "-new",
        "-key",
        "root.key",
        "-passin",
        "file:pass.txt",
        "-subj",
        "/CN=CLI Root",
        "-days",
        "30",
        "-config",
        "ext.cnf",
        "-extensions",
        "root",
        "-out",
        "root.crt",
    ]));
    for (name, serial) in [("int1", "0x0A11"), ("int2", "0x0A12")] {
        run_ok(Command::new(openssl).current_dir(dir).args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-subj",
            &format!("/O=Mayfly/CN={name}"),
            "-config",
            "ext.cnf",
            "-out",
            &format!("{name}.csr"),
        ]));
        run_ok(Command::new(openssl).current_dir(dir).args([
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "root.crt",
            "-CAkey",
            "root.key",
            "-passin",
            "file:pass.txt",
            "-set_serial",
            serial,
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "int",
            "-out",
            &format!("{name}.crt"),
        ]));
    }
}

#[test]
fn add_revoke_crl_round_trip() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    pki(&openssl, dir);

    for cert in ["int1.crt", "int2.crt"] {
        offline_ok(mayfly_root(dir).args(["index", "add", "--index", "index.txt", cert]));
    }
    let (ok, out) = offline(
        mayfly_root(dir).args(["index", "add", "--index", "index.txt", "int1.crt"]),
        "",
    );
    assert!(!ok && out.contains("already in the index"), "{out}");
    let index = std::fs::read_to_string(dir.join("index.txt")).unwrap_or_default();
    assert!(
        index.starts_with("V\t") && index.contains("\t\t0A11\tunknown\t/O=Mayfly/CN=int1\n"),
        "{index}"
    );

    offline_ok(mayfly_root(dir).args([
        "revoke",
        "--index",
        "index.txt",
        "--serial",
        "0a11",
        "--reason",
        "keyCompromise",
    ]));
    let (ok, out) = offline(
        mayfly_root(dir).args(["revoke", "--index", "index.txt", "--serial", "0A11"]),
        "",
    );
    assert!(!ok && out.contains("already revoked"), "{out}");
    let (ok, out) = offline(
        mayfly_root(dir).args([
            "revoke",
            "--index",
            "index.txt",
            "--serial",
            "0A11",
            "--reason",
            "stolen",
        ]),
        "",
    );
    assert!(!ok && out.contains("stolen"), "{out}");
    assert!(dir.join("index.txt.old").is_file());

    write_file(dir, "crlnumber", "1000\n");
    offline_ok(mayfly_root(dir).args([
        "crl",
        "--index",
        "index.txt",
        "--ca",
        "root.crt",
        "--ca-key",
        "root.key",
        "--password-file",
        "pass.txt",
        "--crlnumber",
        "crlnumber",
        "--hours",
        "12",
        "--out",
        "root.crl",
        "--pem",
    ]));
    assert_eq!(
        std::fs::read_to_string(dir.join("crlnumber")).unwrap_or_default(),
        "1001\n"
    );

    let out = run_ok(Command::new(&openssl).current_dir(dir).args([
        "crl",
        "-in",
        "root.crl",
        "-noout",
        "-CAfile",
        "root.crt",
        "-crlnumber",
    ]));
    assert!(
        out.contains("verify OK") && out.contains("crlNumber=0x1000"),
        "{out}"
    );
    let check = |cert: &str| {
        run(Command::new(&openssl).current_dir(dir).args([
            "verify",
            "-crl_check",
            "-CAfile",
            "root.crt",
            "-CRLfile",
            "root.crl",
            cert,
        ]))
    };
    let (ok, out) = check("int1.crt");
    assert!(!ok && out.contains("error 23"), "{out}");
    let (ok, out) = check("int2.crt");
    assert!(ok, "{out}");

    // openssl ca works on the index.txt Mayfly wrote, and lists what `mayfly-root crl` lists.
    openssl_ca_config(dir);
    for (serial, status) in [("0A11", "0A11=Revoked (R)"), ("0A12", "0A12=Valid (V)")] {
        let out = openssl_status(&openssl, dir, serial);
        assert!(out.contains(status), "{out}");
    }
    openssl_gencrl(&openssl, dir, "openssl.crl");
    let ours = crl_entries(&openssl, dir, "root.crl");
    assert!(
        ours.len() == 1 && ours[0][2] == "Key Compromise",
        "{ours:?}"
    );
    assert_eq!(ours, crl_entries(&openssl, dir, "openssl.crl"));

    // A wrong password is a clear error, not a CRL.
    write_file(dir, "wrong.txt", "nope\n");
    let (ok, out) = offline(
        mayfly_root(dir).args([
            "crl",
            "--index",
            "index.txt",
            "--ca",
            "root.crt",
            "--ca-key",
            "root.key",
            "--password-file",
            "wrong.txt",
            "--out",
            "bad.crl",
        ]),
        "",
    );
    assert!(
        !ok && out.contains("loading the CA key") && !dir.join("bad.crl").exists(),
        "{out}"
    );
}

/// Every reason `openssl ca` knows (and a compromise time, a hold, no reason), entry by entry.
#[test]
fn crl_lists_what_openssl_ca_gencrl_lists() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    pki(&openssl, dir);
    let rows = [
        ("260101000000Z,keyCompromise", "01"),
        ("260102000000Z,CACompromise", "02"),
        ("260103000000Z,affiliationChanged", "03"),
        ("260104000000Z,superseded", "04"),
        ("260105000000Z,cessationOfOperation", "05"),
        ("260106000000Z,certificateHold", "06"),
        ("260107000000Z,removeFromCRL", "07"),
        ("260108000000Z,keyTime,20251231120000Z", "08"),
        ("260109000000Z,CAkeyTime,20251230120000Z", "09"),
        ("260110000000Z,unspecified", "0A"),
        ("260111000000Z,holdInstruction,holdInstructionReject", "0B"),
        ("991231235959Z", "00FF"),
        (
            "260112123456Z,superseded",
            "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        ),
    ];
    let mut index: String = rows
        .iter()
        .map(|(revocation, serial)| {
            format!("R\t301231235959Z\t{revocation}\t{serial}\tunknown\t/CN={serial}\n")
        })
        .collect();
    index.push_str("V\t301231235959Z\t\t0C\tunknown\t/CN=valid\n");
    index.push_str("E\t200101000000Z\t\t0D\tunknown\t/CN=expired\n");
    write_file(dir, "index.txt", &index);
    openssl_gencrl(&openssl, dir, "openssl.crl");
    offline_ok(mayfly_root(dir).args([
        "crl",
        "--index",
        "index.txt",
        "--ca",
        "root.crt",
        "--ca-key",
        "root.key",
        "--password-file",
        "pass.txt",
        "--out",
        "mayfly.crl",
        "--pem",
    ]));
    let theirs = crl_entries(&openssl, dir, "openssl.crl");
    assert_eq!(theirs.len(), rows.len(), "{theirs:?}");
    assert_eq!(crl_entries(&openssl, dir, "mayfly.crl"), theirs);
}

/// `index updatedb` marks valid rows past their expiry as expired, as `openssl ca -updatedb`.
#[test]
fn updatedb_marks_expired_rows() {
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    let before = "V\t200101000000Z\t\t01\tunknown\t/CN=expired\n\
                  V\t20991231235959Z\t\t02\tunknown\t/CN=valid\n\
                  R\t200101000000Z\t191231000000Z,superseded\t03\tunknown\t/CN=revoked\n\
                  E\t200101000000Z\t\t04\tunknown\t/CN=already\n";
    write_file(dir, "index.txt", before);
    let out = offline_ok(mayfly_root(dir).args(["index", "updatedb", "--index", "index.txt"]));
    assert!(out.contains("1 certificate(s) marked expired"), "{out}");
    let after = std::fs::read_to_string(dir.join("index.txt")).unwrap_or_default();
    assert_eq!(
        after,
        before.replacen("V\t200101000000Z", "E\t200101000000Z", 1)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("index.txt.old")).unwrap_or_default(),
        before
    );
    // openssl reads the result the same way.
    if let Some(openssl) = tool("openssl") {
        openssl_ca_config(dir);
        for (serial, status) in [("01", "01=Expired (E)"), ("02", "02=Valid (V)")] {
            let out = openssl_status(&openssl, dir, serial);
            assert!(out.contains(status), "{out}");
        }
    }
    let out = offline_ok(mayfly_root(dir).args(["index", "updatedb", "--index", "index.txt"]));
    assert!(out.contains("0 certificate(s) marked expired"), "{out}");
}

#[test]
fn malformed_index_names_the_line() {
    let tmp = mayfly_testkit::temp_dir();
    write_file(
        tmp.path(),
        "index.txt",
        "V\t301231235959Z\t\t0A\tunknown\t/CN=a\nV\tbad\n",
    );
    let (ok, out) = offline(
        mayfly_root(tmp.path()).args(["revoke", "--index", "index.txt", "--serial", "0A"]),
        "",
    );
    assert!(!ok && out.contains("index.txt line 2"), "{out}");
}

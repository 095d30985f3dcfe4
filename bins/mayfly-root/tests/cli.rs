//! `mayfly-root index add`, `revoke` and `crl` end to end, checked with openssl.

use std::path::Path;
use std::process::Command;

use mayfly_keys::{KeyType, Password, PrivateKey};
use mayfly_testkit::{run, run_ok, tool, write_file};

fn mayfly_root() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mayfly-root"))
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
        run_ok(
            mayfly_root()
                .current_dir(dir)
                .args(["index", "add", "--index", "index.txt", cert]),
        );
    }
    let (ok, out) = run(mayfly_root().current_dir(dir).args([
        "index",
        "add",
        "--index",
        "index.txt",
        "int1.crt",
    ]));
    assert!(!ok && out.contains("already in the index"), "{out}");
    let index = std::fs::read_to_string(dir.join("index.txt")).unwrap_or_default();
    assert!(
        index.starts_with("V\t") && index.contains("\t\t0A11\tunknown\t/O=Mayfly/CN=int1\n"),
        "{index}"
    );

    run_ok(mayfly_root().current_dir(dir).args([
        "revoke",
        "--index",
        "index.txt",
        "--serial",
        "0a11",
        "--reason",
        "keyCompromise",
    ]));
    let (ok, out) = run(mayfly_root().current_dir(dir).args([
        "revoke",
        "--index",
        "index.txt",
        "--serial",
        "0A11",
    ]));
    assert!(!ok && out.contains("already revoked"), "{out}");
    let (ok, out) = run(mayfly_root().current_dir(dir).args([
        "revoke",
        "--index",
        "index.txt",
        "--serial",
        "0A11",
        "--reason",
        "stolen",
    ]));
    assert!(!ok && out.contains("stolen"), "{out}");
    assert!(dir.join("index.txt.old").is_file());

    write_file(dir, "crlnumber", "1000\n");
    run_ok(mayfly_root().current_dir(dir).args([
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

    // A wrong password is a clear error, not a CRL.
    write_file(dir, "wrong.txt", "nope\n");
    let (ok, out) = run(mayfly_root().current_dir(dir).args([
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
    ]));
    assert!(
        !ok && out.contains("loading the CA key") && !dir.join("bad.crl").exists(),
        "{out}"
    );
}

#[test]
fn malformed_index_names_the_line() {
    let tmp = mayfly_testkit::temp_dir();
    write_file(
        tmp.path(),
        "index.txt",
        "V\t301231235959Z\t\t0A\tunknown\t/CN=a\nV\tbad\n",
    );
    let (ok, out) = run(mayfly_root().current_dir(tmp.path()).args([
        "revoke",
        "--index",
        "index.txt",
        "--serial",
        "0A",
    ]));
    assert!(!ok && out.contains("index.txt line 2"), "{out}");
}

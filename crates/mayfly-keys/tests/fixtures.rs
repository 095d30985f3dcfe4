//! Every key file in step's `pemutil/testdata` and step-ca's `ca/testdata/secrets`, read with
//! its password: the right key (checked against its public twin or its certificate via
//! OpenSSL) or the right, distinct error.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_keys::{
    KeyError, KeyType, Password, PrivateKey, Signer, Verifier, read_private_key_pem,
};

fn pemutil() -> PathBuf {
    mayfly_testkit::step_fixtures().join("crypto/pemutil/testdata")
}

fn secrets() -> PathBuf {
    mayfly_testkit::step_fixtures().join("certificates/ca/testdata/secrets")
}

fn read(path: &Path, password: Option<&str>) -> Result<PrivateKey, KeyError> {
    let pem = std::fs::read(path).unwrap();
    let password = password.map(|p| Password::from_bytes(p.as_bytes().to_vec()));
    read_private_key_pem(&pem, password.as_ref())
}

/// What reading a fixture must give.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The key, whose public half is in this file (relative to the key's folder).
    Key(KeyType, &'static str),
    LegacyCipher,
    UnsupportedAlgorithm,
    UnsupportedFormat,
}

use Expect::*;

const PEMUTIL_KEYS: &[(&str, Expect)] = &[
    (
        "openssl.p256.pem",
        Key(KeyType::EcP256, "openssl.p256.pub.pem"),
    ),
    (
        "openssl.p256.enc.pem",
        Key(KeyType::EcP256, "openssl.p256.pub.pem"),
    ),
    (
        "openssl.p384.pem",
        Key(KeyType::EcP384, "openssl.p384.pub.pem"),
    ),
    ("openssl.p384.enc.pem", LegacyCipher),
    ("openssl.p521.pem", UnsupportedAlgorithm),
    ("openssl.p521.enc.pem", LegacyCipher),
    ("openssl.rsa1024.pem", UnsupportedAlgorithm),
    ("openssl.rsa1024.enc.pem", UnsupportedAlgorithm),
    (
        "openssl.rsa2048.pem",
        Key(KeyType::Rsa(2048), "openssl.rsa2048.pub.pem"),
    ),
    (
        "openssl.rsa2048.enc.pem",
        Key(KeyType::Rsa(2048), "openssl.rsa2048.pub.pem"),
    ),
    ("cosign.pem", Key(KeyType::EcP256, "cosign.pub.pem")),
    ("cosign.enc.pem", UnsupportedFormat),
    ("nebula.key", UnsupportedFormat),
    ("badnebula.key", UnsupportedFormat),
    (
        "pkcs8/openssl.ed25519.pem",
        Key(KeyType::Ed25519, "openssl.ed25519.pub.pem"),
    ),
    // The same key as bare DER PKCS#8.
    (
        "pkcs8/openssl.ed25519.der",
        Key(KeyType::Ed25519, "openssl.ed25519.pub.pem"),
    ),
    (
        "pkcs8/openssl.ed25519.enc.pem",
        Key(KeyType::Ed25519, "openssl.ed25519.pub.pem"),
    ),
    (
        "pkcs8/openssl.p256.pem",
        Key(KeyType::EcP256, "openssl.p256.pub.pem"),
    ),
    (
        "pkcs8/openssl.p256.enc.pem",
        Key(KeyType::EcP256, "openssl.p256.pub.pem"),
    ),
    (
        "pkcs8/openssl.p384.pem",
        Key(KeyType::EcP384, "openssl.p384.pub.pem"),
    ),
    ("pkcs8/openssl.p384.enc.pem", LegacyCipher),
    ("pkcs8/openssl.p521.pem", UnsupportedAlgorithm),
    ("pkcs8/openssl.p521.enc.pem", LegacyCipher),
    (
        "pkcs8/openssl.rsa2048.pem",
        Key(KeyType::Rsa(2048), "openssl.rsa2048.pub.pem"),
    ),
    (
        "pkcs8/openssl.rsa2048.enc.pem",
        Key(KeyType::Rsa(2048), "openssl.rsa2048.pub.pem"),
    ),
    (
        "pkcs8/openssl.rsa4096.pem",
        Key(KeyType::Rsa(4096), "openssl.rsa4096.pub.pem"),
    ),
];

fn check(path: &Path, password: Option<&str>, expect: Expect) {
    let result = read(path, password);
    match (expect, &result) {
        (Key(key_type, public), Ok(key)) => {
            assert_eq!(key.key_type(), key_type, "{}", path.display());
            let public = std::fs::read_to_string(path.parent().unwrap().join(public)).unwrap();
            assert_eq!(
                key.public_key().to_pem().unwrap(),
                public,
                "{}",
                path.display()
            );
            let signature = key.sign(b"fixture").unwrap();
            key.public_key()
                .verify(key.algorithm(), b"fixture", &signature)
                .unwrap();
        }
        (LegacyCipher, Err(KeyError::UnsupportedLegacyCipher(_)))
        | (UnsupportedAlgorithm, Err(KeyError::UnsupportedAlgorithm(_)))
        | (UnsupportedFormat, Err(KeyError::UnsupportedFormat(_))) => {}
        _ => panic!("{}: expected {expect:?}, got {result:?}", path.display()),
    }
}

#[test]
fn pemutil_keys_read_with_their_password() {
    for (name, expect) in PEMUTIL_KEYS {
        check(&pemutil().join(name), Some("mypassword"), *expect);
    }
}

#[test]
fn every_other_pemutil_file_is_refused_clearly() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(pemutil())
        .unwrap()
        .chain(std::fs::read_dir(pemutil().join("pkcs8")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let known: Vec<PathBuf> = PEMUTIL_KEYS
        .iter()
        .map(|(n, _)| pemutil().join(n))
        .collect();
    let mut others = 0;
    for path in files.iter().filter(|p| !known.contains(p)) {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("openssh.") && !name.ends_with(".pub.pem") {
            check(path, Some("mypassword"), UnsupportedFormat);
        } else {
            // Certificates, CSRs, public keys (PEM and DER), password files: not private keys.
            let result = read(path, Some("mypassword"));
            assert!(
                matches!(
                    result,
                    Err(KeyError::UnsupportedFormat(_)
                        | KeyError::Malformed(_)
                        | KeyError::Truncated(_))
                ),
                "{}: {result:?}",
                path.display()
            );
        }
        others += 1;
    }
    assert!(
        others > 30,
        "the fixture folder looks incomplete: {others} files"
    );
}

#[test]
fn encrypted_pemutil_keys_need_the_right_password() {
    for name in [
        "openssl.p256.enc.pem",
        "openssl.rsa2048.enc.pem",
        "pkcs8/openssl.ed25519.enc.pem",
        "pkcs8/openssl.p256.enc.pem",
        "pkcs8/openssl.rsa2048.enc.pem",
    ] {
        let path = pemutil().join(name);
        assert!(
            matches!(read(&path, None), Err(KeyError::PasswordRequired)),
            "{name}"
        );
        let wrong = read(&path, Some("wrong password"));
        assert!(
            matches!(wrong, Err(KeyError::WrongPassword)),
            "{name}: {wrong:?}"
        );
    }
    // The password file holds the same password as the constant above.
    let from_file = Password::from_file(&pemutil().join("password.txt")).unwrap();
    let pem = std::fs::read(pemutil().join("openssl.p256.enc.pem")).unwrap();
    read_private_key_pem(&pem, Some(&from_file)).unwrap();
}

/// The public key OpenSSL extracts from a certificate.
fn certificate_public_key(cert: &Path) -> Option<String> {
    let openssl = mayfly_testkit::tool("openssl")?;
    Some(mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(cert),
    ))
}

#[test]
fn step_ca_secrets_read_with_their_password() {
    for (key, password, key_type, cert) in [
        ("root_ca_key", "password", KeyType::EcP256, "root_ca.crt"),
        (
            "intermediate_ca_key",
            "password",
            KeyType::EcP256,
            "intermediate_ca.crt",
        ),
        (
            "rsa_root_ca_key",
            "1234",
            KeyType::Rsa(2048),
            "rsa_root_ca.crt",
        ),
        (
            "rsa_intermediate_ca_key",
            "1234",
            KeyType::Rsa(2048),
            "rsa_intermediate_ca.crt",
        ),
    ] {
        let path = secrets().join(key);
        let read_key = read(&path, Some(password)).unwrap();
        assert_eq!(read_key.key_type().is_rsa(), key_type.is_rsa(), "{key}");
        if let Some(public) = certificate_public_key(&secrets().join(cert)) {
            assert_eq!(read_key.public_key().to_pem().unwrap(), public, "{key}");
        }
        assert!(
            matches!(read(&path, Some("nope")), Err(KeyError::WrongPassword)),
            "{key}"
        );
    }
    check(
        &secrets().join("step_cli_key"),
        Some("pass"),
        Key(KeyType::EcP256, "step_cli_key.public"),
    );
}

#[test]
fn truncated_files_are_named_as_such() {
    let pem = std::fs::read_to_string(pemutil().join("pkcs8/openssl.rsa2048.pem")).unwrap();
    let lines: Vec<&str> = pem.lines().collect();
    // Cut inside the body: no END line.
    let cut = lines[..lines.len() / 2].join("\n");
    assert!(matches!(
        read_private_key_pem(cut.as_bytes(), None),
        Err(KeyError::Truncated(_))
    ));
    // Body lines missing but the frame intact: the DER is shorter than it declares.
    let short = [&lines[..5], &lines[lines.len() - 1..]].concat().join("\n");
    let result = read_private_key_pem(short.as_bytes(), None);
    assert!(matches!(result, Err(KeyError::Truncated(_))), "{result:?}");
    assert!(matches!(
        read_private_key_pem(b"", None),
        Err(KeyError::Truncated(_))
    ));
}

#[test]
fn go_written_pkcs8_is_parsed_up_to_the_password() {
    // Written by Go's step CLI with a PBKDF2 PRF encoding OpenSSL 3 refuses; its password is
    // not published, so the best proof is that we get as far as needing and checking it.
    let path = mayfly_testkit::step_fixtures()
        .join("certificates/authority/provisioner/testdata/secrets/ed25519.key");
    assert!(matches!(read(&path, None), Err(KeyError::PasswordRequired)));
    let wrong = read(&path, Some("not the password"));
    assert!(matches!(wrong, Err(KeyError::WrongPassword)), "{wrong:?}");
}

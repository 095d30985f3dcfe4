//! OpenSSL reads every key Mayfly writes, and Mayfly reads what OpenSSL writes (PKCS#8 PBES2
//! with HMAC-SHA1 and HMAC-SHA256 PRFs, legacy `Proc-Type` PEM, SEC1, PKCS#1, and the same
//! structures as bare DER).
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_keys::{
    Cipher, KeyError, KeyType, Password, PrivateKey, Signer, change_password, encryption_cipher,
    read_private_key_pem, write_private_key_pem,
};

fn openssl_public_key(openssl: &Path, key: &Path, password_file: Option<&Path>) -> String {
    let mut cmd = Command::new(openssl);
    cmd.args(["pkey", "-pubout", "-in"]).arg(key);
    if let Some(file) = password_file {
        cmd.arg("-passin").arg(format!("file:{}", file.display()));
    }
    mayfly_testkit::run_ok(&mut cmd)
}

/// The PKCS#8 encryption parameters OpenSSL sees (`openssl asn1parse`).
fn asn1parse(openssl: &Path, key: &Path) -> String {
    mayfly_testkit::run_ok(Command::new(openssl).args(["asn1parse", "-in"]).arg(key))
}

/// The PBKDF2 salt in `openssl asn1parse` output: the first OCTET STRING after the PBKDF2
/// OID.
fn pbkdf2_salt(params: &str) -> Vec<u8> {
    let hex = params
        .lines()
        .skip_while(|line| !line.ends_with(":PBKDF2"))
        .find(|line| line.contains("OCTET STRING"))
        .and_then(|line| line.split_once("[HEX DUMP]:"))
        .unwrap_or_else(|| panic!("no PBKDF2 salt in\n{params}"))
        .1;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn openssl_reads_what_we_write() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let password = Password::generate();
    let password_file = mayfly_testkit::write_file(dir.path(), "pw", password.as_bytes());
    for (key_type, cipher, aes_name) in [
        (KeyType::EcP256, Cipher::Aes128Cbc, "aes-128-cbc"),
        (KeyType::EcP384, Cipher::Aes192Cbc, "aes-192-cbc"),
        (KeyType::Ed25519, Cipher::Aes256Cbc, "aes-256-cbc"),
        (KeyType::Rsa(2048), Cipher::default(), "aes-128-cbc"),
        (KeyType::Rsa(3072), Cipher::Aes256Cbc, "aes-256-cbc"),
        // The one RSA-4096 generation of this test suite (it takes seconds).
        (KeyType::Rsa(4096), Cipher::default(), "aes-128-cbc"),
    ] {
        let key = PrivateKey::generate(key_type).unwrap();
        let expected = key.public_key().to_pem().unwrap();
        let encrypted = write_private_key_pem(&key, Some(&password), cipher).unwrap();
        let path = mayfly_testkit::write_file(dir.path(), "enc.pem", encrypted.as_bytes());
        assert_eq!(
            openssl_public_key(&openssl, &path, Some(&password_file)),
            expected,
            "{key_type}"
        );
        let params = asn1parse(&openssl, &path);
        for needle in [
            "PBES2",
            "PBKDF2",
            "hmacWithSHA256",
            aes_name,
            "INTEGER           :0927C0",
        ] {
            assert!(
                params.contains(needle),
                "{key_type}: {needle} missing in\n{params}"
            );
        }
        assert_eq!(pbkdf2_salt(&params).len(), 16, "{key_type}: salt length");
        assert_eq!(
            encryption_cipher(encrypted.as_bytes()).unwrap(),
            Some(cipher)
        );
        if let KeyType::Rsa(bits) = key_type {
            let text = mayfly_testkit::run_ok(
                Command::new(&openssl)
                    .args(["pkey", "-noout", "-text", "-in"])
                    .arg(&path)
                    .arg("-passin")
                    .arg(format!("file:{}", password_file.display())),
            );
            assert!(
                text.contains(&format!("Private-Key: ({bits} bit")),
                "{key_type}: {text}"
            );
        }

        let plain = write_private_key_pem(&key, None, cipher).unwrap();
        assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----"));
        let path = mayfly_testkit::write_file(dir.path(), "plain.pem", plain.as_bytes());
        assert_eq!(
            openssl_public_key(&openssl, &path, None),
            expected,
            "{key_type}"
        );
    }
}

#[test]
fn change_password_keeps_the_cipher_and_openssl_reads_the_result() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let old = Password::from_bytes(b"old password".to_vec());
    let new = Password::from_bytes(b"  new password".to_vec());
    let new_file = mayfly_testkit::write_file(dir.path(), "new", new.as_bytes());
    let key = PrivateKey::generate(KeyType::EcP256).unwrap();
    let pem = write_private_key_pem(&key, Some(&old), Cipher::Aes256Cbc).unwrap();

    let changed = change_password(pem.as_bytes(), Some(&old), &new, None).unwrap();
    assert_eq!(
        encryption_cipher(changed.as_bytes()).unwrap(),
        Some(Cipher::Aes256Cbc)
    );
    let path = mayfly_testkit::write_file(dir.path(), "changed.pem", changed.as_bytes());
    assert_eq!(
        openssl_public_key(&openssl, &path, Some(&new_file)),
        key.public_key().to_pem().unwrap()
    );
    assert!(matches!(
        read_private_key_pem(changed.as_bytes(), Some(&old)),
        Err(KeyError::WrongPassword)
    ));

    let recut = change_password(
        changed.as_bytes(),
        Some(&new),
        &old,
        Some(Cipher::Aes192Cbc),
    )
    .unwrap();
    assert_eq!(
        encryption_cipher(recut.as_bytes()).unwrap(),
        Some(Cipher::Aes192Cbc)
    );
    assert!(matches!(
        change_password(pem.as_bytes(), Some(&new), &old, None),
        Err(KeyError::WrongPassword)
    ));

    // A legacy step-ca key (AES-256-CBC Proc-Type PEM) becomes PKCS#8 with AES-256-CBC.
    let legacy = std::fs::read(
        mayfly_testkit::step_fixtures().join("certificates/ca/testdata/secrets/root_ca_key"),
    )
    .unwrap();
    let step_password = Password::from_bytes(b"password".to_vec());
    let converted = change_password(&legacy, Some(&step_password), &new, None).unwrap();
    assert_eq!(
        encryption_cipher(converted.as_bytes()).unwrap(),
        Some(Cipher::Aes256Cbc)
    );
    let path = mayfly_testkit::write_file(dir.path(), "converted.pem", converted.as_bytes());
    openssl_public_key(&openssl, &path, Some(&new_file));
}

fn openssl_key(openssl: &Path, dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    mayfly_testkit::run_ok(Command::new(openssl).args(args).arg("-out").arg(&path));
    path
}

#[test]
fn we_read_what_openssl_writes() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let d = dir.path();
    let pw = mayfly_testkit::write_file(d, "pw", "openssl pass\n");
    let pass = format!("file:{}", pw.display());
    let password = Password::from_file(&pw).unwrap();
    let ec = openssl_key(
        &openssl,
        d,
        "ec.pem",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
        ],
    );
    let rsa = openssl_key(
        &openssl,
        d,
        "rsa.pem",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    );
    let ec = ec.to_str().unwrap();
    let rsa = rsa.to_str().unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            openssl_key(
                &openssl,
                d,
                "pkcs8-sha1.pem",
                &[
                    "pkcs8",
                    "-topk8",
                    "-in",
                    ec,
                    "-v2",
                    "aes-192-cbc",
                    "-v2prf",
                    "hmacWithSHA1",
                    "-passout",
                    &pass,
                ],
            ),
            ec,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs8-sha256.pem",
                &[
                    "pkcs8",
                    "-topk8",
                    "-in",
                    rsa,
                    "-v2",
                    "aes-256-cbc",
                    "-passout",
                    &pass,
                ],
            ),
            rsa,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "sec1-legacy.pem",
                &["ec", "-in", ec, "-aes128", "-passout", &pass],
            ),
            ec,
        ),
        (openssl_key(&openssl, d, "sec1.pem", &["ec", "-in", ec]), ec),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs1-legacy.pem",
                &[
                    "rsa",
                    "-traditional",
                    "-in",
                    rsa,
                    "-aes256",
                    "-passout",
                    &pass,
                ],
            ),
            rsa,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs1.pem",
                &["rsa", "-traditional", "-in", rsa],
            ),
            rsa,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs8.der",
                &["pkcs8", "-topk8", "-nocrypt", "-in", ec, "-outform", "DER"],
            ),
            ec,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs8-enc.der",
                &[
                    "pkcs8",
                    "-topk8",
                    "-in",
                    rsa,
                    "-v2",
                    "aes-256-cbc",
                    "-passout",
                    &pass,
                    "-outform",
                    "DER",
                ],
            ),
            rsa,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "sec1.der",
                &["ec", "-in", ec, "-outform", "DER"],
            ),
            ec,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs1.der",
                &["rsa", "-traditional", "-in", rsa, "-outform", "DER"],
            ),
            rsa,
        ),
        (
            openssl_key(
                &openssl,
                d,
                "pkcs8-des3.pem",
                &[
                    "pkcs8", "-topk8", "-in", ec, "-v2", "des3", "-passout", &pass,
                ],
            ),
            "",
        ),
        (
            openssl_key(
                &openssl,
                d,
                "legacy-des3.pem",
                &["ec", "-in", ec, "-des3", "-passout", &pass],
            ),
            "",
        ),
    ];
    for (path, plain) in cases {
        let pem = std::fs::read(&path).unwrap();
        let result = read_private_key_pem(&pem, Some(&password));
        if plain.is_empty() {
            assert!(
                matches!(result, Err(KeyError::UnsupportedLegacyCipher(_))),
                "{}: {result:?}",
                path.display()
            );
            continue;
        }
        let key = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            key.public_key().to_pem().unwrap(),
            openssl_public_key(&openssl, Path::new(plain), None),
            "{}",
            path.display()
        );
        key.sign(b"x").unwrap();
    }
    // A DER file keeps its cipher through change-pass and is named when cut short.
    let der = std::fs::read(d.join("pkcs8-enc.der")).unwrap();
    assert_eq!(encryption_cipher(&der).unwrap(), Some(Cipher::Aes256Cbc));
    let changed = change_password(&der, Some(&password), &password, None).unwrap();
    assert_eq!(
        encryption_cipher(changed.as_bytes()).unwrap(),
        Some(Cipher::Aes256Cbc)
    );
    let der = std::fs::read(d.join("pkcs1.der")).unwrap();
    let cut = read_private_key_pem(&der[..der.len() - 10], None);
    assert!(matches!(cut, Err(KeyError::Truncated(_))), "{cut:?}");
}

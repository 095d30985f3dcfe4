//! Every encrypted JWK step-ca and the step CLI wrote (../shared/fixtures/step) decrypts, with
//! the password from the fixtures' README, to its plaintext twin; kids are RFC 7638
//! thumbprints; the keys load and sign.

use std::path::{Path, PathBuf};

use mayfly_jwt::{JweError, Jwk, JwkError, ProvisionerKey, decrypt_jwk, decrypt_pbes2};
use mayfly_keys::{Password, Signer, Verifier};
use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    mayfly_testkit::step_fixtures().join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn password(text: &str) -> Password {
    Password::from_bytes(text.as_bytes().to_vec())
}

/// The JWK a JWE decrypts to.
fn decrypt(jwe: &str, pw: &str) -> Jwk {
    decrypt_jwk(jwe, &password(pw)).expect("decrypts")
}

/// The JWK a JWE decrypts to, checked: its private key matches its public members and signs.
fn decrypt_and_check(jwe: &str, pw: &str) -> Jwk {
    let jwk = decrypt(jwe, pw);
    let key = jwk.to_private_key().expect("private key loads");
    let signature = key.sign(b"message").expect("signs");
    jwk.to_public_key()
        .expect("public key")
        .verify(key.algorithm(), b"message", &signature)
        .expect("verifies");
    assert_eq!(Jwk::from_private_key(&key).expect("back to JWK").d, jwk.d);
    jwk
}

#[test]
fn step_cli_private_jwk_files_decrypt_to_their_public_twins() {
    for (name, pw) in [("ott_mariano", "password"), ("step_cli_key", "pass")] {
        let dir = fixture("certificates/ca/testdata/secrets");
        let jwk = decrypt_and_check(&read(&dir.join(format!("{name}_priv.jwk"))), pw);
        let public = Jwk::from_json(read(&dir.join(format!("{name}_pub.jwk"))).as_bytes())
            .expect("public twin");
        assert_eq!(jwk.to_public(), public, "{name}");
        assert_eq!(
            public.kid.as_deref(),
            Some(&*public.thumbprint().expect("thumbprint"))
        );
    }
}

#[test]
fn jose_testdata_decrypts_to_the_plaintext_twins() {
    let dir = fixture("crypto/jose/testdata");
    for (encrypted, plain) in [
        ("p256.enc.priv.json", "p256.priv.json"),
        ("rsa.enc.priv.json", "rsa.priv.json"),
        ("okp.enc.priv.json", "okp.priv.json"),
        ("oct.enc.json", "oct.json"),
    ] {
        let jwk = decrypt(&read(&dir.join(encrypted)), "password");
        let twin = Jwk::from_json(read(&dir.join(plain)).as_bytes()).expect("twin");
        assert_eq!(jwk, twin, "{encrypted}");
        if let Some(kid) = &twin.kid {
            assert_eq!(kid, &twin.thumbprint().expect("thumbprint"), "{plain}");
        }
    }
    decrypt_and_check(&read(&dir.join("p256.enc.priv.json")), "password");
    decrypt_and_check(&read(&dir.join("rsa.enc.priv.json")), "password");
    // okp.priv.json's d does not derive its x (Python cryptography agrees): refused.
    let okp = decrypt(&read(&dir.join("okp.enc.priv.json")), "password");
    assert!(matches!(okp.to_private_key(), Err(JwkError::KeyMismatch)));
    for public in ["p256.pub.json", "rsa.pub.json", "okp.pub.json"] {
        let jwk = Jwk::from_json(read(&dir.join(public)).as_bytes()).expect("public");
        assert_eq!(
            jwk.kid,
            Some(jwk.thumbprint().expect("thumbprint")),
            "{public}"
        );
        assert_eq!(
            Jwk::from_public_key(&jwk.to_public_key().expect("loads"))
                .expect("back")
                .thumbprint()
                .expect("thumbprint"),
            jwk.thumbprint().expect("thumbprint"),
            "{public}"
        );
    }
}

/// Provisioners of the ca.json files: (file, provisioner name, password).
/// The README gives the passwords of testdata/ca.json; the examples' and rsaca.json's were
/// checked with jwcrypto.
const CA_JSON_PROVISIONERS: &[(&str, &str, &str)] = &[
    ("certificates/ca/testdata/ca.json", "max", "pass"),
    ("certificates/ca/testdata/ca.json", "mike", "pass"),
    ("certificates/ca/testdata/ca.json", "step-cli", "pass"),
    ("certificates/ca/testdata/ca.json", "mariano", "password"),
    ("certificates/ca/testdata/ca.json", "maxey", "pass"),
    ("certificates/ca/testdata/rsaca.json", "step-cli", "pass"),
    (
        "certificates/examples/pki/config/ca.json",
        "mariano@smallstep.com",
        "password",
    ),
    (
        "certificates/examples/pki/config/ca.json",
        "mike@smallstep.com",
        "password",
    ),
    (
        "certificates/examples/pki/config/ca.json",
        "decade",
        "password",
    ),
    (
        "certificates/examples/pki/config/ca.json",
        "90days",
        "password",
    ),
];

#[test]
fn every_ca_json_encrypted_key_decrypts_to_its_provisioner_key() {
    let mut seen = 0;
    for file in [
        "certificates/ca/testdata/ca.json",
        "certificates/ca/testdata/rsaca.json",
        "certificates/examples/pki/config/ca.json",
    ] {
        let config: Value = serde_json::from_str(&read(&fixture(file))).expect("JSON");
        let provisioners = config["authority"]["provisioners"]
            .as_array()
            .expect("list");
        for provisioner in provisioners
            .iter()
            .filter(|p| p.get("encryptedKey").is_some())
        {
            let name = provisioner["name"].as_str().expect("name");
            let &(_, _, pw) = CA_JSON_PROVISIONERS
                .iter()
                .find(|(f, n, _)| *f == file && *n == name)
                .unwrap_or_else(|| panic!("no password listed for {file} {name}"));
            let jwe = provisioner["encryptedKey"].as_str().expect("compact JWE");
            let jwk = decrypt_and_check(jwe, pw);
            let public: Jwk = serde_json::from_value(provisioner["key"].clone()).expect("key");
            assert_eq!(jwk.to_public(), public, "{file} {name}");
            assert_eq!(public.kid, Some(public.thumbprint().expect("thumbprint")));
            ProvisionerKey::from_jwk(&public).expect("usable provisioner key");
            seen += 1;
        }
    }
    assert_eq!(seen, CA_JSON_PROVISIONERS.len());
}

#[test]
fn wrong_password_is_a_decryption_error() {
    let jwe = read(&fixture("crypto/jose/testdata/p256.enc.priv.json"));
    assert!(matches!(
        decrypt_pbes2(&jwe, &password("wrong")),
        Err(JweError::Decryption)
    ));
}
